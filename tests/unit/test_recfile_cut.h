/* SPDX-License-Identifier: GPL-2.0 */
/* test_recfile_cut.h - the tests in test_recfile_cut.c (record files cut at a chunk). */
#ifndef TT_TEST_RECFILE_CUT_H
#define TT_TEST_RECFILE_CUT_H

void test_recfile_cut_keeps_names(void);

#endif
