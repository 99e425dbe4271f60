/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zp_internal.h - shared by the hook engine's C files; not installed.
 */
#ifndef ZP_INTERNAL_H
#define ZP_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "zp_hooks.h"
#include "zp_asm.h"

#define ZP_HIDDEN __attribute__((visibility("hidden")))
#define ZP_TLS __thread __attribute__((tls_model("initial-exec")))

/* Internal invariants: never compiled out, never on app-controlled input. */
#define ZP_ASSERT(cond) do { \
	if (__builtin_expect(!(cond), 0)) \
		zp_assert_fail(#cond, __FILE__, __LINE__); \
} while (0)

ZP_HIDDEN void zp_assert_fail(const char *cond, const char *file, int line)
	__attribute__((noreturn));

/*
 * A raw syscall's result is an error (-errno) when it is in [-4095, -1],
 * as the kernel returns it; anything else is a value (an mmap address
 * above 2^63 included).
 */
#define ZP_ERRNO_MAX		4095
static inline int
zp_kerr(long r)
{
	return r < 0 && r >= -ZP_ERRNO_MAX;
}

/*
 * The application's bytes, copied where they cannot fault the engine: 0
 * when the kernel would say EFAULT (unmapped, PROT_NONE, below 64 KiB, a
 * kernel address), through process_vm_readv/writev on this process. A
 * system call's cost: for the rare calls the engine answers itself
 * (rt_sigaction of the signals it keeps).
 */
ZP_HIDDEN int zp_user_read(void *dst, const void *src, size_t n);
ZP_HIDDEN int zp_user_write(void *dst, const void *src, size_t n);

/* Gated logging to stderr: keeps errno, uses raw syscalls only. */
ZP_HIDDEN extern int zp_log_level;
ZP_HIDDEN void zp_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define ZP_LOG(level, ...) do { \
	if ((level) <= zp_log_level) \
		zp_log((level), __VA_ARGS__); \
} while (0)

/*
 * A line that may repeat (one per site, per mapping, per caught call):
 * each place says its first ZP_LOG_BURST lines of every ZP_LOG_WINDOW_NS,
 * then holds back, and its next line after the window says how many it
 * held (netstack's NS_LOG_LIMITED keeps the same rule).
 */
#define ZP_LOG_BURST		5
#define ZP_LOG_WINDOW_NS	(5ull * 1000 * 1000 * 1000)

struct zp_log_gate {
	uint64_t start_ns;
	uint32_t said;
	uint64_t held;
};

ZP_HIDDEN uint64_t zp_now_ns(void);
/* Say this one? *held: how many were held back before it. */
ZP_HIDDEN int zp_log_gate_open(struct zp_log_gate *g, uint64_t now_ns,
			       uint64_t *held);
