// SPDX-License-Identifier: GPL-2.0
/*
 * memload.c - a memcached load for make bench (no memtier in Debian 12): CONNS threads, one
 * blocking loopback connection each, send text-protocol requests for SECONDS (one set in ten,
 * the rest gets of KEYS keys filled first with 100-byte values) and print one JSON line:
 * {"ops": N, "elapsed_ns": T, "errors": E}.
 *   memload PORT CONNS SECONDS [KEYS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VALUE_LEN 100

static int port;
static long nr_keys = 10000;
static atomic_bool stop;
static atomic_long total_ops, total_errors;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int connect_loopback(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Reads until the reply ends with `end` (values are all 'v', so they never end that way). */
static int recv_reply(int fd, const char *end)
{
	char buf[512];
	size_t len = 0, elen = strlen(end);

	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += n;
		if (len >= elen && !memcmp(buf + len - elen, end, elen))
			return strncmp(buf, "SERVER_ERROR", 12) && strncmp(buf, "ERROR", 5) ? 0
											    : -1;
		if (len == sizeof(buf)) { /* keep the tail only: enough to see the end */
			memmove(buf, buf + len - elen, elen);
			len = elen;
		}
	}
}

static int request(int fd, int set, long key, const char *value)
{
	char req[256];
	int n;

	if (set)
		n = snprintf(req, sizeof(req), "set key:%ld 0 0 %d\r\n%s\r\n", key, VALUE_LEN,
			     value);
	else
		n = snprintf(req, sizeof(req), "get key:%ld\r\n", key);
	if (send_all(fd, req, n))
		return -1;
	return recv_reply(fd, set ? "STORED\r\n" : "END\r\n");
}

static void *client(void *arg)
{
	unsigned int seed = (unsigned int)(long)arg * 2654435761u;
	char value[VALUE_LEN + 1];
	long ops = 0, errors = 0;
	int fd = connect_loopback();

	if (fd < 0) {
		fprintf(stderr, "memload: failed to connect to port %d: %s\n", port, strerror(-fd));
		atomic_fetch_add(&total_errors, 1);
		return NULL;
	}
	memset(value, 'v', VALUE_LEN);
	value[VALUE_LEN] = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		long key = rand_r(&seed) % nr_keys;

		if (request(fd, rand_r(&seed) % 10 == 0, key, value)) {
			errors++;
			break;
		}
		ops++;
	}
	close(fd);
	atomic_fetch_add(&total_ops, ops);
	atomic_fetch_add(&total_errors, errors);
	return NULL;
}

static int fill(void)
{
	char value[VALUE_LEN + 1];
	int fd = connect_loopback();
	long key;

	if (fd < 0) {
		fprintf(stderr, "memload: failed to connect to port %d: %s\n", port, strerror(-fd));
		return -1;
	}
	memset(value, 'v', VALUE_LEN);
	value[VALUE_LEN] = 0;
	for (key = 0; key < nr_keys; key++) {
		if (request(fd, 1, key, value)) {
			fprintf(stderr, "memload: set key:%ld failed\n", key);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t *threads;
	unsigned long long start, elapsed;
	struct timespec run;
	double seconds;
	int conns, i;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: memload PORT CONNS SECONDS [KEYS]\n");
		return 2;
	}
	port = atoi(argv[1]);
	conns = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (argc == 5)
		nr_keys = atol(argv[4]);
	if (port <= 0 || conns <= 0 || seconds <= 0 || nr_keys <= 0) {
		fprintf(stderr, "memload: PORT, CONNS, SECONDS and KEYS must be positive\n");
		return 2;
	}
	if (fill())
		return 1;
	threads = calloc(conns, sizeof(*threads));
	if (!threads)
		return 1;
	start = now_ns();
	for (i = 0; i < conns; i++) {
		if (pthread_create(&threads[i], NULL, client, (void *)(long)(i + 1))) {
			fprintf(stderr, "memload: failed to start a client thread\n");
			return 1;
		}
	}
	run.tv_sec = (time_t)seconds;
	run.tv_nsec = (long)((seconds - run.tv_sec) * 1e9);
	while (nanosleep(&run, &run) && errno == EINTR)
		;
	atomic_store(&stop, true);
	for (i = 0; i < conns; i++)
		pthread_join(threads[i], NULL);
	elapsed = now_ns() - start;
	printf("{\"ops\": %ld, \"elapsed_ns\": %llu, \"errors\": %ld}\n", atomic_load(&total_ops),
	       elapsed, atomic_load(&total_errors));
	free(threads);
	return atomic_load(&total_errors) ? 1 : 0;
}
