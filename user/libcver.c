// SPDX-License-Identifier: GPL-2.0
/*
 * libcver.c - see libcver.h.
 *
 * gnu_get_libc_version() is exported by every glibc since 2.1 and returns a pointer to the
 * version string; on x86_64 its code is `lea rax, [rip + X]; ret`, so X is the string's
 * address. The banner glibc prints when run as a program ("GNU C Library (Debian GLIBC
 * 2.41-12) stable release version 2.41.") names the distribution's build, which says more than
 * the version when a fix was backported (doc/glibc-futex.md: the 2.41 condvar on 2.38-2.40).
 */
#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libcver.h"
#include "probesite.h"

int libcver_parse(const char *version, __u16 *major, __u16 *minor)
{
	unsigned a, b;

	if (sscanf(version, "%u.%u", &a, &b) != 2 || a > 0xffff || b > 0xffff)
		return -EINVAL;
	*major = (__u16)a;
	*minor = (__u16)b;
	return 0;
}

/* The "(...)" of the banner in a read-only section, "" when there is none. */
static void read_banner(Elf *e, char *out, size_t len)
{
	static const char tag[] = "GNU C Library (";
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	out[0] = 0;
	if (elf_getshdrstrndx(e, &shstrndx))
		return;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;
		const char *p, *end;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".rodata"))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf)
			return;
		p = memmem(d->d_buf, d->d_size, tag, sizeof(tag) - 1);
		if (!p)
			return;
		p += sizeof(tag) - 1;
		end = memchr(p, ')', (const char *)d->d_buf + d->d_size - p);
		if (end && (size_t)(end - p) < len) {
			memcpy(out, p, end - p);
			out[end - p] = 0;
		}
		return;
	}
}

int libcver_read(const char *path, struct tt_libc *lc)
{
	int fd, err = -ENOENT;
	Elf *e = probesite_open_elf(path, &fd);
	__u8 code[8];
	__u64 func;
	long long off;

	if (!e)
		return -ENOEXEC;
	if (!probesite_elf_symbol(e, "gnu_get_libc_version", false, &func, NULL))
		func = 0;
	off = func ? probesite_vaddr_to_off(e, func, true) : -1;
	/* lea rax, [rip + disp32] (48 8d 05) then ret (c3) */
	if (off >= 0 && pread(fd, code, sizeof(code), off) == sizeof(code) && code[0] == 0x48 &&
	    code[1] == 0x8d && code[2] == 0x05 && code[7] == 0xc3) {
		__s32 disp;
		long long soff;
		char buf[sizeof(lc->version)];
		ssize_t n;

		memcpy(&disp, code + 3, 4);
		soff = probesite_vaddr_to_off(e, func + 7 + (__s64)disp, false);
		n = soff >= 0 ? pread(fd, buf, sizeof(buf) - 1, soff) : -1;
		if (n > 0) {
			buf[n] = 0;
			snprintf(lc->version, sizeof(lc->version), "%s", buf);
			if (!libcver_parse(lc->version, &lc->major, &lc->minor)) {
				lc->flags |= TT_LIBC_GLIBC;
				err = 0;
			}
		}
	}
	if (!err)
		read_banner(e, lc->build, sizeof(lc->build));
	elf_end(e);
	close(fd);
	return err;
}
