/* SPDX-License-Identifier: GPL-2.0 */
/*
 * probesite.h - where --holds puts its uprobes: the pthread and semaphore functions of a libc
 * (or of a static program), and in each the first instruction the kernel can emulate rather than
 * single-step, found by decoding the function (capstone), with the registers that still hold the
 * lock object there and the distance from sp to the return address.
 */
#ifndef TT_PROBESITE_H
#define TT_PROBESITE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <libelf.h>
#include "threadtrace.h"

/*
 * The enum tt_reg (TT_REG_RDI..TT_REG_R15) an x86 (capstone) register or a part of it belongs
 * to; TT_REG_NONE for others.
 */
unsigned probesite_reg_of(unsigned capstone_reg);
/* Does the kernel emulate this instruction (about 1 us a hit) rather than single-step it? */
bool probesite_emulated(const __u8 *bytes, unsigned size);

struct probe_site {
	char func[40];	     /* the symbol */
	unsigned op;	     /* enum tt_lock_op */
	__u64 func_off;	     /* file offset of the function's entry */
	__u64 site_off;	     /* file offset of the probed instruction */
	unsigned reg1, reg2; /* enum tt_reg: the object (and the condvar's mutex) at the site */
	unsigned ret_off;    /* bytes from sp to the caller's return address at the site */
	bool emulated;	     /* an instruction the kernel emulates (about 1 us a hit, not 16) */
	char insn[48];	     /* the instruction, for -v */
};

/* The cookie bpf/holds.bpf.c decodes (threadtrace.h). */
static inline __u64 probe_site_cookie(const struct probe_site *s)
{
	return TT_LOCK_COOKIE(s->op, s->reg1, s->reg2, s->ret_off);
}

/* An ELF file opened for reading (*fd its descriptor), or NULL. Shared with pygil.c. */
Elf *probesite_open_elf(const char *path, int *fd);
/* File offset of an ELF address in a loaded segment (executable ones only if exec_only), -1. */
long long probesite_vaddr_to_off(Elf *e, __u64 vaddr, bool exec_only);
/*
 * Value and size (size may be NULL) of a defined symbol named name (prefix: starting with it),
 * from .symtab or .dynsym; false if none.
 */
bool probesite_elf_symbol(Elf *e, const char *name, bool prefix, __u64 *value, __u64 *size);

/* Does the ELF file at path define pthread_mutex_lock (a libc, libpthread or static program)? */
bool probesite_has_pthreads(const char *path);

/*
 * Probe sites for every lock function path defines. Returns how many (*out malloc'd) or
 * -errno; err says why in words.
 */
int probesite_find(const char *path, struct probe_site **out, char *err, size_t errlen);

/* Pick a site in a function's code (exposed for the unit tests). */
bool probesite_decode(const __u8 *code, size_t len, __u64 func_off, unsigned nargs,
		      struct probe_site *s);

#endif
