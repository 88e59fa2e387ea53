// SPDX-License-Identifier: GPL-2.0
/*
 * pyobj.c - see pyobj.h. threading.py and queue.py build every synchronisation object on
 * _thread locks: a Condition waits on a fresh lock per wait, an Event, a Semaphore, a Barrier
 * and a Queue wait in a Condition, Thread.join on the thread's lock or (3.13+) its PyEvent.
 * So the object is the `self` (local0) of the outermost library frame that waits, not any
 * futex word; a bare Lock or RLock (C objects, no frame of their own) is its futex word, or
 * on 3.13.1+ the PyMutex its parking-lot wait entry names.
 */
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include "pyobj.h"
#include "pyframes.h"

bool pyobj_kind_is_lock(enum pyobj_kind k)
{
	return k == PYOBJ_LOCK || k == PYOBJ_RLOCK || k == PYOBJ_OBJECT;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* Exported by every build (dynamic symbols), so stripped interpreters name them too. */
static const char *const parking_funcs[] = {
    "_PyParkingLot_Park",     "_PySemaphore_Wait",
    "_PyMutex_LockTimed",     "_PyMutex_LockSlow",
    "PyEvent_WaitTimed",      "_PyEvent_WaitTimed",
    "PyEvent_Wait",	      "_PyRecursiveMutex_LockTimed",
    "_PyRecursiveMutex_Lock", NULL,
};
static const char *const semlock_funcs[] = {
    "PyThread_acquire_lock_timed",
    "PyThread_acquire_lock",
    NULL,
};
static const char *const event_funcs[] = {
    "PyEvent_WaitTimed",
    "_PyEvent_WaitTimed",
    "PyEvent_Wait",
    NULL,
};
/* Functions only an RLock's acquire runs (static ones are named where symbols are kept). */
static const char *const rlock_funcs[] = {
    "rlock_acquire",
    "rlock_acquire_restore",
    "_PyRecursiveMutex_LockTimed",
    "_PyRecursiveMutex_Lock",
    NULL,
};

/* Py_BEGIN_CRITICAL_SECTION's slow paths (exported): an object's ob_mutex is contended. */
static const char *const critical_funcs[] = {
    "_PyCriticalSection_BeginSlow", "_PyCriticalSection2_BeginSlow", "_PyCriticalSection_Resume",
    "PyCriticalSection_Begin",	    "PyCriticalSection2_Begin",	     NULL,
};
/* Python/pystate.c (3.13+): static in the 3.13t build, named where its symbols are kept */
static const char *const stw_requester_funcs[] = {
    "stop_the_world",
    "_PyEval_StopTheWorld",
    "_PyEval_StopTheWorldAll",
    NULL,
};
static const char *const stw_parked_funcs[] = {
    "tstate_wait_attach",
    "_PyThreadState_Attach",
    NULL,
};

bool pyobj_parking_func(const char *func)
{
	return in_list(func, parking_funcs);
}

/* Does a native frame (or a function inlined in it) name a function of the list? */
static bool native_has(const struct pyobj_wait *in, const char *const *list)
{
	for (unsigned i = 0; in->sd && i < in->nr_native; i++) {
		const struct sym_frame *f;

		if (is_pyframe_ip(in->native[i]))
			continue;
		f = symdata_frame(in->sd, in->native[i]);
		if (!f)
			continue;
		if (in_list(f->func, list))
			return true;
		for (size_t k = 0; k < f->nr_inlined; k++)
			if (in_list(f->inlined[k].func, list))
				return true;
	}
	return false;
}

enum pystw_role pyobj_stw_role(const struct pyobj_wait *in)
{
	if (!native_has(in, parking_funcs))
		return PYSTW_NONE;
	if (native_has(in, stw_requester_funcs))
		return PYSTW_REQUESTER;
	return native_has(in, stw_parked_funcs) ? PYSTW_PARKED : PYSTW_NONE;
}

const char *pyobj_stw_cause(const struct symdata *sd, const __u64 *ips, unsigned nr)
{
	static const struct {
		const char *func, *cause;
	} causes[] = {
	    {"gc_collect_main", "GC"},
	    {"gc_collect_internal", "GC"},
	    {"_PyGC_Collect", "GC"},
	    {"PyGC_Collect", "GC"},
	    {"_PyEval_SetTrace", "trace"},
	    {"_PyEval_SetProfile", "trace"},
	    {"_PyEval_SetTraceAllThreads", "trace"},
	    {"_PyEval_SetProfileAllThreads", "trace"},
	    {"_PyMonitoring_SetEvents", "monitoring"},
	    {"_PyMonitoring_SetLocalEvents", "monitoring"},
	    {"PyOS_BeforeFork", "fork"},
	    {"_PyEval_StopTheWorldAll", "fork"},
	    {"_PyEval_EnableGILTransient", "GIL"},
	    {"_PyEval_EnableGILPermanent", "GIL"},
	    {"_PyEval_DisableGIL", "GIL"},
	};

	for (unsigned i = 0; sd && i < nr; i++) {
		const struct sym_frame *f = symdata_frame(sd, ips[i]);

		for (size_t k = 0; f && k <= f->nr_inlined; k++) {
			const char *fn = k < f->nr_inlined ? f->inlined[k].func : f->func;

			/* gc_collect_main.constprop.0 and such are the same function */
			for (size_t c = 0; fn && c < sizeof(causes) / sizeof(causes[0]); c++)
				if (!strncmp(fn, causes[c].func, strlen(causes[c].func)) &&
				    (!fn[strlen(causes[c].func)] ||
				     fn[strlen(causes[c].func)] == '.'))
					return causes[c].cause;
		}
	}
	return "other";
}

/* A Python frame's code name and file, from its name "qualname (file.py:LINE)". */
struct pyf {
	const struct sym_frame *f;
	const char *func; /* qualname (3.11+) or co_name */
	char file[64];	  /* base name */
	bool lib;	  /* threading.py or queue.py */
	char norm[48];	  /* the qualname, worked out from the chain before 3.11 */
};

static void pyf_fill(const struct symdata *sd, const struct tt_pyframe *p, struct pyf *o)
{
	const char *open, *colon;
	size_t n;

	memset(o, 0, sizeof(*o));
	o->f = sd ? symdata_frame(sd, pyframe_ip(p)) : NULL;
	if (!o->f || !o->f->func)
		return;
	o->func = o->f->func;
	open = strrchr(o->f->name, '(');
	if (!open)
		return;
	open++;
	colon = strchr(open, ':');
	n = colon ? (size_t)(colon - open) : strcspn(open, ")");
	if (n >= sizeof(o->file))
		n = sizeof(o->file) - 1;
	memcpy(o->file, open, n);
	o->lib = !strcmp(o->file, "threading.py") || !strcmp(o->file, "queue.py");
}

/*
 * Before 3.11 code objects have no qualified name: threading.py's "wait" is Condition.wait
 * innermost, Event.wait around a Condition.wait, Barrier.wait around _wait/_enter.
 */
static void normalise(struct pyf *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *f = v[i].func, *in = i ? v[i - 1].func : NULL;
		const char *q = NULL;

		if (!v[i].lib || !f)
			continue;
		if (strchr(f, '.') || !strcmp(f, "_shutdown")) {
			snprintf(v[i].norm, sizeof(v[i].norm), "%s", f);
			continue;
		}
		if (!strcmp(v[i].file, "queue.py")) {
			snprintf(v[i].norm, sizeof(v[i].norm), "Queue.%s", f);
			continue;
		}
		if (!strcmp(f, "wait"))
			q = !in || !v[i - 1].lib			     ? "Condition.wait"
			    : !strcmp(in, "wait") || !strcmp(in, "wait_for") ? "Event.wait"
									     : "Barrier.wait";
		else if (!strcmp(f, "wait_for"))
			q = "Condition.wait_for";
		else if (!strcmp(f, "acquire") || !strcmp(f, "__enter__"))
			q = in && v[i - 1].lib	      ? "Semaphore.acquire"
			    : !strcmp(f, "__enter__") ? "Condition.__enter__"
						      : "_RLock.acquire";
		else if (!strcmp(f, "join") || !strcmp(f, "_wait_for_tstate_lock"))
			q = "Thread.join";
		else if (!strcmp(f, "_acquire_restore"))
			q = "Condition._acquire_restore";
		else if (!strcmp(f, "_wait") || !strcmp(f, "_enter"))
			q = "Barrier._wait";
		if (q)
			snprintf(v[i].norm, sizeof(v[i].norm), "%s", q);
	}
}

