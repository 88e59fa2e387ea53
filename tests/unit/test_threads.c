// SPDX-License-Identifier: GPL-2.0
/*
 * test_threads.c - threads are (tid, start): a tid the kernel gives a new thread after its
 * first one exited makes a second row everywhere, with its own name, times and waits.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "json.h"
#include "report.h"
#include "perfetto.h"
#include "test_threads.h"

#define MS   1000000ULL
#define US   1000ULL
#define LOCK 0x1000ULL

static void put(struct record_buf *rb, void *rec, __u16 kind, __u16 size, __u64 ts, __u32 tid)
{
	struct tt_rec_hdr *h = rec;

	h->kind = kind;
	h->size = size;
	h->ts = ts;
	h->pid = tid ? PID : 0;
	h->tid = tid;
	if (records_append(rb, rec, size))
		abort();
}

static void new_thread(struct record_buf *rb, __u64 ts, __u32 tid, const char *name)
{
	struct tt_new_thread r = {0};

	snprintf(r.comm, sizeof(r.comm), "%s", name);
	put(rb, &r, TT_REC_NEW_THREAD, sizeof(r), ts, tid);
}

/* prev (0: idle) leaves the CPU in prev_state, next (0: idle) takes it; both named name */
static void sw(struct record_buf *rb, __u64 ts, __u32 prev, __u32 state, __u32 next,
	       const char *name)
{
	struct tt_switch r = {0};

	r.prev_state = state;
	r.next_pid = next ? PID : 0;
	r.next_tid = next;
	snprintf(r.prev_comm, sizeof(r.prev_comm), "%s", prev ? name : "idle");
	snprintf(r.next_comm, sizeof(r.next_comm), "%s", next ? name : "idle");
	put(rb, &r, TT_REC_SWITCH, sizeof(r), ts, prev);
}

static void thread_info(struct record_buf *rb, __u64 ts, __u32 tid, const char *name)
{
	struct tt_thread_info r = {0};

	r.state = 'R';
	snprintf(r.comm, sizeof(r.comm), "%s", name);
	put(rb, &r, TT_REC_THREAD_INFO, sizeof(r), ts, tid);
}

/* tid waits on LOCK from begin, asleep from begin + 0.5 ms, woken by tid 1 at wake, runs at
 * wake + 1 ms */
static void lock_wait(struct record_buf *rb, __u32 tid, const char *name, __u64 begin, __u64 wake)
{
	__u64 ips[] = {0x10};

	s_wait_begin(rb, begin, tid, LOCK, TT_FUTEX_WAIT, 2, ips, 1);
	sw(rb, begin + 500 * US, tid, TT_TASK_INTERRUPTIBLE, 0, name);
	s_waking(rb, wake, 1, tid, LOCK, TT_WAKE_FUTEX, LOCK, ips, 1);
	sw(rb, wake + 1 * MS, 0, 0, tid, name);
	s_wait_end(rb, wake + 1 * MS + 100 * US, tid, LOCK, 0);
}

static const struct thread_stat *thread_of(const struct analysis *a, __u32 key)
{
	for (size_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].tid == key)
			return &a->threads[i];
	return NULL;
}

static void check_adds_up(const struct thread_stat *t)
{
	CHECK_EQ_U64(t->on_cpu_ns + t->runnable_ns + t->lock_wait_ns + t->cond_wait_ns +
			 t->other_wait_ns,
		     t->end_ts - t->start_ts);
}

/* An output in memory, NUL-terminated, *len bytes */
static char *output(int (*fn)(FILE *, const struct analysis *), const struct analysis *a,
		    size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	CHECK(fn(f, a) == 0);
	fclose(f);
	return buf;
}

static int text(FILE *f, const struct analysis *a)
{
	struct report_opts o = {10, 3, 12};

	report_text(f, a, &o);
	return 0;
}

