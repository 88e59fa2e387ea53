/* SPDX-License-Identifier: GPL-2.0 */
/*
 * deadlock.h - live detection of hangs: threads blocked in futex waits on locks whose owners
 * (PI or robust lock word, glibc's __owner; with --holds an rwlock's writer or its readers from
 * the lock calls) are themselves blocked, in a cycle (of one: a re-locked default mutex), or
 * can never release them (orphaned: dead, or not in the process). Owners are named in the
 * target's PID namespace and turned into host tids.
 */
#ifndef TT_DEADLOCK_H
#define TT_DEADLOCK_H

#include <sys/types.h>
#include "util.h"
#include "threadtrace.h"

struct deadlock_watch;

struct deadlock_watch *deadlock_watch_new(pid_t pid);
void deadlock_watch_free(struct deadlock_watch *d);
/* Feed a record as it arrives (wait begin/end, exit, unwound, lock call). */
void deadlock_watch_record(struct deadlock_watch *d, const struct tt_rec_hdr *h);
/* Up to TT_DEADLOCK_FRAMES user frames (leaf first) of where a blocked thread waits; how many. */
#define TT_DEADLOCK_FRAMES 10
unsigned deadlock_watch_wait_stack(const struct deadlock_watch *d, __u32 tid, __u64 *ips);
/* A thread blocked in a futex wait, as the watch knows it. */
struct blocked_wait {
	__u32 tid, op;
	__u64 addr, since;
};

/* The waits blocked for at least min_ns at now, into *out (grown as needed); how many. */
size_t deadlock_watch_blocked(const struct deadlock_watch *d, __u64 now, __u64 min_ns,
			      struct blocked_wait **out, size_t *cap);

/*
 * Look for cycles among threads blocked for at least min_ns at now, and for orphaned locks:
 * fills *out and returns true once per new cycle or orphan. Call it until it returns false.
 */
bool deadlock_watch_check(struct deadlock_watch *d, __u64 now, __u64 min_ns,
			  struct tt_deadlock *out);

#endif
