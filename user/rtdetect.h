/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rtdetect.h - which runtime a target runs on (musl, Go, a JVM), from its executable's ELF and
 * the modules it maps; the collector writes each as a TT_REC_RUNTIME record.
 */
#ifndef TT_RTDETECT_H
#define TT_RTDETECT_H

#include <stdbool.h>
#include "procfs.h"

#define RT_MAX 3 /* one record per enum tt_runtime_kind */

struct rt_found {
	struct tt_runtime rec[RT_MAX]; /* header kind/size set; ts/pid/tid left to the caller */
	unsigned n;
	unsigned seen;	    /* bit per enum tt_runtime_kind already found */
	char exe_seen[256]; /* the executable rtdetect_maps last looked into */
};

/*
 * Look at an executable (shown as `shown` in the record): Go (a .go.buildinfo section or a
 * runtime.main symbol), musl (an ld-musl interpreter, or linked in statically: musl's own
 * internal functions in the symbol table). Adds what is new to f. Returns how many were added.
 */
int rtdetect_exe(const char *path, const char *shown, struct rt_found *f);
/* Look at a process's mappings: libjvm.so, musl's dynamic loader/libc. pid's root prefixes
 * the paths that are opened. Returns how many were added. */
int rtdetect_maps(pid_t pid, const struct proc_maps *maps, struct rt_found *f);
/* Is the target known to use musl (then --holds is refused)? */
bool rtdetect_has(const struct rt_found *f, enum tt_runtime_kind k);

#endif
