// SPDX-License-Identifier: GPL-2.0
/* symbols.c - see symbols.h. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <endian.h>
#include <libelf.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <dwarf.h>
#include <lzma.h>
#include <zlib.h>
#include <libiberty/demangle.h>
#include <sys/stat.h>
#include "symbols.h"
#include "procfs.h"

struct elf_sym {
	__u64 start, size;
	char *name;
	bool global;
};

struct elf_seg {
	__u64 offset, vaddr, memsz, filesz;
	__u32 flags; /* PF_R, PF_W, PF_X */
};

struct module {
	char *path;
	char *open_path; /* how it was opened: map_files, the path in the target's root or ours */
	char build_id[128];
	dev_t dev; /* the file opened, so that it is never taken for its own debug file */
	ino_t ino;
	bool loaded, ok;
	bool dwarf_tried;
	Dwarf *dwarf; /* line tables and inlines, from the debug file or the binary */
	int dwarf_fd;
	char *debuglink;     /* .gnu_debuglink file name */
	__u32 debuglink_crc; /* and the CRC32 of the debug file it names */
	bool has_debuglink_crc;
	char *debug_path; /* the separate debug file found, if any */
	__u8 *debugdata;  /* .gnu_debugdata: MiniDebugInfo, an xz-compressed ELF */
	size_t debugdata_len;
	struct elf_sym *funcs, *objects;
	size_t nr_funcs, cap_funcs, nr_objects, cap_objects;
	struct elf_seg *segs;
	size_t nr_segs, cap_segs;
	/*
	 * An alias: 1 + the index of the module of the same file (device, inode) met under
	 * another path (a chroot's process maps it as /usr/bin/python3.13 in perf's records,
	 * as ROOT/usr/bin/python3.13 in /proc/PID/maps): its tables are loaded once, not twice
	 * (a second load of a large debug file held the loop up 0.46 s).
	 */
	size_t same;
};

struct ksym {
	__u64 addr;
	char *name;
};

/* A JIT's /tmp/perf-PID.map entry. */
struct jit_sym {
	__u64 start, size;
	char *name;
};

struct symbolizer {
	pid_t pid;
	char *root;  /* the target's "/": /proc/PID/root or its held fd, a test's dir, or NULL */
	int root_fd; /* /proc/PID/root held open once read, -1 before */
	struct jit_sym *jit;
	size_t nr_jit, cap_jit;
	off_t jit_size;		  /* size of the map file when last read */
	bool perf_map_refused;	  /* said once */
	struct proc_maps maps;	  /* the latest read */
	struct proc_maps retired; /* mappings seen earlier that are gone now */
	struct module *mods;
	size_t nr_mods, cap_mods;
	struct ksym *ksyms;
	size_t nr_ksyms, cap_ksyms;
	bool ksyms_loaded;
	void (*refresh_hook)(void *);
	void *hook_ctx;
	unsigned generation;
};

/* The C++ runtime's demangler (libstdc++). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/*
 * Rust names go to libiberty's Rust demangler: v0 ("_R...") and legacy ones
 * ("_ZN...17h<16 hex>E", which it tells from C++ by that hash); other "_Z" names to the C++
 * runtime's. Without DMGL_VERBOSE the legacy hash and v0's crate disambiguators are left out,
 * as in Rust's own backtraces and rustfilt: they change with every build and would split one
 * function's frames between two builds' folded stacks. rust_demangle is called rather than
 * cplus_demangle(DMGL_RUST), which only switches to it, because cplus_demangle's object pulls
 * in libiberty's xmalloc.o, whose xcalloc clashes with util.c's at link time.
 */
char *symbol_display_name(const char *name)
{
	int status = -1;
	char *d = NULL;

	if (name[0] == '_' && (name[1] == 'R' || name[1] == 'Z'))
		d = rust_demangle(name, DMGL_NO_OPTS);
	if (d)
		return d;
	if (name[0] == '_' && name[1] == 'Z')
		d = __cxa_demangle(name, NULL, NULL, &status);
	return d && !status ? d : xstrdup(name);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Better name for a symbol at the same address: global, fewer leading '_', shorter. */
static bool better_name(const struct elf_sym *a, const struct elf_sym *b)
{
	size_t ua = strspn(a->name, "_"), ub = strspn(b->name, "_");

	if (a->global != b->global)
		return a->global;
	if (ua != ub)
		return ua < ub;
	return strlen(a->name) < strlen(b->name);
}

static int cmp_sym(const void *a, const void *b)
{
	const struct elf_sym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return better_name(x, y) ? -1 : better_name(y, x) ? 1 : 0;
}

static void sort_syms(struct elf_sym *v, size_t *n)
{
	size_t j = 0;

	sort_array(v, *n, sizeof(*v), cmp_sym);
	/* Keep the best name per start address. */
	for (size_t i = 0; i < *n; i++) {
		if (j && v[j - 1].start == v[i].start) {
			if (v[i].size > v[j - 1].size)
				v[j - 1].size = v[i].size;
			free(v[i].name);
			continue;
		}
		v[j++] = v[i];
	}
	*n = j;
}

static void load_symtab(struct module *m, Elf *elf, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	if (!data)
		return;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		struct elf_sym *e;
		int type;

		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_OBJECT && type != STT_TLS &&
		    type != STT_GNU_IFUNC)
			continue;
		if (type == STT_TLS)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		if (type == STT_OBJECT)
			e = VEC_PUSH(m->objects, m->nr_objects, m->cap_objects);
		else
			e = VEC_PUSH(m->funcs, m->nr_funcs, m->cap_funcs);
		e->start = sym.st_value;
		e->size = sym.st_size;
		e->name = symbol_display_name(name);
		e->global = GELF_ST_BIND(sym.st_info) != STB_LOCAL;
	}
}

