/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hooks.c - start-up and the C side of the hook entry.
 *
 * Start-up, in order (zp_hooks_start):
 *   setup_vector_save()  size of the XSAVE area for dispatchers that need it
 *   zp_rewrite_init()    site set, libopcodes
 *   zp_tramp_setup()     page 0 (trampoline.c)
 *   setup_kinds()        which syscall numbers need special care
 *   rewrite_all()        every executable mapping (rewrite.c)
 *   zp_sud_setup()       the safety net (sud.c)
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "zp_internal.h"

#define ZP_LOG_BUF		512
#define ZP_ERR_BUF		512
#define ZP_CPUID_XSAVE		0xd
#define ZP_CPUID_XSAVEC		(1U << 1)	/* leaf 0xd.1, eax */
#define ZP_CPUID_XSAVE_ALIGN64	(1U << 1)	/* leaf 0xd.i, ecx */
#define ZP_XSAVE_FIRST_EXT	2		/* after x87 and SSE */
#define ZP_CPUID_OSXSAVE	(1U << 27)	/* leaf 1, ecx */
#define ZP_CPUID_XGETBV1	(1U << 2)	/* leaf 0xd.1, eax */
#define ZP_CPUID7_AVX512F	(1U << 16)	/* leaf 7.0, ebx */
#define ZP_CPUID7_AVX512BW	(1U << 30)
#define ZP_XCR0_AVX		0x4		/* ymm upper halves */
#define ZP_XCR0_AVX512		0xe0		/* opmask, ZMM_Hi256, Hi16_ZMM */
#define ZP_PAGE_SIZE		4096UL
#define ZP_NS_PER_SEC		1000000000ULL
#define ZP_STATUS_BUF		4096

/* read by entry.S */
unsigned char zp_kind_table[ZP_KIND_TABLE_LEN];
unsigned char zp_served_table[ZP_KIND_TABLE_LEN];
unsigned char zp_served_other;
const uintptr_t *zp_fd_words;		/* zp_hooks_set_fd_table() */
unsigned int zp_fd_words_len;
zp_dispatch_fn zp_dispatch_fn_ptr;
unsigned char zp_dispatch_vec;
uint64_t zp_xsave_size;
unsigned char zp_xsave_compact;
unsigned char zp_vsave_kind;		/* ZP_VS_* */
unsigned char zp_vcheck;		/* ZPHOOKS_VCHECK */
ZP_HIDDEN ZP_TLS uintptr_t zp_tls_vlight;	/* a light vec_call's area */

int zp_log_level = ZP_LOG_WARN;
uint64_t zp_sig_keep;
ZP_TLS unsigned char zp_tls_guard;
ZP_HIDDEN ZP_TLS uintptr_t zp_tls_vfork_ret;
ZP_HIDDEN ZP_TLS unsigned char zp_tls_vfork_child;
ZP_HIDDEN ZP_TLS struct zp_hstack zp_tls_hstack;

static unsigned int zp_dispatch_flags;
static void (*zp_fork_prepare)(void);
static void (*zp_fork_parent)(long child_pid);
static void (*zp_fork_child)(void);
static char zp_err[ZP_ERR_BUF];
static int zp_started;
static enum zp_hooks_mode zp_mode;
static uint64_t zp_regions;
static uint64_t zp_start_ns;
static const char *zp_sud_want_at_start;
static int zp_lazy_at_start;	/* code without unwind info at start-up */
static int zp_threads_at_start;

static void
log_vwrite(int level, uint64_t held, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char buf[ZP_LOG_BUF];
	int saved = errno, n;
	size_t len;

	n = snprintf(buf, sizeof(buf), "zphooks[%ld] %s: ",
		     zp_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0),
		     names[level < 0 ? 0 : level > 3 ? 3 : level]);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	len = strlen(buf);
	if (held != 0) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		snprintf(buf + len, sizeof(buf) - len,
			 " (%lu more like this were not shown)\n",
			 (unsigned long)held);
		len = strlen(buf);
	}
	zp_syscall6(SYS_write, 2, (long)buf, (long)len, 0, 0, 0);
	errno = saved;
}

void
zp_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, 0, fmt, ap);
	va_end(ap);
}

void
zp_log_held(int level, uint64_t held, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, held, fmt, ap);
	va_end(ap);
}

