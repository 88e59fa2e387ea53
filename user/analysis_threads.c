// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_threads.c - the target's threads in the analysis: who they are (a tid's threads
 * told apart by incarnation, their names, threading's names), and where their time goes:
 * each thread's state machine (running, runnable, blocked in a futex word or elsewhere) driven
 * by switches, wake-ups and thread records, its time charged to each state as it leaves it,
 * and the time it slept in each word charged to lock, condvar or GIL waiting once the words'
 * kinds are known (analysis.h thread_stat, the timeline's intervals).
 */
#include <string.h>
#include "analysis_int.h"

const char *tid_str(__u32 key, char *buf, size_t len)
{
	if (thread_incarnation(key) > 1)
		snprintf(buf, len, "%u#%u", thread_tid(key), thread_incarnation(key));
	else
		snprintf(buf, len, "%u", key);
	return buf;
}

/* A thread with its key: from now on the one its tid names. */
static struct thread_work *thread_push(struct work *w, __u32 key)
{
	struct thread_work *t = VEC_PUSH(w->thr.threads, w->thr.nr_threads, w->thr.cap_threads);
	bool found;

	t->st.tid = key;
	t->st.start_ts = w->a->start_ts;
	t->since = w->a->start_ts;
	t->state = TS_UNKNOWN;
	*u64_map_upsert(&w->thr.by_key, key, &found) = w->thr.nr_threads;
	*u64_map_upsert(&w->thr.by_tid, thread_tid(key), &found) = w->thr.nr_threads;
	return t;
}

struct thread_work *thread_get(struct work *w, __u32 tid)
{
	__u64 *i = u64_map_get(&w->thr.by_tid, tid & TT_TID_MASK);

	return i ? &w->thr.threads[*i - 1] : thread_push(w, tid & TT_TID_MASK);
}

struct thread_work *thread_at(struct work *w, __u32 key)
{
	__u64 *i = u64_map_get(&w->thr.by_key, key);

	return i ? &w->thr.threads[*i - 1] : thread_get(w, thread_tid(key));
}

__u32 thread_key_of(struct work *w, __u32 tid)
{
	__u64 *i = u64_map_get(&w->thr.by_tid, tid);

	return i ? w->thr.threads[*i - 1].st.tid : tid;
}

static void add_blocked(struct work *w, __u32 tid, __u64 addr, __u64 ns)
{
	bool found;
	__u64 key = hash_u64(addr) ^ tid;
	struct lock_work *l = lock_find(w, addr);
	__u64 *slot;
	struct blocked_bucket *b;

	if (l) { /* most words: a few sleepers, kept in the word */

		for (__u32 i = 0; i < l->nr_blocked; i++)
			if (l->blocked[i].tid == tid) {
				l->blocked[i].ns += ns;
				return;
			}
		if (l->nr_blocked < BLOCKED_IN_WORD) {
			if (!(l->nr_blocked & (l->nr_blocked - 1))) { /* 0, 1, 2, 4: full */
				size_t n = l->nr_blocked ? 2 * l->nr_blocked : 1;

				l->blocked = xrealloc(l->blocked, n * sizeof(*l->blocked));
			}
			l->blocked[l->nr_blocked++] = (struct blocked_ns){tid, ns};
			return;
		}
	}

	for (;; key++) {
		slot = u64_map_upsert(&w->thr.bucket_by_key, key, &found);
		if (!found)
			break;
		b = &w->thr.buckets[*slot - 1];
		if (b->tid == tid && b->addr == addr) {
			b->ns += ns;
			return;
		}
	}
	b = VEC_PUSH(w->thr.buckets, w->thr.nr_buckets, w->thr.cap_buckets);
	b->tid = tid;
	b->addr = addr;
	b->ns = ns;
	*slot = w->thr.nr_buckets;
}

/* Charge the time since t->since to t's current state, and keep it on the timeline. */
void account(struct work *w, struct thread_work *t, __u64 ts)
{
	__u64 d = ts > t->since ? ts - t->since : 0;

	if (d && w->timeline && t->state != TS_UNKNOWN && t->state != TS_DONE) {
		struct interval *iv =
		    VEC_PUSH(w->a->intervals, w->a->nr_intervals, w->thr.cap_intervals);

		iv->tid = t->st.tid;
		iv->begin = t->since;
		iv->end = ts;
		iv->state = t->state == TS_RUNNING    ? TSK_RUNNING
			    : t->state == TS_RUNNABLE ? TSK_RUNNABLE
			    : t->blocked_addr	      ? TSK_FUTEX
						      : TSK_OTHER;
		iv->addr = t->state == TS_BLOCKED ? t->blocked_addr : 0;
	}

	switch (t->state) {
	case TS_RUNNING:
		t->st.on_cpu_ns += d;
		if (t->gil_hold)
			t->st.gil_cpu_ns += d;
		/* on CPU while the GIL was traced: what it ran with or without the GIL is known */
		if (w->a->gil.present && ts > w->a->gil.start_ts)
			t->st.gil_traced_cpu_ns +=
			    ts - w->a->gil.start_ts < d ? ts - w->a->gil.start_ts : d;
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

/* t's time on CPU until ts (it may be running since t->since). */
__u64 thread_cpu_now(const struct thread_work *t, __u64 ts)
{
	return t->st.on_cpu_ns + (t->state == TS_RUNNING && ts > t->since ? ts - t->since : 0);
}

/* The first event of a thread present at attach tells what it was doing since the start. */
void settle_unknown(struct work *w, struct thread_work *t, enum tstate prior, __u64 ts)
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

/* A wake-up (sched_waking) of a thread: runnable from now, or woken while still on CPU. */
void thread_woken(struct work *w, const struct tt_waking *r)
{
	struct thread_work *t = thread_get(w, r->wakee_tid);
	__u64 ts = r->hdr.ts;

	settle_unknown(w, t, TS_BLOCKED, ts);
	if (t->state == TS_BLOCKED)
		set_state(w, t, TS_RUNNABLE, ts);
	else if (t->state == TS_RUNNING)
		t->woken_running_ts = ts;
}

/* Charge t's time until end: the end of the trace, or when a new thread took its tid. */
void thread_end(struct work *w, struct thread_work *t, __u64 end)
{
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

void on_switch(struct work *w, const struct tt_switch *r, const struct tt_switch_kstat *k)
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
				   (t->woken_running_ts &&
				    ts - t->woken_running_ts < WAKE_RACE_NS)) {
				/* a wake-up racing with the switch: the kernel keeps it queued */
				t->state = TS_RUNNABLE;
				t->st.involuntary_switches++;
			} else {
				t->state = TS_BLOCKED;
				t->st.voluntary_switches++;
				t->blocked_addr = t->in_wait ? t->cur.key : 0;
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

/*
 * The latest threading name of a thread: a rename replaces it. Named by its thread key: the
 * thread that has its tid when the record comes (a reused tid's later thread is another one).
 */
void on_py_thread_name(struct work *w, const struct tt_py_thread_name *r)
{
	struct analysis *a = w->a;
	__u32 key = thread_key_of(w, r->hdr.tid);
	bool found;
	__u64 *i = u64_map_upsert(&w->thr.name_by_key, key, &found);
	struct py_thread_name *n;

	if (!found) {
		n = VEC_PUSH(a->py_names, a->nr_py_names, w->thr.cap_names);
		*i = a->nr_py_names;
		n->tid = key;
	}
	n = &a->py_names[*i - 1];
	memcpy(n->name, r->name, TT_PY_NAME_LEN);
	n->name[TT_PY_NAME_LEN - 1] = 0;
}

static int cmp_py_name(const void *a, const void *b)
{
	const struct py_thread_name *x = a, *y = b;

	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

const char *analysis_py_name(const struct analysis *a, __u32 tid)
{
	size_t lo = 0, hi = a->nr_py_names;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a->py_names[mid].tid == tid)
			return a->py_names[mid].name[0] ? a->py_names[mid].name : NULL;
		if (a->py_names[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *analysis_thread_name(const struct analysis *a, __u32 tid, const char *comm, char *buf,
				 size_t len)
{
	const char *py = analysis_py_name(a, tid);
	size_t n = 0;

	if (py)
		return py;
	while (n < TT_COMM_LEN && comm[n])
		n++;
	snprintf(buf, len, "%.*s", (int)n, comm);
	return buf;
}

/*
 * A new thread. One whose tid had a thread before is another thread (the kernel reuses the tid
 * of one that exited), unless that was only /proc's view of this one at attach.
 */
void on_new_thread(struct work *w, const struct tt_new_thread *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	if (t->state != TS_UNKNOWN && thread_incarnation(t->st.tid) == TT_MAX_INCARNATIONS) {
		w->a->merged_threads++;
	} else if (t->state != TS_UNKNOWN) {
		__u32 key = t->st.tid + (1u << TT_TID_BITS);

		/* the one before exited (its last records may be lost): it ended by now */
		close_thread(w, t, r->hdr.ts);
		t->state = TS_DONE;
		t->st.exited = true;
		t = thread_push(w, key);
	}
	t->st.start_ts = r->hdr.ts;
	t->since = r->hdr.ts;
	t->st.created = true;
	t->state = TS_RUNNABLE;
	memcpy(t->st.name, r->comm, TT_COMM_LEN);
}

void on_thread_exit(struct work *w, const struct tt_exit *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	settle_unknown(w, t, TS_RUNNING, r->hdr.ts);
	t->pending = false;
	t->st.exited = true;
	memcpy(t->st.name, r->comm, TT_COMM_LEN);
	if (r->hdr.tid == w->a->pid)
		w->a->target_exited = true;
}

void on_thread_info(struct work *w, const struct tt_thread_info *r)
{
	struct thread_work *t = thread_get(w, r->hdr.tid);

	if (!t->st.name[0])
		memcpy(t->st.name, r->comm, TT_COMM_LEN);
	t->info_ts = r->hdr.ts;
	if (t->state != TS_UNKNOWN)
		return;
	t->hint_state = r->state;
	t->hint_futex = r->in_futex_wait ? r->futex_uaddr : 0;
	if (t->hint_futex)
		lock_get(w, t->hint_futex);
}

/* ns that thread key slept in futex word addr, by the word's kind (known at the end). */
void thread_charge_blocked(struct work *w, __u32 key, __u64 addr, enum lock_kind kind, __u64 ns)
{
	struct thread_work *t = thread_at(w, key);

	if (gil_word(w, addr))
		t->st.gil_blocked_ns += ns;
	else if (lock_kind_is_contention(kind))
		t->st.lock_wait_ns += ns;
	else
		t->st.cond_wait_ns += ns;
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

	return thread_key_cmp(x->tid, y->tid);
}

void build_threads(struct work *w)
{
	struct analysis *a = w->a;

	for (size_t i = 0; i < w->thr.nr_buckets; i++) {
		struct blocked_bucket *b = &w->thr.buckets[i];

		thread_charge_blocked(w, b->tid, b->addr, word_kind(w, b->addr), b->ns);
	}
	sort_array(a->py_names, a->nr_py_names, sizeof(*a->py_names), cmp_py_name);
	py_finish(w);
	a->threads = xcalloc(w->thr.nr_threads, sizeof(*a->threads));
	for (size_t i = 0; i < w->thr.nr_threads; i++) {
		const char *py = analysis_py_name(a, w->thr.threads[i].st.tid);

		struct thread_stat *st = &a->threads[i];

		*st = w->thr.threads[i].st;
		st->traced_ns = st->end_ts > st->start_ts ? st->end_ts - st->start_ts : 0;
		st->gil_free_cpu_ns = st->gil_traced_cpu_ns > st->gil_cpu_ns
					  ? st->gil_traced_cpu_ns - st->gil_cpu_ns
					  : 0;
		if (py)
			snprintf(a->threads[i].py_name, TT_PY_NAME_LEN, "%s", py);
	}
	a->nr_threads = w->thr.nr_threads;
	sort_array(a->threads, a->nr_threads, sizeof(*a->threads), cmp_thread);
	sort_array(a->intervals, a->nr_intervals, sizeof(*a->intervals), cmp_interval);
}

void threads_free(struct work *w)
{
	free(w->thr.threads);
	free(w->thr.buckets);
	u64_map_free(&w->thr.by_tid);
	u64_map_free(&w->thr.by_key);
	u64_map_free(&w->thr.name_by_key);
	u64_map_free(&w->thr.bucket_by_key);
}