void test_reused_tids(void)
{
	const __u32 beta = 2 | 1u << TT_TID_BITS, delta = 4 | 1u << TT_TID_BITS;
	struct record_buf rb = {0};
	const struct thread_stat *t;
	const struct lock_stat *l;
	struct analysis a;
	size_t len;
	char *s;

	s_session(&rb, 0);
	/* /proc listed tid 3 before its new-thread record: one thread, not two */
	thread_info(&rb, 500 * US, 3, "early");
	new_thread(&rb, 800 * US, 3, "early");
	/* tid 2: alpha lives 1-5.5 ms, beta from 10 ms; tid 4: gamma's end was lost */
	new_thread(&rb, 1 * MS, 2, "alpha");
	new_thread(&rb, 2 * MS, 4, "gamma");
	sw(&rb, 2 * MS, 0, 0, 2, "alpha");
	lock_wait(&rb, 2, "alpha", 3 * MS, 4 * MS);
	s_exit(&rb, 5 * MS, 2);
	sw(&rb, 5500 * US, 2, TT_TASK_DEAD, 0, "alpha");
	new_thread(&rb, 7 * MS, 4, "delta");
	new_thread(&rb, 10 * MS, 2, "beta");
	sw(&rb, 11 * MS, 0, 0, 2, "beta");
	lock_wait(&rb, 2, "beta", 12 * MS, 15 * MS);
	s_end(&rb, 20 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	CHECK_EQ_U64(a.nr_threads, 5);

	t = thread_of(&a, 2);
	CHECK(t && !strcmp(t->name, "alpha"));
	if (t) {
		CHECK_EQ_U64(t->start_ts, 1 * MS);
		CHECK_EQ_U64(t->end_ts, 5500 * US);
		CHECK_EQ_U64(t->lock_wait_ns, 500 * US);
		CHECK_EQ_U64(t->on_cpu_ns, 1500 * US + 500 * US);
		CHECK(t->created && t->exited);
		check_adds_up(t);
	}
	t = thread_of(&a, beta);
	CHECK(t && !strcmp(t->name, "beta"));
	if (t) {
		CHECK_EQ_U64(t->start_ts, 10 * MS);
		CHECK_EQ_U64(t->end_ts, 20 * MS);
		CHECK_EQ_U64(t->lock_wait_ns, 2500 * US);
		CHECK_EQ_U64(t->contentions, 1);
		CHECK(t->created && !t->exited);
		check_adds_up(t);
	}
	t = thread_of(&a, 4);
	CHECK(t && !strcmp(t->name, "gamma") && t->exited && t->end_ts == 7 * MS);
	if (t)
		check_adds_up(t);
	t = thread_of(&a, delta);
	CHECK(t && !strcmp(t->name, "delta") && t->start_ts == 7 * MS && !t->exited);
	t = thread_of(&a, 3);
	CHECK(t && t->created && t->start_ts == 800 * US);
	/* two threads with tid 2 sort together, the first first */
	CHECK(a.threads[0].tid == 2 && a.threads[1].tid == beta);

	/* the lock's waiters: a row each, each with its own name and wait */
	l = a.nr_locks ? &a.locks[0] : NULL;
	CHECK(l && l->nr_waiters == 2);
	for (size_t i = 0; l && i < l->nr_waiters; i++) {
		const struct attrib *x = &l->waiters[i];

		CHECK(x->tid == 2 || x->tid == beta);
		CHECK(!strcmp(x->comm, x->tid == 2 ? "alpha" : "beta"));
		CHECK_EQ_U64(x->wait_ns, x->tid == 2 ? 2100 * US : 4100 * US);
	}

	s = output(json_summary, &a, &len);
	CHECK(strstr(s, "{\"tid\":2,\"name\":\"alpha\",\"start_ns\":1000000,") != NULL);
	CHECK(strstr(s, "{\"tid\":2,\"incarnation\":2,\"name\":\"beta\",\"start_ns\":10000000,") !=
	      NULL);
	CHECK(strstr(s, "\"waiters\":[{\"tid\":2,\"incarnation\":2,\"name\":\"beta\"") != NULL);
	free(s);
	s = output(text, &a, &len);
	CHECK(strstr(s, "tid 2#2 beta\n") != NULL);
	CHECK(strstr(s, "tid 2 alpha\n") != NULL);
	CHECK(strstr(s, "\n  2#2     beta ") != NULL);
	free(s);
	s = output(perfetto_write, &a, &len);
	CHECK(memmem(s, len, "beta (tid 2#2)", 14) != NULL);
	free(s);
	analysis_free(&a);
	records_free(&rb);
}
