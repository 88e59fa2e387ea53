// SPDX-License-Identifier: GPL-2.0
/*
 * pygil.c - see pygil.h.
 *
 * Why stores to `locked`: they are the GIL's take and drop themselves, in every build. Symbol
 * builds have take_gil/drop_gil, but Debian's LTO-built python3.11 inlines them (one take, five
 * drops there) and its exported PyEval_SaveThread/RestoreThread miss every forced switch. The
 * stores are found by decoding: rip-relative ones name the GIL's address outright (3.8-3.11,
 * where the GIL sits inside _PyRuntime); a store through a register is kept inside take_gil/
 * drop_gil, or, in a stripped build, when an access to last_holder (-8) or switch_number (+8)
 * through the same register follows or precedes it. BPF checks the effective address of
 * register stores on every hit, so a wrong candidate costs time, never a wrong event.
 * Hardware watchpoints would need no decoding, but they do not fire on this VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <capstone/capstone.h>
#include "pygil.h"
#include "pidns.h"
#include "probesite.h"
#include "procfs.h"
#include "util.h"

/* Per version (3.minor), from doc/cpython-layouts.md; -1: not in this version. 3.13 and
 * later: from the interpreter's _Py_DebugOffsets (pydebug.c). */
static const struct py_layout layouts[] = {
    {8, 1152, -1, 32, 8, -1, 176, 8, 596, -1, -1, {16, 1168, 584}, 56},
    {9, 352, -1, 32, 8, -1, 176, 8, -1, 76, -1, {16, 368, 24}, 856},
    {10, 352, -1, 32, 8, -1, 176, 8, -1, 72, -1, {16, 368, 24}, 856},
    {11, 360, -1, 40, 16, 160, 152, 8, -1, 104, -1, {16, 376, 24}, 888},
    {12, -1, 384, 40, 72, 144, 136, 8, -1, 372, -1, {16, 16, 16}, 944},
};

/* 3.13+: the same from the debug offsets; `locked` is 16 bytes into the GIL, 24 in a
 * free-threaded build (after `enabled`), which take/drop_gil address from its start. */
static void layout_from_debug(const struct py_debug_offsets *o, struct py_layout *l)
{
	int locked = (int)(o->gil_locked - o->gil_state);

	l->minor = (o->hexversion >> 16) & 0xff;
	l->gil_in_rt = -1;
	l->gil_ptr_in_interp = (int)o->ceval_gil;
	l->interp_head = o->interpreters_head;
	l->tstate_head = o->threads_head;
	l->native_tid = (int)o->ts_native_thread_id;
	l->thread_id = o->ts_thread_id;
	l->tstate_next = o->ts_next;
	l->drop_rt = l->drop_interp = -1;
	l->drop_tstate = (int)o->ts_eval_breaker;
	l->disps[0] = l->disps[1] = l->disps[2] = locked;
	l->modules = o->interp_modules == PYDEBUG_NONE ? 0 : o->interp_modules;
}

#define GLIBC_PTHREAD_TID 0x2d0 /* struct pthread.tid, glibc 2.34-2.36 x86_64 */
#define MAX_TSTATES	  4096

static const struct py_layout *table_layout(unsigned minor)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}

static const struct py_layout *layout_of(const struct py_target *py)
{
	return py->l.minor ? &py->l : NULL;
}

void pygil_free(struct py_target *py)
{
	free(py->sites);
	py->sites = NULL;
	py->nr_sites = 0;
}

/* The ELF address of file offset 0's page (the first PT_LOAD), for the load bias. */
static __u64 first_load_vaddr(Elf *e)
{
	size_t nph;

	if (elf_getphdrnum(e, &nph))
		return 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
			return ph.p_vaddr & ~0xfffULL;
	}
	return 0;
}

static int rd(const struct py_target *py, __u64 addr, void *buf, size_t len)
{
	return procfs_read_mem(py->pid, addr, buf, len);
}

static int rd64(const struct py_target *py, __u64 addr, __u64 *v)
{
	return rd(py, addr, v, 8);
}

/* The version from the file name (libpython3.9.so, python3.9), for builds before Py_Version. */
static unsigned minor_from_name(const char *path)
{
	const char *b = strrchr(path, '/'), *p;

	b = b ? b + 1 : path;
	p = strstr(b, "python3.");
	if (!p)
		return 0;
	return (unsigned)strtoul(p + 8, NULL, 10);
}

