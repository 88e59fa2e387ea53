// SPDX-License-Identifier: GPL-2.0
/*
 * test_main.c - unit tests (no root): the analysis on synthetic record streams, lock
 * classification, record validation, the JSON writer, and symbolization of this very process.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "json.h"
#include "report.h"
#include "symbols.h"
#include "test_symbols.h"
#include "test_cfitab.h"
#include "test_runtime.h"
#include "test_pyobj.h"
#include "test_glibc.h"
#include "test_threads.h"
#include "test_recfile_cut.h"
#include "test_pydebug.h"
#include "test_pylive.h"
#include "recfile.h"
#include "folded.h"
#include "probesite.h"

int checks_failed_in_test;

#define MS 1000000ULL
#define A_LOCK 0x1000ULL
#define A_COND 0x2028ULL
#define E_AGAIN 11

static const struct lock_stat *find_lock(const struct analysis *a, __u64 addr)
{
	for (size_t i = 0; i < a->nr_locks; i++)
		if (a->locks[i].addr == addr)
			return &a->locks[i];
	return NULL;
}

static const struct thread_stat *find_thread(const struct analysis *a, __u32 tid)
{
	for (size_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].tid == tid)
			return &a->threads[i];
	return NULL;
}

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
static void test_merge_rewaits(void)
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

/*
 * A lock with more waiters, wakers and pairs than it searches (analysis_int.h's LOCK_SCAN_MAX):
 * the second round finds each row through the index made on the way, and its histogram keeps
 * the buckets from the first wait's to the last's.
 */
static void test_many_waiters(void)
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

			s_wait_begin(&rb, base, 10 + i, A_LOCK, TT_FUTEX_WAIT | 128, 2, &waiter_ip, 1);
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

