// SPDX-License-Identifier: GPL-2.0
/*
 * rt_cpython.c - CPython behind the runtime seam (rtops.h): its GIL's stores probed, its frames
 * and threading's names read live, its lock objects and their deadlocks. The CPython knowledge
 * itself is in pygil, pydebug, pyframes, pylive, pynames and pydeadlock; this is their use.
 */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "collector.h"
#include "deadlock.h"
#include "procfs.h"
#include "pydeadlock.h"
#include "pyframes.h"
#include "pygil.h"
#include "pylive.h"
#include "pynames.h"
#include "rtops.h"
#include "symbols.h"
#include "util.h"
#include "threadtrace.skel.h"

/* CPython's GIL: uprobes on the stores to `locked`, armed once the interpreter is found. */
struct gil_probes {
	struct bpf_link **links;
	size_t n, cap;
	bool done;		   /* attached, or given up: no more tries */
	__u64 next_try, first_try; /* ns */
	bool not_python;	   /* no CPython in the mappings of this generation */
	unsigned maps_generation;
	struct py_target py;
	struct bpf_link *finalize; /* COMMAND: stops it in Py_FinalizeEx (frames named first) */
	struct py_target pre;	   /* COMMAND: its GIL sites, found while it was held at entry */
	bool gil_off;		   /* free-threaded with the GIL disabled: watch `enabled` */
	__u64 next_enabled_poll;   /* ns */
};

/* What CPython's support keeps while tracing. */
struct rt_cpython {
	const struct rt_host *h;
	struct gil_probes gil;
	struct pyframes *pyframes; /* names of the frames in TT_REC_PYSTACK records (pylive's,
				      or own_pyframes) */
	bool own_pyframes;
	struct pylive *pylive;	 /* its live state (thread names, hung threads) */
	bool py_free_threaded;	 /* ... a free-threaded build (a 32-byte object header) */
	struct pynames *pynames; /* ... its threading names, as records */
	struct pylocks *pylocks; /* Python lock waits and deadlocks */
	struct pylocks_round pyround;
	struct blocked_wait *blocked; /* scratch for deadlock_watch_blocked */
	size_t cap_blocked;
	struct py_target py_early; /* -p: the CPython found at attach, for pylocks */
};

static int emit(struct rt_cpython *c, const void *rec, size_t size)
{
	return c->h->emit(c->h->ctx, rec, size);
}

/*
 * A parked wait's key on a 3.13+ CPython: the type of the object it may lie in, read now, while
 * its waiter sleeps and the object lives (a free-threaded object's ob_mutex at +10, else a
 * Lock's or RLock's PyMutex after the object header: +16, +32 in a free-threaded build). The
 * analysis keeps it only for a wait it proves parked.
 */
