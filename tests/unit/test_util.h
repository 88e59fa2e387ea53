/* SPDX-License-Identifier: GPL-2.0 */
/* test_util.h - the tests in test_util.c (util.c), registered by test_main.c. */
#ifndef TT_TEST_UTIL_H
#define TT_TEST_UTIL_H

void test_text_escape(void);

#endif
