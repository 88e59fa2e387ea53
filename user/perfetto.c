// SPDX-License-Identifier: GPL-2.0
/*
 * perfetto.c - see perfetto.h. Field numbers from Perfetto's published protos:
 * Trace {1 packet}; TracePacket {6 clock_snapshot, 8 timestamp, 10 trusted_packet_sequence_id,
 * 11 track_event, 58 timestamp_clock_id, 60 track_descriptor}; ClockSnapshot {1 clocks,
 * 2 primary_trace_clock}; Clock {1 clock_id, 2 timestamp}; TrackDescriptor {1 uuid, 2 name,
 * 3 process, 4 thread, 5 parent_uuid, 8 counter}; ProcessDescriptor {1 pid, 6 process_name};
 * ThreadDescriptor {1 pid, 2 tid, 5 thread_name}; TrackEvent {9 type, 11 track_uuid, 23 name,
 * 30 counter_value, 47 flow_ids (fixed64), 48 terminating_flow_ids (fixed64)}.
 * The timestamps are CLOCK_MONOTONIC (builtin clock 3), declared the trace clock.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "perfetto.h"
#include "protobuf.h"

#define CLOCK_MONOTONIC_ID 3
#define SEQ_ID		   1
#define HOT_LOCKS	   5

enum { SLICE_BEGIN = 1, SLICE_END = 2, INSTANT = 3, COUNTER = 4 };

static __u64 process_uuid(const struct analysis *a)
{
	return 0x100000000ULL | a->pid;
}

/* tid: a thread key (analysis.h), so each thread that had a reused tid has its own track */
static __u64 thread_uuid(__u32 tid)
{
	return 0x200000000ULL | tid;
}

static __u64 counter_uuid(size_t lock)
{
	return 0x300000000ULL | lock;
}

static __u64 gil_uuid(void)
{
	return 0x400000000ULL;
}

static __u64 thread_gil_uuid(__u32 tid)
{
	return 0x500000000ULL | tid;
}

static void emit_packet(struct pb *trace, struct pb *packet)
{
	pb_uint(packet, 10, SEQ_ID);
	pb_msg(trace, 1, packet);
	pb_free(packet);
}

static void track_descriptor(struct pb *trace, __u64 uuid, __u64 parent, const char *name,
			     const struct pb *process, const struct pb *thread, bool counter)
{
	struct pb pk = {0}, td = {0}, empty = {0};

	pb_uint(&td, 1, uuid);
	if (name)
		pb_string(&td, 2, name);
	if (process)
		pb_msg(&td, 3, process);
	if (thread)
		pb_msg(&td, 4, thread);
	if (parent)
		pb_uint(&td, 5, parent);
	if (counter)
		pb_msg(&td, 8, &empty);
	pb_msg(&pk, 60, &td);
	emit_packet(trace, &pk);
	pb_free(&td);
}

/* One TrackEvent packet; name may be NULL (slice ends), flows may be 0. */
static void track_event(struct pb *trace, __u64 ts, __u64 track, int type, const char *name,
			__u64 flow, __u64 terminating_flow, bool has_value, __s64 value)
{
	struct pb pk = {0}, ev = {0};

	pb_uint(&ev, 9, type);
	pb_uint(&ev, 11, track);
	if (name)
		pb_string(&ev, 23, name);
	if (has_value)
		pb_uint(&ev, 30, (__u64)value);
	if (flow) {
		pb_varint(&ev, (47 << 3) | 1); /* fixed64 */
		pb_bytes_raw(&ev, &flow, 8);
	}
	if (terminating_flow) {
		pb_varint(&ev, (48 << 3) | 1);
		pb_bytes_raw(&ev, &terminating_flow, 8);
	}
	pb_uint(&pk, 8, ts);
	pb_uint(&pk, 58, CLOCK_MONOTONIC_ID);
	pb_msg(&pk, 11, &ev);
	emit_packet(trace, &pk);
	pb_free(&ev);
}

