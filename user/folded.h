/* SPDX-License-Identifier: GPL-2.0 */
/*
 * folded.h - folded stacks ("frame;frame;... weight" lines, root first) built from the
 * analysis: waiter stacks, the lock as a frame, and optionally "--" and the waker's stack.
 * The SVG flamegraph is drawn from the same lines.
 */
#ifndef TT_FOLDED_H
#define TT_FOLDED_H

#include <stdio.h>
#include "analysis.h"

struct folded_line {
	char *stack; /* "comm;root;...;leaf;[mutex acc_lock];--;waker_leaf;...;waker_comm" */
	__u64 weight;
};

struct folded {
	struct folded_line *lines; /* sorted by stack, merged */
	size_t nr, cap;
	__u64 total;
};

/*
 * Build the lines of every lock and waiting object: weight in microseconds of wait (contention
 * counts when counts), with "--" and the waker's stack (leaf first) when wakers. Python stacks
 * Python-first unless native (stackview.h).
 */
void folded_build(struct folded *f, const struct analysis *a, bool counts, bool wakers,
		  bool native);
void folded_free(struct folded *f);
int folded_write(FILE *out, const struct folded *f);

#endif
