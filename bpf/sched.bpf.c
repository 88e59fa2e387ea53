// SPDX-License-Identifier: GPL-2.0
/*
 * sched.bpf.c - scheduler events of the target: switches, wake-ups (with the waker's stack when
 * it is releasing a futex), thread creation and exit.
 */
#include "common.bpf.h"

#define PF_EXITING_FLAG 0x00000004

_Static_assert(sizeof(struct tt_waking) + TT_STACK_BYTES <= TT_SCRATCH_SIZE, "scratch size");

SEC("tp_btf/sched_switch")
int BPF_PROG(tt_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 prev_tgid = prev->tgid, prev_tid = prev->pid;
	__u32 next_tgid = next->tgid, next_tid = next->pid;
	bool prev_target = is_target_thread(prev_tgid, prev_tid);
	struct tt_switch_kstat *rec;

	if (!prev_target && !is_target_thread(next_tgid, next_tid))
		return 0;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->sw.hdr, TT_REC_SWITCH_KSTAT, sizeof(*rec), prev_tgid, prev_tid);
	rec->sw.next_pid = next_tgid;
	rec->sw.next_tid = next_tid;
	rec->sw.prev_state = prev_state;
	rec->sw.preempt = preempt;
	__builtin_memcpy(rec->sw.prev_comm, prev->comm, TT_COMM_LEN);
	__builtin_memcpy(rec->sw.next_comm, next->comm, TT_COMM_LEN);
	rec->prev_run_delay = 0;
	rec->prev_exec_ns = 0;
	if (prev_target) {
		/* run_delay grew at this stint's switch-in, sum_exec_runtime in __schedule */
		if (bpf_core_field_exists(prev->sched_info))
			rec->prev_run_delay = BPF_CORE_READ(prev, sched_info.run_delay);
		rec->prev_exec_ns = BPF_CORE_READ(prev, se.sum_exec_runtime);
	}
	submit(rec);
	return 0;
}

#define PF_KTHREAD_FLAG	 0x00200000
#define NR_FUTEX	 202
#define NR_FUTEX_WAKE	 454
#define NR_FUTEX_REQUEUE 456

/*
 * A thread of another process inside a futex wake syscall: the unlock of a process-shared
 * lock. Its saved user registers say the syscall and op. (A wake from an interrupt that came
 * during such a syscall would pass too: a timer's ends a timed wait, which the wait's
 * ETIMEDOUT names instead.)
 */
static __always_inline bool in_futex_wake(struct task_struct *cur)
{
	struct pt_regs *regs;
	long nr;

	if (cur->flags & PF_KTHREAD_FLAG)
		return false;
	regs = (struct pt_regs *)bpf_task_pt_regs(cur);
	if (!regs)
		return false;
	nr = BPF_CORE_READ(regs, orig_ax);
	if (nr == NR_FUTEX)
		return is_wake_op(BPF_CORE_READ(regs, si) & TT_FUTEX_CMD_MASK);
	return nr == NR_FUTEX_WAKE || nr == NR_FUTEX_REQUEUE;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(tt_sched_waking, struct task_struct *p)
{
	__u32 wakee_tgid = p->tgid, wakee_tid = p->pid;
	struct task_struct *cur = bpf_get_current_task_btf();
	__u32 waker_tgid = cur->tgid, waker_tid = cur->pid;
	struct futex_state *ws;
	struct futex_state *wk;
	struct tt_waking *rec;
	__u32 size = sizeof(*rec);

	if (!is_target_thread(wakee_tgid, wakee_tid))
		return 0;
	rec = scratch_get(SLOT_SCHED);
	if (!rec)
		return 0;
	ws = bpf_map_lookup_elem(&waits, &wakee_tid);
	rec->wakee_tid = wakee_tid;
	rec->wakee_uaddr = ws ? ws->uaddr : 0;
	rec->waker_uaddr = 0;
	rec->waker_op = 0;
	rec->reason = TT_WAKE_OTHER;
	rec->pad = 0;
	wk = bpf_map_lookup_elem(&wakes, &waker_tid);
	if (wk && waker_tgid == target_tgid) {
		rec->reason = TT_WAKE_FUTEX;
		rec->waker_uaddr = wk->uaddr;
		rec->waker_op = wk->op;
	} else if (ws && waker_tgid != target_tgid && in_futex_wake(cur)) {
		rec->reason = TT_WAKE_FUTEX_PROCESS;
	} else if ((cur->flags & PF_EXITING_FLAG) && waker_tgid == target_tgid) {
		/* another process's exit wakes no futex of ours (process-shared ones aside, whose
		 * owner's death the waiter's futex word shows); it is an interrupt that came in */
		rec->reason = TT_WAKE_EXIT;
	}
	__builtin_memcpy(rec->waker_comm, cur->comm, TT_COMM_LEN);
	rec->stack.nr_user = 0;
	rec->stack.nr_kernel = 0;
	rec->stack.flags = 0;
	/* Stacks only where they name an unlock site: a futex wake or a thread exit. */
	if (ws && (rec->reason == TT_WAKE_FUTEX || rec->reason == TT_WAKE_EXIT))
		size += fill_stack(ctx, SLOT_SCHED, STACK_IPS(struct tt_waking), &rec->stack, true);
	fill_hdr(&rec->hdr, TT_REC_WAKING, 0, waker_tgid, waker_tid);
	emit_scratch(rec, size);
	if (ws && (rec->reason == TT_WAKE_FUTEX || rec->reason == TT_WAKE_EXIT)) {
		__u64 ts = rec->hdr.ts;

		emit_snapshot(SLOT_SCHED, TT_REC_WAKING, waker_tgid, waker_tid, ts,
			      rec->stack.flags);
		if (waker_tgid == target_tgid)
			emit_pystack(SLOT_SCHED, TT_REC_WAKING, waker_tgid, waker_tid, ts);
	}
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tt_sched_wakeup_new, struct task_struct *p)
{
	__u32 tgid = p->tgid, tid = p->pid;
	struct tt_new_thread *rec;

	if (!is_target_tgid(tgid))
		return 0;
	if (target_tid && tid != target_tid)
		return 0;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, TT_REC_NEW_THREAD, sizeof(*rec), tgid, tid);
	rec->parent_tid = (__u32)bpf_get_current_pid_tgid();
	rec->pad = 0;
	__builtin_memcpy(rec->comm, p->comm, TT_COMM_LEN);
	submit(rec);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tt_sched_process_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid, tid = p->pid;
	struct tt_exit *rec;

	if (!is_target_tgid(tgid))
		return 0;
	bpf_map_delete_elem(&waits, &tid);
	bpf_map_delete_elem(&wakes, &tid);
	if (py_armed)
		bpf_map_delete_elem(&py_tstates, &tid);
	if (target_tid && tid != target_tid)
		return 0;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, TT_REC_EXIT, sizeof(*rec), tgid, tid);
	rec->exit_code = p->exit_code;
	rec->pad = 0;
	__builtin_memcpy(rec->comm, p->comm, TT_COMM_LEN);
	submit(rec);
	return 0;
}
