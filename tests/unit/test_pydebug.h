/* SPDX-License-Identifier: GPL-2.0 */
/* test_pydebug.h - the tests in test_pydebug.c (CPython's _Py_DebugOffsets), run by test_main.c. */
#ifndef TT_TEST_PYDEBUG_H
#define TT_TEST_PYDEBUG_H

void test_pydebug_offsets(void);
void test_pystack_v1_frames(void);

#endif
