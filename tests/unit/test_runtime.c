// SPDX-License-Identifier: GPL-2.0
/* test_runtime.c - runtimes (TT_REC_RUNTIME): Go's parking, HotSpot's monitors, musl's layouts. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "test_runtime.h"

#define MS 1000000ULL

static const struct lock_stat *lock_at(const struct analysis *a, __u64 addr)
{
	for (size_t i = 0; i < a->nr_locks; i++)
		if (a->locks[i].addr == addr)
			return &a->locks[i];
	return NULL;
}

static const struct thread_stat *thread_of(const struct analysis *a, __u32 tid)
{
	for (size_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].tid == tid)
			return &a->threads[i];
	return NULL;
}

static void frame(struct symdata *sd, __u64 ip, const char *func)
{
	char name[128];

	snprintf(name, sizeof(name), "%s+0x10 (app)", func);
	symdata_add_frame(sd, ip, name, func);
}

/* one wait of tid on addr from b to e (ms) with stack ips, woken by waker at wake_ips */
static void wait_one(struct record_buf *rb, __u32 tid, __u64 addr, __u32 val, __u64 b, __u64 e,
		     const __u64 *ips, unsigned n, __u32 waker, const __u64 *wake_ips, unsigned nw)
{
	s_wait_begin(rb, b * MS, tid, addr, TT_FUTEX_WAIT | 128, val, ips, n);
	s_switch(rb, b * MS, tid, TT_TASK_INTERRUPTIBLE, 0);
	s_waking(rb, e * MS, waker, tid, addr, TT_WAKE_FUTEX, addr, wake_ips, nw);
	s_wait_end(rb, e * MS, tid, addr, 0);
}

/* An idle M's notesleep is waiting for work; a runtime.lock2 wait is a (runtime) mutex. */
void test_runtime_go(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct analysis a;
	const struct lock_stat *park, *rlock;
	const struct thread_stat *t;
	__u64 idle[] = {0x100, 0x110, 0x120}, lock[] = {0x100, 0x130}, wake[] = {0x140};

	frame(&sd, 0x100, "runtime.futex");
	frame(&sd, 0x110, "runtime.notesleep");
	frame(&sd, 0x120, "runtime.stopm");
	frame(&sd, 0x130, "runtime.lock2");
	frame(&sd, 0x140, "runtime.futexwakeup");
	s_session(&rb, 0);
	s_runtime(&rb, 0, TT_RT_GO, "/tmp/golock");
	wait_one(&rb, 1, 0xc000040548, 0, 1, 9, idle, 3, 2, wake, 1);
	wait_one(&rb, 1, 0x592ac0, 2, 10, 12, lock, 2, 2, wake, 1);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	CHECK(runtime_has(&a.rt, TT_RT_GO));
	park = lock_at(&a, 0xc000040548);
	rlock = lock_at(&a, 0x592ac0);
	CHECK(park && rlock);
	if (park && rlock) {
		CHECK_EQ_U64(park->kind, LK_PARK);
		CHECK(!strcmp(park->detail, "Go idle thread (notesleep)"));
		CHECK(!lock_kind_is_contention(park->kind));
		CHECK_EQ_U64(rlock->kind, LK_MUTEX);
	}
	t = thread_of(&a, 1);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_U64(t->cond_wait_ns, 8 * MS);
		CHECK_EQ_U64(t->lock_wait_ns, 2 * MS);
	}
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}

/*
 * A thread entering a contended synchronized block parks on its event's pthread condvar:
 * a Java monitor (lock contention); LockSupport.park on the Parker's is parking.
 */
void test_runtime_jvm(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct analysis a;
	const struct lock_stat *mon, *park;
	__u64 enter[] = {0x200, 0x210, 0x220}, exit_[] = {0x230, 0x240, 0x250};
	__u64 parkw[] = {0x200, 0x260}, unpark[] = {0x230, 0x270};

	frame(&sd, 0x200, "pthread_cond_wait");
	frame(&sd, 0x210, "os::PlatformEvent::park()");
	frame(&sd, 0x220, "ObjectMonitor::EnterI(JavaThread*)");
	frame(&sd, 0x230, "pthread_cond_signal");
	frame(&sd, 0x240, "os::PlatformEvent::unpark()");
	frame(&sd, 0x250, "ObjectMonitor::ExitEpilog(JavaThread*, ObjectWaiter*)");
	frame(&sd, 0x260, "Parker::park(bool, long)");
	frame(&sd, 0x270, "Parker::unpark()");
	s_session(&rb, 0);
	s_runtime(&rb, 0, TT_RT_JVM, "/usr/lib/jvm/x/lib/server/libjvm.so");
	wait_one(&rb, 1, 0x7f0000001028, 0, 1, 5, enter, 3, 2, exit_, 3);
	wait_one(&rb, 3, 0x7f0000002028, 0, 1, 7, parkw, 2, 2, unpark, 2);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	mon = lock_at(&a, 0x7f0000001028);
	park = lock_at(&a, 0x7f0000002028);
	CHECK(mon && park);
	if (mon && park) {
		CHECK_EQ_U64(mon->kind, LK_MUTEX);
		CHECK(!strcmp(mon->detail, "Java monitor (synchronized)"));
		CHECK_EQ_U64(park->kind, LK_PARK);
		CHECK(!strcmp(park->detail, "Java LockSupport.park"));
	}
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}

