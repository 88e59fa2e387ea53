// SPDX-License-Identifier: GPL-2.0
/*
 * analysis.c - see analysis.h. Records are replayed in timestamp order through per-thread state
 * machines; waits become contentions once each address's kind is known.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "analysis.h"
#include "pyframes.h"

#define E_AGAIN 11
#define E_INTR 4
#define E_TIMEDOUT 110

const char *wake_cause_name(enum wake_cause c)
{
	static const char *const names[] = {
		[WC_THREAD] = "thread",	      [WC_EXIT] = "thread exit", [WC_TIMEOUT] = "timeout",
		[WC_SIGNAL] = "signal",	      [WC_NO_SLEEP] = "no sleep (value changed)",
		[WC_OTHER] = "other wake-up", [WC_UNFINISHED] = "still waiting at end",
	};

	return c < WC__NR ? names[c] : "?";
}

enum tstate { TS_UNKNOWN, TS_RUNNING, TS_RUNNABLE, TS_BLOCKED, TS_DONE };

/* --holds: a lock a thread holds, one hold interval, a lock object seen in calls. */
struct held_lock {
	__u64 obj, since;
	__u32 stack, depth;
	bool reader;
};

struct hold_iv {
	__u64 obj, begin, end;
	__u32 tid, stack;
	size_t stat, holder; /* its lock_stat and holder, once built */
};

struct obj_state {
	__u64 obj;
	enum lock_kind kind;
	__u32 writer, readers;
};

#define MAX_GATES 4

/*
 * Lock order: a thread took `to` while holding `from`. gates: the other locks held
 * exclusively every time this order was taken (a "gate" lock serialises the edges it guards:
 * two edges under the same gate can never wait for each other).
 */
struct order_edge {
	__u64 from, to, ts;
	__u32 tid, from_stack, to_stack;
	__u32 nr_gates;
	__u64 gates[MAX_GATES];
};

/* A futex wait by one thread, from its begin to its end. */
struct raw_wait {
	__u32 tid;
	__u64 addr;
	__u64 begin, end;
	__s64 ret;
	__u32 stack;
	__u32 waker_tid;
	__u32 waker_stack;
	__u64 wake_ts;
	enum wake_cause cause;
	char waker_comm[TT_COMM_LEN];
	bool released; /* the waiter woke this address after the wait: its acquisition ended */
};

struct thread_work {
	struct thread_stat st;
	enum tstate state;
	__u64 since;
	__u64 blocked_addr; /* the futex a blocked thread sleeps in, 0 for other blocking */
	/* /proc at attach, for a thread that had no event yet */
	char hint_state;
	__u64 hint_futex;
	__u64 woken_running_ts; /* a wake-up that came while it was still on CPU */
	/* the kernel's totals at its latest switch-out (TT_REC_SWITCH_KSTAT) */
	bool have_kstat;
	__u64 k_run_delay, k_exec_ns;
	/* the open wait */
	bool in_wait;
	struct raw_wait cur;
	size_t last_wait; /* index + 1 into waits of its latest finished wait */
	/* --holds: the lock call in progress (its acquisition is decided at the next call) */
	bool pending;
	__u32 pend_op;
	__u64 pend_obj, pend_cond, pend_ts;
	__u32 pend_stack;
	bool pend_timeout;
	struct held_lock *held; /* what it holds now */
	size_t nr_held, cap_held;
	/* the GIL */
	bool gil_hold, gil_wait;
	__u64 gil_hold_since, gil_wait_since;
};

struct lock_work {
	__u64 addr;
	__u64 canon; /* the object the word belongs to */
	struct lock_evidence ev;
	enum lock_kind kind;
	size_t stat; /* index of its lock_stat */
};

struct blocked_bucket {
	__u32 tid;
	__u64 addr;
	__u64 ns;
};

struct work {
	struct analysis *a;
	struct thread_work *threads;
	size_t nr_threads, cap_threads;
	struct u64_map thread_by_tid;
	struct raw_wait *waits;
	size_t nr_waits, cap_waits;
	struct lock_work *locks;
	size_t nr_locks, cap_locks;
	struct u64_map lock_by_addr;
	struct blocked_bucket *buckets;
	size_t nr_buckets, cap_buckets;
	struct u64_map bucket_by_key;
	struct u64_map stack_by_hash;
	size_t cap_stacks, cap_intervals;
	const struct record_buf *rb;
	struct u64_map unwound; /* hash(tid, ts, parent kind) -> offset + 1 of a TT_REC_UNWOUND */
	struct u64_map unwound_by_fp; /* hash(frame-pointer user stack) -> the latest unwound */
	struct u64_map pystacks; /* hash(tid, ts, parent kind) -> offset + 1 of a TT_REC_PYSTACK */
	size_t cap_deadlocks;
	bool timeline; /* keep intervals, wake edges and wait spans (the Perfetto export) */
	/* --holds */
	struct obj_state *objs;
	size_t nr_objs, cap_objs;
	struct u64_map obj_by_addr;
	struct hold_iv *holds;
	size_t nr_holds, cap_holds;
	struct order_edge *order;
	size_t nr_order, cap_order;
	struct u64_map order_by_key;
	/* the GIL: its holder (0: free), the latest taker, waiters by (tid, stack) */
	__u32 gil_holder, gil_last_taker;
	size_t cap_gil_waiters, cap_gil_spans;
	struct u64_map gil_waiter_by_key;
	union { /* a chosen stack: unwound user frames + the record's kernel frames */
		struct tt_stack st;
		__u8 room[sizeof(struct tt_stack) +
			  (TT_MAX_USTACK + TT_PY_MAX_FRAMES + TT_MAX_KSTACK) * 8];
	} pick;
};

static __u64 unwound_key(__u32 tid, __u64 ts, __u16 kind)
{
	return hash_u64(ts ^ ((__u64)tid << 40) ^ ((__u64)kind << 32));
}

static const struct tt_unwound *find_unwound(struct work *w, const struct tt_rec_hdr *h)
{
	__u64 key = unwound_key(h->tid, h->ts, h->kind);

	for (__u64 *off; (off = u64_map_get(&w->unwound, key)); key++) {
		const struct tt_unwound *u = (const void *)(w->rb->data + *off - 1);

		if (u->hdr.tid == h->tid && u->hdr.ts == h->ts && u->parent_kind == h->kind)
			return u;
	}
	return NULL;
}

static const struct tt_pystack *find_pystack(struct work *w, const struct tt_rec_hdr *h)
{
	__u64 key = unwound_key(h->tid, h->ts, h->kind);

	for (__u64 *off; (off = u64_map_get(&w->pystacks, key)); key++) {
		const struct tt_pystack *p = (const void *)(w->rb->data + *off - 1);

		if (p->hdr.tid == h->tid && p->hdr.ts == h->ts && p->parent_kind == h->kind)
			return p;
	}
	return NULL;
}

static bool is_eval_frame(const struct symdata *sd, __u64 ip)
{
	const struct sym_frame *f = sd ? symdata_frame(sd, ip) : NULL;

	return f && f->func && !strcmp(f->func, "_PyEval_EvalFrameDefault");
}

/*
 * Mixed mode: each _PyEval_EvalFrameDefault frame of the native stack stands for the Python
 * frames its call ran (up to an entry frame); Python frames left over (a native stack cut
 * short, or one without the eval loop's name) go after the native ones, still callers of them.
 */
static const struct tt_stack *merge_python(struct work *w, const struct tt_rec_hdr *h,
					   const struct tt_stack *st)
{
	const struct tt_pystack *ps = find_pystack(w, h);
	__u64 user[TT_MAX_USTACK + TT_PY_MAX_FRAMES];
	struct tt_stack *out = &w->pick.st;
	unsigned n = 0, p = 0, nk = st->nr_kernel;

	if (!ps || !ps->nr)
		return st;
	for (unsigned i = 0; i < st->nr_user && i < TT_MAX_USTACK; i++) {
		if (p < ps->nr && is_eval_frame(w->a->sd, st->ips[i])) {
			do {
				user[n++] = pyframe_ip(&ps->frames[p]);
			} while (!(ps->frames[p++].flags & TT_PYF_ENTRY) && p < ps->nr);
			continue;
		}
		user[n++] = st->ips[i];
	}
	while (p < ps->nr)
		user[n++] = pyframe_ip(&ps->frames[p++]);
	/* st may be out itself: kernel frames move first, to after the longer user part */
	memmove(out->ips + n, st->ips + st->nr_user, (size_t)nk * 8);
	memcpy(out->ips, user, (size_t)n * 8);
	out->flags = st->flags | (ps->flags & TT_STACK_USER_TRUNC);
	out->nr_user = n;
	out->nr_kernel = nk;
	return out;
}

/* What a record's stack is about: its lock word or object, and the kind of record. */
static __u64 site_key(const struct tt_rec_hdr *h)
{
	__u64 obj = 0;

	switch (h->kind) {
	case TT_REC_WAIT_BEGIN:
		obj = ((const struct tt_wait_begin *)h)->uaddr;
		break;
	case TT_REC_WAKING:
		obj = ((const struct tt_waking *)h)->waker_uaddr;
		break;
	case TT_REC_LOCK_CALL:
		obj = ((const struct tt_lock_call *)h)->obj ^ ((const struct tt_lock_call *)h)->op;
		break;
	case TT_REC_GIL:
		obj = ((const struct tt_gil *)h)->op;
		break;
	}
	return hash_u64(obj ^ ((__u64)h->kind << 56));
}