/* .gnu_debuglink: the debug file's name, padded to 4 bytes, then its CRC32 in the ELF's order. */
static void load_debuglink(struct module *m, Elf *elf, const Elf_Data *d)
{
	size_t crc_off = (strlen(d->d_buf) + 4) & ~(size_t)3;
	const char *ident = elf_getident(elf, NULL);
	__u32 crc;

	m->debuglink = xstrdup(d->d_buf);
	if (crc_off + sizeof(crc) > d->d_size || !ident)
		return;
	memcpy(&crc, (const char *)d->d_buf + crc_off, sizeof(crc));
	m->debuglink_crc = ident[EI_DATA] == ELFDATA2MSB ? be32toh(crc) : le32toh(crc);
	m->has_debuglink_crc = true;
}

/*
 * The build-id of an ELF as lowercase hex into hex (empty when it has none): the note owned by
 * "GNU" only. Type 3 is also NT_STAPSDT, and a libc built with SystemTap probes (Debian sid's
 * 2.43) has a .note.stapsdt of them after its build-id note.
 */
static void elf_build_id_hex(Elf *elf, char *hex, size_t len)
{
	const unsigned char *id;
	ssize_t n = dwelf_elf_gnu_build_id(elf, (const void **)&id);

	hex[0] = 0;
	for (ssize_t i = 0; i < n && (size_t)(2 * i + 2) < len; i++)
		sprintf(hex + 2 * i, "%02x", id[i]);
}

/*
 * Load the symbol tables of an ELF. For the program file itself (main) also its segments,
 * build-id, .gnu_debuglink and .gnu_debugdata. Returns true if it had a full .symtab.
 */
static bool load_elf(struct module *m, Elf *elf, bool main)
{
	Elf_Scn *scn = NULL;
	bool has_symtab = false;
	size_t phnum = 0, shstrndx = 0;

	if (elf_kind(elf) != ELF_K_ELF)
		return false;
	if (main && !elf_getphdrnum(elf, &phnum)) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;
			struct elf_seg *s;

			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
				continue;
			s = VEC_PUSH(m->segs, m->nr_segs, m->cap_segs);
			s->offset = ph.p_offset;
			s->vaddr = ph.p_vaddr;
			s->memsz = ph.p_memsz;
			s->filesz = ph.p_filesz;
			s->flags = ph.p_flags;
		}
	}
	if (main)
		elf_build_id_hex(elf, m->build_id, sizeof(m->build_id));
	elf_getshdrstrndx(elf, &shstrndx);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			load_symtab(m, elf, scn, &sh);
			if (sh.sh_type == SHT_SYMTAB)
				has_symtab = true;
			continue;
		}
		if (!main)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf)
			continue;
		if (name && !strcmp(name, ".gnu_debuglink") && d->d_size > 4 &&
		    memchr(d->d_buf, 0, d->d_size)) {
			load_debuglink(m, elf, d);
		} else if (name && !strcmp(name, ".gnu_debugdata") && d->d_size) {
			m->debugdata = xcalloc(1, d->d_size);
			memcpy(m->debugdata, d->d_buf, d->d_size);
			m->debugdata_len = d->d_size;
		}
	}
	return has_symtab;
}

static int file_crc32(int fd, __u32 *crc)
{
	unsigned char buf[16384];
	uLong c = crc32(0, Z_NULL, 0);
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		c = crc32(c, buf, (uInt)n);
		off += n;
	}
	if (n < 0)
		return -errno;
	*crc = (__u32)c;
	return 0;
}

/*
 * Whether the file at fd is m's debug file: the same build-id when both have one, else the
 * CRC32 that .gnu_debuglink recorded (read only then: it reads the whole file). A debug file
 * of another build, as a host's for a container's library of the same path, would name the
 * wrong function at every address.
 */
static bool is_debug_file_of(const struct module *m, int fd)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	char id[sizeof(m->build_id)] = "";
	__u32 crc;
	bool ok = false;

	if (elf && elf_kind(elf) == ELF_K_ELF) {
		elf_build_id_hex(elf, id, sizeof(id));
		if (id[0] && m->build_id[0])
			ok = !strcmp(id, m->build_id);
		else if (m->has_debuglink_crc)
			ok = !file_crc32(fd, &crc) && crc == m->debuglink_crc;
	}
	if (elf)
		elf_end(elf);
	return ok;
}

