// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - the threadtrace command line: parse options, collect, analyse, report.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <unistd.h>
#include <sys/wait.h>
#include "collector.h"
#include "analysis.h"
#include "report.h"
#include "json.h"
#include "folded.h"
#include "svg.h"
#include "pprof.h"
#include "perfetto.h"
#include "recfile.h"
#include "outfile.h"

static const char usage_head[] =
    "Usage: threadtrace [OPTIONS] -p PID [DURATION]\n"
    "       threadtrace [OPTIONS] -- COMMAND [ARGS...]\n"
    "       threadtrace report [OUTPUT OPTIONS] FILE\n"
    "\n"
    "Trace a process's lock contention (futex waits, who waits where, who released them),\n"
    "and how each thread spends its time (on CPU, runnable, lock wait, waiting for work,\n"
    "other blocking), exactly, from kernel tracepoints. Needs root (or CAP_BPF, CAP_PERFMON,\n"
    "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) and a kernel with BTF.\n"
    "\n"
    "What to trace:\n"
    "  -p, --pid PID        attach to running process PID (all its threads, new ones too)\n"
    "  DURATION             with -p: stop after DURATION seconds (default: Ctrl-C or exit)\n"
    "  -- COMMAND [ARGS]    start COMMAND traced from its first instruction; stop when it\n"
    "                       exits and return its exit status\n"
    "  -t, --tid TID        trace only thread TID (its process is found from TID)\n"
    "\n"
    "How:\n"
    "  -o, --record FILE    also write a record file (mode 0600) for `threadtrace report`\n"
    "      --stacks MODE    auto (default): user stacks unwound in the kernel with each\n"
    "                       module's CFI (.eh_frame), loaded when tracing starts; where\n"
    "                       that stops short (code mapped later, CFI it cannot follow) a\n"
    "                       copy of the stack is unwound by threadtrace with libdw;\n"
    "                       dwarf: a copy of every stack unwound with libdw (slow, exact\n"
    "                       for any CFI); fp: frame pointers only, believed while they\n"
    "                       lead to code (for code built with them); none: no stacks.\n"
    "                       A stack that ends early is marked cut short, never guessed\n"
    "      --stack-bytes N  bytes of user stack per copy (512 to 16384, a power of 2;\n"
    "                       default 8192)\n"
    "      --stack-rate N   copies per second per CPU at most (default 250, with --stacks\n"
    "                       dwarf 0; 0: every one wanted)\n"
    "      --kernel-stacks  also the waker's kernel stack at each futex or exit wake-up\n"
    "                       (about 2 us of CPU each; the same few paths in the kernel)\n"
    "      --holds          also probe the target's pthread/semaphore calls (uprobes in its\n"
    "                       libc) for hold times, which holds made others wait, and\n"
    "                       lock-order (potential) deadlocks. Costs a uprobe hit per lock\n"
    "                       call: ~1-5 us here (a probe the kernel emulates; ~16 us for\n"
    "                       the few functions probed at a single-stepped entry); a target\n"
    "                       making 10^6 lock calls a second runs several times slower\n"
    "      --no-gil         do not trace CPython's GIL nor read Python frames (traced by\n"
    "                       default on CPython 3.8-3.15, a free-threaded build while its\n"
    "                       GIL is on: a uprobe on each store to the GIL's lock flag,\n"
    "                       ~10-25 us a take or drop)\n"
    "      --buffer-mb N    ring buffer size in MiB (default 32, rounded up to a power of 2)\n"
    "  -v, --verbose        print libbpf's debug log (verifier output on load failures)\n"
    "\n"
    "Outputs (live and with `report FILE`; byte-identical for the same session):\n"
    "  (text report)        on stdout unless -q or another output goes there ('-')\n"
    /* then a line per output_table row, then usage_tail */
    ;

