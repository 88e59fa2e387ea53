/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ustack.h - the tables BPF unwinds the target's user stacks with: each executable module's CFI
 * rows (cfitab) in the cfi_rows map, the target's executable mappings in unwind_maps. Kept up
 * to date with the target's /proc/PID/maps; the BPF side sees a whole table or the old one.
 */
#ifndef TT_USTACK_H
#define TT_USTACK_H

#include <sys/types.h>
#include "util.h"
#include "threadtrace.h"

struct ustack_tables;

/* Where the BPF object keeps the tables (bpf/unwind.bpf.h). */
struct ustack_maps {
	int rows_fd;		 /* cfi_rows: an mmapable array of struct tt_cfi_row */
	size_t max_rows;	 /* its max_entries */
	int maps_fd;		 /* unwind_maps: 2 * TT_UNWIND_MAX_MAPS struct tt_unwind_map */
	volatile __u32 *table;	 /* which half of unwind_maps is current */
	volatile __u32 *nr_maps; /* [2]: mappings in each half */
};

struct ustack_tables *ustack_tables_new(pid_t pid);
void ustack_tables_free(struct ustack_tables *u);
/* Build the rows of the modules pid maps now (before load: they size cfi_rows). 0 or -errno. */
int ustack_tables_prepare(struct ustack_tables *u);
/* Rows built and not yet loaded. */
size_t ustack_tables_rows(const struct ustack_tables *u);
/* Use the loaded object's maps (mmapped here). 0 or -errno. */
int ustack_tables_bind(struct ustack_tables *u, const struct ustack_maps *m);
/*
 * Read pid's maps again and publish them, building and loading the rows of modules not seen
 * before. 0 or -errno (the process is gone: the tables stay as they were).
 */
int ustack_tables_sync(struct ustack_tables *u);

struct ustack_stats {
	unsigned modules;    /* executable modules with CFI rows */
	unsigned fp_modules; /* executable mappings walked with frame pointers (no CFI) */
	size_t rows;	     /* rows loaded */
	size_t unsupported;  /* CFI rows that say something the walk cannot follow */
	unsigned full;	     /* modules left out: cfi_rows was full */
	unsigned syncs;	     /* times the mappings were published */
};

void ustack_tables_stats(const struct ustack_tables *u, struct ustack_stats *st);

#endif
