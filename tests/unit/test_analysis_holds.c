// SPDX-License-Identifier: GPL-2.0
/*
 * test_analysis_holds.c - --holds: hold intervals from lock calls, who pays for a wait,
 * readers sharing one, and the lock order.
 */
#include <stdlib.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "test_analysis_holds.h"

#define MS     1000000ULL
#define A_LOCK 0x1000ULL

/* --holds: hold intervals, who pays, a failed try-lock, a cond wait, and the lock order. */
void test_holds(void)
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
		/* thread 2 waited 3.1..11.2 ms; thread 1 held it until 11 ms; sites 0x10, 0x20,
		 * 0x22 */
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
void test_holds_readers_share_a_wait(void)
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
