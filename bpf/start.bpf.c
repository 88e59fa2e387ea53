// SPDX-License-Identifier: GPL-2.0
/*
 * start.bpf.c - a started COMMAND stops at each exec and then at the new image's entry point
 * (its loader has mapped its libraries by then) until user space has loaded their unwind
 * tables and, with --holds, put the lock probes on the libc it maps: after `chroot ROOT prog`
 * that is ROOT's libc, not the one the command started with.
 */
#include "common.bpf.h"

#define TT_SIGSTOP 19

/* execs of the target that stopped it; user space tells an exec stop from an entry stop */
__u32 exec_stops = 0;

SEC("uprobe")
int tt_entry_stop(struct pt_regs *ctx)
{
	if (is_target_tgid(bpf_get_current_pid_tgid() >> 32))
		bpf_send_signal(TT_SIGSTOP);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tt_exec_stop, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (is_target_tgid(bpf_get_current_pid_tgid() >> 32)) {
		__sync_fetch_and_add(&exec_stops, 1);
		bpf_send_signal(TT_SIGSTOP);
	}
	return 0;
}
