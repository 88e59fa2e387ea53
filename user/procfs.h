/* SPDX-License-Identifier: GPL-2.0 */
/*
 * procfs.h - facts about a live process read from /proc and its memory: memory maps, threads,
 * what a thread is blocked in, bytes around an address. Only the collector uses this.
 */
#ifndef TT_PROCFS_H
#define TT_PROCFS_H

#include <sys/types.h>
#include "util.h"
#include "threadtrace.h"

struct map_entry {
	__u64 start, end, pgoff;
	__u64 inode;
	char perms[5];
	char *path; /* "" for anonymous; "[heap]", "[stack]", "/usr/lib/..." */
};

struct proc_maps {
	struct map_entry *v;
	size_t n, cap;
};

/*
 * Where pid's facts are in /proc, into buf: /proc/PID, or /proc/PID/task/TID of a live thread
 * once its main thread has exited (the process lives on; the leader's maps and root are gone).
 */
const char *procfs_dir(pid_t pid, char *buf, size_t len);
/* Parse /proc/PID/maps into m (replacing its content). 0 or -errno. */
int procfs_read_maps(pid_t pid, struct proc_maps *m);
void proc_maps_free(struct proc_maps *m);
const struct map_entry *proc_maps_find(const struct proc_maps *m, __u64 addr);

/* The tids of pid's threads. Returns the count or -errno; *tids is malloc'd. */
int procfs_threads(pid_t pid, pid_t **tids);
/* Fill info (not its header) from /proc/PID/task/TID/{comm,stat,syscall}. 0 or -errno. */
int procfs_thread_info(pid_t pid, pid_t tid, struct tt_thread_info *info);
/*
 * What a thread blocked in a syscall is doing, from /proc/PID/task/TID/syscall: the syscall
 * number (or -errno, or -1 when running), its six arguments, its user sp and pc.
 */
long procfs_syscall(pid_t pid, pid_t tid, __u64 args[6], __u64 *sp, __u64 *pc);
/* comm of a process into buf[TT_COMM_LEN]. 0 or -errno. */
int procfs_comm(pid_t pid, char *buf);
/* comm of a thread into buf[TT_COMM_LEN], "?" where it cannot be read. 0 or -errno. */
int procfs_thread_comm(pid_t pid, pid_t tid, char *buf);
/* Read len bytes at addr in pid's memory. 0 or -errno (partial reads are failures). */
int procfs_read_mem(pid_t pid, __u64 addr, void *buf, size_t len);
/* 1 if pid exists and is not a zombie, 0 if it does not, -errno when it cannot be told. */
int procfs_alive(pid_t pid);

#endif
