// SPDX-License-Identifier: GPL-2.0
/*
 * pylive.c - see pylive.h. Object layouts measured on the pyenv builds' DWARF (gdb offsets of
 * PyTypeObject, PyHeapTypeObject, PyDictObject, PyDictKeysObject, PyLongObject) and read in
 * each version's Include/internal/pycore_object.h and Objects/dictobject.c for managed dicts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pylive.h"
#include "pidns.h"
#include "pyframes.h"
#include "procfs.h"
#include "util.h"

#define TPF_INLINE_VALUES (1ull << 2) /* 3.13+ */
#define TPF_MANAGED_DICT  (1ull << 4) /* 3.11+ */
#define TPF_LONG	  (1ull << 24)
#define TPF_TUPLE	  (1ull << 26)
#define TPF_UNICODE	  (1ull << 28)
#define TPF_DICT	  (1ull << 29)

enum managed_kind {
	MANAGED_NONE, /* 3.8-3.10: __dict__ at tp_dictoffset */
	MANAGED_311,  /* values at obj - 32 (keys: the type's cached keys), else dict at - 24 */
	MANAGED_312,  /* obj - 24: the dict, or values - 1 (low bit set) */
	MANAGED_313,  /* obj + managed_dict: the dict, else values inline at obj + tp_basicsize */
};

/* Where the objects pylive reads keep their fields (x86_64). */
struct obj_layout {
	unsigned ob_type, ob_size; /* PyObject.ob_type, PyVarObject.ob_size */
	unsigned tp_name, tp_basicsize, tp_itemsize, tp_flags, tp_dictoffset;
	unsigned cached_keys; /* PyHeapTypeObject.ht_cached_keys */
	unsigned dict_keys, dict_values, module_dict, tuple_items, long_digits;
	unsigned long_size; /* ob_size (< 3.12) or lv_tag */
	bool keys_log2;	    /* 3.11+: dk_log2_size, dk_kind, 16-byte entries for str keys */
	unsigned values;    /* PyDictValues: values[0] at this (3.13+: after 4 bytes of sizes) */
	unsigned managed;   /* enum managed_kind */
	int managed_dict;   /* MANAGED_313: obj + this, the dict pointer (-24; -8 free-threaded) */
	bool long_tag;	    /* 3.12+: lv_tag (digits << 3 | sign) instead of ob_size */
	unsigned ref_tag_bits; /* 3.14+: localsplus and stack slots are tagged _PyStackRefs */
	unsigned co_stacksize; /* PyCodeObject + : int co_stacksize */
};

/* 3.8-3.12, from the pyenv builds' DWARF; 3.13+: obj_layout_debug. */
static const struct {
	unsigned minor, cached_keys;
	bool keys_log2;
	unsigned managed;
	bool long_tag;
	unsigned co_stacksize;
} objs[] = {
    {8, 872, false, MANAGED_NONE, false, 32},  {9, 864, false, MANAGED_NONE, false, 32},
    {10, 872, false, MANAGED_NONE, false, 32}, {11, 872, true, MANAGED_311, false, 68},
    {12, 880, true, MANAGED_312, true, 64},
};

static bool obj_layout_table(unsigned minor, struct obj_layout *o)
{
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		if (objs[i].minor != minor)
			continue;
		*o = (struct obj_layout){
		    .ob_type = 8,
		    .ob_size = 16,
		    .tp_name = 24,
		    .tp_basicsize = 32,
		    .tp_itemsize = 40,
		    .tp_flags = 168,
		    .tp_dictoffset = 288,
		    .cached_keys = objs[i].cached_keys,
		    .dict_keys = 32,
		    .dict_values = 40,
		    .module_dict = 16,
		    .tuple_items = 24,
		    .long_digits = 24,
		    .long_size = 16,
		    .keys_log2 = objs[i].keys_log2,
		    .values = 0,
		    .managed = objs[i].managed,
		    .managed_dict = -24,
		    .long_tag = objs[i].long_tag,
		    .co_stacksize = objs[i].co_stacksize,
		};
		return true;
	}
	return false;
}

/*
 * 3.13+: the interpreter's own _Py_DebugOffsets (pydebug.c) give the object header, type
 * name and flags, tuple, dict and int fields (3.15 also tp_basicsize, tp_dictoffset and
 * ht_cached_keys). The rest is per-version knowledge, measured (gdb ptype /o) on Debian's
 * 3.13.5, 3.14.10, 3.15.2, their d builds and a 3.13t: the type's fields keep their order
 * after tp_name (basicsize +8, itemsize +16, dictoffset +264), ht_cached_keys is at 880 from
 * the header's end in 3.13/3.14, a module's md_dict and a PyDictValues' values[] follow their
 * headers, and a free-threaded build keeps the managed dict pointer right before the object
 * (Include/internal/pycore_object.h: MANAGED_DICT_OFFSET -1 word; -3 with the GC header).
 */
static bool obj_layout_debug(const struct py_debug_offsets *d, struct obj_layout *o)
{
	unsigned head = d->ob_type + 8; /* sizeof(PyObject): 16, free-threaded 32 */
	unsigned minor = (d->hexversion >> 16) & 0xff;

	if (d->tp_name == PYDEBUG_NONE || d->tp_flags == PYDEBUG_NONE ||
	    d->tuple_ob_item == PYDEBUG_NONE || d->tuple_ob_size == PYDEBUG_NONE ||
	    d->dict_ma_keys == PYDEBUG_NONE || d->dict_ma_values == PYDEBUG_NONE ||
	    d->long_lv_tag == PYDEBUG_NONE || d->long_ob_digit == PYDEBUG_NONE || head > 64)
		return false;
	*o = (struct obj_layout){
	    .ob_type = d->ob_type,
	    .ob_size = d->tuple_ob_size,
	    .tp_name = d->tp_name,
	    .tp_basicsize = d->tp_basicsize != PYDEBUG_NONE ? d->tp_basicsize : d->tp_name + 8,
	    .tp_flags = d->tp_flags,
	    .tp_dictoffset = d->tp_dictoffset != PYDEBUG_NONE ? d->tp_dictoffset : d->tp_name + 264,
	    .cached_keys = d->ht_cached_keys != PYDEBUG_NONE ? d->ht_cached_keys : 880 + head - 16,
	    .dict_keys = d->dict_ma_keys,
	    .dict_values = d->dict_ma_values,
	    .module_dict = head,
	    .tuple_items = d->tuple_ob_item,
	    .long_digits = d->long_ob_digit,
	    .long_size = d->long_lv_tag,
	    .keys_log2 = true,
	    .values = 8,
	    .managed = MANAGED_313,
	    .managed_dict = d->free_threaded ? -8 : -24,
	    .long_tag = true,
	    .ref_tag_bits = minor >= 14 ? 3 : 0,
	    /* co_stacksize right before co_firstlineno (3.11-3.15, measured on 3.13.5) */
	    .co_stacksize = d->co_firstlineno - 4,
	};
	o->tp_itemsize = o->tp_basicsize + 8;
	return true;
}

