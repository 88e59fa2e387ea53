/* SPDX-License-Identifier: GPL-2.0 */
/*
 * analysis_int.h - the analysis' working state and the interfaces between its parts (not a
 * public header). struct work holds each part's state in a struct of its own where the part
 * alone uses it (stk, thr, lk, cont); a thread's (struct thread_work) and a word's (struct
 * lock_work) records are shared, each field written by the part that owns it. The parts:
 * analysis.c (the driver: records to the parts, the result built at the end),
 * analysis_reorder.c (the window that puts records in timestamp order), analysis_stacks.c
 * (which stack a wait or a wake gets; the stack table), analysis_threads.c (threads, their
 * states and where their time goes), analysis_contention.c (futex waits matched to their
 * wakers, merged into acquisitions, counted per word), analysis_locks.c (futex words: their
 * kind, and the lock objects they make), analysis_holds.c (--holds: lock calls, holds, lock
 * order and potential deadlocks), analysis_gil.c (CPython's GIL), analysis_python.c (Python
 * lock objects), analysis_hung.c (threads still blocked at the end, Python deadlocks).
 */
#ifndef TT_ANALYSIS_INT_H
#define TT_ANALYSIS_INT_H

#include <stdlib.h>
#include <string.h>
#include "analysis.h"
#include "pyframes.h"

/* errno values as records carry them (the kernel's, x86_64) */
#define E_AGAIN	   11
#define E_TIMEDOUT 110

/*
 * A wait a signal ended: EINTR, or, as sys_exit sees it before the kernel turns it into a
 * restart or EINTR, ERESTARTSYS (an untimed FUTEX_WAIT), ERESTARTNOINTR, ERESTARTNOHAND and
 * ERESTART_RESTARTBLOCK (a timed one); include/linux/errno.h.
 */
static inline bool ret_is_signal(__s64 ret)
{
	return ret == -4 || ret == -512 || ret == -513 || ret == -514 || ret == -516;
}

enum tstate { TS_UNKNOWN, TS_RUNNING, TS_RUNNABLE, TS_BLOCKED, TS_DONE };

/* --holds: a lock a thread holds, one hold interval, a lock object seen in calls. */
struct held_lock {
	__u64 obj, since;
	__u32 stack, depth;
	bool reader;
};

/* A finished futex wait on an object's words, kept briefly to charge the holds it overlapped. */
struct recent_wait {
	__u32 tid;
	__u64 begin, end;
	__u64 charged_lo, charged_hi; /* charged to holds already: read holds share a wait */
};

#define RECENT_WAITS 64

struct obj_state {
	__u64 obj;
	enum lock_kind kind;
	__u32 writer, readers;
	/* its holds, summed as they end (the lock_stat fields of the same names) */
	__u64 acquisitions, hold_ns, max_hold_ns, caused_wait_ns;
	__u64 hold_hist[TT_HIST_BUCKETS];
	struct holder *holders;
	size_t nr_holders, cap_holders;
	/* waits on its words: in progress, and the latest finished (who pays, at a hold's end) */
	struct recent_wait *open;
	size_t nr_open, cap_open;
	struct recent_wait *recent; /* RECENT_WAITS, a ring */
	unsigned recent_pos;
};

#define MAX_GATES 4

/*
 * Lock order: a thread took `to` while holding `from`. gates: the other locks held
 * exclusively every time this order was taken (a "gate" lock serialises the edges it guards:
 * two edges under the same gate can never wait for each other).
 */
struct order_edge {
	__u64 from, to, ts;
	__u32 tid, from_stack, to_stack;
	__u32 nr_gates;
	__u64 gates[MAX_GATES];
};

/* A futex wait by one thread, from its begin to its end. */
struct raw_wait {
	__u32 tid;
	__u64 addr;
	__u64 key; /* the object it waits for: addr, or a Python object's (analysis_python.c) */
	__u64 gil_ns, gil_ns_end; /* its thread's GIL waiting so far, at its begin and end */
	/* its thread's time on CPU, and asleep other than in a futex, at its begin and end */
	__u64 cpu_ns, cpu_ns_end, slept_ns, slept_ns_end;
	__u64 calls, calls_end; /* its thread's lock calls so far (--holds), at its begin and end */
	bool py_loop;		/* a Python call that may wait several times (pyobj.loop) */
	__u64 begin, end;
	__s64 ret;
	__u32 val;	/* the value it expected the word to hold */
	__u32 end_word; /* the word as it ended (0: unknown) */
	__u32 stack;
	__u32 waker_tid;
	__u32 waker_pid; /* the waker's process, when it is not the target */
	__u32 waker_stack;
	__u64 wake_ts;
	enum wake_cause cause;
	char waker_comm[TT_COMM_LEN];
	bool released; /* the waiter woke this address after the wait: its acquisition ended */
	__u8 py_stw;   /* enum pystw_role: a free-threaded stop-the-world wait */
};

