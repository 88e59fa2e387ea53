// SPDX-License-Identifier: GPL-2.0
/*
 * pynames.c - see pynames.h. A thread enters threading._active only once its
 * Thread._bootstrap_inner runs, a little after the kernel created it, so a start is followed
 * by reads until each started thread has a name or has exited, for at most NAME_WINDOW_NS
 * after the last start (a thread started from C never gets one). Each read is one walk of
 * _active, and one of the threads' frames: their code objects are named then, while they
 * live (the records that show them may be read later, and a script's module code dies
 * before Py_FinalizeEx).
 *
 * What a read costs (issue 15: a thread-per-connection server starts hundreds of threads a
 * second, so reads never stop, and they were 83% of the collector's CPU):
 * - a start is read NAME_START_NS (1 ms) after it, when the thread has likely entered
 *   _active (a read at the start itself finds it seldom), with the ring buffer drained every
 *   2 ms meanwhile (pynames_due_soon) so that the read is not late: a short-lived thread
 *   (one a request) is named if it lives a few ms. Then reads are NAME_RETRY_NS (20 ms)
 *   apart while a started thread is unnamed;
 * - a read that names nothing, NAME_QUIET_NS (100 ms) or more after the last start, waits
 *   twice as long before the next (up to NAME_BACKOFF_NS), until a thread starts again: a
 *   thread started from C, or one that never reaches _active, costs a read each 320 ms
 *   rather than each 20 ms;
 * - a read names only the threads new since the last (pylive_thread_names_new): an _active
 *   entry already read, whose thread has not exited, is not read again. A read NAME_FULL_NS
 *   (100 ms) or more after the last full one is full: it rechecks each thread's _name
 *   object, and reads its characters where it changed: a rename (`thread.name = ...` stores
 *   a new str) is seen then while reads go on, and at the final read (forced: tracing stops,
 *   or Py_FinalizeEx) in any case, which reads every name;
 * - frames are walked whole (pylive_prime_frames) at a full read; between them, at most
 *   every NAME_PRIME_NS (10 ms), each thread's stack only down to the frames the last walk
 *   saw (pylive_prime_new_frames): a new thread's whole, an old one's new calls.
 * A collector thread of its own would take the reads off the records' path, but shares
 * pylive's and pyframes' caches with it: not done, the reads above are cheap enough.
 */
#include <string.h>
#include <stdlib.h>
#include "pynames.h"
#include "util.h"

#define NAME_RETRY_NS	20000000ULL
#define NAME_START_NS	1000000ULL
#define NAME_SOON_NS	10000000ULL
#define NAME_BACKOFF_NS 320000000ULL
#define NAME_QUIET_NS	100000000ULL
#define NAME_WINDOW_NS	3000000000ULL
#define NAME_FULL_NS	100000000ULL
#define NAME_PRIME_NS	10000000ULL

struct named {
	__u32 tid;
	char name[TT_PY_NAME_LEN];
};

struct pynames {
	struct pylive *pl;
	pid_t pid;
	int (*emit)(void *ctx, const void *rec, size_t size);
	void *ctx;
	struct named *v;
	size_t n, cap;
	struct u64_map by_tid; /* tid -> index in v + 1 */
	__u32 *pending;	       /* started threads not named yet, not exited */
	size_t nr_pending, cap_pending;
	__u32 *ended; /* ... exited unnamed: looked for in threading._dangling */
	size_t nr_ended, cap_ended;
	__u64 due, until;	   /* read at due or later, while before until */
	__u64 started;		   /* the last start's */
	__u64 retry;		   /* the wait after a read that named nothing new */
	__u64 full_due, prime_due; /* the next full read, frame walk */
	unsigned written;
	__u64 now; /* the records' time */
};

struct pynames *pynames_new(struct pylive *pl, pid_t pid,
			    int (*emit)(void *ctx, const void *rec, size_t size), void *ctx)
{
	struct pynames *pn = xcalloc(1, sizeof(*pn));

	pn->pl = pl;
	pn->pid = pid;
	pn->emit = emit;
	pn->ctx = ctx;
	pn->retry = NAME_RETRY_NS;
	return pn;
}

void pynames_free(struct pynames *pn)
{
	if (!pn)
		return;
	free(pn->v);
	u64_map_free(&pn->by_tid);
	free(pn->pending);
	free(pn->ended);
	free(pn);
}

void pynames_thread_started(struct pynames *pn, __u32 tid, __u64 now)
{
	__u64 soon;

	if (!pn)
		return;
	if (tid && pn->nr_pending < PYLIVE_MAX_THREADS)
		*VEC_PUSH(pn->pending, pn->nr_pending, pn->cap_pending) = tid;
	soon = now + NAME_START_NS;
	if (!pn->until || pn->due > soon)
		pn->due = soon;
	pn->until = now + NAME_WINDOW_NS;
	pn->started = now;
	pn->retry = NAME_RETRY_NS;
}

