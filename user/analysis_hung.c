// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_hung.c - the hung-process view: threads still blocked for a second or more when the
 * trace ended, with where they wait (Python frames merged) and, for Python threads, the Python
 * object they wait for and its holder (TT_REC_PYWAIT); the Python side of Python deadlocks.
 */
#include "analysis_int.h"

void on_pywait(struct work *w, const struct tt_pywait *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);
	struct pywait_info *p = &t->py;

	p->valid = true;
	p->since = r->since;
	p->uaddr = r->uaddr;
	p->obj = r->obj;
	p->lock = r->lock;
	p->holder = r->holder;
	p->kind = r->kind;
	p->evidence = r->evidence;
	memcpy(p->name, r->name, sizeof(p->name));
	p->name[sizeof(p->name) - 1] = 0;
	if ((r->kind == TT_PYOBJ_LOCK || r->kind == TT_PYOBJ_RLOCK) && t->in_wait &&
	    t->cur.addr == r->uaddr && r->obj) {
		struct lock_work *l = lock_get(w, t->cur.key);

		/* the live object's type tells an RLock where a stripped build's stack cannot */
		if (r->kind == TT_PYOBJ_RLOCK && l->py_kind == LK_PY_LOCK)
			l->py_kind = LK_PY_RLOCK;
		/* and its id(), which a Lock's own sem_t (3.8-3.13.0) does not: the lock is the
		 * object the DEADLOCK and BLOCKED THREADS lines name, by the same id() */
		if (l->py_kind == LK_PY_LOCK || l->py_kind == LK_PY_RLOCK) {
			struct lock_py *py = lock_py(l);

			if (!py->obj)
				py->obj = r->obj;
		}
	}
}

/* The Python wait of the thread of link i, when it is the wait the deadlock names. */
void hung_deadlock_link(struct work *w, struct deadlock_stat *d, unsigned i)
{
	struct thread_work *t = thread_get(w, d->links[i].tid);

	if (t->py.valid && t->py.uaddr == d->links[i].addr)
		d->links[i].py = t->py;
}

/*
 * At the end of the trace: a call (its latest wait rw) still blocked for BLOCKED_MIN_NS since its
 * first wait (since) is a blocked thread; so is a shorter one the live check already described
 * (TT_REC_PYWAIT: blocked for half a second when it looked, which is what a DEADLOCK line names): a
 * report asked for right after a DEADLOCK line lists the threads that line named.
 */
void hung_note_blocked(struct work *w, struct thread_work *t, const struct raw_wait *rw,
		       __u64 since)
{
	struct analysis *a = w->a;
	struct blocked_thread *b;
	bool described = t->py.valid && t->py.uaddr == rw->addr &&
			 (t->py.since == since || t->py.since == rw->begin);

	if (a->end_ts < since || (a->end_ts - since < BLOCKED_MIN_NS && !described))
		return;
	b = VEC_PUSH(a->blocked, a->nr_blocked, w->cap_blocked);
	memset(b, 0, sizeof(*b));
	b->tid = t->st.tid;
	memcpy(b->comm, t->st.name, TT_COMM_LEN);
	b->since = since;
	b->ns = a->end_ts - since;
	b->addr = rw->addr;
	b->key = rw->key ? rw->key : rw->addr;
	b->stack = rw->stack;
	b->at_attach = t->info_ts && since == t->info_ts;
	if (described)
		b->py = t->py;
}

static int cmp_blocked(const void *x, const void *y)
{
	const struct blocked_thread *a = x, *b = y;

	if (a->ns != b->ns)
		return a->ns > b->ns ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

void hung_sort(struct work *w)
{
	if (w->a->nr_blocked > 1)
		qsort(w->a->blocked, w->a->nr_blocked, sizeof(*w->a->blocked), cmp_blocked);
}
