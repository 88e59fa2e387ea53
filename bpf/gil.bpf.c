// SPDX-License-Identifier: GPL-2.0
/*
 * gil.bpf.c - CPython's GIL: one uprobe program on every instruction of the interpreter that
 * stores to the GIL's `locked` (user/pygil.c finds them). The cookie says take or drop and,
 * for a store through a register, which register and displacement: the store is reported only
 * if it really writes this GIL's `locked`. A free-threaded build's probes are armed while its GIL
 * is disabled too: take_gil/drop_gil store nothing then, and the first store is the GIL coming on.
 */
#include "common.bpf.h"

_Static_assert(sizeof(struct tt_gil) + TT_STACK_BYTES <= TT_SCRATCH_SIZE, "scratch size");

/* Set by user space once the interpreter is found (it may start after the programs load). */
TT_WEAK volatile __u64 gil_addr = 0;		/* the GIL; 0: not tracing it */
TT_WEAK volatile __u64 gil_drop_req = 0;	/* the drop request flag's address */
TT_WEAK volatile __u32 gil_drop_tstate_off = 0; /* 3.13: bit 0 at this offset of the holder */
TT_WEAK volatile __u64 gil_enabled_addr = 0;	/* free-threaded: the GIL's `enabled` int, else 0 */

SEC("uprobe")
int tt_gil_store(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u64 cookie = bpf_get_attach_cookie(ctx), gil = gil_addr;
	__u32 op = TT_COOKIE_OP(cookie), reg = TT_COOKIE_REG(cookie);
	__s32 disp = TT_GIL_COOKIE_DISP(cookie);
	struct tt_gil *rec;
	__u32 size = sizeof(*rec), req = 0;
	bool stack = op == TT_GIL_TAKE;

	if (!gil || !is_target_thread(tgid, tid))
		return 0;
	if (reg != TT_REG_NONE && reg_value(ctx, reg) + disp != gil + TT_GIL_LOCKED_OFF)
		return 0; /* a store to something else */
	rec = scratch_get(SLOT_UPROBE);
	if (!rec)
		return 0;
	rec->gil = gil;
	rec->op = op;
	rec->flags = 0;
	if (bpf_probe_read_user(&rec->switch_number, 8, (void *)(gil + TT_GIL_SWITCH_NUMBER_OFF)))
		rec->switch_number = 0;
	if (bpf_probe_read_user(&rec->last_holder, 8, (void *)(gil + TT_GIL_LAST_HOLDER_OFF)))
		rec->last_holder = 0;
	if (op == TT_GIL_DROP) {
		if (gil_drop_req) {
			if (!bpf_probe_read_user(&req, 4, (void *)gil_drop_req) && req)
				rec->flags |= TT_GIL_FORCED;
		} else if (gil_drop_tstate_off && rec->last_holder) {
			if (!bpf_probe_read_user(
				&req, 4, (void *)(rec->last_holder + gil_drop_tstate_off)) &&
			    (req & 1))
				rec->flags |= TT_GIL_FORCED;
		}
	}
	/* a free-threaded build stores `locked` only while its GIL is enabled: say whether for good
	 */
	if (gil_enabled_addr) {
		__s32 enabled = TT_GIL_ENABLED_FOR_GOOD;

		bpf_probe_read_user(&enabled, 4, (void *)gil_enabled_addr);
		if (enabled != TT_GIL_ENABLED_FOR_GOOD)
			rec->flags |= TT_GIL_TRANSIENT;
	}
	rec->stack.nr_user = 0;
	rec->stack.nr_kernel = 0;
	rec->stack.flags = 0;
	/*
	 * Stacks are for where threads waited for the GIL: a take's. A drop's is never used, nor a
	 * take's right after the thread's own drop (last_holder is still its own state): nobody
	 * held the GIL between, so it did not wait. An I/O loop does that twice per call.
	 */
	if (op == TT_GIL_TAKE && rec->last_holder) {
		__u64 *own = bpf_map_lookup_elem(&py_tstates, &tid);

		if (own && *own == rec->last_holder)
			stack = false;
	}
	if (stack)
		size += fill_stack(ctx, SLOT_UPROBE, STACK_IPS(struct tt_gil), &rec->stack, false);
	fill_hdr(&rec->hdr, TT_REC_GIL, 0, tgid, tid);
	emit_scratch(rec, size);
	/* where a thread takes the GIL is where it waited for it: unwind it with CFI too */
	if (op == TT_GIL_TAKE && stack) {
		__u64 ts = rec->hdr.ts;

		emit_snapshot(SLOT_UPROBE, TT_REC_GIL, tgid, tid, ts, rec->stack.flags);
		/* ... and its Python frames, unchanged while it waited without the GIL */
		emit_pystack(SLOT_UPROBE, TT_REC_GIL, tgid, tid, ts);
	} else if (rec->last_holder && py_armed) {
		/* drop_gil sets last_holder to the dropping thread's state just before; written
		 * in place, and only when it changed (a hash update allocates per call) */
		__u64 holder = rec->last_holder, *known = bpf_map_lookup_elem(&py_tstates, &tid);

		if (!known)
			bpf_map_update_elem(&py_tstates, &tid, &holder, BPF_ANY);
		else if (*known != holder)
			*known = holder;
	}
	return 0;
}
