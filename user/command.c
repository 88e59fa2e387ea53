// SPDX-License-Identifier: GPL-2.0
/*
 * command.c - see command.h: a COMMAND's start-up (found, forked held, let go), its stops and
 * exit while traced, its reaping after the report, and the signal handler it shares with
 * threadtrace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>
#include "command.h"

static volatile sig_atomic_t stop_signal, signals_seen;
static volatile pid_t command_pid; /* the running COMMAND, for the handler */
static volatile sig_atomic_t stdout_is_tty;

static void say(const char *msg)
{
	ssize_t r = write(STDERR_FILENO, msg, strlen(msg));

	(void)r;
}

/*
 * The first SIGINT/SIGTERM stops tracing and is passed on to a COMMAND (as perf does), unless
 * the terminal sent it to the command's process group itself (Ctrl-C); a second one kills the
 * command. When stdout is a pipe or a file it also abandons what is left of the text report:
 * stdout becomes /dev/null, so that a reader that stopped reading cannot hold threadtrace in
 * a write (the interrupted write is retried there) and it goes on to reap the command and
 * exit. On a terminal nobody holds it so: the report is still printed (a user pressing Ctrl-C
 * twice at a hung program must not lose it). Either way stderr says what the second did.
 */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
	pid_t child = command_pid;
	int saved_errno = errno, null_fd;

	if (!signals_seen++) {
		stop_signal = sig;
		if (child > 0 && !(si && si->si_code == SI_KERNEL))
			kill(child, sig);
	} else {
		if (child > 0)
			kill(child, SIGKILL);
		if (signals_seen == 2 && child > 0)
			say("threadtrace: interrupted again: the command is killed\n");
		if (!stdout_is_tty) {
			null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null_fd >= 0) {
				dup2(null_fd, STDOUT_FILENO);
				close(null_fd);
			}
			if (signals_seen == 2)
				say("threadtrace: interrupted again: the rest of the text report "
				    "on "
				    "stdout is dropped (output files and the record file are still "
				    "written)\n");
		}
	}
	errno = saved_errno;
}

const volatile sig_atomic_t *command_signals_init(void)
{
	struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};

	sigemptyset(&sa.sa_mask);
	stdout_is_tty = isatty(STDOUT_FILENO);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a COMMAND killed by Ctrl-C at start-up must not kill us */
	return &stop_signal;
}

/* execvp's search: 0, or -errno. */
static int command_exists(const char *cmd, char *found, size_t len)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(cmd, '/')) {
		snprintf(found, len, "%s", cmd);
		return access(cmd, X_OK) ? -errno : 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? path : ".", cmd);
		if (!access(buf, X_OK)) {
			snprintf(found, len, "%s", buf);
			return 0;
		}
		path += n + (path[n] == ':');
	}
	return -ENOENT;
}

/* 0 or -errno. */
int command_image(const char *path, char *out, size_t len)
{
	char line[512];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = 0;
	if (n > 2 && line[0] == '#' && line[1] == '!') {
		char *p = line + 2;

		p += strspn(p, " \t");
		p[strcspn(p, " \t\n")] = 0;
		snprintf(out, len, "%s", p);
	} else {
		snprintf(out, len, "%s", path);
	}
	return 0;
}

int command_find(struct command *c, char **argv)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->go_fd = c->err_fd = -1;
	c->name = argv[0];
	err = command_exists(argv[0], c->path, sizeof(c->path));
	if (err) {
		fprintf(stderr, "threadtrace: %s: %s\n", argv[0],
			err == -ENOENT ? "command not found" : strerror(-err));
		return err;
	}
	if (command_image(c->path, c->image, sizeof(c->image)))
		c->image[0] = 0;
	return 0;
}

int command_spawn(struct command *c, char **argv)
{
	int go[2], err[2], e;
	pid_t pid = -1;

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		e = -errno;
	else if ((pid = fork()) < 0)
		e = -errno;
	if (pid < 0) {
		fprintf(stderr, "threadtrace: failed to start %s: %s\n", argv[0], strerror(-e));
		return e;
	}
	if (!pid) {
		char ch;

		close(go[1]);
		close(err[0]);
		if (read(go[0], &ch, 1) != 1)
			_exit(127); /* the tracer gave up before starting us */
		execvp(argv[0], argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	c->go_fd = go[1];
	c->err_fd = err[0];
	c->pid = pid;
	return 0;
}

int command_release(struct command *c)
{
	int e = 0;
	ssize_t n;

	if (write(c->go_fd, "g", 1) != 1) {
		e = -errno;
		fprintf(stderr, "threadtrace: failed to start %s\n", c->name);
		return e;
	}
	close(c->go_fd);
	c->go_fd = -1;
	command_pid = c->pid;
	n = read(c->err_fd, &e, sizeof(e)); /* EOF: exec succeeded (the pipe is CLOEXEC) */
	close(c->err_fd);
	c->err_fd = -1;
	if (n == sizeof(e)) {
		fprintf(stderr, "threadtrace: failed to run %s: %s\n", c->name, strerror(e));
		return -e;
	}
	return 0;
}

bool command_poll(struct command *c, bool stops, int *status)
{
	pid_t got = waitpid(c->pid, status, WNOHANG | (stops ? WUNTRACED : 0));

	if (got != c->pid)
		return false;
	if (!WIFSTOPPED(*status)) {
		c->pid = 0;
		command_pid = 0; /* reaped: its pid may be another's by the next signal */
	}
	return true;
}

void command_end(struct command *c, bool failed)
{
	if (c->go_fd >= 0)
		close(c->go_fd); /* the held child reads EOF and exits without running COMMAND */
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->go_fd = c->err_fd = -1;
	if (c->pid && failed) {
		int status;

		/* tracing failed: the command does not run on untraced */
		kill(c->pid, SIGTERM);
		waitpid(c->pid, &status, 0);
		command_pid = 0;
		c->pid = 0;
	}
}

void command_wait(pid_t child, int *status_out, bool quiet)
{
	int status;
	bool said = false;

	for (int tries = 0; child > 0;) {
		pid_t got = waitpid(child, &status, tries < 20 ? WNOHANG : 0);

		if (got == child) {
			*status_out = status;
			break;
		}
		if (got < 0 && errno != EINTR)
			break;
		if (got == 0 && ++tries < 20) {
			struct timespec ts = {0, 10000000};

			nanosleep(&ts, NULL);
			continue;
		}
		if (!said && !quiet && got == 0) {
			fprintf(stderr,
				"threadtrace: waiting for the command (pid %d) to exit; "
				"interrupt again to kill it\n",
				child);
			said = true;
		}
	}
	command_pid = 0;
}
