// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_holds.c - --holds in the analysis: lock calls become holds (who held what, how
 * long, who paid for it), the order locks were taken in, and potential deadlocks from it.
 */
#include "analysis_int.h"

/* --holds ------------------------------------------------------------------------------- */

static struct obj_state *obj_get(struct work *w, __u64 obj, enum lock_kind kind)
{
	bool found;
	__u64 *i = u64_map_upsert(&w->obj_by_addr, obj, &found);
	struct obj_state *o;

	if (found) {
		o = &w->objs[*i - 1];
		if (kind == LK_CONDVAR || kind == LK_RWLOCK || kind == LK_SEMAPHORE ||
		    o->kind == LK_FUTEX)
			o->kind = kind; /* a mutex seen only as a condvar's partner may be reused */
		return o;
	}
	o = VEC_PUSH(w->objs, w->nr_objs, w->cap_objs);
	*i = w->nr_objs;
	o->obj = obj;
	o->kind = kind;
	return o;
}

/* Bytes of a glibc object whose futex words belong to it (glibc-futex.md). */
static __u64 object_span(enum lock_kind k)
{
	switch (k) {
	case LK_RWLOCK:
		return 56;
	case LK_CONDVAR:
		return 48;
	default:
		return 4; /* mutex and semaphore: the word at the start */
	}
}

static bool word_in(__u64 word, __u64 obj, enum lock_kind k)
{
	return word >= obj && word < obj + object_span(k);
}

/* The object seen in lock calls that futex word belongs to, or NULL. */
const struct obj_state *object_of_word(struct work *w, __u64 word)
{
	for (__u64 off = 0; off < 56 && off <= word; off += 4) {
		__u64 *i = u64_map_get(&w->obj_by_addr, word - off);

		if (i && word_in(word, w->objs[*i - 1].obj, w->objs[*i - 1].kind))
			return &w->objs[*i - 1];
	}
	return NULL;
}

static bool is_read_op(__u32 op)
{
	return op == TT_LOP_RW_RDLOCK || op == TT_LOP_RW_TRYRDLOCK || op == TT_LOP_RW_TIMEDRDLOCK;
}

static bool held_exclusively(const struct thread_work *t, __u64 obj)
{
	for (size_t i = 0; i < t->nr_held; i++)
		if (t->held[i].obj == obj)
			return !t->held[i].reader;
	return false;
}

static void add_order_edge(struct work *w, const struct thread_work *t,
			   const struct held_lock *from, __u64 to, __u32 to_stack, __u64 ts)
{
	__u64 key = hash_u64(from->obj) ^ hash_u64(to + 1);
	bool found;
	__u64 *slot;
	struct order_edge *e;

	for (;; key++) {
		slot = u64_map_upsert(&w->order_by_key, key, &found);
		if (!found)
			break;
		e = &w->order[*slot - 1];
		if (e->from == from->obj && e->to == to) {
			/* the first time this order was seen stands for all; its gates are those
			 * held every time */
			for (unsigned g = 0; g < e->nr_gates; g++)
				if (!held_exclusively(t, e->gates[g]))
					e->gates[g--] = e->gates[--e->nr_gates];
			return;
		}
	}
	e = VEC_PUSH(w->order, w->nr_order, w->cap_order);
	*slot = w->nr_order;
	*e = (struct order_edge){from->obj, to, ts, t->st.tid, from->stack, to_stack};
	for (size_t i = 0; i < t->nr_held && e->nr_gates < MAX_GATES; i++)
		if (t->held[i].obj != from->obj && !t->held[i].reader)
			e->gates[e->nr_gates++] = t->held[i].obj;
}

static void hold_acquire(struct work *w, struct thread_work *t, __u64 obj, bool reader, __u64 ts,
			 __u32 stack)
{
	struct obj_state *o = obj_get(w, obj, LK_FUTEX);
	struct held_lock *h;

	for (size_t i = 0; i < t->nr_held; i++)
		if (t->held[i].obj == obj) { /* recursive mutex, or a read lock taken twice */
			t->held[i].depth++;
			return;
		}
	for (size_t i = 0; i < t->nr_held; i++)
		add_order_edge(w, t, &t->held[i], obj, stack, ts);
	h = VEC_PUSH(t->held, t->nr_held, t->cap_held);
	*h = (struct held_lock){obj, ts, stack, 1, reader};
	if (reader)
		o->readers++;
	else
		o->writer = t->st.tid;
}

