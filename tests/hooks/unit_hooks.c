/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * unit_hooks.c - the hook engine's pure parts, without root, under
 * ASan/UBSan: /proc/self/maps lines, the sled at address 0 (built in a
 * buffer), the scanner on synthetic code, stub encoding, the
 * function-start scanner agreeing with the full sweep on libc, and the
 * instruction-length decoder agreeing with libopcodes on every instruction
 * of every function of the system's libraries.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zp_internal.h"

#define PAGE	4096
#define EXIT	576

static int failures;

#define EXPECT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: EXPECT(%s) failed\n", __FILE__, \
			__LINE__, #cond); \
		failures++; \
	} \
} while (0)

static void
test_maps(void)
{
	struct zp_map m;

	EXPECT(zp_maps_parse_line("7f0000001000-7f0000003000 r-xp 00002000 "
				  "08:01 1234      /usr/lib/libc.so.6\n",
				  &m) == 0);
	EXPECT(m.start == 0x7f0000001000UL && m.end == 0x7f0000003000UL);
	EXPECT(m.prot == (PROT_READ | PROT_EXEC) && m.is_private);
	EXPECT(m.offset == 0x2000);
	EXPECT(strcmp(m.path, "/usr/lib/libc.so.6") == 0);
	EXPECT(zp_maps_parse_line("ffffffffff600000-ffffffffff601000 --xp "
				  "00000000 00:00 0  [vsyscall]", &m) == 0);
	EXPECT(m.prot == PROT_EXEC && strcmp(m.path, "[vsyscall]") == 0);
	EXPECT(zp_maps_parse_line("1000-2000 rw-s 00000000 00:05 7\n",
				  &m) == 0);
	EXPECT(m.prot == (PROT_READ | PROT_WRITE) && !m.is_private &&
	       m.path[0] == '\0');
	EXPECT(zp_maps_parse_line("garbage", &m) != 0);
	EXPECT(zp_maps_parse_line("2000-1000 r-xp 0 0:0 0", &m) != 0);
	EXPECT(zp_maps_parse_line("1000-2000", &m) != 0);
}

static void
test_sled(void)
{
	static uint8_t page[PAGE];
	int worst = 0;

	zp_sled_fill(page, EXIT);
	EXPECT(zp_sled_check(page, EXIT, &worst) == 0);
	EXPECT(worst > 0 && worst <= 16);
	/* the exit is the absolute jmp, zeros after it */
	EXPECT(page[EXIT] == 0xff && page[EXIT + 1] == 0x24);
	EXPECT(page[EXIT + 7] == 0 && page[PAGE - 1] == 0);
	/* getpid (39) takes a few jumps */
	page[EXIT - 1] = 0xcc;	/* break the nop tail: check must see it */
	EXPECT(zp_sled_check(page, EXIT, NULL) != 0);
}

struct collect {
	int n;
	struct zp_site s[8];
};

static int
collect_cb(const struct zp_site *s, void *arg)
{
	struct collect *c = arg;

	if (c->n < 8)
		c->s[c->n] = *s;
	c->n++;
	return 0;
}

static void
test_scan(void)
{
	/*
	 * 0: mov $39,%eax; syscall          -> movable prev
	 * 7: lea 0x10(%rip),%rax; syscall   -> rip-relative prev
	 * 16: mov %rdi,%rax; syscall        -> 3-byte prev
	 * 21: mov $0x050f,%ecx              -> 0f 05 inside an immediate
	 * 26: sysenter
	 * 28: ret
	 */
	static const uint8_t code[] = {
		0xb8, 0x27, 0, 0, 0, 0x0f, 0x05,
		0x48, 0x8d, 0x05, 0x10, 0, 0, 0, 0x0f, 0x05,
		0x48, 0x89, 0xf8, 0x0f, 0x05,
		0xb9, 0x0f, 0x05, 0, 0,
		0x0f, 0x34,
		0xc3,
	};
	uintptr_t starts[] = { 0x1000 + 7, 0x1000 + 21 };
	struct collect c = { 0 };
	long insns;

	insns = zp_scan_code(code, sizeof(code), 0x1000, collect_cb, &c);
	EXPECT(insns == 9);
	EXPECT(c.n == 4);
	EXPECT(c.s[0].addr == 0x1005 && c.s[0].prev == 0x1000 &&
	       c.s[0].prev_len == 5 && c.s[0].movable);
	EXPECT(c.s[1].addr == 0x100e && c.s[1].prev_len == 7 &&
	       !c.s[1].movable);
	EXPECT(c.s[2].addr == 0x1013 && c.s[2].prev_len == 3 &&
	       !c.s[2].movable);
	EXPECT(c.s[3].addr == 0x101a);

	/* from function starts: same sites, the first boundary-less */
	memset(&c, 0, sizeof(c));
	zp_scan_code_at(code, sizeof(code), 0x1000, starts, 2, NULL, collect_cb,
			&c);
	EXPECT(c.n == 4);
	EXPECT(c.s[0].addr == 0x1005 && c.s[0].movable);
	EXPECT(c.s[1].addr == 0x100e && c.s[2].addr == 0x1013 &&
	       c.s[3].addr == 0x101a);
}