/* Threads race on a place's counts only to say a line more or less. */
int
zp_log_gate_open(struct zp_log_gate *g, uint64_t now_ns, uint64_t *held)
{
	if (g->said == 0 || now_ns - g->start_ns >= ZP_LOG_WINDOW_NS) {
		g->start_ns = now_ns;
		g->said = 0;
	}
	if (g->said >= ZP_LOG_BURST) {
		g->held++;
		return 0;
	}
	g->said++;
	*held = g->held;
	g->held = 0;
	return 1;
}

#define ZP_USER_MIN	0x10000ull	/* vm.mmap_min_addr's default */
#define ZP_USER_END	(1ull << 47)	/* x86-64, 4-level paging */

/*
 * n bytes between this process's memory (ours) and the application's (at
 * app), by process_vm_readv/writev: 1 when all moved. Addresses Linux
 * never maps (below 64 KiB, where the trampoline is readable; past user
 * space) fail first. Where the call itself is refused (a seccomp filter:
 * ENOSYS, EPERM), a plain copy: there a bad pointer still crashes.
 */
static int
user_copy(long nr, const struct iovec *ours, const struct iovec *app)
{
	uintptr_t a = (uintptr_t)app->iov_base;
	size_t n = app->iov_len;
	long pid, r;

	if (n == 0)
		return 1;
	if (a < ZP_USER_MIN || a + n < a || a + n > ZP_USER_END)
		return 0;
	pid = zp_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
	r = zp_syscall6(nr, pid, (long)ours, 1, (long)app, 1, 0);
	if (r == -ENOSYS || r == -EPERM) {
		if (nr == SYS_process_vm_readv)
			memcpy(ours->iov_base, app->iov_base, n);
		else
			memcpy(app->iov_base, ours->iov_base, n);
		return 1;
	}
	return r == (long)n;
}

int
zp_user_read(void *dst, const void *src, size_t n)
{
	struct iovec ours = { dst, n }, app = { (void *)src, n };

	return user_copy(SYS_process_vm_readv, &ours, &app);
}

int
zp_user_write(void *dst, const void *src, size_t n)
{
	struct iovec ours = { (void *)src, n }, app = { dst, n };

	return user_copy(SYS_process_vm_writev, &ours, &app);
}

void
zp_assert_fail(const char *cond, const char *file, int line)
{
	zp_log(ZP_LOG_ERR, "assertion failed: %s (%s:%d)\n", cond, file, line);
	zp_syscall6(SYS_kill, zp_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0),
		    SIGABRT, 0, 0, 0, 0);
	for (;;)
		zp_syscall6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
}

