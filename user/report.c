// SPDX-License-Identifier: GPL-2.0
/* report.c - see report.h. Fits a 100-column terminal. */
#include <string.h>
#include <stdlib.h>
#include "report.h"
#include "stackview.h"
#include "pygil.h"
#include "util.h"

static const char *lock_title(const struct lock_stat *l, char *buf, size_t len)
{
	char kind[48];

	if (l->detail[0])
		snprintf(kind, sizeof(kind), "%s (%s)", lock_kind_name(l->kind), tsafe(l->detail));
	else if (l->py_type[0]) /* the Python object's type, read by the collector */
		snprintf(kind, sizeof(kind), "%s (%s)", lock_kind_name(l->kind), tsafe(l->py_type));
	else
		snprintf(kind, sizeof(kind), "%s", lock_kind_name(l->kind));
	snprintf(buf, len, "%s %s  %s  0x%llx", kind, l->name[0] ? tsafe(l->name) : "(unnamed)",
		 tsafe(l->location), (unsigned long long)l->addr);
	return buf;
}

static bool native_view; /* report_opts.native of the report being written */

/*
 * User frames (Python-first for a Python stack unless --native: stackview.h); kernel frames
 * only where no user stack could be read (JSON has them all).
 */
static void print_stack(FILE *out, const struct analysis *a, __u32 stack, unsigned max_frames)
{
	unsigned max_kernel = 4, idx[STACKVIEW_MAX], nv;
	const struct stack_entry *st;
	char buf[64];
	unsigned i;

	if (stack == TT_NO_STACK) {
		fprintf(out, "          (no stack)\n");
		return;
	}
	st = &a->stacks[stack];
	nv = stackview_user(a, st, native_view, idx, STACKVIEW_MAX);
	for (i = 0; i < nv && i < max_frames; i++) {
		const char *names[TT_MAX_INLINE], *funcs[TT_MAX_INLINE];
		unsigned n = analysis_frames_at(a, st, idx[i], names, funcs, TT_MAX_INLINE, buf,
						sizeof(buf));

		for (unsigned k = 0; k < n; k++)
			fprintf(out, "          %s\n", tsafe(names[k]));
	}
	if (nv > max_frames)
		fprintf(out, "          ... %u more frames%s\n", nv - max_frames,
			st->flags & TT_STACK_USER_TRUNC ? ", then cut short" : "");
	else if (st->flags & TT_STACK_USER_LIMIT)
		fprintf(out, "          ... (cut: deeper than %d frames)\n", TT_MAX_USTACK);
	else if (st->flags & TT_STACK_USER_TRUNC)
		fprintf(out, "          ... (cut short: no caller could be found past here)\n");
	if (st->nr_user)
		return;
	fprintf(out, "          (user stack unavailable)\n");
	for (i = analysis_kernel_skip(a, st); i < st->nr_kernel && max_kernel; i++, max_kernel--)
		fprintf(out, "          %s\n",
			tsafe(analysis_frame_name(a, st, st->nr_user + i, buf, sizeof(buf))));
}

static void print_hist(FILE *out, const struct lock_stat *l)
{
	static const char *const units[] = {"us", "ms", "s"};
	unsigned lo = TT_HIST_BUCKETS, hi = 0;
	__u64 max = 0;

	for (unsigned b = 0; b < TT_HIST_BUCKETS; b++) {
		if (!hist_at(&l->hist, b))
			continue;
		if (b < lo)
			lo = b;
		hi = b;
		if (hist_at(&l->hist, b) > max)
			max = hist_at(&l->hist, b);
	}
	if (!max)
		return;
	fprintf(out, "    %-17s %8s\n", "wait", "count");
	for (unsigned b = lo; b <= hi; b++) {
		/* bucket b holds [2^(b-1), 2^b) us; bucket 0 holds < 1 us */
		__u64 from = b ? 1ULL << (b - 1) : 0, to = 1ULL << b;
		unsigned u = 0, width = (unsigned)(hist_at(&l->hist, b) * 40 / max);
		char range[32], bar[41];

		while (u < 2 && from >= 1000 && to >= 1000 && from % 1000 == 0) {
			from /= 1000;
			to /= 1000;
			u++;
		}
		if (b >= 11 && u == 0) { /* >= 1 ms: show in ms with one decimal */
			snprintf(range, sizeof(range), "%.1f-%.1f ms", from / 1e3, to / 1e3);
			if (b >= 21)
				snprintf(range, sizeof(range), "%.2f-%.2f s", from / 1e6, to / 1e6);
		} else {
			snprintf(range, sizeof(range), "%llu-%llu %s", (unsigned long long)from,
				 (unsigned long long)to, units[u]);
		}
		if (!width && hist_at(&l->hist, b))
			width = 1;
		memset(bar, '#', width);
		bar[width] = 0;
		fprintf(out, "    %-17s %8llu |%-40s|\n", range,
			(unsigned long long)hist_at(&l->hist, b), bar);
	}
}

