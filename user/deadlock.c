// SPDX-License-Identifier: GPL-2.0
/* deadlock.c - see deadlock.h. Owner fields: doc/glibc-futex.md. */
#include <stdlib.h>
#include <string.h>
#include "deadlock.h"
#include "pidns.h"
#include "procfs.h"
#include "records.h"

#define FUTEX_TID_MASK 0x3fffffffu
#define FUTEX_WAITERS  0x80000000u

#define RWLOCK_SIZE	     56 /* pthread_rwlock_t */
#define RWLOCK_WRITER	     24 /* __cur_writer: the TID of the writer holding it */
#define RWLOCK_READERS_SHIFT 3	/* __readers (+0) counts readers from bit 3 */

struct blocked {
	__u32 tid;
	__u32 op, val;
	__u64 addr, since;
	__u64 rwlock;	 /* --holds: the rwlock this wait is inside a lock call of; 0: none */
	unsigned nr_ips; /* where it waits: the wait's own stack, or its unwound one */
	__u64 ips[TT_DEADLOCK_FRAMES];
};

/* --holds: an rwlock lock call not yet undone by an unlock of the same thread. */
struct rw_hold {
	__u64 obj;
	__u32 tid;
};

struct deadlock_watch {
	pid_t pid;
	struct blocked *v;
	size_t n, cap;
	struct u64_map by_tid; /* tid -> index + 1 into v: records arrive at event rate */
	__u64 *reported;       /* hashes of cycles already reported */
	size_t nr_reported, cap_reported;
	/* --holds data: who holds which rwlock (its memory names only a writer) */
	struct rw_hold *rw;
	size_t nr_rw, cap_rw;
	struct u64_map rw_call; /* tid -> the rwlock of its latest lock call if an rwlock lock */
	struct pidns *ns;	/* owners are named in the target's PID namespace */
	__u64 checked;		/* the round pidns was last read in */
};

struct deadlock_watch *deadlock_watch_new(pid_t pid)
{
	struct deadlock_watch *d = xcalloc(1, sizeof(*d));

	d->pid = pid;
	d->ns = pidns_open(pid);
	return d;
}