static void emit_py_objtype(struct rt_cpython *c, const struct tt_park_key *pk)
{
	struct tt_py_objtype rec;
	__u64 obj;

	if (!c->pylive || !pk->ok || pk->key < 4096 || (pk->key & 1))
		return;
	obj = pk->key - ((pk->key & 7) == 2 ? 10 : c->py_free_threaded ? 32 : 16);
	if (obj & 7)
		return;
	memset(&rec, 0, sizeof(rec));
	if (pylive_type_name(c->pylive, obj, rec.type, sizeof(rec.type)) || !rec.type[0] ||
	    !(isalpha((unsigned char)rec.type[0]) || rec.type[0] == '_') ||
	    rec.type[strspn(rec.type, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_.")])
		return;
	rec.hdr = pk->hdr;
	rec.hdr.kind = TT_REC_PY_OBJTYPE;
	rec.hdr.size = sizeof(rec);
	rec.parent_kind = pk->parent_kind;
	rec.obj = obj;
	emit(c, &rec, sizeof(rec));
}

/* A thread's Python frames now, named, on stderr (the hang is live: they stay as they are). */
static void print_pystack_live(struct rt_cpython *c, __u32 tid)
{
	struct {
		struct tt_pystack ps;
		struct tt_pyframe f[TT_PY_MAX_FRAMES];
	} rec;
	__u32 flags;
	unsigned n = pylocks_stack(c->pylocks, tid, rec.f, TT_PY_MAX_FRAMES, &flags);

	rec.ps.nr = (__u16)n;
	pyframes_note(c->pyframes, c->h->sd, &rec.ps);
	for (unsigned i = 0; i < n && i < TT_DEADLOCK_FRAMES; i++) {
		const struct sym_frame *f = symdata_frame(c->h->sd, pyframe_ip(&rec.f[i]));

		fprintf(stderr, "        %s\n", f ? tsafe(f->name) : "?");
	}
}

/* Say a Python deadlock the moment it is seen twice, in Python's terms. */
static void report_pydeadlock_live(struct rt_cpython *c, const struct tt_deadlock *dl)
{
	char comm[TT_COMM_LEN];

	if (dl->nr == 1)
		fprintf(stderr, "threadtrace: DEADLOCK: a Python thread waits for a lock it holds "
				"itself:\n");
	else
		fprintf(stderr,
			"threadtrace: DEADLOCK: %u Python threads wait for each other's "
			"locks:\n",
			dl->nr);
	for (unsigned i = 0; i < dl->nr; i++) {
		const struct tt_pywait *pw = pylocks_wait_of(c->pylocks, dl->links[i].tid);
		/* in the program's terms: the threading name, else the OS's */
		const char *name = pynames_of(c->pynames, dl->links[i].tid);

		if (!name) {
			procfs_thread_comm(dl->hdr.pid, dl->links[i].tid, comm);
			name = comm;
		}
		fprintf(stderr, "  tid %u (%s) waits for Python %s %s (0x%llx), held by tid %u",
			dl->links[i].tid, tsafe(name), pw ? pyobj_kind_name(pw->kind) : "lock",
			pw && pw->name[0] ? tsafe(pw->name) : "?",
			(unsigned long long)(pw ? pw->obj : 0), dl->links[i].owner);
		if (pw)
			fprintf(stderr, " (%s)", pyhold_evidence_name(pw->evidence));
		fprintf(stderr, "\n");
		print_pystack_live(c, dl->links[i].tid);
	}
}

/* Python threads blocked on Python locks: their objects, holders and cycles (pydeadlock.h). */
static void check_python_locks(struct rt_cpython *c, __u64 now)
{
	size_t n;

	if (!c->pylocks)
		return;
	n = deadlock_watch_blocked(c->h->deadlocks, now, 0, &c->blocked, &c->cap_blocked);
	pylocks_check(c->pylocks, c->blocked, n, now, &c->pyround);
	for (size_t i = 0; i < c->pyround.nr_waits; i++)
		emit(c, &c->pyround.waits[i], sizeof(c->pyround.waits[i]));
	if (c->pyround.deadlock) {
		emit(c, &c->pyround.dl, sizeof(c->pyround.dl));
		report_pydeadlock_live(c, &c->pyround.dl);
	}
}

static void detach_gil(struct gil_probes *g, struct threadtrace_bpf *skel)
{
	if (skel && skel->bss) {
		skel->bss->gil_addr = 0;
		skel->bss->py_armed = 0;
	}
	for (size_t i = 0; i < g->n; i++)
		bpf_link__destroy(g->links[i]);
	bpf_link__destroy(g->finalize);
	g->finalize = NULL;
	pygil_free(&g->pre);
	free(g->links);
	g->links = NULL;
	g->n = g->cap = 0;
	pygil_free(&g->py);
}

/*
 * The command stopped in Py_FinalizeEx: read and name what it left (frames, threading's
 * names), let it go on.
 */
static void resume_after_finalize(struct rt_cpython *c, struct gil_probes *g, pid_t child)
{
	c->h->drain(c->h->ctx); /* their frames are named as they are read */
	pynames_poll(c->pynames, rt_now_ns(), c->h->last_ts, true);
	bpf_link__destroy(g->finalize);
	g->finalize = NULL;
	kill(child, SIGCONT);
}

/*
 * A command held at its entry that maps a CPython: find its GIL's store sites now (its
 * interpreter is not set up yet, but where the code stores to the GIL is known).
 */
static void prefind_gil_sites(struct gil_probes *g, pid_t child)
{
	char why[512];

	if (pygil_discover(child, &g->pre, why, sizeof(why)) != -EAGAIN || !g->pre.runtime ||
	    pygil_find_sites(&g->pre, why, sizeof(why)))
		pygil_free(&g->pre);
}

/*
 * Symbolize the interpreter's functions that most waits pass through now, while the command is
 * held: the first lookup in each of libpython's large compile units (ceval.c: 0.3-0.5 s here)
 * made on the first records held up the reading of records and of thread names for as long,
 * in which a short thread could start and end unnamed.
 */
static void preload_interpreter(struct rt_cpython *c, const struct py_target *py)
{
	static const char *const funcs[] = {
	    "_PyEval_EvalFrameDefault", "PyEval_RestoreThread",
	    "PyEval_SaveThread",	"PyThread_acquire_lock_timed",
	    "PyObject_Vectorcall",	"PyObject_Call",
	    "PyEval_EvalCode",		"Py_RunMain",
	    "PyThread_release_lock",
	};
	struct {
		struct tt_stack st;
		__u64 ips[sizeof(funcs) / sizeof(funcs[0])];
	} s = {0};

	s.st.nr_user =
	    (__u16)pygil_symbol_addrs(py, funcs, sizeof(funcs) / sizeof(funcs[0]), s.ips);
	for (unsigned i = 0; i < s.st.nr_user; i++)
		s.ips[i]++; /* a return address, as stacks hold them */
	if (s.st.nr_user && c->h->sym)
		symbolizer_note_stack(c->h->sym, c->h->sd, &s.st);
}

static void seed_tstate(void *ctx, __u32 tid, __u64 tstate)
{
	struct threadtrace_bpf *skel = ctx;

	bpf_map__update_elem(skel->maps.py_tstates, &tid, sizeof(tid), &tstate, sizeof(tstate),
			     BPF_ANY);
}

/*
 * The reader of py's live state and its code-object cache, which names the frames of the
 * records too (one cache); a bare pyframes where pylive has no layouts.
 */
static void open_pylive(struct rt_cpython *c, const struct py_target *py)
{
	c->pylive = pylive_new(py);
	c->py_free_threaded = py->flags & TT_PY_FREE_THREADED;
	if (c->pylive) {
		c->pyframes = pylive_pyframes(c->pylive);
		return;
	}
	c->pyframes = py->has_debug ? pyframes_new_debug(py->pid, &py->dbg, py->code_type)
				    : pyframes_new(py->pid, py->minor, py->code_type);
	c->own_pyframes = c->pyframes != NULL;
}

/*
 * -p: the target's CPython before its threads are looked at, so that a wait in progress at
 * attach gets its Python frames from the live frames (BPF saw it begin before it was there).
 */
static void find_python_early(struct rt_cpython *c, pid_t pid)
{
	char why[256];

	if (pygil_discover(pid, &c->py_early, why, sizeof(why)))
		return;
	open_pylive(c, &c->py_early);
	if (c->pyframes)
		c->pylocks = pylocks_new(&c->py_early, c->pylive);
}

/* The Python frames of a wait adopted at attach: a TT_REC_PYSTACK before its WAIT_BEGIN. */
static void adopted_pystack(struct rt_cpython *c, pid_t pid, pid_t tid, __u64 ts)
{
	struct {
		struct tt_pystack ps;
		struct tt_pyframe f[TT_PY_MAX_FRAMES];
	} rec;
	__u32 flags = 0;
	unsigned nr =
	    c->pylocks ? pylocks_stack(c->pylocks, (__u32)tid, rec.f, TT_PY_MAX_FRAMES, &flags) : 0;

	if (!nr)
		return;
	memset(&rec.ps, 0, sizeof(rec.ps));
	rec.ps.hdr.size = (__u16)(sizeof(rec.ps) + nr * sizeof(rec.f[0]));
	rec.ps.hdr.kind = TT_REC_PYSTACK;
	rec.ps.hdr.ts = ts;
	rec.ps.hdr.pid = (__u32)pid;
	rec.ps.hdr.tid = (__u32)tid;
	rec.ps.parent_kind = TT_REC_WAIT_BEGIN;
	rec.ps.nr = (__u16)nr;
	rec.ps.flags = flags;
	pyframes_note(c->pyframes, c->h->sd, &rec.ps);
	emit(c, &rec, rec.ps.hdr.size);
}

/*
 * The parking-lot key of a wait adopted at attach, as BPF sends it for later waits of a 3.13+
 * CPython: the word before the waited-on one (struct tt_park_key), so that a Lock's wait in
 * progress is charged to its PyMutex (its Python object) like the waits that follow.
 */
static void adopted_park_key(struct rt_cpython *c, pid_t pid, pid_t tid, __u64 uaddr, __u64 ts)
{
	struct tt_park_key pk = {0};

	if (!c->pylocks || c->py_early.hexversion < 0x030d0000)
		return;
	pk.hdr.size = sizeof(pk);
	pk.hdr.kind = TT_REC_PARK_KEY;
	pk.hdr.ts = ts;
	pk.hdr.pid = (__u32)pid;
	pk.hdr.tid = (__u32)tid;
	pk.parent_kind = TT_REC_WAIT_BEGIN;
	pk.ok = !procfs_read_mem(pid, uaddr - 8, &pk.key, 8);
	if (!pk.ok)
		pk.key = 0;
	emit(c, &pk, sizeof(pk));
	/* and the type of the object it lies in, as for a wait seen to begin (cp_after_record):
	 * the analysis may not know the build's object header yet (3.13t: 32 bytes, not 16) */
	emit_py_objtype(c, &pk);
}

/* Python frames with waits and GIL takes: each thread's state from the interpreter's list now,
 * later from the GIL drops (bpf/common.bpf.h). */
static void arm_pystacks(struct rt_cpython *c, const struct py_target *py,
			 struct threadtrace_bpf *skel)
{
	struct tt_py_walk walk;

	/* 3.13+ park threads in a parking lot: the key beside each waited-on word (user/pyobj.h) */
	skel->bss->py_park_key = py->hexversion >= 0x030d0000;
	if (py->has_debug ? !pyframes_walk_debug(&py->dbg, &walk)
			  : !pyframes_walk(py->minor, &walk))
		return;
	if (!c->pyframes) /* -p: found at attach already (find_python_early) */
		open_pylive(c, py);
	if (!c->pyframes)
		return;
	if (!c->pylocks)
		c->pylocks = pylocks_new(py, c->pylive);
	pygil_threads(py, seed_tstate, skel);
	/* threads that start later are found by BPF in the interpreter's list (no GIL needed) */
	skel->bss->py_threads.head = py->interp + py->l.tstate_head;
	skel->bss->py_threads.next = py->l.tstate_next;
	skel->bss->py_threads.native_tid = py->l.native_tid;
	skel->bss->py_threads.thread_id = py->l.thread_id;
	skel->bss->py_walk = walk;
	skel->bss->py_armed = 1;
}

/* threading's names of the threads: now, and as threads start (pynames.h). */
static void start_pynames(struct rt_cpython *c, const struct py_target *py)
{
	if (!c->pylive)
		return;
	c->pynames = pynames_new(c->pylive, py->pid, c->h->emit, c->h->ctx);
	/* a command may import threading later: look again for a while */
	pynames_thread_started(c->pynames, 0, rt_now_ns());
	pynames_poll(c->pynames, rt_now_ns(), rt_now_ns(), true);
}

/*
 * Write the TT_REC_PYTHON record of the GIL's state now and trace its stores from now. A
 * free-threaded build's GIL disabled is armed too: take_gil/drop_gil store `locked` only while
 * it is enabled, so its first store says when it came on, exactly (BPF flags those made while
 * it is on only for an import, TT_GIL_TRANSIENT).
 */
static void emit_python(struct rt_cpython *c, struct gil_probes *g, struct threadtrace_bpf *skel,
			pid_t pid)
{
	struct py_target *py = &g->py;
	struct tt_python rec = {0};

	pygil_read_state(py);
	rec.hdr.size = sizeof(rec);
	rec.hdr.kind = TT_REC_PYTHON;
	rec.hdr.ts = rt_now_ns();
	rec.hdr.pid = pid;
	rec.hdr.tid = pid;
	skel->bss->gil_drop_req = py->drop_req;
	skel->bss->gil_drop_tstate_off = py->drop_tstate_off;
	skel->bss->gil_enabled_addr = py->flags & TT_PY_FREE_THREADED ? py->gil_enabled : 0;
	skel->bss->gil_addr = py->gil; /* armed: stores from here on are traced */
	rec.hexversion = py->hexversion;
	rec.flags = py->flags | (py->symbols ? 0 : TT_PY_STRIPPED);
	rec.gil = py->gil;
	rec.switch_number = py->switch_number;
	rec.interval_us = py->interval_us;
	rec.holder_tid = py->holder_tid;
	rec.sites_take = py->nr_take;
	rec.sites_drop = py->nr_drop;
	snprintf(rec.path, sizeof(rec.path), "%s", py->path);
	emit(c, &rec, sizeof(rec));
}

/*
 * A free-threaded build whose GIL was off: is it on for good now (an extension without
 * free-threading support was imported)? Said on stderr; the trace needs no record for it (its
 * first store without TT_GIL_TRANSIENT starts the GIL section). Every 100 ms: a 4-byte read.
 */
static void poll_gil_enabled(struct gil_probes *g, const struct collector_opts *o)
{
	char ver[16];

	if (!g->gil_off || rt_now_ns() < g->next_enabled_poll)
		return;
	g->next_enabled_poll = rt_now_ns() + 100000000ULL;
	if (!pygil_enabled(&g->py))
		return;
	g->gil_off = false;
	g->py.flags &= ~TT_PY_GIL_DISABLED;
	if (!o->quiet) {
		pygil_version_str(g->py.hexversion, ver, sizeof(ver));
		fprintf(stderr,
			"threadtrace: Python %s (%s): the GIL was enabled at run time: "
			"traced from its first take\n",
			ver, g->py.path);
	}
}

/*
 * Look for CPython in the target; once found, probe its GIL stores, write the TT_REC_PYTHON
 * record (the GIL's state at this instant) and arm the probes. Tried again later while the
 * interpreter is not there or not initialised yet (a COMMAND starting up, a program that loads
 * libpython late); a CPython that cannot be traced is said once.
 */
static void try_attach_gil(struct rt_cpython *c, struct gil_probes *g, struct threadtrace_bpf *skel,
			   pid_t pid, const struct collector_opts *o)
{
	struct py_target *py = &g->py;
	char why[512] = "", ver[16];
	bool starting;
	int err;

	if (g->done || rt_now_ns() < g->next_try)
		return;
	/* not Python: look again only once the mappings changed (a late dlopen of libpython) */
	if (g->not_python && symbolizer_generation(c->h->sym) == g->maps_generation)
		return;
	err = pygil_discover(pid, py, why, sizeof(why));
	if (!g->first_try)
		g->first_try = rt_now_ns();
	/* every 10 ms in a command's first 3 s (its interpreter starts then) */
	starting = o->command && rt_now_ns() - g->first_try < 3000000000ULL;
	if (err == -ENOENT || err == -EAGAIN || err == -ESRCH || (err == -EBUSY && starting)) {
		g->next_try = rt_now_ns() + (starting ? 10000000ULL : 500000000ULL);
		g->not_python = err == -ENOENT && !starting;
		g->maps_generation = symbolizer_generation(c->h->sym);
		return;
	}
	g->done = true;
	if (!err) {
		arm_pystacks(c, py, skel); /* frames need no GIL */
		start_pynames(c, py);	   /* nor names */
	}
	if (!err && g->pre.nr_sites && !strcmp(g->pre.open_path, py->open_path)) {
		/* found while the command was held at its entry: decoding a stripped build
		 * takes longer than a short command runs */
		py->sites = g->pre.sites;
		py->nr_sites = g->pre.nr_sites;
		py->nr_take = g->pre.nr_take;
		py->nr_drop = g->pre.nr_drop;
		py->symbols = g->pre.symbols;
		g->pre.sites = NULL;
		g->pre.nr_sites = 0;
	} else if (!err) {
		/* decoding a stripped build takes seconds: not past DURATION, nor a Ctrl-C */
		py->decode_deadline = c->h->deadline;
		py->decode_stop = c->h->stop;
		err = pygil_find_sites(py, why, sizeof(why));
	}
	pygil_version_str(py->hexversion, ver, sizeof(ver));
	if (err) {
		fprintf(stderr, "threadtrace: GIL not traced: %s\n", why);
		pygil_free(py);
		return;
	}
	for (size_t i = 0; i < py->nr_sites; i++) {
		const struct gil_site *s = &py->sites[i];
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = gil_site_cookie(s));
		struct bpf_link *l = bpf_program__attach_uprobe_opts(
		    skel->progs.tt_gil_store, pid, py->open_path, s->probe_off, &uo);

		if (!l) {
			fprintf(stderr,
				"threadtrace: GIL not traced: failed to attach a uprobe in %s: "
				"%s\n",
				py->path, strerror(errno));
			detach_gil(g, skel);
			return;
		}
		grow((void **)&g->links, &g->cap, g->n + 1, sizeof(*g->links));
		g->links[g->n++] = l;
		if (o->verbose)
			fprintf(stderr, "threadtrace: GIL %s at 0x%llx: %s; probed %s%s%s\n",
				s->op == TT_GIL_TAKE ? "take" : "drop",
				(unsigned long long)s->vaddr, s->insn,
				s->emulated ? "after it at " : "there (single-stepped)",
				s->emulated ? s->probe_insn : "", s->emulated ? " (emulated)" : "");
	}
	if (o->command) {
		/* a short command's code objects die in finalization: stop it there until the
		 * records before are read and their frames named (resume_after_finalize) */
		long long off = pygil_finalize_offset(py);
		struct bpf_link *l =
		    off < 0 ? NULL
			    : bpf_program__attach_uprobe(skel->progs.tt_entry_stop, false, pid,
							 py->open_path, (size_t)off);

		g->finalize = l && !libbpf_get_error(l) ? l : NULL;
	}
	/* a free-threaded build with the GIL off: said, and watched for it to come on */
	g->gil_off = !pygil_enabled(py);
	if (g->gil_off)
		py->flags |= TT_PY_GIL_DISABLED;
	emit_python(c, g, skel, pid);
	symbolizer_note_lock(c->h->sym, c->h->sd, py->gil);
	if (!o->quiet && g->gil_off)
		fprintf(stderr,
			"threadtrace: Python %s (%s): free-threaded, the GIL is disabled: "
			"Python frames only (the GIL is traced if it is enabled)\n",
			ver, py->path);
	else if (!o->quiet) {
		unsigned emulated = 0;

		for (size_t i = 0; i < py->nr_sites; i++)
			emulated += py->sites[i].emulated;
		fprintf(stderr,
			"threadtrace: Python %s (%s): GIL traced at %u take and %u drop "
			"stores (%s; %u probed at an emulated instruction after the store, "
			"%zu single-stepped)\n",
			ver, py->path, py->nr_take, py->nr_drop,
			py->symbols ? "in take_gil/drop_gil" : "stripped build, found by decoding",
			emulated, py->nr_sites - emulated);
	}
}

static void *cp_open(const struct rt_host *h)
{
	struct rt_cpython *c;

	if (!h->o->gil) /* --no-gil: no GIL, no Python frames, names nor locks */
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	return c;
}

static void cp_start(void *rt)
{
	struct rt_cpython *c = rt;

	if (!c->h->o->command)
		find_python_early(c, c->h->pid);
}

static void cp_adopted_wait(void *rt, pid_t tid, __u64 uaddr, __u64 ts)
{
	struct rt_cpython *c = rt;

	adopted_pystack(c, c->h->pid, tid, ts); /* companions come first (same ts) */
	adopted_park_key(c, c->h->pid, tid, uaddr, ts);
}

static void cp_held_at_entry(void *rt)
{
	struct rt_cpython *c = rt;

	prefind_gil_sites(&c->gil, c->h->pid);
	if (c->gil.pre.runtime)
		preload_interpreter(c, &c->gil.pre);
}

static void cp_attach(void *rt)
{
	struct rt_cpython *c = rt;

	try_attach_gil(c, &c->gil, c->h->skel, c->h->pid, c->h->o);
}

/*
 * Every 10 ms while a command's interpreter is awaited, and while Python frames are named
 * (their code objects are read from the live process: within 10 ms of their first use, not
 * 100 ms, so that few are lost when the process exits).
 */
static bool cp_busy(void *rt)
{
	struct rt_cpython *c = rt;

	return (!c->gil.done && c->h->o->command) || c->pyframes || c->gil.finalize;
}

/* A thread started in the last milliseconds: its name is read soon (pynames.c). */
static bool cp_soon(void *rt, __u64 now)
{
	struct rt_cpython *c = rt;

	return pynames_due_soon(c->pynames, rt_now_ns());
}

static void cp_poll(void *rt, __u64 now, bool held)
{
	struct rt_cpython *c = rt;

	cp_attach(c);
	poll_gil_enabled(&c->gil, c->h->o);
	pynames_poll(c->pynames, rt_now_ns(), c->h->last_ts, false);
}

static void cp_before_record(void *rt, const struct tt_rec_hdr *h)
{
	struct rt_cpython *c = rt;

	/*
	 * Python thread names and the code objects of every thread's frames, when due, between
	 * records too: the first symbolization of an interpreter's modules can take 0.3-0.5 s
	 * (line tables of its large compile units), long enough for a short script to end and
	 * free its module code before the main loop runs again.
	 */
	pynames_poll(c->pynames, rt_now_ns(), c->h->last_ts, false);
	/* named before the analysis gets the record, as native stacks are */
	if (h->kind == TT_REC_PYSTACK && c->pyframes)
		pyframes_note(c->pyframes, c->h->sd, (const struct tt_pystack *)h);
}

static void cp_after_record(void *rt, const struct tt_rec_hdr *h)
{
	struct rt_cpython *c = rt;

	if (h->kind == TT_REC_PARK_KEY)
		emit_py_objtype(c, (const struct tt_park_key *)h);
	if (h->kind == TT_REC_NEW_THREAD)
		pynames_thread_started(c->pynames, h->tid, rt_now_ns());
	if (h->kind == TT_REC_EXIT)
		pynames_thread_exited(c->pynames, h->tid);
}

static void cp_check(void *rt, __u64 now)
{
	check_python_locks(rt, now);
}

static bool cp_may_stop(void *rt)
{
	return ((struct rt_cpython *)rt)->gil.finalize != NULL;
}

static bool cp_stopped(void *rt, pid_t child)
{
	struct rt_cpython *c = rt;

	if (!c->gil.finalize)
		return false;
	resume_after_finalize(c, &c->gil, child);
	return true;
}

static void cp_finish(void *rt, bool exited)
{
	struct rt_cpython *c = rt;
	struct gil_probes *g = &c->gil;

	if (!g->done && (g->py.runtime || g->pre.runtime) && !c->h->o->quiet)
		fprintf(stderr,
			"threadtrace: %s before its Python interpreter was ready to be "
			"traced: no GIL and no Python frames or thread names in this report\n",
			exited ? "the target exited" : "tracing stopped");
	if (!exited) /* threads renamed while traced */
		pynames_poll(c->pynames, rt_now_ns(), rt_now_ns(), true);
}

static bool cp_close(void *rt)
{
	struct rt_cpython *c = rt;
	bool stopping = c->gil.finalize != NULL;

	detach_gil(&c->gil, c->h->skel);
	pylocks_free(c->pylocks);
	free(c->pyround.waits);
	free(c->blocked);
	pygil_free(&c->py_early);
	pynames_free(c->pynames);
	if (c->own_pyframes)
		pyframes_free(c->pyframes);
	pylive_free(c->pylive);
	free(c);
	return stopping;
}

const struct rt_ops rt_cpython = {
    .name = "cpython",
    .open = cp_open,
    .start = cp_start,
    .adopted_wait = cp_adopted_wait,
    .held_at_entry = cp_held_at_entry,
    .attach = cp_attach,
    .busy = cp_busy,
    .soon = cp_soon,
    .poll = cp_poll,
    .before_record = cp_before_record,
    .after_record = cp_after_record,
    .check = cp_check,
    .may_stop = cp_may_stop,
    .stopped = cp_stopped,
    .finish = cp_finish,
    .close = cp_close,
};