static const char usage_tail[] =
    "      --folded-count   weigh folded stacks (and the SVGs) by contention counts instead\n"
    "  -q, --quiet          no text report and no progress line\n"
    "      --top N          locks shown per report section (default 10)\n"
    "      --top-stacks N   waiter/waker stacks shown per lock (default 3)\n"
    "      --frames N       addresses shown per stack (default 12, at most 48)\n"
    "      --native         Python stacks with every native frame (interpreter and eval\n"
    "                       loop included); by default a Python stack shows its Python\n"
    "                       frames and the native leaf frames below them (text, folded,\n"
    "                       SVG, pprof; JSON has both)\n"
    "\n"
    "  -h, --help           this help\n"
    "      --version        print the version\n"
    "\n"
    "Cost: tracepoints only (futex syscalls, sched_switch, sched_waking); no probe on any\n"
    "lock call unless --holds, so an uncontended lock costs nothing; a CPython target also\n"
    "gets a uprobe on each GIL take and drop (--no-gil: none). See README.md for the report\n"
    "and JSON.\n";

enum {
	OPT_TOP = 256,
	OPT_STACKS,
	OPT_FRAMES,
	OPT_BUFFER,
	OPT_VERSION,
	OPT_FOLDED_COUNT,
	OPT_STACKS_MODE,
	OPT_STACK_BYTES,
	OPT_STACK_RATE,
	OPT_HOLDS,
	OPT_NO_GIL,
	OPT_KERNEL_STACKS,
	OPT_NATIVE,
	OPT_OUTPUT, /* OPT_OUTPUT + i: --OPTION FILE of output_table[i] */
};

/* A year: longer traces are typos, and ns since boot must not overflow. */
#define MAX_DURATION_S (365 * 24 * 3600)

/* The files an analysis can be written to, each the option --NAME FILE (output_table). */
enum output_kind {
	OUT_JSON,
	OUT_FOLDED,
	OUT_SVG,
	OUT_SVG_WAKERS,
	OUT_PPROF,
	OUT_PERFETTO,
	OUT__NR,
};

/* What to produce from an analysis: the same for a live session and a replayed record. */
struct outputs {
	bool quiet;
	struct report_opts report;
	const char *path[OUT__NR]; /* the file of each output asked for, NULL: not asked */
	bool folded_count;
};

/* An output being written: its FILE and the file it will be renamed from (outfile.h). */
struct output {
	FILE *f;
	struct outfile file;
};

static FILE *open_output(struct output *out, const char *path)
{
	out->f = NULL;
	if (outfile_open(&out->file, path, 0644))
		return NULL;
	out->f = fdopen(out->file.fd, "w");
	if (!out->f) {
		fprintf(stderr, "threadtrace: cannot write %s: %s\n", path, strerror(errno));
		outfile_abort(&out->file);
	}
	return out->f;
}

/* Finish an output written with status err: in place when whole, else the old file stays. */
static int close_output(struct output *out, const char *path, int err)
{
	int e = fclose(out->f);

	out->file.fd = -1; /* fclose closed it */
	if (e && !err)
		err = -errno;
	if (err) {
		fprintf(stderr, "threadtrace: failed to write %s: %s\n", path, strerror(-err));
		outfile_abort(&out->file);
		return err;
	}
	return outfile_commit(&out->file);
}

static int write_json(FILE *f, const struct analysis *an, const struct outputs *o)
{
	return json_summary(f, an);
}

static int write_folded(FILE *f, const struct analysis *an, const struct outputs *o)
{
	struct folded fd;
	int err;

	folded_build(&fd, an, o->folded_count, true, o->report.native);
	err = folded_write(f, &fd);
	folded_free(&fd);
	return err;
}

static int write_svg(FILE *f, const struct analysis *an, const struct outputs *o, bool wakers)
{
	struct folded fd;
	char title[256], t[32];
	int err;

	folded_build(&fd, an, o->folded_count, wakers, o->report.native);
	if (o->folded_count)
		snprintf(title, sizeof(title), "threadtrace: %.16s (pid %u): %llu waits%s",
			 an->comm, an->pid, (unsigned long long)fd.total,
			 wakers ? ", with wakers" : "");
	else
		snprintf(title, sizeof(title), "threadtrace: %.16s (pid %u): %s waited%s", an->comm,
			 an->pid, fmt_ns(t, sizeof(t), fd.total * 1000),
			 wakers ? ", waiters -- wakers" : "");
	err = svg_write(f, &fd, title, o->folded_count ? "waits" : "us");
	folded_free(&fd);
	return err;
}

static int write_svg_waiters(FILE *f, const struct analysis *an, const struct outputs *o)
{
	return write_svg(f, an, o, false);
}

