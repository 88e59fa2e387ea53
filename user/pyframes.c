// SPDX-License-Identifier: GPL-2.0
/* pyframes.c - see pyframes.h. Offsets from the pyenv builds' DWARF: doc/cpython-layouts.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pyframes.h"
#include "procfs.h"
#include "util.h"

static const struct {
	unsigned minor;
	struct tt_py_walk w;
} walks[] = {
    /* tstate_frame, cframe_frame, back, code, instr, instr_is_ptr, is_entry, owner,
     * every_entry, frame_bytes, localsplus, ref_tag_bits, tlbc_index; 3.13+: from the
     * debug offsets (pyframes_walk_debug) */
    {8, {24, -1, 24, 32, 104, 0, -1, -1, 1, 112, 360, 0, -1}}, /* PyFrameObject, f_lasti */
    {9, {24, -1, 24, 32, 104, 0, -1, -1, 1, 112, 360, 0, -1}},
    {10, {24, -1, 24, 32, 96, 0, -1, -1, 1, 104, 352, 0, -1}}, /* f_lasti in code units */
    {11, {56, 8, 48, 32, 56, 1, 68, -1, 0, 72, 72, 0, -1}},    /* cframe->current_frame */
    {12, {56, 0, 8, 0, 56, 1, -1, 70, 0, 72, 72, 0, -1}},      /* shims owned by the C stack */
};

/* PyCodeObject fields, and where a compact str keeps its characters. */
struct code_layout {
	unsigned minor;
	unsigned firstlineno, filename, name;
	int qualname;	/* -1: none before 3.11 (co_name then) */
	unsigned table; /* co_lnotab / co_linetable: a bytes object */
	int bytecode;	/* co_code_adaptive, 3.11+: instructions inline in the code object */
	unsigned ascii_data, compact_data; /* str: 1-byte ASCII / other compact kinds */
	unsigned ob_type, bytes_size, bytes_data, str_length, str_state;
	unsigned state_shift;	/* str state: bits below `kind` (interned: 2, a byte when FT) */
	int tlbc;		/* co_tlbc, free-threaded 3.14+; -1: none */
	struct pyframe_extra x; /* what only user space reads: locals and value stack */
};

/* The extra fields: valuestack, stack, stack_kind, nlocalsplus, localnames (pyframes.h). */
static const struct code_layout codes[] = {
    {8, 40, 104, 112, -1, 120, -1, 48, 72, 8, 16, 32, 16, 32, 2, -1, {64, 72, PYSTACK_PTR, -1, 72}},
    {9, 40, 104, 112, -1, 120, -1, 48, 72, 8, 16, 32, 16, 32, 2, -1, {64, 72, PYSTACK_PTR, -1, 72}},
    {10,
     40,
     104,
     112,
     -1,
     120,
     -1,
     48,
     72,
     8,
     16,
     32,
     16,
     32,
     2,
     -1,
     {64, 80, PYSTACK_DEPTH, -1, 72}},
    {11,
     72,
     112,
     120,
     128,
     136,
     184,
     48,
     72,
     8,
     16,
     32,
     16,
     32,
     2,
     -1,
     {-1, 64, PYSTACK_SLOTS, 76, 96}},
    {12,
     68,
     112,
     120,
     128,
     136,
     192,
     40,
     56,
     8,
     16,
     32,
     16,
     32,
     2,
     -1,
     {-1, 64, PYSTACK_SLOTS, 72, 96}},
};

#define MAX_TABLE (64 << 10)
#define MAX_NAME  512