struct pidns *pygil_ns_round(const struct py_target *py)
{
	return py->ns_nested ? pidns_open(py->pid) : NULL;
}

__u32 pygil_host_tid(struct pidns *round, __u32 ns_tid)
{
	pid_t tid, tgid;

	if (!round || !ns_tid)
		return ns_tid;
	return pidns_lookup(round, ns_tid, false, &tid, &tgid) ? 0 : (__u32)tid;
}

/*
 * The thread whose tstate is ts as the host numbers it, 0 if unknown: native_thread_id and
 * glibc's tid are gettid() in the thread, its PID namespace's number.
 */
static __u32 tstate_tid(const struct py_target *py, const struct py_layout *l, struct pidns *round,
			__u64 ts)
{
	__u64 v = 0, t = 0;

	if (!ts)
		return 0;
	if (l->native_tid >= 0) {
		if (rd64(py, ts + (unsigned)l->native_tid, &v))
			return 0;
	} else if (rd64(py, ts + l->thread_id, &t) || !t || rd(py, t + GLIBC_PTHREAD_TID, &v, 4)) {
		return 0;
	}
	return pygil_host_tid(round, (__u32)v);
}

bool pygil_enabled(const struct py_target *py)
{
	__s32 enabled = 0;

	if (!(py->flags & TT_PY_FREE_THREADED))
		return true;
	return !rd(py, py->gil_enabled, &enabled, 4) && enabled == TT_GIL_ENABLED_FOR_GOOD;
}

int pygil_read_state(struct py_target *py)
{
	const struct py_layout *l = layout_of(py);
	struct pidns *round;
	__s32 locked;
	__u64 holder;
	int err;

	if (!l)
		return -EINVAL;
	if ((err = rd(py, py->gil + TT_GIL_LOCKED_OFF, &locked, 4)) ||
	    (err = rd64(py, py->gil + TT_GIL_LAST_HOLDER_OFF, &holder)) ||
	    (err = rd64(py, py->gil + TT_GIL_SWITCH_NUMBER_OFF, &py->switch_number)))
		return err;
	py->flags &= ~TT_PY_HELD;
	if (locked == 1)
		py->flags |= TT_PY_HELD;
	round = pygil_ns_round(py);
	py->holder_tid = tstate_tid(py, l, round, holder); /* the last taker, holding or not */
	pidns_close(round);
	return 0;
}

__u64 pygil_tstate_ident(const struct py_target *py, __u64 tstate)
{
	const struct py_layout *l = layout_of(py);
	__u64 t = 0;

	if (!l || !tstate || rd64(py, tstate + l->thread_id, &t))
		return 0;
	return t;
}

int pygil_threads(const struct py_target *py, void (*cb)(void *ctx, __u32 tid, __u64 tstate),
		  void *ctx)
{
	const struct py_layout *l = layout_of(py);
	struct pidns *round;
	__u64 ts = 0;
	int err = 0;

	if (!l || !py->interp || rd64(py, py->interp + l->tstate_head, &ts))
		return -EINVAL;
	round = pygil_ns_round(py);
	for (unsigned i = 0; ts && i < MAX_TSTATES; i++) {
		__u32 tid = tstate_tid(py, l, round, ts);

		if (tid)
			cb(ctx, tid, ts);
		if (rd64(py, ts + l->tstate_next, &ts)) {
			err = -EFAULT;
			break;
		}
	}
	pidns_close(round);
	return err;
}