/*
 * Costs (issue 15: the name poll of a thread-per-connection server was 83% of the
 * collector's CPU, nearly all of it process_vm_readv calls, one to a few words each). Each
 * saving here is one such call, and none trusts a stale address:
 * - a dict key found by its characters is remembered by its address (instance attribute
 *   names are interned: every Thread's "_name" key is one str object) with its type, length
 *   and hash; the next lookup matches that address among the entries it reads anyway, and
 *   checks the str's header once a round (pylive_round) before believing it, so a freed and
 *   reused address is found out; characters are read only when no remembered key matches;
 * - the flags of static types (int, str, dict: never freed, no Py_TPFLAGS_HEAPTYPE) are kept;
 * - an int is read in one piece where it can be.
 */
#define KEY_CACHE     16
#define KEY_NAME      32
#define KEY_HEAD      24 /* ob_type, length, hash */
#define TYPE_CACHE    8
#define TPF_HEAPTYPE  (1ull << 9)
#define PRIME_THREADS 64
#define PRIME_FRAMES  64

struct known_key {
	char name[KEY_NAME];
	__u64 addr;
	__u8 head[KEY_HEAD];
	unsigned round; /* head checked in this round */
};

/* a thread's frames as pylive_prime_frames last walked them, innermost first */
struct primed {
	__u64 tstate;
	unsigned n;
	__u64 addr[PRIME_FRAMES], code[PRIME_FRAMES];
};

/* a thread named by pylive_thread_names: its _active entry and _name str when read */
struct seen_name {
	__u64 thread, key, name_obj;
	__u32 tid;
	bool gone; /* pylive_thread_gone: its entry may be another thread's now */
};

struct pylive {
	struct py_target py;
	struct tt_py_walk w;
	struct pyframe_extra x;
	struct obj_layout o;
	struct pyframes *pf;
	__u64 none_type; /* type(None), once seen */
	__u64 active;	 /* threading._active, once found (never rebound by threading.py) */
	struct known_key keys[KEY_CACHE];
	unsigned nkeys, next_key, round;
	struct {
		__u64 type, flags;
	} types[TYPE_CACHE];
	unsigned ntypes;
	struct primed *primed; /* the last walk's threads */
	unsigned nprimed;
	struct seen_name *seen; /* sorted by Thread object */
	size_t nseen;
};

struct pylive *pylive_new(const struct py_target *py)
{
	struct pylive *pl = xcalloc(1, sizeof(*pl));
	bool ok;

	/* 3.13+: one source of layouts, the interpreter's debug offsets (as pyframes, pygil) */
	if (py->has_debug)
		ok = obj_layout_debug(&py->dbg, &pl->o) && pyframes_walk_debug(&py->dbg, &pl->w) &&
		     (pl->pf = pyframes_new_debug(py->pid, &py->dbg, py->code_type));
	else
		ok = obj_layout_table(py->minor, &pl->o) && pyframes_walk(py->minor, &pl->w) &&
		     (pl->pf = pyframes_new(py->pid, py->minor, py->code_type));
	if (!ok || !pyframes_extra(pl->pf, &pl->x)) {
		pyframes_free(pl->pf);
		free(pl);
		errno = EPROTONOSUPPORT;
		return NULL;
	}
	pl->py = *py;
	pl->py.sites = NULL;
	pl->py.nr_sites = 0;
	return pl;
}

void pylive_free(struct pylive *pl)
{
	if (!pl)
		return;
	free(pl->primed);
	free(pl->seen);
	pyframes_free(pl->pf);
	free(pl);
}

static int rd(const struct pylive *pl, __u64 addr, void *buf, size_t len)
{
	if (!addr)
		return -EFAULT;
	return procfs_read_mem(pl->py.pid, addr, buf, len) ? -EFAULT : 0;
}

static int rd64(const struct pylive *pl, __u64 addr, __u64 *v)
{
	return rd(pl, addr, v, 8);
}

static int rd32(const struct pylive *pl, __u64 addr, __s32 *v)
{
	return rd(pl, addr, v, 4);
}

/* A type's tp_flags: kept for static types (never freed, their flags never change). */
static int flags_of(struct pylive *pl, __u64 type, __u64 *flags)
{
	int err;

	for (unsigned i = 0; i < pl->ntypes; i++)
		if (pl->types[i].type == type) {
			*flags = pl->types[i].flags;
			return 0;
		}
	if ((err = rd64(pl, type + pl->o.tp_flags, flags)))
		return err;
	if (!(*flags & TPF_HEAPTYPE) && pl->ntypes < TYPE_CACHE) {
		pl->types[pl->ntypes].type = type;
		pl->types[pl->ntypes++].flags = *flags;
	}
	return 0;
}

/* ob_type->tp_flags of obj, and its type. */
static int type_flags(struct pylive *pl, __u64 obj, __u64 *type, __u64 *flags)
{
	int err;

	if ((err = rd64(pl, obj + pl->o.ob_type, type)) || (err = flags_of(pl, *type, flags)))
		return err;
	return 0;
}

static int is_kind(struct pylive *pl, __u64 obj, __u64 flag)
{
	__u64 type, flags;
	int err = type_flags(pl, obj, &type, &flags);

	if (err)
		return err;
	return (flags & flag) ? 0 : -EINVAL;
}

struct pyframes *pylive_pyframes(struct pylive *pl)
{
	return pl->pf;
}