/*
 * Another thread's wait on o, inside a hold of o from begin to end: the holder made it wait.
 * Each instant of a wait is charged once: readers holding an rwlock together kept its writer
 * waiting for the same time, which goes to the hold that ended first, the rest to the next,
 * so a wait is never charged more than its length. The part charged is kept as one span
 * [charged_lo, charged_hi): concurrent holds overlap, and a gap between two holds the span
 * covers waited for no hold of this lock.
 */
static void charge(struct obj_state *o, struct holder *hd, __u32 tid, struct recent_wait *rw,
		   __u64 begin, __u64 end)
{
	__u64 b = rw->begin > begin ? rw->begin : begin;
	__u64 e = rw->end && rw->end < end ? rw->end : end;
	__u64 ns = 0;

	if (rw->tid == tid || e <= b)
		return;
	if (rw->charged_hi <= rw->charged_lo) {
		ns = e - b;
		rw->charged_lo = b;
		rw->charged_hi = e;
	} else {
		if (b < rw->charged_lo)
			ns += (e < rw->charged_lo ? e : rw->charged_lo) - b;
		if (e > rw->charged_hi)
			ns += e - (b > rw->charged_hi ? b : rw->charged_hi);
		rw->charged_lo = b < rw->charged_lo ? b : rw->charged_lo;
		rw->charged_hi = e > rw->charged_hi ? e : rw->charged_hi;
	}
	o->caused_wait_ns += ns;
	hd->caused_wait_ns += ns;
}

/*
 * A hold of o by tid ended: its statistics, and who paid for it. Each overlap of a hold and a
 * wait is charged once, when the hold ends: the wait is still in progress then, or among the
 * latest finished ones (a lock's waiters mostly wake after the hold that kept them).
 */
static void hold_done(struct obj_state *o, __u32 tid, const char *comm, __u64 begin, __u64 end,
		      __u32 stack)
{
	__u64 d = end > begin ? end - begin : 0;
	struct holder *hd = NULL;

	o->acquisitions++;
	o->hold_ns += d;
	if (d > o->max_hold_ns)
		o->max_hold_ns = d;
	o->hold_hist[hist_bucket(d)]++;
	for (size_t k = 0; k < o->nr_holders && !hd; k++)
		if (o->holders[k].stack == stack)
			hd = &o->holders[k];
	if (!hd) {
		hd = VEC_PUSH(o->holders, o->nr_holders, o->cap_holders);
		hd->tid = tid;
		hd->stack = stack;
		memcpy(hd->comm, comm, TT_COMM_LEN);
	} else if (hd->tid != tid) {
		hd->tid = 0;
	}
	hd->count++;
	hd->hold_ns += d;
	if (d > hd->max_hold_ns)
		hd->max_hold_ns = d;
	for (size_t i = 0; i < o->nr_open; i++)
		charge(o, hd, tid, &o->open[i], begin, end);
	for (unsigned i = 0; o->recent && i < RECENT_WAITS && i < o->recent_pos; i++)
		charge(o, hd, tid, &o->recent[i], begin, end);
}

void holds_wait_begin(struct work *w, const struct raw_wait *rw)
{
	struct obj_state *o = (struct obj_state *)object_of_word(w, rw->addr);

	if (o)
		*VEC_PUSH(o->open, o->nr_open, o->cap_open) =
		    (struct recent_wait){rw->tid, rw->begin, 0, 0, 0};
}

void holds_wait_end(struct work *w, const struct raw_wait *rw)
{
	struct obj_state *o = (struct obj_state *)object_of_word(w, rw->addr);

	struct recent_wait done = {rw->tid, rw->begin, rw->end ? rw->end : 1, 0, 0};

	if (!o)
		return;
	for (size_t i = 0; i < o->nr_open; i++)
		if (o->open[i].tid == rw->tid) {
			done.charged_lo = o->open[i].charged_lo;
			done.charged_hi = o->open[i].charged_hi;
			o->open[i] = o->open[--o->nr_open];
			break;
		}
	if (!o->recent)
		o->recent = xcalloc(RECENT_WAITS, sizeof(*o->recent));
	o->recent[o->recent_pos++ % RECENT_WAITS] = done;
}
static void hold_release(struct work *w, struct thread_work *t, __u64 obj, __u64 ts, bool all)
{
	struct obj_state *o = obj_get(w, obj, LK_FUTEX);
	struct held_lock *h = NULL;

	for (size_t i = 0; i < t->nr_held; i++)
		if (t->held[i].obj == obj)
			h = &t->held[i];
	if (!h) { /* taken before tracing began */
		w->a->unmatched_releases++;
		return;
	}
	if (!all && --h->depth)
		return;
	hold_done(o, t->st.tid, t->st.name, h->since, ts, h->stack);
	if (h->reader) {
		if (o->readers)
			o->readers--;
	} else if (o->writer == t->st.tid) {
		o->writer = 0;
	}
	*h = t->held[--t->nr_held];
}