/* Find the module that defines _PyRuntime among the target's mappings. */
static int find_module(struct py_target *py, Elf **e, int *fd, __u64 *rt_vaddr)
{
	struct proc_maps maps = {0};
	int err = -ENOENT;

	if ((err = procfs_read_maps(py->pid, &maps)))
		return err;
	err = -ENOENT;
	for (size_t i = 0; i < maps.n && err == -ENOENT; i++) {
		const struct map_entry *m = &maps.v[i];
		__u64 size;

		const char *base = strrchr(m->path, '/');

		if (m->path[0] != '/' || m->pgoff || strstr(m->path, " (deleted)"))
			continue;
		/* the program itself (a static embedder), or a python/libpython */
		if (i && !strstr(base, "python"))
			continue;
		snprintf(py->open_path, sizeof(py->open_path), "/proc/%d/map_files/%llx-%llx",
			 py->pid, (unsigned long long)m->start, (unsigned long long)m->end);
		if (access(py->open_path, R_OK)) {
			char dir[96];

			snprintf(py->open_path, sizeof(py->open_path), "%s/root%s",
				 procfs_dir(py->pid, dir, sizeof(dir)), m->path);
		}
		*e = probesite_open_elf(py->open_path, fd);
		if (!*e)
			continue;
		if (probesite_elf_symbol(*e, "_PyRuntime", false, rt_vaddr, &size)) {
			snprintf(py->path, sizeof(py->path), "%s", m->path);
			py->bias = m->start - first_load_vaddr(*e);
			err = 0;
			break;
		}
		elf_end(*e);
		close(*fd);
	}
	proc_maps_free(&maps);
	return err;
}

size_t pygil_symbol_addrs(const struct py_target *py, const char *const *names, size_t n,
			  __u64 *addrs)
{
	size_t found = 0;
	int fd;
	Elf *e = probesite_open_elf(py->open_path, &fd);

	if (!e)
		return 0;
	for (size_t i = 0; i < n; i++) {
		__u64 vaddr;

		if (probesite_elf_symbol(e, names[i], false, &vaddr, NULL) && vaddr)
			addrs[found++] = vaddr + py->bias;
	}
	elf_end(e);
	close(fd);
	return found;
}

long long pygil_finalize_offset(const struct py_target *py)
{
	__u64 vaddr;
	long long off = -1;
	int fd;
	Elf *e = probesite_open_elf(py->open_path, &fd);

	if (!e)
		return -1;
	/* exported by every build, stripped ones too (the embedding API) */
	if (probesite_elf_symbol(e, "Py_FinalizeEx", false, &vaddr, NULL))
		off = probesite_vaddr_to_off(e, vaddr, true);
	elf_end(e);
	close(fd);
	return off;
}

