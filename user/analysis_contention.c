// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_contention.c - futex waits and who ended them: each thread's open wait (its stack,
 * the word and the object it waits for), matched to what woke it (a thread's futex wake and
 * its unlock site, an exit, a timeout, a signal, no sleep), re-waits of one acquisition merged
 * (DESIGN.md: one contention per acquisition), and each acquisition counted into its word's
 * sums as it ends: count, wait, histogram, causes, waiter and waker rows, waiter -> waker
 * chains (struct word_stat). Its state is in the threads (struct thread_work: cur, grp_*,
 * exit_cand_*) and the words (struct lock_work: agg and its indexes).
 */
#include <string.h>
#include "analysis_int.h"

/* Longest gap between two futex waits of one rwlock or plain-futex acquisition (a retry). */
#define RETRY_GAP_NS 100000ULL

/*
 * May wait b continue the same acquisition as wait a? (DESIGN.md: one contention per
 * acquisition.) A glibc mutex word stays 2 after a contended acquisition, so its release always
 * issues a wake: until the waiter wakes the address, its next wait there is a retry (barging,
 * spurious wake-up). A PI lock is owned when LOCK_PI returns 0. Readers of an rwlock release
 * without waking anybody, so there and for plain futexes only an immediate re-wait is a retry.
 */
static bool same_acquisition(const struct raw_wait *a, const struct raw_wait *b, enum lock_kind k,
			     bool pi)
{
	if (a->tid != b->tid || a->key != b->key || a->released)
		return false;
	if (lock_kind_is_python(k))
		return py_same_acquisition(a, b, k);
	if (a->addr != b->addr)
		return false;
	if (a->ret == -E_AGAIN || ret_is_signal(a->ret))
		return true;
	if (pi)
		return false;
	if (k == LK_MUTEX)
		return true;
	if (k == LK_RWLOCK || k == LK_FUTEX)
		return b->begin - a->end < RETRY_GAP_NS;
	return false;
}

const char *wake_cause_name(enum wake_cause c)
{
	static const char *const names[] = {
	    [WC_THREAD] = "thread",
	    [WC_EXIT] = "thread exit",
	    [WC_TIMEOUT] = "timeout",
	    [WC_SIGNAL] = "signal",
	    [WC_NO_SLEEP] = "no sleep (value changed)",
	    [WC_OTHER] = "other wake-up",
	    [WC_UNFINISHED] = "still waiting at end",
	};

	return c < WC__NR ? names[c] : "?";
}

static __u64 attrib_key(__u32 tid, __u32 stack, enum wake_cause cause)
{
	return hash_u64((__u64)tid << 32 | stack) ^ cause;
}

/* Index row i (index + 1 in the map) under key, or past the rows already there on it. */
static __u64 *index_slot(struct u64_map *m, __u64 key)
{
	bool found;
	__u64 *slot;

	for (;; key++) {
		slot = u64_map_upsert(m, key, &found);
		if (!found)
			return slot;
	}
}

/*
 * A "who" row by (thread, stack, cause): searched while a lock has few, through an index
 * made once it has more (*m, NULL before).
 */
static struct attrib *attrib_get(struct attrib **v, size_t *n, struct u64_map **m, __u32 tid,
				 __u32 stack, enum wake_cause cause, const char *comm)
{
	__u64 key = attrib_key(tid, stack, cause), *slot = NULL;
	struct attrib *x;
	bool found;

	if (!*m) {
		for (size_t i = 0; i < *n; i++) {
			x = &(*v)[i];
			if (x->tid == tid && x->stack == stack && x->cause == cause)
				return x;
		}
		if (*n >= LOCK_SCAN_MAX) {
			*m = xcalloc(1, sizeof(**m));
			for (size_t i = 0; i < *n; i++) {
				x = &(*v)[i];
				*index_slot(*m, attrib_key(x->tid, x->stack, x->cause)) = i + 1;
			}
		}
	}
	for (; *m; key++) {
		slot = u64_map_upsert(*m, key, &found);
		if (!found)
			break;
		x = &(*v)[*slot - 1];
		if (x->tid == tid && x->stack == stack && x->cause == cause)
			return x;
	}
	x = VEC_PUSH_POW2(*v, *n);
	if (slot)
		*slot = *n;
	x->tid = tid;
	x->stack = stack;
	x->cause = cause;
	if (comm)
		memcpy(x->comm, comm, TT_COMM_LEN);
	return x;
}

