// SPDX-License-Identifier: GPL-2.0
/*
 * pydeadlock.c - see pydeadlock.h.
 *
 * A blocked acquire of a threading.Lock (3.8-3.13.0) or RLock (3.8-3.13) sleeps in sem_wait
 * on the lock's PyThread_type_lock, a malloc'd sem_t whose futex word is its first: the
 * wait's futex address is the pointer right after the object header. A Lock of 3.13.1+ and an
 * RLock of 3.14+ are a PyMutex there: a blocked acquire parks on a semaphore of its own stack
 * whose wait entry names the PyMutex 8 bytes before that semaphore (pyobj.h). The object itself
 * is found on the waiter's frames (a local, the context manager of a `with`, the self of a
 * bound method). Holders: an RLock names its owner's thread ident; a Lock names nobody, but
 * `with lock:` keeps the lock's __exit__ on the holder's value stack for the whole block (a
 * bound method; 3.14+ the method descriptor with the lock above it). Frames, slots and objects
 * are read through pylive (user/pylive.c), on every version it reads. The value stack of a
 * frame that is running a C call may have no recorded top, so its whole area is scanned and
 * a slot may be stale: two threads claiming one Lock name no holder.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pydeadlock.h"
#include "procfs.h"
#include "util.h"

/*
 * After the object header (measured with ctypes on pyenv's 3.8-3.13.0 and Debian's 3.13.5,
 * 3.13.18, 3.14.10, 3.15.2, 3.14d and a 3.13t, whose header is 32 bytes):
 * lockobject: lock_lock (sem_t *) +0, locked (char) +16 through 3.13.0; a PyMutex +0 from
 * 3.13.1. rlockobject: rlock_lock +0, rlock_owner (thread ident) +8, rlock_count +16 through
 * 3.13; a _PyRecursiveMutex from 3.14: mutex +0, thread +8, level +16 (re-entries: 0 when
 * held once) - the owner stays where it was.
 */
#define LOCK_SEM	0
#define LOCK_LOCKED	16
#define RLOCK_OWNER	8
#define RLOCK_COUNT	16
#define CFUNC_ML	0 /* PyCFunctionObject.m_ml -> PyMethodDef, ml_name first */
#define CFUNC_SELF	8 /* PyCFunctionObject.m_self */
#define METHOD_SELF	8 /* PyMethodObject.im_self */
#define DESCR_NAME	8 /* PyMethodDescrObject.d_name (after d_type) */
#define PARK_KEY_BEFORE 8 /* wait_entry.addr before its semaphore (pyobj.h) */

#define MAX_FRAMES     64
#define MAX_SLOTS      512 /* per frame */
#define MAX_THREADS    256
#define ROUND_NS       250000000ULL
#define MIN_BLOCKED_NS 500000000ULL

enum obj_class { OC_OTHER, OC_LOCK, OC_RLOCK, OC_CFUNC, OC_METHOD, OC_DESCR };

enum ref_kind { REF_OBJ, REF_EXIT, REF_BOUND };

/*
 * What lies right above a lock's __exit__ on a value stack: the lock itself or its __exit__
 * again. With the first under it, a `with` on the lock inside that one's block is calling
 * __enter__: 3.12/3.13 keep the manager there meanwhile, 3.8-3.11 its __exit__.
 */
enum above { ABOVE_OTHER, ABOVE_LOCK, ABOVE_EXIT };

/* A lock a thread's frames refer to. */
struct ref {
	__u64 lock;
	unsigned frame; /* 0: the innermost */
	enum ref_kind kind;
	bool precise;	  /* below the frame's recorded stack top (not a stale slot) */
	enum above above; /* an __exit__'s: what the slot above it holds */
};

struct pythread {
	__u32 tid;
	__u64 tstate, ident;
	struct pylive_frame frames[MAX_FRAMES];
	unsigned nr_frames;
	bool trunc;
	struct ref *refs;
	size_t nr_refs, cap_refs;
};

/* What the latest round found for a blocked thread (and last wrote). */
struct facts {
	__u32 tid;
	struct tt_pywait w;
	bool written;
};

