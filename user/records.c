// SPDX-License-Identifier: GPL-2.0
/* records.c - see records.h. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "records.h"

/* Record layouts are checked in threadtrace.h, on the BPF side too. */

size_t record_min_size(__u16 kind)
{
	switch (kind) {
	case TT_REC_WAIT_BEGIN:
		return sizeof(struct tt_wait_begin);
	case TT_REC_WAIT_END:
		return sizeof(struct tt_wait_end);
	case TT_REC_WAKE_OP:
		return sizeof(struct tt_wake_op);
	case TT_REC_WAKING:
		return sizeof(struct tt_waking);
	case TT_REC_SWITCH:
		return sizeof(struct tt_switch);
	case TT_REC_SWITCH_KSTAT:
		return sizeof(struct tt_switch_kstat);
	case TT_REC_GIL:
		return sizeof(struct tt_gil);
	case TT_REC_PYTHON:
		return sizeof(struct tt_python);
	case TT_REC_PYSTACK:
		return sizeof(struct tt_pystack);
	case TT_REC_PARK_KEY:
		return sizeof(struct tt_park_key);
	case TT_REC_RUNTIME:
		return sizeof(struct tt_runtime);
	case TT_REC_NEW_THREAD:
		return sizeof(struct tt_new_thread);
	case TT_REC_EXIT:
		return sizeof(struct tt_exit);
	case TT_REC_SESSION:
		return sizeof(struct tt_session);
	case TT_REC_THREAD_INFO:
		return sizeof(struct tt_thread_info);
	case TT_REC_SESSION_END:
		return sizeof(struct tt_session_end);
	case TT_REC_USTACK_SNAPSHOT:
		return sizeof(struct tt_ustack_snapshot);
	case TT_REC_UNWOUND:
		return sizeof(struct tt_unwound);
	case TT_REC_DEADLOCK:
		return sizeof(struct tt_deadlock);
	case TT_REC_LOCK_CALL:
		return sizeof(struct tt_lock_call);
	case TT_REC_LIBC:
		return sizeof(struct tt_libc);
	case TT_REC_PYWAIT:
		return sizeof(struct tt_pywait);
	case TT_REC_PY_THREAD_NAME:
		return sizeof(struct tt_py_thread_name);
	case TT_REC_PY_OBJTYPE:
		return sizeof(struct tt_py_objtype);
	}
	return 0;
}

const struct tt_stack *record_stack(const struct tt_rec_hdr *h)
{
	switch (h->kind) {
	case TT_REC_WAIT_BEGIN:
		return &((const struct tt_wait_begin *)h)->stack;
	case TT_REC_WAKING:
		return &((const struct tt_waking *)h)->stack;
	case TT_REC_UNWOUND:
		return &((const struct tt_unwound *)h)->stack;
	case TT_REC_LOCK_CALL:
		return &((const struct tt_lock_call *)h)->stack;
	case TT_REC_GIL:
		return &((const struct tt_gil *)h)->stack;
	}
	return NULL;
}

int record_check(const void *rec, size_t size)
{
	const struct tt_rec_hdr *h = rec;
	const struct tt_stack *st;
	size_t min;

	if (size < sizeof(*h) || h->size != size || size % 8)
		return -EINVAL;
	min = record_min_size(h->kind);
	if (!min || size < min)
		return -EINVAL;
	if (h->kind == TT_REC_USTACK_SNAPSHOT) {
		const struct tt_ustack_snapshot *s = rec;

		/* the ring buffer pads records to 8 bytes */
		return s->size <= TT_MAX_SNAPSHOT && s->size <= s->wanted &&
			       (size - min) - s->size < 8 && size >= min + s->size
			   ? 0
			   : -EINVAL;
	}
	if (h->kind == TT_REC_DEADLOCK) {
		const struct tt_deadlock *dl = rec;

		__u32 f = dl->flags & ~TT_DEADLOCK_PYTHON;

		/* one thread: a self-deadlock or an orphaned lock; an orphan is always alone */
		if (dl->nr < 1 || dl->nr > TT_MAX_CYCLE || (dl->flags & ~TT_DEADLOCK_FLAGS) ||
		    ((f & TT_DEADLOCK_ORPHANED) && dl->nr != 1) ||
		    (f && !(f & TT_DEADLOCK_ORPHANED)))
			return -EINVAL;
	}
	if (h->kind == TT_REC_PYSTACK) {
		const struct tt_pystack *p = rec;

		/* frames of 16 bytes in files from before local0 (the reader widens them) */
		return p->nr <= TT_PY_MAX_FRAMES &&
			       (size == min + (size_t)p->nr * sizeof(struct tt_pyframe) ||
				size == min + (size_t)p->nr * TT_PYFRAME_V1_SIZE)
			   ? 0
			   : -EINVAL;
	}
	st = record_stack(h);
	if (st) {
		if (st->nr_user > TT_MAX_USTACK || st->nr_kernel > TT_MAX_KSTACK)
			return -EINVAL;
		if (size != min + (size_t)(st->nr_user + st->nr_kernel) * 8)
			return -EINVAL;
	} else if (size != min) {
		return -EINVAL;
	}
	return 0;
}

const char *deadlock_orphan_reason(__u32 flags)
{
	if (flags & TT_DEADLOCK_SHARED)
		return "no longer exists: its process died holding this process-shared lock";
	if (flags & TT_DEADLOCK_ELSEWHERE)
		return "is not a thread of this process but of another: the lock was held when "
		       "this process was forked";
	return "no longer exists: it exited holding the lock";
}

void records_reserve(struct record_buf *rb, size_t bytes)
{
	if (rb->len + bytes <= rb->cap)
		return;
	/* no zeroing: every byte up to len is written by an append */
	rb->data = xrealloc(rb->data, rb->len + bytes);
	rb->cap = rb->len + bytes;
}

int records_append(struct record_buf *rb, const void *rec, size_t size)
{
	if (record_check(rec, size))
		return -EINVAL;
	if (rb->len + size > rb->cap)
		records_reserve(rb, rb->cap > size ? rb->cap : size); /* doubling */
	memcpy(rb->data + rb->len, rec, size);
	rb->len += size;
	rb->count++;
	return 0;
}

void records_free(struct record_buf *rb)
{
	free(rb->data);
	memset(rb, 0, sizeof(*rb));
}

const char *pyobj_kind_name(unsigned kind)
{
	static const char *const names[] = {"",	     "lock",	   "rlock",   "condition",
					    "event", "semaphore",  "barrier", "join",
					    "queue", "object-lock"};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "";
}

const char *pyhold_evidence_name(unsigned evidence)
{
	static const char *const names[] = {"", "rlock-owner", "with-block", "futex-owner",
					    "inferred"};

	return evidence < sizeof(names) / sizeof(names[0]) ? names[evidence] : "";
}