/* What a library function waits for: an object kind, a lock operation, or nothing known. */
#define LOCK_OP (-1)

static int api_kind(const char *q)
{
	static const struct {
		const char *suffix;
		int kind;
	} api[] = {
	    {"Condition.wait", PYOBJ_CONDITION},
	    {"Condition.wait_for", PYOBJ_CONDITION},
	    {"Condition.__enter__", LOCK_OP},
	    {"Condition._acquire_restore", LOCK_OP},
	    {"Event.wait", PYOBJ_EVENT},
	    {"Semaphore.acquire", PYOBJ_SEMAPHORE},
	    {"Semaphore.__enter__", PYOBJ_SEMAPHORE},
	    {"Barrier.wait", PYOBJ_BARRIER},
	    {"Barrier._wait", PYOBJ_BARRIER},
	    {"Barrier._enter", PYOBJ_BARRIER},
	    {"Thread.join", PYOBJ_JOIN},
	    {"Thread._wait_for_tstate_lock", PYOBJ_JOIN},
	    {"_shutdown", PYOBJ_JOIN},
	    {"Queue.get", PYOBJ_QUEUE},
	    {"Queue.put", PYOBJ_QUEUE},
	    {"Queue.join", PYOBJ_QUEUE},
	    {"_RLock.acquire", PYOBJ_RLOCK},
	    {"_RLock.__enter__", PYOBJ_RLOCK},
	};

	for (size_t i = 0; q && i < sizeof(api) / sizeof(api[0]); i++)
		if (!strcmp(q, api[i].suffix))
			return api[i].kind;
	return 0;
}

