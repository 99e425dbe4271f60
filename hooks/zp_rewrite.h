/*
 * zp_rewrite.h - shared by the rewriter's files only: rewrite.c (patching,
 * lazy sites), sites.c (site set, poke set), decode.c (libopcodes,
 * scanners), stubs.c (stub encoding, arenas), resident.c (pages the scan
 * read).  Their interfaces for the rest of the engine and the unit tests
 * are in zp_internal.h.
 */
#ifndef ZP_REWRITE_H
#define ZP_REWRITE_H

#include <stdint.h>
#include <stddef.h>

#include "zp_internal.h"

/* x86-64 encodings the rewriter reads and writes */
#define ZP_OP_SYSCALL0		0x0f
#define ZP_OP_SYSCALL1		0x05
#define ZP_OP_SYSENTER1		0x34
#define ZP_OP_CALL_RAX0		0xff
#define ZP_OP_CALL_RAX1		0xd0
#define ZP_OP_JMP32		0xe9
#define ZP_SYSCALL_LEN		2
#define ZP_JMP32_LEN		5

#define ZP_PAGE_SIZE		4096UL

/* sites.c */
#define ZP_SITE_SET_INIT	(1UL << 14)
ZP_HIDDEN struct zp_site_set *zp_site_set_alloc(uint64_t nslots);
/* Caller holds the rewrite lock. */
ZP_HIDDEN void zp_site_del(uintptr_t ret_addr);

/* stubs.c: stubs live in arenas within +-2 GiB of their sites */
#define ZP_STUB_SIZE		48
#define ZP_ARENA_SIZE		(64 * 1024)
#define ZP_ARENA_MAX		256
struct zp_arena {
	uintptr_t base;
	size_t used;
};
ZP_HIDDEN extern struct zp_arena zp_arenas[ZP_ARENA_MAX];
ZP_HIDDEN extern int zp_narenas;
/* the rel32 at p of an instruction ending at next_insn, aiming at target */
ZP_HIDDEN void zp_put_rel32(uint8_t *p, uintptr_t next_insn,
			    uintptr_t target);
/* ZP_STUB_SIZE bytes near near, 0 if none; *slot: the hook's address */
ZP_HIDDEN uintptr_t zp_stub_alloc(uintptr_t near, uintptr_t *slot);
ZP_HIDDEN int zp_is_arena(uintptr_t a);

/* resident.c: giving back the pages the scan read */
struct zp_resident {
	uintptr_t start;
	size_t npages;
	uint64_t *bits;		/* a bit per page: mapped before the scan */
	size_t map_len;
	int fd;			/* /proc/self/pagemap */
};
/* before scanning [start, end), mapped with prot: note what is mapped */
ZP_HIDDEN void zp_resident_before(uintptr_t start, uintptr_t end, int prot,
				  struct zp_resident *r);
/* after it: drop (unless keep) what the scan mapped, free r */
ZP_HIDDEN void zp_resident_after(struct zp_resident *r, int keep);

#endif /* ZP_REWRITE_H */
