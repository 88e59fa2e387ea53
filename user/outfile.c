// SPDX-License-Identifier: GPL-2.0
/*
 * outfile.c - see outfile.h. The rules are the kernel's fs.protected_symlinks/protected_regular
 * (and perf's) made our own, so they hold whatever the sysctls say: in a sticky
 * world-writable directory a link or a file is trusted only when we or the directory's owner
 * own it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>
#include "outfile.h"
#include "util.h"

/* The directory part of path, malloc'd ("." for a bare name). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	d = xstrdup(path);
	d[slash - path] = 0;
	return d;
}

/* Whether st (of something in dir) may be trusted: not planted by another user in /tmp. */
static bool trusted_in(const struct stat *st, const struct stat *dir)
{
	if (!(dir->st_mode & S_ISVTX) || !(dir->st_mode & S_IWOTH))
		return true;
	return st->st_uid == geteuid() || st->st_uid == dir->st_uid;
}

int outfile_check(const char *path)
{
	char *dir = dir_of(path);
	struct stat st, ds;
	int err = 0;

	if (!strcmp(path, "-"))
		goto out;
	if (stat(dir, &ds)) {
		err = -errno;
		fprintf(stderr, "threadtrace: cannot write %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(ds.st_mode)) {
		err = -ENOTDIR;
		fprintf(stderr, "threadtrace: cannot write %s: %s is not a directory\n", path, dir);
		goto out;
	}
	if (lstat(path, &st)) {
		if (errno != ENOENT) {
			err = -errno;
			fprintf(stderr, "threadtrace: cannot write %s: %s\n", path,
				strerror(errno));
		} else if (access(dir, W_OK | X_OK)) {
			err = -errno;
			fprintf(stderr, "threadtrace: cannot write %s: %s\n", path,
				strerror(errno));
		}
		goto out;
	}
	if (!trusted_in(&st, &ds)) {
		err = -EPERM;
		fprintf(stderr,
			"threadtrace: refusing to write %s: a %s owned by uid %u in the "
			"shared directory %s (another user could have planted it); choose "
			"another path\n",
			path, S_ISLNK(st.st_mode) ? "link" : "file", (unsigned)st.st_uid, dir);
		goto out;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		fprintf(stderr, "threadtrace: cannot write %s: it is a directory\n", path);
	} else if (access(dir, W_OK | X_OK) && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
		err = -errno;
		fprintf(stderr, "threadtrace: cannot write %s: %s\n", path, strerror(errno));
	}
out:
	free(dir);
	return err;
}

/* Under sudo the files are the invoking user's, so they can read them without root. */
static void give_to_sudo_user(int fd)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	char *end;
	unsigned long uid, gid;

	if (geteuid() || !u || !g)
		return;
	uid = strtoul(u, &end, 10);
	if (*end || !*u)
		return;
	gid = strtoul(g, &end, 10);
	if (*end || !*g)
		return;
	if (fchown(fd, (uid_t)uid, (gid_t)gid))
		return; /* a file system without owners (vfat): root keeps it */
}

int outfile_open(struct outfile *o, const char *path, mode_t mode)
{
	char real[PATH_MAX], *dir, *base;
	const char *target = path;
	struct stat st;
	int err;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	err = outfile_check(path);
	if (err)
		return err;
	o->path = xstrdup(path);
	if (!strcmp(path, "-")) {
		o->fd = dup(STDOUT_FILENO);
		return o->fd < 0 ? -errno : 0;
	}
	/* a link outside shared directories is the user's own: write where it leads */
	if (!lstat(path, &st) && S_ISLNK(st.st_mode) && realpath(path, real))
		target = real;
	if (!stat(target, &st) && !S_ISREG(st.st_mode)) {
		/* a terminal, a pipe, /dev/null: written in place, nothing to replace */
		o->fd = open(target, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (o->fd < 0) {
			err = -errno;
			fprintf(stderr, "threadtrace: cannot write %s: %s\n", path,
				strerror(errno));
		}
		return err;
	}
	dir = dir_of(target);
	base = strrchr(target, '/') ? strrchr(target, '/') + 1 : (char *)target;
	o->tmp = xcalloc(1, strlen(dir) + strlen(base) + 32);
	sprintf(o->tmp, "%s/%s.partial.XXXXXX", dir, base);
	free(dir);
	free(o->path);
	o->path = xstrdup(target);
	/* a new name of our own (O_EXCL): nothing planted there can be followed */
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0 || fchmod(o->fd, mode)) {
		err = -errno;
		fprintf(stderr, "threadtrace: cannot write %s: %s\n", path, strerror(errno));
		outfile_abort(o);
		return err;
	}
	give_to_sudo_user(o->fd);
	return 0;
}

int outfile_commit(struct outfile *o)
{
	int err = 0;

	if (o->fd >= 0 && close(o->fd))
		err = -errno;
	o->fd = -1;
	if (!err && o->tmp && rename(o->tmp, o->path))
		err = -errno;
	if (err) {
		fprintf(stderr, "threadtrace: failed to write %s: %s\n", o->path, strerror(-err));
		outfile_abort(o);
		return err;
	}
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}