/*
 * The stack of a record: its DWARF-unwound user frames when the collector made them (unless CFI
 * gave no more than the leaf where frame pointers did), with the record's own kernel frames.
 */
static const struct tt_stack *pick_native(struct work *w, const struct tt_rec_hdr *h,
					  const struct tt_stack *fp)
{
	const struct tt_unwound *u = find_unwound(w, h);
	struct tt_stack *st = &w->pick.st;
	__u64 fp_key = hash_bytes(fp->ips, (size_t)fp->nr_user * 8, h->pid) ^ site_key(h);
	bool found;

	/*
	 * Snapshots are rate-limited: a record without one takes the unwound stack of the latest
	 * record with the same frame-pointer stack (the same leaf and frame chain) on the same
	 * object: code without frame pointers (libc, most libpythons) gives short chains that two
	 * call sites can share, a sem_wait and a condvar wait both ending in the same libc leaf.
	 */
	if (u && fp->nr_user)
		*u64_map_upsert(&w->unwound_by_fp, fp_key, &found) = (__u64)((const __u8 *)u -
									     w->rb->data) + 1;
	else if (!u && fp->nr_user) {
		__u64 *off = u64_map_get(&w->unwound_by_fp, fp_key);

		if (off)
			u = (const void *)(w->rb->data + *off - 1);
	}

	if (!u || !u->stack.nr_user || (u->stack.nr_user < 2 && fp->nr_user > u->stack.nr_user))
		return fp;
	st->nr_user = u->stack.nr_user;
	st->nr_kernel = fp->nr_kernel;
	st->flags = (u->stack.flags & (TT_STACK_USER_TRUNC | TT_STACK_USER_FAIL)) |
		    (fp->flags & TT_STACK_KERNEL_FAIL);
	memcpy(st->ips, u->stack.ips, (size_t)st->nr_user * 8);
	memcpy(st->ips + st->nr_user, fp->ips + fp->nr_user, (size_t)st->nr_kernel * 8);
	return st;
}

/* ... with the record's Python frames merged in (CPython targets). */
static const struct tt_stack *pick_stack(struct work *w, const struct tt_rec_hdr *h,
					 const struct tt_stack *fp)
{
	return merge_python(w, h, pick_native(w, h, fp));
}

unsigned hist_bucket(__u64 ns)
{
	__u64 us = ns / 1000;
	unsigned b = 0;

	while (us) {
		b++;
		us >>= 1;
	}
	return b < TT_HIST_BUCKETS ? b : TT_HIST_BUCKETS - 1;
}

static struct thread_work *thread_get(struct work *w, __u32 tid)
{
	bool found;
	__u64 *i = u64_map_upsert(&w->thread_by_tid, tid, &found);
	struct thread_work *t;

	if (found)
		return &w->threads[*i - 1];
	t = VEC_PUSH(w->threads, w->nr_threads, w->cap_threads);
	*i = w->nr_threads;
	t->st.tid = tid;
	t->st.start_ts = w->a->start_ts;
	t->since = w->a->start_ts;
	t->state = TS_UNKNOWN;
	return t;
}

static struct lock_work *lock_get(struct work *w, __u64 addr)
{
	bool found;
	__u64 *i = u64_map_upsert(&w->lock_by_addr, addr, &found);
	struct lock_work *l;

	if (found)
		return &w->locks[*i - 1];
	l = VEC_PUSH(w->locks, w->nr_locks, w->cap_locks);
	*i = w->nr_locks;
	l->addr = addr;
	l->ev.all_val2 = true;
	return l;
}

static __u32 stack_intern(struct work *w, __u32 pid, const struct tt_stack *st)
{
	struct analysis *a = w->a;
	size_t n = (size_t)st->nr_user + st->nr_kernel;
	__u64 h;
	bool found;
	__u64 *slot;
	struct stack_entry *e;

	if (!n)
		return TT_NO_STACK;
	h = hash_bytes(st->ips, n * 8, ((__u64)st->nr_user << 32) ^ pid);
	/* Chain on collision: probe h, h+1, ... until an equal stack or a free slot. */
	for (;; h++) {
		slot = u64_map_upsert(&w->stack_by_hash, h, &found);
		if (!found)
			break;
		e = &a->stacks[*slot - 1];
		if (e->pid == pid && e->nr_user == st->nr_user && e->nr_kernel == st->nr_kernel &&
		    !memcmp(e->ips, st->ips, n * 8)) {
			e->flags |= st->flags;
			return (__u32)(*slot - 1);
		}
	}
	e = VEC_PUSH(a->stacks, a->nr_stacks, w->cap_stacks);
	e->pid = pid;
	e->nr_user = st->nr_user;
	e->nr_kernel = st->nr_kernel;
	e->flags = st->flags;
	e->ips = xcalloc(n, 8);
	memcpy(e->ips, st->ips, n * 8);
	*slot = a->nr_stacks;
	if (st->flags & TT_STACK_USER_TRUNC)
		a->truncated_stacks++;
	return (__u32)(a->nr_stacks - 1);
}

static void add_blocked(struct work *w, __u32 tid, __u64 addr, __u64 ns)
{
	bool found;
	__u64 key = hash_u64(addr) ^ tid;
	__u64 *slot;
	struct blocked_bucket *b;

	for (;; key++) {
		slot = u64_map_upsert(&w->bucket_by_key, key, &found);
		if (!found)
			break;
		b = &w->buckets[*slot - 1];
		if (b->tid == tid && b->addr == addr) {
			b->ns += ns;
			return;
		}
	}
	b = VEC_PUSH(w->buckets, w->nr_buckets, w->cap_buckets);
	b->tid = tid;
	b->addr = addr;
	b->ns = ns;
	*slot = w->nr_buckets;
}

/* Charge the time since t->since to t's current state, and keep it on the timeline. */
static void account(struct work *w, struct thread_work *t, __u64 ts)
{
	__u64 d = ts > t->since ? ts - t->since : 0;

	if (d && w->timeline && t->state != TS_UNKNOWN && t->state != TS_DONE) {
		struct interval *iv = VEC_PUSH(w->a->intervals, w->a->nr_intervals, w->cap_intervals);

		iv->tid = t->st.tid;
		iv->begin = t->since;
		iv->end = ts;
		iv->state = t->state == TS_RUNNING ? TSK_RUNNING : t->state == TS_RUNNABLE
			? TSK_RUNNABLE : t->blocked_addr ? TSK_FUTEX : TSK_OTHER;
		iv->addr = t->state == TS_BLOCKED ? t->blocked_addr : 0;
	}

	switch (t->state) {
	case TS_RUNNING:
		t->st.on_cpu_ns += d;
		if (t->gil_hold)
			t->st.gil_cpu_ns += d;
		break;
	case TS_RUNNABLE:
		t->st.runnable_ns += d;
		break;
	case TS_BLOCKED:
		if (t->blocked_addr)
			add_blocked(w, t->st.tid, t->blocked_addr, d);
		else
			t->st.other_wait_ns += d;
		break;
	case TS_UNKNOWN:
	case TS_DONE:
		break;
	}
	if (ts > t->since)
		t->since = ts;
}

/* The first event of a thread present at attach tells what it was doing since the start. */
static void settle_unknown(struct work *w, struct thread_work *t, enum tstate prior, __u64 ts)
{
	if (t->state != TS_UNKNOWN)
		return;
	t->state = prior;
	t->blocked_addr = prior == TS_BLOCKED ? t->hint_futex : 0;
	account(w, t, ts);
}

/*
 * A wake-up that lands while a thread is inside schedule() on its way to sleep comes before
 * the switch-out, whose prev_state still says asleep; the kernel leaves the thread queued, so
 * it is runnable, not blocked. A sleep state right after such a wake-up is that race.
 */
#define WAKE_RACE_NS 20000ULL

static void set_state(struct work *w, struct thread_work *t, enum tstate s, __u64 ts)
{
	account(w, t, ts);
	t->state = s;
}

static void note_wait_evidence(struct work *w, struct lock_work *l, const struct tt_wait_begin *r)
{
	/* futex(2) ops are 0..13; bit 31 stands for futex2 and waitv, bit 30 for anything else */
	__u32 cmd = r->op >= TT_FUTEX2_WAITV ? 31 : (r->op & TT_FUTEX_CMD_MASK);

	if (cmd > 31)
		cmd = 30;

	l->ev.any_wait = true;
	l->ev.wait_cmds |= 1u << cmd;
	if (cmd == TT_FUTEX_WAIT && r->val != 2)
		l->ev.all_val2 = false;
	if (cmd != TT_FUTEX_WAIT)
		l->ev.all_val2 = false;
	if ((r->val & 0x80000000u) && (r->val & 0x3fffffffu) &&
	    u64_map_get(&w->thread_by_tid, r->val & 0x3fffffffu))
		l->ev.robust_val = true;
	if (r->val && r->val != r->hdr.tid && u64_map_get(&w->thread_by_tid, r->val))
		l->ev.val_is_tid = true;
}

/* A stack's user frames as function names, leaf first: classification evidence. */
static void note_stack_funcs(struct work *w, struct lock_work *l, __u32 stack)
{
	const char *funcs[TT_MAX_USTACK];
	const struct stack_entry *e;
	unsigned n = 0;

	if (stack == TT_NO_STACK || !w->a->sd)
		return;
	e = &w->a->stacks[stack];
	for (unsigned i = 0; i < e->nr_user && i < TT_MAX_USTACK; i++) {
		const struct sym_frame *f = symdata_frame(w->a->sd, e->ips[i]);

		funcs[n++] = f ? f->func : NULL;
	}
	lock_evidence_add_stack(&l->ev, funcs, n);
}