static bool drop_tid(__u32 *v, size_t *n, __u32 tid)
{
	bool found = false;

	for (size_t i = 0; i < *n; i++)
		if (v[i] == tid) {
			v[i--] = v[--*n];
			found = true;
		}
	return found;
}

static void drop_pending(struct pynames *pn, __u32 tid)
{
	drop_tid(pn->pending, &pn->nr_pending, tid);
	drop_tid(pn->ended, &pn->nr_ended, tid);
}

/* An unnamed thread that exits is looked for at once in threading._dangling (its Thread
 * object lives while the program refers to it: often only until it is joined). */
void pynames_thread_exited(struct pynames *pn, __u32 tid)
{
	if (!pn || !tid)
		return;
	if (drop_tid(pn->pending, &pn->nr_pending, tid) && pn->nr_ended < PYLIVE_MAX_THREADS) {
		*VEC_PUSH(pn->ended, pn->nr_ended, pn->cap_ended) = tid;
		pn->due = 0;
	}
	pylive_thread_gone(pn->pl, tid);
}

static void on_name(void *arg, __u32 tid, __u64 ident, const char *name)
{
	struct pynames *pn = arg;
	struct tt_py_thread_name rec = {0};
	struct named *nd = NULL;
	bool found;
	__u64 *ix;

	drop_pending(pn, tid);
	ix = u64_map_upsert(&pn->by_tid, tid, &found);
	if (found)
		nd = &pn->v[*ix - 1];
	if (nd && !strncmp(nd->name, name, TT_PY_NAME_LEN - 1))
		return;
	if (!nd) {
		nd = VEC_PUSH(pn->v, pn->n, pn->cap);
		nd->tid = tid;
		*ix = pn->n;
	}
	snprintf(nd->name, sizeof(nd->name), "%s", name);
	rec.hdr.size = sizeof(rec);
	rec.hdr.kind = TT_REC_PY_THREAD_NAME;
	rec.hdr.ts = pn->now;
	rec.hdr.pid = (__u32)pn->pid;
	rec.hdr.tid = tid;
	rec.ident = ident;
	memcpy(rec.name, nd->name, sizeof(rec.name));
	if (!pn->emit(pn->ctx, &rec, sizeof(rec)))
		pn->written++;
}

void pynames_poll(struct pynames *pn, __u64 now, __u64 rec_ts, bool force)
{
	unsigned before;
	bool full;

	if (!pn || (!force && (!pn->until || now < pn->due)))
		return;
	if (now >= pn->until) {
		pn->until = 0;
		pn->nr_pending = 0; /* never named (started from C): given up */
		pn->nr_ended = 0;
	}
	pn->now = rec_ts;
	full = force || now >= pn->full_due;
	if (full)
		pn->full_due = now + NAME_FULL_NS;
	before = pn->written;
	if (force)
		pylive_thread_names(pn->pl, on_name, pn);
	else
		pylive_thread_names_new(pn->pl, full, on_name, pn);
	/* a short thread may have come and gone between two reads: its Thread object may live */
	if (pn->nr_ended)
		pylive_ended_thread_names(pn->pl, pn->ended, pn->nr_ended, on_name, pn);
	if (full)
		pylive_prime_frames(pn->pl);
	else if (now >= pn->prime_due)
		pylive_prime_new_frames(pn->pl);
	if (full || now >= pn->prime_due)
		pn->prime_due = now + NAME_PRIME_NS;
	if (pn->written != before)
		pn->retry = NAME_RETRY_NS;
	else if (now >= pn->started + NAME_QUIET_NS && pn->retry < NAME_BACKOFF_NS)
		pn->retry *= 2; /* nothing new for a while: wait longer, until a thread starts */
	pn->due = now + pn->retry;
	if (!pn->nr_pending) {
		pn->until = 0;
		pn->nr_ended = 0; /* not in _dangling when looked for: the Thread object is gone */
	}
}

bool pynames_due_soon(const struct pynames *pn, __u64 now)
{
	return pn && pn->until && pn->due < now + NAME_SOON_NS;
}

unsigned pynames_count(const struct pynames *pn)
{
	return pn ? pn->written : 0;
}

const char *pynames_of(const struct pynames *pn, __u32 tid)
{
	const __u64 *ix = pn && tid ? u64_map_get(&pn->by_tid, tid) : NULL;

	return ix && pn->v[*ix - 1].name[0] ? pn->v[*ix - 1].name : NULL;
}