static int write_svg_wakers(FILE *f, const struct analysis *an, const struct outputs *o)
{
	return write_svg(f, an, o, true);
}

static int write_pprof(FILE *f, const struct analysis *an, const struct outputs *o)
{
	return pprof_write(f, an, o->report.native);
}

static int write_perfetto(FILE *f, const struct analysis *an, const struct outputs *o)
{
	return perfetto_write(f, an);
}

/* One row per output, written in this order; another output is another row (and --help). */
static const struct output_def {
	const char *option; /* --OPTION FILE */
	int (*write)(FILE *f, const struct analysis *an, const struct outputs *o); /* 0, -errno */
	unsigned analysis_flags; /* what the analysis must keep for it (analysis_stream_new) */
	bool counts;		 /* can be weighed by counts (--folded-count) */
	const char *help;	 /* --help's text: lines after the first indented to column 23 */
} output_table[OUT__NR] = {
    [OUT_JSON] = {"json", write_json, 0, false,
		  "the JSON summary (schema threadtrace/1); FILE '-': stdout"},
    [OUT_FOLDED] =
	{"folded", write_folded, 0, true,
	 "folded stacks: waiter stack, [lock], --, waker stack; weight =\n"
	 "                       wait in microseconds (flamegraph.pl, speedscope, inferno)"},
    [OUT_SVG] = {"svg", write_svg_waiters, 0, true,
		 "interactive flamegraph SVG of where threads wait, by wait time"},
    [OUT_SVG_WAKERS] = {"svg-wakers", write_svg_wakers, 0, true,
			"the same with each waiter's waker stack on top (after --)"},
    [OUT_PPROF] = {"pprof", write_pprof, 0, false,
		   "gzipped pprof profile: contentions/count, delay/nanoseconds"},
    [OUT_PERFETTO] = {"perfetto", write_perfetto, ANALYSIS_TIMELINE, false,
		      "Perfetto timeline: thread states, unlock->wake arrows, waiters"},
};

/* --help: its outputs' lines made from output_table, so that a new row is in it too. */
static void print_usage(FILE *f)
{
	fputs(usage_head, f);
	for (int i = 0; i < OUT__NR; i++) {
		int n = fprintf(f, "      --%s FILE", output_table[i].option);

		fprintf(f, "%*s%s\n", n < 21 ? 23 - n : 2, "", output_table[i].help);
	}
	fputs(usage_tail, f);
}

/* The analysis flags the outputs asked for need. */
static unsigned outputs_analysis_flags(const struct outputs *o)
{
	unsigned flags = 0;

	for (int i = 0; i < OUT__NR; i++)
		if (o->path[i])
			flags |= output_table[i].analysis_flags;
	return flags;
}

static int write_outputs(const struct analysis *an, const struct outputs *o)
{
	struct output out;
	int ret = 0;

	for (int i = 0; i < OUT__NR; i++) {
		const char *path = o->path[i];

		if (path)
			ret |= open_output(&out, path)
				   ? close_output(&out, path, output_table[i].write(out.f, an, o))
				   : -1;
	}
	/* the files first: a stdout reader that does not read yet must not hold them back; and
	 * flushed here, not at exit, so a second signal while the command is awaited loses none */
	if (!o->quiet) {
		report_text(stdout, an, &o->report);
		fflush(stdout);
	}
	return ret ? 1 : 0;
}

/* Every output path, checked before tracing: a bad one fails now, not after the trace. */
static int check_outputs(const struct outputs *o, const char *record_path)
{
	if (record_path && outfile_check(record_path))
		return -1;
	for (int i = 0; i < OUT__NR; i++)
		if (o->path[i] && outfile_check(o->path[i]))
			return -1;
	return 0;
}

/* Where records go: the record file (-w) as they come, and the analysis. */
struct sink {
	struct recfile_writer *file;
	struct analysis_stream *an;
};

static int sink_record(void *ctx, const struct tt_rec_hdr *h, size_t size)
{
	struct sink *k = ctx;

	/* a write error is said when the file is closed; the analysis goes on */
	if (k->file)
		recfile_writer_add(k->file, h, size);
	analysis_stream_feed(k->an, h, size);
	return 0;
}

