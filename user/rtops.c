// SPDX-License-Identifier: GPL-2.0
/* rtops.c - see rtops.h: the table of runtimes. Another runtime is one file and one row here. */
#include <time.h>
#include "rtops.h"

const struct rt_ops *const rt_table[] = {
    &rt_cpython,
    &rt_native,
    NULL,
};
_Static_assert(sizeof(rt_table) / sizeof(rt_table[0]) <= RT_TABLE_MAX + 1,
	       "rt_table has more runtimes than the collector keeps");

__u64 rt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}
