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

/*
 * With --holds each lock call in that loop traps into a uprobe that captures a stack: ~30 us
 * of the thread's CPU each (measured: a Semaphore.acquire loop on 3.8 makes 13-14 lock calls
 * between two waits and ran 0.42-0.70 ms, against tens of microseconds untrapped).
 */
#define PY_TRAPPED_CALL_NS 60000ULL

void py_wait_begin(struct work *w, struct thread_work *t, const struct tt_wait_begin *r)
{
	const struct tt_pystack *ps;
	const struct tt_park_key *pk;
	const struct tt_py_objtype *ot;
	struct pyobj_wait in = {0};
	struct pyobj po;
	struct lock_work *l;
	bool found;

	t->cur.key = r->uaddr;
	t->cur.gil_ns = t->st.gil_wait_ns;
	t->cur.cpu_ns = thread_cpu_now(t, r->hdr.ts);
	t->cur.slept_ns = t->st.other_wait_ns;
	t->cur.calls = t->lock_calls;
	if (gil_word(w, r->uaddr)) {
		lock_get(w, r->uaddr)->gil_word = true;
		return;
	}
	ps = (const void *)find_companion(&w->stk, &r->hdr, TT_REC_PYSTACK);
	pk = (const void *)find_companion(&w->stk, &r->hdr, TT_REC_PARK_KEY);
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
	in.free_threaded = w->a->gil.flags & TT_PY_FREE_THREADED;
	if (pk && pk->ok) {
		in.park_key = pk->key;
		in.have_park_key = true;
	}
	ot = (const void *)find_companion(&w->stk, &r->hdr, TT_REC_PY_OBJTYPE);
	if (ot) {
		in.type_obj = ot->obj;
		in.type = ot->type;
	}
	t->cur.py_stw = (__u8)pyobj_stw_role(&in);
	if (!pyobj_classify(&in, &po))
		return;
	l = lock_get(w, po.key);
	l->py_kind = (enum lock_kind)(LK_PY_LOCK + (po.kind - PYOBJ_LOCK));
	if (po.obj)
		lock_py(l)->obj = po.obj;
	if (po.type[0])
		lock_py(l)->type = lock_str(w, po.type, TT_PY_TYPE_LEN);
	if (!lock_py(l)->named && (po.name[0] || po.where[0])) {
		l->py->named = true;
		l->py->name = lock_str(w, po.name, 96);
		l->py->where = lock_str(w, po.where, 160);
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
	if (a->py_loop && b->py_loop) {
		return b->slept_ns == a->slept_ns_end &&
		       b->cpu_ns - a->cpu_ns_end <
			   PY_LOOP_CPU_NS + (b->calls - a->calls_end) * PY_TRAPPED_CALL_NS;
	}
	if ((gap > gil ? gap - gil : 0) >= PY_RETRY_GAP_NS)
		return false;
	if (k == LK_PY_JOIN) /* 3.13+: the thread's exit event, then pthread_join */
		return true;
	if (a->stack != b->stack)
		return false;
	if (k == LK_PY_LOCK || k == LK_PY_RLOCK || k == LK_PY_OBJECT)
		return true;
	return a->addr == b->addr && (a->ret == -E_AGAIN || ret_is_signal(a->ret));
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

/*
 * Stop-the-world pauses of a free-threaded build (Python/pystate.c): the requester parks every
 * other attached thread on its own tstate->state and, once done, unparks them one after the
 * other (start_the_world). A pause is the parked waits its requester ended together: from the
 * first of them to begin (or the requester's first wait for them to park) to the unpark.
 * Threads detached throughout (asleep in a system call) never wait: a pause none waited in is
 * not seen.
 */
#define STW_UNPARK_GAP_NS 2000000ULL
/* a requester's waits for the others to park (1 ms each) older than this are another pause's */
#define STW_REQUEST_MAX_NS 100000000ULL

static void stw_close(struct work *w)
{
	struct analysis *a = w->a;
	struct py_stw_pause *p;
	__u64 *req;

	if (!w->stw_open)
		return;
	w->stw_open = false;
	req = u64_map_get(&w->stw_request_by_tid, w->stw_cur.requester);
	if (req && *req && *req < w->stw_cur.start && w->stw_cur.start - *req < STW_REQUEST_MAX_NS)
		w->stw_cur.start = *req;
	if (req)
		*req = 0;
	if (w->stw_cur.stack != TT_NO_STACK) {
		const struct stack_entry *st = &a->stacks[w->stw_cur.stack];

		w->stw_cur.cause = pyobj_stw_cause(a->sd, st->ips, st->nr_user);
	} else {
		w->stw_cur.cause = "unknown";
	}
	p = VEC_PUSH(a->stw, a->nr_stw, w->cap_stw);
	*p = w->stw_cur;
}

void py_wait_end(struct work *w, struct thread_work *t)
{
	const struct raw_wait *rw = &t->cur;
	bool found;

	if (rw->py_stw == PYSTW_REQUESTER) {
		__u64 *req = u64_map_upsert(&w->stw_request_by_tid, rw->tid, &found);

		if (!found || !*req || rw->begin - *req > STW_REQUEST_MAX_NS)
			*req = rw->begin;
		return;
	}
	if (rw->py_stw != PYSTW_PARKED || rw->cause != WC_THREAD || !rw->waker_tid || rw->waker_pid)
		return;
	if (w->stw_open && w->stw_cur.requester == rw->waker_tid &&
	    rw->wake_ts < w->stw_last_wake + STW_UNPARK_GAP_NS) {
		if (rw->begin < w->stw_cur.start)
			w->stw_cur.start = rw->begin;
		if (rw->wake_ts > w->stw_cur.end)
			w->stw_cur.end = rw->wake_ts;
		w->stw_last_wake = rw->wake_ts;
		w->stw_cur.parked++;
		return;
	}
	stw_close(w);
	w->stw_open = true;
	w->stw_cur = (struct py_stw_pause){.start = rw->begin,
					   .end = rw->wake_ts,
					   .requester = rw->waker_tid,
					   .stack = rw->waker_stack,
					   .parked = 1};
	w->stw_last_wake = rw->wake_ts;
}

static int cmp_stw(const void *a, const void *b)
{
	const struct py_stw_pause *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void py_finish(struct work *w)
{
	stw_close(w);
	sort_array(w->a->stw, w->a->nr_stw, sizeof(*w->a->stw), cmp_stw);
}
