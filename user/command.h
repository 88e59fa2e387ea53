/* SPDX-License-Identifier: GPL-2.0 */
/*
 * command.h - `threadtrace -- COMMAND`'s command, and the signals threadtrace shares with it:
 * found as execvp will find it, forked held before its exec until tracing is attached, let go,
 * watched for stops and its exit, reaped after the report. A SIGINT or SIGTERM stops tracing
 * and is passed on to it; a second one kills it. Only the collector uses this.
 */
#ifndef TT_COMMAND_H
#define TT_COMMAND_H

#include <stdbool.h>
#include <signal.h>
#include <sys/types.h>

struct command {
	const char *name; /* argv[0] */
	char path[4096];  /* the file execvp will run */
	char image[4096]; /* the file execve runs for it ("#!": the interpreter), "" unknown */
	pid_t pid;	  /* forked and not reaped yet; 0: none */
	int go_fd, err_fd;
};

/*
 * Install the SIGINT and SIGTERM handler (and ignore SIGPIPE); returns the flag the first
 * signal sets (to its number): tracing stops.
 */
const volatile sig_atomic_t *command_signals_init(void);

/* Find argv[0] the way execvp will, so "not found" is told before anything is attached. */
int command_find(struct command *c, char **argv);
/* Fork it, held before its exec until command_release. */
int command_spawn(struct command *c, char **argv);
/* Let it exec; signals reach it from now on. -errno when the exec failed. */
int command_release(struct command *c);
/*
 * Whether its state changed (waitpid without blocking; stops too when stops): *status says
 * how. An exit reaps it (c->pid 0 after).
 */
bool command_poll(struct command *c, bool stops, int *status);
/* Its pipes closed; tracing failed: a forked command does not run on untraced, it is killed. */
void command_end(struct command *c, bool failed);
/*
 * Wait for a command still running after tracing (pid, 0 for none), saying so when it does not
 * end at once; a second SIGINT/SIGTERM kills it. *status: its wait status when reaped.
 */
void command_wait(pid_t pid, int *status, bool quiet);
/* The file execve runs for path: a "#!" script's interpreter (one level), else path itself. */
int command_image(const char *path, char *out, size_t len);

#endif