/* Open path if it is m's debug file (and not m itself). Returns an fd or -1. */
static int open_debug_candidate(const struct module *m, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || (st.st_dev == m->dev && st.st_ino == m->ino) ||
	    !is_debug_file_of(m, fd)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * m's debug file under one root ("" for ours), in GDB's order: by build-id, then by
 * .gnu_debuglink next to the module, in its .debug/ and under /usr/lib/debug + its directory.
 * Returns an fd with the file's path in path, or -1.
 */
static int find_debug_in(const char *root, const struct module *m, char *path, size_t len)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(m->path, '/');
	int fd;

	if (m->build_id[0]) {
		snprintf(path, len, "%s/usr/lib/debug/.build-id/%.2s/%s.debug", root, m->build_id,
			 m->build_id + 2);
		fd = open_debug_candidate(m, path);
		if (fd >= 0)
			return fd;
	}
	if (!m->debuglink || strchr(m->debuglink, '/'))
		return -1;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - m->path) : 0, m->path);
	for (int i = 0; i < 3; i++) {
		if (i == 0)
			snprintf(path, len, "%s%s/%s", root, dir, m->debuglink);
		else if (i == 1)
			snprintf(path, len, "%s%s/.debug/%s", root, dir, m->debuglink);
		else
			snprintf(path, len, "%s/usr/lib/debug%s/%s", root, dir, m->debuglink);
		fd = open_debug_candidate(m, path);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/*
 * The separate debug file of a module, the target's own root first: a container's or chroot's
 * -dbg packages describe its builds, while the host's /usr/lib/debug holds other builds of the
 * same paths, or nothing. Then ours, as for a process that shares our root. Candidates of
 * another build are passed over (is_debug_file_of), so the order only matters when both
 * roots hold a file of the right build.
 */
static int open_debug_file(struct symbolizer *s, struct module *m)
{
	char path[PATH_MAX];
	int fd = -1;

	/* checked again: a path through the held root names another file after a chroot */
	if (m->debug_path) {
		fd = open_debug_candidate(m, m->debug_path);
		if (fd >= 0)
			return fd;
		free(m->debug_path);
		m->debug_path = NULL;
	}
	if (s->root)
		fd = find_debug_in(s->root, m, path, sizeof(path));
	if (fd < 0)
		fd = find_debug_in("", m, path, sizeof(path));
	if (fd >= 0)
		m->debug_path = xstrdup(path);
	return fd;
}

/* MiniDebugInfo: .gnu_debugdata is an xz-compressed ELF holding a .symtab. */
static void load_minidebuginfo(struct module *m)
{
	lzma_stream xz = LZMA_STREAM_INIT;
	__u8 *out = NULL;
	size_t cap = 0;
	Elf *elf;
	lzma_ret ret;

	if (lzma_stream_decoder(&xz, 256u << 20, 0) != LZMA_OK)
		return;
	xz.next_in = m->debugdata;
	xz.avail_in = m->debugdata_len;
	do {
		grow((void **)&out, &cap, cap ? cap * 2 : 4 * m->debugdata_len + 4096, 1);
		xz.next_out = out + xz.total_out;
		xz.avail_out = cap - xz.total_out;
		ret = lzma_code(&xz, LZMA_FINISH);
	} while (ret == LZMA_OK && cap < (256u << 20));
	if (ret == LZMA_STREAM_END) {
		elf = elf_memory((char *)out, xz.total_out);
		if (elf) {
			load_elf(m, elf, false);
			elf_end(elf);
		}
	}
	lzma_end(&xz);
	free(out);
}

/*
 * Hold the target's root open while it lives and name the files under it through that fd:
 * they stay reachable after it exits, when its last records are still being symbolized. The
 * fd keeps its number (dup3), so the paths made with it stay valid; it follows a chroot.
 */
static void hold_root(struct symbolizer *s)
{
	char dir[96], path[112];
	int fd;

	snprintf(path, sizeof(path), "%s/root", procfs_dir(s->pid, dir, sizeof(dir)));
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (s->root_fd >= 0) {
		dup3(fd, s->root_fd, O_CLOEXEC);
		close(fd);
		return;
	}
	s->root_fd = fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	free(s->root);
	s->root = xstrdup(path);
}

/*
 * Open the file of mapping me (NULL: of path): through map_files, which reaches it even when
 * deleted or in another mount namespace, else by its path in the target's root (a mapping
 * gone with dlclose, or learned from perf with other bounds than its VMA's), else by the same
 * path in ours. The path used goes into open_path.
 */
static int open_mapped_file(struct symbolizer *s, const struct map_entry *me, const char *path,
			    char *open_path, size_t len)
{
	int fd;

	if (me && s->pid > 0) {
		snprintf(open_path, len, "/proc/%d/map_files/%llx-%llx", s->pid,
			 (unsigned long long)me->start, (unsigned long long)me->end);
		fd = open(open_path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	if (s->pid > 0)
		hold_root(s);
	if (s->root) {
		snprintf(open_path, len, "%s%s", s->root, path);
		fd = open(open_path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	snprintf(open_path, len, "%s", path);
	return open(open_path, O_RDONLY | O_CLOEXEC);
}

static void module_load(struct symbolizer *s, struct module *m, const struct map_entry *me)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;
	Elf *elf;
	bool full;

	m->loaded = true;
	fd = open_mapped_file(s, me, m->path, path, sizeof(path));
	m->open_path = xstrdup(path);
	if (fd < 0)
		return;
	if (!fstat(fd, &st)) {
		m->dev = st.st_dev;
		m->ino = st.st_ino;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	m->ok = elf != NULL;
	full = elf && load_elf(m, elf, true);
	if (elf)
		elf_end(elf);
	close(fd);
	if (m->ok && !full) {
		/* stripped: the full .symtab may sit in a debug file (libc6-dbg) or MiniDebugInfo
		 */
		int dfd = open_debug_file(s, m);

		if (dfd >= 0) {
			elf = elf_begin(dfd, ELF_C_READ_MMAP, NULL);
			full = elf && load_elf(m, elf, false);
			if (elf)
				elf_end(elf);
			close(dfd);
		}
		if (!full && m->debugdata)
			load_minidebuginfo(m);
	}
	sort_syms(m->funcs, &m->nr_funcs);
	sort_syms(m->objects, &m->nr_objects);
}

static struct module *module_get(struct symbolizer *s, const char *path, const struct map_entry *me)
{
	struct module *m;

	char open_path[PATH_MAX];
	struct stat st;
	int fd;

	for (size_t i = 0; i < s->nr_mods; i++)
		if (!strcmp(s->mods[i].path, path))
			return s->mods[i].same ? &s->mods[s->mods[i].same - 1] : &s->mods[i];
	fd = open_mapped_file(s, me, path, open_path, sizeof(open_path));
	if (fd >= 0 && !fstat(fd, &st)) {
		for (size_t i = 0; i < s->nr_mods; i++) {
			const struct module *o = &s->mods[i];

			if (o->same || !o->ok || o->dev != st.st_dev || o->ino != st.st_ino)
				continue;
			close(fd);
			m = VEC_PUSH(s->mods, s->nr_mods, s->cap_mods);
			m->path = xstrdup(path);
			m->loaded = true;
			m->same = i + 1;
			return &s->mods[i];
		}
	}
	if (fd >= 0)
		close(fd);
	m = VEC_PUSH(s->mods, s->nr_mods, s->cap_mods);
	m->path = xstrdup(path);
	module_load(s, m, me);
	return m;
}

static const struct elf_sym *find_sym(const struct elf_sym *v, size_t n, __u64 addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	/* Only a symbol whose extent covers addr names it: never guess from the nearest one. */
	if (addr < v[lo - 1].start + (v[lo - 1].size ? v[lo - 1].size : 1))
		return &v[lo - 1];
	return NULL;
}

/* File offset to ELF virtual address through the PT_LOAD segments. */
static bool off_to_vaddr(const struct module *m, __u64 off, __u64 *vaddr)
{
	for (size_t i = 0; i < m->nr_segs; i++) {
		const struct elf_seg *sg = &m->segs[i];

		/* memsz, not filesz: .bss objects (zero-initialised locks) live past the file part
		 */
		if (off >= sg->offset && off < sg->offset + (sg->memsz ? sg->memsz : 1)) {
			*vaddr = off - sg->offset + sg->vaddr;
			return true;
		}
	}
	return false;
}

/* The mapping at file offset 0 of the loaded copy of e's file that e belongs to. */
static const struct map_entry *copy_base(const struct proc_maps *maps, const struct map_entry *e)
{
	const struct map_entry *base = NULL;

	for (size_t i = 0; i < maps->n; i++) {
		const struct map_entry *o = &maps->v[i];

		if (!o->pgoff && o->start <= e->start && !strcmp(o->path, e->path) &&
		    (!base || o->start > base->start))
			base = o;
	}
	return base;
}

/*
 * addr (in mapping e of module m) as an ELF virtual address. The load bias comes from the
 * copy's mapping at offset 0: a page-aligned file offset alone can fall in two segments.
 */
static bool addr_to_vaddr(struct symbolizer *s, const struct map_entry *e, const struct module *m,
			  __u64 addr, __u64 *vaddr)
{
	const struct map_entry *base;
	__u64 first = (__u64)-1, off = addr - e->start + e->pgoff;

	/*
	 * The segment the mapping was made for has its permissions: lld starts the code in the
	 * page where the read-only segment ends, so both map file page 0, and only the
	 * executable one says where code is.
	 */
	for (size_t i = 0; i < m->nr_segs; i++) {
		const struct elf_seg *sg = &m->segs[i];

		if (!!(sg->flags & PF_X) == (e->perms[2] == 'x') &&
		    !!(sg->flags & PF_W) == (e->perms[1] == 'w') &&
		    e->pgoff >= (sg->offset & ~0xfffULL) && off >= sg->offset &&
		    off < sg->offset + (sg->memsz ? sg->memsz : 1)) {
			*vaddr = off - sg->offset + sg->vaddr;
			return true;
		}
	}
	base = copy_base(&s->maps, e);

	if (!base)
		base = copy_base(&s->retired, e);
	for (size_t i = 0; base && i < m->nr_segs; i++)
		if (m->segs[i].offset == 0 && m->segs[i].vaddr < first)
			first = m->segs[i].vaddr;
	if (base && first != (__u64)-1) {
		*vaddr = addr - (base->start - (first & ~0xfffULL));
		return true;
	}
	return off_to_vaddr(m, addr - e->start + e->pgoff, vaddr);
}

struct symbolizer *symbolizer_new(pid_t pid, bool read_maps)
{
	struct symbolizer *s = xcalloc(1, sizeof(*s));
	char root[64];

	elf_version(EV_CURRENT);
	s->pid = pid;
	s->root_fd = -1;
	if (pid > 0) {
		/* until hold_root: resolved at each open, as a COMMAND may chroot after this */
		snprintf(root, sizeof(root), "/proc/%d/root", pid);
		s->root = xstrdup(root);
	}
	if (pid > 0 && read_maps)
		symbolizer_refresh_maps(s);
	return s;
}

struct symbolizer *symbolizer_new_root(const char *root)
{
	struct symbolizer *s = symbolizer_new(0, false);

	s->root = xstrdup(root);
	return s;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr_mods; i++) {
		struct module *m = &s->mods[i];

		for (size_t j = 0; j < m->nr_funcs; j++)
			free(m->funcs[j].name);
		for (size_t j = 0; j < m->nr_objects; j++)
			free(m->objects[j].name);
		free(m->funcs);
		free(m->objects);
		free(m->segs);
		free(m->path);
		free(m->open_path);
		free(m->debuglink);
		free(m->debug_path);
		free(m->debugdata);
		if (m->dwarf) {
			dwarf_end(m->dwarf);
			close(m->dwarf_fd);
		}
	}
	for (size_t i = 0; i < s->nr_ksyms; i++)
		free(s->ksyms[i].name);
	for (size_t i = 0; i < s->nr_jit; i++)
		free(s->jit[i].name);
	free(s->jit);
	free(s->root);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->ksyms);
	free(s->mods);
	proc_maps_free(&s->maps);
	proc_maps_free(&s->retired);
	free(s);
}

void symbolizer_refresh_maps(struct symbolizer *s)
{
	struct proc_maps fresh = {0};

	/* an exited (zombie) process has an empty maps file: keep what was known */
	if (procfs_read_maps(s->pid, &fresh) || !fresh.n) {
		proc_maps_free(&fresh);
		return;
	}
	hold_root(s);
	/* Keep file mappings that went away (dlclose, exit): late frames may still need them. */
	for (size_t i = 0; i < s->maps.n; i++) {
		struct map_entry *e = &s->maps.v[i], *r;
		const struct map_entry *now = proc_maps_find(&fresh, e->start);

		if (e->path[0] != '/' || (now && now->inode == e->inode))
			continue;
		r = VEC_PUSH(s->retired.v, s->retired.n, s->retired.cap);
		*r = *e;
		r->path = xstrdup(e->path);
	}
	if (fresh.n != s->maps.n)
		s->generation++;
	else
		for (size_t i = 0; i < fresh.n; i++)
			if (fresh.v[i].start != s->maps.v[i].start ||
			    fresh.v[i].inode != s->maps.v[i].inode) {
				s->generation++;
				break;
			}
	proc_maps_free(&s->maps);
	s->maps = fresh;
}

unsigned symbolizer_generation(const struct symbolizer *s)
{
	return s->generation;
}

void symbolizer_for_each_module(struct symbolizer *s,
				void (*cb)(void *ctx, const char *open_path, const char *path,
					   __u64 bias),
				void *ctx)
{
	for (size_t i = 0; i < s->maps.n; i++) {
		const struct map_entry *e = &s->maps.v[i];
		char open_path[PATH_MAX];
		struct module *m;
		__u64 vaddr, bias;
		bool seen = false;
		int fd;

		/* each loaded copy once, from its mapping at file offset 0 */
		if (e->path[0] != '/' || strstr(e->path, " (deleted)") || e->pgoff)
			continue;
		m = module_get(s, e->path, e);
		if (!m->ok || !addr_to_vaddr(s, e, m, e->start, &vaddr))
			continue;
		bias = e->start - vaddr;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !s->maps.v[j].pgoff && s->maps.v[j].start == e->start;
		if (seen)
			continue;
		fd = open_mapped_file(s, e, e->path, open_path, sizeof(open_path));
		if (fd < 0)
			continue;
		close(fd);
		cb(ctx, open_path, e->path, bias);
	}
}

void symbolizer_set_refresh_hook(struct symbolizer *s, void (*hook)(void *), void *ctx)
{
	s->refresh_hook = hook;
	s->hook_ctx = ctx;
}

static int cmp_map(const void *a, const void *b)
{
	const struct map_entry *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void symbolizer_add_mapping(struct symbolizer *s, __u64 start, __u64 end, __u64 pgoff,
			    const char *path)
{
	struct proc_maps out = {0};
	struct map_entry *e;
	bool placed = false;

	/* these come from the kernel as the target runs: the root may be gone when symbolized */
	if (s->pid > 0)
		hold_root(s);

	/* a fresh list: the old entries minus what the new one covers, the new one in order */
	for (size_t j = 0; j < s->maps.n; j++) {
		const struct map_entry *o = &s->maps.v[j];

		if (!placed && o->start >= start) {
			e = VEC_PUSH(out.v, out.n, out.cap);
			*e = (struct map_entry){
			    .start = start, .end = end, .pgoff = pgoff, .inode = 1};
			snprintf(e->perms, sizeof(e->perms), "r-xp");
			e->path = xstrdup(path);
			placed = true;
		}
		if (o->end <= start || o->start >= end) {
			e = VEC_PUSH(out.v, out.n, out.cap);
			*e = *o;
			e->path = xstrdup(o->path);
			continue;
		}
		if (o->start < start) { /* the head survives */
			e = VEC_PUSH(out.v, out.n, out.cap);
			*e = *o;
			e->end = start;
			e->path = xstrdup(o->path);
		}
		if (o->end > end) { /* the tail survives; it sorts after the new entry */
			e = VEC_PUSH(out.v, out.n, out.cap);
			*e = *o;
			e->pgoff += end - o->start;
			e->start = end;
			e->path = xstrdup(o->path);
		}
	}
	if (!placed) {
		e = VEC_PUSH(out.v, out.n, out.cap);
		*e = (struct map_entry){.start = start, .end = end, .pgoff = pgoff, .inode = 1};
		snprintf(e->perms, sizeof(e->perms), "r-xp");
		e->path = xstrdup(path);
	}
	sort_array(out.v, out.n, sizeof(*out.v), cmp_map);
	proc_maps_free(&s->maps);
	s->maps = out;
	s->generation++;
}

static const struct map_entry *find_map(struct symbolizer *s, __u64 addr, bool refresh)
{
	const struct map_entry *e = proc_maps_find(&s->maps, addr);

	if (!e && refresh && s->refresh_hook) {
		s->refresh_hook(s->hook_ctx);
		e = proc_maps_find(&s->maps, addr);
	}

	if (!e) {
		for (size_t i = s->retired.n; i-- > 0;)
			if (addr >= s->retired.v[i].start && addr < s->retired.v[i].end)
				return &s->retired.v[i];
	}
	if (!e && refresh) {
		/* A mapping made after the last read (dlopen, new thread stack). */
		symbolizer_refresh_maps(s);
		e = proc_maps_find(&s->maps, addr);
	}
	return e;
}

bool symbolizer_has_mapping(struct symbolizer *s, __u64 addr)
{
	return find_map(s, addr, true) != NULL;
}

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(struct symbolizer *s)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];

	s->ksyms_loaded = true;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256];
		struct ksym *k;

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || !addr)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		k = VEC_PUSH(s->ksyms, s->nr_ksyms, s->cap_ksyms);
		k->addr = addr;
		k->name = xstrdup(name);
	}
	fclose(f);
	sort_array(s->ksyms, s->nr_ksyms, sizeof(*s->ksyms), cmp_ksym);
}

