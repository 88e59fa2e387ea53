/* SPDX-License-Identifier: GPL-2.0 */
/*
 * collector.h - the live entrance: start or find the target, load and attach the BPF programs,
 * stream records to a sink with the symbol data they need, detach.
 */
#ifndef TT_COLLECTOR_H
#define TT_COLLECTOR_H

#include <sys/types.h>
#include "records.h"
#include "symdata.h"

enum stack_mode {
	STACKS_AUTO = 0, /* unwound in BPF with CFI tables; a copy for the collector where cut */
	STACKS_DWARF,	 /* a copy of every stack, unwound in the collector with libdw */
	STACKS_FP,	 /* frame pointers, checked to lead to code (code built with them) */
	STACKS_NONE,	 /* no stacks */
};

struct collector_opts {
	pid_t pid;	    /* -p: attach to this process */
	pid_t tid;	    /* -t: only this thread (0: all) */
	char **command;	    /* -- COMMAND ARGS: start it traced (NULL with -p) */
	double duration;    /* seconds; 0: until Ctrl-C or the target exits */
	unsigned buffer_mb; /* ring buffer size, MiB */
	enum stack_mode stacks;
	unsigned stack_bytes; /* user stack snapshot size for DWARF unwinding */
	unsigned stack_rate;  /* stack copies per second per CPU, 0: every one wanted */
	bool holds;	      /* --holds: uprobes on the lock functions (hold times, lock order) */
	bool gil;	      /* trace CPython's GIL when the target is CPython (--no-gil: off) */
	bool kernel_stacks;   /* --kernel-stacks: the waker's kernel stack too */
	bool verbose;	      /* libbpf debug log */
	bool quiet;	      /* no progress line */
};

struct collector_result {
	bool target_exited;
	bool interrupted;
	int child_status;  /* wait status of COMMAND, -1 when none was run */
	pid_t command_pid; /* COMMAND still running when tracing stopped: collector_wait_command */
};

/*
 * Trace as the options say, handing each record to sink as it comes (in arrival order) and
 * filling sd with what the records need. Returns 0, or a negative errno after printing one
 * clear message. Probes are detached on every path.
 */
int collect(const struct collector_opts *o, record_sink_fn sink, void *sink_ctx, struct symdata *sd,
	    struct collector_result *res);

/*
 * Wait for a COMMAND still running after collect() (res->command_pid), saying so when it does
 * not end at once; a second SIGINT/SIGTERM kills it. Sets res->child_status. Returns 0.
 */
int collector_wait_command(struct collector_result *res, bool quiet);

#endif
