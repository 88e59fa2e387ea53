/* SPDX-License-Identifier: GPL-2.0 */
/*
 * json.h - a small streaming JSON writer, and the threadtrace/1 summary (README: JSON summary)
 * written from the analysis.
 */
#ifndef TT_JSON_H
#define TT_JSON_H

#include <stdio.h>
#include "analysis.h"

struct json_writer {
	FILE *out;
	int depth;
	bool need_comma[64];
	bool after_key;
};

void json_begin_object(struct json_writer *j);
void json_end_object(struct json_writer *j);
void json_begin_array(struct json_writer *j);
void json_end_array(struct json_writer *j);
void json_key(struct json_writer *j, const char *key);
void json_string(struct json_writer *j, const char *s);
void json_u64(struct json_writer *j, __u64 v);
void json_null(struct json_writer *j);
void json_bool(struct json_writer *j, bool v);

/*
 * Write the threadtrace/1 summary. 0 or -errno. Python objects (kinds python-lock, -rlock,
 * -condition, -event, -semaphore, -queue, -barrier, -join) carry "py_object", their id().
 */
int json_summary(FILE *out, const struct analysis *a);

#endif
