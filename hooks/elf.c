/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * elf.c - function starts of a mapped ELF object, from its .eh_frame_hdr
 * (the sorted table every unwinder uses).  They are known instruction
 * boundaries: the rewriter disassembles from the nearest one before each
 * candidate syscall instead of sweeping the whole text, which makes
 * start-up ~20x faster.  Read from the file with pread (raw syscalls), so
 * it works for code being mapped right now, before ld.so relocates it.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zp_internal.h"

#define ZP_PAGE_MASK		(~(uint64_t)4095)
#define ZP_PHDR_MAX		64
#define ZP_EH_HDR_MAX		(16u << 20)
#define ZP_EH_VERSION		1
#define ZP_EH_OMIT		0xff
#define ZP_EH_UDATA4		0x03
#define ZP_EH_SDATA4		0x0b
#define ZP_EH_PCREL		0x10
#define ZP_EH_DATAREL		0x30
#define ZP_EH_HDR_FIXED		4	/* version and three encodings */

static long
zp_pread(int fd, void *buf, size_t len, uint64_t off)
{
	long r;

	do {
		r = zp_syscall6(SYS_pread64, fd, (long)buf, (long)len,
				(long)off, 0, 0);
	} while (r == -EINTR);
	return r;
}

static void *
zp_map_anon(size_t len)
{
	long r = zp_syscall6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return r < 0 && r > -4096 ? NULL : (void *)r;
}

/* 4-byte encodings only: what GNU ld writes. */
static int
zp_eh_read4(const uint8_t *p, int enc, int64_t *v)
{
	int32_t s;
	uint32_t u;

	switch (enc & 0x0f) {
	case ZP_EH_SDATA4:
		memcpy(&s, p, sizeof(s));
		*v = s;
		return 0;
	case ZP_EH_UDATA4:
		memcpy(&u, p, sizeof(u));
		*v = u;
		return 0;
	default:
		return -1;
	}
}

/*
 * Returns the number of function starts in [start, end), stored sorted in
 * *out (free with zp_elf_starts_free()), or -errno.
 */
long
zp_elf_func_starts(int fd, uint64_t offset, uintptr_t start, uintptr_t end,
		   uintptr_t **out)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ZP_PHDR_MAX];
	const Elf64_Phdr *load = NULL, *ehf = NULL;
	uint8_t *hdr;
	int64_t fde_count, loc;
	uintptr_t bias, *starts;
	size_t i, n = 0, tbl;
	int enc_ptr, enc_cnt, enc_tbl;

	*out = NULL;
	if (zp_pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > ZP_PHDR_MAX)
		return -ENOEXEC;
	if (zp_pread(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff) !=
	    (long)(eh.e_phnum * sizeof(Elf64_Phdr)))
		return -ENOEXEC;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X) &&
		    (ph[i].p_offset & ZP_PAGE_MASK) == offset)
			load = &ph[i];
		if (ph[i].p_type == PT_GNU_EH_FRAME)
			ehf = &ph[i];
	}
	if (load == NULL || ehf == NULL || ehf->p_filesz > ZP_EH_HDR_MAX ||
	    ehf->p_filesz < ZP_EH_HDR_FIXED + 8)
		return -ENOENT;
	bias = start - (uintptr_t)(load->p_vaddr & ZP_PAGE_MASK);
	hdr = zp_map_anon(ehf->p_filesz);
	if (hdr == NULL)
		return -ENOMEM;
	if (zp_pread(fd, hdr, ehf->p_filesz, ehf->p_offset) !=
	    (long)ehf->p_filesz)
		goto bad;
	enc_ptr = hdr[1];
	enc_cnt = hdr[2];
	enc_tbl = hdr[3];
	if (hdr[0] != ZP_EH_VERSION || enc_ptr == ZP_EH_OMIT ||
	    enc_tbl != (ZP_EH_DATAREL | ZP_EH_SDATA4))
		goto bad;
	if (zp_eh_read4(hdr + ZP_EH_HDR_FIXED + 4, enc_cnt, &fde_count) != 0 ||
	    fde_count <= 0 ||
	    (uint64_t)fde_count * 8 > ehf->p_filesz - ZP_EH_HDR_FIXED - 8)
		goto bad;
	tbl = ZP_EH_HDR_FIXED + 8;
	/* starts[-1] holds the allocation size for zp_elf_starts_free() */
	starts = zp_map_anon(((size_t)fde_count + 1) * sizeof(uintptr_t));
	if (starts == NULL)
		goto bad;
	starts[0] = ((size_t)fde_count + 1) * sizeof(uintptr_t);
	starts++;
	for (i = 0; i < (size_t)fde_count; i++) {
		uintptr_t a;

		zp_eh_read4(hdr + tbl + i * 8, ZP_EH_SDATA4, &loc);
		a = bias + (uintptr_t)((int64_t)ehf->p_vaddr + loc);
		if (a >= start && a < end && (n == 0 || a > starts[n - 1]))
			starts[n++] = a;
	}
	zp_syscall6(SYS_munmap, (long)hdr, (long)ehf->p_filesz, 0, 0, 0, 0);
	*out = starts;
	return (long)n;
bad:
	zp_syscall6(SYS_munmap, (long)hdr, (long)ehf->p_filesz, 0, 0, 0, 0);
	return -ENOEXEC;
}

void
zp_elf_starts_free(uintptr_t *starts)
{
	if (starts != NULL)
		zp_syscall6(SYS_munmap, (long)(starts - 1), (long)starts[-1],
			    0, 0, 0, 0);
}