/*
 * What a record file's records need but it does not name: a file cut short before the names
 * of its last records were written (or one from before names were written as they came).
 */
static void say_unnamed(const char *path, const struct analysis *a, const struct symdata *sd)
{
	size_t frames = 0, locks = 0;

	for (size_t i = 0; i < a->nr_stacks; i++)
		for (unsigned k = 0; k < a->stacks[i].nr_user + a->stacks[i].nr_kernel; k++)
			frames += !symdata_frame(sd, a->stacks[i].ips[k]);
	for (size_t i = 0; i < a->nr_locks; i++)
		locks += !a->locks[i].name[0] && !strcmp(a->locks[i].location, "[unknown]") &&
			 !symdata_lock(sd, a->locks[i].addr);
	if (frames || locks)
		fprintf(stderr,
			"threadtrace: %s does not name %zu stack frames and %zu locks its "
			"records need (shown as addresses)\n",
			path, frames, locks);
}

/*
 * threadtrace report FILE: every output from a record file, on any machine. The records are
 * streamed through the analysis, never all in memory (the Perfetto timeline aside).
 */
static int replay(const char *path, const struct outputs *o)
{
	struct symdata sd = {0};
	struct rec_info info;
	struct analysis an;
	struct sink k = {0};
	int ret = 1;

	if (check_outputs(o, NULL))
		return 1;
	k.an = analysis_stream_new(&sd, outputs_analysis_flags(o), &an);
	if (recfile_stream(path, &info, &sd, sink_record, &k)) {
		if (!analysis_stream_finish(k.an))
			analysis_free(&an);
		return 1;
	}
	if (analysis_stream_finish(k.an)) {
		fprintf(stderr, "threadtrace: cannot read record file %s: no session in it\n",
			path);
		goto out;
	}
	say_unnamed(path, &an, &sd);
	ret = write_outputs(&an, o);
	analysis_free(&an);
out:
	symdata_free(&sd);
	return ret;
}

