// SPDX-License-Identifier: GPL-2.0
/*
 * test_pyframes.c - the built-in frame walks (3.8-3.12) fit what BPF reads of a frame: it masks
 * the length and every offset with TT_PY_FRAME_BYTES - 1, so one past it would read the wrong
 * bytes without a word, and the compile-time checks cannot see a table's values.
 */
#include <linux/types.h>
#include "check.h"
#include "pyframes.h"
#include "test_pyframes.h"

/* An offset into the frame bytes BPF read: unused (< 0), or its width inside them. */
static int fits(__s64 off, unsigned width, unsigned frame_bytes)
{
	return off < 0 || off + width <= frame_bytes;
}

void test_pyframes_walks_fit_bpf(void)
{
	struct tt_py_walk w;
	unsigned nr = 0;

	for (unsigned minor = 0; minor < 100; minor++) {
		int failed = checks_failed_in_test;

		if (!pyframes_walk(minor, &w))
			continue;
		nr++;
		CHECK(w.frame_bytes > 0 && w.frame_bytes < TT_PY_FRAME_BYTES);
		CHECK(fits(w.back, 8, w.frame_bytes) && fits(w.code, 8, w.frame_bytes));
		CHECK(fits(w.instr, w.instr_is_ptr ? 8 : 4, w.frame_bytes));
		CHECK(fits(w.is_entry, 1, w.frame_bytes) && fits(w.owner, 1, w.frame_bytes));
		CHECK(fits(w.tlbc_index, 4, w.frame_bytes));
		if (checks_failed_in_test > failed)
			fprintf(stderr, "    the walk of 3.%u\n", minor);
	}
	CHECK_EQ_U64(nr, 5); /* 3.8-3.12; later versions walk from their debug offsets */
}
