// SPDX-License-Identifier: GPL-2.0
/*
 * futex.bpf.c - futex syscalls of the target: wait begin/end with the waiter's stack, wake ops.
 * Tracepoints only: a contended lock always enters the kernel, an uncontended one costs nothing.
 */
#include "common.bpf.h"

_Static_assert(sizeof(struct tt_wait_begin) + TT_STACK_BYTES <= TT_SCRATCH_SIZE, "scratch size");

static __always_inline bool is_wait_op(__u32 cmd)
{
	switch (cmd) {
	case TT_FUTEX_WAIT:
	case TT_FUTEX_WAIT_BITSET:
	case TT_FUTEX_LOCK_PI:
	case TT_FUTEX_LOCK_PI2:
	case TT_FUTEX_TRYLOCK_PI:
	case TT_FUTEX_WAIT_REQUEUE_PI:
		return true;
	}
	return false;
}

/* A CPython with a parking lot (3.13+): send the word before each waited-on word (user space
 * sets it; see struct tt_park_key). */
volatile __u32 py_park_key = 0;

static __always_inline void emit_park_key(__u64 uaddr, __u32 tgid, __u32 tid, __u64 ts)
{
	struct tt_park_key *rec;

	if (!py_park_key)
		return;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return;
	fill_hdr(&rec->hdr, TT_REC_PARK_KEY, sizeof(*rec), tgid, tid);
	rec->hdr.ts = ts;
	rec->parent_kind = TT_REC_WAIT_BEGIN;
	rec->pad = 0;
	rec->ok = !bpf_probe_read_user(&rec->key, 8, (void *)(uaddr - 8));
	if (!rec->ok)
		rec->key = 0;
	submit(rec);
}

static __always_inline int wait_begin(void *ctx, __u64 uaddr, __u32 op, __u32 val, __u32 val3,
				      __u64 timeout)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct futex_state ws = {.uaddr = uaddr, .op = op};
	struct tt_wait_begin *rec;
	__u32 size;

	if (!is_target_thread(tgid, tid))
		return 0;
	if (bpf_map_update_elem(&waits, &tid, &ws, BPF_ANY)) {
		count(TT_CNT_MAP_FULL);
		return 0;
	}
	rec = scratch_get(SLOT_FUTEX);
	if (!rec)
		return 0;
	rec->uaddr = uaddr;
	rec->op = op;
	rec->val = val;
	rec->val3 = val3;
	rec->has_timeout = timeout != 0;
	size = sizeof(*rec) +
	       fill_stack(ctx, SLOT_FUTEX, STACK_IPS(struct tt_wait_begin), &rec->stack, false);
	fill_hdr(&rec->hdr, TT_REC_WAIT_BEGIN, 0, tgid, tid);
	emit_scratch(rec, size);
	emit_snapshot(SLOT_FUTEX, TT_REC_WAIT_BEGIN, tgid, tid, rec->hdr.ts, rec->stack.flags);
	emit_park_key(uaddr, tgid, tid, rec->hdr.ts);
	/* last: it assembles its record in rec's scratch slot */
	emit_pystack(SLOT_FUTEX, TT_REC_WAIT_BEGIN, tgid, tid, rec->hdr.ts);
	return 0;
}

static __always_inline int wake_op(__u64 uaddr, __u64 uaddr2, __u32 op, __u32 nr_wake)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct futex_state st = {.uaddr = uaddr, .op = op};
	struct tt_wake_op *rec;

	/* Every thread of the target: a waker matters even when -t narrows the waiters. */
	if (!is_target_tgid(tgid))
		return 0;
	if (bpf_map_update_elem(&wakes, &tid, &st, BPF_ANY))
		count(TT_CNT_MAP_FULL);
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, TT_REC_WAKE_OP, sizeof(*rec), tgid, tid);
	rec->uaddr = uaddr;
	rec->uaddr2 = uaddr2;
	rec->op = op;
	rec->nr_wake = nr_wake;
	submit(rec);
	return 0;
}