/* --- threads ---------------------------------------------------------------------------- */

struct threads_ctx {
	const struct pylive *pl;
	struct pylive_thread *out;
	size_t n, max;
};

static void thread_cb(void *arg, __u32 tid, __u64 tstate)
{
	struct threads_ctx *c = arg;
	struct pylive_thread *t;

	if (c->n >= c->max)
		return;
	t = &c->out[c->n++];
	t->tid = tid;
	t->tstate = tstate;
	t->ident = 0;
	if (c->pl->py.thread_id_off)
		rd64(c->pl, tstate + c->pl->py.thread_id_off, &t->ident);
}

int pylive_threads(struct pylive *pl, struct pylive_thread *out, size_t max)
{
	struct threads_ctx c = {.pl = pl, .out = out, .max = max};
	int err = pygil_threads(&pl->py, thread_cb, &c);

	return err ? err : (int)c.n;
}

/* --- frames ----------------------------------------------------------------------------- */

/* Where f's locals and value stack are. Unknown parts stay 0. */
static void frame_extent(struct pylive *pl, struct pylive_frame *f)
{
	const struct pyframe_extra *x = &pl->x;
	__u64 valuestack = 0, n = 0, top = 0;
	__s32 v;

	if (pl->w.localsplus < 0)
		return;
	f->localsplus = f->addr + (unsigned)pl->w.localsplus;
	if (x->nlocalsplus >= 0) {
		if (!rd32(pl, f->code + (unsigned)x->nlocalsplus, &v) && v >= 0)
			n = (__u64)v;
	} else if (x->valuestack >= 0 &&
		   !rd64(pl, f->addr + (unsigned)x->valuestack, &valuestack) &&
		   valuestack >= f->localsplus && !((valuestack - f->localsplus) & 7)) {
		n = (valuestack - f->localsplus) / 8;
	}
	if (n > PYLIVE_MAX_LOCALS)
		return;
	f->nlocalsplus = (__u32)n;
	f->stack_base = valuestack ? valuestack : f->localsplus + 8 * n;
	if (!rd32(pl, f->code + pl->o.co_stacksize, &v) && v > 0 && v <= PYLIVE_MAX_STACK)
		f->stack_max = (__u32)v;
	switch (x->stack_kind) {
	case PYSTACK_PTR:
		rd64(pl, f->addr + (unsigned)x->stack, &top);
		break;
	case PYSTACK_SLOTS:
		if (!rd32(pl, f->addr + (unsigned)x->stack, &v) && v >= 0 && (__u64)v >= n)
			top = f->localsplus + 8 * (__u64)v;
		break;
	case PYSTACK_DEPTH:
		if (!rd32(pl, f->addr + (unsigned)x->stack, &v) && v >= 0)
			top = f->stack_base + 8 * (__u64)v;
		break;
	}
	if (top < f->stack_base || (top - f->stack_base) & 7 ||
	    (top - f->stack_base) / 8 > PYLIVE_MAX_STACK)
		return;
	f->stack_top = top;
	f->nstack = (__u32)((top - f->stack_base) / 8);
}

#define FRAME_BYTES 128

int pylive_frames(struct pylive *pl, __u64 tstate, struct pylive_frame *out, size_t max)
{
	const struct tt_py_walk *w = &pl->w;
	__u64 frame = 0;
	size_t n = 0;
	int err;

	if (max > PYLIVE_MAX_FRAMES)
		max = PYLIVE_MAX_FRAMES;
	if (w->frame_bytes > FRAME_BYTES)
		return -EINVAL;
	if ((err = rd64(pl, tstate + w->tstate_frame, &frame)))
		return err;
	if (frame && w->cframe_frame >= 0 &&
	    (err = rd64(pl, frame + (unsigned)w->cframe_frame, &frame)))
		return err;
	/* shims count too: a cycle in garbage ends here */
	for (unsigned steps = 0; frame && n < max && steps < 2 * PYLIVE_MAX_FRAMES; steps++) {
		__u8 fb[FRAME_BYTES];
		struct pylive_frame *f;
		__u64 code, back, instr;

		if (rd(pl, frame, fb, w->frame_bytes))
			return n ? (int)n : -EFAULT;
		memcpy(&code, fb + w->code, 8);
		memcpy(&back, fb + w->back, 8);
		code &= ~((1ull << w->ref_tag_bits) - 1); /* 3.14+: a tagged _PyStackRef */
		if (w->owner >= 0 && fb[w->owner] >= TT_PY_OWNER_CSTACK) {
			if (n)
				out[n - 1].flags |= PYLIVE_F_ENTRY;
			frame = back;
			continue;
		}
		f = &out[n++];
		memset(f, 0, sizeof(*f));
		f->addr = frame;
		f->code = code;
		memcpy(&instr, fb + w->instr, 8);
		f->instr = w->instr_is_ptr ? (__u32)(instr - code) : (__u32)instr;
		if (w->tlbc_index >= 0) { /* free-threaded 3.14+: the thread's bytecode copy */
			__s32 tlbc;

			memcpy(&tlbc, fb + w->tlbc_index, 4);
			f->tlbc_index = tlbc > 0 ? (__u32)tlbc : 0;
		}
		if (w->every_entry || (w->is_entry >= 0 && fb[w->is_entry]))
			f->flags |= PYLIVE_F_ENTRY;
		frame_extent(pl, f);
		{
			const struct tt_pyframe tf = {.code = f->code,
						      .instr = f->instr,
						      .flags = f->tlbc_index << TT_PYF_TLBC_SHIFT};
			const char *q, *file;

			if (pyframes_describe(pl->pf, &tf, &q, &file, &f->line))
				f->line = -1;
		}
		frame = back;
	}
	if (!frame && n)
		out[n - 1].flags |= PYLIVE_F_ENTRY;
	return (int)n;
}

/*
 * Priming reads what names a frame's code and nothing else: one read a frame (pylive_frames
 * also reads each frame's locals and stack extent, three more). A walk that is not full
 * stops at the first frame the thread's last walk saw at the same address with the same
 * code: what lies below it was named then (a frame that replaced an older one below an
 * unchanged one at the same address is missed until the next full walk; pynames makes
 * every fifth poll one).
 */
