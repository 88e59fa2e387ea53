/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pidns.h - thread ids as the target sees them in its PID namespace (glibc's mutex __owner, PI
 * and robust lock words hold them) turned into the host's, from the NSpid lines in /proc.
 */
#ifndef TT_PIDNS_H
#define TT_PIDNS_H

#include <stdbool.h>
#include <sys/types.h>
#include "util.h"

struct pidns;

struct pidns *pidns_open(pid_t pid);
void pidns_close(struct pidns *ns);
/* true when the target's tids are not the host's (a container, unshare -p). */
bool pidns_nested(const struct pidns *ns);
/* Forget the threads read so far: they come and go. Call before a round of lookups. */
void pidns_forget(struct pidns *ns);
/*
 * The live thread the target calls ns_tid: its host tid and process. Looked for among the
 * target's threads, and with others in every process of the target's namespace (a
 * process-shared lock). A zombie is not alive. 0, or -ENOENT when there is no such thread.
 */
int pidns_lookup(struct pidns *ns, __u32 ns_tid, bool others, pid_t *tid, pid_t *tgid);

#endif
