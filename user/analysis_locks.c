// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_locks.c - the futex words and the lock objects they make: each word's evidence
 * (the futex ops and values of its waits, the lock functions on its stacks, the libc's
 * layouts), the kind it gives (lockkind.c, runtime.c; --holds and Python objects overrule it),
 * and at the end the words folded into their objects (a condvar's or rwlock's several words),
 * named, their sums merged and sorted (analysis.h lock_stat, analysis.locks).
 */
#include <string.h>
#include "analysis_int.h"

unsigned hist_bucket(__u64 ns)
{
	__u64 us = ns / 1000;
	unsigned b = 0;

	while (us) {
		b++;
		us >>= 1;
	}
	return b < TT_HIST_BUCKETS ? b : TT_HIST_BUCKETS - 1;
}

struct lock_work *lock_get(struct work *w, __u64 addr)
{
	bool found;
	__u64 *i = u64_map_upsert(&w->lk.by_addr, addr, &found);
	struct lock_work *l;

	if (found)
		return lock_at(w, *i - 1);
	if (w->lk.nr % LOCK_CHUNK == 0) /* pages of words not yet seen stay untouched */
		*VEC_PUSH(w->lk.chunks, w->lk.nr_chunks, w->lk.cap_chunks) =
		    xmap(LOCK_CHUNK * sizeof(struct lock_work));
	l = lock_at(w, w->lk.nr++);
	*i = w->lk.nr;
	l->addr = addr;
	l->ev.all_val2 = true;
	l->ev.cond_layout = w->lk.cond_layout;
	l->kind_stale = true;
	return l;
}

struct lock_work *lock_find(struct work *w, __u64 addr)
{
	__u64 *i = u64_map_get(&w->lk.by_addr, addr);

	return i ? lock_at(w, *i - 1) : NULL;
}

struct lock_py *lock_py(struct lock_work *l)
{
	if (!l->py)
		l->py = xcalloc(1, sizeof(*l->py));
	return l->py;
}

const char *lock_str(struct work *w, const char *s, size_t len)
{
	char buf[256];

	snprintf(buf, len < sizeof(buf) ? len : sizeof(buf), "%s", s ? s : "");
	return str_pool_add(&w->a->strs, buf);
}

void note_wait_evidence(struct work *w, struct lock_work *l, const struct tt_wait_begin *r)
{
	/* futex(2) ops are 0..13; bit 31 stands for futex2 and waitv, bit 30 for anything else */
	__u32 cmd = r->op >= TT_FUTEX2_WAITV ? 31 : (r->op & TT_FUTEX_CMD_MASK);

	if (cmd > 31)
		cmd = 30;

	l->kind_stale = true;
	l->ev.any_wait = true;
	l->ev.wait_cmds |= 1u << cmd;
	if (cmd == TT_FUTEX_WAIT && r->val != 2)
		l->ev.all_val2 = false;
	if (cmd != TT_FUTEX_WAIT)
		l->ev.all_val2 = false;
	if ((r->val & 0x80000000u) && (r->val & 0x3fffffffu) &&
	    u64_map_get(&w->thr.by_tid, r->val & 0x3fffffffu))
		l->ev.robust_val = true;
	if (r->val && r->val != r->hdr.tid && u64_map_get(&w->thr.by_tid, r->val))
		l->ev.val_is_tid = true;
	if (cmd == TT_FUTEX_WAIT && (r->val & 0x80000000u) &&
	    ((r->val & 0x3fffffffu) == 16 || u64_map_get(&w->thr.by_tid, r->val & 0x3fffffffu)))
		l->musl_owner_val = true;
}

/*
 * A stack's user frames as function names, leaf first, are classification evidence: the kind
 * its leaf-most lock function names, worked out once per stack (frames are named before their
 * records reach the analysis).
 */
