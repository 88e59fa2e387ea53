/* SPDX-License-Identifier: GPL-2.0 */
/*
 * threadtrace.h - the one header shared by the BPF programs and user space: record layouts in
 * the ring buffer and in record files, and everything else both sides must agree on (uprobe
 * attach cookies, register numbers, the BPF globals user space fills, CPython offsets BPF reads).
 * Fixed-width types only. The checks at the end are compiled on both sides: a layout one
 * compiler lays out differently, or a cookie field too narrow for its values, fails the build.
 */
#ifndef THREADTRACE_H
#define THREADTRACE_H

/* Bumped when an existing record layout changes (never: add a kind instead). */
#define TT_ABI_VERSION 1

#define TT_COMM_LEN   16
#define TT_MAX_USTACK 48 /* user frames kept per stack */
#define TT_MAX_KSTACK 16 /* kernel frames kept per stack */

/* Record kinds. Kinds 1..63 come from BPF, 64.. are written by the collector. */
enum tt_rec_kind {
	TT_REC_WAIT_BEGIN = 1,	    /* a target thread enters a futex wait op */
	TT_REC_WAIT_END = 2,	    /* ... and leaves it */
	TT_REC_WAKE_OP = 3,	    /* a target thread issues a futex wake op */
	TT_REC_WAKING = 4,	    /* sched_waking of a target thread; pid/tid = the waker */
	TT_REC_SWITCH = 5,	    /* sched_switch where prev or next is a target thread */
	TT_REC_NEW_THREAD = 6,	    /* sched_wakeup_new of a target thread */
	TT_REC_EXIT = 7,	    /* sched_process_exit of a target thread */
	TT_REC_USTACK_SNAPSHOT = 8, /* user stack bytes + registers of the record before it */
	TT_REC_LOCK_CALL = 9,	  /* --holds: a target thread calls a pthread/semaphore function */
	TT_REC_SWITCH_KSTAT = 10, /* sched_switch with prev's own scheduler counters (replaces 5) */
	TT_REC_GIL = 11,	  /* CPython: a target thread stores to the GIL's `locked` */
	TT_REC_PYSTACK = 12,	  /* CPython: the Python frames of the record before it */
	TT_REC_PARK_KEY = 13,	  /* CPython 3.13+: the parking-lot key beside a waited-on word */

	TT_REC_SESSION = 64,	    /* collector: tracing is attached; traced time starts */
	TT_REC_THREAD_INFO = 65,    /* collector: a thread found in /proc at attach */
	TT_REC_SESSION_END = 66,    /* collector: tracing stopped; counters from BPF */
	TT_REC_UNWOUND = 67,	    /* collector: a record's user stack unwound with DWARF CFI */
	TT_REC_DEADLOCK = 68,	    /* collector: threads found waiting for each other's locks */
	TT_REC_PYTHON = 69,	    /* collector: the target is CPython; its GIL is traced from here
				       (with TT_PY_GIL_DISABLED: not yet; a free-threaded build whose
				       GIL is switched on later is traced from its first TT_REC_GIL
				       without TT_GIL_TRANSIENT; record files before that got a second
				       TT_REC_PYTHON, the GIL traced from its ts) */
	TT_REC_RUNTIME = 70,	    /* collector: the target runs on musl, Go's runtime or a JVM */
	TT_REC_LIBC = 75,	    /* collector: the libc the target maps (again after an exec) */
	TT_REC_PYWAIT = 78,	    /* collector: a Python thread blocked on a Python lock object */
	TT_REC_PY_THREAD_NAME = 79, /* collector: a thread's threading.Thread name (CPython) */
	TT_REC_PY_OBJTYPE = 80, /* collector: the type of the object a parked wait's key is in */
};

/* Every record starts with this header. size includes the header and any stack. */
struct tt_rec_hdr {
	__u16 size;
	__u16 kind;
	__u32 cpu;
	__u64 ts;  /* CLOCK_MONOTONIC ns (bpf_ktime_get_ns) */
	__u32 pid; /* tgid */
	__u32 tid;
};

/* A stack snapshot follows some records: nr_user user IPs, then nr_kernel kernel IPs. */
struct tt_stack {
	__u16 nr_user;
	__u16 nr_kernel;
	__u32 flags; /* TT_STACK_* */
	__u64 ips[];
};

#define TT_STACK_USER_FAIL    (1u << 0) /* user stack could not be read */
#define TT_STACK_KERNEL_FAIL  (1u << 1) /* kernel stack could not be read */
#define TT_STACK_USER_TRUNC   (1u << 2) /* user stack cut short: the flags below say why */
#define TT_STACK_USER_CFI     (1u << 3) /* user frames unwound in BPF with the CFI tables */
#define TT_STACK_USER_NOTABLE (1u << 4) /* stopped at an address of no known mapping or CFI */
#define TT_STACK_COPY	      (1u << 5) /* a TT_REC_USTACK_SNAPSHOT of the stack follows */
#define TT_STACK_COPY_SKIPPED                                                                      \
	(1u << 6)		      /* a copy was wanted (cut short) but the rate limit or       \
					 a half-full ring buffer skipped it */
#define TT_STACK_USER_FP    (1u << 7) /* some frames came from frame pointers (no CFI there) */
#define TT_STACK_USER_LIMIT (1u << 8) /* more than TT_MAX_USTACK frames */
#define TT_STACK_COPY_SHORT                                                                        \
	(1u << 9) /* unwound from a copy that ended below the stack's top                          \
		     (--stack-bytes) */

