// SPDX-License-Identifier: GPL-2.0
/*
 * pynames.c - see pynames.h. A thread enters threading._active only once its
 * Thread._bootstrap_inner runs, a little after the kernel created it, so a start is followed
 * by reads every 20 ms until each started thread has a name, for at most NAME_WINDOW_NS (a
 * thread started from C never gets one). Each read is one walk of _active, and one of every
 * thread's frames: their code objects are named then, while they live (the records that
 * show them may be read later, and a script's module code dies before Py_FinalizeEx).
 */
#include <string.h>
#include <stdlib.h>
#include "pynames.h"
#include "util.h"

#define NAME_RETRY_NS  20000000ULL
#define NAME_WINDOW_NS 3000000000ULL

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
	__u32 *pending; /* started threads not named yet */
	size_t nr_pending, cap_pending;
	__u64 due, until; /* read at due or later, while before until */
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
	return pn;
}

void pynames_free(struct pynames *pn)
{
	if (!pn)
		return;
	free(pn->v);
	free(pn->pending);
	free(pn);
}

void pynames_thread_started(struct pynames *pn, __u32 tid, __u64 now)
{
	if (!pn)
		return;
	if (tid && pn->nr_pending < PYLIVE_MAX_THREADS)
		*VEC_PUSH(pn->pending, pn->nr_pending, pn->cap_pending) = tid;
	if (!pn->until || pn->due > now)
		pn->due = now;
	pn->until = now + NAME_WINDOW_NS;
}

static void on_name(void *arg, __u32 tid, __u64 ident, const char *name)
{
	struct pynames *pn = arg;
	struct tt_py_thread_name rec = {0};
	struct named *nd = NULL;

	for (size_t i = 0; i < pn->nr_pending; i++)
		if (pn->pending[i] == tid)
			pn->pending[i--] = pn->pending[--pn->nr_pending];
	for (size_t i = 0; i < pn->n; i++)
		if (pn->v[i].tid == tid)
			nd = &pn->v[i];
	if (nd && !strncmp(nd->name, name, TT_PY_NAME_LEN - 1))
		return;
	if (!nd) {
		nd = VEC_PUSH(pn->v, pn->n, pn->cap);
		nd->tid = tid;
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
	if (!pn || (!force && (!pn->until || now < pn->due)))
		return;
	if (now >= pn->until) {
		pn->until = 0;
		pn->nr_pending = 0; /* never named (started from C): given up */
	}
	pn->due = now + NAME_RETRY_NS;
	pn->now = rec_ts;
	pylive_thread_names(pn->pl, on_name, pn);
	/* a short thread may have come and gone between two reads: its Thread object may live */
	if (pn->nr_pending)
		pylive_ended_thread_names(pn->pl, pn->pending, pn->nr_pending, on_name, pn);
	pylive_prime_frames(pn->pl);
	if (!pn->nr_pending)
		pn->until = 0;
}

unsigned pynames_count(const struct pynames *pn)
{
	return pn ? pn->written : 0;
}

const char *pynames_of(const struct pynames *pn, __u32 tid)
{
	for (size_t i = 0; pn && i < pn->n; i++)
		if (pn->v[i].tid == tid && pn->v[i].name[0])
			return pn->v[i].name;
	return NULL;
}