/* Timeouts and signals are labelled, never attributed to a thread. */
static void test_wake_causes(void)
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
static void test_exit_wakes(void)
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
	CHECK(l && l->kind == LK_JOIN && l->causes[WC_EXIT] == 1 && !strcmp(l->detail, "thread 105"));
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
static void test_thread_states(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct thread_stat *t1, *t2;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	s_switch(&rb, 2 * MS, 1, TT_TASK_RUNNING, 0);           /* 1: ran 0-2, preempted */
	s_switch(&rb, 3 * MS, 0, 0, 1);                         /* runnable 2-3 */
	s_wait_begin(&rb, 4 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, ips, 1);
	s_switch(&rb, 5 * MS, 1, TT_TASK_INTERRUPTIBLE, 0);     /* lock sleep 5-9 */
	s_new_thread(&rb, 6 * MS, 2);                           /* 2: runnable 6-7 */
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
static void test_untraced_switch_in(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct thread_stat *t1, *t2;

	s_session(&rb, 0);
	s_switch_kstat(&rb, 1 * MS, 1, TT_TASK_RUNNING, 0, 0, 1 * MS);    /* 1: preempted */
	s_switch_kstat(&rb, 11 * MS, 1, TT_TASK_RUNNING, 0, 3 * MS, 8 * MS); /* no switch-in */
	s_switch(&rb, 12 * MS, 0, 0, 1);
	s_switch_kstat(&rb, 1 * MS, 2, TT_TASK_INTERRUPTIBLE, 0, 0, 1 * MS); /* 2: sleeps */
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
	CHECK_EQ_U64(t2->on_cpu_ns, 1 * MS + 2 * MS);   /* 0-1, 9-11 */
	CHECK_EQ_U64(t2->runnable_ns, 1 * MS);          /* 8-9 */
	CHECK_EQ_U64(t2->other_wait_ns, 7 * MS + 1 * MS); /* 1-8, 11-12 */
out:
	analysis_free(&a);
	records_free(&rb);
}

static const char *fake_funcs[] = {"__futex_abstimed_wait_common", "pthread_cond_signal",
				   "__lll_lock_wait"};

/* Condvar waiting is waiting for work; the mutex re-take after it is lock contention. */
static void test_condvar_vs_mutex(void)
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

static void test_classify(void)
{
	struct lock_evidence ev = {0};
	struct sym_lock sl = {0};
	const char *detail;
	__u32 v;

	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_LOCK_PI;
	CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_MUTEX);
	CHECK(detail && !strcmp(detail, "PI"));

	memset(&ev, 0, sizeof(ev));
	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_WAIT_BITSET;
	ev.val_is_tid = true;
	CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_JOIN);

	memset(&ev, 0, sizeof(ev));
	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_WAIT;
	ev.robust_val = true;
	CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_MUTEX);
	CHECK(detail && !strcmp(detail, "robust"));

	/* a sem_t with one waiter and value 0: found by layout alone */
	memset(&ev, 0, sizeof(ev));
	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_WAIT_BITSET;
	sl.mem_ok = true;
	v = 1;
	memcpy(sl.mem + TT_MEMWIN_BEFORE + 4, &v, 4);
	v = 128;
	memcpy(sl.mem + TT_MEMWIN_BEFORE + 8, &v, 4);
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_SEMAPHORE);

	/* a condvar's __g_signals[0]: __wrefs counts a waiter, __g_refs[0] holds it */
	memset(&sl, 0, sizeof(sl));
	sl.mem_ok = true;
	v = 8;
	memcpy(sl.mem + TT_MEMWIN_BEFORE - 40 + 36, &v, 4);
	v = 2;
	memcpy(sl.mem + TT_MEMWIN_BEFORE - 40 + 16, &v, 4);
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_CONDVAR);

	memset(&ev, 0, sizeof(ev));
	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_WAIT_BITSET;
	{
		const char *rw[] = {"__futex_abstimed_wait_common", "__pthread_rwlock_unlock"};
		/* the mutex re-take inside pthread_cond_wait is the mutex's, leaf first */
		const char *retake[] = {"__lll_lock_wait", "__pthread_mutex_cond_lock",
					"pthread_cond_wait", "consumer"};
		const char *internal[] = {NULL, "__lll_lock_wait_private"};

		CHECK(lock_evidence_add_stack(&ev, rw, 2));
		CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_RWLOCK);
		memset(&ev, 0, sizeof(ev));
		lock_evidence_add_stack(&ev, retake, 4);
		lock_evidence_add_stack(&ev, retake, 4);
		CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_MUTEX);
		memset(&ev, 0, sizeof(ev));
		lock_evidence_add_stack(&ev, internal, 2);
		CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_FUTEX);
		CHECK(detail && !strcmp(detail, "libc internal"));
	}
	{
		/* Rust std: its own futexes, named by the waiting function (09-rust-std-mutex) */
		const char *cv[] = {"syscall", "std::sys::pal::unix::futex::futex_wait",
				    "<std::sys::sync::condvar::futex::Condvar>::"
				    "wait_optional_timeout",
				    "<std::sys::sync::condvar::futex::Condvar>::wait"};
		const char *mx[] = {"syscall", "std::sys::pal::unix::futex::futex_wait",
				    "<std::sys::sync::mutex::futex::Mutex>::lock_contended",
				    "<std::sys::sync::condvar::futex::Condvar>::wait"};

		CHECK_EQ_U64(lock_stack_kind(cv, 4), LK_CONDVAR);
		/* the mutex re-taken inside Condvar::wait is the mutex's */
		CHECK_EQ_U64(lock_stack_kind(mx, 4), LK_MUTEX);
	}
	{
		/* libc named by .dynsym only: pthread_cond_wait is the leaf-most name of both its
		 * condvar wait and its mutex re-take (__lll_lock_wait unnamed below it) */
		const char *st[] = {NULL, NULL, "pthread_cond_wait", "consumer"};
		int k = lock_stack_kind(st, 4);

		CHECK_EQ_U64(k, LK_CONDVAR | LK_BY_COND_WAIT);
		CHECK_EQ_U64(lock_vote(k, false, TT_FUTEX_WAIT_BITSET, 0), LK_CONDVAR);
		CHECK_EQ_U64(lock_vote(k, false, TT_FUTEX_WAIT, 2), LK_MUTEX);
		CHECK(lock_vote(k, true, TT_FUTEX_WAKE, 0) < 0);
	}

	memset(&ev, 0, sizeof(ev));
	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_WAIT_BITSET;
	CHECK_EQ_U64(lockkind_classify(&ev, NULL, &detail), LK_FUTEX);
}

/* Records that do not fit their kind are refused, whatever the source. */
static void test_record_validation(void)
{
	struct record_buf rb = {0};
	struct tt_wait_end we = {0};
	__u8 big[sizeof(struct tt_wait_begin) + 8 * 100] = {0};
	struct tt_wait_begin *wb = (void *)big;

	we.hdr.kind = TT_REC_WAIT_END;
	we.hdr.size = sizeof(we);
	CHECK(records_append(&rb, &we, sizeof(we)) == 0);
	we.hdr.size = sizeof(we) - 8;
	CHECK(records_append(&rb, &we, sizeof(we) - 8) != 0);
	we.hdr.size = sizeof(we);
	we.hdr.kind = 99;
	CHECK(records_append(&rb, &we, sizeof(we)) != 0);
	wb->hdr.kind = TT_REC_WAIT_BEGIN;
	wb->stack.nr_user = TT_MAX_USTACK + 1;
	wb->hdr.size = sizeof(*wb) + 8 * (TT_MAX_USTACK + 1);
	CHECK(records_append(&rb, wb, wb->hdr.size) != 0);
	wb->stack.nr_user = 2;
	wb->hdr.size = sizeof(*wb) + 8 * 3; /* says 2 frames, carries 3 */
	CHECK(records_append(&rb, wb, wb->hdr.size) != 0);
	CHECK_EQ_U64(rb.count, 1);
	records_free(&rb);
}