static __u64 chain_key(__u32 waiter_tid, __u32 waiter_stack, __u32 waker_tid, __u32 waker_stack,
		       enum wake_cause cause)
{
	return hash_u64(((__u64)waiter_tid << 32 | waiter_stack) ^
			hash_u64((__u64)waker_tid << 32 | waker_stack) ^ cause);
}

static bool chain_is(const struct chain *c, const struct raw_wait *first, __u32 waker_tid,
		     __u32 waker_stack, enum wake_cause cause)
{
	return c->waiter_tid == first->tid && c->waiter_stack == first->stack &&
	       c->waker_tid == waker_tid && c->waker_stack == waker_stack && c->cause == cause;
}

/* A waiter -> waker row: searched while the lock has few, as attrib_get. */
static struct chain *chain_add(struct lock_work *l, const struct raw_wait *first,
			       const struct raw_wait *last)
{
	struct word_stat *ls = &l->agg;
	bool thread = last->cause == WC_THREAD || last->cause == WC_EXIT;
	__u32 waker_tid = thread ? last->waker_tid : 0;
	__u32 waker_stack = thread ? last->waker_stack : TT_NO_STACK;
	__u64 key = chain_key(first->tid, first->stack, waker_tid, waker_stack, last->cause);
	struct chain *c;
	__u64 *slot = NULL;
	bool found;

	if (!l->chain_by_key) {
		for (size_t i = 0; i < ls->nr_chains; i++)
			if (chain_is(&ls->chains[i], first, waker_tid, waker_stack, last->cause))
				return &ls->chains[i];
		if (ls->nr_chains >= LOCK_SCAN_MAX) {
			l->chain_by_key = xcalloc(1, sizeof(*l->chain_by_key));
			for (size_t i = 0; i < ls->nr_chains; i++) {
				c = &ls->chains[i];
				*index_slot(l->chain_by_key,
					    chain_key(c->waiter_tid, c->waiter_stack, c->waker_tid,
						      c->waker_stack, c->cause)) = i + 1;
			}
		}
	}
	for (; l->chain_by_key; key++) {
		slot = u64_map_upsert(l->chain_by_key, key, &found);
		if (!found)
			break;
		c = &ls->chains[*slot - 1];
		if (chain_is(c, first, waker_tid, waker_stack, last->cause))
			return c;
	}
	c = VEC_PUSH_POW2(ls->chains, ls->nr_chains);
	if (slot)
		*slot = ls->nr_chains;
	c->waiter_tid = first->tid;
	c->waiter_stack = first->stack;
	c->waker_tid = waker_tid;
	c->waker_stack = waker_stack;
	c->cause = last->cause;
	if (thread) {
		memcpy(c->waker_comm, last->waker_comm, TT_COMM_LEN);
		c->waker_pid = last->waker_pid;
	}
	return c;
}

/* An acquisition ended (its thread's next wait is another one, or the trace ended): count it. */
static void group_close(struct work *w, struct thread_work *t)
{
	const struct raw_wait *first = &t->grp_first, *last = &t->grp_last;
	bool thread = last->cause == WC_THREAD || last->cause == WC_EXIT;
	__u64 total = t->grp_total;
	struct lock_work *l;
	struct word_stat *ls;
	struct attrib *x;
	struct chain *c;

	if (!t->grp_open)
		return;
	t->grp_open = false;
	l = lock_get(w, first->key);
	ls = &l->agg;
	ls->futex_waits += t->grp_waits;
	ls->contentions++;
	ls->wait_ns += total;
	if (total > ls->max_wait_ns)
		ls->max_wait_ns = total;
	hist_add(&ls->hist, hist_bucket(total), 1);
	ls->causes[last->cause]++;
	x = attrib_get(&ls->waiters, &ls->nr_waiters, &l->waiter_by_key, first->tid, first->stack,
		       WC_THREAD, NULL);
	x->count++;
	x->wait_ns += total;
	if (last->cause == WC_EXIT && !l->exit_waker)
		l->exit_waker = last->waker_tid;
	x = attrib_get(&ls->wakers, &ls->nr_wakers, &l->waker_by_key, thread ? last->waker_tid : 0,
		       thread ? last->waker_stack : TT_NO_STACK, last->cause,
		       thread ? last->waker_comm : NULL);
	if (thread)
		x->pid = last->waker_pid;
	x->count++;
	x->wait_ns += total;
	c = chain_add(l, first, last);
	c->count++;
	c->wait_ns += total;
}

