/* SPDX-License-Identifier: GPL-2.0 */
/* stream.h - build synthetic record streams for the analysis tests, and find what the analysis
 * made of them. */
#ifndef TT_STREAM_H
#define TT_STREAM_H

#include "records.h"
#include "symdata.h"
#include "analysis.h"

#define PID 1000

void s_session(struct record_buf *rb, __u64 ts);
void s_end(struct record_buf *rb, __u64 ts);
/* a TT_REC_RUNTIME record: the target runs on runtime (enum tt_runtime_kind) */
void s_runtime(struct record_buf *rb, __u64 ts, __u32 runtime, const char *path);
void s_session_flags(struct record_buf *rb, __u64 ts, __u32 flags);
/* a --holds lock call; ip: a one-frame stack (0: none) */
void s_lock_call(struct record_buf *rb, __u64 ts, __u32 tid, __u32 op, __u64 obj, __u64 obj2,
		 __u64 ip);
void s_wait_begin(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr, __u32 op, __u32 val,
		  const __u64 *ips, unsigned n);
void s_wait_end(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr, __s64 ret);
void s_wake_op(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr);
/* ... with the futex word as the wait ended */
void s_wait_end_word(struct record_buf *rb, __u64 ts, __u32 tid, __u64 addr, __s64 ret, __u32 word);
void s_waking(struct record_buf *rb, __u64 ts, __u32 waker, __u32 wakee, __u64 wakee_addr,
	      __u32 reason, __u64 waker_addr, const __u64 *ips, unsigned n);
void s_switch(struct record_buf *rb, __u64 ts, __u32 prev, __u32 prev_state, __u32 next);
void s_switch_kstat(struct record_buf *rb, __u64 ts, __u32 prev, __u32 prev_state, __u32 next,
		    __u64 run_delay, __u64 exec_ns);
void s_new_thread(struct record_buf *rb, __u64 ts, __u32 tid);
void s_exit(struct record_buf *rb, __u64 ts, __u32 tid);

/* The lock at addr, the thread tid in a's results; NULL if none. */
const struct lock_stat *find_lock(const struct analysis *a, __u64 addr);
const struct thread_stat *find_thread(const struct analysis *a, __u32 tid);
/* a's JSON summary (malloc'd, *len its length). */
char *summary_of(struct analysis *a, size_t *len);
/* One contended wait on acc_lock (0x1000) in waiter_fn, woken from thread_main, named in sd. */
void sample_session(struct record_buf *rb, struct symdata *sd);

#endif