void deadlock_watch_free(struct deadlock_watch *d)
{
	if (!d)
		return;
	free(d->v);
	free(d->reported);
	free(d->rw);
	u64_map_free(&d->by_tid);
	u64_map_free(&d->rw_call);
	pidns_close(d->ns);
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

static void lock_call(struct deadlock_watch *d, const struct tt_lock_call *r)
{
	__u32 tid = r->hdr.tid;
	bool found, lock = false;

	if (lock_op_takes_rwlock(r->op)) {
		/* counted as held from the call: a failed try or timed call stays counted, which
		 * the reader count in the lock's memory catches (owners_of) */
		*VEC_PUSH(d->rw, d->nr_rw, d->cap_rw) = (struct rw_hold){r->obj, tid};
		lock = true;
	} else if (r->op == TT_LOP_RW_UNLOCK) {
		for (size_t i = d->nr_rw; i-- > 0;)
			if (d->rw[i].obj == r->obj && d->rw[i].tid == tid) {
				d->rw[i] = d->rw[--d->nr_rw];
				break;
			}
	}
	*u64_map_upsert(&d->rw_call, tid, &found) = lock ? r->obj : 0;
}

static void keep_stack(struct blocked *b, const struct tt_stack *st)
{
	b->nr_ips = st->nr_user < TT_DEADLOCK_FRAMES ? st->nr_user : TT_DEADLOCK_FRAMES;
	memcpy(b->ips, st->ips, b->nr_ips * 8);
}

void deadlock_watch_record(struct deadlock_watch *d, const struct tt_rec_hdr *h)
{
	const struct tt_wait_begin *wb = (const void *)h;
	struct blocked *b;

	switch (h->kind) {
	case TT_REC_WAIT_BEGIN: {
		bool found;

		__u64 *rw = u64_map_get(&d->rw_call, h->tid);

		forget(d, h->tid);
		b = VEC_PUSH(d->v, d->n, d->cap);
		*b = (struct blocked){h->tid, wb->op, wb->val, wb->uaddr, h->ts, 0};
		keep_stack(b, &wb->stack);
		if (rw && *rw && wb->uaddr - *rw < RWLOCK_SIZE)
			b->rwlock = *rw;
		*u64_map_upsert(&d->by_tid, h->tid, &found) = d->n;
		break;
	}
	case TT_REC_LOCK_CALL:
		lock_call(d, (const struct tt_lock_call *)h);
		break;
	case TT_REC_UNWOUND:
		b = find_mut(d, h->tid);
		if (b && b->since == h->ts &&
		    ((const struct tt_unwound *)h)->parent_kind == TT_REC_WAIT_BEGIN &&
		    ((const struct tt_unwound *)h)->stack.nr_user)
			keep_stack(b, &((const struct tt_unwound *)h)->stack);
		break;
	case TT_REC_WAIT_END:
		forget(d, h->tid);
		break;
	case TT_REC_EXIT:
		forget(d, h->tid);
		for (size_t i = d->nr_rw; i-- > 0;)
			if (d->rw[i].tid == h->tid)
				d->rw[i] = d->rw[--d->nr_rw];
		break;
	}
}

/* pthread_mutex_t: __owner, __nusers and __kind (doc/glibc-futex.md) */
#define MUTEX_OWNER	   2 /* in 32-bit words */
#define MUTEX_NUSERS	   3
#define MUTEX_KIND	   4
#define MUTEX_KIND_BITS	   0x3ffu /* type 0-3, robust, PI, PP, pshared, elision */
#define MUTEX_KIND_PSHARED 0x80u
#define MUTEX_KIND_ROBUST  0x10u
#define TID_MAX		   (1u << 22) /* PID_MAX_LIMIT */

/*
 * The owner a lock word waited on with op/val names (in the target's PID namespace), from its
 * memory; 0 when unknown. *mutex: the memory around it also reads as a locked
 * pthread_mutex_t whose sharing matches the wait's (a glibc-internal lock is a bare int and
 * the words after it are anything): only then is a one-thread verdict believed.
 */
static __u32 lock_owner(pid_t pid, __u64 addr, __u32 op, __u32 val, bool *mutex)
{
	__u32 cmd = op & TT_FUTEX_CMD_MASK, word[6], kind, owner;
	bool pi = cmd == TT_FUTEX_LOCK_PI || cmd == TT_FUTEX_LOCK_PI2;
	bool robust = cmd == TT_FUTEX_WAIT && (val & FUTEX_WAITERS);
	bool normal = cmd == TT_FUTEX_WAIT && val == 2;
	bool shared = !(op & TT_FUTEX_PRIVATE_FLAG);

	*mutex = false;
	/* only locks name their owner: condvars, semaphores, joins do not */
	if (op >= TT_FUTEX2_WAITV || !(pi || robust || normal) ||
	    procfs_read_mem(pid, addr, word, sizeof(word)))
		return 0;
	/* PI: the kernel keeps the owner in the word; robust: TID | FUTEX_WAITERS */
	if (pi || robust)
		owner = word[0] & FUTEX_TID_MASK;
	/* a glibc mutex being waited for holds 2 and names its owner in __owner (+8) */
	else
		owner = word[0] == 2 ? word[MUTEX_OWNER] : 0;
	kind = word[MUTEX_KIND];
	/* glibc marks every robust mutex process-shared, whatever its futex ops say */
	*mutex = owner && owner < TID_MAX && !(kind & ~MUTEX_KIND_BITS) &&
		 word[MUTEX_OWNER] == owner && word[MUTEX_NUSERS] &&
		 (!(kind & MUTEX_KIND_PSHARED) == !shared || (kind & MUTEX_KIND_ROBUST));
	return owner;
}

unsigned deadlock_watch_wait_stack(const struct deadlock_watch *d, __u32 tid, __u64 *ips)
{
	const struct blocked *b = find_mut((struct deadlock_watch *)d, tid);

	if (!b)
		return 0;
	memcpy(ips, b->ips, b->nr_ips * 8);
	return b->nr_ips;
}

size_t deadlock_watch_blocked(const struct deadlock_watch *d, __u64 now, __u64 min_ns,
			      struct blocked_wait **out, size_t *cap)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		if (now - d->v[i].since >= min_ns)
			*VEC_PUSH(*out, n, *cap) = (struct blocked_wait){
			    d->v[i].tid, d->v[i].op, d->v[i].addr, d->v[i].since};
	return n;
}

