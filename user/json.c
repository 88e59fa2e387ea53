// SPDX-License-Identifier: GPL-2.0
/* json.c - see json.h. */
#include <errno.h>
#include <string.h>
#include "json.h"
#include "stackview.h"
#include "pygil.h"

static void json_sep(struct json_writer *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	j->need_comma[j->depth] = true;
}

static void json_open(struct json_writer *j, char c)
{
	json_sep(j);
	fputc(c, j->out);
	if (j->depth < 63)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void json_close(struct json_writer *j, char c)
{
	if (j->depth > 0)
		j->depth--;
	fputc(c, j->out);
}

void json_begin_object(struct json_writer *j)
{
	json_open(j, '{');
}
void json_end_object(struct json_writer *j)
{
	json_close(j, '}');
}
void json_begin_array(struct json_writer *j)
{
	json_open(j, '[');
}
void json_end_array(struct json_writer *j)
{
	json_close(j, ']');
}

static void json_raw_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(out, "\\u%04x", *p);
			} else if (*p >= 0x80) {
				/* UTF-8 kept as it is; a byte that is none, as the text "\\xNN" */
				size_t n = utf8_seq_len(p, strnlen((const char *)p, 4));

				if (n) {
					fwrite(p, 1, n, out);
					p += n - 1;
				} else {
					fprintf(out, "\\\\x%02x", *p);
				}
			} else {
				fputc(*p, out);
			}
		}
	}
	fputc('"', out);
}

void json_key(struct json_writer *j, const char *key)
{
	json_sep(j);
	json_raw_string(j->out, key);
	fputc(':', j->out);
	j->after_key = true;
}

void json_string(struct json_writer *j, const char *s)
{
	json_sep(j);
	json_raw_string(j->out, s);
}

void json_u64(struct json_writer *j, __u64 v)
{
	json_sep(j);
	fprintf(j->out, "%llu", (unsigned long long)v);
}

void json_null(struct json_writer *j)
{
	json_sep(j);
	fputs("null", j->out);
}

void json_bool(struct json_writer *j, bool v)
{
	json_sep(j);
	fputs(v ? "true" : "false", j->out);
}

static void comm_string(struct json_writer *j, const char *comm)
{
	char buf[TT_COMM_LEN + 1];

	memcpy(buf, comm, TT_COMM_LEN);
	buf[TT_COMM_LEN] = 0;
	json_string(j, buf);
}

/* A thread key (analysis.h): its tid, and which thread of that tid when it was reused. */
static void tid_fields(struct json_writer *j, __u32 key)
{
	json_key(j, "tid");
	json_u64(j, thread_tid(key));
	if (thread_incarnation(key) > 1) {
		json_key(j, "incarnation");
		json_u64(j, thread_incarnation(key));
	}
}

/*
 * "name": a Python thread's threading name, else its OS name; "os_name": the OS name too
 * where the two differ (3.14 copies the Python name into comm cut at 15 bytes). tid: a thread
 * key, 0 for none.
 */
static void name_fields(struct json_writer *j, const struct analysis *a, __u32 tid,
			const char *comm)
{
	const char *py = tid ? analysis_py_name(a, tid) : NULL;
	char buf[TT_COMM_LEN + 1];

	memcpy(buf, comm, TT_COMM_LEN);
	buf[TT_COMM_LEN] = 0;
	json_key(j, "name");
	json_string(j, py ? py : buf);
	if (py && strcmp(py, buf)) {
		json_key(j, "os_name");
		json_string(j, buf);
	}
}

static void stack_arrays(struct json_writer *j, const struct analysis *a, __u32 stack);