/* Futex op codes and flags (uapi/linux/futex.h), repeated so user space needs no kernel header. */
#define TT_FUTEX_WAIT		 0
#define TT_FUTEX_WAKE		 1
#define TT_FUTEX_REQUEUE	 3
#define TT_FUTEX_CMP_REQUEUE	 4
#define TT_FUTEX_WAKE_OP	 5
#define TT_FUTEX_LOCK_PI	 6
#define TT_FUTEX_UNLOCK_PI	 7
#define TT_FUTEX_TRYLOCK_PI	 8
#define TT_FUTEX_WAIT_BITSET	 9
#define TT_FUTEX_WAKE_BITSET	 10
#define TT_FUTEX_WAIT_REQUEUE_PI 11
#define TT_FUTEX_CMP_REQUEUE_PI	 12
#define TT_FUTEX_LOCK_PI2	 13
#define TT_FUTEX_CMD_MASK	 0x7f
#define TT_FUTEX_PRIVATE_FLAG	 0x80
/* Pseudo ops for the futex2 syscalls, outside the futex(2) op space. */
#define TT_FUTEX2_WAITV	  0x100
#define TT_FUTEX2_WAIT	  0x101
#define TT_FUTEX2_WAKE	  0x102
#define TT_FUTEX2_REQUEUE 0x103

struct tt_wait_begin {
	struct tt_rec_hdr hdr;
	__u64 uaddr;
	__u32 op;   /* full futex op word, flags included */
	__u32 val;  /* expected value */
	__u32 val3; /* bitset for *_BITSET ops */
	__u32 has_timeout;
	struct tt_stack stack;
};

struct tt_wait_end {
	struct tt_rec_hdr hdr;
	__u64 uaddr;
	__s64 ret; /* syscall return: 0, -EAGAIN, -ETIMEDOUT, -EINTR, ... */
	__u32 op;
	__u32 word; /* the futex word as the wait ended: a robust mutex's FUTEX_OWNER_DIED shows
		       here before the woken waiter clears it (0: unreadable, or files before it) */
};

#define TT_FUTEX_WAITERS    0x80000000u
#define TT_FUTEX_OWNER_DIED 0x40000000u
#define TT_FUTEX_TID_MASK   0x3fffffffu

struct tt_wake_op {
	struct tt_rec_hdr hdr;
	__u64 uaddr;
	__u64 uaddr2; /* requeue target, 0 otherwise */
	__u32 op;
	__u32 nr_wake;
};

/* Why a target thread was woken, as seen in the waker's context. */
enum tt_wake_reason {
	TT_WAKE_OTHER = 0, /* not a futex wake: I/O, timer, signal, scheduler */
	TT_WAKE_FUTEX = 1, /* the waker is inside a futex wake op (waker_uaddr) */
	TT_WAKE_EXIT = 2,  /* the waker is a target thread that is exiting: CLONE_CHILD_CLEARTID
			      (pthread_join) or its robust list (a robust mutex's owner died) — or
			      an interrupt that came while it exited: the analysis checks */
	TT_WAKE_FUTEX_PROCESS = 3, /* the waker, in another process, is in a futex wake syscall */
};

struct tt_waking {
	struct tt_rec_hdr hdr; /* pid/tid: the waker (current), possibly outside the target */
	__u32 wakee_tid;
	__u32 reason;	   /* enum tt_wake_reason */
	__u64 wakee_uaddr; /* futex the wakee waits on, 0 if not in a futex wait */
	__u64 waker_uaddr; /* futex the waker is waking, 0 if none */
	__u32 waker_op;
	__u32 pad;
	char waker_comm[TT_COMM_LEN];
	struct tt_stack stack; /* the waker's stacks, only for futex and exit wakes (not for
				  another process's futex wake: its code is not the target's) */
};

/* Kernel task states (prev_state of sched_switch), the bits we interpret. */
#define TT_TASK_RUNNING		0x0000
#define TT_TASK_INTERRUPTIBLE	0x0001
#define TT_TASK_UNINTERRUPTIBLE 0x0002
#define TT_TASK_STOPPED		0x0004
#define TT_TASK_TRACED		0x0008
#define TT_TASK_DEAD		0x0080 /* EXIT_DEAD lives in exit_state; TASK_DEAD 0x80 in __state */
#define TT_TASK_NOLOAD		0x0400 /* TASK_IDLE = UNINTERRUPTIBLE | NOLOAD */

struct tt_switch {
	struct tt_rec_hdr hdr; /* pid/tid: prev */
	__u32 next_pid;
	__u32 next_tid;
	__u32 prev_state;
	__u32 preempt; /* prev was preempted: runnable whatever prev_state says */
	char prev_comm[TT_COMM_LEN];
	char next_comm[TT_COMM_LEN];
};

/*
 * A sched_switch with the kernel's running totals for prev (zero when prev is not a target
 * thread). The kernel does not fire sched_switch for every switch-in (measured: none at all
 * from some tasks, and some from idle, on this 6.18 VM kernel; ftrace misses them too), yet it
 * counts them: between two switch-outs of a thread the growth of run_delay is exactly the time
 * it sat runnable and the growth of exec_ns exactly the time it ran, which places a switch-in
 * that was never traced. Files from before it hold TT_REC_SWITCH and replay as before.
 */
struct tt_switch_kstat {
	struct tt_switch sw;
	__u64 prev_run_delay; /* prev->sched_info.run_delay: ns spent queued, total (0: unknown) */
	__u64 prev_exec_ns;   /* prev->se.sum_exec_runtime: ns on CPU, total */
};

struct tt_new_thread {
	struct tt_rec_hdr hdr; /* pid/tid: the new thread */
	__u32 parent_tid;
	__u32 pad;
	char comm[TT_COMM_LEN];
};

struct tt_exit {
	struct tt_rec_hdr hdr;
	__s32 exit_code;
	__u32 pad;
	char comm[TT_COMM_LEN];
};

#define TT_MAX_SNAPSHOT 16384 /* largest user stack snapshot, bytes */

/* The user registers DWARF unwinding starts from (x86_64: the callee-saved ones, sp, ip). */
struct tt_regs {
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
};

/*
 * A copy of the user stack from sp up, taken with a WAIT_BEGIN or WAKING record (same tid and
 * ts, parent_kind says which). The collector unwinds it into a TT_REC_UNWOUND record and does
 * not keep it: at 8 KiB a snapshot it would dwarf everything else.
 */