static void finish_wait(struct work *w, struct thread_work *t, __u64 ts, __s64 ret)
{
	struct raw_wait *rw;

	t->cur.end = ts;
	t->cur.ret = ret;
	if (ret == -E_TIMEDOUT)
		t->cur.cause = WC_TIMEOUT;
	else if (ret == -E_INTR)
		t->cur.cause = WC_SIGNAL;
	else if (ret == -E_AGAIN && t->cur.cause == WC_OTHER && !t->cur.waker_tid)
		t->cur.cause = WC_NO_SLEEP;
	rw = VEC_PUSH(w->waits, w->nr_waits, w->cap_waits);
	*rw = t->cur;
	t->last_wait = w->nr_waits;
	t->in_wait = false;
}

static void gil_note_wait(struct work *w, struct thread_work *t, __u64 uaddr, __u64 ts);

static void on_wait_begin(struct work *w, const struct tt_wait_begin *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);
	struct lock_work *l = lock_get(w, r->uaddr);

	/* a wait in progress at attach: the thread has been asleep in it since the start */
	settle_unknown(w, t, t->hint_futex == r->uaddr ? TS_BLOCKED : TS_RUNNING, r->hdr.ts);
	if (t->in_wait) /* its end was lost: keep what is known, as unfinished */
		finish_wait(w, t, r->hdr.ts, 0);
	memset(&t->cur, 0, sizeof(t->cur));
	t->in_wait = true;
	t->cur.tid = r->hdr.tid;
	t->cur.addr = r->uaddr;
	t->cur.begin = r->hdr.ts;
	t->cur.cause = WC_OTHER;
	t->cur.waker_stack = TT_NO_STACK;
	t->cur.stack = stack_intern(w, r->hdr.pid, pick_stack(w, &r->hdr, &r->stack));
	note_wait_evidence(w, l, r);
	note_stack_funcs(w, l, t->cur.stack);
	gil_note_wait(w, t, r->uaddr, r->hdr.ts);
}

static void hold_wait_end(struct work *w, struct thread_work *t, const struct tt_wait_end *r);

static void on_wait_end(struct work *w, const struct tt_wait_end *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	settle_unknown(w, t, TS_RUNNING, r->hdr.ts);
	if (t->in_wait && t->cur.addr == r->uaddr)
		finish_wait(w, t, r->hdr.ts, r->ret);
	hold_wait_end(w, t, r);
}

static void on_wake_op(struct work *w, const struct tt_wake_op *r)
{
	struct thread_work *t;
	struct raw_wait *last;

	if (w->a->tid_filter && r->hdr.tid != w->a->tid_filter &&
	    !u64_map_get(&w->thread_by_tid, r->hdr.tid))
		return;
	t = thread_get(w, r->hdr.tid);
	settle_unknown(w, t, TS_RUNNING, r->hdr.ts);
	if (!t->last_wait)
		return;
	last = &w->waits[t->last_wait - 1];
	if (last->addr == r->uaddr || (r->uaddr2 && last->addr == r->uaddr2))
		last->released = true;
}

static void on_waking(struct work *w, const struct tt_waking *r)
{
	struct thread_work *t = thread_get(w, r->wakee_tid);
	__u64 ts = r->hdr.ts;

	settle_unknown(w, t, TS_BLOCKED, ts);
	if (t->state == TS_BLOCKED)
		set_state(w, t, TS_RUNNABLE, ts);
	else if (t->state == TS_RUNNING)
		t->woken_running_ts = ts;
	if (!t->in_wait || !r->wakee_uaddr || t->cur.addr != r->wakee_uaddr)
		return;
	/* The first futex or exit wake names the waker; a later "other" wake does not undo it. */
	if (r->reason == TT_WAKE_FUTEX || r->reason == TT_WAKE_EXIT) {
		if (t->cur.cause == WC_THREAD || t->cur.cause == WC_EXIT)
			return;
		t->cur.cause = r->reason == TT_WAKE_FUTEX ? WC_THREAD : WC_EXIT;
		t->cur.waker_tid = r->hdr.tid;
		memcpy(t->cur.waker_comm, r->waker_comm, TT_COMM_LEN);
		t->cur.waker_stack = stack_intern(w, r->hdr.pid, pick_stack(w, &r->hdr, &r->stack));
		t->cur.wake_ts = ts;
		if (r->reason == TT_WAKE_EXIT)
			lock_get(w, t->cur.addr)->ev.exit_wake = true;
		else
			note_stack_funcs(w, lock_get(w, t->cur.addr), t->cur.waker_stack);
	}
}

/*
 * A switch-out of a thread whose switch-in was never traced (the kernel fires no sched_switch
 * for some switch-ins: from idle, from some tasks; see tt_switch_kstat). With the kernel's
 * totals the stint is placed exactly: since the thread's last switch-out it sat queued for the
 * growth of run_delay and ran for the growth of sum_exec_runtime. Without them (older record
 * files, a first switch-out) the time since the wake-up is counted as running, as before.
 */
static void infer_switch_in(struct work *w, struct thread_work *t, __u64 ts,
			    const struct tt_switch_kstat *k)
{
	w->a->inferred_switch_ins++;
	if (k && t->have_kstat && k->prev_run_delay >= t->k_run_delay &&
	    k->prev_exec_ns >= t->k_exec_ns && ts > t->since) {
		__u64 span = ts - t->since, queued = k->prev_run_delay - t->k_run_delay;
		__u64 ran = k->prev_exec_ns - t->k_exec_ns, in;

		if (t->state == TS_RUNNABLE) {
			in = t->since + (queued < span ? queued : span);
		} else {
			/* its wake-up was not seen either: it ran last, queued before that */
			in = ts - (ran < span ? ran : span);
			set_state(w, t, TS_RUNNABLE,
				  in - (queued < in - t->since ? queued : in - t->since));
		}
		set_state(w, t, TS_RUNNING, in);
		return;
	}
	if (t->state == TS_BLOCKED)
		account(w, t, ts);
	t->state = TS_RUNNING;
}

static void on_switch(struct work *w, const struct tt_switch *r, const struct tt_switch_kstat *k)
{
	__u64 ts = r->hdr.ts;
	struct analysis *a = w->a;

	if (r->hdr.pid == a->pid && (!a->tid_filter || r->hdr.tid == a->tid_filter)) {
		struct thread_work *t = thread_get(w, r->hdr.tid);

		memcpy(t->st.name, r->prev_comm, TT_COMM_LEN);
		settle_unknown(w, t, TS_RUNNING, ts);
		/* switched out, so it ran, though its switch-in never reached us */
		if (t->state == TS_RUNNABLE || t->state == TS_BLOCKED)
			infer_switch_in(w, t, ts, k);
		if (k) {
			t->have_kstat = true;
			t->k_run_delay = k->prev_run_delay;
			t->k_exec_ns = k->prev_exec_ns;
		}
		if (t->state != TS_DONE) {
			account(w, t, ts);
			if (t->st.exited || (r->prev_state & (TT_TASK_DEAD | 0x10 | 0x20))) {
				t->state = TS_DONE;
				t->st.end_ts = ts;
			} else if (r->preempt || r->prev_state == TT_TASK_RUNNING ||
				   (t->woken_running_ts && ts - t->woken_running_ts < WAKE_RACE_NS)) {
				/* a wake-up racing with the switch: the kernel keeps it queued */
				t->state = TS_RUNNABLE;
				t->st.involuntary_switches++;
			} else {
				t->state = TS_BLOCKED;
				t->st.voluntary_switches++;
				t->blocked_addr = t->in_wait ? t->cur.addr : 0;
			}
		}
	}
	if (r->next_pid == a->pid && (!a->tid_filter || r->next_tid == a->tid_filter)) {
		struct thread_work *t = thread_get(w, r->next_tid);

		memcpy(t->st.name, r->next_comm, TT_COMM_LEN);
		settle_unknown(w, t, TS_RUNNABLE, ts);
		t->woken_running_ts = 0;
		if (t->state != TS_DONE)
			set_state(w, t, TS_RUNNING, ts);
	}
}

/* --- CPython's GIL ----------------------------------------------------------------------- */

#define GIL_SPAN 208 /* struct _gil_runtime_state: its futex words (cond, mutex, switch_*) */

static void on_python(struct work *w, const struct tt_python *r)
{
	struct gil_stat *g = &w->a->gil;

	if (g->present || (r->flags & TT_PY_GIL_DISABLED))
		return;
	g->present = true;
	g->hexversion = r->hexversion;
	g->flags = r->flags;
	g->interval_us = r->interval_us;
	g->sites_take = r->sites_take;
	g->sites_drop = r->sites_drop;
	g->gil = r->gil;
	g->start_ts = r->hdr.ts;
	memcpy(g->path, r->path, sizeof(g->path));
	g->path[sizeof(g->path) - 1] = 0;
	w->gil_last_taker = r->holder_tid;
	if ((r->flags & TT_PY_HELD) && r->holder_tid) {
		struct thread_work *t = thread_get(w, r->holder_tid);

		t->gil_hold = true;
		t->gil_hold_since = r->hdr.ts;
		t->st.python = true;
		w->gil_holder = r->holder_tid;
	}
}

