// SPDX-License-Identifier: GPL-2.0
/* util.c - see util.h. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include "util.h"
#include "threadtrace.h"

static void oom(void)
{
	fprintf(stderr, "threadtrace: out of memory\n");
	exit(70);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		oom();
	return d;
}

void *xmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		oom();
	return p;
}

void xunmap(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

void grow(void **arr, size_t *cap, size_t want, size_t elem)
{
	size_t ncap;

	if (want <= *cap)
		return;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < want)
		ncap *= 2;
	*arr = xrealloc(*arr, ncap * elem);
	memset((char *)*arr + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
}

void *grow_spare(void **arr, size_t *n, size_t *cap, size_t elem)
{
	void *item;

	if (*n + 1 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		*arr = xrealloc(*arr, ncap * elem);
		*cap = ncap;
	}
	item = (char *)*arr + (*n)++ * elem;
	memset(item, 0, elem);
	return item;
}

void *grow_pow2(void **arr, size_t *n, size_t elem)
{
	void *item;

	if (!(*n & (*n - 1))) /* 0, 1, 2, 4 ...: full */
		*arr = xrealloc(*arr, (*n ? 2 * *n : 1) * elem);
	item = (char *)*arr + (*n)++ * elem;
	memset(item, 0, elem);
	return item;
}

void sort_array(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

__u64 hash_u64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

__u64 hash_bytes(const void *data, size_t len, __u64 seed)
{
	const unsigned char *p = data;
	__u64 h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return hash_u64(h);
}

void u64_map_free(struct u64_map *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}

static void u64_map_rehash(struct u64_map *m, size_t ncap)
{
	struct u64_map n = {
	    .keys = xcalloc(ncap, sizeof(__u64)),
	    .vals = xcalloc(ncap, sizeof(__u64)),
	    .used = xcalloc(ncap, 1),
	    .cap = ncap,
	};

	for (size_t i = 0; i < m->cap; i++) {
		bool found;

		if (m->used[i])
			*u64_map_upsert(&n, m->keys[i], &found) = m->vals[i];
	}
	u64_map_free(m);
	*m = n;
}

__u64 *u64_map_upsert(struct u64_map *m, __u64 key, bool *found)
{
	size_t i;

	if ((m->len + 1) * 4 >= m->cap * 3)
		u64_map_rehash(m, m->cap ? m->cap * 2 : 64);
	i = hash_u64(key) & (m->cap - 1);
	while (m->used[i]) {
		if (m->keys[i] == key) {
			*found = true;
			return &m->vals[i];
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->used[i] = 1;
	m->keys[i] = key;
	m->vals[i] = 0;
	m->len++;
	*found = false;
	return &m->vals[i];
}

__u64 *u64_map_get(const struct u64_map *m, __u64 key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = hash_u64(key) & (m->cap - 1);
	while (m->used[i]) {
		if (m->keys[i] == key)
			return &m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

const char *fmt_ns(char *buf, size_t len, __u64 ns)
{
	if (ns >= 1000000000ULL)
		snprintf(buf, len, "%.3f s", ns / 1e9);
	else if (ns >= 1000000ULL)
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	else if (ns >= 1000ULL)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	return buf;
}

const char *futex_op_name(__u32 op)
{
	static const char *const names[] = {
	    [TT_FUTEX_WAIT] = "WAIT",
	    [TT_FUTEX_WAKE] = "WAKE",
	    [2] = "FD",
	    [TT_FUTEX_REQUEUE] = "REQUEUE",
	    [TT_FUTEX_CMP_REQUEUE] = "CMP_REQUEUE",
	    [TT_FUTEX_WAKE_OP] = "WAKE_OP",
	    [TT_FUTEX_LOCK_PI] = "LOCK_PI",
	    [TT_FUTEX_UNLOCK_PI] = "UNLOCK_PI",
	    [TT_FUTEX_TRYLOCK_PI] = "TRYLOCK_PI",
	    [TT_FUTEX_WAIT_BITSET] = "WAIT_BITSET",
	    [TT_FUTEX_WAKE_BITSET] = "WAKE_BITSET",
	    [TT_FUTEX_WAIT_REQUEUE_PI] = "WAIT_REQUEUE_PI",
	    [TT_FUTEX_CMP_REQUEUE_PI] = "CMP_REQUEUE_PI",
	    [TT_FUTEX_LOCK_PI2] = "LOCK_PI2",
	};

	switch (op) {
	case TT_FUTEX2_WAITV:
		return "futex_waitv";
	case TT_FUTEX2_WAIT:
		return "futex_wait";
	case TT_FUTEX2_WAKE:
		return "futex_wake";
	case TT_FUTEX2_REQUEUE:
		return "futex_requeue";
	}
	op &= TT_FUTEX_CMD_MASK;
	if (op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	return "?";
}

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	size_t n;
	unsigned cp;

	if (!avail)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

char *text_escape(const char *s, size_t max, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (!len)
		return buf;
	for (size_t i = 0; s && i < max && p[i];) {
		size_t n = utf8_seq_len(p + i, strnlen(s + i, max - i));

		if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))
			n = 0; /* a control character: shown, never acted on */
		if (n) {
			if (o + n >= len)
				break;
			memcpy(buf + o, p + i, n);
			o += n;
			i += n;
		} else {
			if (o + 4 >= len)
				break;
			snprintf(buf + o, 5, "\\x%02x", p[i]);
			o += 4;
			i++;
		}
	}
	buf[o] = 0;
	return buf;
}

const char *tsafe_n(const char *s, size_t max)
{
	static char ring[8][1024];
	static unsigned next;

	return text_escape(s, max, ring[next++ & 7], sizeof(ring[0]));
}

const char *tsafe(const char *s)
{
	return tsafe_n(s, (size_t)-1);
}

/* Strings live in chunks that never move; an index by hash finds one already there. */
#define STR_CHUNK 65536

struct str_pool {
	char *chunk;
	size_t left;
	char **chunks;
	size_t nr_chunks, cap_chunks;
	struct u64_map by_hash; /* hash (probed on: h, h + 1 ...) -> the string */
};

const char *str_pool_add(struct str_pool **pp, const char *s)
{
	struct str_pool *p = *pp ? *pp : (*pp = xcalloc(1, sizeof(**pp)));
	size_t len = strlen(s) + 1;
	__u64 h = hash_bytes(s, len, 0), *slot;
	bool found;
	char *d;

	for (;; h++) {
		slot = u64_map_upsert(&p->by_hash, h, &found);
		if (!found)
			break;
		if (!strcmp((const char *)(uintptr_t)*slot, s))
			return (const char *)(uintptr_t)*slot;
	}
	if (len > STR_CHUNK / 4) { /* a long one gets its own chunk */
		d = xcalloc(1, len);
		*VEC_PUSH(p->chunks, p->nr_chunks, p->cap_chunks) = d;
	} else {
		if (len > p->left) {
			p->chunk = xcalloc(1, STR_CHUNK);
			p->left = STR_CHUNK;
			*VEC_PUSH(p->chunks, p->nr_chunks, p->cap_chunks) = p->chunk;
		}
		d = p->chunk + (STR_CHUNK - p->left);
		p->left -= len;
	}
	memcpy(d, s, len);
	*slot = (__u64)(uintptr_t)d;
	return d;
}

void str_pool_free(struct str_pool **pp)
{
	struct str_pool *p = *pp;

	if (!p)
		return;
	for (size_t i = 0; i < p->nr_chunks; i++)
		free(p->chunks[i]);
	free(p->chunks);
	u64_map_free(&p->by_hash);
	free(p);
	*pp = NULL;
}
