/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pyobj.h - what a CPython thread's futex wait waits for in Python's terms (a threading.Lock,
 * a Condition, a queue.Queue ...): a pure function of the wait's Python frames, native stack
 * and futex word, with the source line of the call that waited (the expression it names).
 */
#ifndef TT_PYOBJ_H
#define TT_PYOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include "symdata.h"
#include "threadtrace.h"

/* The same values as enum tt_pyobj_kind (bpf/threadtrace.h, TT_REC_PYWAIT records). */
enum pyobj_kind {
	PYOBJ_NONE = TT_PYOBJ_UNKNOWN,	      /* not a wait on a Python synchronisation object */
	PYOBJ_LOCK = TT_PYOBJ_LOCK,	      /* threading.Lock, a PyMutex (import lock ...) */
	PYOBJ_RLOCK = TT_PYOBJ_RLOCK,	      /* threading.RLock */
	PYOBJ_CONDITION = TT_PYOBJ_CONDITION, /* Condition.wait / wait_for */
	PYOBJ_EVENT = TT_PYOBJ_EVENT,	      /* Event.wait */
	PYOBJ_SEMAPHORE = TT_PYOBJ_SEMAPHORE, /* Semaphore / BoundedSemaphore.acquire */
	PYOBJ_BARRIER = TT_PYOBJ_BARRIER,     /* Barrier.wait */
	PYOBJ_JOIN = TT_PYOBJ_JOIN,	      /* Thread.join, the interpreter's exit waiting */
	PYOBJ_QUEUE = TT_PYOBJ_QUEUE,	      /* queue.Queue (and subclasses) get / put / join */
	PYOBJ_OBJECT = TT_PYOBJ_OBJECT, /* free-threaded: an object's ob_mutex (critical section) */
	PYOBJ__NR,
};

/* A wait to classify. Everything it needs is in records and symbol data (no /proc). */
struct pyobj_wait {
	const struct symdata *sd;    /* names of Python frames (pyframes_note) and source lines */
	const struct tt_pyframe *py; /* the wait's Python frames, leaf first (local0 read) */
	unsigned nr_py;
	const __u64 *native; /* its user frames, leaf first (Python ones merged in or not) */
	unsigned nr_native;
	__u64 futex;	/* the futex word waited on */
	__u64 park_key; /* the 8 bytes before it, read at the wait (TT_REC_PARK_KEY); 0 */
	bool have_park_key;
	__u64 type_obj;	    /* the object the collector read a type of (TT_REC_PY_OBJTYPE) */
	const char *type;   /* its tp_name ("list", "_thread.RLock"); NULL when none */
	bool free_threaded; /* a free-threaded build: a larger object header */
};

struct pyobj {
	enum pyobj_kind kind;
	__u64 key;     /* the object's identity: every wait on one Python object has this key */
	__u64 obj;     /* the object's address, which is its id(); 0 when not known */
	bool parked;   /* a parking-lot wait (3.13.1+): key is the PyMutex/PyEvent, not the futex */
	bool loop;     /* the call may wait several times (Semaphore.acquire, Queue.get ...) */
	__u64 site_ip; /* the Python frame (pyframe_ip) of the call that waited; 0 when none */
	char name[96]; /* the expression the call names: "ledger_lock", "self.lock", "q"; "" */
	char where[160];	   /* "pyprog.py:120", the site's file and line; "" */
	char type[TT_PY_TYPE_LEN]; /* the object's tp_name when read ("list"); "" */
};

/*
 * Classify a wait. false (out->kind PYOBJ_NONE) when it is not a Python synchronisation
 * object's: no Python frames, or a native wait that no Python lock call proves. The caller
 * leaves out the GIL's own words (they are GIL waiting). Python locks without frames of their
 * own (threading.Lock and RLock are C) are proved by the native stack: a parking-lot function
 * (_PyParkingLot_Park, _PySemaphore_Wait, _PyMutex_LockTimed, PyEvent_WaitTimed) or
 * PyThread_acquire_lock_timed, all exported by every build, stripped ones too.
 */
bool pyobj_classify(const struct pyobj_wait *in, struct pyobj *out);

/* The name of the interpreter's import lock (and of each module's lock, 3.8+). */
#define PYOBJ_IMPORT_LOCK "import lock"

/* Names: records.h's pyobj_kind_name ("lock", "condition" ...); the JSON kinds of the
 * objects (lockkind.h LK_PY_*) are "python-" and that. Lock contention (Lock, RLock) as opposed to
 * waiting for work or an event. */
bool pyobj_kind_is_lock(enum pyobj_kind k);

/*
 * The expression a source line waits on for a kind: "with ledger_lock:" -> "ledger_lock",
 * "if self.lock.acquire(timeout=1):" -> "self.lock", "item = q.get()" -> "q". false when
 * the line names none (out then holds the line, trimmed, or "").
 */
bool pyobj_expr(const char *line, enum pyobj_kind k, char *out, size_t len);

/*
 * A free-threaded build's stop-the-world (Python/pystate.c): the requester waits in
 * stop_the_world for the others to park, each other thread parks on its own tstate->state in
 * _PyThreadState_Attach until start_the_world. PYSTW_NONE for any other wait.
 */
enum pystw_role { PYSTW_NONE, PYSTW_PARKED, PYSTW_REQUESTER };
enum pystw_role pyobj_stw_role(const struct pyobj_wait *in); /* pyobj_classify: false */

/*
 * Why the world was stopped, from the requester's native stack (leaf first): "GC", "trace"
 * (sys.settrace/setprofile), "monitoring" (sys.monitoring, instrumentation), "fork", "GIL"
 * (the GIL switched on or off), "other".
 */
const char *pyobj_stw_cause(const struct symdata *sd, const __u64 *ips, unsigned nr);

/* Is this native function a parking-lot wait (the futex word is a waiter's own semaphore)? */
bool pyobj_parking_func(const char *func);

/*
 * In a parking-lot wait the futex word is the sem_t inside a `struct wait_entry` on the
 * waiter's stack, and the lock it is for is the entry's `addr`, just before the semaphore
 * (Python/parking_lot.c 3.13-3.15: park_arg +0, addr +8, sema +16).
 */
#define PYOBJ_PARK_KEY_BEFORE 8

/*
 * A free-threaded object's ob_mutex: Include/object.h (v3.13.5, Py_GIL_DISABLED) puts ob_tid
 * (8), ob_flags (2), then the PyMutex at +10; objects are 8-aligned, so such a key is 2 mod 8.
 */
#define PYOBJ_OB_MUTEX 10

#endif
