/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libcver.h - which glibc a file is: the version its gnu_get_libc_version() returns and its
 * build banner, read from the file itself (not from the host: a target in a root maps its own).
 */
#ifndef TT_LIBCVER_H
#define TT_LIBCVER_H

#include <linux/types.h>
#include "threadtrace.h"

/*
 * Fill lc's flags, major, minor, version and build from the ELF file at path (a glibc
 * libc.so.6 or a static program). 0, -ENOENT when it is no glibc (no gnu_get_libc_version),
 * -ENOEXEC when it is not a readable ELF file.
 */
int libcver_read(const char *path, struct tt_libc *lc);

/* Parse "2.41" into major 2, minor 41. 0 or -EINVAL. */
int libcver_parse(const char *version, __u16 *major, __u16 *minor);

#endif
