// SPDX-License-Identifier: GPL-2.0
/*
 * recfile.c - see recfile.h.
 *
 * Layout (little endian): a 16-byte file header {magic[8], u32 version, u32 0}, then sections
 * {u32 type, u32 reserved, u64 length, payload[length], padding to 8}:
 *   INFO    text lines "key=value" (host, kernel, cmdline, version, start times)
 *   RCHUNK  records, each starting with struct tt_rec_hdr, back to back; reserved holds the
 *           crc32 of the payload. As many as were written: each one is whole and checks itself,
 *           so a file whose writer died is read up to its last whole chunk.
 * Format 3 writes the symbol sections below as it learns the names, before each RCHUNK those
 * of its records need, each checked by the crc32 in reserved: a file cut at any chunk still
 * names what its records need. Format 2 wrote them once, at the end.
 *   RECORDS (format 1) all the records in one section whose length was written last
 *   FRAMES  {u64 ip, u16 name_len, u16 func_len, name, func} ...
 *   LOCKS   {u64 addr, u64 name_off, u64 module_off, u8 mem_ok, u8 flags, u16 name_len,
 *            u16 module_len, u16 location_len, mem[TT_MEMWIN_LEN], strings} ...
 *   MODULES {u64 start, u64 end, u64 pgoff, u16 path_len, u16 build_id_len, path, build_id} ...
 *   INLINES {u64 ip, u16 count, {u16 name_len, u16 func_len, name, func} x count} ...
 *   PYSRC   {u64 ip, u16 len, text} ...: a Python frame's source line (after FRAMES; optional)
 *   END     {u32 crc32 of every byte before this section}
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <zlib.h>
#include "recfile.h"
#include "outfile.h"

enum {
	SEC_INFO = 1,
	SEC_RECORDS = 2,
	SEC_FRAMES = 3,
	SEC_LOCKS = 4,
	SEC_END = 5,
	SEC_MODULES = 6,
	SEC_INLINES = 7,
	SEC_RCHUNK = 8,
	SEC_PYSRC = 9,
};

/* A chunk is written when this much is buffered, or this long after the last one. */
#define RCHUNK_BYTES (1u << 20)
#define RCHUNK_NS    1000000000ULL

#define LOCK_HAS_NAME	  1
#define LOCK_HAS_MODULE	  2
#define LOCK_HAS_LOCATION 4

struct out_buf {
	__u8 *data;
	size_t len, cap;
};

