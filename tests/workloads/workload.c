// SPDX-License-Identifier: GPL-2.0
/*
 * workload.c - test workloads with known behaviour that measure themselves. Each mode prints
 * one JSON line of its own truth on stdout when done. Built with frame pointers.
 *
 *   workload lockpair HOLD_MS ITERS [DEPTH]  holder keeps acc_lock HOLD_MS, waiter times its
 *                                     lock calls, DEPTH frames of 256 bytes below waiter_main
 *   workload pi HOLD_MS ITERS         the same with a priority-inheritance mutex pi_lock
 *   workload condvar ITEMS GAP_MS     consumer waits on queue_cond for items posted every GAP_MS
 *   workload rwlock HOLD_MS ITERS     writer holds table_lock, a reader times its rdlock calls
 *   workload sem ITEMS GAP_MS         waiter sem_waits on slots, poster posts every GAP_MS
 *   workload cpu BURN_MS SLEEP_MS ITERS  two threads burn and sleep; thread CPU time is truth
 *   workload threads COUNT HOLD_MS    COUNT short threads made and joined while tracing
 *   workload deadlock                 two threads take lock_a and lock_b in opposite orders
 *                                     and deadlock for good; prints their tids first
 *   workload rwdeadlock rd|wr         one thread takes table_lock (as reader or writer) then
 *                                     lock_a, another lock_a then table_lock (as writer or
 *                                     reader): deadlocked for good; prints their tids first
 *   workload abba ITERS [gated]       one thread takes lock_a then lock_b, ITERS times; after it
 *                                     ends another takes lock_b then lock_a: never deadlocks;
 *                                     gated: both at once, each inside gate_lock (still safe)
 *   workload selflock                 a thread locks the default mutex self_lock twice: hangs;
 *                                     prints its tid and self_lock's __owner first
 *   workload forkheld                 thread "logger" holds log_lock for good, then the process
 *                                     forks; the child locks log_lock: hangs. Prints the child's
 *                                     pid, the logger's tid and the child's copy of __owner;
 *                                     the parent exits when the child is gone
 *   workload exitheld                 a thread locks exit_lock and exits holding it; main joins
 *                                     it and locks exit_lock: hangs. Prints the gone tid first
 *   workload psharedies               a child locks the process-shared ledger_mutex (in shared
 *                                     memory) and is killed; the parent then locks it: hangs.
 *                                     Prints both pids, the mutex address and its __owner
 *   workload pshared SECS             parent and child (named "peer") lock and unlock the
 *                                     process-shared ledger_mutex for SECS: each wake-up of one
 *                                     is the other's unlock. Prints both pids when done
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>

pthread_mutex_t acc_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t pi_lock;
pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
sem_t slots;

static int hold_ms, iters, gap_ms, depth;
static atomic_int phase;
static atomic_long waited_ns, held_ns;
static atomic_int waiter_tid, holder_tid;
static int queue_len;

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

static void wait_phase(int want)
{
	while (atomic_load(&phase) != want)
		usleep(100);
}

/* Always inlined: a stack through it shows it as an inlined frame inside acc_acquire. */
static inline __attribute__((always_inline)) void take_lock_inline(pthread_mutex_t *m)
{
	pthread_mutex_lock(m);
}

/*
 * Not inlined, and not a tail call (the barrier after the call), so the lock and unlock sites
 * are frames of their own whatever the optimisation and frame-pointer flags.
 */