/*
 * Library calls whose one blocked call may wait many times: Semaphore.acquire loops around
 * Condition.wait while the value is 0 (a waiter woken by a release whose releaser took the
 * unit back at once waits again), Barrier.wait around _enter and wait_for. Queue.get and
 * Event.wait are not among them: a consumer's get() calls, one right after the other, look
 * the same as such re-waits in futex waits, and they are the common case.
 */
static bool api_loops(const char *q)
{
	static const char *const loops[] = {
	    "Semaphore.acquire", "Semaphore.__enter__", "Barrier.wait",
	    "Barrier._wait",	 "Barrier._enter",	NULL,
	};

	return in_list(q, loops);
}

/* The methods a kind's waits are called through, for the expression before them. */
static const char *const *kind_methods(enum pyobj_kind k)
{
	static const char *const lock[] = {"acquire", "__enter__", "_acquire_restore",
					   "acquire_lock", NULL};
	static const char *const wait[] = {"wait", "wait_for", NULL};
	/* Thread.start waits on the thread's Event until it runs */
	static const char *const event[] = {"wait", "wait_for", "start", NULL};
	static const char *const sem[] = {"acquire", NULL};
	static const char *const queue[] = {"get", "put", "join", "get_nowait", "put_nowait", NULL};
	static const char *const join[] = {"join", NULL};

	switch (k) {
	case PYOBJ_LOCK:
	case PYOBJ_RLOCK:
		return lock;
	case PYOBJ_SEMAPHORE:
		return sem;
	case PYOBJ_QUEUE:
		return queue;
	case PYOBJ_JOIN:
		return join;
	case PYOBJ_EVENT:
		return event;
	default:
		return wait;
	}
}

static void copy_trim(char *out, size_t len, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, s, n);
	out[n] = 0;
}

