/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * poke.c - writing instructions that other threads may be running
 * (cross-modifying code), for the "live" rewrite: mprotect of code in use,
 * start-up with threads.
 *
 * A store contained in one 64-byte cache line reaches every other CPU
 * whole (x86 makes such stores atomic), so `ff d0` over a `syscall`, or an
 * 8-byte store carrying `e9 rel32` merged with the bytes after it, is done
 * in one go.  A store that straddles two lines may be split: another CPU
 * could fetch half old, half new bytes (`ff 05`, `0f d0`).  Those are
 * written the way Linux's text_poke_bp() does:
 *	1. record the address; write int3 (0xcc) over the first byte
 *	   (a 1-byte store is never torn); serialize every CPU
 *	2. write the other bytes (nobody executes them: the int3 stops
 *	   anyone who enters at the first byte); serialize
 *	3. write the first byte; serialize
 * Serialize: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), which
 * makes every thread of the process run a core-serializing instruction
 * before it next runs user code, so no CPU keeps stale prefetched bytes.
 *
 * A thread that meets the int3 gets SIGTRAP; our handler recognises a
 * trap at an address it has patched this way and restarts the thread at
 * that address: it runs the old instruction's int3 again (patch still in
 * progress: after a sched_yield) or the new instruction.  Any other
 * SIGTRAP goes to the app's handler: rt_sigaction(SIGTRAP) is virtualised
 * once the handler is installed (first use), like SUD's SIGSYS.  SIGTRAP
 * must not be blocked where an int3 may be met (the kernel then kills the
 * process): rt_sigprocmask unblocks it again after the app's change, new
 * threads unblock it first thing, handlers' sa_mask lose it.  The patching
 * thread blocks its other signals meanwhile (a handler of its own running
 * the site would wait for itself).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <linux/membarrier.h>

#include "zp_internal.h"

#define ZP_OP_INT3		0xcc
#define ZP_CACHE_LINE		64
#define ZP_SI_KERNEL		0x80	/* si_code of a trap (int3) */

static int zp_poke_ready;	/* membarrier registered, handler in */
static int zp_poke_broken;	/* cannot serialize: no int3 writes */
int zp_poke_installed;		/* read by entry.S (new threads) */
static struct zp_ksigaction zp_app_sigtrap;
/* the address being patched, 0 when none (one patcher: the rewrite lock) */
static uintptr_t zp_poke_busy;
static uint8_t zp_poke_want[sizeof(uint64_t)];	/* ...and its new bytes */
static size_t zp_poke_len;
static uint64_t zp_poke_sites;
static uint64_t zp_poke_traps;

static long
zp_membarrier(int cmd)
{
	return zp_syscall6(SYS_membarrier, cmd, 0, 0, 0, 0, 0);
}

/* Every CPU running this process serializes before its next user insn. */
static void
zp_poke_sync(void)
{
	long r = zp_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);

	/* registration is per mm: a fork child registers again */
	if (r == -EPERM &&
	    zp_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)
	    == 0)
		r = zp_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);
	ZP_ASSERT(r == 0);
}

void
zp_poke_unblock(void)
{
	uint64_t set = ZP_SIGBIT(SIGTRAP);

	zp_syscall6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0,
		    ZP_SIGSET_SIZE, 0, 0);
}

/* rt_sigaction(SIGTRAP, act, oact, size) from the app, once installed. */
long
zp_poke_sigaction(long act, long oact, long size)
{
	struct zp_ksigaction old = zp_app_sigtrap, sa;

	if (size != ZP_SIGSET_SIZE)
		return -EINVAL;
	/* as the kernel: read, set, then the old one written (or EFAULT) */
	if (act != 0 && !zp_user_read(&sa, (const void *)act, sizeof(sa)))
		return -EFAULT;
	if (act != 0)
		zp_app_sigtrap = sa;
	if (oact != 0 && !zp_user_write((void *)oact, &old, sizeof(old)))
		return -EFAULT;
	return 0;
}

static int
zp_trap_ours(uintptr_t a)
{
	uintptr_t busy = __atomic_load_n(&zp_poke_busy, __ATOMIC_ACQUIRE);

	if (!zp_poke_set_has(a))
		return 0;
	/* the int3 is gone: it was ours (the app's stays until it acts) */
	if (*(volatile uint8_t *)a != ZP_OP_INT3)
		return 1;
	if (busy == a) {
		/* still patching: let the patcher run, then try again */
		zp_syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
		return 1;
	}
	return 0;
}

static void
zp_sigtrap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	int saved = errno;

	if (si->si_code == ZP_SI_KERNEL &&
	    zp_trap_ours((uintptr_t)g[REG_RIP] - 1)) {
		g[REG_RIP] -= 1;	/* run what is there now */
		__atomic_fetch_add(&zp_poke_traps, 1, __ATOMIC_RELAXED);
		errno = saved;
		return;
	}
	zp_sig_chain(&zp_app_sigtrap, sig, si, ucv,
		     si->si_code == ZP_SI_KERNEL);
	errno = saved;
}