static void gil_span(struct work *w, __u32 tid, bool wait, __u64 begin, __u64 end)
{
	struct gil_stat *g = &w->a->gil;

	if (w->timeline && end > begin)
		*VEC_PUSH(g->spans, g->nr_spans, w->cap_gil_spans) =
			(struct gil_span){tid, wait, begin, end};
}

static void gil_end_hold(struct work *w, struct thread_work *t, __u64 ts)
{
	__u64 d = ts > t->gil_hold_since ? ts - t->gil_hold_since : 0;

	gil_span(w, t->st.tid, false, t->gil_hold_since, ts);
	account(w, t, ts); /* on-CPU time before this is with the GIL */
	t->gil_hold = false;
	t->st.gil_hold_ns += d;
	w->a->gil.hold_ns += d;
	if (w->gil_holder == t->st.tid)
		w->gil_holder = 0;
}

static void gil_add_waiter(struct work *w, __u32 tid, __u32 stack, __u64 d)
{
	struct gil_stat *g = &w->a->gil;
	bool found;
	__u64 *i = u64_map_upsert(&w->gil_waiter_by_key, (__u64)tid << 32 | stack, &found);
	struct gil_waiter *gw;

	if (!found) {
		gw = VEC_PUSH(g->waiters, g->nr_waiters, w->cap_gil_waiters);
		gw->tid = tid;
		gw->stack = stack;
		*i = g->nr_waiters;
	}
	gw = &g->waiters[*i - 1];
	gw->count++;
	gw->wait_ns += d;
	if (d > gw->max_wait_ns)
		gw->max_wait_ns = d;
}

/* A futex wait on the GIL's words by a thread that does not hold it: waiting for the GIL. */
static void gil_note_wait(struct work *w, struct thread_work *t, __u64 uaddr, __u64 ts)
{
	const struct gil_stat *g = &w->a->gil;

	if (!g->present || uaddr < g->gil || uaddr >= g->gil + GIL_SPAN || t->gil_hold ||
	    t->gil_wait)
		return;
	t->gil_wait = true;
	t->gil_wait_since = ts;
	t->st.python = true;
}

static void on_gil(struct work *w, const struct tt_gil *r)
{
	struct gil_stat *g = &w->a->gil;
	struct thread_work *t;
	__u64 ts = r->hdr.ts;

	if (!g->present || r->gil != g->gil)
		return;
	if (w->a->tid_filter && r->hdr.tid != w->a->tid_filter)
		return;
	t = thread_get(w, r->hdr.tid);
	settle_unknown(w, t, TS_RUNNING, ts);
	t->st.python = true;
	if (!g->switch_seen)
		g->switch_first = r->switch_number;
	g->switch_seen = true;
	g->switch_last = r->switch_number;
	if (r->op == TT_GIL_TAKE) {
		g->takes++;
		t->st.gil_takes++;
		if (w->gil_holder && w->gil_holder != t->st.tid) /* its drop was not seen */
			gil_end_hold(w, thread_get(w, w->gil_holder), ts);
		if (t->gil_wait) {
			__u64 d = ts - t->gil_wait_since;
			__u32 stack = stack_intern(w, r->hdr.pid, pick_stack(w, &r->hdr, &r->stack));

			t->gil_wait = false;
			t->st.gil_wait_ns += d;
			t->st.gil_waits++;
			gil_span(w, t->st.tid, true, t->gil_wait_since, ts);
			gil_add_waiter(w, t->st.tid, stack, d);
		}
		if (w->gil_last_taker && w->gil_last_taker != t->st.tid)
			g->switches++;
		w->gil_last_taker = t->st.tid;
		if (!t->gil_hold) {
			account(w, t, ts); /* on-CPU time before this is without the GIL */
			t->gil_hold = true;
			t->gil_hold_since = ts;
		}
		w->gil_holder = t->st.tid;
	} else {
		g->drops++;
		if (r->flags & TT_GIL_FORCED) {
			g->forced_drops++;
			t->st.gil_forced_drops++;
		}
		if (t->gil_hold)
			gil_end_hold(w, t, ts);
	}
}