struct tt_ustack_snapshot {
	struct tt_rec_hdr hdr;
	__u16 parent_kind;
	__u16 pad;
	__u32 size;   /* bytes in data; 0 when the stack could not be read */
	__u32 wanted; /* bytes asked for: size < wanted means the top was cut */
	__u32 pad2;
	struct tt_regs regs;
	__u8 data[];
};

/* The user stack of the record of parent_kind with the same tid and ts, unwound with CFI. */
struct tt_unwound {
	struct tt_rec_hdr hdr;
	__u16 parent_kind;
	__u16 pad;
	__u32 pad2;
	struct tt_stack stack; /* user frames only; TT_STACK_USER_TRUNC when cut short */
};

/*
 * In-kernel unwinding (bpf/unwind.bpf.h, user/cfitab.c, user/ustack.c). User space turns each
 * module's .eh_frame into rows, sorted by address, that say for the code from pc on how to find
 * the caller: CFA = rsp or rbp + cfa_off, the return address at CFA - 8, the caller's rbp saved
 * at CFA + rbp_off or unchanged. What x86_64 CFI says otherwise (expressions, other registers)
 * becomes TT_CFI_NONE: the walk stops there and says so.
 */
enum tt_cfi_kind {
	TT_CFI_NONE = 0,   /* no usable CFI for this code: stop */
	TT_CFI_RSP = 1,	   /* CFA = rsp + cfa_off */
	TT_CFI_RBP = 2,	   /* CFA = rbp + cfa_off */
	TT_CFI_END = 3,	   /* the return address is undefined: the outermost frame */
	TT_CFI_SIGNAL = 4, /* a signal frame (__restore_rt): the interrupted rsp, rip and rbp
			      are saved at rsp + cfa_off, ra_off and rbp_off */
};

enum tt_cfi_rbp {
	TT_CFI_RBP_SAME = 0,  /* the caller's rbp is the current one */
	TT_CFI_RBP_SAVED = 1, /* ... saved at CFA + rbp_off */
	TT_CFI_RBP_LOST = 2,  /* ... cannot be recovered here */
};

struct tt_cfi_row {
	__u32 pc;      /* the first ELF address (module vaddr) this row covers */
	__u8 kind;     /* enum tt_cfi_kind */
	__u8 rbp;      /* enum tt_cfi_rbp */
	__s16 rbp_off; /* with TT_CFI_RBP_SAVED */
	__s32 cfa_off;
	__s32 ra_off; /* TT_CFI_SIGNAL only; 16 bytes a row: the stride of an mmapped array */
};

/* How BPF reads user stacks (the user_unwind setting). */
enum tt_unwind_mode {
	TT_UNWIND_NONE = 0, /* not at all (no stacks, or copies only) */
	TT_UNWIND_CFI = 1,  /* with the CFI rows, frame pointers in mappings without CFI */
	TT_UNWIND_FP = 2,   /* with frame pointers only */
};

#define TT_UMAP_FP (1u << 0) /* no CFI (JIT code, a module without .eh_frame): frame pointers */

/* An executable mapping of the target, sorted by start in the BPF unwind_maps array. */
struct tt_unwind_map {
	__u64 start, end; /* runtime addresses [start, end) */
	__u64 bias;	  /* runtime address - ELF address */
	__u32 first_row;  /* its module's rows in cfi_rows: [first_row, first_row + nr_rows) */
	__u32 nr_rows;
	__u32 flags; /* TT_UMAP_* */
	__u32 pad;
};

/* unwind_maps holds two tables of this many; user space fills one, then makes it current. */
#define TT_UNWIND_MAX_MAPS 2048

/* A futex op in flight, by tid, in the BPF waits and wakes maps (user space seeds waits that
 * were in progress at attach). */
struct tt_futex_state {
	__u64 uaddr;
	__u32 op;
	__u32 pad;
};

/* The pthread and semaphore calls --holds probes (the op of a TT_REC_LOCK_CALL). */
enum tt_lock_op {
	TT_LOP_MUTEX_LOCK = 1,	/* pthread_mutex_lock (obj: the mutex) */
	TT_LOP_MUTEX_TRYLOCK,	/* pthread_mutex_trylock */
	TT_LOP_MUTEX_TIMEDLOCK, /* pthread_mutex_timedlock / clocklock */
	TT_LOP_MUTEX_UNLOCK,	/* pthread_mutex_unlock */
	TT_LOP_COND_WAIT,	/* pthread_cond_wait / timedwait / clockwait (obj: the condvar,
				   obj2: the mutex it releases and re-takes) */
	TT_LOP_RW_RDLOCK,    /* pthread_rwlock_rdlock (RDLOCK..TIMEDWRLOCK: the takes, in order) */
	TT_LOP_RW_WRLOCK,    /* pthread_rwlock_wrlock */
	TT_LOP_RW_TRYRDLOCK, /* pthread_rwlock_tryrdlock */
	TT_LOP_RW_TRYWRLOCK, /* pthread_rwlock_trywrlock */
	TT_LOP_RW_TIMEDRDLOCK, /* pthread_rwlock_timedrdlock / clockrdlock */
	TT_LOP_RW_TIMEDWRLOCK, /* pthread_rwlock_timedwrlock / clockwrlock */
	TT_LOP_RW_UNLOCK,      /* pthread_rwlock_unlock */
	TT_LOP_SEM_WAIT,       /* sem_wait / timedwait / clockwait / trywait */
	TT_LOP_SEM_POST,       /* sem_post */
	TT_LOP__NR,
};

/*
 * A lock call seen by a uprobe near the function's entry (--holds). No return probe: the
 * analysis learns when the call acquired from the caller's futex waits on the object and from
 * the next call of the same thread. The stack is the caller's (none for unlock and post).
 */
struct tt_lock_call {
	struct tt_rec_hdr hdr;
	__u64 obj;
	__u64 obj2;
	__u32 op; /* enum tt_lock_op */
	__u32 pad;
	struct tt_stack stack;
};

/*
 * CPython's GIL (doc/cpython-layouts.md): a uprobe on each instruction that stores to the
 * GIL's `locked` (found by decoding the interpreter's code) reports the store before it
 * happens: TT_GIL_TAKE for `locked = 1` (the thread has the GIL from here), TT_GIL_DROP for
 * `locked = 0`. switch_number and last_holder are read from the GIL at the same instant.
 */