int pygil_discover(pid_t pid, struct py_target *py, char *err, size_t errlen)
{
	const struct py_layout *l;
	struct pidns *ns;
	__u64 rt_vaddr, pv = 0, interval = 0;
	char cookie[8], ver[16];
	__s32 locked;
	Elf *e;
	int fd, rc;

	memset(py, 0, sizeof(*py));
	py->pid = pid;
	ns = pidns_open(pid);
	py->ns_nested = pidns_nested(ns);
	pidns_close(ns);
	if ((rc = find_module(py, &e, &fd, &rt_vaddr))) {
		if (rc != -ENOENT)
			snprintf(err, errlen, "cannot read the memory maps of pid %d: %s", pid,
				 strerror(-rc));
		return rc;
	}
	py->runtime = rt_vaddr + py->bias;
	/* the version: 3.13+'s debug offsets, Py_Version (3.11+), else the file name */
	if (!rd(py, py->runtime, cookie, 8) && !memcmp(cookie, "xdebugpy", 8)) {
		__u64 v = 0;

		rd64(py, py->runtime + 8, &v);
		py->hexversion = (__u32)v;
		rc = pydebug_read(pid, py->runtime, &py->dbg, err, errlen);
		if (rc) {
			elf_end(e);
			close(fd);
			return rc == -EPROTONOSUPPORT ? rc : -EAGAIN;
		}
		py->has_debug = true;
		if (py->dbg.free_threaded)
			py->flags |= TT_PY_FREE_THREADED;
	} else if (probesite_elf_symbol(e, "Py_Version", false, &pv, NULL)) {
		long long off = probesite_vaddr_to_off(e, pv, false);
		__u32 v = 0;

		if (off >= 0 && pread(fd, &v, 4, off) == 4)
			py->hexversion = v;
	}
	if (!py->hexversion) {
		unsigned m = minor_from_name(py->path);

		if (m)
			py->hexversion = 3u << 24 | m << 16;
	}
	py->minor = (py->hexversion >> 16) & 0xff;
	if (probesite_elf_symbol(e, "PyCode_Type", false, &pv, NULL))
		py->code_type = pv + py->bias;
	elf_end(e);
	close(fd);
	pygil_version_str(py->hexversion, ver, sizeof(ver));
	if (!py->hexversion || py->hexversion >> 24 != 3) {
		snprintf(err, errlen, "%s defines _PyRuntime but its Python version cannot be told",
			 py->path);
		return -EPROTONOSUPPORT;
	}
	if (py->has_debug) {
		layout_from_debug(&py->dbg, &py->l);
	} else if (table_layout(py->minor)) {
		py->l = *table_layout(py->minor);
	} else {
		snprintf(err, errlen,
			 "Python %s (%s) is not supported: the GIL is traced on "
			 "3.8 to 3.12 by built-in layouts, from 3.13 by its _Py_DebugOffsets",
			 ver, py->path);
		return -EPROTONOSUPPORT;
	}
	l = &py->l;
	if (rd64(py, py->runtime + l->interp_head, &py->interp) || !py->interp)
		return -EAGAIN; /* not initialised yet */
	py->sys_modules = l->modules ? py->interp + l->modules : 0;
	py->thread_id_off = l->thread_id;
	if (l->gil_in_rt >= 0)
		py->gil = py->runtime + (unsigned)l->gil_in_rt;
	else if (rd64(py, py->interp + (unsigned)l->gil_ptr_in_interp, &py->gil) || !py->gil)
		return -EAGAIN;
	if (py->flags & TT_PY_FREE_THREADED) {
		__s32 enabled = 0;

		/* `enabled` first, the rest of the GIL 8 bytes on: the GIL from its interval */
		py->gil_enabled = py->gil;
		py->gil += (unsigned)l->disps[0] - TT_GIL_LOCKED_OFF;
		if (rd(py, py->gil_enabled, &enabled, 4))
			return -EAGAIN;
		if (enabled != TT_GIL_ENABLED_FOR_GOOD) /* off, or on only for an import */
			py->flags |= TT_PY_GIL_DISABLED;
	}
	if (rd(py, py->gil + TT_GIL_LOCKED_OFF, &locked, 4) || rd64(py, py->gil, &interval))
		return -EAGAIN;
	if (locked == -1 && !(py->flags & TT_PY_GIL_DISABLED))
		return -EAGAIN; /* the GIL is not created yet */
	interval &= 0xffffffff;
	/* -EBUSY: a starting interpreter may still be writing it; the caller tries again then */
	if (!(py->flags & TT_PY_GIL_DISABLED) &&
	    ((locked != 0 && locked != 1) || !interval || interval > 100000000)) {
		snprintf(err, errlen,
			 "Python %s (%s): the GIL at 0x%llx does not look like one "
			 "(locked %d, interval %llu us): an unknown build of this version?",
			 ver, py->path, (unsigned long long)py->gil, locked,
			 (unsigned long long)interval);
		return -EBUSY;
	}
	py->interval_us = (__u32)interval;
	if (l->drop_rt >= 0)
		py->drop_req = py->runtime + (unsigned)l->drop_rt;
	else if (l->drop_interp >= 0)
		py->drop_req = py->interp + (unsigned)l->drop_interp;
	else if (l->drop_tstate >= 0)
		py->drop_tstate_off = (__u32)l->drop_tstate;
	return pygil_read_state(py);
}

/* --- decoding --------------------------------------------------------------------------- */

/* The register (enum tt_reg) an x86 register, or a part of it, belongs to. */
static unsigned base_reg(unsigned r)
{
	unsigned sr = probesite_reg_of(r);

	if (sr != TT_REG_NONE)
		return sr;
	switch (r) {
	case X86_REG_RAX:
	case X86_REG_EAX:
	case X86_REG_AX:
	case X86_REG_AL:
	case X86_REG_AH:
		return TT_REG_RAX;
	case X86_REG_R10:
	case X86_REG_R10D:
	case X86_REG_R10W:
	case X86_REG_R10B:
		return TT_REG_R10;
	case X86_REG_R11:
	case X86_REG_R11D:
	case X86_REG_R11W:
	case X86_REG_R11B:
		return TT_REG_R11;
	}
	return TT_REG_NONE;
}