/* A traced thread's name, "" for a thread outside the target (a process-shared lock's). */
static const char *thread_name(const struct analysis *a, __u32 tid)
{
	const char *py = analysis_py_name(a, tid);

	if (py)
		return py;
	for (size_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].tid == tid)
			return a->threads[i].name;
	return "";
}

/* How a thread is shown: its threading name for a Python thread, else its OS name (comm). */
static const char *tname(const struct analysis *a, __u32 tid, const char *comm)
{
	const char *py = analysis_py_name(a, tid);

	return py ? tsafe(py) : tsafe_n(comm, TT_COMM_LEN);
}

/* The name column of the thread tables: 15 wide, wider for longer Python names (to 32). */
static int name_width(const struct analysis *a)
{
	int w = 15;

	for (size_t i = 0; i < a->nr_threads; i++) {
		int n = (int)strlen(a->threads[i].py_name);

		if (n > w)
			w = n < 32 ? n : 32;
	}
	return w;
}

static const char *thread_stat_name(const struct thread_stat *th)
{
	return th->py_name[0] ? tsafe(th->py_name) : tsafe_n(th->name, TT_COMM_LEN);
}

static void print_lock(FILE *out, const struct analysis *a, const struct lock_stat *l,
		       unsigned rank, const struct report_opts *o)
{
	char title[256], t1[32], t2[32], t3[32];
	unsigned i;

	fprintf(out, " #%u %s\n", rank, lock_title(l, title, sizeof(title)));
	fprintf(out, "    %llu %s (%llu futex waits)  total %s  avg %s  max %s\n",
		(unsigned long long)l->contentions,
		lock_kind_is_contention(l->kind) ? "contentions" : "waits",
		(unsigned long long)l->futex_waits, fmt_ns(t1, sizeof(t1), l->wait_ns),
		fmt_ns(t2, sizeof(t2), l->contentions ? l->wait_ns / l->contentions : 0),
		fmt_ns(t3, sizeof(t3), l->max_wait_ns));
	print_hist(out, l);
	if (l->owner_died)
		fprintf(out,
			"    owner died: thread %s%s%.64s died holding it (robust: EOWNERDEAD)%s\n",
			TID_STR(l->dead_owner), thread_name(a, l->dead_owner)[0] ? " " : "",
			thread_name(a, l->dead_owner),
			l->owner_died > 1 ? ", and other owners before" : "");
	fprintf(out, "    waiters (where they wait):\n");
	for (i = 0; i < l->nr_waiters && i < o->top_stacks; i++) {
		const struct attrib *x = &l->waiters[i];

		fprintf(out, "      %6llux %10s  tid %s %s\n", (unsigned long long)x->count,
			fmt_ns(t1, sizeof(t1), x->wait_ns), TID_STR(x->tid),
			tname(a, x->tid, x->comm));
		print_stack(out, a, x->stack, o->max_frames);
	}
	if (l->nr_waiters > o->top_stacks)
		fprintf(out, "      ... %zu more waiter stacks\n", l->nr_waiters - o->top_stacks);
	fprintf(out, "    woken by (unlock sites):\n");
	for (i = 0; i < l->nr_wakers && i < o->top_stacks; i++) {
		const struct attrib *x = &l->wakers[i];

		if (x->cause == WC_THREAD || x->cause == WC_EXIT) {
			char other[48] = "";

			if (x->pid)
				snprintf(other, sizeof(other), " (pid %u, another process)",
					 x->pid);
			fprintf(out, "      %6llux %10s  tid %s %s%s%s\n",
				(unsigned long long)x->count, fmt_ns(t1, sizeof(t1), x->wait_ns),
				TID_STR(x->tid), tname(a, x->tid, x->comm), other,
				x->cause == WC_EXIT ? " (thread exit)" : "");
			print_stack(out, a, x->stack, o->max_frames);
		} else {
			fprintf(out, "      %6llux %10s  %s\n", (unsigned long long)x->count,
				fmt_ns(t1, sizeof(t1), x->wait_ns), wake_cause_name(x->cause));
		}
	}
	if (l->nr_wakers > o->top_stacks)
		fprintf(out, "      ... %zu more waker rows\n", l->nr_wakers - o->top_stacks);
}

static bool has_park(const struct analysis *a)
{
	for (size_t i = 0; i < a->nr_locks; i++)
		if (a->locks[i].kind == LK_PARK && a->locks[i].contentions)
			return true;
	return false;
}

