// SPDX-License-Identifier: GPL-2.0
/*
 * test_cfitab.c - the CFI rows BPF unwinds with, checked on this test program itself: rows are
 * sorted, a function's entry says CFA = rsp + 8, and walking our own stack by the rows (as
 * bpf/unwind.bpf.h does) passes through the real callers up to main.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include "check.h"
#include "cfitab.h"
#include "procfs.h"
#include "test_cfitab.h"

struct self_code {
	struct cfi_table t;
	__u64 start, end, bias;
};

static int load_self(struct self_code *c)
{
	struct proc_maps maps = {0};
	int err = cfitab_build("/proc/self/exe", &c->t);

	if (err || procfs_read_maps(getpid(), &maps))
		return -1;
	err = -1;
	for (size_t i = 0; i < maps.n; i++) {
		const struct map_entry *e = &maps.v[i];

		if (e->perms[2] == 'x' && (__u64)(uintptr_t)load_self >= e->start &&
		    (__u64)(uintptr_t)load_self < e->end) {
			c->start = e->start;
			c->end = e->end;
			err = cfitab_bias(&c->t, e->start, e->pgoff, &c->bias);
		}
	}
	proc_maps_free(&maps);
	return err;
}

/* The walk of bpf/unwind.bpf.h over our own stack: the return addresses it finds. */
static __attribute__((noinline)) unsigned walk_self(const struct self_code *c, __u64 *ips,
						    unsigned max)
{
	__u64 ip, sp, bp, cfa;
	unsigned n = 0;

	__asm__ volatile("lea (%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	while (n < max && ip >= c->start && ip < c->end) {
		const struct tt_cfi_row *r = cfitab_find(&c->t, ip - c->bias - (n ? 1 : 0));

		ips[n++] = ip;
		if (!r || r->kind == TT_CFI_NONE || r->kind == TT_CFI_END)
			break;
		cfa = (r->kind == TT_CFI_RSP ? sp : bp) + (__s64)r->cfa_off;
		if (cfa <= sp)
			break;
		if (r->rbp == TT_CFI_RBP_SAVED)
			bp = *(const __u64 *)(uintptr_t)(cfa + (__s64)r->rbp_off);
		ip = *(const __u64 *)(uintptr_t)(cfa - 8);
		sp = cfa;
	}
	return n;
}

/* Two frames between the test and the walk, neither inlined nor a tail call. */
static __attribute__((noinline)) unsigned middle_frame(const struct self_code *c, __u64 *ips,
						       unsigned max)
{
	unsigned n = walk_self(c, ips, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

extern int main(int argc, char **argv);

void test_cfitab(void)
{
	struct self_code c = {0};
	__u64 ips[64], func;
	unsigned n;
	bool ordered = true, in_middle = false, in_main = false;
	const struct tt_cfi_row *r;
	struct cfi_table none;

	CHECK(cfitab_build("/nonexistent/threadtrace-test", &none) == -ENOENT);
	CHECK(cfitab_build("/proc/self/status", &none) == -ENOEXEC);
	if (load_self(&c)) {
		CHECK(!"this program's own CFI and mapping");
		return;
	}
	CHECK(c.t.n > 50);
	for (size_t i = 1; i < c.t.n; i++)
		ordered &= c.t.rows[i - 1].pc < c.t.rows[i].pc;
	CHECK(ordered);
	/* at a function's first instruction the return address was just pushed */
	func = (__u64)(uintptr_t)walk_self - c.bias;
	r = cfitab_find(&c.t, func);
	CHECK(r && r->kind == TT_CFI_RSP && r->cfa_off == 8 && r->rbp == TT_CFI_RBP_SAME);
	n = middle_frame(&c, ips, 64);
	for (unsigned i = 1; i < n; i++) {
		__u64 a = ips[i] - 1;

		in_middle |=
		    a >= (__u64)(uintptr_t)middle_frame && a < (__u64)(uintptr_t)middle_frame + 64;
		in_main |= a >= (__u64)(uintptr_t)main && a < (__u64)(uintptr_t)main + 4096;
	}
	CHECK(n >= 4);
	CHECK(in_middle);
	CHECK(in_main);
	cfitab_free(&c.t);
}
