// SPDX-License-Identifier: GPL-2.0
/* lockkind.c - see lockkind.h. Layouts: doc/glibc-futex.md (glibc 2.31-2.43, x86_64). */
#include <string.h>
#include "lockkind.h"
#include "threadtrace.h"

const char *lock_kind_name(enum lock_kind k)
{
	static const char *const names[] = {
	    [LK_FUTEX] = "futex",
	    [LK_MUTEX] = "mutex",
	    [LK_RWLOCK] = "rwlock",
	    [LK_CONDVAR] = "condvar",
	    [LK_SEMAPHORE] = "semaphore",
	    [LK_JOIN] = "join",
	    [LK_GIL] = "gil",
	    [LK_PARK] = "park",
	    [LK_PY_LOCK] = "python-lock",
	    [LK_PY_RLOCK] = "python-rlock",
	    [LK_PY_CONDITION] = "python-condition",
	    [LK_PY_EVENT] = "python-event",
	    [LK_PY_SEMAPHORE] = "python-semaphore",
	    [LK_PY_QUEUE] = "python-queue",
	    [LK_PY_BARRIER] = "python-barrier",
	    [LK_PY_JOIN] = "python-join",
	    [LK_PY_OBJECT] = "python-object-lock",
	};

	return k < LK__NR ? names[k] : "futex";
}

bool lock_kind_is_contention(enum lock_kind k)
{
	return k == LK_MUTEX || k == LK_RWLOCK || k == LK_FUTEX || k == LK_GIL || k == LK_PY_LOCK ||
	       k == LK_PY_RLOCK || k == LK_PY_OBJECT;
}

bool lock_kind_is_python(enum lock_kind k)
{
	return k >= LK_PY_LOCK && k <= LK_PY_OBJECT;
}

/* The kind a libc function deals with, or -1. LK_FUTEX stands for glibc-internal locks. */
static int kind_of_func(const char *f)
{
	static const struct {
		const char *needle;
		enum lock_kind kind;
	} table[] = {
	    {"lll_lock_wait_private", LK_FUTEX},
	    {"lll_lock_wake_private", LK_FUTEX},
	    {"__lll_lock_wait", LK_MUTEX},
	    {"__lll_lock_wake", LK_MUTEX},
	    {"pthread_mutex_", LK_MUTEX},
	    {"__pthread_mutex", LK_MUTEX},
	    {"pthread_join", LK_JOIN},
	    {"clockjoin", LK_JOIN},
	    {"timedjoin", LK_JOIN},
	    {"tryjoin", LK_JOIN},
	    {"pthread_cond_", LK_CONDVAR},
	    {"__condvar_", LK_CONDVAR},
	    {"rwlock", LK_RWLOCK},
	    {"sem_wait", LK_SEMAPHORE},
	    {"sem_timedwait", LK_SEMAPHORE},
	    {"sem_clockwait", LK_SEMAPHORE},
	    {"sem_post", LK_SEMAPHORE},
	    {"new_sem", LK_SEMAPHORE},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strstr(f, table[i].needle))
			return table[i].kind;
	/*
	 * Runtimes with futexes of their own (Rust std: <std::sys::sync::condvar::futex::Condvar>::
	 * wait, <...::mutex::futex::Mutex>::lock_contended; its RwLock matched "rwlock" above):
	 * a condvar wait is waiting for work, a contended lock is contention.
	 */
	if (strcasestr(f, "condvar") && strstr(f, "wait"))
		return LK_CONDVAR;
	if (strstr(f, "Mutex") && strstr(f, "lock_contended"))
		return LK_MUTEX;
	return -1;
}

/* pthread_cond_wait, __pthread_cond_timedwait64, pthread_cond_clockwait, ... */
static bool is_cond_wait(const char *f)
{
	const char *c = strstr(f, "pthread_cond_");

	return c && strstr(c, "wait");
}

int lock_stack_kind(const char *const *funcs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int k = funcs[i] ? kind_of_func(funcs[i]) : -1;

		if (k == LK_CONDVAR && is_cond_wait(funcs[i]))
			return k | LK_BY_COND_WAIT;
		if (k >= 0)
			return k;
	}
	return -1;
}

/*
 * Without libc's own symbols (no libc6-dbg: most systems and containers) only its exported
 * functions are named, and the leaf-most named one can be pthread_cond_wait when the wait is
 * the mutex's re-take inside it (__lll_lock_wait, unnamed, below it). glibc's condvar waits on
 * its own words for a signal (value 0, or the group's signals), never for the value 2 of a
 * plain FUTEX_WAIT: that is a lll lock, the mutex. And a cond waiter wakes nobody on the
 * condvar it waits on, only the mutex it releases (or, with symbols, a named __condvar_*).
 */
int lock_vote(int stack_kind, bool waker, __u32 cmd, __u32 val)
{
	if (stack_kind < 0 || !(stack_kind & LK_BY_COND_WAIT))
		return stack_kind;
	if (waker)
		return -1;
	if (cmd == TT_FUTEX_WAIT && val == 2)
		return LK_MUTEX;
	return LK_CONDVAR;
}

bool lock_evidence_add_stack(struct lock_evidence *ev, const char *const *funcs, size_t n)
{
	int k = lock_stack_kind(funcs, n);

	if (k >= 0 && (k & ~LK_BY_COND_WAIT) < LK_VOTE_NR)
		ev->votes[k & ~LK_BY_COND_WAIT]++;
	return k >= 0;
}

static __u32 mem_u32(const struct sym_lock *sl, int off)
{
	__u32 v;

	memcpy(&v, sl->mem + TT_MEMWIN_BEFORE + off, 4);
	return v;
}

