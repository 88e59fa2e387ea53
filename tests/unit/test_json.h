/* SPDX-License-Identifier: GPL-2.0 */
/* test_json.h - the tests in test_json.c (the JSON writer and summary),
 * registered by test_main.c. */
#ifndef TT_TEST_JSON_H
#define TT_TEST_JSON_H

void test_json_escaping(void);
void test_json_summary(void);

#endif