static void
test_stub(void)
{
	static const uint8_t mov[] = { 0xb8, 0x27, 0, 0, 0 };
	uint8_t stub[64];
	int len = 0;
	int32_t rel;

	zp_stub_encode(stub, 0x10000, mov, sizeof(mov), 0x0f000, 0x20007,
		       &len);
	EXPECT(len == 5 + 5 + 7 + 1 + 6 + 8 + 5);
	EXPECT(memcmp(stub, mov, sizeof(mov)) == 0);
	/* lea -128(%rsp),%rsp */
	EXPECT(stub[5] == 0x48 && stub[6] == 0x8d && stub[9] == 0x80);
	/* lea 1f(%rip),%rcx; push %rcx: 1f = 0x10000 + 24 */
	EXPECT(stub[10] == 0x48 && stub[11] == 0x8d && stub[12] == 0x0d);
	memcpy(&rel, stub + 13, 4);
	EXPECT(0x10000 + 17 + rel == 0x10000 + 24);
	EXPECT(stub[17] == 0x51);
	/* jmp *slot(%rip) */
	EXPECT(stub[18] == 0xff && stub[19] == 0x25);
	memcpy(&rel, stub + 20, 4);
	EXPECT(0x10000 + 24 + rel == 0x0f000);
	/* 1: lea 128(%rsp),%rsp; jmp back after the syscall */
	EXPECT(stub[24] == 0x48 && stub[25] == 0x8d && stub[26] == 0xa4);
	EXPECT(stub[32] == 0xe9);
	memcpy(&rel, stub + 33, 4);
	EXPECT(0x10000 + 37 + rel == 0x20007);
}

