// SPDX-License-Identifier: GPL-2.0
/*
 * analysis.c - see analysis.h. The driver: records go through the reorder window
 * (analysis_reorder.c) and leave it in timestamp order for the parts they concern, the session
 * and deadlock records are its own; at the end each part builds its share of the result. The
 * parts, each with its state in struct work (analysis_int.h): analysis_stacks.c (which stack a
 * wait or a wake gets), analysis_threads.c (threads and where their time goes),
 * analysis_contention.c (waits, their wakers, acquisitions), analysis_locks.c (futex words,
 * their kinds, the lock objects), analysis_holds.c (--holds), analysis_gil.c (CPython's GIL),
 * analysis_python.c (Python lock objects), analysis_hung.c (threads still blocked at the end).
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "analysis_int.h"

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
	wait_close(w, t, end);
}

static void close_threads(struct work *w)
{
	for (size_t i = 0; i < w->thr.nr_threads; i++) {
		struct thread_work *t = &w->thr.threads[i];

		wait_note_blocked(w, t);
		close_thread(w, t, w->a->end_ts);
	}
}

struct analysis_stream {
	struct work w;
	struct reorder order;
	bool have_session, session_seen;
	__u64 session_ts;
	__u64 info_ts; /* the last TT_REC_THREAD_INFO's stamp and thread */
	__u32 info_tid;
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
	bool moves;

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
	/*
	 * The collector's own late stamps do not move the window: a deadlock seen, the end, and
	 * what it read of each thread at attach (stamped as it went: with 2000 threads the scan
	 * takes 0.3-0.6 s, while BPF's records of that time wait in the ring buffer; moved by
	 * the scan, the window dropped 100 000 of them as late). A wait adopted at attach comes
	 * right after its thread's info, with its stamp.
	 */
	if (h->kind == TT_REC_THREAD_INFO) {
		s->info_ts = h->ts;
		s->info_tid = h->tid;
	}
	moves = h->kind != TT_REC_DEADLOCK && h->kind != TT_REC_PYWAIT &&
		h->kind != TT_REC_PY_THREAD_NAME && h->kind != TT_REC_SESSION_END &&
		h->kind != TT_REC_THREAD_INFO && !(h->ts == s->info_ts && h->tid == s->info_tid);
	if (!reorder_add(&s->order, h, is_companion(h->kind), moves, emit, s))
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
	free(w->objs);
	free(w->order);
	u64_map_free(&w->obj_by_addr);
	u64_map_free(&w->order_by_key);
	u64_map_free(&w->gil_waiter_by_key);
	u64_map_free(&w->py_key_by_word);
	u64_map_free(&w->stw_request_by_tid);
	threads_free(w);
	locks_free(w);
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
		sort_waits(w);
		build_potential_deadlocks(w);
		hung_sort(w);
		build_threads(w);
		w->a->duration_ns = w->a->end_ts - w->a->start_ts;
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
