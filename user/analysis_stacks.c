// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_stacks.c - which stack a wait or a wake gets, and the stack table: a record's own
 * stack (unwound in BPF) or the collector's unwound copy of it (TT_REC_UNWOUND), with its
 * Python frames (TT_REC_PYSTACK) merged in; counted for the header's stack quality, interned
 * once per distinct stack (analysis.stacks). Also the public readers of a stack's frames.
 */
#include <string.h>
#include "analysis_int.h"

/*
 * The collector's unwound stack (TT_REC_UNWOUND) and BPF's Python stack (TT_REC_PYSTACK) of a
 * record carry its thread and timestamp and are replayed just before it: kept until the
 * timestamp moves on.
 */
void note_companion(struct stack_state *c, const struct tt_rec_hdr *h)
{
	if (h->ts != c->comp_ts) {
		c->comp_ts = h->ts;
		c->nr_comp = 0;
		c->comp_len = 0;
	}
	if (c->nr_comp == MAX_COMP || h->size > COMP_BYTES - c->comp_len)
		return;
	memcpy(c->comp_buf + c->comp_len, h, h->size);
	c->comp[c->nr_comp++] = (const void *)(c->comp_buf + c->comp_len);
	c->comp_len += (h->size + 7) & ~7u;
}

const struct tt_rec_hdr *find_companion(const struct stack_state *c, const struct tt_rec_hdr *h,
					__u16 kind)
{
	if (h->ts != c->comp_ts)
		return NULL;
	for (unsigned i = 0; i < c->nr_comp; i++) {
		const struct tt_unwound *u = (const void *)c->comp[i];

		/* both begin with the parent's kind after the header */
		if (u->hdr.kind == kind && u->hdr.tid == h->tid && u->parent_kind == h->kind)
			return c->comp[i];
	}
	return NULL;
}

static const struct tt_pystack *find_pystack(struct work *w, const struct tt_rec_hdr *h)
{
	return (const void *)find_companion(&w->stk, h, TT_REC_PYSTACK);
}

/*
 * The eval loop, or a part of it the compiler split off: GCC moves its rarely taken paths
 * (Debian's 3.14 and 3.15 make their calls there) to _PyEval_EvalFrameDefault.cold, and may
 * name clones .part.N, .constprop.N, .lto_priv.N.
 */
static bool is_eval_frame(const struct symdata *sd, __u64 ip)
{
	static const char eval[] = "_PyEval_EvalFrameDefault";
	const struct sym_frame *f = sd ? symdata_frame(sd, ip) : NULL;

	return f && f->func && !strncmp(f->func, eval, sizeof(eval) - 1) &&
	       (!f->func[sizeof(eval) - 1] || f->func[sizeof(eval) - 1] == '.');
}

/*
 * Mixed mode: each eval-loop frame of the native stack stands for the Python
 * frames its call ran (up to an entry frame); Python frames left over (a native stack cut
 * short, or one without the eval loop's name) go after the native ones, still callers of them.
 */
static const struct tt_stack *merge_python(struct work *w, const struct tt_rec_hdr *h,
					   const struct tt_stack *st)
{
	const struct tt_pystack *ps = find_pystack(w, h);
	__u64 user[TT_MAX_USTACK + TT_PY_MAX_FRAMES];
	struct tt_stack *out = &w->stk.pick.st;
	unsigned n = 0, p = 0, nk = st->nr_kernel;

	if (!ps || !ps->nr)
		return st;
	for (unsigned i = 0; i < st->nr_user && i < TT_MAX_USTACK; i++) {
		if (p < ps->nr && is_eval_frame(w->a->sd, st->ips[i])) {
			do {
				user[n++] = pyframe_ip(&ps->frames[p]);
			} while (!(ps->frames[p++].flags & TT_PYF_ENTRY) && p < ps->nr);
			continue;
		}
		user[n++] = st->ips[i];
	}
	while (p < ps->nr)
		user[n++] = pyframe_ip(&ps->frames[p++]);
	/* st may be out itself: kernel frames move first, to after the longer user part */
	memmove(out->ips + n, st->ips + st->nr_user, (size_t)nk * 8);
	memcpy(out->ips, user, (size_t)n * 8);
	out->flags = st->flags | (ps->flags & TT_STACK_USER_TRUNC);
	out->nr_user = n;
	out->nr_kernel = nk;
	return out;
}

/*
 * The stack of a record: its own, unwound in BPF, unless the collector unwound a copy of it
 * (the BPF walk stopped short, or no BPF walk: --stacks dwarf and older record files, whose
 * own stacks are unchecked frame-pointer chains), with the record's own kernel frames.
 */
static const struct tt_stack *pick_native(struct work *w, const struct tt_rec_hdr *h,
					  const struct tt_stack *own)
{
	const struct tt_unwound *u = (const void *)find_companion(&w->stk, h, TT_REC_UNWOUND);
	const struct tt_stack *c = u ? &u->stack : NULL;
	struct tt_stack *st = &w->stk.pick.st;
	unsigned nu;

	if (!c || !c->nr_user)
		return own;
	if (own->flags & TT_STACK_USER_CFI) {
		if (!(own->flags & TT_STACK_USER_TRUNC) || own->nr_user >= c->nr_user)
			return own;
	} else if (c->nr_user < 2 && own->nr_user > c->nr_user) {
		return own;
	}
	nu = c->nr_user < TT_MAX_USTACK ? c->nr_user : TT_MAX_USTACK;
	/* own may be st itself: its kernel frames move first */
	memmove(st->ips + nu, own->ips + own->nr_user, (size_t)own->nr_kernel * 8);
	memcpy(st->ips, c->ips, (size_t)nu * 8);
	st->nr_kernel = own->nr_kernel;
	st->nr_user = nu;
	st->flags = (c->flags & (TT_STACK_USER_TRUNC | TT_STACK_USER_FAIL | TT_STACK_USER_LIMIT |
				 TT_STACK_COPY_SHORT)) |
		    TT_STACK_COPY | (own->flags & TT_STACK_KERNEL_FAIL);
	return st;
}

