/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cfitab.h - an ELF module's call-frame information (.eh_frame, read with libdw) as the rows
 * BPF unwinds with (struct tt_cfi_row, bpf/threadtrace.h): x86_64 only.
 */
#ifndef TT_CFITAB_H
#define TT_CFITAB_H

#include <stddef.h>
#include "util.h"
#include "threadtrace.h"

struct cfi_table {
	struct tt_cfi_row *rows; /* sorted by pc; a TT_CFI_NONE row starts each gap */
	size_t n;
	size_t unsupported; /* rows of CFI the format cannot express (TT_CFI_NONE) */
	/* its executable PT_LOAD segments, to place a mapping of its code */
	struct {
		__u64 offset, vaddr, filesz;
	} segs[16];
	unsigned nr_segs;
};

/*
 * Build the rows of the ELF file at path. 0, or -errno: -ENOENT no such file, -ENODATA no
 * .eh_frame_hdr to find the FDEs by (the caller walks frame pointers there instead).
 */
int cfitab_build(const char *path, struct cfi_table *t);
void cfitab_free(struct cfi_table *t);
/*
 * The load bias (runtime address - ELF address) of an executable mapping of the file at start
 * with file offset pgoff. 0, or -ENOENT when no executable segment holds that offset.
 */
int cfitab_bias(const struct cfi_table *t, __u64 start, __u64 pgoff, __u64 *bias);
/* The row that covers pc (ELF address), or NULL. */
const struct tt_cfi_row *cfitab_find(const struct cfi_table *t, __u64 pc);

#endif
