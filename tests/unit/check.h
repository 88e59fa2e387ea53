/* SPDX-License-Identifier: GPL-2.0 */
/* check.h - the unit tests' tiny harness: CHECK counts, run_all prints "N passed, N failed". */
#ifndef TT_CHECK_H
#define TT_CHECK_H

#include <stdio.h>

extern int checks_failed_in_test;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			checks_failed_in_test++;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
	do {                                                                                       \
		unsigned long long _a = (a), _b = (b);                                             \
		if (_a != _b) {                                                                    \
			fprintf(stderr, "    %s:%d: %s == %llu, expected %s == %llu\n", __FILE__,  \
				__LINE__, #a, _a, #b, _b);                                         \
			checks_failed_in_test++;                                                   \
		}                                                                                  \
	} while (0)

struct unit_test {
	const char *name;
	void (*fn)(void);
};

#endif
