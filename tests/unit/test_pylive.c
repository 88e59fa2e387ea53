// SPDX-License-Identifier: GPL-2.0
/*
 * test_pylive.c - user/pylive.c on synthetic CPython objects laid out in this process's own
 * memory (read back through process_vm_readv like a target's): str, int, dicts (combined and
 * split), an instance's attributes through 3.12's tagged values pointer and 3.8's
 * tp_dictoffset, sys.modules -> threading._active -> Thread._name, frames with their locals and
 * value stack, and garbage: a frame chain that loops, absurd dict sizes, unreadable pointers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "pylive.h"
#include "test_pylive.h"

#define A(p) ((__u64)(uintptr_t)(p))

/* the synthetic objects: one arena, reused by each test */
static _Alignas(64) __u8 arena[64 << 10];
static size_t arena_used;

static __u8 *mem(size_t n)
{
	__u8 *p;

	n = (n + 63) & ~63UL;
	if (arena_used + n > sizeof(arena))
		abort();
	p = arena + arena_used;
	arena_used += n;
	memset(p, 0, n);
	return p;
}

static void put64(__u8 *o, size_t off, __u64 v)
{
	memcpy(o + off, &v, 8);
}

/* a type object: tp_name, tp_basicsize, tp_flags, tp_dictoffset */
static __u8 *type(const char *name, __u64 flags, __u64 basic, __s64 dictoff)
{
	__u8 *t = mem(1024);

	put64(t, 24, A(name));
	put64(t, 32, basic);
	put64(t, 168, flags);
	put64(t, 288, (__u64)dictoff);
	return t;
}

/* a compact ASCII str of version minor (data at +40 from 3.12, +48 before) */
static __u8 *str(__u8 *tp, unsigned minor, const char *s)
{
	size_t n = strlen(s), data = minor >= 12 ? 40 : 48;
	__u8 *o = mem(data + n + 1);
	__u32 state = 1u << 2 | 1u << 5 | 1u << 6; /* kind 1, compact, ascii */

	put64(o, 8, A(tp));
	put64(o, 16, n);
	memcpy(o + 32, &state, 4);
	memcpy(o + data, s, n);
	return o;
}

static __u8 *int_312(__u8 *tp, __u64 v)
{
	__u8 *o = mem(40);
	__u32 d[3] = {v & 0x3fffffff, (v >> 30) & 0x3fffffff, (__u32)(v >> 60)};
	unsigned n = d[2] ? 3 : d[1] ? 2 : 1;

	put64(o, 8, A(tp));
	put64(o, 16, (__u64)n << 3);
	memcpy(o + 24, d, sizeof(d));
	return o;
}

/* 3.11+ keys with str keys (kind 1, or 2 split), 8 slots, 1-byte indices */
static __u8 *keys_new(unsigned kind, __u8 **k, __u8 **v, unsigned n)
{
	__u8 *o = mem(32 + 8 + 16 * 8);

	o[8] = 3;
	o[9] = 3;
	o[10] = (__u8)kind;
	put64(o, 24, n);
	for (unsigned i = 0; i < n; i++) {
		put64(o, 40 + 16 * i, A(k[i]));
		put64(o, 48 + 16 * i, v ? A(v[i]) : 0);
	}
	return o;
}

static struct py_target target(unsigned minor)
{
	struct py_target py = {0};

	arena_used = 0;
	py.pid = getpid();
	py.minor = minor;
	py.hexversion = 3u << 24 | minor << 16;
	return py;
}

struct named {
	__u32 tid;
	__u64 ident;
	char name[64];
};

static void name_cb(void *ctx, __u32 tid, __u64 ident, const char *name)
{
	struct named *got = ctx;

	got->tid = tid;
	got->ident = ident;
	snprintf(got->name, sizeof(got->name), "%s", name);
}

