// SPDX-License-Identifier: GPL-2.0
/*
 * holds.bpf.c - --holds: one uprobe program attached to each probed pthread/semaphore function
 * of the target's libc. User space picks the probe site (an instruction the kernel emulates
 * where it can, ../DESIGN.md) and says in the attach cookie which call it is, which registers
 * hold the objects there and where the return address sits.
 */
#include "common.bpf.h"

_Static_assert(sizeof(struct tt_lock_call) + TT_STACK_BYTES <= TT_SCRATCH_SIZE, "scratch size");

SEC("uprobe")
int tt_lock_call(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 op = TT_COOKIE_OP(cookie), r1 = TT_COOKIE_REG(cookie), r2 = TT_COOKIE_REG2(cookie);
	__u64 ret_off = TT_LOCK_COOKIE_RET_OFF(cookie), ret = 0;
	struct tt_lock_call *rec;
	__u32 size = sizeof(*rec);

	if (!is_target_thread(tgid, tid))
		return 0;
	rec = scratch_get(SLOT_UPROBE);
	if (!rec)
		return 0;
	rec->obj = reg_value(ctx, r1);
	rec->obj2 = r2 == TT_REG_NONE ? 0 : reg_value(ctx, r2);
	rec->op = op;
	rec->pad = 0;
	rec->stack.nr_user = 0;
	rec->stack.nr_kernel = 0;
	rec->stack.flags = 0;
	/* releases need no stack: the hold's site is where it was taken */
	if (op != TT_LOP_MUTEX_UNLOCK && op != TT_LOP_RW_UNLOCK && op != TT_LOP_SEM_POST) {
		__u32 bytes = fill_stack(ctx, SLOT_UPROBE, STACK_IPS(struct tt_lock_call),
					 &rec->stack, false);

		/*
		 * Near a function's entry the caller has no frame of its own yet: a frame-pointer
		 * walk would skip it. Put its return address second (CFI knows where it is).
		 */
		if (user_unwind == TT_UNWIND_FP && bytes >= 8 && bytes < TT_MAX_USTACK * 8 &&
		    !bpf_probe_read_user(&ret, 8, (void *)(PT_REGS_SP(ctx) + ret_off)) && ret) {
			__u32 n = bytes / 8;

			for (__u32 i = TT_MAX_USTACK - 1; i > 1; i--)
				if (i <= n)
					rec->stack.ips[i] = rec->stack.ips[i - 1];
			rec->stack.ips[1] = ret;
			rec->stack.nr_user = n + 1;
			bytes += 8;
		}
		size += bytes;
	}
	fill_hdr(&rec->hdr, TT_REC_LOCK_CALL, 0, tgid, tid);
	emit_scratch(rec, size);
	if (op != TT_LOP_MUTEX_UNLOCK && op != TT_LOP_RW_UNLOCK && op != TT_LOP_SEM_POST)
		emit_snapshot(SLOT_UPROBE, TT_REC_LOCK_CALL, tgid, tid, rec->hdr.ts,
			      rec->stack.flags);
	return 0;
}
