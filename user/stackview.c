// SPDX-License-Identifier: GPL-2.0
/* stackview.c - see stackview.h. */
#include <string.h>
#include "stackview.h"
#include "pyframes.h"

bool stackview_has_python(const struct stack_entry *st)
{
	for (unsigned i = 0; i < st->nr_user; i++)
		if (is_pyframe_ip(st->ips[i]))
			return true;
	return false;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/*
 * Is ip in the interpreter's own module: the one the GIL was found in, else (a build whose
 * GIL is not traced) a libpython or a python executable?
 */
static bool in_interpreter(const struct analysis *a, __u64 ip)
{
	const struct sym_module *m = a->sd ? symdata_module(a->sd, ip) : NULL;
	const char *b;

	if (!m || !m->path)
		return false;
	if (a->gil.present && a->gil.path[0])
		return !strcmp(base_name(m->path), base_name(a->gil.path));
	b = base_name(m->path);
	return !strncmp(b, "libpython", 9) || !strncmp(b, "python", 6);
}

unsigned stackview_user(const struct analysis *a, const struct stack_entry *st, bool native,
			unsigned *idx, unsigned max)
{
	unsigned n = 0, outermost = 0;
	bool python = false;

	for (unsigned i = 0; i < st->nr_user; i++)
		if (is_pyframe_ip(st->ips[i])) {
			python = true;
			outermost = i;
		}
	for (unsigned i = 0; i < st->nr_user && n < max; i++) {
		if (python && !native && !is_pyframe_ip(st->ips[i]) &&
		    (i > outermost || in_interpreter(a, st->ips[i])))
			continue;
		idx[n++] = i;
	}
	return n;
}
