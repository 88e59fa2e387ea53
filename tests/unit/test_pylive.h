/* SPDX-License-Identifier: GPL-2.0 */
/* test_pylive.h - the tests in test_pylive.c (pylive on synthetic CPython memory). */
#ifndef TT_TEST_PYLIVE_H
#define TT_TEST_PYLIVE_H

void test_pylive_objects_312(void);
void test_pylive_objects_38(void);
void test_pylive_frames_and_garbage(void);

#endif