/* A stream without a session cannot be analysed: a clear error, not a report of nothing. */
static void test_no_session(void)
{
	struct record_buf rb = {0};
	struct analysis a;

	s_wait_end(&rb, 5, 1, A_LOCK, 0);
	CHECK(analysis_run(&rb, NULL, &a) != 0);
	records_free(&rb);
}

static void test_json_escaping(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer j = {.out = f};

	json_begin_object(&j);
	json_key(&j, "s");
	json_string(&j, "a\"b\\c\n\x01\xff caf\xc3\xa9 \xe2\x82 \x1b[2J");
	json_key(&j, "v");
	json_begin_array(&j);
	json_u64(&j, 1);
	json_null(&j);
	json_bool(&j, true);
	json_end_array(&j);
	json_end_object(&j);
	fclose(f);
	/* valid UTF-8 kept (café), a byte that is none shown as text, control bytes escaped */
	CHECK(!strcmp(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\\\xff caf\xc3\xa9 \\\\xe2\\\\x82 "
			   "\\u001b[2J\",\"v\":[1,null,true]}"));
	free(buf);
}

/* Untrusted names as text: control bytes and bytes that are no UTF-8 shown, never acted on. */
static void test_text_escape(void)
{
	char buf[64];
	const unsigned char overlong[] = {0xc0, 0xaf, 0};

	CHECK(!strcmp(text_escape("\x1b[2J\nFAKE", (size_t)-1, buf, sizeof(buf)),
		      "\\x1b[2J\\x0aFAKE"));
	CHECK(!strcmp(text_escape("caf\xc3\xa9 \xe6\x97\xa5", (size_t)-1, buf, sizeof(buf)),
		      "caf\xc3\xa9 \xe6\x97\xa5"));
	CHECK(!strcmp(text_escape((const char *)overlong, (size_t)-1, buf, sizeof(buf)),
		      "\\xc0\\xaf"));
	/* a comm field: 16 bytes, not terminated */
	CHECK(!strcmp(text_escape("abcdefghijklmnopXYZ", 16, buf, sizeof(buf)),
		      "abcdefghijklmnop"));
	/* cut at a character, never inside one */
	CHECK(!strcmp(text_escape("ab\xc3\xa9", (size_t)-1, buf, 4), "ab"));
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
}

/* The JSON summary carries the fields README documents, with real values. */
static void test_json_summary(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	s_wait_begin(&rb, 1 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, ips, 1);
	s_waking(&rb, 3 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips, 1);
	s_wait_end(&rb, 3 * MS, 1, A_LOCK, 0);
	s_end(&rb, 5 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	f = open_memstream(&buf, &len);
	CHECK(json_summary(f, &a) == 0);
	fclose(f);
	CHECK(strstr(buf, "\"schema\":\"threadtrace/1\"") != NULL);
	CHECK(strstr(buf, "\"duration_ns\":5000000") != NULL);
	CHECK(strstr(buf, "\"addr\":\"0x1000\",\"kind\":\"mutex\"") != NULL);
	CHECK(strstr(buf, "\"contentions\":1") != NULL);
	CHECK(strstr(buf, "\"wait_ns\":2000000") != NULL);
	CHECK(strstr(buf, "\"gil\":null,\"stop_the_world\":null,\"runtimes\":[]}") != NULL);
	free(buf);
	analysis_free(&a);
	records_free(&rb);
}

pthread_mutex_t unit_test_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	long pad;
	pthread_mutex_t inner;
} unit_test_struct;

