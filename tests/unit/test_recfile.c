// SPDX-License-Identifier: GPL-2.0
/*
 * test_recfile.c - record files: written and read back whole or streamed to the same
 * records, and truncated, damaged, foreign or newer files refused with one clear reason.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "json.h"
#include "recfile.h"
#include "test_recfile.h"

static __u8 *file_bytes(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	__u8 *d = malloc(1 << 20);

	*len = f ? fread(d, 1, 1 << 20, f) : 0;
	if (f)
		fclose(f);
	return d;
}

static size_t parsed_records; /* records the last parse_bytes read */

static int parse_bytes(const __u8 *d, size_t len, char *why, size_t wl)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct rec_info info;
	int err = recfile_parse(d, len, &info, &rb, &sd, why, wl);

	parsed_records = rb.count;
	records_free(&rb);
	symdata_free(&sd);
	return err;
}

/* A record file reads back to the same records and symbols, hence the same outputs. */
void test_recfile_roundtrip(void)
{
	struct record_buf rb = {0}, rb2 = {0};
	struct symdata sd = {0}, sd2 = {0};
	struct rec_info info = {.host = "h", .kernel = "k", .cmdline = "app --x"}, info2;
	char path[] = "/tmp/tt-unit-XXXXXX";
	struct analysis a1, a2;
	char *j1 = NULL, *j2 = NULL;
	size_t l1 = 0, l2 = 0;
	FILE *f;
	int fd = mkstemp(path);
	struct stat st;

	close(fd);
	sample_session(&rb, &sd);
	CHECK(recfile_write(path, &info, &rb, &sd) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(recfile_read(path, &info2, &rb2, &sd2) == 0);
	CHECK(!strcmp(info2.cmdline, "app --x") && !strcmp(info2.host, "h"));
	CHECK_EQ_U64(rb2.count, rb.count);
	CHECK(rb2.len == rb.len && !memcmp(rb2.data, rb.data, rb.len));
	CHECK(analysis_run(&rb, &sd, &a1) == 0 && analysis_run(&rb2, &sd2, &a2) == 0);
	f = open_memstream(&j1, &l1);
	json_summary(f, &a1);
	fclose(f);
	f = open_memstream(&j2, &l2);
	json_summary(f, &a2);
	fclose(f);
	CHECK(l1 == l2 && !memcmp(j1, j2, l1));
	CHECK(strstr(j2, "\"name\":\"acc_lock\"") && strstr(j2, "waiter_fn+0x10 (app)"));
	free(j1);
	free(j2);
	analysis_free(&a1);
	analysis_free(&a2);
	records_free(&rb);
	records_free(&rb2);
	symdata_free(&sd);
	symdata_free(&sd2);
	unlink(path);
}

/* Written as records come, the file is the one written at once; read back streamed, the same. */
static int count_record(void *ctx, const struct tt_rec_hdr *h, size_t size)
{
	struct record_buf *rb = ctx;

	return records_append(rb, h, size);
}

void test_recfile_streamed(void)
{
	struct record_buf rb = {0}, rb2 = {0};
	struct symdata sd = {0}, sd2 = {0};
	struct rec_info info = {.host = "h", .kernel = "k", .cmdline = "app"}, info2;
	char p1[] = "/tmp/tt-unit-XXXXXX", p2[] = "/tmp/tt-unit-XXXXXX";
	struct recfile_writer *w;
	struct stat s1, s2;
	char *b1, *b2;
	FILE *f;

	close(mkstemp(p1));
	close(mkstemp(p2));
	sample_session(&rb, &sd);
	CHECK(recfile_write(p1, &info, &rb, &sd) == 0);
	w = recfile_writer_open(p2, &info, &sd);
	CHECK(w != NULL);
	for (size_t o = 0; w && o < rb.len; o += ((struct tt_rec_hdr *)(rb.data + o))->size)
		CHECK(recfile_writer_add(w, rb.data + o,
					 ((struct tt_rec_hdr *)(rb.data + o))->size) == 0);
	CHECK(w && recfile_writer_close(w) == 0);
	CHECK(stat(p1, &s1) == 0 && stat(p2, &s2) == 0 && s1.st_size == s2.st_size);
	b1 = calloc(1, s1.st_size);
	b2 = calloc(1, s2.st_size);
	f = fopen(p1, "r");
	CHECK(f && fread(b1, 1, s1.st_size, f) == (size_t)s1.st_size);
	fclose(f);
	f = fopen(p2, "r");
	CHECK(f && fread(b2, 1, s2.st_size, f) == (size_t)s2.st_size);
	fclose(f);
	CHECK(!memcmp(b1, b2, s1.st_size));
	CHECK(recfile_stream(p2, &info2, &sd2, count_record, &rb2) == 0);
	CHECK(rb2.len == rb.len && !memcmp(rb2.data, rb.data, rb.len));
	CHECK_EQ_U64(sd2.nr_frames, sd.nr_frames);
	/* damaged: the stream fails before a single record is handed over */
	records_free(&rb2);
	symdata_free(&sd2);
	b2[s2.st_size / 2] ^= 0x40;
	f = fopen(p2, "w");
	fwrite(b2, 1, s2.st_size, f);
	fclose(f);
	CHECK(recfile_stream(p2, &info2, &sd2, count_record, &rb2) != 0);
	CHECK_EQ_U64(rb2.count, 0);
	free(b1);
	free(b2);
	records_free(&rb);
	records_free(&rb2);
	symdata_free(&sd);
	unlink(p1);
	unlink(p2);
}

/* Truncated, damaged, foreign and newer files: one clear reason, never a partial result. */
void test_recfile_damage(void)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct rec_info info = {0};
	char path[] = "/tmp/tt-unit-XXXXXX", why[256];
	size_t len;
	__u8 *d;
	int fd = mkstemp(path);

	close(fd);
	sample_session(&rb, &sd);
	recfile_write(path, &info, &rb, &sd);
	d = file_bytes(path, &len);
	CHECK(len > 100);
	CHECK(parse_bytes(d, len, why, sizeof(why)) == 0);
	/*
	 * a truncation (a writer that died) fails before the records start, and after that
	 * reads the whole chunks before the cut, saying so: all the records or none here
	 */
	for (size_t cut = 0; cut < len; cut += 7) {
		size_t before = rb.count;
		int r = parse_bytes(d, cut, why, sizeof(why));

		CHECK(r != 0 || (why[0] && strstr(why, "truncated")));
		CHECK(r != 0 || parsed_records == 0 || parsed_records == before);
	}
	CHECK(parse_bytes(d, len - 1, why, sizeof(why)) == 0 && strstr(why, "truncated") &&
	      parsed_records == rb.count);
	/*
	 * every single flipped byte fails (checksum or structure), but in the end marker: a file
	 * without a whole one is read as cut short there, all its records whole
	 */
	for (size_t i = 0; i < len; i += 3) {
		d[i] ^= 0x5a;
		if (i < len - 24)
			CHECK(parse_bytes(d, len, why, sizeof(why)) != 0);
		else
			CHECK(parse_bytes(d, len, why, sizeof(why)) != 0 ||
			      (why[0] && parsed_records == rb.count));
		d[i] ^= 0x5a;
	}
	d[5] ^= 1;
	CHECK(parse_bytes(d, len, why, sizeof(why)) != 0 && strstr(why, "not a threadtrace"));
	d[5] ^= 1;
	d[8] = TT_FILE_VERSION + 1;
	CHECK(parse_bytes(d, len, why, sizeof(why)) != 0 && strstr(why, "newer"));
	CHECK(parse_bytes((const __u8 *)"", 0, why, sizeof(why)) != 0);
	free(d);
	records_free(&rb);
	symdata_free(&sd);
	unlink(path);
}