void note_stack_funcs(struct work *w, struct lock_work *l, __u32 stack, bool waker, __u32 cmd,
		      __u32 val)
{
	const char *funcs[TT_MAX_USTACK];
	const struct stack_entry *e;
	unsigned n = 0;
	size_t had = w->lk.cap_votes;
	int vote, sv;

	if (stack == TT_NO_STACK || !w->a->sd)
		return;
	grow((void **)&w->lk.stack_votes, &w->lk.cap_votes, (size_t)stack + 1,
	     sizeof(*w->lk.stack_votes));
	for (size_t i = had; i < w->lk.cap_votes; i++)
		w->lk.stack_votes[i] = -2; /* not worked out yet */
	if (w->lk.stack_votes[stack] == -2) {
		int id, k, rk;

		e = &w->a->stacks[stack];
		for (unsigned i = 0; i < e->nr_user && i < TT_MAX_USTACK; i++) {
			const struct sym_frame *f = symdata_frame(w->a->sd, e->ips[i]);

			funcs[n++] = f ? f->func : NULL;
		}
		/*
		 * A runtime's own frames name what its condvar and futex waits are for (a JVM
		 * monitor entry parks on a pthread condvar); a mutex the libc takes under them
		 * stays a mutex (the park event's own, re-taken after the wait).
		 */
		k = lock_stack_kind(funcs, n); /* with LK_BY_COND_WAIT: lock_vote decides */
		rk = runtime_stack_kind(w->a->rt.mask, funcs, n, &id);
		if (rk >= 0 && (k & ~LK_BY_COND_WAIT) != LK_MUTEX &&
		    (k & ~LK_BY_COND_WAIT) != LK_FUTEX)
			k = rk;
		else
			id = -1;
		w->lk.stack_votes[stack] = (__s16)(k < 0 ? -1 : k | (id + 1) << 8);
	}
	sv = w->lk.stack_votes[stack];
	vote = sv < 0 ? -1 : lock_vote(sv & 0xff, waker, cmd, val);
	if (vote >= 0) {
		if (vote < LK_VOTE_NR)
			l->ev.votes[vote]++;
		if (sv >> 8) {
			if (!l->rt) {
				l->rt = xcalloc(1, sizeof(*l->rt));
				for (int k = 0; k < LK__NR; k++)
					l->rt->func[k] = -1;
			}
			l->rt->func[vote] = (sv >> 8) - 1;
			l->rt->waits[vote] += !waker;
		}
		l->kind_stale = true;
	}
}

/*
 * The offset of the futex word inside the glibc object that owns it, when the symbol tells:
 * a condvar's words depend on the target's glibc (lockkind.h).
 */
static __u64 object_offset(enum lock_kind k, const struct sym_lock *sl, enum cond_layout layout)
{
	if (!sl || !sl->name)
		return 0;
	if (k == LK_CONDVAR && lockkind_cond_word_off(layout, sl->name_off))
		return sl->name_off;
	if (k == LK_RWLOCK && (sl->name_off == 8 || sl->name_off == 12))
		return sl->name_off;
	return 0;
}

/*
 * A word's kind and the offset of the word in its object: by musl's layouts on musl
 * (doc/musl-futex.md), else glibc's. A runtime function's detail names what it is.
 */
static enum lock_kind classify_word(struct work *w, struct lock_work *l, const struct sym_lock *sl,
				    const char **detail, __u64 *off)
{
	static char buf[32]; /* a musl join's "thread N", copied by the caller at once */
	enum lock_kind k;

	int best = -1;

	if (l->py_kind) { /* a Python object (analysis_python.c) */
		*detail = NULL;
		*off = 0;
		return l->py_kind;
	}
	for (int i = 0; i < LK__NR && l->rt; i++)
		if (l->rt->waits[i] && (best < 0 || l->rt->waits[i] > l->rt->waits[best]))
			best = i;
	if (runtime_has(&w->a->rt, TT_RT_MUSL)) {
		k = musl_classify(&l->ev, l->musl_owner_val, sl, detail, buf, sizeof(buf), off);
	} else {
		k = lockkind_classify(&l->ev, sl, detail);
		*off = object_offset(k, sl, l->ev.cond_layout);
	}
	if (best >= 0 && k != (enum lock_kind)best && !(*detail && !strcmp(*detail, "PI"))) {
		k = best;
		*detail = NULL;
	}
	if (!*detail && l->rt)
		*detail = runtime_func_detail(l->rt->func[k]);
	return k;
}

/* The kind the evidence so far gives a word: re-waits are merged as they come. */
enum lock_kind kind_now(struct work *w, struct lock_work *l, bool *pi)
{
	const struct obj_state *o;