static void print_section(FILE *out, const struct analysis *a, bool contention,
			  const struct report_opts *o)
{
	unsigned shown = 0, total = 0;
	__u64 n = 0, ns = 0;
	char t[32];

	for (size_t i = 0; i < a->nr_locks; i++) {
		const struct lock_stat *l = &a->locks[i];

		if (lock_kind_is_contention(l->kind) != contention || !l->contentions)
			continue;
		total++;
		n += l->contentions;
		ns += l->wait_ns;
	}
	fprintf(out, "\n%s%s: %u %s, %llu %s, %s waited\n",
		contention ? "LOCK CONTENTION (mutex, rwlock, futex"
			   : "WAITING FOR WORK (condvar, "
			     "semaphore, join",
		!contention && has_park(a) ? ", park)" : ")", total,
		total == 1 ? "object" : "objects", (unsigned long long)n,
		contention ? "contentions" : "waits", fmt_ns(t, sizeof(t), ns));
	for (size_t i = 0; i < a->nr_locks && shown < o->top_locks; i++) {
		const struct lock_stat *l = &a->locks[i];

		if (lock_kind_is_contention(l->kind) != contention || !l->contentions)
			continue;
		print_lock(out, a, l, ++shown, o);
	}
	if (total > shown)
		fprintf(out, " ... %u more (--top)\n", total - shown);
}

/* A lock-order cycle: each thread took the next lock while holding its own. */
static void print_potential(FILE *out, const struct analysis *a, const struct deadlock_stat *dl,
			    const struct report_opts *o)
{
	char label[200], label2[200];

	fprintf(out, "\nPOTENTIAL DEADLOCK (lock order, --holds): ");
	for (unsigned i = 0; i <= dl->nr; i++) {
		const struct lock_stat *l = analysis_lock_of(a, dl->links[i % dl->nr].addr);

		fprintf(
		    out, "%s%s", i ? " -> " : "",
		    tsafe(l ? (l->name[0] ? l->name : lock_label(l, label, sizeof(label))) : "?"));
	}
	fprintf(out, "\n");
	for (unsigned i = 0; i < dl->nr; i++) {
		const struct lock_stat *held = analysis_lock_of(a, dl->links[i].addr);
		const struct lock_stat *next =
		    analysis_lock_of(a, dl->links[(i + 1) % dl->nr].addr);

		fprintf(out, "  tid %s %s took %s while holding %s\n", TID_STR(dl->links[i].tid),
			tname(a, dl->links[i].tid, dl->links[i].comm),
			tsafe(next ? lock_label(next, label, sizeof(label)) : "a lock"),
			tsafe(held ? lock_label(held, label2, sizeof(label2)) : "a lock"));
		fprintf(out, "        taking it at:\n");
		print_stack(out, a, dl->links[i].stack, o->max_frames);
		fprintf(out, "        holding the other since:\n");
		print_stack(out, a, dl->links[i].held_stack, o->max_frames);
	}
}

/* A wait for a lock whose holder is gone: it never ends. */
static void print_orphan(FILE *out, const struct analysis *a, const struct deadlock_stat *dl,
			 const struct report_opts *o)
{
	const struct lock_stat *l = analysis_lock_of(a, dl->links[0].addr);
	char label[200], t[32];

	fprintf(out, "\nORPHANED LOCK at +%s: tid %s %s waits for %s, held by tid %u, which %s\n",
		fmt_ns(t, sizeof(t), dl->ts - a->start_ts), TID_STR(dl->links[0].tid),
		tname(a, dl->links[0].tid, dl->links[0].comm),
		tsafe(l ? lock_label(l, label, sizeof(label)) : "a lock"), dl->links[0].owner,
		deadlock_orphan_reason(dl->flags));
	print_stack(out, a, dl->links[0].stack, o->max_frames);
}

/* "Python lock audit_lock (threading.Lock 0x7f...)" for a Python wait's object. */
static const char *py_object_label(const struct pywait_info *p, char *buf, size_t len)
{
	snprintf(buf, len, "Python %s%s%s (threading.%s 0x%llx)", pyobj_kind_name(p->kind),
		 p->name[0] ? " " : "", tsafe(p->name),
		 p->kind == TT_PYOBJ_LOCK	 ? "Lock"
		 : p->kind == TT_PYOBJ_RLOCK	 ? "RLock"
		 : p->kind == TT_PYOBJ_CONDITION ? "Condition"
		 : p->kind == TT_PYOBJ_EVENT	 ? "Event"
		 : p->kind == TT_PYOBJ_SEMAPHORE ? "Semaphore"
		 : p->kind == TT_PYOBJ_BARRIER	 ? "Barrier"
		 : p->kind == TT_PYOBJ_JOIN	 ? "Thread"
		 : p->kind == TT_PYOBJ_QUEUE	 ? "queue"
						 : "object",
		 (unsigned long long)p->obj);
	return buf;
}

