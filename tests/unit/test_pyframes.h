/* SPDX-License-Identifier: GPL-2.0 */
/* test_pyframes.h - the tests in test_pyframes.c (frame walks), registered by test_main.c. */
#ifndef TT_TEST_PYFRAMES_H
#define TT_TEST_PYFRAMES_H

void test_pyframes_walks_fit_bpf(void);

#endif