static void resolve_kernel(struct symbolizer *s, struct symdata *sd, __u64 ip)
{
	size_t lo = 0, hi;
	char buf[320];

	if (!s->ksyms_loaded)
		load_kallsyms(s);
	hi = s->nr_ksyms;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->ksyms[mid].addr <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo) {
		snprintf(buf, sizeof(buf), "[kernel] 0x%llx", (unsigned long long)ip);
		symdata_add_frame(sd, ip, buf, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%s+0x%llx [kernel]", s->ksyms[lo - 1].name,
		 (unsigned long long)(ip - s->ksyms[lo - 1].addr));
	symdata_add_frame(sd, ip, buf, s->ksyms[lo - 1].name);
}

/* The module's file again, if open_path still names it (see open_debug_file). Returns an fd. */
static int reopen_module(const struct module *m)
{
	int fd = open(m->open_path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd >= 0 && (fstat(fd, &st) || st.st_dev != m->dev || st.st_ino != m->ino)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* DWARF of a module: its separate debug file (build-id, debuglink), else the binary. */
static Dwarf *module_dwarf(struct symbolizer *s, struct module *m)
{
	if (m->dwarf_tried)
		return m->dwarf;
	m->dwarf_tried = true;
	for (int i = 0; i < 2 && !m->dwarf; i++) {
		m->dwarf_fd = i ? reopen_module(m) : open_debug_file(s, m);
		if (m->dwarf_fd < 0)
			continue;
		m->dwarf = dwarf_begin(m->dwarf_fd, DWARF_C_READ);
		if (!m->dwarf)
			close(m->dwarf_fd);
	}
	return m->dwarf;
}

/*
 * The name of a function's DIE, in buf when it must be made. Rust's DW_AT_name is the bare
 * item ("lock"): its linkage name, demangled, says which one
 * (<std::sync::poison::mutex::Mutex<u64>>::lock).
 */
static const char *die_name(Dwarf_Die *die, bool rust, char *buf, size_t len)
{
	Dwarf_Attribute attr;
	Dwarf_Die origin;
	const char *name;

	name = rust ? dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr)) : NULL;
	if (name) {
		char *d = symbol_display_name(name);

		snprintf(buf, len, "%s", d);
		free(d);
		return buf;
	}
	name = dwarf_diename(die);
	/* an inlined instance names its function through its abstract origin */
	if (!name && dwarf_attr_integrate(die, DW_AT_abstract_origin, &attr) &&
	    dwarf_formref_die(&attr, &origin))
		name = dwarf_diename(&origin);
	return name;
}

