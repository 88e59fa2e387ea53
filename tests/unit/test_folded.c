// SPDX-License-Identifier: GPL-2.0
/*
 * test_folded.c - folded stacks of waits and their wakers.
 */
#include <string.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "folded.h"
#include "test_folded.h"

/* Folded lines: root first, the lock as a frame, "--", the waker leaf first, merged. */
void test_folded(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct analysis a;
	struct folded f;

	sample_session(&rb, &sd);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	folded_build(&f, &a, false, true, false);
	CHECK_EQ_U64(f.nr, 1);
	if (f.nr)
		CHECK(!strcmp(f.lines[0].stack,
			      "tid 1;thread_main;waiter_fn;[mutex acc_lock];--;thread_main;t2"));
	CHECK_EQ_U64(f.total, 2000);
	folded_free(&f);
	folded_build(&f, &a, true, false, false);
	CHECK_EQ_U64(f.total, 1);
	if (f.nr)
		CHECK(!strcmp(f.lines[0].stack, "tid 1;thread_main;waiter_fn;[mutex acc_lock]"));
	folded_free(&f);
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
}
