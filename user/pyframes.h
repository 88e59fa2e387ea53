/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pyframes.h - CPython frames: how BPF walks a thread's frame chain for each version (struct
 * tt_py_walk), and the names of the (code object, instruction) pairs it reports, read from the
 * target's memory once per code object: "qualname (file.py:LINE)". Layouts:
 * doc/cpython-layouts.md.
 */
#ifndef TT_PYFRAMES_H
#define TT_PYFRAMES_H

#include <stdbool.h>
#include <sys/types.h>
#include "symdata.h"
#include "threadtrace.h"
#include "pydebug.h"

/*
 * The frame address a Python frame stands as in stacks and symdata: its (code, instr) pair
 * hashed into addresses no native code has (bit 62 set, above user space, below the kernel).
 */
static inline __u64 pyframe_ip(const struct tt_pyframe *f)
{
	__u64 h = (f->code ^ ((__u64)f->instr << 40 | f->instr)) * 0x9e3779b97f4a7c15ULL;

	return (h >> 2) | (1ULL << 62);
}

static inline bool is_pyframe_ip(__u64 ip)
{
	return (ip >> 62) == 1;
}

/* The walk of Python 3.minor's frames; false for a version without one. */
bool pyframes_walk(unsigned minor, struct tt_py_walk *w);
/* The walk from a 3.13+ interpreter's debug offsets; false when it cannot be made. */
bool pyframes_walk_debug(const struct py_debug_offsets *o, struct tt_py_walk *w);

struct pyframes;

/* code_type: &PyCode_Type in the target (0: code objects are not checked). */
struct pyframes *pyframes_new(pid_t pid, unsigned minor, __u64 code_type);
struct pyframes *pyframes_new_debug(pid_t pid, const struct py_debug_offsets *o, __u64 code_type);
void pyframes_free(struct pyframes *pf);
/* Name every frame of ps not yet in sd, reading code objects from the live process. */
void pyframes_note(struct pyframes *pf, struct symdata *sd, const struct tt_pystack *ps);

/*
 * Where a frame is: its code's qualname (co_name before 3.11) and full file name (NULL when
 * the code object cannot be read) and its line (-1: unknown). Strings live as long as pf.
 */
void pyframes_where(struct pyframes *pf, const struct tt_pyframe *f, const char **qualname,
		    const char **filename, int *line);
/* A str object as UTF-8 (compact strings only: identifiers, file names, most text), or NULL. */
char *pyframes_read_str(const struct pyframes *pf, __u64 obj);

/*
 * The same with the short file name: 0, or -ENOENT when f's code is no readable code object.
 */
int pyframes_describe(struct pyframes *pf, const struct tt_pyframe *f, const char **qualname,
		      const char **file, int *line);

/* How a frame's stack top is kept (struct pyframe_extra.stack_kind). */
enum pyframe_stack {
	PYSTACK_NONE = 0,
	PYSTACK_PTR,   /* a pointer past the top (3.8/3.9 f_stacktop, 3.14+ stackpointer); NULL
			  while the frame runs */
	PYSTACK_SLOTS, /* an int: slots from localsplus[0] to the top (3.11-3.13 stacktop) */
	PYSTACK_DEPTH, /* an int: slots from f_valuestack to the top (3.10 f_stackdepth) */
};

/*
 * What only user space reads of a frame (user/pylive.c): the extent of its locals and its
 * value stack (localsplus[0] itself is at tt_py_walk.localsplus).
 */
struct pyframe_extra {
	int valuestack;	     /* frame + this: f_valuestack, the stack's bottom (3.8-3.10); -1 */
	int stack;	     /* frame + this: the stack's top, kept as stack_kind says */
	unsigned stack_kind; /* enum pyframe_stack */
	int nlocalsplus;     /* code + this: int co_nlocalsplus (3.11+); -1: from f_valuestack */
	int localnames;	     /* code + this: a tuple naming the first slots (co_localsplusnames
				3.11+; co_varnames 3.8-3.10, the cells and frees after unnamed) */
};

/* Those of pf's version (3.13+: from the debug offsets). false: not known. */
bool pyframes_extra(const struct pyframes *pf, struct pyframe_extra *x);

/* The line of bytecode offset addr (bytes) in a line table of Python 3.minor; -1: none. */
int pyframes_line(unsigned minor, const __u8 *table, size_t len, int firstlineno, long addr);

#endif