/*
 * The innermost function, inlined call or block with code at pc under parent, looked for
 * through namespaces too: elfutils' dwarf_getscopes does not look inside a DIE without
 * addresses, and Rust defines its functions inside namespace DIEs.
 */
static bool innermost_scope(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *out)
{
	Dwarf_Die child;

	if (dwarf_child(parent, &child))
		return false;
	do {
		switch (dwarf_tag(&child)) {
		case DW_TAG_namespace:
			if (innermost_scope(&child, pc, out))
				return true;
			break;
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
			if (dwarf_haspc(&child, pc) > 0) {
				*out = child;
				innermost_scope(&child, pc, out);
				return true;
			}
			break;
		}
	} while (!dwarf_siblingof(&child, &child));
	return false;
}

/*
 * The scopes at pc, innermost first, along the concrete chain of inlined calls: dwarf_getscopes
 * continues an inlined function with its abstract definition, dwarf_getscopes_die on the
 * innermost scope does not. Returns their number (*scopes malloc'd), 0 or -1.
 */
static int inline_chain(Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die **scopes)
{
	Dwarf_Die inner;
	int n = dwarf_getscopes(cudie, pc, scopes);

	if (n > 0) {
		inner = (*scopes)[0];
		free(*scopes);
	} else if (!innermost_scope(cudie, pc, &inner)) {
		return n;
	}
	*scopes = NULL;
	return dwarf_getscopes_die(&inner, scopes);
}

