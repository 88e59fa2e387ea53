// SPDX-License-Identifier: GPL-2.0
/*
 * test_symbols.c - symbols.c: this very process symbolized (a global mutex by its data symbol, a
 * function by name and line, a JIT's frames from its perf map), debug files found in a target's
 * own root (a temporary directory standing for /proc/PID/root) and refused when of another
 * build; Rust demangling.
 */
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <libelf.h>
#include <gelf.h>
#include <pthread.h>
#include <sys/mman.h>
#include "check.h"
#include "test_symbols.h"
#include "symbols.h"
#include "procfs.h"

/* In this binary's .symtab and DWARF only: a stripped copy can name it through a debug file. */
static __attribute__((noinline)) void root_debug_marker(void)
{
	__asm__ volatile("" ::: "memory");
}

/* A shell command from fmt; paths here hold no shell characters. Returns its status. */
static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Make the file at path look like another build's: flip a byte of its build-id. */
static int flip_build_id(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	Elf_Scn *scn = NULL;
	off_t at = -1;
	unsigned char c;
	int err = -1;

	while (elf && at < 0 && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t off = 0, name_off, desc_off;
		GElf_Shdr sh;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !d)
			continue;
		while (at < 0 && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0)
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_descsz)
				at = (off_t)(sh.sh_offset + desc_off);
	}
	if (elf)
		elf_end(elf);
	if (at >= 0 && pread(fd, &c, 1, at) == 1) {
		c ^= 0xff;
		err = pwrite(fd, &c, 1, at) == 1 ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	return err;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/*
 * Symbolize root_debug_marker as if this process ran module (a stripped copy of this binary)
 * inside root: its mappings are ours under that path. Returns the frame's name in buf (empty
 * when unnamed) and whether its function was named root_debug_marker.
 */
static bool marker_in_root(const char *root, const char *module, char *buf, size_t len)
{
	struct symbolizer *s = symbolizer_new_root(root);
	struct proc_maps maps = {0};
	struct symdata sd = {0};
	const struct sym_frame *f;
	__u8 sbuf[sizeof(struct tt_stack) + 8];
	struct tt_stack *st = (void *)sbuf;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	bool named;

	exe[n > 0 ? n : 0] = 0;
	procfs_read_maps(getpid(), &maps);
	for (size_t i = 0; i < maps.n; i++)
		if (!strcmp(maps.v[i].path, exe))
			symbolizer_add_mapping(s, maps.v[i].start, maps.v[i].end, maps.v[i].pgoff,
					       module);
	st->nr_user = 1;
	st->nr_kernel = 0;
	st->ips[0] = (__u64)(uintptr_t)root_debug_marker;
	symbolizer_note_stack(s, &sd, st);
	f = symdata_frame(&sd, st->ips[0]);
	snprintf(buf, len, "%s", f && f->name ? f->name : "");
	named = f && f->func && !strcmp(f->func, "root_debug_marker");
	symdata_free(&sd);
	proc_maps_free(&maps);
	symbolizer_free(s);
	return named;
}

/* The build-id path of this binary's debug file under root. */
static void build_id_path(const char *root, char *path, size_t len)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL;
	char hex[128] = "";

	while (elf && !hex[0] && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t off = 0, name_off, desc_off;
		GElf_Shdr sh;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !d)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0)
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_descsz < sizeof(hex) / 2)
				for (size_t i = 0; i < nh.n_descsz; i++)
					sprintf(hex + 2 * i, "%02x",
						((unsigned char *)d->d_buf)[desc_off + i]);
	}
	if (elf)
		elf_end(elf);
	close(fd);
	snprintf(path, len, "%s/usr/lib/debug/.build-id/%.2s/%s.debug", root, hex, hex + 2);
}

/*
 * A target whose root holds its -dbg files: the stripped module is named, with its lines,
 * from the debug file under the root's /usr/lib/debug (by build-id, then by .gnu_debuglink);
 * a debug file of another build (another build-id, or another CRC for a module without a
 * build-id) is passed over.
 */
