/* SPDX-License-Identifier: GPL-2.0 */
/* test_cfitab.h - the tests in test_cfitab.c, registered by test_main.c. */
#ifndef TT_TEST_CFITAB_H
#define TT_TEST_CFITAB_H

void test_cfitab(void);

#endif
