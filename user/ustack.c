// SPDX-License-Identifier: GPL-2.0
/*
 * ustack.c - see ustack.h. Modules are identified by (path, inode); a module's rows are loaded
 * once and stay (a module unmapped and mapped again reuses them). The mapping table is written
 * into the half of unwind_maps BPF does not read, then made current with one store.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include "ustack.h"
#include "cfitab.h"
#include "procfs.h"

struct ustack_module {
	char *path;
	__u64 inode;
	bool fp;     /* no CFI to load: frame pointers */
	bool loaded; /* its rows are in cfi_rows (or there was no room) */
	__u32 first_row, nr_rows;
	struct cfi_table t; /* its rows until loaded; its segments, to place mappings */
};

struct ustack_tables {
	pid_t pid;
	struct ustack_maps m;
	bool bound;
	struct tt_cfi_row *rows;    /* mmapped cfi_rows */
	struct tt_unwind_map *maps; /* mmapped unwind_maps */
	size_t rows_bytes, maps_bytes;
	size_t rows_used;
	struct ustack_module *mods;
	size_t nr_mods, cap_mods;
	struct ustack_stats st;
};

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

struct ustack_tables *ustack_tables_new(pid_t pid)
{
	struct ustack_tables *u = xcalloc(1, sizeof(*u));

	u->pid = pid;
	return u;
}

int ustack_tables_bind(struct ustack_tables *u, const struct ustack_maps *m)
{
	int err;

	u->m = *m;
	u->rows_bytes = page_round(m->max_rows * sizeof(struct tt_cfi_row));
	u->maps_bytes = page_round(2 * TT_UNWIND_MAX_MAPS * sizeof(struct tt_unwind_map));
	u->rows = mmap(NULL, u->rows_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->rows_fd, 0);
	if (u->rows == MAP_FAILED)
		return -errno;
	u->maps = mmap(NULL, u->maps_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->maps_fd, 0);
	if (u->maps == MAP_FAILED) {
		err = -errno;
		munmap(u->rows, u->rows_bytes);
		return err;
	}
	u->bound = true;
	return 0;
}

void ustack_tables_free(struct ustack_tables *u)
{
	if (!u)
		return;
	if (u->bound) {
		munmap(u->rows, u->rows_bytes);
		munmap(u->maps, u->maps_bytes);
	}
	for (size_t i = 0; i < u->nr_mods; i++) {
		free(u->mods[i].path);
		cfitab_free(&u->mods[i].t);
	}
	free(u->mods);
	free(u);
}

static bool is_exec_file(const struct map_entry *e)
{
	return e->perms[2] == 'x' && e->path[0] == '/' && !strstr(e->path, " (deleted)");
}

/* How to open a mapped file: through map_files while the process lives (any root). */
static void open_path(pid_t pid, const struct map_entry *e, char *buf, size_t len)
{
	char dir[96];

	snprintf(buf, len, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)e->start,
		 (unsigned long long)e->end);
	if (access(buf, R_OK))
		snprintf(buf, len, "%s/root%s", procfs_dir(pid, dir, sizeof(dir)), e->path);
}

/* The module of an executable file mapping; its rows are built the first time it is seen. */
static struct ustack_module *module_for(struct ustack_tables *u, const struct map_entry *e)
{
	struct ustack_module *mod;
	char path[4200];

	for (size_t i = 0; i < u->nr_mods; i++)
		if (u->mods[i].inode == e->inode && !strcmp(u->mods[i].path, e->path))
			return &u->mods[i];
	mod = VEC_PUSH(u->mods, u->nr_mods, u->cap_mods);
	memset(mod, 0, sizeof(*mod));
	mod->path = xstrdup(e->path);
	mod->inode = e->inode;
	open_path(u->pid, e, path, sizeof(path));
	if (cfitab_build(path, &mod->t) || !mod->t.n) {
		cfitab_free(&mod->t);
		mod->fp = true;
		u->st.fp_modules++;
	}
	return mod;
}

/* Copy a module's rows into cfi_rows, once; they are not kept here after. */
static void module_load(struct ustack_tables *u, struct ustack_module *mod)
{
	struct cfi_table *t = &mod->t;

	if (mod->loaded || mod->fp)
		return;
	mod->loaded = true;
	if (t->n > u->m.max_rows - u->rows_used || t->n > UINT32_MAX) {
		/* no room: its frames are cut short, and copied for the collector's unwinder */
		u->st.full++;
	} else {
		memcpy(u->rows + u->rows_used, t->rows, t->n * sizeof(*t->rows));
		mod->first_row = (__u32)u->rows_used;
		mod->nr_rows = (__u32)t->n;
		u->rows_used += t->n;
		u->st.modules++;
		u->st.rows += t->n;
		u->st.unsupported += t->unsupported;
	}
	free(t->rows);
	t->rows = NULL;
	t->n = 0;
}

int ustack_tables_prepare(struct ustack_tables *u)
{
	struct proc_maps maps = {0};
	int err = procfs_read_maps(u->pid, &maps);

	for (size_t i = 0; !err && i < maps.n; i++)
		if (is_exec_file(&maps.v[i]))
			module_for(u, &maps.v[i]);
	proc_maps_free(&maps);
	return err;
}

size_t ustack_tables_rows(const struct ustack_tables *u)
{
	size_t rows = 0;

	for (size_t i = 0; i < u->nr_mods; i++)
		rows += u->mods[i].t.n;
	return rows;
}

int ustack_tables_sync(struct ustack_tables *u)
{
	struct proc_maps maps = {0};
	__u32 next = (*u->m.table & 1) ^ 1, n = 0;
	struct tt_unwind_map *out = u->maps + (size_t)next * TT_UNWIND_MAX_MAPS;
	int err;

	if (!u->bound)
		return -EINVAL;
	err = procfs_read_maps(u->pid, &maps);
	if (err || !maps.n) {
		proc_maps_free(&maps);
		return err ? err : -ESRCH;
	}
	for (size_t i = 0; i < maps.n && n < TT_UNWIND_MAX_MAPS; i++) {
		const struct map_entry *e = &maps.v[i];
		struct tt_unwind_map *um;
		struct ustack_module *mod;
		__u64 bias = 0;

		if (e->perms[2] != 'x')
			continue;
		um = &out[n];
		memset(um, 0, sizeof(*um));
		um->start = e->start;
		um->end = e->end;
		if (!is_exec_file(e)) {
			/* JIT code, the vdso: frame pointers, checked against these mappings */
			um->flags = TT_UMAP_FP;
		} else {
			mod = module_for(u, e);
			module_load(u, mod);
			if (mod->fp || cfitab_bias(&mod->t, e->start, e->pgoff, &bias)) {
				um->flags = TT_UMAP_FP;
			} else {
				um->bias = bias;
				um->first_row = mod->first_row;
				um->nr_rows = mod->nr_rows;
			}
		}
		n++;
	}
	proc_maps_free(&maps);
	/* the rows and mappings first, then the count, then the switch (BPF reads the other way) */
	__atomic_store_n(&u->m.nr_maps[next], n, __ATOMIC_RELEASE);
	__atomic_store_n(u->m.table, next, __ATOMIC_RELEASE);
	u->st.syncs++;
	return 0;
}

void ustack_tables_stats(const struct ustack_tables *u, struct ustack_stats *st)
{
	*st = u->st;
}
