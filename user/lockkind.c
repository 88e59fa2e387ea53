// SPDX-License-Identifier: GPL-2.0
/* lockkind.c - see lockkind.h. Layouts: shared/facts/glibc-futex.md (glibc 2.36, x86_64). */
#include <string.h>
#include "lockkind.h"
#include "threadtrace.h"

const char *lock_kind_name(enum lock_kind k)
{
	static const char *const names[] = {
		[LK_FUTEX] = "futex",	  [LK_MUTEX] = "mutex",		[LK_RWLOCK] = "rwlock",
		[LK_CONDVAR] = "condvar", [LK_SEMAPHORE] = "semaphore", [LK_JOIN] = "join",
		[LK_GIL] = "gil",
	};

	return k < LK__NR ? names[k] : "futex";
}

bool lock_kind_is_contention(enum lock_kind k)
{
	return k == LK_MUTEX || k == LK_RWLOCK || k == LK_FUTEX || k == LK_GIL;
}

void lock_evidence_add_func(struct lock_evidence *ev, const char *func)
{
	if (!func)
		return;
	for (size_t i = 0; i < ev->nr_funcs; i++)
		if (ev->funcs[i] == func || !strcmp(ev->funcs[i], func))
			return;
	if (ev->nr_funcs < LK_MAX_FUNCS)
		ev->funcs[ev->nr_funcs++] = func;
}

static bool any_func(const struct lock_evidence *ev, const char *const *needles)
{
	for (size_t i = 0; i < ev->nr_funcs; i++)
		for (const char *const *n = needles; *n; n++)
			if (strstr(ev->funcs[i], *n))
				return true;
	return false;
}

static __u32 mem_u32(const struct sym_lock *sl, int off)
{
	__u32 v;

	memcpy(&v, sl->mem + TT_MEMWIN_BEFORE + off, 4);
	return v;
}

/* A pthread_cond_t whose __g_signals[g] is the futex word: a waiter is registered in it. */
static bool looks_like_condvar(const struct sym_lock *sl)
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
	static const char *const join_funcs[] = {"pthread_join", "clockjoin", "timedjoin",
						 "tryjoin", NULL};
	static const char *const cond_funcs[] = {"pthread_cond_", "__condvar_", NULL};
	static const char *const rw_funcs[] = {"rwlock", NULL};
	static const char *const sem_funcs[] = {"sem_wait", "sem_timedwait", "sem_clockwait",
						"sem_post", "new_sem", NULL};
	static const char *const internal_funcs[] = {"lll_lock_wait_private",
						     "lll_lock_wake_private", NULL};
	static const char *const mutex_funcs[] = {"__lll_lock_wait", "__lll_lock_wake",
						  "pthread_mutex_", "__pthread_mutex", NULL};
	__u32 pi_cmds = (1u << TT_FUTEX_LOCK_PI) | (1u << TT_FUTEX_LOCK_PI2) |
			(1u << TT_FUTEX_TRYLOCK_PI) | (1u << TT_FUTEX_WAIT_REQUEUE_PI);

	*detail = NULL;
	if (ev->wait_cmds & pi_cmds) {
		*detail = "PI";
		return LK_MUTEX;
	}
	if (ev->exit_wake || any_func(ev, join_funcs))
		return LK_JOIN;
	if (any_func(ev, cond_funcs))
		return LK_CONDVAR;
	if (any_func(ev, rw_funcs))
		return LK_RWLOCK;
	if (any_func(ev, sem_funcs))
		return LK_SEMAPHORE;
	if (any_func(ev, internal_funcs)) {
		*detail = "libc internal";
		return LK_FUTEX;
	}
	if (ev->robust_val) {
		*detail = "robust";
		return LK_MUTEX;
	}
	if (any_func(ev, mutex_funcs) ||
	    (ev->any_wait && ev->all_val2 && ev->wait_cmds == (1u << TT_FUTEX_WAIT))) {
		if (sl && sl->mem_ok && (mem_u32(sl, 16) & 0x10))
			*detail = "robust";
		return LK_MUTEX;
	}
	if (ev->val_is_tid)
		return LK_JOIN;
	if (sl && sl->mem_ok) {
		if (looks_like_condvar(sl))
			return LK_CONDVAR;
		if (looks_like_semaphore(sl))
			return LK_SEMAPHORE;
	}
	return LK_FUTEX;
}