struct pylocks {
	const struct py_target *py;
	struct pylive *pl;
	struct pyframes *pf;
	unsigned head;	  /* sizeof(PyObject) */
	bool lock_parks;  /* a Lock is a PyMutex (3.13.1+) */
	bool rlock_parks; /* an RLock is a _PyRecursiveMutex (3.14+) */
	bool exit_first; /* `with` puts __exit__ on the stack before __enter__ runs (not 3.12/13) */
	struct pythread *th;
	size_t nr_th, cap_th;
	struct u64_map types; /* type object -> enum obj_class + 1 */
	struct facts *facts;
	size_t nr_facts, cap_facts;
	__u64 last_round;
	__u64 cycle_key; /* the cycle seen in the previous round, 0: none */
	__u64 *reported;
	size_t nr_reported, cap_reported;
};

struct pylocks *pylocks_new(const struct py_target *py, struct pylive *pl)
{
	struct pylocks *w;

	if (!pl)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->py = py;
	w->pl = pl;
	w->pf = pylive_pyframes(pl);
	w->head = pylive_head(pl);
	w->lock_parks = py->hexversion >= 0x030d0100;
	w->rlock_parks = py->minor >= 14;
	w->exit_first = py->minor <= 11 || py->minor >= 14;
	return w;
}

static void threads_clear(struct pylocks *w)
{
	for (size_t i = 0; i < w->nr_th; i++)
		free(w->th[i].refs);
	w->nr_th = 0;
}

void pylocks_free(struct pylocks *w)
{
	if (!w)
		return;
	threads_clear(w);
	free(w->th);
	free(w->facts);
	free(w->reported);
	u64_map_free(&w->types);
	free(w);
}

static int rd(const struct pylocks *w, __u64 addr, void *buf, size_t len)
{
	return procfs_read_mem(w->py->pid, addr, buf, len);
}

static __u64 rd64(const struct pylocks *w, __u64 addr)
{
	__u64 v = 0;

	return addr && !rd(w, addr, &v, 8) ? v : 0;
}

static bool rd_cstr(const struct pylocks *w, __u64 addr, char *buf, size_t len)
{
	if (!addr || rd(w, addr, buf, len - 1))
		return false;
	buf[len - 1] = 0;
	return true;
}

/* The class of a live object at p (its type named so); OC_OTHER for anything else. */
static enum obj_class obj_class(struct pylocks *w, __u64 p)
{
	__u64 type, *slot;
	char name[40];
	bool found;

	if (p < 4096 || (p & 7) || p >> 47 || pylive_type(w->pl, p, &type) || !type || (type & 7))
		return OC_OTHER;
	slot = u64_map_upsert(&w->types, type, &found);
	if (found)
		return (enum obj_class)(*slot - 1);
	*slot = OC_OTHER + 1;
	if (pylive_type_name(w->pl, p, name, sizeof(name)))
		return OC_OTHER;
	if (!strcmp(name, "_thread.lock"))
		*slot = OC_LOCK + 1;
	else if (!strcmp(name, "_thread.RLock"))
		*slot = OC_RLOCK + 1;
	else if (!strcmp(name, "builtin_function_or_method"))
		*slot = OC_CFUNC + 1;
	else if (!strcmp(name, "method"))
		*slot = OC_METHOD + 1;
	else if (!strcmp(name, "method_descriptor"))
		*slot = OC_DESCR + 1;
	return (enum obj_class)(*slot - 1);
}

static bool is_lock(enum obj_class c)
{
	return c == OC_LOCK || c == OC_RLOCK;
}

static struct ref *push_ref(struct pythread *t, __u64 lock, unsigned frame, enum ref_kind kind,
			    bool precise)
{
	struct ref *r = VEC_PUSH(t->refs, t->nr_refs, t->cap_refs);

	*r = (struct ref){.lock = lock, .frame = frame, .kind = kind, .precise = precise};
	return r;
}

/* Is p a builtin method named __exit__ bound to lock? */
static bool is_exit_of(struct pylocks *w, __u64 p, __u64 lock)
{
	char name[16];

	return obj_class(w, p) == OC_CFUNC && rd64(w, p + w->head + CFUNC_SELF) == lock &&
	       rd_cstr(w, rd64(w, rd64(w, p + w->head + CFUNC_ML)), name, sizeof(name)) &&
	       !strcmp(name, "__exit__");
}

