/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pylive.h - a live CPython process's state read from outside (process_vm_readv): its thread
 * states, each thread's Python frames with their locals and value stack, and objects: type
 * names, str, int, dict items, instance attributes, modules, threading's thread names.
 *
 * The target's memory is untrusted input: every loop is bounded, every size checked, and a
 * read of garbage fails with -errno (-EFAULT unreadable, -EINVAL not the kind of object
 * expected, -ENOENT no such key or attribute, -E2BIG past a limit), never a crash. Layouts come
 * from user/pygil.c (interpreter, thread states), user/pyframes.c (frames, code objects, str)
 * and for objects (types, dicts, ints, managed dicts) this module's table for 3.8-3.12; from
 * 3.13 all of them start from the interpreter's _Py_DebugOffsets (user/pydebug.c), the one
 * source pygil and pyframes use too. doc/cpython-layouts.md.
 * Only the collector uses this (and branches that read hung processes).
 */
#ifndef TT_PYLIVE_H
#define TT_PYLIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "pygil.h"

#define PYLIVE_MAX_THREADS 4096
#define PYLIVE_MAX_FRAMES  256	 /* frames one walk returns at most */
#define PYLIVE_MAX_DICT	   65536 /* entries of a dict looked at, at most */
#define PYLIVE_MAX_LOCALS  65536 /* localsplus slots of a frame believed */
#define PYLIVE_MAX_STACK   65536 /* value-stack slots of a frame believed */

struct pylive;

/*
 * A reader of py's process (py from pygil_discover, or filled by hand: pid, minor, interp,
 * sys_modules, thread_id_off, code_type). NULL with errno EPROTONOSUPPORT for a version
 * without layouts. py is copied: it need not outlive the reader.
 */
struct pylive *pylive_new(const struct py_target *py);
void pylive_free(struct pylive *pl);

struct pylive_thread {
	__u32 tid;    /* the kernel's thread id (0 when it cannot be read) */
	__u64 tstate; /* its PyThreadState */
	__u64 ident;  /* tstate->thread_id: threading.get_ident(), the pthread_t */
};

/* The code-object names pylive reads frames with (shared: one cache of code objects). */
struct pyframes *pylive_pyframes(struct pylive *pl);
/*
 * Walk every thread's frames now, so that their code objects are named while they live (a
 * script's module code is freed before Py_FinalizeEx). The number of frames read, or -errno.
 * Only the first 64 threads and each one's innermost 64 frames.
 */
int pylive_prime_frames(struct pylive *pl);
/*
 * The same, cheaper: each thread's frames only down to the first one the last walk saw at
 * the same address with the same code (a new thread's all). Misses a frame that replaced
 * another below an unchanged one, until the next full walk.
 */
int pylive_prime_new_frames(struct pylive *pl);

/* The main interpreter's thread states, up to max. Their count, or -errno. */
int pylive_threads(struct pylive *pl, struct pylive_thread *out, size_t max);

#define PYLIVE_F_ENTRY (1u << 0) /* as TT_PYF_ENTRY: the first frame of an eval-loop call */

struct pylive_frame {
	__u64 addr;	   /* the frame: PyFrameObject (3.8-3.10), _PyInterpreterFrame (3.11+) */
	__u64 code;	   /* its code object */
	__u32 instr;	   /* as tt_pyframe.instr */
	__u32 flags;	   /* PYLIVE_F_* */
	__u32 tlbc_index;  /* free-threaded 3.14+: the thread's bytecode copy instr is in; 0 */
	int line;	   /* the line it runs (-1: unknown; from pyframes' line tables) */
	__u64 localsplus;  /* address of localsplus[0]: locals, then cells and free variables */
	__u32 nlocalsplus; /* slots there (0 when unknown) */
	__u32 nstack;	   /* slots on its value stack, from stack_base up (0: none or unknown) */
	__u64 stack_base;  /* address of the value stack's bottom slot */
	__u32 stack_max;   /* slots the value stack can hold (co_stacksize; 0: unknown): where
			      stack_top is 0, live slots are among [stack_base, + stack_max) */
	__u64 stack_top;   /* address past its top slot; 0 when the frame does not say: a
			      running frame keeps its stack pointer in a register (3.8/3.9
			      f_stacktop NULL, 3.10 f_stackdepth and 3.12 stacktop -1) */
};

/*
 * The Python frames of the thread whose state is tstate, innermost first, up to max (shim
 * frames of 3.12+ skipped, marking the frame above as an entry). Their count, or -errno.
 */
int pylive_frames(struct pylive *pl, __u64 tstate, struct pylive_frame *out, size_t max);