/* A wait of t ended (t->cur): timeline, who pays, and the acquisition it belongs to. */
static void wait_done(struct work *w, struct thread_work *t)
{
	const struct raw_wait *rw = &t->cur;
	struct analysis *a = w->a;

	if (w->timeline) {
		*VEC_PUSH(a->spans, a->nr_spans, w->cont.cap_spans) =
		    (struct wait_span){rw->tid, rw->key, rw->begin, rw->end};
		if (rw->cause == WC_THREAD || rw->cause == WC_EXIT)
			*VEC_PUSH(a->edges, a->nr_edges, w->cont.cap_edges) =
			    (struct wake_edge){rw->waker_tid, rw->tid, rw->wake_ts, rw->key};
	}
	if (w->nr_objs)
		holds_wait_end(w, rw);
	/* waiting for the GIL between two waits of one call (a woken waiter re-takes it) does
	 * not end the call: GIL waits are the GIL's, never an acquisition of their own */
	if (lock_get(w, rw->key)->gil_word) {
		t->in_wait = false;
		return;
	}
	if (t->grp_open) {
		bool pi = false;
		enum lock_kind k =
		    t->grp_last.key == rw->key ? kind_now(w, lock_get(w, rw->key), &pi) : LK_FUTEX;

		if (!same_acquisition(&t->grp_last, rw, k, pi))
			group_close(w, t);
	}
	if (!t->grp_open) {
		t->grp_open = true;
		t->grp_first = *rw;
		t->grp_total = 0;
		t->grp_waits = 0;
	}
	t->grp_last = *rw;
	t->grp_total += rw->end - rw->begin;
	t->grp_waits++;
	t->in_wait = false;
}

/*
 * The robust mutex a wait ended on lost its owner: the kernel walked the dead owner's robust
 * list, set FUTEX_OWNER_DIED in the word and woke a waiter, which returns EOWNERDEAD. The word
 * has the bit until that waiter takes the lock; the owner is the tid the waiter expected.
 */
static void note_owner_death(struct work *w, const struct raw_wait *rw)
{
	__u32 owner = rw->val & TT_FUTEX_TID_MASK;
	struct lock_work *l;

	if (!(rw->end_word & TT_FUTEX_OWNER_DIED) || !(rw->val & TT_FUTEX_WAITERS) || !owner ||
	    (rw->end_word & TT_FUTEX_TID_MASK))
		return;
	owner = thread_key_of(w, owner);
	l = lock_get(w, rw->addr);
	l->ev.owner_died = true;
	l->kind_stale = true;
	if (l->owner_died && l->dead_owner == owner) /* one death, several waiters */
		return;
	l->owner_died++;
	l->dead_owner = owner;
}

static void finish_wait(struct work *w, struct thread_work *t, __u64 ts, __s64 ret)
{
	t->cur.end = ts;
	t->cur.ret = ret;
	t->cur.gil_ns_end = t->st.gil_wait_ns;
	t->cur.cpu_ns_end = thread_cpu_now(t, ts);
	t->cur.slept_ns_end = t->st.other_wait_ns;
	t->cur.calls_end = t->lock_calls;
	note_owner_death(w, &t->cur);
	if (ret == -E_TIMEDOUT)
		t->cur.cause = WC_TIMEOUT;
	else if (ret_is_signal(ret))
		t->cur.cause = WC_SIGNAL;
	else if (ret == -E_AGAIN && t->cur.cause == WC_OTHER && !t->cur.waker_tid)
		t->cur.cause = WC_NO_SLEEP;
	py_wait_end(w, t);
	wait_done(w, t);
}

void on_wait_begin(struct work *w, const struct tt_wait_begin *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);
	struct lock_work *l = lock_get(w, r->uaddr);

	/* a wait in progress at attach: the thread has been asleep in it since the start */
	settle_unknown(w, t, t->hint_futex == r->uaddr ? TS_BLOCKED : TS_RUNNING, r->hdr.ts);
	if (t->in_wait) /* its end was lost: keep what is known, as unfinished */
		finish_wait(w, t, r->hdr.ts, 0);
	memset(&t->cur, 0, sizeof(t->cur));
	t->exit_cand_tid = 0;
	t->in_wait = true;
	t->cur.tid = t->st.tid;
	t->cur.addr = r->uaddr;
	t->cur.begin = r->hdr.ts;
	t->cur.val = r->val;
	t->cur.cause = WC_OTHER;
	t->cur.waker_stack = TT_NO_STACK;
	t->cur.stack = stack_intern(w, r->hdr.pid, pick_counted(w, &r->hdr, &r->stack));
	note_wait_evidence(w, l, r);
	note_stack_funcs(w, l, t->cur.stack, false,
			 r->op >= TT_FUTEX2_WAITV ? r->op : r->op & TT_FUTEX_CMD_MASK, r->val);
	gil_note_wait(w, t, r->uaddr, r->hdr.ts);
	py_wait_begin(w, t, r); /* the Python object it waits for, if any: t->cur.key */
	if (w->nr_objs)
		holds_wait_begin(w, &t->cur);
}