struct thread_work {
	struct thread_stat st;
	enum tstate state;
	__u64 since;
	__u64 blocked_addr; /* the futex a blocked thread sleeps in, 0 for other blocking */
	__u64 lock_calls;   /* --holds: its lock calls seen so far (each trapped into a uprobe) */
	/* /proc at attach, for a thread that had no event yet */
	char hint_state;
	__u64 hint_futex;
	__u64 woken_running_ts; /* a wake-up that came while it was still on CPU */
	/* the kernel's totals at its latest switch-out (TT_REC_SWITCH_KSTAT) */
	bool have_kstat;
	__u64 k_run_delay, k_exec_ns;
	/* the open wait */
	bool in_wait;
	struct raw_wait cur;
	/* the acquisition its finished waits belong to so far (DESIGN.md: re-waits merge) */
	bool grp_open;
	struct raw_wait grp_first, grp_last;
	__u64 grp_total;
	__u32 grp_waits;
	/* --holds: the lock call in progress (its acquisition is decided at the next call) */
	bool pending;
	__u32 pend_op;
	__u64 pend_obj, pend_cond, pend_ts;
	__u32 pend_stack;
	bool pend_timeout;
	struct held_lock *held; /* what it holds now */
	size_t nr_held, cap_held;
	/* an exit that woke its open wait, not yet known to be the exit's wake-up (exit_cand) */
	__u32 exit_cand_tid, exit_cand_stack;
	__u64 exit_cand_ts;
	char exit_cand_comm[TT_COMM_LEN];
	/* the Python lock its latest blocked wait is for (TT_REC_PYWAIT); /proc's look at attach */
	struct pywait_info py;
	__u64 info_ts;
	/* the GIL */
	bool gil_hold, gil_wait;
	__u64 gil_hold_since, gil_wait_since;
};

/* A word's contentions as they end: the lock_stat fields of the same names. */
struct word_stat {
	__u64 contentions, futex_waits;
	__u64 wait_ns, max_wait_ns;
	struct hist hist;
	__u64 causes[WC__NR];
	struct attrib *waiters, *wakers;
	size_t nr_waiters, nr_wakers;
	struct chain *chains;
	size_t nr_chains;
};

struct lock_work {
	__u64 addr;
	__u64 canon; /* the object the word belongs to */
	struct lock_evidence ev;
	size_t stat; /* index of its lock_stat */
	enum lock_kind kind;
	/* the kind as the evidence so far says (re-wait merging); stale when evidence came */
	enum lock_kind kind_now;
	bool kind_stale, pi_now;
	/* CPython: gil_word: a word of the GIL itself (its waits are the GIL's, not a lock's);
	 * py_word: a futex word whose waits go to a Python object. That object's key: py_kind
	 * (a LK_PY_* kind, 0 none) and what was read of it (py, NULL for other words) */
	bool py_word, gil_word;
	/* musl: a wait expected an owner (EBUSY or a tid) with the waiters bit: a mutex */
	bool musl_owner_val;
	enum lock_kind py_kind;
	__u32 exit_waker; /* the first thread whose exit ended a wait here (joins) */
	__u32 dead_owner; /* the latest owner that died holding it (owner_died) */
	/* time threads slept in it (thread states by its kind at the end); more than
	 * BLOCKED_IN_WORD threads: the others in work.buckets */
	__u32 nr_blocked;
	struct blocked_ns {
		__u32 tid;
		__u64 ns;
	} * blocked;
	struct lock_py *py;
	struct lock_rt *rt; /* NULL until a runtime function's stack voted */
	__u64 owner_died;   /* acquisitions that found its robust owner dead (EOWNERDEAD) */
	/* its contentions, summed as acquisitions end; merged per object at the end */
	struct word_stat agg;
	/* indexes of waiters, wakers, chains: NULL while few enough to search (LOCK_SCAN_MAX) */
	struct u64_map *waiter_by_key, *waker_by_key, *chain_by_key;
};

/* A Python object: its id(), the call that first waited for it (its name and file:line) and
 * its type, interned in analysis.strs (NULL until read). */
