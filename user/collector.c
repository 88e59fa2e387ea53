// SPDX-License-Identifier: GPL-2.0
/* collector.c - see collector.h. Lifecycle: open -> configure -> load -> attach -> poll. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <gelf.h>
#include "collector.h"
#include "command.h"
#include "procfs.h"
#include "symbols.h"
#include "mmaps.h"
#include "unwind.h"
#include "ustack.h"
#include "deadlock.h"
#include "probesite.h"
#include "rtops.h"
#include "rtset.h"
#include "libcver.h"
#include "threadtrace.skel.h"

/*
 * What tracing needs, checked live (tests: capabilities_only): BPF and perf events, the
 * target's memory and maps, and tracefs (root-only on Debian) for the syscall tracepoints.
 */
#define NEED_PRIVILEGE                                                                             \
	"root is needed: run threadtrace with sudo (or grant CAP_BPF, CAP_PERFMON, "               \
	"CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)\n"

int collector_wait_command(struct collector_result *res, bool quiet)
{
	command_wait(res->command_pid, &res->child_status, quiet);
	res->command_pid = 0;
	return 0;
}

static bool verbose_log;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose_log)
		return 0;
	if (!verbose_log)
		return 0; /* our own message says what failed; -v shows libbpf's detail */
	return vfprintf(stderr, fmt, args);
}

static __u64 now_ns(void)
{
	return rt_now_ns();
}

struct collect_ctx {
	__u64 session_ts;    /* the session record's stamp: traced time starts there */
	record_sink_fn sink; /* where each record goes as it comes (a file, the analysis) */
	void *sink_ctx;
	struct symdata *sd;
	struct symbolizer *sym;
	struct mmap_watch *mmaps; /* COMMAND mode: its mappings as the kernel made them */
	struct unwinder *unwinder;
	struct ustack_tables *ustack; /* the CFI tables BPF unwinds with */
	bool ustack_stale;	      /* a stack stopped at code the tables do not know */
	__u64 ustack_synced;	      /* when they were last brought up to date */
	unsigned ustack_generation;   /* the symbolizer's mappings they were synced with */
	struct deadlock_watch *deadlocks;
	struct rt_host host; /* what the runtimes see of the session (rtops.h) */
	struct rt_set rt;    /* the runtimes of rt_table found in the target */
	struct ring_buffer *ring;
	__u64 malformed;
	bool holds;
	__u64 lock_calls; /* --holds: lock calls seen, for the rate warning */
	__u64 calls_seen; /* ... at the latest once-a-second check */
	bool rate_warned;
	__u64 last_maps;	  /* when the maps were last re-read */
	__u64 libc_dev, libc_ino; /* the libc last written in a TT_REC_LIBC record */
	unsigned libc_generation; /* the symbolizer's mappings it was looked for in */
	__u32 exec_stops;	  /* exec stops of a COMMAND handled */
};

/* Pass a record on, unless it does not fit its kind (never trust a record). */
static int emit(struct collect_ctx *c, const void *rec, size_t size)
{
	if (record_check(rec, size)) {
		c->malformed++;
		return -EINVAL;
	}
	c->sink(c->sink_ctx, rec, size);
	return 0;
}

static int emit_cb(void *ctx, const void *rec, size_t size)
{
	return emit(ctx, rec, size);
}

/* The session's runtimes (rtset.h): each found in the target that has op. */
#define RT_CALL(c, op, ...) RT_SET_CALL(&(c)->rt, op, ##__VA_ARGS__)
#define RT_ANY(c, op, ...)  RT_SET_ANY(&(c)->rt, op, ##__VA_ARGS__)

static void drain_ring(void *ctx)
{
	struct collect_ctx *c = ctx;

	ring_buffer__consume(c->ring);
}

static void on_mmap(void *ctx, __u64 start, __u64 len, __u64 pgoff, const char *path)
{
	struct collect_ctx *c = ctx;

	/* files, and anonymous memory ("//anon": a .bss tail follows its file mapping) */
	symbolizer_add_mapping(c->sym, start, start + len, pgoff,
			       path[0] == '/' && path[1] != '/' ? path : "");
}

static void drain_mmaps(void *ctx)
{
	struct collect_ctx *c = ctx;

	mmap_watch_drain(c->mmaps, on_mmap, c);
}

/* A snapshot becomes the unwound user stack of its record; the bytes themselves are dropped. */
static void unwind_snapshot(struct collect_ctx *c, const struct tt_ustack_snapshot *snap)
{
	struct {
		struct tt_unwound u;
		__u64 ips[TT_MAX_USTACK];
	} rec;
	unsigned n;

	memset(&rec.u, 0, sizeof(rec.u));
	/* a module mapped since the last drain would stop the unwinding at its first frame */
	drain_mmaps(c);
	symbolizer_has_mapping(c->sym, snap->regs.ip);
	n = unwinder_unwind(c->unwinder, snap, &rec.u.stack);
	rec.u.hdr = snap->hdr;
	rec.u.hdr.kind = TT_REC_UNWOUND;
	rec.u.hdr.size = sizeof(rec.u) + n * 8;
	rec.u.parent_kind = snap->parent_kind;
	symbolizer_note_stack(c->sym, c->sd, &rec.u.stack); /* named first, as in on_record */
	if (emit(c, &rec, rec.u.hdr.size))
		return;
	deadlock_watch_record(c->deadlocks, &rec.u.hdr);
}

