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
#include <sys/stat.h>
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
/* An FDE: length, CIE pointer, pc_begin, pc_range (4 bytes each here). */
#define ZP_FDE_CIE_PTR		4	/* back from here to its CIE */
#define ZP_FDE_PC_BEGIN		8
/* A CIE: length, id, version, then the augmentation string. */
#define ZP_CIE_AUG		9
#define ZP_CIE_AUG_MAX		8
#define ZP_FDE_PC_RANGE		12
#define ZP_FDE_HEAD		16
#define ZP_FDE_LEN64		0xffffffffu	/* 64-bit length follows */

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

	return zp_kerr(r) ? NULL : (void *)r;
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
 * The end of the function whose FDE is at fde_vaddr and starts at a, or 0
 * when unknown.  Only the encoding GNU tools write (length < 0xffffffff,
 * pc_begin pcrel sdata4, pc_range 4 bytes) is understood: pc_begin must
 * read back as a, else the end stays unknown.
 */
static uintptr_t
zp_fde_end(const uint8_t *seg, uint64_t seg_vaddr, uint64_t seg_len,
	   uint64_t fde_vaddr, uint64_t a_vaddr)
{
	uint64_t off = fde_vaddr - seg_vaddr;
	uint32_t len, range, cie;
	uint64_t cie_off;
	int32_t pc;
	int i;

	if (fde_vaddr < seg_vaddr || off + ZP_FDE_HEAD > seg_len)
		return 0;
	memcpy(&len, seg + off, sizeof(len));
	memcpy(&pc, seg + off + ZP_FDE_PC_BEGIN, sizeof(pc));
	memcpy(&range, seg + off + ZP_FDE_PC_RANGE, sizeof(range));
	if (len == ZP_FDE_LEN64 || len < ZP_FDE_HEAD - 4 ||
	    fde_vaddr + ZP_FDE_PC_BEGIN + (uint64_t)(int64_t)pc != a_vaddr)
		return 0;
	/*
	 * A signal trampoline (augmentation 'S' in its CIE: glibc's
	 * __restore_rt) starts its FDE one byte early, inside the previous
	 * instruction: decoded from there its instructions are wrong, so
	 * nothing may move (an unknown end keeps stubs away).
	 */
	memcpy(&cie, seg + off + ZP_FDE_CIE_PTR, sizeof(cie));
	cie_off = off + ZP_FDE_CIE_PTR - cie;
	if (cie > off + ZP_FDE_CIE_PTR ||
	    cie_off + ZP_CIE_AUG + ZP_CIE_AUG_MAX > seg_len)
		return 0;
	for (i = 0; i < ZP_CIE_AUG_MAX && seg[cie_off + ZP_CIE_AUG + i]; i++)
		if (seg[cie_off + ZP_CIE_AUG + i] == 'S')
			return 0;
	return (uintptr_t)(a_vaddr + range);
}

/*
 * Go: gc's linker writes no .eh_frame_hdr (its unwind info is a
 * compressed .debug_frame), but every symbol of its .text is a function,
 * with its size, and no data lives between them (gc puts jump tables in
 * .rodata). So in a file that carries a Go build ID, the symbol table's
 * STT_FUNC symbols are as good as FDEs; a stripped binary still has the
 * runtime's table of its functions (zp_go_pcln_starts).
 */
#define ZP_SHDR_MAX		512
#define ZP_SHSTR_MAX		(64u << 10)
#define ZP_SYMTAB_MAX		(256u << 20)
#define ZP_GO_NOTE		".note.go.buildid"

/* Sort the pairs (start, end) of the first n by start: heapsort, in place. */
static void
zp_sift(uintptr_t *s, uintptr_t *e, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1, top = i;
		uintptr_t t;

		if (c < n && s[c] > s[top])
			top = c;
		if (c + 1 < n && s[c + 1] > s[top])
			top = c + 1;
		if (top == i)
			return;
		t = s[i], s[i] = s[top], s[top] = t;
		t = e[i], e[i] = e[top], e[top] = t;
		i = top;
	}
}