struct lock_py {
	__u64 obj;
	bool named;
	const char *name, *where, *type;
};

/*
 * Per lock, what only some locks need lives apart (most of a trace's locks are plain futex
 * words with a waiter or two): memory per distinct lock stays small with 10^5 of them.
 */
#define LOCK_SCAN_MAX	8
#define BLOCKED_IN_WORD 8

/* A runtime's view of a word (runtime.h): only for stacks a runtime function classed. */
struct lock_rt {
	int func[LK__NR]; /* per kind, the runtime function a stack voted with, -1 none */
	/*
	 * Waits whose own stack a runtime function classed, per kind: a JVM thread parks on one
	 * event for everything (monitor entry, Object.wait, sleep), so what the waiter was doing
	 * decides, not the wakers (a dying thread's monitor exit wakes a joiner's Object.wait).
	 */
	__u64 waits[LK__NR];
};

#define MAX_COMP   16
#define COMP_BYTES (MAX_COMP * 1024) /* an unwound stack or a Python stack each */

/* analysis_stacks.c's state: companion records, the stack being chosen, the stack table. */
struct stack_state {
	/* the unwound and Python stacks of the timestamp being replayed (they come first) */
	__u64 comp_ts;
	unsigned nr_comp;
	size_t comp_len;
	__u8 comp_buf[COMP_BYTES];
	const struct tt_rec_hdr *comp[MAX_COMP];
	union { /* a chosen stack: unwound user frames + the record's kernel frames */
		struct tt_stack st;
		__u8 room[sizeof(struct tt_stack) +
			  (TT_MAX_USTACK + TT_PY_MAX_FRAMES + TT_MAX_KSTACK) * 8];
	} pick;
	struct u64_map by_hash; /* analysis.stacks: hash of a stack -> index + 1 */
	size_t cap_stacks;
};

/* Sleep in a futex word by a thread: for words with many sleepers, or none of their own. */
struct blocked_bucket {
	__u32 tid;
	__u64 addr;
	__u64 ns;
};

/* analysis_threads.c's state: the threads by tid and key, where they slept. */
struct thread_state {
	struct thread_work *threads;
	size_t nr_threads, cap_threads;
	struct u64_map by_tid; /* tid -> index + 1 of its latest thread */
	struct u64_map by_key; /* thread key (analysis.h) -> index + 1 */
	/* sleep in words that keep no more of it (struct lock_work blocked) */
	struct blocked_bucket *buckets;
	size_t nr_buckets, cap_buckets;
	struct u64_map bucket_by_key;
	size_t cap_intervals;
	struct u64_map name_by_key; /* threading's names: thread key -> analysis.py_names + 1 */
	size_t cap_names;
};

/* analysis_locks.c's state: the futex words. */
struct lock_state {
	/*
	 * The words, LOCK_CHUNK to a chunk (lock_at): a chunk is freed once its words are in their
	 * locks, so the words and the locks they make are not all held at once; what is left of a
	 * word after that (built) is what the threads and the futex index need.
	 */
	struct lock_work **chunks;
	size_t nr, nr_chunks, cap_chunks;
	struct word_built {
		__u64 addr, canon;
		enum lock_kind kind;
	} * built;
	struct u64_map by_addr; /* word -> index + 1 */
	/* per stack: the lock kind its functions name, -1 none, -2 unknown; a runtime function's
	 * (runtime.h) id + 1 in the bits from 8 up */
	__s16 *stack_votes;
	size_t cap_votes;
	__u8 cond_layout; /* enum cond_layout of the libc the target runs now */
};

/*
 * analysis_contention.c's own state: the timeline's vectors. The rest of it is per thread
 * (struct thread_work: cur, grp_*, exit_cand_*) and per word (struct lock_work: agg).
 */
struct contention_state {
	size_t cap_spans, cap_edges;
};

