/* SPDX-License-Identifier: GPL-2.0 */
/*
 * symdata.h - the symbol data captured with a trace: frame names by address, lock names and the
 * memory around each futex word. The analysis and reports read only this, never /proc.
 */
#ifndef TT_SYMDATA_H
#define TT_SYMDATA_H

#include "util.h"

/* Bytes kept around a futex word: enough for any glibc object that contains it. */
#define TT_MEMWIN_BEFORE 48
#define TT_MEMWIN_LEN	 112

/* A function inlined at an address: its name and where (innermost first). */
struct sym_inline {
	char *name; /* "helper (module) file.c:40" */
	char *func; /* "helper" */
};

struct sym_frame {
	__u64 ip;
	char *name; /* "func+0x12 (module) file.c:88", "module+0x1234" or "[unknown] 0x..." */
	char *func; /* the bare function name, NULL when none is known */
	struct sym_inline *inlined; /* frames inlined into func at ip, innermost first */
	size_t nr_inlined;
	char *src; /* a Python frame: its source line, trimmed ("with ledger_lock:"); NULL */
};

struct sym_lock {
	__u64 addr;
	char *name;	/* data symbol containing the word ("acc_lock"), NULL when none */
	__u64 name_off; /* offset of the word in that symbol */
	/* module and location are shared by many locks: interned (symdata_str) */
	const char *module;   /* file the word lies in, NULL for heap, stack, anonymous memory */
	__u64 module_off;     /* ELF virtual address of the word in module */
	const char *location; /* "[heap]", "[stack]", "[anon]" when module is NULL */
	bool mem_ok;	      /* mem holds the bytes [addr - TT_MEMWIN_BEFORE, + TT_MEMWIN_LEN) */
	__u8 mem[TT_MEMWIN_LEN];
};

/* A file mapping that frames were resolved in (for pprof's mappings). */
struct sym_module {
	__u64 start, end, pgoff;
	char *path;
	char *build_id; /* hex, "" when the file has none */
};

struct symdata {
	struct sym_module *modules; /* sorted by start once symdata_sort_modules ran */
	size_t nr_modules, cap_modules;
	struct sym_frame *frames;
	size_t nr_frames, cap_frames;
	struct u64_map frame_by_ip; /* ip -> index + 1 */
	struct sym_lock *locks;
	size_t nr_locks, cap_locks;
	struct u64_map lock_by_addr; /* addr -> index + 1 */
	struct str_pool *strs;
};

void symdata_free(struct symdata *sd);
const struct sym_frame *symdata_frame(const struct symdata *sd, __u64 ip);
void symdata_add_frame(struct symdata *sd, __u64 ip, const char *name, const char *func);
/* Add an inlined frame (innermost first) to the frame of ip, which must exist. */
void symdata_add_inline(struct symdata *sd, __u64 ip, const char *name, const char *func);
/* Set the source line of the (Python) frame of ip, which must exist; once. */
void symdata_set_src(struct symdata *sd, __u64 ip, const char *src);
const struct sym_lock *symdata_lock(const struct symdata *sd, __u64 addr);
struct sym_lock *symdata_add_lock(struct symdata *sd, __u64 addr);
/* s kept once for the life of sd (a lock's module or location). */
const char *symdata_str(struct symdata *sd, const char *s);
/* Add a mapping unless one starts at the same address. */
void symdata_add_module(struct symdata *sd, __u64 start, __u64 end, __u64 pgoff, const char *path,
			const char *build_id);
/* The mapping that contains addr, or NULL. */
const struct sym_module *symdata_module(const struct symdata *sd, __u64 addr);

#endif