/*
 * Slot k's lock reference: the lock itself, a method bound to it (__exit__: a `with`), or
 * (3.14+, LOAD_SPECIAL) the method descriptor __exit__ with the lock in the slot above it.
 */
static void note_slot(struct pylocks *w, struct pythread *t, const __u64 *slots, unsigned n,
		      unsigned k, unsigned frame, bool precise)
{
	__u64 p = slots[k], self;
	enum obj_class c = obj_class(w, p);
	char name[16];

	if (is_lock(c)) {
		push_ref(t, p, frame, REF_OBJ, precise);
	} else if (c == OC_CFUNC || c == OC_METHOD) {
		self = rd64(w, p + w->head + (c == OC_CFUNC ? CFUNC_SELF : METHOD_SELF));
		if (!is_lock(obj_class(w, self)))
			return;
		if (is_exit_of(w, p, self))
			push_ref(t, self, frame, REF_EXIT, precise)->above =
			    k + 1 >= n				? ABOVE_OTHER
			    : slots[k + 1] == self		? ABOVE_LOCK
			    : is_exit_of(w, slots[k + 1], self) ? ABOVE_EXIT
								: ABOVE_OTHER;
		else
			push_ref(t, self, frame, REF_BOUND, precise);
	} else if (c == OC_DESCR && k + 1 < n && is_lock(obj_class(w, slots[k + 1])) &&
		   !pylive_str(w->pl, rd64(w, p + w->head + DESCR_NAME), name, sizeof(name)) &&
		   !strcmp(name, "__exit__")) {
		push_ref(t, slots[k + 1], frame, REF_EXIT, precise);
	}
}

/* Read n slots at addr into slots (tags cleared); false when unreadable. */
static bool read_slots(struct pylocks *w, __u64 addr, unsigned n, __u64 *slots)
{
	if (!n || rd(w, addr, slots, (size_t)n * 8))
		return false;
	for (unsigned k = 0; k < n; k++)
		slots[k] = pylive_untag(w->pl, slots[k]);
	return true;
}

/* A frame's locals, then its value stack: the recorded part, else all it can hold (stale). */
static void scan_frame(struct pylocks *w, struct pythread *t, unsigned i)
{
	const struct pylive_frame *f = &t->frames[i];
	__u64 slots[MAX_SLOTS];
	unsigned n = f->nlocalsplus < MAX_SLOTS ? f->nlocalsplus : MAX_SLOTS;
	bool precise = f->stack_top != 0;

	if (read_slots(w, f->localsplus, n, slots))
		for (unsigned k = 0; k < n; k++)
			note_slot(w, t, slots, n, k, i, true);
	n = precise ? f->nstack : f->stack_max;
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	if (!read_slots(w, f->stack_base, n, slots))
		return;
	for (unsigned k = 0; k < n; k++)
		note_slot(w, t, slots, n, k, i, precise);
}

static void frame_to_tt(const struct pylive_frame *f, struct tt_pyframe *o)
{
	memset(o, 0, sizeof(*o));
	o->code = f->code;
	o->instr = f->instr;
	o->flags = (f->flags & PYLIVE_F_ENTRY ? TT_PYF_ENTRY : 0) | f->tlbc_index
									<< TT_PYF_TLBC_SHIFT;
}

static void read_frames(struct pylocks *w, struct pythread *t)
{
	int n = pylive_frames(w->pl, t->tstate, t->frames, MAX_FRAMES);

	t->nr_frames = n > 0 ? (unsigned)n : 0;
	/* the last frame read is no entry when the chain goes on */
	t->trunc =
	    t->nr_frames == MAX_FRAMES && !(t->frames[MAX_FRAMES - 1].flags & PYLIVE_F_ENTRY);
}

static __u64 local0(struct pylocks *w, const struct pythread *t, unsigned i)
{
	__u64 v = 0;

	return i < t->nr_frames && !pylive_local(w->pl, &t->frames[i], 0, &v) ? v : 0;
}

static void add_thread(void *ctx, __u32 tid, __u64 tstate)
{
	struct pylocks *w = ctx;
	struct pythread *t;

	if (w->nr_th == MAX_THREADS)
		return;
	t = VEC_PUSH(w->th, w->nr_th, w->cap_th);
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->tstate = tstate;
}

