// SPDX-License-Identifier: GPL-2.0
/*
 * pydebug.c - see pydebug.h. Where each field sits inside _Py_DebugOffsets, per minor
 * version, from the DWARF of 3.13.0 (pyenv), 3.13.5 (Debian 13), 3.14.10 and 3.15.2 (Debian
 * unstable): Include/internal/pycore_runtime.h (3.13), pycore_debug_offsets.h (3.14+).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "pydebug.h"
#include "procfs.h"

/* Byte positions inside _Py_DebugOffsets (0: absent); each section starts with a size. */
struct do_shape {
	unsigned minor, total;
	unsigned rt_size, interpreters_head;
	unsigned in_size, threads_head, ceval_gil, gil_state, gil_locked, gil_holder;
	unsigned ts_size, ts_next, ts_current_frame, ts_thread_id, ts_native_thread_id;
	unsigned fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_localsplus, fr_owner,
	    fr_tlbc_index;
	unsigned co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno,
	    co_code_adaptive, co_tlbc;
	unsigned ob_size, ob_type;
	unsigned by_size, by_sval;
	unsigned u_size, u_state, u_length, u_ascii_size, u_compact_size;
	unsigned eval_breaker; /* debugger_support.eval_breaker (3.14+) */
	/* read by pylive (gdb ptype /o of Debian's 3.13.5, 3.14.10, 3.15.2 and their d builds) */
	unsigned in_modules, fr_stackpointer, co_localsplusnames;
	unsigned ty_size, ty_name, ty_flags, ty_basicsize, ty_dictoffset, ht_size, ht_cached_keys;
	unsigned tu_size, tu_item, tu_obsize, di_size, di_keys, di_values, lo_size, lo_tag,
	    lo_digit;
};

static const struct do_shape shapes[] = {
    {13,  584, 24,  40,	 48,  72,  112, 120, 136, 144, 152, 168, 184, 192, 200,
     224, 232, 240, 248, 256, 264, 0,	272, 280, 288, 296, 304, 312, 344, 0,
     352, 360, 512, 528, 536, 544, 552, 560, 0,	  0,   88,  0,	 328, 368, 376,
     392, 0,   0,   0,	 0,   400, 408, 416, 448, 456, 464, 488, 496, 504},
    {14,  760, 24,  40,	 48,  72,  120, 128, 144, 152, 176, 192, 208, 216, 224,
     248, 256, 264, 272, 280, 288, 304, 312, 320, 328, 336, 344, 352, 384, 392,
     400, 408, 592, 608, 616, 624, 632, 640, 0,	  712, 96,  296, 368, 416, 424,
     440, 0,   0,   0,	 0,   448, 456, 464, 528, 536, 544, 568, 576, 584},
    {15,  888, 24,  40,	 48,  72,  120, 128, 144, 152, 176, 192, 208, 240, 248,
     312, 320, 328, 336, 344, 352, 368, 376, 384, 392, 400, 408, 416, 448, 456,
     464, 472, 688, 704, 712, 720, 728, 736, 744, 840, 96,  360, 432, 480, 488,
     504, 512, 520, 528, 536, 544, 552, 560, 624, 632, 640, 664, 672, 680},
};

static __u64 at(const __u8 *b, unsigned pos)
{
	__u64 v;

	memcpy(&v, b + pos, 8);
	return v;
}

/* A field of a section: below the section's size (or the size is unknown), else bad. */
static bool field(const __u8 *b, unsigned size_pos, unsigned pos, __u32 *out, bool *bad)
{
	__u64 size = at(b, size_pos), v;

	if (!pos) {
		*out = PYDEBUG_NONE;
		return true;
	}
	v = at(b, pos);
	if (v >= size || size > (64u << 20)) {
		*bad = true;
		return false;
	}
	*out = (__u32)v;
	return true;
}

