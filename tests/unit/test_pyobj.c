// SPDX-License-Identifier: GPL-2.0
/* test_pyobj.c - Python synchronisation objects from frames (user/pyobj.c). */
#include <string.h>
#include "check.h"
#include "test_pyobj.h"
#include "pyobj.h"
#include "pyframes.h"
#include "lockkind.h"

void test_pyobj_expr(void)
{
	char e[96];

	CHECK(pyobj_expr("with ledger_lock:", PYOBJ_LOCK, e, sizeof(e)) &&
	      !strcmp(e, "ledger_lock"));
	CHECK(pyobj_expr("  with self.lock as held:  # why", PYOBJ_LOCK, e, sizeof(e)) &&
	      !strcmp(e, "self.lock"));
	CHECK(pyobj_expr("if not self.locks[i].acquire(timeout=1):", PYOBJ_LOCK, e, sizeof(e)) &&
	      !strcmp(e, "self.locks[i]"));
	CHECK(pyobj_expr("item = q.get()", PYOBJ_QUEUE, e, sizeof(e)) && !strcmp(e, "q"));
	CHECK(pyobj_expr("ok = state.ready.wait(0.5)", PYOBJ_CONDITION, e, sizeof(e)) &&
	      !strcmp(e, "state.ready"));
	CHECK(pyobj_expr("pool[n].join()", PYOBJ_JOIN, e, sizeof(e)) && !strcmp(e, "pool[n]"));
	/* no call of the kind's methods: the line itself, and false */
	/* Thread.start waits on the thread's Event: the thread is the expression */
	CHECK(pyobj_expr("for t in ts: t.start()", PYOBJ_EVENT, e, sizeof(e)) && !strcmp(e, "t"));
	CHECK(!pyobj_expr("t.run()", PYOBJ_EVENT, e, sizeof(e)) && !strcmp(e, "t.run()"));
	CHECK(!pyobj_expr(NULL, PYOBJ_LOCK, e, sizeof(e)) && !e[0]);
}

/* A Python frame named as pyframes_note names it, with its source line. */
static void py_frame(struct symdata *sd, struct tt_pyframe *f, __u64 code, __u64 local0,
		     const char *name, const char *func, const char *src)
{
	memset(f, 0, sizeof(*f));
	f->code = code;
	f->local0 = local0;
	symdata_add_frame(sd, pyframe_ip(f), name, func);
	if (src)
		symdata_set_src(sd, pyframe_ip(f), src);
}

