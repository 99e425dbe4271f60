/*
 * resident.c - giving back the pages the scan read.
 *
 * Scanning reads every page of a region.  Most of a big library is never
 * run (DPDK dlopens ~100 PMD plugins, libIPSec_MB alone has 12 MiB of
 * code), so the pages the scan faulted in would stay resident for nothing:
 * 35 MiB in redis-server.  Before the scan, /proc/self/pagemap says which
 * pages were already mapped; after it, the pages that were not and are
 * still clean file pages (unwritten: a patched page is a private anonymous
 * copy, bit 61 clear) are dropped with MADV_DONTNEED.  Running them later
 * maps them again from the page cache.  Only done to regions that are not
 * writable, under zp_rw_lock, so nobody else can dirty a page in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zp_rewrite.h"

#define ZP_PM_PRESENT		(1ULL << 63)
#define ZP_PM_FILE		(1ULL << 61)	/* file page or shared anon */
#define ZP_PM_CHUNK		128		/* pagemap entries per read */
#define ZP_DROP_MIN		(16 * ZP_PAGE_SIZE)

typedef void zp_pagemap_fn(struct zp_resident *r, size_t first,
			   const uint64_t *pm, size_t n);

/* fn(r, index of the first page, its pagemap entries, n) by chunks */
static int
zp_pagemap_walk(struct zp_resident *r, zp_pagemap_fn *fn)
{
	uint64_t pm[ZP_PM_CHUNK];
	size_t i = 0, n;
	long got;

	while (i < r->npages) {
		n = r->npages - i < ZP_PM_CHUNK ? r->npages - i : ZP_PM_CHUNK;
		got = zp_syscall6(SYS_pread64, r->fd, (long)pm,
				  (long)(n * sizeof(pm[0])),
				  (long)((r->start / ZP_PAGE_SIZE + i) *
					 sizeof(pm[0])), 0, 0);
		if (got == -EINTR)
			continue;
		if (got < (long)(n * sizeof(pm[0])))
			return -1;
		fn(r, i, pm, n);
		i += n;
	}
	return 0;
}

static void
zp_note_present(struct zp_resident *r, size_t first, const uint64_t *pm,
		size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pm[i] & ZP_PM_PRESENT)
			r->bits[(first + i) / 64] |= 1ULL << ((first + i) % 64);
}

static void
zp_drop_clean(struct zp_resident *r, size_t first, const uint64_t *pm,
	      size_t n)
{
	size_t i, run = 0;
	uintptr_t from = 0;

	for (i = 0; i <= n; i++) {
		size_t pg = first + i;
		int drop = i < n && (pm[i] & (ZP_PM_PRESENT | ZP_PM_FILE)) ==
			(ZP_PM_PRESENT | ZP_PM_FILE) &&
			!(r->bits[pg / 64] & (1ULL << (pg % 64)));

		if (drop) {
			if (run++ == 0)
				from = r->start + pg * ZP_PAGE_SIZE;
			continue;
		}
		if (run > 0)
			zp_syscall6(SYS_madvise, (long)from,
				    (long)(run * ZP_PAGE_SIZE), MADV_DONTNEED,
				    0, 0, 0);
		run = 0;
	}
}

void
zp_resident_before(uintptr_t start, uintptr_t end, int prot,
		   struct zp_resident *r)
{
	long a;

	r->start = start;
	r->npages = (end - start) / ZP_PAGE_SIZE;
	r->fd = -1;
	r->bits = NULL;
	if ((prot & PROT_WRITE) || end - start < ZP_DROP_MIN)
		return;
	r->map_len = ((r->npages + 63) / 64 * sizeof(uint64_t) + ZP_PAGE_SIZE -
		      1) & ~(ZP_PAGE_SIZE - 1);
	a = zp_syscall6(SYS_mmap, 0, (long)r->map_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zp_kerr(a))
		return;
	r->bits = (uint64_t *)a;
	a = zp_syscall6(SYS_open, (long)"/proc/self/pagemap",
			O_RDONLY | O_CLOEXEC, 0, 0, 0, 0);
	if (a >= 0) {
		r->fd = (int)a;
		if (zp_pagemap_walk(r, zp_note_present) == 0)
			return;
		zp_syscall6(SYS_close, r->fd, 0, 0, 0, 0, 0);
		r->fd = -1;
	}
	zp_syscall6(SYS_munmap, (long)r->bits, (long)r->map_len, 0, 0, 0, 0);
	r->bits = NULL;
}

/* drop (unless keep) what the scan mapped, free r */
void
zp_resident_after(struct zp_resident *r, int keep)
{
	if (r->fd < 0)
		return;
	if (!keep)
		zp_pagemap_walk(r, zp_drop_clean);
	zp_syscall6(SYS_close, r->fd, 0, 0, 0, 0, 0);
	zp_syscall6(SYS_munmap, (long)r->bits, (long)r->map_len, 0, 0, 0, 0);
}
