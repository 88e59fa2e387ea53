/* SPDX-License-Identifier: GPL-2.0 */
/*
 * util.h - small containers shared by every module: growable arrays, a u64-keyed hash table,
 * checked allocation and time formatting.
 */
#ifndef TT_UTIL_H
#define TT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
/*
 * Zeroed pages of their own, given back to the kernel by xunmap: a block freed while the
 * process still grows (malloc keeps freed blocks of its heap for itself).
 */
void *xmap(size_t len);
void xunmap(void *p, size_t len);

/* Grow *arr (of elem-sized items, capacity *cap) to hold at least want items. */
void grow(void **arr, size_t *cap, size_t want, size_t elem);
#define VEC_PUSH(arr, n, cap)                                                                      \
	(grow((void **)&(arr), &(cap), (n) + 1, sizeof(*(arr))), &(arr)[(n)++])
/*
 * The same for a vector that may grow large (one item per lock): only the item pushed is
 * zeroed, so the capacity not yet used is never touched (pages the kernel has not given).
 */
void *grow_spare(void **arr, size_t *n, size_t *cap, size_t elem);
#define VEC_PUSH_SPARE(arr, n, cap)                                                                \
	((__typeof__(&(arr)[0]))grow_spare((void **)&(arr), &(n), &(cap), sizeof(*(arr))))
/*
 * The same for the many small vectors one per lock keeps: room for 1, 2, 4 ... items, the
 * capacity implied by n (none kept); only the item pushed is zeroed.
 */
void *grow_pow2(void **arr, size_t *n, size_t elem);
#define VEC_PUSH_POW2(arr, n)                                                                      \
	((__typeof__(&(arr)[0]))grow_pow2((void **)&(arr), &(n), sizeof(*(arr))))

/* Open-addressing hash from a non-zero-hashed u64 key to a u64 value (often an index). */
struct u64_map {
	__u64 *keys;
	__u64 *vals;
	__u8 *used;
	size_t cap, len;
};

void u64_map_free(struct u64_map *m);
/* Returns a pointer to the value slot; *found says whether it existed (else it is zeroed). */
__u64 *u64_map_upsert(struct u64_map *m, __u64 key, bool *found);
__u64 *u64_map_get(const struct u64_map *m, __u64 key);

/*
 * Interned strings: one copy of each, alive until str_pool_free. The pool is made by its first
 * add (*pp NULL before). Names that many locks share ("[heap]", a module) cost one copy.
 */
struct str_pool;
const char *str_pool_add(struct str_pool **pp, const char *s);
void str_pool_free(struct str_pool **pp);

/* qsort that accepts an empty (NULL) array. */
void sort_array(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

__u64 hash_bytes(const void *data, size_t len, __u64 seed);
__u64 hash_u64(__u64 x);

/* "1.234 s", "12.3 ms", "45.6 us", "789 ns" into buf. */
const char *fmt_ns(char *buf, size_t len, __u64 ns);
/* The string form of a futex op word, e.g. "WAIT_BITSET|PRIVATE". */
const char *futex_op_name(__u32 op);

/* The length of the valid UTF-8 character at s (1 to 4 bytes), 0 where none starts. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);
/*
 * s (at most max bytes) as text a terminal or a viewer can show without acting on it: valid
 * UTF-8 kept, control characters and bytes that are no UTF-8 written as \xNN. Cut at a
 * character when buf is full; always terminated. Names from a traced process or a record file
 * are untrusted: every text output passes them through this.
 */
char *text_escape(const char *s, size_t max, char *buf, size_t len);
/* The same into one of 8 rotating static buffers (1 KiB): printf arguments of a report. */
const char *tsafe(const char *s);
const char *tsafe_n(const char *s, size_t max);

#endif