struct work {
	struct analysis *a;
	struct thread_state thr;
	struct lock_state lk;
	struct contention_state cont;
	size_t cap_deadlocks, cap_blocked;
	bool timeline; /* keep intervals, wake edges and wait spans (the Perfetto export) */
	/* --holds */
	struct obj_state *objs;
	size_t nr_objs, cap_objs;
	struct u64_map obj_by_addr;
	struct order_edge *order;
	size_t nr_order, cap_order;
	struct u64_map order_by_key;
	/* the GIL: its holder (0: free), the latest taker, waiters by (tid, stack) */
	__u32 gil_holder, gil_last_taker;
	/* a free-threaded GIL still off: the last take made while it was on for an import only */
	__u32 gil_transient_tid;
	__u64 gil_transient_ts;
	size_t cap_gil_waiters, cap_gil_spans;
	struct u64_map gil_waiter_by_key;
	struct u64_map
	    py_key_by_word; /* a futex word -> the Python object its latest wait was for */
	/* stop-the-world: requester key -> its first stop_the_world wait since its last pause;
	 * the pause whose parked threads are being woken (stw_open) */
	struct u64_map stw_request_by_tid;
	bool stw_open;
	struct py_stw_pause stw_cur;
	__u64 stw_last_wake;
	size_t cap_stw;
	struct stack_state stk;
};

_Static_assert(sizeof(struct tt_unwound) + TT_MAX_USTACK * 8 <= 1024 &&
		   sizeof(struct tt_pystack) + TT_PY_MAX_FRAMES * sizeof(struct tt_pyframe) <= 1024,
	       "companion records fit COMP_BYTES");

#define LOCK_CHUNK 1024

static inline struct lock_work *lock_at(struct work *w, size_t i)
{
	return &w->lk.chunks[i / LOCK_CHUNK][i % LOCK_CHUNK];
}

/* analysis_reorder.c: the window that puts records in timestamp order */
struct reorder_slot {
	__u64 ts;
	__u64 seq; /* arrival order, companions (unwound, Python stacks) first among equal ts */
	size_t off;
};

struct reorder {
	bool released; /* a record left the window: one older than it comes too late */
	__u64 released_ts;
	__u8 *buf, *spare; /* pending records, by arrival; where compaction copies them */
	size_t len, cap, live, cap_spare;
	struct reorder_slot *q; /* by (ts, seq) from head */
	size_t head, n, cap_q;
	__u64 seq, max_ts;
};

typedef void reorder_emit_fn(void *ctx, const struct tt_rec_hdr *h);
/*
 * Add a record; the ones it lets out of the window go to emit, oldest first (h is copied).
 * companion: first among records of its timestamp; moves_window: its timestamp is one of the
 * kernel's (the collector's own late stamps are not). False: older than a record already let
 * out, dropped.
 */
bool reorder_add(struct reorder *r, const struct tt_rec_hdr *h, bool companion, bool moves_window,
		 reorder_emit_fn *emit, void *ctx);
/* Let every pending record out. */
void reorder_drain(struct reorder *r, reorder_emit_fn *emit, void *ctx);
void reorder_free(struct reorder *r);

/* analysis.c */
/* Close a thread: its time, its open wait and acquisition. At the end of the trace, or when a
 * new thread took its tid. */
void close_thread(struct work *w, struct thread_work *t, __u64 end);

/* analysis_locks.c */
/* The word at addr, made when new; lock_find: NULL when new. */
struct lock_work *lock_get(struct work *w, __u64 addr);
struct lock_work *lock_find(struct work *w, __u64 addr);
struct lock_py *lock_py(struct lock_work *l);
void hist_add(struct hist *h, unsigned b, __u64 n);
/* s cut to len - 1 bytes (as a char[len] field held it), interned in analysis.strs. */
const char *lock_str(struct work *w, const char *s, size_t len);
/* Evidence of a word's kind: a wait's futex op and value; the lock functions of a stack that
 * waited on it or woke it. */
void note_wait_evidence(struct work *w, struct lock_work *l, const struct tt_wait_begin *r);
void note_stack_funcs(struct work *w, struct lock_work *l, __u32 stack, bool waker, __u32 cmd,
		      __u32 val);
/* The kind the evidence so far gives a word (re-waits are merged as they come); pi: a PI lock. */
enum lock_kind kind_now(struct work *w, struct lock_work *l, bool *pi);
void on_libc(struct work *w, const struct tt_libc *r);
/* analysis.locks from the words (their kind final now) and --holds' objects. */
void build_locks(struct work *w);
/* The kind build_locks gave the word at addr, LK_FUTEX for an address that had no word. */
enum lock_kind word_kind(struct work *w, __u64 addr);
void locks_free(struct work *w);

/* analysis_contention.c */
void on_wait_begin(struct work *w, const struct tt_wait_begin *r);
void on_wait_end(struct work *w, const struct tt_wait_end *r);
void on_wake_op(struct work *w, const struct tt_wake_op *r);
/* A sched_waking: who woke the wait in progress, if it did (after thread_woken). */
void on_waking(struct work *w, const struct tt_waking *r);
void wait_note_blocked(struct work *w, struct thread_work *t);
void wait_close(struct work *w, struct thread_work *t, __u64 end);
void sort_waits(struct work *w);

