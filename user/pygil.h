/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pygil.h - the target's CPython: where its interpreter is, which version, where the main
 * interpreter's GIL lives, who holds it now, and the instructions that store to the GIL's
 * `locked` (the probe sites of bpf/gil.bpf.c), found by decoding the interpreter's code.
 * Layouts per version: doc/cpython-layouts.md.
 */
#ifndef TT_PYGIL_H
#define TT_PYGIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>
#include "threadtrace.h"
#include "pydebug.h"

/* Where things are in one CPython (3.minor): built-in for 3.8-3.12, from the debug offsets on. */
struct py_layout {
	unsigned minor;
	int gil_in_rt;	       /* the GIL at _PyRuntime + this */
	int gil_ptr_in_interp; /* or its pointer at interp + this */
	unsigned interp_head;  /* _PyRuntime + this: the main interpreter */
	unsigned tstate_head;  /* interp + this: its first thread state */
	int native_tid;	       /* tstate + this: native_thread_id */
	unsigned thread_id;    /* tstate + this: pthread_t (before native_thread_id) */
	unsigned tstate_next;  /* tstate + this: the next thread state */
	int drop_rt, drop_interp,
	    drop_tstate;  /* the drop request (tstate: bit 0 of the holder's) */
	int disps[3];	  /* `locked` from the base pointers take/drop_gil use */
	unsigned modules; /* interp + this: sys.modules (interp->imports.modules, 3.12+) */
};

/*
 * A store to the GIL's `locked`, and where it is probed: the store itself (single-stepped,
 * ~16 us a hit here), or the first instruction after it that the kernel emulates (~1 us) when
 * nothing between changes the base register, branches, or is a branch target.
 */
struct gil_site {
	__u64 file_off; /* where the store is in the module file */
	__u64 vaddr;	/* ... and in its ELF address space */
	unsigned op;	/* TT_GIL_TAKE or TT_GIL_DROP */
	unsigned reg;	/* base register of the store (enum tt_reg), TT_REG_NONE: rip-relative */
	__s32 disp;	/* its displacement: BPF checks reg + disp is the GIL's `locked` */
	char insn[48];	/* for -v */
	__u64 probe_off, probe_vaddr; /* the probed instruction */
	bool emulated;		      /* probe_* is an emulated instruction after the store */
	char probe_insn[48];
};

struct py_target {
	pid_t pid;
	char path[128];	      /* the module defining _PyRuntime, as the target maps it */
	char open_path[4200]; /* ... as we can open it */
	__u32 hexversion;     /* PY_VERSION_HEX */
	unsigned minor;	      /* 3.minor */
	struct py_layout l;   /* its layout */
	bool has_debug;	      /* 3.13+: dbg read from its _Py_DebugOffsets */
	struct py_debug_offsets dbg;
	__u64 gil_enabled;     /* free-threaded: the GIL's `enabled` int (INT_MAX: on for good) */
	__u64 bias;	       /* runtime address - ELF address */
	__u64 runtime;	       /* &_PyRuntime in the target */
	__u64 interp;	       /* the main interpreter */
	__u64 gil;	       /* its GIL: struct _gil_runtime_state, from its `interval` on (the
				  `enabled` int of a free-threaded build is 8 bytes before) */
	__u64 code_type;       /* &PyCode_Type in the target, 0 if not found */
	__u64 sys_modules;     /* where the main interpreter keeps its sys.modules dict pointer */
	__u32 thread_id_off;   /* tstate + this: thread_id, the pthread_t (threading.get_ident()) */
	__u64 drop_req;	       /* address of the drop request flag, or 0 and then: */
	__u32 drop_tstate_off; /* bit 0 at this offset of the holder's tstate (3.13) */
	__u32 flags;	       /* TT_PY_* */
	__u32 interval_us;
	__u32 holder_tid; /* at the latest pygil_read_state (a host tid) */
	bool ns_nested;	  /* its PID namespace numbers threads apart from ours (a
			     container): its thread ids are turned into host tids (pidns.h) */
	__u64 switch_number;
	bool symbols; /* take_gil/drop_gil were found by name */
	struct gil_site *sites;
	size_t nr_sites;
	/* pygil_find_sites on a stripped build gives up (-ETIMEDOUT) at this CLOCK_MONOTONIC
	 * time (0: never) or once *decode_stop is set (a signal to stop tracing) */
	__u64 decode_deadline;
	const volatile int *decode_stop;
	unsigned nr_take, nr_drop;
};

/*
 * Find the target's CPython. 0: found, with a GIL to trace (py filled); -ENOENT: no CPython
 * in its maps; -EAGAIN: CPython whose main interpreter or GIL is not set up yet (a command
 * still starting); another -errno: a CPython that cannot be traced, err says why in words
 * (py->hexversion, flags and path are filled as far as known).
 */
int pygil_discover(pid_t pid, struct py_target *py, char *err, size_t errlen);

/* Read locked, last_holder (as a tid) and switch_number from the live GIL. 0 or -errno. */
int pygil_read_state(struct py_target *py);

/*
 * A free-threaded build's GIL is on for good now (its `enabled` is INT_MAX; other values count
 * the imports of extension modules under way, each of which enables it for a moment); always
 * true for others.
 */
bool pygil_enabled(const struct py_target *py);

/*
 * Call cb with each thread state of the main interpreter and its thread (the host's tid; 0
 * when it cannot be told). 0 or -errno.
 */
int pygil_threads(const struct py_target *py, void (*cb)(void *ctx, __u32 tid, __u64 tstate),
		  void *ctx);

/*
 * A round of turning the target's thread ids (native_thread_id, Thread._native_id: its PID
 * namespace's) into host tids: NULL where they are the host's. Close with pidns_close.
 */
struct pidns *pygil_ns_round(const struct py_target *py);
/* The host tid of the target's thread ns_tid in a round of pygil_ns_round; 0: none alive. */
__u32 pygil_host_tid(struct pidns *round, __u32 ns_tid);

/* A thread state's thread_id (its pthread_t: threading.get_ident(), an RLock's owner); 0. */
__u64 pygil_tstate_ident(const struct py_target *py, __u64 tstate);

/*
 * The stores to `locked` in the interpreter's code: in take_gil/drop_gil where symbols name
 * them, else anywhere in the code, kept when the address is provably the GIL's (rip-relative)
 * or the store sits next to an access to last_holder or switch_number through the same base.
 * 0 when at least one take and one drop were found, else -ENOENT with err.
 */
int pygil_find_sites(struct py_target *py, char *err, size_t errlen);

/* "3.11.7" from a PY_VERSION_HEX, "3.9" when only the minor is known (from a file name) */
static inline void pygil_version_str(__u32 hex, char *buf, size_t len)
{
	if (hex & 0xffff)
		snprintf(buf, len, "%u.%u.%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
	else
		snprintf(buf, len, "%u.%u", hex >> 24, (hex >> 16) & 0xff);
}

void pygil_free(struct py_target *py);

/* The attach cookie of a site for bpf/gil.bpf.c (threadtrace.h). */
static inline __u64 gil_site_cookie(const struct gil_site *s)
{
	return TT_GIL_COOKIE(s->op, s->reg, s->disp);
}

/*
 * The file offset of Py_FinalizeEx in the module py found: a COMMAND is stopped there until the
 * collector has named its frames (its code objects are freed next). -1 when absent.
 */
long long pygil_finalize_offset(const struct py_target *py);
/* The target's addresses of the named functions found in py's module, into addrs; how many. */
size_t pygil_symbol_addrs(const struct py_target *py, const char *const *names, size_t n,
			  __u64 *addrs);

#endif