/* What may move after a syscall (an "after" stub) and what not. */
static void
test_scan_after(void)
{
	/*
	 * 0x1000: nop; syscall; cmp $-4095,%rax  -> after_len 6
	 * 0x1009: mov %rdi,%rax; syscall; 0x100e: mov %rax,%rdx;
	 *         jmp 0x100e                     -> target inside: 0
	 * 0x1013: nop; syscall; jmp +0           -> a branch: 0
	 * 0x1018: je 0x101d; nop; syscall;
	 *         0x101d: mov %rax,%rdx          -> forward target: 0
	 * 0x1020: nop; syscall; mov %rax,%rdx    -> past end 0x1025: 0
	 * 0x1026: ret
	 */
	static const uint8_t code[] = {
		0x90, 0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff,
		0x48, 0x89, 0xf8, 0x0f, 0x05, 0x48, 0x89, 0xc2, 0xeb, 0xfb,
		0x90, 0x0f, 0x05, 0xeb, 0x00,
		0x74, 0x03, 0x90, 0x0f, 0x05, 0x48, 0x89, 0xc2,
		0x90, 0x0f, 0x05, 0x48, 0x89, 0xc2,
		0xc3,
	};
	uintptr_t fn[] = { 0x1000, 0x1025 };	/* start, end */
	uintptr_t fn_all[] = { 0x1000, 0x1027 };
	static const uint8_t code2[] = {
		0x90, 0x0f, 0x05, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xc3,
	};
	uintptr_t fn2[] = { 0x1000, 0x100b };
	struct collect c = { 0 };

	EXPECT(sizeof(code) == 0x27);
	zp_scan_code_at(code, sizeof(code), 0x1000, fn, 1, fn + 1, collect_cb,
			&c);
	EXPECT(c.n == 5);
	EXPECT(c.s[0].addr == 0x1001 && !c.s[0].movable &&
	       c.s[0].after_len == 6);
	EXPECT(c.s[1].addr == 0x100c && c.s[1].after_len == 0);
	EXPECT(c.s[2].addr == 0x1014 && c.s[2].after_len == 0);
	EXPECT(c.s[3].addr == 0x101b && c.s[3].after_len == 0);
	EXPECT(c.s[4].addr == 0x1021 && c.s[4].after_len == 0);

	/* the function ends after the last mov: it may move */
	memset(&c, 0, sizeof(c));
	zp_scan_code_at(code, sizeof(code), 0x1000, fn_all, 1, fn_all + 1,
			collect_cb, &c);
	EXPECT(c.n == 5 && c.s[0].after_len == 6 && c.s[4].after_len == 3);
	EXPECT(c.s[1].after_len == 0 && c.s[3].after_len == 0);

	/* without function bounds (no ends, or a linear sweep): never */
	memset(&c, 0, sizeof(c));
	zp_scan_code_at(code, sizeof(code), 0x1000, fn, 1, NULL, collect_cb,
			&c);
	EXPECT(c.n == 5 && c.s[0].after_len == 0);
	memset(&c, 0, sizeof(c));
	zp_scan_code(code, sizeof(code), 0x1000, collect_cb, &c);
	EXPECT(c.n == 5 && c.s[0].after_len == 0);

	/*
	 * nop; syscall; mov $39,%eax; syscall; ret: the mov moves with the
	 * first syscall, so it is no previous instruction of the second
	 * (its jmp would overwrite the first one's)
	 */
	memset(&c, 0, sizeof(c));
	zp_scan_code_at(code2, sizeof(code2), 0x1000, fn2, 1, fn2 + 1,
			collect_cb, &c);
	EXPECT(c.n == 2 && c.s[0].after_len == 5);
	EXPECT(c.s[1].addr == 0x1008 && c.s[1].prev_len == 0 &&
	       !c.s[1].movable && c.s[1].after_len == 0);
}

/* The site set grows and keeps every address (hash as in entry.S). */
static void
test_site_set(void)
{
	uintptr_t base = 0x7f0000000000UL;
	int i, missing = 0;

	EXPECT(zp_rewrite_init() == 0);
	for (i = 0; i < 100000; i++)
		EXPECT(zp_site_add(base + (uintptr_t)i * 7) == 0);
	for (i = 0; i < 100000; i++)
		missing += !zp_site_has(base + (uintptr_t)i * 7);
	EXPECT(missing == 0);
	EXPECT(!zp_site_has(base + 3));
	EXPECT(!zp_site_has(0x1234));
	EXPECT(zp_site_set->mask + 1 >= 2 * 100000);
}

struct sweep {
	int n;
	uintptr_t addr[4096];
};

static int
sweep_cb(const struct zp_site *s, void *arg)
{
	struct sweep *w = arg;

	if (w->n < 4096)
		w->addr[w->n] = s->addr;
	w->n++;
	return 0;
}

static char libc_path[4096];

static int
libc_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t *r = arg;
	int i;

	(void)size;
	if (strstr(info->dlpi_name, "libc.so") == NULL)
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD &&
		    (info->dlpi_phdr[i].p_flags & PF_X)) {
			r[0] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
			r[1] = r[0] + info->dlpi_phdr[i].p_memsz;
			r[2] = info->dlpi_phdr[i].p_offset;
			snprintf(libc_path, sizeof(libc_path), "%s",
				 info->dlpi_name);
			return 1;
		}
	return 0;
}