bool pyframes_walk_debug(const struct py_debug_offsets *o, struct tt_py_walk *w)
{
	__u32 most = o->fr_previous;

	if (o->fr_executable > most)
		most = o->fr_executable;
	if (o->fr_instr_ptr > most)
		most = o->fr_instr_ptr;
	if (o->fr_owner > most)
		most = o->fr_owner;
	if (o->fr_tlbc_index != PYDEBUG_NONE && o->fr_tlbc_index > most)
		most = o->fr_tlbc_index;
	if (most + 8 >= TT_PY_FRAME_BYTES || o->ts_current_frame == PYDEBUG_NONE)
		return false; /* the walk reads less than a frame's first TT_PY_FRAME_BYTES */
	*w = (struct tt_py_walk){
	    .tstate_frame = o->ts_current_frame,
	    .cframe_frame = -1,
	    .back = o->fr_previous,
	    .code = o->fr_executable,
	    .instr = o->fr_instr_ptr,
	    .instr_is_ptr = 1,
	    .is_entry = -1,
	    .owner = (__s32)o->fr_owner,
	    .every_entry = 0,
	    .frame_bytes = most + 8,
	    .localsplus = (__s32)o->fr_localsplus,
	    .ref_tag_bits = o->ref_tag_bits,
	    .tlbc_index = o->fr_tlbc_index == PYDEBUG_NONE ? -1 : (__s32)o->fr_tlbc_index,
	};
	return true;
}

bool pyframes_walk(unsigned minor, struct tt_py_walk *w)
{
	for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++)
		if (walks[i].minor == minor) {
			*w = walks[i].w;
			return true;
		}
	return false;
}

struct pycode {
	char *qualname, *filename; /* NULL: not a code object (or unreadable) */
	int firstlineno;
	__u8 *table;
	size_t table_len;
};

/* A source file of the target, read once (through /proc/PID/root), for the lines it runs. */
struct pysrc {
	char *path;
	char *text; /* NULL: unreadable */
	size_t len;
};

struct pyframes {
	pid_t pid;
	struct pysrc *src;
	size_t nr_src, cap_src;
	const struct code_layout *l;
	struct code_layout dl; /* 3.13+: from the debug offsets */
	__u64 code_type;
	struct pycode *v;
	size_t n, cap;
	struct u64_map by_addr; /* code object -> index + 1 */
};

struct pyframes *pyframes_new(pid_t pid, unsigned minor, __u64 code_type)
{
	struct pyframes *pf;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].minor == minor) {
			pf = xcalloc(1, sizeof(*pf));
			pf->pid = pid;
			pf->l = &codes[i];
			pf->code_type = code_type;
			return pf;
		}
	return NULL;
}

struct pyframes *pyframes_new_debug(pid_t pid, const struct py_debug_offsets *o, __u64 code_type)
{
	struct pyframes *pf = xcalloc(1, sizeof(*pf));
	struct code_layout *l = &pf->dl;

	pf->pid = pid;
	l->minor = (o->hexversion >> 16) & 0xff;
	l->firstlineno = o->co_firstlineno;
	l->filename = o->co_filename;
	l->name = o->co_name;
	l->qualname = (int)o->co_qualname;
	l->table = o->co_linetable;
	l->bytecode = (int)o->co_code_adaptive;
	l->ascii_data = o->str_ascii_data;
	l->compact_data = o->str_compact_data;
	l->ob_type = o->ob_type;
	l->bytes_size = o->bytes_size;
	l->bytes_data = o->bytes_sval;
	l->str_length = o->str_length;
	l->str_state = o->str_state;
	/* a free-threaded 3.14+ str keeps `interned` in a byte of its own before kind (3.13t:
	 * still 2 bits, measured) */
	l->state_shift = o->free_threaded && l->minor >= 14 ? 8 : 2;
	l->tlbc = o->co_tlbc == PYDEBUG_NONE ? -1 : (int)o->co_tlbc;
	/* locals and value stack (user/pylive.c): 3.14+ keep a stack pointer; 3.13 an int
	 * stacktop, the slot count from localsplus, right before return_offset and owner (frame
	 * +64 of 72, measured on 3.13.5 and 3.13t); co_nlocalsplus follows co_firstlineno
	 * (3.11-3.15, measured) */
	l->x.valuestack = -1;
	if (o->fr_stackpointer != PYDEBUG_NONE) {
		l->x.stack = (int)o->fr_stackpointer;
		l->x.stack_kind = PYSTACK_PTR;
	} else if (l->minor == 13 && o->fr_localsplus >= 8) {
		l->x.stack = (int)o->fr_localsplus - 8;
		l->x.stack_kind = PYSTACK_SLOTS;
	}
	l->x.nlocalsplus = (int)o->co_firstlineno + 4;
	l->x.localnames = o->co_localsplusnames == PYDEBUG_NONE ? -1 : (int)o->co_localsplusnames;
	pf->l = l;
	pf->code_type = code_type;
	return pf;
}

