/* SPDX-License-Identifier: GPL-2.0 */
/* test_runtime.h - the tests in test_runtime.c (Go, JVM, musl), registered by test_main.c. */
#ifndef TT_TEST_RUNTIME_H
#define TT_TEST_RUNTIME_H

void test_runtime_go(void);
void test_runtime_jvm(void);
void test_runtime_musl(void);
void test_runtime_musl_stripped(void);

#endif
