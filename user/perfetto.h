/* SPDX-License-Identifier: GPL-2.0 */
/*
 * perfetto.h - a Perfetto protobuf trace of the session: a track per process and per thread
 * with thread-state slices (running, runnable, lock wait on the named lock, condvar wait,
 * blocked), flow arrows from each unlock to the thread it woke, and waiter counts of the
 * hottest locks. Opens in ui.perfetto.dev or trace_processor.
 */
#ifndef TT_PERFETTO_H
#define TT_PERFETTO_H

#include <stdio.h>
#include "analysis.h"

int perfetto_write(FILE *out, const struct analysis *a);

#endif