bool pyframes_extra(const struct pyframes *pf, struct pyframe_extra *x)
{
	if (!pf->l->x.stack_kind)
		return false;
	*x = pf->l->x;
	return true;
}

void pyframes_free(struct pyframes *pf)
{
	if (!pf)
		return;
	for (size_t i = 0; i < pf->n; i++) {
		free(pf->v[i].qualname);
		free(pf->v[i].filename);
		free(pf->v[i].table);
	}
	for (size_t i = 0; i < pf->nr_src; i++) {
		free(pf->src[i].path);
		free(pf->src[i].text);
	}
	free(pf->src);
	free(pf->v);
	u64_map_free(&pf->by_addr);
	free(pf);
}

static int rd64(const struct pyframes *pf, __u64 addr, __u64 *v)
{
	return procfs_read_mem(pf->pid, addr, v, 8);
}

char *pyframes_read_str(const struct pyframes *pf, __u64 obj)
{
	__u64 len;
	__u32 state, kind;
	__u8 raw[MAX_NAME * 4];
	char *out, *o;

	unsigned sh = pf->l->state_shift;

	if (!obj || rd64(pf, obj + pf->l->str_length, &len) ||
	    procfs_read_mem(pf->pid, obj + pf->l->str_state, &state, 4))
		return NULL;
	kind = (state >> sh) & 7;
	if (!(state & (1u << (sh + 3))) || (kind != 1 && kind != 2 && kind != 4))
		return NULL; /* not compact: its characters live elsewhere */
	if (len > MAX_NAME)
		len = MAX_NAME;
	if (procfs_read_mem(
		pf->pid,
		obj + ((state & (1u << (sh + 4))) ? pf->l->ascii_data : pf->l->compact_data), raw,
		len * kind))
		return NULL;
	o = out = xcalloc(1, len * 4 + 1);
	for (__u64 i = 0; i < len; i++) {
		__u32 c = kind == 1 ? raw[i] : kind == 2 ? ((__u16 *)raw)[i] : ((__u32 *)raw)[i];

		if (c < 0x80) {
			*o++ = c >= 0x20 ? (char)c : '?';
		} else if (c < 0x800) {
			*o++ = (char)(0xc0 | c >> 6);
			*o++ = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			*o++ = (char)(0xe0 | c >> 12);
			*o++ = (char)(0x80 | ((c >> 6) & 0x3f));
			*o++ = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x110000) {
			*o++ = (char)(0xf0 | c >> 18);
			*o++ = (char)(0x80 | ((c >> 12) & 0x3f));
			*o++ = (char)(0x80 | ((c >> 6) & 0x3f));
			*o++ = (char)(0x80 | (c & 0x3f));
		}
	}
	return out;
}

static void read_code(const struct pyframes *pf, __u64 addr, struct pycode *c)
{
	const struct code_layout *l = pf->l;
	__u64 type = 0, name = 0, file = 0, table = 0, tlen = 0;
	__s32 first = 0;

	memset(c, 0, sizeof(*c));
	if (rd64(pf, addr + l->ob_type, &type) || (pf->code_type && type != pf->code_type))
		return;
	if (rd64(pf, addr + (l->qualname >= 0 ? (unsigned)l->qualname : l->name), &name) ||
	    rd64(pf, addr + l->filename, &file) || rd64(pf, addr + l->table, &table) ||
	    procfs_read_mem(pf->pid, addr + l->firstlineno, &first, 4))
		return;
	c->qualname = pyframes_read_str(pf, name);
	c->filename = pyframes_read_str(pf, file);
	c->firstlineno = first;
	if (table && !rd64(pf, table + l->bytes_size, &tlen) && tlen && tlen <= MAX_TABLE) {
		c->table = xcalloc(1, tlen);
		if (procfs_read_mem(pf->pid, table + l->bytes_data, c->table, tlen)) {
			free(c->table);
			c->table = NULL;
		} else {
			c->table_len = tlen;
		}
	}
}

