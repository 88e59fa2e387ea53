// SPDX-License-Identifier: GPL-2.0
/* runtime.c - see runtime.h. musl: doc/musl-futex.md; Go and HotSpot: README "Runtimes". */
#include <stdio.h>
#include <string.h>
#include "runtime.h"

void runtime_add(struct runtime_info *ri, const struct tt_runtime *r)
{
	if (r->runtime >= RT__NR || !r->runtime || runtime_has(ri, r->runtime))
		return;
	ri->mask |= 1u << r->runtime;
	ri->rec[r->runtime] = *r;
	ri->rec[r->runtime].version[sizeof(r->version) - 1] = 0;
	ri->rec[r->runtime].path[sizeof(r->path) - 1] = 0;
}

const char *runtime_name(enum tt_runtime_kind k)
{
	switch (k) {
	case TT_RT_MUSL:
		return "musl";
	case TT_RT_GO:
		return "go";
	case TT_RT_JVM:
		return "jvm";
	}
	return "?";
}

const char *runtime_note(enum tt_runtime_kind k)
{
	switch (k) {
	case TT_RT_MUSL:
		return "musl libc: lock kinds from musl's own layouts; its code has no unwind "
		       "tables, so stacks stop at the first musl frame; --holds is not supported";
	case TT_RT_GO:
		return "Go runtime: goroutine lock contention (sync.Mutex, channels) does not "
		       "reach the kernel; see Go's mutex profile (runtime/pprof, -mutexprofile). "
		       "Idle runtime threads parking (runtime.notesleep) are waiting for work";
	case TT_RT_JVM:
		return "JVM: monitor and park waits; each Java thread waits on its own park event, "
		       "so a lock here is a thread's event, not the Java object: synchronized "
		       "entry is 'Java monitor' contention, LockSupport.park (ReentrantLock, "
		       "queues, pools) and Object.wait are waiting";
	}
	return "";
}

struct rt_func {
	unsigned rt;	    /* enum tt_runtime_kind the name belongs to */
	const char *needle; /* a substring of the function name */
	enum lock_kind kind;
	const char *detail;
	bool exact; /* the whole name, not a substring */
};

/*
 * Ordered: the first entry matching a frame decides that frame. Go's runtime.futexsleep is
 * shared by notesleep (an idle M parks) and lock2 (a runtime lock), so only its callers name a
 * kind. HotSpot: ObjectMonitor::EnterI is a thread blocked entering `synchronized`; its wait is
 * Object.wait; Unsafe_Park / Parker::park is LockSupport.park, which ReentrantLock, conditions,
 * queues and idle pool threads all use: parking, not proof of contention; Monitor/PlatformMonitor
 * waits are the VM's own threads (GC, compiler, VM thread) idle.
 */
