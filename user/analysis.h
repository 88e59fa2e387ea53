/* SPDX-License-Identifier: GPL-2.0 */
/*
 * analysis.h - the pure function from a record stream and its symbol data to what threadtrace
 * reports: waits merged into contentions per lock, wakers, thread states. Opens nothing.
 */
#ifndef TT_ANALYSIS_H
#define TT_ANALYSIS_H

#include "records.h"
#include "symdata.h"
#include "lockkind.h"
#include "runtime.h"

#define TT_HIST_BUCKETS 28 /* log2 buckets of microseconds: [0,1), [1,2), [2,4) ... */
#define TT_NO_STACK	((__u32)-1)

/* What ended a wait. */
enum wake_cause {
	WC_THREAD = 0, /* a thread's futex wake op: the unlock site */
	WC_EXIT,       /* a thread exiting (pthread_join's CLONE_CHILD_CLEARTID wake) */
	WC_TIMEOUT,    /* the wait's timeout expired */
	WC_SIGNAL,     /* interrupted by a signal */
	WC_NO_SLEEP,   /* returned at once: the futex word had changed (EAGAIN) */
	WC_OTHER,      /* woken by something else (another process, spurious) */
	WC_UNFINISHED, /* still waiting when tracing stopped */
	WC__NR,
};

const char *wake_cause_name(enum wake_cause c);

/*
 * Threads are told apart by (tid, start): the kernel gives an exited thread's tid to a new
 * thread, so a new-thread record for a tid seen before starts another thread. Every thread the
 * analysis' output names (the tid fields below, owners aside where said) is a thread key: the
 * tid in the low TT_TID_BITS bits (tids stay below PID_MAX_LIMIT, 2^22), and above them which
 * thread of that tid it is, 0 for the first one seen. A trace without reuse has plain tids.
 */
#define TT_TID_BITS	    22
#define TT_TID_MASK	    ((1u << TT_TID_BITS) - 1)
#define TT_MAX_INCARNATIONS (1u << (32 - TT_TID_BITS))

static inline __u32 thread_tid(__u32 key)
{
	return key & TT_TID_MASK;
}

/* 1 for the first thread with its tid, 2 for the next one given it ... */
static inline unsigned thread_incarnation(__u32 key)
{
	return (key >> TT_TID_BITS) + 1;
}

