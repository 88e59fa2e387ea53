// SPDX-License-Identifier: GPL-2.0
/*
 * glibclocks.c - one phase per glibc lock kind, every blocking call timed by the program
 * itself; run inside Debian roots of other glibc versions (tests/roots) to check kinds, objects
 * and figures against each glibc's own layouts. Built on the host (glibc 2.36): runs with any
 * newer glibc.
 *
 *   glibclocks [DELAY_MS]   start after DELAY_MS, or (no argument) once a file "go" exists in
 *                           the current directory, so that `threadtrace -p PID` attaches first
 *
 * Prints "pid N" first, then when done one JSON line of its truth (ns, calls, the libc version
 * it ran with from gnu_get_libc_version()).
 *
 * Phases, one after the other (~4 s in all):
 *   mutex    3 threads take acct_mutex 150 times each, holding it 2 ms: lock time
 *   condvar  a consumer waits on jobs_cond (mutex jobs_mutex) for 100 items posted every 5 ms
 *   rwlock   a writer holds table_rw 20 ms, 20 times; 2 readers rdlock it in a loop
 *   sem      a waiter sem_waits on ready_sem, a poster posts every 5 ms, 100 times
 *   pi       a holder keeps pi_mutex (PTHREAD_PRIO_INHERIT) 10 ms, a waiter takes it, 50 times
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <gnu/libc-version.h>

pthread_mutex_t acct_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t jobs_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
pthread_rwlock_t table_rw = PTHREAD_RWLOCK_INITIALIZER;
sem_t ready_sem;
pthread_mutex_t pi_mutex;

static long long now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static void msleep(double ms)
{
	struct timespec t = {(time_t)(ms / 1000), (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6)};
	while (nanosleep(&t, &t))
		;
}

/* ---- mutex ---- */
static atomic_llong mutex_wait_ns, mutex_slow_calls;
static void *mutex_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 150; i++) {
		long long t0 = now();
		pthread_mutex_lock(&acct_mutex);
		long long d = now() - t0;
		mutex_wait_ns += d;
		if (d > 50000)
			mutex_slow_calls++;
		msleep(2);
		pthread_mutex_unlock(&acct_mutex);
		msleep(0.2);
	}
	return NULL;
}

/* ---- condvar ---- */
static int jobs, jobs_done;
static long long cond_wait_ns, cond_waits;
static void *consumer(void *arg)
{
	(void)arg;
	for (int got = 0; got < 100; got++) {
		pthread_mutex_lock(&jobs_mutex);
		while (jobs == 0) {
			long long t0 = now();
			pthread_cond_wait(&jobs_cond, &jobs_mutex);
			cond_wait_ns += now() - t0;
			cond_waits++;
		}
		jobs--;
		pthread_mutex_unlock(&jobs_mutex);
	}
	jobs_done = 1;
	return NULL;
}
static void *producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		msleep(5);
		pthread_mutex_lock(&jobs_mutex);
		jobs++;
		pthread_cond_signal(&jobs_cond);
		pthread_mutex_unlock(&jobs_mutex);
	}
	return NULL;
}

/* ---- rwlock ---- */
static atomic_int rw_stop;
static atomic_llong rd_wait_ns, rd_slow, wr_wait_ns, rd_calls;
static void *reader(void *arg)
{
	(void)arg;
	while (!rw_stop) {
		long long t0 = now();
		pthread_rwlock_rdlock(&table_rw);
		long long d = now() - t0;
		rd_wait_ns += d;
		rd_calls++;
		if (d > 50000)
			rd_slow++;
		msleep(1);
		pthread_rwlock_unlock(&table_rw);
		msleep(1);
	}
	return NULL;
}
static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		long long t0 = now();
		pthread_rwlock_wrlock(&table_rw);
		wr_wait_ns += now() - t0;
		msleep(20);
		pthread_rwlock_unlock(&table_rw);
		msleep(20);
	}
	rw_stop = 1;
	return NULL;
}

/* ---- semaphore ---- */
static long long sem_wait_ns;
static void *sem_waiter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		long long t0 = now();
		sem_wait(&ready_sem);
		sem_wait_ns += now() - t0;
	}
	return NULL;
}
static void *sem_poster(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		msleep(5);
		sem_post(&ready_sem);
	}
	return NULL;
}

/* ---- PI mutex ---- */
static atomic_int pi_turn;
static long long pi_wait_ns;
static void *pi_holder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		pthread_mutex_lock(&pi_mutex);
		atomic_store(&pi_turn, i + 1);
		msleep(10);
		pthread_mutex_unlock(&pi_mutex);
		while (atomic_load(&pi_turn) != -(i + 1))
			usleep(100);
	}
	return NULL;
}
static void *pi_waiter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		while (atomic_load(&pi_turn) != i + 1)
			usleep(50);
		msleep(1); /* the holder is now inside its 10 ms hold */
		long long t0 = now();
		pthread_mutex_lock(&pi_mutex);
		pi_wait_ns += now() - t0;
		pthread_mutex_unlock(&pi_mutex);
		atomic_store(&pi_turn, -(i + 1));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int delay = argc > 1 ? atoi(argv[1]) : -1;
	pthread_t t[4];

	printf("pid %d\n", getpid());
	fflush(stdout);
	sem_init(&ready_sem, 0, 0);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&pi_mutex, &a);
	if (delay >= 0)
		msleep(delay);
	else {
		while (access("go", F_OK))
			msleep(50);
		msleep(200);
	}

	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, mutex_thread, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);

	pthread_create(&t[0], NULL, consumer, NULL);
	pthread_create(&t[1], NULL, producer, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);

	pthread_create(&t[0], NULL, writer, NULL);
	pthread_create(&t[1], NULL, reader, NULL);
	pthread_create(&t[2], NULL, reader, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);

	pthread_create(&t[0], NULL, sem_waiter, NULL);
	pthread_create(&t[1], NULL, sem_poster, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);

	pthread_create(&t[0], NULL, pi_holder, NULL);
	pthread_create(&t[1], NULL, pi_waiter, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("{\"libc\": \"%s\", \"mutex_wait_ns\": %lld, \"mutex_slow_calls\": %lld, "
	       "\"mutex_locks\": 450, \"cond_wait_ns\": %lld, \"cond_waits\": %lld, "
	       "\"rd_wait_ns\": %lld, \"rd_slow\": %lld, \"rd_calls\": %lld, \"wr_wait_ns\": %lld, "
	       "\"wr_locks\": 20, \"sem_wait_ns\": %lld, \"sem_waits\": 100, \"pi_wait_ns\": %lld, "
	       "\"pi_locks\": 100}\n",
	       gnu_get_libc_version(), (long long)mutex_wait_ns, (long long)mutex_slow_calls,
	       cond_wait_ns, cond_waits, (long long)rd_wait_ns, (long long)rd_slow,
	       (long long)rd_calls, (long long)wr_wait_ns, sem_wait_ns, pi_wait_ns);
	return 0;
}