static const struct rt_func rt_funcs[] = {
    {TT_RT_GO, "runtime.notesleep", LK_PARK, "Go idle thread (notesleep)"},
    {TT_RT_GO, "runtime.notetsleep", LK_PARK, "Go timed park (notetsleep)"},
    {TT_RT_GO, "runtime.lock2", LK_MUTEX, "Go runtime lock"},
    {TT_RT_GO, "runtime.lockWithRank", LK_MUTEX, "Go runtime lock"},
    {TT_RT_JVM, "ObjectMonitor::EnterI", LK_MUTEX, "Java monitor (synchronized)"},
    {TT_RT_JVM, "ObjectMonitor::ReenterI", LK_MUTEX, "Java monitor (synchronized)"},
    {TT_RT_JVM, "ObjectMonitor::enter", LK_MUTEX, "Java monitor (synchronized)"},
    {TT_RT_JVM, "ObjectMonitor::wait", LK_CONDVAR, "Java Object.wait"},
    {TT_RT_JVM, "Unsafe_Park", LK_PARK, "Java LockSupport.park"},
    {TT_RT_JVM, "Parker::park", LK_PARK, "Java LockSupport.park"},
    {TT_RT_JVM, "JavaThread::sleep", LK_PARK, "Java Thread.sleep"},
    {TT_RT_JVM, "Monitor::wait", LK_PARK, "JVM internal wait (Monitor)"},
    {TT_RT_JVM, "PlatformMonitor::wait", LK_PARK, "JVM internal wait (Monitor)"},
    {TT_RT_JVM, "Mutex::lock", LK_MUTEX, "JVM internal lock (Mutex)"},
    /* the wake-ups: a monitor's exit, notify, unpark */
    {TT_RT_JVM, "ObjectMonitor::ExitEpilog", LK_MUTEX, "Java monitor (synchronized)"},
    {TT_RT_JVM, "ObjectMonitor::exit", LK_MUTEX, "Java monitor (synchronized)"},
    {TT_RT_JVM, "ObjectMonitor::INotify", LK_CONDVAR, "Java Object.wait"},
    {TT_RT_JVM, "ObjectMonitor::notify", LK_CONDVAR, "Java Object.wait"},
    {TT_RT_JVM, "Parker::unpark", LK_PARK, "Java LockSupport.park"},
    {TT_RT_JVM, "Unsafe_Unpark", LK_PARK, "Java LockSupport.park"},
    {TT_RT_JVM, "Monitor::notify", LK_PARK, "JVM internal wait (Monitor)"},
    {TT_RT_JVM, "PlatformMonitor::notify", LK_PARK, "JVM internal wait (Monitor)"},
    /* musl (src/thread): the wake-ups name the object's kind, the waits mostly do not */
    {TT_RT_MUSL, "__private_cond_signal", LK_CONDVAR, NULL},
    {TT_RT_MUSL, "pthread_exit", LK_JOIN, NULL},
    {TT_RT_MUSL, "__pthread_exit", LK_JOIN, NULL},
    {TT_RT_MUSL, "__lock", LK_FUTEX, NULL, true},
    {TT_RT_MUSL, "__unlock", LK_FUTEX, NULL, true},
    {TT_RT_MUSL, "__tl_lock", LK_FUTEX, NULL, true},
    {TT_RT_MUSL, "__tl_unlock", LK_FUTEX, NULL, true},
    {TT_RT_MUSL, "__vm_wait", LK_FUTEX, NULL, true},
    {TT_RT_MUSL, "__vm_unlock", LK_FUTEX, NULL, true},
};

/*
 * Go and HotSpot names are their own (runtime.*, C++ classes): they count whether or not the
 * runtime was recorded (an old record file, a JVM found late). musl's names are not unique
 * (pthread_exit exists in glibc too), so they count only on musl.
 */
const char *runtime_func_detail(int func_id)
{
	if (func_id < 0 || func_id >= (int)(sizeof(rt_funcs) / sizeof(rt_funcs[0])))
		return NULL;
	return rt_funcs[func_id].detail;
}

int runtime_stack_kind(unsigned mask, const char *const *funcs, size_t n, int *func_id)
{
	*func_id = -1;
	for (size_t i = 0; i < n; i++) {
		if (!funcs[i])
			continue;
		for (size_t k = 0; k < sizeof(rt_funcs) / sizeof(rt_funcs[0]); k++) {
			const struct rt_func *f = &rt_funcs[k];

			if (f->rt == TT_RT_MUSL && !(mask & (1u << TT_RT_MUSL)))
				continue;
			if (f->exact ? strcmp(funcs[i], f->needle) : !strstr(funcs[i], f->needle))
				continue;
			*func_id = (int)k;
			return f->kind;
		}
	}
	return -1;
}

static bool mem_u32(const struct sym_lock *sl, int off, __u32 *v)
{
	if (!sl || !sl->mem_ok || off < -TT_MEMWIN_BEFORE ||
	    off + 4 > TT_MEMWIN_LEN - TT_MEMWIN_BEFORE)
		return false;
	memcpy(v, sl->mem + TT_MEMWIN_BEFORE + off, 4);
	return true;
}

static bool mem_u64(const struct sym_lock *sl, int off, __u64 *v)
{
	if (!sl || !sl->mem_ok || off < -TT_MEMWIN_BEFORE ||
	    off + 8 > TT_MEMWIN_LEN - TT_MEMWIN_BEFORE)
		return false;
	memcpy(v, sl->mem + TT_MEMWIN_BEFORE + off, 8);
	return true;
}

/* musl 1.2 struct pthread (x86_64): tid at +48, detach_state (the join futex) at +56. */
#define MUSL_PT_DETACH	 56
#define MUSL_PT_TID	 48
#define MUSL_PT_MAP_BASE 72
#define MUSL_PT_MAP_SIZE 80

/*
 * A joiner waits on the joined thread's detach_state; its struct pthread sits at the top of the
 * thread's own mapping: tid, then map_base/map_size enclosing the word itself.
 */
