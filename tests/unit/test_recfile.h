/* SPDX-License-Identifier: GPL-2.0 */
/* test_recfile.h - the tests in test_recfile.c (record files), registered by test_main.c. */
#ifndef TT_TEST_RECFILE_H
#define TT_TEST_RECFILE_H

void test_recfile_roundtrip(void);
void test_recfile_streamed(void);
void test_recfile_damage(void);

#endif