	if (l->kind_stale) {
		const struct sym_lock *sl = w->a->sd ? symdata_lock(w->a->sd, l->addr) : NULL;
		const char *detail;
		__u64 off;

		l->kind_now = classify_word(w, l, sl, &detail, &off);
		l->pi_now = detail && !strcmp(detail, "PI");
		l->kind_stale = false;
	}
	*pi = l->pi_now;
	/* --holds: the calls say, except under a Python object (a Lock is a sem_t before
	 * 3.13.1, a SimpleQueue's lock too: its Python kind stands) */
	o = w->nr_objs && !l->py_kind ? object_of_word(w, l->addr) : NULL;
	return o && o->kind != LK_FUTEX ? o->kind : l->kind_now;
}

/* The libc the target runs from here on: its objects' layouts (an exec may bring another). */
void on_libc(struct work *w, const struct tt_libc *r)
{
	struct analysis *a = w->a;

	w->lk.cond_layout = r->flags & TT_LIBC_GLIBC ? lockkind_cond_layout(r->major, r->minor)
						     : COND_LAYOUT_UNKNOWN;
	memcpy(a->libc_version, r->version, sizeof(a->libc_version));
	a->libc_version[sizeof(a->libc_version) - 1] = 0;
	memcpy(a->libc_build, r->build, sizeof(a->libc_build));
	a->libc_build[sizeof(a->libc_build) - 1] = 0;
	a->libc_major = r->major;
	a->libc_minor = r->minor;
}

/* Names are cut where the fixed fields that held them cut them: outputs stay the same. */
#define DETAIL_LEN 48

#define NAME_LEN 128

#define LOCATION_LEN 160

static void lock_stat_names(struct work *w, struct lock_stat *ls, __u64 canon, enum lock_kind kind,
			    const char *detail, const struct sym_lock *sl, __u64 off)
{
	char buf[LOCATION_LEN];

	ls->addr = canon;
	ls->kind = kind;
	ls->detail = lock_str(w, detail, DETAIL_LEN);
	buf[0] = 0;
	if (sl && sl->name && sl->name_off - off)
		snprintf(buf, NAME_LEN, "%s+0x%llx", sl->name,
			 (unsigned long long)(sl->name_off - off));
	else if (sl && sl->name)
		snprintf(buf, NAME_LEN, "%s", sl->name);
	ls->name = lock_str(w, buf, NAME_LEN);
	if (sl && sl->module)
		snprintf(buf, LOCATION_LEN, "%s+0x%llx", sl->module,
			 (unsigned long long)(sl->module_off - off));
	else
		snprintf(buf, LOCATION_LEN, "%s", sl && sl->location ? sl->location : "[unknown]");
	ls->location = lock_str(w, buf, LOCATION_LEN);
	ls->py_type = lock_str(w, "", 1);
}

/* A join's detail: the thread it waits for. */
static const char *thread_detail(struct work *w, __u32 tid)
{
	char buf[DETAIL_LEN];

	snprintf(buf, sizeof(buf), "thread %s", TID_STR(tid));
	return lock_str(w, buf, DETAIL_LEN);
}

static int cmp_attrib(const void *a, const void *b)
{
	const struct attrib *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	return x->count > y->count ? -1 : x->count < y->count;
}

