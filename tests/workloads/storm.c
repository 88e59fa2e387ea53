// SPDX-License-Identifier: GPL-2.0
/*
 * storm.c - benchmark workloads that time themselves (tracer start-up excluded).
 *   storm mutex THREADS ITERS   THREADS threads lock/unlock one mutex ITERS times each
 *   storm pingpong ROUNDS       two threads hand a token back and forth through a condvar
 *   storm sleepers THREADS ITERS US   THREADS threads each sleep US microseconds ITERS times
 *   storm objects LOCKS ROUNDS  LOCKS heap mutexes (one per object), each contended ROUNDS
 *                               times: a holder keeps it until a waiter sleeps in the futex
 * Prints {"mode": ..., "elapsed_ns": N} on stdout.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

pthread_mutex_t storm_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static long counter, iters;
static int turn;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *storm(void *arg)
{
	for (long i = 0; i < iters; i++) {
		pthread_mutex_lock(&storm_lock);
		counter++;
		pthread_mutex_unlock(&storm_lock);
	}
	return NULL;
}

static void *player(void *arg)
{
	int me = (int)(long)arg;

	for (long i = 0; i < iters; i++) {
		pthread_mutex_lock(&storm_lock);
		while (turn != me)
			pthread_cond_wait(&turn_cond, &storm_lock);
		turn = !me;
		pthread_cond_broadcast(&turn_cond);
		pthread_mutex_unlock(&storm_lock);
	}
	return NULL;
}

/* objects: the holder's round k is the waiter's cue; the waiter's done says it got the lock */
static pthread_mutex_t *objects;
static long nr_objects;
static atomic_long cue, done;

static void *holder(void *arg)
{
	long k = 0;

	for (long i = 0; i < nr_objects; i++)
		for (long r = 0; r < iters; r++) {
			pthread_mutex_lock(&objects[i]);
			atomic_store(&cue, ++k);
			/* glibc marks a mutex 2 (waiters) before its futex wait: contended for sure
			 */
			while (atomic_load((atomic_int *)&objects[i].__data.__lock) != 2)
				sched_yield();
			pthread_mutex_unlock(&objects[i]);
			while (atomic_load(&done) != k)
				sched_yield();
		}
	atomic_store(&cue, -1);
	return NULL;
}

static void *waiter(void *arg)
{
	long k = 0;

	for (long i = 0; i < nr_objects; i++)
		for (long r = 0; r < iters; r++) {
			while (atomic_load(&cue) != k + 1)
				sched_yield();
			pthread_mutex_lock(&objects[i]);
			pthread_mutex_unlock(&objects[i]);
			atomic_store(&done, ++k);
		}
	return NULL;
}

static void *object_player(void *arg)
{
	return arg ? waiter(arg) : holder(arg);
}

static long sleep_us;

static void *sleeper(void *arg)
{
	struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};

	for (long i = 0; i < iters; i++)
		nanosleep(&ts, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	static pthread_t t[4096];
	void *(*fn)(void *);
	int n;
	long long t0;
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "mutex") && argc > 3) {
		n = atoi(argv[2]);
		iters = atol(argv[3]);
		if (n < 1 || n > 64)
			return 2;
		fn = storm;
	} else if (!strcmp(mode, "pingpong") && argc > 2) {
		n = 2;
		iters = atol(argv[2]);
		fn = player;
	} else if (!strcmp(mode, "sleepers") && argc > 4) {
		n = atoi(argv[2]);
		iters = atol(argv[3]);
		sleep_us = atol(argv[4]);
		if (n < 1 || n > 4096 || sleep_us < 0)
			return 2;
		fn = sleeper;
	} else if (!strcmp(mode, "objects") && argc > 3) {
		n = 2;
		nr_objects = atol(argv[2]);
		iters = atol(argv[3]);
		objects = calloc(nr_objects > 0 ? nr_objects : 1, sizeof(*objects));
		if (nr_objects < 1 || iters < 1 || !objects)
			return 2;
		fn = object_player;
	} else {
		fprintf(stderr, "usage: storm mutex THREADS ITERS | storm pingpong ROUNDS | "
				"storm sleepers THREADS ITERS US | storm objects LOCKS ROUNDS\n");
		return 2;
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)i)) {
			fprintf(stderr, "storm: cannot create thread %ld\n", i);
			return 1;
		}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("{\"mode\": \"%s\", \"elapsed_ns\": %lld}\n", mode, now_ns() - t0);
	return 0;
}