void test_pyobj_classify(void)
{
	struct symdata sd = {0};
	struct tt_pyframe py[4];
	__u64 native[3] = {0x1000, 0x2000, 0x3000};
	struct pyobj_wait in = {.sd = &sd, .py = py, .native = native, .nr_native = 3};
	struct pyobj o;

	symdata_add_frame(&sd, 0x1000, "__new_sem_wait_slow64+0x90 (libc.so.6)",
			  "__new_sem_wait_slow64");
	symdata_add_frame(&sd, 0x2000, "_PySemaphore_Wait+0x41 (python3.13)", "_PySemaphore_Wait");
	symdata_add_frame(&sd, 0x3000, "_PyParkingLot_Park+0xe2 (python3.13)",
			  "_PyParkingLot_Park");

	/* Queue.get over Condition.wait: the queue (local0 of Queue.get), named by the caller */
	py_frame(&sd, &py[0], 0xc1, 0xc0d, "Condition.wait (threading.py:359)", "Condition.wait",
		 "waiter.acquire()");
	py_frame(&sd, &py[1], 0xc2, 0x9e0, "Queue.get (queue.py:171)", "Queue.get",
		 "self.not_empty.wait()");
	py_frame(&sd, &py[2], 0xc3, 0, "consumer (app.py:12)", "consumer", "item = jobs.get()");
	in.nr_py = 3;
	in.futex = 0x7ffd0010;
	in.park_key = 0x5000;
	in.have_park_key = true;
	CHECK(pyobj_classify(&in, &o));
	CHECK(o.kind == PYOBJ_QUEUE && o.obj == 0x9e0 && o.key == 0x9e0);
	CHECK(!strcmp(o.name, "jobs") && !strcmp(o.where, "app.py:12"));

	/* a Condition.wait re-taking its lock is the lock's, keyed by the parked PyMutex */
	py_frame(&sd, &py[3], 0xc4, 0xc0d, "Condition.wait (threading.py:369)", "Condition.wait",
		 "self._acquire_restore(saved_state)");
	py[0] = py[3];
	py[1] = py[2];
	in.nr_py = 2;
	CHECK(pyobj_classify(&in, &o));
	CHECK(o.kind == PYOBJ_LOCK && o.parked && o.key == 0x5000);

	/* a bare Lock acquire (no library frame): proved by the parking lot, id() = key - 16 */
	py_frame(&sd, &py[0], 0xc5, 0, "worker (app.py:30)", "worker", "with ledger_lock:");
	in.nr_py = 1;
	CHECK(pyobj_classify(&in, &o));
	CHECK(o.kind == PYOBJ_LOCK && o.key == 0x5000 && o.obj == 0x5000 - 16);
	CHECK(!strcmp(o.name, "ledger_lock"));

	/* no Python lock function in the native stack: not a Python object (a C extension's) */
	in.nr_native = 0;
	CHECK(!pyobj_classify(&in, &o) && o.kind == PYOBJ_NONE);

	/* before 3.11 (no qualified names): "wait" around "wait" is Event.wait */
	py_frame(&sd, &py[0], 0xd1, 0xe1, "wait (threading.py:306)", "wait", "waiter.acquire()");
	py_frame(&sd, &py[1], 0xd2, 0xe2, "wait (threading.py:558)", "wait",
		 "signaled = self._cond.wait(timeout)");
	py_frame(&sd, &py[2], 0xd3, 0, "main (app.py:5)", "main", "go.wait()");
	in.nr_py = 3;
	in.have_park_key = false;
	CHECK(pyobj_classify(&in, &o));
	CHECK(o.kind == PYOBJ_EVENT && o.obj == 0xe2 && !strcmp(o.name, "go"));
	CHECK(!strcmp(lock_kind_name(LK_PY_LOCK + (o.kind - PYOBJ_LOCK)), "python-event") &&
	      !pyobj_kind_is_lock(o.kind));
	symdata_free(&sd);
}

