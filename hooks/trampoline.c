/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * trampoline.c - the code page at virtual address 0.
 *
 * A rewritten site executes `call *%rax` with rax = syscall number, so it
 * lands at address nr of page 0.  Layout of page 0 (ZP_TRAMP_EXIT = E):
 *
 *   [0, C)      the sled: pairs "eb d" (jmp +d) with d in 0x40..0x4f.
 *               Entering on an even byte runs the jmp.  Entering on an odd
 *               byte decodes d as a REX prefix of the next pair's jmp, so
 *               it jumps too.  Both land 64..79 bytes further on; the
 *               displacements are chosen (a tiny shortest-path search)
 *               so that every entry reaches E in a handful of jumps.
 *   [C, E-4)    0x3d bytes: `cmp $imm32, %eax` from any offset (5 bytes,
 *               flags only); the last pair's REX byte makes it 6 bytes.
 *   [E-4, E)    nop
 *   E           jmp *ZP_HOP_ADDR  (ff 24 25 abs32): the hop page holds the
 *               address of zp_sled_entry.
 *   (E+7, 4096) 0x00: `add %al, (%rax)`, which faults on this read-only
 *               page, so numbers >= E crash with SIGSEGV, never silently.
 *               The hop address is chosen so that entering inside the
 *               jmp's own bytes faults the same way (see zp_hop_addrs).
 *
 * The page is mapped PROT_EXEC only: on CPUs with protection keys it is
 * then execute-only and NULL reads still fault.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zp_internal.h"

#define ZP_PAGE_SIZE		4096
/* First byte past the sled: numbers 0..ZP_TRAMP_EXIT-1 are served. */
#define ZP_TRAMP_EXIT		576
#define ZP_OP_JMP8		0xeb
#define ZP_OP_CMP_EAX		0x3d
#define ZP_OP_NOP		0x90
#define ZP_REX_MIN		0x40
#define ZP_REX_MAX		0x4f
#define ZP_CMP_EAX_LEN		5
#define ZP_NOP_TAIL		4
/* jmp *abs32: ff /4 with SIB "no base, no index" */
static const uint8_t zp_jmp_abs[] = { 0xff, 0x24, 0x25 };
#define ZP_JMP_ABS_LEN		7
#define ZP_SLED_MAX_INSNS	24

/*
 * Where the hop page may go: addresses whose bytes, decoded from any offset
 * inside the jmp, give instructions that write through %rax (page 0) or
 * zero %eax first, so they fault.  Little-endian bytes 00 00 0x 0y with
 * x, y in {00, 08, ..., 38}.
 */
static const uintptr_t zp_hop_addrs[] = {
	0x08080000, 0x08000000, 0x10000000, 0x18000000,
	0x20000000, 0x28000000, 0x30000000, 0x38000000,
};

/* Fill page 0 (see above).  exit_off = E. */
void
zp_sled_fill(uint8_t *page, size_t exit_off)
{
	int cost[ZP_PAGE_SIZE];
	size_t c, p;
	long m;

	ZP_ASSERT(exit_off < ZP_PAGE_SIZE - ZP_JMP_ABS_LEN);
	/* pairs need at least a 64-byte jump: they end 66 bytes before E */
	c = (exit_off - (ZP_REX_MIN + 2)) & ~(size_t)1;
	memset(page, 0, ZP_PAGE_SIZE);
	memset(page + c, ZP_OP_CMP_EAX, exit_off - ZP_NOP_TAIL - c);
	memset(page + exit_off - ZP_NOP_TAIL, ZP_OP_NOP, ZP_NOP_TAIL);
	cost[exit_off] = 0;
	for (p = exit_off; p-- > exit_off - ZP_NOP_TAIL;)
		cost[p] = 1 + cost[p + 1];
	for (p = exit_off - ZP_NOP_TAIL; p-- > c;)
		cost[p] = 1 + cost[p + ZP_CMP_EAX_LEN];
	/* c - 1: REX + cmp, 6 bytes */
	cost[c - 1] = 1 + cost[c + ZP_CMP_EAX_LEN];
	for (m = (long)c / 2 - 1; m >= 0; m--) {
		size_t base = 2 * (size_t)m + 2, best_t = 0;
		int d, best = -1;

		for (d = ZP_REX_MIN; d <= ZP_REX_MAX; d++) {
			size_t t = base + (size_t)d;

			if (t > exit_off)
				break;
			if (best < 0 || cost[t] <= cost[best_t]) {
				best = d;
				best_t = t;
			}
		}
		ZP_ASSERT(best >= 0);
		page[2 * m] = ZP_OP_JMP8;
		page[2 * m + 1] = (uint8_t)best;
		cost[2 * m] = 1 + cost[best_t];
		if (m > 0)
			cost[2 * m - 1] = cost[2 * m];
	}
	memcpy(page + exit_off, zp_jmp_abs, sizeof(zp_jmp_abs));
}

