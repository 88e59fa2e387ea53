/* SPDX-License-Identifier: GPL-2.0 */
/* test_analysis_holds.h - the tests in test_analysis_holds.c (--holds in the analysis),
 * registered by test_main.c. */
#ifndef TT_TEST_ANALYSIS_HOLDS_H
#define TT_TEST_ANALYSIS_HOLDS_H

void test_holds(void);
void test_holds_readers_share_a_wait(void);

#endif
