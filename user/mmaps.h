/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmaps.h - the memory mappings a started COMMAND makes, as the kernel records them (perf
 * PERF_RECORD_MMAP2 on a dummy event per CPU, inherited by its threads). A command that runs
 * for milliseconds is gone before /proc/PID/maps can be read; these records are not.
 */
#ifndef TT_MMAPS_H
#define TT_MMAPS_H

#include <sys/types.h>
#include "util.h"

struct mmap_watch;

typedef void (*mmap_cb)(void *ctx, __u64 start, __u64 len, __u64 pgoff, const char *path);

/* Watch pid (not yet exec'd) and the threads it will create. NULL with errno on failure. */
struct mmap_watch *mmap_watch_open(pid_t pid);
/* Hand every mapping recorded since the last call to cb. */
void mmap_watch_drain(struct mmap_watch *w, mmap_cb cb, void *ctx);
/* Mappings lost because a buffer was full. */
__u64 mmap_watch_lost(const struct mmap_watch *w);
void mmap_watch_close(struct mmap_watch *w);

#endif