struct prime_ctx {
	__u64 tstate[PRIME_THREADS];
	unsigned n;
};

static void prime_cb(void *arg, __u32 tid, __u64 tstate)
{
	struct prime_ctx *c = arg;

	if (c->n < PRIME_THREADS)
		c->tstate[c->n++] = tstate;
}

static const struct primed *primed_of(const struct pylive *pl, __u64 tstate)
{
	for (unsigned i = 0; i < pl->nprimed; i++)
		if (pl->primed[i].tstate == tstate)
			return &pl->primed[i];
	return NULL;
}

/* Walk one thread's frames into p (old: its last walk, or NULL). Frames read. */
static int prime_thread(struct pylive *pl, __u64 tstate, const struct primed *old, struct primed *p)
{
	const struct tt_py_walk *w = &pl->w;
	__u64 frame = 0;
	int nread = 0;

	p->tstate = tstate;
	p->n = 0;
	if (w->frame_bytes > FRAME_BYTES || rd64(pl, tstate + w->tstate_frame, &frame))
		return 0;
	if (frame && w->cframe_frame >= 0 && rd64(pl, frame + (unsigned)w->cframe_frame, &frame))
		return 0;
	for (unsigned steps = 0; frame && p->n < PRIME_FRAMES && steps < 2 * PYLIVE_MAX_FRAMES;
	     steps++) {
		__u8 fb[FRAME_BYTES];
		__u64 code, back, instr;
		struct tt_pyframe tf = {0};
		const char *q, *file;
		int line;

		if (rd(pl, frame, fb, w->frame_bytes))
			break;
		nread++;
		memcpy(&code, fb + w->code, 8);
		memcpy(&back, fb + w->back, 8);
		code &= ~((1ull << w->ref_tag_bits) - 1);
		if (w->owner >= 0 && fb[w->owner] >= TT_PY_OWNER_CSTACK) {
			frame = back;
			continue;
		}
		for (unsigned j = 0; old && j < old->n; j++) {
			if (old->addr[j] != frame || old->code[j] != code)
				continue;
			for (; j < old->n && p->n < PRIME_FRAMES; j++, p->n++) {
				p->addr[p->n] = old->addr[j];
				p->code[p->n] = old->code[j];
			}
			return nread;
		}
		p->addr[p->n] = frame;
		p->code[p->n++] = code;
		memcpy(&instr, fb + w->instr, 8);
		tf.code = code;
		tf.instr = w->instr_is_ptr ? (__u32)(instr - code) : (__u32)instr;
		if (w->tlbc_index >= 0) {
			__s32 tlbc;

			memcpy(&tlbc, fb + w->tlbc_index, 4);
			tf.flags = (tlbc > 0 ? (__u32)tlbc : 0) << TT_PYF_TLBC_SHIFT;
		}
		pyframes_describe(pl->pf, &tf, &q, &file, &line); /* names the code, once */
		frame = back;
	}
	return nread;
}

static int prime(struct pylive *pl, bool full)
{
	struct prime_ctx c = {0};
	struct primed *next;
	int err = pygil_threads(&pl->py, prime_cb, &c), total = 0;

	if (err)
		return err;
	next = xcalloc(c.n ? c.n : 1, sizeof(*next));
	for (unsigned i = 0; i < c.n; i++)
		total += prime_thread(pl, c.tstate[i], full ? NULL : primed_of(pl, c.tstate[i]),
				      &next[i]);
	free(pl->primed);
	pl->primed = next;
	pl->nprimed = c.n;
	return total;
}

int pylive_prime_frames(struct pylive *pl)
{
	return prime(pl, true);
}

int pylive_prime_new_frames(struct pylive *pl)
{
	return prime(pl, false);
}

int pylive_frame_name(struct pylive *pl, const struct pylive_frame *f, const char **qualname,
		      const char **file)
{
	const struct tt_pyframe tf = {
	    .code = f->code, .instr = f->instr, .flags = f->tlbc_index << TT_PYF_TLBC_SHIFT};
	int line;

	return pyframes_describe(pl->pf, &tf, qualname, file, &line);
}

int pylive_local(struct pylive *pl, const struct pylive_frame *f, unsigned i, __u64 *obj)
{
	int err;

	if (!f->localsplus || i >= f->nlocalsplus)
		return -ERANGE;
	if ((err = rd64(pl, f->localsplus + 8ull * i, obj)))
		return err;
	*obj &= ~((1ull << pl->o.ref_tag_bits) - 1); /* 3.14+: a _PyStackRef (NULL is tagged) */
	return 0;
}

int pylive_local_by_name(struct pylive *pl, const struct pylive_frame *f, const char *name,
			 __u64 *obj)
{
	__u64 names, size;
	int err;

	if (pl->x.localnames < 0)
		return -EINVAL;
	if ((err = rd64(pl, f->code + (unsigned)pl->x.localnames, &names)) ||
	    (err = is_kind(pl, names, TPF_TUPLE)) || (err = rd64(pl, names + pl->o.ob_size, &size)))
		return err;
	for (__u64 i = 0; i < size && i < f->nlocalsplus; i++) {
		__u64 item;
		char buf[256];

		if (rd64(pl, names + pl->o.tuple_items + 8 * i, &item))
			return -EFAULT;
		if (!pylive_str(pl, item, buf, sizeof(buf)) && !strcmp(buf, name))
			return pylive_local(pl, f, (unsigned)i, obj);
	}
	return -ENOENT;
}

int pylive_stack(struct pylive *pl, const struct pylive_frame *f, unsigned i, __u64 *obj)
{
	int err;

	if (!f->stack_top || i >= f->nstack)
		return -ERANGE;
	if ((err = rd64(pl, f->stack_top - 8ull * (i + 1), obj)))
		return err;
	*obj &= ~((1ull << pl->o.ref_tag_bits) - 1);
	return 0;
}

/* --- objects ---------------------------------------------------------------------------- */

unsigned pylive_head(const struct pylive *pl)
{
	return pl->o.ob_type + 8;
}

int pylive_type(struct pylive *pl, __u64 obj, __u64 *type)
{
	return rd64(pl, obj + pl->o.ob_type, type);
}