static void print_stack_live(const struct collect_ctx *c, __u32 tid)
{
	__u64 ips[TT_DEADLOCK_FRAMES];
	unsigned n = deadlock_watch_wait_stack(c->deadlocks, tid, ips);

	for (unsigned i = 0; i < n; i++) {
		const struct sym_frame *f = symdata_frame(c->sd, ips[i]);

		for (size_t k = 0; f && k < f->nr_inlined; k++)
			fprintf(stderr, "        %s\n", tsafe(f->inlined[k].name));
		if (f)
			fprintf(stderr, "        %s\n", tsafe(f->name));
		else
			fprintf(stderr, "        0x%llx\n", (unsigned long long)ips[i]);
	}
}

/* Say a hang the moment it is seen: the process will not get out of it by itself. */
static void report_deadlock_live(struct collect_ctx *c, const struct tt_deadlock *dl)
{
	const struct sym_lock *l = symdata_lock(c->sd, dl->links[0].addr);
	char comm[TT_COMM_LEN];

	if (dl->flags & TT_DEADLOCK_ORPHANED) {
		procfs_thread_comm(dl->hdr.pid, dl->links[0].tid, comm);
		fprintf(stderr,
			"threadtrace: ORPHANED LOCK: tid %u (%s) waits for %s (0x%llx), held "
			"by tid %u, which %s; it will never be released\n",
			dl->links[0].tid, tsafe(comm), l && l->name ? tsafe(l->name) : "a lock",
			(unsigned long long)dl->links[0].addr, dl->links[0].owner,
			deadlock_orphan_reason(dl->flags));
		print_stack_live(c, dl->links[0].tid);
		return;
	}
	if (dl->nr == 1)
		fprintf(stderr,
			"threadtrace: DEADLOCK: a thread waits for a lock it holds itself:\n");
	else
		fprintf(stderr, "threadtrace: DEADLOCK: %u threads wait for each other:\n", dl->nr);
	for (unsigned i = 0; i < dl->nr; i++) {
		l = symdata_lock(c->sd, dl->links[i].addr);
		procfs_thread_comm(dl->hdr.pid, dl->links[i].tid, comm);
		fprintf(stderr, "  tid %u (%s) waits for %s (0x%llx), held by tid %u\n",
			dl->links[i].tid, tsafe(comm), l && l->name ? tsafe(l->name) : "a lock",
			(unsigned long long)dl->links[i].addr, dl->links[i].owner);
		print_stack_live(c, dl->links[i].tid);
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct collect_ctx *c = ctx;
	const struct tt_rec_hdr *h = data;
	const struct tt_stack *st;

	/* The ring buffer pads to 8 bytes; the header carries the real size. */
	if (size < sizeof(*h) || h->size > size) {
		c->malformed++;
		return 0;
	}
	if (h->kind == TT_REC_USTACK_SNAPSHOT) {
		const struct tt_ustack_snapshot *snap = data;

		if (h->size < sizeof(*snap) || snap->size > h->size - sizeof(*snap))
			c->malformed++;
		else if (c->unwinder)
			unwind_snapshot(c, snap);
		return 0;
	}
	if (record_check(data, h->size)) {
		c->malformed++;
		return 0;
	}
	if (h->ts > c->host.last_ts)
		c->host.last_ts = h->ts;
	/*
	 * Name the frames before the analysis gets the record: a burst can push it through the
	 * reorder window at once, and a lock's kind is voted from the names its stacks have then.
	 * A runtime names its own (a Python stack's code objects) and does its work between
	 * records too (rt_ops.before_record).
	 */
	RT_CALL(c, before_record, h);
	st = record_stack(h);
	if (st && (st->flags & TT_STACK_USER_NOTABLE))
		c->ustack_stale = true;
	if (st)
		symbolizer_note_stack(c->sym, c->sd, st);
	emit(c, data, h->size);
	RT_CALL(c, after_record, h); /* its companion records follow the record */
	deadlock_watch_record(c->deadlocks, h);
	if (h->kind == TT_REC_WAIT_BEGIN)
		symbolizer_note_lock(c->sym, c->sd, ((const struct tt_wait_begin *)h)->uaddr);
	if (h->kind == TT_REC_LOCK_CALL) {
		const struct tt_lock_call *lc = data;

		c->lock_calls++;
		symbolizer_note_lock(c->sym, c->sd, lc->obj);
		if (lc->obj2)
			symbolizer_note_lock(c->sym, c->sd, lc->obj2);
	}
	return 0;
}

/* libbpf attaches tracepoints through tracefs; mount it where nothing did. */
/*
 * The effective IDs and capabilities decide, not the real ones that access(2) uses: with
 * CAP_DAC_READ_SEARCH and no root, tracefs (mode 0700 on Debian) is readable all the same.
 */
static bool can_see(const char *path)
{
	return !faccessat(AT_FDCWD, path, F_OK, AT_EACCESS);
}

static int ensure_tracefs(void)
{
	if (can_see("/sys/kernel/tracing/events/syscalls") ||
	    can_see("/sys/kernel/debug/tracing/events/syscalls"))
		return 0;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) && errno != EBUSY)
		return -errno;
	if (!can_see("/sys/kernel/tracing/events/syscalls"))
		return -ENOENT;
	return 0;
}

static bool tracepoint_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/syscalls/%s", name);
	if (can_see(path))
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/syscalls/%s", name);
	return can_see(path);
}

/*
 * COMMAND: a uprobe at the entry point of the image it execs stops it there (its libraries are
 * mapped by then) until the unwind tables are loaded (resume_at_entry). NULL where it cannot:
 * the first stacks are then copied for the collector until the tables follow.
 */
static struct bpf_link *stop_at_entry(struct threadtrace_bpf *skel, pid_t child, const char *exe)
{
	char image[4096];
	struct bpf_link *l = NULL;
	long long off = -1;
	GElf_Ehdr eh;
	Elf *e;
	int fd;