/* Both scanners find the same syscall sites in the real libc. */
static void
test_libc_agree(void)
{
	static struct sweep full, fast;
	uintptr_t r[3] = { 0 }, *starts = NULL, lo, hi;
	long n;
	int fd, i;

	dl_iterate_phdr(libc_text, r);
	if (r[0] == 0) {
		fprintf(stderr, "libc not found, skipping agreement check\n");
		return;
	}
	/* whole pages, like a mapping */
	lo = r[0] & ~(uintptr_t)(PAGE - 1);
	hi = (r[1] + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
	fd = open(libc_path, O_RDONLY);
	EXPECT(fd >= 0);
	n = zp_elf_func_starts(fd, r[2] & ~(uint64_t)(PAGE - 1), lo, hi,
			       &starts);
	close(fd);
	if (n <= 1000)
		fprintf(stderr, "function starts of %s: %ld\n", libc_path,
			n);
	EXPECT(n > 1000);
	zp_scan_code((const uint8_t *)lo, hi - lo, lo, sweep_cb, &full);
	zp_scan_code_at((const uint8_t *)lo, hi - lo, lo, starts,
			n > 0 ? (size_t)n : 0, n > 0 ? starts + n : NULL,
			sweep_cb, &fast);
	zp_elf_starts_free(starts);
	EXPECT(full.n > 100 && full.n == fast.n);
	for (i = 0; i < full.n && i < fast.n && i < 4096; i++)
		if (full.addr[i] != fast.addr[i]) {
			EXPECT(full.addr[i] == fast.addr[i]);
			break;
		}
	printf("libc: %d syscall sites, both scanners agree\n", full.n);
}

/*
 * zp_next_syscall_sse2 against a byte loop: buffers of every length up
 * to 80 bytes, each with a syscall or sysenter pair (or only a 0f, or a
 * 05 before its 0f) planted at every position, searched from every
 * start: the first pair at or after the start, or, where the 16-byte
 * steps cannot reach, a position no pair lies before.
 */
static void
test_next_syscall(void)
{
	static const uint8_t plant[][2] = {
		{ 0x0f, 0x05 }, { 0x0f, 0x34 }, { 0x0f, 0x0f }, { 0x05, 0x0f },
	};
	long bad = 0, cases = 0;

	/* each buffer exactly len bytes on the heap: ASan sees a read past */
	for (size_t len = 0; len <= 80; len++)
		for (size_t k = 0; k < sizeof(plant) / sizeof(plant[0]); k++)
			for (size_t at = 0; at + 1 < len || (at == 0 && len < 2); at++) {
				uint8_t *buf = malloc(len > 0 ? len : 1);

				EXPECT(buf != NULL);
				if (buf == NULL)
					return;
				memset(buf, 0x90, len);
				if (at + 1 < len) {
					buf[at] = plant[k][0];
					buf[at + 1] = plant[k][1];
				}
				for (size_t from = 0; from < len; from++) {
					size_t want = len, got, x;

					for (x = from; x + 1 < len; x++)
						if (buf[x] == 0x0f &&
						    (buf[x + 1] == 0x05 || buf[x + 1] == 0x34)) {
							want = x;
							break;
						}
					got = zp_next_syscall_sse2(buf, from, len);
					cases++;
					/* never past a pair (want: the first,
					 * or len); short of it only in the
					 * last 16 bytes, the caller's */
					if (got < from || got > want ||
					    (got != want && got + 17 <= len))
						bad++;
				}
				free(buf);
				if (len < 2)
					break;
			}
	EXPECT(bad == 0);
	printf("zp_next_syscall_sse2: %ld searches, %ld wrong\n", cases, bad);
	/* code that ends in a 0f where the 16-byte steps stop (17 bytes:
	 * the caller's byte loop starts at the last one), or with a whole
	 * syscall there: nothing is read past its end */
	for (size_t len = 17; len <= 18; len++) {
		uint8_t *code = malloc(len);
		uintptr_t fn[1] = { 0x1000 };
		struct collect c;

		EXPECT(code != NULL);
		if (code == NULL)
			return;
		memset(code, 0x90, len);
		code[len - 2] = len == 18 ? 0x0f : 0x90;
		code[len - 1] = len == 18 ? 0x05 : 0x0f;
		memset(&c, 0, sizeof(c));
		zp_scan_code_at(code, len, 0x1000, fn, 1, NULL, collect_cb, &c);
		EXPECT(c.n == (len == 18 ? 1 : 0));
		free(code);
	}
}

/*
 * zp_insn_len against libopcodes, on the executable segment of an ELF
 * file mapped as the loader maps it: every function .eh_frame_hdr knows,
 * start to end. Adds the instructions compared to *insns; returns the
 * disagreements (each printed with its bytes), -1 if path is not there.
 */
static long
insn_agree_file(const char *path, long *insns)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uintptr_t *starts = NULL, lo;
	long n, bad = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int i;

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		close(fd);
		return -1;
	}
	for (i = 0; i < eh.e_phnum; i++) {
		uint64_t off;
		size_t len;
		void *m;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
		    (ssize_t)sizeof(ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		off = ph.p_offset & ~(uint64_t)(PAGE - 1);
		len = (size_t)(ph.p_offset + ph.p_filesz - off);
		m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, (off_t)off);
		EXPECT(m != MAP_FAILED);
		if (m == MAP_FAILED)
			break;
		lo = (uintptr_t)m;
		n = zp_elf_func_starts(fd, off, lo, lo + len, &starts);
		for (long f = 0; f < n; f++) {
			uintptr_t end = starts[n + f];
			size_t at = end - lo;
			int want = 0, got = 0;
			long k;

			if (end == 0 || end > lo + len || end <= starts[f])
				continue;
			k = zp_insn_len_check((const uint8_t *)lo, len, lo,
					      starts[f] - lo, end - lo, &at,
					      &want, &got);
			EXPECT(k >= 0);
			*insns += k;
			if (at == end - lo)
				continue;
			if (bad++ < 20) {
				fprintf(stderr, "%s+%#lx: libopcodes %d, zp_insn_len %d:",
					path, (unsigned long)(off + at), want, got);
				for (size_t b = 0; b < 15 && at + b < len; b++)
					fprintf(stderr, " %02x", ((const uint8_t *)lo)[at + b]);
				fprintf(stderr, "\n");
			}
		}
		zp_elf_starts_free(starts);
		starts = NULL;
		munmap(m, len);
	}
	close(fd);
	return bad;
}