enum tt_gil_op {
	TT_GIL_TAKE = 1,
	TT_GIL_DROP = 2,
};

/*
 * Where a uprobe finds a value: x86_64 user registers by number (bpf/common.bpf.h reg_value).
 * user/probesite.c tracks TT_REG_RDI..TT_REG_R15 through a lock function's entry; the GIL's
 * stores (user/pygil.c) may go through any of them.
 */
enum tt_reg {
	TT_REG_RDI = 0,
	TT_REG_RSI,
	TT_REG_RDX,
	TT_REG_RCX,
	TT_REG_R8,
	TT_REG_R9,
	TT_REG_RBX,
	TT_REG_RBP,
	TT_REG_R12,
	TT_REG_R13,
	TT_REG_R14,
	TT_REG_R15,
	TT_REG_RAX,
	TT_REG_R10,
	TT_REG_R11,
	TT_REG__NR,
	TT_REG_NONE = 0xff, /* none there, or (GIL) rip-relative: checked when decoded */
};

/*
 * Uprobe attach cookies (bpf_get_attach_cookie): what user space tells a probe when it attaches
 * it. Encoded by user/probesite.h and user/pygil.h, decoded by bpf/holds.bpf.c and
 * bpf/gil.bpf.c, only with these macros:
 *   bits  0..7   op    enum tt_lock_op (--holds) or enum tt_gil_op (GIL)
 *   bits  8..15  reg   enum tt_reg: --holds: the lock object; GIL: the store's base register
 *   bits 16..23  reg2  --holds: the second object (a cond wait's mutex) or TT_REG_NONE; GIL: 0
 *   bits 32..47  --holds: ret_off, bytes from sp to the caller's return address at the site
 *   bits 32..63  GIL: disp, the store's displacement from reg (signed)
 */
#define TT_COOKIE_FIELD_MASK   0xffu /* op, reg and reg2: 8 bits each */
#define TT_COOKIE_RET_OFF_MASK 0xffffu

#define TT_COOKIE_OP(c)	  ((__u32)(c)&TT_COOKIE_FIELD_MASK)
#define TT_COOKIE_REG(c)  ((__u32)((c) >> 8) & TT_COOKIE_FIELD_MASK)
#define TT_COOKIE_REG2(c) ((__u32)((c) >> 16) & TT_COOKIE_FIELD_MASK)

#define TT_LOCK_COOKIE(op, reg, reg2, ret_off)                                                     \
	((__u64)((op)&TT_COOKIE_FIELD_MASK) | (__u64)((reg)&TT_COOKIE_FIELD_MASK) << 8 |           \
	 (__u64)((reg2)&TT_COOKIE_FIELD_MASK) << 16 |                                              \
	 (__u64)((ret_off)&TT_COOKIE_RET_OFF_MASK) << 32)
#define TT_LOCK_COOKIE_RET_OFF(c) ((__u32)((c) >> 32) & TT_COOKIE_RET_OFF_MASK)

#define TT_GIL_COOKIE(op, reg, disp)                                                               \
	((__u64)((op)&TT_COOKIE_FIELD_MASK) | (__u64)((reg)&TT_COOKIE_FIELD_MASK) << 8 |           \
	 (__u64)(__u32)(__s32)(disp) << 32)
#define TT_GIL_COOKIE_DISP(c) ((__s32)(__u32)((c) >> 32))

/*
 * CPython's struct _gil_runtime_state (3.8-3.15, doc/cpython-layouts.md), which BPF reads at
 * each probed store and user space at attach: interval, then these.
 */
#define TT_GIL_LAST_HOLDER_OFF	 8  /* PyThreadState *: the latest taker */
#define TT_GIL_LOCKED_OFF	 16 /* int: what the probed stores write */
#define TT_GIL_SWITCH_NUMBER_OFF 24 /* unsigned long: holder changes */
/* a free-threaded build's `enabled` int: on for good, not just while a module is imported */
#define TT_GIL_ENABLED_FOR_GOOD 0x7fffffff

#define TT_GIL_FORCED (1u << 0) /* a drop with the drop request set: another thread asked */
/* free-threaded build: stored while its `enabled` was not INT_MAX, the GIL on only while an
 * extension module is imported (3.13t enables it around every such import) or off again */
#define TT_GIL_TRANSIENT (1u << 1)

struct tt_gil {
	struct tt_rec_hdr hdr;
	__u64 gil;	       /* address of the GIL (struct _gil_runtime_state) */
	__u64 switch_number;   /* the GIL's own count of holder changes, before this store */
	__u64 last_holder;     /* PyThreadState* of the latest holder, before this store */
	__u32 op;	       /* enum tt_gil_op */
	__u32 flags;	       /* TT_GIL_* */
	struct tt_stack stack; /* the thread's native stack (frame pointers) */
};

#define TT_PY_FREE_THREADED (1u << 0) /* a free-threaded build (3.13t) */
#define TT_PY_GIL_DISABLED  (1u << 1) /* ... with the GIL off (its `enabled` is 0) */
#define TT_PY_HELD	    (1u << 2) /* the GIL was held at attach, by holder_tid (0: unknown) */
#define TT_PY_STRIPPED	    (1u << 3) /* no take_gil/drop_gil symbols: sites found by decoding */

/*
 * How BPF walks CPython's frame chain (per version from user/pyframes.c; doc/cpython-layouts.md):
 * the thread state's current frame (through the cframe on 3.11/3.12), then per frame the
 * previous one, its code object and its instruction.
 */
