/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdisp.c - a preload library with test dispatchers, linked with the
 * engine the way the zpnet preload library is.  ZPTEST_DISP selects:
 *   vector  clobbers every vector register (SSE/AVX/AVX-512) and calls
 *           memset, then passes through (registered with
 *           ZP_DISPATCH_VECTOR): registers must still be preserved
 *   guard   calls libc (getppid, snprintf, malloc) from the dispatcher:
 *           those must reach the kernel, never this dispatcher again
 *   set     registered for getppid, sched_yield, exit_group and write
 *           only (zp_hooks_register_set), on general registers, write
 *           filtered by fd (zp_hooks_filter_fd: only fd 2's word is set):
 *           counts in unserved= every other number, and every write to
 *           another fd, that reached it (must be 0), in write2= the
 *           writes to fd 2 (its own two, one with the fd's high bits set)
 *   veccall registered for getpid and exit_group without
 *           ZP_DISPATCH_VECTOR: runs the vector clobber through
 *           zp_hooks_vec_call(), which must save the state around it:
 *           after zp_hooks_vec_full(); with ZPTEST_VECCALL=light, a
 *           clobber of what code without VEX and floating-point
 *           arithmetic can change (xmm0-15) without it; with =unsaved,
 *           the whole clobber without it, with =unsaved-mxcsr an SSE
 *           division by zero (MXCSR's flags), with =unsaved-x87 one on
 *           the x87 (its status word), with =early-mxcsr the SSE one
 *           before zp_hooks_vec_full() (ZPHOOKS_VCHECK=1 must stop the
 *           program in all four)
 * At exit_group it writes "calls=N nested=M getppid=K yields=Y df=D" to
 * ZPTEST_OUT, K being the getppid calls the dispatcher saw (only the
 * program's), Y the sched_yield calls it saw, D the calls where it was
 * entered with the direction flag set (the C ABI wants it clear).
 * Fork callbacks count prepare/parent calls (prepare=, parent=, child_pid=
 * in the same line) and the child appends its pid to ZPTEST_OUT.child;
 * api_errors counts wrong answers of zp_hooks_register().
 * ZPTEST_BUSY_THREAD=1 starts a thread looping on sched_yield() before the
 * engine starts, like DPDK's threads: the rewriter patches code it runs.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zp_hooks.h"

#define EFLAGS_DF	0x400

static unsigned long calls, nested, seen_getppid, seen_yield, df_set;
static unsigned long fork_prepare, fork_parent, api_errors, unserved;
static unsigned long seen_write2;
static long fork_child_pid;
static __thread int depth;
static int avx512;

__attribute__((target("avx512f")))
static void
clobber_avx512(void)
{
	__asm__ volatile (
			"vpternlogd $0xff, %%zmm0, %%zmm0, %%zmm0\n\t"
			"vmovdqa64 %%zmm0, %%zmm1\n\t"
			"vmovdqa64 %%zmm0, %%zmm15\n\t"
			"vmovdqa64 %%zmm0, %%zmm16\n\t"
			"vmovdqa64 %%zmm0, %%zmm31\n\t"
			"kxnorw %%k1, %%k1, %%k1\n\t"
			"kxnorw %%k7, %%k7, %%k7\n\t"
			::: "xmm0", "xmm1", "xmm15", "xmm16", "xmm31", "k1",
			    "k7");
}

/* The x87 status word: flags cleared, then zero-divide set (1/0, masked),
 * the stack left as it was. */
static void
clobber_x87_status(void)
{
	__asm__ volatile ("fnclex\n\tfld1\n\tfldz\n\tfdivrp\n\tfstp %%st(0)"
			  ::: "st");
}

__attribute__((target("avx2")))
static void
clobber_vectors(void)
{
	static volatile char buf[4096];

	unsigned int mx = 0x1f80;		/* the defaults: */
	unsigned short cw = 0x037f;		/*  the app's are not */

	memset((void *)buf, 0x5a, sizeof(buf));
	__asm__ volatile ("ldmxcsr %0\n\tfldcw %1" : : "m"(mx), "m"(cw));
	clobber_x87_status();
	if (avx512)
		clobber_avx512();
	__asm__ volatile (
		"vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
		"vmovdqa %%ymm0, %%ymm2\n\t"
		"vmovdqa %%ymm0, %%ymm7\n\t"
		"vmovdqa %%ymm0, %%ymm8\n\t"
		"vmovdqa %%ymm0, %%ymm14\n\t"
		"pxor %%xmm3, %%xmm3\n\t"
		::: "xmm0", "xmm2", "xmm3", "xmm7", "xmm8", "xmm14");
}

/* What baseline (legacy SSE) code without floating-point arithmetic can
 * change: xmm0-15; the upper halves, MXCSR and the x87 words stay. */
static void
clobber_legacy(void)
{
	__asm__ volatile (
		"pcmpeqd %%xmm0, %%xmm0\n\t"
		"movdqa %%xmm0, %%xmm1\n\t"
		"movdqa %%xmm0, %%xmm7\n\t"
		"movdqa %%xmm0, %%xmm8\n\t"
		"movdqa %%xmm0, %%xmm15\n\t"
		"pxor %%xmm3, %%xmm3\n\t"
		::: "xmm0", "xmm1", "xmm3", "xmm7", "xmm8", "xmm15");
}

/* A legacy SSE division by zero (masked): sets MXCSR's zero-divide flag,
 * which only a save of MXCSR puts back. */
static void
clobber_mxcsr_flags(void)
{
	__asm__ volatile ("pcmpeqd %%xmm0, %%xmm0\n\t"
			  "psrlq $2, %%xmm0\n\t"	/* a normal double, low lane */
			  "xorpd %%xmm1, %%xmm1\n\t"
			  "divsd %%xmm1, %%xmm0"
			  ::: "xmm0", "xmm1");
}

/* count calls entered with DF set (string instructions would run backwards) */
static void
check_df(void)
{
	unsigned long fl;

	__asm__ volatile ("pushfq\n\tpop %0" : "=r"(fl));
	if (fl & EFLAGS_DF)
		df_set++;
}

static void
dump(void)
{
	char line[192];
	const char *path = getenv("ZPTEST_OUT");
	int n;
	long fd;

	if (path == NULL)
		return;
	n = snprintf(line, sizeof(line), "calls=%lu nested=%lu getppid=%lu "
		     "yields=%lu prepare=%lu parent=%lu child_pid=%ld "
		     "api_errors=%lu df=%lu unserved=%lu write2=%lu\n", calls, nested,
		     seen_getppid, seen_yield, fork_prepare, fork_parent,
		     fork_child_pid, api_errors, df_set, unserved, seen_write2);
	fd = zp_syscall6(SYS_open, (long)path, O_WRONLY | O_CREAT | O_TRUNC,
			 0644, 0, 0, 0);
	if (fd >= 0) {
		zp_syscall6(SYS_write, fd, (long)line, n, 0, 0, 0);
		zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	}
}

static long
disp_vector(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	check_df();
	calls++;
	clobber_vectors();
	if (nr == SYS_exit_group && !zp_hooks_in_vfork_child())
		dump();
	return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

static long
disp_guard(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	char buf[64];
	char *p;

	check_df();
	if (depth++ > 0)
		nested++;
	calls++;
	if (nr == SYS_getppid)
		seen_getppid++;
	if (nr == SYS_sched_yield)
		seen_yield++;
	/* libc from inside the dispatcher: straight to the kernel */
	snprintf(buf, sizeof(buf), "%d", getppid());
	p = malloc(4096);
	free(p);
	if (nr == SYS_exit_group && !zp_hooks_in_vfork_child())
		dump();
	depth--;
	return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

static const int set_nrs[] = { SYS_getppid, SYS_sched_yield, SYS_exit_group,
				SYS_write };
/* set: write reaches the dispatcher only for fd 2 (zp_hooks_filter_fd) */
static uintptr_t set_fd_words[16] = { [2] = 1 };
static const int veccall_nrs[] = { SYS_getpid, SYS_exit_group };

/* Entered without the vector state saved: general registers only. */
__attribute__((target("general-regs-only")))
static long
disp_set(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	calls++;
	if (nr == SYS_getppid)
		seen_getppid++;
	else if (nr == SYS_sched_yield)
		seen_yield++;
	else if (nr == SYS_write && (int)a1 == 2)
		seen_write2++;
	else if (nr != SYS_exit_group)
		unserved++;	/* a write to another fd as well */
	if (nr == SYS_exit_group && !zp_hooks_in_vfork_child())
		dump();
	return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

/* ZPTEST_VECCALL, read at start: a served call may not call strcmp
 * (glibc's uses AVX-512) before zp_hooks_vec_full() */
static enum {
	VC_SAVED, VC_LIGHT, VC_UNSAVED, VC_UNSAVED_MXCSR, VC_UNSAVED_X87,
	VC_EARLY_MXCSR,
} veccall_how;

static long
clobber_then_getpid(long a1, long a2, long a3, long a4, long a5, long a6)
{
	switch (veccall_how) {
	case VC_LIGHT:
		clobber_legacy();
		break;
	case VC_UNSAVED_MXCSR:
		clobber_mxcsr_flags();
		break;
	case VC_UNSAVED_X87:
		clobber_x87_status();
		break;
	case VC_EARLY_MXCSR:	/* the save comes too late */
		clobber_mxcsr_flags();
		zp_hooks_vec_full();
		break;
	case VC_SAVED:
		zp_hooks_vec_full();
		/* fall through */
	case VC_UNSAVED:
		clobber_vectors();
		break;
	}
	return zp_syscall6(SYS_getpid, a1, a2, a3, a4, a5, a6);
}

__attribute__((target("general-regs-only")))
static long
disp_veccall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long args[6] = { a1, a2, a3, a4, a5, a6 };

	calls++;
	if (nr == SYS_exit_group && !zp_hooks_in_vfork_child())
		dump();
	if (nr != SYS_getpid)
		return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
	return zp_hooks_vec_call(clobber_then_getpid, args);
}

static void
on_prepare(void)
{
	fork_prepare++;
}

static void
on_parent(long pid)
{
	fork_parent++;
	fork_child_pid = pid;
}

/* in the child: append our pid to ZPTEST_OUT.child */
static void
on_child(void)
{
	char path[4096], line[32];
	const char *out = getenv("ZPTEST_OUT");
	long fd;
	int n;

	if (out == NULL)
		return;
	snprintf(path, sizeof(path), "%s.child", out);
	n = snprintf(line, sizeof(line), "%ld\n",
		     zp_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0));
	fd = zp_syscall6(SYS_open, (long)path,
			 O_WRONLY | O_CREAT | O_APPEND, 0644, 0, 0, 0);
	if (fd >= 0) {
		zp_syscall6(SYS_write, fd, (long)line, n, 0, 0, 0);
		zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	}
}

static void *
busy_thread(void *arg)
{
	(void)arg;
	for (;;)
		sched_yield();
	return NULL;
}

__attribute__((constructor))
static void
testdisp_init(void)
{
	struct zp_hooks_config cfg;
	const char *mode = getenv("ZPTEST_DISP");
	unsigned int a, b, c, d;
	int r, full;

	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		avx512 = (b >> 16) & 1;
	/* numbers past the table: refused before anything is registered */
	if (zp_hooks_register_set(disp_set, 0, (const int[]){ 512 }, 1) !=
	    -EINVAL || zp_hooks_register_set(disp_set, 0,
					     (const int[]){ -1 }, 1) != -EINVAL)
		api_errors++;
	if (mode != NULL && strcmp(mode, "guard") == 0)
		r = zp_hooks_register(disp_guard);
	else if (mode != NULL && strcmp(mode, "set") == 0) {
		r = zp_hooks_register_set(disp_set, 0, set_nrs,
					  sizeof(set_nrs) / sizeof(set_nrs[0]));
		if (r == 0 && (zp_hooks_filter_fd((const int[]){ SYS_getpid },
						  1) != -EINVAL ||
			       zp_hooks_filter_fd((const int[]){ SYS_write },
						  1) != 0))
			api_errors++;
		zp_hooks_set_fd_table(set_fd_words, 16);
	}
	else if (mode != NULL && strcmp(mode, "veccall") == 0) {
		const char *how = getenv("ZPTEST_VECCALL");

		veccall_how = how == NULL ? VC_SAVED :
			      strcmp(how, "light") == 0 ? VC_LIGHT :
			      strcmp(how, "unsaved") == 0 ? VC_UNSAVED :
			      strcmp(how, "unsaved-mxcsr") == 0 ? VC_UNSAVED_MXCSR :
			      strcmp(how, "unsaved-x87") == 0 ? VC_UNSAVED_X87 :
			      strcmp(how, "early-mxcsr") == 0 ? VC_EARLY_MXCSR :
			      VC_SAVED;
		r = zp_hooks_register_set(disp_veccall, 0, veccall_nrs,
					  sizeof(veccall_nrs) /
					  sizeof(veccall_nrs[0]));
	} else
		r = zp_hooks_register(disp_vector);
	/* the served set: all numbers (also past the table), or the list */
	full = mode == NULL || (strcmp(mode, "set") != 0 &&
				strcmp(mode, "veccall") != 0);
	if (r == 0 && (zp_hooks_served(SYS_getppid) !=
		       (mode == NULL || strcmp(mode, "veccall") != 0) ||
		       zp_hooks_served(-1) != full ||
		       zp_hooks_served(SYS_exit_group) != 1))
		api_errors++;
	/* the API's own checks */
	if (zp_hooks_register(disp_vector) != -EBUSY)
		api_errors++;
	if (zp_hooks_register_flags(NULL, 0) != -EINVAL)
		api_errors++;
	zp_hooks_set_fork_callbacks(on_prepare, on_parent, on_child);
	zp_hooks_config_default(&cfg);
	if (getenv("ZPTEST_BUSY_THREAD") != NULL) {
		pthread_t t;
		int i;

		pthread_create(&t, NULL, busy_thread, NULL);
		for (i = 0; i < 1000; i++)
			sched_yield();	/* let it run */
	}
	if (r == 0)
		r = zp_hooks_start(&cfg);
	if (r != 0) {
		fprintf(stderr, "testdisp: %s\n", zp_hooks_strerror());
		_exit(1);
	}
	if (getenv("ZPTEST_BUSY_THREAD") != NULL) {
		/* until the busy thread, rewritten under its feet, has been
		 * dispatched: a loaded machine may not run it for a while */
		struct timespec ts = { 0, 1000000 };
		int i;

		for (i = 0; i < 5000 && __atomic_load_n(&seen_yield,
							__ATOMIC_RELAXED) == 0; i++)
			nanosleep(&ts, NULL);
	}
	if (mode != NULL && strcmp(mode, "set") == 0) {
		/* fd 2 reaches the dispatcher, fd 1 and fd 40 (past the table,
		 * and its high bits set) go to the kernel from the entry */
		if (write(2, "", 0) != 0 || write(1, "", 0) != 0)
			api_errors++;
		syscall(SYS_write, 40L | (1L << 32), "", 0);
		syscall(SYS_write, 2L | (1L << 32), "", 0);
	}
}