static void print_py_holder(FILE *out, const struct pywait_info *p)
{
	if (p->holder)
		fprintf(out, ", held by tid %u (%s)", p->holder, pyhold_evidence_name(p->evidence));
	else if (p->kind == TT_PYOBJ_LOCK || p->kind == TT_PYOBJ_RLOCK)
		fprintf(out, ", holder not known (a Lock taken by acquire() outside a `with` "
			     "names none)");
}

/* Threads still blocked for a second or more at the end: what `py-spy dump` shows, and more. */
static void print_blocked(FILE *out, const struct analysis *a, const struct report_opts *o)
{
	char t[32], label[300];

	if (!a->nr_blocked)
		return;
	fprintf(out, "\nBLOCKED THREADS (still waiting at the end, 1 s or more): %zu\n",
		a->nr_blocked);
	for (size_t i = 0; i < a->nr_blocked; i++) {
		const struct blocked_thread *b = &a->blocked[i];
		const struct lock_stat *l = analysis_lock_of(a, b->key);

		/* a wait found at attach began before the trace: only its traced part is known */
		fprintf(out, "  tid %s %s blocked %s%s%s in %s\n", TID_STR(b->tid),
			tname(a, b->tid, b->comm), b->at_attach ? "at least " : "",
			fmt_ns(t, sizeof(t), b->ns), b->at_attach ? " (already at attach)" : "",
			tsafe(l ? lock_label(l, label, sizeof(label)) : "a futex wait"));
		if (b->py.valid) {
			fprintf(out, "    waits for %s",
				py_object_label(&b->py, label, sizeof(label)));
			print_py_holder(out, &b->py);
			fprintf(out, "\n");
		}
		print_stack(out, a, b->stack, o->max_frames);
	}
}

struct hold_site {
	const struct lock_stat *l;
	const struct holder *h;
};

static int cmp_site(const void *x, const void *y)
{
	const struct hold_site *a = x, *b = y;

	if (a->h->caused_wait_ns != b->h->caused_wait_ns)
		return a->h->caused_wait_ns > b->h->caused_wait_ns ? -1 : 1;
	return a->h->hold_ns > b->h->hold_ns ? -1 : a->h->hold_ns < b->h->hold_ns;
}