static unsigned varint(const __u8 **p, const __u8 *end)
{
	unsigned b, val, shift = 0;

	if (*p >= end)
		return 0;
	b = *(*p)++;
	val = b & 63;
	while ((b & 64) && *p < end && shift < 24) {
		b = *(*p)++;
		shift += 6;
		val |= (b & 63) << shift;
	}
	return val;
}

static int svarint(const __u8 **p, const __u8 *end)
{
	unsigned u = varint(p, end);

	return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
}

int pyframes_line(unsigned minor, const __u8 *t, size_t len, int line, long addr)
{
	const __u8 *p = t, *end = t + len;
	long start = 0, stop = 0;

	if (addr < 0)
		return line;
	if (minor <= 9) { /* co_lnotab: (bytecode delta, signed line delta) pairs */
		for (; p + 1 < end; p += 2) {
			start += p[0];
			if (start > addr)
				break;
			line += (signed char)p[1];
		}
		return line;
	}
	if (minor == 10) { /* PEP 626: (bytecode delta, line delta or -128 for none) pairs */
		int cur = -1;

		for (; p + 1 < end && stop <= addr; p += 2) {
			start = stop;
			stop += p[0];
			if ((signed char)p[1] == -128) {
				cur = -1;
			} else {
				line += (signed char)p[1];
				cur = line;
			}
		}
		return stop > addr ? cur : -1;
	}
	/* 3.11+ (PEP 657): entries of code-unit ranges, each with a line delta */
	while (p < end) {
		__u8 b = *p;
		unsigned code = (b >> 3) & 15;
		long n = ((b & 7) + 1) * 2;
		const __u8 *q = p + 1;
		int delta = 0;

		if (!(b & 0x80))
			return -1; /* not an entry's first byte: a damaged table */
		if (code == 13 || code == 14)
			delta = svarint(&q, end);
		else if (code >= 10 && code <= 12)
			delta = (int)code - 10;
		line += delta;
		if (addr >= start && addr < start + n)
			return code == 15 ? -1 : line;
		start += n;
		for (p++; p < end && !(*p & 0x80); p++)
			;
	}
	return -1;
}

/*
 * The file as native frames show theirs: its base name ("threading.py"), with the directory
 * for a package's __init__.py or __main__.py ("json/__init__.py").
 */
static const char *short_file(const char *path)
{
	const char *b = strrchr(path, '/');

	if (!b)
		return path;
	if (strcmp(b, "/__init__.py") && strcmp(b, "/__main__.py"))
		return b + 1;
	while (b > path && b[-1] != '/')
		b--;
	return b;
}

static const struct pycode *code_of(struct pyframes *pf, __u64 addr)
{
	bool found;
	__u64 *slot = u64_map_upsert(&pf->by_addr, addr, &found);

	if (!found) {
		read_code(pf, addr, VEC_PUSH(pf->v, pf->n, pf->cap));
		*slot = pf->n;
	}
	return &pf->v[*slot - 1];
}

#define MAX_SOURCE (8u << 20)

/* Line `line` (1-based) of a source file as the target sees it, trimmed, into out; false if
 * there is none (a file gone, <string>, a frozen module). */
static bool source_line(struct pyframes *pf, const char *path, int line, char *out, size_t len)
{
	struct pysrc *f = NULL;
	const char *p, *end;

	for (size_t i = 0; i < pf->nr_src && !f; i++)
		if (!strcmp(pf->src[i].path, path))
			f = &pf->src[i];
	if (!f) {
		char full[4200];
		FILE *fp;

		f = VEC_PUSH(pf->src, pf->nr_src, pf->cap_src);
		f->path = xstrdup(path);
		/* a relative name (3.8's __main__) is the process's working directory's */
		snprintf(full, sizeof(full), path[0] == '/' ? "/proc/%d/root%s" : "/proc/%d/cwd/%s",
			 (int)pf->pid, path);
		fp = path[0] && path[0] != '<' ? fopen(full, "r") : NULL;
		if (fp && !fseek(fp, 0, SEEK_END)) {
			long size = ftell(fp);

			if (size > 0 && size <= (long)MAX_SOURCE && !fseek(fp, 0, SEEK_SET)) {
				f->text = xcalloc(1, (size_t)size + 1);
				f->len = fread(f->text, 1, (size_t)size, fp);
			}
		}
		if (fp)
			fclose(fp);
	}
	if (!f->text || line < 1)
		return false;
	p = f->text;
	end = f->text + f->len;
	for (int n = 1; n < line && p < end; n++) {
		p = memchr(p, '\n', (size_t)(end - p));
		p = p ? p + 1 : end;
	}
	if (p >= end)
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	end = memchr(p, '\n', (size_t)(end - p)) ?: end;
	while (end > p && (end[-1] == ' ' || end[-1] == '\r' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - p) >= len)
		end = p + len - 1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = 0;
	return true;
}

