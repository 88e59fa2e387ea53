/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rtset.h - the runtimes of one session: which rows of a runtime table (rtops.h) are in the
 * target, and the calls to them in table order. The collector's whole use of the seam goes
 * through these; they name no runtime, so a test drives them with a table of its own.
 */
#ifndef TT_RTSET_H
#define TT_RTSET_H

#include <stdbool.h>
#include <stddef.h>
#include "rtops.h"

struct rt_set {
	const struct rt_ops *const *table; /* NULL-terminated, at most RT_TABLE_MAX rows */
	void *rts[RT_TABLE_MAX];	   /* what each row's open returned (NULL: not there) */
};

/*
 * Open every row of table (rt_ops.open, in order), then ask each one found whether it can be
 * traced as the options say (rt_ops.admit) until one says no. 0, or that -errno; either way
 * rt_set_close must follow.
 */
int rt_set_open(struct rt_set *s, const struct rt_ops *const *table, const struct rt_host *host);
/* Close (detach, free) each one found, on every path. True: one may have left a COMMAND
 * stopped. The set is empty after. */
bool rt_set_close(struct rt_set *s);

/* Call op of each runtime found that has it, in table order. */
#define RT_SET_CALL(s, op, ...)                                                                    \
	for (size_t rt_i = 0; (s)->table && (s)->table[rt_i]; rt_i++)                              \
		if ((s)->rts[rt_i] && (s)->table[rt_i]->op)                                        \
	(s)->table[rt_i]->op((s)->rts[rt_i], ##__VA_ARGS__)

/* Does any runtime say yes to op? Asked in table order; stops at the first yes (a question
 * may have side effects: rt_ops.stopped resumes the COMMAND). */
#define RT_SET_ANY(s, op, ...)                                                                     \
	({                                                                                         \
		bool rt_yes = false;                                                               \
		for (size_t rt_i = 0; (s)->table && (s)->table[rt_i] && !rt_yes; rt_i++)           \
			if ((s)->rts[rt_i] && (s)->table[rt_i]->op)                                \
				rt_yes = (s)->table[rt_i]->op((s)->rts[rt_i], ##__VA_ARGS__);      \
		rt_yes;                                                                            \
	})

#endif
