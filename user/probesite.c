// SPDX-License-Identifier: GPL-2.0
/*
 * probesite.c - see probesite.h.
 *
 * A uprobe on an instruction the kernel has to single-step costs ~16 us a hit here, on one it
 * emulates (jmp, jcc, call, nop, push) ~1 us (doc/probe-costs.md). Lock functions are
 * called millions of times a second, so the site is the first emulated instruction on the
 * function's straight-line entry path that (a) every call executes exactly once (no branch
 * before it, not a branch target) and (b) still has the object pointer in some register.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <capstone/capstone.h>
#include "probesite.h"
#include "util.h"

static const struct {
	const char *name;
	unsigned op, nargs;
} lock_funcs[] = {
    {"pthread_mutex_lock", TT_LOP_MUTEX_LOCK, 1},
    {"pthread_mutex_trylock", TT_LOP_MUTEX_TRYLOCK, 1},
    {"pthread_mutex_timedlock", TT_LOP_MUTEX_TIMEDLOCK, 1},
    {"pthread_mutex_clocklock", TT_LOP_MUTEX_TIMEDLOCK, 1},
    {"pthread_mutex_unlock", TT_LOP_MUTEX_UNLOCK, 1},
    {"pthread_cond_wait", TT_LOP_COND_WAIT, 2},
    {"pthread_cond_timedwait", TT_LOP_COND_WAIT, 2},
    {"pthread_cond_clockwait", TT_LOP_COND_WAIT, 2},
    {"pthread_rwlock_rdlock", TT_LOP_RW_RDLOCK, 1},
    {"pthread_rwlock_wrlock", TT_LOP_RW_WRLOCK, 1},
    {"pthread_rwlock_tryrdlock", TT_LOP_RW_TRYRDLOCK, 1},
    {"pthread_rwlock_trywrlock", TT_LOP_RW_TRYWRLOCK, 1},
    {"pthread_rwlock_timedrdlock", TT_LOP_RW_TIMEDRDLOCK, 1},
    {"pthread_rwlock_clockrdlock", TT_LOP_RW_TIMEDRDLOCK, 1},
    {"pthread_rwlock_timedwrlock", TT_LOP_RW_TIMEDWRLOCK, 1},
    {"pthread_rwlock_clockwrlock", TT_LOP_RW_TIMEDWRLOCK, 1},
    {"pthread_rwlock_unlock", TT_LOP_RW_UNLOCK, 1},
    {"sem_wait", TT_LOP_SEM_WAIT, 1},
    {"sem_timedwait", TT_LOP_SEM_WAIT, 1},
    {"sem_clockwait", TT_LOP_SEM_WAIT, 1},
    {"sem_trywait", TT_LOP_SEM_WAIT, 1},
    {"sem_post", TT_LOP_SEM_POST, 1},
};
#define NR_LOCK_FUNCS (sizeof(lock_funcs) / sizeof(lock_funcs[0]))

#define MAX_FUNC_BYTES	4096
#define MAX_ENTRY_INSNS 16

/* The 64-bit register an x86 register (or a part of it) belongs to, as an enum tt_reg. */
static unsigned site_reg_of(unsigned r)
{
	switch (r) {
	case X86_REG_RDI:
	case X86_REG_EDI:
	case X86_REG_DI:
	case X86_REG_DIL:
		return TT_REG_RDI;
	case X86_REG_RSI:
	case X86_REG_ESI:
	case X86_REG_SI:
	case X86_REG_SIL:
		return TT_REG_RSI;
	case X86_REG_RDX:
	case X86_REG_EDX:
	case X86_REG_DX:
	case X86_REG_DL:
	case X86_REG_DH:
		return TT_REG_RDX;
	case X86_REG_RCX:
	case X86_REG_ECX:
	case X86_REG_CX:
	case X86_REG_CL:
	case X86_REG_CH:
		return TT_REG_RCX;
	case X86_REG_R8:
	case X86_REG_R8D:
	case X86_REG_R8W:
	case X86_REG_R8B:
		return TT_REG_R8;
	case X86_REG_R9:
	case X86_REG_R9D:
	case X86_REG_R9W:
	case X86_REG_R9B:
		return TT_REG_R9;
	case X86_REG_RBX:
	case X86_REG_EBX:
	case X86_REG_BX:
	case X86_REG_BL:
	case X86_REG_BH:
		return TT_REG_RBX;
	case X86_REG_RBP:
	case X86_REG_EBP:
	case X86_REG_BP:
	case X86_REG_BPL:
		return TT_REG_RBP;
	case X86_REG_R12:
	case X86_REG_R12D:
	case X86_REG_R12W:
	case X86_REG_R12B:
		return TT_REG_R12;
	case X86_REG_R13:
	case X86_REG_R13D:
	case X86_REG_R13W:
	case X86_REG_R13B:
		return TT_REG_R13;
	case X86_REG_R14:
	case X86_REG_R14D:
	case X86_REG_R14W:
	case X86_REG_R14B:
		return TT_REG_R14;
	case X86_REG_R15:
	case X86_REG_R15D:
	case X86_REG_R15W:
	case X86_REG_R15B:
		return TT_REG_R15;
	}
	return TT_REG_NONE;
}