static int gil_waiter_cmp(const void *a, const void *b)
{
	const struct gil_waiter *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns < y->wait_ns ? 1 : -1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int gil_span_cmp(const void *a, const void *b)
{
	const struct gil_span *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return (int)x->wait - (int)y->wait;
}

/* Holds and waits still open at the end count up to it. */
static void close_gil(struct work *w)
{
	struct gil_stat *g = &w->a->gil;

	if (!g->present)
		return;
	for (size_t i = 0; i < w->nr_threads; i++) {
		struct thread_work *t = &w->threads[i];
		__u64 end = t->state == TS_DONE ? t->st.end_ts : w->a->end_ts;

		if (t->gil_hold) {
			__u64 d = end > t->gil_hold_since ? end - t->gil_hold_since : 0;

			t->st.gil_hold_ns += d;
			g->hold_ns += d;
			t->gil_hold = false;
			gil_span(w, t->st.tid, false, t->gil_hold_since, end);
		}
		if (t->gil_wait && end > t->gil_wait_since) {
			t->st.gil_wait_ns += end - t->gil_wait_since;
			t->gil_wait = false;
			gil_span(w, t->st.tid, true, t->gil_wait_since, end);
		}
	}
	if (g->nr_waiters)
		qsort(g->waiters, g->nr_waiters, sizeof(*g->waiters), gil_waiter_cmp);
	sort_array(g->spans, g->nr_spans, sizeof(*g->spans), gil_span_cmp);
	/*
	 * The convoy effect: a thread that holds the GIL only briefly (it does I/O) but waits
	 * about a switch interval each time it wants it back, behind a CPU-bound holder.
	 */
	for (size_t i = 0; i < w->nr_threads; i++) {
		struct thread_stat *st = &w->threads[i].st;
		__u64 interval = (__u64)g->interval_us * 1000;

		st->gil_convoy = st->gil_waits >= 10 && st->gil_takes &&
				 st->gil_wait_ns / st->gil_waits >= interval / 2 &&
				 st->gil_hold_ns / st->gil_takes < interval / 2;
	}
}

static void on_new_thread(struct work *w, const struct tt_new_thread *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	t->st.start_ts = r->hdr.ts;
	t->since = r->hdr.ts;
	t->st.created = true;
	t->state = TS_RUNNABLE;
	memcpy(t->st.name, r->comm, TT_COMM_LEN);
}

static void on_thread_exit(struct work *w, const struct tt_exit *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	settle_unknown(w, t, TS_RUNNING, r->hdr.ts);
	t->pending = false;
	t->st.exited = true;
	memcpy(t->st.name, r->comm, TT_COMM_LEN);
	if (r->hdr.tid == w->a->pid)
		w->a->target_exited = true;
}

static void on_deadlock(struct work *w, const struct tt_deadlock *r)
{
	struct deadlock_stat *d = VEC_PUSH(w->a->deadlocks, w->a->nr_deadlocks, w->cap_deadlocks);

	d->ts = r->hdr.ts;
	d->nr = r->nr;
	for (unsigned i = 0; i < r->nr && i < TT_MAX_CYCLE; i++) {
		struct thread_work *t = thread_get(w, r->links[i].tid);

		d->links[i].tid = r->links[i].tid;
		d->links[i].owner = r->links[i].owner;
		d->links[i].addr = r->links[i].addr;
		d->links[i].stack = t->in_wait && t->cur.addr == r->links[i].addr ? t->cur.stack
										   : TT_NO_STACK;
		memcpy(d->links[i].comm, t->st.name, TT_COMM_LEN);
	}
}

static void on_thread_info(struct work *w, const struct tt_thread_info *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	if (!t->st.name[0])
		memcpy(t->st.name, r->comm, TT_COMM_LEN);
	if (t->state != TS_UNKNOWN)
		return;
	t->hint_state = r->state;
	t->hint_futex = r->in_futex_wait ? r->futex_uaddr : 0;
	if (t->hint_futex)
		lock_get(w, t->hint_futex);
}

/* --holds ------------------------------------------------------------------------------- */

static struct obj_state *obj_get(struct work *w, __u64 obj, enum lock_kind kind)
{
	bool found;
	__u64 *i = u64_map_upsert(&w->obj_by_addr, obj, &found);
	struct obj_state *o;

	if (found) {
		o = &w->objs[*i - 1];
		if (kind == LK_CONDVAR || kind == LK_RWLOCK || kind == LK_SEMAPHORE ||
		    o->kind == LK_FUTEX)
			o->kind = kind; /* a mutex seen only as a condvar's partner may be reused */
		return o;
	}
	o = VEC_PUSH(w->objs, w->nr_objs, w->cap_objs);
	*i = w->nr_objs;
	o->obj = obj;
	o->kind = kind;
	return o;
}

/* Bytes of a glibc object whose futex words belong to it (glibc-futex.md). */
static __u64 object_span(enum lock_kind k)
{
	switch (k) {
	case LK_RWLOCK:
		return 56;
	case LK_CONDVAR:
		return 48;
	default:
		return 4; /* mutex and semaphore: the word at the start */
	}
}

static bool word_in(__u64 word, __u64 obj, enum lock_kind k)
{
	return word >= obj && word < obj + object_span(k);
}

/* The object seen in lock calls that futex word belongs to, or NULL. */
static const struct obj_state *object_of_word(struct work *w, __u64 word)
{
	for (__u64 off = 0; off < 56 && off <= word; off += 4) {
		__u64 *i = u64_map_get(&w->obj_by_addr, word - off);

		if (i && word_in(word, w->objs[*i - 1].obj, w->objs[*i - 1].kind))
			return &w->objs[*i - 1];
	}
	return NULL;
}

static bool is_read_op(__u32 op)
{
	return op == TT_LOP_RW_RDLOCK || op == TT_LOP_RW_TRYRDLOCK || op == TT_LOP_RW_TIMEDRDLOCK;
}

static bool held_exclusively(const struct thread_work *t, __u64 obj)
{
	for (size_t i = 0; i < t->nr_held; i++)
		if (t->held[i].obj == obj)
			return !t->held[i].reader;
	return false;
}

static void add_order_edge(struct work *w, const struct thread_work *t,
			   const struct held_lock *from, __u64 to, __u32 to_stack, __u64 ts)
{
	__u64 key = hash_u64(from->obj) ^ hash_u64(to + 1);
	bool found;
	__u64 *slot;
	struct order_edge *e;

	for (;; key++) {
		slot = u64_map_upsert(&w->order_by_key, key, &found);
		if (!found)
			break;
		e = &w->order[*slot - 1];
		if (e->from == from->obj && e->to == to) {
			/* the first time this order was seen stands for all; its gates are those
			 * held every time */
			for (unsigned g = 0; g < e->nr_gates; g++)
				if (!held_exclusively(t, e->gates[g]))
					e->gates[g--] = e->gates[--e->nr_gates];
			return;
		}
	}
	e = VEC_PUSH(w->order, w->nr_order, w->cap_order);
	*slot = w->nr_order;
	*e = (struct order_edge){from->obj, to, ts, t->st.tid, from->stack, to_stack};
	for (size_t i = 0; i < t->nr_held && e->nr_gates < MAX_GATES; i++)
		if (t->held[i].obj != from->obj && !t->held[i].reader)
			e->gates[e->nr_gates++] = t->held[i].obj;
}

static void hold_acquire(struct work *w, struct thread_work *t, __u64 obj, bool reader, __u64 ts,
			 __u32 stack)
{
	struct obj_state *o = obj_get(w, obj, LK_FUTEX);
	struct held_lock *h;

	for (size_t i = 0; i < t->nr_held; i++)
		if (t->held[i].obj == obj) { /* recursive mutex, or a read lock taken twice */
			t->held[i].depth++;
			return;
		}
	for (size_t i = 0; i < t->nr_held; i++)
		add_order_edge(w, t, &t->held[i], obj, stack, ts);
	h = VEC_PUSH(t->held, t->nr_held, t->cap_held);
	*h = (struct held_lock){obj, ts, stack, 1, reader};
	if (reader)
		o->readers++;
	else
		o->writer = t->st.tid;
}

static void hold_release(struct work *w, struct thread_work *t, __u64 obj, __u64 ts, bool all)
{
	struct obj_state *o = obj_get(w, obj, LK_FUTEX);
	struct held_lock *h = NULL;
	struct hold_iv *iv;

	for (size_t i = 0; i < t->nr_held; i++)
		if (t->held[i].obj == obj)
			h = &t->held[i];
	if (!h) { /* taken before tracing began */
		w->a->unmatched_releases++;
		return;
	}
	if (!all && --h->depth)
		return;
	iv = VEC_PUSH(w->holds, w->nr_holds, w->cap_holds);
	*iv = (struct hold_iv){.obj = obj, .begin = h->since, .end = ts, .tid = t->st.tid,
			       .stack = h->stack};
	if (h->reader) {
		if (o->readers)
			o->readers--;
	} else if (o->writer == t->st.tid) {
		o->writer = 0;
	}
	*h = t->held[--t->nr_held];
}

/*
 * No return probes: a call's acquisition is decided when the thread makes its next lock call.
 * It acquired at its last futex wait on the object's words since the call (or at the call),
 * unless a timed lock timed out or a try-lock found the lock held by another thread.
 */
static void hold_settle(struct work *w, struct thread_work *t)
{
	const struct obj_state *o;
	bool ok = true, reader = is_read_op(t->pend_op);

	if (!t->pending)
		return;
	t->pending = false;
	o = &w->objs[*u64_map_get(&w->obj_by_addr, t->pend_obj) - 1];
	switch (t->pend_op) {
	case TT_LOP_MUTEX_TIMEDLOCK:
	case TT_LOP_RW_TIMEDRDLOCK:
	case TT_LOP_RW_TIMEDWRLOCK:
		ok = !t->pend_timeout;
		break;
	case TT_LOP_MUTEX_TRYLOCK:
	case TT_LOP_RW_TRYWRLOCK:
		ok = (!o->writer || o->writer == t->st.tid) &&
		     (t->pend_op == TT_LOP_MUTEX_TRYLOCK || !o->readers);
		break;
	case TT_LOP_RW_TRYRDLOCK:
		ok = !o->writer || o->writer == t->st.tid;
		break;
	}
	if (ok)
		hold_acquire(w, t, t->pend_obj, reader, t->pend_ts, t->pend_stack);
}

/* A futex wait of a thread inside a lock call ended: the acquisition is no earlier. */
static void hold_wait_end(struct work *w, struct thread_work *t, const struct tt_wait_end *r)
{
	const struct obj_state *o;

	if (!t->pending)
		return;
	o = &w->objs[*u64_map_get(&w->obj_by_addr, t->pend_obj) - 1];
	if (word_in(r->uaddr, t->pend_obj, o->kind == LK_RWLOCK ? LK_RWLOCK : LK_MUTEX) ||
	    (t->pend_cond && word_in(r->uaddr, t->pend_cond, LK_CONDVAR))) {
		t->pend_ts = r->hdr.ts;
		t->pend_timeout = r->ret == -E_TIMEDOUT;
	}
}

static void on_lock_call(struct work *w, const struct tt_lock_call *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);
	__u32 stack = TT_NO_STACK;
	enum lock_kind k = LK_MUTEX;

	w->a->lock_calls++;
	hold_settle(w, t);
	if (r->stack.nr_user)
		stack = stack_intern(w, r->hdr.pid, pick_stack(w, &r->hdr, &r->stack));
	switch (r->op) {
	case TT_LOP_MUTEX_UNLOCK:
	case TT_LOP_RW_UNLOCK:
		obj_get(w, r->obj, r->op == TT_LOP_RW_UNLOCK ? LK_RWLOCK : LK_MUTEX);
		hold_release(w, t, r->obj, r->hdr.ts, false);
		return;
	case TT_LOP_SEM_WAIT:
	case TT_LOP_SEM_POST:
		obj_get(w, r->obj, LK_SEMAPHORE);
		return;
	case TT_LOP_COND_WAIT:
		/* it releases the mutex at once and re-takes it on its way out */
		obj_get(w, r->obj, LK_CONDVAR);
		obj_get(w, r->obj2, LK_MUTEX);
		hold_release(w, t, r->obj2, r->hdr.ts, true);
		t->pending = true;
		t->pend_op = TT_LOP_MUTEX_LOCK;
		t->pend_obj = r->obj2;
		t->pend_cond = r->obj;
		t->pend_ts = r->hdr.ts;
		t->pend_stack = stack;
		t->pend_timeout = false;
		return;
	case TT_LOP_MUTEX_LOCK:
	case TT_LOP_MUTEX_TRYLOCK:
	case TT_LOP_MUTEX_TIMEDLOCK:
		break;
	case TT_LOP_RW_RDLOCK:
	case TT_LOP_RW_WRLOCK:
	case TT_LOP_RW_TRYRDLOCK:
	case TT_LOP_RW_TRYWRLOCK:
	case TT_LOP_RW_TIMEDRDLOCK:
	case TT_LOP_RW_TIMEDWRLOCK:
		k = LK_RWLOCK;
		break;
	default:
		return;
	}
	obj_get(w, r->obj, k);
	t->pending = true;
	t->pend_op = r->op;
	t->pend_obj = r->obj;
	t->pend_cond = 0;
	t->pend_ts = r->hdr.ts;
	t->pend_stack = stack;
	t->pend_timeout = false;
}

/* Close every thread at the end of the trace. */
static void close_threads(struct work *w)
{
	__u64 end = w->a->end_ts;

	for (size_t i = 0; i < w->nr_threads; i++) {
		struct thread_work *t = &w->threads[i];

		if (t->state == TS_UNKNOWN) {
			/* No event at all: what /proc said at attach held for the whole trace. */
			if (t->hint_state == 'R')
				t->state = TS_RUNNING;
			else if (t->hint_state) {
				t->state = TS_BLOCKED;
				t->blocked_addr = t->hint_futex;
			}
		}
		if (t->state != TS_DONE) {
			account(w, t, end);
			t->st.end_ts = end;
		}
		if (t->in_wait) {
			t->cur.end = end;
			t->cur.cause = WC_UNFINISHED;
			*VEC_PUSH(w->waits, w->nr_waits, w->cap_waits) = t->cur;
			t->in_wait = false;
		}
	}
}

static struct attrib *attrib_add(struct attrib **v, size_t *n, size_t *cap, __u32 tid,
				 __u32 stack, enum wake_cause cause, const char *comm)
{
	struct attrib *x;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].tid == tid && (*v)[i].stack == stack && (*v)[i].cause == cause)
			return &(*v)[i];
	x = VEC_PUSH(*v, *n, *cap);
	x->tid = tid;
	x->stack = stack;
	x->cause = cause;
	if (comm)
		memcpy(x->comm, comm, TT_COMM_LEN);
	return x;
}

