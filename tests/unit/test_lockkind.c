// SPDX-License-Identifier: GPL-2.0
/*
 * test_lockkind.c - what kind of lock a futex word is: from the futex ops, the words
 * around it and the functions that waited on it.
 */
#include <string.h>
#include <linux/types.h>
#include "check.h"
#include "threadtrace.h"
#include "lockkind.h"
#include "symdata.h"
#include "test_lockkind.h"

void test_classify(void)
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