static int cmp_by_hold(const void *x, const void *y)
{
	const struct lock_stat *a = *(const struct lock_stat *const *)x;
	const struct lock_stat *b = *(const struct lock_stat *const *)y;

	if (a->hold_ns != b->hold_ns)
		return a->hold_ns > b->hold_ns ? -1 : 1;
	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* --holds: how long locks were held and where, and whose holds made others wait. */
static void print_holds(FILE *out, const struct analysis *a, const struct report_opts *o)
{
	const struct lock_stat **by_hold = xcalloc(a->nr_locks + 1, sizeof(*by_hold));
	struct hold_site *sites;
	size_t n = 0, nr_sites = 0, shown = 0;
	__u64 holds = 0, ns = 0;
	char t[4][32], label[200];

	for (size_t i = 0; i < a->nr_locks; i++)
		if (a->locks[i].acquisitions) {
			by_hold[n++] = &a->locks[i];
			holds += a->locks[i].acquisitions;
			ns += a->locks[i].hold_ns;
			nr_sites += a->locks[i].nr_holders;
		}
	sort_array(by_hold, n, sizeof(*by_hold), cmp_by_hold);
	fprintf(out, "\nLOCK HOLDS (--holds): %zu %s, %llu holds, %s held; %llu lock calls probed",
		n, n == 1 ? "lock" : "locks", (unsigned long long)holds, fmt_ns(t[0], 32, ns),
		(unsigned long long)a->lock_calls);
	if (a->unmatched_releases)
		fprintf(out, ", %llu releases of holds taken before tracing",
			(unsigned long long)a->unmatched_releases);
	fprintf(out, "\n");
	if (a->gated_cycles)
		fprintf(out,
			"  %llu lock-order %s not reported: always taken inside a common lock, "
			"so never at once\n",
			(unsigned long long)a->gated_cycles,
			a->gated_cycles == 1 ? "cycle" : "cycles");
	for (size_t i = 0; i < n && i < o->top_locks; i++) {
		const struct lock_stat *l = by_hold[i];

		fprintf(out, " #%zu %s\n", i + 1, lock_title(l, label, sizeof(label)));
		fprintf(out,
			"    %llu holds  total %s  avg %s  max %s  others waited %s meanwhile\n",
			(unsigned long long)l->acquisitions, fmt_ns(t[0], 32, l->hold_ns),
			fmt_ns(t[1], 32, l->hold_ns / l->acquisitions),
			fmt_ns(t[2], 32, l->max_hold_ns), fmt_ns(t[3], 32, l->caused_wait_ns));
		fprintf(out, "    held at (where it was taken):\n");
		for (size_t k = 0; k < l->nr_holders && k < o->top_stacks; k++) {
			const struct holder *h = &l->holders[k];

			fprintf(out, "        %5llux  %9s held  max %9s  ",
				(unsigned long long)h->count, fmt_ns(t[0], 32, h->hold_ns),
				fmt_ns(t[1], 32, h->max_hold_ns));
			if (h->tid)
				fprintf(out, "tid %s %s\n", TID_STR(h->tid),
					tname(a, h->tid, h->comm));
			else
				fprintf(out, "several threads\n");
			print_stack(out, a, h->stack, o->max_frames);
		}
		if (l->nr_holders > o->top_stacks)
			fprintf(out, "        ... %zu more sites (--top-stacks)\n",
				l->nr_holders - o->top_stacks);
	}
	if (n > o->top_locks)
		fprintf(out, " ... %zu more (--top)\n", n - o->top_locks);

	/* who pays: every hold site ranked by the waiting of others it caused */
	sites = xcalloc(nr_sites + 1, sizeof(*sites));
	nr_sites = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < by_hold[i]->nr_holders; k++)
			if (by_hold[i]->holders[k].caused_wait_ns)
				sites[nr_sites++] =
				    (struct hold_site){by_hold[i], &by_hold[i]->holders[k]};
	sort_array(sites, nr_sites, sizeof(*sites), cmp_site);
	if (nr_sites)
		fprintf(out, "\nHOLDS THAT MADE OTHERS WAIT (who pays): waiting of other threads "
			     "during the holds taken at each site\n");
	for (size_t i = 0; i < nr_sites && shown < o->top_locks; i++, shown++) {
		const struct holder *h = sites[i].h;

		fprintf(out, " #%zu %s of waiting on %s: %llu holds, %s held", i + 1,
			fmt_ns(t[0], 32, h->caused_wait_ns),
			tsafe(lock_label(sites[i].l, label, sizeof(label))),
			(unsigned long long)h->count, fmt_ns(t[1], 32, h->hold_ns));
		if (h->tid)
			fprintf(out, ", tid %s %s\n", TID_STR(h->tid), tname(a, h->tid, h->comm));
		else
			fprintf(out, ", several threads\n");
		print_stack(out, a, h->stack, o->max_frames);
	}
	if (nr_sites > shown)
		fprintf(out, " ... %zu more (--top)\n", nr_sites - shown);
	free(sites);
	free(by_hold);
}

static void pct(char *buf, size_t len, __u64 part, __u64 whole)
{
	if (!whole)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", 100.0 * part / whole);
}

/*
 * A free-threaded CPython's stop-the-world pauses: per cause, and the longest few with the
 * requester's stack at the unpark.
 */
static void print_stw(FILE *out, const struct analysis *a, const struct report_opts *o)
{
	static const char *const causes[] = {"GC",  "trace", "monitoring", "fork",
					     "GIL", "other", "unknown"};
	__u64 total = 0, max = 0;
	size_t longest[3] = {0}, nl = 0;
	char t1[32], t2[32];

	for (size_t i = 0; i < a->nr_stw; i++) {
		__u64 d = a->stw[i].end - a->stw[i].start;

		total += d;
		if (d > max)
			max = d;
	}
	fprintf(out, "\nSTOP-THE-WORLD (free-threaded CPython): %zu pauses, %s in all, max %s\n",
		a->nr_stw, fmt_ns(t1, sizeof(t1), total), fmt_ns(t2, sizeof(t2), max));
	for (size_t c = 0; c < sizeof(causes) / sizeof(causes[0]); c++) {
		__u64 n = 0, sum = 0, m = 0;

		for (size_t i = 0; i < a->nr_stw; i++) {
			__u64 d = a->stw[i].end - a->stw[i].start;

			if (strcmp(a->stw[i].cause, causes[c]))
				continue;
			n++;
			sum += d;
			m = d > m ? d : m;
		}
		if (n)
			fprintf(out, "  %-10s %5llu pauses  total %s  max %s\n", causes[c],
				(unsigned long long)n, fmt_ns(t1, sizeof(t1), sum),
				fmt_ns(t2, sizeof(t2), m));
	}
	for (size_t i = 0; i < a->nr_stw; i++) {
		__u64 d = a->stw[i].end - a->stw[i].start;
		size_t k = nl < 3 ? nl++ : 3;

		while (k > 0 && d > a->stw[longest[k - 1]].end - a->stw[longest[k - 1]].start) {
			if (k < 3)
				longest[k] = longest[k - 1];
			k--;
		}
		if (k < 3)
			longest[k] = i;
	}
	for (size_t k = 0; k < nl; k++) {
		const struct py_stw_pause *p = &a->stw[longest[k]];

		fprintf(out,
			"  longest #%zu: %s (%s), requested by tid %u, %u threads parked; at:\n",
			k + 1, fmt_ns(t1, sizeof(t1), p->end - p->start), p->cause, p->requester,
			p->parked);
		print_stack(out, a, p->stack, o->max_frames);
	}
}