/* Free-threaded builds: an object's own lock, RLock told by type, stop-the-world waits. */
void test_pyobj_freethreaded(void)
{
	struct symdata sd = {0};
	struct tt_pyframe py[1];
	__u64 native[4] = {0x1000, 0x2000, 0x4000, 0x5000};
	struct pyobj_wait in = {.sd = &sd,
				.py = py,
				.nr_py = 1,
				.native = native,
				.nr_native = 3,
				.futex = 0x7ffd0010,
				.have_park_key = true};
	struct pyobj o;
	char e[96];

	CHECK(pyobj_expr("    shared_list.append(n)  # tt:append", PYOBJ_OBJECT, e, sizeof(e)) &&
	      !strcmp(e, "shared_list"));
	CHECK(pyobj_expr("shared_dict[n & 63] = n", PYOBJ_OBJECT, e, sizeof(e)) &&
	      !strcmp(e, "shared_dict"));
	CHECK(pyobj_expr("self.items[k].update(x)", PYOBJ_OBJECT, e, sizeof(e)) &&
	      !strcmp(e, "self.items[k]"));
	CHECK(!pyobj_expr("total += len(x)", PYOBJ_OBJECT, e, sizeof(e)));

	symdata_add_frame(&sd, 0x1000, "__new_sem_wait_slow64+0x90 (libc.so.6)",
			  "__new_sem_wait_slow64");
	symdata_add_frame(&sd, 0x2000, "_PyParkingLot_Park+0xe2 (python3.13t)",
			  "_PyParkingLot_Park");
	symdata_add_frame(&sd, 0x4000, "_PyCriticalSection_BeginSlow+0x40 (python3.13t)",
			  "_PyCriticalSection_BeginSlow");
	symdata_add_frame(&sd, 0x5000, "gc_collect_main.constprop.0+0x90 (python3.13t)",
			  "gc_collect_main.constprop.0");
	py_frame(&sd, &py[0], 0xf1, 0, "appender (pyft.py:35)", "appender",
		 "shared_list.append(n)");

	/* a critical section: the key is ob_mutex (+10), the object id() = key - 10 */
	in.park_key = 0x20000f58a;
	in.type_obj = 0x20000f580;
	in.type = "list";
	CHECK(pyobj_classify(&in, &o));
	CHECK(o.kind == PYOBJ_OBJECT && o.obj == 0x20000f580 && o.key == o.obj && o.parked);
	CHECK(!strcmp(o.type, "list") && !strcmp(o.name, "shared_list") &&
	      !strcmp(o.where, "pyft.py:35") && pyobj_kind_is_lock(o.kind));
	CHECK(!strcmp(lock_kind_name(LK_PY_LOCK + (o.kind - PYOBJ_LOCK)), "python-object-lock"));
	/* a type read for another object is not this one's */
	in.type_obj = 0x1230;
	CHECK(pyobj_classify(&in, &o) && o.kind == PYOBJ_OBJECT && !o.type[0]);
	/* a key 2 mod 8 without a critical section or a type: a plain PyMutex (a Lock) */
	in.nr_native = 2;
	CHECK(pyobj_classify(&in, &o) && o.kind == PYOBJ_LOCK);

	/* a stripped build's RLock: no rlock_acquire, told by its type at key - 16 */
	py_frame(&sd, &py[0], 0xf2, 0, "worker (app.py:9)", "worker", "with table_lock:");
	in.park_key = 0x300010;
	in.type_obj = 0x300000;
	in.type = "_thread.RLock";
	CHECK(pyobj_classify(&in, &o));
	CHECK(o.kind == PYOBJ_RLOCK && o.obj == 0x300000 && !strcmp(o.type, "_thread.RLock") &&
	      !strcmp(o.name, "table_lock"));
	in.type = "_thread.lock";
	CHECK(pyobj_classify(&in, &o) && o.kind == PYOBJ_LOCK && o.obj == 0x300000);
	/* a free-threaded build's Lock (32-byte header) before the analysis knows the build is
	 * one (attached: the lock's first waits precede that record): the object typed is it */
	in.park_key = 0x300020;
	in.free_threaded = false;
	CHECK(pyobj_classify(&in, &o) && o.kind == PYOBJ_LOCK && o.obj == 0x300000);
	in.park_key = 0x300010;

	/* stop-the-world: a thread parked in _PyThreadState_Attach is no object's waiter */
	symdata_add_frame(&sd, 0x4000 + 0x100, "_PyThreadState_Attach+0x80 (python3.13t)",
			  "_PyThreadState_Attach");
	native[2] = 0x4100;
	in.nr_native = 3;
	CHECK(pyobj_stw_role(&in) == PYSTW_PARKED && !pyobj_classify(&in, &o));
	symdata_add_frame(&sd, 0x4200, "stop_the_world+0x80 (python3.13t)", "stop_the_world");
	native[2] = 0x4200;
	CHECK(pyobj_stw_role(&in) == PYSTW_REQUESTER);
	native[2] = 0x4000;
	CHECK(pyobj_stw_role(&in) == PYSTW_NONE);
	CHECK(!strcmp(pyobj_stw_cause(&sd, native, 4), "GC"));
	CHECK(!strcmp(pyobj_stw_cause(&sd, native, 3), "other"));
	symdata_free(&sd);
}
