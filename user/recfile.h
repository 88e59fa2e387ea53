/* SPDX-License-Identifier: GPL-2.0 */
/*
 * recfile.h - the record file: a versioned binary file holding a session's records exactly as
 * BPF and the collector produced them, plus the symbol data the analysis needs. Reading a
 * damaged, foreign or newer file fails with one clear message, never partially; a file whose
 * writer died is read up to its last whole chunk of records, and says so.
 */
#ifndef TT_RECFILE_H
#define TT_RECFILE_H

#include "records.h"
#include "symdata.h"

#define TT_FILE_MAGIC "THRDTRCE"
/* 1: one RECORDS section; 2: self-checking chunks; 3: symbol data written as it is learnt */
#define TT_FILE_VERSION 3

/* Facts about where and what was recorded, kept in the file for people. */
struct rec_info {
	char host[65];
	char kernel[65];
	char cmdline[512];
	char version[32];
	__u64 start_realtime_ns; /* wall clock at the session record */
	__u64 start_monotonic_ns;
};

/* Fill info for a live session of pid (cmdline may be given for a command). */
void recfile_info_now(struct rec_info *info, int pid, char *const *command);
/* Write a record file with mode 0600. 0, or -errno after printing a message. */
int recfile_write(const char *path, const struct rec_info *info, const struct record_buf *rb,
		  const struct symdata *sd);
/*
 * The same, written as the records come: open writes the header, add appends records (buffered;
 * each chunk goes after what sd learnt since the last one: a record's names must be in sd by
 * the time the next record is added), close writes the rest and the checksum, and frees w. open
 * prints a message and returns NULL when the file cannot be created; add and close return 0 or
 * -errno (close prints it).
 */
struct recfile_writer;
struct recfile_writer *recfile_writer_open(const char *path, const struct rec_info *info,
					   const struct symdata *sd);
int recfile_writer_add(struct recfile_writer *w, const void *rec, size_t size);
int recfile_writer_close(struct recfile_writer *w);
/* Close and remove the file (the session failed); frees w. */
void recfile_writer_discard(struct recfile_writer *w);
/*
 * Read a record file from memory. 0, or -EINVAL with why_buf saying what is wrong. A file whose
 * writer died is read up to its last whole records chunk: 0, with why_buf saying where it is
 * cut (empty when the file is whole).
 */
int recfile_parse(const __u8 *data, size_t len, struct rec_info *info, struct record_buf *rb,
		  struct symdata *sd, char *why_buf, size_t why_len);
/* Read a record file from disk; prints one message on failure. 0 or -errno. */
int recfile_read(const char *path, struct rec_info *info, struct record_buf *rb,
		 struct symdata *sd);
/*
 * Read a record file without keeping its records: the whole file (checksum, every record's
 * size, the symbol data) is checked first, then each record goes to fn in file order. Memory
 * does not grow with the file. Prints one message on failure; 0 or -errno.
 */
int recfile_stream(const char *path, struct rec_info *info, struct symdata *sd, record_sink_fn fn,
		   void *ctx);

#endif