/* A free-threaded CPython whose GIL stayed disabled: nothing to trace, said plainly. */
static void print_gil_off(FILE *out, const struct analysis *a)
{
	const struct gil_stat *g = &a->gil;
	char ver[16];

	pygil_version_str(g->hexversion, ver, sizeof(ver));
	fprintf(out,
		"\nGIL (Python %s, %s): free-threaded build, the GIL was disabled for the whole "
		"trace: no thread held it\n",
		ver, tsafe(g->path));
	if (g->transient_takes)
		fprintf(out,
			"  (taken %llu times for a moment while extension modules were "
			"imported, which enables it until each import ends)\n",
			(unsigned long long)g->transient_takes);
}

/* CPython's GIL: who held it, who waited, and the convoy effect. */
static void print_gil(FILE *out, const struct analysis *a, const struct report_opts *o)
{
	const struct gil_stat *g = &a->gil;
	__u64 dur = g->traced_ns;
	char ver[16], t[4][32], p[3][16];
	unsigned shown = 0;

	pygil_version_str(g->hexversion, ver, sizeof(ver));
	pct(p[0], sizeof(p[0]), g->hold_ns, dur);
	fprintf(out,
		"\nGIL (Python %s, %s): held %s of %s, %llu switches (%.1f/s), %llu forced "
		"drops\n",
		ver, tsafe(g->path), p[0], fmt_ns(t[0], sizeof(t[0]), dur),
		(unsigned long long)g->switches, dur ? g->switches * 1e9 / dur : 0.0,
		(unsigned long long)g->forced_drops);
	fprintf(out,
		"  method: uprobes on %u take and %u drop stores to the GIL's locked (%s); "
		"switch interval %u us\n",
		g->sites_take, g->sites_drop,
		g->flags & TT_PY_STRIPPED ? "stripped build, found by decoding"
					  : "in take_gil/drop_gil",
		g->interval_us);
	if (g->enabled_ts)
		fprintf(out,
			"  free-threaded build: the GIL was disabled until it was enabled at "
			"run time, %s into the trace; traced from then\n",
			fmt_ns(t[0], sizeof(t[0]), g->enabled_ns));
	fprintf(out, "  %-7s %-*s %8s %8s %8s %7s %7s %9s\n", "tid", name_width(a), "name", "holds",
		"waits", "on-cpu*", "takes", "waited", "forced");
	for (size_t i = 0; i < a->nr_threads; i++) {
		const struct thread_stat *th = &a->threads[i];
		/* its time since the GIL was traced: before, who held it is not known */
		__u64 from = th->start_ts > g->start_ts ? th->start_ts : g->start_ts;
		__u64 life = th->end_ts > from ? th->end_ts - from : 0;

		if (!th->python)
			continue;
		pct(p[0], sizeof(p[0]), th->gil_hold_ns, life);
		pct(p[1], sizeof(p[1]), th->gil_wait_ns, life);
		pct(p[2], sizeof(p[2]), th->gil_free_cpu_ns, life);
		fprintf(out, "  %-7s %-*.*s %8s %8s %8s %7llu %7llu %9llu\n", TID_STR(th->tid),
			name_width(a), name_width(a), thread_stat_name(th), p[0], p[1], p[2],
			(unsigned long long)th->gil_takes, (unsigned long long)th->gil_waits,
			(unsigned long long)th->gil_forced_drops);
	}
	fprintf(out, "  (share of each thread's time since the GIL was traced; on-cpu*: running "
		     "without the GIL, in C code that released it)\n");
	for (size_t i = 0; i < a->nr_threads; i++) {
		const struct thread_stat *th = &a->threads[i];

		if (!th->gil_convoy)
			continue;
		fprintf(out,
			"  CONVOY: tid %s (%s) holds the GIL %s per take but waits %s each "
			"time it wants it back (switch interval %u us): %s lost over %llu waits. "
			"It is stuck behind CPU-bound threads; it waits at:\n",
			TID_STR(th->tid), tsafe_n(th->name, TT_COMM_LEN),
			fmt_ns(t[0], sizeof(t[0]), th->gil_hold_ns / th->gil_takes),
			fmt_ns(t[1], sizeof(t[1]), th->gil_wait_ns / th->gil_waits), g->interval_us,
			fmt_ns(t[2], sizeof(t[2]), th->gil_wait_ns),
			(unsigned long long)th->gil_waits);
		for (size_t k = 0, n = 0; k < g->nr_waiters && n < o->top_stacks; k++)
			if (g->waiters[k].tid == th->tid) {
				print_stack(out, a, g->waiters[k].stack, o->max_frames);
				n++;
			}
	}
	if (!g->nr_waiters)
		return;
	fprintf(out, "\nGIL WAITS: where threads waited for the GIL (the stack of the take)\n");
	for (size_t k = 0; k < g->nr_waiters && shown < o->top_locks; k++, shown++) {
		const struct gil_waiter *w = &g->waiters[k];

		fprintf(out, "  tid %s: %llu waits, %s total, %s max\n", TID_STR(w->tid),
			(unsigned long long)w->count, fmt_ns(t[0], sizeof(t[0]), w->wait_ns),
			fmt_ns(t[1], sizeof(t[1]), w->max_wait_ns));
		print_stack(out, a, w->stack, o->max_frames);
	}
	if (g->nr_waiters > shown)
		fprintf(out, "  ... %zu more (--top)\n", g->nr_waiters - shown);
}