__attribute__((noinline)) void unit_test_function(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Symbolize this process: a global mutex by its data symbol, a function by name. */
static void test_symbolize_self(void)
{
	struct symbolizer *s = symbolizer_new(getpid(), true);
	struct symdata sd = {0};
	const struct sym_lock *l;
	const struct sym_frame *f;
	__u8 buf[sizeof(struct tt_stack) + 8];
	struct tt_stack *st = (void *)buf;

	symbolizer_note_lock(s, &sd, (__u64)(uintptr_t)&unit_test_lock);
	symbolizer_note_lock(s, &sd, (__u64)(uintptr_t)&unit_test_struct.inner);
	l = symdata_lock(&sd, (__u64)(uintptr_t)&unit_test_lock);
	CHECK(l && l->name && !strcmp(l->name, "unit_test_lock") && l->name_off == 0);
	CHECK(l && l->mem_ok);
	CHECK(l && l->module && !strcmp(l->module, "unit-tests"));
	l = symdata_lock(&sd, (__u64)(uintptr_t)&unit_test_struct.inner);
	CHECK(l && l->name && !strcmp(l->name, "unit_test_struct") && l->name_off == 8);

	st->nr_user = 1;
	st->nr_kernel = 0;
	st->ips[0] = (__u64)(uintptr_t)unit_test_function; /* a 1-byte function: ret */
	symbolizer_note_stack(s, &sd, st);
	f = symdata_frame(&sd, st->ips[0]);
	CHECK(f && f->func && !strcmp(f->func, "unit_test_function"));
	/* with the line from the test binary's own DWARF */
	{
		static const char want[] = "unit_test_function+0x0 (unit-tests) test_main.c:";

		CHECK(f && !strncmp(f->name, want, sizeof(want) - 1));
	}
	/* libc is stripped: its names come from the build-id debug file (libc6-dbg) */
	st->ips[0] = (__u64)(uintptr_t)pthread_mutex_lock;
	symbolizer_note_stack(s, &sd, st);
	f = symdata_frame(&sd, st->ips[0]);
	CHECK(f && f->func && strstr(f->func, "pthread_mutex_lock"));
	symdata_free(&sd);
	symbolizer_free(s);
}

static void sample_session(struct record_buf *rb, struct symdata *sd)
{
	__u64 ips[] = {0x100, 0x200};
	struct sym_lock *l;

	s_session(rb, 0);
	s_wait_begin(rb, 1 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, ips, 2);
	s_waking(rb, 3 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips + 1, 1);
	s_wait_end(rb, 3 * MS, 1, A_LOCK, 0);
	s_end(rb, 5 * MS);
	symdata_add_frame(sd, 0x100, "waiter_fn+0x10 (app)", "waiter_fn");
	symdata_add_frame(sd, 0x200, "thread_main+0x20 (app)", "thread_main");
	l = symdata_add_lock(sd, A_LOCK);
	l->name = strdup("acc_lock");
	l->module = symdata_str(sd, "app");
	l->module_off = 0x4040;
	l->mem_ok = true;
}

static __u8 *file_bytes(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	__u8 *d = malloc(1 << 20);

	*len = f ? fread(d, 1, 1 << 20, f) : 0;
	if (f)
		fclose(f);
	return d;
}

static size_t parsed_records; /* records the last parse_bytes read */

static int parse_bytes(const __u8 *d, size_t len, char *why, size_t wl)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct rec_info info;
	int err = recfile_parse(d, len, &info, &rb, &sd, why, wl);

	parsed_records = rb.count;
	records_free(&rb);
	symdata_free(&sd);
	return err;
}