ZP_HIDDEN void zp_log_held(int level, uint64_t held, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define ZP_LOG_LIMITED(level, ...) do { \
	static struct zp_log_gate gate_; \
	uint64_t held_; \
	if ((level) <= zp_log_level && \
	    zp_log_gate_open(&gate_, zp_now_ns(), &held_)) \
		zp_log_held((level), held_, __VA_ARGS__); \
} while (0)

/* The frame entry.S builds for zp_hook_c(), lowest address first. */
struct zp_frame {
	long nr;
	long a6;	/* r9 */
	long a5;	/* r8 */
	long a4;	/* r10 */
	long a3;	/* rdx */
	long a2;	/* rsi */
	long a1;	/* rdi */
	long rbp;
	long switched;	/* 1: on the hook stack, busy cleared after */
};

/* This thread's hook stack, mapped and used by entry.S (zp_asm.h). */
struct zp_hstack {
	uintptr_t top;		/* 0: not mapped yet */
	uintptr_t busy;		/* a hooked call runs on it */
	int tid;		/* the thread that mapped it frees it at exit */
	int autodisarm;		/* the thread's sigaltstack is SS_AUTODISARM, */
	uintptr_t alt_sp;	/* ... and this one (its handler runs on it) */
	uintptr_t alt_size;
};
_Static_assert(offsetof(struct zp_hstack, top) == ZP_HSTACK_TOP, "top");
_Static_assert(offsetof(struct zp_hstack, busy) == ZP_HSTACK_BUSY, "busy");
_Static_assert(offsetof(struct zp_hstack, tid) == ZP_HSTACK_TID, "tid");
_Static_assert(offsetof(struct zp_hstack, autodisarm) ==
	       ZP_HSTACK_AUTODISARM, "autodisarm");
_Static_assert(offsetof(struct zp_hstack, alt_sp) == ZP_HSTACK_ALT_SP, "alt_sp");
_Static_assert(offsetof(struct zp_hstack, alt_size) == ZP_HSTACK_ALT_SIZE,
	       "alt_size");
ZP_HIDDEN extern ZP_TLS struct zp_hstack zp_tls_hstack;

/* entry.S */
ZP_HIDDEN extern char zp_gate_start[], zp_gate_end[];
ZP_HIDDEN void zp_sled_entry(void);
ZP_HIDDEN void zp_stub_entry(void);
ZP_HIDDEN void zp_sigreturn_restorer(void);

/* hooks.c, read by entry.S */
ZP_HIDDEN extern unsigned char zp_kind_table[ZP_KIND_TABLE_LEN];
ZP_HIDDEN extern unsigned char zp_served_table[ZP_KIND_TABLE_LEN];
ZP_HIDDEN extern const uintptr_t *zp_fd_words;
ZP_HIDDEN extern unsigned int zp_fd_words_len;
ZP_HIDDEN extern unsigned char zp_served_other;
ZP_HIDDEN extern zp_dispatch_fn zp_dispatch_fn_ptr;
ZP_HIDDEN extern unsigned char zp_dispatch_vec;
ZP_HIDDEN extern uint64_t zp_xsave_size;
ZP_HIDDEN extern unsigned char zp_xsave_compact;
ZP_HIDDEN extern unsigned char zp_vsave_kind;
ZP_HIDDEN extern unsigned char zp_vcheck;
ZP_HIDDEN extern ZP_TLS uintptr_t zp_tls_vlight;
ZP_HIDDEN void zp_vcheck_verify(const unsigned char *area, const void *fn);
ZP_HIDDEN long zp_hook_c(struct zp_frame *f);
ZP_HIDDEN void zp_after_exec_map(long nr, long r, long a1, long a2, long a3,
				 long a4, long a5, long a6);
ZP_HIDDEN void zp_sled_entry_checked(void);
/* a call SUD caught, resumed in the entry below the red zone (sud.c) */
ZP_HIDDEN void zp_sud_entry(void);
ZP_HIDDEN void zp_hstack_release(uintptr_t sp);
ZP_HIDDEN long zp_dispatch(long nr, long a1, long a2, long a3, long a4,
			   long a5, long a6);

/* sites.c: the set of rewritten call sites, keyed by return address. */
#define ZP_SITE_GONE		1	/* a removed slot */
struct zp_site_set {
	uint64_t mask;
	uint64_t slot[];
};
ZP_HIDDEN extern struct zp_site_set *zp_site_set;
ZP_HIDDEN int zp_site_add(uintptr_t ret_addr);
ZP_HIDDEN int zp_site_has(uintptr_t ret_addr);

/* maps.c: /proc/self/maps */
struct zp_map {
	uintptr_t start;
	uintptr_t end;
	int prot;		/* PROT_* */
	int is_private;
	uint64_t offset;	/* file offset of start */
	char path[256];
};
ZP_HIDDEN int zp_maps_parse_line(const char *line, struct zp_map *m);
typedef int (*zp_map_cb)(const struct zp_map *m, void *arg);
ZP_HIDDEN int zp_maps_foreach(zp_map_cb cb, void *arg);

/* rewrite.c, decode.c (the scans), stubs.c (stub encoding) */
struct zp_rewrite_stats {
	uint64_t sites_stub;	/* all stub sites, sites_after included */
	uint64_t sites_after;	/* stubs moving the code after the syscall */
	uint64_t sites_before;	/* stubs moving several insns before it */
	uint64_t sites_tramp;
	uint64_t sites_lazy;	/* rewritten once SUD caught them */
	uint64_t sites_forgotten;	/* lazy sites given back (munmap...) */
	uint64_t insns;
};
ZP_HIDDEN int zp_rewrite_init(void);
ZP_HIDDEN extern int zp_stubs_off;
/* live: other threads may be executing this code while it is patched */
ZP_HIDDEN int zp_rewrite_region(uintptr_t start, uintptr_t end, int prot,
				const char *name, int fd, uint64_t offset,
				int live);
ZP_HIDDEN void zp_rewrite_get_stats(struct zp_rewrite_stats *st);
/* region left to SUD: no unwind info to tell code from data */
#define ZP_REWRITE_LAZY		1
#define ZP_SYSCALL_INSN_LEN	2
ZP_HIDDEN extern int zp_sud_lazy;
ZP_HIDDEN int zp_sud_available(void);
ZP_HIDDEN int zp_lazy_patch(uintptr_t syscall_addr);
ZP_HIDDEN extern int zp_lazy_count;
ZP_HIDDEN int zp_lazy_forget_begin(long nr, long a1, long a2, long a3,
				  long a4, long a5);
ZP_HIDDEN void zp_lazy_route(void);
ZP_HIDDEN void zp_lazy_forget_end(int began);
ZP_HIDDEN void zp_rewrite_atfork_child(void);
/*
 * Pure scan of a code buffer (no patching): calls cb for each syscall
 * instruction with its address, the previous instruction's address/length
 * and whether that one can move to a stub.  For tests and the rewriter.
 */
/* An instruction a stub runs in its place. */
struct zp_moved {
	uintptr_t addr;		/* where it was */
	uint8_t len;
	int8_t disp;		/* offset of a %rip-relative disp32, -1: none */
	uint8_t jmp;		/* a direct jmp (the last one): jmp rel32 */
	uintptr_t target;	/* ...to here */
	uint8_t code[16];	/* its bytes */
};
#define ZP_MOVED_MAX		8
struct zp_site {
	uintptr_t addr;		/* address of the 0f 05 / 0f 34 */
	uintptr_t prev;		/* previous instruction, 0 if none */
	int prev_len;
	int movable;		/* prev can be relocated to a stub */
	int after_len;		/* else bytes after the syscall that can
				   (0: none; only with function bounds) */
	int before_len;		/* else bytes before it that can, with it
				   (0: none; only with function bounds) */
	int nmoved;		/* the instructions of after_len/before_len */
	struct zp_moved moved[ZP_MOVED_MAX];
};
typedef int (*zp_site_cb)(const struct zp_site *s, void *arg);
ZP_HIDDEN long zp_scan_code(const uint8_t *buf, size_t len, uintptr_t vma,
			    zp_site_cb cb, void *arg);
/*
 * The same, decoding only from known instruction boundaries (function
 * starts, sorted) up to each candidate 0f 05 / 0f 34 byte pair.  ends
 * (NULL: unknown) are the functions' ends, 0 for unknown: candidates past
 * every function are skipped.  The candidates are found with SSE2
 * (zp_next_syscall_sse2): only where the application's vector registers
 * are not live, which holds wherever the rewriter runs (zp_rewrite_region):
 * at start-up, and in the C path of a hooked mmap or mprotect asking for
 * PROT_EXEC, whose entry saves them (entry.S, ZP_KIND_PROT); a SIGSYS
 * handler's are saved by the kernel.
 */
ZP_HIDDEN long zp_scan_code_at(const uint8_t *buf, size_t len, uintptr_t vma,
			       const uintptr_t *starts, size_t nstarts,
			       const uintptr_t *ends, zp_site_cb cb,
			       void *arg);
/*
 * The first x >= from where buf[x], buf[x + 1] are 0f 05 or 0f 34, 16
 * positions a step; the last 16 bytes are the caller's (the return is
 * then where the steps stopped, at most len - 1).  scan_sse2.c, the one
 * file of the engine built with vector registers.
 */
ZP_HIDDEN size_t zp_next_syscall_sse2(const uint8_t *buf, size_t from,
				      size_t len);
/*
 * Function starts in [start, end) from the ELF file's .eh_frame_hdr, then
 * (at (*out)[n]) their ends from the FDEs, 0 when unknown.
 */
ZP_HIDDEN long zp_elf_func_starts(int fd, uint64_t offset, uintptr_t start,
				  uintptr_t end, uintptr_t **out);
ZP_HIDDEN void zp_elf_starts_free(uintptr_t *starts);
ZP_HIDDEN void zp_stub_encode(uint8_t *stub, uintptr_t stub_addr,
			      const uint8_t *insn, int insn_len,
			      uintptr_t slot_addr, uintptr_t back_addr,
			      int *out_len);
/*
 * A stub running the instructions before (nb) at their new place, the
 * hook, the instructions after (na; a final direct jmp ends it), then
 * jmp back_addr.  -1 if a %rip-relative operand is out of reach.
 */
ZP_HIDDEN int zp_stub_encode_moved(uint8_t *stub, uintptr_t stub_addr,
				   const struct zp_moved *before, int nb,
				   const struct zp_moved *after, int na,
				   uintptr_t slot_addr, uintptr_t back_addr);
ZP_HIDDEN int zp_rip_disp_off(const uint8_t *p, int n);
/*
 * The length of the x86-64 instruction at p, of which avail bytes may be
 * read (insn.c): what libopcodes would say, without its text; 0 when it
 * runs past avail.
 */
ZP_HIDDEN int zp_insn_len(const uint8_t *p, size_t avail);
/*
 * The unit tests' check of zp_insn_len: decode [off, end) of buf with it
 * and with libopcodes side by side. Returns the instructions compared, or
 * -ENOSYS; at the first disagreement stops with *bad its offset, *want
 * libopcodes's length and *got ours (*bad = end when none).
 */
ZP_HIDDEN long zp_insn_len_check(const uint8_t *buf, size_t len,
				 uintptr_t vma, size_t off, size_t end,
				 size_t *bad, int *want, int *got);

/* poke.c: writing code other threads may run (cross-modifying code) */
ZP_HIDDEN int zp_poke(uint8_t *p, const uint8_t *bytes, size_t len,
		      uintptr_t merge_end);
ZP_HIDDEN long zp_poke_sigaction(long act, long oact, long size);
ZP_HIDDEN void zp_poke_unblock(void);
ZP_HIDDEN void zp_poke_atfork_child(void);
ZP_HIDDEN void zp_poke_get_stats(uint64_t *sites, uint64_t *traps);
ZP_HIDDEN extern int zp_poke_installed;
/* sites.c: addresses ever written with the int3 protocol */
ZP_HIDDEN int zp_poke_set_init(void);
ZP_HIDDEN int zp_poke_set_add(uintptr_t a);
ZP_HIDDEN int zp_poke_set_has(uintptr_t a);

/* trampoline.c */
ZP_HIDDEN int zp_tramp_setup(char *err, size_t errlen);
ZP_HIDDEN void zp_sled_fill(uint8_t *page, size_t exit_off);
ZP_HIDDEN int zp_sled_check(const uint8_t *page, size_t exit_off,
			    int *max_insns);

/* Signals: the kernel's struct sigaction for rt_sigaction on x86-64. */
#define ZP_SA_RESTORER		0x04000000
#define ZP_SIGSET_SIZE		8
#define ZP_SIGBIT(sig)		(1ULL << ((sig) - 1))
struct zp_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
/* signals the engine handles and keeps unblocked (hooks.c) */
ZP_HIDDEN extern uint64_t zp_sig_keep;
ZP_HIDDEN void zp_child_setup(void);

/* sud.c */
ZP_HIDDEN void zp_sig_chain(const struct zp_ksigaction *app, int sig,
			    void *si, void *uc, int is_trap);
ZP_HIDDEN int zp_sud_setup(int arm_now);
ZP_HIDDEN void zp_sud_want(const char *why);
ZP_HIDDEN int zp_sud_thread_arm(void);
ZP_HIDDEN long zp_sud_sigaction(long sig, long act, long oact, long size);
ZP_HIDDEN long zp_sud_sigaction_other(long sig, long act, long oact,
				      long size);
ZP_HIDDEN void zp_sud_unblock(void);
ZP_HIDDEN extern int zp_sud_active;
ZP_HIDDEN extern uint64_t zp_sud_caught;
ZP_HIDDEN extern uint64_t zp_sud_arm_fail;

/* Per-thread state. */
ZP_HIDDEN extern ZP_TLS unsigned char zp_tls_guard;

#endif /* ZP_INTERNAL_H */
