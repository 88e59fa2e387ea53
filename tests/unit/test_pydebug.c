// SPDX-License-Identifier: GPL-2.0
/*
 * test_pydebug.c - the _Py_DebugOffsets blocks of live interpreters (tests/data/pydebug-*.bin,
 * 1024 bytes read at _PyRuntime of pyenv's 3.13.0, Debian's 3.14.10 debug build and 3.15.2)
 * turned into the offsets threadtrace reads: 3.13.0's equal the built-in table it replaced;
 * a foreign cookie, version or size is refused. And Python stacks from before local0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "pydebug.h"
#include "records.h"
#include "test_pydebug.h"

static int load(const char *name, __u8 *buf)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/data/%s", name);
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	n = fread(buf, 1, PYDEBUG_BYTES, f);
	fclose(f);
	return n == PYDEBUG_BYTES ? 0 : -EIO;
}

void test_pydebug_offsets(void)
{
	__u8 b[PYDEBUG_BYTES];
	struct py_debug_offsets o;
	char err[256];
	__u64 v;

	CHECK(!load("pydebug-3.13.0.bin", b));
	CHECK(!pydebug_parse(b, sizeof(b), &o, err, sizeof(err)));
	/* the values of the 3.13 tables of pygil.c and pyframes.c, measured from DWARF */
	CHECK_EQ_U64(o.hexversion, 0x030d00f0);
	CHECK(!o.free_threaded);
	CHECK_EQ_U64(o.interpreters_head, 632);
	CHECK_EQ_U64(o.threads_head, 7344);
	CHECK_EQ_U64(o.ceval_gil, 16);
	CHECK_EQ_U64(o.gil_locked - o.gil_state, 16);
	CHECK_EQ_U64(o.ts_next, 8);
	CHECK_EQ_U64(o.ts_current_frame, 72);
	CHECK_EQ_U64(o.ts_thread_id, 152);
	CHECK_EQ_U64(o.ts_native_thread_id, 160);
	CHECK_EQ_U64(o.ts_eval_breaker, 24);
	CHECK_EQ_U64(o.fr_previous, 8);
	CHECK_EQ_U64(o.fr_executable, 0);
	CHECK_EQ_U64(o.fr_instr_ptr, 56);
	CHECK_EQ_U64(o.fr_owner, 70);
	CHECK_EQ_U64(o.fr_localsplus, 72);
	CHECK_EQ_U64(o.fr_tlbc_index, PYDEBUG_NONE);
	CHECK_EQ_U64(o.co_filename, 112);
	CHECK_EQ_U64(o.co_name, 120);
	CHECK_EQ_U64(o.co_qualname, 128);
	CHECK_EQ_U64(o.co_linetable, 136);
	CHECK_EQ_U64(o.co_firstlineno, 68);
	CHECK_EQ_U64(o.co_code_adaptive, 200);
	CHECK_EQ_U64(o.str_ascii_data, 40);
	CHECK_EQ_U64(o.str_compact_data, 56);
	CHECK_EQ_U64(o.bytes_size, 16);
	CHECK_EQ_U64(o.bytes_sval, 32);
	CHECK_EQ_U64(o.ref_tag_bits, 0);
	/* what pylive reads (pynames' 3.13 table before, gdb ptype /o of 3.13.5) */
	CHECK_EQ_U64(o.interp_modules, 7656);
	CHECK_EQ_U64(o.fr_stackpointer, PYDEBUG_NONE);
	CHECK_EQ_U64(o.co_localsplusnames, 96);
	CHECK_EQ_U64(o.tp_name, 24);
	CHECK_EQ_U64(o.tp_flags, 168);
	CHECK_EQ_U64(o.tp_basicsize, PYDEBUG_NONE);
	CHECK_EQ_U64(o.ht_cached_keys, PYDEBUG_NONE);
	CHECK_EQ_U64(o.tuple_ob_item, 24);
	CHECK_EQ_U64(o.tuple_ob_size, 16);
	CHECK_EQ_U64(o.dict_ma_keys, 32);
	CHECK_EQ_U64(o.dict_ma_values, 40);
	CHECK_EQ_U64(o.long_lv_tag, 16);
	CHECK_EQ_U64(o.long_ob_digit, 24);

	/* 3.14: owner after stackpointer and return_offset, tagged f_executable */
	CHECK(!load("pydebug-3.14.10d.bin", b));
	CHECK(!pydebug_parse(b, sizeof(b), &o, err, sizeof(err)));
	CHECK_EQ_U64(o.hexversion >> 16, 0x030e);
	CHECK_EQ_U64(o.interpreters_head, 808);
	CHECK_EQ_U64(o.fr_owner, 74);
	CHECK_EQ_U64(o.fr_localsplus, 80);
	CHECK_EQ_U64(o.co_code_adaptive, 208);
	CHECK_EQ_U64(o.ref_tag_bits, 3);
	CHECK_EQ_U64(o.fr_tlbc_index, PYDEBUG_NONE);
	CHECK_EQ_U64(o.fr_stackpointer, 64);
	CHECK_EQ_U64(o.co_localsplusnames, 96);
	CHECK_EQ_U64(o.tuple_ob_item, 32); /* after a cached hash from 3.14 */
	CHECK_EQ_U64(o.tp_flags, 168);

	/* 3.15: the thread state's section grew (base_frame, profiling fields) */
	CHECK(!load("pydebug-3.15.2.bin", b));
	CHECK(!pydebug_parse(b, sizeof(b), &o, err, sizeof(err)));
	CHECK_EQ_U64(o.ts_thread_id, 176);
	CHECK_EQ_U64(o.ts_native_thread_id, 184);
	CHECK_EQ_U64(o.threads_head, 7336);
	CHECK_EQ_U64(o.str_compact_data, 56);
	CHECK_EQ_U64(o.interp_modules, 7592);
	CHECK_EQ_U64(o.fr_stackpointer, 64);
	CHECK_EQ_U64(o.tp_basicsize, 32);
	CHECK_EQ_U64(o.tp_dictoffset, 288);
	CHECK_EQ_U64(o.ht_cached_keys, 888);

	/* refused: another cookie, an unknown minor, an offset past its section's size */
	b[0] = 'y';
	CHECK(pydebug_parse(b, sizeof(b), &o, err, sizeof(err)) == -EPROTONOSUPPORT);
	b[0] = 'x';
	v = 0x031000f0;
	memcpy(b + 8, &v, 8);
	CHECK(pydebug_parse(b, sizeof(b), &o, err, sizeof(err)) == -EPROTONOSUPPORT);
	CHECK(strstr(err, "0x31000f0") != NULL);
	v = 0x030f02f0;
	memcpy(b + 8, &v, 8);
	CHECK(!pydebug_parse(b, sizeof(b), &o, err, sizeof(err)));
	v = 64; /* interpreter_frame.size below its fields */
	memcpy(b + 312, &v, 8);
	CHECK(pydebug_parse(b, sizeof(b), &o, err, sizeof(err)) == -EPROTONOSUPPORT);
	CHECK(pydebug_parse(b, 100, &o, err, sizeof(err)) == -EPROTONOSUPPORT);
}

/* A Python stack as files before local0 hold it (16-byte frames) passes the check. */
void test_pystack_v1_frames(void)
{
	__u8 raw[sizeof(struct tt_pystack) + 3 * sizeof(struct tt_pyframe)] = {0};
	struct tt_pystack *ps = (void *)raw;

	ps->hdr.kind = TT_REC_PYSTACK;
	ps->nr = 3;
	ps->hdr.size = sizeof(*ps) + 3 * TT_PYFRAME_V1_SIZE;
	CHECK(!record_check(raw, ps->hdr.size));
	ps->hdr.size = sizeof(*ps) + 3 * sizeof(struct tt_pyframe);
	CHECK(!record_check(raw, ps->hdr.size));
	ps->hdr.size = sizeof(*ps) + 3 * TT_PYFRAME_V1_SIZE + 8;
	CHECK(record_check(raw, ps->hdr.size) == -EINVAL);
}