struct decode_ctx {
	struct py_target *py;
	const struct py_layout *l;
	__u64 locked_vaddr; /* rip-relative stores to this are the GIL's (0: GIL not static) */
	bool need_signature;
	unsigned only_op; /* in take_gil/drop_gil: the op stores of that function are */
	const __u8 *code; /* the segment being decoded */
	size_t len;
	__u64 vaddr, off; /* its first byte's ELF address and file offset */
	csh cs;
	struct u64_map targets; /* addresses direct jumps and calls go to */
	__u64 *calls;		/* when collecting: the functions the decoded code calls directly */
	size_t nr_calls, cap_calls;
	bool collect_calls;
	bool gave_up; /* decode_deadline passed or decode_stop was set */
};

/* Time to give up decoding? Checked every few thousand instructions. */
static bool give_up(struct decode_ctx *d)
{
	struct timespec ts;

	if (d->py->decode_stop && *d->py->decode_stop)
		d->gave_up = true;
	if (d->py->decode_deadline) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec >= d->py->decode_deadline)
			d->gave_up = true;
	}
	return d->gave_up;
}

/* A store of an immediate 0 or 1, 4 bytes, to memory: its op, base and displacement. */
static bool store_01(const cs_insn *in, unsigned *op, unsigned *reg, __s64 *disp, bool *rip)
{
	const cs_x86 *x = &in->detail->x86;

	if (in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_MEM ||
	    x->operands[0].size != 4 || x->operands[1].type != X86_OP_IMM ||
	    (x->operands[1].imm != 0 && x->operands[1].imm != 1) ||
	    x->operands[0].mem.index != X86_REG_INVALID ||
	    x->operands[0].mem.segment != X86_REG_INVALID)
		return false;
	*op = x->operands[1].imm ? TT_GIL_TAKE : TT_GIL_DROP;
	*rip = x->operands[0].mem.base == X86_REG_RIP;
	*reg = *rip ? TT_REG_NONE : base_reg(x->operands[0].mem.base);
	*disp = x->operands[0].mem.disp;
	return *rip || *reg != TT_REG_NONE;
}

/*
 * Does insn touch a neighbour of `locked` (at disp) through the same base: the GIL's cond
 * (+16: drop_gil signals it right after the store) or switch_cond (+104: take_gil signals it),
 * or, unless strong, last_holder (-8) or switch_number (+8)?
 */
static bool touches_neighbour(const cs_insn *in, unsigned base, __s64 disp, bool strong)
{
	const cs_x86 *x = &in->detail->x86;

	for (unsigned i = 0; i < x->op_count; i++) {
		const cs_x86_op *o = &x->operands[i];
		__s64 rel = o->mem.disp - disp;

		if (o->type != X86_OP_MEM || base_reg(o->mem.base) != base)
			continue;
		/* the condvar's address into the first argument, for pthread_cond_signal */
		if ((rel == 16 || rel == 104) && in->id == X86_INS_LEA &&
		    x->operands[0].type == X86_OP_REG && x->operands[0].reg == X86_REG_RDI)
			return true;
		if (!strong && (rel == -8 || rel == 8))
			return true;
	}
	return false;
}

#define SIGNATURE_INSNS 10

/* Look at the instructions after a store (following direct jmps) for the signature. */
static bool signature_after(csh cs, const struct decode_ctx *d, __u64 vaddr, unsigned base,
			    __s64 disp, bool strong)
{
	cs_insn *in = cs_malloc(cs);
	bool found = false;

	for (int n = 0, jumps = 0; n < SIGNATURE_INSNS && !found; n++) {
		const __u8 *p;
		size_t left;
		uint64_t a = vaddr;

		if (vaddr < d->vaddr || vaddr >= d->vaddr + d->len)
			break;
		p = d->code + (vaddr - d->vaddr);
		left = d->len - (vaddr - d->vaddr);
		if (!cs_disasm_iter(cs, &p, &left, &a, in))
			break;
		found = touches_neighbour(in, base, disp, strong);
		if (in->id == X86_INS_JMP && in->detail->x86.operands[0].type == X86_OP_IMM &&
		    jumps++ < 2) {
			vaddr = (__u64)in->detail->x86.operands[0].imm;
			continue;
		}
		if (in->id == X86_INS_RET || in->id == X86_INS_JMP || in->id == X86_INS_CALL)
			break;
		vaddr = a;
	}
	cs_free(in, 1);
	return found;
}

#define MOVE_INSNS 8