/*
 * A target thread's exit woke a wait that did not expect its tid: in a PID namespace the waiter
 * expected the tid as the namespace numbers it. It was the exit's wake-up if nothing else woke
 * the wait and the word shows what an exit leaves: a joined thread's tid word cleared to 0, or
 * a robust mutex's FUTEX_OWNER_DIED. Else an interrupt came while the thread exited.
 */
static void exit_cand_settle(struct work *w, struct thread_work *t, __s64 ret)
{
	struct raw_wait *rw = &t->cur;
	bool join = rw->val && !rw->end_word;

	if (!t->exit_cand_tid || rw->cause != WC_OTHER || ret ||
	    !(join || (rw->end_word & TT_FUTEX_OWNER_DIED)))
		return;
	rw->cause = WC_EXIT;
	rw->waker_tid = t->exit_cand_tid;
	rw->waker_stack = t->exit_cand_stack;
	rw->wake_ts = t->exit_cand_ts;
	memcpy(rw->waker_comm, t->exit_cand_comm, TT_COMM_LEN);
	if (join) {
		lock_get(w, rw->addr)->ev.exit_wakes++;
		lock_get(w, rw->addr)->kind_stale = true;
	}
}

void on_wait_end(struct work *w, const struct tt_wait_end *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	settle_unknown(w, t, TS_RUNNING, r->hdr.ts);
	if (t->in_wait && t->cur.addr == r->uaddr) {
		t->cur.end_word = r->word;
		exit_cand_settle(w, t, r->ret);
		finish_wait(w, t, r->hdr.ts, r->ret);
	}
	hold_wait_end(w, t, r);
}

void on_wake_op(struct work *w, const struct tt_wake_op *r)
{
	struct thread_work *t;

	if (w->a->tid_filter && r->hdr.tid != w->a->tid_filter &&
	    !u64_map_get(&w->thr.by_tid, r->hdr.tid))
		return;
	t = thread_get(w, r->hdr.tid);
	settle_unknown(w, t, TS_RUNNING, r->hdr.ts);
	/* its latest finished wait: the acquisition ends with this wake */
	if (t->grp_open &&
	    (t->grp_last.addr == r->uaddr || (r->uaddr2 && t->grp_last.addr == r->uaddr2) ||
	     py_released(w, &t->grp_last, r->uaddr)))
		t->grp_last.released = true;
}

/*
 * An exiting thread wakes a futex for two reasons only: the kernel clears its tid word and wakes
 * the joiner, which waited for the word to hold that tid; or its robust list names a mutex it
 * owned, whose waiters expected the word to hold its tid and FUTEX_WAITERS. Any other wake-up
 * in its context is an interrupt's.
 */
static bool exit_wakes_word(const struct raw_wait *rw, __u32 exiting_tid)
{
	return rw->val == exiting_tid ||
	       ((rw->val & TT_FUTEX_WAITERS) && (rw->val & TT_FUTEX_TID_MASK) == exiting_tid);
}