/* Once: membarrier registered, SIGTRAP handler in.  0 or -errno. */
static int
zp_poke_setup(void)
{
	struct zp_ksigaction sa = {
		.handler = (void *)zp_sigtrap,
		.flags = SA_SIGINFO | SA_NODEFER | SA_RESTART | SA_ONSTACK |
			ZP_SA_RESTORER,
		.restorer = (void *)zp_sigreturn_restorer,
		.mask = 0,
	};
	long r;

	if (zp_poke_ready)
		return 0;
	if (zp_poke_broken)
		return -ENOSYS;
	r = zp_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE);
	if (r == 0)
		r = zp_poke_set_init();
	if (r != 0) {
		zp_poke_broken = 1;
		ZP_LOG(ZP_LOG_WARN, "cannot patch code in use safely "
		       "(membarrier SYNC_CORE: %ld)\n", r);
		return (int)r;
	}
	/* from now on the app's rt_sigaction/rt_sigprocmask go through C */
	zp_kind_table[SYS_rt_sigaction] = ZP_KIND_C;
	zp_kind_table[SYS_rt_sigprocmask] = ZP_KIND_MASK;
	r = zp_syscall6(SYS_rt_sigaction, SIGTRAP, (long)&sa,
			(long)&zp_app_sigtrap, ZP_SIGSET_SIZE, 0, 0);
	ZP_ASSERT(r == 0);
	__atomic_fetch_or(&zp_sig_keep, ZP_SIGBIT(SIGTRAP), __ATOMIC_RELEASE);
	__atomic_store_n(&zp_poke_installed, 1, __ATOMIC_RELEASE);
	zp_poke_unblock();
	zp_poke_ready = 1;
	return 0;
}

static void
zp_store_byte(uint8_t *p, uint8_t b)
{
	__atomic_store_n(p, b, __ATOMIC_RELEASE);
}

/*
 * Write len (2..8) bytes at p, the start of an instruction other threads
 * may run.  merge_end: bytes up to there may be rewritten with their own
 * value (one 8-byte store), 0 if none.  Caller holds the rewrite lock.
 * 0, or -errno (nothing written) when it cannot be done safely.
 */
int
zp_poke(uint8_t *p, const uint8_t *b, size_t len, uintptr_t merge_end)
{
	uintptr_t a = (uintptr_t)p, in_line = a & (ZP_CACHE_LINE - 1);
	uint64_t keep = ~(ZP_SIGBIT(SIGTRAP) | ZP_SIGBIT(SIGSYS) |
			  ZP_SIGBIT(SIGSEGV) | ZP_SIGBIT(SIGBUS) |
			  ZP_SIGBIT(SIGILL) | ZP_SIGBIT(SIGFPE));
	uint64_t old = 0;
	size_t i;
	int r;

	ZP_ASSERT(len >= 2 && len <= sizeof(uint64_t));
	if (len == sizeof(uint16_t) && in_line < ZP_CACHE_LINE - 1) {
		uint16_t v;

		memcpy(&v, b, sizeof(v));
		__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
		return 0;
	}
	if (in_line <= ZP_CACHE_LINE - sizeof(uint64_t) &&
	    a + sizeof(uint64_t) <= merge_end) {
		uint8_t buf[sizeof(uint64_t)];
		uint64_t v;

		memcpy(buf, p, sizeof(buf));
		memcpy(buf, b, len);
		memcpy(&v, buf, sizeof(v));
		__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
		return 0;
	}
	/* straddles a line: the int3 protocol (top of file) */
	r = zp_poke_setup();
	if (r != 0)
		return r;
	r = zp_poke_set_add(a);
	if (r != 0)
		return r;
	zp_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&keep, (long)&old,
		    ZP_SIGSET_SIZE, 0, 0);
	memcpy(zp_poke_want, b, len);
	zp_poke_len = len;
	__atomic_store_n(&zp_poke_busy, a, __ATOMIC_RELEASE);
	zp_store_byte(p, ZP_OP_INT3);
	zp_poke_sync();
	for (i = 1; i < len; i++)
		zp_store_byte(p + i, b[i]);
	zp_poke_sync();
	zp_store_byte(p, b[0]);
	zp_poke_sync();
	__atomic_store_n(&zp_poke_busy, 0, __ATOMIC_RELEASE);
	zp_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0,
		    ZP_SIGSET_SIZE, 0, 0);
	zp_poke_sites++;
	return 0;
}

/*
 * In a fork child: the patching thread is not there to finish, and the
 * int3 would stop the child for ever.  Alone now, it writes the bytes
 * itself (the page is still writable: the parent was inside the rewrite).
 */
void
zp_poke_atfork_child(void)
{
	uint8_t *p = (uint8_t *)zp_poke_busy;
	size_t i;

	if (p == NULL)
		return;
	for (i = zp_poke_len; i-- > 0;)
		p[i] = zp_poke_want[i];
	zp_poke_busy = 0;
}

void
zp_poke_get_stats(uint64_t *sites, uint64_t *traps)
{
	*sites = zp_poke_sites;
	*traps = __atomic_load_n(&zp_poke_traps, __ATOMIC_RELAXED);
}
