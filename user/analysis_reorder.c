// SPDX-License-Identifier: GPL-2.0
/*
 * analysis_reorder.c - the analysis' reorder window: records arrive nearly in timestamp order
 * (one ring buffer; a record's timestamp is taken just before it is reserved; the collector's
 * unwound stacks follow their record) and leave it in timestamp order, companions (unwound and
 * Python stacks) first among equal timestamps. Knows records by their header only.
 */
#include <string.h>
#include "analysis_int.h"

/* A window of REORDER_NS keeps the disorder in, and at most REORDER_BYTES of records. */
#define REORDER_NS    100000000ULL
#define REORDER_BYTES (16u << 20)

static bool pending_before(const struct reorder_slot *a, const struct reorder_slot *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

/* Replay the oldest pending record. */
static void release_one(struct reorder *r, reorder_emit_fn *emit, void *ctx)
{
	const struct reorder_slot *p = &r->q[r->head++];
	const struct tt_rec_hdr *h = (const void *)(r->buf + p->off);

	r->released = true;
	r->released_ts = p->ts;
	r->live -= (h->size + 7) & ~7u;
	emit(ctx, h);
	if (r->head == r->n)
		r->head = r->n = r->len = 0;
}

/* Room for want bytes, not zeroed: every byte up to len is written before it is read. */
static void room(__u8 **buf, size_t *cap, size_t want)
{
	if (want <= *cap)
		return;
	*cap = want > 2 * *cap ? want : 2 * *cap;
	*buf = xrealloc(*buf, *cap);
}

/* Copy the pending records to the other buffer, in order, leaving the released ones behind. */
static void compact(struct reorder *r)
{
	__u8 *nb;
	size_t len = 0;

	room(&r->spare, &r->cap_spare, r->live);
	nb = r->spare;

	for (size_t i = r->head; i < r->n; i++) {
		const struct tt_rec_hdr *h = (const void *)(r->buf + r->q[i].off);
		size_t sz = (h->size + 7) & ~7u;

		memcpy(nb + len, h, h->size);
		r->q[i - r->head] = r->q[i];
		r->q[i - r->head].off = len;
		len += sz;
	}
	r->n -= r->head;
	r->head = 0;
	r->spare = r->buf;
	r->buf = nb;
	r->len = len;
	{
		size_t c = r->cap;

		r->cap = r->cap_spare;
		r->cap_spare = c;
	}
}

bool reorder_add(struct reorder *r, const struct tt_rec_hdr *h, bool companion, bool moves_window,
		 reorder_emit_fn *emit, void *ctx)
{
	struct reorder_slot p;
	size_t i, sz;

	if (r->released && h->ts < r->released_ts)
		return false;
	sz = (h->size + 7) & ~7u;
	room(&r->buf, &r->cap, r->len + sz);
	memcpy(r->buf + r->len, h, h->size);
	p.ts = h->ts;
	p.seq = r->seq++ | (__u64)!companion << 63;
	p.off = r->len;
	r->len += sz;
	r->live += sz;
	/* they arrive nearly in order: mostly appended, else placed by a binary search */
	grow((void **)&r->q, &r->cap_q, r->n + 1, sizeof(*r->q));
	i = r->n;
	if (i > r->head && pending_before(&p, &r->q[i - 1])) {
		size_t lo = r->head, hi = r->n - 1;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (pending_before(&p, &r->q[mid]))
				hi = mid;
			else
				lo = mid + 1;
		}
		i = lo;
	}
	if (i < r->n)
		memmove(&r->q[i + 1], &r->q[i], (r->n - i) * sizeof(*r->q));
	r->q[i] = p;
	r->n++;
	if (moves_window && h->ts > r->max_ts)
		r->max_ts = h->ts;
	while (r->head < r->n &&
	       (r->q[r->head].ts + REORDER_NS <= r->max_ts || r->live > REORDER_BYTES))
		release_one(r, emit, ctx);
	if (r->head > 4096 && r->len > 2 * r->live + (1u << 20))
		compact(r);
	return true;
}

void reorder_drain(struct reorder *r, reorder_emit_fn *emit, void *ctx)
{
	while (r->head < r->n)
		release_one(r, emit, ctx);
}

void reorder_free(struct reorder *r)
{
	free(r->buf);
	free(r->spare);
	free(r->q);
	memset(r, 0, sizeof(*r));
}