__attribute__((noinline)) void acc_release(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void acc_acquire(pthread_mutex_t *m)
{
	take_lock_inline(m);
	__asm__ volatile("" ::: "memory");
}

/* Holder: take the lock, let the waiter block on it, hold HOLD_MS, release. */
static void *holder_main(void *arg)
{
	pthread_mutex_t *m = arg;

	atomic_store(&holder_tid, gettid_());
	for (int i = 0; i < iters; i++) {
		long long t0;

		pthread_mutex_lock(m);
		t0 = now_ns();
		atomic_store(&phase, 2 * i + 1);
		sleep_ms(hold_ms);
		atomic_fetch_add(&held_ns, now_ns() - t0);
		acc_release(m);
		wait_phase(2 * i + 2); /* the waiter got it and let it go: no barging */
	}
	return NULL;
}

/* depth frames of 256 bytes each between waiter_main and the lock call */
__attribute__((noinline)) static void descend(pthread_mutex_t *m, int n)
{
	volatile char pad[256];

	pad[0] = (char)n;
	if (n > 0)
		descend(m, n - 1);
	else
		acc_acquire(m);
	__asm__ volatile("" ::: "memory");
	(void)pad[0];
}

static void *waiter_main(void *arg)
{
	pthread_mutex_t *m = arg;

	atomic_store(&waiter_tid, gettid_());
	for (int i = 0; i < iters; i++) {
		long long t0;

		wait_phase(2 * i + 1);
		usleep(1000); /* be sure the holder is inside its hold */
		t0 = now_ns();
		descend(m, depth);
		atomic_fetch_add(&waited_ns, now_ns() - t0);
		pthread_mutex_unlock(m);
		atomic_store(&phase, 2 * i + 2);
	}
	return NULL;
}

static int run_pair(pthread_mutex_t *m, const char *lock_name)
{
	pthread_t h, w;

	pthread_create(&h, NULL, holder_main, m);
	pthread_create(&w, NULL, waiter_main, m);
	pthread_setname_np(h, "holder");
	pthread_setname_np(w, "waiter");
	pthread_join(h, NULL);
	pthread_join(w, NULL);
	printf("{\"lock\": \"%s\", \"iterations\": %d, \"waiter_tid\": %d, \"holder_tid\": %d, "
	       "\"waiter_wait_ns\": %ld, \"holder_hold_ns\": %ld}\n",
	       lock_name, iters, atomic_load(&waiter_tid), atomic_load(&holder_tid),
	       atomic_load(&waited_ns), atomic_load(&held_ns));
	return 0;
}

static void *consumer_main(void *arg)
{
	int got = 0;

	atomic_store(&waiter_tid, gettid_());
	while (got < iters) {
		pthread_mutex_lock(&queue_lock);
		while (!queue_len)
			pthread_cond_wait(&queue_cond, &queue_lock);
		queue_len--;
		got++;
		pthread_mutex_unlock(&queue_lock);
	}
	return NULL;
}

static int run_condvar(void)
{
	pthread_t c;

	pthread_create(&c, NULL, consumer_main, NULL);
	pthread_setname_np(c, "consumer");
	for (int i = 0; i < iters; i++) {
		sleep_ms(gap_ms);
		pthread_mutex_lock(&queue_lock);
		queue_len++;
		pthread_cond_signal(&queue_cond);
		pthread_mutex_unlock(&queue_lock);
	}
	pthread_join(c, NULL);
	printf("{\"items\": %d, \"consumer_tid\": %d}\n", iters, atomic_load(&waiter_tid));
	return 0;
}

static void *reader_main(void *arg)
{
	atomic_store(&waiter_tid, gettid_());
	for (int i = 0; i < iters; i++) {
		long long t0;

		wait_phase(2 * i + 1);
		usleep(1000);
		t0 = now_ns();
		pthread_rwlock_rdlock(&table_lock);
		atomic_fetch_add(&waited_ns, now_ns() - t0);
		pthread_rwlock_unlock(&table_lock);
		atomic_store(&phase, 2 * i + 2);
	}
	return NULL;
}

static int run_rwlock(void)
{
	pthread_t r;

	pthread_create(&r, NULL, reader_main, NULL);
	pthread_setname_np(r, "reader");
	for (int i = 0; i < iters; i++) {
		pthread_rwlock_wrlock(&table_lock);
		atomic_store(&phase, 2 * i + 1);
		sleep_ms(hold_ms);
		pthread_rwlock_unlock(&table_lock);
		wait_phase(2 * i + 2);
	}
	pthread_join(r, NULL);
	printf("{\"iterations\": %d, \"reader_tid\": %d, \"reader_wait_ns\": %ld}\n", iters,
	       atomic_load(&waiter_tid), atomic_load(&waited_ns));
	return 0;
}

static void *sem_waiter_main(void *arg)
{
	atomic_store(&waiter_tid, gettid_());
	for (int i = 0; i < iters; i++) {
		long long t0 = now_ns();

		sem_wait(&slots);
		atomic_fetch_add(&waited_ns, now_ns() - t0);
	}
	return NULL;
}

static int run_sem(void)
{
	pthread_t w;

	sem_init(&slots, 0, 0);
	pthread_create(&w, NULL, sem_waiter_main, NULL);
	pthread_setname_np(w, "sem-waiter");
	for (int i = 0; i < iters; i++) {
		sleep_ms(gap_ms);
		sem_post(&slots);
	}
	pthread_join(w, NULL);
	printf("{\"items\": %d, \"waiter_tid\": %d, \"waiter_wait_ns\": %ld}\n", iters,
	       atomic_load(&waiter_tid), atomic_load(&waited_ns));
	return 0;
}

struct burner {
	int tid;
	long long cpu_ns;
	long long life_ns;
	long voluntary, involuntary; /* the kernel's own context-switch counts for the thread */
	long long run_delay_ns;	     /* schedstat: time runnable, waiting for a CPU */
};

static void *burner_main(void *arg)
{
	struct burner *b = arg;
	struct timespec ts;
	long long start = now_ns();
	volatile unsigned long x = 0;

	b->tid = gettid_();
	for (int i = 0; i < iters; i++) {
		long long until = now_ns() + hold_ms * 1000000LL;

		while (now_ns() < until)
			x++;
		sleep_ms(gap_ms);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	b->cpu_ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	b->life_ns = now_ns() - start;
	{
		struct rusage ru;

		char path[64];
		unsigned long long on_cpu = 0, delay = 0;
		FILE *f;

		getrusage(RUSAGE_THREAD, &ru);
		b->voluntary = ru.ru_nvcsw;
		b->involuntary = ru.ru_nivcsw;
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", b->tid);
		f = fopen(path, "r");
		if (f && fscanf(f, "%llu %llu", &on_cpu, &delay) == 2)
			b->run_delay_ns = (long long)delay;
		else
			b->run_delay_ns = -1;
		if (f)
			fclose(f);
	}
	return NULL;
}

static int run_cpu(void)
{
	struct burner b[2];
	pthread_t t[2];

	for (int i = 0; i < 2; i++) {
		pthread_create(&t[i], NULL, burner_main, &b[i]);
		pthread_setname_np(t[i], "burner");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("{\"threads\": [");
	for (int i = 0; i < 2; i++)
		printf("%s{\"tid\": %d, \"cpu_ns\": %lld, \"life_ns\": %lld, \"voluntary\": %ld, "
		       "\"involuntary\": %ld, \"run_delay_ns\": %lld}",
		       i ? ", " : "", b[i].tid, b[i].cpu_ns, b[i].life_ns, b[i].voluntary,
		       b[i].involuntary, b[i].run_delay_ns);
	printf("]}\n");
	return 0;
}

pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold_one;

static void *abba_main(void *arg)
{
	int first_a = arg != NULL;

	pthread_mutex_lock(first_a ? &lock_a : &lock_b);
	if (first_a)
		atomic_store(&holder_tid, gettid_());
	else
		atomic_store(&waiter_tid, gettid_());
	pthread_barrier_wait(&both_hold_one);
	pthread_mutex_lock(first_a ? &lock_b : &lock_a); /* never returns */
	return NULL;
}

static int run_deadlock(void)
{
	pthread_t a, b;

	pthread_barrier_init(&both_hold_one, NULL, 3);
	pthread_create(&a, NULL, abba_main, (void *)1);
	pthread_create(&b, NULL, abba_main, NULL);
	pthread_barrier_wait(&both_hold_one);
	printf("{\"tid_a\": %d, \"tid_b\": %d, \"at_ns\": %lld}\n", atomic_load(&holder_tid),
	       atomic_load(&waiter_tid), now_ns());
	pthread_join(a, NULL);
	return 0;
}

static int rw_as_reader;

/* table_lock then lock_a (arg set), or lock_a then table_lock, the other way in: ABBA */
static void *rw_abba_main(void *arg)
{
	int rw_first = arg != NULL;

	if (rw_first) {
		if (rw_as_reader)
			pthread_rwlock_rdlock(&table_lock);
		else
			pthread_rwlock_wrlock(&table_lock);
		atomic_store(&holder_tid, gettid_());
	} else {
		pthread_mutex_lock(&lock_a);
		atomic_store(&waiter_tid, gettid_());
	}
	pthread_barrier_wait(&both_hold_one);
	if (rw_first)
		pthread_mutex_lock(&lock_a); /* never returns */
	else if (rw_as_reader)
		pthread_rwlock_wrlock(&table_lock);
	else
		pthread_rwlock_rdlock(&table_lock);
	return NULL;
}

static int run_rw_deadlock(const char *how)
{
	pthread_t a, b;

	rw_as_reader = !strcmp(how, "rd");
	pthread_barrier_init(&both_hold_one, NULL, 3);
	pthread_create(&a, NULL, rw_abba_main, (void *)1);
	pthread_create(&b, NULL, rw_abba_main, NULL);
	pthread_barrier_wait(&both_hold_one);
	printf("{\"tid_a\": %d, \"tid_b\": %d, \"at_ns\": %lld}\n", atomic_load(&holder_tid),
	       atomic_load(&waiter_tid), now_ns());
	pthread_join(a, NULL);
	return 0;
}

pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static int gated;

static void *ordered_main(void *arg)
{
	pthread_mutex_t *first = arg, *second = first == &lock_a ? &lock_b : &lock_a;

	if (first == &lock_a)
		atomic_store(&holder_tid, gettid_());
	else
		atomic_store(&waiter_tid, gettid_());
	for (int i = 0; i < iters; i++) {
		if (gated)
			pthread_mutex_lock(&gate_lock);
		pthread_mutex_lock(first);
		pthread_mutex_lock(second);
		pthread_mutex_unlock(second);
		pthread_mutex_unlock(first);
		if (gated)
			pthread_mutex_unlock(&gate_lock);
		usleep(1000);
	}
	return NULL;
}

/* Lock order a->b in one thread, b->a in another: never at once, or at once inside gate_lock. */
static int run_abba(void)
{
	pthread_t t, u;

	sleep_ms(200); /* let a -p tracer attach */
	pthread_create(&t, NULL, ordered_main, &lock_a);
	if (!gated)
		pthread_join(t, NULL);
	pthread_create(&u, NULL, ordered_main, &lock_b);
	if (gated)
		pthread_join(t, NULL);
	pthread_join(u, NULL);
	printf("{\"tid_ab\": %d, \"tid_ba\": %d, \"iterations\": %d}\n", atomic_load(&holder_tid),
	       atomic_load(&waiter_tid), iters);
	return 0;
}

static void *short_main(void *arg)
{
	pthread_mutex_lock(&acc_lock);
	sleep_ms(hold_ms);
	pthread_mutex_unlock(&acc_lock);
	return NULL;
}

static int run_threads(void)
{
	int created = 0;

	sleep_ms(200); /* let a -p tracer attach before the first thread */
	for (int i = 0; i < iters; i += 2) {
		pthread_t a, b;

		pthread_create(&a, NULL, short_main, NULL);
		pthread_create(&b, NULL, short_main, NULL);
		created += 2;
		pthread_join(a, NULL);
		pthread_join(b, NULL);
	}
	printf("{\"created\": %d}\n", created);
	return 0;
}

pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;

static int run_selflock(void)
{
	pthread_mutex_lock(&self_lock);
	printf("{\"tid\": %d, \"owner\": %d, \"at_ns\": %lld}\n", gettid_(),
	       self_lock.__data.__owner, now_ns());
	pthread_mutex_lock(&self_lock); /* a default mutex: never returns */
	return 0;
}

pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void *logger_main(void *arg)
{
	pthread_setname_np(pthread_self(), "logger");
	pthread_mutex_lock(&log_lock);
	atomic_store(&holder_tid, gettid_());
	for (;;)
		pause();
	return NULL;
}

/* fork() while another thread holds a lock: the child inherits it held by nobody it has. */
static int run_forkheld(void)
{
	pthread_t t;
	pid_t child;

	pthread_create(&t, NULL, logger_main, NULL);
	while (!atomic_load(&holder_tid))
		usleep(100);
	child = fork();
	if (!child) {
		printf("{\"child\": %d, \"parent\": %d, \"logger_tid\": %d, \"owner\": %d}\n",
		       getpid(), getppid(), atomic_load(&holder_tid), log_lock.__data.__owner);
		pthread_mutex_lock(&log_lock); /* never returns */
		_exit(0);
	}
	waitpid(child, NULL, 0);
	return 0;
}

pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;

static void *exit_holding_main(void *arg)
{
	pthread_mutex_lock(&exit_lock);
	atomic_store(&holder_tid, gettid_());
	return NULL; /* without unlocking */
}

/* A thread exits holding a lock: nobody in the process can release it any more. */
static int run_exitheld(void)
{
	pthread_t t;

	sleep_ms(300); /* let a tracer started with us settle */
	pthread_create(&t, NULL, exit_holding_main, NULL);
	pthread_join(t, NULL);
	printf("{\"tid\": %d, \"gone_tid\": %d, \"owner\": %d, \"at_ns\": %lld}\n", gettid_(),
	       atomic_load(&holder_tid), exit_lock.__data.__owner, now_ns());
	pthread_mutex_lock(&exit_lock); /* never returns */
	return 0;
}

struct shared_ledger {
	pthread_mutex_t ledger_mutex;
	long counter;
};

static struct shared_ledger *shared_ledger(void)
{
	struct shared_ledger *l =
	    mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t at;

	if (l == MAP_FAILED)
		exit(1);
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&l->ledger_mutex, &at);
	return l;
}

/* A process dies holding a process-shared (not robust) mutex: its waiters wait for good. */
static int run_psharedies(void)
{
	struct shared_ledger *l = shared_ledger();
	int ready[2];
	pid_t child;
	char c;

	if (pipe(ready))
		return 1;
	sleep_ms(300); /* let a tracer started with us settle */
	child = fork();
	if (!child) {
		pthread_mutex_lock(&l->ledger_mutex);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		raise(SIGKILL);
	}
	if (read(ready[0], &c, 1) != 1)
		return 1;
	for (;;) {
		siginfo_t si = {0};

		/* dead, and left a zombie (WNOWAIT) */
		if (waitid(P_PID, child, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid == child)
			break;
		usleep(1000);
	}
	/* the child stays a zombie (not reaped): dead all the same */
	printf("{\"parent\": %d, \"child\": %d, \"addr\": %lu, \"owner\": %d, \"at_ns\": "
	       "%lld}\n",
	       getpid(), child, (unsigned long)&l->ledger_mutex, l->ledger_mutex.__data.__owner,
	       now_ns());
	pthread_mutex_lock(&l->ledger_mutex); /* never returns */
	return 0;
}

/* Two processes take turns on a process-shared mutex: every wake-up is the other's unlock. */
static int run_pshared(int secs)
{
	struct shared_ledger *l = shared_ledger();
	long long end = now_ns() + secs * 1000000000LL;
	pid_t child;

	sleep_ms(300);
	child = fork();
	if (!child)
		prctl(PR_SET_NAME, "peer");
	while (now_ns() < end) {
		pthread_mutex_lock(&l->ledger_mutex);
		l->counter++;
		usleep(500);
		pthread_mutex_unlock(&l->ledger_mutex);
		usleep(100);
	}
	if (!child)
		_exit(0);
	waitpid(child, NULL, 0);
	printf("{\"parent\": %d, \"child\": %d, \"peer_name\": \"peer\"}\n", getpid(), child);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int a = argc > 2 ? atoi(argv[2]) : 0, b = argc > 3 ? atoi(argv[3]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "lockpair") || !strcmp(mode, "pi")) {
		hold_ms = a;
		iters = b;
		depth = argc > 4 ? atoi(argv[4]) : 0;
		if (!strcmp(mode, "pi")) {
			pthread_mutexattr_t at;

			pthread_mutexattr_init(&at);
			pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT);
			pthread_mutex_init(&pi_lock, &at);
			return run_pair(&pi_lock, "pi_lock");
		}
		return run_pair(&acc_lock, "acc_lock");
	}
	if (!strcmp(mode, "condvar")) {
		iters = a;
		gap_ms = b;
		return run_condvar();
	}
	if (!strcmp(mode, "rwlock")) {
		hold_ms = a;
		iters = b;
		return run_rwlock();
	}
	if (!strcmp(mode, "sem")) {
		iters = a;
		gap_ms = b;
		return run_sem();
	}
	if (!strcmp(mode, "cpu")) {
		hold_ms = a;
		gap_ms = b;
		iters = argc > 4 ? atoi(argv[4]) : 10;
		return run_cpu();
	}
	if (!strcmp(mode, "threads")) {
		iters = a;
		hold_ms = b;
		return run_threads();
	}
	if (!strcmp(mode, "deadlock"))
		return run_deadlock();
	if (!strcmp(mode, "rwdeadlock") && argc > 2)
		return run_rw_deadlock(argv[2]);
	if (!strcmp(mode, "abba")) {
		iters = a;
		gated = argc > 3 && !strcmp(argv[3], "gated");
		return run_abba();
	}
	if (!strcmp(mode, "selflock"))
		return run_selflock();
	if (!strcmp(mode, "forkheld"))
		return run_forkheld();
	if (!strcmp(mode, "exitheld"))
		return run_exitheld();
	if (!strcmp(mode, "psharedies"))
		return run_psharedies();
	if (!strcmp(mode, "pshared"))
		return run_pshared(a > 0 ? a : 2);
	fprintf(stderr, "usage: workload lockpair|pi|condvar|rwlock|sem|cpu|threads|deadlock|"
			"rwdeadlock|abba|selflock|forkheld|exitheld|psharedies|pshared ARGS\n");
	return 2;
}