	if (command_image(exe, image, sizeof(image)))
		return NULL;
	e = probesite_open_elf(image, &fd);
	if (!e)
		return NULL;
	if (gelf_getehdr(e, &eh))
		off = probesite_vaddr_to_off(e, eh.e_entry, true);
	elf_end(e);
	close(fd);
	if (off >= 0)
		l = bpf_program__attach_uprobe(skel->progs.tt_entry_stop, false, child, image,
					       (size_t)off);
	return l && !libbpf_get_error(l) ? l : NULL;
}

/*
 * A COMMAND stopped at an exec (bpf/start.bpf.c): stop it again at the new image's entry point,
 * where its loader has mapped its libraries (`chroot ROOT prog`: ROOT's libc), and let it go.
 */
static void follow_image(struct collect_ctx *c, struct threadtrace_bpf *skel,
			 struct bpf_link **entry, pid_t child)
{
	char exe[64];

	if (*entry)
		bpf_link__destroy(*entry);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", child);
	*entry = stop_at_entry(skel, child, exe);
	kill(child, SIGCONT);
}

/* --holds: the uprobes on the target's lock functions. */
struct hold_probes {
	struct bpf_link **links;
	size_t n, cap;
	unsigned emulated, stepped;
	char modules[256];
	__u64 dev, ino; /* the file probed: an exec into another root maps another */
};

static bool is_libc_name(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	return !strncmp(b, "libc.so", 7) || !strncmp(b, "libc-", 5) ||
	       !strncmp(b, "libpthread", 10);
}

static int attach_module(struct hold_probes *hp, struct threadtrace_bpf *skel, pid_t pid,
			 const char *path, const char *shown, bool verbose)
{
	struct probe_site *sites;
	char why[256];
	struct stat st;
	int n = probesite_find(path, &sites, why, sizeof(why));

	if (n < 0) {
		fprintf(stderr, "threadtrace: --holds: %s\n", why);
		return n;
	}
	if (!stat(path, &st)) {
		hp->dev = st.st_dev;
		hp->ino = st.st_ino;
	}
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = probe_site_cookie(&sites[i]));
		struct bpf_link *l = bpf_program__attach_uprobe_opts(skel->progs.tt_lock_call, pid,
								     path, sites[i].site_off, &uo);

		if (!l) {
			int err = -errno;

			fprintf(stderr,
				"threadtrace: --holds: failed to attach a uprobe to %s in %s: "
				"%s\n",
				sites[i].func, shown, strerror(-err));
			free(sites);
			return err;
		}
		if (hp->n == hp->cap)
			grow((void **)&hp->links, &hp->cap, hp->n + 1, sizeof(*hp->links));
		hp->links[hp->n++] = l;
		if (sites[i].emulated)
			hp->emulated++;
		else
			hp->stepped++;
		if (verbose)
			fprintf(stderr, "threadtrace: --holds: %s+0x%llx (%s)%s\n", sites[i].func,
				(unsigned long long)(sites[i].site_off - sites[i].func_off),
				sites[i].insn, sites[i].emulated ? "" : ", single-stepped");
	}
	free(sites);
	snprintf(hp->modules + strlen(hp->modules), sizeof(hp->modules) - strlen(hp->modules),
		 "%s%s", hp->modules[0] ? ", " : "", shown);
	return 0;
}

/*
 * The mapping of the file a process's pthread lock functions live in: its libc (libpthread
 * for glibc before 2.34, whose libc forwards to it), or the program itself when it is static.
 * *open_path reaches the file through /proc/PID/map_files, in whatever root or mount namespace
 * the process runs (its maps name files relative to our root, not to its own). NULL: none.
 */
static const struct map_entry *lock_library(pid_t pid, const struct proc_maps *maps, bool program,
					    char *open_path, size_t len)
{
	bool pthread_lib = false;

	for (size_t i = 0; i < maps->n; i++)
		pthread_lib |= strstr(maps->v[i].path, "/libpthread") != NULL;
	for (size_t i = 0; i < maps->n; i++) {
		const struct map_entry *m = &maps->v[i];

		if (m->path[0] != '/')
			continue;
		/* the first mapping is the program itself (static?), then libc/libpthread */
		if (!is_libc_name(m->path) && (i != 0 || !program))
			continue;
		if (pthread_lib && is_libc_name(m->path) && !strstr(m->path, "/libpthread"))
			continue;
		snprintf(open_path, len, "/proc/%d/map_files/%llx-%llx", pid,
			 (unsigned long long)m->start, (unsigned long long)m->end);
		if (probesite_has_pthreads(open_path))
			return m;
	}
	return NULL;
}

/*
 * Probe the lock functions of the library the target calls them in. A COMMAND not started yet
 * gets ours (the uprobe is on the file, for this pid only): what it execs first loads the
 * libc the loader finds for us; an exec into another root moves them (check_libc).
 */
static int attach_holds(struct hold_probes *hp, struct threadtrace_bpf *skel, pid_t pid,
			const char *command_path, bool verbose)
{
	struct proc_maps maps = {0};
	const struct map_entry *m = NULL;
	char path[4200];
	int err = -ENOENT;

	if (command_path && probesite_has_pthreads(command_path))
		return attach_module(hp, skel, pid, command_path, command_path, verbose);
	if (procfs_read_maps(command_path ? getpid() : pid, &maps) == 0)
		m = lock_library(command_path ? getpid() : pid, &maps, !command_path, path,
				 sizeof(path));
	if (m)
		err = attach_module(hp, skel, pid, path, m->path, verbose);
	proc_maps_free(&maps);
	if (err == -ENOENT)
		fprintf(stderr,
			"threadtrace: --holds: found no pthread lock functions in %s (no "
			"libc mapped, and the program defines none)\n",
			command_path ? command_path : "the target");
	return err;
}