/* One line on how exact the stacks are, and why some were cut short. */
static void report_stack_quality(FILE *out, const struct stack_quality *q)
{
	unsigned long long tenths;

	if (!q->stacks)
		return;
	/* rounded down: 100.0% only when every one is */
	tenths = (unsigned long long)(q->complete * 1000 / q->stacks);
	fprintf(out, "  stacks of waits and wakes: %llu, %llu.%llu%% whole",
		(unsigned long long)q->stacks, tenths / 10, tenths % 10);
	if (q->from_copy)
		fprintf(out, ", %llu from stack copies", (unsigned long long)q->from_copy);
	if (q->cut_short) {
		fprintf(out, "; %llu cut short (marked \"...\")", (unsigned long long)q->cut_short);
		if (q->no_table)
			fprintf(out, ", %llu in code mapped after the tables",
				(unsigned long long)q->no_table);
		if (q->copy_skipped)
			fprintf(out,
				", %llu with their copy skipped (--stack-rate, or the ring "
				"buffer half full)",
				(unsigned long long)q->copy_skipped);
		if (q->copy_short)
			fprintf(out, ", %llu copies smaller than the stack (--stack-bytes)",
				(unsigned long long)q->copy_short);
		if (q->frame_limit)
			fprintf(out, ", %llu deeper than %d frames",
				(unsigned long long)q->frame_limit, TT_MAX_USTACK);
	}
	fprintf(out, "\n");
}

/* The runtimes the target runs on and what that means for what follows. */
static void print_runtimes(FILE *out, const struct analysis *a)
{
	for (unsigned k = 1; k < RT__NR; k++) {
		const struct tt_runtime *r = &a->rt.rec[k];

		if (!runtime_has(&a->rt, k))
			continue;
		fprintf(out, "  runtime: %s%s%s (%s%s): %s\n", runtime_name(k),
			r->version[0] ? " " : "", r->version, r->path,
			r->flags & TT_RT_STATIC ? ", static" : "", runtime_note(k));
	}
}