__u64 pylive_untag(const struct pylive *pl, __u64 ref)
{
	return ref & ~((1ull << pl->o.ref_tag_bits) - 1);
}

int pylive_type_name(struct pylive *pl, __u64 obj, char *buf, size_t len)
{
	__u64 type, name;
	size_t i;

	if (!len)
		return -EINVAL;
	if (rd64(pl, obj + pl->o.ob_type, &type) || rd64(pl, type + pl->o.tp_name, &name))
		return -EFAULT;
	/* a C string in the target: read it in pieces, a page boundary may end it */
	for (i = 0; i + 1 < len; i++) {
		char c;

		if (rd(pl, name + i, &c, 1))
			return -EFAULT;
		if (!c)
			break;
		buf[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	buf[i] = 0;
	return 0;
}

int pylive_str(struct pylive *pl, __u64 obj, char *buf, size_t len)
{
	char *s;

	if (!len || is_kind(pl, obj, TPF_UNICODE))
		return -EINVAL;
	s = pyframes_read_str(pl->pf, obj);
	if (!s)
		return -EINVAL;
	snprintf(buf, len, "%s", s);
	free(s);
	return 0;
}

int pylive_int(struct pylive *pl, __u64 obj, __s64 *v)
{
	/* one read from ob_type to the third digit; in pieces where that runs off the map */
	unsigned from = pl->o.ob_type, len = pl->o.long_digits + 12 - pl->o.ob_type;
	__u64 tag, ndigits, val = 0, type, flags;
	__u32 digits[3];
	__u8 buf[128];
	bool one = len <= sizeof(buf) && pl->o.long_size >= from && pl->o.long_digits >= from &&
		   !rd(pl, obj + from, buf, len);
	bool neg;
	int err;

	if (one) {
		memcpy(&type, buf, 8);
		if ((err = flags_of(pl, type, &flags)))
			return err;
		if (!(flags & TPF_LONG))
			return -EINVAL;
		memcpy(&tag, buf + pl->o.long_size - from, 8);
		memcpy(digits, buf + pl->o.long_digits - from, sizeof(digits));
	} else if ((err = is_kind(pl, obj, TPF_LONG)) ||
		   (err = rd64(pl, obj + pl->o.long_size, &tag))) {
		return err;
	}
	if (pl->o.long_tag) {
		ndigits = tag >> 3;
		neg = (tag & 3) == 2;
		if ((tag & 3) == 1)
			ndigits = 0; /* zero */
	} else {
		neg = (__s64)tag < 0;
		ndigits = neg ? (__u64) - (__s64)tag : tag;
	}
	if (ndigits > 3)
		return -ERANGE;
	if (!one && ndigits && (err = rd(pl, obj + pl->o.long_digits, digits, 4 * ndigits)))
		return err;
	for (int i = (int)ndigits - 1; i >= 0; i--) {
		if (digits[i] >> 30 || val >> 33)
			return digits[i] >> 30 ? -EINVAL : -ERANGE;
		val = val << 30 | digits[i];
	}
	if (val >> 63)
		return -ERANGE;
	*v = neg ? -(__s64)val : (__s64)val;
	return 0;
}

bool pylive_is_none(struct pylive *pl, __u64 obj)
{
	__u64 type;
	char name[16];

	if (rd64(pl, obj + pl->o.ob_type, &type))
		return false;
	if (pl->none_type)
		return type == pl->none_type;
	if (pylive_type_name(pl, obj, name, sizeof(name)) || strcmp(name, "NoneType"))
		return false;
	pl->none_type = type;
	return true;
}

/* --- dicts ------------------------------------------------------------------------------ */

#define ENTRY_CHUNK 64

/*
 * The items of a keys object: values from its entries (a combined table, values 0), or from
 * a values array (a split table, an instance's values) at values + o->values.
 */
static int keys_items(struct pylive *pl, __u64 keys, __u64 values,
		      int (*cb)(void *ctx, __u64 key, __u64 value), void *ctx)
{
	__u64 nentries, entries, size;
	unsigned esize, koff, voff;

	if (!pl->o.keys_log2) {
		__u64 kh[4]; /* dk_size, dk_lookup, dk_usable, dk_nentries: one read */
		__u64 ix;

		if (rd(pl, keys + 8, kh, sizeof(kh)))
			return -EFAULT;
		size = kh[0];
		nentries = kh[3];
		if (!size || size > (1ull << 30) || (size & (size - 1)))
			return -EINVAL;
		ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
		entries = keys + 40 + size * ix;
		esize = 24;
		koff = 8;
		voff = 16;
	} else {
		/* dk_log2_size, dk_log2_index_bytes, dk_kind at 8, dk_nentries at 24: one read */
		__u8 h[24];

		if (rd(pl, keys + 8, h, sizeof(h)))
			return -EFAULT;
		memcpy(&nentries, h + 16, 8);
		if (h[0] > 30 || h[1] > 34 || h[1] < h[0] || h[2] > 2)
			return -EINVAL;
		size = 1ull << h[0];
		entries = keys + 32 + (1ull << h[1]);
		esize = h[2] ? 16 : 24; /* str-keyed tables drop the hash */
		koff = h[2] ? 0 : 8;
		voff = koff + 8;
	}
	if (nentries > size)
		return -EINVAL;
	if (nentries > PYLIVE_MAX_DICT)
		nentries = PYLIVE_MAX_DICT;
	for (__u64 i = 0; i < nentries; i += ENTRY_CHUNK) {
		__u8 buf[ENTRY_CHUNK * 24];
		__u64 vals[ENTRY_CHUNK];
		unsigned n = nentries - i < ENTRY_CHUNK ? (unsigned)(nentries - i) : ENTRY_CHUNK;

		if (rd(pl, entries + i * esize, buf, n * esize))
			return -EFAULT;
		if (values && rd(pl, values + pl->o.values + 8 * i, vals, 8 * n))
			return -EFAULT;
		for (unsigned k = 0; k < n; k++) {
			__u64 key, value;

			memcpy(&key, buf + k * esize + koff, 8);
			if (values)
				value = vals[k];
			else
				memcpy(&value, buf + k * esize + voff, 8);
			if (key && value && cb(ctx, key, value))
				return 0;
		}
	}
	return 0;
}

int pylive_dict_items(struct pylive *pl, __u64 dict, int (*cb)(void *ctx, __u64 key, __u64 value),
		      void *ctx)
{
	__u64 keys, values;
	int err;

	if ((err = is_kind(pl, dict, TPF_DICT)) ||
	    (err = rd64(pl, dict + pl->o.dict_keys, &keys)) ||
	    (err = rd64(pl, dict + pl->o.dict_values, &values)))
		return err;
	return keys_items(pl, keys, values, cb, ctx);
}

/* --- dict keys by address (see struct pylive) ----------------------------------------- */

#define KEY_ROUND_MS 20
#define MAX_WANT     4

/* The round now: a remembered key's header is checked again once in each (20 ms). */
static unsigned key_round(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (unsigned)(((__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000) / KEY_ROUND_MS);
}

/* The remembered key named name, its header checked this round: its index, or -1. */
static int known_key(struct pylive *pl, const char *name, unsigned round)
{
	for (unsigned i = 0; i < pl->nkeys; i++) {
		struct known_key *k = &pl->keys[i];
		__u8 head[KEY_HEAD];

		if (!k->addr || strcmp(k->name, name))
			continue;
		if (k->round == round)
			return (int)i;
		if (rd(pl, k->addr + pl->o.ob_type, head, KEY_HEAD) ||
		    memcmp(head, k->head, KEY_HEAD)) {
			k->addr = 0; /* freed, or its hash computed since: found by characters */
			return -1;
		}
		k->round = round;
		return (int)i;
	}
	return -1;
}

static void remember_key(struct pylive *pl, const char *name, __u64 addr, unsigned round)
{
	struct known_key *k = NULL;

	if (strlen(name) >= KEY_NAME)
		return;
	for (unsigned i = 0; i < pl->nkeys && !k; i++)
		if (!strcmp(pl->keys[i].name, name))
			k = &pl->keys[i];
	if (!k && pl->nkeys < KEY_CACHE)
		k = &pl->keys[pl->nkeys++];
	if (!k)
		k = &pl->keys[pl->next_key++ % KEY_CACHE];
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->addr = addr;
	k->round = round;
	if (rd(pl, addr + pl->o.ob_type, k->head, KEY_HEAD))
		k->addr = 0;
}

struct get_ctx {
	struct pylive *pl;
	const char *const *names;
	unsigned n, left, round;
	__u64 *values;	       /* 0: not found (yet) */
	__u64 known[MAX_WANT]; /* the remembered key's address of each name, or 0 */
};

/* first: the keys matched by address only (no read) */
static int get_by_addr(void *arg, __u64 key, __u64 value)
{
	struct get_ctx *c = arg;

	for (unsigned i = 0; i < c->n; i++)
		if (!c->values[i] && c->known[i] == key) {
			c->values[i] = value;
			return !--c->left;
		}
	return 0;
}

/* then, for names still missing: by their characters */
static int get_by_chars(void *arg, __u64 key, __u64 value)
{
	struct get_ctx *c = arg;
	char buf[256];

	for (unsigned i = 0; i < c->n; i++)
		if (c->known[i] == key)
			return 0; /* another name's, found by address */
	if (pylive_str(c->pl, key, buf, sizeof(buf)))
		return 0;
	for (unsigned i = 0; i < c->n; i++)
		if (!c->values[i] && !strcmp(buf, c->names[i])) {
			c->values[i] = value;
			remember_key(c->pl, c->names[i], key, c->round);
			return !--c->left;
		}
	return 0;
}

/* The items of keys (and values) named names[0..n): values[i], 0 where absent. 0 or -errno. */
static int keys_lookup(struct pylive *pl, __u64 keys, __u64 values, const char *const *names,
		       unsigned n, __u64 *out)
{
	struct get_ctx c = {
	    .pl = pl, .names = names, .n = n, .left = n, .round = key_round(), .values = out};
	bool any = false;
	int err;

	if (n > MAX_WANT)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		int k = known_key(pl, names[i], c.round);

		out[i] = 0;
		c.known[i] = k >= 0 ? pl->keys[k].addr : 0;
		any = any || c.known[i];
	}
	if (any && (err = keys_items(pl, keys, values, get_by_addr, &c)))
		return err;
	if (c.left && (err = keys_items(pl, keys, values, get_by_chars, &c)))
		return err;
	return 0;
}

static int keys_get(struct pylive *pl, __u64 keys, __u64 values, const char *key, __u64 *value)
{
	int err = keys_lookup(pl, keys, values, &key, 1, value);

	if (err)
		return err;
	return *value ? 0 : -ENOENT;
}

int pylive_dict_get(struct pylive *pl, __u64 dict, const char *key, __u64 *value)
{
	__u64 keys, values;
	int err;

	if ((err = is_kind(pl, dict, TPF_DICT)) ||
	    (err = rd64(pl, dict + pl->o.dict_keys, &keys)) ||
	    (err = rd64(pl, dict + pl->o.dict_values, &values)))
		return err;
	return keys_get(pl, keys, values, key, value);
}

/* The instance's values and its type's shared keys, when it keeps no dict of its own. */
static int managed_values(struct pylive *pl, __u64 obj, __u64 type, __u64 flags, __u64 *dict,
			  __u64 *values)
{
	__u64 v = 0;

	*dict = *values = 0;
	switch (pl->o.managed) {
	case MANAGED_311:
		if (rd64(pl, obj - 32, values) || rd64(pl, obj - 24, dict))
			return -EFAULT;
		break;
	case MANAGED_312:
		if (rd64(pl, obj - 24, &v))
			return -EFAULT;
		if (v & 1)
			*values = v + 1;
		else
			*dict = v;
		break;
	case MANAGED_313:
		if (rd64(pl, obj + (__u64)(__s64)pl->o.managed_dict, dict))
			return -EFAULT;
		if (!*dict && (flags & TPF_INLINE_VALUES)) {
			__u64 basic;
			__u8 valid;

			if (rd64(pl, type + pl->o.tp_basicsize, &basic) || basic > 4096 ||
			    rd(pl, obj + basic + 3, &valid, 1))
				return -EFAULT;
			if (valid)
				*values = obj + basic;
		}
		break;
	}
	return 0;
}

int pylive_getattrs(struct pylive *pl, __u64 obj, const char *const *names, unsigned n,
		    __u64 *values)
{
	__u64 type, flags, dict = 0, vals = 0, keys;
	int err;

	for (unsigned i = 0; i < n; i++)
		values[i] = 0;
	if ((err = type_flags(pl, obj, &type, &flags)))
		return err;
	if (pl->o.managed != MANAGED_NONE && (flags & TPF_MANAGED_DICT)) {
		if ((err = managed_values(pl, obj, type, flags, &dict, &vals)))
			return err;
		if (vals) {
			if ((err = rd64(pl, type + pl->o.cached_keys, &keys)))
				return err;
			return keys_lookup(pl, keys, vals, names, n, values);
		}
	} else {
		__s64 off;
		__u64 basic, item, size;

		if ((err = rd64(pl, type + pl->o.tp_dictoffset, (__u64 *)&off)))
			return err;
		if (!off)
			return 0;
		if (off < 0) { /* from the end of a variable-size object */
			if (rd64(pl, type + pl->o.tp_basicsize, &basic) ||
			    rd64(pl, type + pl->o.tp_itemsize, &item) ||
			    rd64(pl, obj + pl->o.ob_size, &size))
				return -EFAULT;
			size = (__s64)size < 0 ? (__u64) - (__s64)size : size;
			if (basic > 4096 || item > 4096 || size > (1u << 20))
				return -EINVAL;
			off += (__s64)(basic + size * item);
			off = (off + 7) & ~7LL;
		}
		if (off < 0 || off > 65536)
			return -EINVAL;
		if ((err = rd64(pl, obj + (__u64)off, &dict)))
			return err;
	}
	if (!dict)
		return 0;
	if ((err = is_kind(pl, dict, TPF_DICT)) ||
	    (err = rd64(pl, dict + pl->o.dict_keys, &keys)) ||
	    (err = rd64(pl, dict + pl->o.dict_values, &vals)))
		return err;
	return keys_lookup(pl, keys, vals, names, n, values);
}

int pylive_getattr(struct pylive *pl, __u64 obj, const char *name, __u64 *value)
{
	int err = pylive_getattrs(pl, obj, &name, 1, value);

	if (err)
		return err;
	return *value ? 0 : -ENOENT;
}

int pylive_module(struct pylive *pl, const char *name, __u64 *module)
{
	__u64 modules;
	int err;

	if (!pl->py.sys_modules)
		return -EINVAL;
	if ((err = rd64(pl, pl->py.sys_modules, &modules)))
		return err;
	if (!modules)
		return -ENOENT;
	return pylive_dict_get(pl, modules, name, module);
}

int pylive_module_attr(struct pylive *pl, __u64 module, const char *name, __u64 *value)
{
	char type[16];
	__u64 dict;
	int err;

	if ((err = pylive_type_name(pl, module, type, sizeof(type))))
		return err;
	if (strcmp(type, "module"))
		return -EINVAL;
	if ((err = rd64(pl, module + pl->o.module_dict, &dict)))
		return err;
	return pylive_dict_get(pl, dict, name, value);
}

/* --- thread names ----------------------------------------------------------------------- */

/*
 * Each call reads _active's entries (a few reads). An entry seen at the last call (the same
 * ident key object and Thread object) whose thread has not exited since (pylive_thread_gone)
 * is the same thread with the same Thread: unless recheck or all is asked, nothing more of
 * it is read. Of the others, each Thread's _name and _native_id pointers in one lookup
 * (pylive_getattrs), and the native id. A thread seen with the same Thread object and the
 * same _name object has the same name (a str never changes; `thread.name = x` stores another
 * object): its characters are not read again, and unless all is asked it is not passed to
 * cb. A rename is so found at the next call with recheck; one whose new str took the old
 * one's address between two such calls is not, until a call for all (pynames makes one when
 * tracing stops). A thread that took an exited one's Thread and key addresses before its
 * exit was told is read at the first call after.
 */
enum names_mode { NAMES_NEW, NAMES_RECHECK, NAMES_ALL };

struct names_ctx {
	struct pylive *pl;
	struct pylive_thread *threads; /* read when first needed; their tids the host's */
	int nthreads;
	bool threads_read, round_open;
	enum names_mode mode;
	struct pidns *round; /* Thread._native_id is the target's PID namespace's */
	struct seen_name *seen;
	size_t nseen, cap;
	void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name);
	void *ctx;
	int named;
};

static int seen_cmp(const void *a, const void *b)
{
	const struct seen_name *x = a, *y = b;

	return x->thread < y->thread ? -1 : x->thread > y->thread;
}

static int name_cb(void *arg, __u64 key, __u64 thread)
{
	static const char *const attrs[] = {"_name", "_native_id"};
	struct names_ctx *c = arg;
	struct pylive *pl = c->pl;
	struct seen_name want = {.thread = thread, .key = key}, *prev;
	__u64 a[2];
	__s64 ident = 0, native = 0;
	char name[256];

	prev = pl->nseen ? bsearch(&want, pl->seen, pl->nseen, sizeof(want), seen_cmp) : NULL;
	if (prev && c->mode == NAMES_NEW && prev->key == key && !prev->gone) {
		*VEC_PUSH(c->seen, c->nseen, c->cap) = *prev;
		c->named++;
		return c->named >= PYLIVE_MAX_THREADS;
	}
	if (pylive_getattrs(pl, thread, attrs, 2, a) || !a[0])
		return 0;
	if (!a[1] || pylive_int(pl, a[1], &native) || native <= 0 || native > 0x3fffffff) {
		native = 0; /* None before _bootstrap_inner ran: by its ident */
		pylive_int(pl, key, &ident);
		if (!c->threads_read) {
			c->threads_read = true;
			c->threads = xcalloc(PYLIVE_MAX_THREADS, sizeof(*c->threads));
			c->nthreads = pylive_threads(pl, c->threads, PYLIVE_MAX_THREADS);
		}
		for (int i = 0; i < c->nthreads && ident; i++)
			if (c->threads[i].ident == (__u64)ident)
				native = c->threads[i].tid;
	} else {
		if (!c->round_open) {
			c->round_open = true;
			c->round = pygil_ns_round(&pl->py);
		}
		native = pygil_host_tid(c->round, (__u32)native);
	}
	if (!native)
		return 0;
	want.tid = (__u32)native;
	want.name_obj = a[0];
	if (c->mode == NAMES_ALL || !prev || prev->tid != want.tid || prev->name_obj != a[0]) {
		if (pylive_str(pl, a[0], name, sizeof(name)))
			return 0;
		if (!ident)
			pylive_int(pl, key, &ident);
		c->cb(c->ctx, (__u32)native, (__u64)ident, name);
	}
	*VEC_PUSH(c->seen, c->nseen, c->cap) = want;
	c->named++;
	return c->named >= PYLIVE_MAX_THREADS;
}

static int thread_names(struct pylive *pl, enum names_mode mode,
			void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name), void *ctx)
{
	struct names_ctx c = {.pl = pl, .mode = mode, .cb = cb, .ctx = ctx};
	__u64 threading, active;
	int err;

	if (pl->active && !is_kind(pl, pl->active, TPF_DICT)) {
		active = pl->active;
	} else {
		if ((err = pylive_module(pl, "threading", &threading)) ||
		    (err = pylive_module_attr(pl, threading, "_active", &active)))
			return err;
		pl->active = active;
	}
	err = pylive_dict_items(pl, active, name_cb, &c);
	if (c.round_open)
		pidns_close(c.round);
	free(c.threads);
	if (err) {
		free(c.seen);
		return err;
	}
	if (c.nseen)
		qsort(c.seen, c.nseen, sizeof(*c.seen), seen_cmp);
	free(pl->seen);
	pl->seen = c.seen;
	pl->nseen = c.nseen;
	return c.named;
}

