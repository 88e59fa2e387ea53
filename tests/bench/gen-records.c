// SPDX-License-Identifier: GPL-2.0
/*
 * gen-records.c - write a synthetic record file for the analysis benchmark: THREADS threads of
 * one process, each waking RATE times a second for SECONDS, waiting on one of 64 condvar-like
 * futex words with a 4-frame stack, woken by the thread before it. Five records per cycle,
 * written in timestamp order as a collector writes them, streamed (memory does not grow).
 *   gen-records FILE THREADS SECONDS RATE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "recfile.h"

#define PID 4242
#define MS  1000000ULL

static void hdr(void *rec, __u16 kind, __u16 size, __u64 ts, __u32 tid)
{
	struct tt_rec_hdr *h = rec;

	h->kind = kind;
	h->size = size;
	h->ts = ts;
	h->pid = PID;
	h->tid = tid;
	h->cpu = tid & 1;
}

static struct record_buf *sort_rb;

static int cmp_ts(const void *a, const void *b)
{
	const struct tt_rec_hdr *x = (const void *)(sort_rb->data + *(const size_t *)a);
	const struct tt_rec_hdr *y = (const void *)(sort_rb->data + *(const size_t *)b);

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Write the records of rb older than before in time order; keep the others in rb. */
static size_t flush_before(struct recfile_writer *w, struct record_buf *rb, __u64 before)
{
	struct record_buf keep = {0};
	size_t *idx = malloc((rb->count + 1) * sizeof(*idx)), n = 0, written = 0;

	for (size_t off = 0; off < rb->len; off += ((struct tt_rec_hdr *)(rb->data + off))->size)
		idx[n++] = off;
	sort_rb = rb;
	qsort(idx, n, sizeof(*idx), cmp_ts);
	for (size_t i = 0; i < n; i++) {
		const struct tt_rec_hdr *h = (const void *)(rb->data + idx[i]);

		if (h->ts < before) {
			recfile_writer_add(w, h, h->size);
			written++;
		} else {
			records_append(&keep, h, h->size);
		}
	}
	free(idx);
	records_free(rb);
	*rb = keep;
	return written;
}

int main(int argc, char **argv)
{
	struct record_buf rb = {0};
	struct recfile_writer *w;
	size_t written = 0;
	struct symdata sd = {0};
	struct rec_info info = {.host = "synthetic", .kernel = "-", .cmdline = "gen-records"};
	unsigned threads, seconds, rate;
	__u64 period, end;

	if (argc != 5) {
		fprintf(stderr, "usage: gen-records FILE THREADS SECONDS RATE\n");
		return 2;
	}
	threads = atoi(argv[2]);
	seconds = atoi(argv[3]);
	rate = atoi(argv[4]);
	if (!threads || !seconds || !rate)
		return 2;
	period = 1000000000ULL / rate;
	end = (__u64)seconds * 1000000000ULL;
	w = recfile_writer_open(argv[1], &info, &sd);
	if (!w)
		return 1;
	{
		struct tt_session s = {0};

		hdr(&s, TT_REC_SESSION, sizeof(s), 0, PID);
		s.target_pid = PID;
		strcpy(s.comm, "synthetic");
		records_append(&rb, &s, sizeof(s));
	}
	/* cycle c of thread i starts at c * period + i * period / threads */
	for (__u64 base = 0; base < end; base += period) {
		written += flush_before(w, &rb, base);
		for (unsigned i = 0; i < threads; i++) {
			__u64 t = base + (__u64)i * period / threads + 1;
			__u32 tid = PID + 1 + i, waker = PID + 1 + (i + threads - 1) % threads;
			__u64 addr = 0x7000000 + (i % 64) * 64;
			struct {
				struct tt_wait_begin r;
				__u64 ips[4];
			} wb = {0};
			struct {
				struct tt_waking r;
				__u64 ips[4];
			} wk = {0};
			struct tt_switch sw = {0};
			struct tt_wait_end we = {0};

			hdr(&wb, TT_REC_WAIT_BEGIN, sizeof(wb), t, tid);
			wb.r.uaddr = addr;
			wb.r.op = TT_FUTEX_WAIT_BITSET | 128;
			wb.r.stack.nr_user = 4;
			for (int k = 0; k < 4; k++)
				wb.ips[k] = 0x400000 + 0x100 * k + (i % 8);
			records_append(&rb, &wb, sizeof(wb));
			hdr(&sw, TT_REC_SWITCH, sizeof(sw), t + 1000, tid);
			sw.prev_state = TT_TASK_INTERRUPTIBLE;
			records_append(&rb, &sw, sizeof(sw));
			hdr(&wk, TT_REC_WAKING, sizeof(wk), t + period / 2, waker);
			wk.r.wakee_tid = tid;
			wk.r.wakee_uaddr = addr;
			wk.r.waker_uaddr = addr;
			wk.r.reason = TT_WAKE_FUTEX;
			wk.r.stack.nr_user = 4;
			for (int k = 0; k < 4; k++)
				wk.ips[k] = 0x500000 + 0x100 * k;
			records_append(&rb, &wk, sizeof(wk));
			memset(&sw, 0, sizeof(sw));
			hdr(&sw, TT_REC_SWITCH, sizeof(sw), t + period / 2 + 5000, 0);
			sw.next_pid = PID;
			sw.next_tid = tid;
			records_append(&rb, &sw, sizeof(sw));
			hdr(&we, TT_REC_WAIT_END, sizeof(we), t + period / 2 + 8000, tid);
			we.uaddr = addr;
			records_append(&rb, &we, sizeof(we));
		}
	}
	{
		struct tt_session_end e = {0};

		hdr(&e, TT_REC_SESSION_END, sizeof(e), end, PID);
		records_append(&rb, &e, sizeof(e));
	}
	written += flush_before(w, &rb, (__u64)-1);
	if (recfile_writer_close(w))
		return 1;
	printf("%zu\n", written);
	return 0;
}
