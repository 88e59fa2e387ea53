// SPDX-License-Identifier: GPL-2.0
/*
 * analysis.c - see analysis.h. Records are replayed in timestamp order through per-thread state
 * machines; waits become contentions once each address's kind is known.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "analysis_int.h"

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
	__u64 *i = u64_map_upsert(&w->lock_by_addr, addr, &found);
	struct lock_work *l;

	if (found)
		return lock_at(w, *i - 1);
	if (w->nr_locks % LOCK_CHUNK == 0) /* pages of words not yet seen stay untouched */
		*VEC_PUSH(w->lock_chunks, w->nr_lock_chunks, w->cap_lock_chunks) =
		    xmap(LOCK_CHUNK * sizeof(struct lock_work));
	l = lock_at(w, w->nr_locks++);
	*i = w->nr_locks;
	l->addr = addr;
	l->ev.all_val2 = true;
	l->ev.cond_layout = w->cond_layout;
	l->kind_stale = true;
	return l;
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

static void note_wait_evidence(struct work *w, struct lock_work *l, const struct tt_wait_begin *r)
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
static void note_stack_funcs(struct work *w, struct lock_work *l, __u32 stack, bool waker,
			     __u32 cmd, __u32 val)
{
	const char *funcs[TT_MAX_USTACK];
	const struct stack_entry *e;
	unsigned n = 0;
	size_t had = w->cap_votes;
	int vote, sv;

	if (stack == TT_NO_STACK || !w->a->sd)
		return;
	grow((void **)&w->stack_votes, &w->cap_votes, (size_t)stack + 1, sizeof(*w->stack_votes));
	for (size_t i = had; i < w->cap_votes; i++)
		w->stack_votes[i] = -2; /* not worked out yet */
	if (w->stack_votes[stack] == -2) {
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
		w->stack_votes[stack] = (__s16)(k < 0 ? -1 : k | (id + 1) << 8);
	}
	sv = w->stack_votes[stack];
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

static bool same_acquisition(const struct raw_wait *a, const struct raw_wait *b, enum lock_kind k,
			     bool pi);

static __u64 object_offset(enum lock_kind k, const struct sym_lock *sl, enum cond_layout layout);

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
static enum lock_kind kind_now(struct work *w, struct lock_work *l, bool *pi)
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
		*VEC_PUSH(a->spans, a->nr_spans, w->cap_spans) =
		    (struct wait_span){rw->tid, rw->key, rw->begin, rw->end};
		if (rw->cause == WC_THREAD || rw->cause == WC_EXIT)
			*VEC_PUSH(a->edges, a->nr_edges, w->cap_edges) =
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

static void on_wait_begin(struct work *w, const struct tt_wait_begin *r)
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

static void on_wait_end(struct work *w, const struct tt_wait_end *r)
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

static void on_wake_op(struct work *w, const struct tt_wake_op *r)
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

static void on_waking(struct work *w, const struct tt_waking *r)
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

/* The libc the target runs from here on: its objects' layouts (an exec may bring another). */
static void on_libc(struct work *w, const struct tt_libc *r)
{
	struct analysis *a = w->a;

	w->cond_layout = r->flags & TT_LIBC_GLIBC ? lockkind_cond_layout(r->major, r->minor)
						  : COND_LAYOUT_UNKNOWN;
	memcpy(a->libc_version, r->version, sizeof(a->libc_version));
	a->libc_version[sizeof(a->libc_version) - 1] = 0;
	memcpy(a->libc_build, r->build, sizeof(a->libc_build));
	a->libc_build[sizeof(a->libc_build) - 1] = 0;
	a->libc_major = r->major;
	a->libc_minor = r->minor;
}

static void on_deadlock(struct work *w, const struct tt_deadlock *r)
{
	struct deadlock_stat *d = VEC_PUSH(w->a->deadlocks, w->a->nr_deadlocks, w->cap_deadlocks);

	d->ts = r->hdr.ts;
	d->nr = r->nr;
	d->flags = r->flags;
	for (unsigned i = 0; i < r->nr && i < TT_MAX_CYCLE; i++) {
		struct thread_work *t = thread_get(w, r->links[i].tid);

		d->links[i].tid = t->st.tid;
		/* an orphaned lock's owner is the tid the lock names (not a traced thread) */
		d->links[i].owner = r->flags & TT_DEADLOCK_ORPHANED
					? r->links[i].owner
					: thread_key_of(w, r->links[i].owner);
		d->links[i].addr = r->links[i].addr;
		d->links[i].stack =
		    t->in_wait && t->cur.addr == r->links[i].addr ? t->cur.stack : TT_NO_STACK;
		memcpy(d->links[i].comm, t->st.name, TT_COMM_LEN);
		if (r->flags & TT_DEADLOCK_PYTHON)
			hung_deadlock_link(w, d, i);
	}
}

/* Close a thread at end: the end of the trace, or when a new thread took its tid. */
void close_thread(struct work *w, struct thread_work *t, __u64 end)
{
	thread_end(w, t, end);
	if (t->in_wait) {
		t->cur.end = end;
		t->cur.cause = WC_UNFINISHED;
		wait_done(w, t);
	}
	group_close(w, t);
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

/*
 * A wait a signal ended this shortly before the trace did is a call still blocked: the Ctrl-C
 * that ends a `-- COMMAND` trace reaches the command too, and the kernel may hand it to a
 * blocked thread, whose call waits again once the handler ran (after the trace).
 */
#define SIGNAL_TAIL_NS 100000000ULL

static void close_threads(struct work *w)
{
	for (size_t i = 0; i < w->thr.nr_threads; i++) {
		struct thread_work *t = &w->thr.threads[i];

		if (t->in_wait)
			hung_note_blocked(w, t, &t->cur, acquisition_begin(w, t));
		else if (t->grp_open && ret_is_signal(t->grp_last.ret) &&
			 w->a->end_ts - t->grp_last.end < SIGNAL_TAIL_NS)
			hung_note_blocked(w, t, &t->grp_last, t->grp_first.begin);
		close_thread(w, t, w->a->end_ts);
	}
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

/* Names are cut where the fixed fields that held them cut them: outputs stay the same. */
#define DETAIL_LEN   48
#define NAME_LEN     128
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
	struct lock_work *chunk = w->lock_chunks[c];
	size_t n = w->nr_locks - c * LOCK_CHUNK;

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
	w->lock_chunks[c] = NULL;
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

static void build_locks(struct work *w)
{
	struct analysis *a = w->a;
	struct u64_map by_canon = {0};
	bool found;

	a->locks = xcalloc(w->nr_locks + w->nr_objs, sizeof(*a->locks));
	w->words_built = xcalloc(w->nr_locks, sizeof(*w->words_built));
	for (size_t i = 0; i < w->nr_locks; i++) {
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
		w->words_built[i] = (struct word_built){l->addr, l->canon, l->kind};
		for (__u32 k = 0; k < l->nr_blocked; k++) /* its sleepers' time, by its kind */
			thread_charge_blocked(w, l->blocked[k].tid, l->addr, l->kind,
					      l->blocked[k].ns);
		if ((i + 1) % LOCK_CHUNK == 0 || i + 1 == w->nr_locks)
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
	sort_array(a->spans, a->nr_spans, sizeof(*a->spans), cmp_span);
	sort_array(a->edges, a->nr_edges, sizeof(*a->edges), cmp_edge);
	/* futex word -> lock, through the object address the locks are sorted by now */
	u64_map_free(&by_canon);
	memset(&by_canon, 0, sizeof(by_canon));
	for (size_t k = 0; k < a->nr_locks; k++)
		*u64_map_upsert(&by_canon, a->locks[k].addr, &found) = k + 1;
	for (size_t i = 0; i < w->nr_locks; i++) {
		const struct word_built *l = &w->words_built[i];
		__u64 *k = u64_map_get(&by_canon, l->canon);

		if (k)
			*u64_map_upsert(&a->lock_by_futex, l->addr, &found) = *k;
	}
	for (size_t k = 0; k < a->nr_locks; k++) /* objects known from lock calls only */
		if (!u64_map_get(&a->lock_by_futex, a->locks[k].addr))
			*u64_map_upsert(&a->lock_by_futex, a->locks[k].addr, &found) = k + 1;
	u64_map_free(&by_canon);
}

const struct lock_stat *analysis_lock_of(const struct analysis *a, __u64 futex_addr)
{
	__u64 *i = u64_map_get(&a->lock_by_futex, futex_addr);

	return i ? &a->locks[*i - 1] : NULL;
}

struct analysis_stream {
	struct work w;
	struct reorder order;
	bool have_session, session_seen;
	__u64 session_ts;
};

/* The unwound and Python stacks, a parked wait's object and its type: kept for the record
 * they come with, which follows them */
static bool is_companion(__u16 kind)
{
	return kind == TT_REC_UNWOUND || kind == TT_REC_PYSTACK || kind == TT_REC_PARK_KEY ||
	       kind == TT_REC_PY_OBJTYPE;
}

static void process(struct analysis_stream *s, const struct tt_rec_hdr *h)
{
	struct work *w = &s->w;
	struct analysis *out = w->a;

	if (is_companion(h->kind)) {
		note_companion(&w->stk, h);
		return;
	}
	if (!s->have_session && h->kind != TT_REC_SESSION)
		return; /* records before attach completed carry no complete state */
	switch (h->kind) {
	case TT_REC_SESSION: {
		const struct tt_session *ss = (const void *)h;

		if (s->have_session)
			return;
		s->have_session = true;
		out->pid = ss->target_pid;
		out->tid_filter = ss->target_tid;
		out->start_ts = h->ts;
		out->end_ts = h->ts;
		out->holds = ss->flags & TT_SESSION_HOLDS;
		memcpy(out->comm, ss->comm, TT_COMM_LEN);
		break;
	}
	case TT_REC_THREAD_INFO:
		on_thread_info(w, (const void *)h);
		break;
	case TT_REC_WAIT_BEGIN:
		on_wait_begin(w, (const void *)h);
		break;
	case TT_REC_WAIT_END:
		on_wait_end(w, (const void *)h);
		break;
	case TT_REC_WAKE_OP:
		on_wake_op(w, (const void *)h);
		break;
	case TT_REC_WAKING:
		thread_woken(w, (const void *)h);
		on_waking(w, (const void *)h);
		break;
	case TT_REC_SWITCH:
		on_switch(w, (const void *)h, NULL);
		break;
	case TT_REC_SWITCH_KSTAT:
		on_switch(w, (const void *)h, (const void *)h);
		break;
	case TT_REC_NEW_THREAD:
		on_new_thread(w, (const void *)h);
		break;
	case TT_REC_EXIT:
		on_thread_exit(w, (const void *)h);
		break;
	case TT_REC_DEADLOCK:
		on_deadlock(w, (const void *)h);
		break;
	case TT_REC_PYWAIT:
		on_pywait(w, (const void *)h);
		break;
	case TT_REC_LOCK_CALL:
		on_lock_call(w, (const void *)h);
		break;
	case TT_REC_PYTHON:
		on_python(w, (const void *)h);
		break;
	case TT_REC_RUNTIME:
		runtime_add(&w->a->rt, (const void *)h);
		break;
	case TT_REC_LIBC:
		on_libc(w, (const void *)h);
		break;
	case TT_REC_PY_THREAD_NAME:
		on_py_thread_name(w, (const void *)h);
		break;
	case TT_REC_GIL:
		on_gil(w, (const void *)h);
		break;
	case TT_REC_SESSION_END: {
		const struct tt_session_end *e = (const void *)h;

		out->lost_events += e->counters[TT_CNT_RINGBUF_FULL];
		out->stack_failures += e->counters[TT_CNT_STACK_FAIL];
		out->untracked_waits += e->counters[TT_CNT_MAP_FULL];
		if (e->target_exited)
			out->target_exited = true;
		break;
	}
	}
	if (h->ts > out->end_ts)
		out->end_ts = h->ts;
}

static void emit(void *ctx, const struct tt_rec_hdr *h)
{
	process(ctx, h);
}

struct analysis_stream *analysis_stream_new(const struct symdata *sd, unsigned flags,
					    struct analysis *out)
{
	struct analysis_stream *s = xcalloc(1, sizeof(*s));

	memset(out, 0, sizeof(*out));
	out->sd = sd;
	s->w.a = out;
	s->w.timeline = flags & ANALYSIS_TIMELINE;
	return s;
}

int analysis_stream_feed(struct analysis_stream *s, const void *rec, size_t size)
{
	const struct tt_rec_hdr *h = rec;

	if (h->size != size)
		return -EINVAL;
	if (h->kind < TT_REC_SESSION && h->kind != TT_REC_PYSTACK && h->kind != TT_REC_PARK_KEY)
		s->w.a->events++;
	if (h->kind == TT_REC_SESSION && !s->session_seen) {
		s->session_seen = true;
		s->session_ts = h->ts;
	}
	/* before attach completed (the collector stamps its session record first) */
	if (s->session_seen && h->ts < s->session_ts)
		return 0;
	/* the collector's own late stamps (a deadlock seen, the end) do not move the window */
	if (!reorder_add(&s->order, h, is_companion(h->kind),
			 h->kind != TT_REC_DEADLOCK && h->kind != TT_REC_PYWAIT &&
			     h->kind != TT_REC_PY_THREAD_NAME && h->kind != TT_REC_SESSION_END,
			 emit, s))
		s->w.a->late_records++; /* later than the window allows: dropped, counted */
	return 0;
}

static void work_free(struct work *w)
{
	for (size_t i = 0; i < w->thr.nr_threads; i++)
		free(w->thr.threads[i].held);
	for (size_t i = 0; i < w->nr_objs; i++) {
		free(w->objs[i].holders);
		free(w->objs[i].open);
		free(w->objs[i].recent);
	}
	for (size_t c = 0; c < w->nr_lock_chunks; c++)
		lock_chunk_free(w, c);
	free(w->lock_chunks);
	free(w->words_built);
	free(w->objs);
	free(w->order);
	free(w->stack_votes);
	u64_map_free(&w->obj_by_addr);
	u64_map_free(&w->order_by_key);
	u64_map_free(&w->gil_waiter_by_key);
	u64_map_free(&w->py_key_by_word);
	free(w->thr.threads);
	free(w->thr.buckets);
	u64_map_free(&w->thr.by_tid);
	u64_map_free(&w->thr.by_key);
	u64_map_free(&w->thr.name_by_key);
	u64_map_free(&w->stw_request_by_tid);
	u64_map_free(&w->lock_by_addr);
	u64_map_free(&w->thr.bucket_by_key);
	u64_map_free(&w->stk.by_hash);
}

int analysis_stream_finish(struct analysis_stream *s)
{
	struct work *w = &s->w;
	int err = 0;

	reorder_drain(&s->order, emit, s);
	reorder_free(&s->order);
	if (!s->have_session) {
		err = -EINVAL;
		analysis_free(w->a);
	} else {
		close_threads(w);
		close_gil(w);
		/* the blocked time is all charged: its buckets' index is not needed while the
		 * locks are built (the peak of memory per lock) */
		u64_map_free(&w->thr.bucket_by_key);
		build_locks(w);
		build_potential_deadlocks(w);
		hung_sort(w);
		build_threads(w);
	}
	work_free(w);
	free(s);
	return err;
}

int analysis_run(const struct record_buf *rb, const struct symdata *sd, struct analysis *out)
{
	return analysis_run_flags(rb, sd, ANALYSIS_TIMELINE, out);
}

int analysis_run_flags(const struct record_buf *rb, const struct symdata *sd, unsigned flags,
		       struct analysis *out)
{
	struct analysis_stream *s = analysis_stream_new(sd, flags, out);

	for (size_t off = 0; off < rb->len;) {
		const struct tt_rec_hdr *h = (const void *)(rb->data + off);

		analysis_stream_feed(s, h, h->size);
		off += h->size;
	}
	return analysis_stream_finish(s);
}

void analysis_free(struct analysis *a)
{
	for (size_t i = 0; i < a->nr_locks; i++) {
		free(a->locks[i].waiters);
		free(a->locks[i].wakers);
		free(a->locks[i].chains);
		free(a->locks[i].holders);
		free(a->locks[i].hold_hist);
		free(a->locks[i].hist.counts);
	}
	for (size_t i = 0; i < a->nr_stacks; i++)
		free(a->stacks[i].ips);
	free(a->locks);
	free(a->threads);
	free(a->stacks);
	free(a->intervals);
	free(a->edges);
	free(a->spans);
	free(a->deadlocks);
	free(a->blocked);
	free(a->stw);
	free(a->gil.waiters);
	free(a->gil.spans);
	free(a->py_names);
	u64_map_free(&a->lock_by_futex);
	str_pool_free(&a->strs);
	memset(a, 0, sizeof(*a));
}

const char *lock_label(const struct lock_stat *l, char *buf, size_t len)
{
	snprintf(buf, len, "[%s %s]", lock_kind_name(l->kind),
		 l->name[0]	? l->name
		 : l->detail[0] ? l->detail
				: l->location);
	return buf;
}