/* A record file reads back to the same records and symbols, hence the same outputs. */
static void test_recfile_roundtrip(void)
{
	struct record_buf rb = {0}, rb2 = {0};
	struct symdata sd = {0}, sd2 = {0};
	struct rec_info info = {.host = "h", .kernel = "k", .cmdline = "app --x"}, info2;
	char path[] = "/tmp/tt-unit-XXXXXX";
	struct analysis a1, a2;
	char *j1 = NULL, *j2 = NULL;
	size_t l1 = 0, l2 = 0;
	FILE *f;
	int fd = mkstemp(path);
	struct stat st;

	close(fd);
	sample_session(&rb, &sd);
	CHECK(recfile_write(path, &info, &rb, &sd) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(recfile_read(path, &info2, &rb2, &sd2) == 0);
	CHECK(!strcmp(info2.cmdline, "app --x") && !strcmp(info2.host, "h"));
	CHECK_EQ_U64(rb2.count, rb.count);
	CHECK(rb2.len == rb.len && !memcmp(rb2.data, rb.data, rb.len));
	CHECK(analysis_run(&rb, &sd, &a1) == 0 && analysis_run(&rb2, &sd2, &a2) == 0);
	f = open_memstream(&j1, &l1);
	json_summary(f, &a1);
	fclose(f);
	f = open_memstream(&j2, &l2);
	json_summary(f, &a2);
	fclose(f);
	CHECK(l1 == l2 && !memcmp(j1, j2, l1));
	CHECK(strstr(j2, "\"name\":\"acc_lock\"") && strstr(j2, "waiter_fn+0x10 (app)"));
	free(j1);
	free(j2);
	analysis_free(&a1);
	analysis_free(&a2);
	records_free(&rb);
	records_free(&rb2);
	symdata_free(&sd);
	symdata_free(&sd2);
	unlink(path);
}

static char *summary_of(struct analysis *a, size_t *len)
{
	char *j = NULL;
	FILE *f = open_memstream(&j, len);

	json_summary(f, a);
	fclose(f);
	return j;
}

/*
 * The streaming analysis: records that arrive out of order within the reorder window give
 * what they give in order; one later than the window is left out and counted.
 */
static void test_stream_reorders(void)
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

/* Written as records come, the file is the one written at once; read back streamed, the same. */
static int count_record(void *ctx, const struct tt_rec_hdr *h, size_t size)
{
	struct record_buf *rb = ctx;

	return records_append(rb, h, size);
}

static void test_recfile_streamed(void)
{
	struct record_buf rb = {0}, rb2 = {0};
	struct symdata sd = {0}, sd2 = {0};
	struct rec_info info = {.host = "h", .kernel = "k", .cmdline = "app"}, info2;
	char p1[] = "/tmp/tt-unit-XXXXXX", p2[] = "/tmp/tt-unit-XXXXXX";
	struct recfile_writer *w;
	struct stat s1, s2;
	char *b1, *b2;
	FILE *f;

	close(mkstemp(p1));
	close(mkstemp(p2));
	sample_session(&rb, &sd);
	CHECK(recfile_write(p1, &info, &rb, &sd) == 0);
	w = recfile_writer_open(p2, &info, &sd);
	CHECK(w != NULL);
	for (size_t o = 0; w && o < rb.len; o += ((struct tt_rec_hdr *)(rb.data + o))->size)
		CHECK(recfile_writer_add(w, rb.data + o,
					 ((struct tt_rec_hdr *)(rb.data + o))->size) == 0);
	CHECK(w && recfile_writer_close(w) == 0);
	CHECK(stat(p1, &s1) == 0 && stat(p2, &s2) == 0 && s1.st_size == s2.st_size);
	b1 = calloc(1, s1.st_size);
	b2 = calloc(1, s2.st_size);
	f = fopen(p1, "r");
	CHECK(f && fread(b1, 1, s1.st_size, f) == (size_t)s1.st_size);
	fclose(f);
	f = fopen(p2, "r");
	CHECK(f && fread(b2, 1, s2.st_size, f) == (size_t)s2.st_size);
	fclose(f);
	CHECK(!memcmp(b1, b2, s1.st_size));
	CHECK(recfile_stream(p2, &info2, &sd2, count_record, &rb2) == 0);
	CHECK(rb2.len == rb.len && !memcmp(rb2.data, rb.data, rb.len));
	CHECK_EQ_U64(sd2.nr_frames, sd.nr_frames);
	/* damaged: the stream fails before a single record is handed over */
	records_free(&rb2);
	symdata_free(&sd2);
	b2[s2.st_size / 2] ^= 0x40;
	f = fopen(p2, "w");
	fwrite(b2, 1, s2.st_size, f);
	fclose(f);
	CHECK(recfile_stream(p2, &info2, &sd2, count_record, &rb2) != 0);
	CHECK_EQ_U64(rb2.count, 0);
	free(b1);
	free(b2);
	records_free(&rb);
	records_free(&rb2);
	symdata_free(&sd);
	unlink(p1);
	unlink(p2);
}

/* Truncated, damaged, foreign and newer files: one clear reason, never a partial result. */
static void test_recfile_damage(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct rec_info info = {0};
	char path[] = "/tmp/tt-unit-XXXXXX", why[256];
	size_t len;
	__u8 *d;
	int fd = mkstemp(path);

	close(fd);
	sample_session(&rb, &sd);
	recfile_write(path, &info, &rb, &sd);
	d = file_bytes(path, &len);
	CHECK(len > 100);
	CHECK(parse_bytes(d, len, why, sizeof(why)) == 0);
	/*
	 * a truncation (a writer that died) fails before the records start, and after that
	 * reads the whole chunks before the cut, saying so: all the records or none here
	 */
	for (size_t cut = 0; cut < len; cut += 7) {
		size_t before = rb.count;
		int r = parse_bytes(d, cut, why, sizeof(why));

		CHECK(r != 0 || (why[0] && strstr(why, "truncated")));
		CHECK(r != 0 || parsed_records == 0 || parsed_records == before);
	}
	CHECK(parse_bytes(d, len - 1, why, sizeof(why)) == 0 && strstr(why, "truncated") &&
	      parsed_records == rb.count);
	/*
	 * every single flipped byte fails (checksum or structure), but in the end marker: a file
	 * without a whole one is read as cut short there, all its records whole
	 */
	for (size_t i = 0; i < len; i += 3) {
		d[i] ^= 0x5a;
		if (i < len - 24)
			CHECK(parse_bytes(d, len, why, sizeof(why)) != 0);
		else
			CHECK(parse_bytes(d, len, why, sizeof(why)) != 0 ||
			      (why[0] && parsed_records == rb.count));
		d[i] ^= 0x5a;
	}
	d[5] ^= 1;
	CHECK(parse_bytes(d, len, why, sizeof(why)) != 0 && strstr(why, "not a threadtrace"));
	d[5] ^= 1;
	d[8] = TT_FILE_VERSION + 1;
	CHECK(parse_bytes(d, len, why, sizeof(why)) != 0 && strstr(why, "newer"));
	CHECK(parse_bytes((const __u8 *)"", 0, why, sizeof(why)) != 0);
	free(d);
	records_free(&rb);
	symdata_free(&sd);
	unlink(path);
}

/* Folded lines: root first, the lock as a frame, "--", the waker leaf first, merged. */
static void test_folded(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct analysis a;
	struct folded f;

	sample_session(&rb, &sd);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	folded_build(&f, &a, false, true, false);
	CHECK_EQ_U64(f.nr, 1);
	if (f.nr)
		CHECK(!strcmp(f.lines[0].stack,
			      "tid 1;thread_main;waiter_fn;[mutex acc_lock];--;thread_main;t2"));
	CHECK_EQ_U64(f.total, 2000);
	folded_free(&f);
	folded_build(&f, &a, true, false, false);
	CHECK_EQ_U64(f.total, 1);
	if (f.nr)
		CHECK(!strcmp(f.lines[0].stack, "tid 1;thread_main;waiter_fn;[mutex acc_lock]"));
	folded_free(&f);
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}

/* A JIT's frames: an anonymous executable region named by /tmp/perf-PID.map. */
static void test_jit_perf_map(void)
{
	size_t len = 4096;
	void *code = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char path[64];
	FILE *f;
	struct symbolizer *s;
	struct symdata sd = {0};
	const struct sym_frame *fr;
	__u8 buf[sizeof(struct tt_stack) + 8];
	struct tt_stack *st = (void *)buf;

	CHECK(code != MAP_FAILED);
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f || code == MAP_FAILED)
		return;
	fprintf(f, "%llx 40 py::work:/srv/app.py\n", (unsigned long long)(uintptr_t)code + 0x100);
	fclose(f);
	s = symbolizer_new(getpid(), true);
	st->nr_user = 1;
	st->nr_kernel = 0;
	st->ips[0] = (__u64)(uintptr_t)code + 0x110;
	symbolizer_note_stack(s, &sd, st);
	fr = symdata_frame(&sd, st->ips[0]);
	CHECK(fr && !strcmp(fr->name, "py::work:/srv/app.py+0x10 [JIT]"));
	CHECK(fr && fr->func && !strcmp(fr->func, "py::work:/srv/app.py"));
	st->ips[0] = (__u64)(uintptr_t)code + 0x200; /* past the entry */
	symbolizer_note_stack(s, &sd, st);
	fr = symdata_frame(&sd, st->ips[0]);
	CHECK(fr && !strstr(fr->name, "[JIT]"));
	symdata_free(&sd);
	symbolizer_free(s);
	/* a map others can write (as one another user planted) names nothing */
	CHECK(!chmod(path, 0666));
	memset(&sd, 0, sizeof(sd));
	s = symbolizer_new(getpid(), true);
	st->ips[0] = (__u64)(uintptr_t)code + 0x110;
	symbolizer_note_stack(s, &sd, st);
	fr = symdata_frame(&sd, st->ips[0]);
	CHECK(fr && !strstr(fr->name, "[JIT]"));
	symdata_free(&sd);
	symbolizer_free(s);
	unlink(path);
	munmap(code, len);
}

