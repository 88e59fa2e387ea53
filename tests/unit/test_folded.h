/* SPDX-License-Identifier: GPL-2.0 */
/* test_folded.h - the tests in test_folded.c (folded stacks), registered by test_main.c. */
#ifndef TT_TEST_FOLDED_H
#define TT_TEST_FOLDED_H

void test_folded(void);

#endif