static void put(struct out_buf *o, const void *p, size_t n)
{
	if (!n)
		return;
	grow((void **)&o->data, &o->cap, o->len + n, 1);
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

static void put_u16(struct out_buf *o, __u16 v)
{
	put(o, &v, 2);
}
static void put_u32(struct out_buf *o, __u32 v)
{
	put(o, &v, 4);
}
static void put_u64(struct out_buf *o, __u64 v)
{
	put(o, &v, 8);
}

static size_t begin_section(struct out_buf *o, __u32 type)
{
	size_t at;

	put_u32(o, type);
	put_u32(o, 0);
	at = o->len;
	put_u64(o, 0);
	return at;
}

static void end_section(struct out_buf *o, size_t at)
{
	__u64 len = o->len - at - 8;
	static const __u8 zeros[8];

	memcpy(o->data + at, &len, 8);
	put(o, zeros, (8 - len % 8) % 8);
}

static __u16 str_len(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0xffff ? 0xffff : (__u16)n;
}

void recfile_info_now(struct rec_info *info, int pid, char *const *command)
{
	struct utsname u;
	struct timespec rt, mono;
	char path[64];
	size_t n = 0;
	FILE *f;

	memset(info, 0, sizeof(*info));
	if (!uname(&u)) {
		snprintf(info->host, sizeof(info->host), "%s", u.nodename);
		snprintf(info->kernel, sizeof(info->kernel), "%s", u.release);
	}
	snprintf(info->version, sizeof(info->version), "%s", TT_VERSION);
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	info->start_realtime_ns = (__u64)rt.tv_sec * 1000000000ULL + rt.tv_nsec;
	info->start_monotonic_ns = (__u64)mono.tv_sec * 1000000000ULL + mono.tv_nsec;
	if (command) {
		for (char *const *a = command; *a && n + 1 < sizeof(info->cmdline); a++)
			n += snprintf(info->cmdline + n, sizeof(info->cmdline) - n, "%s%s",
				      a == command ? "" : " ", *a);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(info->cmdline, 1, sizeof(info->cmdline) - 1, f);
	fclose(f);
	for (size_t i = 0; i + 1 < n; i++)
		if (!info->cmdline[i])
			info->cmdline[i] = ' ';
}

static void sanitize_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

struct recfile_writer {
	char *path;
	const struct symdata *sd;	/* growing as the session names things */
	size_t frames_done, locks_done; /* frames and locks written so far (they only grow) */
	struct u64_map modules_done;	/* the start of each module written (kept sorted) */
	struct out_buf syms;		/* the new symbol sections, written before a chunk */
	struct outfile file;		/* the new file, renamed to path when whole */
	int fd;
	struct out_buf o; /* not yet written: a chunk's records, or the closing sections */
	__u64 written;	  /* bytes in the file */
	__u32 crc_file;	  /* crc of every byte written */
	__u64 chunk_ns;	  /* when the last chunk was written */
	int err;
};

static int write_all(int fd, const void *p, size_t n, off_t at)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = at < 0 ? write(fd, (const __u8 *)p + done, n - done)
				   : pwrite(fd, (const __u8 *)p + done, n - done, at + done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		done += k;
	}
	return 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Write p; the first failure is said at once, the rest of the session goes on without us. */
static int writer_put(struct recfile_writer *w, const void *p, size_t n)
{
	if (w->err || !n)
		return w->err;
	w->err = write_all(w->fd, p, n, -1);
	if (w->err) {
		fprintf(stderr,
			"threadtrace: failed to write record file %s: %s; tracing goes on "
			"for the other outputs\n",
			w->path, strerror(-w->err));
		return w->err;
	}
	w->crc_file = crc32(w->crc_file, p, n);
	w->written += n;
	return 0;
}

static int writer_flush(struct recfile_writer *w)
{
	writer_put(w, w->o.data, w->o.len);
	w->o.len = 0;
	return w->err;
}

/* end_section for a section that checks itself: the crc32 of its payload in reserved. */
static void end_checked_section(struct out_buf *o, size_t at)
{
	__u32 crc = crc32(crc32(0, NULL, 0), o->data + at + 8, o->len - at - 8);

	memcpy(o->data + at - 4, &crc, 4);
	end_section(o, at);
}

static void put_frames(struct out_buf *o, const struct symdata *sd, size_t from)
{
	size_t at = begin_section(o, SEC_FRAMES);

	for (size_t i = from; i < sd->nr_frames; i++) {
		const struct sym_frame *f = &sd->frames[i];

		put_u64(o, f->ip);
		put_u16(o, str_len(f->name));
		put_u16(o, str_len(f->func));
		put(o, f->name, str_len(f->name));
		if (f->func)
			put(o, f->func, str_len(f->func));
	}
	end_checked_section(o, at);
	at = begin_section(o, SEC_INLINES);
	for (size_t i = from; i < sd->nr_frames; i++) {
		const struct sym_frame *f = &sd->frames[i];

		if (!f->nr_inlined)
			continue;
		put_u64(o, f->ip);
		put_u16(o, (__u16)f->nr_inlined);
		for (size_t k = 0; k < f->nr_inlined; k++) {
			put_u16(o, str_len(f->inlined[k].name));
			put_u16(o, str_len(f->inlined[k].func));
			put(o, f->inlined[k].name, str_len(f->inlined[k].name));
			put(o, f->inlined[k].func, str_len(f->inlined[k].func));
		}
	}
	end_checked_section(o, at);
	for (size_t i = from; i < sd->nr_frames; i++) {
		if (!sd->frames[i].src)
			continue;
		/* Python frames' source lines (their objects' names), when any */
		at = begin_section(o, SEC_PYSRC);
		for (; i < sd->nr_frames; i++) {
			const struct sym_frame *f = &sd->frames[i];

			if (!f->src)
				continue;
			put_u64(o, f->ip);
			put_u16(o, str_len(f->src));
			put(o, f->src, str_len(f->src));
		}
		end_checked_section(o, at);
	}
}

static void put_locks(struct out_buf *o, const struct symdata *sd, size_t from)
{
	size_t at = begin_section(o, SEC_LOCKS);

	for (size_t i = from; i < sd->nr_locks; i++) {
		const struct sym_lock *l = &sd->locks[i];
		__u8 flags = (l->name ? LOCK_HAS_NAME : 0) | (l->module ? LOCK_HAS_MODULE : 0) |
			     (l->location ? LOCK_HAS_LOCATION : 0);
		__u8 mem_ok = l->mem_ok;

		put_u64(o, l->addr);
		put_u64(o, l->name_off);
		put_u64(o, l->module_off);
		put(o, &mem_ok, 1);
		put(o, &flags, 1);
		put_u16(o, str_len(l->name));
		put_u16(o, str_len(l->module));
		put_u16(o, str_len(l->location));
		put(o, l->mem, TT_MEMWIN_LEN);
		if (l->name)
			put(o, l->name, str_len(l->name));
		if (l->module)
			put(o, l->module, str_len(l->module));
		if (l->location)
			put(o, l->location, str_len(l->location));
	}
	end_checked_section(o, at);
}

/* The modules not written yet (done: their starts). */
static void put_modules(struct out_buf *o, const struct symdata *sd, struct u64_map *done)
{
	size_t at = begin_section(o, SEC_MODULES);

	for (size_t i = 0; i < sd->nr_modules; i++) {
		const struct sym_module *m = &sd->modules[i];
		bool found;

		*u64_map_upsert(done, m->start, &found) = 1;
		if (found)
			continue;
		put_u64(o, m->start);
		put_u64(o, m->end);
		put_u64(o, m->pgoff);
		put_u16(o, str_len(m->path));
		put_u16(o, str_len(m->build_id));
		put(o, m->path, str_len(m->path));
		put(o, m->build_id, str_len(m->build_id));
	}
	end_checked_section(o, at);
}

/* What the session named since the last chunk, as sections, written before the next one. */
static void write_new_symbols(struct recfile_writer *w)
{
	const struct symdata *sd = w->sd;

	if (!sd)
		return;
	if (w->frames_done < sd->nr_frames)
		put_frames(&w->syms, sd, w->frames_done);
	if (w->locks_done < sd->nr_locks)
		put_locks(&w->syms, sd, w->locks_done);
	if (w->modules_done.len < sd->nr_modules)
		put_modules(&w->syms, sd, &w->modules_done);
	w->frames_done = sd->nr_frames;
	w->locks_done = sd->nr_locks;
	writer_put(w, w->syms.data, w->syms.len);
	w->syms.len = 0;
}

/*
 * The buffered records as one whole, self-checking RCHUNK section, after the names they need
 * (every record buffered was named before the next one came: recfile_writer_add).
 */
static int write_chunk(struct recfile_writer *w)
{
	struct {
		__u32 type, crc;
		__u64 len;
	} h = {SEC_RCHUNK, 0, w->o.len};
	static const __u8 zeros[8];

	w->chunk_ns = mono_ns();
	write_new_symbols(w);
	if (!w->o.len)
		return w->err;
	h.crc = crc32(crc32(0, NULL, 0), w->o.data, w->o.len);
	put(&w->o, zeros, (8 - w->o.len % 8) % 8);
	writer_put(w, &h, sizeof(h));
	return writer_flush(w);
}

struct recfile_writer *recfile_writer_open(const char *path, const struct rec_info *info_in,
					   const struct symdata *sd)
{
	struct recfile_writer *w = xcalloc(1, sizeof(*w));
	struct rec_info info = *info_in;
	char text[2048];
	size_t at;

	/* written beside path and renamed over it when whole: an old file is never half-replaced */
	if (outfile_open(&w->file, path, 0600)) {
		free(w);
		return NULL;
	}
	w->fd = w->file.fd;
	w->path = strdup(path);
	w->sd = sd;
	w->crc_file = crc32(0, NULL, 0);
	put(&w->o, TT_FILE_MAGIC, 8);
	put_u32(&w->o, TT_FILE_VERSION);
	put_u32(&w->o, 0);

	sanitize_line(info.host);
	sanitize_line(info.kernel);
	sanitize_line(info.cmdline);
	at = begin_section(&w->o, SEC_INFO);
	snprintf(text, sizeof(text),
		 "host=%s\nkernel=%s\ncmdline=%s\nversion=%s\nstart_realtime_ns=%llu\n"
		 "start_monotonic_ns=%llu\nclock=CLOCK_MONOTONIC\n",
		 info.host, info.kernel, info.cmdline, info.version,
		 (unsigned long long)info.start_realtime_ns,
		 (unsigned long long)info.start_monotonic_ns);
	put(&w->o, text, strlen(text));
	end_section(&w->o, at);

	writer_flush(w);
	w->chunk_ns = mono_ns();
	return w;
}

int recfile_writer_add(struct recfile_writer *w, const void *rec, size_t size)
{
	if (w->err)
		return w->err;
	/* cut before this record: the ones before were named after they came (collector.c) */
	if (w->o.len >= RCHUNK_BYTES || (w->o.len && mono_ns() - w->chunk_ns >= RCHUNK_NS))
		write_chunk(w);
	put(&w->o, rec, size); /* records are multiples of 8 bytes: no padding between */
	return w->err;
}

int recfile_writer_close(struct recfile_writer *w)
{
	struct out_buf *o = &w->o;
	__u32 crc;
	size_t at;
	int err;

	write_chunk(w); /* the last records, after what was named since the last chunk */
	crc = crc32(w->crc_file, o->data, o->len);
	at = begin_section(o, SEC_END);
	put_u32(o, crc);
	end_section(o, at);
	writer_flush(w);
	if (!w->err && fsync(w->fd) && errno != EINVAL)
		w->err = -errno;
	err = w->err;
	if (err) {
		/* said when it happened (writer_put); the old file, if any, stays */
		outfile_abort(&w->file);
	} else {
		err = outfile_commit(&w->file);
	}
	free(o->data);
	free(w->syms.data);
	u64_map_free(&w->modules_done);
	free(w->path);
	free(w);
	return err;
}

void recfile_writer_discard(struct recfile_writer *w)
{
	outfile_abort(&w->file);
	free(w->o.data);
	free(w->syms.data);
	u64_map_free(&w->modules_done);
	free(w->path);
	free(w);
}

int recfile_write(const char *path, const struct rec_info *info, const struct record_buf *rb,
		  const struct symdata *sd)
{
	struct recfile_writer *w = recfile_writer_open(path, info, sd);

	if (!w)
		return -EIO;
	recfile_writer_add(w, rb->data, rb->len);
	return recfile_writer_close(w);
}

struct in_buf {
	const __u8 *p;
	size_t len, off;
};

static bool take(struct in_buf *in, void *dst, size_t n)
{
	if (n > in->len - in->off)
		return false;
	memcpy(dst, in->p + in->off, n);
	in->off += n;
	return true;
}

/* Take n bytes as a new NUL-terminated string without NUL bytes inside. */
static bool take_str(struct in_buf *in, size_t n, char **out)
{
	if (n > in->len - in->off || memchr(in->p + in->off, 0, n))
		return false;
	*out = xcalloc(1, n + 1);
	memcpy(*out, in->p + in->off, n);
	in->off += n;
	return true;
}

static void parse_info(const char *text, size_t len, struct rec_info *info)
{
	char *copy = xcalloc(1, len + 1), *line, *save = NULL;

	memcpy(copy, text, len);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq++ = 0;
		if (!strcmp(line, "host"))
			snprintf(info->host, sizeof(info->host), "%s", eq);
		else if (!strcmp(line, "kernel"))
			snprintf(info->kernel, sizeof(info->kernel), "%s", eq);
		else if (!strcmp(line, "cmdline"))
			snprintf(info->cmdline, sizeof(info->cmdline), "%s", eq);
		else if (!strcmp(line, "version"))
			snprintf(info->version, sizeof(info->version), "%s", eq);
		else if (!strcmp(line, "start_realtime_ns"))
			info->start_realtime_ns = strtoull(eq, NULL, 10);
		else if (!strcmp(line, "start_monotonic_ns"))
			info->start_monotonic_ns = strtoull(eq, NULL, 10);
	}
	free(copy);
}

/* Where a parse reads from: memory, or a file mapped read-only whose pages it lets go behind. */
struct src {
	const __u8 *data;
	size_t len;
	bool mapped;
};

#define CHUNK (8u << 20)

/* A mapped file's pages in [from, to) are read: drop them (the page cache keeps them). */
static void let_go(const struct src *s, size_t from, size_t to)
{
	size_t a = (from + 4095) & ~(size_t)4095, b = to & ~(size_t)4095;

	if (s->mapped && b > a)
		madvise((void *)(s->data + a), b - a, MADV_DONTNEED);
}

static __u32 crc_of(const struct src *s, size_t len)
{
	__u32 crc = crc32(0, NULL, 0);

	for (size_t at = 0; at < len; at += CHUNK) {
		size_t n = len - at < CHUNK ? len - at : CHUNK;

		crc = crc32(crc, s->data + at, n);
		let_go(s, at, at + n);
	}
	return crc;
}

/*
 * A Python stack from before local0 (16-byte frames) in the current layout, in out; NULL when
 * rec is not one.
 */
static const struct tt_rec_hdr *widen_pystack(const __u8 *rec, size_t *size, void *out)
{
	struct tt_pystack *ps = out;
	struct tt_pyframe *f;

	if (*size < sizeof(*ps) || ((const struct tt_rec_hdr *)rec)->kind != TT_REC_PYSTACK)
		return NULL;
	memcpy(ps, rec, sizeof(*ps));
	if (!ps->nr || ps->nr > TT_PY_MAX_FRAMES ||
	    *size != sizeof(*ps) + (size_t)ps->nr * TT_PYFRAME_V1_SIZE)
		return NULL;
	for (unsigned i = 0; i < ps->nr; i++) {
		f = &ps->frames[i];
		memcpy(f, rec + sizeof(*ps) + i * TT_PYFRAME_V1_SIZE, TT_PYFRAME_V1_SIZE);
		f->local0 = 0;
	}
	*size = sizeof(*ps) + ps->nr * sizeof(*f);
	ps->hdr.size = (__u16)*size;
	return &ps->hdr;
}

/*
 * Check every record of a RECORDS payload (at byte base of the file) and hand each to fn
 * (NULL: check only). 0, or -EINVAL with why, or what fn returned.
 */
static int each_record(const struct src *s, size_t base, size_t len, bool checked,
		       record_sink_fn fn, void *ctx, char *why, size_t wl)
{
	const __u8 *p = s->data + base;
	size_t off = 0, nr = 0, done = 0;
	int err;

	while (off < len) {
		struct tt_rec_hdr h;
		const struct tt_rec_hdr *rec, *wide;
		size_t size;
		__u64
		    buf[(sizeof(struct tt_pystack) + TT_PY_MAX_FRAMES * sizeof(struct tt_pyframe)) /
			8];

		if (len - off < sizeof(h)) {
			snprintf(why, wl, "a record at byte %zu of the records is cut short", off);
			return -EINVAL;
		}
		memcpy(&h, p + off, sizeof(h));
		if (h.size < sizeof(h) || h.size > len - off) {
			snprintf(why, wl, "record %zu has an impossible size %u", nr, h.size);
			return -EINVAL;
		}
		/* the size against the kind and the stack it carries (once) */
		if (!checked && record_check(p + off, h.size)) {
			snprintf(why, wl, "record %zu (kind %u, %u bytes) is malformed", nr, h.kind,
				 h.size);
			return -EINVAL;
		}
		rec = (const void *)(p + off);
		size = h.size;
		wide = widen_pystack(p + off, &size, buf);
		if (fn && (err = fn(ctx, wide ? wide : rec, size)))
			return err;
		off += h.size;
		nr++;
		if (off - done >= CHUNK) {
			let_go(s, base + done, base + off);
			done = off;
		}
	}
	let_go(s, base + done, base + off);
	return 0;
}

static int append_record(void *ctx, const struct tt_rec_hdr *h, size_t size)
{
	return records_append(ctx, h, size);
}

static int parse_frames(const __u8 *p, size_t len, struct symdata *sd)
{
	struct in_buf in = {.p = p, .len = len};

	while (in.off < in.len) {
		__u64 ip;
		__u16 nl, fl;
		char *name = NULL, *func = NULL;

		if (!take(&in, &ip, 8) || !take(&in, &nl, 2) || !take(&in, &fl, 2) ||
		    !take_str(&in, nl, &name) || (fl && !take_str(&in, fl, &func))) {
			free(name);
			return -EINVAL;
		}
		symdata_add_frame(sd, ip, name, fl ? func : NULL);
		free(name);
		free(func);
	}
	return 0;
}

static int parse_locks(const __u8 *p, size_t len, struct symdata *sd)
{
	struct in_buf in = {.p = p, .len = len};

	while (in.off < in.len) {
		__u64 addr, name_off, module_off;
		__u8 mem_ok, flags;
		__u16 nl, ml, ll;
		__u8 mem[TT_MEMWIN_LEN];
		char *name = NULL, *module = NULL, *location = NULL;
		struct sym_lock *l;

		if (!take(&in, &addr, 8) || !take(&in, &name_off, 8) ||
		    !take(&in, &module_off, 8) || !take(&in, &mem_ok, 1) || !take(&in, &flags, 1) ||
		    !take(&in, &nl, 2) || !take(&in, &ml, 2) || !take(&in, &ll, 2) ||
		    !take(&in, mem, TT_MEMWIN_LEN) || mem_ok > 1 || (flags & ~7) ||
		    ((flags & LOCK_HAS_NAME) && !take_str(&in, nl, &name)) ||
		    ((flags & LOCK_HAS_MODULE) && !take_str(&in, ml, &module)) ||
		    ((flags & LOCK_HAS_LOCATION) && !take_str(&in, ll, &location)) ||
		    symdata_lock(sd, addr)) {
			free(name);
			free(module);
			free(location);
			return -EINVAL;
		}
		l = symdata_add_lock(sd, addr);
		l->name = name;
		l->name_off = name_off;
		l->module = module ? symdata_str(sd, module) : NULL;
		l->module_off = module_off;
		l->location = location ? symdata_str(sd, location) : NULL;
		free(module);
		free(location);
		l->mem_ok = mem_ok;
		memcpy(l->mem, mem, TT_MEMWIN_LEN);
	}
	return 0;
}

/* Modules never overlap (format 3 writes them as they are found, not in order). */
static bool module_overlaps(const struct symdata *sd, __u64 start, __u64 end)
{
	for (size_t i = 0; i < sd->nr_modules; i++)
		if (start < sd->modules[i].end && sd->modules[i].start < end)
			return true;
	return false;
}

static int parse_modules(const __u8 *p, size_t len, struct symdata *sd)
{
	struct in_buf in = {.p = p, .len = len};

	while (in.off < in.len) {
		__u64 start, end, pgoff;
		__u16 pl, bl;
		char *path = NULL, *build_id = NULL;

		if (!take(&in, &start, 8) || !take(&in, &end, 8) || !take(&in, &pgoff, 8) ||
		    !take(&in, &pl, 2) || !take(&in, &bl, 2) || !take_str(&in, pl, &path) ||
		    !take_str(&in, bl, &build_id) || end <= start ||
		    module_overlaps(sd, start, end)) {
			free(path);
			free(build_id);
			return -EINVAL;
		}
		symdata_add_module(sd, start, end, pgoff, path, build_id);
		free(path);
		free(build_id);
	}
	return 0;
}

/* After FRAMES: every ip must have a frame, at most 64 inlined functions each. */
static int parse_inlines(const __u8 *p, size_t len, struct symdata *sd)
{
	struct in_buf in = {.p = p, .len = len};

	while (in.off < in.len) {
		__u64 ip;
		__u16 count;

		if (!take(&in, &ip, 8) || !take(&in, &count, 2) || !count || count > 64 ||
		    !symdata_frame(sd, ip) || symdata_frame(sd, ip)->nr_inlined)
			return -EINVAL;
		for (__u16 k = 0; k < count; k++) {
			__u16 nl, fl;
			char *name = NULL, *func = NULL;

			if (!take(&in, &nl, 2) || !take(&in, &fl, 2) || !take_str(&in, nl, &name) ||
			    !take_str(&in, fl, &func)) {
				free(name);
				return -EINVAL;
			}
			symdata_add_inline(sd, ip, name, fl ? func : NULL);
			free(name);
			free(func);
		}
	}
	return 0;
}

/* After FRAMES: source lines of frames it has. */
static int parse_pysrc(const __u8 *p, size_t len, struct symdata *sd)
{
	struct in_buf in = {.p = p, .len = len};

	while (in.off < in.len) {
		__u64 ip;
		__u16 n;
		char *text = NULL;

		if (!take(&in, &ip, 8) || !take(&in, &n, 2) || !n || !take_str(&in, n, &text) ||
		    !symdata_frame(sd, ip) || symdata_frame(sd, ip)->src) {
			free(text);
			return -EINVAL;
		}
		symdata_set_src(sd, ip, text);
		free(text);
	}
	return 0;
}

/*
 * Check a whole file and read its INFO and symbol data; the records are checked and, with fn,
 * handed over as they come; *records and *records_len say where they lie.
 */
/*
 * Whether the file ends in an END section: the writer's last bytes, so it finished, and any
 * fault inside is damage, not a writer that died.
 */
static bool has_end(const struct src *s)
{
	__u32 type, reserved;
	__u64 len;

	if (s->len < 40)
		return false;
	memcpy(&type, s->data + s->len - 24, 4);
	memcpy(&reserved, s->data + s->len - 20, 4);
	memcpy(&len, s->data + s->len - 16, 8);
	return type == SEC_END && !reserved && len == 4;
}

/*
 * What a walk found beyond its sections: where format 1 keeps its records, and where a format 2
 * file whose writer died is cut (0: it is whole).
 */
struct walk_out {
	__u32 version;
	size_t records, records_len; /* format 1: the RECORDS payload */
	size_t cut_at;		     /* format 2: bytes read, up to the last whole section */
	size_t nr_chunks;
};

/*
 * Walk a file's sections: check them, parse the symbol data into sd (unless NULL), hand the
 * records of format 2 to fn (NULL: check only; format 1's are handed by the caller). 0, or
 * -EINVAL with why. A format 2 file cut short is no error: out->cut_at and why say where.
 */
static int walk(const struct src *s, struct rec_info *info, struct symdata *sd, record_sink_fn fn,
		void *ctx, struct walk_out *out, char *why, size_t wl)
{
	const __u8 *data = s->data;
	size_t len = s->len;
	struct in_buf in = {.p = data, .len = len};
	char magic[8];
	__u32 version, nsec;
	unsigned seen = 0, want;
	bool end = false;

	memset(info, 0, sizeof(*info));
	memset(out, 0, sizeof(*out));
	if (!take(&in, magic, 8) || memcmp(magic, TT_FILE_MAGIC, 8)) {
		snprintf(why, wl, "not a threadtrace record file");
		return -EINVAL;
	}
	if (!take(&in, &version, 4) || !take(&in, &nsec, 4)) {
		snprintf(why, wl, "the file header is cut short");
		return -EINVAL;
	}
	if (version > TT_FILE_VERSION) {
		snprintf(why, wl, "written by a newer threadtrace (format %u; this one reads %d)",
			 version, TT_FILE_VERSION);
		return -EINVAL;
	}
	if (version < 1) {
		snprintf(why, wl, "unknown record file format %u", version);
		return -EINVAL;
	}
	out->version = version;
	while (!end) {
		size_t start = in.off;
		__u32 type, reserved;
		__u64 slen;
		const __u8 *payload;
		bool symbols;
		int err = 0;

		/* format 2 past its INFO: the writer may have died here; what came before stands */
#define CUT(...)                                                                                   \
	do {                                                                                       \
		if (version >= 2 && (seen & (1u << SEC_INFO)) && !has_end(s)) {                    \
			out->cut_at = start;                                                       \
			snprintf(why, wl, __VA_ARGS__);                                            \
			goto cut;                                                                  \
		}                                                                                  \
		snprintf(why, wl, __VA_ARGS__);                                                    \
		return -EINVAL;                                                                    \
	} while (0)
		if (!take(&in, &type, 4) || !take(&in, &reserved, 4) || !take(&in, &slen, 8))
			CUT("the file is truncated (no end marker)");
		/* format 3: the symbol sections come as the names were learnt, each checked */
		symbols = version >= 3 &&
			  (type == SEC_FRAMES || type == SEC_LOCKS || type == SEC_MODULES ||
			   type == SEC_INLINES || type == SEC_PYSRC);
		if (reserved && type != SEC_RCHUNK && !symbols) {
			snprintf(why, wl, "damaged: bad section header at byte %zu", start);
			return -EINVAL;
		}
		if (slen > in.len - in.off)
			CUT("the file is truncated (section %u wants %llu bytes, %zu are left)",
			    type, (unsigned long long)slen, in.len - in.off);
		if (type < SEC_INFO || type > SEC_PYSRC ||
		    ((seen & (1u << type)) && type != SEC_RCHUNK && !symbols) ||
		    (type == SEC_RECORDS && version != 1) || (type == SEC_RCHUNK && version < 2) ||
		    ((type == SEC_INLINES || type == SEC_PYSRC) && !(seen & (1u << SEC_FRAMES)))) {
			snprintf(why, wl, "damaged: unexpected section %u at byte %zu", type,
				 start);
			return -EINVAL;
		}
		payload = in.p + in.off;
		if (type == SEC_RCHUNK || symbols) {
			__u32 crc = crc32(crc32(0, NULL, 0), payload, slen);

#ifdef TT_FUZZING
			crc = reserved; /* let the fuzzer past the checksum */
#endif
			if (crc != reserved && symbols)
				CUT("damaged: section %u at byte %zu fails its checksum", type,
				    start);
			if (crc != reserved)
				CUT("damaged: records chunk %zu at byte %zu fails its checksum",
				    out->nr_chunks, start);
		}
		seen |= 1u << type;
		switch (type) {
		case SEC_INFO:
			parse_info((const char *)payload, slen, info);
			break;
		case SEC_RECORDS:
			out->records = in.off;
			out->records_len = slen;
			err = each_record(s, in.off, slen, false, NULL, NULL, why, wl);
			if (err)
				return err;
			break;
		case SEC_RCHUNK:
			err = each_record(s, in.off, slen, false, fn, ctx, why, wl);
			if (err)
				return err;
			out->nr_chunks++;
			break;
		case SEC_FRAMES:
			err = sd ? parse_frames(payload, slen, sd) : 0;
			break;
		case SEC_LOCKS:
			err = sd ? parse_locks(payload, slen, sd) : 0;
			break;
		case SEC_MODULES:
			err = sd ? parse_modules(payload, slen, sd) : 0;
			break;
		case SEC_INLINES:
			err = sd ? parse_inlines(payload, slen, sd) : 0;
			break;
		case SEC_PYSRC:
			err = sd ? parse_pysrc(payload, slen, sd) : 0;
			break;
		case SEC_END: {
			__u32 crc;

			if (slen < 4) {
				snprintf(why, wl, "damaged: short end marker");
				return -EINVAL;
			}
			memcpy(&crc, payload, 4);
#ifdef TT_FUZZING
			/* let the fuzzer reach the structure behind the checksum */
			crc = crc32(0, data, start);
#endif
			if (crc_of(s, start) != crc) {
				snprintf(why, wl, "damaged: checksum mismatch");
				return -EINVAL;
			}
			end = true;
			break;
		}
		}
		if (err) {
			snprintf(why, wl, "damaged: malformed %s section",
				 type == SEC_FRAMES    ? "frames"
				 : type == SEC_LOCKS   ? "locks"
				 : type == SEC_MODULES ? "modules"
				 : type == SEC_INLINES ? "inlines"
						       : "source lines");
			return err;
		}
		in.off += slen;
		/* read: a symbol section of 10^5 locks is megabytes the page cache keeps anyway */
		let_go(s, start, in.off);
		if ((8 - slen % 8) % 8 > in.len - in.off)
			CUT("the file is truncated");
		for (size_t pad = (8 - slen % 8) % 8; pad; pad--) {
			if (in.p[in.off++]) {
				snprintf(why, wl, "damaged: bad padding at byte %zu", in.off - 1);
				return -EINVAL;
			}
		}
#undef CUT
	}
	/* INLINES and PYSRC may be absent (files from before them), and chunks (no record) */
	want = (1u << SEC_INFO) | (1u << SEC_FRAMES) | (1u << SEC_LOCKS) | (1u << SEC_MODULES) |
	       (1u << SEC_END) | (version == 1 ? 1u << SEC_RECORDS : 0);
	if (version >= 3) /* nothing named: no symbol section */
		seen |= want & ((1u << SEC_FRAMES) | (1u << SEC_LOCKS) | (1u << SEC_MODULES));
	if ((seen & ~((1u << SEC_INLINES) | (1u << SEC_RCHUNK) | (1u << SEC_PYSRC))) != want) {
		snprintf(why, wl, "damaged: a section is missing");
		return -EINVAL;
	}
	if (in.off != in.len) {
		snprintf(why, wl, "damaged: %zu bytes after the end marker", in.len - in.off);
		return -EINVAL;
	}
	return 0;
cut:
	return 0;
}

/* A file cut short is read up to there: say what was lost. */
static void say_cut(const char *path, const struct src *s, const struct walk_out *out,
		    const char *why)
{
	fprintf(stderr,
		"threadtrace: %s is cut short at byte %zu of %zu (%s): the session that "
		"wrote it did not finish (killed, crashed or out of disk?); the %zu whole "
		"record chunks before are read%s\n",
		path, out->cut_at, s->len, why, out->nr_chunks,
		out->version >= 3 ? ", with the names written before them"
				  : ", frames and locks stay unnamed (a file from before names "
				    "were written as they came)");
}

int recfile_parse(const __u8 *data, size_t len, struct rec_info *info, struct record_buf *rb,
		  struct symdata *sd, char *why, size_t wl)
{
	struct src s = {data, len, false};
	struct walk_out out;
	int err;

	if (wl)
		why[0] = 0;
	err = walk(&s, info, sd, append_record, rb, &out, why, wl);

	if (!err && out.records_len)
		err =
		    each_record(&s, out.records, out.records_len, true, append_record, rb, why, wl);
	return err;
}

static int map_file(const char *path, struct src *s)
{
	struct stat st;
	int fd, err = 0;

	memset(s, 0, sizeof(*s));
	/* non-blocking: a FIFO with no writer must not hang the open */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		fprintf(stderr, "threadtrace: cannot open %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		fprintf(stderr, "threadtrace: %s is not a regular file\n", path);
		goto out;
	}
	s->len = st.st_size;
	s->data = (const __u8 *)"";
	if (s->len) {
		void *m = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (m == MAP_FAILED) {
			err = -errno;
			fprintf(stderr, "threadtrace: cannot read %s: %s\n", path, strerror(errno));
			goto out;
		}
		s->data = m;
		s->mapped = true;
	}
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static void unmap_file(struct src *s)
{
	if (s->mapped)
		munmap((void *)s->data, s->len);
}

int recfile_read(const char *path, struct rec_info *info, struct record_buf *rb, struct symdata *sd)
{
	char why[256] = "";
	struct src s;
	struct walk_out out;
	int err = map_file(path, &s);

	if (err)
		return err;
	err = walk(&s, info, sd, append_record, rb, &out, why, sizeof(why));
	if (!err && out.records_len)
		err = each_record(&s, out.records, out.records_len, true, append_record, rb, why,
				  sizeof(why));
	if (!err && out.cut_at)
		say_cut(path, &s, &out, why);
	if (err) {
		fprintf(stderr, "threadtrace: cannot read record file %s: %s\n", path, why);
		records_free(rb);
		symdata_free(sd);
	}
	unmap_file(&s);
	return err;
}

int recfile_stream(const char *path, struct rec_info *info, struct symdata *sd, record_sink_fn fn,
		   void *ctx)
{
	char why[256] = "";
	struct src s;
	struct walk_out out;
	struct rec_info again;
	int err = map_file(path, &s);

	if (err)
		return err;
	/* the whole file is checked first: a damaged one fails before any record is used */
	err = walk(&s, info, sd, NULL, NULL, &out, why, sizeof(why));
	if (!err && out.cut_at)
		say_cut(path, &s, &out, why);
	if (!err && out.records_len)
		err =
		    each_record(&s, out.records, out.records_len, true, fn, ctx, why, sizeof(why));
	else if (!err)
		err = walk(&s, &again, NULL, fn, ctx, &out, why, sizeof(why));
	if (err) {
		fprintf(stderr, "threadtrace: cannot read record file %s: %s\n", path, why);
		symdata_free(sd);
	}
	unmap_file(&s);
	return err;
}
