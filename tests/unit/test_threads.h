/* SPDX-License-Identifier: GPL-2.0 */
/* test_threads.h - the tests in test_threads.c (threads told apart by tid and start). */
#ifndef TT_TEST_THREADS_H
#define TT_TEST_THREADS_H

void test_reused_tids(void);

#endif
