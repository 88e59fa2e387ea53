// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_python.c - CPython's synchronisation objects in the analysis (issues 18, 19): a
 * futex wait of a Python thread is charged to the Python object it waits for (user/pyobj.h),
 * one object per Lock, RLock, Condition, Event, Semaphore, Queue, Barrier or joined Thread,
 * whatever futex words CPython uses underneath (a sem_t per lock, a semaphore per parked
 * waiter on 3.13.1+, a fresh lock per Condition.wait). The GIL's own words stay the GIL's.
 */
#include "analysis_int.h"
#include "pyobj.h"

/*
 * Re-waits of one blocked call are close together: glibc's sem_wait retries at once, a
 * PyMutex waiter woken without the lock (it was taken meanwhile) re-parks once it has the
 * GIL back, so the time it waited for the GIL in between does not count.
 */
#define PY_RETRY_GAP_NS 300000ULL

/*
 * A call that loops around Condition.wait (Semaphore.acquire, Queue.get, Barrier.wait ...)
 * runs between two of its waits only its loop: take the Condition's lock back, test, make a
 * new waiter lock. Tens of microseconds of CPU even on debug builds; more, or a sleep of
 * another kind (time.sleep, I/O), is the thread's own code between two calls.
 */
#define PY_LOOP_CPU_NS 500000ULL

void py_wait_begin(struct work *w, struct thread_work *t, const struct tt_wait_begin *r)
{
	const struct tt_pystack *ps;
	const struct tt_park_key *pk;
	struct pyobj_wait in = {0};
	struct pyobj po;
	struct lock_work *l;
	bool found;

	t->cur.key = r->uaddr;
	t->cur.gil_ns = t->st.gil_wait_ns;
	t->cur.cpu_ns = thread_cpu_now(t, r->hdr.ts);
	t->cur.slept_ns = t->st.other_wait_ns;
	if (gil_word(w, r->uaddr)) {
		lock_get(w, r->uaddr)->gil_word = true;
		return;
	}
	ps = (const void *)find_companion(w, &r->hdr, TT_REC_PYSTACK);
	pk = (const void *)find_companion(w, &r->hdr, TT_REC_PARK_KEY);
	if ((!ps && !pk) || !w->a->sd)
		return;
	in.sd = w->a->sd;
	in.py = ps ? ps->frames : NULL;
	in.nr_py = ps ? ps->nr : 0;
	if (t->cur.stack != TT_NO_STACK) {
		const struct stack_entry *st = &w->a->stacks[t->cur.stack];

		in.native = st->ips;
		in.nr_native = st->nr_user;
	}
	in.futex = r->uaddr;
	if (pk && pk->ok) {
		in.park_key = pk->key;
		in.have_park_key = true;
	}
	if (!pyobj_classify(&in, &po))
		return;
	l = lock_get(w, po.key);
	l->py_kind = (enum lock_kind)(LK_PY_LOCK + (po.kind - PYOBJ_LOCK));
	if (po.obj)
		l->py_obj = po.obj;
	if (!l->py_named && (po.name[0] || po.where[0])) {
		l->py_named = true;
		snprintf(l->py_name, sizeof(l->py_name), "%s", po.name);
		snprintf(l->py_where, sizeof(l->py_where), "%s", po.where);
	}
	if (po.key != r->uaddr)
		lock_get(w, r->uaddr)->py_word = true;
	*u64_map_upsert(&w->py_key_by_word, r->uaddr, &found) = po.key;
	t->cur.key = po.key;
	t->cur.py_loop = po.loop;
}

/*
 * One blocked call made both waits: same place, nothing run between (a looping call: see
 * PY_LOOP_CPU_NS). A Lock's acquire waits
 * again when another thread took the lock first after its wake-up; a wait(), get() or join()
 * waits on a lock of its own (a Condition's waiter lock, a thread's lock or event), which its
 * wake-up hands over: only a wait that came back without a wake-up (EAGAIN, a signal) is
 * waited again in the same call.
 */
bool py_same_acquisition(const struct raw_wait *a, const struct raw_wait *b, enum lock_kind k)
{
	__u64 gap = b->begin > a->end ? b->begin - a->end : 0;
	__u64 gil = b->gil_ns > a->gil_ns_end ? b->gil_ns - a->gil_ns_end : 0;

	/* a looping call's waits (each on a fresh waiter lock, the Condition's lock between)
	 * until its thread is seen leaving it: it released the object (py_released), slept
	 * elsewhere or ran more than the loop does */
	if (a->py_loop && b->py_loop)
		return b->slept_ns == a->slept_ns_end && b->cpu_ns - a->cpu_ns_end < PY_LOOP_CPU_NS;
	if ((gap > gil ? gap - gil : 0) >= PY_RETRY_GAP_NS)
		return false;
	if (k == LK_PY_JOIN) /* 3.13+: the thread's exit event, then pthread_join */
		return true;
	if (a->stack != b->stack)
		return false;
	if (k == LK_PY_LOCK || k == LK_PY_RLOCK)
		return true;
	return a->addr == b->addr && (a->ret == -E_AGAIN || a->ret == -E_INTR);
}

/*
 * Did the thread whose latest wait was last just release that object by waking woken_word?
 * A PyMutex's unlock posts the next waiter's own semaphore, a word whose waits go to the
 * same object.
 */
bool py_released(struct work *w, const struct raw_wait *last, __u64 woken_word)
{
	__u64 *k;

	if (last->key == last->addr)
		return false;
	k = u64_map_get(&w->py_key_by_word, woken_word);
	return k && *k == last->key;
}
