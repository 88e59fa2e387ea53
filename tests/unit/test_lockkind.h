/* SPDX-License-Identifier: GPL-2.0 */
/* test_lockkind.h - the tests in test_lockkind.c (lock kinds), registered by test_main.c. */
#ifndef TT_TEST_LOCKKIND_H
#define TT_TEST_LOCKKIND_H

void test_classify(void);

#endif
