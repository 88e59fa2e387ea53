// SPDX-License-Identifier: GPL-2.0
/* stream.c - see stream.h. Every record goes through records_append's checks. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "stream.h"
#include "json.h"

#define MS     1000000ULL
#define A_LOCK 0x1000ULL

static void hdr(void *rec, __u16 kind, __u16 size, __u64 ts, __u32 pid, __u32 tid)
{
	struct tt_rec_hdr *h = rec;

	h->kind = kind;
	h->size = size;
	h->ts = ts;
	h->pid = pid;
	h->tid = tid;
}

static void append(struct record_buf *rb, void *rec, size_t size)
{
	if (records_append(rb, rec, size)) {
		fprintf(stderr, "stream: malformed synthetic record\n");
		abort();
	}
}

void s_session(struct record_buf *rb, __u64 ts)
{
	struct tt_session s = {0};

	hdr(&s, TT_REC_SESSION, sizeof(s), ts, PID, PID);
	s.target_pid = PID;
	strcpy(s.comm, "synthetic");
	append(rb, &s, sizeof(s));
}

void s_runtime(struct record_buf *rb, __u64 ts, __u32 runtime, const char *path)
{
	struct tt_runtime r = {0};

	hdr(&r, TT_REC_RUNTIME, sizeof(r), ts, PID, PID);
	r.runtime = runtime;
	snprintf(r.path, sizeof(r.path), "%s", path);
	append(rb, &r, sizeof(r));
}

void s_session_flags(struct record_buf *rb, __u64 ts, __u32 flags)
{
	struct tt_session s = {0};

	hdr(&s, TT_REC_SESSION, sizeof(s), ts, PID, PID);
	s.target_pid = PID;
	s.flags = flags;
	strcpy(s.comm, "synthetic");
	append(rb, &s, sizeof(s));
}

void s_lock_call(struct record_buf *rb, __u64 ts, __u32 tid, __u32 op, __u64 obj, __u64 obj2,
		 __u64 ip)
{
	struct {
		struct tt_lock_call c;
		__u64 ips[1];
	} r = {0};

	hdr(&r, TT_REC_LOCK_CALL, sizeof(r.c) + (ip ? 8 : 0), ts, PID, tid);
	r.c.op = op;
	r.c.obj = obj;
	r.c.obj2 = obj2;
	r.c.stack.nr_user = ip ? 1 : 0;
	r.ips[0] = ip;
	append(rb, &r, sizeof(r.c) + (ip ? 8 : 0));
}

void s_end(struct record_buf *rb, __u64 ts)
{
	struct tt_session_end e = {0};

	hdr(&e, TT_REC_SESSION_END, sizeof(e), ts, PID, PID);
	append(rb, &e, sizeof(e));
}

void s_wait_begin(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr, __u32 op, __u32 val,
		  const __u64 *ips, unsigned n)
{
	size_t size = sizeof(struct tt_wait_begin) + n * 8;
	struct tt_wait_begin *r = calloc(1, size);

	hdr(r, TT_REC_WAIT_BEGIN, size, ts, PID, tid);
	r->uaddr = addr;
	r->op = op;
	r->val = val;
	r->stack.nr_user = n;
	if (n) /* memcpy(NULL, 0) is undefined */
		memcpy(r->stack.ips, ips, n * 8);
	append(rb, r, size);
	free(r);
}

void s_wait_end(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr, __s64 ret)
{
	struct tt_wait_end r = {0};

	hdr(&r, TT_REC_WAIT_END, sizeof(r), ts, PID, tid);
	r.uaddr = addr;
	r.ret = ret;
	append(rb, &r, sizeof(r));
}

void s_wait_end_word(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr, __s64 ret, __u32 word)
{
	struct tt_wait_end r = {0};

	hdr(&r, TT_REC_WAIT_END, sizeof(r), ts, PID, tid);
	r.uaddr = addr;
	r.ret = ret;
	r.word = word;
	append(rb, &r, sizeof(r));
}

void s_wake_op(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr)
{
	struct tt_wake_op r = {0};

	hdr(&r, TT_REC_WAKE_OP, sizeof(r), ts, PID, tid);
	r.uaddr = addr;
	r.op = TT_FUTEX_WAKE;
	r.nr_wake = 1;
	append(rb, &r, sizeof(r));
}

