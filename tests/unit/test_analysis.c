// SPDX-License-Identifier: GPL-2.0
/*
 * test_analysis.c - the analysis on synthetic record streams: contentions and their
 * wakers, wake causes, thread states, switch-ins never traced, condvars, deadlock records,
 * wakers in other processes, and the streaming analysis's reorder window.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "util.h"
#include "test_analysis.h"

#define MS	1000000ULL
#define A_LOCK	0x1000ULL
#define A_COND	0x2028ULL
#define E_AGAIN 11

/* One thread's waits on a mutex: 4 futex waits, 2 acquisitions, 3 wakers' wake-ups. */
static void rewaits_stream(struct record_buf *rb)
{
	__u64 ips[] = {0x10, 0x20};

	s_session(rb, 0);
	/* acquisition 1: EAGAIN at once, then a sleep woken by 2, barged, a sleep woken by 3 */
	s_wait_begin(rb, 10 * MS, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_wait_end(rb, 10 * MS + 1000, 1, A_LOCK, -E_AGAIN);
	s_wait_begin(rb, 11 * MS, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_waking(rb, 15 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips, 1);
	s_wait_end(rb, 16 * MS, 1, A_LOCK, 0);
	s_wait_begin(rb, 16 * MS + 5000, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_waking(rb, 20 * MS, 3, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips, 1);
	s_wait_end(rb, 21 * MS, 1, A_LOCK, 0);
	/* thread 1 releases: its next wait is a new acquisition */
	s_wake_op(rb, 22 * MS, 1, A_LOCK);
	s_wait_begin(rb, 30 * MS, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_waking(rb, 32 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips, 1);
	s_wait_end(rb, 33 * MS, 1, A_LOCK, 0);
	s_end(rb, 40 * MS);
}

/* Two futex waits of one acquisition (EAGAIN, then barging) count as one contention. */
void test_merge_rewaits(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct lock_stat *l;

	rewaits_stream(&rb);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	l = find_lock(&a, A_LOCK);
	CHECK(l != NULL);
	if (l) {
		CHECK_EQ_U64(l->kind, LK_MUTEX); /* WAIT with value 2 only */
		CHECK_EQ_U64(l->contentions, 2);
		CHECK_EQ_U64(l->futex_waits, 4);
		CHECK_EQ_U64(l->wait_ns, 1000 + 5 * MS + (21 * MS - 16 * MS - 5000) + 3 * MS);
		CHECK_EQ_U64(l->max_wait_ns, 1000 + 5 * MS + (21 * MS - 16 * MS - 5000));
		/* the contention is charged to the waker that finally let it go: 3, then 2 */
		CHECK_EQ_U64(l->nr_wakers, 2);
		CHECK_EQ_U64(l->wakers[0].tid, 3);
		CHECK_EQ_U64(l->wakers[1].tid, 2);
		CHECK_EQ_U64(l->nr_waiters, 1);
		CHECK_EQ_U64(l->waiters[0].count, 2);
	}
	analysis_free(&a);
	records_free(&rb);
}

/* Timeouts and signals are labelled, never attributed to a thread. */
void test_wake_causes(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct lock_stat *l;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	s_wait_begin(&rb, 1 * MS, 1, A_LOCK, TT_FUTEX_WAIT_BITSET, 0, ips, 1);
	s_waking(&rb, 6 * MS, 0, 1, A_LOCK, TT_WAKE_OTHER, 0, NULL, 0);
	s_wait_end(&rb, 6 * MS + 10, 1, A_LOCK, -110);
	s_wait_begin(&rb, 10 * MS, 1, A_LOCK, TT_FUTEX_WAIT_BITSET, 0, ips, 1);
	s_wait_end(&rb, 12 * MS, 1, A_LOCK, -4);
	s_wait_begin(&rb, 20 * MS, 1, A_LOCK, TT_FUTEX_WAIT_BITSET, 0, ips, 1);
	s_end(&rb, 30 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	l = find_lock(&a, A_LOCK);
	CHECK(l != NULL);
	if (l) {
		CHECK_EQ_U64(l->causes[WC_TIMEOUT], 1);
		CHECK_EQ_U64(l->causes[WC_SIGNAL], 0); /* EINTR retries: merged into the next */
		CHECK_EQ_U64(l->causes[WC_UNFINISHED], 1);
		for (size_t i = 0; i < l->nr_wakers; i++)
			CHECK_EQ_U64(l->wakers[i].tid, 0);
	}
	analysis_free(&a);
	records_free(&rb);
}

/*
 * A wake-up in an exiting thread's context is its exit's only for a waiter of its tid (join)
 * or of a robust mutex it owned; else a timer's interrupt that came meanwhile (handed case
 * timedwait_exit). A robust owner's death shows in the word the waiter leaves with.
 */
void test_exit_wakes(void)
{
	const __u64 JOINW = 0x3000, ROBUST = 0x4000, NSJOIN = 0x5000;
	struct record_buf rb = {0};
	const struct lock_stat *l;
	struct analysis a;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	/* a timed condvar wait that times out while thread 7 exits: no join */
	s_wait_begin(&rb, 1 * MS, 1, A_COND, TT_FUTEX_WAIT_BITSET, 4, ips, 1);
	s_waking(&rb, 2 * MS, 7, 1, A_COND, TT_WAKE_EXIT, 0, NULL, 0);
	s_wait_end(&rb, 2 * MS + 10, 1, A_COND, -110);
	/* a join of thread 8, woken by its exit */
	s_wait_begin(&rb, 3 * MS, 1, JOINW, TT_FUTEX_WAIT_BITSET, 8, ips, 1);
	s_waking(&rb, 4 * MS, 8, 1, JOINW, TT_WAKE_EXIT, 0, NULL, 0);
	s_wait_end(&rb, 4 * MS + 10, 1, JOINW, 0);
	/* thread 9 dies holding a robust mutex two threads wait for: one death */
	s_wait_begin(&rb, 5 * MS, 1, ROBUST, TT_FUTEX_WAIT, 9 | 0x80000000u, ips, 1);
	s_wait_begin(&rb, 5 * MS, 2, ROBUST, TT_FUTEX_WAIT, 9 | 0x80000000u, ips, 1);
	s_waking(&rb, 6 * MS, 9, 1, ROBUST, TT_WAKE_EXIT, 0, NULL, 0);
	s_wait_end_word(&rb, 6 * MS + 10, 1, ROBUST, 0, 0xc0000000u);
	s_wait_end_word(&rb, 6 * MS + 20, 2, ROBUST, 0, 0xc0000000u);
	/* in a PID namespace: a join of the thread the namespace numbers 5, globally 105; its
	 * exit cleared the tid word */
	s_wait_begin(&rb, 7 * MS, 1, NSJOIN, TT_FUTEX_WAIT_BITSET, 5, ips, 1);
	s_waking(&rb, 8 * MS, 105, 1, NSJOIN, TT_WAKE_EXIT, 0, NULL, 0);
	s_wait_end_word(&rb, 8 * MS + 10, 1, NSJOIN, 0, 0);
	s_end(&rb, 10 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	l = find_lock(&a, A_COND);
	CHECK(l && l->kind != LK_JOIN && l->causes[WC_TIMEOUT] == 1 && !l->causes[WC_EXIT]);
	l = find_lock(&a, JOINW);
	CHECK(l && l->kind == LK_JOIN && l->causes[WC_EXIT] == 1 && !strcmp(l->detail, "thread 8"));
	l = find_lock(&a, NSJOIN);
	CHECK(l && l->kind == LK_JOIN && l->causes[WC_EXIT] == 1 &&
	      !strcmp(l->detail, "thread 105"));
	l = find_lock(&a, ROBUST);
	CHECK(l && l->kind == LK_MUTEX && !strcmp(l->detail, "robust"));
	if (l) {
		CHECK_EQ_U64(l->owner_died, 1);
		CHECK_EQ_U64(l->dead_owner, 9);
	}
	analysis_free(&a);
	records_free(&rb);
}

/* Every instant of a thread is in one state; the states add up to its traced time. */
void test_thread_states(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct thread_stat *t1, *t2;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	s_switch(&rb, 2 * MS, 1, TT_TASK_RUNNING, 0); /* 1: ran 0-2, preempted */
	s_switch(&rb, 3 * MS, 0, 0, 1);		      /* runnable 2-3 */
	s_wait_begin(&rb, 4 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, ips, 1);
	s_switch(&rb, 5 * MS, 1, TT_TASK_INTERRUPTIBLE, 0); /* lock sleep 5-9 */
	s_new_thread(&rb, 6 * MS, 2);			    /* 2: runnable 6-7 */
	s_switch(&rb, 7 * MS, 0, 0, 2);
	s_waking(&rb, 9 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips, 1);
	s_switch(&rb, 9 * MS + 500000, 2, TT_TASK_UNINTERRUPTIBLE, 1); /* 2: I/O from 9.5 */
	s_wait_end(&rb, 10 * MS, 1, A_LOCK, 0);
	s_exit(&rb, 11 * MS, 1);
	s_switch(&rb, 12 * MS, 1, TT_TASK_DEAD, 0);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	t1 = find_thread(&a, 1);
	t2 = find_thread(&a, 2);
	CHECK(t1 && t2);
	if (!t1 || !t2)
		goto out;
	CHECK_EQ_U64(t1->start_ts, 0);
	CHECK_EQ_U64(t1->end_ts, 12 * MS);
	CHECK_EQ_U64(t1->on_cpu_ns, 2 * MS + 2 * MS + (12 * MS - 9 * MS - 500000));
	CHECK_EQ_U64(t1->runnable_ns, 1 * MS + 500000);
	CHECK_EQ_U64(t1->lock_wait_ns, 4 * MS);
	CHECK_EQ_U64(t1->on_cpu_ns + t1->runnable_ns + t1->lock_wait_ns + t1->cond_wait_ns +
			 t1->other_wait_ns,
		     t1->end_ts - t1->start_ts);
	CHECK_EQ_U64(t1->involuntary_switches, 1);
	CHECK_EQ_U64(t1->voluntary_switches, 1);
	CHECK(t1->exited);
	CHECK_EQ_U64(t2->start_ts, 6 * MS);
	CHECK_EQ_U64(t2->runnable_ns, 1 * MS);
	CHECK_EQ_U64(t2->on_cpu_ns, 2 * MS + 500000);
	CHECK_EQ_U64(t2->other_wait_ns, 20 * MS - 9 * MS - 500000);
	CHECK(t2->created && !t2->exited);
out:
	analysis_free(&a);
	records_free(&rb);
}

/*
 * Switch-ins the kernel never traced are placed from its own totals (run_delay, exec time):
 * a preempted thread queued for 3 ms of a 10 ms gap, a blocked one whose wake-up was unseen
 * too (ran 2 ms, queued 1 ms before that).
 */
void test_untraced_switch_in(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct thread_stat *t1, *t2;

	s_session(&rb, 0);
	s_switch_kstat(&rb, 1 * MS, 1, TT_TASK_RUNNING, 0, 0, 1 * MS);	     /* 1: preempted */
	s_switch_kstat(&rb, 11 * MS, 1, TT_TASK_RUNNING, 0, 3 * MS, 8 * MS); /* no switch-in */
	s_switch(&rb, 12 * MS, 0, 0, 1);
	s_switch_kstat(&rb, 1 * MS, 2, TT_TASK_INTERRUPTIBLE, 0, 0, 1 * MS);	   /* 2: sleeps */
	s_switch_kstat(&rb, 11 * MS, 2, TT_TASK_INTERRUPTIBLE, 0, 1 * MS, 3 * MS); /* woke unseen */
	s_end(&rb, 12 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	t1 = find_thread(&a, 1);
	t2 = find_thread(&a, 2);
	CHECK(t1 && t2);
	if (!t1 || !t2)
		goto out;
	CHECK_EQ_U64(a.inferred_switch_ins, 2);
	CHECK_EQ_U64(t1->runnable_ns, 3 * MS + 1 * MS); /* 1-4, then 11-12 */
	CHECK_EQ_U64(t1->on_cpu_ns, 1 * MS + 7 * MS);
	CHECK_EQ_U64(t2->on_cpu_ns, 1 * MS + 2 * MS);	  /* 0-1, 9-11 */
	CHECK_EQ_U64(t2->runnable_ns, 1 * MS);		  /* 8-9 */
	CHECK_EQ_U64(t2->other_wait_ns, 7 * MS + 1 * MS); /* 1-8, 11-12 */
out:
	analysis_free(&a);
	records_free(&rb);
}

static const char *fake_funcs[] = {"__futex_abstimed_wait_common", "pthread_cond_signal",
				   "__lll_lock_wait"};

/* Condvar waiting is waiting for work; the mutex re-take after it is lock contention. */
void test_condvar_vs_mutex(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct sym_lock *sl;
	struct analysis a;
	const struct lock_stat *lc, *lm;
	const struct thread_stat *t;
	__u64 wait_ips[] = {0x100}, signal_ips[] = {0x200}, lock_ips[] = {0x300};

	symdata_add_frame(&sd, 0x100, "__futex_abstimed_wait_common+0x1 (libc.so.6)",
			  fake_funcs[0]);
	symdata_add_frame(&sd, 0x200, "pthread_cond_signal+0x9f (libc.so.6)", fake_funcs[1]);
	symdata_add_frame(&sd, 0x300, "__lll_lock_wait+0x2b (libc.so.6)", fake_funcs[2]);
	sl = symdata_add_lock(&sd, A_COND);
	sl->name = strdup("queue_cond");
	sl->name_off = 40;
	sl = symdata_add_lock(&sd, A_COND + 4);
	sl->name = strdup("queue_cond");
	sl->name_off = 44;

	s_session(&rb, 0);
	s_wait_begin(&rb, 1 * MS, 1, A_COND, TT_FUTEX_WAIT_BITSET | 128, 0, wait_ips, 1);
	s_switch(&rb, 1 * MS, 1, TT_TASK_INTERRUPTIBLE, 0);
	s_waking(&rb, 9 * MS, 2, 1, A_COND, TT_WAKE_FUTEX, A_COND, signal_ips, 1);
	s_wait_end(&rb, 9 * MS, 1, A_COND, 0);
	s_wait_begin(&rb, 10 * MS, 1, A_COND + 4, TT_FUTEX_WAIT_BITSET | 128, 0, wait_ips, 1);
	s_waking(&rb, 12 * MS, 2, 1, A_COND + 4, TT_WAKE_FUTEX, A_COND + 4, signal_ips, 1);
	s_wait_end(&rb, 12 * MS, 1, A_COND + 4, 0);
	s_wait_begin(&rb, 13 * MS, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, lock_ips, 1);
	s_switch(&rb, 13 * MS, 1, TT_TASK_INTERRUPTIBLE, 0);
	s_waking(&rb, 14 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, lock_ips, 1);
	s_wait_end(&rb, 14 * MS, 1, A_LOCK, 0);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	/* both __g_signals words fold into the one condvar object at its symbol's start */
	lc = find_lock(&a, A_COND - 40);
	lm = find_lock(&a, A_LOCK);
	CHECK(lc && lm);
	if (lc && lm) {
		CHECK_EQ_U64(lc->kind, LK_CONDVAR);
		CHECK(!strcmp(lc->name, "queue_cond"));
		CHECK_EQ_U64(lc->contentions, 2);
		CHECK_EQ_U64(lm->kind, LK_MUTEX);
		CHECK_EQ_U64(lm->contentions, 1);
	}
	t = find_thread(&a, 1);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_U64(t->cond_wait_ns, 8 * MS);
		CHECK_EQ_U64(t->lock_wait_ns, 1 * MS);
		CHECK_EQ_U64(t->contentions, 1);
	}
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}

/* A stream without a session cannot be analysed: a clear error, not a report of nothing. */
void test_no_session(void)
{
	struct record_buf rb = {0};
	struct analysis a;

	s_wait_end(&rb, 5, 1, A_LOCK, 0);
	CHECK(analysis_run(&rb, NULL, &a) != 0);
	records_free(&rb);
}

/*
 * The streaming analysis: records that arrive out of order within the reorder window give
 * what they give in order; one later than the window is left out and counted.
 */
void test_stream_reorders(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct analysis a1, a2;
	struct analysis_stream *st;
	size_t *off = NULL, n = 0, cap = 0, l1, l2;
	char *j1, *j2;

	rewaits_stream(&rb);
	for (size_t o = 0; o < rb.len; o += ((struct tt_rec_hdr *)(rb.data + o))->size)
		*VEC_PUSH(off, n, cap) = o;
	CHECK(n > 10);
	CHECK(analysis_run(&rb, &sd, &a1) == 0);
	/* every pair after the session swapped: each record a step out of place */
	st = analysis_stream_new(&sd, ANALYSIS_TIMELINE, &a2);
	for (size_t i = 0; i < n; i++) {
		size_t k = i == 0 ? 0 : (i % 2 ? (i + 1 < n ? i + 1 : i) : i - 1);
		const struct tt_rec_hdr *h = (const void *)(rb.data + off[k]);

		CHECK(analysis_stream_feed(st, h, h->size) == 0);
	}
	CHECK(analysis_stream_finish(st) == 0);
	j1 = summary_of(&a1, &l1);
	j2 = summary_of(&a2, &l2);
	CHECK(l1 == l2 && !memcmp(j1, j2, l1));
	CHECK_EQ_U64(a2.late_records, 0);
	CHECK_EQ_U64(a2.nr_spans, a1.nr_spans);
	free(j1);
	free(j2);
	analysis_free(&a2);

	/* a wait that ends 1 s after it began, then records from before what was replayed */
	{
		struct record_buf rb2 = {0};
		__u64 ips[] = {0x10};
		const struct lock_stat *l;

		s_session(&rb2, 0);
		s_wait_begin(&rb2, 10 * MS, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 1);
		s_wait_end(&rb2, 1000 * MS, 1, A_LOCK, 0);
		/* after 1 s arrived, 10 ms was replayed: a wait from 5 to 8 ms comes too late */
		s_wait_begin(&rb2, 5 * MS, 2, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 1);
		s_wait_end(&rb2, 8 * MS, 2, A_LOCK, 0);
		s_end(&rb2, 1100 * MS);
		CHECK(analysis_run(&rb2, NULL, &a2) == 0);
		CHECK_EQ_U64(a2.late_records, 2);
		l = find_lock(&a2, A_LOCK);
		CHECK(l && l->futex_waits == 1 && l->wait_ns == 990 * MS);
		analysis_free(&a2);
		records_free(&rb2);
	}
	analysis_free(&a1);
	free(off);
	records_free(&rb);
	symdata_free(&sd);
}

/* A wait in progress at attach (the /proc hint, then its begin written by the collector) is
 * asleep from the start; a deadlock record names the waiters' stacks and locks. */
void test_adopted_wait_and_deadlock(void)
{
	struct record_buf rb = {0};
	struct tt_thread_info ti = {0};
	struct tt_deadlock dl = {0};
	struct analysis a;
	const struct thread_stat *t;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	ti.hdr.kind = TT_REC_THREAD_INFO;
	ti.hdr.size = sizeof(ti);
	ti.hdr.ts = 1000;
	ti.hdr.pid = PID;
	ti.hdr.tid = 1;
	ti.state = 'S';
	ti.in_futex_wait = 1;
	ti.futex_uaddr = A_LOCK;
	CHECK(records_append(&rb, &ti, sizeof(ti)) == 0);
	s_wait_begin(&rb, 1000, 1, A_LOCK, TT_FUTEX_WAIT, 2, NULL, 0);
	s_wait_begin(&rb, 2000, 2, A_LOCK + 64, TT_FUTEX_WAIT, 2, ips, 1);
	s_switch(&rb, 2000, 2, TT_TASK_INTERRUPTIBLE, 0);
	dl.hdr.kind = TT_REC_DEADLOCK;
	dl.hdr.size = sizeof(dl);
	dl.hdr.ts = 5 * MS;
	dl.hdr.pid = PID;
	dl.nr = 2;
	dl.links[0].tid = 1;
	dl.links[0].owner = 2;
	dl.links[0].addr = A_LOCK;
	dl.links[1].tid = 2;
	dl.links[1].owner = 1;
	dl.links[1].addr = A_LOCK + 64;
	CHECK(records_append(&rb, &dl, sizeof(dl)) == 0);
	dl.flags = TT_DEADLOCK_ORPHANED; /* an orphan is one thread's wait */
	CHECK(records_append(&rb, &dl, sizeof(dl)) != 0);
	dl.nr = 0;
	dl.flags = 0;
	CHECK(records_append(&rb, &dl, sizeof(dl)) != 0);
	dl.nr = 1;
	dl.flags = 1u << 7; /* unknown */
	CHECK(records_append(&rb, &dl, sizeof(dl)) != 0);
	dl.flags = TT_DEADLOCK_SHARED; /* a reason without the orphan */
	CHECK(records_append(&rb, &dl, sizeof(dl)) != 0);
	/* a thread re-locking a mutex it holds: a cycle of one */
	dl.flags = 0;
	dl.links[0].owner = 1;
	CHECK(records_append(&rb, &dl, sizeof(dl)) == 0);
	/* thread 2 waits for a process-shared lock whose owner 77 died */
	dl.hdr.ts = 6 * MS;
	dl.flags = TT_DEADLOCK_ORPHANED | TT_DEADLOCK_SHARED;
	dl.links[0].tid = 2;
	dl.links[0].owner = 77;
	dl.links[0].addr = A_LOCK + 64;
	CHECK(records_append(&rb, &dl, sizeof(dl)) == 0);
	s_end(&rb, 10 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	t = find_thread(&a, 1);
	CHECK(t && t->lock_wait_ns == 10 * MS && t->on_cpu_ns == 0);
	CHECK_EQ_U64(a.nr_deadlocks, 3);
	if (a.nr_deadlocks == 3) {
		size_t len;
		char *j = summary_of(&a, &len);

		CHECK_EQ_U64(a.deadlocks[0].nr, 2);
		CHECK_EQ_U64(a.deadlocks[0].links[1].owner, 1);
		CHECK(a.deadlocks[0].links[1].stack != TT_NO_STACK);
		CHECK(a.deadlocks[0].links[0].stack == TT_NO_STACK); /* adopted without a stack */
		CHECK(a.deadlocks[1].nr == 1 && !a.deadlocks[1].flags);
		CHECK(a.deadlocks[2].nr == 1 && a.deadlocks[2].links[0].stack != TT_NO_STACK);
		CHECK(strstr(j, "{\"kind\":\"actual\",\"at_ns\":5000000,\"locks\":[\"0x1000\"],"
				"\"threads\":[1],\"held_by\":[1],"));
		CHECK(strstr(j, "{\"kind\":\"orphaned\",\"at_ns\":6000000,\"locks\":[\"0x1040\"],"
				"\"threads\":[2],\"owner_tid\":77,\"process_shared\":true,"
				"\"owner_state\":\"gone\","));
		free(j);
	}
	analysis_free(&a);
	records_free(&rb);
}

/*
 * A process-shared lock: a thread of another process inside a futex wake names itself and its
 * process; another process merely running when a waiter woke (reason OTHER) names nobody.
 */
void test_waker_in_other_process(void)
{
	struct record_buf rb = {0};
	struct tt_waking wk = {0};
	struct analysis a;
	char *j;
	size_t len;

	s_session(&rb, 0);
	s_wait_begin(&rb, 1 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, NULL, 0);
	wk.hdr.kind = TT_REC_WAKING;
	wk.hdr.size = sizeof(wk);
	wk.hdr.ts = 3 * MS;
	wk.hdr.pid = 500;
	wk.hdr.tid = 501;
	wk.wakee_tid = 1;
	wk.wakee_uaddr = A_LOCK;
	wk.reason = TT_WAKE_FUTEX_PROCESS;
	strcpy(wk.waker_comm, "peer");
	CHECK(records_append(&rb, &wk, sizeof(wk)) == 0);
	s_wait_end(&rb, 4 * MS, 1, A_LOCK, 0);
	s_wake_op(&rb, 4 * MS + 500, 1, A_LOCK); /* its unlock: the next wait is a new one */
	s_wait_begin(&rb, 5 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, NULL, 0);
	wk.hdr.ts = 6 * MS;
	wk.reason = TT_WAKE_OTHER;
	CHECK(records_append(&rb, &wk, sizeof(wk)) == 0);
	s_wait_end(&rb, 7 * MS, 1, A_LOCK, 0);
	s_end(&rb, 10 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	j = summary_of(&a, &len);
	CHECK(strstr(j, "{\"tid\":501,\"cause\":\"thread\",\"name\":\"peer\",\"pid\":500,"));
	CHECK(strstr(j, "{\"tid\":null,\"cause\":\"other wake-up\",\"name\":\"\",\"stack\""));
	free(j);
	analysis_free(&a);
	records_free(&rb);
}

/* A switch-out with no switch-in before it: the thread ran since it was woken. */
void test_missed_switch_in(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct thread_stat *t;

	s_session(&rb, 0);
	s_switch(&rb, 1 * MS, 1, TT_TASK_INTERRUPTIBLE, 0); /* ran 0-1, sleeps 1-4 */
	s_waking(&rb, 4 * MS, 0, 1, 0, TT_WAKE_OTHER, 0, NULL, 0);
	/* the switch-in onto an idle CPU never arrives */
	s_switch(&rb, 9 * MS, 1, TT_TASK_INTERRUPTIBLE, 0);
	s_end(&rb, 10 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	t = find_thread(&a, 1);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_U64(t->on_cpu_ns, 1 * MS + 5 * MS);
		CHECK_EQ_U64(t->runnable_ns, 0);
		CHECK_EQ_U64(t->other_wait_ns, 3 * MS + 1 * MS);
	}
	CHECK_EQ_U64(a.inferred_switch_ins, 1);
	analysis_free(&a);
	records_free(&rb);

	/* woken while still on its way to sleep: queued, so runnable until switched in */
	memset(&rb, 0, sizeof(rb));
	s_session(&rb, 0);
	s_switch(&rb, 1 * MS, 0, 0, 1); /* runnable 0-1 (first seen switching in), runs 1-2 */
	s_waking(&rb, 2 * MS, 0, 1, 0, TT_WAKE_OTHER, 0, NULL, 0);
	s_switch(&rb, 2 * MS + 5000, 1, TT_TASK_INTERRUPTIBLE, 0);
	s_switch(&rb, 3 * MS, 0, 0, 1);
	/* a real sleep later: long after any wake-up */
	s_switch(&rb, 4 * MS, 1, TT_TASK_INTERRUPTIBLE, 0);
	s_end(&rb, 5 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	t = find_thread(&a, 1);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_U64(t->runnable_ns, 1 * MS + 1 * MS - 5000);
		CHECK_EQ_U64(t->other_wait_ns, 1 * MS);
		CHECK_EQ_U64(t->involuntary_switches, 1);
	}
	analysis_free(&a);
	records_free(&rb);
}

/*
 * A blocked call is blocked since its first wait: thread 1's mutex wait is ended by a signal
 * (ERESTARTSYS, as sys_exit sees it) and waited again; thread 2's is ended by a signal 5 ms
 * before the trace ends (the Ctrl-C that ended it), its call not back in a wait yet; thread
 * 3's ended by a signal 300 ms before the end and it did not wait again: not blocked.
 */
void test_blocked_across_signals(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	__u64 ips[] = {0x10, 0x20};
	const __u64 end = 2000 * MS;

	s_session(&rb, 0);
	s_wait_begin(&rb, 100 * MS, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_wait_end(&rb, 1500 * MS, 1, A_LOCK, -512);
	s_wait_begin(&rb, 1500 * MS + 20000, 1, A_LOCK, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_wait_begin(&rb, 200 * MS, 2, A_LOCK + 64, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_wait_end(&rb, end - 5 * MS, 2, A_LOCK + 64, -512);
	s_wait_begin(&rb, 300 * MS, 3, A_LOCK + 128, TT_FUTEX_WAIT | 128, 2, ips, 2);
	s_wait_end(&rb, end - 300 * MS, 3, A_LOCK + 128, -4);
	s_end(&rb, end);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	CHECK_EQ_U64(a.nr_blocked, 2);
	for (size_t i = 0; i < a.nr_blocked; i++) {
		const struct blocked_thread *b = &a.blocked[i];

		CHECK(b->tid == 1 || b->tid == 2);
		CHECK_EQ_U64(b->since, b->tid == 1 ? 100 * MS : 200 * MS);
		CHECK_EQ_U64(b->ns, end - b->since);
		CHECK_EQ_U64(b->addr, b->tid == 1 ? A_LOCK : A_LOCK + 64);
	}
	/* one contention per blocked call, the signal's re-wait included */
	CHECK(find_lock(&a, A_LOCK) && find_lock(&a, A_LOCK)->contentions == 1);
	analysis_free(&a);
	records_free(&rb);
}

/*
 * A lock with more waiters, wakers and pairs than it searches (analysis_int.h's LOCK_SCAN_MAX):
 * the second round finds each row through the index made on the way, and its histogram keeps
 * the buckets from the first wait's to the last's.
 */
void test_many_waiters(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct lock_stat *l;
	__u64 total = 0, in_hist = 0;

	s_session(&rb, 0);
	for (unsigned r = 0; r < 2; r++)
		for (unsigned i = 0; i < 20; i++) {
			__u64 base = (r * 400 + i * 20 + 1) * MS, waiter_ip = 0x1000 + i,
			      waker_ip = 0x2000 + i;

			s_wait_begin(&rb, base, 10 + i, A_LOCK, TT_FUTEX_WAIT | 128, 2, &waiter_ip,
				     1);
			s_waking(&rb, base + (i + 1) * MS - 1000, 100 + i, 10 + i, A_LOCK,
				 TT_WAKE_FUTEX, A_LOCK, &waker_ip, 1);
			s_wait_end(&rb, base + (i + 1) * MS, 10 + i, A_LOCK, 0);
			s_wake_op(&rb, base + (i + 1) * MS + 1000, 10 + i, A_LOCK); /* released */
			total += (i + 1) * MS;
		}
	s_end(&rb, 1000 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	l = find_lock(&a, A_LOCK);
	CHECK(l != NULL);
	if (l) {
		CHECK_EQ_U64(l->contentions, 40);
		CHECK_EQ_U64(l->wait_ns, total);
		CHECK_EQ_U64(l->nr_waiters, 20);
		CHECK_EQ_U64(l->nr_wakers, 20);
		CHECK_EQ_U64(l->nr_chains, 20);
		for (size_t i = 0; i < l->nr_waiters; i++)
			CHECK_EQ_U64(l->waiters[i].count, 2);
		for (size_t i = 0; i < l->nr_chains; i++)
			CHECK(l->chains[i].count == 2 &&
			      l->chains[i].waker_tid == l->chains[i].waiter_tid + 90);
		/* 1 ms in [512, 1024) us; 17 to 20 ms in [16384, 32768) us */
		CHECK_EQ_U64(hist_at(&l->hist, 10), 2);
		CHECK_EQ_U64(hist_at(&l->hist, 15), 2 * 4); /* 17-20 ms */
		CHECK_EQ_U64(hist_at(&l->hist, 9) + hist_at(&l->hist, 16), 0);
		for (unsigned b = 0; b < TT_HIST_BUCKETS; b++)
			in_hist += hist_at(&l->hist, b);
		CHECK_EQ_U64(in_hist, 40);
	}
	analysis_free(&a);
	records_free(&rb);
}