/* Threads in tid order, a reused tid's threads in the order they started. */
static inline int thread_key_cmp(__u32 a, __u32 b)
{
	if (thread_tid(a) != thread_tid(b))
		return thread_tid(a) < thread_tid(b) ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* A thread key as people read it: "4123", and "4123#2" for the second thread with tid 4123. */
const char *tid_str(__u32 key, char *buf, size_t len);
#define TID_STR_LEN 24
/* The same in a buffer that lives to the end of the enclosing block (a printf's arguments). */
#define TID_STR(key) tid_str((key), (char[TID_STR_LEN]){0}, TID_STR_LEN)

struct stack_entry {
	__u32 pid;
	__u16 nr_user, nr_kernel;
	__u32 flags; /* TT_STACK_* */
	__u64 *ips;  /* user frames leaf first, then kernel frames leaf first */
};

/*
 * A histogram of TT_HIST_BUCKETS log2 buckets kept as the range it uses, [lo, lo + nr): a lock's
 * few waits fill one or two buckets (a lock table of 10^5 locks would be 224 bytes each).
 */
struct hist {
	__u64 *counts; /* counts[b - lo]; NULL when empty */
	__u8 lo, nr;
};

static inline __u64 hist_at(const struct hist *h, unsigned b)
{
	return b >= h->lo && b < (unsigned)h->lo + h->nr ? h->counts[b - h->lo] : 0;
}

/* One row of "who waits here" or "who woke them": a thread and a stack. */
struct attrib {
	__u32 tid;
	__u32 pid;   /* a waker's process when it is not the target's (a process-shared lock) */
	__u32 stack; /* index into analysis.stacks or TT_NO_STACK */
	enum wake_cause cause;
	char comm[TT_COMM_LEN];
	__u64 count;
	__u64 wait_ns;
};

/*
 * A lock: a futex word, or a glibc object whose several words are waited on (a condvar's two
 * __g_signals, an rwlock's three futexes) when its data symbol shows where the object starts.
 */
/* One waiter -> waker pair: who waited where, and who (or what) let them go. */
struct chain {
	__u32 waiter_tid, waiter_stack;
	__u32 waker_tid, waker_stack; /* waker_tid 0: no thread (cause says what) */
	__u32 waker_pid;	      /* its process when it is not the target's, else 0 */
	enum wake_cause cause;
	char waiter_comm[TT_COMM_LEN], waker_comm[TT_COMM_LEN];
	__u64 count, wait_ns;
};

/* --holds: the holds of one lock taken at one site (the acquiring call's stack). */
struct holder {
	__u32 tid;   /* the holding thread; 0 when several threads took it here */
	__u32 stack; /* where it was acquired, or TT_NO_STACK */
	char comm[TT_COMM_LEN];
	__u64 count, hold_ns, max_hold_ns;
	__u64 caused_wait_ns; /* other threads' futex waits on the lock during these holds */
};

struct lock_stat {
	__u64 addr;
	enum lock_kind kind;
	/* names: never NULL, "" for none; interned in analysis.strs (many locks share them) */
	const char *detail; /* "PI", "robust", "libc internal", "thread 123" or "" */
	const char *name;   /* data symbol ("acc_lock", "table+0x10") or "" */
	const char
	    *location;	     /* "workload+0x4040", "[heap]", "[anon]" ...; a Python object's
				(LK_PY_* kinds): the file and line that first waited, "app.py:12" */
	__u64 py_obj;	     /* a Python object's address (its id()), 0 when not known; its name
				is the expression the waiting line names ("ledger_lock", "self.q") */
	const char *py_type; /* its type's tp_name when the collector read it ("list") or "" */
	__u64 contentions;   /* acquisitions that waited (re-waits merged) */
	__u64 futex_waits;   /* raw futex wait calls */
	__u64 wait_ns, max_wait_ns;
	struct hist hist;
	__u64 causes[WC__NR];
	struct attrib *waiters, *wakers; /* sorted by wait_ns, descending */
	size_t nr_waiters, nr_wakers;
	struct chain *chains; /* sorted by wait_ns, descending */
	size_t nr_chains;
	/* a robust mutex whose owner died holding it: times, and the latest such owner's tid */
	__u64 owner_died;
	__u32 dead_owner;
	/* --holds: completed holds (acquire to release) seen by the lock-call probes */
	bool calls_seen;    /* the object was seen in lock calls: its kind is exact */
	__u64 acquisitions; /* completed holds */
	__u64 hold_ns, max_hold_ns;
	__u64 caused_wait_ns;	/* waits of other threads on it while it was held */
	__u64 *hold_hist;	/* TT_HIST_BUCKETS of them; NULL (all 0) when no hold was seen */
	struct holder *holders; /* sorted by caused_wait_ns, then hold_ns, descending */
	size_t nr_holders;
};

struct thread_stat {
	__u32 tid;
	char name[TT_COMM_LEN];	      /* the OS name (comm) */
	char py_name[TT_PY_NAME_LEN]; /* its threading.Thread name, "" when none */
	__u64 start_ts, end_ts;	      /* the traced part of its life */
	__u64 traced_ns;	      /* its length */
	__u64 on_cpu_ns, runnable_ns, lock_wait_ns, cond_wait_ns, other_wait_ns;
	__u64 gil_blocked_ns; /* futex waits on the GIL's own words (apart from lock and cond) */
	__u64 voluntary_switches, involuntary_switches;
	__u64 contentions, wait_ns; /* its own lock contentions */
	bool created, exited;	    /* during the trace */
	/* CPython's GIL (when traced): held, waited for (futex waits on the GIL until the take) */
	bool python;				    /* took or dropped the GIL while traced */
	__u64 gil_hold_ns, gil_wait_ns, gil_cpu_ns; /* cpu: on CPU while holding it */
	__u64 gil_traced_cpu_ns; /* on CPU since the GIL was traced (without it: this - cpu) */
	__u64 gil_free_cpu_ns;	 /* on CPU without the GIL since it was traced */
	__u64 gil_takes, gil_waits, gil_forced_drops;
	bool gil_convoy; /* waits about a switch interval per take, holds it briefly (I/O) */
};

/* Where a thread waited for the GIL (the stack of its take), summed. */
struct gil_waiter {
	__u32 tid;
	__u32 stack; /* index into stacks */
	__u64 count, wait_ns, max_wait_ns;
};

/* Timeline (Perfetto): a thread held the GIL, or waited for it, from begin to end. */
struct gil_span {
	__u32 tid;
	__u32 wait; /* 0: held */
	__u64 begin, end;
};

struct gil_stat {
	bool present; /* a TT_REC_PYTHON record: the GIL was traced (see off) */
	__u32 hexversion, flags, interval_us, sites_take, sites_drop;
	char path[128];
	__u64 gil;
	__u64 start_ts;	       /* traced from here */
	bool off;	       /* free-threaded, its GIL disabled at attach: present once enabled */
	__u64 enabled_ts;      /* when such a GIL was enabled for good (0: it was not) */
	__u64 enabled_ns;      /* how long into the trace that was */
	__u64 traced_ns;       /* how long it was traced: start_ts to the end of the trace */
	__u64 transient_takes; /* takes while it was on only for an import, before that */
	__u64 takes, drops, forced_drops;
	__u64 switches;	  /* takes by another thread than the previous taker */
	bool switch_seen; /* Python's own switch_number, first and last seen */
	__u64 switch_first, switch_last;
	__u64 hold_ns;		    /* all threads' */
	struct gil_waiter *waiters; /* by wait_ns, descending */
	size_t nr_waiters;
	struct gil_span *spans; /* timeline only: holds and waits, by begin */
	size_t nr_spans;
};

/* Timeline: what a thread did from begin to end (the same states as the thread table). */
enum thread_state_kind {
	TSK_RUNNING = 0,
	TSK_RUNNABLE,
	TSK_FUTEX, /* asleep in a futex wait on addr: lock or cond wait by the lock's kind */
	TSK_OTHER, /* asleep for another reason: I/O, sleep, page fault */
};

struct interval {
	__u32 tid;
	__u32 state; /* enum thread_state_kind */
	__u64 begin, end;
	__u64 addr; /* the futex word for TSK_FUTEX */
};

/* A thread's futex wake that woke a waiter: an arrow from the unlock to the woken thread. */
struct wake_edge {
	__u32 waker_tid, wakee_tid;
	__u64 ts;
	__u64 addr; /* the waiter's futex word */
};

/* One futex wait from its begin to its end (for waiter counts over time). */
struct wait_span {
	__u32 tid;
	__u64 addr;
	__u64 begin, end;
};

/*
 * An actual deadlock seen live: link i's thread waits for a lock that link i's owner holds (one
 * link: a thread re-locked a mutex it holds, or, ORPHANED, its lock's holder is gone).
 * A potential one (--holds): link i's thread took lock i+1 (at stack) while holding lock i
 * (taken at held_stack), and the last lock was taken while holding the first.
 */
/* What the collector read of a Python thread's blocked wait (TT_REC_PYWAIT); valid: there is one.
 */
struct pywait_info {
	bool valid;
	__u64 since, uaddr, obj, lock;
	__u32 holder;
	__u8 kind, evidence; /* TT_PYOBJ_*, TT_PYHOLD_* */
	char name[48];
};

/*
 * A thread still blocked in a futex wait of 1 s or more when the trace ended (a hang), or
 * a Python thread the live check found blocked (0.5 s or more when it looked: TT_REC_PYWAIT).
 */
struct blocked_thread {
	__u32 tid;
	char comm[TT_COMM_LEN];
	__u64 since;	/* the wait's begin: the attach for one found blocked there */
	__u64 ns;	/* ... to the end of the trace */
	__u64 addr;	/* its futex word */
	__u64 key;	/* the lock it is charged to: the word, or a Python object (pyobj.h) */
	__u32 stack;	/* where it waits, Python frames merged */
	bool at_attach; /* blocked already when tracing began */
	struct pywait_info py;
};

#define BLOCKED_MIN_NS 1000000000ULL

struct deadlock_stat {
	bool potential;
	__u32 flags; /* actual: TT_DEADLOCK_* (ORPHANED: nr 1, owner as the lock names it) */
	__u64 ts;    /* actual: when it was seen; potential: the first acquisition of the cycle */
	unsigned nr;
	struct {
		__u32 tid, owner;
		__u64 addr;
		__u32
		    stack; /* where the thread waits (actual) or takes the next lock (potential) */
		__u32 held_stack; /* potential: where it took this lock */
		char comm[TT_COMM_LEN];
		struct pywait_info py; /* TT_DEADLOCK_PYTHON: the Python lock it waits for */
	} links[TT_MAX_CYCLE];
};

/*
 * How exact the user stacks of waits and wakes are, counted per record (a wait, a futex or exit
 * wake-up): each is a real call chain; one that ended before the thread's first frame is cut
 * short. Source: the stack flags BPF and the collector set (bpf/threadtrace.h TT_STACK_*).
 */
struct stack_quality {
	__u64 stacks;	    /* waits and wakes with a user stack */
	__u64 complete;	    /* unwound to the thread's first frame */
	__u64 cut_short;    /* ended early: the counts below say why */
	__u64 from_copy;    /* unwound by the collector from a copy (BPF's walk stopped) */
	__u64 copy_skipped; /* cut short, its copy skipped (--stack-rate, ring buffer half full) */
	__u64 no_table;	    /* stopped at code with no unwind table when it ran */
	__u64 frame_limit;  /* deeper than TT_MAX_USTACK frames */
	__u64 copy_short;   /* unwound from a copy smaller than the stack (--stack-bytes) */
};

struct analysis {
	__u32 pid, tid_filter;
	char comm[TT_COMM_LEN];
	__u64 start_ts, end_ts;
	__u64 duration_ns;	/* end_ts - start_ts */
	__u64 events;		/* records from BPF */
	__u64 lost_events;	/* records the ring buffer could not take */
	__u64 stack_failures;	/* stacks that could not be read */
	__u64 untracked_waits;	/* waits not followed: per-thread map full */
	__u64 truncated_stacks; /* distinct user stacks cut short */
	struct stack_quality stackq;
	__u64 inferred_switch_ins; /* switch-outs with no switch-in before them (analysis_threads.c)
				    */
	__u64 late_records;	   /* records later than the reorder window allows (dropped) */
	bool target_exited;
	bool holds;		  /* --holds: lock calls were probed */
	__u64 lock_calls;	  /* lock-call records */
	__u64 unmatched_releases; /* releases of holds taken before tracing (not counted) */
	__u64 gated_cycles;	 /* lock-order cycles not reported: two edges under a common lock */
	__u64 merged_threads;	 /* new threads left in an earlier one of their tid: more than
				    TT_MAX_INCARNATIONS threads had that tid */
	struct lock_stat *locks; /* sorted by wait_ns, descending */
	size_t nr_locks;
	struct thread_stat *threads; /* sorted by thread_key_cmp */
	size_t nr_threads;
	struct stack_entry *stacks;
	size_t nr_stacks;
	struct interval *intervals; /* per thread in time order; threads by tid */
	size_t nr_intervals;
	struct wake_edge *edges; /* by time */
	size_t nr_edges;
	struct wait_span *spans; /* by thread, then time */
	size_t nr_spans;
	struct u64_map lock_by_futex; /* futex word -> index + 1 into locks */
	struct deadlock_stat *deadlocks;
	size_t nr_deadlocks;
	struct blocked_thread *blocked; /* by how long blocked, longest first */
	size_t nr_blocked;
	struct gil_stat gil;
	/* free-threaded CPython: each stop-the-world pause, by time (analysis_python.c) */
	struct py_stw_pause {
		__u64 start, end;  /* the first parked wait's begin (or the requester's), the
				      requester's unpark of them */
		__u32 requester;   /* a thread key */
		__u32 stack;	   /* the requester's at the unpark, or TT_NO_STACK */
		__u32 parked;	   /* threads it parked that waited */
		const char *cause; /* "GC", "trace", ... (pyobj_stw_cause) */
	} * stw;
	size_t nr_stw;
	struct runtime_info rt; /* musl, Go, a JVM: TT_REC_RUNTIME */
	/* the target's libc (the last TT_REC_LIBC record: the image it ended in); "" if unknown */
	char libc_version[16];
	char libc_build[48];
	__u16 libc_major, libc_minor;
	/* CPython: threading.Thread names (TT_REC_PY_THREAD_NAME, the latest of each thread) */
	struct py_thread_name {
		__u32 tid; /* a thread key */
		char name[TT_PY_NAME_LEN];
	} * py_names; /* sorted by tid */
	size_t nr_py_names;
	const struct symdata *sd;
	struct str_pool *strs; /* the locks' names */
};

/* 0 or -EINVAL when the stream has no session record. Keeps the timeline. */
int analysis_run(const struct record_buf *rb, const struct symdata *sd, struct analysis *out);
/*
 * The same; without ANALYSIS_TIMELINE, intervals, edges and spans stay empty (only the Perfetto
 * export reads them; they are about a third of the analysis' memory).
 */
#define ANALYSIS_TIMELINE 1u
int analysis_run_flags(const struct record_buf *rb, const struct symdata *sd, unsigned flags,
		       struct analysis *out);
/*
 * The same, fed a record at a time in arrival order (the collector as the ring buffer drains,
 * a replay as it reads): records are kept only for a reorder window, so memory does not grow
 * with the length of the trace. sd may still grow while records are fed (frames named as they
 * arrive), but must hold what the records fed so far need. finish builds out and frees s;
 * 0, or -EINVAL when no session record came (out is then freed).
 */
struct analysis_stream;
struct analysis_stream *analysis_stream_new(const struct symdata *sd, unsigned flags,
					    struct analysis *out);
/*
 * The record is copied. It must have passed record_check (every source checks its records
 * once: the collector as they come, record files when read, records_append): not again here,
 * on the collector's per-record path. -EINVAL (dropped) if size is not the header's.
 */
int analysis_stream_feed(struct analysis_stream *s, const void *rec, size_t size);
int analysis_stream_finish(struct analysis_stream *s);
void analysis_free(struct analysis *a);
/*
 * The frames address i of a stack stands for: functions inlined there (innermost first), then
 * the function itself. Fills up to max names (and funcs, the bare function names or NULL);
 * returns how many.
 */
unsigned analysis_frames_at(const struct analysis *a, const struct stack_entry *st, unsigned i,
			    const char **names, const char **funcs, unsigned max, char *buf,
			    size_t len);
#define TT_MAX_INLINE 8
/* Name of frame i of a stack (user frames first), never NULL. */
const char *analysis_frame_name(const struct analysis *a, const struct stack_entry *st, unsigned i,
				char *buf, size_t len);
/* The lock (or waiting object) a futex word belongs to, or NULL. */
const struct lock_stat *analysis_lock_of(const struct analysis *a, __u64 futex_addr);
/* "[mutex acc_lock]", "[join thread 12]", "[futex [heap]]": a lock as a frame of a stack. */
const char *lock_label(const struct lock_stat *l, char *buf, size_t len);
/* Number of leading kernel frames that are the tracer's own (BPF program, trampoline). */
unsigned analysis_kernel_skip(const struct analysis *a, const struct stack_entry *st);
/*
 * How reports name thread key tid (analysis.h's thread keys): its threading.Thread name for a
 * Python thread, else comm (an OS name, TT_COMM_LEN bytes, NUL-terminated or not) as a C string in
 * buf.
 */
const char *analysis_thread_name(const struct analysis *a, __u32 tid, const char *comm, char *buf,
				 size_t len);
/* The Python name of thread key tid, or NULL. */
const char *analysis_py_name(const struct analysis *a, __u32 tid);

/* Index of the histogram bucket for a wait of ns. */
unsigned hist_bucket(__u64 ns);

#endif
