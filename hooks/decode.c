/*
 * decode.c - find syscall instructions with libopcodes, and what may move
 * to a stub (stubs.c) around each.
 *
 * zp_scan_code_at() decodes only from known instruction boundaries, the
 * functions' starts from .eh_frame_hdr (elf.c), up to each candidate
 * `syscall` (0f 05) or `sysenter` (0f 34) byte pair.  zp_scan_code(), a
 * linear sweep of a whole buffer, is kept as the unit tests' reference for
 * it.  Neither patches anything: each site goes to a callback
 * (rewrite.c's zp_patch_cb).
 *
 * When the instruction just before the syscall is at least 5 bytes long,
 * not a branch and not %rip-relative (the usual `mov $nr, %eax` of libc
 * wrappers), it can move to a stub and leave room for `jmp stub`.
 *
 * Otherwise, inside a function known from .eh_frame_hdr (start and end),
 * the instructions right after the syscall may move instead ("after"
 * stubs): the fewest whole instructions that make the syscall's 2 bytes
 * up to 5, all inside the function, none a branch but a last direct jmp
 * (re-encoded as jmp rel32 from the stub), %rip-relative ones re-encoded
 * for the stub's address (refused out of +-2 GiB), and no direct branch
 * (jmp/jcc/call/loop rel) of that function aiming at any byte of the
 * range but its first; when nothing after can move, the fewest before it
 * ("before" stubs), with the same checks.  An indirect branch (jump
 * table) or a branch from another function into the range cannot be
 * seen: libc has none (checked over every direct branch of the object,
 * README).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <dis-asm.h>

#include "zp_rewrite.h"

#define ZP_TEXT_MAX		256
#define ZP_FWD_MAX		128	/* forward branch targets kept */
#define ZP_AFTER_MAX		16	/* moved bytes that fit an after stub */

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

/* ---------------------------------------------------------------------- */
/* instructions */

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

/* ---------------------------------------------------------------------- */
/* scanning */

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

/* The length of the instruction at off (insn.c: libopcodes's length,
 * without its text); past the buffer, 1, as libopcodes's error is. */
static int
zp_decode(struct zp_scan *sc, size_t off)
{
	int n = zp_insn_len(sc->buf + off, sc->len - off);

	sc->insns++;
	return n <= 0 ? 1 : n;
}

long
zp_insn_len_check(const uint8_t *buf, size_t len, uintptr_t vma, size_t off,
		  size_t end, size_t *bad, int *want, int *got)
{
	struct zp_scan sc;
	long count = 0;

	if (zp_scan_init(&sc, buf, len, vma, NULL, NULL) != 0)
		return -ENOSYS;
	*bad = end;
	while (off < end) {
		int a = zp_print_insn((bfd_vma)(vma + off), &sc.info);
		int b = zp_insn_len(buf + off, len - off);

		a = a <= 0 ? 1 : a;
		b = b <= 0 ? 1 : b;
		count++;
		if (a != b) {
			*bad = off;
			*want = a;
			*got = b;
			break;
		}
		off += (size_t)a;
	}
	return count;
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

/*
 * Linear sweep of the whole buffer.  The rewriter does not use it (it
 * reads data and the middle of instructions as code): it is the unit
 * tests' reference for zp_scan_code_at(), which must find the same sites
 * in libc.
 */
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
		/* on to where a syscall may start; both of its bytes here */
		x = zp_next_syscall_sse2(buf, x, len);
		if (x + 1 >= len)
			break;
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
