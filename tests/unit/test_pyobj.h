/* SPDX-License-Identifier: GPL-2.0 */
/* test_pyobj.h - the tests in test_pyobj.c (Python objects), registered by test_main.c. */
#ifndef TT_TEST_PYOBJ_H
#define TT_TEST_PYOBJ_H

void test_pyobj_expr(void);
void test_pyobj_classify(void);
void test_pyobj_freethreaded(void);

#endif