void test_pylive_objects_312(void)
{
	struct py_target py = target(12);
	struct pylive *pl = pylive_new(&py);
	__u8 *str_t = type("str", 1ull << 28, 40, 0), *int_t = type("int", 1ull << 24, 24, 0);
	__u8 *dict_t = type("dict", 1ull << 29, 48, 0), *mod_t = type("module", 0, 48, 0);
	__u8 *thr_t = type("Thread", 1ull << 4, 16, 0);
	__u8 *name = str(str_t, 12, "transfer-worker"), *k_name = str(str_t, 12, "_name");
	__u8 *k_nid = str(str_t, 12, "_native_id"), *nid = int_312(int_t, 4242);
	__u8 *ks[2] = {k_name, k_nid};
	__u8 *shared = keys_new(2, ks, NULL, 2), *values = mem(32), *thread = mem(64);
	__u8 *ident = int_312(int_t, 0x7f0011223344ull), *active, *k_active;
	__u8 *md, *mod, *k_thr, *modules, *msd;
	char buf[64];
	__s64 v;
	__u64 o;

	CHECK(pl != NULL);
	if (!pl)
		return;
	/* the Thread: header 32 bytes before the object, values pointer tagged (values - 1) */
	put64(thr_t, 880, A(shared));
	put64(values, 0, A(name));
	put64(values, 8, A(nid));
	put64(thread, 8, A(values) - 1);
	put64(thread, 40, A(thr_t));
	CHECK(pylive_type_name(pl, A(thread + 32), buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "Thread"));
	CHECK(pylive_getattr(pl, A(thread + 32), "_name", &o) == 0 && o == A(name));
	CHECK(pylive_str(pl, o, buf, sizeof(buf)) == 0 && !strcmp(buf, "transfer-worker"));
	CHECK(pylive_getattr(pl, A(thread + 32), "_ident", &o) == -ENOENT);
	CHECK(pylive_int(pl, A(nid), &v) == 0 && v == 4242);
	CHECK(pylive_int(pl, A(ident), &v) == 0 && v == 0x7f0011223344ll);
	CHECK(pylive_int(pl, A(name), &v) == -EINVAL); /* a str is no int */
	CHECK(pylive_str(pl, A(nid), buf, sizeof(buf)) == -EINVAL);
	/* sys.modules["threading"]._active = {ident: thread} (a general dict: 24-byte entries) */
	active = mem(48);
	put64(active, 8, A(dict_t));
	{
		__u8 *k = mem(32 + 8 + 24 * 8);

		k[8] = 3, k[9] = 3, k[10] = 0;
		put64(k, 24, 1);
		put64(k, 48, A(ident));
		put64(k, 56, A(thread + 32));
		put64(active, 32, A(k));
	}
	k_active = str(str_t, 12, "_active");
	md = mem(48);
	put64(md, 8, A(dict_t));
	put64(md, 32, A(keys_new(1, &k_active, &active, 1)));
	mod = mem(32);
	put64(mod, 8, A(mod_t));
	put64(mod, 16, A(md));
	k_thr = str(str_t, 12, "threading");
	modules = mem(48);
	put64(modules, 8, A(dict_t));
	put64(modules, 32, A(keys_new(1, &k_thr, &mod, 1)));
	msd = mem(8);
	put64(msd, 0, A(modules));
	pylive_free(pl);
	py.sys_modules = A(msd);
	pl = pylive_new(&py);
	CHECK(pylive_module(pl, "threading", &o) == 0 && o == A(mod));
	CHECK(pylive_module(pl, "json", &o) == -ENOENT);
	CHECK(pylive_module_attr(pl, A(mod), "_active", &o) == 0 && o == A(active));
	{
		struct named got = {0};

		CHECK(pylive_thread_names(pl, name_cb, &got) == 1);
		CHECK(got.tid == 4242 && got.ident == 0x7f0011223344ull &&
		      !strcmp(got.name, "transfer-worker"));
	}
	{
		static const char *const both[] = {"_native_id", "_name"};
		__u8 *renamed = str(str_t, 12, "renamed-worker");
		struct named got = {0};
		__u64 two[2];

		CHECK(pylive_getattrs(pl, A(thread + 32), both, 2, two) == 0 && two[0] == A(nid) &&
		      two[1] == A(name));
		/* named at the last call, the same objects: not passed again, unless all are asked
		 */
		CHECK(pylive_thread_names_new(pl, false, name_cb, &got) == 1 && got.tid == 0);
		CHECK(pylive_thread_names_new(pl, true, name_cb, &got) == 1 && got.tid == 0);
		CHECK(pylive_thread_names(pl, name_cb, &got) == 1 && got.tid == 4242);
		/* renamed (a new _name object): passed when rechecked, the entry not read before */
		memset(&got, 0, sizeof(got));
		put64(values, 0, A(renamed));
		CHECK(pylive_thread_names_new(pl, false, name_cb, &got) == 1 && got.tid == 0);
		CHECK(pylive_thread_names_new(pl, true, name_cb, &got) == 1 && got.tid == 4242 &&
		      !strcmp(got.name, "renamed-worker"));
		/* its thread exited: the same entry's addresses are read as another thread's */
		memset(&got, 0, sizeof(got));
		nid[24] = 4343 & 0xff, nid[25] = 4343 >> 8;
		CHECK(pylive_thread_names_new(pl, false, name_cb, &got) == 1 && got.tid == 0);
		pylive_thread_gone(pl, 4242);
		CHECK(pylive_thread_names_new(pl, false, name_cb, &got) == 1 && got.tid == 4343 &&
		      !strcmp(got.name, "renamed-worker"));
		nid[24] = 4242 & 0xff, nid[25] = 4242 >> 8;
		/* a remembered key whose str is another now (its hash differs): read anew, a round
		   (20 ms) later */
		memcpy(k_name + 40, "_nxme", 5);
		put64(k_name, 24, 1);
		usleep(50000);
		CHECK(pylive_getattr(pl, A(thread + 32), "_name", &o) == -ENOENT);
		memcpy(k_name + 40, "_name", 5);
		CHECK(pylive_getattr(pl, A(thread + 32), "_name", &o) == 0 && o == A(renamed));
		put64(values, 0, A(name));
	}
	pylive_free(pl);
}

