// SPDX-License-Identifier: GPL-2.0
/*
 * pprof.c - see pprof.h. Field numbers from pprof's proto/profile.proto: Profile {1 sample_type,
 * 2 sample, 3 mapping, 4 location, 5 function, 6 string_table, 9 time_nanos, 10 duration_nanos,
 * 11 period_type, 12 period, 14 default_sample_type}; ValueType {1 type, 2 unit}; Sample {1
 * location_id, 2 value, 3 label}; Label {1 key, 2 str, 3 num}; Mapping {1 id, 2 memory_start,
 * 3 memory_limit, 4 file_offset, 5 filename, 6 build_id, 7 has_functions}; Location {1 id,
 * 2 mapping_id, 3 address, 4 line}; Line {1 function_id}; Function {1 id, 2 name, 3 system_name}.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <zlib.h>
#include "pprof.h"
#include "stackview.h"
#include "protobuf.h"

struct strtab {
	char **v;
	size_t n, cap;
	struct u64_map idx; /* hash -> index + 1, chained on collision by probing */
};

static __u64 str_id(struct strtab *t, const char *s)
{
	__u64 h = hash_bytes(s, strlen(s), 1);
	bool found;
	__u64 *slot;

	for (;; h++) {
		slot = u64_map_upsert(&t->idx, h, &found);
		if (!found)
			break;
		if (!strcmp(t->v[*slot - 1], s))
			return *slot - 1;
	}
	*VEC_PUSH(t->v, t->n, t->cap) = xstrdup(s);
	*slot = t->n;
	return t->n - 1;
}

struct builder {
	struct pb prof;
	struct strtab strs;
	struct u64_map loc_by_ip;    /* ip -> location id */
	struct u64_map func_by_name; /* string id -> function id */
	__u64 next_loc, next_func;
	const struct analysis *a;
};

static __u64 function_id(struct builder *b, const char *name)
{
	__u64 sid = str_id(&b->strs, name);
	bool found;
	__u64 *f = u64_map_upsert(&b->func_by_name, sid, &found);
	struct pb fn = {0};

	if (found)
		return *f;
	*f = ++b->next_func;
	pb_uint(&fn, 1, *f);
	pb_uint(&fn, 2, sid);
	pb_uint(&fn, 3, sid);
	pb_msg(&b->prof, 5, &fn);
	pb_free(&fn);
	return *f;
}

/* A location with its lines: inlined functions first, the function they sit in last. */
static void add_location(struct builder *b, __u64 id, __u64 mapping, __u64 addr, const __u64 *funcs,
			 unsigned n)
{
	struct pb loc = {0};

	pb_uint(&loc, 1, id);
	if (mapping)
		pb_uint(&loc, 2, mapping);
	if (addr)
		pb_uint(&loc, 3, addr);
	for (unsigned k = 0; k < n; k++) {
		struct pb line = {0};

		pb_uint(&line, 1, funcs[k]);
		pb_msg(&loc, 4, &line);
		pb_free(&line);
	}
	pb_msg(&b->prof, 4, &loc);
	pb_free(&loc);
}

static __u64 location_id(struct builder *b, const struct stack_entry *st, unsigned i)
{
	const struct analysis *a = b->a;
	__u64 ip = st->ips[i];
	const struct sym_module *m = a->sd ? symdata_module(a->sd, ip) : NULL;
	const char *names[TT_MAX_INLINE], *funcs[TT_MAX_INLINE];
	__u64 ids[TT_MAX_INLINE], id;
	bool found;
	__u64 *l = u64_map_get(&b->loc_by_ip, ip);
	char buf[64];
	unsigned n;

	if (l)
		return *l;
	id = ++b->next_loc;
	n = analysis_frames_at(a, st, i, names, funcs, TT_MAX_INLINE, buf, sizeof(buf));
	for (unsigned k = 0; k < n; k++)
		ids[k] = function_id(b, funcs[k] ? funcs[k] : names[k]);
	add_location(b, id, m ? (__u64)(m - a->sd->modules) + 1 : 0, ip, ids, n);
	*u64_map_upsert(&b->loc_by_ip, ip, &found) = id;
	return id;
}

static void label_str(struct builder *b, struct pb *sample, const char *key, const char *val)
{
	struct pb lab = {0};

	pb_uint(&lab, 1, str_id(&b->strs, key));
	pb_uint(&lab, 2, str_id(&b->strs, val));
	pb_msg(sample, 3, &lab);
	pb_free(&lab);
}

