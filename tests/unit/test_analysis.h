/* SPDX-License-Identifier: GPL-2.0 */
/* test_analysis.h - the tests in test_analysis.c (the analysis on synthetic record streams),
 * registered by test_main.c. */
#ifndef TT_TEST_ANALYSIS_H
#define TT_TEST_ANALYSIS_H

void test_merge_rewaits(void);
void test_wake_causes(void);
void test_exit_wakes(void);
void test_thread_states(void);
void test_untraced_switch_in(void);
void test_condvar_vs_mutex(void);
void test_no_session(void);
void test_stream_reorders(void);
void test_adopted_wait_and_deadlock(void);
void test_waker_in_other_process(void);
void test_missed_switch_in(void);
void test_blocked_across_signals(void);
void test_many_waiters(void);

#endif
