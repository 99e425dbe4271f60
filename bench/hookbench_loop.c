/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hookbench_loop.c - times getpid; run by bench/hookbench under each
 * mechanism.  Usage: hookbench_loop MODE CALLS REPEATS
 *   libc     getpid() through libc (a `mov $39,%eax; syscall` wrapper)
 *   tramp    getpid by a raw `syscall` not preceded by `mov $nr,%eax`:
 *            under zpnet it goes through address 0
 *   ptrace   like libc, traced by a parent that stops at every syscall
 *            entry and exit (PTRACE_SYSCALL)
 * Prints the median over REPEATS of the ns per call, the pid seen, and the
 * 5th percentile of single calls timed with rdtscp (noise on a shared VM
 * only ever adds time, so a low percentile shows the intrinsic cost).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPEATS	101
#define NS_PER_SEC	1000000000.0
#define SINGLE_CALLS	20000
#define PERCENTILE	5

static long
raw_getpid_tramp(void)
{
	long r;

	__asm__ volatile ("mov $39, %%eax\n\tnop\n\tsyscall"
			  : "=a"(r) : : "rcx", "r11", "memory");
	return r;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline uint64_t
tsc(void)
{
	unsigned int lo, hi, aux;

	__asm__ volatile ("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return ((uint64_t)hi << 32) | lo;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Low percentile of single calls, in ns (TSC calibrated on the run). */
static double
single_calls(int tramp)
{
	static uint64_t d[SINGLE_CALLS];
	double t0 = now(), t1;
	uint64_t c0 = tsc(), c1;
	int i;

	for (i = 0; i < SINGLE_CALLS; i++) {
		uint64_t a = tsc();

		if (tramp)
			raw_getpid_tramp();
		else
			getpid();
		d[i] = tsc() - a;
	}
	c1 = tsc();
	t1 = now();
	qsort(d, SINGLE_CALLS, sizeof(d[0]), cmp_u64);
	return (double)d[SINGLE_CALLS * PERCENTILE / 100] * (t1 - t0) /
		(double)(c1 - c0);
}

static int
measure(int tramp, long calls, int repeats)
{
	double ns[MAX_REPEATS];
	long pid = 0, i;
	int r;

	/* warm up */
	for (i = 0; i < calls / 10; i++)
		pid = tramp ? raw_getpid_tramp() : getpid();
	for (r = 0; r < repeats; r++) {
		double t0 = now();

		if (tramp)
			for (i = 0; i < calls; i++)
				pid = raw_getpid_tramp();
		else
			for (i = 0; i < calls; i++)
				pid = getpid();
		ns[r] = (now() - t0) / (double)calls;
	}
	qsort(ns, (size_t)repeats, sizeof(ns[0]), cmp_double);
	printf("%.2f %ld %.2f\n", ns[repeats / 2], pid, single_calls(tramp));
	fflush(stdout);
	return 0;
}

static int
traced(long calls, int repeats)
{
	pid_t child = fork();
	int st;

	if (child < 0)
		return 1;
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		measure(0, calls, repeats);
		_exit(0);
	}
	if (waitpid(child, &st, 0) != child || !WIFSTOPPED(st))
		return 1;
	ptrace(PTRACE_SETOPTIONS, child, NULL,
	       (void *)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
	for (;;) {
		int sig = 0;

		if (ptrace(PTRACE_SYSCALL, child, NULL, NULL) != 0)
			return 1;
		if (waitpid(child, &st, 0) != child)
			return 1;
		if (WIFEXITED(st))
			return WEXITSTATUS(st);
		if (WIFSIGNALED(st))
			return 1;
		if (WIFSTOPPED(st) && WSTOPSIG(st) != (SIGTRAP | 0x80))
			sig = WSTOPSIG(st);
		if (sig != 0 && sig != SIGSTOP)
			ptrace(PTRACE_SYSCALL, child, NULL, (void *)(long)sig);
	}
}

int
main(int argc, char **argv)
{
	long calls;
	int repeats;

	if (argc != 4) {
		fprintf(stderr, "usage: %s libc|tramp|ptrace CALLS REPEATS\n",
			argv[0]);
		return 2;
	}
	calls = atol(argv[2]);
	repeats = atoi(argv[3]);
	if (calls <= 0 || repeats <= 0 || repeats > MAX_REPEATS)
		return 2;
	if (strcmp(argv[1], "ptrace") == 0)
		return traced(calls, repeats);
	return measure(strcmp(argv[1], "tramp") == 0, calls, repeats);
}