static void detach_holds(struct hold_probes *hp)
{
	for (size_t i = 0; i < hp->n; i++)
		bpf_link__destroy(hp->links[i]);
	free(hp->links);
	memset(hp, 0, sizeof(*hp));
}

/*
 * Which libc the target runs with now (at attach, at a COMMAND's entry, after an exec): a
 * TT_REC_LIBC record when it is another than before (the analysis takes glibc's object layouts
 * from its version), and with --holds the lock probes moved onto it when they sit on another
 * file (`chroot ROOT prog` starts with our libc and ends with ROOT's).
 */
static void check_libc(struct collect_ctx *c, struct threadtrace_bpf *skel, struct hold_probes *hp,
		       pid_t pid, bool at_entry, const struct collector_opts *o)
{
	struct proc_maps maps = {0};
	const struct map_entry *lib = NULL;
	struct tt_libc rec = {0};
	char path[128];
	struct stat st;

	if (procfs_read_maps(pid, &maps))
		return;
	for (size_t i = 0; i < maps.n && !lib; i++)
		if (maps.v[i].path[0] == '/' && is_libc_name(maps.v[i].path) &&
		    !strstr(maps.v[i].path, "/libpthread"))
			lib = &maps.v[i];
	if (!lib && maps.n && maps.v[0].path[0] == '/')
		lib = &maps.v[0]; /* a static program carries its libc */
	if (lib) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
			 (unsigned long long)lib->start, (unsigned long long)lib->end);
		if (stat(path, &st) || (st.st_dev == c->libc_dev && st.st_ino == c->libc_ino))
			lib = NULL;
	}
	if (lib) { /* read once per file, glibc or not */
		c->libc_dev = st.st_dev;
		c->libc_ino = st.st_ino;
	}
	if (lib && !libcver_read(path, &rec)) {
		rec.hdr.size = sizeof(rec);
		rec.hdr.kind = TT_REC_LIBC;
		rec.hdr.ts = now_ns();
		rec.hdr.pid = pid;
		rec.hdr.tid = pid;
		if (!is_libc_name(lib->path))
			rec.flags |= TT_LIBC_STATIC;
		snprintf(rec.path, sizeof(rec.path), "%s", lib->path);
		emit(c, &rec, sizeof(rec));
		if (o->verbose)
			fprintf(stderr, "threadtrace: pid %d runs with glibc %s (%s) from %s\n",
				pid, rec.version, rec.build[0] ? rec.build : "no banner",
				lib->path);
	}
	if (hp && o->holds) {
		char lpath[128];
		const struct map_entry *m = lock_library(pid, &maps, true, lpath, sizeof(lpath));

		if (m && !stat(lpath, &st) && (st.st_dev != hp->dev || st.st_ino != hp->ino)) {
			detach_holds(hp);
			if (!attach_module(hp, skel, pid, lpath, m->path, o->verbose) && !o->quiet)
				fprintf(stderr,
					"threadtrace: --holds: pid %d now runs %s: %zu uprobes "
					"moved to it\n",
					pid, m->path, hp->n);
		} else if (!m && hp->n && at_entry) {
			/* an exec into a program without glibc's pthreads (musl, Go): say so */
			fprintf(stderr,
				"threadtrace: --holds: pid %d no longer maps a glibc with "
				"pthread functions: no holds from here on\n",
				pid);
			detach_holds(hp);
		}
	}
	proc_maps_free(&maps);
}

/*
 * The command stopped at its entry: load the tables of what it maps (the unwinder's, and the
 * symbols and debug files of its image and libc), let it go on.
 */
static void resume_at_entry(struct collect_ctx *c, struct bpf_link **entry, pid_t child)
{
	RT_CALL(c, held_at_entry);
	symbolizer_preload(c->sym);
	if (c->ustack && !ustack_tables_sync(c->ustack))
		c->ustack_synced = now_ns();
	bpf_link__destroy(*entry);
	*entry = NULL;
	kill(child, SIGCONT);
}

/*
 * A thread already asleep in a futex wait at attach: seed the BPF waits map so its end and
 * its waker are traced, write the wait's begin as of now, and unwind its stack from the
 * registers and memory /proc shows. Returns false if it left the wait meanwhile.
 */