void s_waking(struct record_buf *rb, __u64 ts, __u32 waker, __u32 wakee, __u64 wakee_addr,
	      __u32 reason, __u64 waker_addr, const __u64 *ips, unsigned n)
{
	size_t size = sizeof(struct tt_waking) + n * 8;
	struct tt_waking *r = calloc(1, size);

	hdr(r, TT_REC_WAKING, size, ts, PID, waker);
	r->wakee_tid = wakee;
	r->wakee_uaddr = wakee_addr;
	r->reason = reason;
	r->waker_uaddr = waker_addr;
	snprintf(r->waker_comm, sizeof(r->waker_comm), "t%u", waker);
	r->stack.nr_user = n;
	if (n) /* memcpy(NULL, 0) is undefined */
		memcpy(r->stack.ips, ips, n * 8);
	append(rb, r, size);
	free(r);
}

void s_switch(struct record_buf *rb, __u64 ts, __u32 prev, __u32 prev_state, __u32 next)
{
	struct tt_switch r = {0};

	hdr(&r, TT_REC_SWITCH, sizeof(r), ts, prev ? PID : 0, prev);
	r.prev_state = prev_state;
	r.next_pid = next ? PID : 0;
	r.next_tid = next;
	snprintf(r.prev_comm, sizeof(r.prev_comm), "t%u", prev);
	snprintf(r.next_comm, sizeof(r.next_comm), "t%u", next);
	append(rb, &r, sizeof(r));
}

void s_switch_kstat(struct record_buf *rb, __u64 ts, __u32 prev, __u32 prev_state, __u32 next,
		    __u64 run_delay, __u64 exec_ns)
{
	struct tt_switch_kstat r = {0};

	hdr(&r, TT_REC_SWITCH_KSTAT, sizeof(r), ts, prev ? PID : 0, prev);
	r.sw.prev_state = prev_state;
	r.sw.next_pid = next ? PID : 0;
	r.sw.next_tid = next;
	snprintf(r.sw.prev_comm, sizeof(r.sw.prev_comm), "t%u", prev);
	snprintf(r.sw.next_comm, sizeof(r.sw.next_comm), "t%u", next);
	r.prev_run_delay = run_delay;
	r.prev_exec_ns = exec_ns;
	append(rb, &r, sizeof(r));
}

void s_new_thread(struct record_buf *rb, __u64 ts, __u32 tid)
{
	struct tt_new_thread r = {0};

	hdr(&r, TT_REC_NEW_THREAD, sizeof(r), ts, PID, tid);
	snprintf(r.comm, sizeof(r.comm), "t%u", tid);
	append(rb, &r, sizeof(r));
}

void s_exit(struct record_buf *rb, __u64 ts, __u32 tid)
{
	struct tt_exit r = {0};

	hdr(&r, TT_REC_EXIT, sizeof(r), ts, PID, tid);
	snprintf(r.comm, sizeof(r.comm), "t%u", tid);
	append(rb, &r, sizeof(r));
}

const struct lock_stat *find_lock(const struct analysis *a, __u64 addr)
{
	for (size_t i = 0; i < a->nr_locks; i++)
		if (a->locks[i].addr == addr)
			return &a->locks[i];
	return NULL;
}

const struct thread_stat *find_thread(const struct analysis *a, __u32 tid)
{
	for (size_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].tid == tid)
			return &a->threads[i];
	return NULL;
}

char *summary_of(struct analysis *a, size_t *len)
{
	char *j = NULL;
	FILE *f = open_memstream(&j, len);

	json_summary(f, a);
	fclose(f);
	return j;
}

void sample_session(struct record_buf *rb, struct symdata *sd)
{
	__u64 ips[] = {0x100, 0x200};
	struct sym_lock *l;

	s_session(rb, 0);
	s_wait_begin(rb, 1 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, ips, 2);
	s_waking(rb, 3 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips + 1, 1);
	s_wait_end(rb, 3 * MS, 1, A_LOCK, 0);
	s_end(rb, 5 * MS);
	symdata_add_frame(sd, 0x100, "waiter_fn+0x10 (app)", "waiter_fn");
	symdata_add_frame(sd, 0x200, "thread_main+0x20 (app)", "thread_main");
	l = symdata_add_lock(sd, A_LOCK);
	l->name = strdup("acc_lock");
	l->module = symdata_str(sd, "app");
	l->module_off = 0x4040;
	l->mem_ok = true;
}
