// SPDX-License-Identifier: GPL-2.0
/* protobuf.c - see protobuf.h. */
#include <stdlib.h>
#include <string.h>
#include "protobuf.h"

enum { WT_VARINT = 0, WT_LEN = 2 };

static void pb_put(struct pb *b, const void *p, size_t n)
{
	if (!n)
		return;
	grow((void **)&b->data, &b->cap, b->len + n, 1);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void pb_bytes_raw(struct pb *b, const void *data, size_t len)
{
	pb_put(b, data, len);
}

void pb_free(struct pb *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void pb_varint(struct pb *b, __u64 v)
{
	__u8 buf[10];
	size_t n = 0;

	do {
		buf[n] = v & 0x7f;
		v >>= 7;
		if (v)
			buf[n] |= 0x80;
		n++;
	} while (v);
	pb_put(b, buf, n);
}

static void pb_key(struct pb *b, __u32 field, unsigned wt)
{
	pb_varint(b, ((__u64)field << 3) | wt);
}

void pb_uint(struct pb *b, __u32 field, __u64 v)
{
	pb_key(b, field, WT_VARINT);
	pb_varint(b, v);
}

void pb_sint(struct pb *b, __u32 field, __s64 v)
{
	pb_key(b, field, WT_VARINT);
	pb_varint(b, ((__u64)v << 1) ^ (__u64)(v >> 63));
}

void pb_bytes(struct pb *b, __u32 field, const void *data, size_t len)
{
	pb_key(b, field, WT_LEN);
	pb_varint(b, len);
	pb_put(b, data, len);
}

void pb_string(struct pb *b, __u32 field, const char *s)
{
	size_t len = strlen(s) * 4 + 1;
	char *safe = xcalloc(1, len);

	/* proto3 strings must be UTF-8: a name that is not is escaped (text_escape) */
	text_escape(s, (size_t)-1, safe, len);
	pb_bytes(b, field, safe, strlen(safe));
	free(safe);
}

void pb_msg(struct pb *b, __u32 field, const struct pb *sub)
{
	pb_bytes(b, field, sub->data, sub->len);
}

void pb_packed(struct pb *b, __u32 field, const __u64 *v, size_t n)
{
	struct pb tmp = {0};

	for (size_t i = 0; i < n; i++)
		pb_varint(&tmp, v[i]);
	pb_msg(b, field, &tmp);
	pb_free(&tmp);
}
