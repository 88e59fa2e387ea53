// SPDX-License-Identifier: GPL-2.0
/*
 * test_json.c - the JSON writer's escaping and the summary's documented fields.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "stream.h"
#include "analysis.h"
#include "json.h"
#include "test_json.h"

#define MS     1000000ULL
#define A_LOCK 0x1000ULL

void test_json_escaping(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer j = {.out = f};

	json_begin_object(&j);
	json_key(&j, "s");
	json_string(&j, "a\"b\\c\n\x01\xff caf\xc3\xa9 \xe2\x82 \x1b[2J");
	json_key(&j, "v");
	json_begin_array(&j);
	json_u64(&j, 1);
	json_null(&j);
	json_bool(&j, true);
	json_end_array(&j);
	json_end_object(&j);
	fclose(f);
	/* valid UTF-8 kept (café), a byte that is none shown as text, control bytes escaped */
	CHECK(!strcmp(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\\\xff caf\xc3\xa9 \\\\xe2\\\\x82 "
			   "\\u001b[2J\",\"v\":[1,null,true]}"));
	free(buf);
}

/* The JSON summary carries the fields README documents, with real values. */
void test_json_summary(void)
{
	struct record_buf rb = {0};
	struct analysis a;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	__u64 ips[] = {0x10};

	s_session(&rb, 0);
	s_wait_begin(&rb, 1 * MS, 1, A_LOCK, TT_FUTEX_WAIT, 2, ips, 1);
	s_waking(&rb, 3 * MS, 2, 1, A_LOCK, TT_WAKE_FUTEX, A_LOCK, ips, 1);
	s_wait_end(&rb, 3 * MS, 1, A_LOCK, 0);
	s_end(&rb, 5 * MS);
	CHECK(analysis_run(&rb, NULL, &a) == 0);
	f = open_memstream(&buf, &len);
	CHECK(json_summary(f, &a) == 0);
	fclose(f);
	CHECK(strstr(buf, "\"schema\":\"threadtrace/1\"") != NULL);
	CHECK(strstr(buf, "\"duration_ns\":5000000") != NULL);
	CHECK(strstr(buf, "\"addr\":\"0x1000\",\"kind\":\"mutex\"") != NULL);
	CHECK(strstr(buf, "\"contentions\":1") != NULL);
	CHECK(strstr(buf, "\"wait_ns\":2000000") != NULL);
	CHECK(strstr(buf, "\"gil\":null,\"stop_the_world\":null,\"runtimes\":[]}") != NULL);
	free(buf);
	analysis_free(&a);
	records_free(&rb);
}
