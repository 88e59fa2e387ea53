// SPDX-License-Identifier: GPL-2.0
/*
 * test_recfile_cut.c - a record file whose writer died is read up to its last whole chunk of
 * records, and every frame and lock those records need is named: the names go into the file as
 * the session learns them, before the chunk that needs them.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "stream.h"
#include "recfile.h"
#include "test_recfile_cut.h"

#define NR_WAITS   40000
#define SEC_RCHUNK 8 /* recfile.c's section type of a chunk of records */

/* Every record's frames and futex word are named in sd; returns the records seen. */
static size_t check_named(const struct record_buf *rb, const struct symdata *sd)
{
	size_t n = 0, unnamed = 0;

	for (size_t off = 0; off < rb->len; n++) {
		const struct tt_rec_hdr *h = (const void *)(rb->data + off);
		const struct tt_wait_begin *wb = (const void *)h;

		if (h->kind == TT_REC_WAIT_BEGIN) {
			unnamed += !symdata_lock(sd, wb->uaddr);
			for (unsigned i = 0; i < wb->stack.nr_user; i++)
				unnamed += !symdata_frame(sd, wb->stack.ips[i]);
		}
		off += h->size;
	}
	CHECK_EQ_U64(unnamed, 0);
	return n;
}

void test_recfile_cut_keeps_names(void)
{
	struct rec_info info = {.host = "h", .kernel = "k", .cmdline = "app"}, info2;
	char path[] = "/tmp/tt-unit-XXXXXX", why[256];
	struct symdata sd = {0};
	struct recfile_writer *w;
	unsigned cuts = 0;
	size_t len = 0;
	__u8 *data;
	FILE *f;

	close(mkstemp(path));
	w = recfile_writer_open(path, &info, &sd);
	CHECK(w != NULL);
	if (!w)
		return;
	for (unsigned i = 0; i < NR_WAITS + 2; i++) {
		struct record_buf one = {0};
		__u64 ip = 0x400000 + (__u64)i * 16, lock = 0x10000 + (__u64)(i % 1000) * 64;

		if (i == 0)
			s_session(&one, 0);
		else if (i == NR_WAITS + 1)
			s_end(&one, (__u64)i * 1000);
		else
			s_wait_begin(&one, (__u64)i * 1000, 1, lock, TT_FUTEX_WAIT, 2, &ip, 1);
		CHECK(recfile_writer_add(w, one.data, one.len) == 0);
		/* named after it came, as the collector names a lock: before the next record */
		if (i && i <= NR_WAITS) {
			char name[32];

			snprintf(name, sizeof(name), "f%u", i);
			symdata_add_frame(&sd, ip, name, name);
			symdata_add_lock(&sd, lock);
		}
		records_free(&one);
	}
	CHECK(recfile_writer_close(w) == 0);

	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		goto out;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	data = malloc(len);
	CHECK(fread(data, 1, len, f) == len);
	fclose(f);
	/* cut after each chunk of records: read, each record named */
	for (size_t off = 16; off + 16 <= len;) {
		__u32 type;
		__u64 slen;

		memcpy(&type, data + off, 4);
		memcpy(&slen, data + off + 8, 8);
		off += 16 + slen + (8 - slen % 8) % 8;
		if (type == SEC_RCHUNK && off < len) {
			struct record_buf rb = {0};
			struct symdata got = {0};

			CHECK(recfile_parse(data, off, &info2, &rb, &got, why, sizeof(why)) == 0);
			CHECK(why[0] != 0); /* says it is cut */
			CHECK(check_named(&rb, &got) > 0);
			cuts++;
			records_free(&rb);
			symdata_free(&got);
		}
	}
	CHECK(cuts >= 2); /* more than a MiB of records: several chunks */
	free(data);
out:
	symdata_free(&sd);
	unlink(path);
}
