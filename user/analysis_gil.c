// SPDX-License-Identifier: GPL-2.0
/* analysis_gil.c - CPython's GIL in the analysis: holds, waits, hand-offs (analysis.h gil_stat). */
#include "analysis_int.h"

/* --- CPython's GIL ----------------------------------------------------------------------- */

#define GIL_SPAN 208 /* struct _gil_runtime_state: its futex words (cond, mutex, switch_*) */

/* The GIL is traced from ts: its state then, holder_tid holding it if held. */
static void gil_start(struct work *w, __u64 ts, __u32 holder_tid, bool held)
{
	struct gil_stat *g = &w->a->gil;

	g->present = true;
	g->start_ts = ts;
	w->gil_last_taker = thread_key_of(w, holder_tid);
	if (held && holder_tid) {
		struct thread_work *t = thread_get(w, holder_tid);

		t->gil_hold = true;
		t->gil_hold_since = ts;
		t->st.python = true;
		w->gil_holder = t->st.tid;
	}
}

void on_python(struct work *w, const struct tt_python *r)
{
	struct gil_stat *g = &w->a->gil;

	if (g->present || (g->off && (r->flags & TT_PY_GIL_DISABLED)))
		return;
	g->hexversion = r->hexversion;
	g->flags = r->flags;
	g->interval_us = r->interval_us;
	g->sites_take = r->sites_take;
	g->sites_drop = r->sites_drop;
	g->gil = r->gil;
	memcpy(g->path, r->path, sizeof(g->path));
	g->path[sizeof(g->path) - 1] = 0;
	if (r->flags & TT_PY_GIL_DISABLED) {
		g->off = true; /* its first store without TT_GIL_TRANSIENT starts the section */
		return;
	}
	if (g->off) /* record files before TT_GIL_TRANSIENT: the collector saw it enabled */
		g->enabled_ts = r->hdr.ts;
	gil_start(w, r->hdr.ts, r->holder_tid, r->flags & TT_PY_HELD);
}

/*
 * A store to a free-threaded GIL that was off. While it is on only for an import (3.13t
 * enables it around each), the import's take is kept: if the GIL stays on for good (a module
 * without Py_mod_gil), that thread has held it since. true: the GIL is on, trace this store.
 */
static bool gil_switch_on(struct work *w, const struct tt_gil *r)
{
	struct gil_stat *g = &w->a->gil;

	if (r->flags & TT_GIL_TRANSIENT) {
		if (r->op == TT_GIL_TAKE) {
			g->transient_takes++;
			w->gil_transient_tid = r->hdr.tid;
			w->gil_transient_ts = r->hdr.ts;
		} else if (r->hdr.tid == w->gil_transient_tid) {
			w->gil_transient_tid = 0;
		}
		return false;
	}
	if (w->gil_transient_tid) {
		g->enabled_ts = w->gil_transient_ts;
		gil_start(w, w->gil_transient_ts, w->gil_transient_tid, true);
	} else {
		g->enabled_ts = r->hdr.ts;
		gil_start(w, r->hdr.ts, 0, false);
	}
	return true;
}

static void gil_span(struct work *w, __u32 tid, bool wait, __u64 begin, __u64 end)
{
	struct gil_stat *g = &w->a->gil;

	if (w->timeline && end > begin)
		*VEC_PUSH(g->spans, g->nr_spans, w->cap_gil_spans) =
		    (struct gil_span){tid, wait, begin, end};
}

static void gil_end_hold(struct work *w, struct thread_work *t, __u64 ts)
{
	__u64 d = ts > t->gil_hold_since ? ts - t->gil_hold_since : 0;

	gil_span(w, t->st.tid, false, t->gil_hold_since, ts);
	account(w, t, ts); /* on-CPU time before this is with the GIL */
	t->gil_hold = false;
	t->st.gil_hold_ns += d;
	w->a->gil.hold_ns += d;
	if (w->gil_holder == t->st.tid)
		w->gil_holder = 0;
}

static void gil_add_waiter(struct work *w, __u32 tid, __u32 stack, __u64 d)
{
	struct gil_stat *g = &w->a->gil;
	bool found;
	__u64 *i = u64_map_upsert(&w->gil_waiter_by_key, (__u64)tid << 32 | stack, &found);
	struct gil_waiter *gw;

	if (!found) {
		gw = VEC_PUSH(g->waiters, g->nr_waiters, w->cap_gil_waiters);
		gw->tid = tid;
		gw->stack = stack;
		*i = g->nr_waiters;
	}
	gw = &g->waiters[*i - 1];
	gw->count++;
	gw->wait_ns += d;
	if (d > gw->max_wait_ns)
		gw->max_wait_ns = d;
}

/* A futex word inside the GIL (its mutex and condvars): GIL waiting, never a lock of its own. */
bool gil_word(const struct work *w, __u64 addr)
{
	const struct gil_stat *g = &w->a->gil;

	return g->present && addr >= g->gil && addr < g->gil + GIL_SPAN;
}