static void value_type(struct builder *b, __u32 field, const char *type, const char *unit)
{
	struct pb vt = {0};

	pb_uint(&vt, 1, str_id(&b->strs, type));
	pb_uint(&vt, 2, str_id(&b->strs, unit));
	pb_msg(&b->prof, field, &vt);
	pb_free(&vt);
}

static int gzip_out(FILE *out, const struct pb *p)
{
	z_stream zs = {0};
	__u8 buf[65536];
	int ret;

	/* 16 + window bits: a gzip wrapper, as pprof expects */
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	zs.next_in = p->data;
	zs.avail_in = p->len;
	do {
		zs.next_out = buf;
		zs.avail_out = sizeof(buf);
		ret = deflate(&zs, Z_FINISH);
		fwrite(buf, 1, sizeof(buf) - zs.avail_out, out);
	} while (ret == Z_OK);
	deflateEnd(&zs);
	return ret == Z_STREAM_END && !ferror(out) ? 0 : -EIO;
}

int pprof_write(FILE *out, const struct analysis *a, bool native)
{
	struct builder b = {.a = a};
	int err;

	str_id(&b.strs, ""); /* string_table[0] must be "" */
	value_type(&b, 1, "contentions", "count");
	value_type(&b, 1, "delay", "nanoseconds");
	for (size_t i = 0; a->sd && i < a->sd->nr_modules; i++) {
		const struct sym_module *m = &a->sd->modules[i];
		struct pb mp = {0};

		pb_uint(&mp, 1, i + 1);
		pb_uint(&mp, 2, m->start);
		pb_uint(&mp, 3, m->end);
		pb_uint(&mp, 4, m->pgoff);
		pb_uint(&mp, 5, str_id(&b.strs, m->path));
		pb_uint(&mp, 6, str_id(&b.strs, m->build_id));
		pb_uint(&mp, 7, 1);
		pb_msg(&b.prof, 3, &mp);
		pb_free(&mp);
	}
	for (size_t li = 0; li < a->nr_locks; li++) {
		const struct lock_stat *l = &a->locks[li];
		char lock[200];
		__u64 lock_loc = ++b.next_loc;

		lock_label(l, lock, sizeof(lock));
		{
			__u64 fid = function_id(&b, lock);

			add_location(&b, lock_loc, 0, 0, &fid, 1);
		}
		for (size_t wi = 0; wi < l->nr_waiters; wi++) {
			const struct attrib *w = &l->waiters[wi];
			const struct stack_entry *st =
			    w->stack == TT_NO_STACK ? NULL : &a->stacks[w->stack];
			unsigned idx[STACKVIEW_MAX];
			size_t n = 1 + (st ? stackview_user(a, st, native, idx, STACKVIEW_MAX) : 0);
			__u64 *locs = xcalloc(n, sizeof(__u64));
			__u64 vals[2] = {w->count, w->wait_ns};
			struct pb sample = {0};
			char comm[TT_COMM_LEN + 1];

			locs[0] = lock_loc; /* leaf first: the lock, then the waiter's frames */
			for (size_t k = 1; k < n; k++)
				locs[k] = location_id(&b, st, idx[k - 1]);
			pb_packed(&sample, 1, locs, n);
			pb_packed(&sample, 2, vals, 2);
			label_str(&b, &sample, "thread",
				  analysis_thread_name(a, w->tid, w->comm, comm, sizeof(comm)));
			label_str(&b, &sample, "lock_kind", lock_kind_name(l->kind));
			pb_msg(&b.prof, 2, &sample);
			pb_free(&sample);
			free(locs);
		}
	}
	pb_uint(&b.prof, 10, a->duration_ns);
	value_type(&b, 11, "contentions", "count");
	pb_uint(&b.prof, 12, 1);
	pb_uint(&b.prof, 14, str_id(&b.strs, "delay"));
	for (size_t i = 0; i < b.strs.n; i++)
		pb_string(&b.prof, 6, b.strs.v[i]);
	err = gzip_out(out, &b.prof);

	for (size_t i = 0; i < b.strs.n; i++)
		free(b.strs.v[i]);
	free(b.strs.v);
	u64_map_free(&b.strs.idx);
	u64_map_free(&b.loc_by_ip);
	u64_map_free(&b.func_by_name);
	pb_free(&b.prof);
	return err;
}