static bool adopt_blocked_wait(struct collect_ctx *c, struct threadtrace_bpf *skel, pid_t pid,
			       pid_t tid, __u64 ts)
{
	__u64 args[6], sp, pc, again[6], sp2, pc2;
	struct tt_futex_state st = {0};
	struct tt_wait_begin wb = {0};
	__u32 key = tid;
	int fd = bpf_map__fd(skel->maps.waits);

	if (procfs_syscall(pid, tid, args, &sp, &pc) != 202) /* futex */
		return false;
	st.uaddr = args[0];
	st.op = (__u32)args[1];
	if (bpf_map_update_elem(fd, &key, &st, BPF_NOEXIST))
		return false; /* BPF saw it enter a new wait already */
	if (procfs_syscall(pid, tid, again, &sp2, &pc2) != 202 || again[0] != args[0] ||
	    sp2 != sp) {
		bpf_map_delete_elem(fd, &key); /* it returned meanwhile */
		return false;
	}
	wb.hdr.size = sizeof(wb);
	wb.hdr.kind = TT_REC_WAIT_BEGIN;
	wb.hdr.ts = ts;
	wb.hdr.pid = pid;
	wb.hdr.tid = tid;
	wb.uaddr = args[0];
	wb.op = (__u32)args[1];
	wb.val = (__u32)args[2];
	wb.val3 = (__u32)args[5];
	wb.has_timeout = args[3] != 0;
	RT_CALL(c, adopted_wait, tid, wb.uaddr, ts); /* companions come first (same ts) */
	if (emit(c, &wb, sizeof(wb)))
		return false;
	deadlock_watch_record(c->deadlocks, &wb.hdr);
	symbolizer_note_lock(c->sym, c->sd, wb.uaddr);
	if (c->unwinder) {
		static __u8 buf[sizeof(struct tt_ustack_snapshot) + TT_MAX_SNAPSHOT];
		struct tt_ustack_snapshot *snap = (void *)buf;
		__u32 size = TT_MAX_SNAPSHOT / 2;

		memset(snap, 0, sizeof(*snap));
		snap->hdr = wb.hdr;
		snap->hdr.kind = TT_REC_USTACK_SNAPSHOT;
		snap->parent_kind = TT_REC_WAIT_BEGIN;
		snap->regs.ip = pc;
		snap->regs.sp = sp;
		snap->wanted = size;
		while (size >= 256 && procfs_read_mem(pid, sp, snap->data, size))
			size /= 2;
		snap->size = size >= 256 ? size : 0;
		unwind_snapshot(c, snap);
	}
	return true;
}

static void add_session_records(struct collect_ctx *c, struct threadtrace_bpf *skel, pid_t pid,
				pid_t tid, const char *command, int *nr_threads,
				const struct collector_opts *o)
{
	struct tt_session s = {0};
	pid_t *tids = NULL;
	int n;

	s.hdr.size = sizeof(s);
	s.hdr.kind = TT_REC_SESSION;
	s.hdr.ts = now_ns();
	c->host.last_ts = s.hdr.ts;
	c->session_ts = s.hdr.ts;
	s.hdr.pid = pid;
	s.target_pid = pid;
	s.target_tid = tid;
	s.abi_version = TT_ABI_VERSION;
	s.flags = c->holds ? TT_SESSION_HOLDS : 0;
	if (command) {
		/* Not exec'd yet: the kernel will name it after the file, as here. */
		const char *base = strrchr(command, '/');

		strncpy(s.comm, base ? base + 1 : command, TT_COMM_LEN - 1);
	} else {
		procfs_comm(pid, s.comm);
	}
	emit(c, &s, sizeof(s));
	if (!command) /* before any wait: its objects are laid out by this libc */
		check_libc(c, skel, NULL, pid, false, o);

	RT_CALL(c, start);
	n = procfs_threads(pid, &tids);
	*nr_threads = n > 0 ? n : 0;
	for (int i = 0; i < n; i++) {
		struct tt_thread_info ti = {0};

		if (tid && tids[i] != tid)
			continue;
		if (procfs_thread_info(pid, tids[i], &ti))
			continue;
		ti.hdr.size = sizeof(ti);
		ti.hdr.kind = TT_REC_THREAD_INFO;
		ti.hdr.ts = now_ns();
		ti.hdr.pid = pid;
		ti.hdr.tid = tids[i];
		emit(c, &ti, sizeof(ti));
		if (ti.in_futex_wait && !command)
			adopt_blocked_wait(c, skel, pid, tids[i], ti.hdr.ts);
	}
	free(tids);
}

static void add_session_end(struct collect_ctx *c, struct threadtrace_bpf *skel, pid_t pid,
			    bool exited)
{
	struct tt_session_end e = {0};
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = xcalloc(ncpu > 0 ? ncpu : 1, sizeof(__u64));

	e.hdr.size = sizeof(e);
	e.hdr.kind = TT_REC_SESSION_END;
	e.hdr.ts = now_ns();
	e.hdr.pid = pid;
	e.target_exited = exited;
	for (__u32 k = 0; k < TT_CNT_NR; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			e.counters[k] += vals[c];
	}
	free(vals);
	emit(c, &e, sizeof(e));
}

static int check_target(pid_t pid, pid_t tid)
{
	char path[64];

	if (procfs_alive(pid) != 1) {
		fprintf(stderr, "threadtrace: no process with pid %d\n", pid);
		return -ESRCH;
	}
	if (tid) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
		if (access(path, F_OK)) {
			fprintf(stderr, "threadtrace: process %d has no thread %d\n", pid, tid);
			return -ESRCH;
		}
	}
	return 0;
}

/*
 * The CFI tables BPF unwinds with: the modules a running target maps are read before load, so
 * that cfi_rows is sized for them with room for as many more (dlopen, a COMMAND's libraries).
 */
static int setup_ustack(struct collect_ctx *c, struct threadtrace_bpf *skel, pid_t pid,
			bool running, const struct collector_opts *o)
{
	size_t rows = 0, max_rows;

	if (o->stacks != STACKS_AUTO && o->stacks != STACKS_FP) {
		bpf_map__set_max_entries(skel->maps.cfi_rows, 1);
		return 0;
	}
	c->ustack = ustack_tables_new(pid);
	if (running && o->stacks == STACKS_AUTO) {
		if (!o->quiet && isatty(STDERR_FILENO))
			fprintf(stderr,
				"threadtrace: reading the unwind tables of pid %d's code...\r",
				pid);
		ustack_tables_prepare(c->ustack);
		rows = ustack_tables_rows(c->ustack);
	}
	if (o->stacks == STACKS_FP)
		max_rows = 1;
	else
		max_rows = rows * 2 > (1u << 20) ? rows * 2 : (1u << 20);
	return bpf_map__set_max_entries(skel->maps.cfi_rows, (__u32)max_rows);
}

