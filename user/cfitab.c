// SPDX-License-Identifier: GPL-2.0
/*
 * cfitab.c - see cfitab.h. The FDEs are found through .eh_frame_hdr's sorted table (the one the
 * C runtime's own unwinder searches); libdw computes the register rules row by row.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libelf.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include <dwarf.h>
#include "cfitab.h"

/* x86_64 DWARF register numbers */
enum { DW_RBP = 6, DW_RSP = 7, DW_RA = 16 };

#define DW_EH_PE_OMIT		0xff
#define DW_EH_PE_DATAREL_SDATA4 0x3b

static int read_encoded(const __u8 *p, const __u8 *end, __u8 enc, __u64 *v)
{
	switch (enc & 0x0f) {
	case 0x03: /* udata4 */
	case 0x0b: /* sdata4 */
		if (end - p < 4)
			return -1;
		{
			__s32 s;

			memcpy(&s, p, 4);
			*v = (enc & 0x0f) == 0x0b ? (__u64)(__s64)s : (__u32)s;
		}
		return 4;
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		if (end - p < 8)
			return -1;
		memcpy(v, p, 8);
		return 8;
	}
	return -1;
}

/* The FDEs' first addresses from .eh_frame_hdr (sorted), or -ENODATA. */
static int fde_starts(Elf *elf, __u64 **starts, size_t *n)
{
	size_t phnum, len;
	const __u8 *file = (const __u8 *)elf_rawfile(elf, &len), *p, *end = NULL;
	__u64 count, v, hdr_vaddr = 0;
	GElf_Phdr ph;
	__u8 count_enc;
	int k;

	if (!file || elf_getphdrnum(elf, &phnum))
		return -ENODATA;
	p = NULL;
	for (size_t i = 0; i < phnum; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_GNU_EH_FRAME)
			continue;
		if (ph.p_offset >= len || ph.p_filesz > len - ph.p_offset || ph.p_filesz < 8)
			return -ENODATA;
		p = file + ph.p_offset;
		end = p + ph.p_filesz;
		hdr_vaddr = ph.p_vaddr;
	}
	/* version 1; how eh_frame_ptr, fde_count and the table are encoded */
	if (!p || p[0] != 1 || p[3] != DW_EH_PE_DATAREL_SDATA4 || p[1] == DW_EH_PE_OMIT)
		return -ENODATA;
	count_enc = p[2];
	k = read_encoded(p + 4, end, p[1], &v); /* eh_frame_ptr: libdw finds .eh_frame itself */
	if (k < 0)
		return -ENODATA;
	p += 4 + k;
	k = read_encoded(p, end, count_enc, &count);
	if (k < 0)
		return -ENODATA;
	p += k;
	if (count > (size_t)(end - p) / 8)
		return -ENODATA;
	*starts = xcalloc(count ? count : 1, sizeof(**starts));
	for (size_t i = 0; i < count; i++) {
		__s32 loc;

		memcpy(&loc, p + i * 8, 4);
		(*starts)[i] = hdr_vaddr + (__s64)loc;
	}
	*n = count;
	return 0;
}

/* Bytes of a pointer of DWARF EH encoding enc, 0 where it is not one we read. */
static size_t enc_size(__u8 enc)
{
	switch (enc & 0x0f) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		return 8;
	case 0x02: /* udata2 */
	case 0x0a: /* sdata2 */
		return 2;
	case 0x03: /* udata4 */
	case 0x0b: /* sdata4 */
		return 4;
	}
	return 0;
}

/*
 * Without .eh_frame_hdr (gcc -static links without it): the FDEs' first addresses read from
 * .eh_frame itself, each decoded with the pointer encoding its CIE's "zR" augmentation gives.
 */
static int fde_starts_scan(Elf *elf, __u64 **starts, size_t *n)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	struct cie_enc {
		Dwarf_Off off;
		__u8 enc;
	} *cies = NULL;
	size_t nr_cies = 0, cap_cies = 0, cap = 0, shstrndx;
	Elf_Scn *scn = NULL;
	Elf_Data *d = NULL;
	GElf_Shdr sh;
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;

	if (!ident || elf_getshdrstrndx(elf, &shstrndx))
		return -ENODATA;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".eh_frame")) {
			d = elf_rawdata(scn, NULL);
			break;
		}
	}
	if (!d || !d->d_buf || !d->d_size)
		return -ENODATA;
	*n = 0;
	*starts = NULL;
	for (; dwarf_next_cfi(ident, d, true, off, &next, &e) == 0; off = next) {
		const __u8 *p;
		__u8 enc = 0;
		size_t k;
		__u64 v = 0;

		if (dwarf_cfi_cie_p(&e)) {
			const char *aug = e.cie.augmentation;
			const __u8 *ad = e.cie.augmentation_data;
			struct cie_enc *c;

			for (size_t i = 1; aug && aug[0] == 'z' && aug[i] && ad; i++) {
				if (aug[i] == 'R')
					enc = *ad++;
				else if (aug[i] == 'L')
					ad++;
				else if (aug[i] == 'P')
					ad += 1 + enc_size(*ad);
				else if (aug[i] != 'S' && aug[i] != 'B')
					break;
			}
			c = VEC_PUSH(cies, nr_cies, cap_cies);
			c->off = off;
			c->enc = enc;
			continue;
		}
		for (k = 0; k < nr_cies && cies[k].off != e.fde.CIE_pointer; k++)
			;
		if (k == nr_cies)
			continue;
		enc = cies[k].enc;
		p = e.fde.start;
		if (!enc_size(enc) || p + enc_size(enc) > e.fde.end)
			continue;
		memcpy(&v, p, enc_size(enc));
		if ((enc & 0x0f) == 0x0b) /* sign-extend a 4-byte one */
			v = (__u64)(__s64)(__s32)(__u32)v;
		else if ((enc & 0x0f) == 0x0a)
			v = (__u64)(__s64)(__s16)(__u16)v;
		if ((enc & 0x70) == 0x10) /* pcrel: from the field's own address */
			v += sh.sh_addr + (__u64)(p - (const __u8 *)d->d_buf);
		else if (enc & 0x70)
			continue;
		*VEC_PUSH(*starts, *n, cap) = v;
	}
	free(cies);
	return *n ? 0 : -ENODATA;
}

