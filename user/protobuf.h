/* SPDX-License-Identifier: GPL-2.0 */
/*
 * protobuf.h - the small protobuf wire-format writer the pprof and Perfetto exporters share:
 * varints, length-delimited fields and nested messages built bottom-up.
 */
#ifndef TT_PROTOBUF_H
#define TT_PROTOBUF_H

#include "util.h"

struct pb {
	__u8 *data;
	size_t len, cap;
};

void pb_free(struct pb *b);
void pb_varint(struct pb *b, __u64 v);
/* Raw bytes, as after a fixed64 key. */
void pb_bytes_raw(struct pb *b, const void *data, size_t len);
void pb_uint(struct pb *b, __u32 field, __u64 v); /* varint field (int64, uint64, bool) */
void pb_sint(struct pb *b, __u32 field, __s64 v); /* zigzag (sint64) */
void pb_bytes(struct pb *b, __u32 field, const void *data, size_t len);
void pb_string(struct pb *b, __u32 field, const char *s);
void pb_msg(struct pb *b, __u32 field, const struct pb *sub); /* embed sub as a message */
/* Packed repeated varints. */
void pb_packed(struct pb *b, __u32 field, const __u64 *v, size_t n);

#endif