static int parse_uint(const char *s, const char *what, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || v > max) {
		fprintf(stderr, "threadtrace: invalid %s '%s'\n", what, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* The thread group of a thread, from /proc/TID/status. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[256];
	pid_t tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

int main(int argc, char **argv)
{
	static const struct option tracing_opts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"tid", required_argument, NULL, 't'},
	    {"record", required_argument, NULL, 'o'},
	    {"folded-count", no_argument, NULL, OPT_FOLDED_COUNT},
	    {"stacks", required_argument, NULL, OPT_STACKS_MODE},
	    {"stack-bytes", required_argument, NULL, OPT_STACK_BYTES},
	    {"stack-rate", required_argument, NULL, OPT_STACK_RATE},
	    {"holds", no_argument, NULL, OPT_HOLDS},
	    {"no-gil", no_argument, NULL, OPT_NO_GIL},
	    {"kernel-stacks", no_argument, NULL, OPT_KERNEL_STACKS},
	    {"quiet", no_argument, NULL, 'q'},
	    {"top", required_argument, NULL, OPT_TOP},
	    {"top-stacks", required_argument, NULL, OPT_STACKS},
	    {"frames", required_argument, NULL, OPT_FRAMES},
	    {"native", no_argument, NULL, OPT_NATIVE},
	    {"buffer-mb", required_argument, NULL, OPT_BUFFER},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	struct option longopts[OUT__NR + sizeof(tracing_opts) / sizeof(tracing_opts[0])];
	struct collector_opts co = {.buffer_mb = 32,
				    .stacks = STACKS_AUTO,
				    .stack_bytes = 8192,
				    .stack_rate = 250,
				    .gil = true};
	struct outputs out = {.report = {.top_locks = 10, .top_stacks = 3, .max_frames = 12}};
	struct report_opts *ro = &out.report;
	struct collector_result res = {.child_status = -1};
	bool rec_failed = false;
	struct sink k = {0};
	struct symdata sd = {0};
	struct rec_info info;
	struct analysis an;
	const char *record_path = NULL;
	bool report_mode = argc > 1 && !strcmp(argv[1], "report");
	bool stack_rate_set = false, counted = false;
	unsigned long v;
	int c, err, ret = 1;

	if (report_mode) {
		argv++;
		argc--;
	}
	for (int i = 0; i < OUT__NR; i++)
		longopts[i] = (struct option){output_table[i].option, required_argument, NULL,
					      OPT_OUTPUT + i};
	memcpy(longopts + OUT__NR, tracing_opts, sizeof(tracing_opts));
	while ((c = getopt_long(argc, argv, "+p:t:o:qvh", longopts, NULL)) != -1) {
		if (report_mode &&
		    (c == 'p' || c == 't' || c == 'o' || c == OPT_BUFFER || c == OPT_STACKS_MODE ||
		     c == OPT_STACK_BYTES || c == OPT_STACK_RATE || c == OPT_HOLDS ||
		     c == OPT_NO_GIL || c == OPT_KERNEL_STACKS)) {
			fprintf(stderr, "threadtrace: report reads a record file: tracing options "
					"do not apply\n");
			return 2;
		}
		switch (c) {
		case 'p':
			if (parse_uint(optarg, "pid", 1u << 30, &v))
				return 2;
			if (!v) {
				fprintf(stderr, "threadtrace: invalid pid '0'\n");
				return 2;
			}
			co.pid = (pid_t)v;
			break;
		case 't':
			if (parse_uint(optarg, "tid", 1u << 30, &v))
				return 2;
			if (!v) {
				fprintf(stderr, "threadtrace: invalid tid '0'\n");
				return 2;
			}
			co.tid = (pid_t)v;
			break;
		case OPT_FOLDED_COUNT:
			out.folded_count = true;
			break;
		case OPT_NATIVE:
			ro->native = true;
			break;
		case OPT_STACKS_MODE: {
			static const char *const modes[] = {"auto", "dwarf", "fp", "none"};
			unsigned m;

			for (m = 0; m < 4 && strcmp(optarg, modes[m]); m++)
				;
			if (m == 4) {
				fprintf(stderr,
					"threadtrace: --stacks takes auto, dwarf, fp or none\n");
				return 2;
			}
			co.stacks = (enum stack_mode)m;
			break;
		}
		case OPT_STACK_BYTES:
			if (parse_uint(optarg, "--stack-bytes", TT_MAX_SNAPSHOT, &v) || v < 512 ||
			    (v & (v - 1))) {
				fprintf(stderr,
					"threadtrace: --stack-bytes takes a power of 2 from 512 "
					"to %d\n",
					TT_MAX_SNAPSHOT);
				return 2;
			}
			co.stack_bytes = v;
			break;
		case OPT_STACK_RATE:
			if (parse_uint(optarg, "--stack-rate", 1000000, &v))
				return 2;
			co.stack_rate = v;
			stack_rate_set = true;
			break;
		case OPT_HOLDS:
			co.holds = true;
			break;
		case OPT_NO_GIL:
			co.gil = false;
			break;
		case OPT_KERNEL_STACKS:
			co.kernel_stacks = true;
			break;
		case 'o':
			record_path = optarg;
			break;
		case 'q':
			co.quiet = true;
			out.quiet = true;
			break;
		case OPT_TOP:
			if (parse_uint(optarg, "--top", 100000, &v))
				return 2;
			ro->top_locks = v;
			break;
		case OPT_STACKS:
			if (parse_uint(optarg, "--top-stacks", 100000, &v))
				return 2;
			ro->top_stacks = v;
			break;
		case OPT_FRAMES:
			if (parse_uint(optarg, "--frames", TT_MAX_USTACK, &v))
				return 2;
			ro->max_frames = v;
			break;
		case OPT_BUFFER:
			if (parse_uint(optarg, "--buffer-mb", 1024, &v) || !v) {
				fprintf(stderr, "threadtrace: --buffer-mb takes 1 to 1024\n");
				return 2;
			}
			co.buffer_mb = v;
			break;
		case 'v':
			co.verbose = true;
			break;
		case 'h':
			print_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("threadtrace %s (record ABI %d)\n", TT_VERSION, TT_ABI_VERSION);
			return 0;
		default:
			if (c >= OPT_OUTPUT && c < OPT_OUTPUT + OUT__NR) {
				out.path[c - OPT_OUTPUT] = optarg;
				break;
			}
			fprintf(stderr, "Try 'threadtrace --help'.\n");
			return 2;
		}
	}
	/* an output on stdout replaces the text report there */
	{
		int on_stdout = 0;

		for (int i = 0; i < OUT__NR; i++) {
			on_stdout += out.path[i] && !strcmp(out.path[i], "-");
			counted |= out.path[i] && output_table[i].counts;
		}
		if (on_stdout > 1) {
			fprintf(stderr, "threadtrace: only one output can go to stdout ('-')\n");
			return 2;
		}
		if (on_stdout)
			out.quiet = true;
	}
	if (out.folded_count && !counted) {
		fprintf(stderr, "threadtrace: --folded-count goes with --folded, --svg or "
				"--svg-wakers\n");
		return 2;
	}
	if (report_mode) {
		if (optind != argc - 1) {
			fprintf(stderr,
				"threadtrace: usage: threadtrace report [OUTPUT OPTIONS] FILE\n");
			return 2;
		}
		return replay(argv[optind], &out);
	}
	/* dwarf mode has no frame-pointer stack to fall back on: copy every stack */
	if (co.stacks == STACKS_DWARF && !stack_rate_set)
		co.stack_rate = 0;
	if (co.tid && !co.pid) {
		co.pid = tgid_of(co.tid);
		if (!co.pid) {
			fprintf(stderr, "threadtrace: no thread with tid %d\n", co.tid);
			return 1;
		}
	}
	if (co.pid) {
		if (optind < argc && !strcmp(argv[optind - 1], "--")) {
			fprintf(stderr, "threadtrace: give -p PID or -- COMMAND, not both\n");
			return 2;
		}
		if (optind < argc) {
			char *end;

			co.duration = strtod(argv[optind], &end);
			/* nan, inf and what overflows the clock are no durations */
			if (*end || end == argv[optind] || !isfinite(co.duration) ||
			    co.duration < 0.001 || co.duration > MAX_DURATION_S) {
				fprintf(stderr,
					"threadtrace: invalid duration '%s': seconds, from 0.001 "
					"to %d\n",
					argv[optind], MAX_DURATION_S);
				return 2;
			}
			optind++;
		}
		if (optind < argc) {
			fprintf(stderr, "threadtrace: unexpected argument '%s'%s\n", argv[optind],
				argv[optind][0] == '-'
				    ? ": options go before the pid's DURATION (threadtrace "
				      "[OPTIONS] -p PID [DURATION])"
				    : "");
			return 2;
		}
	} else if (optind < argc) {
		co.command = &argv[optind];
		if (co.tid) {
			fprintf(stderr, "threadtrace: -t goes with -p, not with a COMMAND\n");
			return 2;
		}
	} else {
		fprintf(stderr,
			"threadtrace: give -p PID or -- COMMAND\nTry 'threadtrace --help'.\n");
		return 2;
	}

	if (check_outputs(&out, record_path))
		return 1;
	recfile_info_now(&info, co.pid, co.command);
	if (record_path && !(k.file = recfile_writer_open(record_path, &info, &sd)))
		return 1;
	k.an = analysis_stream_new(&sd, outputs_analysis_flags(&out), &an);
	err = collect(&co, sink_record, &k, &sd, &res);
	ret = 0;
	if (k.file && err)
		recfile_writer_discard(k.file); /* nothing was traced */
	else if (k.file && recfile_writer_close(k.file))
		rec_failed = true; /* said: the other outputs still come */
	if (analysis_stream_finish(k.an)) {
		if (!err)
			fprintf(stderr, "threadtrace: no session in the record stream\n");
		ret = 1;
		goto cleanup;
	}
	if (err) {
		analysis_free(&an);
		ret = 1;
		goto cleanup;
	}
	ret = write_outputs(&an, &out) || rec_failed;
	analysis_free(&an);
	collector_wait_command(&res, out.quiet);
	if (co.command && res.child_status >= 0 && !ret) {
		if (WIFEXITED(res.child_status))
			ret = WEXITSTATUS(res.child_status);
		else if (WIFSIGNALED(res.child_status))
			ret = 128 + WTERMSIG(res.child_status);
	}
cleanup:
	collector_wait_command(&res, out.quiet); /* nothing is left running */
	symdata_free(&sd);
	return ret;
}
