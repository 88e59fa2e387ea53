/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pydeadlock.h - Python lock waits and deadlocks, read from the live process: which
 * threading.Lock or RLock (or Condition, Event, join...) a blocked Python thread waits for, who
 * holds it (an RLock's owner; a Lock's bound __exit__ on another thread's value stack: a `with`
 * block in progress), and cycles of such threads. Layouts: doc/cpython-layouts.md.
 */
#ifndef TT_PYDEADLOCK_H
#define TT_PYDEADLOCK_H

#include "deadlock.h"
#include "pyframes.h"
#include "pygil.h"
#include "pylive.h"

struct pylocks;

/* py and pl (its live reader) must outlive it. NULL when pl is NULL. */
struct pylocks *pylocks_new(const struct py_target *py, struct pylive *pl);
void pylocks_free(struct pylocks *w);

/* The thread's Python frames now, leaf first, as BPF reports them; how many (0: none). */
unsigned pylocks_stack(struct pylocks *w, __u32 tid, struct tt_pyframe *out, unsigned max,
		       __u32 *flags);

/* What one round found: records to write, in order, and a deadlock seen twice in a row. */
struct pylocks_round {
	struct tt_pywait *waits; /* waits seen first or changed since they were written */
	size_t nr_waits, cap_waits;
	bool deadlock;
	struct tt_deadlock dl; /* TT_DEADLOCK_PYTHON */
};

/*
 * Look at the blocked waits of Python threads (b: deadlock_watch_blocked): at most every
 * 250 ms, and only while one lasted min_ns. Fills *out (its arrays are reused).
 */
void pylocks_check(struct pylocks *w, const struct blocked_wait *b, size_t n, __u64 now,
		   struct pylocks_round *out);

/* What the latest round found for a blocked thread's wait, NULL when nothing. */
const struct tt_pywait *pylocks_wait_of(const struct pylocks *w, __u32 tid);

#endif