static void put32(struct sym_lock *sl, int off, __u32 v)
{
	memcpy(sl->mem + TT_MEMWIN_BEFORE + off, &v, 4);
}

static void put64(struct sym_lock *sl, int off, __u64 v)
{
	memcpy(sl->mem + TT_MEMWIN_BEFORE + off, &v, 8);
}

/*
 * musl (doc/musl-futex.md): a mutex's word is _m_lock at +4 (named after the mutex); a private
 * condvar's waiters wait on a node on their stack (value 2, like a glibc mutex) and are woken
 * by __private_cond_signal; a joiner waits on the thread's detach_state, 56 bytes into its
 * struct pthread, and pthread_exit wakes it.
 */
void test_runtime_musl(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct sym_lock *sl;
	struct analysis a;
	const struct lock_stat *m, *c, *j;
	const struct thread_stat *t;
	__u64 w[] = {0x300}, unlock[] = {0x310}, sig[] = {0x320}, ex[] = {0x330};
	__u64 mutex = 0x40c240, node = 0x7f0000010e44, pt = 0x7f0000020f38;

	frame(&sd, 0x300, "__syscall_cp_c");
	frame(&sd, 0x310, "pthread_mutex_unlock");
	frame(&sd, 0x320, "__private_cond_signal");
	frame(&sd, 0x330, "pthread_exit");
	sl = symdata_add_lock(&sd, mutex + 4);
	sl->name = strdup("pool_lock");
	sl->name_off = 4;
	sl->mem_ok = true;
	put32(sl, -4, 0);	  /* _m_type: normal */
	put32(sl, 0, 0x80000010); /* EBUSY | waiters */
	sl = symdata_add_lock(&sd, node);
	sl->mem_ok = true;
	put32(sl, 0, 2);
	sl = symdata_add_lock(&sd, pt + 56);
	sl->mem_ok = true;
	put32(sl, 0, 2);	       /* DT_JOINABLE */
	put32(sl, -8, 4242);	       /* tid */
	put64(sl, 16, 0x7f0000000000); /* map_base */
	put64(sl, 24, 0x30000);	       /* map_size */
	s_session(&rb, 0);
	s_runtime(&rb, 0, TT_RT_MUSL, "./storm-musl");
	wait_one(&rb, 1, mutex + 4, 0x80000010, 1, 3, w, 1, 2, unlock, 1);
	wait_one(&rb, 1, node, 2, 4, 9, w, 1, 2, sig, 1);
	wait_one(&rb, 1, pt + 56, 2, 10, 15, w, 1, 4242, ex, 1);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	m = lock_at(&a, mutex);
	c = lock_at(&a, node);
	j = lock_at(&a, pt);
	CHECK(m && c && j);
	if (m && c && j) {
		CHECK_EQ_U64(m->kind, LK_MUTEX);
		CHECK(!strcmp(m->name, "pool_lock"));
		CHECK(!m->detail[0]); /* not "robust": musl keeps a tid in every non-normal mutex */
		CHECK_EQ_U64(c->kind, LK_CONDVAR);
		CHECK_EQ_U64(j->kind, LK_JOIN);
		CHECK(!strcmp(j->detail, "thread 4242"));
	}
	t = thread_of(&a, 1);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_U64(t->lock_wait_ns, 2 * MS);
		CHECK_EQ_U64(t->cond_wait_ns, 10 * MS);
	}
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}

/* A stripped musl program names no function: the values waited for and the layouts decide. */
void test_runtime_musl_stripped(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct sym_lock *sl;
	struct analysis a;
	const struct lock_stat *m, *c;
	__u64 mutex = 0x40c240, node = 0x7f0000010e44, unknown[] = {0x400};

	symdata_add_frame(&sd, 0x400, "storm+0x400", NULL);
	sl = symdata_add_lock(&sd, mutex + 4);
	sl->module = symdata_str(&sd, "storm");
	sl->mem_ok = true;
	put32(sl, -4, 0);
	put32(sl, 0, 0x80000010);
	sl = symdata_add_lock(&sd, node);
	sl->mem_ok = true;
	put64(sl, -20, 0);		/* prev */
	put64(sl, -12, 0x7f0000020e30); /* next: another waiter's node */
	put32(sl, -4, 0);		/* WAITING */
	put32(sl, 0, 2);		/* barrier */
	s_session(&rb, 0);
	s_runtime(&rb, 0, TT_RT_MUSL, "./storm-stripped");
	wait_one(&rb, 1, mutex + 4, 0x80000010, 1, 3, unknown, 1, 2, unknown, 1);
	wait_one(&rb, 1, node, 2, 4, 9, unknown, 1, 2, unknown, 1);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	m = lock_at(&a, mutex);
	c = lock_at(&a, node);
	CHECK(m && c);
	if (m && c) {
		CHECK_EQ_U64(m->kind, LK_MUTEX);
		CHECK_EQ_U64(c->kind, LK_CONDVAR);
	}
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}