/* A frame's name: qualname (co_name before 3.11), short file name; strings belong to pl. */
int pylive_frame_name(struct pylive *pl, const struct pylive_frame *f, const char **qualname,
		      const char **file);
/* localsplus[i] of f (an object, or 0 for an unbound local). 0 or -errno. */
int pylive_local(struct pylive *pl, const struct pylive_frame *f, unsigned i, __u64 *obj);
/* The local named name (an argument, "self") of f. 0, -ENOENT or -errno. */
int pylive_local_by_name(struct pylive *pl, const struct pylive_frame *f, const char *name,
			 __u64 *obj);
/* Value-stack slot i of f counted from the top (0: the top). 0 or -errno. */
int pylive_stack(struct pylive *pl, const struct pylive_frame *f, unsigned i, __u64 *obj);

/* sizeof(PyObject): where an object's own fields begin (16; 32 in a free-threaded build). */
unsigned pylive_head(const struct pylive *pl);
/* obj's type object. 0 or -errno. */
int pylive_type(struct pylive *pl, __u64 obj, __u64 *type);
/* A localsplus or value-stack slot read raw, as an object pointer (3.14+: tags cleared). */
__u64 pylive_untag(const struct pylive *pl, __u64 ref);

/* ob_type->tp_name of obj ("threading.Thread" is "Thread"), into buf. 0 or -errno. */
int pylive_type_name(struct pylive *pl, __u64 obj, char *buf, size_t len);
/* A str object as UTF-8 into buf (cut at len - 1 bytes). 0, or -EINVAL for no str. */
int pylive_str(struct pylive *pl, __u64 obj, char *buf, size_t len);
/* An int object that fits 64 bits. 0, -EINVAL for no int, -ERANGE too large. */
int pylive_int(struct pylive *pl, __u64 obj, __s64 *v);
/* Is obj None (Py_None, the object tp_name "NoneType")? */
bool pylive_is_none(struct pylive *pl, __u64 obj);

/*
 * Call cb for each item of a dict (in insertion order, at most PYLIVE_MAX_DICT). cb returns
 * non-zero to stop. 0 or -errno.
 */
int pylive_dict_items(struct pylive *pl, __u64 dict, int (*cb)(void *ctx, __u64 key, __u64 value),
		      void *ctx);
/* d[key] for a str key (ASCII). 0, -ENOENT or -errno. */
int pylive_dict_get(struct pylive *pl, __u64 dict, const char *key, __u64 *value);
/*
 * obj.name from the instance's own attributes (its __dict__: tp_dictoffset on 3.8-3.10,
 * the managed dict or inline values on 3.11-3.13): no class attributes, properties or slots.
 */
int pylive_getattr(struct pylive *pl, __u64 obj, const char *name, __u64 *value);
/*
 * Up to 4 attributes in one lookup: values[i] is obj.names[i], 0 where it has none. 0 or
 * -errno (the object unreadable).
 */
int pylive_getattrs(struct pylive *pl, __u64 obj, const char *const *names, unsigned n,
		    __u64 *values);
/* sys.modules[name]. 0, -ENOENT or -errno. */
int pylive_module(struct pylive *pl, const char *name, __u64 *module);
/* A module's global: module.__dict__[name]. */
int pylive_module_attr(struct pylive *pl, __u64 module, const char *name, __u64 *value);

/*
 * The threading.Thread names: cb with each thread in threading._active, its native id
 * (Thread._native_id; else its tstate's tid found by ident) and Thread._name. The count
 * of threads named, or -errno (-ENOENT: threading not imported).
 */
int pylive_thread_names(struct pylive *pl,
			void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name), void *ctx);
/*
 * The same, but cb only with the threads new since the last call of either, or whose
 * Thread object or _name object changed (renamed); a name's characters are read only then.
 * An entry of _active seen at the last call, whose thread has not exited since
 * (pylive_thread_gone), is not read at all unless recheck: renames are found by a call with
 * recheck. The count is of all the threads named, as above.
 */
int pylive_thread_names_new(struct pylive *pl, bool recheck,
			    void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name),
			    void *ctx);
/* Thread tid exited: its _active entry's addresses may be another thread's from now. */
void pylive_thread_gone(struct pylive *pl, __u32 tid);
/*
 * The names of threads among tids (host tids) that already ended, left from _active: read
 * from threading._dangling, the weak set of Thread objects still referred to (a program's
 * list it joins them from). cb as above; the count named, or -errno.
 */
int pylive_ended_thread_names(struct pylive *pl, const __u32 *tids, size_t nr_tids,
			      void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name),
			      void *ctx);

#endif
