/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sud.c - the Syscall User Dispatch safety net.
 *
 * The kernel lets through syscalls made from the gate (entry.S); any other
 * syscall instruction still executed (code written into an RWX page, the
 * vDSO's fallbacks, code we could not rewrite) raises SIGSYS.  The handler
 * serves it through the same dispatcher and counts it.  Syscalls that must
 * run on the app's own stack (rt_sigreturn, clone, clone3, vfork, fork) are
 * instead turned into what a rewritten site does: the handler pushes the
 * return address and resumes in the hook entry, which runs them natively.
 *
 * SIGSYS belongs to us while SUD is armed: the app's rt_sigaction(SIGSYS)
 * is virtualised and its handler called for SIGSYS that is not ours
 * (seccomp's SECCOMP_RET_TRAP, kill -SYS).  SIGSYS is never blocked in an
 * armed thread (a caught syscall would kill the process): arming unblocks
 * it, rt_sigprocmask unblocks it again after the app's change, and
 * handlers' sa_mask lose it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "zp_internal.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH	59
#define PR_SYS_DISPATCH_OFF		0
#define PR_SYS_DISPATCH_ON		1
#endif
#define ZP_SUD_ALLOW			0	/* SYSCALL_DISPATCH_FILTER_ALLOW */
#define ZP_SUD_BLOCK			1	/* SYSCALL_DISPATCH_FILTER_BLOCK */
#define ZP_SYS_USER_DISPATCH		2	/* si_code */

/* 1 once every thread should be armed (read by entry.S) */
int zp_sud_active;
static int zp_sud_installed;
ZP_HIDDEN ZP_TLS unsigned char zp_tls_sud_armed;
uint64_t zp_sud_caught;
static ZP_TLS char zp_tls_selector;
/* rewrite the sites SUD catches (zpoline mode) */
int zp_sud_lazy;
static struct zp_ksigaction zp_app_sigsys;

uint64_t zp_sud_arm_fail;

int
zp_sud_thread_arm(void)
{
	long r;

	zp_tls_selector = ZP_SUD_BLOCK;
	zp_tls_sud_armed = 1;
	r = zp_syscall6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH,
				PR_SYS_DISPATCH_ON, (long)zp_gate_start,
				(long)(zp_gate_end - zp_gate_start),
				(long)&zp_tls_selector, 0);
	if (r != 0)
		__atomic_fetch_add(&zp_sud_arm_fail, 1, __ATOMIC_RELAXED);
	else
		zp_sud_unblock();
	return (int)r;
}

/*
 * An armed thread must never block SIGSYS: a syscall SUD catches then
 * kills the process (the kernel forces a blocked SIGSYS to its default).
 */
void
zp_sud_unblock(void)
{
	uint64_t set = ZP_SIGBIT(SIGSYS);

	zp_syscall6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0,
		    ZP_SIGSET_SIZE, 0, 0);
}

/*
 * rt_sigaction(sig != SIGSYS) while SUD (or poke.c's SIGTRAP) is
 * installed: the handler's mask must not block those either.
 */
long
zp_sud_sigaction_other(long sig, long act, long oact, long size)
{
	struct zp_ksigaction sa;

	if (act == 0 || size != ZP_SIGSET_SIZE)
		return zp_dispatch(SYS_rt_sigaction, sig, act, oact, size, 0,
				   0);
	if (!zp_user_read(&sa, (const void *)act, sizeof(sa)))
		return -EFAULT;
	sa.mask &= ~__atomic_load_n(&zp_sig_keep, __ATOMIC_ACQUIRE);
	return zp_dispatch(SYS_rt_sigaction, sig, (long)&sa, oact, size, 0, 0);
}

/* rt_sigaction(SIGSYS, act, oact, size) from the app. */
long
zp_sud_sigaction(long sig, long act, long oact, long size)
{
	struct zp_ksigaction old = zp_app_sigsys, sa;

	(void)sig;
	if (size != ZP_SIGSET_SIZE)
		return -EINVAL;
	/* as the kernel: the new action is read first, set, then the old
	 * one written (EFAULT then, the new one stays) */
	if (act != 0 && !zp_user_read(&sa, (const void *)act, sizeof(sa)))
		return -EFAULT;
	if (act != 0)
		zp_app_sigsys = sa;
	if (oact != 0 && !zp_user_write((void *)oact, &old, sizeof(old)))
		return -EFAULT;
	return 0;
}

/*
 * A signal that is not the engine's: what the app asked for (app, its
 * virtualised sigaction).  is_trap: raised by the CPU (int3), which the
 * kernel never ignores: SIG_IGN kills like SIG_DFL.
 */
void
zp_sig_chain(const struct zp_ksigaction *app, int sig, void *si, void *uc,
	     int is_trap)
{
	void *h = app->handler;

	if (h == (void *)SIG_IGN && !is_trap)
		return;
	if (h == (void *)SIG_DFL || h == (void *)SIG_IGN) {
		struct zp_ksigaction dfl = { .handler = (void *)SIG_DFL };

		zp_syscall6(SYS_rt_sigaction, sig, (long)&dfl, 0,
			    ZP_SIGSET_SIZE, 0, 0);
		zp_syscall6(SYS_tgkill, zp_syscall6(SYS_getpid, 0, 0, 0, 0, 0,
						    0),
			    zp_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0), sig,
			    0, 0, 0);
		return;
	}
	if (app->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))h)(sig, si, uc);
	else
		((void (*)(int))h)(sig);
}