static struct pythread *thread_of(struct pylocks *w, __u32 tid)
{
	for (size_t i = 0; i < w->nr_th; i++)
		if (w->th[i].tid == tid)
			return &w->th[i];
	return NULL;
}

unsigned pylocks_stack(struct pylocks *w, __u32 tid, struct tt_pyframe *out, unsigned max,
		       __u32 *flags)
{
	struct pythread *t;
	unsigned n;

	threads_clear(w);
	pygil_threads(w->py, add_thread, w);
	t = thread_of(w, tid);
	if (!t)
		return 0;
	read_frames(w, t);
	n = t->nr_frames < max ? t->nr_frames : max;
	for (unsigned i = 0; i < n; i++) {
		frame_to_tt(&t->frames[i], &out[i]);
		if (i < TT_PY_LOCAL0_FRAMES)
			out[i].local0 = local0(w, t, i);
	}
	*flags = t->trunc || n < t->nr_frames ? TT_STACK_USER_TRUNC : 0;
	return n;
}

/* Every Python thread's frames and the locks they refer to. */
static void read_threads(struct pylocks *w)
{
	threads_clear(w);
	pygil_threads(w->py, add_thread, w);
	for (size_t i = 0; i < w->nr_th; i++) {
		struct pythread *t = &w->th[i];

		t->ident = pygil_tstate_ident(w->py, t->tstate);
		read_frames(w, t);
		for (unsigned f = 0; f < t->nr_frames; f++)
			scan_frame(w, t, f);
	}
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = s ? strlen(s) : 0, b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

/* The kind of synchronisation object a threading.py / queue.py frame's self is. */
static unsigned sync_kind(struct pylocks *w, const char *file, __u64 self)
{
	char name[32] = "";

	if (ends_with(file, "/queue.py"))
		return TT_PYOBJ_QUEUE;
	if (pylive_type_name(w->pl, self, name, sizeof(name)))
		return TT_PYOBJ_UNKNOWN;
	if (!strcmp(name, "Condition"))
		return TT_PYOBJ_CONDITION;
	if (!strcmp(name, "Event"))
		return TT_PYOBJ_EVENT;
	if (!strcmp(name, "Semaphore") || !strcmp(name, "BoundedSemaphore"))
		return TT_PYOBJ_SEMAPHORE;
	if (!strcmp(name, "Barrier"))
		return TT_PYOBJ_BARRIER;
	if (strstr(name, "Thread") || strstr(name, "Timer"))
		return TT_PYOBJ_JOIN;
	return TT_PYOBJ_UNKNOWN;
}

/* The text of line `line` of file as the target sees it; false when unreadable. */
static bool source_line(pid_t pid, const char *file, int line, char *buf, size_t len)
{
	char path[4200];
	FILE *f;
	int n = 0;

	if (!file || line <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/%s/%s", pid, file[0] == '/' ? "root" : "cwd", file);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(buf, (int)len, f))
		if (++n == line) {
			fclose(f);
			return true;
		}
	fclose(f);
	return false;
}

static size_t name_chars(const char *s)
{
	size_t n = 0;

	while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '.')
		n++;
	return n;
}

/*
 * The object's name in the line that waits: `with accounts_lock:` or `with a, b:` (the last
 * one: the acquire in progress is the latest), `ready.wait()`, `self.lock.acquire()`.
 */
static void name_from_line(const char *line, char *out, size_t len)
{
	static const char *const calls[] = {".acquire(", ".wait(", ".wait_for(", ".join(",
					    ".get(",	 ".put(",  ".__enter__("};
	const char *p = line;
	size_t n;

	out[0] = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!strncmp(p, "async ", 6))
		p += 6;
	if (!strncmp(p, "with ", 5)) {
		const char *last = p + 5, *c;

		while (*last == ' ')
			last++;
		for (c = last; *c && *c != ':'; c++)
			if (*c == ',') {
				last = c + 1;
				while (*last == ' ')
					last++;
			}
		n = name_chars(last);
		snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), last);
		return;
	}
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const char *c = strstr(p, calls[i]), *s;

		if (!c)
			continue;
		for (s = c;
		     s > p && (isalnum((unsigned char)s[-1]) || s[-1] == '_' || s[-1] == '.');)
			s--;
		n = (size_t)(c - s);
		if (n)
			snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), s);
		return;
	}
}