/* Bring the tables up to the target's mappings when they moved, at most every 20 ms. */
static void sync_ustack(struct collect_ctx *c, unsigned generation)
{
	__u64 now;

	if (!c->ustack || (!c->ustack_stale && generation == c->ustack_generation))
		return;
	now = now_ns();
	if (now - c->ustack_synced < 20000000ULL)
		return;
	ustack_tables_sync(c->ustack);
	c->ustack_synced = now;
	c->ustack_stale = false;
	c->ustack_generation = generation;
}

/* What the BPF programs are told before they load: the target, stacks, buffers, which load. */
static void configure_skel(struct threadtrace_bpf *skel, const struct collector_opts *o, pid_t pid,
			   bool follow_exec)
{
	__u32 rb_bytes = 1;

	skel->rodata->target_tgid = pid;
	skel->rodata->target_tid = o->tid;
	skel->rodata->want_stacks = o->stacks != STACKS_NONE;
	skel->rodata->kernel_stacks = o->kernel_stacks;
	skel->rodata->user_unwind = o->stacks == STACKS_AUTO ? TT_UNWIND_CFI
				    : o->stacks == STACKS_FP ? TT_UNWIND_FP
							     : TT_UNWIND_NONE;
	skel->rodata->snapshot_bytes =
	    o->stacks == STACKS_AUTO || o->stacks == STACKS_DWARF ? o->stack_bytes : 0;
	skel->rodata->snapshot_rate = o->stack_rate;
	if (!skel->rodata->snapshot_bytes) /* no snapshots: no 16 KiB per-CPU buffers either */
		bpf_map__set_value_size(skel->maps.snapshots, 8);
	while (rb_bytes < (o->buffer_mb ? o->buffer_mb : 32) * 1024u * 1024u)
		rb_bytes <<= 1;
	bpf_map__set_max_entries(skel->maps.events, rb_bytes);
	if (!follow_exec)
		bpf_program__set_autoload(skel->progs.tt_exec_stop, false);
	/* futex2 and futex_waitv exist from 5.16 / 6.7 on. */
	if (!tracepoint_exists("sys_enter_futex_waitv")) {
		bpf_program__set_autoload(skel->progs.tt_enter_futex_waitv, false);
		bpf_program__set_autoload(skel->progs.tt_exit_futex_waitv, false);
	}
	if (!tracepoint_exists("sys_enter_futex_wait")) {
		bpf_program__set_autoload(skel->progs.tt_enter_futex_wait, false);
		bpf_program__set_autoload(skel->progs.tt_exit_futex_wait, false);
		bpf_program__set_autoload(skel->progs.tt_enter_futex_wake, false);
		bpf_program__set_autoload(skel->progs.tt_exit_futex_wake, false);
		bpf_program__set_autoload(skel->progs.tt_enter_futex_requeue, false);
		bpf_program__set_autoload(skel->progs.tt_exit_futex_requeue, false);
	}
}

/* The progress line of -p: what is traced, how to stop. */
static void say_tracing_pid(const struct collector_opts *o, pid_t pid, int nr_threads)
{
	char comm[TT_COMM_LEN] = "?", what[64] = "";

	procfs_comm(pid, comm);
	if (o->tid)
		snprintf(what, sizeof(what), ", thread %d only", o->tid);
	if (o->duration > 0)
		fprintf(stderr,
			"threadtrace: tracing pid %d (%s), %d threads%s, for "
			"%g s; Ctrl-C to stop early\n",
			pid, comm, nr_threads, what, o->duration);
	else
		fprintf(stderr,
			"threadtrace: tracing pid %d (%s), %d threads%s; "
			"Ctrl-C to stop\n",
			pid, comm, nr_threads, what);
}

/*
 * Once a second: the maps re-read (new mappings), and under --holds what the lock calls cost.
 * Every poll: new mappings' libc, deadlocks seen by now.
 */
static void periodic(struct collect_ctx *c, struct threadtrace_bpf *skel, struct hold_probes *hp,
		     pid_t pid, const struct collector_opts *o, __u64 now)
{
	if (now - c->last_maps > 1000000000ULL) {
		double rate = (c->lock_calls - c->calls_seen) * 1e9 / (now - c->last_maps);

		/* every lock call traps into the kernel under --holds: say what it costs */
		if (o->holds && rate > 20000 && !c->rate_warned && !o->quiet) {
			fprintf(stderr,
				"threadtrace: --holds: the target makes %.0f lock calls "
				"a second, each a uprobe hit (1-5 us here, ~16 us "
				"where single-stepped): it runs slower while traced\n",
				rate);
			c->rate_warned = true;
		}
		c->calls_seen = c->lock_calls;
		symbolizer_refresh_maps(c->sym);
		c->last_maps = now;
	}
	if (c->sym && symbolizer_generation(c->sym) != c->libc_generation) {
		/* new mappings: maybe an exec (-p), or a dlopen'ed libpthread */
		c->libc_generation = symbolizer_generation(c->sym);
		check_libc(c, skel, hp, pid, false, o);
	}
	{
		/* waits are stamped with the BPF clock, CLOCK_MONOTONIC like now_ns() */
		struct tt_deadlock dl;

		while (deadlock_watch_check(c->deadlocks, now, 300000000ULL, &dl)) {
			emit(c, &dl, sizeof(dl));
			report_deadlock_live(c, &dl);
		}
	}
	RT_CALL(c, check, now);
}