/* The libraries a server under zpnet loads, as far as they are here. */
static void
test_insn_agree(void)
{
	static const char *const libs[] = {
		"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2",
		"libstdc++.so.6", "libcrypto.so.3", "libssl.so.3",
		"libgcrypt.so.20", "libsystemd.so.0", "libzstd.so.1",
		"liblzma.so.5", "libz.so.1", "libjemalloc.so.2",
		"libopcodes-2.40-system.so", "libbfd-2.40-system.so",
		"libpython3.11.so.1.0", "librte_eal.so.23", "librte_ethdev.so.23",
		"librte_mempool.so.23", "librte_net.so.23",
		"dpdk/pmds-23.0/librte_net_af_packet.so.23",
		"dpdk/pmds-23.0/librte_net_af_xdp.so.23",
	};
	static const char *const bins[] = {
		"/usr/bin/redis-check-rdb", "/usr/bin/python3.11",
		"/usr/sbin/nginx", "/usr/bin/bash",
	};
	char path[256];
	long insns = 0, bad = 0, r;
	int files = 0, have_libc = 0;

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]) + sizeof(bins) / sizeof(bins[0]); i++) {
		if (i < sizeof(libs) / sizeof(libs[0]))
			snprintf(path, sizeof(path), "/usr/lib/x86_64-linux-gnu/%s", libs[i]);
		else
			snprintf(path, sizeof(path), "%s", bins[i - sizeof(libs) / sizeof(libs[0])]);
		r = insn_agree_file(path, &insns);
		if (r < 0)
			continue;
		files++;
		have_libc |= i == 0;
		bad += r;
	}
	EXPECT(have_libc);
	EXPECT(insns > 500000);
	EXPECT(bad == 0);
	printf("instruction lengths: %ld instructions of %d files, %ld disagreements with libopcodes\n",
	       insns, files, bad);
}

/* A repeating line: the first ZP_LOG_BURST of a window, then held; the
 * next window's first says how many were held. */
static void
test_log_gate(void)
{
	struct zp_log_gate g = { 0 };
	uint64_t held = 99, t = 1000;
	int said = 0;

	for (int i = 0; i < 100; i++)
		said += zp_log_gate_open(&g, t + (uint64_t)i, &held);
	EXPECT(said == ZP_LOG_BURST);
	EXPECT(held == 0);	/* the last one said held none back */
	EXPECT(!zp_log_gate_open(&g, t + ZP_LOG_WINDOW_NS - 1, &held));
	EXPECT(zp_log_gate_open(&g, t + ZP_LOG_WINDOW_NS, &held));
	EXPECT(held == 100 - ZP_LOG_BURST + 1);
	EXPECT(zp_log_gate_open(&g, t + ZP_LOG_WINDOW_NS + 1, &held) && held == 0);
}

int
main(void)
{
	test_maps();
	test_sled();
	test_scan();
	test_stub();
	test_scan_after();
	test_site_set();
	test_libc_agree();
	test_next_syscall();
	test_insn_agree();
	test_log_gate();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("unit_hooks: all passed\n");
	return 0;
}