static void
zp_sort_pairs(uintptr_t *s, uintptr_t *e, size_t n)
{
	uintptr_t t;

	for (size_t i = n / 2; i-- > 0;)
		zp_sift(s, e, i, n);
	for (size_t k = n; k-- > 1;) {
		t = s[0], s[0] = s[k], s[k] = t;
		t = e[0], e[0] = e[k], e[k] = t;
		zp_sift(s, e, 0, k);
	}
}

/* A read-only private map of [off, off + len) of fd, which must lie in
 * the file (a page past its end would raise SIGBUS when read); *base and
 * *maplen for the munmap. */
static const uint8_t *
zp_map_file(int fd, uint64_t off, uint64_t len, void **base, size_t *maplen)
{
	uint64_t pg = off & ZP_PAGE_MASK;
	struct stat st;
	long r;

	if (zp_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0 ||
	    st.st_size < 0 || off > (uint64_t)st.st_size ||
	    len > (uint64_t)st.st_size - off)
		return NULL;
	*maplen = (size_t)(off + len - pg);
	r = zp_syscall6(SYS_mmap, 0, (long)*maplen, PROT_READ, MAP_PRIVATE,
			fd, (long)pg);
	if (zp_kerr(r))
		return NULL;
	*base = (void *)r;
	return (const uint8_t *)r + (off - pg);
}

/* Whether section header h is named name (a string of the section names
 * names, len bytes). */
static int
zp_shdr_named(const Elf64_Shdr *h, const uint8_t *names, uint64_t len,
	      const char *name)
{
	size_t n = strlen(name) + 1;

	return h->sh_name < len && len - h->sh_name >= n &&
	       memcmp(names + h->sh_name, name, n) == 0;
}

/* A Go build ID note (owner "Go", type 4) in a PT_NOTE segment. */
#define ZP_NOTE_MAX		4096
#define ZP_NT_GO_BUILDID	4

static int
zp_is_go(int fd, const Elf64_Phdr *ph, int phnum)
{
	uint8_t buf[ZP_NOTE_MAX];

	for (int i = 0; i < phnum; i++) {
		size_t len = ph[i].p_filesz, off = 0;

		if (ph[i].p_type != PT_NOTE || len > sizeof(buf) ||
		    zp_pread(fd, buf, len, ph[i].p_offset) != (long)len)
			continue;
		while (off + sizeof(Elf64_Nhdr) <= len) {
			Elf64_Nhdr nh;
			size_t name = off + sizeof(nh);

			memcpy(&nh, buf + off, sizeof(nh));
			if (nh.n_namesz > len || nh.n_descsz > len)
				break;
			if (nh.n_type == ZP_NT_GO_BUILDID && nh.n_namesz >= 3 &&
			    name + 3 <= len && memcmp(buf + name, "Go", 3) == 0)
				return 1;
			off = name + ((nh.n_namesz + 3u) & ~3u) +
			      ((nh.n_descsz + 3u) & ~3u);
		}
	}
	return 0;
}

/* Room for n (start, end) pairs in one anonymous map: starts[-1] holds its
 * size (zp_elf_starts_free()), ends from starts + n until zp_pairs_done. */
static uintptr_t *
zp_pairs_alloc(size_t n)
{
	size_t alloc = (n * 2 + 1) * sizeof(uintptr_t);
	uintptr_t *p = zp_map_anon(alloc);

	if (p == NULL)
		return NULL;
	p[0] = alloc;
	return p + 1;
}

/* Sort the n pairs of zp_pairs_alloc(cap), one per start (the larger end),
 * ends right after the starts, as zp_elf_func_starts() returns them. */
static long
zp_pairs_done(uintptr_t *starts, size_t cap, size_t n, uintptr_t **out)
{
	uintptr_t *ends = starts + cap;
	size_t k = 0;

	zp_sort_pairs(starts, ends, n);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && starts[i] == starts[k - 1]) {
			if (ends[i] > ends[k - 1])
				ends[k - 1] = ends[i];
			continue;
		}
		starts[k] = starts[i];
		ends[k++] = ends[i];
	}
	if (k == 0) {
		zp_elf_starts_free(starts);
		return -ENOENT;
	}
	memmove(starts + k, ends, k * sizeof(uintptr_t));
	*out = starts;
	return (long)k;
}