static const char *file_base(const char *f)
{
	const char *b = f ? strrchr(f, '/') : NULL;

	return b ? b + 1 : f;
}

/*
 * file:line of vaddr and the functions inlined there. Adds the inlined frames to sd and writes
 * the outer function's " file:line" into where. Returns false without line information.
 */
/*
 * The compile unit holding vaddr: through .debug_aranges, else (clang emits none by default)
 * by asking each unit whether its ranges cover it.
 */
static bool cu_of(Dwarf *dbg, __u64 vaddr, Dwarf_Die *cudie)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	if (dwarf_addrdie(dbg, vaddr, cudie))
		return true;
	while (!dwarf_nextcu(dbg, off, &next, &hsize, NULL, NULL, NULL)) {
		if (dwarf_offdie(dbg, off + hsize, cudie) && dwarf_haspc(cudie, vaddr) == 1)
			return true;
		off = next;
	}
	return false;
}

static bool resolve_lines(struct symbolizer *s, struct module *m, struct symdata *sd, __u64 ip,
			  __u64 vaddr, const char *modname, char *where, size_t len)
{
	Dwarf *dbg = module_dwarf(s, m);
	Dwarf_Die cudie, *scopes = NULL;
	Dwarf_Line *line;
	Dwarf_Files *files = NULL;
	const char *file;
	int lineno = 0, n;
	bool rust;

	if (!dbg || !cu_of(dbg, vaddr, &cudie))
		return false;
	line = dwarf_getsrc_die(&cudie, vaddr);
	if (!line || dwarf_lineno(line, &lineno))
		return false;
	file = file_base(dwarf_linesrc(line, NULL, NULL));
	dwarf_getsrcfiles(&cudie, &files, NULL);
	rust = dwarf_srclang(&cudie) == DW_LANG_Rust;
	n = inline_chain(&cudie, vaddr, &scopes);
	for (int i = 0; i < n; i++) {
		Dwarf_Attribute attr;
		Dwarf_Word call_line = 0, call_file = 0;
		const char *name;
		char buf[512], name_buf[400];

		if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram)
			break;
		if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		name = die_name(&scopes[i], rust, name_buf, sizeof(name_buf));
		snprintf(buf, sizeof(buf), "%s [inlined] (%s) %s:%d", name ? name : "?", modname,
			 file ? file : "?", lineno);
		symdata_add_inline(sd, ip, buf, name);
		/* the next frame out is where this one was inlined */
		if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr))
			dwarf_formudata(&attr, &call_line);
		if (dwarf_attr(&scopes[i], DW_AT_call_file, &attr) &&
		    !dwarf_formudata(&attr, &call_file) && files)
			file = file_base(dwarf_filesrc(files, call_file, NULL, NULL));
		lineno = (int)call_line;
	}
	free(scopes);
	snprintf(where, len, " %s:%d", file ? file : "?", lineno);
	return true;
}

