/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.bpf.h - maps, configuration and helpers shared by every threadtrace BPF program.
 * Definitions are __weak so that the per-concern objects link into one with bpftool.
 */
#ifndef THREADTRACE_COMMON_BPF_H
#define THREADTRACE_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "threadtrace.h"

#define TT_WEAK __attribute__((weak))

/* Set by user space before load. */
TT_WEAK const volatile __u32 target_tgid = 0;
TT_WEAK const volatile __u32 target_tid = 0;	 /* 0: every thread of target_tgid */
TT_WEAK const volatile __u32 snapshot_bytes = 0; /* user stack snapshot size; 0: none */
TT_WEAK const volatile __u32 want_stacks = 1;	 /* 0: --stacks=none */
TT_WEAK const volatile __u32 kernel_stacks = 0;	 /* --kernel-stacks: the waker's, ~2 us each */
TT_WEAK const volatile __u32 snapshot_rate = 0;	 /* copies per second per CPU; 0: all wanted */

/* Sized by user space before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps") TT_WEAK;

/* A futex op in flight: a wait (waits map) or a wake (wakes map), by tid. */
#define futex_state tt_futex_state

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct futex_state);
} waits SEC(".maps") TT_WEAK;

/* The wakes map lets sched_waking name the lock its waker releases. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct futex_state);
} wakes SEC(".maps") TT_WEAK;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TT_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps") TT_WEAK;

/*
 * Records with stacks are assembled here, then copied into the ring buffer at their real size.
 * One slot per program group: an interrupt can wake a thread (sched_waking) in the middle of a
 * futex program on the same CPU, and a shared buffer was found clobbered that way.
 */
enum scratch_slot { SLOT_FUTEX = 0, SLOT_SCHED = 1, SLOT_UPROBE = 2, NR_SLOTS };
#define TT_SCRATCH_SIZE 1024
struct scratch_buf {
	__u8 data[TT_SCRATCH_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch_buf);
} scratch SEC(".maps") TT_WEAK;

/* User stack snapshots (DWARF mode) are assembled here. */
struct snapshot_buf {
	__u8 raw[sizeof(struct tt_ustack_snapshot) + TT_MAX_SNAPSHOT];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__type(key, __u32);
	__type(value, struct snapshot_buf);
} snapshots SEC(".maps") TT_WEAK;

/* Per-CPU token bucket for snapshots: rate per second, bursts of one second's worth. */
struct snapshot_budget {
	__u64 last_ns;
	__u64 tokens; /* in 1/1000 of a snapshot */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snapshot_budget);
} snapshot_budgets SEC(".maps") TT_WEAK;

static __always_inline bool snapshot_allowed(__u64 now)
{
	__u32 zero = 0;
	struct snapshot_budget *b;
	__u64 cap = (__u64)snapshot_rate * 1000, add;

	if (!snapshot_rate)
		return true;
	b = bpf_map_lookup_elem(&snapshot_budgets, &zero);
	if (!b)
		return false;
	add = (now - b->last_ns) * snapshot_rate / 1000000; /* milli-snapshots since last */
	b->last_ns = now;
	b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
	if (b->tokens < 1000)
		return false;
	b->tokens -= 1000;
	return true;
}

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		__sync_fetch_and_add(c, 1); /* programs can nest on a CPU */
}

static __always_inline void fill_hdr(struct tt_rec_hdr *h, __u16 kind, __u16 size, __u32 pid,
				     __u32 tid)
{
	h->size = size;
	h->kind = kind;
	h->cpu = bpf_get_smp_processor_id();
	h->ts = bpf_ktime_get_ns();
	h->pid = pid;
	h->tid = tid;
}

/*
 * Wake the collector only when the buffer is an eighth full: a wake-up per record would make
 * the collector preempt the target on every event. The collector drains on a timer too.
 */
static __always_inline __u64 wakeup_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);

	return avail > size / 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void submit(void *rec)
{
	bpf_ringbuf_submit(rec, wakeup_flags());
}

static __always_inline void *reserve(__u64 size)
{
	void *r = bpf_ringbuf_reserve(&events, size, 0);

	if (!r)
		count(TT_CNT_RINGBUF_FULL);
	return r;
}

/* The fixed part of a record with a stack must be followed by room for both stacks. */
#define TT_STACK_BYTES ((TT_MAX_USTACK + TT_MAX_KSTACK) * 8)

