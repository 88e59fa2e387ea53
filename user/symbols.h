/* SPDX-License-Identifier: GPL-2.0 */
/*
 * symbols.h - live symbolization of one target process: its maps, ELF symbol tables (with
 * debug files from its root, then ours) and /proc/kallsyms. Results go into a struct symdata.
 */
#ifndef TT_SYMBOLS_H
#define TT_SYMBOLS_H

#include <sys/types.h>
#include "symdata.h"
#include "threadtrace.h"

struct symbolizer;

/* pid's maps are read at once unless it is a COMMAND not yet exec'd (read_maps false). */
struct symbolizer *symbolizer_new(pid_t pid, bool read_maps);
/*
 * Files under root (a directory standing for a process's "/") and no process: mappings come
 * from symbolizer_add_mapping. For tests of what symbolizer_new finds under /proc/PID/root.
 */
struct symbolizer *symbolizer_new_root(const char *root);
void symbolizer_free(struct symbolizer *s);
/* Re-read the target's maps, keeping mappings that vanished (for late resolution). */
void symbolizer_refresh_maps(struct symbolizer *s);
/* A mapping learned elsewhere (perf mmap records): it replaces what overlaps it. */
void symbolizer_add_mapping(struct symbolizer *s, __u64 start, __u64 end, __u64 pgoff,
			    const char *path);
/* A symbol's name as shown: C++ and Rust (v0, legacy) names demangled. Returns malloc'd. */
char *symbol_display_name(const char *name);
/* Called before an unknown address makes the symbolizer re-read /proc/PID/maps. */
void symbolizer_set_refresh_hook(struct symbolizer *s, void (*hook)(void *), void *ctx);
/* Resolve every address of st not yet in sd. */
void symbolizer_note_stack(struct symbolizer *s, struct symdata *sd, const struct tt_stack *st);
/*
 * Load now the tables the first stacks need: the symbols, separate debug file and address
 * index of the program's image, libc and libpython among the mappings known (a COMMAND held
 * at its entry point). Their first lookup would otherwise hold the reading of records up
 * 0.15-0.6 s early in the trace.
 */
void symbolizer_preload(struct symbolizer *s);
/* Name addr as a data object and keep the memory around it, once per address. */
void symbolizer_note_lock(struct symbolizer *s, struct symdata *sd, __u64 addr);

/* Whether addr lies in a known mapping, after refreshing them if it does not. */
bool symbolizer_has_mapping(struct symbolizer *s, __u64 addr);
/* Counts changes to the known mappings: an unwinder rebuilds its module list when it moves. */
unsigned symbolizer_generation(const struct symbolizer *s);
/*
 * Call cb once per mapped ELF file with the path to open it by (map_files while the process
 * lives), its display path and its load bias (runtime address minus ELF address).
 */
void symbolizer_for_each_module(struct symbolizer *s,
				void (*cb)(void *ctx, const char *open_path, const char *path,
					   __u64 bias),
				void *ctx);

#endif