unsigned probesite_reg_of(unsigned r)
{
	return site_reg_of(r);
}

/* Instructions x86 uprobes emulate instead of single-stepping (arch/x86/kernel/uprobes.c). */
bool probesite_emulated(const __u8 *b, unsigned size)
{
	if (size == 1 && (b[0] == 0x90 || (b[0] >= 0x50 && b[0] <= 0x57)))
		return true; /* nop, push reg */
	if (size == 2 && b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57)
		return true; /* push r8..r15 */
	if (b[0] == 0xeb || b[0] == 0xe9 || b[0] == 0xe8 || (b[0] >= 0x70 && b[0] <= 0x7f))
		return true; /* jmp, call, jcc (no prefixes) */
	return b[0] == 0x0f && size == 6 && b[1] >= 0x80 && b[1] <= 0x8f; /* jcc rel32 */
}

static int lowest_bit(unsigned m)
{
	for (int i = 0; i < 32; i++)
		if (m & (1u << i))
			return i;
	return TT_REG_NONE;
}

bool probesite_decode(const __u8 *code, size_t len, __u64 func_off, unsigned nargs,
		      struct probe_site *s)
{
	csh h;
	cs_insn *insn = NULL;
	size_t n;
	__u64 targets[256];
	size_t nr_targets = 0;
	unsigned loc[2] = {1u << TT_REG_RDI, 1u << TT_REG_RSI};
	int delta = 0;
	bool found = false;
	__u64 entry_end;