#include "unwind.bpf.h"

/* Where a record type's stack ips start in its scratch slot. */
#define STACK_IPS(type) (__builtin_offsetof(type, stack) + sizeof(struct tt_stack))

/*
 * A copy of the stack for the collector to unwind with libdw: for every stack in dwarf mode,
 * else for one the CFI walk cut short (a module mapped since the tables were loaded, CFI the
 * tables cannot express). Rate-limited; kilobytes a copy, so never with the ring buffer half
 * full: the record goes first.
 */
static __always_inline __u32 copy_decision(__u32 flags)
{
	if (!snapshot_bytes)
		return 0;
	if (user_unwind != TT_UNWIND_NONE &&
	    ((flags & TT_STACK_USER_LIMIT) || !(flags & TT_STACK_USER_TRUNC)))
		return 0;
	if (!snapshot_allowed(bpf_ktime_get_ns()) ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
		bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2)
		return TT_STACK_COPY_SKIPPED;
	return TT_STACK_COPY;
}

static __always_inline bool is_wake_op(__u32 cmd)
{
	switch (cmd) {
	case TT_FUTEX_WAKE:
	case TT_FUTEX_WAKE_BITSET:
	case TT_FUTEX_WAKE_OP:
	case TT_FUTEX_UNLOCK_PI:
	case TT_FUTEX_REQUEUE:
	case TT_FUTEX_CMP_REQUEUE:
	case TT_FUTEX_CMP_REQUEUE_PI:
		return true;
	}
	return false;
}

/*
 * Fill st (in scratch slot slot, its ips at byte ips_off) with the current user stack, and the
 * kernel stack when want_kernel; return the number of bytes of ips written.
 */
static __always_inline __u32 fill_stack(void *ctx, __u32 slot, __u32 ips_off, struct tt_stack *st,
					bool want_kernel)
{
	long n;
	__u32 nu = 0, nk = 0, flags = 0;

	st->flags = 0;
	if (!want_stacks) {
		st->nr_user = 0;
		st->nr_kernel = 0;
		return 0;
	}
	if (user_unwind != TT_UNWIND_NONE)
		nu = unwind_user(slot, ips_off, &flags);
	if (nu > TT_MAX_USTACK)
		nu = TT_MAX_USTACK;
	flags |= copy_decision(flags);
	if (want_kernel && kernel_stacks) {
		n = bpf_get_stack(ctx, &st->ips[nu & 63], TT_MAX_KSTACK * 8, 0);
		if (n < 0) {
			flags |= TT_STACK_KERNEL_FAIL;
			count(TT_CNT_STACK_FAIL);
		} else {
			nk = n / 8;
		}
		if (nk > TT_MAX_KSTACK)
			nk = TT_MAX_KSTACK;
	}
	st->flags = flags;
	st->nr_user = nu;
	st->nr_kernel = nk;
	return (nu + nk) * 8;
}

static __always_inline void *scratch_get(__u32 slot)
{
	return bpf_map_lookup_elem(&scratch, &slot);
}

/* Copy a record assembled in scratch into the ring buffer at its real size. */
static __always_inline void emit_scratch(void *rec, __u32 size)
{
	if (size > TT_SCRATCH_SIZE)
		return;
	((struct tt_rec_hdr *)rec)->size = size;
	if (bpf_ringbuf_output(&events, rec, size, wakeup_flags()))
		count(TT_CNT_RINGBUF_FULL);
}

/*
 * Copy the user stack from sp up, and the registers to unwind it from, for the record of
 * parent_kind at ts when its stack flags ask for it (copy_decision). Near the top of a thread's
 * stack fewer bytes exist: halve until it reads.
 */
