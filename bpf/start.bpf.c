// SPDX-License-Identifier: GPL-2.0
/*
 * start.bpf.c - a started COMMAND stops at its entry point (its loader has mapped its libraries
 * by then) until user space has loaded their unwind tables: its first waits get whole stacks.
 */
#include "common.bpf.h"

#define TT_SIGSTOP 19

SEC("uprobe")
int tt_entry_stop(struct pt_regs *ctx)
{
	if (is_target_tgid(bpf_get_current_pid_tgid() >> 32))
		bpf_send_signal(TT_SIGSTOP);
	return 0;
}