struct tt_py_walk {
	__u32 tstate_frame; /* tstate + this: the current frame (or the cframe, see next) */
	__s32 cframe_frame; /* cframe + this: the current frame; -1: no cframe */
	__u32 back;	    /* frame + this: the calling frame */
	__u32 code;	    /* frame + this: the code object */
	__u32 instr;	    /* frame + this: the instruction (see instr_is_ptr) */
	__u32 instr_is_ptr; /* 1: a pointer into the bytecode (3.11+); 0: an int f_lasti */
	__s32 is_entry;	    /* frame + this: bool, an eval-loop call's first frame (3.11); -1 */
	__s32 owner;	    /* frame + this: char, TT_PY_OWNER_CSTACK marks a shim (3.12+); -1 */
	__u32 every_entry;  /* 1: each frame runs in its own eval-loop call (3.8-3.10) */
	__u32 frame_bytes;  /* bytes read per frame: past every offset above (below 128) */
	__s32 localsplus;   /* frame + this: localsplus[0], the first argument (`self` of a
			       method); read apart from the frame's bytes; -1: not known */
	__u32 ref_tag_bits; /* 3.14+: the code and localsplus[0] are tagged _PyStackRefs: clear
			       these low bits */
	__s32 tlbc_index;   /* frame + this: int32 index of the thread's bytecode copy the
			       instruction is in (free-threaded 3.14+); -1: none */
};

/*
 * BPF reads this many bytes of a frame at most (a power of 2: its offsets are masked with it);
 * frame_bytes and every offset above stay below it (user/pyframes.c).
 */
#define TT_PY_FRAME_BYTES 128

/*
 * How BPF finds a thread's PyThreadState in the main interpreter's list when it has not learnt
 * it from a GIL drop (a free-threaded build with the GIL off has none): user/pygil.c's layout,
 * set before py_armed.
 */
struct tt_py_threads {
	__u64 head;	  /* the list's head pointer is here (interp + tstate_head); 0: not armed */
	__u32 next;	  /* tstate + this: the next thread state */
	__s32 native_tid; /* tstate + this: native_thread_id; -1: none (3.8-3.10), then: */
	__u32 thread_id;  /* tstate + this: pthread_t, which is the thread's FS base */
	__u32 pad;
};

#define TT_PY_OWNER_CSTACK  3 /* and above: shims (3.12/3.13 C stack, 3.14+ interpreter) */
#define TT_PY_MAX_FRAMES    32
#define TT_PY_LOCAL0_FRAMES 6 /* the innermost frames whose local0 is read */

#define TT_PYF_ENTRY                                                                               \
	(1u << 0) /* the first frame an eval-loop call ran: where, in the native                   \
		     stack, a _PyEval_EvalFrameDefault frame stands for it */
#define TT_PYF_TLBC_SHIFT                                                                          \
	16 /* flags >> this: the frame's tlbc_index (free-threaded 3.14+):                         \
	      instr is then from the code object to the instruction in that                        \
	      copy of its bytecode (co_tlbc->entries[index]) */

/*
 * Files from before local0 hold 16-byte frames (TT_PYFRAME_V1_SIZE): the record's size says
 * which; the file reader widens them (local0 0).
 */
struct tt_pyframe {
	__u64 code;   /* the PyCodeObject */
	__u32 instr;  /* 3.11+: bytes from the code object to the instruction; else f_lasti */
	__u32 flags;  /* TT_PYF_* */
	__u64 local0; /* the frame's first local (localsplus[0]: `self` of a method, an object's
			 address, which is its id()) for the innermost TT_PY_LOCAL0_FRAMES
			 frames; 0: not read (an unbound local, or a frame further out) */
};

#define TT_PYFRAME_V1_SIZE 16

/* The Python frames (leaf first) of the thread of the record of parent_kind with this ts. */
struct tt_pystack {
	struct tt_rec_hdr hdr;
	__u16 parent_kind;
	__u16 nr;
	__u32 flags; /* TT_STACK_USER_TRUNC: more than TT_PY_MAX_FRAMES frames */
	struct tt_pyframe frames[];
};

/*
 * A futex wait's companion (same tid and ts) in a CPython with a parking lot (3.13+; user
 * space arms it): the 8 bytes before the futex word. When the wait is a parking-lot wait
 * (the waiter sleeps on the semaphore of a `struct wait_entry` on its own stack), they are the
 * entry's `addr`, the PyMutex or PyEvent it waits for (user/pyobj.h); else whatever is there.
 */
struct tt_park_key {
	struct tt_rec_hdr hdr;
	__u16 parent_kind;
	__u16 ok; /* 1: read; 0: the memory could not be read */
	__u32 pad;
	__u64 key;
};

/*
 * A TT_REC_PARK_KEY's companion (same tid and ts, parent_kind TT_REC_WAIT_BEGIN) from the
 * collector on a 3.13+ CPython: ob_type->tp_name of the object the key may lie in, read while
 * the waiter sleeps (the object lives): `obj` is key - 10 when the key is a free-threaded
 * object's ob_mutex (key % 8 == 2), else a Lock's or RLock's PyMutex after the object header
 * (key - 16; key - 32 in a free-threaded build). Only when the
 * read gave a printable name; the analysis uses it only for waits it proves parked.
 */
#define TT_PY_TYPE_LEN 48
struct tt_py_objtype {
	struct tt_rec_hdr hdr;
	__u16 parent_kind;
	__u16 pad;
	__u32 pad2;
	__u64 obj;
	char type[TT_PY_TYPE_LEN]; /* "list", "_thread.RLock"; NUL-terminated */
};

/* The target's CPython, found at attach (or once a COMMAND initialised its interpreter). */
struct tt_python {
	struct tt_rec_hdr hdr; /* ts: GIL stores are traced from here */
	__u32 hexversion;      /* PY_VERSION_HEX, e.g. 0x030b07f0 for 3.11.7 */
	__u32 flags;	       /* TT_PY_* */
	__u64 gil;	       /* address of the main interpreter's GIL */
	__u64 switch_number;   /* at attach */
	__u32 interval_us;     /* the switch interval (sys.getswitchinterval) */
	__u32 holder_tid;      /* the GIL's last taker at attach (holds it if TT_PY_HELD) */
	__u32 sites_take;      /* probed stores of `locked = 1` */
	__u32 sites_drop;      /* probed stores of `locked = 0` */
	char path[128];	       /* the module with the interpreter, as the target maps it */
};