/* analysis_threads.c */
/* The thread that has tid now (records carry tids), made when it is new. */
struct thread_work *thread_get(struct work *w, __u32 tid);
/* The thread of a key (struct thread_stat's tid), as it was stored. */
struct thread_work *thread_at(struct work *w, __u32 key);
/* The key of the thread that has tid now, or tid itself for one not traced (another process). */
__u32 thread_key_of(struct work *w, __u32 tid);
/* Charge the time since t->since to t's current state, and keep it on the timeline. */
void account(struct work *w, struct thread_work *t, __u64 ts);
/* t's time on CPU until ts (it may be running since t->since). */
__u64 thread_cpu_now(const struct thread_work *t, __u64 ts);
/* The first event of a thread present at attach tells what it was doing since the start. */
void settle_unknown(struct work *w, struct thread_work *t, enum tstate prior, __u64 ts);
void on_switch(struct work *w, const struct tt_switch *r, const struct tt_switch_kstat *k);
void thread_woken(struct work *w, const struct tt_waking *r);
void on_new_thread(struct work *w, const struct tt_new_thread *r);
void on_thread_exit(struct work *w, const struct tt_exit *r);
void on_thread_info(struct work *w, const struct tt_thread_info *r);
void on_py_thread_name(struct work *w, const struct tt_py_thread_name *r);
/* Charge t's time until end (a thread's close: close_thread). */
void thread_end(struct work *w, struct thread_work *t, __u64 end);
void thread_charge_blocked(struct work *w, __u32 key, __u64 addr, enum lock_kind kind, __u64 ns);
/* analysis.threads (and threading's names), once every word's kind is known. */
void build_threads(struct work *w);
void threads_free(struct work *w);

/* analysis_stacks.c */
/* Keep a companion record (is_companion) for the record of its timestamp that follows it. */
void note_companion(struct stack_state *c, const struct tt_rec_hdr *h);
/* h's companion record of this kind, NULL if none came. */
const struct tt_rec_hdr *find_companion(const struct stack_state *c, const struct tt_rec_hdr *h,
					__u16 kind);
/* The stack of record h (own: the one it carries), its Python frames merged in; valid until the
 * next pick. pick_counted also counts it in the stack quality (waits and wakes). */
const struct tt_stack *pick_stack(struct work *w, const struct tt_rec_hdr *h,
				  const struct tt_stack *own);
const struct tt_stack *pick_counted(struct work *w, const struct tt_rec_hdr *h,
				    const struct tt_stack *own);
/* Its index in analysis.stacks, added when new; TT_NO_STACK for an empty one. */
__u32 stack_intern(struct work *w, __u32 pid, const struct tt_stack *st);

/* analysis_gil.c */
void on_python(struct work *w, const struct tt_python *r);
void on_gil(struct work *w, const struct tt_gil *r);
void gil_note_wait(struct work *w, struct thread_work *t, __u64 uaddr, __u64 ts);
void close_gil(struct work *w);
bool gil_word(const struct work *w, __u64 addr);

/* analysis_python.c */
void py_wait_begin(struct work *w, struct thread_work *t, const struct tt_wait_begin *r);
bool py_same_acquisition(const struct raw_wait *a, const struct raw_wait *b, enum lock_kind k);
bool py_released(struct work *w, const struct raw_wait *last, __u64 woken_word);
void py_wait_end(struct work *w, struct thread_work *t);
void py_finish(struct work *w);

/* analysis_hung.c */
void on_pywait(struct work *w, const struct tt_pywait *r);
void hung_deadlock_link(struct work *w, struct deadlock_stat *d, unsigned i);
void hung_note_blocked(struct work *w, struct thread_work *t, const struct raw_wait *rw,
		       __u64 since);
void hung_sort(struct work *w);

/* analysis_holds.c */
void holds_wait_begin(struct work *w, const struct raw_wait *rw);
void holds_wait_end(struct work *w, const struct raw_wait *rw);
const struct obj_state *object_of_word(struct work *w, __u64 word);
void hold_wait_end(struct work *w, struct thread_work *t, const struct tt_wait_end *r);
void on_lock_call(struct work *w, const struct tt_lock_call *r);
void build_potential_deadlocks(struct work *w);
#endif /* TT_ANALYSIS_INT_H */