int pydebug_parse(const void *buf, size_t len, struct py_debug_offsets *o, char *err, size_t errlen)
{
	const __u8 *b = buf;
	const struct do_shape *s = NULL;
	__u64 version;
	unsigned minor;
	bool bad = false;

	memset(o, 0, sizeof(*o));
	if (len < 24 || memcmp(b, "xdebugpy", 8)) {
		snprintf(err, errlen, "no _Py_DebugOffsets at _PyRuntime (cookie \"xdebugpy\")");
		return -EPROTONOSUPPORT;
	}
	version = at(b, 8);
	minor = (version >> 16) & 0xff;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (shapes[i].minor == minor)
			s = &shapes[i];
	if (version >> 24 != 3 || !s || len < s->total) {
		snprintf(err, errlen,
			 "_Py_DebugOffsets of version 0x%llx: not a layout threadtrace "
			 "knows (3.13 to 3.15)",
			 (unsigned long long)version);
		return -EPROTONOSUPPORT;
	}
	o->hexversion = (__u32)version;
	o->free_threaded = at(b, 16) & 0xff;
	field(b, s->rt_size, s->interpreters_head, &o->interpreters_head, &bad);
	field(b, s->in_size, s->threads_head, &o->threads_head, &bad);
	field(b, s->in_size, s->ceval_gil, &o->ceval_gil, &bad);
	field(b, s->in_size, s->gil_state, &o->gil_state, &bad);
	field(b, s->in_size, s->gil_locked, &o->gil_locked, &bad);
	field(b, s->in_size, s->gil_holder, &o->gil_holder, &bad);
	field(b, s->ts_size, s->ts_next, &o->ts_next, &bad);
	field(b, s->ts_size, s->ts_current_frame, &o->ts_current_frame, &bad);
	field(b, s->ts_size, s->ts_thread_id, &o->ts_thread_id, &bad);
	field(b, s->ts_size, s->ts_native_thread_id, &o->ts_native_thread_id, &bad);
	field(b, s->fr_size, s->fr_previous, &o->fr_previous, &bad);
	field(b, s->fr_size, s->fr_executable, &o->fr_executable, &bad);
	field(b, s->fr_size, s->fr_instr_ptr, &o->fr_instr_ptr, &bad);
	field(b, s->fr_size, s->fr_localsplus, &o->fr_localsplus, &bad);
	field(b, s->fr_size, s->fr_owner, &o->fr_owner, &bad);
	field(b, s->co_size, s->co_filename, &o->co_filename, &bad);
	field(b, s->co_size, s->co_name, &o->co_name, &bad);
	field(b, s->co_size, s->co_qualname, &o->co_qualname, &bad);
	field(b, s->co_size, s->co_linetable, &o->co_linetable, &bad);
	field(b, s->co_size, s->co_firstlineno, &o->co_firstlineno, &bad);
	field(b, s->co_size, s->co_code_adaptive, &o->co_code_adaptive, &bad);
	field(b, s->ob_size, s->ob_type, &o->ob_type, &bad);
	field(b, s->by_size, s->by_sval, &o->bytes_sval, &bad);
	field(b, s->u_size, s->u_state, &o->str_state, &bad);
	field(b, s->u_size, s->u_length, &o->str_length, &bad);
	field(b, s->in_size, s->in_modules, &o->interp_modules, &bad);
	field(b, s->fr_size, s->fr_stackpointer, &o->fr_stackpointer, &bad);
	field(b, s->co_size, s->co_localsplusnames, &o->co_localsplusnames, &bad);
	field(b, s->ty_size, s->ty_name, &o->tp_name, &bad);
	field(b, s->ty_size, s->ty_flags, &o->tp_flags, &bad);
	field(b, s->ty_size, s->ty_basicsize, &o->tp_basicsize, &bad);
	field(b, s->ty_size, s->ty_dictoffset, &o->tp_dictoffset, &bad);
	field(b, s->ht_size, s->ht_cached_keys, &o->ht_cached_keys, &bad);
	field(b, s->tu_size, s->tu_item, &o->tuple_ob_item, &bad);
	field(b, s->tu_size, s->tu_obsize, &o->tuple_ob_size, &bad);
	field(b, s->di_size, s->di_keys, &o->dict_ma_keys, &bad);
	field(b, s->di_size, s->di_values, &o->dict_ma_values, &bad);
	field(b, s->lo_size, s->lo_tag, &o->long_lv_tag, &bad);
	field(b, s->lo_size, s->lo_digit, &o->long_ob_digit, &bad);
	/* the per-thread bytecode fields are 0 in a build without them */
	o->fr_tlbc_index = o->co_tlbc = PYDEBUG_NONE;
	if (s->fr_tlbc_index && at(b, s->fr_tlbc_index))
		field(b, s->fr_size, s->fr_tlbc_index, &o->fr_tlbc_index, &bad);
	if (s->co_tlbc && at(b, s->co_tlbc))
		field(b, s->co_size, s->co_tlbc, &o->co_tlbc, &bad);
	/* ob_size sits right before the characters of a bytes object in every build */
	o->bytes_size = o->bytes_sval - 16;
	o->str_ascii_data = (__u32)at(b, s->u_ascii_size);
	/* a compact non-ASCII str adds utf8_length and utf8 (3.15 says so itself) */
	o->str_compact_data =
	    s->u_compact_size ? (__u32)at(b, s->u_compact_size) : o->str_ascii_data + 16;
	o->ts_eval_breaker = s->eval_breaker ? (__u32)at(b, s->eval_breaker) : 24;
	o->ref_tag_bits = minor >= 14 ? 3 : 0;
	/* what the frame walk needs to be plausible: fields inside small structs, the GIL's
	 * last_holder right before locked (switch_number follows it) */
	if (bad || o->str_ascii_data < 24 || o->str_ascii_data > 256 || o->str_compact_data > 256 ||
	    at(b, s->fr_size) > 1024 || o->gil_holder + 8 != o->gil_locked ||
	    o->gil_locked < o->gil_state || o->gil_locked - o->gil_state > 64 ||
	    o->ts_eval_breaker >= at(b, s->ts_size)) {
		snprintf(err, errlen,
			 "the _Py_DebugOffsets of Python %u.%u (0x%llx) do not fit "
			 "its known layout: a build threadtrace does not know",
			 3, minor, (unsigned long long)version);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

int pydebug_read(pid_t pid, __u64 runtime, struct py_debug_offsets *o, char *err, size_t errlen)
{
	__u8 buf[PYDEBUG_BYTES];
	size_t len = sizeof(buf);
	int rc;

	/* _PyRuntime is far larger than the block: a failed read is a gone process */
	if ((rc = procfs_read_mem(pid, runtime, buf, len))) {
		snprintf(err, errlen, "cannot read _PyRuntime: %s", strerror(-rc));
		return rc;
	}
	return pydebug_parse(buf, len, o, err, errlen);
}
