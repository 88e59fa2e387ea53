/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pydebug.h - CPython 3.13+'s _Py_DebugOffsets (at _PyRuntime + 0): the offsets of the
 * interpreter's own structures, as the running build laid them out, turned into the fields
 * threadtrace reads. Its shape differs per minor version. doc/cpython-layouts.md.
 */
#ifndef TT_PYDEBUG_H
#define TT_PYDEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#define PYDEBUG_BYTES 1024  /* read this much at _PyRuntime (3.15's block is 888) */
#define PYDEBUG_NONE  (~0u) /* a field this version does not have */

struct py_debug_offsets {
	__u32 hexversion;
	bool free_threaded;
	/* _PyRuntime + */
	__u32 interpreters_head;
	/* PyInterpreterState + */
	__u32 threads_head, ceval_gil, gil_state, gil_locked, gil_holder;
	/* PyThreadState + */
	__u32 ts_next, ts_current_frame, ts_thread_id, ts_native_thread_id;
	__u32 ts_eval_breaker; /* the drop request is its bit 0 */
	/* _PyInterpreterFrame + */
	__u32 fr_previous, fr_executable, fr_instr_ptr, fr_localsplus, fr_owner;
	__u32 fr_tlbc_index; /* PYDEBUG_NONE but in free-threaded 3.14+ */
	/* PyCodeObject + */
	__u32 co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code_adaptive;
	__u32 co_tlbc; /* PYDEBUG_NONE but in free-threaded 3.14+ */
	/* objects */
	__u32 ob_type, bytes_size, bytes_sval, str_state, str_length, str_ascii_data,
	    str_compact_data;
	__u32 ref_tag_bits; /* 3.14+: low bits of an f_executable _PyStackRef that are tags */
	/* what user/pylive.c reads besides (PYDEBUG_NONE where the block has no such field) */
	__u32 interp_modules;	  /* PyInterpreterState + : imports.modules, sys.modules */
	__u32 fr_stackpointer;	  /* _PyInterpreterFrame + : stackpointer (3.14+) */
	__u32 co_localsplusnames; /* PyCodeObject + : a tuple naming localsplus[] */
	__u32 tp_name, tp_flags, tp_basicsize, tp_dictoffset; /* PyTypeObject + (3.15: all) */
	__u32 ht_cached_keys;				      /* PyHeapTypeObject + (3.15) */
	__u32 tuple_ob_item, tuple_ob_size; /* PyTupleObject + : items; PyVarObject.ob_size */
	__u32 dict_ma_keys, dict_ma_values; /* PyDictObject + */
	__u32 long_lv_tag, long_ob_digit;   /* PyLongObject + */
};

/*
 * Turn the len bytes read at _PyRuntime into o. 0, or -EPROTONOSUPPORT with err when the
 * cookie, the version or the sizes it gives are not what this version's layout says.
 */
int pydebug_parse(const void *buf, size_t len, struct py_debug_offsets *o, char *err,
		  size_t errlen);

/* Read and parse the block of the process pid at runtime (its _PyRuntime). */
int pydebug_read(pid_t pid, __u64 runtime, struct py_debug_offsets *o, char *err, size_t errlen);

#endif