/*
 * Free-threaded 3.14+: a thread runs its own copy of the bytecode (co_tlbc->entries[index],
 * entry 0 the code object's own): how far that copy is from where the code object's own
 * would put the instruction, modulo 2^32 like instr. 0 for the code object's own.
 */
static __u32 tlbc_base(const struct pyframes *pf, const struct tt_pyframe *f)
{
	__u32 index = f->flags >> TT_PYF_TLBC_SHIFT;
	__u64 array = 0, size = 0, copy = 0;

	if (pf->l->tlbc < 0 || !index || rd64(pf, f->code + (unsigned)pf->l->tlbc, &array) ||
	    !array || rd64(pf, array, &size) || index >= size ||
	    rd64(pf, array + 8 + 8 * (__u64)index, &copy) || !copy)
		return 0;
	return (__u32)(copy - (f->code + (unsigned)pf->l->bytecode));
}

static int frame_line(const struct pyframes *pf, const struct pycode *c, const struct tt_pyframe *f)
{
	long addr;

	if (pf->l->bytecode >= 0)
		addr = (long)(__s32)(f->instr - tlbc_base(pf, f)) - pf->l->bytecode;
	else
		addr = pf->l->minor == 10 ? (long)(__s32)f->instr * 2 : (long)(__s32)f->instr;
	return c->table ? pyframes_line(pf->l->minor, c->table, c->table_len, c->firstlineno, addr)
			: -1;
}

void pyframes_where(struct pyframes *pf, const struct tt_pyframe *f, const char **qualname,
		    const char **filename, int *line)
{
	const struct pycode *c = code_of(pf, f->code);

	*qualname = c->qualname;
	*filename = c->filename;
	*line = c->qualname ? frame_line(pf, c, f) : -1;
}

int pyframes_describe(struct pyframes *pf, const struct tt_pyframe *f, const char **qualname,
		      const char **file, int *line)
{
	const char *full;

	pyframes_where(pf, f, qualname, &full, line);
	if (!*qualname) {
		*file = NULL;
		*line = -1;
		return -ENOENT;
	}
	*file = full ? short_file(full) : "?";
	return 0;
}

void pyframes_note(struct pyframes *pf, struct symdata *sd, const struct tt_pystack *ps)
{
	for (unsigned i = 0; i < ps->nr && i < TT_PY_MAX_FRAMES; i++) {
		const struct tt_pyframe *f = &ps->frames[i];
		__u64 ip = pyframe_ip(f);
		char name[2 * MAX_NAME + 64];
		const char *qualname, *file, *full;
		int line;

		if (symdata_frame(sd, ip))
			continue;
		if (pyframes_describe(pf, f, &qualname, &file, &line)) {
			snprintf(name, sizeof(name), "[python code 0x%llx]",
				 (unsigned long long)f->code);
			symdata_add_frame(sd, ip, name, NULL);
			continue;
		}
		if (line >= 0)
			snprintf(name, sizeof(name), "%s (%s:%d)", qualname, file, line);
		else
			snprintf(name, sizeof(name), "%s (%s)", qualname, file);
		symdata_add_frame(sd, ip, name, qualname);
		/* the line's text names the objects it waits on (user/pyobj.h) */
		pyframes_where(pf, f, &qualname, &full, &line);
		if (line > 0 && full && source_line(pf, full, line, name, 256))
			symdata_set_src(sd, ip, name);
	}
}