void test_debug_file_in_root(void)
{
	char root[] = "/tmp/tt-root-XXXXXX", good[PATH_MAX], other[PATH_MAX], by_id[PATH_MAX];
	char by_link[PATH_MAX], exe[PATH_MAX], name[512];

	elf_version(EV_CURRENT);
	/* the commands' /proc/self is theirs: name this binary by its path */
	if (!realpath("/proc/self/exe", exe) || !mkdtemp(root)) {
		CHECK(!"no test binary path or temporary directory");
		return;
	}
	snprintf(good, sizeof(good), "%s/good.debug", root);
	snprintf(other, sizeof(other), "%s/other.debug", root);
	build_id_path(root, by_id, sizeof(by_id));
	snprintf(by_link, sizeof(by_link), "%s/usr/lib/debug/opt/app/unit-tests.debug", root);
	CHECK(
	    !run("mkdir -p %s/opt/app %s/usr/lib/debug/opt/app $(dirname %s)", root, root, by_id));
	CHECK(!run("objcopy --only-keep-debug %s %s", exe, good));
	CHECK(!run("cp %s %s && cp %s %s", good, other, good, by_link) && !flip_build_id(other));
	/* the module stripped of .symtab and DWARF; a copy of it names its debug file */
	CHECK(!run("strip --strip-all -o %s/opt/app/unit-tests %s", root, exe));
	CHECK(!run("objcopy --add-gnu-debuglink=%s %s/opt/app/unit-tests %s/opt/app/linked",
		   by_link, root, root));

	/* the other build's file only: unnamed, so the names below come from debug files */
	CHECK(!run("cp %s %s", other, by_id));
	CHECK(!marker_in_root(root, "/opt/app/unit-tests", name, sizeof(name)));
	CHECK(name[0] && !strstr(name, "root_debug_marker"));
	/* past it, the debuglink's file of the right build */
	CHECK(marker_in_root(root, "/opt/app/linked", name, sizeof(name)));

	/* the right build by build-id: the name and its line, both only in the debug file */
	CHECK(!run("cp %s %s", good, by_id));
	CHECK(marker_in_root(root, "/opt/app/unit-tests", name, sizeof(name)));
	CHECK(strstr(name, "root_debug_marker+0x0 (unit-tests) test_symbols.c:") == name);
	/*
	 * SystemTap probe notes after the build-id's, as in Debian sid's libc: NT_STAPSDT is 3,
	 * NT_GNU_BUILD_ID's number, and only the "GNU" note is the build-id
	 */
	CHECK(!run("printf '\\010\\0\\0\\0\\010\\0\\0\\0\\003\\0\\0\\0stapsdt\\0probe:00' "
		   "> %s/sdt.note && objcopy --add-section .note.stapsdt=%s/sdt.note "
		   "%s/opt/app/unit-tests %s/opt/app/probed",
		   root, root, root, root));
	CHECK(marker_in_root(root, "/opt/app/probed", name, sizeof(name)));
	CHECK(strstr(name, "root_debug_marker+0x0 (probed) test_symbols.c:") == name);

	/* a module without a build-id: the CRC that its debuglink records decides */
	CHECK(!unlink(by_id));
	CHECK(!run("objcopy --remove-section .note.gnu.build-id --add-gnu-debuglink=%s "
		   "%s/opt/app/unit-tests",
		   by_link, root));
	CHECK(marker_in_root(root, "/opt/app/unit-tests", name, sizeof(name)));
	CHECK(!run("echo >> %s", by_link));
	CHECK(!marker_in_root(root, "/opt/app/unit-tests", name, sizeof(name)));

	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Rust names demangled. The symbols are rustc 1.95's, v0 (-C symbol-mangling-version=v0) and
 * legacy (its default); each expected text is what Rust's own backtrace printed for that frame.
 */
void test_rust_demangle(void)
{
	static const char *const demangled[][2] = {
	    {"_RNvMCs37aybkcCW4V_2btINtB2_6WorkerhE3runB2_", "<bt::Worker<u8>>::run"},
	    {"_RNvXs_Cs37aybkcCW4V_2btINtB4_6WorkerhENtB4_3Job2go",
	     "<bt::Worker<u8> as bt::Job>::go"},
	    {"_RNvXs0_Cs37aybkcCW4V_2btINtB5_6WorkerhENtNtCsgEmfK2I1SDS_4core3fmt5Debug3f"
	     "mtB5_",
	     "<bt::Worker<u8> as core::fmt::Debug>::fmt"},
	    {"_RNvXsf_NtNtCsjrHSEGnQ3l9_3std2io5stdioRNtB5_6StdoutNtB7_5Write9write_fmt",
	     "<&std::io::stdio::Stdout as std::io::Write>::write_fmt"},
	    {"_RINvNtNtCsjrHSEGnQ3l9_3std3sys9backtrace28___rust_begin_short_backtraceFEuuECs37aybk"
	     "cCW4V_2bt",
	     "std::sys::backtrace::__rust_begin_short_backtrace::<fn(), ()>"},
	    {"_RNCINvNtCsjrHSEGnQ3l9_3std2rt10lang_startuE0Cs37aybkcCW4V_2bt",
	     "std::rt::lang_start::<()>::{closure#0}"},
	    /* LLVM's suffix on a local symbol is not part of the name */
	    {"_RNvCs37aybkcCW4V_2bt4main.llvm.6391462384462853385", "bt::main"},
	    {"_ZN48_$LT$bt..Worker$LT$u8$GT$$u20$as$u20$bt..Job$GT$2go17h79f182d4282a4974E",
	     "<bt::Worker<u8> as bt::Job>::go"},
	    {"_ZN2bt15Worker$LT$T$GT$3run17h98e4c379803453beE", "bt::Worker<T>::run"},
	    /* C++ still goes to the C++ runtime's demangler */
	    {"_ZN3foo3barEv", "foo::bar()"},
	};
	/* not Rust, or malformed: back unchanged */
	static const char *const unchanged[] = {
	    "main",
	    "_R",
	    "_RNvC",
	    "_Rxyz",
	    "_RNvB_3foo",
	    "_RNvCs37aybkcCW4V_2bt4mai",
	    "_RNvXs_Cs37aybkcCW4V_2btINtB4_6Worker",
	    "_RNvCs37aybkcCW4V_2bt4mainXYZ",
	    "_ZN2bt4main17h98e4c37980345E",
	};
	size_t deep = 200000;
	char *d, *name = malloc(2 * deep + 16);

	for (size_t i = 0; i < sizeof(demangled) / sizeof(demangled[0]); i++) {
		d = symbol_display_name(demangled[i][0]);
		CHECK(!strcmp(d, demangled[i][1]));
		if (strcmp(d, demangled[i][1]))
			fprintf(stderr, "    %s -> %s\n", demangled[i][0], d);
		free(d);
	}
	for (size_t i = 0; i < sizeof(unchanged) / sizeof(unchanged[0]); i++) {
		d = symbol_display_name(unchanged[i]);
		CHECK(!strcmp(d, unchanged[i]));
		free(d);
	}
	/* nesting far past any real name: refused without exhausting the stack */
	strcpy(name, "_R");
	for (size_t i = 0; i < deep; i++)
		memcpy(name + 2 + 2 * i, "Nv", 2);
	strcpy(name + 2 + 2 * deep, "C3foo3bar");
	d = symbol_display_name(name);
	CHECK(!strcmp(d, name));
	free(d);
	free(name);
}

pthread_mutex_t unit_test_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	long pad;
	pthread_mutex_t inner;
} unit_test_struct;