/*
 * The lock t's wait on addr is for: a lock object its frames refer to whose sem_t is addr, or
 * whose PyMutex the parking-lot entry names (the entry is on the blocked waiter's stack).
 */
static __u64 waited_lock(struct pylocks *w, const struct pythread *t, __u64 addr)
{
	__u64 key = rd64(w, addr - PARK_KEY_BEFORE);

	for (size_t i = 0; i < t->nr_refs; i++) {
		__u64 lock = t->refs[i].lock;

		if (rd64(w, lock + w->head + LOCK_SEM) == addr || (key && key == lock + w->head))
			return lock;
	}
	return 0;
}

/* Is a Lock locked now: its PyMutex's _Py_LOCKED bit (3.13.1+), else its `locked` byte. */
static bool lock_locked(struct pylocks *w, __u64 lock)
{
	__u8 b = 0;

	if (rd(w, lock + w->head + (w->lock_parks ? 0 : LOCK_LOCKED), &b, 1))
		return false;
	return w->lock_parks ? b & 1 : b != 0;
}

static __u32 tid_of_ident(const struct pylocks *w, __u64 ident)
{
	for (size_t i = 0; i < w->nr_th; i++)
		if (ident && w->th[i].ident == ident)
			return w->th[i].tid;
	return 0;
}

/* Whether a thread is blocked waiting for the lock (this round's facts). */
static bool waits_for(const struct pylocks *w, __u32 tid, __u64 lock)
{
	for (size_t i = 0; i < w->nr_facts; i++)
		if (w->facts[i].tid == tid && w->facts[i].w.lock == lock)
			return true;
	return false;
}

/*
 * Who holds a Lock: the one thread with its bound __exit__ on a value stack (a waiter's own
 * in its innermost frame is the `with` it waits in: 3.8-3.11 push __exit__ before __enter__);
 * else the one other thread referring to it at all (inferred). Precise slots win over stale.
 */
static __u32 lock_holder(struct pylocks *w, __u64 lock, __u32 waiter, __u8 *evidence)
{
	__u32 exit_tid = 0, exit_precise = 0, ref_tid = 0;
	unsigned nr_exit = 0, nr_precise = 0, nr_ref = 0;
	if (!lock_locked(w, lock))
		return 0;
	for (size_t i = 0; i < w->nr_th; i++) {
		const struct pythread *t = &w->th[i];
		bool exit = false, precise = false, ref = false;
		bool self_wait = waits_for(w, t->tid, lock);

		for (size_t k = 0; k < t->nr_refs; k++) {
			const struct ref *r = &t->refs[k];

			if (r->lock != lock)
				continue;
			ref = true;
			if (r->kind != REF_EXIT || (self_wait && r->frame == 0))
				continue;
			exit = true;
			precise |= r->precise;
		}
		if (t->tid == waiter || self_wait)
			continue;
		if (exit) {
			nr_exit++;
			exit_tid = t->tid;
			if (precise) {
				nr_precise++;
				exit_precise = t->tid;
			}
		} else if (ref) {
			nr_ref++;
			ref_tid = t->tid;
		}
	}
	*evidence = TT_PYHOLD_WITH_BLOCK;
	if (nr_exit == 1)
		return exit_tid;
	if (nr_precise == 1)
		return exit_precise;
	*evidence = TT_PYHOLD_INFERRED;
	if (!nr_exit && nr_ref == 1)
		return ref_tid;
	*evidence = TT_PYHOLD_NONE;
	return 0;
}

/*
 * Does the waiter hold the Lock it waits for itself (`with lock:` inside `with lock:`)? Its own
 * frames keep more of the lock's __exit__ than the `with` it waits in put there: the waiting
 * `with` pushed one before calling __enter__ (3.8-3.11, 3.14+; 3.12/3.13 keep it in a C
 * variable until __enter__ returns). A finished `with` leaves no __exit__ behind (its call's
 * result overwrites it), so a caller's count even where its stack top is not recorded (3.8/3.9
 * callers run in eval loops of their own); in the innermost frame, which records none while
 * it runs (3.8-3.13), only an __exit__ right under what the waiting `with` keeps there (enum
 * above).
 */
