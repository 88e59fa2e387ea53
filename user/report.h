/* SPDX-License-Identifier: GPL-2.0 */
/*
 * report.h - the terminal report: a header, locks by total wait with waiters and unlock sites,
 * waiting-for-work objects, then the per-thread time table. Reads only the analysis.
 */
#ifndef TT_REPORT_H
#define TT_REPORT_H

#include <stdio.h>
#include "analysis.h"

struct report_opts {
	unsigned top_locks;  /* locks shown per section */
	unsigned top_stacks; /* waiter / waker rows per lock */
	unsigned max_frames; /* user frames per stack */
	bool native;	     /* every frame of a Python stack, not the Python-first view */
};

void report_text(FILE *out, const struct analysis *a, const struct report_opts *o);

#endif
