/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rewrite.c - rewrite the syscall instructions of a mapping.
 *
 * Every executable mapping with unwind info (.eh_frame_hdr) is decoded
 * from its functions' starts (decode.c; code without it is left to SUD and
 * rewritten site by site once a syscall there has run, below).  Each
 * `syscall` (0f 05) or `sysenter` (0f 34) becomes `call *%rax` (ff d0),
 * whose return address goes into the site set (sites.c) so the trampoline
 * knows it.
 *
 * Where an instruction next to the syscall can move, a jmp to a stub
 * (stubs.c) that keeps the red zone is written too: over the instruction
 * before it, else over the syscall (the instructions after it moved; not
 * when patching live: a thread blocked in that syscall would return into
 * the middle of the jmp), else over several instructions before it.
 * Sites with none go through address 0 and lose the top 8 bytes of the
 * red zone (documented).  The pages the scan read are given back after it
 * (resident.c).
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "zp_rewrite.h"

static struct zp_rewrite_stats zp_rw_stats;
static atomic_flag zp_rw_lock = ATOMIC_FLAG_INIT;
/* this thread holds it: a signal handler's mapping call must not wait */
static ZP_TLS unsigned char zp_tls_rw_held;
static int zp_lazy_forgetting;	/* forgets in progress: patch nothing */
int zp_stubs_off;

/* ---------------------------------------------------------------------- */
/* patching */