static bool self_held(const struct pylocks *w, const struct pythread *t, __u64 lock)
{
	unsigned inner = 0, outer = 0;

	for (size_t k = 0; k < t->nr_refs; k++) {
		const struct ref *r = &t->refs[k];

		if (r->lock != lock || r->kind != REF_EXIT)
			continue;
		if (!r->precise && !r->frame &&
		    r->above == (w->exit_first ? ABOVE_EXIT : ABOVE_LOCK))
			return true;
		if (!r->precise && !r->frame)
			continue;
		if (r->frame)
			outer++;
		else
			inner++;
	}
	return outer || inner > (w->exit_first ? 1u : 0u);
}

static struct facts *facts_of(struct pylocks *w, __u32 tid)
{
	for (size_t i = 0; i < w->nr_facts; i++)
		if (w->facts[i].tid == tid)
			return &w->facts[i];
	return NULL;
}

/* What thread t's wait on b->addr is for: the object, its kind and name, its lock. */
static bool classify(struct pylocks *w, const struct pythread *t, const struct blocked_wait *b,
		     struct tt_pywait *pw)
{
	int sync_frame = -1, name_frame = -1;
	struct tt_pyframe tf;
	char line[512];

	memset(pw, 0, sizeof(*pw));
	pw->since = b->since;
	pw->uaddr = b->addr;
	pw->lock = waited_lock(w, t, b->addr);
	/* the outermost of the innermost threading.py/queue.py frames names the object */
	for (unsigned i = 0; i < t->nr_frames; i++) {
		const char *q, *file;
		int ln;

		__u64 self;

		frame_to_tt(&t->frames[i], &tf);
		pyframes_where(w->pf, &tf, &q, &file, &ln);
		if (!ends_with(file, "/threading.py") && !ends_with(file, "/queue.py")) {
			name_frame = (int)i;
			break;
		}
		self = local0(w, t, i);
		if (self && sync_kind(w, file, self)) {
			sync_frame = (int)i;
			pw->obj = self;
			pw->kind = (__u8)sync_kind(w, file, pw->obj);
		}
	}
	if (sync_frame < 0) {
		if (!pw->lock)
			return false;
		pw->obj = pw->lock;
		pw->kind = obj_class(w, pw->lock) == OC_RLOCK ? TT_PYOBJ_RLOCK : TT_PYOBJ_LOCK;
	}
	if (name_frame >= 0) {
		const char *q, *file;
		int ln;

		frame_to_tt(&t->frames[name_frame], &tf);
		pyframes_where(w->pf, &tf, &q, &file, &ln);
		if (source_line(w->py->pid, file, ln, line, sizeof(line)))
			name_from_line(line, pw->name, sizeof(pw->name));
	}
	return true;
}

static void find_holder(struct pylocks *w, __u32 tid, struct tt_pywait *pw)
{
	enum obj_class c;

	/* a Condition's waiter lock is released by notify(), not by a holder */
	if (!pw->lock || (pw->kind != TT_PYOBJ_LOCK && pw->kind != TT_PYOBJ_RLOCK))
		return;
	c = obj_class(w, pw->lock);
	if (c == OC_RLOCK) {
		__u64 owner = rd64(w, pw->lock + w->head + RLOCK_OWNER);
		__u64 count = rd64(w, pw->lock + w->head + RLOCK_COUNT);

		/* 3.14+ `level` counts re-entries (0 held once): the owner says it, with the
		 * PyMutex's _Py_LOCKED bit */
		if (w->rlock_parks)
			count = owner && (rd64(w, pw->lock + w->head) & 1);
		pw->holder = count ? tid_of_ident(w, owner) : 0;
		pw->evidence = pw->holder ? TT_PYHOLD_RLOCK_OWNER : TT_PYHOLD_NONE;
	} else if (c == OC_LOCK) {
		struct pythread *t = thread_of(w, tid);

		pw->holder = lock_holder(w, pw->lock, tid, &pw->evidence);
		if (!pw->holder && t && lock_locked(w, pw->lock) && self_held(w, t, pw->lock)) {
			pw->holder = tid; /* a deadlock of one thread */
			pw->evidence = TT_PYHOLD_WITH_BLOCK;
		}
	}
}

