/* SPDX-License-Identifier: GPL-2.0 */
/*
 * records.h - the record stream: an append-only byte buffer of records as BPF and the collector
 * produced them, validated on the way in.
 */
#ifndef TT_RECORDS_H
#define TT_RECORDS_H

#include "util.h"
#include "threadtrace.h"

struct record_buf {
	__u8 *data;
	size_t len, cap;
	size_t count;
};

/*
 * Append one record after checking that its size fits its kind (never trust a record).
 * Returns 0 or -EINVAL for a malformed record.
 */
int records_append(struct record_buf *rb, const void *rec, size_t size);
void records_free(struct record_buf *rb);
/* Make room for bytes more of records at once (a replayed file's size is known). */
void records_reserve(struct record_buf *rb, size_t bytes);
/* Where records go one by one (a record file, the analysis): non-zero stops a reader. */
typedef int (*record_sink_fn)(void *ctx, const struct tt_rec_hdr *h, size_t size);
/* 0 if a record's size fits its kind (and its stack or frames), else -EINVAL. */
int record_check(const void *rec, size_t size);
/* Minimum size of a record of this kind, 0 for an unknown kind. */
size_t record_min_size(__u16 kind);
/* The stack that follows a record, or NULL for kinds without one. */
const struct tt_stack *record_stack(const struct tt_rec_hdr *h);

/* Why an orphaned lock's holder will never release it, from a deadlock's TT_DEADLOCK_* flags. */
const char *deadlock_orphan_reason(__u32 flags);

/* "lock", "rlock", "condition", ... for a TT_PYOBJ_* ("" unknown); JSON and text use these. */
const char *pyobj_kind_name(unsigned kind);
/* "rlock-owner", "with-block", "futex-owner", "inferred" for a TT_PYHOLD_* ("" none). */
const char *pyhold_evidence_name(unsigned evidence);

/* A --holds call that takes an rwlock (read or write, plain, try or timed). */
static inline bool lock_op_takes_rwlock(__u32 op)
{
	return op >= TT_LOP_RW_RDLOCK && op <= TT_LOP_RW_TIMEDWRLOCK;
}

#endif
