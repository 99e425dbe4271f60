/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hookbench_loop.c - times getpid; run by bench/hookbench under each
 * mechanism.  Usage: hookbench_loop MODE CALLS REPEATS
 *   libc     getpid() through libc (a `mov $39,%eax; syscall` wrapper)
 *   tramp    getpid by a raw `syscall` not preceded by `mov $nr,%eax`:
 *            under zpnet it goes through address 0
 *   ptrace   like libc, traced by a parent that stops at every syscall
 *            entry and exit (PTRACE_SYSCALL)
 *   read     read() of 1 byte from a regular file (a syscall zpnet's
 *            dispatcher sees, then gives to the kernel: the fd is not a
 *            stack socket); the offset goes back to 0 between repeats
 * With a 4th argument "socket" a TCP socket is opened first: under
 * `zpnet run` that starts the stack (its service thread, a socket in the
 * fd table), as in a server.  With "thread" an idle thread is started
 * instead: the kernel's own cost of a multi-threaded process (a read
 * then locks the file position), the baseline for the "socket" rows.
 * Prints the median over REPEATS of the ns per call, the last result, and the
 * 5th percentile of single calls timed with rdtscp (noise on a shared VM
 * only ever adds time, so a low percentile shows the intrinsic cost).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPEATS	101
#define NS_PER_SEC	1000000000.0
#define SINGLE_CALLS	20000
#define PERCENTILE	5

enum { MODE_LIBC, MODE_TRAMP, MODE_READ };

static long
raw_getpid_tramp(void)
{
	long r;

	__asm__ volatile ("mov $39, %%eax\n\tnop\n\tsyscall"
			  : "=a"(r) : : "rcx", "r11", "memory");
	return r;
}

static int file_fd = -1;

static long
read_byte(void)
{
	char c;

	return read(file_fd, &c, 1);
}

static long
call_once(int mode)
{
	switch (mode) {
	case MODE_TRAMP:
		return raw_getpid_tramp();
	case MODE_READ:
		return read_byte();
	default:
		return getpid();
	}
}

/* Back to the start of the file, which holds more bytes than calls. */
static void
rewind_file(void)
{
	if (file_fd >= 0 && lseek(file_fd, 0, SEEK_SET) != 0) {
		perror("hookbench_loop: lseek");
		exit(1);
	}
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
single_calls(int mode)
{
	static uint64_t d[SINGLE_CALLS];
	double t0 = now(), t1;
	uint64_t c0 = tsc(), c1;
	int i;

	rewind_file();
	for (i = 0; i < SINGLE_CALLS; i++) {
		uint64_t a = tsc();

		call_once(mode);
		d[i] = tsc() - a;
	}
	c1 = tsc();
	t1 = now();
	qsort(d, SINGLE_CALLS, sizeof(d[0]), cmp_u64);
	return (double)d[SINGLE_CALLS * PERCENTILE / 100] * (t1 - t0) /
		(double)(c1 - c0);
}

static int
measure(int mode, long calls, int repeats)
{
	double ns[MAX_REPEATS];
	long res = 0, i;
	int r;

	/* warm up */
	rewind_file();
	for (i = 0; i < calls / 10; i++)
		res = call_once(mode);
	for (r = 0; r < repeats; r++) {
		double t0;

		rewind_file();
		t0 = now();
		if (mode == MODE_TRAMP)
			for (i = 0; i < calls; i++)
				res = raw_getpid_tramp();
		else if (mode == MODE_READ)
			for (i = 0; i < calls; i++)
				res = read_byte();
		else
			for (i = 0; i < calls; i++)
				res = getpid();
		ns[r] = (now() - t0) / (double)calls;
	}
	qsort(ns, (size_t)repeats, sizeof(ns[0]), cmp_double);
	if (res < 0) {
		perror("hookbench_loop: the call failed");
		return 1;
	}
	printf("%.2f %ld %.2f\n", ns[repeats / 2], res, single_calls(mode));
	fflush(stdout);
	return 0;
}

static void *
idle_thread(void *arg)
{
	for (;;)
		pause();
	return arg;
}

/* A regular file of more than n bytes, already unlinked. */
static int
open_file(long n)
{
	char path[] = "/tmp/hookbench.XXXXXX";
	static char buf[65536];
	long left = n + 1;
	int fd = mkstemp(path);

	if (fd < 0) {
		perror("hookbench_loop: mkstemp");
		return -1;
	}
	unlink(path);
	memset(buf, 'z', sizeof(buf));
	while (left > 0) {
		ssize_t w = write(fd, buf, left < (long)sizeof(buf) ?
				  (size_t)left : sizeof(buf));

		if (w <= 0) {
			perror("hookbench_loop: write");
			close(fd);
			return -1;
		}
		left -= w;
	}
	return fd;
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
		measure(MODE_LIBC, calls, repeats);
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

	if (argc != 4 && !(argc == 5 && (strcmp(argv[4], "socket") == 0 ||
					 strcmp(argv[4], "thread") == 0))) {
		fprintf(stderr, "usage: %s libc|tramp|ptrace|read CALLS REPEATS "
			"[socket|thread]\n", argv[0]);
		return 2;
	}
	if (argc == 5 && strcmp(argv[4], "socket") == 0 &&
	    socket(AF_INET, SOCK_STREAM, 0) < 0) {
		perror("hookbench_loop: socket");
		return 1;
	}
	if (argc == 5 && strcmp(argv[4], "thread") == 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, idle_thread, NULL) != 0) {
			fprintf(stderr, "hookbench_loop: cannot start a thread\n");
			return 1;
		}
	}
	calls = atol(argv[2]);
	repeats = atoi(argv[3]);
	if (calls <= 0 || repeats <= 0 || repeats > MAX_REPEATS)
		return 2;
	if (strcmp(argv[1], "ptrace") == 0)
		return traced(calls, repeats);
	if (strcmp(argv[1], "tramp") == 0)
		return measure(MODE_TRAMP, calls, repeats);
	if (strcmp(argv[1], "read") == 0) {
		long most = calls > SINGLE_CALLS ? calls : SINGLE_CALLS;

		file_fd = open_file(most);
		if (file_fd < 0)
			return 1;
		return measure(MODE_READ, calls, repeats);
	}
	if (strcmp(argv[1], "libc") == 0)
		return measure(MODE_LIBC, calls, repeats);
	fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], argv[1]);
	return 2;
}