int collect(const struct collector_opts *o, record_sink_fn sink, void *sink_ctx, struct symdata *sd,
	    struct collector_result *res)
{
	struct threadtrace_bpf *skel = NULL;
	struct ring_buffer *ring = NULL;
	struct collect_ctx ctx = {.sink = sink, .sink_ctx = sink_ctx, .sd = sd, .holds = o->holds};
	struct hold_probes holds = {0};
	struct bpf_link *entry = NULL; /* COMMAND: stops it at its entry point */
	bool follow_exec;
	const volatile sig_atomic_t *stop;
	struct command cmd = {.go_fd = -1, .err_fd = -1};
	pid_t pid = o->pid;
	int err = 0, nr_threads = 0;
	__u64 start, deadline = 0;

	memset(res, 0, sizeof(*res));
	res->child_status = -1;
	verbose_log = o->verbose;
	libbpf_set_print(libbpf_print);
	stop = command_signals_init();

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "threadtrace: this kernel has no BTF (/sys/kernel/btf/vmlinux): "
				"threadtrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -ENOTSUP;
	}
	if (o->command) {
		err = command_find(&cmd, o->command);
		if (err)
			return err;
	} else {
		err = check_target(pid, o->tid);
		if (err)
			return err;
	}
	ctx.host = (struct rt_host){
	    .o = o,
	    .image = cmd.image[0] ? cmd.image : NULL,
	    .pid = pid,
	    .sd = sd,
	    .stop = stop,
	    .emit = emit_cb,
	    .drain = drain_ring,
	    .ctx = &ctx,
	};
	err = rt_set_open(&ctx.rt, rt_table, &ctx.host);
	if (err)
		goto cleanup;
	err = ensure_tracefs();
	if (err) {
		if (err == -EPERM || err == -EACCES)
			fprintf(stderr, "threadtrace: %s", NEED_PRIVILEGE);
		else
			fprintf(stderr,
				"threadtrace: failed to mount tracefs on /sys/kernel/tracing: "
				"%s\n",
				strerror(-err));
		goto cleanup;
	}

	skel = threadtrace_bpf__open();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "threadtrace: failed to open the BPF object: %s\n",
			strerror(errno));
		goto cleanup;
	}
	ctx.host.skel = skel;
	if (o->command) {
		err = command_spawn(&cmd, o->command);
		if (err)
			goto cleanup;
		pid = cmd.pid;
		ctx.host.pid = pid;
	}
	/* a COMMAND stops at each exec: the new image's libraries get their tables and probes */
	follow_exec = cmd.pid && (o->holds || o->stacks == STACKS_AUTO);
	configure_skel(skel, o, pid, follow_exec);
	err = setup_ustack(&ctx, skel, pid, !cmd.pid, o);
	if (err)
		goto cleanup;

	err = threadtrace_bpf__load(skel);
	if (err) {
		fprintf(stderr, "threadtrace: failed to load the BPF programs: %s\n%s",
			strerror(-err),
			err == -EPERM || err == -EACCES
			    ? NEED_PRIVILEGE
			    : "run with -v for the kernel verifier's log\n");
		goto cleanup;
	}
	if (ctx.ustack) {
		struct ustack_maps um = {
		    .rows_fd = bpf_map__fd(skel->maps.cfi_rows),
		    .max_rows = bpf_map__max_entries(skel->maps.cfi_rows),
		    .maps_fd = bpf_map__fd(skel->maps.unwind_maps),
		    .table = &skel->bss->unwind_table,
		    .nr_maps = skel->bss->unwind_nr_maps,
		};

		err = ustack_tables_bind(ctx.ustack, &um);
		if (err) {
			fprintf(stderr, "threadtrace: failed to map the unwind tables: %s\n",
				strerror(-err));
			goto cleanup;
		}
		if (!cmd.pid)
			ustack_tables_sync(ctx.ustack);
		ctx.ustack_synced = now_ns();
	}
	err = threadtrace_bpf__attach(skel);
	if (err) {
		fprintf(stderr,
			"threadtrace: failed to attach the tracepoints: %s (-v for detail)\n",
			strerror(-err));
		goto cleanup;
	}
	if (o->holds) {
		err = attach_holds(&holds, skel, pid, cmd.pid ? cmd.path : NULL, o->verbose);
		if (err)
			goto cleanup;
		if (!o->quiet)
			fprintf(stderr,
				"threadtrace: --holds: %zu uprobes on %s (%u on emulated "
				"instructions, %u single-stepped)\n",
				holds.n, holds.modules, holds.emulated, holds.stepped);
	}
	if (*stop) {
		fprintf(stderr, "threadtrace: interrupted during start-up; nothing traced\n");
		err = -EINTR;
		goto cleanup;
	}
	/* a held COMMAND still has our maps: its own come with its exec (perf mmap records) */
	ctx.sym = symbolizer_new(pid, !cmd.pid);
	ctx.deadlocks = deadlock_watch_new(pid);
	ctx.host.sym = ctx.sym;
	ctx.host.deadlocks = ctx.deadlocks;
	if (skel->rodata->snapshot_bytes)
		ctx.unwinder = unwinder_new(ctx.sym, pid);
	if (cmd.pid) {
		ctx.mmaps = mmap_watch_open(pid);
		if (!ctx.mmaps)
			fprintf(stderr,
				"threadtrace: cannot follow %s's mappings (%s): frames of a "
				"short-lived command may stay unresolved\n",
				o->command[0], strerror(errno));
		else
			symbolizer_set_refresh_hook(ctx.sym, drain_mmaps, &ctx);
	}
	ring = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, &ctx, NULL);
	ctx.ring = ring;
	if (!ring) {
		err = -errno;
		fprintf(stderr, "threadtrace: failed to open the ring buffer: %s\n",
			strerror(errno));
		goto cleanup;
	}

	/*
	 * Read the records at nice -10 (where allowed): a target of a thousand busy threads
	 * otherwise starves the one thread that must keep up with them (2000 threads, nice 0:
	 * a third of the events lost to a full buffer, DURATION 3 s traced for 7; at -15: none
	 * lost). Its CPU use is the same, it gets it sooner. This thread only: the COMMAND is
	 * forked already and keeps its own.
	 */
	if (getpriority(PRIO_PROCESS, 0) > -10)
		setpriority(PRIO_PROCESS, 0, -10);
	if (cmd.pid) {
		add_session_records(&ctx, skel, pid, o->tid, o->command[0], &nr_threads, o);
		RT_CALL(&ctx, started);
		if (ctx.ustack && o->stacks == STACKS_AUTO)
			entry = stop_at_entry(skel, pid, cmd.path);
		err = command_release(&cmd);
		if (err)
			goto cleanup;
		if (!o->quiet)
			fprintf(stderr,
				"threadtrace: tracing %s (pid %d) until it exits; Ctrl-C to "
				"stop\n",
				o->command[0], pid);
	} else {
		add_session_records(&ctx, skel, pid, o->tid, NULL, &nr_threads, o);
		RT_CALL(&ctx, started);
		if (!o->quiet)
			say_tracing_pid(o, pid, nr_threads);
	}

	/* DURATION counts from the session's start: the scan of the threads at attach (2000
	 * threads: 0.3-1.6 s) and a runtime's attach (decoding a stripped CPython: 0.5-2 s) are
	 * traced time too, not added to it */
	start = ctx.session_ts ? ctx.session_ts : now_ns();
	ctx.last_maps = start;
	if (o->duration > 0)
		deadline = start + (__u64)(o->duration * 1e9);
	ctx.host.start = start;
	ctx.host.deadline = deadline;
	RT_CALL(&ctx, attach);
	for (;;) {
		/*
		 * BPF wakes us only when the buffer fills: poll also drains on the timeout. Every
		 * 10 ms while a COMMAND is held at its entry or a runtime is busy (rt_ops.busy),
		 * 2 ms while a runtime has work due sooner (rt_ops.soon).
		 */
		int n = ring_buffer__poll(ring, RT_ANY(&ctx, soon, now_ns())  ? 2
						: entry || RT_ANY(&ctx, busy) ? 10
									      : 100);
		__u64 now;

		drain_mmaps(&ctx); /* mappings first: the records' addresses lie in them */
		sync_ustack(&ctx, ctx.sym ? symbolizer_generation(ctx.sym) : 0);
		RT_CALL(&ctx, poll, now_ns(), entry != NULL);
		if (n >= 0)
			n = ring_buffer__consume(ring);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "threadtrace: failed to read the ring buffer: %s\n",
				strerror(-n));
			err = n;
			break;
		}
		if (*stop) {
			res->interrupted = true;
			break;
		}
		now = now_ns();
		if (deadline && now >= deadline)
			break;
		if (cmd.pid) {
			int status;
			bool got = command_poll(
			    &cmd, entry || follow_exec || RT_ANY(&ctx, may_stop), &status);

			if (got && WIFSTOPPED(status) && follow_exec &&
			    skel->bss->exec_stops != ctx.exec_stops) {
				ctx.exec_stops = skel->bss->exec_stops;
				follow_image(&ctx, skel, &entry, cmd.pid);
			} else if (got && WIFSTOPPED(status) && entry) {
				drain_mmaps(&ctx);
				check_libc(&ctx, skel, &holds, cmd.pid, true, o);
				resume_at_entry(&ctx, &entry, cmd.pid);
			} else if (got && WIFSTOPPED(status) && RT_ANY(&ctx, stopped, cmd.pid)) {
				/* a runtime's stop (rt_ops.stopped): it let the command go on */
			} else if (got && WIFSTOPPED(status)) {
				/* stopped by someone else (a SIGSTOP, Ctrl-Z): theirs to resume */
			} else if (got) {
				res->child_status = status;
				res->target_exited = true;
				break;
			}
		} else if (procfs_alive(pid) == 0) {
			res->target_exited = true;
			break;
		}
		periodic(&ctx, skel, &holds, pid, o, now);
	}
	drain_mmaps(&ctx);
	ring_buffer__consume(ring);
	RT_CALL(&ctx, finish, res->target_exited);
	add_session_end(&ctx, skel, pid, res->target_exited);
	if (mmap_watch_lost(ctx.mmaps))
		fprintf(stderr,
			"threadtrace: %llu mapping records of %s were lost: some frames may be "
			"unresolved\n",
			(unsigned long long)mmap_watch_lost(ctx.mmaps),
			o->command ? o->command[0] : "the target");
	if (ctx.malformed)
		fprintf(stderr,
			"threadtrace: %llu malformed records from the kernel were dropped\n",
			(unsigned long long)ctx.malformed);
	if (err > 0)
		err = 0;

cleanup:
	/* the runtimes' probes first (they write to skel); never leave the command stopped */
	if (rt_set_close(&ctx.rt) || entry) {
		bpf_link__destroy(entry);
		if (cmd.pid)
			kill(cmd.pid, SIGCONT);
	}
	ring_buffer__free(ring);
	detach_holds(&holds);
	threadtrace_bpf__destroy(skel); /* detaches every program */
	unwinder_free(ctx.unwinder);
	ustack_tables_free(ctx.ustack);
	deadlock_watch_free(ctx.deadlocks);
	symbolizer_free(ctx.sym);
	mmap_watch_close(ctx.mmaps);
	command_end(&cmd, err);
	/* the report comes first; collector_wait_command reaps it after */
	res->command_pid = cmd.pid;
	return err;
}