	s->site_off = func_off;
	s->reg1 = TT_REG_RDI;
	s->reg2 = nargs > 1 ? TT_REG_RSI : TT_REG_NONE;
	s->ret_off = 0;
	s->emulated = false;
	snprintf(s->insn, sizeof(s->insn), "entry");
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return false;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	n = cs_disasm(h, code, len, func_off, 0, &insn);
	/* direct branch targets in the entry path: a site there would fire twice a call */
	entry_end = n > MAX_ENTRY_INSNS ? insn[MAX_ENTRY_INSNS].address : func_off + len;
	for (size_t i = 0; i < n; i++) {
		const cs_x86 *x = &insn[i].detail->x86;

		if ((cs_insn_group(h, &insn[i], CS_GRP_JUMP) ||
		     cs_insn_group(h, &insn[i], CS_GRP_CALL)) &&
		    x->op_count == 1 && x->operands[0].type == X86_OP_IMM &&
		    (__u64)x->operands[0].imm >= func_off &&
		    (__u64)x->operands[0].imm < entry_end) {
			if (nr_targets == 256)
				goto out; /* too many to be sure: stay at the entry */
			targets[nr_targets++] = x->operands[0].imm;
		}
	}
	for (size_t i = 0; i < n && i < MAX_ENTRY_INSNS; i++) {
		const cs_insn *in = &insn[i];
		const cs_x86 *x = &in->detail->x86;
		cs_regs rd, wr;
		uint8_t nrd = 0, nwr = 0;
		bool target = false, branch;
		unsigned copy_to = TT_REG_NONE, copy_from = TT_REG_NONE;

		for (size_t t = 0; t < nr_targets; t++)
			target |= i > 0 && targets[t] == in->address;
		if (target)
			break; /* a loop may come back here: stay before it */
		if (probesite_emulated(in->bytes, in->size) && loc[0] && (nargs < 2 || loc[1])) {
			s->site_off = in->address;
			s->reg1 = lowest_bit(loc[0]);
			s->reg2 = nargs > 1 ? (unsigned)lowest_bit(loc[1]) : TT_REG_NONE;
			s->ret_off = delta;
			s->emulated = true;
			snprintf(s->insn, sizeof(s->insn), "%s %s", in->mnemonic, in->op_str);
			found = true;
			break;
		}
		branch = cs_insn_group(h, in, CS_GRP_JUMP) || cs_insn_group(h, in, CS_GRP_CALL) ||
			 cs_insn_group(h, in, CS_GRP_RET) || cs_insn_group(h, in, CS_GRP_INT) ||
			 cs_insn_group(h, in, CS_GRP_IRET);
		if (branch)
			break;
		if (cs_regs_access(h, in, rd, &nrd, wr, &nwr) != CS_ERR_OK)
			break;
		if (in->id == X86_INS_MOV && x->op_count == 2 &&
		    x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_REG &&
		    x->operands[0].size == 8) {
			copy_to = site_reg_of(x->operands[0].reg);
			copy_from = site_reg_of(x->operands[1].reg);
		}
		for (unsigned w = 0; w < nwr; w++) {
			unsigned r = site_reg_of(wr[w]);

			if (wr[w] == X86_REG_RSP) {
				if (in->id == X86_INS_PUSH)
					delta += 8;
				else if (in->id == X86_INS_POP)
					delta -= 8;
				else if ((in->id == X86_INS_SUB || in->id == X86_INS_ADD) &&
					 x->op_count == 2 && x->operands[1].type == X86_OP_IMM)
					delta += (in->id == X86_INS_SUB ? 1 : -1) *
						 (int)x->operands[1].imm;
				else
					goto out; /* rsp moved in a way not followed */
			} else if (r != TT_REG_NONE) {
				loc[0] &= ~(1u << r);
				loc[1] &= ~(1u << r);
			}
		}
		if (copy_to != TT_REG_NONE && copy_from != TT_REG_NONE) {
			for (int k = 0; k < 2; k++)
				if (loc[k] & (1u << copy_from))
					loc[k] |= 1u << copy_to;
		}
		if (!loc[0] || (nargs > 1 && !loc[1]))
			break;
	}
out:
	cs_free(insn, n);
	cs_close(&h);
	if (!found) { /* the entry: every register still as the caller left it */
		s->site_off = func_off;
		s->reg1 = TT_REG_RDI;
		s->reg2 = nargs > 1 ? TT_REG_RSI : TT_REG_NONE;
		s->ret_off = 0;
	}
	return found;
}

Elf *probesite_open_elf(const char *path, int *fd)
{
	Elf *e;

	elf_version(EV_CURRENT);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	e = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		if (e)
			elf_end(e);
		close(*fd);
		*fd = -1;
		return NULL;
	}
	return e;
}

/* The function of lock_funcs a symbol name is (versioned names of static .symtab included). */
static int lock_func_index(const char *name)
{
	size_t len = strcspn(name, "@");

	for (size_t i = 0; i < NR_LOCK_FUNCS; i++)
		if (strlen(lock_funcs[i].name) == len && !strncmp(lock_funcs[i].name, name, len))
			return (int)i;
	return -1;
}

