/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hookbench_wrap.c - the classic LD_PRELOAD interposer, for comparison:
 * getpid() wrapped, the real one found with dlsym(RTLD_NEXT).  It only sees
 * calls through libc's exported symbol, never raw syscalls.
 */
#include <dlfcn.h>
#include <sys/types.h>
#include <unistd.h>

static pid_t (*real_getpid)(void);
static volatile unsigned long wrapped;

pid_t
getpid(void)
{
	if (real_getpid == NULL)
		real_getpid = (pid_t (*)(void))dlsym(RTLD_NEXT, "getpid");
	wrapped++;
	return real_getpid();
}