void report_text(FILE *out, const struct analysis *a, const struct report_opts *o)
{
	char t[32];
	__u64 dur = a->duration_ns;

	native_view = o->native;
	fprintf(out, "threadtrace: pid %u (%s)%s", a->pid, tsafe_n(a->comm, TT_COMM_LEN),
		a->target_exited ? ", exited during the trace" : "");
	if (a->tid_filter)
		fprintf(out, ", thread %u only", a->tid_filter);
	if (a->libc_version[0])
		fprintf(out, ", glibc %s%s%s%s", a->libc_version, a->libc_build[0] ? " (" : "",
			a->libc_build, a->libc_build[0] ? ")" : "");
	fprintf(out, "\n  traced %s, %llu events, lost %llu events, %llu failed stack reads",
		fmt_ns(t, sizeof(t), dur), (unsigned long long)a->events,
		(unsigned long long)a->lost_events, (unsigned long long)a->stack_failures);
	if (a->untracked_waits)
		fprintf(out, ", %llu waits untracked (map full)",
			(unsigned long long)a->untracked_waits);
	if (a->inferred_switch_ins)
		fprintf(out, ", %llu switch-ins inferred",
			(unsigned long long)a->inferred_switch_ins);
	fprintf(out, "\n");
	report_stack_quality(out, &a->stackq);
	print_runtimes(out, a);
	if (a->lost_events)
		fprintf(out,
			"  WARNING: %llu events were lost (ring buffer full): figures are low; "
			"raise --buffer-mb\n",
			(unsigned long long)a->lost_events);
	if (a->late_records)
		fprintf(out,
			"  WARNING: %llu records came later than the analysis' reorder window "
			"(100 ms) and were left out\n",
			(unsigned long long)a->late_records);

	for (size_t d = 0; d < a->nr_deadlocks; d++) {
		const struct deadlock_stat *dl = &a->deadlocks[d];

		if (dl->potential) {
			print_potential(out, a, dl, o);
			continue;
		}
		if (dl->flags & TT_DEADLOCK_ORPHANED) {
			print_orphan(out, a, dl, o);
			continue;
		}
		if (dl->nr == 1)
			fprintf(out,
				"\nDEADLOCK at +%s: a thread waits for a lock it holds itself\n",
				fmt_ns(t, sizeof(t), dl->ts - a->start_ts));
		else
			fprintf(out, "\nDEADLOCK at +%s: %u threads wait for each other\n",
				fmt_ns(t, sizeof(t), dl->ts - a->start_ts), dl->nr);
		for (unsigned i = 0; i < dl->nr; i++) {
			const struct lock_stat *l = analysis_lock_of(a, dl->links[i].addr);
			char label[300];

			if (dl->links[i].py.valid) {
				fprintf(out, "  tid %s %s waits for %s", TID_STR(dl->links[i].tid),
					tname(a, dl->links[i].tid, dl->links[i].comm),
					py_object_label(&dl->links[i].py, label, sizeof(label)));
				print_py_holder(out, &dl->links[i].py);
				fprintf(out, "\n");
				print_stack(out, a, dl->links[i].stack, o->max_frames);
				continue;
			}
			fprintf(out, "  tid %s %s waits for %s, held by tid %s\n",
				TID_STR(dl->links[i].tid),
				tname(a, dl->links[i].tid, dl->links[i].comm),
				tsafe(l ? lock_label(l, label, sizeof(label)) : "a lock"),
				TID_STR(dl->links[i].owner));
			print_stack(out, a, dl->links[i].stack, o->max_frames);
		}
	}
	print_blocked(out, a, o);
	print_section(out, a, true, o);
	print_section(out, a, false, o);
	if (a->holds)
		print_holds(out, a, o);
	if (a->gil.present)
		print_gil(out, a, o);
	else if (a->gil.off)
		print_gil_off(out, a);
	if (a->nr_stw)
		print_stw(out, a, o);

	fprintf(out,
		"\nTHREADS: share of each thread's traced time; switches voluntary/involuntary\n");
	/* a GIL column when the GIL was traced: its futex waits are neither lock nor cond */
	fprintf(out, "  %-7s %-*s %9s %7s %7s %7s %7s %7s%s%s %8s %7s\n", "tid", name_width(a),
		"name", "traced", "on-cpu", "runq", "lock", "cond", "other",
		a->gil.present ? "     " : "", a->gil.present ? "gil" : "", "vol", "invol");
	for (size_t i = 0; i < a->nr_threads; i++) {
		const struct thread_stat *th = &a->threads[i];
		__u64 life = th->traced_ns;
		char c[6][16];

		pct(c[0], sizeof(c[0]), th->on_cpu_ns, life);
		pct(c[1], sizeof(c[1]), th->runnable_ns, life);
		pct(c[2], sizeof(c[2]), th->lock_wait_ns, life);
		pct(c[3], sizeof(c[3]), th->cond_wait_ns, life);
		pct(c[4], sizeof(c[4]), th->other_wait_ns, life);
		c[5][0] = 0;
		if (a->gil.present)
			pct(c[5], sizeof(c[5]), th->gil_blocked_ns, life);
		fprintf(out, "  %-7s %-*.*s %9s %7s %7s %7s %7s %7s%s%*s %8llu %7llu%s\n",
			TID_STR(th->tid), name_width(a), name_width(a), thread_stat_name(th),
			fmt_ns(t, sizeof(t), life), c[0], c[1], c[2], c[3], c[4],
			a->gil.present ? " " : "", a->gil.present ? 7 : 0, c[5],
			(unsigned long long)th->voluntary_switches,
			(unsigned long long)th->involuntary_switches,
			th->created ? (th->exited ? " +-" : " +") : (th->exited ? " -" : ""));
	}
	fprintf(out, "  (+ created, - exited during the trace; on-cpu: running, runq: runnable "
		     "but not running)\n");
	if (a->merged_threads)
		fprintf(out,
			"  %llu new threads were counted in an older thread with their tid "
			"(more than %u threads had it)\n",
			(unsigned long long)a->merged_threads, TT_MAX_INCARNATIONS);
}