/*
 * Where a register is saved at rsp + off: DW_CFA_expression (DW_OP_breg7 off), which libdw
 * gives after the DW_OP_call_frame_cfa DWARF pushes first. True with *off.
 */
static bool saved_at_rsp(Dwarf_Frame *fr, int reg, __s32 *off)
{
	Dwarf_Op *ops, mem[3];
	size_t nops;

	if (dwarf_frame_register(fr, reg, mem, &ops, &nops) || !nops)
		return false;
	if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa)
		ops++, nops--;
	if (nops != 1 || ops[0].atom != DW_OP_breg0 + DW_RSP || (__s64)ops[0].number < 0 ||
	    (__s64)ops[0].number > INT16_MAX)
		return false;
	*off = (__s32)ops[0].number;
	return true;
}

/*
 * A signal frame as glibc's __restore_rt describes it: CFA = *(rsp + N) (the interrupted rsp
 * in the ucontext), rip and rbp saved at rsp + M, rsp + K.
 */
static bool signal_rule(Dwarf_Frame *fr, struct tt_cfi_row *row)
{
	Dwarf_Op *ops;
	size_t nops;
	bool signalp = false;
	__s32 rbp;

	dwarf_frame_info(fr, NULL, NULL, &signalp);
	if (!signalp || dwarf_frame_cfa(fr, &ops, &nops) || nops != 2 ||
	    ops[0].atom != DW_OP_breg0 + DW_RSP || ops[1].atom != DW_OP_deref ||
	    (__s64)ops[0].number < 0 || (__s64)ops[0].number > INT16_MAX ||
	    !saved_at_rsp(fr, DW_RA, &row->ra_off) || !saved_at_rsp(fr, DW_RBP, &rbp))
		return false;
	row->kind = TT_CFI_SIGNAL;
	row->cfa_off = (__s32)ops[0].number;
	row->rbp = TT_CFI_RBP_SAVED;
	row->rbp_off = (__s16)rbp;
	return true;
}

/* The rule of a CFI row in our terms; false where it has none we can follow. */
static bool row_rule(Dwarf_Frame *fr, struct tt_cfi_row *row)
{
	Dwarf_Op *ops, mem[3];
	size_t nops;
	__s64 off;

	row->kind = TT_CFI_NONE;
	row->rbp = TT_CFI_RBP_SAME;
	row->rbp_off = 0;
	row->cfa_off = 0;
	row->ra_off = 0;
	if (signal_rule(fr, row))
		return true;
	/* the return address: at CFA - 8, or undefined in the outermost frame */
	if (dwarf_frame_register(fr, DW_RA, mem, &ops, &nops))
		return false;
	if (!nops && ops == mem) {
		row->kind = TT_CFI_END;
		return true;
	}
	if (nops != 2 || ops[0].atom != DW_OP_call_frame_cfa || ops[1].atom != DW_OP_plus_uconst ||
	    (__s64)ops[1].number != -8)
		return false;
	if (dwarf_frame_cfa(fr, &ops, &nops) || nops != 1)
		return false;
	if (ops[0].atom == DW_OP_bregx && (ops[0].number == DW_RSP || ops[0].number == DW_RBP))
		off = (__s64)ops[0].number2,
		row->kind = ops[0].number == DW_RSP ? TT_CFI_RSP : TT_CFI_RBP;
	else if (ops[0].atom == DW_OP_breg0 + DW_RSP || ops[0].atom == DW_OP_breg0 + DW_RBP)
		off = (__s64)ops[0].number,
		row->kind = ops[0].atom == DW_OP_breg0 + DW_RSP ? TT_CFI_RSP : TT_CFI_RBP;
	else
		return false;
	if (off < INT32_MIN || off > INT32_MAX) {
		row->kind = TT_CFI_NONE;
		return false;
	}
	row->cfa_off = (__s32)off;
	if (dwarf_frame_register(fr, DW_RBP, mem, &ops, &nops))
		row->rbp = TT_CFI_RBP_LOST;
	else if (!nops)
		row->rbp = ops ? TT_CFI_RBP_LOST : TT_CFI_RBP_SAME;
	else if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa)
		row->rbp = TT_CFI_RBP_SAVED;
	else if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa &&
		 ops[1].atom == DW_OP_plus_uconst && (__s64)ops[1].number >= INT16_MIN &&
		 (__s64)ops[1].number <= INT16_MAX)
		row->rbp = TT_CFI_RBP_SAVED, row->rbp_off = (__s16)(__s64)ops[1].number;
	else
		row->rbp = TT_CFI_RBP_LOST;
	return true;
}