/*
 * A runtime or libc the target uses whose locks are not glibc's (doc/musl-futex.md, README
 * "Runtimes"), found in what it maps: the kinds of its futex words and what its waits mean
 * depend on it. One record per runtime found, at attach or once a COMMAND mapped it.
 */
enum tt_runtime_kind {
	TT_RT_MUSL = 1, /* musl libc: its own object layouts and lock functions */
	TT_RT_GO = 2,	/* Go's runtime: goroutines block in its scheduler, not in futexes */
	TT_RT_JVM = 3,	/* a HotSpot JVM (libjvm.so): monitors and parking on per-thread events */
};

#define TT_RT_STATIC   (1u << 0) /* linked into the executable (no shared library) */
#define TT_RT_STRIPPED (1u << 1) /* found without function symbols: names cannot class waits */

struct tt_runtime {
	struct tt_rec_hdr hdr;
	__u32 runtime;	  /* enum tt_runtime_kind */
	__u32 flags;	  /* TT_RT_* */
	char version[32]; /* "go1.19.8" from Go's build info; "" when not known */
	char path[128];	  /* the module that holds it, as the target maps it */
};

#define TT_MAX_CYCLE 8

/*
 * A cycle of waiting threads seen live: links[i].tid waits on the lock at links[i].addr, which
 * links[i].owner holds (read from the lock word or glibc's __owner, as a host tid); the last
 * owner is the first tid. nr 1: a thread waits for a mutex it holds itself, or (ORPHANED) for
 * one whose holder cannot release it, links[0].owner as the lock names it (in the target's PID
 * namespace). Files from before flags existed hold 0 there and nr >= 2.
 */
struct tt_deadlock {
	struct tt_rec_hdr hdr;
	__u32 nr;
	__u32 flags; /* TT_DEADLOCK_* */
	struct {
		__u32 tid;
		__u32 owner;
		__u64 addr;
	} links[TT_MAX_CYCLE];
};

#define TT_DEADLOCK_ORPHANED (1u << 0) /* the holder is gone: dead, or not in the process */
#define TT_DEADLOCK_SHARED   (1u << 1) /* ORPHANED: the lock is process-shared */
#define TT_DEADLOCK_ELSEWHERE                                                                      \
	(1u << 2) /* ORPHANED: a private lock's holder lives, in another                           \
		     process (it was held at fork by the parent's thread) */
#define TT_DEADLOCK_PYTHON                                                                         \
	(1u << 3) /* Python threads and Python locks: each link's thread                           \
		     has a TT_REC_PYWAIT record before this one */
#define TT_DEADLOCK_FLAGS 0xfu

/* The Python synchronisation object a TT_REC_PYWAIT names (the kind of `obj`). */
enum tt_pyobj_kind {
	TT_PYOBJ_UNKNOWN = 0,
	TT_PYOBJ_LOCK = 1,	/* threading.Lock (_thread.lock) */
	TT_PYOBJ_RLOCK = 2,	/* threading.RLock (_thread.RLock) */
	TT_PYOBJ_CONDITION = 3, /* threading.Condition.wait (obj: its waiter lock) */
	TT_PYOBJ_EVENT = 4,
	TT_PYOBJ_SEMAPHORE = 5,
	TT_PYOBJ_BARRIER = 6,
	TT_PYOBJ_JOIN = 7, /* Thread.join */
	TT_PYOBJ_QUEUE = 8,
	TT_PYOBJ_OBJECT = 9, /* free-threaded: an object's own lock (ob_mutex, critical section) */
};

/* How the holder of a Python lock was found (the evidence of a TT_REC_PYWAIT). */
enum tt_pyhold_evidence {
	TT_PYHOLD_NONE = 0,	   /* no holder found */
	TT_PYHOLD_RLOCK_OWNER = 1, /* an RLock names its owner (rlock_owner, a thread ident) */
	TT_PYHOLD_WITH_BLOCK = 2,  /* the lock's bound __exit__ is on the value stack of one live
				      frame of the holder: a `with lock:` block in progress */
	TT_PYHOLD_FUTEX_OWNER = 3, /* the lock word names it */
	TT_PYHOLD_INFERRED = 4,	   /* the only other thread referring to the locked lock */
};

/*
 * A Python thread blocked (since `since`, the ts of its WAIT_BEGIN) in a futex wait on uaddr,
 * which belongs to the Python object obj (its id(); 0: not found); the object's holder as a
 * host tid and how it was found. name: the object's name from the source line that waits
 * (`with accounts_lock:` -> "accounts_lock"); "" when none. Written by the collector once the
 * wait lasted a while, again when what it knows changed; the latest per thread counts.
 */
struct tt_pywait {
	struct tt_rec_hdr hdr;
	__u64 since;
	__u64 uaddr;
	__u64 obj;
	__u64 lock; /* the lock object waited for (obj itself, or a Condition's waiter) */
	__u32 holder;
	__u8 kind;     /* enum tt_pyobj_kind */
	__u8 evidence; /* enum tt_pyhold_evidence */
	__u16 pad;
	char name[48];
};

#define TT_LIBC_GLIBC  (1u << 0) /* glibc: major/minor from its gnu_get_libc_version() */
#define TT_LIBC_STATIC (1u << 1) /* linked into the program itself (no libc.so mapped) */

/*
 * The libc the target maps, found by the collector at attach, at a COMMAND's entry and after
 * each exec (doc/glibc-futex.md: object layouts depend on its version). ts: from here on the
 * target runs with it.
 */
struct tt_libc {
	struct tt_rec_hdr hdr;
	__u32 flags;	  /* TT_LIBC_* */
	__u16 major;	  /* 2 */
	__u16 minor;	  /* 41 */
	char version[16]; /* gnu_get_libc_version(): "2.41" */
	char build[48];	  /* the banner's "(...)", "Debian GLIBC 2.41-12"; "" when none */
	char path[128];	  /* the file, as the target maps it */
};

#define TT_SESSION_HOLDS (1u << 0) /* --holds: lock calls were probed (TT_REC_LOCK_CALL) */

