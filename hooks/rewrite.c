/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rewrite.c - find syscall instructions with libopcodes and rewrite them.
 *
 * Every executable mapping with unwind info (.eh_frame_hdr) is decoded
 * from its functions' starts (code without it is left to SUD and
 * rewritten site by site once a syscall there has run).  Each
 * `syscall` (0f 05) or `sysenter` (0f 34) becomes `call *%rax` (ff d0),
 * whose return address goes into the site set so the trampoline knows it.
 *
 * Red zone: `call` pushes its return address at rsp-8, inside the red zone
 * of a leaf function.  So when the instruction just before the syscall is
 * at least 5 bytes long, not a branch and not %rip-relative (the usual
 * `mov $nr, %eax` of libc wrappers), it is replaced by `jmp stub` and the
 * stub, allocated within +-2 GiB, runs:
 *	<the moved instruction>
 *	lea  -128(%rsp), %rsp		skip the red zone
 *	lea  1f(%rip), %rcx		a call without a return-stack entry:
 *	push %rcx			 the hook returns with an indirect
 *	jmp  *zp_stub_entry		 jmp, so the CPU's return stack
 * 1:	lea  128(%rsp), %rsp		 stays balanced (rcx is the
 *	jmp  <after the syscall>	 syscall's to clobber anyway)
 * The syscall itself still becomes `ff d0`, so a branch to it keeps working
 * (through address 0).
 *
 * Otherwise, inside a function known from .eh_frame_hdr (start and end),
 * the instructions right after the syscall may move instead ("after"
 * stubs): the fewest whole instructions that make the syscall's 2 bytes
 * up to 5, none a branch, none %rip-relative, all inside the function,
 * and no direct branch (jmp/jcc/call/loop rel) of that function aiming
 * at any byte of the range but its first.  The syscall's address becomes
 * `jmp stub` (a branch to it still works) and the stub runs:
 *	lea  -128(%rsp), %rsp ... jmp *zp_stub_entry	(as above)
 * 1:	lea  128(%rsp), %rsp
 *	<the moved instructions>	(libc: `cmp $-4095,%rax`)
 *	jmp  <after them>
 * Not when patching live (a thread blocked in that syscall would return
 * into the middle of the jmp).  An indirect branch (jump table) or a
 * branch from another function into the range cannot be seen: libc has
 * none (checked over every direct branch of the object, README).  Sites
 * with neither go through address 0 and lose the top 8 bytes of the red
 * zone (documented).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <dis-asm.h>

#include "zp_internal.h"

#define ZP_OP_SYSCALL0		0x0f
#define ZP_OP_SYSCALL1		0x05
#define ZP_OP_SYSENTER1		0x34
#define ZP_OP_CALL_RAX0		0xff
#define ZP_OP_CALL_RAX1		0xd0
#define ZP_OP_JMP32		0xe9
#define ZP_OP_INT3		0xcc
#define ZP_SYSCALL_LEN		2
#define ZP_JMP32_LEN		5
#define ZP_INSN_MAX		15
#define ZP_STUB_SIZE		48
#define ZP_FWD_MAX		128	/* forward branch targets kept */
#define ZP_AFTER_MAX		16	/* moved bytes that fit an after stub */
#define ZP_ARENA_SIZE		(64 * 1024)
#define ZP_ARENA_MAX		256
#define ZP_ARENA_HDR		16	/* slot holding &zp_stub_entry */
#define ZP_NEAR_STEP		(16UL << 20)
#define ZP_NEAR_TRIES		120	/* 120 * 16 MiB < 2 GiB */
#define ZP_REL32_LIMIT		((1L << 31) - (1L << 24))
#define ZP_SITE_SET_INIT	(1UL << 14)
#define ZP_POKE_SET_INIT	(1UL << 8)
#define ZP_PAGE_SIZE		4096UL
#define ZP_TEXT_MAX		256
#define ZP_CACHE_LINE		64

/* lea -128(%rsp),%rsp / lea 128(%rsp),%rsp */
static const uint8_t zp_lea_down[] = { 0x48, 0x8d, 0x64, 0x24, 0x80 };
static const uint8_t zp_lea_up[] = { 0x48, 0x8d, 0xa4, 0x24,
				     0x80, 0x00, 0x00, 0x00 };
/* lea rel32(%rip),%rcx / push %rcx / jmp *rel32(%rip) */
static const uint8_t zp_lea_rcx_rip[] = { 0x48, 0x8d, 0x0d };
#define ZP_OP_PUSH_RCX		0x51
static const uint8_t zp_jmp_rip[] = { 0xff, 0x25 };

struct zp_arena {
	uintptr_t base;
	size_t used;
};

static struct zp_arena zp_arenas[ZP_ARENA_MAX];
static int zp_narenas;
static struct zp_rewrite_stats zp_rw_stats;
static atomic_flag zp_rw_lock = ATOMIC_FLAG_INIT;
struct zp_site_set *zp_site_set;
int zp_stubs_off;
static uint64_t zp_site_count;

/* ---------------------------------------------------------------------- */
/* site set */

static inline uint64_t
zp_site_hash(uintptr_t a)
{
	/* the same as entry.S: imul with a sign-extended imm32, then shr */
	return ((uint64_t)a * (uint64_t)(int64_t)(int32_t)ZP_SITE_HASH_MUL)
		>> ZP_SITE_HASH_SHIFT;
}

static struct zp_site_set *
zp_site_set_alloc(uint64_t nslots)
{
	size_t sz = sizeof(struct zp_site_set) + nslots * sizeof(uint64_t);
	long r = zp_syscall6(SYS_mmap, 0, (long)sz, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (r < 0 && r > -4096)
		return NULL;
	((struct zp_site_set *)r)->mask = nslots - 1;
	return (struct zp_site_set *)r;
}

static void
zp_site_insert(struct zp_site_set *s, uintptr_t a)
{
	uint64_t i = zp_site_hash(a);

	for (;; i++) {
		i &= s->mask;
		if (s->slot[i] == a)
			return;
		if (s->slot[i] == 0) {
			__atomic_store_n(&s->slot[i], a, __ATOMIC_RELEASE);
			return;
		}
	}
}

static int
zp_set_has(struct zp_site_set **sp, uintptr_t a)
{
	struct zp_site_set *s = __atomic_load_n(sp, __ATOMIC_ACQUIRE);
	uint64_t i = zp_site_hash(a);

	for (;; i++) {
		i &= s->mask;
		if (s->slot[i] == a)
			return 1;
		if (s->slot[i] == 0)
			return 0;
	}
}

/* Add an address to *sp holding *count.  Caller holds the rewrite lock. */
static int
zp_set_add(struct zp_site_set **sp, uint64_t *count, uintptr_t a)
{
	struct zp_site_set *s = *sp;

	if ((*count + 1) * 2 > s->mask + 1) {
		struct zp_site_set *n = zp_site_set_alloc((s->mask + 1) * 2);
		uint64_t i;

		if (n == NULL)
			return -ENOMEM;
		for (i = 0; i <= s->mask; i++)
			if (s->slot[i] > ZP_SITE_GONE)
				zp_site_insert(n, s->slot[i]);
		/* readers may still walk the old set: it is never freed */
		__atomic_store_n(sp, n, __ATOMIC_RELEASE);
		s = n;
	}
	if (!zp_set_has(sp, a)) {
		zp_site_insert(s, a);
		(*count)++;
	}
	return 0;
}

int
zp_site_has(uintptr_t a)
{
	return zp_set_has(&zp_site_set, a);
}

/* Add a return address.  Caller holds the rewrite lock. */
int
zp_site_add(uintptr_t a)
{
	return zp_set_add(&zp_site_set, &zp_site_count, a);
}

/*
 * Remove a return address: its slot becomes ZP_SITE_GONE, which no
 * address equals and which does not end a probe (entry.S stops at 0).
 * The slot still counts as used until the set grows.  Caller holds the
 * rewrite lock.
 */
static void
zp_site_del(uintptr_t a)
{
	struct zp_site_set *s = zp_site_set;
	uint64_t i = zp_site_hash(a);

	for (;; i++) {
		i &= s->mask;
		if (s->slot[i] == a) {
			__atomic_store_n(&s->slot[i], ZP_SITE_GONE,
					 __ATOMIC_RELEASE);
			return;
		}
		if (s->slot[i] == 0)
			return;
	}
}

/*
 * poke.c's set: first bytes written with the int3 protocol, looked up by
 * its SIGTRAP handler.  Never shrinks (a trap may be delivered late).
 */
static struct zp_site_set *zp_poke_set;
static uint64_t zp_poke_count;

int
zp_poke_set_init(void)
{
	if (zp_poke_set == NULL)
		zp_poke_set = zp_site_set_alloc(ZP_POKE_SET_INIT);
	return zp_poke_set == NULL ? -ENOMEM : 0;
}

int
zp_poke_set_add(uintptr_t a)
{
	return zp_set_add(&zp_poke_set, &zp_poke_count, a);
}

int
zp_poke_set_has(uintptr_t a)
{
	return __atomic_load_n(&zp_poke_set, __ATOMIC_ACQUIRE) != NULL &&
		zp_set_has(&zp_poke_set, a);
}

/* ---------------------------------------------------------------------- */
/* disassembly */

struct zp_text {
	int on;
	size_t len;
	char buf[ZP_TEXT_MAX];
};

static int
zp_text_vadd(struct zp_text *t, const char *fmt, va_list ap)
{
	int n;

	if (!t->on || t->len >= sizeof(t->buf) - 1)
		return 0;
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	if (n > 0)
		t->len += (size_t)n;
	if (t->len > sizeof(t->buf) - 1)
		t->len = sizeof(t->buf) - 1;
	return n;
}

static int
zp_dis_printf(void *stream, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = zp_text_vadd(stream, fmt, ap);
	va_end(ap);
	return n;
}

#ifdef ZP_DISASM_STYLED
static int
zp_dis_printf_styled(void *stream, enum disassembler_style style,
		     const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)style;
	va_start(ap, fmt);
	n = zp_text_vadd(stream, fmt, ap);
	va_end(ap);
	return n;
}
#endif

static void
zp_dis_noaddr(bfd_vma vma, struct disassemble_info *info)
{
	(void)vma;
	(void)info;
}

static disassembler_ftype zp_print_insn;

int
zp_rewrite_init(void)
{
	if (zp_site_set == NULL) {
		zp_site_set = zp_site_set_alloc(ZP_SITE_SET_INIT);
		if (zp_site_set == NULL)
			return -ENOMEM;
	}
	if (zp_print_insn == NULL)
		zp_print_insn = disassembler(bfd_arch_i386, false,
					     bfd_mach_x86_64, NULL);
	return zp_print_insn == NULL ? -ENOSYS : 0;
}

static void
zp_dis_setup(struct disassemble_info *info, struct zp_text *text,
	     const uint8_t *buf, size_t len, uintptr_t vma)
{
#ifdef ZP_DISASM_STYLED
	init_disassemble_info(info, text, zp_dis_printf, zp_dis_printf_styled);
#else
	init_disassemble_info(info, text, zp_dis_printf);
#endif
	info->arch = bfd_arch_i386;
	info->mach = bfd_mach_x86_64;
	info->buffer = (bfd_byte *)buf;
	info->buffer_vma = vma;
	info->buffer_length = len;
	info->print_address_func = zp_dis_noaddr;
	disassemble_init_for_target(info);
}

/* Mnemonics after which control does not fall through to the syscall. */
static const char *const zp_branch_prefixes[] = {
	"j", "call", "ret", "loop", "iret", "sys", "int", "xbegin", "ud",
	"hlt", "enter", "leave", "bnd", "notrack",
};

/* Prefixes libopcodes prints before the mnemonic. */
static const char *const zp_prefix_words[] = {
	"lock", "rep", "repz", "repnz", "repe", "repne", "data16", "addr32",
	"cs", "ds", "es", "ss", "fs", "gs", "rex", "rex.W", "rex.R", "rex.B",
	"rex.X", "rex.WB", "rex.WR", "rex.WX", "rex.RB", "rex.RX", "rex.XB",
	"rex.WRB", "rex.WRX", "rex.WXB", "rex.RXB", "rex.WRXB",
};

/*
 * Can this instruction run elsewhere unchanged?  Not when it reads %rip
 * (relative operand) or transfers control.  fs/gs segment bases are
 * unchanged by the move, %rsp is unchanged when it runs.
 */
static int
zp_insn_movable_rip(const char *text, int rip_ok)
{
	const char *s = text;
	size_t i;

	if ((!rip_ok && strstr(text, "rip") != NULL) ||
	    strstr(text, "(bad)") != NULL)
		return 0;
	for (;;) {
		size_t n;
		int prefix = 0;

		while (*s == ' ')
			s++;
		n = strcspn(s, " ");
		for (i = 0; i < sizeof(zp_prefix_words) /
			     sizeof(zp_prefix_words[0]); i++)
			if (strlen(zp_prefix_words[i]) == n &&
			    strncmp(s, zp_prefix_words[i], n) == 0)
				prefix = 1;
		if (!prefix || s[n] == '\0')
			break;
		s += n;
	}
	for (i = 0; i < sizeof(zp_branch_prefixes) /
		     sizeof(zp_branch_prefixes[0]); i++)
		if (strncmp(s, zp_branch_prefixes[i],
			    strlen(zp_branch_prefixes[i])) == 0)
			return 0;
	return 1;
}

static int
zp_insn_movable(const char *text)
{
	return zp_insn_movable_rip(text, 0);
}

#define ZP_RING			8	/* instructions kept before a syscall */

struct zp_scan {
	struct disassemble_info info;
	struct zp_text text;
	const uint8_t *buf;
	size_t len;
	uintptr_t vma;
	zp_site_cb cb;
	void *arg;
	long insns;
	/*
	 * Forward direct-branch targets met since the scan last restarted at
	 * a function start (zp_scan_code_at), beyond the decode position;
	 * fwd_over: some were dropped, no after stubs until the next restart.
	 */
	uintptr_t fwd[ZP_FWD_MAX];
	int nfwd;
	int fwd_over;
	uintptr_t fwd_dropped_max;	/* largest target dropped (passed) */
	/* the last instructions decoded before the syscall, oldest first */
	size_t ring_off[ZP_RING];
	int ring_len[ZP_RING];
	int nring;
};

static void
zp_ring_push(struct zp_scan *sc, size_t off, int n)
{
	if (sc->nring == ZP_RING) {
		memmove(sc->ring_off, sc->ring_off + 1,
			sizeof(sc->ring_off[0]) * (ZP_RING - 1));
		memmove(sc->ring_len, sc->ring_len + 1,
			sizeof(sc->ring_len[0]) * (ZP_RING - 1));
		sc->nring--;
	}
	sc->ring_off[sc->nring] = off;
	sc->ring_len[sc->nring++] = n;
}

static int
zp_is_syscall(const uint8_t *p)
{
	return p[0] == ZP_OP_SYSCALL0 &&
		(p[1] == ZP_OP_SYSCALL1 || p[1] == ZP_OP_SYSENTER1);
}

static int
zp_scan_init(struct zp_scan *sc, const uint8_t *buf, size_t len,
	     uintptr_t vma, zp_site_cb cb, void *arg)
{
	if (zp_print_insn == NULL && zp_rewrite_init() != 0)
		return -ENOSYS;
	memset(sc, 0, sizeof(*sc));
	sc->buf = buf;
	sc->len = len;
	sc->vma = vma;
	sc->cb = cb;
	sc->arg = arg;
	zp_dis_setup(&sc->info, &sc->text, buf, len, vma);
	return 0;
}

static int
zp_decode(struct zp_scan *sc, size_t off)
{
	int n = zp_print_insn((bfd_vma)(sc->vma + off), &sc->info);

	sc->insns++;
	return n <= 0 ? 1 : n;
}

/* Decode at off with the text on; the length, 0 if not movable. */
static int
zp_decode_movable(struct zp_scan *sc, size_t off)
{
	int n;

	sc->text.on = 1;
	sc->text.len = 0;
	sc->text.buf[0] = '\0';
	n = zp_print_insn((bfd_vma)(sc->vma + off), &sc->info);
	sc->text.on = 0;
	return n > 0 && zp_insn_movable(sc->text.buf) ? n : 0;
}

static int
zp_is_legacy_prefix(uint8_t b)
{
	return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 ||
		b == 0xf3 || b == 0x2e || b == 0x3e || b == 0x26 ||
		b == 0x36 || b == 0x64 || b == 0x65 || (b & 0xf0) == 0x40;
}

/*
 * The target of the instruction of length n at off if it is a direct
 * branch (jmp/call rel32, jmp/jcc rel8, jcc rel32, loop/jrcxz), else 0.
 * The displacement is the instruction's last 1 or 4 bytes.
 */
static uintptr_t
zp_direct_target(const struct zp_scan *sc, size_t off, int n)
{
	const uint8_t *p = sc->buf + off;
	uintptr_t next = sc->vma + off + (size_t)n;
	int i = 0;
	int32_t rel32;

	while (i < n && zp_is_legacy_prefix(p[i]))
		i++;
	if (i >= n)
		return 0;
	if ((p[i] == 0xe8 || p[i] == 0xe9) && n - i == 5) {
		memcpy(&rel32, p + n - 4, sizeof(rel32));
		return next + (uintptr_t)(intptr_t)rel32;
	}
	if ((p[i] == 0xeb || (p[i] >= 0x70 && p[i] <= 0x7f) ||
	     (p[i] >= 0xe0 && p[i] <= 0xe3)) && n - i == 2)
		return next + (uintptr_t)(intptr_t)(int8_t)p[n - 1];
	if (p[i] == 0x0f && n - i == 6 && p[i + 1] >= 0x80 &&
	    p[i + 1] <= 0x8f) {
		memcpy(&rel32, p + n - 4, sizeof(rel32));
		return next + (uintptr_t)(intptr_t)rel32;
	}
	return 0;
}

/* Does a direct branch of [fn, fn_end) aim into [lo, hi)? */
static int
zp_func_targets(struct zp_scan *sc, uintptr_t fn, uintptr_t fn_end,
		uintptr_t lo, uintptr_t hi)
{
	size_t off = fn - sc->vma, end = fn_end - sc->vma;

	while (off < end) {
		int n = zp_decode(sc, off);
		uintptr_t t = zp_direct_target(sc, off, n);

		if (t >= lo && t < hi)
			return 1;
		off += (size_t)n;
	}
	return 0;
}

/* Keep the target of the instruction at off if it is a forward branch. */
static void
zp_note_target(struct zp_scan *sc, size_t off, int n)
{
	uintptr_t t = zp_direct_target(sc, off, n);
	uintptr_t next = sc->vma + off + (size_t)n;
	int i, k = 0;

	if (t <= next)
		return;
	if (sc->nfwd == ZP_FWD_MAX) {
		for (i = 0; i < sc->nfwd; i++)	/* drop those passed */
			if (sc->fwd[i] >= next)
				sc->fwd[k++] = sc->fwd[i];
			else if (sc->fwd[i] > sc->fwd_dropped_max)
				sc->fwd_dropped_max = sc->fwd[i];
		sc->nfwd = k;
	}
	if (sc->nfwd == ZP_FWD_MAX)
		sc->fwd_over = 1;
	else
		sc->fwd[sc->nfwd++] = t;
}

/*
 * Offset of the disp32 of the %rip-relative operand of the instruction
 * p[0..n), -1 if not found (VEX/EVEX/XOP encodings are not parsed).
 * ModRM mod=00 rm=101 is %rip+disp32, with no SIB; the disp32 follows.
 */
int
zp_rip_disp_off(const uint8_t *p, int n)
{
	int i = 0;

	while (i < n && zp_is_legacy_prefix(p[i]))	/* REX included */
		i++;
	if (i >= n || p[i] == 0xc4 || p[i] == 0xc5 || p[i] == 0x62 ||
	    p[i] == 0x8f)
		return -1;
	if (p[i] == 0x0f) {
		i++;
		if (i < n && (p[i] == 0x38 || p[i] == 0x3a))
			i++;
	}
	i++;				/* the opcode byte */
	if (i >= n || (p[i] & 0xc7) != 0x05 || i + 1 + 4 > n)
		return -1;
	return i + 1;
}

/* The target of a direct jmp (eb rel8, e9 rel32) at off, else 0. */
static uintptr_t
zp_direct_jmp(const struct zp_scan *sc, size_t off, int n)
{
	const uint8_t *p = sc->buf + off;
	int i = 0;

	while (i < n && zp_is_legacy_prefix(p[i]))
		i++;
	if (i < n && (p[i] == 0xeb || p[i] == 0xe9))
		return zp_direct_target(sc, off, n);
	return 0;
}

/*
 * Decode at off into m: its length if it can run in a stub (a
 * %rip-relative operand is re-encoded there; allow_jmp: a direct jmp,
 * re-encoded as jmp rel32), else 0.
 */
static int
zp_decode_move(struct zp_scan *sc, size_t off, struct zp_moved *m,
	       int allow_jmp)
{
	int n, d = -1;

	sc->text.on = 1;
	sc->text.len = 0;
	sc->text.buf[0] = '\0';
	n = zp_print_insn((bfd_vma)(sc->vma + off), &sc->info);
	sc->text.on = 0;
	if (n <= 0 || n > (int)sizeof(m->code) || off + (size_t)n > sc->len)
		return 0;
	memset(m, 0, sizeof(*m));
	m->addr = sc->vma + off;
	m->len = (uint8_t)n;
	m->disp = -1;
	memcpy(m->code, sc->buf + off, (size_t)n);
	if (allow_jmp && (m->target = zp_direct_jmp(sc, off, n)) != 0) {
		m->jmp = 1;
		return n;
	}
	if (strstr(sc->text.buf, "rip") != NULL) {
		d = zp_rip_disp_off(sc->buf + off, n);
		if (d < 0)
			return 0;
		m->disp = (int8_t)d;
	}
	return zp_insn_movable_rip(sc->text.buf, d >= 0) ? n : 0;
}

/* Is a direct branch target of the function in (lo, hi)? */
static int
zp_range_targeted(struct zp_scan *sc, uintptr_t lo, uintptr_t hi,
		  uintptr_t fn_end)
{
	int i;

	/*
	 * Too many forward targets to keep: give up (decoding the function
	 * again would read the sites patched already).
	 */
	if (sc->fwd_over || sc->fwd_dropped_max > lo)
		return 1;
	/* from fn to the syscall: decoded already, forward targets kept */
	for (i = 0; i < sc->nfwd; i++)
		if (sc->fwd[i] > lo && sc->fwd[i] < hi)
			return 1;
	/* the rest of the function */
	return zp_func_targets(sc, hi, fn_end, lo + 1, hi);
}

/*
 * How many bytes after the syscall at off can move to an after stub, 0
 * if none (see the top of the file); their instructions in st->moved.
 * Its function ends at fn_end; the scan decoded it from its start up to
 * the syscall.
 */
static int
zp_after_len(struct zp_scan *sc, size_t off, uintptr_t fn_end,
	     struct zp_site *st)
{
	uintptr_t s = sc->vma + off;
	size_t o = off + ZP_SYSCALL_LEN;
	int sum = 0, jmp = 0, i;

	st->nmoved = 0;
	if (fn_end > sc->vma + sc->len)
		return 0;
	while (sum < ZP_JMP32_LEN - ZP_SYSCALL_LEN && !jmp) {
		struct zp_moved *m = &st->moved[st->nmoved];
		int n;

		if (sc->vma + o >= fn_end || st->nmoved == ZP_MOVED_MAX)
			return 0;
		n = zp_decode_move(sc, o, m, 1);
		if (n == 0)
			return 0;
		jmp = m->jmp;
		st->nmoved++;
		sum += n;
		o += (size_t)n;
		if (sc->vma + o > fn_end || sum > ZP_AFTER_MAX)
			return 0;
	}
	if (sum < ZP_JMP32_LEN - ZP_SYSCALL_LEN)
		return 0;	/* a jmp too short to cover */
	for (i = 0; i < st->nmoved; i++)
		if (st->moved[i].jmp && st->moved[i].target > s &&
		    st->moved[i].target < sc->vma + o)
			return 0;
	return zp_range_targeted(sc, s, sc->vma + o, fn_end) ? 0 : sum;
}

/*
 * How many bytes of whole instructions right before the syscall at off
 * can move, with the syscall, to a stub entered by a jmp at their start:
 * the fewest that make 5 with the syscall, none a branch, no direct
 * branch of the function aiming inside the range but at its first byte.
 * 0 if none; their instructions in st->moved.
 */
static int
zp_before_len(struct zp_scan *sc, size_t off, uintptr_t fn_end,
	      struct zp_site *st)
{
	struct zp_moved tmp[ZP_MOVED_MAX];
	uintptr_t s = sc->vma + off;
	int k, cnt = 0, sum = 0, i;

	st->nmoved = 0;
	if (fn_end > sc->vma + sc->len)
		return 0;
	for (k = sc->nring - 1; k >= 0 &&
	     sum + ZP_SYSCALL_LEN < ZP_JMP32_LEN; k--) {
		if (cnt == ZP_MOVED_MAX ||
		    zp_decode_move(sc, sc->ring_off[k], &tmp[cnt], 0) !=
		    sc->ring_len[k])
			return 0;
		sum += sc->ring_len[k];
		cnt++;
	}
	if (sum + ZP_SYSCALL_LEN < ZP_JMP32_LEN || sum > ZP_AFTER_MAX)
		return 0;
	if (zp_range_targeted(sc, s - (uintptr_t)sum, s + ZP_SYSCALL_LEN,
			      fn_end))
		return 0;
	for (i = 0; i < cnt; i++)
		st->moved[i] = tmp[cnt - 1 - i];
	st->nmoved = cnt;
	return sum;
}

/*
 * A syscall at off, previous instruction at prev_off; fn_end the end of
 * its function when known (0: unknown).  *after_len: what may move after.
 */
static int
zp_report(struct zp_scan *sc, size_t off, size_t prev_off, int prev_len,
	  uintptr_t fn_end, int *after_len)
{
	struct zp_site s = {
		.addr = sc->vma + off,
		.prev = prev_len > 0 ? sc->vma + prev_off : 0,
		.prev_len = prev_len,
	};

	if (prev_len >= ZP_JMP32_LEN)
		s.movable = zp_decode_movable(sc, prev_off) != 0;
	if (!s.movable && fn_end != 0)
		s.after_len = zp_after_len(sc, off, fn_end, &s);
	if (!s.movable && fn_end != 0 && s.after_len == 0)
		s.before_len = zp_before_len(sc, off, fn_end, &s);
	if (after_len != NULL)
		*after_len = s.after_len;
	return sc->cb != NULL ? sc->cb(&s, sc->arg) : 0;
}

/* Linear sweep of the whole buffer. */
long
zp_scan_code(const uint8_t *buf, size_t len, uintptr_t vma,
	     zp_site_cb cb, void *arg)
{
	struct zp_scan sc;
	size_t off = 0, prev_off = 0;
	int prev_len = 0;

	if (zp_scan_init(&sc, buf, len, vma, cb, arg) != 0)
		return -ENOSYS;
	while (off < len) {
		int n = zp_decode(&sc, off);

		if (n == ZP_SYSCALL_LEN && zp_is_syscall(buf + off) &&
		    zp_report(&sc, off, prev_off, prev_len, 0, NULL) != 0)
			break;
		prev_off = off;
		prev_len = n;
		off += (size_t)n;
	}
	return sc.insns;
}

static inline uint64_t
zp_load8(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * The high bit of each byte of v that equals b (the classic "has zero
 * byte" trick).  Exact for the lowest such byte; a byte above one that
 * matched may be flagged too (borrow), never one missed.
 */
static inline uint64_t
zp_byte_eq(uint64_t v, uint8_t b)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t t = v ^ (ones * b);

	return (t - ones) & ~t & highs;
}

/*
 * Might p[0..7] start a `syscall` (0f 05) or `sysenter` (0f 34)?  Reads
 * p[0..8].  0x0f alone opens every two-byte opcode (a tenth of the bytes
 * of ordinary code); with the next byte checked too, almost every 8-byte
 * step is skipped.  False positives are checked byte by byte.
 */
static inline int
zp_maybe_syscall8(const uint8_t *p)
{
	uint64_t next = zp_load8(p + 1);

	return (zp_byte_eq(zp_load8(p), ZP_OP_SYSCALL0) &
		(zp_byte_eq(next, ZP_OP_SYSCALL1) |
		 zp_byte_eq(next, ZP_OP_SYSENTER1))) != 0;
}

/*
 * Sweep only where needed: for each candidate byte pair, decode from the
 * last known boundary (the sweep position, or the nearest function start
 * if that is further on) up to it.  With ends (the functions' ends, 0 when
 * unknown), a candidate past the end of every function before it is not
 * code we can vouch for (OpenSSL's tables live in .text) and is left
 * alone; exactly at an end is kept: glibc's clone ends its CFI right
 * before the `syscall`.
 */
long
zp_scan_code_at(const uint8_t *buf, size_t len, uintptr_t vma,
		const uintptr_t *starts, size_t nstarts, const uintptr_t *ends,
		zp_site_cb cb, void *arg)
{
	struct zp_scan sc;
	size_t pos = 0, prev_off = 0, x, si = 0;
	uintptr_t lim = ends != NULL ? 0 : UINTPTR_MAX;
	int prev_len = 0;

	if (zp_scan_init(&sc, buf, len, vma, cb, arg) != 0)
		return -ENOSYS;
	for (x = 0; x + 1 < len; x++) {
		/* skip 8 bytes at a time while no syscall can start there */
		while (x + sizeof(uint64_t) < len && !zp_maybe_syscall8(buf + x))
			x += sizeof(uint64_t);
		if (buf[x] != ZP_OP_SYSCALL0 || !zp_is_syscall(buf + x) ||
		    x < pos)
			continue;
		/* the last function start at or before x */
		while (si < nstarts && starts[si] - vma <= x) {
			if (ends != NULL && (ends[si] == 0 || ends[si] > lim))
				lim = ends[si] == 0 ? UINTPTR_MAX : ends[si];
			si++;
		}
		if (vma + x > lim)
			continue;	/* outside every function */
		if (si > 0 && starts[si - 1] - vma > pos) {
			pos = starts[si - 1] - vma;
			prev_len = 0;
			sc.nfwd = 0;
			sc.fwd_over = 0;
			sc.fwd_dropped_max = 0;
			sc.nring = 0;
		}
		while (pos < x) {
			int n = zp_decode(&sc, pos);

			zp_note_target(&sc, pos, n);
			zp_ring_push(&sc, pos, n);

			prev_off = pos;
			prev_len = n;
			pos += (size_t)n;
		}
		if (pos != x)
			continue;
		{
			int n = zp_decode(&sc, pos);

			uintptr_t fn_end = 0;
			int after = 0;

			/* its own function: it ends after the syscall */
			if (ends != NULL && si > 0 && ends[si - 1] > vma + x)
				fn_end = ends[si - 1];
			if (n == ZP_SYSCALL_LEN &&
			    zp_report(&sc, pos, prev_off, prev_len, fn_end,
				      &after) != 0)
				break;
			prev_off = pos;
			prev_len = n;
			zp_ring_push(&sc, pos, n);
			pos += (size_t)n;
			/*
			 * The callback may have written a jmp over the
			 * instructions after the syscall: never decode them
			 * again, and they are no previous instruction to move
			 */
			if (after > 0) {
				pos += (size_t)after;
				prev_len = 0;
				sc.nring = 0;
			}
		}
	}
	return sc.insns;
}

/* ---------------------------------------------------------------------- */
/* stubs */

static void
zp_put_rel32(uint8_t *p, uintptr_t next_insn, uintptr_t target)
{
	int32_t rel = (int32_t)((intptr_t)target - (intptr_t)next_insn);

	memcpy(p, &rel, sizeof(rel));
}

/*
 * At stub + o (the stub at stub_addr): skip the red zone, call the hook
 * through the slot without a return-stack entry, come back (see the top
 * of the file).  Returns the new o.
 */
static int
zp_stub_call_hook(uint8_t *stub, uintptr_t stub_addr, int o,
		  uintptr_t slot_addr)
{
	memcpy(stub + o, zp_lea_down, sizeof(zp_lea_down));
	o += sizeof(zp_lea_down);
	memcpy(stub + o, zp_lea_rcx_rip, sizeof(zp_lea_rcx_rip));
	o += sizeof(zp_lea_rcx_rip);
	/* rcx = label 1 = after lea(4) + push(1) + jmp(6) */
	zp_put_rel32(stub + o, stub_addr + (uintptr_t)o + 4,
		     stub_addr + (uintptr_t)o + 4 + 1 + sizeof(zp_jmp_rip) + 4);
	o += 4;
	stub[o++] = ZP_OP_PUSH_RCX;
	memcpy(stub + o, zp_jmp_rip, sizeof(zp_jmp_rip));
	o += sizeof(zp_jmp_rip);
	zp_put_rel32(stub + o, stub_addr + (uintptr_t)o + 4, slot_addr);
	o += 4;
	memcpy(stub + o, zp_lea_up, sizeof(zp_lea_up));
	return o + (int)sizeof(zp_lea_up);
}

/* jmp to: at stub + o; returns the new o */
static int
zp_stub_jmp(uint8_t *stub, uintptr_t stub_addr, int o, uintptr_t to)
{
	stub[o++] = ZP_OP_JMP32;
	zp_put_rel32(stub + o, stub_addr + (uintptr_t)o + 4, to);
	return o + 4;
}

/* Encode a stub at stub_addr into the buffer stub (see top of file). */
void
zp_stub_encode(uint8_t *stub, uintptr_t stub_addr, const uint8_t *insn,
	       int insn_len, uintptr_t slot_addr, uintptr_t back_addr,
	       int *out_len)
{
	int o = 0;

	memcpy(stub + o, insn, (size_t)insn_len);
	o += insn_len;
	o = zp_stub_call_hook(stub, stub_addr, o, slot_addr);
	o = zp_stub_jmp(stub, stub_addr, o, back_addr);
	ZP_ASSERT(o <= ZP_STUB_SIZE);
	*out_len = o;
}

/*
 * Encode an after stub: enter the hook, then the insn_len bytes moved from
 * after the syscall, then jmp back_addr (see top of file).
 */
void
zp_stub_encode_after(uint8_t *stub, uintptr_t stub_addr, const uint8_t *insn,
		     int insn_len, uintptr_t slot_addr, uintptr_t back_addr,
		     int *out_len)
{
	int o = 0;

	o = zp_stub_call_hook(stub, stub_addr, o, slot_addr);
	memcpy(stub + o, insn, (size_t)insn_len);
	o += insn_len;
	o = zp_stub_jmp(stub, stub_addr, o, back_addr);
	ZP_ASSERT(o <= ZP_STUB_SIZE);
	*out_len = o;
}

/* Emit m at stub + o (stub at stub_addr); the new o, -1 if out of reach. */
static int
zp_emit_moved(uint8_t *stub, uintptr_t stub_addr, int o,
	      const struct zp_moved *m)
{
	uintptr_t next = stub_addr + (uintptr_t)o + m->len;
	int64_t d;
	int32_t rel;

	if (m->jmp) {
		d = (int64_t)m->target - (int64_t)(stub_addr + (uintptr_t)o +
						   ZP_JMP32_LEN);
		if (d != (int32_t)d)
			return -1;
		stub[o] = ZP_OP_JMP32;
		zp_put_rel32(stub + o + 1, stub_addr + (uintptr_t)o +
			     ZP_JMP32_LEN, m->target);
		return o + ZP_JMP32_LEN;
	}
	memcpy(stub + o, m->code, m->len);
	if (m->disp >= 0) {
		/* same target from the new place */
		memcpy(&rel, m->code + m->disp, sizeof(rel));
		d = (int64_t)(m->addr + m->len) + rel - (int64_t)next;
		if (d != (int32_t)d)
			return -1;
		rel = (int32_t)d;
		memcpy(stub + o + m->disp, &rel, sizeof(rel));
	}
	return o + m->len;
}

int
zp_stub_encode_moved(uint8_t *stub, uintptr_t stub_addr,
		     const struct zp_moved *before, int nb,
		     const struct zp_moved *after, int na,
		     uintptr_t slot_addr, uintptr_t back_addr)
{
	int o = 0, i;

	for (i = 0; i < nb && o >= 0; i++)
		o = zp_emit_moved(stub, stub_addr, o, &before[i]);
	if (o < 0)
		return -1;
	o = zp_stub_call_hook(stub, stub_addr, o, slot_addr);
	for (i = 0; i < na; i++) {
		o = zp_emit_moved(stub, stub_addr, o, &after[i]);
		if (o < 0)
			return -1;
		if (after[i].jmp)
			return o;	/* it goes on from there */
	}
	o = zp_stub_jmp(stub, stub_addr, o, back_addr);
	ZP_ASSERT(o <= ZP_STUB_SIZE);
	return o;
}

static int
zp_near(uintptr_t a, uintptr_t b)
{
	intptr_t d = (intptr_t)a - (intptr_t)b;

	return d < ZP_REL32_LIMIT && d > -ZP_REL32_LIMIT;
}

static struct zp_arena *
zp_arena_new(uintptr_t near)
{
	struct zp_arena *ar;
	int k, dir;

	if (zp_narenas == ZP_ARENA_MAX)
		return NULL;
	for (k = 1; k <= ZP_NEAR_TRIES; k++) {
		for (dir = -1; dir <= 1; dir += 2) {
			uintptr_t hint = (near & ~(ZP_PAGE_SIZE - 1)) +
				(uintptr_t)(dir * k) * ZP_NEAR_STEP;
			long r;

			if (dir < 0 && near < (uintptr_t)k * ZP_NEAR_STEP +
			    ZP_NEAR_STEP)
				continue;
			r = zp_syscall6(SYS_mmap, (long)hint, ZP_ARENA_SIZE,
					PROT_READ | PROT_WRITE | PROT_EXEC,
					MAP_PRIVATE | MAP_ANONYMOUS |
					MAP_FIXED_NOREPLACE, -1, 0);
			if (r == (long)hint) {
				ar = &zp_arenas[zp_narenas++];
				ar->base = hint;
				ar->used = ZP_ARENA_HDR;
				*(uintptr_t *)hint = (uintptr_t)zp_stub_entry;
				return ar;
			}
			if (r >= 0 || r < -4095)
				zp_syscall6(SYS_munmap, r, ZP_ARENA_SIZE, 0, 0,
					    0, 0);
		}
	}
	return NULL;
}

static uintptr_t
zp_stub_alloc(uintptr_t near, uintptr_t *slot)
{
	struct zp_arena *ar = NULL;
	int i;

	for (i = 0; i < zp_narenas; i++) {
		if (zp_arenas[i].used + ZP_STUB_SIZE <= ZP_ARENA_SIZE &&
		    zp_near(zp_arenas[i].base, near) &&
		    zp_near(zp_arenas[i].base + ZP_ARENA_SIZE, near)) {
			ar = &zp_arenas[i];
			break;
		}
	}
	if (ar == NULL)
		ar = zp_arena_new(near);
	if (ar == NULL)
		return 0;
	ar->used += ZP_STUB_SIZE;
	*slot = ar->base;
	return ar->base + ar->used - ZP_STUB_SIZE;
}

static int
zp_is_arena(uintptr_t a)
{
	int i;

	for (i = 0; i < zp_narenas; i++)
		if (a >= zp_arenas[i].base &&
		    a < zp_arenas[i].base + ZP_ARENA_SIZE)
			return 1;
	return 0;
}

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
	while (atomic_flag_test_and_set_explicit(&zp_rw_lock,
						 memory_order_acquire))
		zp_syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
}

static void
zp_rw_lock_drop(void)
{
	atomic_flag_clear_explicit(&zp_rw_lock, memory_order_release);
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

/* ---------------------------------------------------------------------- */
/* giving back the pages the scan read */

#define ZP_PM_PRESENT		(1ULL << 63)
#define ZP_PM_FILE		(1ULL << 61)	/* file page or shared anon */
#define ZP_PM_CHUNK		128		/* pagemap entries per read */
#define ZP_DROP_MIN		(16 * ZP_PAGE_SIZE)

/*
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
struct zp_resident {
	uintptr_t start;
	size_t npages;
	uint64_t *bits;		/* a bit per page: mapped before the scan */
	size_t map_len;
	int fd;			/* /proc/self/pagemap */
};

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

static void
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
	if (a < 0 && a > -4096)
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
static void
zp_resident_after(struct zp_resident *r, int keep)
{
	if (r->fd < 0)
		return;
	if (!keep)
		zp_pagemap_walk(r, zp_drop_clean);
	zp_syscall6(SYS_close, r->fd, 0, 0, 0, 0, 0);
	zp_syscall6(SYS_munmap, (long)r->bits, (long)r->map_len, 0, 0, 0, 0);
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
		f->lazy_ok = m->is_private && m->path[0] != '[';
		if (strcmp(m->path, "[heap]") == 0 ||
		    strncmp(m->path, "[stack", 6) == 0 ||
		    strncmp(m->path, "[anon", 5) == 0)
			f->lazy_ok = m->is_private;
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
static int zp_lazy_forgetting;	/* forgets in progress: patch nothing */

/* From now on the calls that change mappings run the C path. */
static void
zp_lazy_route(void)
{
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
	if (atomic_flag_test_and_set_explicit(&zp_rw_lock,
					      memory_order_acquire))
		return -EAGAIN;
	if (__atomic_load_n(&zp_lazy_forgetting, __ATOMIC_ACQUIRE) > 0)
		goto out;
	r = -ENOSPC;
	if (zp_lazy_count >= ZP_LAZY_MAX)
		goto out;
	zp_maps_foreach(zp_find_map_cb, &f);
	r = -EPERM;
	if (!f.found || !f.lazy_ok || !(f.prot & PROT_EXEC))
		goto out;
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
			if (__atomic_add_fetch(&zp_lazy_count, 1,
					       __ATOMIC_RELEASE) == 1)
				zp_lazy_route();
			zp_rw_stats.sites_lazy++;
		}
	}
	if (!(f.prot & PROT_WRITE))
		zp_lazy_prot(addr, f.prot);
out:
	zp_rw_lock_drop();
	return (int)r;
}