static bool same_rule(const struct tt_cfi_row *a, const struct tt_cfi_row *b)
{
	return a->kind == b->kind && a->rbp == b->rbp && a->rbp_off == b->rbp_off &&
	       a->cfa_off == b->cfa_off && a->ra_off == b->ra_off;
}

/* Append a row unless it repeats the rule of the one before it. */
static void add_row(struct cfi_table *t, size_t *cap, __u64 pc, const struct tt_cfi_row *rule)
{
	struct tt_cfi_row *r;

	if (pc > UINT32_MAX)
		return;
	if (t->n && t->rows[t->n - 1].pc == pc) {
		t->rows[t->n - 1] = *rule; /* an empty row before: the later one rules */
		t->rows[t->n - 1].pc = (__u32)pc;
		return;
	}
	if (t->n && same_rule(&t->rows[t->n - 1], rule))
		return;
	r = VEC_PUSH(t->rows, t->n, *cap);
	*r = *rule;
	r->pc = (__u32)pc;
}

static void load_segments(Elf *elf, struct cfi_table *t)
{
	size_t phnum;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &phnum))
		return;
	/* the executable ones: a read-only segment can share the page an executable one starts in
	 */
	for (size_t i = 0; i < phnum && t->nr_segs < 16; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		t->segs[t->nr_segs].offset = ph.p_offset;
		t->segs[t->nr_segs].vaddr = ph.p_vaddr;
		t->segs[t->nr_segs].filesz = ph.p_filesz;
		t->nr_segs++;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

int cfitab_build(const char *path, struct cfi_table *t)
{
	static const struct tt_cfi_row none = {.kind = TT_CFI_NONE};
	__u64 *starts = NULL;
	size_t nstarts = 0, cap = 0;
	Dwarf_CFI *cfi = NULL;
	Elf *elf = NULL;
	int fd, err;

	memset(t, 0, sizeof(*t));
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	load_segments(elf, t);
	err = fde_starts(elf, &starts, &nstarts);
	if (err)
		err = fde_starts_scan(elf, &starts, &nstarts);
	if (err)
		goto cleanup;
	cfi = dwarf_getcfi_elf(elf);
	if (!cfi) {
		err = -ENODATA;
		goto cleanup;
	}
	qsort(starts, nstarts, sizeof(*starts), cmp_u64);
	for (size_t i = 0; i < nstarts; i++) {
		__u64 limit = i + 1 < nstarts ? starts[i + 1] : UINT64_MAX, pc = starts[i];

		/* each row of the FDE: libdw says the range its rule holds for */
		while (pc < limit) {
			Dwarf_Frame *fr = NULL;
			Dwarf_Addr s, e;
			struct tt_cfi_row row;

			if (dwarf_cfi_addrframe(cfi, pc, &fr))
				break;
			dwarf_frame_info(fr, &s, &e, NULL);
			if (!row_rule(fr, &row))
				t->unsupported++;
			add_row(t, &cap, pc, &row);
			free(fr);
			if (e <= pc)
				break;
			pc = e;
		}
		/* code between FDEs has no CFI: a row says so */
		if (pc < limit)
			add_row(t, &cap, pc, &none);
	}
	err = 0;

cleanup:
	free(starts);
	/* the CFI from dwarf_getcfi_elf belongs to us */
	if (cfi)
		dwarf_cfi_end(cfi);
	if (elf)
		elf_end(elf);
	close(fd);
	if (err)
		cfitab_free(t);
	return err;
}

void cfitab_free(struct cfi_table *t)
{
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

int cfitab_bias(const struct cfi_table *t, __u64 start, __u64 pgoff, __u64 *bias)
{
	for (unsigned i = 0; i < t->nr_segs; i++) {
		__u64 off = t->segs[i].offset & ~0xfffULL;

		/* mappings start on pages: the segment's page holds its first byte */
		if (pgoff >= off && pgoff < t->segs[i].offset + t->segs[i].filesz) {
			*bias = start - ((t->segs[i].vaddr & ~0xfffULL) + (pgoff - off));
			return 0;
		}
	}
	return -ENOENT;
}

const struct tt_cfi_row *cfitab_find(const struct cfi_table *t, __u64 pc)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].pc <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}
