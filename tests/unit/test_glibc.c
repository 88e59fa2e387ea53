// SPDX-License-Identifier: GPL-2.0
/*
 * test_glibc.c - glibc versions and the object layouts they imply: the libc version read from a
 * file, the condvar layout chosen from it (doc/glibc-futex.md), the memory check of both
 * layouts on bytes dumped from live condvars, and the analysis folding a 2.41 condvar's words
 * into one object once a TT_REC_LIBC record says which glibc the target runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnu/libc-version.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "libcver.h"
#include "lockkind.h"
#include "test_glibc.h"

#define MS 1000000ULL

/*
 * pthread_cond_t bytes with two waiters blocked, as a program printed them (glibc 2.36 on
 * Debian 12, glibc 2.41 in a Debian 13 root); the words waited on: 2.36 +40, 2.41 +36.
 */
static const __u32 cond_236[12] = {0xf, 0, 9, 0, 2, 2, 1, 0, 8, 0x10, 0, 0};
static const __u32 cond_241[12] = {0xf, 0, 4, 0, 1, 0, 8, 0x10, 4, 2, 0, 0};

static void lock_at(struct sym_lock *sl, const __u32 *obj, int word_off)
{
	memset(sl, 0, sizeof(*sl));
	sl->mem_ok = true;
	memcpy(sl->mem + TT_MEMWIN_BEFORE - word_off, obj, 48);
}

static void test_layout_choice(void)
{
	static const struct {
		unsigned minor;
		enum cond_layout want;
	} v[] = {{31, COND_LAYOUT_G_REFS}, {36, COND_LAYOUT_G_REFS}, {37, COND_LAYOUT_G_REFS},
		 {38, COND_LAYOUT_EITHER}, {40, COND_LAYOUT_EITHER}, {41, COND_LAYOUT_241},
		 {43, COND_LAYOUT_241}};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_EQ_U64(lockkind_cond_layout(2, v[i].minor), v[i].want);
	CHECK_EQ_U64(lockkind_cond_layout(0, 0), COND_LAYOUT_UNKNOWN);
	CHECK(lockkind_cond_word_off(COND_LAYOUT_G_REFS, 44));
	CHECK(!lockkind_cond_word_off(COND_LAYOUT_G_REFS, 32));
	CHECK(lockkind_cond_word_off(COND_LAYOUT_241, 32));
	CHECK(!lockkind_cond_word_off(COND_LAYOUT_241, 40));
	CHECK(lockkind_cond_word_off(COND_LAYOUT_EITHER, 36) &&
	      lockkind_cond_word_off(COND_LAYOUT_EITHER, 40));
}

static void test_memory_check(void)
{
	struct lock_evidence ev = {0};
	struct sym_lock sl;
	const char *detail;

	ev.any_wait = true;
	ev.wait_cmds = 1u << TT_FUTEX_WAIT_BITSET;
	lock_at(&sl, cond_241, 36);
	ev.cond_layout = COND_LAYOUT_241;
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_CONDVAR);
	ev.cond_layout = COND_LAYOUT_EITHER;
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_CONDVAR);
	/* read with 2.36's layout the same bytes are no condvar: that was the bug */
	ev.cond_layout = COND_LAYOUT_G_REFS;
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_FUTEX);

	lock_at(&sl, cond_236, 40);
	ev.cond_layout = COND_LAYOUT_G_REFS;
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_CONDVAR);
	ev.cond_layout = COND_LAYOUT_241;
	CHECK_EQ_U64(lockkind_classify(&ev, &sl, &detail), LK_FUTEX);
}

static void s_libc(struct record_buf *rb, __u64 ts, const char *version)
{
	struct tt_libc r = {0};

	r.hdr.size = sizeof(r);
	r.hdr.kind = TT_REC_LIBC;
	r.hdr.ts = ts;
	r.hdr.pid = r.hdr.tid = PID;
	r.flags = TT_LIBC_GLIBC;
	snprintf(r.version, sizeof(r.version), "%s", version);
	libcver_parse(version, &r.major, &r.minor);
	snprintf(r.build, sizeof(r.build), "Debian GLIBC %s-12", version);
	CHECK(records_append(rb, &r, sizeof(r)) == 0);
}

/* A named 2.41 condvar whose waiters sleep on +32 and +36: one object, or two without the
 * libc record (the layout of glibc <= 2.40 is assumed then). */
static size_t cond_objects(const char *version, char *libc, size_t len)
{
	static const __u64 cond = 0x5000, ips[] = {0x100};
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct analysis a;
	size_t n = 0;

	symdata_add_frame(&sd, 0x100, "pthread_cond_wait+0x1 (libc.so.6)", "pthread_cond_wait");
	for (int g = 0; g < 2; g++) {
		struct sym_lock *sl = symdata_add_lock(&sd, cond + 32 + 4 * g);

		sl->name = strdup("jobs_cond");
		sl->name_off = 32 + 4 * g;
	}
	s_session(&rb, 0);
	if (version)
		s_libc(&rb, 1, version);
	for (int i = 0; i < 4; i++) {
		__u64 w = cond + 32 + 4 * (i % 2), t = (10 + 10 * i) * MS;

		s_wait_begin(&rb, t, 1, w, TT_FUTEX_WAIT_BITSET | 128, i, ips, 1);
		s_waking(&rb, t + 5 * MS, 2, 1, w, TT_WAKE_FUTEX, w, ips, 1);
		s_wait_end(&rb, t + 5 * MS, 1, w, 0);
	}
	s_end(&rb, 100 * MS);
	CHECK(analysis_run(&rb, &sd, &a) == 0);
	for (size_t i = 0; i < a.nr_locks; i++)
		n += a.locks[i].kind == LK_CONDVAR;
	snprintf(libc, len, "%s", a.libc_version);
	analysis_free(&a);
	records_free(&rb);
	symdata_free(&sd);
	return n;
}

void test_glibc_versions(void)
{
	struct tt_libc lc = {0};
	char libc[16];

	test_layout_choice();
	test_memory_check();
	CHECK_EQ_U64(cond_objects("2.41", libc, sizeof(libc)), 1);
	CHECK(!strcmp(libc, "2.41"));
	CHECK_EQ_U64(cond_objects("2.39", libc, sizeof(libc)), 1);
	CHECK_EQ_U64(cond_objects(NULL, libc, sizeof(libc)), 2);
	CHECK(!libc[0]);
	/* the version read from our own libc file is the one it says it is */
	CHECK(libcver_read("/lib/x86_64-linux-gnu/libc.so.6", &lc) == 0);
	CHECK(!strcmp(lc.version, gnu_get_libc_version()));
	CHECK(lc.flags & TT_LIBC_GLIBC);
	CHECK(libcver_read("/bin/sh", &lc) == -ENOENT);
}