/* A wait in progress at attach (the /proc hint, then its begin written by the collector) is
 * asleep from the start; a deadlock record names the waiters' stacks and locks. */
static void test_adopted_wait_and_deadlock(void)
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
static void test_waker_in_other_process(void)
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
static void test_missed_switch_in(void)
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


/* Probe sites: the first emulated instruction on the entry path that still has the object. */
static void test_probe_sites(void)
{
	static const __u8 mutex_lock[] = {0x8b, 0x47, 0x10,		/* mov 0x10(%rdi),%eax */
					  0x89, 0xc2,			/* mov %eax,%edx */
					  0x83, 0xe0, 0x7c,		/* and $0x7c,%eax */
					  0x0f, 0x85, 0x10, 0, 0, 0,	/* jne +0x10 */
					  0xc3};
	static const __u8 copied[] = {0x48, 0x89, 0xfb,	      /* mov %rdi,%rbx */
				      0xbf, 0, 0, 0, 0,	      /* mov $0,%edi */
				      0x48, 0x83, 0xec, 0x18, /* sub $0x18,%rsp */
				      0x55,		      /* push %rbp */
				      0xc3};
	static const __u8 loop_back[] = {0x8b, 0x47, 0x10, /* mov 0x10(%rdi),%eax */
					 0x90,		   /* nop: a branch target */
					 0xeb, 0xfd,	   /* jmp back to the nop */
					 0xc3};
	static const __u8 clobbered[] = {0x31, 0xff, /* xor %edi,%edi */
					 0xeb, 0x00, /* jmp */
					 0xc3};
	static const __u8 cond_wait[] = {0x41, 0x57, 0xc3}; /* push %r15 */
	struct probe_site s = {0};

	CHECK(probesite_decode(mutex_lock, sizeof(mutex_lock), 0x1000, 1, &s));
	CHECK_EQ_U64(s.site_off, 0x1000 + 8);
	CHECK(s.reg1 == SR_RDI && s.ret_off == 0 && s.emulated);
	CHECK(probesite_decode(copied, sizeof(copied), 0, 1, &s));
	CHECK_EQ_U64(s.site_off, 12);
	CHECK(s.reg1 == SR_RBX && s.ret_off == 0x18);
	CHECK(!probesite_decode(loop_back, sizeof(loop_back), 0, 1, &s));
	CHECK(s.site_off == 0 && s.reg1 == SR_RDI && !s.emulated);
	CHECK(!probesite_decode(clobbered, sizeof(clobbered), 0, 1, &s));
	CHECK(s.site_off == 0 && !s.emulated);
	CHECK(probesite_decode(cond_wait, sizeof(cond_wait), 0, 2, &s));
	CHECK(s.site_off == 0 && s.reg1 == SR_RDI && s.reg2 == SR_RSI);
	s.op = TT_LOP_COND_WAIT; /* the caller's part of the site, not decoding's */
	CHECK_EQ_U64(probe_site_cookie(&s) & 0xff, TT_LOP_COND_WAIT);
}