/* A cycle through start in the waits-for graph of the facts; its key, 0 when none. */
static __u64 find_cycle(struct pylocks *w, const struct facts *start, struct tt_deadlock *dl)
{
	const struct facts *cur = start;
	__u64 key = 0;

	memset(dl, 0, sizeof(*dl));
	for (unsigned k = 0; k < TT_MAX_CYCLE && cur && cur->w.holder; k++) {
		dl->links[k].tid = cur->tid;
		dl->links[k].owner = cur->w.holder;
		dl->links[k].addr = cur->w.uaddr;
		key += hash_u64(cur->tid ^ hash_u64(cur->w.lock));
		if (cur->w.holder == start->tid) {
			dl->nr = k + 1;
			return key | 1;
		}
		cur = facts_of(w, cur->w.holder);
	}
	return 0;
}

static bool reported_before(struct pylocks *w, __u64 key)
{
	for (size_t i = 0; i < w->nr_reported; i++)
		if (w->reported[i] == key)
			return true;
	return false;
}

void pylocks_check(struct pylocks *w, const struct blocked_wait *b, size_t n, __u64 now,
		   struct pylocks_round *out)
{
	size_t nr_facts, nr_old, python = 0;
	struct facts *old;
	__u64 key = 0;

	out->nr_waits = 0;
	out->deadlock = false;
	if (now - w->last_round < ROUND_NS)
		return;
	for (size_t i = 0; i < n; i++)
		python += now - b[i].since >= MIN_BLOCKED_NS;
	if (!python)
		return;
	w->last_round = now;
	read_threads(w);
	/* this round's facts; the previous round's say what was written already */
	old = w->facts;
	nr_old = w->nr_facts;
	w->facts = NULL;
	w->nr_facts = w->cap_facts = 0;
	for (size_t i = 0; i < n; i++) {
		struct pythread *t = thread_of(w, b[i].tid);
		struct facts f = {.tid = b[i].tid};

		if (t && now - b[i].since >= MIN_BLOCKED_NS && classify(w, t, &b[i], &f.w))
			*VEC_PUSH(w->facts, w->nr_facts, w->cap_facts) = f;
	}
	nr_facts = w->nr_facts;
	for (size_t i = 0; i < nr_facts; i++)
		find_holder(w, w->facts[i].tid, &w->facts[i].w);
	for (size_t i = 0; i < nr_facts; i++) {
		struct facts *f = &w->facts[i];
		struct tt_pywait *r;

		/* compared by content, past the (empty) header */
		for (size_t k = 0; k < nr_old && !f->written; k++)
			f->written =
			    old[k].tid == f->tid && !memcmp((char *)&old[k].w + sizeof(f->w.hdr),
							    (char *)&f->w + sizeof(f->w.hdr),
							    sizeof(f->w) - sizeof(f->w.hdr));
		if (f->written)
			continue;
		f->written = true;
		r = VEC_PUSH(out->waits, out->nr_waits, out->cap_waits);
		*r = f->w;
		r->hdr.size = sizeof(*r);
		r->hdr.kind = TT_REC_PYWAIT;
		r->hdr.ts = now;
		r->hdr.pid = w->py->pid;
		r->hdr.tid = f->tid;
	}
	free(old);
	/* a cycle counts once it is seen in two rounds in a row (holders read twice) */
	for (size_t i = 0; i < nr_facts && !key; i++) {
		__u32 min = w->facts[i].tid;

		key = find_cycle(w, &w->facts[i], &out->dl);
		for (unsigned k = 0; key && k < out->dl.nr; k++)
			if (out->dl.links[k].tid < min)
				key = 0; /* found again from its lowest tid */
	}
	if (key && key == w->cycle_key && !reported_before(w, key)) {
		*VEC_PUSH(w->reported, w->nr_reported, w->cap_reported) = key;
		out->dl.hdr.size = sizeof(out->dl);
		out->dl.hdr.kind = TT_REC_DEADLOCK;
		out->dl.hdr.ts = now;
		out->dl.hdr.pid = w->py->pid;
		out->dl.hdr.tid = out->dl.links[0].tid;
		out->dl.flags = TT_DEADLOCK_PYTHON;
		out->deadlock = true;
	}
	w->cycle_key = key;
}

const struct tt_pywait *pylocks_wait_of(const struct pylocks *w, __u32 tid)
{
	for (size_t i = 0; i < w->nr_facts; i++)
		if (w->facts[i].tid == tid)
			return &w->facts[i].w;
	return NULL;
}