/*
 * The first instruction after a store the kernel emulates, if every one between falls through
 * and leaves the store's base register alone (the BPF check reads it there). Whether one of
 * them is a branch target is known only when all is decoded (pygil_find_sites).
 */
static void emulated_after(const struct decode_ctx *d, const cs_insn *store, unsigned reg,
			   struct gil_site *s)
{
	cs_insn *in = cs_malloc(d->cs);
	__u64 vaddr = store->address + store->size;

	for (int n = 0; n < MOVE_INSNS; n++) {
		const __u8 *p;
		size_t left;
		uint64_t a = vaddr;
		cs_regs rd, wr;
		uint8_t nrd = 0, nwr = 0;
		bool clobbers = false;

		if (vaddr < d->vaddr || vaddr >= d->vaddr + d->len)
			break;
		p = d->code + (vaddr - d->vaddr);
		left = d->len - (vaddr - d->vaddr);
		if (!cs_disasm_iter(d->cs, &p, &left, &a, in))
			break;
		if (probesite_emulated(in->bytes, in->size)) {
			s->emulated = true;
			s->probe_vaddr = in->address;
			s->probe_off = d->off + (in->address - d->vaddr);
			snprintf(s->probe_insn, sizeof(s->probe_insn), "%s %s", in->mnemonic,
				 in->op_str);
			break;
		}
		if (cs_insn_group(d->cs, in, X86_GRP_JUMP) ||
		    cs_insn_group(d->cs, in, X86_GRP_CALL) ||
		    cs_insn_group(d->cs, in, X86_GRP_RET) ||
		    cs_insn_group(d->cs, in, X86_GRP_INT) ||
		    cs_regs_access(d->cs, in, rd, &nrd, wr, &nwr))
			break;
		for (unsigned k = 0; k < nwr && reg != TT_REG_NONE; k++)
			clobbers |= base_reg(wr[k]) == reg;
		if (clobbers)
			break;
		vaddr = a;
	}
	cs_free(in, 1);
}

static void add_site(struct decode_ctx *d, const cs_insn *in, unsigned op, unsigned reg, __s64 disp)
{
	struct py_target *py = d->py;
	struct gil_site *s;
	size_t cap = py->nr_sites;

	for (size_t i = 0; i < py->nr_sites; i++)
		if (py->sites[i].vaddr == in->address)
			return;
	grow((void **)&py->sites, &cap, py->nr_sites + 1, sizeof(*py->sites));
	s = &py->sites[py->nr_sites++];
	s->vaddr = in->address;
	s->file_off = d->off + (in->address - d->vaddr);
	s->op = op;
	s->reg = reg;
	s->disp = (__s32)disp;
	snprintf(s->insn, sizeof(s->insn), "%s %s", in->mnemonic, in->op_str);
	s->probe_off = s->file_off;
	s->probe_vaddr = s->vaddr;
	s->emulated = false;
	emulated_after(d, in, reg, s);
	if (op == TT_GIL_TAKE)
		py->nr_take++;
	else
		py->nr_drop++;
}