/* The primary expression that ends just before end (a.b[i].c, f(x).d): its start. */
static const char *expr_start(const char *line, const char *end)
{
	const char *p = end;
	int depth = 0;

	while (p > line) {
		char c = p[-1];

		if (c == ')' || c == ']') {
			depth++;
		} else if (c == '(' || c == '[') {
			if (!depth)
				break;
			depth--;
		} else if (!depth && !(isalnum((unsigned char)c) || c == '_' || c == '.')) {
			break;
		}
		p--;
	}
	return p;
}

/*
 * The object an object lock's line touches: the target of its last method call
 * (`shared_list.append(n)`), else of its first subscript (`shared_dict[k] = v`).
 */
static bool object_expr(const char *s, char *out, size_t len)
{
	const char *best = NULL, *b;

	for (const char *p = strchr(s, '('); p; p = strchr(p + 1, '(')) {
		const char *q = p;

		while (q > s && (isalnum((unsigned char)q[-1]) || q[-1] == '_'))
			q--;
		if (q < p && q > s && q[-1] == '.')
			best = q - 1;
	}
	if (!best)
		for (const char *p = strchr(s, '['); p && !best; p = strchr(p + 1, '['))
			if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
				best = p;
	if (best && (b = expr_start(s, best)) < best) {
		copy_trim(out, len, b, (size_t)(best - b));
		return true;
	}
	copy_trim(out, len, s, strcspn(s, "#"));
	return false;
}

/* pyobj_expr for the calls of the methods m. */
static bool expr_of(const char *line, const char *const *m, char *out, size_t len)
{
	const char *s = line, *best = NULL, *at;

	out[0] = 0;
	if (!line || !len)
		return false;
	while (isspace((unsigned char)*s))
		s++;
	if (!strncmp(s, "async ", 6))
		s += 6;
	if (!strncmp(s, "with ", 5)) { /* with X:  /  with X as y:  (the first item) */
		const char *e;

		s += 5;
		e = s + strcspn(s, ":,#");
		at = strstr(s, " as ");
		if (at && at < e)
			e = at;
		copy_trim(out, len, s, (size_t)(e - s));
		return out[0] != 0;
	}
	for (; *m; m++) {
		char pat[32];

		snprintf(pat, sizeof(pat), ".%s(", *m);
		for (at = strstr(s, pat); at; at = strstr(at + 1, pat))
			if (!best || at > best)
				best = at;
	}
	if (best) {
		const char *b = expr_start(s, best);

		if (b < best) {
			copy_trim(out, len, b, (size_t)(best - b));
			return true;
		}
	}
	copy_trim(out, len, s, strcspn(s, "#"));
	return false;
}

bool pyobj_expr(const char *line, enum pyobj_kind k, char *out, size_t len)
{
	if (k == PYOBJ_OBJECT && line && len) { /* shared_list.append(n), shared_dict[k] = v */
		out[0] = 0;
		while (isspace((unsigned char)*line))
			line++;
		return object_expr(line, out, len);
	}
	return expr_of(line, kind_methods(k), out, len);
}

static void fill_site(const struct pyobj_wait *in, const struct pyf *v, int site, struct pyobj *out)
{
	const char *open;

	if (site < 0 || (unsigned)site >= in->nr_py || !v[site].f)
		return;
	out->site_ip = pyframe_ip(&in->py[site]);
	open = strrchr(v[site].f->name, '(');
	if (open)
		copy_trim(out->where, sizeof(out->where), open + 1, strcspn(open + 1, ")"));
	if (v[site].f->src)
		pyobj_expr(v[site].f->src, out->kind, out->name, sizeof(out->name));
}

/*
 * concurrent.futures' waits (Future.result/exception, as_completed, wait) are a Condition or
 * Event of _base.py's: the call the user made names them. Its function, or NULL.
 */
