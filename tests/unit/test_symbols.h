/* SPDX-License-Identifier: GPL-2.0 */
/* test_symbols.h - the tests in test_symbols.c, registered by test_main.c. */
#ifndef TT_TEST_SYMBOLS_H
#define TT_TEST_SYMBOLS_H

void test_debug_file_in_root(void);
void test_rust_demangle(void);
void test_symbolize_self(void);
void test_jit_perf_map(void);

#endif
