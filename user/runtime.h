/* SPDX-License-Identifier: GPL-2.0 */
/*
 * runtime.h - what a target's runtime (musl, Go, a JVM: TT_REC_RUNTIME) means for its futex
 * waits: the kinds its own functions name, musl's object layouts, and what the reports say.
 */
#ifndef TT_RUNTIME_H
#define TT_RUNTIME_H

#include "lockkind.h"
#include "symdata.h"
#include "threadtrace.h"

#define RT__NR (TT_RT_JVM + 1)

/* The runtimes a trace's TT_REC_RUNTIME records named (the first record of each kind). */
struct runtime_info {
	unsigned mask; /* bit per enum tt_runtime_kind */
	struct tt_runtime rec[RT__NR];
};

void runtime_add(struct runtime_info *ri, const struct tt_runtime *r);
static inline bool runtime_has(const struct runtime_info *ri, enum tt_runtime_kind k)
{
	return ri->mask & (1u << k);
}
/* "musl", "go", "jvm" (the JSON's names). */
const char *runtime_name(enum tt_runtime_kind k);
/* What the report and JSON tell a user of this runtime, one sentence. */
const char *runtime_note(enum tt_runtime_kind k);

/*
 * The kind a stack's runtime functions name (function names leaf first, NULL for unknown), or -1:
 * Go's idle parking (runtime.notesleep) and runtime locks (runtime.lock2), HotSpot's monitor
 * entry, Object.wait and LockSupport.park, musl's own lock functions when musl is in mask. The
 * runtime's frames outrank the libc ones leafwards of them: a JVM monitor wait is a
 * pthread_cond_wait underneath. *func_id gets the matching function (runtime_func_detail).
 */
int runtime_stack_kind(unsigned mask, const char *const *funcs, size_t n, int *func_id);
/* The detail of the function runtime_stack_kind matched ("Java monitor (synchronized)"), or NULL.
 */
const char *runtime_func_detail(int func_id);

/*
 * musl's layouts (doc/musl-futex.md): the kind of a musl futex word from the votes and the
 * memory around it, its offset in the object that owns it (*off), and a detail into buf
 * ("thread 123" for a join). owner_val: a wait expected EBUSY or a target tid with bit 31 set
 * (a contended musl mutex). glibc's value and layout rules do not hold for musl.
 */
enum lock_kind musl_classify(const struct lock_evidence *ev, bool owner_val,
			     const struct sym_lock *sl, const char **detail, char *buf, size_t len,
			     __u64 *off);

#endif
