// SPDX-License-Identifier: GPL-2.0
/*
 * test_main.c - the unit tests' runner (no root): each test_<module>.c holds a module's tests;
 * they run here in order, one line each, then "N passed, N failed".
 */
#include <stdio.h>
#include "check.h"
#include "test_analysis.h"
#include "test_analysis_holds.h"
#include "test_cfitab.h"
#include "test_folded.h"
#include "test_glibc.h"
#include "test_json.h"
#include "test_lockkind.h"
#include "test_probesite.h"
#include "test_pydebug.h"
#include "test_pyframes.h"
#include "test_pylive.h"
#include "test_pyobj.h"
#include "test_recfile.h"
#include "test_recfile_cut.h"
#include "test_records.h"
#include "test_runtime.h"
#include "test_rtset.h"
#include "test_symbols.h"
#include "test_threads.h"
#include "test_util.h"

int checks_failed_in_test;

static const struct unit_test tests[] = {
    {"untraced_switch_in", test_untraced_switch_in},
    {"probe_sites", test_probe_sites},
    {"holds", test_holds},
    {"holds_readers_share_a_wait", test_holds_readers_share_a_wait},
    {"missed_switch_in", test_missed_switch_in},
    {"blocked_across_signals", test_blocked_across_signals},
    {"adopted_wait_and_deadlock", test_adopted_wait_and_deadlock},
    {"waker_in_other_process", test_waker_in_other_process},
    {"jit_perf_map", test_jit_perf_map},
    {"recfile_roundtrip", test_recfile_roundtrip},
    {"recfile_damage", test_recfile_damage},
    {"folded", test_folded},
    {"merge_rewaits", test_merge_rewaits},
    {"stream_reorders", test_stream_reorders},
    {"recfile_streamed", test_recfile_streamed},
    {"wake_causes", test_wake_causes},
    {"many_waiters", test_many_waiters},
    {"exit_wakes", test_exit_wakes},
    {"thread_states", test_thread_states},
    {"condvar_vs_mutex", test_condvar_vs_mutex},
    {"classify", test_classify},
    {"record_validation", test_record_validation},
    {"no_session", test_no_session},
    {"json_escaping", test_json_escaping},
    {"text_escape", test_text_escape},
    {"json_summary", test_json_summary},
    {"symbolize_self", test_symbolize_self},
    {"debug_file_in_root", test_debug_file_in_root},
    {"rust_demangle", test_rust_demangle},
    {"cfitab", test_cfitab},
    {"runtime_seam", test_runtime_seam},
    {"runtime_go", test_runtime_go},
    {"runtime_jvm", test_runtime_jvm},
    {"runtime_musl", test_runtime_musl},
    {"runtime_musl_stripped", test_runtime_musl_stripped},
    {"glibc_versions", test_glibc_versions},
    {"reused_tids", test_reused_tids},
    {"recfile_cut_keeps_names", test_recfile_cut_keeps_names},
    {"pydebug_offsets", test_pydebug_offsets},
    {"pystack_v1_frames", test_pystack_v1_frames},
    {"pyframes_walks_fit_bpf", test_pyframes_walks_fit_bpf},
    {"pyobj_expr", test_pyobj_expr},
    {"pyobj_classify", test_pyobj_classify},
    {"pyobj_freethreaded", test_pyobj_freethreaded},
    {"pylive_objects_312", test_pylive_objects_312},
    {"pylive_objects_38", test_pylive_objects_38},
    {"pylive_frames_and_garbage", test_pylive_frames_and_garbage},
};

int main(void)
{
	int passed = 0, failed = 0;

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		checks_failed_in_test = 0;
		tests[i].fn();
		if (checks_failed_in_test) {
			printf("FAIL unit/%s\n", tests[i].name);
			failed++;
		} else {
			printf("ok   unit/%s\n", tests[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
