/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockkind.h - what a futex address is (mutex, rwlock, condvar, semaphore, join, plain futex),
 * decided from the ops used on it, the waiters' and wakers' libc frames and glibc's layouts.
 */
#ifndef TT_LOCKKIND_H
#define TT_LOCKKIND_H

#include "util.h"
#include "symdata.h"

enum lock_kind {
	LK_FUTEX = 0,
	LK_MUTEX,
	LK_RWLOCK,
	LK_CONDVAR,
	LK_SEMAPHORE,
	LK_JOIN,
	LK_GIL,
	LK_PARK, /* a runtime parks an idle thread or a waiting one (Go's notesleep, JVM park) */
	/* CPython's synchronisation objects (user/pyobj.h, in the order of enum pyobj_kind) */
	LK_PY_LOCK,
	LK_PY_RLOCK,
	LK_PY_CONDITION,
	LK_PY_EVENT,
	LK_PY_SEMAPHORE,
	LK_PY_BARRIER,
	LK_PY_JOIN,
	LK_PY_QUEUE,
	LK_PY_OBJECT, /* free-threaded: a dict's, list's ... own lock (ob_mutex) */
	LK__NR,
};

/*
 * Where a glibc pthread_cond_t keeps the futex words its waiters sleep on (doc/glibc-futex.md),
 * from the target's glibc version: 2.41 removed __g_refs, and the change was backported to
 * 2.38-2.40 stable updates, so those versions may have either layout.
 */
enum cond_layout {
	COND_LAYOUT_UNKNOWN = 0, /* no libc record (files from before it, non-glibc): try both */
	COND_LAYOUT_G_REFS,	 /* glibc <= 2.37: __g_signals at +40/+44, __g_refs at +16/+20 */
	COND_LAYOUT_241,	 /* glibc >= 2.41: __g_signals at +32/+36, no __g_refs */
	COND_LAYOUT_EITHER,	 /* glibc 2.38-2.40: either, told by the object's memory */
};

/* The layout a glibc version implies (major 0: not glibc). */
enum cond_layout lockkind_cond_layout(unsigned major, unsigned minor);
/* Can a condvar futex word sit name_off bytes into the object under this layout? */
bool lockkind_cond_word_off(enum cond_layout layout, __u64 name_off);

/*
 * The kinds a stack can vote for (libc's and runtimes' functions): a Python object's kind comes
 * from the object, never from votes, and the classifiers read no other.
 */
#define LK_VOTE_NR LK_PY_LOCK

/* What the trace shows about one futex address. */
struct lock_evidence {
	__u32 wait_cmds; /* bit per futex cmd (and 31 for futex2) used to wait on it */
	bool any_wait;
	bool all_val2;	  /* every plain WAIT expected the value 2 (glibc lll lock) */
	bool robust_val;  /* a wait expected TID|FUTEX_WAITERS (robust mutex) */
	bool val_is_tid;  /* a wait expected a thread id of the target (pthread_join) */
	__u64 exit_wakes; /* waiters woken by the exit of the thread whose tid they waited on */
	bool owner_died;  /* a wait ended with FUTEX_OWNER_DIED in the word: a robust mutex */
	__u8 cond_layout; /* enum cond_layout of the glibc the target ran when it was seen */
	/* stacks whose leaf-most libc lock function names a kind; [LK_FUTEX]: libc-internal locks
	 */
	__u64 votes[LK_VOTE_NR];
};

/*
 * Vote with one waiter's or waker's stack, given as function names leaf first (NULL for
 * unknown frames): the leaf-most lock function decides — __lll_lock_wait under
 * pthread_cond_wait is the mutex re-take, not the condvar. Returns true if a frame named a kind.
 */
bool lock_evidence_add_stack(struct lock_evidence *ev, const char *const *funcs, size_t n);
/*
 * The kind such a stack names, or -1; with LK_BY_COND_WAIT when a pthread_cond_*wait frame
 * named it (then lock_vote says what it votes for).
 */
int lock_stack_kind(const char *const *funcs, size_t n);
#define LK_BY_COND_WAIT 0x20
/*
 * What a stack of that kind votes for as a waiter's (its wait's futex cmd and expected value)
 * or a waker's stack: -1 for nothing.
 */
int lock_vote(int stack_kind, bool waker, __u32 cmd, __u32 val);
/* Decide the kind; *detail gets "PI", "robust", "libc internal" or NULL. */
enum lock_kind lockkind_classify(const struct lock_evidence *ev, const struct sym_lock *sl,
				 const char **detail);
const char *lock_kind_name(enum lock_kind k);
/* Lock contention (mutex, rwlock, futex, GIL, Python Lock/RLock) as opposed to waiting for
 * work or an event. */
bool lock_kind_is_contention(enum lock_kind k);
/* A Python object's kind (LK_PY_*). */
bool lock_kind_is_python(enum lock_kind k);

#endif
