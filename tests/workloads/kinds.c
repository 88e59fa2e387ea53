// SPDX-License-Identifier: GPL-2.0
/*
 * kinds.c - workloads whose lock kinds and causes are easy to get wrong; each prints one JSON
 * line of its own truth on stdout when done.
 *
 *   kinds timedwait N          ticker waits N times on idle_cond with a 1 ms timeout; nothing
 *                              signals it and no thread exits meanwhile (run it beside exiting
 *                              processes: their exits must not make it a join)
 *   kinds robust N HOLD_MS     N times a thread takes the robust mutex vault_lock and exits
 *                              holding it after HOLD_MS; the heir waits and gets EOWNERDEAD
 *   kinds robustfork HOLD_MS   the same across processes: a process-shared robust mutex in
 *                              shared memory, taken by a child that exits holding it
 *   kinds rwreaders N HOLD_MS  three readers hold pool_lock for read at once (staggered, each
 *                              HOLD_MS), a writer waits for them, N times; the writer times
 *                              its wrlock calls
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
pthread_mutex_t vault_lock;
pthread_rwlock_t pool_lock = PTHREAD_RWLOCK_INITIALIZER;

static int iters, hold_ms;
static atomic_int ready, ticker_tid, waiter_tid;
static atomic_long waited_ns;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

static int gettid_(void)
{
	return (int)syscall(SYS_gettid);
}

static void *ticker_main(void *arg)
{
	int timeouts = 0;

	atomic_store(&ticker_tid, gettid_());
	pthread_mutex_lock(&idle_lock);
	for (int i = 0; i < iters; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&idle_cond, &idle_lock, &ts) == ETIMEDOUT)
			timeouts++;
	}
	pthread_mutex_unlock(&idle_lock);
	return (void *)(long)timeouts;
}

static int run_timedwait(void)
{
	pthread_t t;
	void *timeouts;

	pthread_create(&t, NULL, ticker_main, NULL);
	pthread_setname_np(t, "ticker");
	pthread_join(t, &timeouts);
	printf("{\"waits\": %d, \"timeouts\": %ld, \"ticker_tid\": %d}\n", iters, (long)timeouts,
	       atomic_load(&ticker_tid));
	return 0;
}

static void robust_init(pthread_mutex_t *m, int pshared)
{
	pthread_mutexattr_t at;

	pthread_mutexattr_init(&at);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_setpshared(&at, pshared);
	pthread_mutex_init(m, &at);
}

/* Takes vault_lock and exits holding it: the kernel's robust-list walk marks the owner dead. */
static void *doomed_main(void *arg)
{
	pthread_mutex_lock(&vault_lock);
	atomic_store(&ready, gettid_());
	sleep_ms(hold_ms);
	return NULL;
}

/* One heir waits for the dying owner: EOWNERDEAD, then it makes the mutex consistent. */
static int heir_lock(pthread_mutex_t *m)
{
	int r = pthread_mutex_lock(m);

	if (r == EOWNERDEAD)
		pthread_mutex_consistent(m);
	pthread_mutex_unlock(m);
	return r == EOWNERDEAD;
}

static int run_robust(void)
{
	int died = 0;

	robust_init(&vault_lock, PTHREAD_PROCESS_PRIVATE);
	printf("{\"dead_tids\": [");
	for (int i = 0; i < iters; i++) {
		pthread_t t;
		int tid;

		atomic_store(&ready, 0);
		pthread_create(&t, NULL, doomed_main, NULL);
		pthread_setname_np(t, "doomed");
		while (!(tid = atomic_load(&ready)))
			usleep(100);
		died += heir_lock(&vault_lock);
		pthread_join(t, NULL);
		printf("%s%d", i ? ", " : "", tid);
	}
	printf("], \"eownerdead\": %d, \"heir_tid\": %d}\n", died, gettid_());
	return 0;
}

static int run_robustfork(void)
{
	struct shared {
		pthread_mutex_t m;
		atomic_int held;
	} *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t child;
	int died;

	if (sh == MAP_FAILED)
		return 1;
	robust_init(&sh->m, PTHREAD_PROCESS_SHARED);
	child = fork();
	if (!child) {
		pthread_mutex_lock(&sh->m);
		atomic_store(&sh->held, 1);
		sleep_ms(hold_ms);
		_exit(0); /* holding it */
	}
	while (!atomic_load(&sh->held))
		usleep(100);
	died = heir_lock(&sh->m);
	waitpid(child, NULL, 0);
	printf("{\"dead_tids\": [%d], \"eownerdead\": %d, \"heir_tid\": %d}\n", child, died,
	       gettid_());
	return 0;
}

static void *rw_reader_main(void *arg)
{
	long k = (long)arg;

	for (int i = 0; i < iters; i++) {
		while (atomic_load(&ready) < 2 * i + 1)
			usleep(50);
		/* staggered: the three read holds overlap each other and the writer's wait */
		sleep_ms((int)k * hold_ms / 4);
		pthread_rwlock_rdlock(&pool_lock);
		atomic_fetch_add(&waiter_tid, 1);
		sleep_ms(hold_ms);
		pthread_rwlock_unlock(&pool_lock);
		while (atomic_load(&ready) < 2 * i + 2)
			usleep(50);
	}
	return NULL;
}

static int run_rwreaders(void)
{
	pthread_t r[3];

	for (long k = 0; k < 3; k++) {
		pthread_create(&r[k], NULL, rw_reader_main, (void *)k);
		pthread_setname_np(r[k], "reader");
	}
	for (int i = 0; i < iters; i++) {
		long long t0;

		atomic_store(&waiter_tid, 0);
		atomic_store(&ready, 2 * i + 1);
		while (atomic_load(&waiter_tid) < 1) /* the first reader holds it */
			usleep(50);
		t0 = now_ns();
		pthread_rwlock_wrlock(&pool_lock);
		atomic_fetch_add(&waited_ns, now_ns() - t0);
		pthread_rwlock_unlock(&pool_lock);
		while (atomic_load(&waiter_tid) < 3) /* all three took their read hold */
			usleep(50);
		sleep_ms(hold_ms + 5);
		atomic_store(&ready, 2 * i + 2);
		sleep_ms(2);
	}
	for (int k = 0; k < 3; k++)
		pthread_join(r[k], NULL);
	printf("{\"iterations\": %d, \"writer_tid\": %d, \"writer_wait_ns\": %ld}\n", iters,
	       gettid_(), atomic_load(&waited_ns));
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	iters = argc > 2 ? atoi(argv[2]) : 0;
	hold_ms = argc > 3 ? atoi(argv[3]) : 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "timedwait"))
		return run_timedwait();
	if (!strcmp(mode, "robust"))
		return run_robust();
	if (!strcmp(mode, "robustfork")) {
		hold_ms = iters;
		return run_robustfork();
	}
	if (!strcmp(mode, "rwreaders"))
		return run_rwreaders();
	fprintf(stderr, "usage: kinds timedwait|robust|robustfork|rwreaders ARGS\n");
	return 2;
}
