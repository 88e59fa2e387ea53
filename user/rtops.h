/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rtops.h - the collector's one seam to a runtime in the target: discover it, attach its probes,
 * poll it, add its companion records, detach. rt_table lists the runtimes the collector runs.
 */
#ifndef TT_RTOPS_H
#define TT_RTOPS_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>
#include "threadtrace.h"

struct collector_opts;
struct threadtrace_bpf;
struct symbolizer;
struct symdata;
struct deadlock_watch;

/*
 * What the collector lends a runtime. Filled as tracing starts (see each field); a runtime
 * keeps the pointer and reads the fields when it needs them.
 */
struct rt_host {
	const struct collector_opts *o;
	const char *image; /* COMMAND: the file it execs (a script's interpreter); NULL with -p */
	pid_t pid;	   /* the target; a COMMAND's from rt_ops.start on */
	struct threadtrace_bpf *skel; /* loaded and attached, from rt_ops.start on */
	struct symbolizer *sym;	      /* from rt_ops.start on */
	struct symdata *sd;
	struct deadlock_watch *deadlocks;  /* from rt_ops.start on */
	__u64 start;			   /* when tracing started (ns, CLOCK_MONOTONIC) */
	__u64 deadline;			   /* DURATION's end (ns, 0: none), from rt_ops.attach on */
	__u64 last_ts;			   /* the latest record's time: ours are not later */
	const volatile sig_atomic_t *stop; /* set by a signal to stop tracing */
	/* pass a record on (checked, to the analysis and the record file) */
	int (*emit)(void *ctx, const void *rec, size_t size);
	/* hand every record waiting in the ring buffer to the collector now */
	void (*drain)(void *ctx);
	void *ctx;
};

/*
 * A runtime's operations, in the order the collector calls them. Any may be NULL; every one
 * but open gets what open returned. Records a runtime writes go through host->emit.
 */
struct rt_ops {
	const char *name;
	/* Before anything is loaded: look at host->image or host->pid. NULL: not there, or not
	 * wanted (an option turned it off); the collector calls nothing else of it. */
	void *(*open)(const struct rt_host *host);
	/* Can the target be traced as the options say? 0, or -errno after one message. */
	int (*admit)(void *rt);
	/* The session record is written, the target's threads are not read yet (-p: find what a
	 * wait in progress at attach needs). */
	void (*start)(void *rt);
	/* -p: a thread already waiting on uaddr at attach; its records come next, stamped ts. */
	void (*adopted_wait)(void *rt, pid_t tid, __u64 uaddr, __u64 ts);
	/* The session's records are written, the target not released yet. */
	void (*started)(void *rt);
	/* A COMMAND is held at its entry point: its libraries are mapped, nothing ran. */
	void (*held_at_entry)(void *rt);
	/* Tracing starts: find the runtime and attach its probes (retried by poll). */
	void (*attach)(void *rt);
	/* Does it want the ring buffer read every 10 ms (else 100 ms)? */
	bool (*busy)(void *rt);
	/* ... or every 2 ms (its poll has work due in a few ms)? */
	bool (*soon)(void *rt, __u64 now);
	/* Periodic work before the ring buffer is read; held: a COMMAND is held at its entry. */
	void (*poll)(void *rt, __u64 now, bool held);
	/* Each record before it is passed on (name what it refers to), and after. */
	void (*before_record)(void *rt, const struct tt_rec_hdr *h);
	void (*after_record)(void *rt, const struct tt_rec_hdr *h);
	/* Periodic checks after the records are read and native deadlocks checked. */
	void (*check)(void *rt, __u64 now);
	/* Can it have stopped the COMMAND (the collector then watches for stops)? */
	bool (*may_stop)(void *rt);
	/* The COMMAND stopped: true if this runtime stopped it (and has let it go on). */
	bool (*stopped)(void *rt, pid_t child);
	/* Tracing ended (exited: the target did); the last records before the session's end. */
	void (*finish)(void *rt, bool exited);
	/* Detach every probe and free it all, on every path. True: it may have left the COMMAND
	 * stopped (the collector resumes it). */
	bool (*close)(void *rt);
};

/* The runtimes the collector runs, in this order, NULL-terminated (at most RT_TABLE_MAX). */
#define RT_TABLE_MAX 8
extern const struct rt_ops *const rt_table[];

extern const struct rt_ops rt_cpython; /* rt_cpython.c: the GIL, frames, names, Python locks */
extern const struct rt_ops rt_native;  /* rt_native.c: musl, Go, a JVM (rtdetect.h) */

/* CLOCK_MONOTONIC in ns, the clock of the records. */
__u64 rt_now_ns(void);

#endif
