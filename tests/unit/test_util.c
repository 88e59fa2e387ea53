// SPDX-License-Identifier: GPL-2.0
/*
 * test_util.c - untrusted names as text (util.c's text_escape and UTF-8 checks).
 */
#include <string.h>
#include "check.h"
#include "util.h"
#include "test_util.h"

/* Untrusted names as text: control bytes and bytes that are no UTF-8 shown, never acted on. */
void test_text_escape(void)
{
	char buf[64];
	const unsigned char overlong[] = {0xc0, 0xaf, 0};

	CHECK(!strcmp(text_escape("\x1b[2J\nFAKE", (size_t)-1, buf, sizeof(buf)),
		      "\\x1b[2J\\x0aFAKE"));
	CHECK(!strcmp(text_escape("caf\xc3\xa9 \xe6\x97\xa5", (size_t)-1, buf, sizeof(buf)),
		      "caf\xc3\xa9 \xe6\x97\xa5"));
	CHECK(!strcmp(text_escape((const char *)overlong, (size_t)-1, buf, sizeof(buf)),
		      "\\xc0\\xaf"));
	/* a comm field: 16 bytes, not terminated */
	CHECK(
	    !strcmp(text_escape("abcdefghijklmnopXYZ", 16, buf, sizeof(buf)), "abcdefghijklmnop"));
	/* cut at a character, never inside one */
	CHECK(!strcmp(text_escape("ab\xc3\xa9", (size_t)-1, buf, 4), "ab"));
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
}