static void decode_range(csh cs, struct decode_ctx *d)
{
	cs_insn *in = cs_malloc(cs);
	const __u8 *p = d->code;
	size_t left = d->len;
	uint64_t a = d->vaddr;
	/* memory operands of the instructions before, for the signature */
	struct {
		unsigned base;
		__s64 disp;
	} recent[SIGNATURE_INSNS] = {{0}};
	unsigned nr = 0, count = 0;

	for (;;) {
		unsigned op, reg;
		__s64 disp;
		bool rip;

		if (!(++count & 0x3fff) && give_up(d))
			break;

		if (!cs_disasm_iter(cs, &p, &left, &a, in)) {
			if (left < 1)
				break;
			p++; /* data in code: skip a byte */
			left--;
			a++;
			continue;
		}
		if ((cs_insn_group(cs, in, X86_GRP_JUMP) || cs_insn_group(cs, in, X86_GRP_CALL)) &&
		    in->detail->x86.op_count == 1 &&
		    in->detail->x86.operands[0].type == X86_OP_IMM) {
			bool found;

			u64_map_upsert(&d->targets, (__u64)in->detail->x86.operands[0].imm, &found);
			if (d->collect_calls && in->id == X86_INS_CALL)
				*VEC_PUSH(d->calls, d->nr_calls, d->cap_calls) =
				    (__u64)in->detail->x86.operands[0].imm;
		}
		if (store_01(in, &op, &reg, &disp, &rip) && (!d->only_op || op == d->only_op)) {
			if (rip) {
				if (d->locked_vaddr &&
				    in->address + in->size + disp == d->locked_vaddr)
					add_site(d, in, op, TT_REG_NONE, 0);
			} else {
				bool disp_ok = false, sig = !d->need_signature;
				/* 0x10 and 0x18 are everyone's offsets: in a stripped build a store
				 * with them must be followed by the GIL's cond or switch_cond; one
				 * through a pointer to _PyRuntime itself may show last_holder or
				 * switch_number instead */
				bool strong = d->l->gil_in_rt < 0 ||
					      disp != d->l->gil_in_rt + TT_GIL_LOCKED_OFF;

				for (int k = 0; k < 3; k++)
					disp_ok |= disp == d->l->disps[k];
				/* with the GIL inside _PyRuntime, take/drop never go through a
				 * pointer to the GIL itself */
				if (d->need_signature && d->l->gil_in_rt >= 0 &&
				    disp == TT_GIL_LOCKED_OFF)
					disp_ok = false;
				for (unsigned k = 0;
				     disp_ok && !sig && !strong && k < SIGNATURE_INSNS; k++)
					sig =
					    recent[k].base == reg && (recent[k].disp == disp - 8 ||
								      recent[k].disp == disp + 8);
				if (disp_ok && !sig)
					sig = signature_after(cs, d, in->address + in->size, reg,
							      disp, strong);
				if (disp_ok && sig)
					add_site(d, in, op, reg, disp);
			}
		}
		if (d->need_signature) {
			const cs_x86 *x = &in->detail->x86;

			recent[nr % SIGNATURE_INSNS].base = TT_REG_NONE;
			for (unsigned i = 0; i < x->op_count; i++)
				if (x->operands[i].type == X86_OP_MEM) {
					recent[nr % SIGNATURE_INSNS].base =
					    base_reg(x->operands[i].mem.base);
					recent[nr % SIGNATURE_INSNS].disp = x->operands[i].mem.disp;
				}
			nr++;
		}
	}
	cs_free(in, 1);
}

/* Decode [vaddr, vaddr + len) of the file. */
static void decode_file_range(csh cs, struct decode_ctx *d, int fd, Elf *e, __u64 vaddr, size_t len)
{
	long long off = probesite_vaddr_to_off(e, vaddr, true);
	__u8 *buf;
	ssize_t got;

	if (off < 0 || !len)
		return;
	buf = xcalloc(1, len);
	got = pread(fd, buf, len, off);
	if (got > 0) {
		d->code = buf;
		d->len = (size_t)got;
		d->vaddr = vaddr;
		d->off = (__u64)off;
		decode_range(cs, d);
	}
	free(buf);
}

/* The size of the function .symtab says starts at vaddr; 0 if none does (a PLT stub). */
static __u64 func_size_at(Elf *e, __u64 vaddr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;

			if (gelf_getsym(data, (int)i, &sym) && sym.st_value == vaddr &&
			    GELF_ST_TYPE(sym.st_info) == STT_FUNC && sym.st_shndx != SHN_UNDEF)
				return sym.st_size;
		}
	}
	return 0;
}

#define MAX_HELPER_BYTES 4096

/*
 * take_gil or drop_gil (op: the stores it makes), and the functions it calls directly: debug
 * builds (python3.13d to 3.15d) keep drop_gil_impl out of line, and it is the one that stores
 * locked = 0. A helper's store is kept only with the signature of a stripped build (the GIL's
 * cond or switch_cond signalled through the same base right after), for the helpers are
 * shared: a fatal-error path, consistency checks. not[]: functions decoded on their own.
 */