static int cmp_lock(const void *a, const void *b)
{
	const struct lock_stat *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	if (x->hold_ns != y->hold_ns)
		return x->hold_ns > y->hold_ns ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_holder(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;

	if (x->caused_wait_ns != y->caused_wait_ns)
		return x->caused_wait_ns > y->caused_wait_ns ? -1 : 1;
	if (x->hold_ns != y->hold_ns)
		return x->hold_ns > y->hold_ns ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int cmp_chain(const void *a, const void *b)
{
	const struct chain *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->waiter_stack != y->waiter_stack)
		return x->waiter_stack < y->waiter_stack ? -1 : 1;
	return x->waker_stack < y->waker_stack ? -1 : x->waker_stack > y->waker_stack;
}

/* Add the rows of src into v (a lock's words merged into one object): rare, so linear. */
static void merge_attribs(struct attrib **v, size_t *n, struct attrib *src, size_t nsrc)
{
	size_t cap = *n;

	if (!*n) { /* the first word of its lock (most locks have one): taken as it is */
		*v = nsrc ? xrealloc(src, nsrc * sizeof(*src)) : (free(src), NULL);
		*n = nsrc;
		return;
	}
	for (size_t i = 0; i < nsrc; i++) {
		struct attrib *x = NULL;

		for (size_t k = 0; k < *n && !x; k++)
			if ((*v)[k].tid == src[i].tid && (*v)[k].stack == src[i].stack &&
			    (*v)[k].cause == src[i].cause)
				x = &(*v)[k];
		if (!x) {
			*VEC_PUSH(*v, *n, cap) = src[i];
			continue;
		}
		x->count += src[i].count;
		x->wait_ns += src[i].wait_ns;
	}
	free(src);
}

static void merge_chains(struct lock_stat *ls, struct chain *src, size_t nsrc)
{
	size_t cap = ls->nr_chains;

	if (!ls->nr_chains) { /* as merge_attribs */
		ls->chains = nsrc ? xrealloc(src, nsrc * sizeof(*src)) : (free(src), NULL);
		ls->nr_chains = nsrc;
		return;
	}
	for (size_t i = 0; i < nsrc; i++) {
		struct chain *c = NULL;

		for (size_t k = 0; k < ls->nr_chains && !c; k++)
			if (ls->chains[k].waiter_tid == src[i].waiter_tid &&
			    ls->chains[k].waiter_stack == src[i].waiter_stack &&
			    ls->chains[k].waker_tid == src[i].waker_tid &&
			    ls->chains[k].waker_stack == src[i].waker_stack &&
			    ls->chains[k].cause == src[i].cause)
				c = &ls->chains[k];
		if (!c) {
			*VEC_PUSH(ls->chains, ls->nr_chains, cap) = src[i];
			continue;
		}
		c->count += src[i].count;
		c->wait_ns += src[i].wait_ns;
	}
	free(src);
}

void hist_add(struct hist *h, unsigned b, __u64 n)
{
	unsigned lo, hi;

	if (!n)
		return;
	if (h->nr && b >= h->lo && b < (unsigned)h->lo + h->nr) {
		h->counts[b - h->lo] += n;
		return;
	}
	lo = h->nr && h->lo < b ? h->lo : b;
	hi = h->nr && (unsigned)h->lo + h->nr > b + 1 ? (unsigned)h->lo + h->nr : b + 1;
	{
		__u64 *counts = xcalloc(hi - lo, sizeof(*counts));

		if (h->nr)
			memcpy(counts + (h->lo - lo), h->counts, h->nr * sizeof(*counts));
		free(h->counts);
		h->counts = counts;
		h->lo = (__u8)lo;
		h->nr = (__u8)(hi - lo);
	}
	h->counts[b - h->lo] += n;
}

static void lock_index_free(struct lock_work *l)
{
	struct u64_map **maps[] = {&l->waiter_by_key, &l->waker_by_key, &l->chain_by_key};

	for (unsigned i = 0; i < 3; i++)
		if (*maps[i]) {
			u64_map_free(*maps[i]);
			free(*maps[i]);
			*maps[i] = NULL;
		}
}

/* The words of chunk c and what they own (all of it, or what no lock took over). */
static void lock_chunk_free(struct work *w, size_t c)
{
	struct lock_work *chunk = w->lk.chunks[c];
	size_t n = w->lk.nr - c * LOCK_CHUNK;

	if (!chunk)
		return;
	for (size_t i = 0; i < n && i < LOCK_CHUNK; i++) {
		struct lock_work *l = &chunk[i];

		free(l->agg.waiters);
		free(l->agg.wakers);
		free(l->agg.chains);
		free(l->agg.hist.counts);
		lock_index_free(l);
		free(l->rt);
		free(l->py);
		free(l->blocked);
	}
	xunmap(chunk, LOCK_CHUNK * sizeof(struct lock_work));
	w->lk.chunks[c] = NULL;
}

/* A word's contention sums into its lock (the object several words may belong to). */
static void merge_word(struct lock_stat *ls, struct word_stat *src)
{
	ls->futex_waits += src->futex_waits;
	ls->contentions += src->contentions;
	ls->wait_ns += src->wait_ns;
	if (src->max_wait_ns > ls->max_wait_ns)
		ls->max_wait_ns = src->max_wait_ns;
	if (!ls->hist.nr) { /* the first word of its lock: taken as it is */
		ls->hist = src->hist;
		src->hist = (struct hist){0};
	}
	for (unsigned b = src->hist.lo; b < (unsigned)src->hist.lo + src->hist.nr; b++)
		hist_add(&ls->hist, b, src->hist.counts[b - src->hist.lo]);
	free(src->hist.counts);
	src->hist = (struct hist){0};
	for (unsigned c = 0; c < WC__NR; c++)
		ls->causes[c] += src->causes[c];
	merge_attribs(&ls->waiters, &ls->nr_waiters, src->waiters, src->nr_waiters);
	merge_attribs(&ls->wakers, &ls->nr_wakers, src->wakers, src->nr_wakers);
	merge_chains(ls, src->chains, src->nr_chains);
	src->waiters = src->wakers = NULL;
	src->chains = NULL;
}

void build_locks(struct work *w)
{
	struct analysis *a = w->a;
	struct u64_map by_canon = {0};
	bool found;

	a->locks = xcalloc(w->lk.nr + w->nr_objs, sizeof(*a->locks));
	w->lk.built = xcalloc(w->lk.nr, sizeof(*w->lk.built));
	for (size_t i = 0; i < w->lk.nr; i++) {
		struct lock_work *l = lock_at(w, i);
		const struct sym_lock *sl = a->sd ? symdata_lock(a->sd, l->addr) : NULL;
		const struct obj_state *o = w->nr_objs ? object_of_word(w, l->addr) : NULL;
		const char *detail;
		__u64 off, *slot;
		struct lock_stat *ls;

		l->kind = classify_word(w, l, sl, &detail, &off);
		l->canon = l->addr;
		/* the GIL's words are GIL waiting; a Python object's words are the object */
		if (l->gil_word || (l->py_word && !l->agg.contentions && !o)) {
			l->stat = (size_t)-1;
			goto built;
		}
		if (o && o->kind != LK_FUTEX && !l->py_kind) { /* --holds: the calls say */
			if (o->kind != l->kind)
				detail = NULL;
			l->kind = o->kind;
			off = l->addr - o->obj;
		}
		l->canon = l->addr - off;
		slot = u64_map_upsert(&by_canon, l->canon, &found);
		if (!found) {
			*slot = a->nr_locks++;
			ls = &a->locks[*slot];
			ls->calls_seen = o != NULL;
			lock_stat_names(w, ls, l->canon, l->kind, detail, sl, off);
			if (l->py_kind) {
				const struct lock_py *py = lock_py(l);
				bool where = py->where && py->where[0];

				ls->name = lock_str(w, py->name, NAME_LEN);
				ls->location =
				    lock_str(w, where ? py->where : "[python]", LOCATION_LEN);
				ls->py_obj = py->obj;
				ls->py_type = lock_str(w, py->type, TT_PY_TYPE_LEN);
			}
		}
		l->stat = *slot;
		ls = &a->locks[l->stat];
		if (lock_kind_is_contention(l->kind)) { /* its threads' own lock contentions */
			for (size_t k = 0; k < l->agg.nr_waiters; k++) {
				struct thread_work *t = thread_at(w, l->agg.waiters[k].tid);

				t->st.contentions += l->agg.waiters[k].count;
				t->st.wait_ns += l->agg.waiters[k].wait_ns;
			}
		}
		if (l->kind == LK_JOIN && l->exit_waker && !ls->detail[0])
			ls->detail = thread_detail(w, l->exit_waker);
		/* musl: the joined thread wakes its joiner itself, from pthread_exit */
		if (l->kind == LK_JOIN && !ls->detail[0] && runtime_has(&a->rt, TT_RT_MUSL) &&
		    l->agg.nr_wakers && l->agg.wakers[0].cause == WC_THREAD)
			ls->detail = thread_detail(w, l->agg.wakers[0].tid);
		if (l->owner_died) {
			ls->owner_died += l->owner_died;
			ls->dead_owner = l->dead_owner;
		}
		merge_word(ls, &l->agg);
	built:
		w->lk.built[i] = (struct word_built){l->addr, l->canon, l->kind};
		for (__u32 k = 0; k < l->nr_blocked; k++) /* its sleepers' time, by its kind */
			thread_charge_blocked(w, l->blocked[k].tid, l->addr, l->kind,
					      l->blocked[k].ns);
		if ((i + 1) % LOCK_CHUNK == 0 || i + 1 == w->lk.nr)
			lock_chunk_free(w, i / LOCK_CHUNK);
	}
	/* --holds: the holds of each object, locks held but never waited for among them */
	for (size_t i = 0; i < w->nr_objs; i++) {
		struct obj_state *o = &w->objs[i];
		struct lock_stat *ls;
		__u64 *slot;

		/* the GIL's mutex is held in every GIL hand-off: the GIL section's, not a lock */
		if (!o->acquisitions || gil_word(w, o->obj))
			continue;
		slot = u64_map_upsert(&by_canon, o->obj, &found);
		if (!found) {
			*slot = a->nr_locks++;
			a->locks[*slot].calls_seen = true;
			lock_stat_names(w, &a->locks[*slot], o->obj,
					o->kind == LK_FUTEX ? LK_MUTEX : o->kind, NULL,
					a->sd ? symdata_lock(a->sd, o->obj) : NULL, 0);
		}
		ls = &a->locks[*slot];
		ls->acquisitions = o->acquisitions;
		ls->hold_ns = o->hold_ns;
		ls->max_hold_ns = o->max_hold_ns;
		ls->caused_wait_ns = o->caused_wait_ns;
		ls->hold_hist = xcalloc(TT_HIST_BUCKETS, sizeof(*ls->hold_hist));
		memcpy(ls->hold_hist, o->hold_hist, TT_HIST_BUCKETS * sizeof(*ls->hold_hist));
		ls->holders = o->holders;
		ls->nr_holders = o->nr_holders;
		o->holders = NULL;
	}
	for (size_t i = 0; i < a->nr_locks; i++) {
		struct lock_stat *ls = &a->locks[i];

		/* waiters go by their thread's name at the end */
		for (size_t k = 0; k < ls->nr_waiters; k++)
			memcpy(ls->waiters[k].comm, thread_at(w, ls->waiters[k].tid)->st.name,
			       TT_COMM_LEN);
		for (size_t k = 0; k < ls->nr_holders; k++)
			if (ls->holders[k].tid)
				memcpy(ls->holders[k].comm,
				       thread_at(w, ls->holders[k].tid)->st.name, TT_COMM_LEN);
		for (size_t k = 0; k < ls->nr_chains; k++)
			memcpy(ls->chains[k].waiter_comm,
			       thread_at(w, ls->chains[k].waiter_tid)->st.name, TT_COMM_LEN);
		sort_array(ls->waiters, ls->nr_waiters, sizeof(*ls->waiters), cmp_attrib);
		sort_array(ls->wakers, ls->nr_wakers, sizeof(*ls->wakers), cmp_attrib);
		sort_array(ls->chains, ls->nr_chains, sizeof(*ls->chains), cmp_chain);
		sort_array(ls->holders, ls->nr_holders, sizeof(*ls->holders), cmp_holder);
	}
	sort_array(a->locks, a->nr_locks, sizeof(*a->locks), cmp_lock);
	/* futex word -> lock, through the object address the locks are sorted by now */
	u64_map_free(&by_canon);
	memset(&by_canon, 0, sizeof(by_canon));
	for (size_t k = 0; k < a->nr_locks; k++)
		*u64_map_upsert(&by_canon, a->locks[k].addr, &found) = k + 1;
	for (size_t i = 0; i < w->lk.nr; i++) {
		const struct word_built *l = &w->lk.built[i];
		__u64 *k = u64_map_get(&by_canon, l->canon);

		if (k)
			*u64_map_upsert(&a->lock_by_futex, l->addr, &found) = *k;
	}
	for (size_t k = 0; k < a->nr_locks; k++) /* objects known from lock calls only */
		if (!u64_map_get(&a->lock_by_futex, a->locks[k].addr))
			*u64_map_upsert(&a->lock_by_futex, a->locks[k].addr, &found) = k + 1;
	u64_map_free(&by_canon);
}

enum lock_kind word_kind(struct work *w, __u64 addr)
{
	__u64 *i = u64_map_get(&w->lk.by_addr, addr);

	return i ? w->lk.built[*i - 1].kind : LK_FUTEX;
}

void locks_free(struct work *w)
{
	for (size_t c = 0; c < w->lk.nr_chunks; c++)
		lock_chunk_free(w, c);
	free(w->lk.chunks);
	free(w->lk.built);
	free(w->lk.stack_votes);
	u64_map_free(&w->lk.by_addr);
}

const struct lock_stat *analysis_lock_of(const struct analysis *a, __u64 futex_addr)
{
	__u64 *i = u64_map_get(&a->lock_by_futex, futex_addr);

	return i ? &a->locks[*i - 1] : NULL;
}

const char *lock_label(const struct lock_stat *l, char *buf, size_t len)
{
	snprintf(buf, len, "[%s %s]", lock_kind_name(l->kind),
		 l->name[0]	? l->name
		 : l->detail[0] ? l->detail
				: l->location);
	return buf;
}
