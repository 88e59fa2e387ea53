/* SPDX-License-Identifier: GPL-2.0 */
/* test_records.h - the tests in test_records.c (record checks), registered by test_main.c. */
#ifndef TT_TEST_RECORDS_H
#define TT_TEST_RECORDS_H

void test_record_validation(void);

#endif