/* The range a mapping call is about to change; 0 if none. */
static int
zp_lazy_range(long nr, long a1, long a2, long a4, uintptr_t *lo,
	      uintptr_t *hi)
{
	switch (nr) {
	case SYS_mmap:
		if (!(a4 & MAP_FIXED))
			return 0;
		break;
	case SYS_munmap:
	case SYS_mremap:
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		break;
	default:
		return 0;
	}
	*lo = (uintptr_t)a1;
	*hi = (uintptr_t)a1 + (uintptr_t)a2;
	return *hi > *lo;
}

/*
 * Before munmap, mremap, mprotect, pkey_mprotect or mmap(MAP_FIXED):
 * every lazy site in the range gets its syscall back (unless the range
 * is about to go away) and leaves the site set.  No site is patched
 * until zp_lazy_forget_end(), after the call.  Returns what to pass it.
 */
int
zp_lazy_forget_begin(long nr, long a1, long a2, long a4)
{
	uintptr_t lo, hi;
	int i;

	if (__atomic_load_n(&zp_lazy_count, __ATOMIC_ACQUIRE) == 0 ||
	    !zp_lazy_range(nr, a1, a2, a4, &lo, &hi))
		return 0;
	__atomic_add_fetch(&zp_lazy_forgetting, 1, __ATOMIC_ACQ_REL);
	zp_rw_lock_take();
	for (i = 0; i < zp_lazy_count; i++) {
		uintptr_t a = zp_lazy_sites[i];
		uint8_t *p = (uint8_t *)a;
		uint8_t sc[ZP_SYSCALL_LEN] = { ZP_OP_SYSCALL0, zp_lazy_op[i] };

		if (a < lo || a >= hi)
			continue;
		if (nr == SYS_mprotect || nr == SYS_pkey_mprotect ||
		    nr == SYS_mremap) {
			struct zp_find_map f = { .addr = a };

			zp_maps_foreach(zp_find_map_cb, &f);
			if (f.found && (f.prot & PROT_WRITE ||
					zp_lazy_prot(a, PROT_READ | PROT_WRITE |
						     PROT_EXEC) == 0)) {
				if (p[0] == ZP_OP_CALL_RAX0 &&
				    p[1] == ZP_OP_CALL_RAX1)
					zp_poke(p, sc, sizeof(sc), 0);
				if (!(f.prot & PROT_WRITE))
					zp_lazy_prot(a, f.prot);
			}
		}
		zp_site_del(a + ZP_SYSCALL_LEN);
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