void test_pylive_objects_38(void)
{
	struct py_target py = target(8);
	struct pylive *pl = pylive_new(&py);
	__u8 *str_t = type("str", 1ull << 28, 48, 0), *dict_t = type("dict", 1ull << 29, 48, 0);
	__u8 *box_t = type("Box", 0, 32, 16);
	__u8 *k = str(str_t, 8, "label"), *val = str(str_t, 8, "box-label");
	__u8 *keys = mem(40 + 8 + 24 * 8), *dict = mem(48), *box = mem(32);
	char buf[64];
	__u64 o;

	CHECK(pl != NULL);
	if (!pl)
		return;
	/* 3.8 keys: dk_size 8, dk_nentries 1, 1-byte indices, then {hash, key, value} */
	put64(keys, 8, 8);
	put64(keys, 32, 1);
	put64(keys, 48 + 8, A(k));
	put64(keys, 48 + 16, A(val));
	put64(dict, 8, A(dict_t));
	put64(dict, 32, A(keys));
	put64(box, 8, A(box_t));
	put64(box, 16, A(dict)); /* tp_dictoffset 16 */
	CHECK(pylive_getattr(pl, A(box), "label", &o) == 0 && o == A(val));
	CHECK(pylive_str(pl, o, buf, sizeof(buf)) == 0 && !strcmp(buf, "box-label"));
	/* garbage: dk_size not a power of two, then nentries past it */
	put64(keys, 8, 6);
	CHECK(pylive_getattr(pl, A(box), "label", &o) == -EINVAL);
	put64(keys, 8, 8);
	put64(keys, 32, 1u << 20);
	CHECK(pylive_getattr(pl, A(box), "label", &o) == -EINVAL);
	/* unreadable: an object at a page no one mapped */
	CHECK(pylive_getattr(pl, 8, "label", &o) == -EFAULT);
	CHECK(pylive_type_name(pl, 0x10, buf, sizeof(buf)) == -EFAULT);
	pylive_free(pl);
}

void test_pylive_frames_and_garbage(void)
{
	struct py_target py = target(12);
	struct pylive *pl;
	struct pylive_frame f[8];
	__u8 *tstate = mem(256), *cframe = mem(16), *fr[3], *code = mem(256);
	__s32 nlocals = 2, top;
	__u64 obj;
	int n;

	/* 3.12: tstate+56 -> cframe, cframe+0 -> frame; frame: code +0, previous +8,
	 * instr_ptr +56, stacktop +64 (slots from localsplus), owner +70, localsplus +72 */
	memcpy(code + 72, &nlocals, 4);
	for (int i = 0; i < 3; i++) {
		fr[i] = mem(256);
		put64(fr[i], 0, A(code));
		put64(fr[i], 56, A(code) + 192 + 2 * i);
		put64(fr[i], 72, 0x1000 + i); /* localsplus[0] */
		put64(fr[i], 80, 0x2000 + i); /* localsplus[1] */
		put64(fr[i], 88, 0x3000 + i); /* the value stack */
		top = i ? 3 : -1;	      /* the innermost runs: no top */
		memcpy(fr[i] + 64, &top, 4);
	}
	put64(fr[0], 8, A(fr[1]));
	put64(fr[1], 8, A(fr[2]));
	fr[1][70] = TT_PY_OWNER_CSTACK; /* a shim: skipped, fr[0] begins an eval-loop call */
	put64(tstate, 56, A(cframe));
	put64(cframe, 0, A(fr[0]));
	pl = pylive_new(&py);
	CHECK(pl != NULL);
	if (!pl)
		return;
	n = pylive_frames(pl, A(tstate), f, 8);
	CHECK(n == 2);
	CHECK(f[0].addr == A(fr[0]) && f[1].addr == A(fr[2]) && f[0].instr == 192 &&
	      f[1].instr == 196);
	CHECK((f[0].flags & PYLIVE_F_ENTRY) && (f[1].flags & PYLIVE_F_ENTRY));
	CHECK(f[0].nlocalsplus == 2 && f[0].localsplus == A(fr[0]) + 72);
	CHECK(f[0].stack_top == 0 && f[0].nstack == 0);
	CHECK(f[1].stack_top == A(fr[2]) + 72 + 24 && f[1].nstack == 1);
	CHECK(pylive_local(pl, &f[1], 1, &obj) == 0 && obj == 0x2002);
	CHECK(pylive_local(pl, &f[1], 2, &obj) == -ERANGE);
	CHECK(pylive_stack(pl, &f[1], 0, &obj) == 0 && obj == 0x3002);
	CHECK(pylive_stack(pl, &f[0], 0, &obj) == -ERANGE);
	/* garbage: a chain that loops ends at the limit; absurd counts are not believed */
	put64(fr[2], 8, A(fr[0]));
	n = pylive_frames(pl, A(tstate), f, 8);
	CHECK(n == 8);
	nlocals = 1 << 30;
	memcpy(code + 72, &nlocals, 4);
	n = pylive_frames(pl, A(tstate), f, 8);
	CHECK(n == 8 && f[0].nlocalsplus == 0 && f[0].nstack == 0);
	put64(cframe, 0, 0x18); /* unreadable */
	CHECK(pylive_frames(pl, A(tstate), f, 8) == -EFAULT);
	pylive_free(pl);
}
