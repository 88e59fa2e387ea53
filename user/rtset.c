// SPDX-License-Identifier: GPL-2.0
/* rtset.c - see rtset.h. */
#include <string.h>
#include "rtset.h"

int rt_set_open(struct rt_set *s, const struct rt_ops *const *table, const struct rt_host *host)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->table = table;
	for (size_t i = 0; table[i] && i < RT_TABLE_MAX; i++)
		s->rts[i] = table[i]->open(host);
	for (size_t i = 0; table[i] && i < RT_TABLE_MAX && !err; i++)
		if (s->rts[i] && table[i]->admit)
			err = table[i]->admit(s->rts[i]);
	return err;
}

bool rt_set_close(struct rt_set *s)
{
	bool stopped = false;

	for (size_t i = 0; s->table && s->table[i] && i < RT_TABLE_MAX; i++) {
		if (s->rts[i] && s->table[i]->close)
			stopped |= s->table[i]->close(s->rts[i]);
		s->rts[i] = NULL;
	}
	return stopped;
}