static const char *state_name(const struct analysis *a, const struct interval *iv, char *buf,
			      size_t len)
{
	const struct lock_stat *l;
	char label[200];

	switch (iv->state) {
	case TSK_RUNNING:
		return "running";
	case TSK_RUNNABLE:
		return "runnable";
	case TSK_OTHER:
		return "blocked (I/O, sleep, other)";
	}
	l = analysis_lock_of(a, iv->addr);
	if (!l) {
		snprintf(buf, len, "futex wait 0x%llx", (unsigned long long)iv->addr);
		return buf;
	}
	snprintf(buf, len, "%s %s", lock_kind_is_contention(l->kind) ? "lock wait" : "waiting",
		 lock_label(l, label, sizeof(label)));
	return buf;
}

struct counter_step {
	__u64 ts;
	int delta;
};

static int cmp_step(const void *a, const void *b)
{
	const struct counter_step *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->delta - y->delta; /* leave before enter at the same instant */
}

static void hot_lock_counters(struct pb *trace, const struct analysis *a)
{
	for (size_t k = 0; k < a->nr_locks && k < HOT_LOCKS; k++) {
		const struct lock_stat *l = &a->locks[k];
		struct counter_step *steps = NULL;
		size_t n = 0, cap = 0;
		char name[256], label[200];
		__s64 v = 0;

		if (!l->contentions || !lock_kind_is_contention(l->kind))
			continue;
		for (size_t i = 0; i < a->nr_spans; i++) {
			if (analysis_lock_of(a, a->spans[i].addr) != l)
				continue;
			*VEC_PUSH(steps, n, cap) = (struct counter_step){a->spans[i].begin, 1};
			*VEC_PUSH(steps, n, cap) = (struct counter_step){a->spans[i].end, -1};
		}
		snprintf(name, sizeof(name), "waiters %s", lock_label(l, label, sizeof(label)));
		track_descriptor(trace, counter_uuid(k), process_uuid(a), name, NULL, NULL, true);
		sort_array(steps, n, sizeof(*steps), cmp_step);
		track_event(trace, a->start_ts, counter_uuid(k), COUNTER, NULL, 0, 0, true, 0);
		for (size_t i = 0; i < n; i++) {
			v += steps[i].delta;
			if (i + 1 < n && steps[i + 1].ts == steps[i].ts)
				continue; /* one value per instant */
			track_event(trace, steps[i].ts, counter_uuid(k), COUNTER, NULL, 0, 0, true,
				    v);
		}
		free(steps);
	}
}

static const struct thread_stat *thread_of(const struct analysis *a, __u32 tid);

/*
 * CPython's GIL: a process track "GIL holder" with one slice per hold, named by the holder,
 * and under each Python thread a "GIL" track with its holds and waits.
 */
static void gil_tracks(struct pb *trace, const struct analysis *a)
{
	const struct gil_stat *g = &a->gil;
	char name[128], comm[TT_COMM_LEN + 1] = "";

	if (!g->present || !g->nr_spans)
		return;
	track_descriptor(trace, gil_uuid(), process_uuid(a), "GIL holder", NULL, NULL, false);
	for (size_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].python)
			track_descriptor(trace, thread_gil_uuid(a->threads[i].tid),
					 thread_uuid(a->threads[i].tid), "GIL", NULL, NULL, false);
	for (size_t i = 0; i < g->nr_spans; i++) {
		const struct gil_span *s = &g->spans[i];
		const struct thread_stat *t = thread_of(a, s->tid);

		if (!t || !t->python)
			continue;
		track_event(trace, s->begin, thread_gil_uuid(s->tid), SLICE_BEGIN,
			    s->wait ? "waits for the GIL" : "holds the GIL", 0, 0, false, 0);
		track_event(trace, s->end, thread_gil_uuid(s->tid), SLICE_END, NULL, 0, 0, false,
			    0);
		if (s->wait)
			continue;
		snprintf(name, sizeof(name), "tid %s (%s)", TID_STR(s->tid),
			 analysis_thread_name(a, s->tid, t->name, comm, sizeof(comm)));
		track_event(trace, s->begin, gil_uuid(), SLICE_BEGIN, name, 0, 0, false, 0);
		track_event(trace, s->end, gil_uuid(), SLICE_END, NULL, 0, 0, false, 0);
	}
}

