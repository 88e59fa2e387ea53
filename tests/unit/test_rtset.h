/* SPDX-License-Identifier: GPL-2.0 */
/* test_rtset.h - the tests in test_rtset.c (rtset.c), registered by test_main.c. */
#ifndef TT_TEST_RTSET_H
#define TT_TEST_RTSET_H

void test_runtime_seam(void);

#endif