struct tt_session {
	struct tt_rec_hdr hdr; /* ts: the instant tracing was attached */
	__u32 target_pid;
	__u32 target_tid; /* 0: all threads */
	__u32 abi_version;
	__u32 flags; /* TT_SESSION_* (0 in files written before flags existed) */
	char comm[TT_COMM_LEN];
};

/* A thread present at attach, read from /proc/PID/task/TID/{comm,stat,syscall}. */
struct tt_thread_info {
	struct tt_rec_hdr hdr;
	char state;	    /* /proc stat state letter: R, S, D, T, ... */
	__u8 in_futex_wait; /* blocked inside futex(uaddr, wait op) */
	__u16 pad;
	__u32 futex_op;
	__u64 futex_uaddr;
	char comm[TT_COMM_LEN];
};

#define TT_PY_NAME_LEN 64

/*
 * CPython: the threading.Thread name of thread tid ("MainThread", "ThreadPoolExecutor-0_0"),
 * read by the collector from the live interpreter (threading._active, user/pylive.c) once the
 * interpreter is found, when a thread first shows up, and when tracing stops (renames). A later
 * record for the same tid replaces the name. Reports name Python threads by it and keep the OS
 * name (comm, at most 15 bytes: 3.14 copies the Python name there cut short) beside it. Files
 * without these records read as before: OS names only.
 */
struct tt_py_thread_name {
	struct tt_rec_hdr hdr;	   /* tid: the thread (its native id) */
	__u64 ident;		   /* threading.get_ident() (the pthread_t) */
	char name[TT_PY_NAME_LEN]; /* UTF-8, NUL-terminated, cut at 63 bytes */
};

/* BPF-side failure counters, indexed by enum tt_counter, summed over CPUs. */
enum tt_counter {
	TT_CNT_RINGBUF_FULL = 0, /* record dropped: ring buffer full */
	TT_CNT_STACK_FAIL, /* a user or kernel stack, or a stack snapshot, could not be read */
	TT_CNT_MAP_FULL,   /* per-thread state map full: a wait was not tracked */
	TT_CNT_NR,
};

struct tt_session_end {
	struct tt_rec_hdr hdr; /* ts: the instant tracing stopped */
	__u64 counters[TT_CNT_NR];
	__u32 target_exited;
	__u32 pad;
};

/*
 * The contract, checked wherever this header is compiled: clang for BPF, the C compiler for
 * user space. A layout that comes out differently on one side (a type whose size or alignment
 * differs there, a field moved or resized), a record kind in the other side's range, or a value
 * that no longer fits its cookie field stops that side's build here. Changing a number below
 * changes the ABI: record files and both sides depend on it (TT_ABI_VERSION).
 */
#define TT_OFFSETOF(type, field) __builtin_offsetof(type, field)

/* every record's header and the stack that follows some */
_Static_assert(sizeof(struct tt_rec_hdr) == 24 && TT_OFFSETOF(struct tt_rec_hdr, kind) == 2 &&
		   TT_OFFSETOF(struct tt_rec_hdr, cpu) == 4 &&
		   TT_OFFSETOF(struct tt_rec_hdr, ts) == 8 &&
		   TT_OFFSETOF(struct tt_rec_hdr, pid) == 16 &&
		   TT_OFFSETOF(struct tt_rec_hdr, tid) == 20,
	       "record header layout");
_Static_assert(sizeof(struct tt_stack) == 8 && TT_OFFSETOF(struct tt_stack, ips) == 8,
	       "stack header layout");

/* records BPF writes: sizes, and where their stacks start (BPF fills ips[] past them) */
_Static_assert(sizeof(struct tt_wait_begin) == 56 && TT_OFFSETOF(struct tt_wait_begin, stack) == 48,
	       "wait_begin layout");
_Static_assert(sizeof(struct tt_wait_end) == 48, "wait_end layout");
_Static_assert(sizeof(struct tt_wake_op) == 48, "wake_op layout");
_Static_assert(sizeof(struct tt_waking) == 80 && TT_OFFSETOF(struct tt_waking, stack) == 72,
	       "waking layout");
_Static_assert(sizeof(struct tt_switch) == 72, "switch layout");
_Static_assert(sizeof(struct tt_switch_kstat) == 88 &&
		   TT_OFFSETOF(struct tt_switch_kstat, prev_run_delay) == 72,
	       "switch_kstat layout");
_Static_assert(sizeof(struct tt_new_thread) == 48, "new_thread layout");
_Static_assert(sizeof(struct tt_exit) == 48, "exit layout");
_Static_assert(sizeof(struct tt_regs) == 64 && sizeof(struct tt_ustack_snapshot) == 104 &&
		   TT_OFFSETOF(struct tt_ustack_snapshot, regs) == 40 &&
		   TT_OFFSETOF(struct tt_ustack_snapshot, data) == 104,
	       "ustack_snapshot layout");
_Static_assert(sizeof(struct tt_lock_call) == 56 && TT_OFFSETOF(struct tt_lock_call, stack) == 48,
	       "lock_call layout");
_Static_assert(sizeof(struct tt_gil) == 64 && TT_OFFSETOF(struct tt_gil, stack) == 56,
	       "gil layout");
_Static_assert(sizeof(struct tt_pyframe) == 24 &&
		   TT_OFFSETOF(struct tt_pyframe, local0) == TT_PYFRAME_V1_SIZE,
	       "pyframe layout (files before local0 hold the part before it)");
_Static_assert(sizeof(struct tt_pystack) == 32 && TT_OFFSETOF(struct tt_pystack, frames) == 32,
	       "pystack layout");
_Static_assert(sizeof(struct tt_park_key) == 40 && TT_OFFSETOF(struct tt_park_key, key) == 32,
	       "park_key layout");

/* records the collector writes */
_Static_assert(sizeof(struct tt_unwound) == 40 && TT_OFFSETOF(struct tt_unwound, stack) == 32,
	       "unwound layout");
