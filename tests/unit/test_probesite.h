/* SPDX-License-Identifier: GPL-2.0 */
/* test_probesite.h - the tests in test_probesite.c (--holds probe sites),
 * registered by test_main.c. */
#ifndef TT_TEST_PROBESITE_H
#define TT_TEST_PROBESITE_H

void test_probe_sites(void);

#endif