enum cond_layout lockkind_cond_layout(unsigned major, unsigned minor)
{
	if (major != 2)
		return COND_LAYOUT_UNKNOWN;
	if (minor >= 41)
		return COND_LAYOUT_241;
	return minor >= 38 ? COND_LAYOUT_EITHER : COND_LAYOUT_G_REFS;
}

bool lockkind_cond_word_off(enum cond_layout layout, __u64 name_off)
{
	bool old = name_off == 40 || name_off == 44, new = name_off == 32 || name_off == 36;

	switch (layout) {
	case COND_LAYOUT_241:
		return new;
	case COND_LAYOUT_EITHER:
		/* +32/+36 of an old condvar are its internal lock and __wrefs: still its words */
		return old || new;
	default:
		return old;
	}
}

static __u64 mem_u64(const struct sym_lock *sl, int off)
{
	return mem_u32(sl, off) | (__u64)mem_u32(sl, off + 4) << 32;
}

/* glibc <= 2.40: __g_signals[g] at +40+4g; a waiter counted in __wrefs (+36) and __g_refs[g]. */
static bool looks_like_old_condvar(const struct sym_lock *sl)
{
	for (int g = 0; g < 2; g++) {
		int base = -40 - 4 * g;
		__u32 wrefs = mem_u32(sl, base + 36);
		__u32 g_refs = mem_u32(sl, base + 16 + 4 * g);

		if (wrefs >= 8 && wrefs < (1u << 20) && g_refs >= 2 && g_refs < (1u << 20))
			return true;
	}
	return false;
}

/*
 * glibc >= 2.41: __g_signals[g] at +32+4g; a waiter counted in __wrefs (+28); the waiter
 * sequence (+0) is never behind G1's start (+8) and, both counting waiters, not far ahead of
 * it (a million waits without a group switch would be missed); +40/+44 are unused (zero).
 */
static bool looks_like_241_condvar(const struct sym_lock *sl)
{
	for (int g = 0; g < 2; g++) {
		int base = -32 - 4 * g;
		__u32 wrefs = mem_u32(sl, base + 28);
		__u64 wseq = mem_u64(sl, base), g1_start = mem_u64(sl, base + 8);

		if (wrefs >= 8 && wrefs < (1u << 20) && wseq >= g1_start &&
		    wseq - g1_start < (1u << 21) && !mem_u32(sl, base + 40) &&
		    !mem_u32(sl, base + 44))
			return true;
	}
	return false;
}

/* A pthread_cond_t whose __g_signals[g] is the futex word: a waiter is registered in it. */
static bool looks_like_condvar(const struct sym_lock *sl, enum cond_layout layout)
{
	switch (layout) {
	case COND_LAYOUT_G_REFS:
		return looks_like_old_condvar(sl);
	case COND_LAYOUT_241:
		return looks_like_241_condvar(sl);
	default:
		return looks_like_old_condvar(sl) || looks_like_241_condvar(sl);
	}
}

/* A sem_t: value 0 with waiters counted in the high word, then the private flag and padding. */
static bool looks_like_semaphore(const struct sym_lock *sl)
{
	__u32 value = mem_u32(sl, 0), nwaiters = mem_u32(sl, 4);
	__u32 priv = mem_u32(sl, 8);

	return value == 0 && nwaiters >= 1 && nwaiters < (1u << 20) && (priv == 0 || priv == 128);
}

enum lock_kind lockkind_classify(const struct lock_evidence *ev, const struct sym_lock *sl,
				 const char **detail)
{
	/* on equal votes the earlier kind wins */
	static const enum lock_kind order[] = {LK_JOIN,	     LK_CONDVAR, LK_PARK, LK_RWLOCK,
					       LK_SEMAPHORE, LK_MUTEX,	 LK_FUTEX};
	__u32 pi_cmds = (1u << TT_FUTEX_LOCK_PI) | (1u << TT_FUTEX_LOCK_PI2) |
			(1u << TT_FUTEX_TRYLOCK_PI) | (1u << TT_FUTEX_WAIT_REQUEUE_PI);
	enum lock_kind best = LK__NR;
	__u64 tally[LK_VOTE_NR];

	*detail = NULL;
	if (ev->wait_cmds & pi_cmds) {
		*detail = "PI";
		return LK_MUTEX;
	}
	memcpy(tally, ev->votes, sizeof(tally));
	/* an exit that woke a waiter of its own tid is one more vote for a join, not a verdict */
	tally[LK_JOIN] += ev->exit_wakes;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (tally[order[i]] && (best == LK__NR || tally[order[i]] > tally[best]))
			best = order[i];
	if (best == LK_FUTEX) {
		*detail = "libc internal";
		return LK_FUTEX;
	}
	if (ev->robust_val || (ev->owner_died && (best == LK__NR || best == LK_MUTEX))) {
		*detail = "robust";
		return LK_MUTEX;
	}
	if (best == LK__NR && ev->any_wait && ev->all_val2 &&
	    ev->wait_cmds == (1u << TT_FUTEX_WAIT))
		best = LK_MUTEX;
	if (best == LK_MUTEX) {
		if (sl && sl->mem_ok && (mem_u32(sl, 16) & 0x10))
			*detail = "robust";
		return LK_MUTEX;
	}
	if (best != LK__NR)
		return best;
	if (ev->val_is_tid)
		return LK_JOIN;
	if (sl && sl->mem_ok) {
		if (looks_like_condvar(sl, ev->cond_layout))
			return LK_CONDVAR;
		if (looks_like_semaphore(sl))
			return LK_SEMAPHORE;
	}
	return LK_FUTEX;
}