static int cmp_jit(const void *a, const void *b)
{
	const struct jit_sym *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * A perf map is trusted as perf trusts it: owned by the target's user or root, writable by
 * nobody else, and not a link (any local user can create /tmp/perf-PID.map for any PID).
 */
static FILE *open_perf_map(struct symbolizer *s, const char *path, struct stat *st)
{
	char proc[32];
	struct stat owner;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	FILE *f;

	snprintf(proc, sizeof(proc), "/proc/%d", s->pid);
	if (fd < 0)
		return NULL;
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || (st->st_mode & (S_IWGRP | S_IWOTH)) ||
	    (st->st_uid != 0 && (stat(proc, &owner) || st->st_uid != owner.st_uid))) {
		if (!s->perf_map_refused)
			fprintf(stderr,
				"threadtrace: ignoring %s: not the target's own (owner uid %u, "
				"mode %03o): JIT frames stay unnamed\n",
				path, (unsigned)st->st_uid, (unsigned)(st->st_mode & 0777));
		s->perf_map_refused = true;
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

/* A JIT's symbols (/tmp/perf-PID.map: "START SIZE name" in hex), re-read when it grew. */
static const struct jit_sym *find_jit(struct symbolizer *s, __u64 ip)
{
	char path[64], line[1024];
	struct stat st;
	size_t lo = 0, hi;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", s->pid);
	f = open_perf_map(s, path, &st);
	if (f && st.st_size == s->jit_size) {
		fclose(f);
		f = NULL;
	}
	if (f) {
		for (size_t i = 0; i < s->nr_jit; i++)
			free(s->jit[i].name);
		s->nr_jit = 0;
		while (fgets(line, sizeof(line), f)) {
			unsigned long long start, size;
			int n = 0;
			struct jit_sym *j;

			if (sscanf(line, "%llx %llx %n", &start, &size, &n) != 2 || !n || !size)
				continue;
			line[strcspn(line, "\n")] = 0;
			j = VEC_PUSH(s->jit, s->nr_jit, s->cap_jit);
			j->start = start;
			j->size = size;
			j->name = xstrdup(line + n);
		}
		fclose(f);
		sort_array(s->jit, s->nr_jit, sizeof(*s->jit), cmp_jit);
		s->jit_size = st.st_size;
	}
	hi = s->nr_jit;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->jit[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && ip < s->jit[lo - 1].start + s->jit[lo - 1].size)
		return &s->jit[lo - 1];
	return NULL;
}

static void resolve_user(struct symbolizer *s, struct symdata *sd, __u64 ip, bool leaf)
{
	const struct map_entry *e = find_map(s, ip, true);
	const struct elf_sym *sym = NULL;
	const struct jit_sym *jit;
	struct module *m;
	__u64 vaddr;
	char buf[512];

	if ((!e || e->path[0] != '/') && (jit = find_jit(s, ip))) {
		snprintf(buf, sizeof(buf), "%s+0x%llx [JIT]", jit->name,
			 (unsigned long long)(ip - jit->start));
		symdata_add_frame(sd, ip, buf, jit->name);
		return;
	}
	if (!e || !e->path[0]) {
		snprintf(buf, sizeof(buf), "[unknown] 0x%llx", (unsigned long long)ip);
		symdata_add_frame(sd, ip, buf, NULL);
		return;
	}
	if (e->path[0] != '/') {
		snprintf(buf, sizeof(buf), "%s+0x%llx", e->path,
			 (unsigned long long)(ip - e->start));
		symdata_add_frame(sd, ip, buf, NULL);
		return;
	}
	m = module_get(s, e->path, e);
	symdata_add_module(sd, e->start, e->end, e->pgoff, e->path, m->build_id);
	/* a return address can be the first byte after a noreturn call: name the call's */
	if (m->ok && addr_to_vaddr(s, e, m, ip, &vaddr))
		sym = find_sym(m->funcs, m->nr_funcs, leaf ? vaddr : vaddr - 1);
	else
		vaddr = ip - e->start + e->pgoff;
	if (sym) {
		char where[300] = "";

		/* the frame is added first; the lines then attach its inlined frames to it */
		snprintf(buf, sizeof(buf), "%s+0x%llx (%s)", sym->name,
			 (unsigned long long)(vaddr - sym->start), base_name(e->path));
		symdata_add_frame(sd, ip, buf, sym->name);
		/* a return address points after the call: its line is that of the call */
		if (resolve_lines(s, m, sd, ip, leaf ? vaddr : vaddr - 1, base_name(e->path), where,
				  sizeof(where))) {
			const struct sym_frame *f = symdata_frame(sd, ip);

			snprintf(buf, sizeof(buf), "%s+0x%llx (%s)%s", sym->name,
				 (unsigned long long)(vaddr - sym->start), base_name(e->path),
				 where);
			free(f->name);
			((struct sym_frame *)f)->name = xstrdup(buf);
		}
	} else {
		snprintf(buf, sizeof(buf), "%s+0x%llx", base_name(e->path),
			 (unsigned long long)vaddr);
		symdata_add_frame(sd, ip, buf, NULL);
	}
}

void symbolizer_note_stack(struct symbolizer *s, struct symdata *sd, const struct tt_stack *st)
{
	for (unsigned i = 0; i < (unsigned)st->nr_user + st->nr_kernel; i++) {
		__u64 ip = st->ips[i];

		if (symdata_frame(sd, ip))
			continue;
		if (i >= st->nr_user)
			resolve_kernel(s, sd, ip);
		else
			resolve_user(s, sd, ip, i == 0);
	}
}

void symbolizer_preload(struct symbolizer *s)
{
	bool image = true;

	if (!s)
		return;
	/* /proc's paths: a chroot's libc is ROOT/usr/lib/..., not the host's file of that name */
	symbolizer_refresh_maps(s);
	for (size_t i = 0; i < s->maps.n; i++) {
		const struct map_entry *e = &s->maps.v[i];
		const char *base = strrchr(e->path, '/');
		struct module *m;
		Dwarf_Die cu;
		__u64 vaddr;
		Dwarf *d;

		if (e->path[0] != '/' || (e->perms[0] && e->perms[2] != 'x') ||
		    strstr(e->path, " (deleted)"))
			continue;
		base = base ? base + 1 : e->path;
		/* the first code mapped is the program's image (the maps are in address order) */
		if (!image && strncmp(base, "libc.so", 7) && strncmp(base, "libpython", 9))
			continue;
		image = false;
		m = module_get(s, e->path, e);
		if (!m->ok || m->dwarf_tried)
			continue; /* loaded before, or another mapping of it */
		if (!(d = module_dwarf(s, m)) || !addr_to_vaddr(s, e, m, e->start, &vaddr))
			continue;
		dwarf_addrdie(d, vaddr, &cu); /* reads .debug_aranges once */
	}
}

void symbolizer_note_lock(struct symbolizer *s, struct symdata *sd, __u64 addr)
{
	const struct map_entry *e;
	const struct elf_sym *sym = NULL;
	struct sym_lock *l;
	__u64 vaddr;

	if (symdata_lock(sd, addr))
		return;
	l = symdata_add_lock(sd, addr);
	l->mem_ok = !procfs_read_mem(s->pid, addr - TT_MEMWIN_BEFORE, l->mem, TT_MEMWIN_LEN);
	if (!l->mem_ok) {
		/* Near the start of a mapping: read at least from the futex word on. */
		memset(l->mem, 0, sizeof(l->mem));
	}
	e = find_map(s, addr, true);
	if (!e) {
		l->location = symdata_str(sd, "[unknown]");
		return;
	}
	if (!e->path[0] && e > s->maps.v && e < s->maps.v + s->maps.n && e[-1].end == e->start &&
	    e[-1].path[0] == '/')
		e--; /* the anonymous tail of a module's .bss */
	if (e->path[0] != '/') {
		l->location = symdata_str(sd, e->path[0] ? e->path : "[anon]");
		return;
	}
	{
		struct module *m = module_get(s, e->path, e);

		if (m->ok && addr_to_vaddr(s, e, m, addr, &vaddr))
			sym = find_sym(m->objects, m->nr_objects, vaddr);
		else
			vaddr = addr - e->start + e->pgoff;
	}
	l->module = symdata_str(sd, base_name(e->path));
	l->module_off = vaddr;
	if (sym) {
		l->name = xstrdup(sym->name);
		l->name_off = vaddr - sym->start;
	}
}
