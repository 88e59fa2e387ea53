/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stackview.h - which frames of a stack the reports show. A stack with Python frames is shown
 * Python-first: its Python frames, and native frames only where no Python runs (the leaf frames
 * of C extensions and libc below the innermost Python frame); the interpreter's own frames
 * (eval loop, call plumbing) and the thread's native start-up outside the outermost Python
 * frame are left out. --native shows every frame, Python frames merged where the eval loop ran.
 */
#ifndef TT_STACKVIEW_H
#define TT_STACKVIEW_H

#include <stdbool.h>
#include "analysis.h"

/* Does st hold a Python frame? */
bool stackview_has_python(const struct stack_entry *st);
/*
 * The user frames of st shown, as indices into st->ips, leaf first, into idx (at most max):
 * all of them when native or st has no Python frame. Returns how many.
 */
#define STACKVIEW_MAX (TT_MAX_USTACK + TT_PY_MAX_FRAMES)
unsigned stackview_user(const struct analysis *a, const struct stack_entry *st, bool native,
			unsigned *idx, unsigned max);

#endif
