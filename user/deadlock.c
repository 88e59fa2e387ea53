// SPDX-License-Identifier: GPL-2.0
/* deadlock.c - see deadlock.h. Owner fields: shared/facts/glibc-futex.md. */
#include <stdlib.h>
#include <string.h>
#include "deadlock.h"
#include "procfs.h"

#define FUTEX_TID_MASK 0x3fffffffu
#define FUTEX_WAITERS 0x80000000u

struct blocked {
	__u32 tid;
	__u32 op, val;
	__u64 addr, since;
	size_t wait_off, unwound_off; /* unwound_off 0: none */
};

struct deadlock_watch {
	pid_t pid;
	struct blocked *v;
	size_t n, cap;
	struct u64_map by_tid; /* tid -> index + 1 into v: records arrive at event rate */
	__u64 *reported; /* hashes of cycles already reported */
	size_t nr_reported, cap_reported;
};

struct deadlock_watch *deadlock_watch_new(pid_t pid)
{
	struct deadlock_watch *d = xcalloc(1, sizeof(*d));

	d->pid = pid;
	return d;
}

void deadlock_watch_free(struct deadlock_watch *d)
{
	if (!d)
		return;
	free(d->v);
	free(d->reported);
	u64_map_free(&d->by_tid);
	free(d);
}

static struct blocked *find_mut(struct deadlock_watch *d, __u32 tid)
{
	__u64 *i = u64_map_get(&d->by_tid, tid);

	return i && *i ? &d->v[*i - 1] : NULL;
}

/* Swap-remove tid's entry; the map keeps a 0 for a tid no longer blocked. */
static void forget(struct deadlock_watch *d, __u32 tid)
{
	struct blocked *b = find_mut(d, tid);
	size_t i;

	if (!b)
		return;
	i = b - d->v;
	*u64_map_get(&d->by_tid, tid) = 0;
	if (i != --d->n) {
		d->v[i] = d->v[d->n];
		*u64_map_get(&d->by_tid, d->v[i].tid) = i + 1;
	}
}

void deadlock_watch_record(struct deadlock_watch *d, const struct tt_rec_hdr *h, size_t off)
{
	const struct tt_wait_begin *wb = (const void *)h;
	struct blocked *b;

	switch (h->kind) {
	case TT_REC_WAIT_BEGIN: {
		bool found;

		forget(d, h->tid);
		b = VEC_PUSH(d->v, d->n, d->cap);
		*b = (struct blocked){h->tid, wb->op, wb->val, wb->uaddr, h->ts, off, 0};
		*u64_map_upsert(&d->by_tid, h->tid, &found) = d->n;
		break;
	}
	case TT_REC_UNWOUND:
		b = find_mut(d, h->tid);
		if (b && b->since == h->ts &&
		    ((const struct tt_unwound *)h)->parent_kind == TT_REC_WAIT_BEGIN)
			b->unwound_off = off;
		break;
	case TT_REC_WAIT_END:
	case TT_REC_EXIT:
		forget(d, h->tid);
		break;
	}
}

__u32 lock_owner(pid_t pid, __u64 addr, __u32 op, __u32 val)
{
	__u32 cmd = op & TT_FUTEX_CMD_MASK, word[4];
	bool pi = cmd == TT_FUTEX_LOCK_PI || cmd == TT_FUTEX_LOCK_PI2;
	bool robust = cmd == TT_FUTEX_WAIT && (val & FUTEX_WAITERS);
	bool mutex = cmd == TT_FUTEX_WAIT && val == 2;

	/* only locks name their owner: condvars, semaphores, joins do not */
	if (op >= TT_FUTEX2_WAITV || !(pi || robust || mutex) ||
	    procfs_read_mem(pid, addr, word, sizeof(word)))
		return 0;
	/* PI: the kernel keeps the owner in the word; robust: TID | FUTEX_WAITERS */
	if (pi || robust)
		return word[0] & FUTEX_TID_MASK;
	/* a glibc mutex being waited for holds 2 and names its owner in __owner (+8) */
	return word[0] == 2 ? word[2] : 0;
}

bool deadlock_watch_wait_records(const struct deadlock_watch *d, __u32 tid, size_t *wait_off,
				 size_t *unwound_off)
{
	const struct blocked *b = find_mut((struct deadlock_watch *)d, tid);

	if (!b)
		return false;
	*wait_off = b->wait_off;
	*unwound_off = b->unwound_off;
	return true;
}

bool deadlock_watch_check(struct deadlock_watch *d, __u64 now, __u64 min_ns,
			  struct tt_deadlock *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct blocked *start = &d->v[i], *cur = start;
		__u32 tids[TT_MAX_CYCLE];
		__u64 key = 0;
		unsigned nr = 0;
		bool seen = false;

		memset(out, 0, sizeof(*out));
		/* follow waiter -> owner while every thread has waited long enough */
		while (cur && now - cur->since >= min_ns && nr < TT_MAX_CYCLE) {
			__u32 owner = lock_owner(d->pid, cur->addr, cur->op, cur->val);

			if (!owner || owner == cur->tid)
				break;
			out->links[nr].tid = cur->tid;
			out->links[nr].owner = owner;
			out->links[nr].addr = cur->addr;
			tids[nr++] = cur->tid;
			if (owner == start->tid) {
				out->nr = nr;
				break;
			}
			for (unsigned k = 0; k < nr; k++)
				if (tids[k] == owner)
					cur = NULL; /* a cycle not through start: found from its own start */
			if (cur)
				cur = find_mut(d, owner);
		}
		if (out->nr < 2)
			continue;
		/* one report per cycle, whichever thread it was found from */
		for (unsigned k = 0; k < out->nr; k++)
			key += hash_u64(tids[k] ^ hash_u64(out->links[k].addr));
		for (size_t r = 0; r < d->nr_reported && !seen; r++)
			seen = d->reported[r] == key;
		if (seen)
			continue;
		*VEC_PUSH(d->reported, d->nr_reported, d->cap_reported) = key;
		out->hdr.kind = TT_REC_DEADLOCK;
		out->hdr.size = sizeof(*out);
		out->hdr.ts = now;
		out->hdr.pid = d->pid;
		out->hdr.tid = out->links[0].tid;
		return true;
	}
	return false;
}
