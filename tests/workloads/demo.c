// SPDX-License-Identifier: GPL-2.0
/*
 * demo.c - the bundled contention demo for `make demo`: four tellers move money between
 * accounts under one global ledger_lock (held too long: it also "audits" inside the lock), and
 * post each transfer to an audit thread through a condvar queue. Runs about three seconds.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ACCOUNTS  64
#define TELLERS	  4
#define TRANSFERS 300

pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t audit_ready = PTHREAD_COND_INITIALIZER;

static long balance[ACCOUNTS];
static int audit_queue, done_tellers;

static void busy_us(long us)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

__attribute__((noinline)) static void audit_balances(void)
{
	busy_us(1500); /* the slow part, done while holding ledger_lock */
}

__attribute__((noinline)) static void transfer(int from, int to, long amount)
{
	pthread_mutex_lock(&ledger_lock);
	balance[from] -= amount;
	balance[to] += amount;
	audit_balances();
	pthread_mutex_unlock(&ledger_lock);
}

static void *teller(void *arg)
{
	unsigned seed = (unsigned)(long)arg;

	for (int i = 0; i < TRANSFERS; i++) {
		transfer(rand_r(&seed) % ACCOUNTS, rand_r(&seed) % ACCOUNTS,
			 1 + rand_r(&seed) % 100);
		pthread_mutex_lock(&audit_lock);
		audit_queue++;
		pthread_cond_signal(&audit_ready);
		pthread_mutex_unlock(&audit_lock);
		busy_us(500);
	}
	pthread_mutex_lock(&audit_lock);
	done_tellers++;
	pthread_cond_signal(&audit_ready);
	pthread_mutex_unlock(&audit_lock);
	return NULL;
}

static void *auditor(void *arg)
{
	long audited = 0;

	pthread_mutex_lock(&audit_lock);
	while (done_tellers < TELLERS || audit_queue) {
		while (!audit_queue && done_tellers < TELLERS)
			pthread_cond_wait(&audit_ready, &audit_lock);
		audited += audit_queue;
		audit_queue = 0;
	}
	pthread_mutex_unlock(&audit_lock);
	printf("demo: %ld transfers audited\n", audited);
	return NULL;
}

int main(void)
{
	pthread_t t[TELLERS], a;
	char name[16];

	pthread_create(&a, NULL, auditor, NULL);
	pthread_setname_np(a, "auditor");
	for (long i = 0; i < TELLERS; i++) {
		pthread_create(&t[i], NULL, teller, (void *)(i + 1));
		snprintf(name, sizeof(name), "teller-%ld", i);
		pthread_setname_np(t[i], name);
	}
	for (int i = 0; i < TELLERS; i++)
		pthread_join(t[i], NULL);
	pthread_join(a, NULL);
	return 0;
}