static const char *futures_call(const struct pyf *p)
{
	static const char *const funcs[] = {"result", "exception", "as_completed", "wait", NULL};
	const char *f = p->func, *dot;

	if (!f || strcmp(p->file, "_base.py"))
		return NULL;
	dot = strrchr(f, '.');
	if (dot && strncmp(f, "Future.", 7))
		return NULL;
	f = dot ? dot + 1 : f;
	return in_list(f, funcs) ? f : NULL;
}

/* importlib's frames (frozen, no source): a lock taken there is an import lock. */
static bool importlib_frame(const struct pyf *p)
{
	return !strncmp(p->file, "<frozen importlib", 17);
}

/* A C queue (_queue.SimpleQueue) waits on a lock of its own under get(): static functions,
 * named where symbols are kept; else the line's call tells. */
static const char *const simplequeue_funcs[] = {
    "_queue_SimpleQueue_get_impl",
    "_queue_SimpleQueue_get",
    "simplequeue_get",
    NULL,
};

static bool simplequeue_wait(const struct pyobj_wait *in, const struct pyf *site)
{
	static const char *const calls[] = {"get", NULL};
	char e[96];

	if (native_has(in, simplequeue_funcs))
		return true;
	return site && site->f && site->f->src &&
	       !pyobj_expr(site->f->src, PYOBJ_LOCK, e, sizeof(e)) &&
	       expr_of(site->f->src, calls, e, sizeof(e));
}

/* The name of a wait made through concurrent.futures: "f.result()", "as_completed()". */
static void name_futures_call(const struct pyf *site, const char *call, struct pyobj *out)
{
	const char *const methods[] = {call, NULL};
	char e[80];

	if (strcmp(call, "result") && strcmp(call, "exception"))
		snprintf(out->name, sizeof(out->name), "%s()", call);
	else if (site && site->f && site->f->src && expr_of(site->f->src, methods, e, sizeof(e)))
		snprintf(out->name, sizeof(out->name), "%s.%s()", e, call);
	else
		snprintf(out->name, sizeof(out->name), "Future.%s()", call);
}

#define MAX_PY		       32
#define PYOBJ_MUTEX_IN_LOCK    16 /* PyObject_HEAD */
#define PYOBJ_MUTEX_IN_LOCK_FT 32 /* PyObject_HEAD of a free-threaded build */