/*
 * No return probes: a call's acquisition is decided when the thread makes its next lock call.
 * It acquired at its last futex wait on the object's words since the call (or at the call),
 * unless a timed lock timed out or a try-lock found the lock held by another thread.
 */
static void hold_settle(struct work *w, struct thread_work *t)
{
	const struct obj_state *o;
	bool ok = true, reader = is_read_op(t->pend_op);

	if (!t->pending)
		return;
	t->pending = false;
	o = &w->objs[*u64_map_get(&w->obj_by_addr, t->pend_obj) - 1];
	switch (t->pend_op) {
	case TT_LOP_MUTEX_TIMEDLOCK:
	case TT_LOP_RW_TIMEDRDLOCK:
	case TT_LOP_RW_TIMEDWRLOCK:
		ok = !t->pend_timeout;
		break;
	case TT_LOP_MUTEX_TRYLOCK:
	case TT_LOP_RW_TRYWRLOCK:
		ok = (!o->writer || o->writer == t->st.tid) &&
		     (t->pend_op == TT_LOP_MUTEX_TRYLOCK || !o->readers);
		break;
	case TT_LOP_RW_TRYRDLOCK:
		ok = !o->writer || o->writer == t->st.tid;
		break;
	}
	if (ok)
		hold_acquire(w, t, t->pend_obj, reader, t->pend_ts, t->pend_stack);
}

/* A futex wait of a thread inside a lock call ended: the acquisition is no earlier. */
void hold_wait_end(struct work *w, struct thread_work *t, const struct tt_wait_end *r)
{
	const struct obj_state *o;

	if (!t->pending)
		return;
	o = &w->objs[*u64_map_get(&w->obj_by_addr, t->pend_obj) - 1];
	if (word_in(r->uaddr, t->pend_obj, o->kind == LK_RWLOCK ? LK_RWLOCK : LK_MUTEX) ||
	    (t->pend_cond && word_in(r->uaddr, t->pend_cond, LK_CONDVAR))) {
		t->pend_ts = r->hdr.ts;
		t->pend_timeout = r->ret == -E_TIMEDOUT;
	}
}

void on_lock_call(struct work *w, const struct tt_lock_call *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);
	__u32 stack = TT_NO_STACK;
	enum lock_kind k = LK_MUTEX;

	w->a->lock_calls++;
	t->lock_calls++;
	hold_settle(w, t);
	if (r->stack.nr_user)
		stack = stack_intern(w, r->hdr.pid, pick_stack(w, &r->hdr, &r->stack));
	switch (r->op) {
	case TT_LOP_MUTEX_UNLOCK:
	case TT_LOP_RW_UNLOCK:
		obj_get(w, r->obj, r->op == TT_LOP_RW_UNLOCK ? LK_RWLOCK : LK_MUTEX);
		hold_release(w, t, r->obj, r->hdr.ts, false);
		return;
	case TT_LOP_SEM_WAIT:
	case TT_LOP_SEM_POST:
		obj_get(w, r->obj, LK_SEMAPHORE);
		return;
	case TT_LOP_COND_WAIT:
		/* it releases the mutex at once and re-takes it on its way out */
		obj_get(w, r->obj, LK_CONDVAR);
		obj_get(w, r->obj2, LK_MUTEX);
		hold_release(w, t, r->obj2, r->hdr.ts, true);
		t->pending = true;
		t->pend_op = TT_LOP_MUTEX_LOCK;
		t->pend_obj = r->obj2;
		t->pend_cond = r->obj;
		t->pend_ts = r->hdr.ts;
		t->pend_stack = stack;
		t->pend_timeout = false;
		return;
	case TT_LOP_MUTEX_LOCK:
	case TT_LOP_MUTEX_TRYLOCK:
	case TT_LOP_MUTEX_TIMEDLOCK:
		break;
	case TT_LOP_RW_RDLOCK:
	case TT_LOP_RW_WRLOCK:
	case TT_LOP_RW_TRYRDLOCK:
	case TT_LOP_RW_TRYWRLOCK:
	case TT_LOP_RW_TIMEDRDLOCK:
	case TT_LOP_RW_TIMEDWRLOCK:
		k = LK_RWLOCK;
		break;
	default:
		return;
	}
	obj_get(w, r->obj, k);
	t->pending = true;
	t->pend_op = r->op;
	t->pend_obj = r->obj;
	t->pend_cond = 0;
	t->pend_ts = r->hdr.ts;
	t->pend_stack = stack;
	t->pend_timeout = false;
}

