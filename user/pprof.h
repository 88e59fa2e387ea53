/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pprof.h - a gzip-compressed pprof profile of the waits, like Go's mutex profile: sample types
 * contentions/count and delay/nanoseconds; each sample is a waiter stack with the lock as its
 * leaf frame. `go tool pprof -top FILE` shows the same totals as the JSON summary.
 */
#ifndef TT_PPROF_H
#define TT_PPROF_H

#include <stdio.h>
#include "analysis.h"

/* Python stacks Python-first unless native (stackview.h). */
int pprof_write(FILE *out, const struct analysis *a, bool native);

#endif
