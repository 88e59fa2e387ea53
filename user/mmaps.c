// SPDX-License-Identifier: GPL-2.0
/* mmaps.c - see mmaps.h. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include "mmaps.h"

#define DATA_PAGES 64 /* per CPU; a power of two */

struct cpu_buf {
	int fd;
	void *base;
	size_t data_size;
};

struct mmap_watch {
	struct cpu_buf *cpus;
	int nr;
	__u64 lost;
};

struct mmap_watch *mmap_watch_open(pid_t pid)
{
	struct perf_event_attr attr = {0};
	struct mmap_watch *w = xcalloc(1, sizeof(*w));
	long page = sysconf(_SC_PAGESIZE);
	int ncpu = (int)sysconf(_SC_NPROCESSORS_CONF), err = 0;

	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_DUMMY;
	attr.mmap = 1;
	attr.mmap2 = 1;
	attr.mmap_data = 1; /* data too: lock names come from .data and .bss symbols */
	attr.inherit = 1;   /* threads created later; an inherited event needs a per-CPU buffer */
	attr.exclude_kernel = 1;
	attr.watermark = 1;
	attr.wakeup_watermark = 1;
	w->cpus = xcalloc(ncpu > 0 ? ncpu : 1, sizeof(*w->cpus));
	for (int c = 0; c < ncpu; c++) {
		struct cpu_buf *b = &w->cpus[w->nr];

		b->fd = (int)syscall(SYS_perf_event_open, &attr, pid, c, -1, PERF_FLAG_FD_CLOEXEC);
		if (b->fd < 0) {
			if (errno == ENODEV || errno == EINVAL)
				continue; /* an offline CPU */
			err = errno;
			break;
		}
		b->data_size = DATA_PAGES * page;
		b->base =
		    mmap(NULL, b->data_size + page, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
		if (b->base == MAP_FAILED) {
			err = errno;
			close(b->fd);
			break;
		}
		w->nr++;
	}
	if (err || !w->nr) {
		mmap_watch_close(w);
		errno = err ? err : ENODEV;
		return NULL;
	}
	return w;
}

void mmap_watch_drain(struct mmap_watch *w, mmap_cb cb, void *ctx)
{
	long page = sysconf(_SC_PAGESIZE);

	for (int c = 0; w && c < w->nr; c++) {
		struct cpu_buf *b = &w->cpus[c];
		struct perf_event_mmap_page *meta = b->base;
		__u8 *data = (__u8 *)b->base + page;
		__u64 head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
		__u64 tail = meta->data_tail;

		while (tail < head) {
			struct perf_event_header h;
			__u8 rec[sizeof(struct perf_event_header) + 4096 + 64];
			size_t off = tail % b->data_size, first;

			/* a record may wrap around the end of the buffer */
			first = b->data_size - off < sizeof(h) ? b->data_size - off : sizeof(h);
			memcpy(&h, data + off, first);
			memcpy((__u8 *)&h + first, data, sizeof(h) - first);
			if (h.size < sizeof(h) || h.size > head - tail)
				break;
			if (h.size <= sizeof(rec)) {
				first = b->data_size - off < h.size ? b->data_size - off : h.size;
				memcpy(rec, data + off, first);
				memcpy(rec + first, data, h.size - first);
				if (h.type == PERF_RECORD_MMAP2) {
					/* pid tid addr len pgoff maj min ino ino_gen prot flags
					 * filename */
					const __u8 *p = rec + sizeof(h);
					__u64 addr, len, pgoff;
					const char *name =
					    (const char *)p + 8 + 8 * 3 + 4 * 2 + 8 * 2 + 4 * 2;

					memcpy(&addr, p + 8, 8);
					memcpy(&len, p + 16, 8);
					memcpy(&pgoff, p + 24, 8);
					rec[h.size - 1] = 0;
					if ((const __u8 *)name < rec + h.size)
						cb(ctx, addr, len, pgoff, name);
				} else if (h.type == PERF_RECORD_LOST) {
					__u64 n;

					memcpy(&n, rec + sizeof(h) + 8, 8);
					w->lost += n;
				}
			}
			tail += h.size;
		}
		__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
	}
}

__u64 mmap_watch_lost(const struct mmap_watch *w)
{
	return w ? w->lost : 0;
}

void mmap_watch_close(struct mmap_watch *w)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!w)
		return;
	for (int c = 0; c < w->nr; c++) {
		munmap(w->cpus[c].base, w->cpus[c].data_size + page);
		close(w->cpus[c].fd);
	}
	free(w->cpus);
	free(w);
}