/*
 * Whether the holder a mutex names can still release it. A lock private to the process must be
 * held by one of its threads; a process-shared one by a live thread of any process. Returns 0
 * when it can, else TT_DEADLOCK_* flags; *host: its host tid, when it is alive.
 */
static __u32 owner_fate(struct deadlock_watch *d, const struct blocked *b, __u32 owner, __u32 *host)
{
	bool shared = !(b->op & TT_FUTEX_PRIVATE_FLAG);
	pid_t tid, tgid;

	*host = 0;
	if (!pidns_lookup(d->ns, owner, shared, &tid, &tgid)) {
		*host = tid;
		return 0;
	}
	if (shared)
		return TT_DEADLOCK_ORPHANED | TT_DEADLOCK_SHARED;
	if (!pidns_lookup(d->ns, owner, true, &tid, &tgid)) {
		*host = tid;
		return TT_DEADLOCK_ORPHANED | TT_DEADLOCK_ELSEWHERE;
	}
	return TT_DEADLOCK_ORPHANED;
}

/*
 * The threads a blocked thread waits for, as host tids: a mutex's owner from its memory, or
 * with --holds an rwlock's writer (__cur_writer) or its readers (lock calls not yet undone). A
 * writer waits for every reader, so each is an owner; the readers are trusted only when no more
 * of them are counted than the lock's own reader count says (a failed try call stays counted).
 * A mutex named as held by the waiter itself counts (a re-lock of a default mutex) only when
 * its memory reads as a pthread_mutex_t. Layouts: doc/glibc-futex.md.
 */
static unsigned owners_of(struct deadlock_watch *d, const struct blocked *b, __u32 *out,
			  unsigned max)
{
	__u32 word[8], host;
	bool mutex;
	__u32 owner = lock_owner(d->pid, b->addr, b->op, b->val, &mutex);
	unsigned n = 0;
	pid_t tid, tgid;

	if (owner) {
		/* gone or elsewhere: no cycle through it (deadlock_watch_check says orphans) */
		if (owner_fate(d, b, owner, &host) || !host)
			return 0;
		out[0] = host;
		return host != b->tid || mutex;
	}
	if (!b->rwlock || procfs_read_mem(d->pid, b->rwlock, word, sizeof(word)))
		return 0;
	if (word[RWLOCK_WRITER / 4]) {
		if (pidns_lookup(d->ns, word[RWLOCK_WRITER / 4], false, &tid, &tgid))
			return 0;
		out[0] = tid;
		return out[0] != b->tid;
	}
	for (size_t i = 0; i < d->nr_rw; i++) {
		const struct blocked *w;
		bool dup = false;

		if (d->rw[i].obj != b->rwlock)
			continue;
		/* a thread still inside its lock call on this rwlock waits, it does not hold */
		w = find_mut(d, d->rw[i].tid);
		if (w && w->rwlock == b->rwlock)
			continue;
		for (unsigned k = 0; k < n && !dup; k++)
			dup = out[k] == d->rw[i].tid;
		if (dup)
			continue;
		if (n == max)
			return 0;
		out[n++] = d->rw[i].tid;
	}
	/* waiting readers are counted in memory too: the count bounds the holders from above */
	return n > word[0] >> RWLOCK_READERS_SHIFT ? 0 : n;
}

#define MAX_OWNERS   16
#define SEARCH_STEPS 4096 /* per start: many readers make the owner tree wide */

