// SPDX-License-Identifier: GPL-2.0
/*
 * test_records.c - records that do not fit their kind are refused.
 */
#include "check.h"
#include "records.h"
#include "test_records.h"

/* Records that do not fit their kind are refused, whatever the source. */
void test_record_validation(void)
{
	struct record_buf rb = {0};
	struct tt_wait_end we = {0};
	__u8 big[sizeof(struct tt_wait_begin) + 8 * 100] = {0};
	struct tt_wait_begin *wb = (void *)big;

	we.hdr.kind = TT_REC_WAIT_END;
	we.hdr.size = sizeof(we);
	CHECK(records_append(&rb, &we, sizeof(we)) == 0);
	we.hdr.size = sizeof(we) - 8;
	CHECK(records_append(&rb, &we, sizeof(we) - 8) != 0);
	we.hdr.size = sizeof(we);
	we.hdr.kind = 99;
	CHECK(records_append(&rb, &we, sizeof(we)) != 0);
	wb->hdr.kind = TT_REC_WAIT_BEGIN;
	wb->stack.nr_user = TT_MAX_USTACK + 1;
	wb->hdr.size = sizeof(*wb) + 8 * (TT_MAX_USTACK + 1);
	CHECK(records_append(&rb, wb, wb->hdr.size) != 0);
	wb->stack.nr_user = 2;
	wb->hdr.size = sizeof(*wb) + 8 * 3; /* says 2 frames, carries 3 */
	CHECK(records_append(&rb, wb, wb->hdr.size) != 0);
	CHECK_EQ_U64(rb.count, 1);
	records_free(&rb);
}
