// SPDX-License-Identifier: GPL-2.0
/* symdata.c - see symdata.h. */
#include <stdlib.h>
#include <string.h>
#include "symdata.h"

void symdata_free(struct symdata *sd)
{
	for (size_t i = 0; i < sd->nr_frames; i++) {
		for (size_t j = 0; j < sd->frames[i].nr_inlined; j++) {
			free(sd->frames[i].inlined[j].name);
			free(sd->frames[i].inlined[j].func);
		}
		free(sd->frames[i].inlined);
		free(sd->frames[i].src);
		free(sd->frames[i].name);
		free(sd->frames[i].func);
	}
	for (size_t i = 0; i < sd->nr_locks; i++) {
		free(sd->locks[i].name);
	}
	str_pool_free(&sd->strs);
	for (size_t i = 0; i < sd->nr_modules; i++) {
		free(sd->modules[i].path);
		free(sd->modules[i].build_id);
	}
	free(sd->modules);
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

void symdata_add_inline(struct symdata *sd, __u64 ip, const char *name, const char *func)
{
	__u64 *i = u64_map_get(&sd->frame_by_ip, ip);
	struct sym_frame *f;

	if (!i)
		return;
	f = &sd->frames[*i - 1];
	f->inlined = xrealloc(f->inlined, (f->nr_inlined + 1) * sizeof(*f->inlined));
	f->inlined[f->nr_inlined].name = xstrdup(name);
	f->inlined[f->nr_inlined].func = func ? xstrdup(func) : NULL;
	f->nr_inlined++;
}

void symdata_set_src(struct symdata *sd, __u64 ip, const char *src)
{
	__u64 *i = u64_map_get(&sd->frame_by_ip, ip);

	if (i && !sd->frames[*i - 1].src)
		sd->frames[*i - 1].src = xstrdup(src);
}

const struct sym_lock *symdata_lock(const struct symdata *sd, __u64 addr)
{
	__u64 *i = u64_map_get(&sd->lock_by_addr, addr);

	return i ? &sd->locks[*i - 1] : NULL;
}

const char *symdata_str(struct symdata *sd, const char *s)
{
	return str_pool_add(&sd->strs, s);
}

struct sym_lock *symdata_add_lock(struct symdata *sd, __u64 addr)
{
	bool found;
	__u64 *i = u64_map_upsert(&sd->lock_by_addr, addr, &found);
	struct sym_lock *l;

	if (found)
		return &sd->locks[*i - 1];
	l = VEC_PUSH_SPARE(sd->locks, sd->nr_locks, sd->cap_locks);
	l->addr = addr;
	*i = sd->nr_locks;
	return l;
}

void symdata_add_module(struct symdata *sd, __u64 start, __u64 end, __u64 pgoff, const char *path,
			const char *build_id)
{
	struct sym_module *m;
	size_t i;

	for (i = 0; i < sd->nr_modules && sd->modules[i].start < start; i++)
		;
	if (i < sd->nr_modules && sd->modules[i].start == start)
		return;
	grow((void **)&sd->modules, &sd->cap_modules, sd->nr_modules + 1, sizeof(*m));
	memmove(&sd->modules[i + 1], &sd->modules[i], (sd->nr_modules - i) * sizeof(*m));
	sd->nr_modules++;
	m = &sd->modules[i];
	m->start = start;
	m->end = end;
	m->pgoff = pgoff;
	m->path = xstrdup(path);
	m->build_id = xstrdup(build_id ? build_id : "");
}

const struct sym_module *symdata_module(const struct symdata *sd, __u64 addr)
{
	size_t lo = 0, hi = sd->nr_modules;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < sd->modules[mid].start)
			hi = mid;
		else if (addr >= sd->modules[mid].end)
			lo = mid + 1;
		else
			return &sd->modules[mid];
	}
	return NULL;
}
