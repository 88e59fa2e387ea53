// SPDX-License-Identifier: GPL-2.0
/*
 * unwind.c - see unwind.h. One Dwfl per target, its modules reported from the symbolizer's
 * mappings (rebuilt when they change); the thread callbacks serve the snapshot being unwound.
 */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include "unwind.h"

/* x86_64 DWARF register numbers */
enum { DW_RBX = 3, DW_RBP = 6, DW_RSP = 7, DW_R12 = 12 };

struct unwinder {
	struct symbolizer *sym;
	pid_t pid;
	Dwfl *dwfl;
	unsigned generation;
	bool attached;
	/* the snapshot being unwound */
	const struct tt_ustack_snapshot *snap;
	bool read_past_top;
	struct tt_stack *out;
};

static char *debuginfo_path;

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct unwinder *u = arg;

	if (*thread_argp)
		return 0;
	*thread_argp = u;
	return u->pid;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct unwinder *u = arg;
	const struct tt_ustack_snapshot *s = u->snap;
	__u64 sp = s->regs.sp;

	if (addr >= sp && addr + sizeof(*result) <= sp + s->size && addr + 8 > addr) {
		memcpy(result, s->data + (addr - sp), sizeof(*result));
		return true;
	}
	if (addr >= sp + s->size && addr < sp + (1 << 20))
		u->read_past_top = true;
	return false;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct unwinder *u = arg;
	const struct tt_regs *r = &u->snap->regs;
	Dwarf_Word bx = r->bx, bp_sp[2] = {r->bp, r->sp},
		   r12_15[4] = {r->r12, r->r13, r->r14, r->r15};

	if (!dwfl_thread_state_registers(thread, DW_RBX, 1, &bx) ||
	    !dwfl_thread_state_registers(thread, DW_RBP, 2, bp_sp) ||
	    !dwfl_thread_state_registers(thread, DW_R12, 4, r12_15))
		return false;
	dwfl_thread_state_register_pc(thread, r->ip);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static void report_module(void *ctx, const char *open_path, const char *path, __u64 bias)
{
	struct unwinder *u = ctx;
	const char *base = strrchr(path, '/');
	int fd = open(open_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* on success libdwfl owns fd */
	if (!dwfl_report_elf(u->dwfl, base ? base + 1 : path, path, fd, bias, false))
		close(fd);
}

static bool rebuild(struct unwinder *u)
{
	if (u->dwfl && u->generation == symbolizer_generation(u->sym))
		return u->attached;
	if (u->dwfl)
		dwfl_end(u->dwfl);
	u->generation = symbolizer_generation(u->sym);
	u->attached = false;
	u->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!u->dwfl)
		return false;
	dwfl_report_begin(u->dwfl);
	symbolizer_for_each_module(u->sym, report_module, u);
	dwfl_report_end(u->dwfl, NULL, NULL);
	u->attached = dwfl_attach_state(u->dwfl, NULL, u->pid, &thread_callbacks, u);
	return u->attached;
}

struct unwinder *unwinder_new(struct symbolizer *sym, pid_t pid)
{
	struct unwinder *u = xcalloc(1, sizeof(*u));

	/* no network look-ups of debug info from a tracer */
	unsetenv("DEBUGINFOD_URLS");
	u->sym = sym;
	u->pid = pid;
	return u;
}

void unwinder_free(struct unwinder *u)
{
	if (!u)
		return;
	if (u->dwfl)
		dwfl_end(u->dwfl);
	free(u);
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct unwinder *u = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation)) {
		/* no caller could be found: cut short (a zero pc below is the stack's end) */
		u->out->flags |= TT_STACK_USER_TRUNC;
		return DWARF_CB_ABORT;
	}
	if (!pc)
		return DWARF_CB_ABORT;
	if (u->out->nr_user >= TT_MAX_USTACK) {
		u->out->flags |= TT_STACK_USER_TRUNC;
		return DWARF_CB_ABORT;
	}
	u->out->ips[u->out->nr_user++] = pc;
	return DWARF_CB_OK;
}

unsigned unwinder_unwind(struct unwinder *u, const struct tt_ustack_snapshot *snap,
			 struct tt_stack *st)
{
	st->nr_user = 0;
	st->nr_kernel = 0;
	st->flags = 0;
	if (!snap->size) {
		st->flags |= TT_STACK_USER_FAIL;
		return 0;
	}
	if (!rebuild(u)) {
		/* no module known: the leaf alone */
		st->ips[st->nr_user++] = snap->regs.ip;
		return st->nr_user;
	}
	u->snap = snap;
	u->out = st;
	u->read_past_top = false;
	/* 0: the outermost frame was reached; -1: libdwfl could go no further */
	if (dwfl_getthread_frames(u->dwfl, u->pid, frame_cb, u) < 0)
		st->flags |= TT_STACK_USER_TRUNC;
	if (!st->nr_user)
		st->ips[st->nr_user++] = snap->regs.ip;
	if (u->read_past_top)
		st->flags |= TT_STACK_USER_TRUNC | TT_STACK_COPY_SHORT;
	u->snap = NULL;
	u->out = NULL;
	return st->nr_user;
}
