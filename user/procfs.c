// SPDX-License-Identifier: GPL-2.0
/* procfs.c - see procfs.h. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <ctype.h>
#include <sys/uio.h>
#include "procfs.h"

void proc_maps_free(struct proc_maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

int procfs_read_maps(pid_t pid, struct proc_maps *m)
{
	char dir[96], path[112], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/maps", procfs_dir(pid, dir, sizeof(dir)));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	proc_maps_free(m);
	while (getline(&line, &cap, f) > 0) {
		unsigned long long start, end, pgoff, inode;
		char perms[8], dev[16];
		int n = 0;
		struct map_entry *e;
		char *p;

		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &pgoff,
			   dev, &inode, &n) < 6)
			continue;
		p = line + n;
		p[strcspn(p, "\n")] = 0;
		e = VEC_PUSH(m->v, m->n, m->cap);
		e->start = start;
		e->end = end;
		e->pgoff = pgoff;
		e->inode = inode;
		snprintf(e->perms, sizeof(e->perms), "%s", perms);
		e->path = xstrdup(p);
	}
	free(line);
	fclose(f);
	return 0;
}

const struct map_entry *proc_maps_find(const struct proc_maps *m, __u64 addr)
{
	size_t lo = 0, hi = m->n;

	/* /proc/PID/maps is sorted by address. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

int procfs_threads(pid_t pid, pid_t **tids)
{
	char path[64];
	struct dirent *de;
	size_t n = 0, cap = 0;
	DIR *d;

	*tids = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		*VEC_PUSH(*tids, n, cap) = atoi(de->d_name);
	}
	closedir(d);
	return (int)n;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

int procfs_comm(pid_t pid, char *buf)
{
	char path[64], tmp[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	err = read_small(path, tmp, sizeof(tmp));
	if (err)
		return err;
	tmp[strcspn(tmp, "\n")] = 0;
	memset(buf, 0, TT_COMM_LEN);
	snprintf(buf, TT_COMM_LEN, "%s", tmp);
	return 0;
}

int procfs_thread_comm(pid_t pid, pid_t tid, char *buf)
{
	char path[64], tmp[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	err = read_small(path, tmp, sizeof(tmp));
	memset(buf, 0, TT_COMM_LEN);
	if (err) {
		strcpy(buf, "?");
		return err;
	}
	tmp[strcspn(tmp, "\n")] = 0;
	snprintf(buf, TT_COMM_LEN, "%s", tmp);
	return 0;
}

int procfs_thread_info(pid_t pid, pid_t tid, struct tt_thread_info *info)
{
	char path[96], buf[512], *p;
	unsigned long long nr, a0, a1;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	err = read_small(path, buf, sizeof(buf));
	if (err)
		return err;
	buf[strcspn(buf, "\n")] = 0;
	memset(info->comm, 0, sizeof(info->comm));
	snprintf(info->comm, sizeof(info->comm), "%s", buf);

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	err = read_small(path, buf, sizeof(buf));
	if (err)
		return err;
	/* The comm field may hold spaces and parentheses: the state follows the last ')'. */
	p = strrchr(buf, ')');
	info->state = p && p[1] == ' ' ? p[2] : '?';

	info->in_futex_wait = 0;
	info->futex_op = 0;
	info->futex_uaddr = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	/* "202 0xuaddr 0xop ..." while blocked in futex; "running" or -1 otherwise. */
	if (!read_small(path, buf, sizeof(buf)) &&
	    sscanf(buf, "%llu %llx %llx", &nr, &a0, &a1) == 3 && nr == 202) {
		__u32 cmd = (__u32)a1 & TT_FUTEX_CMD_MASK;

		if (cmd == TT_FUTEX_WAIT || cmd == TT_FUTEX_WAIT_BITSET ||
		    cmd == TT_FUTEX_LOCK_PI || cmd == TT_FUTEX_LOCK_PI2 ||
		    cmd == TT_FUTEX_WAIT_REQUEUE_PI) {
			info->in_futex_wait = 1;
			info->futex_op = (__u32)a1;
			info->futex_uaddr = a0;
		}
	}
	return 0;
}

long procfs_syscall(pid_t pid, pid_t tid, __u64 args[6], __u64 *sp, __u64 *pc)
{
	char path[96], buf[512];
	unsigned long long v[9];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	err = read_small(path, buf, sizeof(buf));
	if (err)
		return err;
	if (sscanf(buf, "%llu %llx %llx %llx %llx %llx %llx %llx %llx", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7], &v[8]) != 9)
		return -1; /* "running" or "-1 sp pc": not inside a syscall */
	for (int i = 0; i < 6; i++)
		args[i] = v[i + 1];
	*sp = v[7];
	*pc = v[8];
	return (long)v[0];
}

int procfs_read_mem(pid_t pid, __u64 addr, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* A live thread of pid other than its (exited) main one, or 0. */
static pid_t live_thread(pid_t pid)
{
	char path[96], buf[512], *p;
	pid_t *tids = NULL, live = 0;
	int n = procfs_threads(pid, &tids);

	for (int i = 0; i < n && !live; i++) {
		if (tids[i] == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tids[i]);
		if (read_small(path, buf, sizeof(buf)))
			continue;
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X')
			live = tids[i];
	}
	free(tids);
	return live;
}

/* A process whose main thread has exited is alive while any other thread is. */
static int any_thread_alive(pid_t pid)
{
	return live_thread(pid) != 0;
}

const char *procfs_dir(pid_t pid, char *buf, size_t len)
{
	char path[64], stat[512], *p;
	pid_t live;

	snprintf(buf, len, "/proc/%d", pid);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_small(path, stat, sizeof(stat)) || !(p = strrchr(stat, ')')) || p[1] != ' ' ||
	    (p[2] != 'Z' && p[2] != 'X'))
		return buf;
	/* a zombie main thread has no maps, root or memory of its own any more */
	live = live_thread(pid);
	if (live)
		snprintf(buf, len, "/proc/%d/task/%d", pid, live);
	return buf;
}

int procfs_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	err = read_small(path, buf, sizeof(buf));
	if (err == -ENOENT || err == -ESRCH)
		return 0;
	if (err)
		return err;
	p = strrchr(buf, ')');
	if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return any_thread_alive(pid);
	return 1;
}