/* A free-threaded CPython's stop-the-world pauses (analysis_python.c); null when none. */
static void json_stw(struct json_writer *j, const struct analysis *a)
{
	__u64 total = 0, max = 0;

	if (!a->nr_stw) {
		json_null(j);
		return;
	}
	for (size_t i = 0; i < a->nr_stw; i++) {
		__u64 d = a->stw[i].end - a->stw[i].start;

		total += d;
		max = d > max ? d : max;
	}
	json_begin_object(j);
	json_key(j, "pauses");
	json_u64(j, a->nr_stw);
	json_key(j, "total_ns");
	json_u64(j, total);
	json_key(j, "max_ns");
	json_u64(j, max);
	json_key(j, "list");
	json_begin_array(j);
	for (size_t i = 0; i < a->nr_stw; i++) {
		const struct py_stw_pause *p = &a->stw[i];

		json_begin_object(j);
		json_key(j, "start_ns");
		json_u64(j, p->start - a->start_ts);
		json_key(j, "duration_ns");
		json_u64(j, p->end - p->start);
		json_key(j, "cause");
		json_string(j, p->cause);
		json_key(j, "requester");
		json_u64(j, p->requester);
		json_key(j, "threads_parked");
		json_u64(j, p->parked);
		stack_arrays(j, a, p->stack);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

static void stack_arrays(struct json_writer *j, const struct analysis *a, __u32 stack)
{
	const struct stack_entry *st = stack == TT_NO_STACK ? NULL : &a->stacks[stack];
	char buf[64];

	json_key(j, "stack");
	json_begin_array(j);
	for (unsigned i = 0; st && i < st->nr_user; i++) {
		const char *names[TT_MAX_INLINE], *funcs[TT_MAX_INLINE];
		unsigned n =
		    analysis_frames_at(a, st, i, names, funcs, TT_MAX_INLINE, buf, sizeof(buf));

		for (unsigned k = 0; k < n; k++)
			json_string(j, names[k]);
	}
	json_end_array(j);
	if (st && stackview_has_python(st)) {
		/* the Python-first view the text report shows (stackview.h) */
		unsigned idx[STACKVIEW_MAX], nv = stackview_user(a, st, false, idx, STACKVIEW_MAX);

		json_key(j, "python_stack");
		json_begin_array(j);
		for (unsigned i = 0; i < nv; i++) {
			const char *names[TT_MAX_INLINE], *funcs[TT_MAX_INLINE];
			unsigned n = analysis_frames_at(a, st, idx[i], names, funcs, TT_MAX_INLINE,
							buf, sizeof(buf));

			for (unsigned k = 0; k < n; k++)
				json_string(j, names[k]);
		}
		json_end_array(j);
	}
	json_key(j, "kernel_stack");
	json_begin_array(j);
	for (unsigned i = st ? analysis_kernel_skip(a, st) : 0; st && i < st->nr_kernel; i++)
		json_string(j, analysis_frame_name(a, st, st->nr_user + i, buf, sizeof(buf)));
	json_end_array(j);
	json_key(j, "truncated");
	json_bool(j, st && (st->flags & TT_STACK_USER_TRUNC));
}

static void attribs(struct json_writer *j, const struct analysis *a, const struct attrib *v,
		    size_t n, bool wakers)
{
	json_begin_array(j);
	for (size_t i = 0; i < n; i++) {
		json_begin_object(j);
		if (v[i].tid) {
			tid_fields(j, v[i].tid);
		} else {
			json_key(j, "tid");
			json_null(j);
		}
		if (wakers) {
			json_key(j, "cause");
			json_string(j, wake_cause_name(v[i].cause));
		}
		name_fields(j, a, v[i].tid, v[i].comm);
		/* a waker in another process (a process-shared lock): which one */
		if (v[i].pid) {
			json_key(j, "pid");
			json_u64(j, v[i].pid);
		}
		stack_arrays(j, a, v[i].stack);
		json_key(j, "count");
		json_u64(j, v[i].count);
		json_key(j, "wait_ns");
		json_u64(j, v[i].wait_ns);
		json_end_object(j);
	}
	json_end_array(j);
}

/* --holds: what the lock-call probes saw of one lock. */
static void hold_fields(struct json_writer *j, const struct analysis *a, const struct lock_stat *l)
{
	json_key(j, "kind_from_calls");
	json_bool(j, l->calls_seen);
	json_key(j, "acquisitions");
	json_u64(j, l->acquisitions);
	json_key(j, "hold_ns");
	json_u64(j, l->hold_ns);
	json_key(j, "max_hold_ns");
	json_u64(j, l->max_hold_ns);
	json_key(j, "caused_wait_ns");
	json_u64(j, l->caused_wait_ns);
	json_key(j, "hold_histogram_us_log2");
	json_begin_array(j);
	for (unsigned b = 0; b < TT_HIST_BUCKETS; b++)
		json_u64(j, l->hold_hist ? l->hold_hist[b] : 0);
	json_end_array(j);
	json_key(j, "holders");
	json_begin_array(j);
	for (size_t i = 0; i < l->nr_holders; i++) {
		const struct holder *h = &l->holders[i];

		json_begin_object(j);
		if (h->tid) {
			tid_fields(j, h->tid);
		} else {
			json_key(j, "tid");
			json_null(j);
		}
		name_fields(j, a, h->tid, h->comm);
		stack_arrays(j, a, h->stack);
		json_key(j, "count");
		json_u64(j, h->count);
		json_key(j, "hold_ns");
		json_u64(j, h->hold_ns);
		json_key(j, "max_hold_ns");
		json_u64(j, h->max_hold_ns);
		json_key(j, "caused_wait_ns");
		json_u64(j, h->caused_wait_ns);
		json_end_object(j);
	}
	json_end_array(j);
}

/* A Python wait's object and holder, or null. */
static void json_pywait(struct json_writer *j, const struct pywait_info *p)
{
	char buf[32];

	if (!p->valid) {
		json_null(j);
		return;
	}
	json_begin_object(j);
	json_key(j, "kind");
	json_string(j, pyobj_kind_name(p->kind));
	json_key(j, "name");
	json_string(j, p->name);
	json_key(j, "object");
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)p->obj);
	json_string(j, buf);
	json_key(j, "id");
	json_u64(j, p->obj);
	json_key(j, "lock");
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)p->lock);
	json_string(j, buf);
	json_key(j, "holder_tid");
	if (p->holder)
		json_u64(j, p->holder);
	else
		json_null(j);
	json_key(j, "holder_evidence");
	if (p->evidence)
		json_string(j, pyhold_evidence_name(p->evidence));
	else
		json_null(j);
	json_end_object(j);
}