/* Count how exact a wait's or wake's stack is (struct stack_quality). */
static void count_stack(struct work *w, const struct tt_stack *own, const struct tt_stack *st)
{
	struct stack_quality *q = &w->a->stackq;

	if (!st->nr_user && !(st->flags & (TT_STACK_USER_TRUNC | TT_STACK_USER_FAIL)))
		return;
	q->stacks++;
	if (st != own)
		q->from_copy++;
	if (!(st->flags & (TT_STACK_USER_TRUNC | TT_STACK_USER_FAIL))) {
		q->complete++;
		return;
	}
	q->cut_short++;
	if (own->flags & TT_STACK_COPY_SKIPPED)
		q->copy_skipped++;
	if (own->flags & TT_STACK_USER_NOTABLE)
		q->no_table++;
	if ((own->flags | st->flags) & TT_STACK_USER_LIMIT)
		q->frame_limit++;
	if (st->flags & TT_STACK_COPY_SHORT)
		q->copy_short++;
}

/* ... with the record's Python frames merged in (CPython targets). */
const struct tt_stack *pick_stack(struct work *w, const struct tt_rec_hdr *h,
				  const struct tt_stack *own)
{
	return merge_python(w, h, pick_native(w, h, own));
}

/* The same for a wait or a wake, counted. */
const struct tt_stack *pick_counted(struct work *w, const struct tt_rec_hdr *h,
				    const struct tt_stack *own)
{
	const struct tt_stack *st = pick_native(w, h, own);

	count_stack(w, own, st);
	return merge_python(w, h, st);
}

__u32 stack_intern(struct work *w, __u32 pid, const struct tt_stack *st)
{
	struct analysis *a = w->a;
	size_t n = (size_t)st->nr_user + st->nr_kernel;
	__u64 h;
	bool found;
	__u64 *slot;
	struct stack_entry *e;

	if (!n)
		return TT_NO_STACK;
	h = hash_bytes(st->ips, n * 8, ((__u64)st->nr_user << 32) ^ pid);
	/* Chain on collision: probe h, h+1, ... until an equal stack or a free slot. */
	for (;; h++) {
		slot = u64_map_upsert(&w->stk.by_hash, h, &found);
		if (!found)
			break;
		e = &a->stacks[*slot - 1];
		if (e->pid == pid && e->nr_user == st->nr_user && e->nr_kernel == st->nr_kernel &&
		    !memcmp(e->ips, st->ips, n * 8)) {
			e->flags |= st->flags;
			return (__u32)(*slot - 1);
		}
	}
	e = VEC_PUSH(a->stacks, a->nr_stacks, w->stk.cap_stacks);
	e->pid = pid;
	e->nr_user = st->nr_user;
	e->nr_kernel = st->nr_kernel;
	e->flags = st->flags;
	e->ips = xcalloc(n, 8);
	memcpy(e->ips, st->ips, n * 8);
	*slot = a->nr_stacks;
	if (st->flags & TT_STACK_USER_TRUNC)
		a->truncated_stacks++;
	return (__u32)(a->nr_stacks - 1);
}

const char *analysis_frame_name(const struct analysis *a, const struct stack_entry *st, unsigned i,
				char *buf, size_t len)
{
	const struct sym_frame *f = a->sd ? symdata_frame(a->sd, st->ips[i]) : NULL;

	if (f)
		return f->name;
	snprintf(buf, len, "0x%llx", (unsigned long long)st->ips[i]);
	return buf;
}

unsigned analysis_kernel_skip(const struct analysis *a, const struct stack_entry *st)
{
	unsigned n = 0;

	while (n < st->nr_kernel && a->sd) {
		const struct sym_frame *f = symdata_frame(a->sd, st->ips[st->nr_user + n]);

		if (!f || !f->func ||
		    (strncmp(f->func, "bpf_prog_", 9) && strncmp(f->func, "bpf_trace_run", 13) &&
		     strncmp(f->func, "__bpf_trace_", 12)))
			break;
		n++;
	}
	return n;
}

unsigned analysis_frames_at(const struct analysis *a, const struct stack_entry *st, unsigned i,
			    const char **names, const char **funcs, unsigned max, char *buf,
			    size_t len)
{
	const struct sym_frame *f = a->sd ? symdata_frame(a->sd, st->ips[i]) : NULL;
	unsigned n = 0;

	for (size_t k = 0; f && k < f->nr_inlined && n + 1 < max; k++, n++) {
		names[n] = f->inlined[k].name;
		funcs[n] = f->inlined[k].func;
	}
	names[n] = analysis_frame_name(a, st, i, buf, len);
	funcs[n] = f ? f->func : NULL;
	return n + 1;
}