/* The STT_FUNC symbols of symtab in [start, end). */
static long
zp_go_sym_starts(int fd, const Elf64_Shdr *symtab, uintptr_t bias,
		 uintptr_t start, uintptr_t end, uintptr_t **out)
{
	const uint8_t *syms;
	void *syms_base;
	size_t syms_len, nsym, n = 0;
	uintptr_t *starts;
	long rc;

	if (symtab->sh_entsize != sizeof(Elf64_Sym) || symtab->sh_size > ZP_SYMTAB_MAX)
		return -ENOENT;
	syms = zp_map_file(fd, symtab->sh_offset, symtab->sh_size, &syms_base,
			   &syms_len);
	if (syms == NULL)
		return -ENOENT;
	nsym = symtab->sh_size / sizeof(Elf64_Sym);
	starts = zp_pairs_alloc(nsym);
	if (starts == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < nsym; i++) {
		Elf64_Sym s;
		uintptr_t a;

		memcpy(&s, syms + i * sizeof(s), sizeof(s));
		if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_size == 0 ||
		    s.st_shndx == SHN_UNDEF)
			continue;
		a = bias + (uintptr_t)s.st_value;
		if (a < start || a >= end)
			continue;
		starts[n] = a;
		starts[nsym + n++] = a + (uintptr_t)s.st_size;
	}
	rc = zp_pairs_done(starts, nsym, n, out);
done:
	zp_syscall6(SYS_munmap, (long)syms_base, (long)syms_len, 0, 0, 0, 0);
	return rc;
}

/*
 * A stripped Go binary has no symbols, but the runtime's own table of its
 * functions stays (.gopclntab: runtime/symtab.go's pcHeader, then the
 * functab): every function's entry, sorted, and one more entry that ends
 * the last. Go 1.18 on (magic 0xfffffff0; 1.20 on, 0xfffffff1): 32-bit
 * offsets from the header's textStart; Go 1.16 and 1.17 (0xfffffffa):
 * 64-bit addresses. A function
 * ends where the next begins (gc pads between them, never data). A
 * position-independent binary (-buildmode=pie: the section is
 * .data.rel.ro.gopclntab) leaves textStart, or the addresses, to a
 * relocation: zero in the file, and so not read (SUD's, as before).
 */
#define ZP_GO_PCLN		".gopclntab"
#define ZP_GO_PCLN_PIE		".data.rel.ro.gopclntab"
#define ZP_GO_PCLN_118		0xfffffff0u
#define ZP_GO_PCLN_120		0xfffffff1u	/* 1.18's layout */
#define ZP_GO_PCLN_116		0xfffffffau
#define ZP_GO_PCLN_HDR_MAX	72	/* 1.18's: 8 bytes, then 8 words */
#define ZP_GO_PCLN_NFUNC	8
#define ZP_GO_PCLN_TEXT		24	/* 1.18 on */
#define ZP_GO_PCLN_FTAB_118	64	/* pclnOffset: the functab's */
#define ZP_GO_PCLN_FTAB_116	56
#define ZP_GO_FUNCS_MAX		(4u << 20)