static bool musl_join_word(const struct sym_lock *sl, __u32 *tid)
{
	__u32 state;
	__u64 base, size;
	int d = -MUSL_PT_DETACH;

	if (!mem_u32(sl, d + MUSL_PT_TID, tid) || !mem_u32(sl, 0, &state) ||
	    !mem_u64(sl, d + MUSL_PT_MAP_BASE, &base) || !mem_u64(sl, d + MUSL_PT_MAP_SIZE, &size))
		return false;
	return *tid > 0 && *tid < (1u << 22) && state <= 2 && base && base < sl->addr &&
	       sl->addr < base + size && size < (1ull << 34);
}

/* pthread_mutex_t: _m_type at +0 (type bits 0..15, 128 process-shared), _m_lock at +4. */
static bool musl_mutex_word(const struct sym_lock *sl, __u32 *type)
{
	if (mem_u32(sl, -4, type))
		return !(*type & ~0x8fu);
	*type = 0; /* memory unread: a data symbol whose word is at +4 is as good */
	return sl && sl->name && sl->name_off == 4;
}

/*
 * A private condvar's waiter node (struct waiter {prev, next; state, barrier; notify}) on the
 * waiter's stack, the word being barrier: state WAITING/SIGNALED/LEAVING before it, pointers
 * or NULL around.
 */
static bool musl_cond_node(const struct sym_lock *sl)
{
	__u32 state, barrier;
	__u64 prev, next, notify;

	if (!sl || sl->module || !mem_u32(sl, -4, &state) || !mem_u32(sl, 0, &barrier) ||
	    !mem_u64(sl, -20, &prev) || !mem_u64(sl, -12, &next) || !mem_u64(sl, 4, &notify))
		return false;
	return state <= 2 && barrier <= 2 && (!prev || prev >> 47 == 0) &&
	       (!next || next >> 47 == 0) && (!notify || notify >> 47 == 0) &&
	       (prev || next || state || barrier);
}

enum lock_kind musl_classify(const struct lock_evidence *ev, bool owner_val,
			     const struct sym_lock *sl, const char **detail, char *buf, size_t len,
			     __u64 *off)
{
	static const enum lock_kind order[] = {LK_JOIN,	     LK_CONDVAR, LK_RWLOCK,
					       LK_SEMAPHORE, LK_MUTEX,	 LK_FUTEX};
	__u32 pi_cmds =
	    (1u << TT_FUTEX_LOCK_PI) | (1u << TT_FUTEX_LOCK_PI2) | (1u << TT_FUTEX_TRYLOCK_PI);
	enum lock_kind best = LK__NR;
	__u32 type = 0, tid;

	*detail = NULL;
	*off = 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (ev->votes[order[i]] &&
		    (best == LK__NR || ev->votes[order[i]] > ev->votes[best]))
			best = order[i];
	if (ev->wait_cmds & pi_cmds)
		best = LK_MUTEX;
	/* no function named it: the joined thread's descriptor, or a mutex waited on with
	 * the owner's tid and the waiters bit (non-normal types; normal ones hold EBUSY) */
	if (best == LK__NR && musl_join_word(sl, &tid))
		best = LK_JOIN;
	if (best == LK__NR && (owner_val || ev->robust_val) && musl_mutex_word(sl, &type))
		best = LK_MUTEX;
	if (best == LK__NR && ev->all_val2 && ev->any_wait && musl_cond_node(sl))
		best = LK_CONDVAR;
	switch (best) {
	case LK_MUTEX:
		if (musl_mutex_word(sl, &type)) {
			*off = 4;
			if (ev->wait_cmds & pi_cmds)
				*detail = "PI";
			else if (type & 4)
				*detail = "robust";
		}
		return LK_MUTEX;
	case LK_JOIN:
		if (musl_join_word(sl, &tid)) {
			*off = MUSL_PT_DETACH;
			snprintf(buf, len, "thread %u", tid);
			*detail = buf;
		}
		return LK_JOIN;
	case LK_CONDVAR:
		/* a private condvar's waiters wait on a node on their own stacks; a shared one
		 * on _c_seq (+8) and _c_waiters (+12); +32 is its internal lock */
		if (sl && sl->name &&
		    (sl->name_off == 8 || sl->name_off == 12 || sl->name_off == 32))
			*off = sl->name_off;
		else if (!sl || !sl->name)
			*detail = "waiter node";
		return LK_CONDVAR;
	case LK_FUTEX:
		*detail = "libc internal";
		return LK_FUTEX;
	case LK__NR:
		return LK_FUTEX;
	default:
		return best; /* rwlock and sem_t: the word is at +0 */
	}
}
