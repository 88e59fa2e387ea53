/* SPDX-License-Identifier: GPL-2.0 */
/* test_glibc.h - the tests in test_glibc.c (glibc versions and layouts), run by test_main.c. */
#ifndef TT_TEST_GLIBC_H
#define TT_TEST_GLIBC_H

void test_glibc_versions(void);

#endif
