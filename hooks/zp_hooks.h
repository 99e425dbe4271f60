/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zp_hooks.h - the zpoline hook engine's public interface.
 *
 * The engine rewrites every `syscall` instruction of the process into a call
 * to one dispatcher.  Exactly one dispatcher can be registered; without one,
 * every system call passes through to the kernel.  See hooks/README.md.
 */
#ifndef ZP_HOOKS_H
#define ZP_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A dispatcher receives the raw system call (number and six arguments) and
 * returns what the kernel would: a value, or -errno.  To pass a call through
 * it calls zp_syscall6().  Syscalls made while it runs (by it, libc, malloc,
 * DPDK, lwIP...) go straight to the kernel: they never re-enter it.
 * clone, clone3, fork, vfork and rt_sigreturn never reach it, and neither
 * does anything a vfork child does (it runs on the parent's memory until it
 * execs or exits: its syscalls go to the kernel).
 */
typedef long (*zp_dispatch_fn)(long nr, long a1, long a2, long a3, long a4,
			       long a5, long a6);

/* Registration flags. */
enum zp_dispatch_flags {
	/* The dispatcher may touch vector registers: save them around it. */
	ZP_DISPATCH_VECTOR = 1u << 0,
	/*
	 * The dispatcher is async-signal-safe and re-entrant (it only calls
	 * zp_syscall6()): no recursion guard is set, so syscalls of signal
	 * handlers that interrupt it are dispatched too.
	 */
	ZP_DISPATCH_REENTRANT = 1u << 1,
};

/*
 * Register the dispatcher, with ZP_DISPATCH_VECTOR (the safe choice).
 * Returns 0, or -EBUSY if one is registered already, -EINVAL for NULL.
 */
int zp_hooks_register(zp_dispatch_fn fn);

/* Same, with explicit ZP_DISPATCH_* flags. */
int zp_hooks_register_flags(zp_dispatch_fn fn, unsigned int flags);

/*
 * Register a dispatcher for the n syscall numbers of nrs only (each in
 * 0..511): every other number goes from the hook entry straight to the
 * kernel, without entering C or touching a vector register (a few ns over
 * the bare syscall).  -EINVAL for a number out of range, -EBUSY as above.
 */
int zp_hooks_register_set(zp_dispatch_fn fn, unsigned int flags,
			  const int *nrs, size_t n);

/* Non-zero if nr may reach the dispatcher (no dispatcher yet: 0). */
int zp_hooks_served(long nr);

/*
 * Of the numbers registered, those of nrs (each in 0..511, n of them)
 * reach the dispatcher only when their first argument (an fd: its low 32
 * bits, as the kernel reads it) names a non-zero word of the table set
 * with zp_hooks_set_fd_table(); any other fd goes from the hook entry
 * straight to the kernel (read of a regular file, write to a pipe: no C,
 * no vector register).  Call after zp_hooks_register_set().  -EINVAL for
 * a number out of range or not registered.
 */
int zp_hooks_filter_fd(const int *nrs, size_t n);

/*
 * The table the filter reads: len words, one per fd, zero for an fd the
 * dispatcher does not serve.  It must stay mapped, and at least len words
 * long, for as long as any thread may be in the entry: after a
 * replacement too (NULL, 0 sends every filtered call to the kernel, the
 * state before the first).
 */
void zp_hooks_set_fd_table(const uintptr_t *words, unsigned int len);

/*
 * fn(args[0], ..., args[5]) with the vector state saved around it.  A
 * dispatcher registered without ZP_DISPATCH_VECTOR runs on general
 * registers only (compiled with -mgeneral-regs-only, calling nothing
 * else); it calls this before anything that may touch vector registers
 * (libc, a compiler's memcpy, the network stack), so that calls it sends
 * back to the kernel at once never pay for the save.
 */
long zp_hooks_vec_call(long (*fn)(long, long, long, long, long, long),
		       const long args[6]);

/*
 * Inside zp_hooks_vec_call's fn: where the CPU has AVX the call saves
 * only what code without VEX/EVEX and floating-point instructions can
 * change: xmm0-15 (3 to 4 times cheaper than all of it with AVX-512, and
 * 20 ns less than with MXCSR and the x87 words, whose loads and stores
 * are slow). Code built for the x86-64 baseline that does no
 * floating-point arithmetic (SSE or x87) may run as it is; before
 * anything else (glibc's string functions, most of libc, a PMD's burst
 * functions) fn calls this, which saves the rest (MXCSR and the x87
 * control and status words too) once per call. Outside such a call it
 * returns at once. Keeps every register but r11 and the flags.
 * ZPHOOKS_VCHECK=1 checks the rule at every return.
 */