static int cmp_order(const void *a, const void *b)
{
	const struct order_edge *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

#define MAX_POTENTIAL	   32
#define CYCLE_SEARCH_STEPS 200000

struct cycle_search {
	struct work *w;
	__u64 start;
	size_t path[TT_MAX_CYCLE]; /* edge indexes */
	unsigned depth;
	long steps;
};

/* Index of the first edge leaving obj in the sorted edge list. */
static size_t first_edge(const struct work *w, __u64 obj)
{
	size_t lo = 0, hi = w->nr_order;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (w->order[mid].from < obj)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Two edges of the cycle always taken under the same gate lock cannot be waiting at once. */
static bool cycle_gated(const struct cycle_search *cs)
{
	for (unsigned i = 0; i < cs->depth; i++) {
		const struct order_edge *x = &cs->w->order[cs->path[i]];

		for (unsigned j = i + 1; j < cs->depth; j++) {
			const struct order_edge *y = &cs->w->order[cs->path[j]];

			for (unsigned g = 0; g < x->nr_gates; g++)
				for (unsigned h = 0; h < y->nr_gates; h++)
					if (x->gates[g] == y->gates[h])
						return true;
		}
	}
	return false;
}

static void record_cycle(struct cycle_search *cs)
{
	struct analysis *a = cs->w->a;
	struct deadlock_stat *d;

	if (a->nr_deadlocks >= MAX_POTENTIAL + 64)
		return;
	if (cycle_gated(cs)) {
		a->gated_cycles++;
		return;
	}
	d = VEC_PUSH(a->deadlocks, a->nr_deadlocks, cs->w->cap_deadlocks);
	d->potential = true;
	d->nr = cs->depth;
	d->ts = ~0ULL;
	for (unsigned i = 0; i < cs->depth; i++) {
		const struct order_edge *e = &cs->w->order[cs->path[i]];

		d->links[i].tid = e->tid;
		d->links[i].addr = e->from;
		d->links[i].stack = e->to_stack;
		d->links[i].held_stack = e->from_stack;
		memcpy(d->links[i].comm, thread_at(cs->w, e->tid)->st.name, TT_COMM_LEN);
		if (e->ts < d->ts)
			d->ts = e->ts;
	}
}

/*
 * Depth-first from the edge path's end back to start, through locks above start only: each
 * cycle is found once, from its lowest lock.
 */
static void find_cycles(struct cycle_search *cs, __u64 at, unsigned *found)
{
	struct work *w = cs->w;

	for (size_t i = first_edge(w, at); i < w->nr_order && w->order[i].from == at; i++) {
		const struct order_edge *e = &w->order[i];
		bool seen = false;

		if (*found >= MAX_POTENTIAL || --cs->steps < 0)
			return;
		cs->path[cs->depth] = i;
		if (e->to == cs->start) {
			cs->depth++;
			record_cycle(cs);
			cs->depth--;
			(*found)++;
			continue;
		}
		if (e->to < cs->start || cs->depth + 1 >= TT_MAX_CYCLE)
			continue;
		for (unsigned k = 0; k < cs->depth; k++)
			seen |= w->order[cs->path[k]].from == e->to;
		if (seen)
			continue;
		cs->depth++;
		find_cycles(cs, e->to, found);
		cs->depth--;
	}
}

/* --holds: cycles in the lock-order graph are deadlocks waiting for the wrong timing. */
void build_potential_deadlocks(struct work *w)
{
	struct cycle_search cs = {.w = w, .steps = CYCLE_SEARCH_STEPS};
	unsigned found = 0;

	sort_array(w->order, w->nr_order, sizeof(*w->order), cmp_order);
	for (size_t i = 0; i < w->nr_order; i++) {
		if ((i && w->order[i].from == w->order[i - 1].from) ||
		    gil_word(w, w->order[i].from))
			continue;
		cs.start = w->order[i].from;
		cs.depth = 0;
		find_cycles(&cs, cs.start, &found);
	}
}