_Static_assert(sizeof(struct tt_python) == 192, "python layout");
_Static_assert(sizeof(struct tt_runtime) == 192, "runtime layout");
_Static_assert(sizeof(struct tt_py_objtype) == 88, "py_objtype layout");
_Static_assert(sizeof(struct tt_session) == 56, "session layout");
_Static_assert(sizeof(struct tt_thread_info) == 56, "thread_info layout");
_Static_assert(sizeof(struct tt_session_end) == 56 &&
		   TT_OFFSETOF(struct tt_session_end, counters) == 24,
	       "session_end layout");
_Static_assert(sizeof(struct tt_deadlock) == 160, "deadlock layout");
_Static_assert(sizeof(struct tt_libc) == 224, "libc layout");
_Static_assert(sizeof(struct tt_pywait) == 112, "pywait layout");
_Static_assert(sizeof(struct tt_py_thread_name) == 96, "py_thread_name layout");
/* the analysis indexes these companions by their parent, at one offset */
_Static_assert(TT_OFFSETOF(struct tt_pystack, parent_kind) ==
		       TT_OFFSETOF(struct tt_unwound, parent_kind) &&
		   TT_OFFSETOF(struct tt_py_objtype, parent_kind) ==
		       TT_OFFSETOF(struct tt_unwound, parent_kind),
	       "companion records keep parent_kind in one place");

/* record kinds: BPF's below 64, the collector's from 64 */
_Static_assert(TT_REC_PARK_KEY < TT_REC_SESSION && TT_REC_SESSION == 64,
	       "BPF record kinds stay below the collector's");

/* what user space puts in BPF maps and globals */
_Static_assert(sizeof(struct tt_cfi_row) == 16, "cfi rows: the stride of the mmapped array");
_Static_assert(TT_CFI_SIGNAL <= 0xff && TT_CFI_RBP_LOST <= 0xff, "cfi row kinds fit a __u8");
_Static_assert(sizeof(struct tt_unwind_map) == 40 &&
		   TT_OFFSETOF(struct tt_unwind_map, first_row) == 24,
	       "unwind_map layout");
_Static_assert(sizeof(struct tt_futex_state) == 16, "futex_state layout (seeded waits)");
_Static_assert(sizeof(struct tt_py_walk) == 52 &&
		   TT_OFFSETOF(struct tt_py_walk, frame_bytes) == 36 &&
		   TT_OFFSETOF(struct tt_py_walk, tlbc_index) == 48,
	       "py_walk layout");
_Static_assert(sizeof(struct tt_py_threads) == 24 &&
		   TT_OFFSETOF(struct tt_py_threads, native_tid) == 12 &&
		   TT_OFFSETOF(struct tt_py_threads, thread_id) == 16,
	       "py_threads layout");
_Static_assert((TT_PY_FRAME_BYTES & (TT_PY_FRAME_BYTES - 1)) == 0,
	       "BPF masks frame offsets with TT_PY_FRAME_BYTES - 1");
_Static_assert(TT_PY_LOCAL0_FRAMES <= TT_PY_MAX_FRAMES, "local0 frames are frames");
_Static_assert(TT_GIL_LAST_HOLDER_OFF + 8 <= TT_GIL_LOCKED_OFF &&
		   TT_GIL_LOCKED_OFF + 4 <= TT_GIL_SWITCH_NUMBER_OFF,
	       "GIL fields apart");

/* attach cookies: every op and register fits its field, and each field reads back */
_Static_assert(TT_LOP__NR - 1 <= TT_COOKIE_FIELD_MASK && TT_GIL_DROP <= TT_COOKIE_FIELD_MASK,
	       "ops fit the cookie's op field");
_Static_assert(TT_REG__NR <= TT_REG_NONE && TT_REG_NONE <= TT_COOKIE_FIELD_MASK,
	       "registers and TT_REG_NONE fit the cookie's register fields, apart");
_Static_assert(TT_COOKIE_OP(TT_LOCK_COOKIE(TT_LOP__NR - 1, TT_REG_R15, TT_REG_NONE, 0xffff)) ==
		       TT_LOP__NR - 1 &&
		   TT_COOKIE_REG(TT_LOCK_COOKIE(TT_LOP__NR - 1, TT_REG_R15, TT_REG_NONE, 0xffff)) ==
		       TT_REG_R15 &&
		   TT_COOKIE_REG2(TT_LOCK_COOKIE(TT_LOP__NR - 1, TT_REG_R15, TT_REG_NONE,
						 0xffff)) == TT_REG_NONE &&
		   TT_LOCK_COOKIE_RET_OFF(TT_LOCK_COOKIE(TT_LOP__NR - 1, TT_REG_R15, TT_REG_NONE,
							 0xffff)) == 0xffff &&
		   TT_COOKIE_REG2(TT_LOCK_COOKIE(TT_LOP_COND_WAIT, TT_REG_RDI, TT_REG_RSI, 8)) ==
		       TT_REG_RSI,
	       "--holds cookie: op, reg, reg2 and ret_off read back");
_Static_assert(TT_COOKIE_OP(TT_GIL_COOKIE(TT_GIL_DROP, TT_REG_R11, -2147483647 - 1)) ==
		       TT_GIL_DROP &&
		   TT_COOKIE_REG(TT_GIL_COOKIE(TT_GIL_DROP, TT_REG_R11, -2147483647 - 1)) ==
		       TT_REG_R11 &&
		   TT_GIL_COOKIE_DISP(TT_GIL_COOKIE(TT_GIL_DROP, TT_REG_R11, -2147483647 - 1)) ==
		       -2147483647 - 1 &&
		   TT_GIL_COOKIE_DISP(TT_GIL_COOKIE(TT_GIL_TAKE, TT_REG_NONE, -8)) == -8 &&
		   TT_COOKIE_REG(TT_GIL_COOKIE(TT_GIL_TAKE, TT_REG_NONE, -8)) == TT_REG_NONE &&
		   TT_COOKIE_REG2(TT_GIL_COOKIE(TT_GIL_TAKE, TT_REG_NONE, -8)) == 0,
	       "GIL cookie: op, reg and a negative disp read back");

#endif /* THREADTRACE_H */