void zp_hooks_vec_full(void);

/* The escape hatch: a system call that always goes to the kernel. */
long zp_syscall6(long nr, long a1, long a2, long a3, long a4, long a5,
		 long a6);

/*
 * Called around fork(), and clone/clone3 without CLONE_VM and without a new
 * stack, like pthread_atfork() but for the raw system calls: prepare in the
 * parent before, parent(child_pid or -errno) in the parent after, child() in
 * the child.  Any may be NULL.  Not called for vfork or CLONE_VM|CLONE_VFORK:
 * that child shares the parent's memory (see zp_hooks_in_vfork_child()).
 */
int zp_hooks_set_fork_callbacks(void (*prepare)(void),
				void (*parent)(long child_pid),
				void (*child)(void));

/* 1 while this thread runs as the child of a vfork (shared memory). */
int zp_hooks_in_vfork_child(void);

/*
 * The dispatcher's recursion guard in this thread: set while the
 * registered dispatcher runs, so that its own system calls reach the
 * kernel. A dispatcher that runs an application's signal handler from
 * inside a dispatched call (the handler is the application's code, its
 * calls must be dispatched, and it may siglongjmp out) drops the guard for
 * the handler's time: zp_hooks_guard_drop() returns what to give back to
 * zp_hooks_guard_restore() if the handler returns.
 */
int zp_hooks_guard_drop(void);
void zp_hooks_guard_restore(int saved);

/* How system calls are caught. */
enum zp_hooks_mode {
	ZP_HOOKS_ZPOLINE,	/* rewrite + trampoline at 0, SUD safety net */
	ZP_HOOKS_SUD_ONLY,	/* Syscall User Dispatch alone (slow) */
};

enum zp_log_level {
	ZP_LOG_ERR = 0,
	ZP_LOG_WARN = 1,
	ZP_LOG_INFO = 2,
	ZP_LOG_DEBUG = 3,
};

/*
 * The Syscall User Dispatch safety net behind the rewriter.  An armed
 * thread pays ~100 ns of kernel slow path on every syscall (measured by
 * bench/hookbench), so by default it is armed only once code appears that
 * the rewriter cannot vouch for: a writable+executable mapping (JIT), a
 * shared executable mapping, a region it failed to rewrite.
 */
enum zp_sud_mode {
	ZP_SUD_OFF = 0,
	ZP_SUD_LAZY = 1,	/* armed on the first suspicious mapping */
	ZP_SUD_ALWAYS = 2,	/* armed from the start, in every thread */
};

struct zp_hooks_config {
	enum zp_hooks_mode mode;
	enum zp_log_level log_level;
	/* Syscall User Dispatch behind the rewriter (zpoline mode). */
	enum zp_sud_mode sud_safety_net;
	/* When address 0 cannot be mapped, continue on SUD alone. */
	int allow_sud_fallback;
	/* Send every site through address 0 (no red-zone stubs): tests. */
	int no_stubs;
};

/* The defaults: zpoline, warnings (or ZPHOOKS_LOG=0..3 from the
 * environment), lazy SUD safety net, no fallback. */
void zp_hooks_config_default(struct zp_hooks_config *cfg);

/*
 * Start the engine: map the trampoline, rewrite all code mapped so far, arm
 * SUD.  Call once, from a constructor, while the process has one thread.
 * Returns 0 or -errno; zp_hooks_strerror() then tells what went wrong and how
 * to fix it.  Never exits.
 */
int zp_hooks_start(const struct zp_hooks_config *cfg);

/* Message for the last error of zp_hooks_start(). */
const char *zp_hooks_strerror(void);

/* What the engine has done so far (for logs, tests and `zpnet stats`). */
struct zp_hooks_stats {
	uint64_t sites_stub;	/* syscalls sent to a red-zone-safe stub */
	uint64_t sites_tramp;	/* syscalls sent through address 0 */
	uint64_t regions;	/* executable mappings rewritten */
	uint64_t sud_caught;	/* syscalls caught by SUD, not rewritten */
	uint64_t start_ns;	/* time zp_hooks_start() took */
	uint64_t poke_sites;	/* code in use patched with the int3 protocol */
	uint64_t poke_traps;	/* threads that met such an int3, restarted */
	uint64_t sites_lazy;	/* sites rewritten once SUD caught them */
	uint64_t sites_forgotten;	/* ...given back: munmap, mprotect... */
};

void zp_hooks_get_stats(struct zp_hooks_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* ZP_HOOKS_H */
