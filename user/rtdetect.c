// SPDX-License-Identifier: GPL-2.0
/* rtdetect.c - see rtdetect.h. musl's internals: doc/musl-futex.md. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "rtdetect.h"

bool rtdetect_has(const struct rt_found *f, enum tt_runtime_kind k)
{
	return f->seen & (1u << k);
}

static int add(struct rt_found *f, enum tt_runtime_kind k, __u32 flags, const char *version,
	       const char *shown)
{
	struct tt_runtime *r;

	if (rtdetect_has(f, k) || f->n == RT_MAX)
		return 0;
	f->seen |= 1u << k;
	r = &f->rec[f->n++];
	memset(r, 0, sizeof(*r));
	r->hdr.kind = TT_REC_RUNTIME;
	r->hdr.size = sizeof(*r);
	r->runtime = k;
	r->flags = flags;
	snprintf(r->version, sizeof(r->version), "%s", version ? version : "");
	snprintf(r->path, sizeof(r->path), "%s", shown);
	return 1;
}

/*
 * Functions only musl has (src/thread/, src/internal/): a static program linked with musl keeps
 * them in its symbol table unless stripped. glibc has none of these names.
 */
static bool is_musl_symbol(const char *n)
{
	static const char *const names[] = {
	    "__private_cond_signal",   "__syscall_cp_c", "__timedwait_cp",
	    "__pthread_tsd_run_dtors", "__init_tp",	 "__tl_lock"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(n, names[i]))
			return true;
	return false;
}

/*
 * Go's build info (Go 1.18+, runtime/debug): 16 bytes "\xff Go buildinf:" + pointer size +
 * flags, padded to 32; with flag 2 the version follows inline as a varint-prefixed string.
 */
static void go_version(Elf_Scn *scn, char *out, size_t len)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	const unsigned char *p;
	unsigned n;

	out[0] = 0;
	if (!d || !d->d_buf || d->d_size < 34)
		return;
	p = d->d_buf;
	if (memcmp(p, "\xff Go buildinf:", 14) || !(p[15] & 2))
		return;
	n = p[32];
	if (n & 0x80 || n == 0 || 33 + n > d->d_size || n >= len)
		return;
	memcpy(out, p + 33, n);
	out[n] = 0;
}

int rtdetect_exe(const char *path, const char *shown, struct rt_found *f)
{
	bool go = false, musl = false, musl_interp = false, has_interp = false, syms = false;
	bool abi_tag = false;
	char version[32] = "";
	Elf_Scn *scn = NULL;
	size_t shstrndx, nph;
	int fd, added = 0;
	Elf *e;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getshdrstrndx(e, &shstrndx) ||
	    elf_getphdrnum(e, &nph))
		goto cleanup;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		char interp[256] = "";

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP)
			continue;
		has_interp = true;
		if (ph.p_filesz < sizeof(interp) &&
		    pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) == (ssize_t)ph.p_filesz)
			musl_interp = strstr(interp, "ld-musl") != NULL;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		abi_tag |= name && !strcmp(name, ".note.ABI-tag");
		if (name && !strcmp(name, ".go.buildinfo")) {
			go = true;
			go_version(scn, version, sizeof(version));
		}
		if (sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		syms = true;
		d = elf_getdata(scn, NULL);
		for (size_t k = 0; d && k < sh.sh_size / sh.sh_entsize && !(musl && go); k++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, (int)k, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			n = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!n)
				continue;
			go |= !strcmp(n, "runtime.main");
			musl |= !has_interp && is_musl_symbol(n);
		}
	}
	/*
	 * Stripped and static: glibc's start files always bring a .note.ABI-tag (strip keeps it),
	 * musl's bring none; nor does Go, found above by its own section.
	 */
	if (!syms && !has_interp && !go && !abi_tag && elf_kind(e) == ELF_K_ELF)
		musl = true;
	if (go)
		added += add(f, TT_RT_GO, has_interp ? 0 : TT_RT_STATIC, version, shown);
	if (musl || musl_interp)
		added += add(f, TT_RT_MUSL, (musl ? TT_RT_STATIC : 0) | (syms ? 0 : TT_RT_STRIPPED),
			     NULL, shown);
cleanup:
	if (e)
		elf_end(e);
	close(fd);
	return added;
}

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

int rtdetect_maps(pid_t pid, const struct proc_maps *maps, struct rt_found *f)
{
	int added = 0;

	for (size_t i = 0; i < maps->n; i++) {
		const char *p = maps->v[i].path, *b = base_name(p);

		if (p[0] != '/')
			continue;
		if (!strcmp(b, "libjvm.so"))
			added += add(f, TT_RT_JVM, 0, NULL, p);
		/* musl's dynamic loader is its libc: ld-musl-x86_64.so.1 (libc.musl-* on Alpine) */
		if (!strncmp(b, "ld-musl-", 8) || !strncmp(b, "libc.musl-", 10))
			added += add(f, TT_RT_MUSL, 0, NULL, p);
	}
	/* the executable itself: a static musl program or a Go binary */
	if (maps->n && maps->v[0].path[0] == '/' && strcmp(f->exe_seen, maps->v[0].path)) {
		char path[4200];

		snprintf(f->exe_seen, sizeof(f->exe_seen), "%s", maps->v[0].path);
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, maps->v[0].path);
		int r = rtdetect_exe(path, maps->v[0].path, f);

		if (r > 0)
			added += r;
	}
	return added;
}