static __always_inline void emit_snapshot(__u32 slot, __u16 parent_kind, __u32 pid, __u32 tid,
					  __u64 ts, __u32 stack_flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct snapshot_buf *b;
	struct tt_ustack_snapshot *rec;
	__u32 size = snapshot_bytes;
	__u64 sp;

	if (!snapshot_bytes || !(stack_flags & TT_STACK_COPY))
		return;
	b = bpf_map_lookup_elem(&snapshots, &slot);
	if (!b)
		return;
	rec = (struct tt_ustack_snapshot *)b->raw;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return;
	rec->regs.ip = BPF_CORE_READ(regs, ip);
	sp = BPF_CORE_READ(regs, sp);
	rec->regs.sp = sp;
	rec->regs.bp = BPF_CORE_READ(regs, bp);
	rec->regs.bx = BPF_CORE_READ(regs, bx);
	rec->regs.r12 = BPF_CORE_READ(regs, r12);
	rec->regs.r13 = BPF_CORE_READ(regs, r13);
	rec->regs.r14 = BPF_CORE_READ(regs, r14);
	rec->regs.r15 = BPF_CORE_READ(regs, r15);
	if (size > TT_MAX_SNAPSHOT)
		size = TT_MAX_SNAPSHOT;
	rec->wanted = size;
#pragma unroll
	for (int i = 0; i < 6; i++) {
		if (size && size <= TT_MAX_SNAPSHOT &&
		    !bpf_probe_read_user(b->raw + sizeof(*rec), size, (void *)sp))
			break;
		size >>= 1;
		if (size < 256)
			size = 0;
	}
	if (!size)
		count(TT_CNT_STACK_FAIL);
	rec->size = size;
	rec->parent_kind = parent_kind;
	rec->pad = 0;
	rec->pad2 = 0;
	rec->hdr.size = sizeof(*rec) + size;
	rec->hdr.kind = TT_REC_USTACK_SNAPSHOT;
	rec->hdr.cpu = bpf_get_smp_processor_id();
	rec->hdr.ts = ts;
	rec->hdr.pid = pid;
	rec->hdr.tid = tid;
	if (size <= TT_MAX_SNAPSHOT &&
	    bpf_ringbuf_output(&events, b, sizeof(*rec) + size, wakeup_flags()))
		count(TT_CNT_RINGBUF_FULL);
}

static __always_inline bool is_target_tgid(__u32 tgid)
{
	return tgid == target_tgid;
}

static __always_inline bool is_target_thread(__u32 tgid, __u32 tid)
{
	return tgid == target_tgid && (!target_tid || tid == target_tid);
}

/*
 * CPython frames. User space arms this once it found the interpreter (user/pyframes.c): the
 * walk's offsets for the version, and each thread's PyThreadState — seeded from the
 * interpreter's thread list, then learnt at every GIL drop (its last_holder is the dropping
 * thread's) and forgotten at thread exit.
 */
TT_WEAK volatile __u32 py_armed = 0;
TT_WEAK volatile struct tt_py_walk py_walk = {};
/* The main interpreter's thread list, for a thread not learnt yet (threadtrace.h). */
TT_WEAK volatile struct tt_py_threads py_threads = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} py_tstates SEC(".maps") TT_WEAK;

#define PY_FRAME_BUF 800 /* where in a scratch slot a frame is read to */
_Static_assert(sizeof(struct tt_pystack) + TT_PY_MAX_FRAMES * sizeof(struct tt_pyframe) <=
		       PY_FRAME_BUF &&
		   PY_FRAME_BUF + TT_PY_FRAME_BYTES + 8 <= TT_SCRATCH_SIZE,
	       "pystack scratch");

static __always_inline __u64 frame_u64(const __u8 *fb, __u32 off)
{
	return *(const __u64 *)(fb + (off & (TT_PY_FRAME_BYTES - 1)));
}

struct py_walk_ctx {
	__u32 slot;
	__u32 n;     /* frames kept */
	__u32 len;   /* bytes read per frame */
	__u32 trunc; /* more frames than kept */
	__u64 frame; /* the next frame to read; 0: the chain's end */
};

