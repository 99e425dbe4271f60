/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * probe.c - issues known numbers of rarely used syscalls from every kind of
 * code the hook engine must see; hooks_test.py runs it under the counting
 * dispatcher and checks the counts exactly.
 *
 *   source                          syscall        count
 *   main binary, `mov; syscall`     getppid (110)  3   (stub path)
 *   main binary, other syscall      getpgrp (111)  4   (address-0 path)
 *   libc                            sched_yield    5
 *   dlopen'd library                getegid (108)  7
 *   JIT page (mprotect RX)          getuid (102)   11
 *   signal handler                  getsid (124)   2
 *   two threads                     getgid (104)   2 x 13
 *   RWX page written after mmap     getpgid (121)  4   (caught by SUD)
 *   posix_spawn'd child (vfork)     getresuid (118) 17 (its own pid)
 *   forked child                    getresgid (120) 19 (its own pid)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_MAIN		3
#define N_MAIN_TRAMP	4
#define N_LIBC		5
#define N_DL		7
#define N_JIT		11
#define N_SIGNAL	2
#define N_THREAD	13
#define N_RWX		4
#define N_SPAWN		17
#define N_FORK		19
#define PAGE		4096

extern char **environ;

static void
main_syscalls(void)
{
	long r;
	int i;

	for (i = 0; i < N_MAIN; i++)
		__asm__ volatile ("mov $110, %%eax\n\tsyscall"
				  : "=a"(r) : : "rcx", "r11", "memory");
	for (i = 0; i < N_MAIN_TRAMP; i++)
		__asm__ volatile ("mov $111, %%eax\n\tnop\n\tsyscall"
				  : "=a"(r) : : "rcx", "r11", "memory");
	(void)r;
}

static void
on_usr1(int sig)
{
	(void)sig;
	syscall(SYS_getsid, 0);
}

static void *
thread_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < N_THREAD; i++)
		getgid();
	return NULL;
}

static int
run_code(const unsigned char *code, size_t len, int rwx, int n)
{
	unsigned char *p;
	long (*fn)(void);
	int i;

	p = mmap(NULL, PAGE, rwx ? PROT_READ | PROT_WRITE | PROT_EXEC :
		 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	memcpy(p, code, len);
	if (!rwx && mprotect(p, PAGE, PROT_READ | PROT_EXEC) != 0)
		return -1;
	fn = (long (*)(void))p;
	for (i = 0; i < n; i++)
		fn();
	return 0;
}

int
main(int argc, char **argv)
{
	/* mov $102, %eax; syscall; ret */
	static const unsigned char jit[] = { 0xb8, 0x66, 0, 0, 0, 0x0f, 0x05,
					     0xc3 };
	/* xor %edi, %edi; mov $121, %eax; syscall; ret */
	static const unsigned char rwx[] = { 0x31, 0xff, 0xb8, 0x79, 0, 0, 0,
					     0x0f, 0x05, 0xc3 };
	void (*dl_fn)(int);
	pthread_t t[2];
	pid_t spawn_pid, fork_pid;
	char *child_argv[] = { argv[0], "child", NULL };
	void *h;
	int i, st;

	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		for (i = 0; i < N_SPAWN; i++)
			syscall(SYS_getresuid, NULL, NULL, NULL);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s DL_LIBRARY\n", argv[0]);
		return 2;
	}
	main_syscalls();
	for (i = 0; i < N_LIBC; i++)
		sched_yield();

	h = dlopen(argv[1], RTLD_NOW);
	if (h == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	dl_fn = (void (*)(int))dlsym(h, "probe_dl");
	if (dl_fn == NULL)
		return 1;
	dl_fn(N_DL);

	if (run_code(jit, sizeof(jit), 0, N_JIT) != 0)
		return 1;
	signal(SIGUSR1, on_usr1);
	for (i = 0; i < N_SIGNAL; i++)
		raise(SIGUSR1);
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_main, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (run_code(rwx, sizeof(rwx), 1, N_RWX) != 0)
		return 1;

	if (posix_spawn(&spawn_pid, argv[0], NULL, NULL, child_argv,
			environ) != 0)
		return 1;
	waitpid(spawn_pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	fork_pid = fork();
	if (fork_pid == 0) {
		for (i = 0; i < N_FORK; i++)
			syscall(SYS_getresgid, NULL, NULL, NULL);
		_exit(0);
	}
	waitpid(fork_pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	printf("pid=%d spawn=%d fork=%d\n", getpid(), spawn_pid, fork_pid);
	return 0;
}
