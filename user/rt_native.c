// SPDX-License-Identifier: GPL-2.0
/*
 * rt_native.c - the runtimes known from their ELF files behind the runtime seam (rtops.h):
 * musl, Go, a JVM, found by rtdetect and written as TT_REC_RUNTIME records. They need no
 * probes of their own: the analysis reads their waits in their terms (runtime.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include "collector.h"
#include "procfs.h"
#include "rtdetect.h"
#include "rtops.h"
#include "util.h"

/* how long a started target's mappings are watched for runtimes (a JVM maps libjvm.so late) */
#define RT_POLL_NS 3000000000ULL

struct rt_native {
	const struct rt_host *h;
	struct rt_found rt; /* runtimes found in the target */
	unsigned emitted;   /* ... of which written as TT_REC_RUNTIME records */
};

/*
 * What the target runs on, before anything is attached: a COMMAND's executable (musl is the
 * interpreter or linked in; Go's runtime is linked in), a running process's mappings.
 */
static void *nat_open(const struct rt_host *h)
{
	struct rt_native *n = xcalloc(1, sizeof(*n));

	n->h = h;
	if (h->o->command) {
		if (h->image)
			rtdetect_exe(h->image, h->image, &n->rt);
	} else {
		struct proc_maps maps = {0};

		if (procfs_read_maps(h->pid, &maps) == 0)
			rtdetect_maps(h->pid, &maps, &n->rt);
		proc_maps_free(&maps);
	}
	return n;
}

static int nat_admit(void *rt)
{
	struct rt_native *n = rt;
	const struct collector_opts *o = n->h->o;

	if (!o->holds || !rtdetect_has(&n->rt, TT_RT_MUSL))
		return 0;
	/* musl's words sit elsewhere in its objects and its lock functions call each other
	 * (lock = trylock + timedlock): the glibc model would record nonsense */
	fprintf(stderr,
		"threadtrace: --holds does not support musl libc, which %s uses: "
		"trace without --holds (waits, wakers and lock kinds are exact on "
		"musl), or build the program against glibc for hold times and lock "
		"order\n",
		o->command ? o->command[0] : "the target");
	return -ENOTSUP;
}

/* Write the runtimes found since the last call as TT_REC_RUNTIME records. */
static void nat_started(void *rt)
{
	struct rt_native *n = rt;

	for (; n->emitted < n->rt.n; n->emitted++) {
		struct tt_runtime *r = &n->rt.rec[n->emitted];

		r->hdr.ts = rt_now_ns();
		r->hdr.pid = r->hdr.tid = n->h->pid;
		n->h->emit(n->h->ctx, r, sizeof(*r));
	}
}

/* Look at the target's mappings for a runtime it loaded since: a JVM maps libjvm.so some
 * milliseconds after its exec. */
static void nat_poll(void *rt, __u64 now, bool held)
{
	struct rt_native *n = rt;
	struct proc_maps maps = {0};

	if (held || now - n->h->start >= RT_POLL_NS || rtdetect_has(&n->rt, TT_RT_JVM))
		return;
	if (procfs_read_maps(n->h->pid, &maps) == 0)
		rtdetect_maps(n->h->pid, &maps, &n->rt);
	proc_maps_free(&maps);
	nat_started(n);
}

static bool nat_close(void *rt)
{
	free(rt);
	return false;
}

const struct rt_ops rt_native = {
    .name = "native",
    .open = nat_open,
    .admit = nat_admit,
    .started = nat_started,
    .poll = nat_poll,
    .close = nat_close,
};