static void decode_gil_function(csh cs, struct decode_ctx *d, int fd, Elf *e, __u64 vaddr,
				__u64 size, unsigned op, const __u64 * not, size_t nr_not)
{
	size_t first = d->nr_calls;

	d->only_op = op;
	d->collect_calls = true;
	decode_file_range(cs, d, fd, e, vaddr, size);
	d->collect_calls = false;
	d->need_signature = true;
	for (size_t i = first; i < d->nr_calls; i++) {
		__u64 callee = d->calls[i], len;
		bool seen = false;

		for (size_t k = 0; k < nr_not; k++)
			seen |= not [k] == callee;
		for (size_t k = first; k < i; k++)
			seen |= d->calls[k] == callee;
		if (seen || !(len = func_size_at(e, callee)) || len > MAX_HELPER_BYTES)
			continue;
		decode_file_range(cs, d, fd, e, callee, len);
	}
	d->need_signature = false;
}

int pygil_find_sites(struct py_target *py, char *err, size_t errlen)
{
	const struct py_layout *l = layout_of(py);
	struct decode_ctx d = {.py = py, .l = l};
	__u64 take = 0, take_size = 0, drop = 0, drop_size = 0;
	size_t nph;
	csh cs;
	Elf *e;
	int fd;

	pygil_free(py);
	py->nr_take = py->nr_drop = 0;
	if (!l)
		return -EINVAL;
	e = probesite_open_elf(py->open_path, &fd);
	if (!e) {
		snprintf(err, errlen, "cannot read %s", py->path);
		return -ENOENT;
	}
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		elf_end(e);
		close(fd);
		snprintf(err, errlen, "capstone does not open");
		return -ENOMEM;
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	d.cs = cs;
	if (l->gil_in_rt >= 0)
		d.locked_vaddr =
		    py->runtime - py->bias + (unsigned)l->gil_in_rt + TT_GIL_LOCKED_OFF;
	{
		__u64 t1 = 0, s1 = 0, t2 = 0, s2 = 0;
		bool t1ok = probesite_elf_symbol(e, "take_gil", false, &t1, &s1) && s1;
		/* 3.8 has take_gil and a take_gil.constprop.0 clone */
		bool t2ok = probesite_elf_symbol(e, "take_gil.", true, &t2, &s2) && s2 && t2 != t1;

		py->symbols =
		    (t1ok || t2ok) &&
		    ((probesite_elf_symbol(e, "drop_gil", false, &drop, &drop_size) && drop_size) ||
		     (probesite_elf_symbol(e, "drop_gil.", true, &drop, &drop_size) && drop_size));
		take = t1ok ? t1 : 0;
		take_size = t1ok ? s1 : 0;
		if (py->symbols) {
			const __u64 gil_funcs[] = {take, t2, drop};

			if (t1ok)
				decode_gil_function(cs, &d, fd, e, take, take_size, TT_GIL_TAKE,
						    gil_funcs, 3);
			if (t2ok)
				decode_gil_function(cs, &d, fd, e, t2, s2, TT_GIL_TAKE, gil_funcs,
						    3);
			decode_gil_function(cs, &d, fd, e, drop, drop_size, TT_GIL_DROP, gil_funcs,
					    3);
		}
	}
	if (!py->symbols && !elf_getphdrnum(e, &nph)) {
		d.need_signature = true;
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    (ph.p_flags & PF_X))
				decode_file_range(cs, &d, fd, e, ph.p_vaddr, ph.p_filesz);
		}
	}
	cs_close(&cs);
	elf_end(e);
	close(fd);
	/* a probe moved past the store must not be reachable but through it */
	for (size_t i = 0; i < py->nr_sites; i++) {
		struct gil_site *s = &py->sites[i];

		for (__u64 a = s->vaddr + 1; s->emulated && a <= s->probe_vaddr; a++)
			if (u64_map_get(&d.targets, a)) {
				s->emulated = false;
				s->probe_off = s->file_off;
				s->probe_vaddr = s->vaddr;
			}
	}
	u64_map_free(&d.targets);
	free(d.calls);
	if (d.gave_up) {
		snprintf(err, errlen,
			 "tracing ended before the stripped build %s was decoded "
			 "(it takes 0.5-2 s here)",
			 py->path);
		pygil_free(py);
		return -ETIMEDOUT;
	}
	if (!py->nr_take || !py->nr_drop) {
		snprintf(err, errlen,
			 "found %u take and %u drop stores to the GIL in %s (%s): an "
			 "unknown build",
			 py->nr_take, py->nr_drop, py->path,
			 py->symbols ? "take_gil/drop_gil" : "stripped, whole code decoded");
		return -ENOENT;
	}
	return 0;
}