static uint64_t
zp_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t
zp_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static long
zp_go_pcln_starts(int fd, const Elf64_Shdr *pcln, uintptr_t bias,
		  uintptr_t start, uintptr_t end, uintptr_t **out)
{
	uint8_t h[ZP_GO_PCLN_HDR_MAX];
	const uint8_t *ftab;
	void *base;
	size_t maplen, ent, n = 0;
	uint64_t nfunc, ftab_off, text = 0, prev = 0;
	uintptr_t *starts;
	uint32_t magic;
	int v118;
	long rc;

	if (pcln->sh_size < sizeof(h) ||
	    zp_pread(fd, h, sizeof(h), pcln->sh_offset) != (long)sizeof(h))
		return -ENOENT;
	magic = zp_get32(h);
	v118 = magic == ZP_GO_PCLN_118 || magic == ZP_GO_PCLN_120;
	/* no padding, instructions of a byte, 8-byte pointers */
	if ((!v118 && magic != ZP_GO_PCLN_116) || h[4] != 0 || h[5] != 0 ||
	    h[6] != 1 || h[7] != 8)
		return -ENOENT;
	nfunc = zp_get64(h + ZP_GO_PCLN_NFUNC);
	ftab_off = zp_get64(h + (v118 ? ZP_GO_PCLN_FTAB_118 : ZP_GO_PCLN_FTAB_116));
	ent = v118 ? 2 * sizeof(uint32_t) : 2 * sizeof(uint64_t);
	if (nfunc == 0 || nfunc > ZP_GO_FUNCS_MAX || ftab_off > pcln->sh_size ||
	    (nfunc + 1) * ent > pcln->sh_size - ftab_off)
		return -ENOENT;
	if (v118 && (text = zp_get64(h + ZP_GO_PCLN_TEXT)) == 0)
		return -ENOENT;	/* left to a relocation */
	ftab = zp_map_file(fd, pcln->sh_offset + ftab_off, (nfunc + 1) * ent,
			   &base, &maplen);
	if (ftab == NULL)
		return -ENOENT;
	starts = zp_pairs_alloc(nfunc);
	if (starts == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i <= nfunc; i++) {
		const uint8_t *e = ftab + i * ent;
		uint64_t a = v118 ? text + zp_get32(e) : zp_get64(e);

		if (i > 0 && a < prev) {	/* not the table we know */
			zp_elf_starts_free(starts);
			rc = -ENOENT;
			goto done;
		}
		/* the previous function ends here */
		if (i > 0 && bias + prev >= start && bias + prev < end) {
			starts[n] = bias + (uintptr_t)prev;
			starts[nfunc + n++] = bias + (uintptr_t)a;
		}
		prev = a;
	}
	rc = zp_pairs_done(starts, nfunc, n, out);
done:
	zp_syscall6(SYS_munmap, (long)base, (long)maplen, 0, 0, 0, 0);
	return rc;
}

/*
 * Go's functions in [start, end): from the symbol table, or from
 * .gopclntab when it was stripped; -ENOENT for a file without a Go build
 * ID note section or without either.
 */
static long
zp_go_func_starts(int fd, const Elf64_Ehdr *eh, uintptr_t bias,
		  uintptr_t start, uintptr_t end, uintptr_t **out)
{
	Elf64_Shdr *sh;
	const Elf64_Shdr *symtab = NULL, *pcln = NULL, *strs;
	const uint8_t *names = NULL;
	void *names_base = NULL;
	size_t names_len = 0, shlen;
	int go = 0;
	long rc = -ENOENT;

	if (eh->e_shnum == 0 || eh->e_shnum > ZP_SHDR_MAX ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum)
		return -ENOENT;
	shlen = eh->e_shnum * sizeof(Elf64_Shdr);
	sh = zp_map_anon(shlen);
	if (sh == NULL)
		return -ENOMEM;
	if (zp_pread(fd, sh, shlen, eh->e_shoff) != (long)shlen)
		goto done;
	strs = &sh[eh->e_shstrndx];
	if (strs->sh_size == 0 || strs->sh_size > ZP_SHSTR_MAX)
		goto done;
	names = zp_map_file(fd, strs->sh_offset, strs->sh_size, &names_base,
			    &names_len);
	if (names == NULL)
		goto done;
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_SYMTAB)
			symtab = &sh[i];
		if (zp_shdr_named(&sh[i], names, strs->sh_size, ZP_GO_NOTE))
			go = sh[i].sh_type == SHT_NOTE;
		if (zp_shdr_named(&sh[i], names, strs->sh_size, ZP_GO_PCLN) ||
		    zp_shdr_named(&sh[i], names, strs->sh_size, ZP_GO_PCLN_PIE))
			pcln = &sh[i];
	}
	if (!go)
		goto done;
	if (symtab != NULL)
		rc = zp_go_sym_starts(fd, symtab, bias, start, end, out);
	if (rc == -ENOENT && pcln != NULL && pcln->sh_type == SHT_PROGBITS)
		rc = zp_go_pcln_starts(fd, pcln, bias, start, end, out);
done:
	if (names_base != NULL)
		zp_syscall6(SYS_munmap, (long)names_base, (long)names_len, 0, 0, 0, 0);
	zp_syscall6(SYS_munmap, (long)sh, (long)shlen, 0, 0, 0, 0);
	return rc;
}