struct func_sym {
	int which;
	__u64 vaddr, size;
};

/* The defined lock functions of an ELF file, one per distinct address. */
static size_t lock_symbols(Elf *e, struct func_sym **out)
{
	Elf_Scn *scn = NULL;
	struct func_sym *v = NULL;
	size_t n = 0, cap = 0;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;
			int which;
			bool dup = false;

			if (!gelf_getsym(d, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
			    !sym.st_value)
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!name || (which = lock_func_index(name)) < 0)
				continue;
			for (size_t k = 0; k < n; k++)
				dup |= v[k].vaddr == sym.st_value;
			if (dup)
				continue;
			if (n == cap)
				grow((void **)&v, &cap, n + 1, sizeof(*v));
			v[n++] = (struct func_sym){which, sym.st_value, sym.st_size};
		}
	}
	*out = v;
	return n;
}

bool probesite_has_pthreads(const char *path)
{
	int fd;
	Elf *e = probesite_open_elf(path, &fd);
	struct func_sym *v = NULL;
	size_t n;
	bool has = false;

	if (!e)
		return false;
	n = lock_symbols(e, &v);
	for (size_t i = 0; i < n; i++)
		has |= lock_funcs[v[i].which].op == TT_LOP_MUTEX_LOCK;
	free(v);
	elf_end(e);
	close(fd);
	return has;
}

bool probesite_elf_symbol(Elf *e, const char *name, bool prefix, __u64 *value, __u64 *size)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    !sym.st_value)
				continue;
			n = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!n || (prefix ? strncmp(n, name, strlen(name)) : strcmp(n, name)))
				continue;
			*value = sym.st_value;
			if (size)
				*size = sym.st_size;
			return true;
		}
	}
	return false;
}

long long probesite_vaddr_to_off(Elf *e, __u64 vaddr, bool exec_only)
{
	size_t nph;

	if (elf_getphdrnum(e, &nph))
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    (!exec_only || (ph.p_flags & PF_X)) && vaddr >= ph.p_vaddr &&
		    vaddr < ph.p_vaddr + ph.p_filesz)
			return (long long)(vaddr - ph.p_vaddr + ph.p_offset);
	}
	return -1;
}

int probesite_find(const char *path, struct probe_site **out, char *err, size_t errlen)
{
	int fd;
	Elf *e = probesite_open_elf(path, &fd);
	struct func_sym *v = NULL;
	struct probe_site *sites;
	size_t n, nr = 0;
	__u8 *code;

	*out = NULL;
	if (!e) {
		snprintf(err, errlen, "cannot read %s as an ELF file", path);
		return -ENOEXEC;
	}
	n = lock_symbols(e, &v);
	sites = xcalloc(n ? n : 1, sizeof(*sites));
	code = xcalloc(1, MAX_FUNC_BYTES);
	for (size_t i = 0; i < n; i++) {
		long long off = probesite_vaddr_to_off(e, v[i].vaddr, true);
		size_t len = v[i].size && v[i].size < MAX_FUNC_BYTES ? v[i].size : MAX_FUNC_BYTES;
		struct probe_site *s = &sites[nr];
		ssize_t got;

		if (off < 0)
			continue;
		got = pread(fd, code, len, off);
		if (got <= 0)
			continue;
		snprintf(s->func, sizeof(s->func), "%s", lock_funcs[v[i].which].name);
		s->op = lock_funcs[v[i].which].op;
		s->func_off = (__u64)off;
		probesite_decode(code, (size_t)got, (__u64)off, lock_funcs[v[i].which].nargs, s);
		nr++;
	}
	free(code);
	free(v);
	elf_end(e);
	close(fd);
	if (!nr) {
		free(sites);
		snprintf(err, errlen, "%s defines no pthread lock functions", path);
		return -ENOENT;
	}
	*out = sites;
	return (int)nr;
}