void on_waking(struct work *w, const struct tt_waking *r)
{
	struct thread_work *t = thread_get(w, r->wakee_tid);
	__u64 ts = r->hdr.ts;

	if (!t->in_wait || !r->wakee_uaddr || t->cur.addr != r->wakee_uaddr)
		return;
	if (r->reason == TT_WAKE_EXIT && !exit_wakes_word(&t->cur, r->hdr.tid)) {
		if (!t->exit_cand_tid) { /* decided at the wait's end (exit_cand_settle) */
			t->exit_cand_tid = thread_key_of(w, r->hdr.tid);
			t->exit_cand_ts = ts;
			t->exit_cand_stack =
			    stack_intern(w, r->hdr.pid, pick_counted(w, &r->hdr, &r->stack));
			memcpy(t->exit_cand_comm, r->waker_comm, TT_COMM_LEN);
		}
		return;
	}
	/* The first futex or exit wake names the waker; a later "other" wake does not undo it. */
	if (r->reason == TT_WAKE_FUTEX_PROCESS) {
		/* a process-shared lock released in another process: no stack of its code */
		if (t->cur.cause == WC_THREAD || t->cur.cause == WC_EXIT)
			return;
		t->cur.cause = WC_THREAD;
		t->cur.waker_tid = r->hdr.tid;
		t->cur.waker_pid = r->hdr.pid;
		memcpy(t->cur.waker_comm, r->waker_comm, TT_COMM_LEN);
		t->cur.waker_stack = TT_NO_STACK;
		t->cur.wake_ts = ts;
	} else if (r->reason == TT_WAKE_FUTEX || r->reason == TT_WAKE_EXIT) {
		if (t->cur.cause == WC_THREAD || t->cur.cause == WC_EXIT)
			return;
		t->cur.cause = r->reason == TT_WAKE_FUTEX ? WC_THREAD : WC_EXIT;
		t->cur.waker_pid = r->hdr.pid != w->a->pid ? r->hdr.pid : 0;
		t->cur.waker_tid = t->cur.waker_pid ? r->hdr.tid : thread_key_of(w, r->hdr.tid);
		memcpy(t->cur.waker_comm, r->waker_comm, TT_COMM_LEN);
		t->cur.waker_stack =
		    stack_intern(w, r->hdr.pid, pick_counted(w, &r->hdr, &r->stack));
		t->cur.wake_ts = ts;
		if (r->reason == TT_WAKE_EXIT && t->cur.val == r->hdr.tid) {
			lock_get(w, t->cur.addr)->ev.exit_wakes++;
			lock_get(w, t->cur.addr)->kind_stale = true;
		} else if (r->reason == TT_WAKE_FUTEX)
			note_stack_funcs(w, lock_get(w, t->cur.addr), t->cur.waker_stack, true,
					 r->waker_op & TT_FUTEX_CMD_MASK, 0);
	}
}

/*
 * When the open wait's call began: the first wait of its acquisition (a signal that ended a
 * wait which the call then waits again, a wake-up that lost the lock to another thread, do not
 * make a blocked thread any less blocked).
 */
static __u64 acquisition_begin(struct work *w, struct thread_work *t)
{
	bool pi = false;
	enum lock_kind k;

	if (!t->grp_open)
		return t->cur.begin;
	k = t->grp_last.key == t->cur.key ? kind_now(w, lock_get(w, t->cur.key), &pi) : LK_FUTEX;
	return same_acquisition(&t->grp_last, &t->cur, k, pi) ? t->grp_first.begin : t->cur.begin;
}

static int cmp_span(const void *a, const void *b)
{
	const struct wait_span *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_edge(const void *a, const void *b)
{
	const struct wake_edge *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->wakee_tid < y->wakee_tid ? -1 : x->wakee_tid > y->wakee_tid;
}

/*
 * A wait a signal ended this shortly before the trace did is a call still blocked: the Ctrl-C
 * that ends a `-- COMMAND` trace reaches the command too, and the kernel may hand it to a
 * blocked thread, whose call waits again once the handler ran (after the trace).
 */
#define SIGNAL_TAIL_NS 100000000ULL

/* A thread still blocked at the end of the trace: for the hung-process view (analysis_hung.c). */
void wait_note_blocked(struct work *w, struct thread_work *t)
{
	if (t->in_wait)
		hung_note_blocked(w, t, &t->cur, acquisition_begin(w, t));
	else if (t->grp_open && ret_is_signal(t->grp_last.ret) &&
		 w->a->end_ts - t->grp_last.end < SIGNAL_TAIL_NS)
		hung_note_blocked(w, t, &t->grp_last, t->grp_first.begin);
}

/* A thread closed (close_thread): its open wait unfinished, its acquisition counted. */
void wait_close(struct work *w, struct thread_work *t, __u64 end)
{
	if (t->in_wait) {
		t->cur.end = end;
		t->cur.cause = WC_UNFINISHED;
		wait_done(w, t);
	}
	group_close(w, t);
}

/* The timeline's waits and wake-ups in time order (the Perfetto export). */
void sort_waits(struct work *w)
{
	struct analysis *a = w->a;

	sort_array(a->spans, a->nr_spans, sizeof(*a->spans), cmp_span);
	sort_array(a->edges, a->nr_edges, sizeof(*a->edges), cmp_edge);
}
