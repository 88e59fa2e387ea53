// SPDX-License-Identifier: GPL-2.0
/* symdata.c - see symdata.h. */
#include <stdlib.h>
#include <string.h>
#include "symdata.h"

void symdata_free(struct symdata *sd)
{
	for (size_t i = 0; i < sd->nr_frames; i++) {
		free(sd->frames[i].name);
		free(sd->frames[i].func);
	}
	for (size_t i = 0; i < sd->nr_locks; i++) {
		free(sd->locks[i].name);
		free(sd->locks[i].location);
		free(sd->locks[i].module);
	}
	free(sd->frames);
	free(sd->locks);
	u64_map_free(&sd->frame_by_ip);
	u64_map_free(&sd->lock_by_addr);
	memset(sd, 0, sizeof(*sd));
}

const struct sym_frame *symdata_frame(const struct symdata *sd, __u64 ip)
{
	__u64 *i = u64_map_get(&sd->frame_by_ip, ip);

	return i ? &sd->frames[*i - 1] : NULL;
}

void symdata_add_frame(struct symdata *sd, __u64 ip, const char *name, const char *func)
{
	bool found;
	__u64 *i = u64_map_upsert(&sd->frame_by_ip, ip, &found);
	struct sym_frame *f;

	if (found)
		return;
	f = VEC_PUSH(sd->frames, sd->nr_frames, sd->cap_frames);
	f->ip = ip;
	f->name = xstrdup(name);
	f->func = func ? xstrdup(func) : NULL;
	*i = sd->nr_frames;
}

const struct sym_lock *symdata_lock(const struct symdata *sd, __u64 addr)
{
	__u64 *i = u64_map_get(&sd->lock_by_addr, addr);

	return i ? &sd->locks[*i - 1] : NULL;
}

struct sym_lock *symdata_add_lock(struct symdata *sd, __u64 addr)
{
	bool found;
	__u64 *i = u64_map_upsert(&sd->lock_by_addr, addr, &found);
	struct sym_lock *l;

	if (found)
		return &sd->locks[*i - 1];
	l = VEC_PUSH(sd->locks, sd->nr_locks, sd->cap_locks);
	l->addr = addr;
	*i = sd->nr_locks;
	return l;
}