/* The functions of .eh_frame_hdr's table in [start, end) (ehf: its
 * segment, or NULL), as zp_elf_func_starts() returns them. */
static long
zp_fde_starts(int fd, const Elf64_Phdr *ph, int phnum, const Elf64_Phdr *load,
	      const Elf64_Phdr *ehf, uintptr_t start, uintptr_t end,
	      uintptr_t **out)
{
	const Elf64_Phdr *seg = NULL;
	uint8_t *hdr, *segmap = NULL;
	int64_t fde_count, loc, fde;
	uintptr_t bias, *starts, *ends;
	uint64_t seg_vaddr = 0, seg_len = 0, map_len = 0;
	size_t i, n = 0, tbl;
	int enc_ptr, enc_cnt, enc_tbl;

	if (ehf == NULL || ehf->p_filesz > ZP_EH_HDR_MAX ||
	    ehf->p_filesz < ZP_EH_HDR_FIXED + 8)
		return -ENOENT;
	/* the segment holding .eh_frame_hdr, and .eh_frame after it */
	for (i = 0; i < (size_t)phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr <= ehf->p_vaddr &&
		    ehf->p_vaddr < ph[i].p_vaddr + ph[i].p_filesz)
			seg = &ph[i];
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
	if (seg != NULL) {
		/* read the FDEs in place (only their pages are touched) */
		uint64_t pg = seg->p_offset & ZP_PAGE_MASK;
		long r;

		struct stat st;

		map_len = seg->p_offset + seg->p_filesz - pg;
		/* a segment past the file's end would raise SIGBUS when read */
		if (zp_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0 ||
		    st.st_size < 0 ||
		    seg->p_offset + seg->p_filesz > (uint64_t)st.st_size)
			r = -EINVAL;
		else
			r = zp_syscall6(SYS_mmap, 0, (long)map_len, PROT_READ,
					MAP_PRIVATE, fd, (long)pg);
		if (zp_kerr(r))
			map_len = 0;
		else
			segmap = (uint8_t *)r + (seg->p_offset - pg);
		seg_vaddr = seg->p_vaddr;
		seg_len = seg->p_filesz;
	}
	/*
	 * starts[-1] holds the allocation size for zp_elf_starts_free(),
	 * then fde_count starts and fde_count ends.
	 */
	starts = zp_map_anon(((size_t)fde_count * 2 + 1) * sizeof(uintptr_t));
	if (starts == NULL)
		goto bad;
	starts[0] = ((size_t)fde_count * 2 + 1) * sizeof(uintptr_t);
	starts++;
	ends = starts + fde_count;
	for (i = 0; i < (size_t)fde_count; i++) {
		uint64_t a_vaddr;
		uintptr_t a, e = 0;

		zp_eh_read4(hdr + tbl + i * 8, ZP_EH_SDATA4, &loc);
		zp_eh_read4(hdr + tbl + i * 8 + 4, ZP_EH_SDATA4, &fde);
		a_vaddr = (uint64_t)((int64_t)ehf->p_vaddr + loc);
		a = bias + (uintptr_t)a_vaddr;
		if (segmap != NULL) {
			e = zp_fde_end(segmap, seg_vaddr, seg_len,
				       (uint64_t)((int64_t)ehf->p_vaddr + fde),
				       a_vaddr);
			if (e != 0)
				e += bias;
		}
		if (a >= start && a < end && n > 0 && a == starts[n - 1]) {
			/* same start twice: keep the larger end, 0 wins */
			if (ends[n - 1] != 0 && (e == 0 || e > ends[n - 1]))
				ends[n - 1] = e;
		} else if (a >= start && a < end &&
			   (n == 0 || a > starts[n - 1])) {
			ends[n] = e;
			starts[n++] = a;
		}
	}
	/* ends right after the starts, as zp_scan_code_at() wants them */
	if (n < (size_t)fde_count)
		memmove(starts + n, ends, n * sizeof(uintptr_t));
	if (segmap != NULL)
		zp_syscall6(SYS_munmap, (long)(segmap - (seg->p_offset -
			    (seg->p_offset & ZP_PAGE_MASK))), (long)map_len,
			    0, 0, 0, 0);
	zp_syscall6(SYS_munmap, (long)hdr, (long)ehf->p_filesz, 0, 0, 0, 0);
	*out = starts;
	return (long)n;
bad:
	if (segmap != NULL)
		zp_syscall6(SYS_munmap, (long)(segmap - (seg->p_offset -
			    (seg->p_offset & ZP_PAGE_MASK))), (long)map_len,
			    0, 0, 0, 0);
	zp_syscall6(SYS_munmap, (long)hdr, (long)ehf->p_filesz, 0, 0, 0, 0);
	return -ENOEXEC;
}

