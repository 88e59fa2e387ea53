/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unwind.bpf.h - the user stack of the current thread, unwound in BPF with the CFI tables user
 * space loads (struct tt_cfi_row per module, struct tt_unwind_map per executable mapping).
 * Every frame is a return address the CFI of its callee located, or the walk stops and says
 * why: a frame is never made from a value merely found on the stack.
 */
#ifndef THREADTRACE_UNWIND_BPF_H
#define THREADTRACE_UNWIND_BPF_H

/* Sized by user space before load; mmapped by it to write rows and mappings. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tt_cfi_row);
} cfi_rows SEC(".maps") TT_WEAK;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * TT_UNWIND_MAX_MAPS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tt_unwind_map);
} unwind_maps SEC(".maps") TT_WEAK;

/* Which table of unwind_maps is current, and how many mappings each holds (user space). */
TT_WEAK volatile __u32 unwind_table = 0;
TT_WEAK volatile __u32 unwind_nr_maps[2] = {};

TT_WEAK const volatile __u32 user_unwind = TT_UNWIND_CFI; /* enum tt_unwind_mode */

struct uwalk {
	__u64 ip, sp, bp;
	__u32 slot;    /* scratch slot of the record */
	__u32 ips_off; /* where in it the user ips go */
	__u32 n;
	__u32 table, nr_maps;
	__u32 flags; /* TT_STACK_* */
	__u32 bp_lost;
	__u32 exact; /* ip is an interrupted pc (after a signal frame), not a return address */
};

/*
 * Binary searches, one step per bpf_loop call: the verifier sees each body once instead of
 * walking every iteration of an unrolled loop (it cut the programs' load time by more than half).
 */
struct bsearch {
	__u64 key;
	__u32 lo, hi;
	__u32 base; /* unwind_maps: the table's first index */
	__u32 failed;
};

/* The last mapping starting at or below key. */
static long map_step(__u32 i, void *arg)
{
	struct bsearch *b = arg;
	const struct tt_unwind_map *m;
	__u32 mid, idx;

	if (b->lo >= b->hi)
		return 1;
	mid = b->lo + (b->hi - b->lo) / 2;
	idx = b->base + mid;
	m = bpf_map_lookup_elem(&unwind_maps, &idx);
	if (!m) {
		b->failed = 1;
		return 1;
	}
	if (m->start <= b->key)
		b->lo = mid + 1;
	else
		b->hi = mid;
	return 0;
}

/* The last row starting at or below key. */
static long row_step(__u32 i, void *arg)
{
	struct bsearch *b = arg;
	const struct tt_cfi_row *r;
	__u32 mid;

	if (b->lo >= b->hi)
		return 1;
	mid = b->lo + (b->hi - b->lo) / 2;
	r = bpf_map_lookup_elem(&cfi_rows, &mid);
	if (!r) {
		b->failed = 1;
		return 1;
	}
	if (r->pc <= b->key)
		b->lo = mid + 1;
	else
		b->hi = mid;
	return 0;
}

static __always_inline const struct tt_unwind_map *unwind_find_map(__u32 table, __u32 nr, __u64 ip)
{
	struct bsearch b = {.key = ip, .hi = nr, .base = table * TT_UNWIND_MAX_MAPS};
	const struct tt_unwind_map *m;
	__u32 idx;

	if (nr > TT_UNWIND_MAX_MAPS)
		return NULL;
	bpf_loop(12, map_step, &b, 0);
	if (b.failed || !b.lo)
		return NULL;
	idx = b.base + b.lo - 1;
	m = bpf_map_lookup_elem(&unwind_maps, &idx);
	return m && ip < m->end ? m : NULL;
}

static __always_inline const struct tt_cfi_row *unwind_find_row(__u32 first, __u32 nr, __u64 pc)
{
	struct bsearch b = {.key = pc, .lo = first, .hi = first + nr};
	__u32 idx;

	/* 2^24 rows a module at most */
	bpf_loop(25, row_step, &b, 0);
	if (b.failed || b.lo == first)
		return NULL;
	idx = b.lo - 1;
	return bpf_map_lookup_elem(&cfi_rows, &idx);
}

static __always_inline bool unwind_is_code(struct uwalk *u, __u64 ip)
{
	return unwind_find_map(u->table, u->nr_maps, ip) != NULL;
}