static int cmp_attrib(const void *a, const void *b)
{
	const struct attrib *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	return x->count > y->count ? -1 : x->count < y->count;
}

static int cmp_lock(const void *a, const void *b)
{
	const struct lock_stat *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	if (x->hold_ns != y->hold_ns)
		return x->hold_ns > y->hold_ns ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_wait(const void *a, const void *b)
{
	const struct raw_wait *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_edge(const void *a, const void *b)
{
	const struct wake_edge *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->wakee_tid < y->wakee_tid ? -1 : x->wakee_tid > y->wakee_tid;
}

static int cmp_interval(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_thread(const void *a, const void *b)
{
	const struct thread_stat *x = a, *y = b;

	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* Longest gap between two futex waits of one rwlock or plain-futex acquisition (a retry). */
#define RETRY_GAP_NS 100000ULL

/*
 * May wait b continue the same acquisition as wait a? (DESIGN.md: one contention per
 * acquisition.) A glibc mutex word stays 2 after a contended acquisition, so its release always
 * issues a wake: until the waiter wakes the address, its next wait there is a retry (barging,
 * spurious wake-up). A PI lock is owned when LOCK_PI returns 0. Readers of an rwlock release
 * without waking anybody, so there and for plain futexes only an immediate re-wait is a retry.
 */
static bool same_acquisition(const struct raw_wait *a, const struct raw_wait *b, enum lock_kind k,
			     bool pi)
{
	if (a->tid != b->tid || a->addr != b->addr || a->released)
		return false;
	if (a->ret == -E_AGAIN || a->ret == -E_INTR)
		return true;
	if (pi)
		return false;
	if (k == LK_MUTEX)
		return true;
	if (k == LK_RWLOCK || k == LK_FUTEX)
		return b->begin - a->end < RETRY_GAP_NS;
	return false;
}

struct lock_acc {
	struct lock_stat *ls;
	size_t cap_waiters, cap_wakers, cap_chains, cap_holders;
	struct u64_map chain_by_key;
	const struct hold_iv *holds; /* --holds: its holds by begin time */
	size_t nr_holds;
};

static void lock_stat_names(struct lock_stat *ls, __u64 canon, enum lock_kind kind,
			    const char *detail, const struct sym_lock *sl, __u64 off)
{
	ls->addr = canon;
	ls->kind = kind;
	snprintf(ls->detail, sizeof(ls->detail), "%s", detail ? detail : "");
	if (sl && sl->name && sl->name_off - off)
		snprintf(ls->name, sizeof(ls->name), "%s+0x%llx", sl->name,
			 (unsigned long long)(sl->name_off - off));
	else if (sl && sl->name)
		snprintf(ls->name, sizeof(ls->name), "%s", sl->name);
	if (sl && sl->module)
		snprintf(ls->location, sizeof(ls->location), "%s+0x%llx", sl->module,
			 (unsigned long long)(sl->module_off - off));
	else
		snprintf(ls->location, sizeof(ls->location), "%s",
			 sl && sl->location ? sl->location : "[unknown]");
}

static int cmp_hold_iv(const void *a, const void *b)
{
	const struct hold_iv *x = a, *y = b;

	if (x->stat != y->stat)
		return x->stat < y->stat ? -1 : 1;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_holder(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;

	if (x->caused_wait_ns != y->caused_wait_ns)
		return x->caused_wait_ns > y->caused_wait_ns ? -1 : 1;
	if (x->hold_ns != y->hold_ns)
		return x->hold_ns > y->hold_ns ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Hold statistics per lock and per acquiring site; each lock's holds sorted by begin. */
static void build_holds(struct work *w, struct lock_acc *acc)
{
	sort_array(w->holds, w->nr_holds, sizeof(*w->holds), cmp_hold_iv);
	for (size_t i = 0; i < w->nr_holds; i++) {
		struct hold_iv *iv = &w->holds[i];
		struct lock_acc *la = &acc[iv->stat];
		struct lock_stat *ls = la->ls;
		__u64 d = iv->end - iv->begin;
		struct holder *h = NULL;

		if (!la->nr_holds)
			la->holds = iv;
		la->nr_holds++;
		ls->acquisitions++;
		ls->hold_ns += d;
		if (d > ls->max_hold_ns)
			ls->max_hold_ns = d;
		ls->hold_hist[hist_bucket(d)]++;
		for (size_t k = 0; k < ls->nr_holders && !h; k++)
			if (ls->holders[k].stack == iv->stack)
				h = &ls->holders[k];
		if (!h) {
			h = VEC_PUSH(ls->holders, ls->nr_holders, la->cap_holders);
			h->tid = iv->tid;
			h->stack = iv->stack;
			memcpy(h->comm, thread_get(w, iv->tid)->st.name, TT_COMM_LEN);
		} else if (h->tid != iv->tid) {
			h->tid = 0;
		}
		h->count++;
		h->hold_ns += d;
		if (d > h->max_hold_ns)
			h->max_hold_ns = d;
		iv->holder = (size_t)(h - ls->holders);
	}
}

/* Who pays: charge a futex wait to the holds of other threads it overlapped. */
static void charge_holds(struct work *w, struct lock_acc *la, const struct raw_wait *rw)
{
	struct lock_stat *ls = la->ls;
	__u64 from = rw->begin > ls->max_hold_ns ? rw->begin - ls->max_hold_ns : 0;
	size_t lo = 0, hi = la->nr_holds;

	while (lo < hi) { /* the first hold that begins late enough to reach the wait */
		size_t mid = (lo + hi) / 2;

		if (la->holds[mid].begin < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < la->nr_holds && la->holds[i].begin < rw->end; i++) {
		const struct hold_iv *iv = &la->holds[i];
		__u64 b = iv->begin > rw->begin ? iv->begin : rw->begin;
		__u64 e = iv->end < rw->end ? iv->end : rw->end;

		if (iv->tid == rw->tid || e <= b)
			continue;
		ls->caused_wait_ns += e - b;
		ls->holders[iv->holder].caused_wait_ns += e - b;
	}
}

static struct chain *chain_add(struct lock_acc *la, const struct raw_wait *first,
			       const struct raw_wait *last, const char *waiter_comm)
{
	struct lock_stat *ls = la->ls;
	bool thread = last->cause == WC_THREAD || last->cause == WC_EXIT;
	__u32 waker_tid = thread ? last->waker_tid : 0;
	__u32 waker_stack = thread ? last->waker_stack : TT_NO_STACK;
	__u64 key = hash_u64(((__u64)first->tid << 32 | first->stack) ^
			     hash_u64((__u64)waker_tid << 32 | waker_stack) ^ last->cause);
	struct chain *c;
	__u64 *slot;
	bool found;

	for (;; key++) {
		slot = u64_map_upsert(&la->chain_by_key, key, &found);
		if (!found)
			break;
		c = &ls->chains[*slot - 1];
		if (c->waiter_tid == first->tid && c->waiter_stack == first->stack &&
		    c->waker_tid == waker_tid && c->waker_stack == waker_stack &&
		    c->cause == last->cause)
			return c;
	}
	c = VEC_PUSH(ls->chains, ls->nr_chains, la->cap_chains);
	*slot = ls->nr_chains;
	c->waiter_tid = first->tid;
	c->waiter_stack = first->stack;
	c->waker_tid = waker_tid;
	c->waker_stack = waker_stack;
	c->cause = last->cause;
	memcpy(c->waiter_comm, waiter_comm, TT_COMM_LEN);
	if (thread)
		memcpy(c->waker_comm, last->waker_comm, TT_COMM_LEN);
	return c;
}

static int cmp_chain(const void *a, const void *b)
{
	const struct chain *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns > y->wait_ns ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->waiter_stack != y->waiter_stack)
		return x->waiter_stack < y->waiter_stack ? -1 : 1;
	return x->waker_stack < y->waker_stack ? -1 : x->waker_stack > y->waker_stack;
}

/* The offset of the futex word inside the glibc object that owns it, when the symbol tells. */
static __u64 object_offset(enum lock_kind k, const struct sym_lock *sl)
{
	if (!sl || !sl->name)
		return 0;
	if (k == LK_CONDVAR && (sl->name_off == 40 || sl->name_off == 44))
		return sl->name_off;
	if (k == LK_RWLOCK && (sl->name_off == 8 || sl->name_off == 12))
		return sl->name_off;
	return 0;
}

static void build_locks(struct work *w)
{
	struct analysis *a = w->a;
	struct lock_acc *acc;
	struct u64_map by_canon = {0};
	size_t n = 0;
	bool found;

	a->locks = xcalloc(w->nr_locks + w->nr_objs, sizeof(*a->locks));
	acc = xcalloc(w->nr_locks + w->nr_objs, sizeof(*acc));
	for (size_t i = 0; i < w->nr_locks; i++) {
		struct lock_work *l = &w->locks[i];
		const struct sym_lock *sl = a->sd ? symdata_lock(a->sd, l->addr) : NULL;
		const struct obj_state *o = w->nr_objs ? object_of_word(w, l->addr) : NULL;
		const char *detail;
		__u64 off, *slot;
		struct lock_stat *ls;
		bool found;

		l->kind = lockkind_classify(&l->ev, sl, &detail);
		if (o && o->kind != LK_FUTEX) { /* --holds: the calls say what it is */
			if (o->kind != l->kind)
				detail = NULL;
			l->kind = o->kind;
			off = l->addr - o->obj;
		} else {
			off = object_offset(l->kind, sl);
		}
		l->canon = l->addr - off;
		slot = u64_map_upsert(&by_canon, l->canon, &found);
		if (found) {
			l->stat = *slot;
			continue;
		}
		l->stat = *slot = a->nr_locks++;
		ls = &a->locks[l->stat];
		acc[l->stat].ls = ls;
		ls->calls_seen = o != NULL;
		lock_stat_names(ls, l->canon, l->kind, detail, sl, off);
	}
	/* --holds: locks held but never waited for */
	for (size_t i = 0; i < w->nr_holds; i++) {
		__u64 obj = w->holds[i].obj, *slot;
		const struct obj_state *o = &w->objs[*u64_map_get(&w->obj_by_addr, obj) - 1];
		bool found;

		slot = u64_map_upsert(&by_canon, obj, &found);
		if (!found) {
			*slot = a->nr_locks++;
			acc[*slot].ls = &a->locks[*slot];
			a->locks[*slot].calls_seen = true;
			lock_stat_names(&a->locks[*slot], obj, o->kind == LK_FUTEX ? LK_MUTEX : o->kind,
					NULL, a->sd ? symdata_lock(a->sd, obj) : NULL, 0);
		}
		w->holds[i].stat = *slot;
	}
	build_holds(w, acc);
	u64_map_free(&by_canon);
	memset(&by_canon, 0, sizeof(by_canon));

	sort_array(w->waits, w->nr_waits, sizeof(*w->waits), cmp_wait);
	a->spans = w->timeline ? xcalloc(w->nr_waits, sizeof(*a->spans)) : NULL;
	a->edges = w->timeline ? xcalloc(w->nr_waits, sizeof(*a->edges)) : NULL;
	for (size_t i = 0; w->timeline && i < w->nr_waits; i++) {
		const struct raw_wait *rw = &w->waits[i];

		a->spans[a->nr_spans++] = (struct wait_span){rw->tid, rw->addr, rw->begin, rw->end};
		if (rw->cause == WC_THREAD || rw->cause == WC_EXIT)
			a->edges[a->nr_edges++] =
				(struct wake_edge){rw->waker_tid, rw->tid, rw->wake_ts, rw->addr};
	}
	sort_array(a->edges, a->nr_edges, sizeof(*a->edges), cmp_edge);
	for (size_t i = 0; i < w->nr_waits; i = n) {
		const struct raw_wait *first = &w->waits[i], *last;
		__u64 *li = u64_map_get(&w->lock_by_addr, first->addr);
		struct lock_acc *la = &acc[w->locks[*li - 1].stat];
		struct lock_stat *ls = la->ls;
		enum lock_kind k = w->locks[*li - 1].kind;
		bool pi = !strcmp(ls->detail, "PI");
		struct thread_work *t = thread_get(w, first->tid);
		__u64 total = 0;
		struct attrib *x;

		for (n = i; n < w->nr_waits; n++) {
			if (n > i && !same_acquisition(&w->waits[n - 1], &w->waits[n], k, pi))
				break;
			total += w->waits[n].end - w->waits[n].begin;
			if (la->nr_holds)
				charge_holds(w, la, &w->waits[n]);
		}
		last = &w->waits[n - 1];
		ls->futex_waits += n - i;
		ls->contentions++;
		ls->wait_ns += total;
		if (total > ls->max_wait_ns)
			ls->max_wait_ns = total;
		ls->hist[hist_bucket(total)]++;
		ls->causes[last->cause]++;
		x = attrib_add(&ls->waiters, &ls->nr_waiters, &la->cap_waiters, first->tid,
			       first->stack, WC_THREAD, t->st.name);
		x->count++;
		x->wait_ns += total;
		if (k == LK_JOIN && last->cause == WC_EXIT && !ls->detail[0])
			snprintf(ls->detail, sizeof(ls->detail), "thread %u", last->waker_tid);
		if (last->cause == WC_THREAD || last->cause == WC_EXIT)
			x = attrib_add(&ls->wakers, &ls->nr_wakers, &la->cap_wakers, last->waker_tid,
				       last->waker_stack, last->cause, last->waker_comm);
		else
			x = attrib_add(&ls->wakers, &ls->nr_wakers, &la->cap_wakers, 0, TT_NO_STACK,
				       last->cause, NULL);
		x->count++;
		x->wait_ns += total;
		{
			struct chain *c = chain_add(la, first, last, t->st.name);

			c->count++;
			c->wait_ns += total;
		}
		if (lock_kind_is_contention(k)) {
			t->st.contentions++;
			t->st.wait_ns += total;
		}
	}
	for (size_t i = 0; i < a->nr_locks; i++) {
		struct lock_stat *ls = &a->locks[i];

		sort_array(ls->waiters, ls->nr_waiters, sizeof(*ls->waiters), cmp_attrib);
		sort_array(ls->wakers, ls->nr_wakers, sizeof(*ls->wakers), cmp_attrib);
		sort_array(ls->chains, ls->nr_chains, sizeof(*ls->chains), cmp_chain);
		sort_array(ls->holders, ls->nr_holders, sizeof(*ls->holders), cmp_holder);
		u64_map_free(&acc[i].chain_by_key);
	}
	free(acc);
	sort_array(a->locks, a->nr_locks, sizeof(*a->locks), cmp_lock);
	/* futex word -> lock, through the object address the locks are sorted by now */
	for (size_t k = 0; k < a->nr_locks; k++)
		*u64_map_upsert(&by_canon, a->locks[k].addr, &found) = k + 1;
	for (size_t i = 0; i < w->nr_locks; i++) {
		const struct lock_work *l = &w->locks[i];
		__u64 *k = u64_map_get(&by_canon, l->canon);

		if (k)
			*u64_map_upsert(&a->lock_by_futex, l->addr, &found) = *k;
	}
	for (size_t k = 0; k < a->nr_locks; k++) /* objects known from lock calls only */
		if (!u64_map_get(&a->lock_by_futex, a->locks[k].addr))
			*u64_map_upsert(&a->lock_by_futex, a->locks[k].addr, &found) = k + 1;
	u64_map_free(&by_canon);
}

const struct lock_stat *analysis_lock_of(const struct analysis *a, __u64 futex_addr)
{
	__u64 *i = u64_map_get(&a->lock_by_futex, futex_addr);

	return i ? &a->locks[*i - 1] : NULL;
}

static int cmp_order(const void *a, const void *b)
{
	const struct order_edge *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

#define MAX_POTENTIAL 32
#define CYCLE_SEARCH_STEPS 200000

struct cycle_search {
	struct work *w;
	__u64 start;
	size_t path[TT_MAX_CYCLE]; /* edge indexes */
	unsigned depth;
	long steps;
};

/* Index of the first edge leaving obj in the sorted edge list. */
static size_t first_edge(const struct work *w, __u64 obj)
{
	size_t lo = 0, hi = w->nr_order;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (w->order[mid].from < obj)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Two edges of the cycle always taken under the same gate lock cannot be waiting at once. */
static bool cycle_gated(const struct cycle_search *cs)
{
	for (unsigned i = 0; i < cs->depth; i++) {
		const struct order_edge *x = &cs->w->order[cs->path[i]];

		for (unsigned j = i + 1; j < cs->depth; j++) {
			const struct order_edge *y = &cs->w->order[cs->path[j]];

			for (unsigned g = 0; g < x->nr_gates; g++)
				for (unsigned h = 0; h < y->nr_gates; h++)
					if (x->gates[g] == y->gates[h])
						return true;
		}
	}
	return false;
}

static void record_cycle(struct cycle_search *cs)
{
	struct analysis *a = cs->w->a;
	struct deadlock_stat *d;

	if (a->nr_deadlocks >= MAX_POTENTIAL + 64)
		return;
	if (cycle_gated(cs)) {
		a->gated_cycles++;
		return;
	}
	d = VEC_PUSH(a->deadlocks, a->nr_deadlocks, cs->w->cap_deadlocks);
	d->potential = true;
	d->nr = cs->depth;
	d->ts = ~0ULL;
	for (unsigned i = 0; i < cs->depth; i++) {
		const struct order_edge *e = &cs->w->order[cs->path[i]];

		d->links[i].tid = e->tid;
		d->links[i].addr = e->from;
		d->links[i].stack = e->to_stack;
		d->links[i].held_stack = e->from_stack;
		memcpy(d->links[i].comm, thread_get(cs->w, e->tid)->st.name, TT_COMM_LEN);
		if (e->ts < d->ts)
			d->ts = e->ts;
	}
}

/*
 * Depth-first from the edge path's end back to start, through locks above start only: each
 * cycle is found once, from its lowest lock.
 */
static void find_cycles(struct cycle_search *cs, __u64 at, unsigned *found)
{
	struct work *w = cs->w;

	for (size_t i = first_edge(w, at); i < w->nr_order && w->order[i].from == at; i++) {
		const struct order_edge *e = &w->order[i];
		bool seen = false;

		if (*found >= MAX_POTENTIAL || --cs->steps < 0)
			return;
		cs->path[cs->depth] = i;
		if (e->to == cs->start) {
			cs->depth++;
			record_cycle(cs);
			cs->depth--;
			(*found)++;
			continue;
		}
		if (e->to < cs->start || cs->depth + 1 >= TT_MAX_CYCLE)
			continue;
		for (unsigned k = 0; k < cs->depth; k++)
			seen |= w->order[cs->path[k]].from == e->to;
		if (seen)
			continue;
		cs->depth++;
		find_cycles(cs, e->to, found);
		cs->depth--;
	}
}

/* --holds: cycles in the lock-order graph are deadlocks waiting for the wrong timing. */
static void build_potential_deadlocks(struct work *w)
{
	struct cycle_search cs = {.w = w, .steps = CYCLE_SEARCH_STEPS};
	unsigned found = 0;

	sort_array(w->order, w->nr_order, sizeof(*w->order), cmp_order);
	for (size_t i = 0; i < w->nr_order; i++) {
		if (i && w->order[i].from == w->order[i - 1].from)
			continue;
		cs.start = w->order[i].from;
		cs.depth = 0;
		find_cycles(&cs, cs.start, &found);
	}
}

static void build_threads(struct work *w)
{
	struct analysis *a = w->a;

	for (size_t i = 0; i < w->nr_buckets; i++) {
		struct blocked_bucket *b = &w->buckets[i];
		__u64 *li = u64_map_get(&w->lock_by_addr, b->addr);

		enum lock_kind k = li ? w->locks[*li - 1].kind : LK_FUTEX;
		struct thread_work *t = thread_get(w, b->tid);

		if (lock_kind_is_contention(k))
			t->st.lock_wait_ns += b->ns;
		else
			t->st.cond_wait_ns += b->ns;
	}
	a->threads = xcalloc(w->nr_threads, sizeof(*a->threads));
	for (size_t i = 0; i < w->nr_threads; i++)
		a->threads[i] = w->threads[i].st;
	a->nr_threads = w->nr_threads;
	sort_array(a->threads, a->nr_threads, sizeof(*a->threads), cmp_thread);
	sort_array(a->intervals, a->nr_intervals, sizeof(*a->intervals), cmp_interval);
}

int analysis_run(const struct record_buf *rb, const struct symdata *sd, struct analysis *out)
{
	return analysis_run_flags(rb, sd, ANALYSIS_TIMELINE, out);
}

int analysis_run_flags(const struct record_buf *rb, const struct symdata *sd, unsigned flags,
		       struct analysis *out)
{
	struct work w = {.a = out, .timeline = flags & ANALYSIS_TIMELINE};
	size_t *order;
	bool have_session = false;

	memset(out, 0, sizeof(*out));
	out->sd = sd;
	w.rb = rb;
	order = records_sorted(rb);
	for (size_t i = 0; i < rb->count; i++) {
		const struct tt_unwound *u = (const void *)(rb->data + order[i]);
		__u64 key;
		bool found;
		__u64 *slot;

		struct u64_map *m = u->hdr.kind == TT_REC_UNWOUND ? &w.unwound : &w.pystacks;

		if (u->hdr.kind != TT_REC_UNWOUND && u->hdr.kind != TT_REC_PYSTACK)
			continue;
		/* both begin with the parent's kind after the header */
		for (key = unwound_key(u->hdr.tid, u->hdr.ts, u->parent_kind);; key++) {
			slot = u64_map_upsert(m, key, &found);
			if (!found)
				break;
		}
		*slot = order[i] + 1;
	}
	for (size_t i = 0; i < rb->count; i++) {
		const struct tt_rec_hdr *h = (const void *)(rb->data + order[i]);

		if (h->kind < TT_REC_SESSION && h->kind != TT_REC_PYSTACK)
			out->events++;
		if (!have_session && h->kind != TT_REC_SESSION)
			continue; /* records before attach completed carry no complete state */
		switch (h->kind) {
		case TT_REC_SESSION: {
			const struct tt_session *s = (const void *)h;

			have_session = true;
			out->pid = s->target_pid;
			out->tid_filter = s->target_tid;
			out->start_ts = h->ts;
			out->end_ts = h->ts;
			out->holds = s->flags & TT_SESSION_HOLDS;
			memcpy(out->comm, s->comm, TT_COMM_LEN);
			break;
		}
		case TT_REC_THREAD_INFO:
			on_thread_info(&w, (const void *)h);
			break;
		case TT_REC_WAIT_BEGIN:
			on_wait_begin(&w, (const void *)h);
			break;
		case TT_REC_WAIT_END:
			on_wait_end(&w, (const void *)h);
			break;
		case TT_REC_WAKE_OP:
			on_wake_op(&w, (const void *)h);
			break;
		case TT_REC_WAKING:
			on_waking(&w, (const void *)h);
			break;
		case TT_REC_SWITCH:
			on_switch(&w, (const void *)h, NULL);
			break;
		case TT_REC_SWITCH_KSTAT:
			on_switch(&w, (const void *)h, (const void *)h);
			break;
		case TT_REC_NEW_THREAD:
			on_new_thread(&w, (const void *)h);
			break;
		case TT_REC_EXIT:
			on_thread_exit(&w, (const void *)h);
			break;
		case TT_REC_DEADLOCK:
			on_deadlock(&w, (const void *)h);
			break;
		case TT_REC_LOCK_CALL:
			on_lock_call(&w, (const void *)h);
			break;
		case TT_REC_PYTHON:
			on_python(&w, (const void *)h);
			break;
		case TT_REC_GIL:
			on_gil(&w, (const void *)h);
			break;
		case TT_REC_SESSION_END: {
			const struct tt_session_end *e = (const void *)h;

			out->lost_events += e->counters[TT_CNT_RINGBUF_FULL];
			out->stack_failures += e->counters[TT_CNT_STACK_FAIL];
			out->untracked_waits += e->counters[TT_CNT_MAP_FULL];
			if (e->target_exited)
				out->target_exited = true;
			break;
		}
		}
		if (h->ts > out->end_ts)
			out->end_ts = h->ts;
	}
	free(order);
	if (!have_session) {
		free(w.threads);
		u64_map_free(&w.thread_by_tid);
		u64_map_free(&w.unwound);
		u64_map_free(&w.unwound_by_fp);
		u64_map_free(&w.pystacks);
		return -EINVAL;
	}
	close_threads(&w);
	close_gil(&w);
	build_locks(&w);
	build_potential_deadlocks(&w);
	build_threads(&w);

	for (size_t i = 0; i < w.nr_threads; i++)
		free(w.threads[i].held);
	free(w.objs);
	free(w.holds);
	free(w.order);
	u64_map_free(&w.obj_by_addr);
	u64_map_free(&w.order_by_key);
	u64_map_free(&w.gil_waiter_by_key);

	free(w.threads);
	free(w.waits);
	free(w.locks);
	free(w.buckets);
	u64_map_free(&w.thread_by_tid);
	u64_map_free(&w.lock_by_addr);
	u64_map_free(&w.bucket_by_key);
	u64_map_free(&w.stack_by_hash);
	u64_map_free(&w.unwound);
	u64_map_free(&w.unwound_by_fp);
	u64_map_free(&w.pystacks);
	return 0;
}

void analysis_free(struct analysis *a)
{
	for (size_t i = 0; i < a->nr_locks; i++) {
		free(a->locks[i].waiters);
		free(a->locks[i].wakers);
		free(a->locks[i].chains);
		free(a->locks[i].holders);
	}
	for (size_t i = 0; i < a->nr_stacks; i++)
		free(a->stacks[i].ips);
	free(a->locks);
	free(a->threads);
	free(a->stacks);
	free(a->intervals);
	free(a->edges);
	free(a->spans);
	free(a->deadlocks);
	free(a->gil.waiters);
	free(a->gil.spans);
	u64_map_free(&a->lock_by_futex);
	memset(a, 0, sizeof(*a));
}

const char *analysis_frame_name(const struct analysis *a, const struct stack_entry *st, unsigned i,
				char *buf, size_t len)
{
	const struct sym_frame *f = a->sd ? symdata_frame(a->sd, st->ips[i]) : NULL;

	if (f)
		return f->name;
	snprintf(buf, len, "0x%llx", (unsigned long long)st->ips[i]);
	return buf;
}

unsigned analysis_kernel_skip(const struct analysis *a, const struct stack_entry *st)
{
	unsigned n = 0;

	while (n < st->nr_kernel && a->sd) {
		const struct sym_frame *f = symdata_frame(a->sd, st->ips[st->nr_user + n]);

		if (!f || !f->func ||
		    (strncmp(f->func, "bpf_prog_", 9) && strncmp(f->func, "bpf_trace_run", 13) &&
		     strncmp(f->func, "__bpf_trace_", 12)))
			break;
		n++;
	}
	return n;
}

const char *lock_label(const struct lock_stat *l, char *buf, size_t len)
{
	snprintf(buf, len, "[%s %s]", lock_kind_name(l->kind),
		 l->name[0] ? l->name : l->detail[0] ? l->detail : l->location);
	return buf;
}

unsigned analysis_frames_at(const struct analysis *a, const struct stack_entry *st, unsigned i,
			    const char **names, const char **funcs, unsigned max, char *buf,
			    size_t len)
{
	const struct sym_frame *f = a->sd ? symdata_frame(a->sd, st->ips[i]) : NULL;
	unsigned n = 0;

	for (size_t k = 0; f && k < f->nr_inlined && n + 1 < max; k++, n++) {
		names[n] = f->inlined[k].name;
		funcs[n] = f->inlined[k].func;
	}
	names[n] = analysis_frame_name(a, st, i, buf, len);
	funcs[n] = f ? f->func : NULL;
	return n + 1;
}
