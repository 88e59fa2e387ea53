// SPDX-License-Identifier: GPL-2.0
/*
 * muslpool.c - a pool lock, a work queue and joins, built with musl-gcc -static by the live tests
 * (musl's own mutex, condvar and join layouts). Usage: muslpool SECONDS. Four workers take
 * pool_lock (300 us holds); a consumer waits on q_nonempty for 100 items; main joins them all.
 * Prints its own truth, one JSON object a line on stdout: each worker's time inside
 * pthread_mutex_lock, the consumer's condvar waits, main's time inside pthread_join.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER;
static int queued;
static double secs = 2;

struct worker {
	int tid;
	long locks;
	long long lock_ns;
};

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void spin_us(int us)
{
	long long end = now_ns() + us * 1000LL;

	while (now_ns() < end)
		;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	long long end = now_ns() + (long long)(secs * 1e9);

	w->tid = (int)syscall(SYS_gettid);
	while (now_ns() < end) {
		long long t0 = now_ns();

		pthread_mutex_lock(&pool_lock);
		w->lock_ns += now_ns() - t0;
		w->locks++;
		spin_us(300);
		pthread_mutex_unlock(&pool_lock);
		usleep(300);
	}
	return NULL;
}

static long cond_waits;
static long long cond_ns;
static int consumer_tid;

static void *consumer(void *arg)
{
	consumer_tid = (int)syscall(SYS_gettid);
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&q_lock);
		while (!queued) {
			long long t0 = now_ns();

			pthread_cond_wait(&q_nonempty, &q_lock);
			cond_waits++;
			cond_ns += now_ns() - t0;
		}
		queued--;
		pthread_mutex_unlock(&q_lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker w[4] = {{0}};
	pthread_t th[4], c;
	long long join_ns = 0, t0;

	if (argc > 1)
		secs = atof(argv[1]);
	pthread_create(&c, NULL, consumer, NULL);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, &w[i]);
	for (int i = 0; i < 100; i++) {
		usleep(10000);
		pthread_mutex_lock(&q_lock);
		queued++;
		pthread_cond_signal(&q_nonempty);
		pthread_mutex_unlock(&q_lock);
	}
	t0 = now_ns();
	pthread_join(c, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	join_ns = now_ns() - t0;
	for (int i = 0; i < 4; i++)
		printf("{\"worker\": %d, \"locks\": %ld, \"lock_ns\": %lld}\n", w[i].tid,
		       w[i].locks, w[i].lock_ns);
	printf("{\"consumer\": %d, \"cond_waits\": %ld, \"cond_ns\": %lld, \"join_ns\": %lld}\n",
	       consumer_tid, cond_waits, cond_ns, join_ns);
	return 0;
}