/* One frame: keep ip, then find the caller's ip, sp and bp. 1 stops bpf_loop. */
static long unwind_step(__u32 i, void *arg)
{
	struct uwalk *u = arg;
	const struct tt_unwind_map *m;
	const struct tt_cfi_row *r;
	__u64 cfa, ra = 0, bp = u->bp, pc;
	__u8 *rec;

	if (u->n >= TT_MAX_USTACK) {
		u->flags |= TT_STACK_USER_TRUNC | TT_STACK_USER_LIMIT;
		return 1;
	}
	rec = bpf_map_lookup_elem(&scratch, &u->slot);
	if (!rec)
		return 1;
	*(__u64 *)(rec + ((u->ips_off + u->n * 8) & 0x3f8)) = u->ip;
	u->n++;
	m = unwind_find_map(u->table, u->nr_maps, u->ip);
	if (!m) {
		u->flags |= TT_STACK_USER_TRUNC | TT_STACK_USER_NOTABLE;
		return 1;
	}
	if (user_unwind == TT_UNWIND_FP || (m->flags & TT_UMAP_FP)) {
		/* frame pointers, believed only while they lead up the stack to code */
		if (u->bp_lost || bp < u->sp || bp - u->sp > (8 << 20) || (bp & 7) ||
		    bpf_probe_read_user(&ra, 8, (void *)(bp + 8)) ||
		    bpf_probe_read_user(&u->bp, 8, (void *)bp)) {
			u->flags |= TT_STACK_USER_TRUNC;
			return 1;
		}
		u->flags |= TT_STACK_USER_FP;
		cfa = bp + 16;
	} else {
		/* a return address is after its call: look up the call's own row */
		pc = u->ip - m->bias - (u->n > 1 && !u->exact ? 1 : 0);
		u->exact = 0;
		r = unwind_find_row(m->first_row, m->nr_rows, pc);
		if (!r || r->kind == TT_CFI_NONE || (r->kind == TT_CFI_RBP && u->bp_lost)) {
			u->flags |= TT_STACK_USER_TRUNC | (r ? 0 : TT_STACK_USER_NOTABLE);
			return 1;
		}
		if (r->kind == TT_CFI_END)
			return 1; /* the outermost frame: the stack is whole */
		if (r->kind == TT_CFI_SIGNAL) {
			/* the interrupted context, wherever its stack is (sigaltstack) */
			if (bpf_probe_read_user(&cfa, 8, (void *)(u->sp + r->cfa_off)) ||
			    bpf_probe_read_user(&ra, 8, (void *)(u->sp + r->ra_off)) ||
			    bpf_probe_read_user(&u->bp, 8, (void *)(u->sp + r->rbp_off)) ||
			    !unwind_is_code(u, ra)) {
				u->flags |= TT_STACK_USER_TRUNC;
				return 1;
			}
			u->bp_lost = 0;
			u->exact = 1;
			u->ip = ra;
			u->sp = cfa;
			return 0;
		}
		cfa = (r->kind == TT_CFI_RSP ? u->sp : bp) + (__s64)r->cfa_off;
		if (cfa <= u->sp || bpf_probe_read_user(&ra, 8, (void *)(cfa - 8))) {
			u->flags |= TT_STACK_USER_TRUNC;
			return 1;
		}
		if (r->rbp == TT_CFI_RBP_SAVED) {
			if (bpf_probe_read_user(&u->bp, 8, (void *)(cfa + (__s64)r->rbp_off)))
				u->bp_lost = 1;
		} else if (r->rbp == TT_CFI_RBP_LOST) {
			u->bp_lost = 1;
		}
	}
	if (!ra)
		return 1; /* a zero return address ends a stack (clone, _start) */
	if (cfa <= u->sp) {
		u->flags |= TT_STACK_USER_TRUNC;
		return 1;
	}
	/*
	 * A return address CFI found outside known code: a mapping newer than the tables. One a
	 * frame pointer gave is data (code built without them): the chain ends, nothing to load.
	 */
	if (!unwind_is_code(u, ra)) {
		u->flags |= TT_STACK_USER_TRUNC;
		if (user_unwind == TT_UNWIND_CFI && !(m->flags & TT_UMAP_FP))
			u->flags |= TT_STACK_USER_NOTABLE;
		return 1;
	}
	u->ip = ra;
	u->sp = cfa;
	return 0;
}

/*
 * Unwind the current thread's user stack into the record in scratch slot slot, its ips at byte
 * ips_off; return the number of frames and or the TT_STACK_* flags into *flags.
 */
static __always_inline __u32 unwind_user(__u32 slot, __u32 ips_off, __u32 *flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct uwalk u = {.slot = slot, .ips_off = ips_off};

	if (!regs)
		return 0;
	u.ip = BPF_CORE_READ(regs, ip);
	u.sp = BPF_CORE_READ(regs, sp);
	u.bp = BPF_CORE_READ(regs, bp);
	u.table = unwind_table & 1;
	u.nr_maps = unwind_nr_maps[u.table];
	if (user_unwind == TT_UNWIND_CFI)
		u.flags |= TT_STACK_USER_CFI;
	bpf_loop(TT_MAX_USTACK + 1, unwind_step, &u, 0);
	*flags |= u.flags;
	return u.n <= TT_MAX_USTACK ? u.n : TT_MAX_USTACK;
}

#endif /* THREADTRACE_UNWIND_BPF_H */
