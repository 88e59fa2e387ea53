/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pynames.h - the collector's Python thread names: reads threading's names from the live
 * target (user/pylive.c) when its interpreter is found, while new threads start, and when
 * tracing stops, and writes a TT_REC_PY_THREAD_NAME record for each name new or changed.
 */
#ifndef TT_PYNAMES_H
#define TT_PYNAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include "pylive.h"

struct pynames;

/* emit(ctx, rec, size): where records go. pl must outlive the reader. */
struct pynames *pynames_new(struct pylive *pl, pid_t pid,
			    int (*emit)(void *ctx, const void *rec, size_t size), void *ctx);
void pynames_free(struct pynames *pn);
/*
 * Thread tid of the target started at now (ns): its name is looked for over the next seconds
 * (tid 0: names in general, as when the interpreter was just found).
 */
void pynames_thread_started(struct pynames *pn, __u32 tid, __u64 now);
/* Thread tid exited: its name is no longer looked for. */
void pynames_thread_exited(struct pynames *pn, __u32 tid);
/*
 * Read the names when due (every 20 ms while a started thread is unnamed, less often while
 * reads name nothing; pynames.c), or now if force: then every name is read again.
 * Records are stamped rec_ts: the latest record's time, not now (a record far ahead of those
 * still in the ring buffer would make them late for the analysis' reorder window).
 */
void pynames_poll(struct pynames *pn, __u64 now, __u64 rec_ts, bool force);
/* Is a read due within 10 ms (the collector should look again before its usual 10 ms)? */
bool pynames_due_soon(const struct pynames *pn, __u64 now);
/* Threads named so far (records written, renames included). */
unsigned pynames_count(const struct pynames *pn);
/* Thread tid's threading name as last read, or NULL (not read yet, or none). */
const char *pynames_of(const struct pynames *pn, __u32 tid);

#endif