bool pyobj_classify(const struct pyobj_wait *in, struct pyobj *out)
{
	struct pyf v[MAX_PY];
	unsigned n = in->nr_py < MAX_PY ? in->nr_py : MAX_PY, run = 0, u;
	int api = -1, kind = 0, site;
	bool parked = native_has(in, parking_funcs), import = false;
	const char *fut = NULL;

	memset(out, 0, sizeof(*out));
	if (pyobj_stw_role(in) != PYSTW_NONE)
		return false;
	if (parked && in->have_park_key && (in->park_key & 7) == 2 &&
	    (native_has(in, critical_funcs) ||
	     (in->type && in->type_obj == in->park_key - PYOBJ_OB_MUTEX))) {
		out->kind = PYOBJ_OBJECT;
		out->parked = true;
		out->obj = out->key = in->park_key - PYOBJ_OB_MUTEX;
		if (in->type && in->type_obj == out->obj)
			snprintf(out->type, sizeof(out->type), "%s", in->type);
		for (unsigned i = 0; i < n; i++)
			pyf_fill(in->sd, &in->py[i], &v[i]);
		fill_site(in, v, n ? 0 : -1, out);
		return true;
	}
	if (!n) {
		/* C code parked without Python frames (a new thread waiting to be started): the
		 * PyMutex or PyEvent is still the object */
		if (!parked || !in->have_park_key || !in->park_key)
			return false;
		out->kind = native_has(in, event_funcs)	  ? PYOBJ_EVENT
			    : native_has(in, rlock_funcs) ? PYOBJ_RLOCK
							  : PYOBJ_LOCK;
		out->parked = true;
		out->key = in->park_key;
		return true;
	}
	for (unsigned i = 0; i < n; i++)
		pyf_fill(in->sd, &in->py[i], &v[i]);
	normalise(v, n);
	while (run < n && v[run].lib)
		run++;
	/* the outermost library frame that says what is waited for (Queue.get over a
	 * Condition.wait); a Condition.wait re-taking its lock is the lock's */
	for (unsigned i = 0; i < run; i++) {
		int k = api_kind(v[i].norm);

		if (!k)
			continue;
		if (k == PYOBJ_CONDITION && v[i].f && v[i].f->src &&
		    strstr(v[i].f->src, "_acquire_restore"))
			k = LOCK_OP;
		api = (int)i;
		kind = k;
	}
	/* the user's call: past concurrent.futures' and importlib's frames */
	for (u = run; u < n; u++) {
		const char *fc = futures_call(&v[u]);

		if (fc)
			fut = fc;
		else if (importlib_frame(&v[u]))
			import = true;
		else
			break;
	}
	site = u < n ? (int)u : run < n ? (int)n - 1 : -1;
	if (kind > 0 && kind != PYOBJ_RLOCK) {
		out->kind = kind;
		out->loop = api_loops(v[api].norm);
		/* local0 is read for the innermost frames only: the nearest API frame with it */
		for (int i = api; i >= 0 && !out->obj; i--)
			if (api_kind(v[i].norm) == kind)
				out->obj = in->py[i].local0;
	} else {
		/* a Lock or RLock acquire: proved by the native code that waits */
		if (!parked && !native_has(in, semlock_funcs) && kind != PYOBJ_RLOCK)
			return false;
		out->kind =
		    kind == PYOBJ_RLOCK || native_has(in, rlock_funcs) ? PYOBJ_RLOCK : PYOBJ_LOCK;
		/* no library frame: a C queue's get() (SimpleQueue) waits for an item */
		if (!kind && !import && simplequeue_wait(in, site >= 0 ? &v[site] : NULL))
			out->kind = PYOBJ_QUEUE;
	}
	out->parked = parked && in->have_park_key && in->park_key;
	out->key = out->obj ? out->obj : out->parked ? in->park_key : in->futex;
	fill_site(in, v, site, out);
	if (fut)
		name_futures_call(site >= 0 ? &v[site] : NULL, fut, out);
	else if (import && pyobj_kind_is_lock(out->kind))
		snprintf(out->name, sizeof(out->name), "%s", PYOBJ_IMPORT_LOCK);
	/* the collector read the type of the object the PyMutex is in: an RLock is told from a
	 * Lock by it where stripped builds name no rlock_acquire */
	if (out->parked && pyobj_kind_is_lock(out->kind) && in->type &&
	    (in->type_obj == in->park_key - PYOBJ_MUTEX_IN_LOCK ||
	     in->type_obj == in->park_key - PYOBJ_MUTEX_IN_LOCK_FT) &&
	    (!strcmp(in->type, "_thread.RLock") || !strcmp(in->type, "_thread.lock"))) {
		out->kind = !strcmp(in->type, "_thread.RLock") ? PYOBJ_RLOCK : PYOBJ_LOCK;
		/* the object whose type was read: the collector knew the build's header size (the
		 * analysis may not yet: attached to 3.13t, a lock's first waits come before the
		 * record that says the build is free-threaded, and key - 16 was taken) */
		out->obj = in->type_obj;
		snprintf(out->type, sizeof(out->type), "%s", in->type);
	}
	/* a Lock (3.13.1+) or RLock (3.14+) acquired by Python code: its PyMutex is the lock
	 * object's first field after the object header (3.13.5: id() + 16, measured) */
	if (out->parked && pyobj_kind_is_lock(out->kind) && !out->obj && site >= 0 && !import &&
	    v[site].f && v[site].f->src) {
		char expr[96];

		if (pyobj_expr(v[site].f->src, out->kind, expr, sizeof(expr)))
			out->obj = in->park_key - (in->free_threaded ? PYOBJ_MUTEX_IN_LOCK_FT
								     : PYOBJ_MUTEX_IN_LOCK);
	}
	return true;
}