/* --holds: hold intervals, who pays, a failed try-lock, a cond wait, and the lock order. */
static void test_holds(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	const struct lock_stat *l;
	const __u64 B = 0x3000, M = 0x4000, C = 0x5000;

	s_session_flags(&rb, 0, TT_SESSION_HOLDS);
	/* thread 1 holds A 1..11 ms; thread 2 waits for it 3.1..11.2 ms, holds to 12 ms */
	s_lock_call(&rb, 1 * MS, 1, TT_LOP_MUTEX_LOCK, A_LOCK, 0, 0x10);
	s_lock_call(&rb, 3 * MS, 2, TT_LOP_MUTEX_LOCK, A_LOCK, 0, 0x20);
	s_wait_begin(&rb, 3 * MS + 100000, 2, A_LOCK, TT_FUTEX_WAIT, 2, NULL, 0);
	s_lock_call(&rb, 5 * MS, 3, TT_LOP_MUTEX_TRYLOCK, A_LOCK, 0, 0x30); /* fails: 1 holds it */
	s_lock_call(&rb, 11 * MS, 1, TT_LOP_MUTEX_UNLOCK, A_LOCK, 0, 0);
	s_wait_end(&rb, 11 * MS + 200000, 2, A_LOCK, 0);
	s_lock_call(&rb, 12 * MS, 2, TT_LOP_MUTEX_UNLOCK, A_LOCK, 0, 0);
	/* lock order A -> B in thread 1, B -> A in thread 2 */
	s_lock_call(&rb, 20 * MS, 1, TT_LOP_MUTEX_LOCK, A_LOCK, 0, 0x10);
	s_lock_call(&rb, 21 * MS, 1, TT_LOP_MUTEX_LOCK, B, 0, 0x11);
	s_lock_call(&rb, 22 * MS, 1, TT_LOP_MUTEX_UNLOCK, B, 0, 0);
	s_lock_call(&rb, 23 * MS, 1, TT_LOP_MUTEX_UNLOCK, A_LOCK, 0, 0);
	s_lock_call(&rb, 30 * MS, 2, TT_LOP_MUTEX_LOCK, B, 0, 0x21);
	s_lock_call(&rb, 31 * MS, 2, TT_LOP_MUTEX_LOCK, A_LOCK, 0, 0x22);
	s_lock_call(&rb, 32 * MS, 2, TT_LOP_MUTEX_UNLOCK, A_LOCK, 0, 0);
	s_lock_call(&rb, 33 * MS, 2, TT_LOP_MUTEX_UNLOCK, B, 0, 0);
	/* thread 3: holds M, releases it in a cond wait 41..45 ms (woken at 45), unlocks at 46 */
	s_lock_call(&rb, 40 * MS, 3, TT_LOP_MUTEX_LOCK, M, 0, 0x31);
	s_lock_call(&rb, 41 * MS, 3, TT_LOP_COND_WAIT, C, M, 0x32);
	s_wait_begin(&rb, 41 * MS + 1000, 3, C + 40, TT_FUTEX_WAIT_BITSET, 0, NULL, 0);
	s_wait_end(&rb, 45 * MS, 3, C + 40, 0);
	s_lock_call(&rb, 46 * MS, 3, TT_LOP_MUTEX_UNLOCK, M, 0, 0);
	s_lock_call(&rb, 47 * MS, 4, TT_LOP_MUTEX_UNLOCK, 0x6000, 0, 0); /* taken before tracing */
	s_end(&rb, 50 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	CHECK(a.holds);
	CHECK_EQ_U64(a.unmatched_releases, 1);
	l = find_lock(&a, A_LOCK);
	CHECK(l && l->kind == LK_MUTEX && l->calls_seen);
	if (l) {
		CHECK_EQ_U64(l->acquisitions, 4);
		CHECK_EQ_U64(l->hold_ns, 10 * MS + 800000 + 3 * MS + 1 * MS);
		CHECK_EQ_U64(l->max_hold_ns, 10 * MS);
		/* thread 2 waited 3.1..11.2 ms; thread 1 held it until 11 ms; sites 0x10, 0x20, 0x22 */
		CHECK_EQ_U64(l->caused_wait_ns, 7900000);
		CHECK(l->nr_holders == 3 && l->holders[0].tid == 1 &&
		      l->holders[0].caused_wait_ns == 7900000);
	}
	l = find_lock(&a, M);
	CHECK(l && l->acquisitions == 2 && l->hold_ns == 1 * MS + 1 * MS);
	l = find_lock(&a, C);
	CHECK(!l || l->kind == LK_CONDVAR);
	CHECK_EQ_U64(a.nr_deadlocks, 1);
	if (a.nr_deadlocks) {
		CHECK(a.deadlocks[0].potential && a.deadlocks[0].nr == 2);
		CHECK(a.deadlocks[0].links[0].addr == A_LOCK && a.deadlocks[0].links[0].tid == 1);
		CHECK(a.deadlocks[0].links[1].addr == B && a.deadlocks[0].links[1].tid == 2);
	}
	analysis_free(&a);
	records_free(&rb);
}

/*
 * Three readers hold an rwlock at once (0-10, 2-12 and 4-14 ms) while a writer waits 1..14 ms:
 * 13 ms of waiting, charged once per instant (it was 9 + 10 + 10 = 29 ms, once per hold).
 */
static void test_holds_readers_share_a_wait(void)
{
	const __u64 RW = 0x7000;
	struct record_buf rb = {0};
	const struct lock_stat *l;
	struct analysis a;

	s_session_flags(&rb, 0, TT_SESSION_HOLDS);
	for (__u32 r = 0; r < 3; r++)
		s_lock_call(&rb, 2 * r * MS, 1 + r, TT_LOP_RW_RDLOCK, RW, 0, 0x10);
	s_lock_call(&rb, 1 * MS - 1000, 9, TT_LOP_RW_WRLOCK, RW, 0, 0x20);
	s_wait_begin(&rb, 1 * MS, 9, RW + 12, TT_FUTEX_WAIT_BITSET, 3, NULL, 0);
	for (__u32 r = 0; r < 3; r++)
		s_lock_call(&rb, (10 + 2 * r) * MS, 1 + r, TT_LOP_RW_UNLOCK, RW, 0, 0);
	s_wait_end(&rb, 14 * MS, 9, RW + 12, 0);
	s_lock_call(&rb, 15 * MS, 9, TT_LOP_RW_UNLOCK, RW, 0, 0);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	l = find_lock(&a, RW);
	CHECK(l && l->kind == LK_RWLOCK);
	if (l) {
		CHECK_EQ_U64(l->wait_ns, 13 * MS);
		CHECK_EQ_U64(l->caused_wait_ns, 13 * MS);
	}
	analysis_free(&a);
	records_free(&rb);
}

static const struct unit_test tests[] = {
	{"untraced_switch_in", test_untraced_switch_in},
	{"probe_sites", test_probe_sites},
	{"holds", test_holds},
	{"holds_readers_share_a_wait", test_holds_readers_share_a_wait},
	{"missed_switch_in", test_missed_switch_in},
	{"adopted_wait_and_deadlock", test_adopted_wait_and_deadlock},
	{"waker_in_other_process", test_waker_in_other_process},
	{"jit_perf_map", test_jit_perf_map},
	{"recfile_roundtrip", test_recfile_roundtrip},
	{"recfile_damage", test_recfile_damage},
	{"folded", test_folded},
	{"merge_rewaits", test_merge_rewaits},
	{"stream_reorders", test_stream_reorders},
	{"recfile_streamed", test_recfile_streamed},
	{"wake_causes", test_wake_causes},
	{"many_waiters", test_many_waiters},
	{"exit_wakes", test_exit_wakes},
	{"thread_states", test_thread_states},
	{"condvar_vs_mutex", test_condvar_vs_mutex},
	{"classify", test_classify},
	{"record_validation", test_record_validation},
	{"no_session", test_no_session},
	{"json_escaping", test_json_escaping},
	{"text_escape", test_text_escape},
	{"json_summary", test_json_summary},
	{"symbolize_self", test_symbolize_self},
	{"debug_file_in_root", test_debug_file_in_root},
	{"rust_demangle", test_rust_demangle},
	{"cfitab", test_cfitab},
	{"runtime_go", test_runtime_go},
	{"runtime_jvm", test_runtime_jvm},
	{"runtime_musl", test_runtime_musl},
	{"runtime_musl_stripped", test_runtime_musl_stripped},
	{"glibc_versions", test_glibc_versions},
	{"reused_tids", test_reused_tids},
	{"recfile_cut_keeps_names", test_recfile_cut_keeps_names},
	{"pydebug_offsets", test_pydebug_offsets},
	{"pystack_v1_frames", test_pystack_v1_frames},
	{"pyobj_expr", test_pyobj_expr},
	{"pyobj_classify", test_pyobj_classify},
	{"pyobj_freethreaded", test_pyobj_freethreaded},
	{"pylive_objects_312", test_pylive_objects_312},
	{"pylive_objects_38", test_pylive_objects_38},
	{"pylive_frames_and_garbage", test_pylive_frames_and_garbage},
};

int main(void)
{
	int passed = 0, failed = 0;

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		checks_failed_in_test = 0;
		tests[i].fn();
		if (checks_failed_in_test) {
			printf("FAIL unit/%s\n", tests[i].name);
			failed++;
		} else {
			printf("ok   unit/%s\n", tests[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