__attribute__((noinline)) void unit_test_function(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Symbolize this process: a global mutex by its data symbol, a function by name. */
void test_symbolize_self(void)
{
	struct symbolizer *s = symbolizer_new(getpid(), true);
	struct symdata sd = {0};
	const struct sym_lock *l;
	const struct sym_frame *f;
	__u8 buf[sizeof(struct tt_stack) + 8];
	struct tt_stack *st = (void *)buf;

	symbolizer_note_lock(s, &sd, (__u64)(uintptr_t)&unit_test_lock);
	symbolizer_note_lock(s, &sd, (__u64)(uintptr_t)&unit_test_struct.inner);
	l = symdata_lock(&sd, (__u64)(uintptr_t)&unit_test_lock);
	CHECK(l && l->name && !strcmp(l->name, "unit_test_lock") && l->name_off == 0);
	CHECK(l && l->mem_ok);
	CHECK(l && l->module && !strcmp(l->module, "unit-tests"));
	l = symdata_lock(&sd, (__u64)(uintptr_t)&unit_test_struct.inner);
	CHECK(l && l->name && !strcmp(l->name, "unit_test_struct") && l->name_off == 8);

	st->nr_user = 1;
	st->nr_kernel = 0;
	st->ips[0] = (__u64)(uintptr_t)unit_test_function; /* a 1-byte function: ret */
	symbolizer_note_stack(s, &sd, st);
	f = symdata_frame(&sd, st->ips[0]);
	CHECK(f && f->func && !strcmp(f->func, "unit_test_function"));
	/* with the line from the test binary's own DWARF */
	{
		static const char want[] = "unit_test_function+0x0 (unit-tests) test_symbols.c:";

		CHECK(f && !strncmp(f->name, want, sizeof(want) - 1));
	}
	/* libc is stripped: its names come from the build-id debug file (libc6-dbg) */
	st->ips[0] = (__u64)(uintptr_t)pthread_mutex_lock;
	symbolizer_note_stack(s, &sd, st);
	f = symdata_frame(&sd, st->ips[0]);
	CHECK(f && f->func && strstr(f->func, "pthread_mutex_lock"));
	symdata_free(&sd);
	symbolizer_free(s);
}

/* A JIT's frames: an anonymous executable region named by /tmp/perf-PID.map. */
void test_jit_perf_map(void)
{
	size_t len = 4096;
	void *code = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char path[64];
	FILE *f;
	struct symbolizer *s;
	struct symdata sd = {0};
	const struct sym_frame *fr;
	__u8 buf[sizeof(struct tt_stack) + 8];
	struct tt_stack *st = (void *)buf;

	CHECK(code != MAP_FAILED);
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f || code == MAP_FAILED)
		return;
	fprintf(f, "%llx 40 py::work:/srv/app.py\n", (unsigned long long)(uintptr_t)code + 0x100);
	fclose(f);
	s = symbolizer_new(getpid(), true);
	st->nr_user = 1;
	st->nr_kernel = 0;
	st->ips[0] = (__u64)(uintptr_t)code + 0x110;
	symbolizer_note_stack(s, &sd, st);
	fr = symdata_frame(&sd, st->ips[0]);
	CHECK(fr && !strcmp(fr->name, "py::work:/srv/app.py+0x10 [JIT]"));
	CHECK(fr && fr->func && !strcmp(fr->func, "py::work:/srv/app.py"));
	st->ips[0] = (__u64)(uintptr_t)code + 0x200; /* past the entry */
	symbolizer_note_stack(s, &sd, st);
	fr = symdata_frame(&sd, st->ips[0]);
	CHECK(fr && !strstr(fr->name, "[JIT]"));
	symdata_free(&sd);
	symbolizer_free(s);
	/* a map others can write (as one another user planted) names nothing */
	CHECK(!chmod(path, 0666));
	memset(&sd, 0, sizeof(sd));
	s = symbolizer_new(getpid(), true);
	st->ips[0] = (__u64)(uintptr_t)code + 0x110;
	symbolizer_note_stack(s, &sd, st);
	fr = symdata_frame(&sd, st->ips[0]);
	CHECK(fr && !strstr(fr->name, "[JIT]"));
	symdata_free(&sd);
	symbolizer_free(s);
	unlink(path);
	munmap(code, len);
}