static const struct thread_stat *thread_of(const struct analysis *a, __u32 tid)
{
	size_t lo = 0, hi = a->nr_threads;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a->threads[mid].tid == tid)
			return &a->threads[mid];
		if (thread_key_cmp(a->threads[mid].tid, tid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool traced_thread(const struct analysis *a, __u32 tid)
{
	return thread_of(a, tid) != NULL;
}

int perfetto_write(FILE *out, const struct analysis *a)
{
	struct pb trace = {0}, pk = {0}, cs = {0}, clock = {0}, proc = {0};
	struct u64_map flow_by_wake = {0}; /* hash(wakee, ts) -> flow id */
	char comm[TT_COMM_LEN + 1], buf[256];
	int err = 0;

	/* the session's clock is the trace clock */
	pb_uint(&clock, 1, CLOCK_MONOTONIC_ID);
	pb_uint(&clock, 2, a->start_ts);
	pb_msg(&cs, 1, &clock);
	pb_uint(&cs, 2, CLOCK_MONOTONIC_ID);
	pb_uint(&pk, 8, a->start_ts);
	pb_uint(&pk, 58, CLOCK_MONOTONIC_ID);
	pb_msg(&pk, 6, &cs);
	emit_packet(&trace, &pk);

	memcpy(comm, a->comm, TT_COMM_LEN);
	comm[TT_COMM_LEN] = 0;
	pb_uint(&proc, 1, a->pid);
	pb_string(&proc, 6, comm);
	track_descriptor(&trace, process_uuid(a), 0, NULL, &proc, NULL, false);
	for (size_t i = 0; i < a->nr_threads; i++) {
		const struct thread_stat *t = &a->threads[i];
		const char *tname = analysis_thread_name(a, t->tid, t->name, comm, sizeof(comm));
		struct pb th = {0};

		pb_uint(&th, 1, a->pid);
		pb_uint(&th, 2, thread_tid(t->tid));
		pb_string(&th, 5, tname);
		/* a later thread with a reused tid: its track says which one it is */
		if (thread_incarnation(t->tid) > 1)
			snprintf(buf, sizeof(buf), "%s (tid %s)", tname, TID_STR(t->tid));
		track_descriptor(&trace, thread_uuid(t->tid), process_uuid(a),
				 thread_incarnation(t->tid) > 1 ? buf : NULL, NULL, &th, false);
		pb_free(&th);
	}

	/* unlock -> woken thread: an instant on the waker's track starts each flow */
	for (size_t i = 0; i < a->nr_edges; i++) {
		const struct wake_edge *e = &a->edges[i];
		bool found;

		if (!traced_thread(a, e->waker_tid))
			continue;
		*u64_map_upsert(&flow_by_wake, hash_u64(((__u64)e->wakee_tid << 32) ^ e->ts),
				&found) = i + 1;
		snprintf(buf, sizeof(buf), "wakes tid %s", TID_STR(e->wakee_tid));
		track_event(&trace, e->ts, thread_uuid(e->waker_tid), INSTANT, buf, i + 1, 0, false,
			    0);
	}
	/* thread states; the slice a woken thread starts with ends its flow */
	for (size_t i = 0; i < a->nr_intervals; i++) {
		const struct interval *iv = &a->intervals[i];
		__u64 *flow =
		    u64_map_get(&flow_by_wake, hash_u64(((__u64)iv->tid << 32) ^ iv->begin));

		track_event(&trace, iv->begin, thread_uuid(iv->tid), SLICE_BEGIN,
			    state_name(a, iv, buf, sizeof(buf)), 0,
			    flow && iv->state == TSK_RUNNABLE ? *flow : 0, false, 0);
		track_event(&trace, iv->end, thread_uuid(iv->tid), SLICE_END, NULL, 0, 0, false, 0);
	}
	hot_lock_counters(&trace, a);
	gil_tracks(&trace, a);

	if (fwrite(trace.data, 1, trace.len, out) != trace.len || ferror(out))
		err = -EIO;
	pb_free(&trace);
	pb_free(&cs);
	pb_free(&clock);
	pb_free(&proc);
	u64_map_free(&flow_by_wake);
	return err;
}