/* One frame per call (bpf_loop: the verifier sees the body once, not once per frame). */
static long py_walk_step(__u32 i, void *arg)
{
	struct py_walk_ctx *c = arg;
	struct tt_pystack *rec;
	struct tt_pyframe *f;
	__u8 *fb;
	__u64 code, at = c->frame;
	__u32 slot = c->slot;

	if (!c->frame)
		return 1;
	if (c->n >= TT_PY_MAX_FRAMES) {
		c->trunc = 1;
		return 1;
	}
	rec = bpf_map_lookup_elem(&scratch, &slot);
	if (!rec)
		return 1;
	fb = (__u8 *)rec + PY_FRAME_BUF;
	/* len < TT_PY_FRAME_BYTES (user/pyframes.c); the mask is for the verifier */
	if (bpf_probe_read_user(fb, c->len & (TT_PY_FRAME_BYTES - 1), (void *)c->frame)) {
		c->frame = 0;
		return 1;
	}
	code = frame_u64(fb, py_walk.code) & ~(__u64)py_walk.ref_tag_bits;
	c->frame = frame_u64(fb, py_walk.back);
	if (py_walk.owner >= 0 &&
	    fb[py_walk.owner & (TT_PY_FRAME_BYTES - 1)] >= TT_PY_OWNER_CSTACK) {
		/* a shim: the frame above it began an eval-loop call */
		if (c->n)
			rec->frames[(c->n - 1) & (TT_PY_MAX_FRAMES - 1)].flags |= TT_PYF_ENTRY;
		return 0;
	}
	f = &rec->frames[c->n & (TT_PY_MAX_FRAMES - 1)];
	f->code = code;
	if (py_walk.instr_is_ptr)
		f->instr = (__u32)(frame_u64(fb, py_walk.instr) - code);
	else
		f->instr = *(const __u32 *)(fb + (py_walk.instr & (TT_PY_FRAME_BYTES - 1)));
	f->flags = py_walk.every_entry ? TT_PYF_ENTRY : 0;
	if (py_walk.is_entry >= 0 && fb[py_walk.is_entry & (TT_PY_FRAME_BYTES - 1)])
		f->flags |= TT_PYF_ENTRY;
	if (py_walk.tlbc_index >= 0)
		f->flags |=
		    (*(const __u32 *)(fb + (py_walk.tlbc_index & (TT_PY_FRAME_BYTES - 1))) & 0xffff)
		    << TT_PYF_TLBC_SHIFT;
	f->local0 = 0;
	if (c->n < TT_PY_LOCAL0_FRAMES && py_walk.localsplus >= 0 &&
	    bpf_probe_read_user(&f->local0, 8, (void *)(at + py_walk.localsplus)))
		f->local0 = 0;
	f->local0 &= ~(__u64)py_walk.ref_tag_bits;
	c->n++;
	return 0;
}

#define PY_MAX_TSTATES	 256
#define PY_MISS		 1ULL /* py_tstates value tag: not in the list at (value & ~1) ns */
#define PY_MISS_RETRY_NS 100000000ULL

struct py_find_ctx {
	__u64 ts;  /* the state looked at; 0: the list's end */
	__u64 key; /* the thread's tid in its PID namespace, or its FS base */
	__u64 found;
};

static long py_find_step(__u32 i, void *arg)
{
	struct py_find_ctx *c = arg;
	__u64 v = 0;
	__s32 ntid = py_threads.native_tid;

	if (!c->ts)
		return 1;
	if (ntid >= 0) {
		if (bpf_probe_read_user(&v, 8, (void *)(c->ts + ntid)))
			return 1;
	} else if (bpf_probe_read_user(&v, 8, (void *)(c->ts + py_threads.thread_id))) {
		return 1;
	}
	if (v == c->key) {
		c->found = c->ts;
		return 1;
	}
	if (bpf_probe_read_user(&c->ts, 8, (void *)(c->ts + py_threads.next)))
		c->ts = 0;
	return 0;
}

/*
 * The current thread's tid as its own PID namespace numbers it (gettid() in the thread: what
 * CPython keeps in native_thread_id); the host's tid outside containers.
 */
static __always_inline __u32 ns_tid_of_current(void)
{
	struct pid *p = BPF_CORE_READ(bpf_get_current_task_btf(), thread_pid);
	__u32 level = BPF_CORE_READ(p, level);
	int nr = 0;

	if (level > 31) /* MAX_PID_NS_LEVEL; for the verifier */
		return 0;
	bpf_probe_read_kernel(&nr, sizeof(nr),
			      (void *)p + bpf_core_field_offset(struct pid, numbers) +
				  level * bpf_core_type_size(struct upid) +
				  bpf_core_field_offset(struct upid, nr));
	return (__u32)nr;
}

/*
 * The thread's PyThreadState: learnt (GIL drops, the collector's seeding), else looked up in
 * the interpreter's list and kept; a thread not in it (a native one) is looked up again only
 * 100 ms later.
 */