/* Shared by every futex syscall exit: ends a tracked wait, forgets a wake op. */
static __always_inline int futex_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct futex_state *ws;
	struct tt_wait_end *rec;

	if (!is_target_tgid(tgid))
		return 0;
	bpf_map_delete_elem(&wakes, &tid);
	ws = bpf_map_lookup_elem(&waits, &tid);
	if (!ws)
		return 0;
	rec = reserve(sizeof(*rec));
	if (rec) {
		fill_hdr(&rec->hdr, TT_REC_WAIT_END, sizeof(*rec), tgid, tid);
		rec->uaddr = ws->uaddr;
		rec->op = ws->op;
		rec->ret = ret;
		/* the waiter's own memory, read before it returns to user space */
		if (bpf_probe_read_user(&rec->word, sizeof(rec->word), (void *)ws->uaddr))
			rec->word = 0;
		submit(rec);
	}
	bpf_map_delete_elem(&waits, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_futex")
int tt_enter_futex(struct trace_event_raw_sys_enter *ctx)
{
	__u64 uaddr = ctx->args[0];
	__u32 op = ctx->args[1];
	__u32 cmd = op & TT_FUTEX_CMD_MASK;

	if (is_wait_op(cmd))
		return wait_begin(ctx, uaddr, op, (__u32)ctx->args[2], (__u32)ctx->args[5],
				  ctx->args[3]);
	if (is_wake_op(cmd)) {
		bool requeue = cmd == TT_FUTEX_REQUEUE || cmd == TT_FUTEX_CMP_REQUEUE ||
			       cmd == TT_FUTEX_CMP_REQUEUE_PI || cmd == TT_FUTEX_WAKE_OP;

		return wake_op(uaddr, requeue ? ctx->args[4] : 0, op, (__u32)ctx->args[2]);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int tt_exit_futex(struct trace_event_raw_sys_exit *ctx)
{
	return futex_exit(ctx->ret);
}

/* futex_waitv(waiters, nr_futexes, flags, timeout, clockid): keyed by the first futex. */
SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int tt_enter_futex_waitv(struct trace_event_raw_sys_enter *ctx)
{
	struct futex_waitv first = {};

	bpf_probe_read_user(&first, sizeof(first), (void *)ctx->args[0]);
	return wait_begin(ctx, first.uaddr, TT_FUTEX2_WAITV, (__u32)first.val, (__u32)ctx->args[1],
			  ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_exit_futex_waitv")
int tt_exit_futex_waitv(struct trace_event_raw_sys_exit *ctx)
{
	return futex_exit(ctx->ret);
}

/* futex2 futex_wait(uaddr, val, mask, flags, timeout, clockid) */
SEC("tracepoint/syscalls/sys_enter_futex_wait")
int tt_enter_futex_wait(struct trace_event_raw_sys_enter *ctx)
{
	return wait_begin(ctx, ctx->args[0], TT_FUTEX2_WAIT, (__u32)ctx->args[1],
			  (__u32)ctx->args[2], ctx->args[4]);
}

SEC("tracepoint/syscalls/sys_exit_futex_wait")
int tt_exit_futex_wait(struct trace_event_raw_sys_exit *ctx)
{
	return futex_exit(ctx->ret);
}

/* futex2 futex_wake(uaddr, mask, nr, flags) */
SEC("tracepoint/syscalls/sys_enter_futex_wake")
int tt_enter_futex_wake(struct trace_event_raw_sys_enter *ctx)
{
	return wake_op(ctx->args[0], 0, TT_FUTEX2_WAKE, (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_futex_wake")
int tt_exit_futex_wake(struct trace_event_raw_sys_exit *ctx)
{
	return futex_exit(ctx->ret);
}

/* futex2 futex_requeue(waiters[2], flags, nr_wake, nr_requeue) */
SEC("tracepoint/syscalls/sys_enter_futex_requeue")
int tt_enter_futex_requeue(struct trace_event_raw_sys_enter *ctx)
{
	struct futex_waitv w[2] = {};

	bpf_probe_read_user(&w, sizeof(w), (void *)ctx->args[0]);
	return wake_op(w[0].uaddr, w[1].uaddr, TT_FUTEX2_REQUEUE, (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_futex_requeue")
int tt_exit_futex_requeue(struct trace_event_raw_sys_exit *ctx)
{
	return futex_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