static void
zp_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr;
	int saved = errno;
	int kind;

	if (si->si_code != ZP_SYS_USER_DISPATCH) {
		zp_sig_chain(&zp_app_sigsys, sig, si, ucv, 0);
		errno = saved;
		return;
	}
	nr = si->si_syscall;
	__atomic_fetch_add(&zp_sud_caught, 1, __ATOMIC_RELAXED);
	/* a syscall that has just run: rewrite it, the next call is direct */
	if (zp_sud_lazy) {
		int lr = zp_lazy_patch((uintptr_t)g[REG_RIP] -
				       ZP_SYSCALL_INSN_LEN);

		if (lr != 0)
			ZP_LOG_LIMITED(ZP_LOG_DEBUG, "syscall before %p left "
				       "to SUD: %s\n", (void *)g[REG_RIP],
				       strerror(-lr));
	}
	kind = (unsigned long)nr < ZP_KIND_TABLE_LEN ? zp_kind_table[nr] :
		ZP_KIND_PLAIN;
	if (kind == ZP_KIND_EXIT) {
		/*
		 * A thread's end: here, not on its stack, which may be free
		 * already (Go's exitThread has said so before its exit).
		 */
		zp_hstack_release((uintptr_t)__builtin_frame_address(0));
		zp_syscall6(SYS_exit, g[REG_RDI], 0, 0, 0, 0, 0);
	}
	if (kind == ZP_KIND_SIGRETURN || kind == ZP_KIND_VFORK ||
	    kind == ZP_KIND_CLONE || kind == ZP_KIND_CLONE3) {
		/*
		 * These need rsp at the app's own: resume as if the site had
		 * done `call *%rax` (8 bytes of red zone lost, documented).
		 */
		g[REG_RSP] -= sizeof(long);
		*(long *)g[REG_RSP] = g[REG_RIP];
		g[REG_RIP] = (greg_t)zp_sled_entry_checked;
		g[REG_RAX] = nr;
		errno = saved;
		return;
	}
	if (kind != ZP_KIND_PLAIN || zp_hooks_served(nr)) {
		/*
		 * Resume in the entry as a stub would, below the red zone:
		 * the entry runs the call on the thread's hook stack, outside
		 * this handler (whose sigreturn would undo a mask change, and
		 * whose stack may be a goroutine's signal stack).  Nothing is
		 * written to the app's stack from here: this handler's own
		 * frame (the saved vector state at its top) lies just below
		 * the red zone.  zp_sud_entry gets the app's rip in rcx (the
		 * syscall's to clobber) and builds the stub shape itself.
		 */
		g[REG_RCX] = g[REG_RIP];
		g[REG_RIP] = (greg_t)zp_sud_entry;
		g[REG_RAX] = nr;
		errno = saved;
		return;
	}
	ZP_LOG_LIMITED(ZP_LOG_DEBUG, "SUD caught syscall %ld at %p\n", nr,
	       (void *)g[REG_RIP]);
	g[REG_RAX] = zp_syscall6(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX],
				 g[REG_R10], g[REG_R8], g[REG_R9]);
	errno = saved;
}

/* 1 if SUD is installed (the safety net is on and the kernel has it) */
int
zp_sud_available(void)
{
	return zp_sud_installed;
}

/*
 * From now on every thread runs under SUD: this one at once, new ones from
 * their first instruction, the others at their next hooked syscall
 * (entry.S checks zp_sud_active against zp_tls_sud_armed).
 */
void
zp_sud_want(const char *why)
{
	if (!zp_sud_installed ||
	    __atomic_load_n(&zp_sud_active, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&zp_sud_active, 1, __ATOMIC_RELEASE);
	zp_sud_thread_arm();
	ZP_LOG(ZP_LOG_INFO, "Syscall User Dispatch armed: %s\n", why);
}

int
zp_sud_setup(int arm_now)
{
	struct zp_ksigaction sa = {
		.handler = (void *)zp_sigsys,
		.flags = SA_SIGINFO | SA_NODEFER | SA_RESTART | SA_ONSTACK |
			ZP_SA_RESTORER,
		.restorer = (void *)zp_sigreturn_restorer,
		.mask = 0,
	};
	long r;

	r = zp_syscall6(SYS_rt_sigaction, SIGSYS, (long)&sa,
			(long)&zp_app_sigsys, ZP_SIGSET_SIZE, 0, 0);
	if (r != 0)
		return (int)r;
	/* probe that the kernel has SUD, and arm now if asked */
	r = zp_sud_thread_arm();
	if (r == 0 && !arm_now) {
		zp_tls_sud_armed = 0;
		r = zp_syscall6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH,
				PR_SYS_DISPATCH_OFF, 0, 0, 0, 0);
	}
	if (r != 0) {
		zp_syscall6(SYS_rt_sigaction, SIGSYS, (long)&zp_app_sigsys, 0,
			    ZP_SIGSET_SIZE, 0, 0);
		return (int)r;
	}
	zp_sud_installed = 1;
	zp_sud_active = arm_now;
	zp_kind_table[SYS_rt_sigaction] = ZP_KIND_C;
	zp_kind_table[SYS_rt_sigprocmask] = ZP_KIND_MASK;
	__atomic_fetch_or(&zp_sig_keep, ZP_SIGBIT(SIGSYS), __ATOMIC_RELEASE);
	return 0;
}