/* Depth-first: the waits from cur (at depth nr of the path in out) back to start's tid. */
static bool find_cycle(struct deadlock_watch *d, const struct blocked *start,
		       const struct blocked *cur, __u64 now, __u64 min_ns, unsigned nr,
		       unsigned *steps, struct tt_deadlock *out)
{
	__u32 owners[MAX_OWNERS];
	unsigned n;

	if (now - cur->since < min_ns || nr == TT_MAX_CYCLE || !*steps)
		return false;
	--*steps;
	n = owners_of(d, cur, owners, MAX_OWNERS);
	for (unsigned i = 0; i < n; i++) {
		const struct blocked *next;
		bool on_path = false;

		out->links[nr].tid = cur->tid;
		out->links[nr].owner = owners[i];
		out->links[nr].addr = cur->addr;
		if (owners[i] == start->tid) {
			out->nr = nr + 1;
			return true;
		}
		/* k == nr: cur itself, a self-deadlock not through start */
		for (unsigned k = 0; k <= nr && !on_path; k++)
			on_path = out->links[k].tid == owners[i];
		/* a cycle not through start is found from its own start */
		next = on_path ? NULL : find_mut(d, owners[i]);
		if (next && find_cycle(d, start, next, now, min_ns, nr + 1, steps, out))
			return true;
	}
	return false;
}

/* One report per cycle or orphan, whichever thread it was found from. */
static bool seen_before(struct deadlock_watch *d, const struct tt_deadlock *dl)
{
	__u64 key = dl->flags;

	for (unsigned k = 0; k < dl->nr; k++)
		key += hash_u64(dl->links[k].tid ^ hash_u64(dl->links[k].addr));
	for (size_t r = 0; r < d->nr_reported; r++)
		if (d->reported[r] == key)
			return true;
	*VEC_PUSH(d->reported, d->nr_reported, d->cap_reported) = key;
	return false;
}

/*
 * A wait for a mutex whose holder cannot release it: not alive, or (a lock private to the
 * process) not one of its threads. The memory is read again after the holder was looked for:
 * a holder that unlocked and exited in between no longer stands in __owner.
 */
static bool find_orphan(struct deadlock_watch *d, const struct blocked *b, __u64 now, __u64 min_ns,
			struct tt_deadlock *out)
{
	__u32 owner, again, flags, host;
	bool mutex, mutex2;

	if (now - b->since < min_ns)
		return false;
	owner = lock_owner(d->pid, b->addr, b->op, b->val, &mutex);
	if (!owner || !mutex)
		return false;
	flags = owner_fate(d, b, owner, &host);
	if (!flags)
		return false;
	again = lock_owner(d->pid, b->addr, b->op, b->val, &mutex2);
	if (again != owner || !mutex2)
		return false;
	out->nr = 1;
	out->flags = flags;
	out->links[0].tid = b->tid;
	out->links[0].owner = owner;
	out->links[0].addr = b->addr;
	return true;
}

bool deadlock_watch_check(struct deadlock_watch *d, __u64 now, __u64 min_ns,
			  struct tt_deadlock *out)
{
	/* threads come and go: the namespace is read again each round (all calls at one now) */
	if (d->checked != now) {
		pidns_forget(d->ns);
		d->checked = now;
	}
	for (size_t i = 0; i < d->n; i++) {
		unsigned steps = SEARCH_STEPS;

		if (now - d->v[i].since < min_ns)
			continue;
		memset(out, 0, sizeof(*out));
		if (!find_cycle(d, &d->v[i], &d->v[i], now, min_ns, 0, &steps, out)) {
			memset(out, 0, sizeof(*out));
			if (!find_orphan(d, &d->v[i], now, min_ns, out))
				continue;
		}
		if (seen_before(d, out))
			continue;
		out->hdr.kind = TT_REC_DEADLOCK;
		out->hdr.size = sizeof(*out);
		out->hdr.ts = now;
		out->hdr.pid = d->pid;
		out->hdr.tid = out->links[0].tid;
		return true;
	}
	return false;
}