int pylive_thread_names(struct pylive *pl,
			void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name), void *ctx)
{
	return thread_names(pl, NAMES_ALL, cb, ctx);
}

int pylive_thread_names_new(struct pylive *pl, bool recheck,
			    void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name),
			    void *ctx)
{
	return thread_names(pl, recheck ? NAMES_RECHECK : NAMES_NEW, cb, ctx);
}

void pylive_thread_gone(struct pylive *pl, __u32 tid)
{
	for (size_t i = 0; pl && tid && i < pl->nseen; i++)
		if (pl->seen[i].tid == tid)
			pl->seen[i].gone = true;
}

/*
 * Threads that ended before _active was read: their Thread objects stay in threading._dangling
 * (a WeakSet every Thread joins in __init__, 3.8-3.15) while anything refers to them — the
 * list a program joins them from, typically. WeakSet.data is a set of weak references: the
 * set's table (after the object header: fill, used, mask, table) holds {key, hash} entries,
 * a weak reference's referent is its first field (None once it died). Only the tids asked for
 * are named, and a tid two Thread objects claim (an ended thread's, reused) is left unnamed.
 */
struct ended {
	__u32 tid;
	bool twice;
	__s64 ident;
	char name[256];
};

int pylive_ended_thread_names(struct pylive *pl, const __u32 *tids, size_t nr_tids,
			      void (*cb)(void *ctx, __u32 tid, __u64 ident, const char *name),
			      void *ctx)
{
	unsigned head = pl->o.ob_type + 8; /* sizeof(PyObject): 16, free-threaded 32 */
	__u64 threading, dangling, data, mask, table;
	char type[32];
	struct ended *found;
	struct pidns *round;
	size_t nr_found = 0;
	int err, named = 0;

	if (!nr_tids)
		return 0;
	if ((err = pylive_module(pl, "threading", &threading)) ||
	    (err = pylive_module_attr(pl, threading, "_dangling", &dangling)) ||
	    (err = pylive_getattr(pl, dangling, "data", &data)))
		return err;
	if (pylive_type_name(pl, data, type, sizeof(type)) || strcmp(type, "set"))
		return -EINVAL;
	if ((err = rd64(pl, data + head + 16, &mask)) || (err = rd64(pl, data + head + 24, &table)))
		return err;
	if (mask >= (1u << 16) || ((mask + 1) & mask) || !table)
		return -EINVAL;
	found = xcalloc(nr_tids, sizeof(*found));
	round = pygil_ns_round(&pl->py);
	for (__u64 i = 0; i <= mask; i++) {
		__u64 ref, thread, name_obj, native_obj, ident_obj;
		__s64 native = 0, ident = 0;
		struct ended *e = NULL;
		char name[256];
		__u32 tid;

		if (rd64(pl, table + i * 16, &ref) || !ref ||
		    pylive_type_name(pl, ref, type, sizeof(type)) ||
		    (strcmp(type, "weakref") && strcmp(type, "weakref.ReferenceType")) ||
		    rd64(pl, ref + head, &thread) || !thread || pylive_is_none(pl, thread) ||
		    pylive_getattr(pl, thread, "_native_id", &native_obj) ||
		    pylive_int(pl, native_obj, &native) || native <= 0 || native > 0x3fffffff ||
		    pylive_getattr(pl, thread, "_name", &name_obj) ||
		    pylive_str(pl, name_obj, name, sizeof(name)))
			continue;
		tid = pygil_host_tid(round, (__u32)native);
		for (size_t k = 0; k < nr_tids && !e; k++)
			if (tids[k] == tid)
				e = &found[nr_found];
		if (!e)
			continue;
		for (size_t k = 0; k < nr_found; k++)
			if (found[k].tid == tid)
				e = &found[k];
		if (e == &found[nr_found]) {
			nr_found++;
			e->tid = tid;
			if (!pylive_getattr(pl, thread, "_ident", &ident_obj))
				pylive_int(pl, ident_obj, &ident);
			e->ident = ident;
			snprintf(e->name, sizeof(e->name), "%s", name);
		} else {
			e->twice = true;
		}
		if (nr_found == nr_tids)
			break;
	}
	pidns_close(round);
	for (size_t k = 0; k < nr_found; k++)
		if (!found[k].twice) {
			cb(ctx, found[k].tid, (__u64)found[k].ident, found[k].name);
			named++;
		}
	free(found);
	return named;
}