uint64_t
zp_now_ns(void)
{
	struct timespec ts;

	zp_syscall6(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0);
	return (uint64_t)ts.tv_sec * ZP_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------- */
/* public calls */

/*
 * The served set is written before the dispatcher is published: the entry
 * reads the table first, and a number it sends to C finds fn set (or
 * passes through, zp_dispatch checks).
 */
int
zp_hooks_register_set(zp_dispatch_fn fn, unsigned int flags,
		      const int *nrs, size_t n)
{
	size_t i;

	if (fn == NULL || (nrs == NULL && n != 0))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (nrs[i] < 0 || nrs[i] >= ZP_KIND_TABLE_LEN)
			return -EINVAL;
	if (zp_dispatch_fn_ptr != NULL)
		return -EBUSY;
	zp_dispatch_flags = flags;
	zp_dispatch_vec = (flags & ZP_DISPATCH_VECTOR) != 0;
	for (i = 0; i < n; i++)
		zp_served_table[nrs[i]] = 1;
	__atomic_store_n(&zp_dispatch_fn_ptr, fn, __ATOMIC_RELEASE);
	return 0;
}

int
zp_hooks_register_flags(zp_dispatch_fn fn, unsigned int flags)
{
	int r = zp_hooks_register_set(fn, flags, NULL, 0);

	if (r == 0) {
		memset(zp_served_table, 1, sizeof(zp_served_table));
		zp_served_other = 1;
	}
	return r;
}

int
zp_hooks_filter_fd(const int *nrs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (nrs[i] < 0 || nrs[i] >= ZP_KIND_TABLE_LEN ||
		    zp_served_table[nrs[i]] == 0)
			return -EINVAL;
	for (i = 0; i < n; i++)
		zp_served_table[nrs[i]] = ZP_SERVED_FD;
	return 0;
}

void
zp_hooks_set_fd_table(const uintptr_t *words, unsigned int len)
{
	/* a reader between the two stores sees len 0 or the new table */
	__atomic_store_n(&zp_fd_words_len, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&zp_fd_words, words, __ATOMIC_RELEASE);
	__atomic_store_n(&zp_fd_words_len, words != NULL ? len : 0,
			 __ATOMIC_RELEASE);
}

int
zp_hooks_served(long nr)
{
	if (nr >= 0 && nr < ZP_KIND_TABLE_LEN)
		return zp_served_table[nr];
	return zp_served_other;
}

int
zp_hooks_register(zp_dispatch_fn fn)
{
	return zp_hooks_register_flags(fn, ZP_DISPATCH_VECTOR);
}

int
zp_hooks_set_fork_callbacks(void (*prepare)(void),
			    void (*parent)(long child_pid),
			    void (*child)(void))
{
	zp_fork_prepare = prepare;
	zp_fork_parent = parent;
	zp_fork_child = child;
	return 0;
}

int
zp_hooks_in_vfork_child(void)
{
	return zp_tls_vfork_child;
}

int
zp_hooks_guard_drop(void)
{
	int saved = zp_tls_guard;

	zp_tls_guard = 0;
	return saved;
}

void
zp_hooks_guard_restore(int saved)
{
	zp_tls_guard = (unsigned char)saved;
}

void
zp_hooks_config_default(struct zp_hooks_config *cfg)
{
	const char *v;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = ZP_HOOKS_ZPOLINE;
	cfg->log_level = ZP_LOG_WARN;
	v = getenv("ZPHOOKS_LOG");	/* every user of the engine */
	if (v != NULL && *v != '\0')
		cfg->log_level = (enum zp_log_level)atoi(v);
	cfg->sud_safety_net = ZP_SUD_LAZY;
	cfg->allow_sud_fallback = 0;
}

const char *
zp_hooks_strerror(void)
{
	return zp_err;
}

void
zp_hooks_get_stats(struct zp_hooks_stats *st)
{
	struct zp_rewrite_stats rw;

	zp_rewrite_get_stats(&rw);
	memset(st, 0, sizeof(*st));
	st->sites_stub = rw.sites_stub;
	st->sites_tramp = rw.sites_tramp;
	st->sites_lazy = rw.sites_lazy;
	st->sites_forgotten = rw.sites_forgotten;
	st->regions = zp_regions;
	st->sud_caught = __atomic_load_n(&zp_sud_caught, __ATOMIC_RELAXED);
	st->start_ns = zp_start_ns;
	zp_poke_get_stats(&st->poke_sites, &st->poke_traps);
}

/* ---------------------------------------------------------------------- */
/* the dispatch path */

/* Dispatch one syscall, or pass it through when recursing. */
long
zp_dispatch(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	zp_dispatch_fn fn = __atomic_load_n(&zp_dispatch_fn_ptr,
					    __ATOMIC_ACQUIRE);
	long r;

	/*
	 * A vfork child runs on the parent's memory (and TLS): the
	 * dispatcher's state, locks and guard are the parent's.  It gets
	 * the kernel.
	 */
	if (fn == NULL || zp_tls_guard || zp_tls_vfork_child)
		return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
	if (zp_dispatch_flags & ZP_DISPATCH_REENTRANT)
		return fn(nr, a1, a2, a3, a4, a5, a6);
	zp_tls_guard = 1;
	r = fn(nr, a1, a2, a3, a4, a5, a6);
	zp_tls_guard = 0;
	return r;
}

/* fork, or clone/clone3 without CLONE_VM and without a new stack. */
static long
zp_do_fork(struct zp_frame *f)
{
	unsigned char saved = zp_tls_guard;
	long r;

	zp_tls_guard = 1;
	if (zp_fork_prepare != NULL)
		zp_fork_prepare();
	r = zp_syscall6(f->nr, f->a1, f->a2, f->a3, f->a4, f->a5, f->a6);
	if (r == 0) {
		/* another thread may have been rewriting: not here */
		zp_rewrite_atfork_child();
		/* the kernel does not inherit SUD */
		if (zp_sud_active)
			zp_sud_thread_arm();
		if (zp_fork_child != NULL)
			zp_fork_child();
	} else if (zp_fork_parent != NULL) {
		zp_fork_parent(r);
	}
	zp_tls_guard = saved;
	return r;
}

/*
 * Code without unwind info is SUD's: mapping calls go through the C path
 * from now on (rewrite.c), and without SUD its syscalls are not caught
 * at all, which is said (once) rather than left to a debug line.
 */
static void
zp_lazy_expected(void)
{
	static int told;

	if (zp_sud_lazy)
		zp_lazy_route();
	/* (at start-up SUD is set up after the rewrite: zp_hooks_start) */
	if (zp_started && !zp_sud_available() &&
	    !__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
		ZP_LOG(ZP_LOG_WARN, "code without unwind info (JIT code, Go "
		       "binaries, hand-written asm) is mapped, and Syscall User "
		       "Dispatch is off or missing: its system calls are not "
		       "caught (enable the SUD safety net)\n");
}

/* What a rewrite's result means for SUD. */
static void
zp_rewrite_verdict(long r)
{
	if (r == ZP_REWRITE_LAZY) {
		zp_lazy_expected();
		zp_sud_want("code without unwind info (JIT or hand-written)");
	}
	else if (r != 0)
		zp_sud_want("a mapping that could not be rewritten");
}

static int
zp_skip_map(const struct zp_map *m)
{
	if (!(m->prot & PROT_EXEC) || m->start == 0)
		return 1;
	/*
	 * The vDSO is left alone: its only syscalls are fallbacks of the
	 * time calls; SUD catches them.  The vsyscall page is the kernel's
	 * (emulated or execute-only) and cannot be written.
	 */
	if (strcmp(m->path, "[vdso]") == 0 ||
	    strcmp(m->path, "[vsyscall]") == 0 ||
	    strcmp(m->path, "[vvar]") == 0)
		return 1;
	return 0;
}

/*
 * Rewrite [lo, hi) of mapping m, with the unwind info of the file it maps
 * if it maps one.
 */
static int
rewrite_mapping(const struct zp_map *m, uintptr_t lo, uintptr_t hi, int live)
{
	long fd = -1;
	int r;

	if (m->path[0] == '/')
		fd = zp_syscall6(SYS_open, (long)m->path, O_RDONLY | O_CLOEXEC,
				 0, 0, 0, 0);
	r = zp_rewrite_region(lo, hi, m->prot, m->path[0] != '\0' ? m->path :
			      "[anon]", fd >= 0 ? (int)fd : -1,
			      m->offset + (lo - m->start), live);
	if (fd >= 0)
		zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	return r;
}

struct zp_range_arg {
	uintptr_t start, end;
	int prot;
	long r;
};

static int
zp_range_cb(const struct zp_map *m, void *arg)
{
	struct zp_range_arg *ra = arg;
	uintptr_t lo = m->start > ra->start ? m->start : ra->start;
	uintptr_t hi = m->end < ra->end ? m->end : ra->end;
	long r;

	if (lo >= hi || zp_skip_map(m))
		return 0;
	r = rewrite_mapping(m, lo, hi, 1);
	if (r != 0 && ra->r != ZP_REWRITE_LAZY)
		ra->r = r;
	return 0;
}

/*
 * [start, end) was made executable by mprotect: rewrite each mapping in
 * it, with the unwind info of the file it maps, if any (code in use:
 * other threads may run it).
 */
static long
zp_rewrite_range(uintptr_t start, uintptr_t end, int prot)
{
	struct zp_range_arg ra = { .start = start, .end = end, .prot = prot };

	zp_maps_foreach(zp_range_cb, &ra);
	return ra.r;
}

/*
 * After a successful mmap/mprotect/pkey_mprotect that made code
 * executable: rewrite it.  For file mappings only the part backed by the
 * file is read (past EOF is SIGBUS).
 */
void
zp_after_exec_map(long nr, long r, long a1, long a2, long a3, long a4,
		  long a5, long a6)
{
	uintptr_t start, end;
	unsigned char saved;
	long rw;

	if (zp_kerr(r) || !(a3 & PROT_EXEC) || zp_mode != ZP_HOOKS_ZPOLINE)
		return;
	start = (uintptr_t)(nr == SYS_mmap ? r : a1);
	end = (start + (uintptr_t)a2 + ZP_PAGE_SIZE - 1) & ~(ZP_PAGE_SIZE - 1);
	if (nr == SYS_mmap && !(a4 & MAP_ANONYMOUS) && a5 >= 0) {
		struct stat st;

		if (zp_syscall6(SYS_fstat, a5, (long)&st, 0, 0, 0, 0) == 0 &&
		    S_ISREG(st.st_mode)) {
			uintptr_t fend = start;

			if (st.st_size > a6)
				fend = start + (uintptr_t)(st.st_size - a6);
			fend = (fend + ZP_PAGE_SIZE - 1) & ~(ZP_PAGE_SIZE - 1);
			if (fend < end)
				end = fend;
		}
	}
	if (end <= start)
		return;
	saved = zp_tls_guard;
	zp_tls_guard = 1;
	/* code that can change later, or come from elsewhere: arm SUD */
	if (a3 & PROT_WRITE)
		zp_sud_want("a writable+executable mapping");
	else if (nr == SYS_mmap && (a4 & MAP_SHARED) && !(a4 & MAP_ANONYMOUS))
		zp_sud_want("a shared executable file mapping");
	if (nr == SYS_mmap)
		rw = zp_rewrite_region(start, end, (int)a3, "new mapping",
				       !(a4 & MAP_ANONYMOUS) ? (int)a5 : -1,
				       (uint64_t)a6, 0);
	else
		rw = zp_rewrite_range(start, end, (int)a3);
	zp_rewrite_verdict(rw);
	__atomic_fetch_add(&zp_regions, 1, __ATOMIC_RELAXED);
	zp_tls_guard = saved;
}

/*
 * A thread's end caught by SUD (sud.c): unmap its hook stack as entry.S's
 * exit path does, if this thread mapped it and sp is not on it.
 */
void
zp_hstack_release(uintptr_t sp)
{
	uintptr_t top = zp_tls_hstack.top;

	if (top == 0 || zp_tls_vfork_child ||
	    (sp <= top && sp >= top - ZP_STACK_MAP) ||
	    zp_tls_hstack.tid != (int)zp_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0))
		return;
	zp_tls_hstack.top = 0;
	zp_tls_hstack.busy = 0;
	zp_syscall6(SYS_munmap, (long)(top - ZP_STACK_MAP), ZP_STACK_MAP, 0, 0,
		    0, 0);
}

/*
 * A new thread or process on its own stack (entry.S, before it returns
 * from clone): SUD is not inherited, and glibc starts threads with every
 * signal blocked, SIGTRAP included.
 */
void
zp_child_setup(void)
{
	if (__atomic_load_n(&zp_sud_active, __ATOMIC_RELAXED))
		zp_sud_thread_arm();
	if (__atomic_load_n(&zp_poke_installed, __ATOMIC_RELAXED))
		zp_poke_unblock();
}

/* Called by entry.S for dispatched and special syscalls. */
long
zp_hook_c(struct zp_frame *f)
{
	long nr = f->nr, r;
	int lazy;

	switch (nr) {
	case SYS_fork:
	case SYS_clone:
	case SYS_clone3:
		/* entry.S sends only the fork-like ones here */
		return zp_do_fork(f);
	case SYS_rt_sigaction:
		/*
		 * A vfork child (posix_spawn resets handlers) has its own
		 * handlers but our memory: its SIGSYS is the kernel's.
		 */
		if (zp_kind_table[SYS_rt_sigaction] == ZP_KIND_C &&
		    f->a1 == SIGSYS && !zp_tls_vfork_child &&
		    (zp_sig_keep & ZP_SIGBIT(SIGSYS)))
			return zp_sud_sigaction(f->a1, f->a2, f->a3, f->a4);
		if (f->a1 == SIGTRAP && !zp_tls_vfork_child &&
		    __atomic_load_n(&zp_poke_installed, __ATOMIC_ACQUIRE))
			return zp_poke_sigaction(f->a2, f->a3, f->a4);
		if (zp_kind_table[SYS_rt_sigaction] == ZP_KIND_C)
			return zp_sud_sigaction_other(f->a1, f->a2, f->a3,
						      f->a4);
		break;
	case SYS_rt_sigprocmask:
		/* only with SUD or poke.c's SIGTRAP installed (ZP_KIND_MASK) */
		r = zp_dispatch(nr, f->a1, f->a2, f->a3, f->a4, f->a5, f->a6);
		if (r != 0 || f->a2 == 0 || f->a1 == SIG_UNBLOCK)
			return r;
		if (__atomic_load_n(&zp_sud_active, __ATOMIC_RELAXED))
			zp_sud_unblock();
		if (__atomic_load_n(&zp_poke_installed, __ATOMIC_RELAXED))
			zp_poke_unblock();
		return r;
	default:
		break;
	}
	/* mappings that change under sites rewritten lazily: give them back */
	lazy = zp_lazy_forget_begin(nr, f->a1, f->a2, f->a3, f->a4, f->a5);
	r = zp_dispatch(nr, f->a1, f->a2, f->a3, f->a4, f->a5, f->a6);
	zp_lazy_forget_end(lazy);
	if (nr == SYS_mmap || nr == SYS_mprotect || nr == SYS_pkey_mprotect)
		zp_after_exec_map(nr, r, f->a1, f->a2, f->a3, f->a4, f->a5,
				  f->a6);
	return r;
}

/* ---------------------------------------------------------------------- */
/* start-up phases */

/*
 * How entry.S saves the vector state.  XSAVEC+XRSTOR cost 60-70 ns here
 * whatever is in use (SSE alone: 60); moving the registers by hand costs
 * ~4 ns for ymm0-15 and ~11 ns for zmm0-31 and k0-7.  By hand needs to
 * know every register a served path can change: SSE, AVX, AVX-512 (F and
 * BW: 64-bit opmasks), nothing else in XCR0 that user code writes but
 * what no served path touches (x87 data registers, PKRU, AMX tiles), and
 * XGETBV 1 (XINUSE, to leave initial upper halves initial).  Otherwise,
 * or with ZPHOOKS_VSAVE=xsave, XSAVE.
 */
static unsigned char
vsave_kind(void)
{
	const char *env = getenv("ZPHOOKS_VSAVE");
	unsigned int a, b, c, d, lo, hi;
	uint64_t xcr0;
	int xinuse, avx512;

	if (env != NULL && strcmp(env, "xsave") == 0)
		return ZP_VS_XSAVE;
	__cpuid(1, a, b, c, d);
	if (!(c & ZP_CPUID_OSXSAVE))
		return ZP_VS_SSE;	/* no AVX for anyone */
	__asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = (uint64_t)hi << 32 | lo;
	__cpuid_count(ZP_CPUID_XSAVE, 1, a, b, c, d);
	xinuse = (a & ZP_CPUID_XGETBV1) != 0;
	__cpuid_count(7, 0, a, b, c, d);
	avx512 = (b & ZP_CPUID7_AVX512F) && (b & ZP_CPUID7_AVX512BW);
	if ((xcr0 & ZP_XCR0_AVX512) == ZP_XCR0_AVX512)
		return xinuse && avx512 ? ZP_VS_AVX512 : ZP_VS_XSAVE;
	if (xcr0 & ZP_XCR0_AVX)
		return xinuse ? ZP_VS_AVX : ZP_VS_XSAVE;
	return ZP_VS_SSE;
}

static uint16_t
area_u16(const unsigned char *area, unsigned int off)
{
	uint16_t v;

	memcpy(&v, area + off, sizeof(v));
	return v;
}

/*
 * ZPHOOKS_VCHECK: a light zp_hooks_vec_call (entry.S) must have left the
 * ones it put in the upper state there, and MXCSR and the x87 words as fn
 * got them (their exception flags clear: a floating-point instruction
 * would have set one), until it returned or called zp_hooks_vec_full().
 * area: the registers then, as ZP_VSAVE_UPPER saves them, with MXCSR and
 * the x87 words then and before fn (ZP_VS_PROBE_*).
 */
void
zp_vcheck_verify(const unsigned char *area, const void *fn)
{
	const uint64_t *w = (const uint64_t *)area;
	int avx512 = zp_vsave_kind == ZP_VS_AVX512;
	unsigned int nreg = avx512 ? 32 : 16, words = avx512 ? 8 : 4;
	uint32_t mx, mx0;

	for (unsigned int r = 0; r < nreg; r++)
		for (unsigned int i = r < 16 ? 2 : 0; i < words; i++)
			if (w[r * words + i] != ~0ULL)
				goto changed;
	for (unsigned int i = 0; avx512 && i < 8; i++)
		if (w[ZP_VS_K / 8 + i] != ~0ULL)
			goto changed;
	memcpy(&mx, area + ZP_VS_MXCSR, sizeof(mx));
	memcpy(&mx0, area + ZP_VS_PROBE_MXCSR, sizeof(mx0));
	if (mx != mx0) {
		ZP_LOG(ZP_LOG_ERR, "ZPHOOKS_VCHECK: the call served by %p "
		       "changed MXCSR (%#x, was %#x) without saving it first: "
		       "floating-point code must run after "
		       "zp_hooks_vec_full(), not before\n", fn, mx, mx0);
		abort();
	}
	if (area_u16(area, ZP_VS_FCW) != area_u16(area, ZP_VS_PROBE_FCW) ||
	    area_u16(area, ZP_VS_FSW) != area_u16(area, ZP_VS_PROBE_FSW)) {
		ZP_LOG(ZP_LOG_ERR, "ZPHOOKS_VCHECK: the call served by %p "
		       "changed the x87 control or status word (%#x %#x, was "
		       "%#x %#x) without saving them first: x87 code must run "
		       "after zp_hooks_vec_full()\n", fn,
		       area_u16(area, ZP_VS_FCW), area_u16(area, ZP_VS_FSW),
		       area_u16(area, ZP_VS_PROBE_FCW),
		       area_u16(area, ZP_VS_PROBE_FSW));
		abort();
	}
	return;
changed:
	ZP_LOG(ZP_LOG_ERR, "ZPHOOKS_VCHECK: the call served by %p changed "
	       "the vector state without saving it first: code that may use "
	       "AVX must run after zp_hooks_vec_full()\n", fn);
	abort();
}

static void
setup_vector_save(void)
{
	unsigned int a, b, c, d, i, lo, hi;
	uint64_t xcr0, size;
	const char *check = getenv("ZPHOOKS_VCHECK");

	zp_vsave_kind = vsave_kind();
	zp_vcheck = check != NULL && strcmp(check, "1") == 0;
	if (zp_vsave_kind != ZP_VS_XSAVE) {
		zp_xsave_size = ZP_VS_SIZE;	/* (a CPU without XSAVE too) */
		return;
	}
	__cpuid_count(ZP_CPUID_XSAVE, 0, a, b, c, d);
	/* b: size of the standard format for the features enabled in XCR0 */
	size = b;
	/*
	 * XSAVEC writes only the components in use (the AVX-512 state,
	 * 2 KiB here, is usually in its initial state): 3x faster on the
	 * C path.  Its compacted format packs the components of XCR0
	 * from offset 576, some aligned to 64 bytes.
	 */
	__cpuid_count(ZP_CPUID_XSAVE, 1, a, b, c, d);
	if (a & ZP_CPUID_XSAVEC) {
		__asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = (uint64_t)hi << 32 | lo;
		size = ZP_XSAVE_HDR_OFF + ZP_XSAVE_HDR_LEN;
		for (i = ZP_XSAVE_FIRST_EXT; i < 63; i++) {
			if (!(xcr0 & (1ULL << i)))
				continue;
			__cpuid_count(ZP_CPUID_XSAVE, i, a, b, c, d);
			if (c & ZP_CPUID_XSAVE_ALIGN64)
				size = (size + ZP_XSAVE_ALIGN - 1) &
					~(uint64_t)(ZP_XSAVE_ALIGN - 1);
			size += a;
		}
		zp_xsave_compact = 1;
	}
	zp_xsave_size = (size + ZP_XSAVE_ALIGN - 1) &
		~(uint64_t)(ZP_XSAVE_ALIGN - 1);
	ZP_ASSERT(zp_xsave_size >= ZP_XSAVE_HDR_OFF + ZP_XSAVE_HDR_LEN);
}

static void
setup_kinds(void)
{
	zp_kind_table[SYS_rt_sigreturn] = ZP_KIND_SIGRETURN;
	zp_kind_table[SYS_vfork] = ZP_KIND_VFORK;
	zp_kind_table[SYS_clone] = ZP_KIND_CLONE;
	zp_kind_table[SYS_clone3] = ZP_KIND_CLONE3;
	zp_kind_table[SYS_fork] = ZP_KIND_C;
	zp_kind_table[SYS_exit] = ZP_KIND_EXIT;
	zp_kind_table[SYS_sigaltstack] = ZP_KIND_ALTSTACK;
	zp_kind_table[SYS_mmap] = ZP_KIND_PROT;
	zp_kind_table[SYS_mprotect] = ZP_KIND_PROT;
	zp_kind_table[SYS_pkey_mprotect] = ZP_KIND_PROT;
}

static int
rewrite_map_cb(const struct zp_map *m, void *arg)
{
	int *n = arg;
	int r;

	if (zp_skip_map(m))
		return 0;
	if ((m->prot & PROT_WRITE) || !m->is_private)
		zp_sud_want_at_start = "a writable or shared executable mapping "
			"at start-up";
	r = rewrite_mapping(m, m->start, m->end, zp_threads_at_start > 1);
	if (r == ZP_REWRITE_LAZY) {
		zp_lazy_at_start = 1;
		zp_lazy_expected();
		zp_sud_want_at_start = "code without unwind info at start-up";
	} else if (r != 0)
		zp_sud_want_at_start = "a mapping that could not be "
			"rewritten at start-up";
	(*n)++;
	return 0;
}

/* Threads: line of /proc/self/status (the stack may have started some). */
static int
count_threads(void)
{
	static const char key[] = "\nThreads:";
	char buf[ZP_STATUS_BUF];
	long fd, n;
	char *p;

	fd = zp_syscall6(SYS_open, (long)"/proc/self/status", O_RDONLY, 0, 0,
			 0, 0);
	if (fd < 0)
		return 2;	/* unknown: assume others run */
	n = zp_syscall6(SYS_read, fd, (long)buf, sizeof(buf) - 1, 0, 0, 0);
	zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	if (n <= 0)
		return 2;
	buf[n] = '\0';
	p = strstr(buf, key);
	return p != NULL ? atoi(p + sizeof(key) - 1) : 2;
}

static int
rewrite_all(void)
{
	int n = 0, r;

	zp_threads_at_start = count_threads();

	r = zp_maps_foreach(rewrite_map_cb, &n);
	zp_regions += (uint64_t)n;
	return r;
}

int
zp_hooks_start(const struct zp_hooks_config *cfg)
{
	struct zp_rewrite_stats rw;
	uint64_t t0 = zp_now_ns();
	int r;

	if (zp_started)
		return -EALREADY;
	zp_log_level = cfg->log_level;
	zp_mode = cfg->mode;
	zp_stubs_off = cfg->no_stubs;
	setup_vector_save();
	r = zp_rewrite_init();
	if (r != 0) {
		snprintf(zp_err, sizeof(zp_err), "libopcodes has no x86-64 "
			 "disassembler");
		return r;
	}
	if (zp_mode == ZP_HOOKS_ZPOLINE) {
		r = zp_tramp_setup(zp_err, sizeof(zp_err));
		if (r != 0 && !cfg->allow_sud_fallback)
			return r;
		if (r != 0) {
			ZP_LOG(ZP_LOG_WARN, "%s; continuing on Syscall User "
			       "Dispatch alone\n", zp_err);
			zp_mode = ZP_HOOKS_SUD_ONLY;
		}
	}
	setup_kinds();
	if (zp_mode == ZP_HOOKS_ZPOLINE) {
		zp_sud_lazy = 1;
		r = rewrite_all();
		if (r != 0) {
			snprintf(zp_err, sizeof(zp_err), "cannot read "
				 "/proc/self/maps: %s", strerror(-r));
			return r;
		}
	}
	if (zp_mode == ZP_HOOKS_SUD_ONLY || cfg->sud_safety_net != ZP_SUD_OFF) {
		r = zp_sud_setup(zp_mode == ZP_HOOKS_SUD_ONLY ||
				 cfg->sud_safety_net == ZP_SUD_ALWAYS);
		if (r != 0) {
			snprintf(zp_err, sizeof(zp_err), "cannot arm Syscall "
				 "User Dispatch: %s (needs Linux 5.11 with "
				 "CONFIG_GENERIC_ENTRY)", strerror(-r));
			if (zp_mode == ZP_HOOKS_SUD_ONLY)
				return r;
			ZP_LOG(ZP_LOG_WARN, "%s; no safety net\n", zp_err);
			zp_err[0] = '\0';
		}
	}
	if (zp_sud_want_at_start)
		zp_sud_want(zp_sud_want_at_start);
	zp_started = 1;
	if (zp_lazy_at_start && !zp_sud_available())
		zp_lazy_expected();	/* says it */
	zp_start_ns = zp_now_ns() - t0;
	zp_rewrite_get_stats(&rw);
	ZP_LOG(ZP_LOG_DEBUG, "started in %lu us: %s, %lu regions, %lu "
	       "instructions, %lu stub (%lu after the syscall, %lu before it) + %lu "
	       "trampoline sites, SUD %s\n",
	       (unsigned long)(zp_start_ns / 1000),
	       zp_mode == ZP_HOOKS_ZPOLINE ? "zpoline" : "SUD only",
	       (unsigned long)zp_regions, (unsigned long)rw.insns,
	       (unsigned long)rw.sites_stub, (unsigned long)rw.sites_after,
	       (unsigned long)rw.sites_before,
	       (unsigned long)rw.sites_tramp, zp_sud_active ? "on" : "off");
	return 0;
}
