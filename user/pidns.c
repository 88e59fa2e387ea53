// SPDX-License-Identifier: GPL-2.0
/* pidns.c - see pidns.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include "pidns.h"

#define NS_LEVELS 32
#define NO_THREAD (~0ull) /* in the map: looked for, not found */

struct pidns {
	pid_t pid;
	unsigned level;		 /* the target's depth below our namespace; 0: the same */
	char ino[64];		 /* its namespace, as /proc/PID/ns/pid reads */
	bool own_read, all_read; /* since pidns_forget: the map holds the target's / all threads */
	struct u64_map host;	 /* ns tid -> host tid | host tgid << 32, or NO_THREAD */
};

struct task_status {
	pid_t tgid;
	bool alive;
	unsigned nr_ns;
	pid_t ns[NS_LEVELS]; /* NSpid: the tid in our namespace first, its own last */
};

static int read_status(const char *path, struct task_status *st)
{
	char buf[2048], *p;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	memset(st, 0, sizeof(*st));
	p = strstr(buf, "\nState:");
	st->alive = p && !strchr("ZX", p[8]);
	p = strstr(buf, "\nTgid:");
	if (p)
		st->tgid = atoi(p + 6);
	p = strstr(buf, "\nNSpid:");
	if (!p)
		return -ENOENT;
	p += 7;
	while (st->nr_ns < NS_LEVELS) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		st->ns[st->nr_ns++] = v;
		p = end;
	}
	return st->nr_ns && st->tgid ? 0 : -EINVAL;
}

static void ns_link(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
}

struct pidns *pidns_open(pid_t pid)
{
	struct pidns *ns = xcalloc(1, sizeof(*ns));
	struct task_status st;
	char path[64];

	ns->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!read_status(path, &st))
		ns->level = st.nr_ns - 1;
	ns_link(pid, ns->ino, sizeof(ns->ino));
	return ns;
}

void pidns_close(struct pidns *ns)
{
	if (!ns)
		return;
	u64_map_free(&ns->host);
	free(ns);
}

bool pidns_nested(const struct pidns *ns)
{
	return ns->level > 0;
}

void pidns_forget(struct pidns *ns)
{
	u64_map_free(&ns->host);
	ns->own_read = ns->all_read = false;
}

/* Into the map: every live thread of process pid that lives in the target's namespace. */
static void read_tasks(struct pidns *ns, pid_t pid)
{
	char path[96];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct task_status st;
		bool found;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid, de->d_name);
		if (read_status(path, &st) || !st.alive || st.nr_ns != ns->level + 1)
			continue;
		*u64_map_upsert(&ns->host, st.ns[ns->level], &found) =
		    (__u64)(__u32)st.ns[0] | (__u64)st.tgid << 32;
	}
	closedir(d);
}

static void read_namespace(struct pidns *ns)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d))) {
		pid_t pid;
		char ino[64];

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		/* the same depth is not enough: a sibling namespace numbers its own threads */
		ns_link(pid, ino, sizeof(ino));
		if (pid != ns->pid && !strcmp(ino, ns->ino))
			read_tasks(ns, pid);
	}
	closedir(d);
}

int pidns_lookup(struct pidns *ns, __u32 ns_tid, bool others, pid_t *tid, pid_t *tgid)
{
	struct task_status st;
	char path[96];
	__u64 *v;

	if (!ns_tid)
		return -ENOENT;
	if (!ns->level) {
		bool found;

		/* our own numbers: /proc has every thread by its tid, listed or not; read once
		 * a round (many waiters may name one owner) */
		v = u64_map_upsert(&ns->host, ns_tid, &found);
		if (!found) {
			snprintf(path, sizeof(path), "/proc/%u/status", ns_tid);
			*v = read_status(path, &st) || !st.alive ? NO_THREAD
								 : ns_tid | (__u64)st.tgid << 32;
		}
		if (*v == NO_THREAD || (!others && (pid_t)(*v >> 32) != ns->pid))
			return -ENOENT;
		*tid = ns_tid;
		*tgid = (pid_t)(*v >> 32);
		return 0;
	}
	if (!ns->own_read) {
		read_tasks(ns, ns->pid);
		ns->own_read = true;
	}
	v = u64_map_get(&ns->host, ns_tid);
	if (!v && others && !ns->all_read) {
		read_namespace(ns);
		ns->all_read = true;
		v = u64_map_get(&ns->host, ns_tid);
	}
	if (!v || (!others && (pid_t)(*v >> 32) != ns->pid))
		return -ENOENT;
	*tid = (pid_t)(__u32)*v;
	*tgid = (pid_t)(*v >> 32);
	return 0;
}