static __always_inline __u64 py_tstate_of(__u32 tid)
{
	__u64 *known = bpf_map_lookup_elem(&py_tstates, &tid), now;
	struct py_find_ctx c = {};
	__u64 val;

	if (known && *known && !(*known & PY_MISS))
		return *known;
	now = bpf_ktime_get_ns();
	if (known && (*known & PY_MISS) && now - (*known & ~PY_MISS) < PY_MISS_RETRY_NS)
		return 0;
	if (!py_threads.head || bpf_probe_read_user(&c.ts, 8, (void *)py_threads.head))
		return 0;
	if (py_threads.native_tid >= 0)
		c.key = ns_tid_of_current();
	else
		c.key = BPF_CORE_READ(bpf_get_current_task_btf(), thread.fsbase);
	bpf_loop(PY_MAX_TSTATES, py_find_step, &c, 0);
	val = c.found ? c.found : (now | PY_MISS);
	bpf_map_update_elem(&py_tstates, &tid, &val, BPF_ANY);
	return c.found;
}

/*
 * After the record of parent_kind at ts (already out of scratch slot), the thread's Python
 * frames, leaf first: one read of each frame, C-stack shim frames (3.12+) skipped but marking
 * the frame above them as an eval-loop call's first.
 */
static __always_inline void emit_pystack(__u32 slot, __u16 parent_kind, __u32 pid, __u32 tid,
					 __u64 ts)
{
	struct py_walk_ctx c = {.slot = slot, .len = py_walk.frame_bytes};
	struct tt_pystack *rec;
	__u64 tstate;
	__u32 n, size;

	if (!py_armed)
		return;
	tstate = py_tstate_of(tid);
	if (!tstate)
		return;
	if (bpf_probe_read_user(&c.frame, 8, (void *)(tstate + py_walk.tstate_frame)))
		return;
	if (c.frame && py_walk.cframe_frame >= 0 &&
	    bpf_probe_read_user(&c.frame, 8, (void *)(c.frame + py_walk.cframe_frame)))
		return;
	bpf_loop(TT_PY_MAX_FRAMES + 8, py_walk_step, &c, 0);
	rec = scratch_get(slot);
	n = c.n;
	if (!rec || !n || n > TT_PY_MAX_FRAMES)
		return;
	if (!c.frame) /* the chain's end: the outermost frame began its eval-loop call */
		rec->frames[(n - 1) & (TT_PY_MAX_FRAMES - 1)].flags |= TT_PYF_ENTRY;
	rec->parent_kind = parent_kind;
	rec->nr = n;
	rec->flags = c.trunc || c.frame ? TT_STACK_USER_TRUNC : 0;
	fill_hdr(&rec->hdr, TT_REC_PYSTACK, 0, pid, tid);
	rec->hdr.ts = ts;
	size = sizeof(*rec) + n * sizeof(struct tt_pyframe);
	barrier_var(size); /* the verifier lost n's bound through the loop's context */
	emit_scratch(rec, size & (TT_SCRATCH_SIZE - 1));
}

/* A register of an attach cookie (enum tt_reg); 0 for another number. */
_Static_assert(TT_REG__NR == TT_REG_R11 + 1, "reg_value has a case for every enum tt_reg");
static __always_inline __u64 reg_value(struct pt_regs *regs, __u32 r)
{
	switch (r) {
	case TT_REG_RDI:
		return BPF_CORE_READ(regs, di);
	case TT_REG_RSI:
		return BPF_CORE_READ(regs, si);
	case TT_REG_RDX:
		return BPF_CORE_READ(regs, dx);
	case TT_REG_RCX:
		return BPF_CORE_READ(regs, cx);
	case TT_REG_R8:
		return BPF_CORE_READ(regs, r8);
	case TT_REG_R9:
		return BPF_CORE_READ(regs, r9);
	case TT_REG_RBX:
		return BPF_CORE_READ(regs, bx);
	case TT_REG_RBP:
		return BPF_CORE_READ(regs, bp);
	case TT_REG_R12:
		return BPF_CORE_READ(regs, r12);
	case TT_REG_R13:
		return BPF_CORE_READ(regs, r13);
	case TT_REG_R14:
		return BPF_CORE_READ(regs, r14);
	case TT_REG_R15:
		return BPF_CORE_READ(regs, r15);
	case TT_REG_RAX:
		return BPF_CORE_READ(regs, ax);
	case TT_REG_R10:
		return BPF_CORE_READ(regs, r10);
	case TT_REG_R11:
		return BPF_CORE_READ(regs, r11);
	}
	return 0;
}

#endif /* THREADTRACE_COMMON_BPF_H */