/*
 * Decode page 0 from every entry below exit_off with the few instructions
 * it may contain and check each reaches exit_off.  Returns 0 or -1; the
 * longest path (in instructions) goes to *max_insns.
 */
int
zp_sled_check(const uint8_t *page, size_t exit_off, int *max_insns)
{
	size_t start;
	int worst = 0;

	for (start = 0; start < exit_off; start++) {
		size_t p = start;
		int n = 0;

		while (p != exit_off) {
			size_t q = p;

			if (p > exit_off || n > ZP_SLED_MAX_INSNS)
				return -1;
			if (page[q] >= ZP_REX_MIN && page[q] <= ZP_REX_MAX)
				q++;		/* REX prefix */
			if (page[q] == ZP_OP_JMP8)
				p = q + 2 + (int8_t)page[q + 1];
			else if (page[q] == ZP_OP_CMP_EAX)
				p = q + ZP_CMP_EAX_LEN;
			else if (page[q] == ZP_OP_NOP && q == p)
				p = q + 1;
			else
				return -1;
			n++;
		}
		if (n > worst)
			worst = n;
	}
	if (max_insns != NULL)
		*max_insns = worst;
	return 0;
}

/* Map page 0 and the hop page.  Returns 0 or -errno with a message. */
int
zp_tramp_setup(char *err, size_t errlen)
{
	uint8_t sled[ZP_PAGE_SIZE];
	uintptr_t hop = 0;
	long r;
	size_t i;
	int worst;

	r = zp_syscall6(SYS_mmap, 0, ZP_PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			-1, 0);
	if (r != 0) {
		char val[32] = "?";
		long fd = zp_syscall6(SYS_open,
				      (long)"/proc/sys/vm/mmap_min_addr",
				      0, 0, 0, 0, 0);

		if (fd >= 0) {
			long n = zp_syscall6(SYS_read, fd, (long)val,
					     sizeof(val) - 1, 0, 0, 0);
			val[n > 0 ? n : 0] = '\0';
			val[strcspn(val, "\n")] = '\0';
			zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
		}
		if (r == -EEXIST)
			snprintf(err, errlen, "address 0 is already mapped "
				 "in this process; zpnet cannot place its "
				 "trampoline there");
		else
			snprintf(err, errlen, "cannot map address 0 (%s): "
				 "vm.mmap_min_addr is %s; zpnet needs 0: "
				 "sysctl -w vm.mmap_min_addr=0 (or set "
				 "ZPHOOKS_ALLOW_SUD_ONLY=1 to run on Syscall "
				 "User Dispatch alone, much slower)",
				 strerror((int)-r), val);
		return r == 0 ? -EINVAL : (int)r;
	}
	for (i = 0; i < sizeof(zp_hop_addrs) / sizeof(zp_hop_addrs[0]); i++) {
		r = zp_syscall6(SYS_mmap, (long)zp_hop_addrs[i], ZP_PAGE_SIZE,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS |
				MAP_FIXED_NOREPLACE, -1, 0);
		if (r == (long)zp_hop_addrs[i]) {
			hop = zp_hop_addrs[i];
			break;
		}
	}
	if (hop == 0) {
		snprintf(err, errlen, "no free address for the trampoline's "
			 "hop page (tried 0x%lx and %zu others)",
			 (unsigned long)zp_hop_addrs[0],
			 sizeof(zp_hop_addrs) / sizeof(zp_hop_addrs[0]) - 1);
		zp_syscall6(SYS_munmap, 0, ZP_PAGE_SIZE, 0, 0, 0, 0);
		return -ENOMEM;
	}
	*(uintptr_t *)hop = (uintptr_t)zp_sled_entry;
	zp_syscall6(SYS_mprotect, (long)hop, ZP_PAGE_SIZE, PROT_READ, 0, 0, 0);

	zp_sled_fill(sled, ZP_TRAMP_EXIT);
	memcpy(sled + ZP_TRAMP_EXIT + sizeof(zp_jmp_abs), &hop, sizeof(uint32_t));
	ZP_ASSERT(zp_sled_check(sled, ZP_TRAMP_EXIT, &worst) == 0);
	/* page 0: through a pointer the compiler cannot prove is NULL */
	{
		uint8_t *page0;

		__asm__ ("" : "=r"(page0) : "0"((uintptr_t)0));
		memcpy(page0, sled, ZP_PAGE_SIZE);
	}
	r = zp_syscall6(SYS_mprotect, 0, ZP_PAGE_SIZE, PROT_EXEC, 0, 0, 0);
	ZP_ASSERT(r == 0);
	ZP_LOG(ZP_LOG_DEBUG, "trampoline at 0, sled 0..%d (max %d insns), "
	       "hop page 0x%lx\n", ZP_TRAMP_EXIT - 1, worst,
	       (unsigned long)hop);
	return 0;
}