static uint64_t
zp_rw_now_ns(void)
{
	struct timespec ts;

	zp_syscall6(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
zp_rw_lock_take(void)
{
	/* held (or being taken) before it is: a handler between the two
	 * must not wait for it */
	zp_tls_rw_held = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	while (atomic_flag_test_and_set_explicit(&zp_rw_lock,
						 memory_order_acquire))
		zp_syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
}

/* 1 if taken, 0 if another thread holds it */
static int
zp_rw_lock_try(void)
{
	if (zp_tls_rw_held)
		return 0;	/* this thread holds it (or is taking it) */
	zp_tls_rw_held = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!atomic_flag_test_and_set_explicit(&zp_rw_lock,
					       memory_order_acquire))
		return 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zp_tls_rw_held = 0;
	return 0;
}

static void
zp_rw_lock_drop(void)
{
	atomic_flag_clear_explicit(&zp_rw_lock, memory_order_release);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zp_tls_rw_held = 0;
}

/*
 * In a fork child: the thread that held the lock (rewriting code mapped
 * by another thread) does not exist here, so nobody would ever drop it.
 * What it left half done is harmless: each site is a complete store, a
 * stub is reachable only once its jmp is in place, and a write it was
 * doing with the int3 protocol is finished here.
 */
void
zp_rewrite_atfork_child(void)
{
	zp_poke_atfork_child();
	zp_rw_lock_drop();
	/* a forget another thread was making is nobody's here */
	__atomic_store_n(&zp_lazy_forgetting, 0, __ATOMIC_RELEASE);
}

static int
zp_in_gate(uintptr_t a)
{
	return a >= (uintptr_t)zp_gate_start && a < (uintptr_t)zp_gate_end;
}

static const uint8_t zp_call_rax[] = { ZP_OP_CALL_RAX0, ZP_OP_CALL_RAX1 };

/*
 * Write `ff d0` over the syscall at p.  live: other threads may be running
 * this code (a start-up after DPDK made its threads, mprotect of code in
 * use): poke.c writes it so that no CPU can fetch half of it.
 */
static int
zp_write_call_rax(uint8_t *p, int live)
{
	if (live)
		return zp_poke(p, zp_call_rax, sizeof(zp_call_rax), 0);
	memcpy(p, zp_call_rax, sizeof(zp_call_rax));
	return 0;
}

/*
 * Write `jmp target` at p (whose instruction is at least 5 bytes, up to
 * region_end).  The moved instruction's tail is left as it was: it is
 * never reached once the jmp is in place.
 */
static int
zp_write_jmp(uint8_t *p, uintptr_t region_end, uintptr_t target, int live)
{
	uint8_t b[ZP_JMP32_LEN];

	b[0] = ZP_OP_JMP32;
	zp_put_rel32(b + 1, (uintptr_t)p + ZP_JMP32_LEN, target);
	if (live)
		return zp_poke(p, b, sizeof(b), region_end);
	memcpy(p + 1, b + 1, sizeof(b) - 1);
	p[0] = b[0];
	return 0;
}

struct zp_patch_arg {
	uintptr_t end;
	int live;	/* other threads may run this code now */
	int err;
};

static int
zp_patch_cb(const struct zp_site *s, void *arg)
{
	struct zp_patch_arg *pa = arg;
	uint8_t *p = (uint8_t *)s->addr;
	uint8_t *prev = (uint8_t *)s->prev;

	if (zp_in_gate(s->addr))
		return 0;
	if (zp_site_add(s->addr + ZP_SYSCALL_LEN) != 0) {
		pa->err = -ENOMEM;
		return 1;
	}
	if (zp_write_call_rax(p, pa->live) != 0) {
		/* cannot be written safely now: SUD's (the caller arms it) */
		pa->err = -EAGAIN;
		return 0;
	}
	if (s->movable && !zp_stubs_off) {
		uintptr_t slot = 0;
		uintptr_t stub = zp_stub_alloc(s->prev, &slot);
		uint8_t code[ZP_STUB_SIZE];
		int len;

		if (stub != 0) {
			zp_stub_encode(code, stub, prev, s->prev_len, slot,
				       s->addr + ZP_SYSCALL_LEN, &len);
			memcpy((void *)stub, code, (size_t)len);
			if (zp_write_jmp(prev, pa->end, stub, pa->live) == 0) {
				zp_rw_stats.sites_stub++;
				return 0;
			}
			/* the stub stays unused; the site has `ff d0` */
		} else {
			ZP_LOG_LIMITED(ZP_LOG_WARN, "no stub space near %p\n",
			       (void *)prev);
		}
	} else if ((s->after_len > 0 || s->before_len > 0) && !zp_stubs_off &&
		   !pa->live) {
		/* after: jmp at the syscall; before: at the first moved */
		uintptr_t at = s->addr - (uintptr_t)s->before_len;
		uintptr_t slot = 0;
		uintptr_t stub = zp_stub_alloc(at, &slot);
		uintptr_t back = s->addr + ZP_SYSCALL_LEN +
			(uintptr_t)s->after_len;
		uint8_t code[ZP_STUB_SIZE];
		int len = -1;

		if (stub != 0)
			len = zp_stub_encode_moved(code, stub,
				s->moved, s->before_len > 0 ? s->nmoved : 0,
				s->moved, s->after_len > 0 ? s->nmoved : 0,
				slot, back);
		if (len > 0) {
			memcpy((void *)stub, code, (size_t)len);
			zp_write_jmp((uint8_t *)at, pa->end, stub, 0);
			zp_rw_stats.sites_stub++;
			if (s->after_len > 0)
				zp_rw_stats.sites_after++;
			else
				zp_rw_stats.sites_before++;
			return 0;
		}
		ZP_LOG_LIMITED(ZP_LOG_WARN, "no stub for %p (space, or %%rip out of "
		       "reach)\n", (void *)p);
	}
	zp_rw_stats.sites_tramp++;
	ZP_LOG(ZP_LOG_DEBUG, "address-0 site %p\n", (void *)s->addr);
	return 0;
}

/*
 * Rewrite [start, end), currently mapped with prot.  Pages are made
 * writable (keeping exec: other threads may run there) and put back.
 */
int
zp_rewrite_region(uintptr_t start, uintptr_t end, int prot, const char *name,
		  int fd, uint64_t offset, int live)
{
	uintptr_t *starts = NULL;
	long nstarts = -1;
	uint64_t t0 = zp_rw_now_ns();
	uint64_t before_stub, before_tramp, before_after, before_before;
	long r, insns;
	struct zp_patch_arg pa = { .end = end, .live = live, .err = 0 };
	struct zp_resident res;
	int i;

	if (zp_in_gate(start) && zp_in_gate(end - 1))
		return 0;
	if (zp_is_arena(start) || start == 0)
		return 0;
	if (fd >= 0)
		nstarts = zp_elf_func_starts(fd, offset, start, end, &starts);
	if (nstarts <= 0) {
		/* nothing tells code from data here: SUD's, site by site */
		ZP_LOG(ZP_LOG_DEBUG, "%s %lx-%lx has no unwind info: its "
		       "syscalls are rewritten once SUD catches them\n", name,
		       (unsigned long)start, (unsigned long)end);
		zp_elf_starts_free(starts);
		return ZP_REWRITE_LAZY;
	}
	if (zp_tls_rw_held) {
		/* a signal handler over our own rewrite: SUD's, site by site */
		zp_elf_starts_free(starts);
		return ZP_REWRITE_LAZY;
	}
	zp_rw_lock_take();
	zp_resident_before(start, end, prot, &res);
	r = zp_syscall6(SYS_mprotect, (long)start, (long)(end - start),
			PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0);
	if (r != 0) {
		zp_resident_after(&res, 1);
		zp_rw_lock_drop();
		zp_elf_starts_free(starts);
		ZP_LOG_LIMITED(ZP_LOG_WARN, "cannot rewrite %s %lx-%lx: mprotect %ld\n",
		       name, (unsigned long)start, (unsigned long)end, r);
		return (int)r;
	}
	for (i = 0; i < zp_narenas; i++)
		zp_syscall6(SYS_mprotect, (long)zp_arenas[i].base,
			    ZP_ARENA_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			    0, 0, 0);
	before_stub = zp_rw_stats.sites_stub;
	before_tramp = zp_rw_stats.sites_tramp;
	before_after = zp_rw_stats.sites_after;
	before_before = zp_rw_stats.sites_before;
	insns = zp_scan_code_at((const uint8_t *)start, end - start, start,
				starts, (size_t)nstarts, starts + nstarts,
				zp_patch_cb, &pa);
	zp_elf_starts_free(starts);
	if (insns > 0)
		zp_rw_stats.insns += (uint64_t)insns;
	for (i = 0; i < zp_narenas; i++)
		zp_syscall6(SYS_mprotect, (long)zp_arenas[i].base,
			    ZP_ARENA_SIZE, PROT_READ | PROT_EXEC, 0, 0, 0);
	r = zp_syscall6(SYS_mprotect, (long)start, (long)(end - start), prot,
			0, 0, 0);
	ZP_ASSERT(r == 0);
	zp_resident_after(&res, 0);
	zp_rw_lock_drop();
	ZP_LOG(ZP_LOG_DEBUG, "rewrote %s %lx-%lx in %lu us: %ld insns decoded "
	       "(%ld function starts), %lu stub (%lu after the syscall, %lu "
	       "before it) + %lu trampoline sites\n",
	       name, (unsigned long)start, (unsigned long)end,
	       (unsigned long)((zp_rw_now_ns() - t0) / 1000), insns, nstarts,
	       (unsigned long)(zp_rw_stats.sites_stub - before_stub),
	       (unsigned long)(zp_rw_stats.sites_after - before_after),
	       (unsigned long)(zp_rw_stats.sites_before - before_before),
	       (unsigned long)(zp_rw_stats.sites_tramp - before_tramp));
	return pa.err;
}

struct zp_find_map {
	uintptr_t addr;
	int prot;
	int found;
	int lazy_ok;	/* private, and not the kernel's (vDSO, vsyscall) */
};

static int
zp_find_map_cb(const struct zp_map *m, void *arg)
{
	struct zp_find_map *f = arg;

	if (f->addr >= m->start && f->addr < m->end) {
		f->prot = m->prot;
		f->found = 1;
		/* the kernel's own pages ([vdso], [vvar], [vsyscall]) never */
		f->lazy_ok = m->is_private && strncmp(m->path, "[v", 2) != 0;
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* sites rewritten once they ran (SUD) */

/*
 * Code the rewriter cannot vouch for (no unwind info: JIT code,
 * hand-written asm, packed binaries) is never swept: a linear sweep reads
 * data and the middle of instructions as code (a `0f 05` inside an
 * immediate).  SUD catches its syscalls instead, and the address it
 * reports is a syscall that has just run, so a real instruction: that
 * site alone becomes `ff d0` (lazypoline's idea).  The list below keeps
 * them, so that munmap, mremap, mprotect and mmap(MAP_FIXED) over one
 * (a JIT about to write new code there, or moving it) first put the
 * `0f 05` back and take it out of the site set: no stale patch survives
 * into code the JIT writes or copies, and if the syscall is still there
 * SUD catches it again.  Code a JIT rewrites in place in a page that
 * stays writable+executable never tells us; it overwrites our two bytes
 * with its own.
 */
#define ZP_LAZY_MAX		4096

static uintptr_t zp_lazy_sites[ZP_LAZY_MAX];
static uint8_t zp_lazy_op[ZP_LAZY_MAX];	/* 05: syscall, 34: sysenter */
int zp_lazy_count;

/*
 * Sites SUD caught and the engine could not rewrite (shared mappings,
 * the vDSO...): remembered, so that the handler does not read
 * /proc/self/maps on every call there.  A small ring, lossy.
 */
#define ZP_REFUSED_MAX		64

static uintptr_t zp_refused[ZP_REFUSED_MAX];
static unsigned int zp_refused_next;

static int
zp_lazy_refused(uintptr_t addr)
{
	unsigned int i;

	for (i = 0; i < ZP_REFUSED_MAX; i++)
		if (__atomic_load_n(&zp_refused[i], __ATOMIC_RELAXED) == addr)
			return 1;
	return 0;
}

static void
zp_lazy_refuse(uintptr_t addr)
{
	unsigned int i = __atomic_fetch_add(&zp_refused_next, 1,
					    __ATOMIC_RELAXED);

	__atomic_store_n(&zp_refused[i % ZP_REFUSED_MAX], addr,
			 __ATOMIC_RELAXED);
}

static int zp_lazy_routed;

/*
 * From now on the calls that change mappings run the C path, where
 * zp_lazy_forget_begin() takes the lock: the first site is rewritten only
 * after this (a mapping call already past the entry could otherwise run
 * beside that first patch).  Called when code without unwind info first
 * appears, and by the first catch.
 */
void
zp_lazy_route(void)
{
	if (__atomic_load_n(&zp_lazy_routed, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&zp_kind_table[SYS_munmap], ZP_KIND_C,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&zp_kind_table[SYS_mremap], ZP_KIND_C,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&zp_kind_table[SYS_mprotect], ZP_KIND_C,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&zp_kind_table[SYS_pkey_mprotect], ZP_KIND_C,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&zp_kind_table[SYS_mmap], ZP_KIND_C,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&zp_lazy_routed, 1, __ATOMIC_RELEASE);
}

/* mprotect the page(s) of the 2 bytes at p; 0 or -errno */
static long
zp_lazy_prot(uintptr_t p, int prot)
{
	uintptr_t page = p & ~(ZP_PAGE_SIZE - 1);
	uintptr_t last = (p + 1) & ~(ZP_PAGE_SIZE - 1);

	return zp_syscall6(SYS_mprotect, (long)page,
			   (long)(last - page + ZP_PAGE_SIZE), prot, 0, 0, 0);
}

/*
 * SUD caught a syscall whose instruction is at addr: rewrite it, as code
 * in use (poke.c: other threads may be running it).  Only in private
 * mappings, never while the lock is taken (this runs in the SIGSYS
 * handler, maybe over a thread that holds it).  Anything else stays
 * SUD's.  0 when patched.
 */
int
zp_lazy_patch(uintptr_t addr)
{
	struct zp_find_map f = { .addr = addr };
	uint8_t *p = (uint8_t *)addr, op;
	long r = -EAGAIN;

	if (zp_in_gate(addr) || zp_is_arena(addr) || addr < ZP_PAGE_SIZE)
		return -EINVAL;
	if (zp_lazy_refused(addr))
		return -EPERM;
	if (!zp_rw_lock_try())
		return -EAGAIN;
	/* no mapping call may run now without having taken the lock */
	if (!__atomic_load_n(&zp_lazy_routed, __ATOMIC_ACQUIRE)) {
		zp_lazy_route();
		goto out;	/* the next catch patches */
	}
	if (__atomic_load_n(&zp_lazy_forgetting, __ATOMIC_ACQUIRE) > 0)
		goto out;
	r = -ENOSPC;
	if (zp_lazy_count >= ZP_LAZY_MAX)
		goto out;
	zp_maps_foreach(zp_find_map_cb, &f);
	r = -EPERM;
	if (!f.found || !f.lazy_ok || !(f.prot & PROT_EXEC)) {
		zp_lazy_refuse(addr);
		goto out;
	}
	if (!(f.prot & PROT_WRITE)) {
		r = zp_lazy_prot(addr, PROT_READ | PROT_WRITE | PROT_EXEC);
		if (r != 0)
			goto out;
	}
	r = -ENOEXEC;
	op = p[1];
	if (p[0] == ZP_OP_SYSCALL0 && (op == ZP_OP_SYSCALL1 ||
				       op == ZP_OP_SYSENTER1)) {
		r = zp_site_add(addr + ZP_SYSCALL_LEN);
		if (r == 0) {
			r = zp_write_call_rax(p, 1);
			if (r != 0)
				zp_site_del(addr + ZP_SYSCALL_LEN);
		}
		if (r == 0) {
			zp_lazy_sites[zp_lazy_count] = addr;
			zp_lazy_op[zp_lazy_count] = op;
			__atomic_add_fetch(&zp_lazy_count, 1, __ATOMIC_RELEASE);
			zp_rw_stats.sites_lazy++;
		}
	}
	if (!(f.prot & PROT_WRITE))
		zp_lazy_prot(addr, f.prot);
out:
	zp_rw_lock_drop();
	return (int)r;
}

/*
 * The ranges a mapping call is about to change (page-rounded: munmap of
 * 16 bytes unmaps the page), and with MREMAP_FIXED also the destination;
 * returns how many (0: not such a call).
 */
static int
zp_lazy_ranges(long nr, long a1, long a2, long a3, long a4, long a5,
	       uintptr_t lo[2], uintptr_t hi[2])
{
	int n = 1;

	switch (nr) {
	case SYS_mmap:
		if (!(a4 & MAP_FIXED))
			return 0;
		break;
	case SYS_mremap:
		if (a4 & MREMAP_FIXED) {
			lo[1] = (uintptr_t)a5;
			hi[1] = (uintptr_t)a5 + (uintptr_t)a3;
			n = 2;
		}
		break;
	case SYS_munmap:
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		break;
	default:
		return 0;
	}
	lo[0] = (uintptr_t)a1;
	hi[0] = (uintptr_t)a1 + (uintptr_t)a2;
	for (int k = 0; k < n; k++) {
		lo[k] &= ~(ZP_PAGE_SIZE - 1);
		hi[k] = (hi[k] + ZP_PAGE_SIZE - 1) & ~(ZP_PAGE_SIZE - 1);
	}
	return n;
}

/* 0f 05 (0f 34) back at the lazy site i, if our ff d0 is still there */
static void
zp_lazy_unpatch(int i)
{
	uintptr_t a = zp_lazy_sites[i];
	uint8_t *p = (uint8_t *)a;
	uint8_t sc[ZP_SYSCALL_LEN] = { ZP_OP_SYSCALL0, zp_lazy_op[i] };
	struct zp_find_map f = { .addr = a };

	zp_maps_foreach(zp_find_map_cb, &f);
	if (!f.found)
		return;		/* gone already */
	if (!(f.prot & PROT_WRITE) &&
	    zp_lazy_prot(a, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
		return;
	if (p[0] == ZP_OP_CALL_RAX0 && p[1] == ZP_OP_CALL_RAX1)
		zp_poke(p, sc, sizeof(sc), 0);
	if (!(f.prot & PROT_WRITE))
		zp_lazy_prot(a, f.prot);
}

/*
 * Before munmap, mremap, mprotect, pkey_mprotect or mmap(MAP_FIXED), once
 * code without unwind info exists: every lazy site in the ranges gets its
 * syscall back and leaves the list (whatever the call then does, or if it
 * fails, the bytes there are the app's own).  Its return address stays in
 * the site set: a thread between our `ff d0` and the set lookup must still
 * find it.  No site is rewritten until zp_lazy_forget_end(), after the
 * call; taking the lock here also waits for a rewrite in progress.
 * Never in a signal handler over this thread's own lock.  Returns what
 * to pass to zp_lazy_forget_end().
 */
int
zp_lazy_forget_begin(long nr, long a1, long a2, long a3, long a4, long a5)
{
	uintptr_t lo[2], hi[2];
	int i, k, n;

	if (!__atomic_load_n(&zp_lazy_routed, __ATOMIC_ACQUIRE) ||
	    zp_tls_rw_held)
		return 0;
	n = zp_lazy_ranges(nr, a1, a2, a3, a4, a5, lo, hi);
	if (n == 0)
		return 0;
	zp_rw_lock_take();
	__atomic_add_fetch(&zp_lazy_forgetting, 1, __ATOMIC_ACQ_REL);
	for (i = 0; i < zp_lazy_count; i++) {
		uintptr_t a = zp_lazy_sites[i];
		int in = 0;

		for (k = 0; k < n; k++)
			in |= a + ZP_SYSCALL_LEN > lo[k] && a < hi[k];
		if (!in)
			continue;
		zp_lazy_unpatch(i);
		zp_lazy_count--;
		zp_lazy_sites[i] = zp_lazy_sites[zp_lazy_count];
		zp_lazy_op[i] = zp_lazy_op[zp_lazy_count];
		i--;
		zp_rw_stats.sites_forgotten++;
	}
	zp_rw_lock_drop();
	return 1;
}

void
zp_lazy_forget_end(int began)
{
	if (began)
		__atomic_sub_fetch(&zp_lazy_forgetting, 1, __ATOMIC_ACQ_REL);
}

void
zp_rewrite_get_stats(struct zp_rewrite_stats *st)
{
	*st = zp_rw_stats;
}
