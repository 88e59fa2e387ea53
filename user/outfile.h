/* SPDX-License-Identifier: GPL-2.0 */
/*
 * outfile.h - output files a root tool can write where other users can plant links: written
 * under a new temporary name beside the target, renamed over it once complete; a link or a file
 * another user owns in a sticky directory (/tmp) is refused; under sudo, owned by the invoking
 * user. Terminals, pipes and /dev/null are written in place.
 */
#ifndef TT_OUTFILE_H
#define TT_OUTFILE_H

#include <stdbool.h>
#include <sys/types.h>

struct outfile {
	char *path; /* what the user asked for */
	char *tmp;  /* the file being written, renamed to path by outfile_commit; NULL: in place */
	int fd;
};

/*
 * Whether path can be written: 0, or -errno after one message on stderr saying why (-EPERM: a
 * link or another user's file in a sticky directory; the directory's own errors otherwise).
 * Called for every output before tracing starts.
 */
int outfile_check(const char *path);
/* Create the file to write (mode 0600 for records, 0644 for reports). 0 or -errno (said). */
int outfile_open(struct outfile *o, const char *path, mode_t mode);
/* Put it in place: 0, or -errno (said; the temporary file is removed). */
int outfile_commit(struct outfile *o);
/* Drop it: the temporary file is removed, an existing file at path is left as it was. */
void outfile_abort(struct outfile *o);

#endif
