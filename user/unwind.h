/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unwind.h - DWARF unwinding of user stack snapshots (the bytes above sp and the registers BPF
 * copied) with each module's call-frame information, through elfutils libdwfl.
 */
#ifndef TT_UNWIND_H
#define TT_UNWIND_H

#include <sys/types.h>
#include "symbols.h"
#include "threadtrace.h"

struct unwinder;

struct unwinder *unwinder_new(struct symbolizer *sym, pid_t pid);
void unwinder_free(struct unwinder *u);
/*
 * Unwind snap into st, whose ips must hold TT_MAX_USTACK entries: user frames leaf first,
 * TT_STACK_USER_TRUNC when the snapshot ended before the outermost frame. Returns the count.
 */
unsigned unwinder_unwind(struct unwinder *u, const struct tt_ustack_snapshot *snap,
			 struct tt_stack *st);

#endif