static void json_gil(struct json_writer *j, const struct analysis *a)
{
	const struct gil_stat *g = &a->gil;
	char buf[160];

	if (!g->present) {
		json_null(j);
		return;
	}
	json_begin_object(j);
	json_key(j, "python");
	pygil_version_str(g->hexversion, buf, sizeof(buf));
	json_string(j, buf);
	json_key(j, "path");
	json_string(j, g->path);
	json_key(j, "method");
	snprintf(buf, sizeof(buf),
		 "uprobes on %u take and %u drop stores to the GIL's locked "
		 "(%s)",
		 g->sites_take, g->sites_drop,
		 g->flags & TT_PY_STRIPPED ? "stripped build: found by decoding the code"
					   : "in take_gil/drop_gil");
	json_string(j, buf);
	json_key(j, "interval_us");
	json_u64(j, g->interval_us);
	json_key(j, "free_threaded");
	json_bool(j, g->flags & TT_PY_FREE_THREADED);
	json_key(j, "enabled_at_ns"); /* since the trace started; null: enabled from the start */
	if (g->enabled_ts)
		json_u64(j, g->enabled_ns);
	else
		json_null(j);
	json_key(j, "traced_ns");
	json_u64(j, g->traced_ns);
	json_key(j, "hold_ns");
	json_u64(j, g->hold_ns);
	json_key(j, "takes");
	json_u64(j, g->takes);
	json_key(j, "drops");
	json_u64(j, g->drops);
	json_key(j, "forced_drops");
	json_u64(j, g->forced_drops);
	json_key(j, "switches");
	json_u64(j, g->switches);
	json_key(j, "switch_number_first");
	json_u64(j, g->switch_first);
	json_key(j, "switch_number_last");
	json_u64(j, g->switch_last);
	json_key(j, "threads");
	json_begin_array(j);
	for (size_t i = 0; i < a->nr_threads; i++) {
		const struct thread_stat *t = &a->threads[i];

		if (!t->python)
			continue;
		json_begin_object(j);
		tid_fields(j, t->tid);
		name_fields(j, a, t->tid, t->name);
		json_key(j, "hold_ns");
		json_u64(j, t->gil_hold_ns);
		json_key(j, "wait_ns");
		json_u64(j, t->gil_wait_ns);
		json_key(j, "waits");
		json_u64(j, t->gil_waits);
		json_key(j, "takes");
		json_u64(j, t->gil_takes);
		json_key(j, "forced_drops");
		json_u64(j, t->gil_forced_drops);
		json_key(j, "on_cpu_with_gil_ns");
		json_u64(j, t->gil_cpu_ns);
		json_key(j, "on_cpu_without_gil_ns");
		json_u64(j, t->gil_free_cpu_ns);
		json_key(j, "convoy");
		json_bool(j, t->gil_convoy);
		json_end_object(j);
	}
	json_end_array(j);
	json_key(j, "waiters");
	json_begin_array(j);
	for (size_t i = 0; i < g->nr_waiters; i++) {
		const struct gil_waiter *w = &g->waiters[i];

		json_begin_object(j);
		tid_fields(j, w->tid);
		stack_arrays(j, a, w->stack);
		json_key(j, "count");
		json_u64(j, w->count);
		json_key(j, "wait_ns");
		json_u64(j, w->wait_ns);
		json_key(j, "max_wait_ns");
		json_u64(j, w->max_wait_ns);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

/* A deadlock's threads when a reused tid names any: which thread of its tid each one is. */
static void deadlock_incarnations(struct json_writer *j, const struct deadlock_stat *dl)
{
	unsigned i;

	for (i = 0; i < dl->nr && thread_incarnation(dl->links[i].tid) == 1; i++)
		;
	if (i == dl->nr)
		return;
	json_key(j, "incarnations");
	json_begin_array(j);
	for (i = 0; i < dl->nr; i++)
		json_u64(j, thread_incarnation(dl->links[i].tid));
	json_end_array(j);
}

int json_summary(FILE *out, const struct analysis *a)
{
	struct json_writer jw = {.out = out}, *j = &jw;
	char buf[32];

	json_begin_object(j);
	json_key(j, "schema");
	json_string(j, "threadtrace/1");
	json_key(j, "target");
	json_begin_object(j);
	json_key(j, "pid");
	json_u64(j, a->pid);
	json_key(j, "comm");
	comm_string(j, a->comm);
	json_key(j, "tid");
	if (a->tid_filter)
		json_u64(j, a->tid_filter);
	else
		json_null(j);
	json_key(j, "exited");
	json_bool(j, a->target_exited);
	json_key(j, "libc"); /* the glibc whose object layouts were used; null: not known */
	if (a->libc_version[0]) {
		json_begin_object(j);
		json_key(j, "version");
		json_string(j, a->libc_version);
		json_key(j, "build");
		json_string(j, a->libc_build);
		json_end_object(j);
	} else {
		json_null(j);
	}
	json_end_object(j);
	json_key(j, "duration_ns");
	json_u64(j, a->duration_ns);
	json_key(j, "events");
	json_u64(j, a->events);
	json_key(j, "lost_events");
	json_u64(j, a->lost_events);
	json_key(j, "stack_failures");
	json_u64(j, a->stack_failures);
	json_key(j, "stacks");
	json_begin_object(j);
	json_key(j, "records");
	json_u64(j, a->stackq.stacks);
	json_key(j, "complete");
	json_u64(j, a->stackq.complete);
	json_key(j, "cut_short");
	json_u64(j, a->stackq.cut_short);
	json_key(j, "from_copy");
	json_u64(j, a->stackq.from_copy);
	json_key(j, "copy_skipped");
	json_u64(j, a->stackq.copy_skipped);
	json_key(j, "no_table");
	json_u64(j, a->stackq.no_table);
	json_key(j, "frame_limit");
	json_u64(j, a->stackq.frame_limit);
	json_key(j, "copy_too_small");
	json_u64(j, a->stackq.copy_short);
	json_end_object(j);
	json_key(j, "untracked_waits");
	json_u64(j, a->untracked_waits);
	json_key(j, "inferred_switch_ins");
	json_u64(j, a->inferred_switch_ins);
	json_key(j, "late_records");
	json_u64(j, a->late_records);
	if (a->merged_threads) { /* more threads with one tid than thread keys tell apart */
		json_key(j, "merged_threads");
		json_u64(j, a->merged_threads);
	}
	json_key(j, "holds");
	if (a->holds) {
		json_begin_object(j);
		json_key(j, "lock_calls");
		json_u64(j, a->lock_calls);
		json_key(j, "unmatched_releases");
		json_u64(j, a->unmatched_releases);
		json_key(j, "gated_cycles");
		json_u64(j, a->gated_cycles);
		json_end_object(j);
	} else {
		json_null(j);
	}

	json_key(j, "locks");
	json_begin_array(j);
	for (size_t i = 0; i < a->nr_locks; i++) {
		const struct lock_stat *l = &a->locks[i];

		if (!l->contentions && !l->acquisitions)
			continue;
		json_begin_object(j);
		json_key(j, "addr");
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)l->addr);
		json_string(j, buf);
		json_key(j, "kind");
		json_string(j, lock_kind_name(l->kind));
		json_key(j, "detail");
		if (l->detail[0])
			json_string(j, l->detail);
		else
			json_null(j);
		json_key(j, "name");
		if (l->name[0])
			json_string(j, l->name);
		else
			json_null(j);
		json_key(j, "location");
		json_string(j, l->location);
		if (lock_kind_is_python(l->kind)) { /* id() of the Python object, when known */
			json_key(j, "py_object");
			snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)l->py_obj);
			if (l->py_obj)
				json_string(j, buf);
			else
				json_null(j);
			json_key(j, "py_type");
			if (l->py_type[0])
				json_string(j, l->py_type);
			else
				json_null(j);
		}
		json_key(j, "contentions");
		json_u64(j, l->contentions);
		json_key(j, "futex_waits");
		json_u64(j, l->futex_waits);
		json_key(j, "wait_ns");
		json_u64(j, l->wait_ns);
		json_key(j, "max_wait_ns");
		json_u64(j, l->max_wait_ns);
		if (l->owner_died) { /* robust mutexes whose owner died holding them only */
			json_key(j, "owner_died");
			json_u64(j, l->owner_died);
			json_key(j, "dead_owner_tid");
			json_u64(j, thread_tid(l->dead_owner));
		}
		json_key(j, "histogram_us_log2");
		json_begin_array(j);
		for (unsigned b = 0; b < TT_HIST_BUCKETS; b++)
			json_u64(j, hist_at(&l->hist, b));
		json_end_array(j);
		json_key(j, "waiters");
		attribs(j, a, l->waiters, l->nr_waiters, false);
		json_key(j, "wakers");
		attribs(j, a, l->wakers, l->nr_wakers, true);
		if (a->holds)
			hold_fields(j, a, l);
		json_end_object(j);
	}
	json_end_array(j);

	json_key(j, "threads");
	json_begin_array(j);
	for (size_t i = 0; i < a->nr_threads; i++) {
		const struct thread_stat *t = &a->threads[i];

		json_begin_object(j);
		tid_fields(j, t->tid);
		name_fields(j, a, t->tid, t->name);
		json_key(j, "start_ns"); /* (tid, start_ns) names one thread: tids are reused */
		json_u64(j, t->start_ts > a->start_ts ? t->start_ts - a->start_ts : 0);
		json_key(j, "traced_ns");
		json_u64(j, t->traced_ns);
		json_key(j, "on_cpu_ns");
		json_u64(j, t->on_cpu_ns);
		json_key(j, "runnable_ns");
		json_u64(j, t->runnable_ns);
		json_key(j, "lock_wait_ns");
		json_u64(j, t->lock_wait_ns);
		json_key(j, "cond_wait_ns");
		json_u64(j, t->cond_wait_ns);
		json_key(j, "other_wait_ns");
		json_u64(j, t->other_wait_ns);
		if (a->gil.present) { /* the GIL's futex waits, apart from lock and cond */
			json_key(j, "gil_blocked_ns");
			json_u64(j, t->gil_blocked_ns);
		}
		json_key(j, "voluntary_switches");
		json_u64(j, t->voluntary_switches);
		json_key(j, "involuntary_switches");
		json_u64(j, t->involuntary_switches);
		json_key(j, "contentions");
		json_u64(j, t->contentions);
		json_key(j, "created");
		json_bool(j, t->created);
		json_key(j, "exited");
		json_bool(j, t->exited);
		json_end_object(j);
	}
	json_end_array(j);
	json_key(j, "deadlocks");
	json_begin_array(j);
	for (size_t d = 0; d < a->nr_deadlocks; d++) {
		const struct deadlock_stat *dl = &a->deadlocks[d];

		json_begin_object(j);
		json_key(j, "kind");
		json_string(j, dl->potential			  ? "potential"
			       : dl->flags & TT_DEADLOCK_ORPHANED ? "orphaned"
								  : "actual");
		json_key(j, "at_ns");
		json_u64(j, dl->ts > a->start_ts ? dl->ts - a->start_ts : 0);
		json_key(j, "locks");
		json_begin_array(j);
		for (unsigned i = 0; i < dl->nr; i++) {
			const struct lock_stat *l = analysis_lock_of(a, dl->links[i].addr);

			if (l && l->name[0])
				json_string(j, l->name);
			else {
				snprintf(buf, sizeof(buf), "0x%llx",
					 (unsigned long long)dl->links[i].addr);
				json_string(j, buf);
			}
		}
		json_end_array(j);
		json_key(j, "threads");
		json_begin_array(j);
		for (unsigned i = 0; i < dl->nr; i++)
			json_u64(j, thread_tid(dl->links[i].tid));
		json_end_array(j);
		deadlock_incarnations(j, dl);
		if (dl->potential) {
			json_key(j, "held_stacks");
			json_begin_array(j);
			for (unsigned i = 0; i < dl->nr; i++) {
				json_begin_object(j);
				stack_arrays(j, a, dl->links[i].held_stack);
				json_end_object(j);
			}
			json_end_array(j);
		} else if (dl->flags & TT_DEADLOCK_ORPHANED) {
			json_key(j, "owner_tid");
			json_u64(j, dl->links[0].owner);
			json_key(j, "process_shared");
			json_bool(j, dl->flags & TT_DEADLOCK_SHARED);
			json_key(j, "owner_state");
			json_string(j,
				    dl->flags & TT_DEADLOCK_ELSEWHERE ? "other process" : "gone");
		} else {
			json_key(j, "held_by");
			json_begin_array(j);
			for (unsigned i = 0; i < dl->nr; i++)
				json_u64(j, thread_tid(dl->links[i].owner));
			json_end_array(j);
		}
		json_key(j, "stacks");
		json_begin_array(j);
		for (unsigned i = 0; i < dl->nr; i++) {
			json_begin_object(j);
			stack_arrays(j, a, dl->links[i].stack);
			json_end_object(j);
		}
		json_end_array(j);
		if (dl->flags & TT_DEADLOCK_PYTHON) {
			json_key(j, "thread_names");
			json_begin_array(j);
			for (unsigned i = 0; i < dl->nr; i++) {
				const char *py = analysis_py_name(a, dl->links[i].tid);

				if (py)
					json_string(j, py);
				else
					comm_string(j, dl->links[i].comm);
			}
			json_end_array(j);
			json_key(j, "python");
			json_begin_array(j);
			for (unsigned i = 0; i < dl->nr; i++)
				json_pywait(j, &dl->links[i].py);
			json_end_array(j);
		}
		json_end_object(j);
	}
	json_end_array(j);
	json_key(j, "blocked_threads");
	json_begin_array(j);
	for (size_t i = 0; i < a->nr_blocked; i++) {
		const struct blocked_thread *b = &a->blocked[i];
		const struct lock_stat *l = analysis_lock_of(a, b->key);
		char lbuf[300];

		json_begin_object(j);
		tid_fields(j, b->tid);
		name_fields(j, a, b->tid, b->comm);
		json_key(j, "blocked_ns");
		json_u64(j, b->ns);
		json_key(j, "at_attach");
		json_bool(j, b->at_attach);
		json_key(j, "futex");
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)b->addr);
		json_string(j, buf);
		json_key(j, "lock");
		if (l)
			json_string(j, lock_label(l, lbuf, sizeof(lbuf)));
		else
			json_null(j);
		json_key(j, "python");
		json_pywait(j, &b->py);
		stack_arrays(j, a, b->stack);
		json_end_object(j);
	}
	json_end_array(j);
	json_key(j, "gil");
	json_gil(j, a);
	json_key(j, "stop_the_world");
	json_stw(j, a);
	json_key(j, "runtimes");
	json_begin_array(j);
	for (unsigned k = 1; k < RT__NR; k++) {
		const struct tt_runtime *r = &a->rt.rec[k];

		if (!runtime_has(&a->rt, k))
			continue;
		json_begin_object(j);
		json_key(j, "name");
		json_string(j, runtime_name(k));
		json_key(j, "version");
		if (r->version[0])
			json_string(j, r->version);
		else
			json_null(j);
		json_key(j, "path");
		json_string(j, r->path);
		json_key(j, "static");
		json_bool(j, r->flags & TT_RT_STATIC);
		json_key(j, "note");
		json_string(j, runtime_note(k));
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
	fputc('\n', out);
	return ferror(out) ? -EIO : 0;
}