/* A futex wait on the GIL's words by a thread that does not hold it: waiting for the GIL. */
void gil_note_wait(struct work *w, struct thread_work *t, __u64 uaddr, __u64 ts)
{
	const struct gil_stat *g = &w->a->gil;

	if (!g->present || uaddr < g->gil || uaddr >= g->gil + GIL_SPAN || t->gil_hold ||
	    t->gil_wait)
		return;
	t->gil_wait = true;
	t->gil_wait_since = ts;
	t->st.python = true;
}

void on_gil(struct work *w, const struct tt_gil *r)
{
	struct gil_stat *g = &w->a->gil;
	struct thread_work *t;
	__u64 ts = r->hdr.ts;

	if (r->gil != g->gil || (!g->present && !(g->off && gil_switch_on(w, r))))
		return;
	if (w->a->tid_filter && r->hdr.tid != w->a->tid_filter)
		return;
	t = thread_get(w, r->hdr.tid);
	settle_unknown(w, t, TS_RUNNING, ts);
	t->st.python = true;
	if (!g->switch_seen)
		g->switch_first = r->switch_number;
	g->switch_seen = true;
	g->switch_last = r->switch_number;
	if (r->op == TT_GIL_TAKE) {
		g->takes++;
		t->st.gil_takes++;
		if (w->gil_holder && w->gil_holder != t->st.tid) /* its drop was not seen */
			gil_end_hold(w, thread_at(w, w->gil_holder), ts);
		if (t->gil_wait) {
			__u64 d = ts - t->gil_wait_since;
			__u32 stack =
			    stack_intern(w, r->hdr.pid, pick_stack(w, &r->hdr, &r->stack));

			t->gil_wait = false;
			t->st.gil_wait_ns += d;
			t->st.gil_waits++;
			gil_span(w, t->st.tid, true, t->gil_wait_since, ts);
			gil_add_waiter(w, t->st.tid, stack, d);
		}
		if (w->gil_last_taker && w->gil_last_taker != t->st.tid)
			g->switches++;
		w->gil_last_taker = t->st.tid;
		if (!t->gil_hold) {
			account(w, t, ts); /* on-CPU time before this is without the GIL */
			t->gil_hold = true;
			t->gil_hold_since = ts;
		}
		w->gil_holder = t->st.tid;
	} else {
		g->drops++;
		if (r->flags & TT_GIL_FORCED) {
			g->forced_drops++;
			t->st.gil_forced_drops++;
		}
		if (t->gil_hold)
			gil_end_hold(w, t, ts);
	}
}

static int gil_waiter_cmp(const void *a, const void *b)
{
	const struct gil_waiter *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns < y->wait_ns ? 1 : -1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int gil_span_cmp(const void *a, const void *b)
{
	const struct gil_span *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return (int)x->wait - (int)y->wait;
}

/* Holds and waits still open at the end count up to it. */
void close_gil(struct work *w)
{
	struct gil_stat *g = &w->a->gil;

	if (!g->present)
		return;
	g->traced_ns = w->a->end_ts > g->start_ts ? w->a->end_ts - g->start_ts : 0;
	if (g->enabled_ts)
		g->enabled_ns = g->enabled_ts > w->a->start_ts ? g->enabled_ts - w->a->start_ts : 0;
	for (size_t i = 0; i < w->thr.nr_threads; i++) {
		struct thread_work *t = &w->thr.threads[i];
		__u64 end = t->state == TS_DONE ? t->st.end_ts : w->a->end_ts;

		if (t->gil_hold) {
			__u64 d = end > t->gil_hold_since ? end - t->gil_hold_since : 0;

			t->st.gil_hold_ns += d;
			g->hold_ns += d;
			t->gil_hold = false;
			gil_span(w, t->st.tid, false, t->gil_hold_since, end);
		}
		if (t->gil_wait && end > t->gil_wait_since) {
			t->st.gil_wait_ns += end - t->gil_wait_since;
			t->gil_wait = false;
			gil_span(w, t->st.tid, true, t->gil_wait_since, end);
		}
	}
	if (g->nr_waiters)
		qsort(g->waiters, g->nr_waiters, sizeof(*g->waiters), gil_waiter_cmp);
	sort_array(g->spans, g->nr_spans, sizeof(*g->spans), gil_span_cmp);
	/*
	 * The convoy effect: a thread that holds the GIL only briefly (it does I/O) but waits
	 * about a switch interval each time it wants it back, behind a CPU-bound holder.
	 */
	for (size_t i = 0; i < w->thr.nr_threads; i++) {
		struct thread_stat *st = &w->thr.threads[i].st;
		__u64 interval = (__u64)g->interval_us * 1000;

		st->gil_convoy = st->gil_waits >= 10 && st->gil_takes &&
				 st->gil_wait_ns / st->gil_waits >= interval / 2 &&
				 st->gil_hold_ns / st->gil_takes < interval / 2;
	}
}