/*
 * Both lists (either may be missing: n <= 0) as one, sorted, one entry per
 * start; for a start in both, an unknown end (0: an FDE that keeps stubs
 * away) wins, else the larger. Frees a and b.
 */
static long
zp_starts_merge(uintptr_t *a, long na, uintptr_t *b, long nb, uintptr_t **out)
{
	uintptr_t *m, *ends;
	size_t n, k = 0;

	if (na <= 0 || nb <= 0) {
		if (na > 0) {
			zp_elf_starts_free(b);	/* none in range, or failed */
			*out = a;
			return na;
		}
		zp_elf_starts_free(a);
		if (nb > 0) {
			*out = b;
			return nb;
		}
		zp_elf_starts_free(b);
		return -ENOENT;
	}
	n = (size_t)na + (size_t)nb;
	m = zp_pairs_alloc(n);
	if (m == NULL) {
		zp_elf_starts_free(b);
		*out = a;	/* the first list alone, as before */
		return na;
	}
	ends = m + n;
	memcpy(m, a, (size_t)na * sizeof(*m));
	memcpy(m + na, b, (size_t)nb * sizeof(*m));
	memcpy(ends, a + na, (size_t)na * sizeof(*m));
	memcpy(ends + na, b + nb, (size_t)nb * sizeof(*m));
	zp_elf_starts_free(a);
	zp_elf_starts_free(b);
	zp_sort_pairs(m, ends, n);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && m[i] == m[k - 1]) {
			if (ends[k - 1] != 0 && (ends[i] == 0 || ends[i] > ends[k - 1]))
				ends[k - 1] = ends[i];
			continue;
		}
		m[k] = m[i];
		ends[k++] = ends[i];
	}
	memmove(m + k, ends, k * sizeof(*m));
	*out = m;
	return (long)k;
}

/*
 * Returns the number of function starts in [start, end), stored sorted in
 * *out (free with zp_elf_starts_free()), or -errno.  (*out)[n + i] is the
 * end of function i (its FDE's pc_range), 0 when unknown: code outside
 * every function is data (OpenSSL keeps tables in .text) or code without
 * CFI, which the rewriter must not decode as if it were code.
 */
long
zp_elf_func_starts(int fd, uint64_t offset, uintptr_t start, uintptr_t end,
		   uintptr_t **out)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ZP_PHDR_MAX];
	const Elf64_Phdr *load = NULL, *ehf = NULL;
	size_t i;

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
	if (load == NULL)
		return -ENOENT;
	if (zp_is_go(fd, ph, eh.e_phnum)) {
		/* Go: its symbols, or without them (stripped) the runtime's
		 * table of Go's functions, and the FDEs of the C objects a
		 * cgo program links (gcc's, when it links) */
		uintptr_t bias = start - (uintptr_t)(load->p_vaddr & ZP_PAGE_MASK);
		uintptr_t *go = NULL, *fdes = NULL;
		long ng = zp_go_func_starts(fd, &eh, bias, start, end, &go), nf;

		if (ng <= 0) {
			/* Go's code unknown: SUD's, the C objects' too (their
			 * FDEs alone would leave Go's syscalls unhooked) */
			zp_elf_starts_free(go);
			return -ENOENT;
		}
		nf = zp_fde_starts(fd, ph, eh.e_phnum, load, ehf, start, end, &fdes);
		return zp_starts_merge(go, ng, fdes, nf, out);
	}
	return zp_fde_starts(fd, ph, eh.e_phnum, load, ehf, start, end, out);
}

void
zp_elf_starts_free(uintptr_t *starts)
{
	if (starts != NULL)
		zp_syscall6(SYS_munmap, (long)(starts - 1), (long)starts[-1],
			    0, 0, 0, 0);
}
