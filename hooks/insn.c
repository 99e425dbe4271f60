/*
 * insn.c - the length of an x86-64 instruction, from its bytes alone.
 *
 * The rewriter walks every function that holds a candidate `syscall` from
 * its start to the candidate (decode.c): it needs each instruction's
 * length there, nothing else. libopcodes, which decode.c keeps for the
 * few instructions it moves into stubs, formats the text of every
 * instruction it decodes: some 400 ns each, most of the engine's start-up.
 * This decoder reads prefixes, the opcode map, ModRM/SIB/displacement and
 * the immediate, in 64-bit mode, and gives the length libopcodes gives:
 * unit_hooks checks the two agree on every instruction of every function
 * of the system's libraries. Bytes libopcodes calls "(bad)" are 1 byte
 * long here too, as far as they are known.
 *
 * Intel SDM vol. 2, appendix A (opcode maps) and 2.2-2.3 (REX, VEX), 2.7
 * (EVEX); AMD APM vol. 3, 1.8 (XOP).
 */
#include <stdint.h>
#include <stddef.h>

#include "zp_rewrite.h"

#define ZP_INSN_MAX	15

/* immediate kinds */
enum {
	I_NONE = 0,
	I_B,		/* 1 byte */
	I_W,		/* 2 bytes */
	I_Z,		/* 2 with 66 (and no REX.W), else 4; also call and
			 * jmp rel: libopcodes reads 66 e8 as rel16 (AMD64) */
	I_V,		/* 8 with REX.W, 2 with 66, else 4 (mov reg, imm) */
	I_WB,		/* enter: 2 + 1 */
	I_M,		/* moffs: 8, 4 with 67 */
	I_GRP3,		/* f6/f7: an immediate only for /0 and /1 */
	I_BAD,		/* invalid in 64-bit mode: 1 byte, as "(bad)" */
};

/* One-byte map: has a ModRM byte (bit), and the immediate kind. */
static const uint8_t one_modrm[32] = {
	/* 00-0f: alu ops /r at 0-3 and 8-b */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,	/* 00-3f */
	0x00, 0x00,					/* 40-4f REX */
	0x00, 0x00,					/* 50-5f */
	0x08, 0x0a,	/* 63 movsxd; 69, 6b imul */
	0x00, 0x00,					/* 70-7f */
	0xff, 0xff,					/* 80-8f */
	0x00, 0x00,					/* 90-9f */
	0x00, 0x00,					/* a0-af */
	0x00, 0x00,					/* b0-bf */
	0xc3, 0x00,	/* c0 c1 c6 c7 */
	0x0f, 0xff,	/* d0-d3, d8-df */
	0x00, 0x00,					/* e0-ef */
	0xc0, 0xc0,	/* f6 f7, fe ff */
};

static const uint8_t one_imm[256] = {
	[0x04] = I_B, [0x05] = I_Z, [0x0c] = I_B, [0x0d] = I_Z,
	[0x14] = I_B, [0x15] = I_Z, [0x1c] = I_B, [0x1d] = I_Z,
	[0x24] = I_B, [0x25] = I_Z, [0x2c] = I_B, [0x2d] = I_Z,
	[0x34] = I_B, [0x35] = I_Z, [0x3c] = I_B, [0x3d] = I_Z,
	[0x06] = I_BAD, [0x07] = I_BAD, [0x0e] = I_BAD,
	[0x16] = I_BAD, [0x17] = I_BAD, [0x1e] = I_BAD, [0x1f] = I_BAD,
	[0x27] = I_BAD, [0x2f] = I_BAD, [0x37] = I_BAD, [0x3f] = I_BAD,
	[0x60] = I_BAD, [0x61] = I_BAD,
	[0x68] = I_Z, [0x69] = I_Z, [0x6a] = I_B, [0x6b] = I_B,
	[0x70 ... 0x7f] = I_B,
	[0x80] = I_B, [0x81] = I_Z, [0x82] = I_BAD, [0x83] = I_B,
	[0x9a] = I_BAD,
	[0xa0 ... 0xa3] = I_M,
	[0xa8] = I_B, [0xa9] = I_Z,
	[0xb0 ... 0xb7] = I_B, [0xb8 ... 0xbf] = I_V,
	[0xc0] = I_B, [0xc1] = I_B, [0xc2] = I_W, [0xc6] = I_B, [0xc7] = I_Z,
	[0xc8] = I_WB, [0xca] = I_W, [0xcd] = I_B, [0xce] = I_BAD,
	[0xd4] = I_BAD, [0xd5] = I_BAD, [0xd6] = I_BAD,
	[0xe0 ... 0xe7] = I_B, [0xe8] = I_Z, [0xe9] = I_Z, [0xea] = I_BAD,
	[0xeb] = I_B,
	[0xf6] = I_GRP3, [0xf7] = I_GRP3,
};

/* Two-byte map (0f xx): no ModRM (bit set), immediate byte (bit set). */
static const uint8_t two_no_modrm[32] = {
	0xe0, 0x4b,	/* 05-07; 08 09 0b 0e */
	0x00, 0x00,	/* 10-1f */
	0x00, 0x00,	/* 20-2f */
	0xff, 0x00,	/* 30-37 */
	0x00, 0x00,	/* 40-4f */
	0x00, 0x00,	/* 50-5f */
	0x00, 0x00,	/* 60-6f */
	0x80, 0x00,	/* 77 */
	0xff, 0xff,	/* 80-8f jcc rel32 */
	0x00, 0x00,	/* 90-9f */
	0x07, 0x07,	/* a0-a2, a8-aa */
	0x00, 0x00,	/* b0-bf */
	0x00, 0xff,	/* c8-cf bswap */
	0x00, 0x00,	/* d0-df */
	0x00, 0x00,	/* e0-ef */
	0x00, 0x00,	/* f0-ff */
};

static const uint8_t two_imm8[32] = {
	0x00, 0x80,	/* 0f (3DNow!: the opcode is a trailing byte) */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00,
	0x0f, 0x00,	/* 70-73 */
	0x00, 0x00,
	0x00, 0x00,
	0x10, 0x10,	/* a4, ac */
	0x00, 0x04,	/* ba */
	0x74, 0x00,	/* c2, c4-c6 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static inline int
bit(const uint8_t *map, uint8_t b)
{
	return (map[b >> 3] >> (b & 7)) & 1;
}

/* ModRM (at p[0]) with its SIB and displacement: their length, or 0 if
 * they do not fit in avail. */
static int
modrm_len(const uint8_t *p, size_t avail)
{
	uint8_t m, mod, rm;
	int n = 1;

	if (avail < 1)
		return 0;
	m = p[0];
	mod = m >> 6;
	rm = m & 7;
	if (mod == 3)
		return 1;
	if (rm == 4) {		/* SIB */
		if (avail < 2)
			return 0;
		n++;
		if (mod == 0 && (p[1] & 7) == 5)
			n += 4;
	} else if (mod == 0 && rm == 5) {
		n += 4;		/* %rip + disp32 */
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2)
		n += 4;
	return (size_t)n <= avail ? n : 0;
}

/* VEX/EVEX/XOP maps: has an imm8 (the rest take a ModRM and none). */
static int
vex_imm(unsigned int map, uint8_t op)
{
	if (map == 3 || map == 8)
		return 1;
	if (map == 0xa)
		return 4;
	if (map == 1)
		return (op >= 0x70 && op <= 0x73) || op == 0xc2 ||
		       (op >= 0xc4 && op <= 0xc6);
	return 0;
}

/*
 * A VEX (c4, c5), EVEX (62) or XOP (8f) instruction whose prefix starts at
 * p[i]: its total length from p[0], or 0 when it does not fit.
 */
static int
vex_len(const uint8_t *p, size_t avail, int i)
{
	uint8_t kind = p[i], op;
	unsigned int map;
	int n, m;

	switch (kind) {
	case 0xc5:
		map = 1;
		i += 2;
		break;
	case 0xc4:
	case 0x8f:
		if ((size_t)i + 2 >= avail)
			return 0;
		map = p[i + 1] & 0x1f;
		i += 3;
		break;
	default:	/* 0x62 */
		if ((size_t)i + 3 >= avail)
			return 0;
		map = p[i + 1] & 0x07;
		i += 4;
		break;
	}
	if ((size_t)i >= avail)
		return 0;
	op = p[i++];
	/* vzeroupper/vzeroall: the only VEX instruction without ModRM */
	if (map == 1 && op == 0x77 && kind != 0x62)
		return i;
	m = modrm_len(p + i, avail - (size_t)i);
	if (m == 0)
		return 0;
	n = i + m + vex_imm(map, op);
	return (size_t)n <= avail ? n : 0;
}

int
zp_insn_len(const uint8_t *p, size_t avail)
{
	int i = 0, opsize = 0, addrsize = 0, repne = 0, rexw = 0, n, m, imm;
	uint8_t op;

	if (avail > ZP_INSN_MAX)
		avail = ZP_INSN_MAX;
	/* legacy prefixes and REX; a REX counts only right before the opcode */
	for (;; i++) {
		if ((size_t)i >= avail)
			return 0;
		op = p[i];
		if ((op & 0xf0) == 0x40) {
			rexw = (op & 0x08) != 0;
			continue;
		}
		if (op == 0x66)
			opsize = 1;
		else if (op == 0x67)
			addrsize = 1;
		else if (op == 0xf2)
			repne = 1;
		else if (op != 0xf0 && op != 0xf3 && op != 0x2e &&
			 op != 0x36 && op != 0x3e && op != 0x26 && op != 0x64 &&
			 op != 0x65)
			break;
		rexw = 0;
	}
	/* fwait before an x87 instruction: libopcodes reads one (fstcw) */
	if (op == 0x9b && i == 0 && avail > 1 && p[1] >= 0xd8 && p[1] <= 0xdf) {
		n = zp_insn_len(p + 1, avail - 1);
		return n > 0 ? n + 1 : 0;
	}
	if (op == 0xc4 || op == 0xc5 || op == 0x62)
		return vex_len(p, avail, i);
	/* 8f: XOP when its map field is 8 or more, else pop Ev */
	if (op == 0x8f && (size_t)i + 1 < avail && (p[i + 1] & 0x1f) >= 8)
		return vex_len(p, avail, i);
	i++;
	if (op == 0x0f) {
		if ((size_t)i >= avail)
			return 0;
		op = p[i++];
		if (op == 0x38 || op == 0x3a) {	/* three-byte maps */
			int imm8 = op == 0x3a;

			if ((size_t)i >= avail)
				return 0;
			i++;
			m = modrm_len(p + i, avail - (size_t)i);
			n = i + m + imm8;
			return m != 0 && (size_t)n <= avail ? n : 0;
		}
		if (bit(two_no_modrm, op)) {
			/* jcc rel32 (rel16 with 66, as libopcodes reads it) */
			n = i + (op >= 0x80 && op <= 0x8f ?
				 (opsize && !rexw ? 2 : 4) : 0);
			return (size_t)n <= avail ? n : 0;
		}
		m = modrm_len(p + i, avail - (size_t)i);
		if (m == 0)
			return 0;
		imm = bit(two_imm8, op);
		/* extrq/insertq (SSE4a, 66 or f2 0f 78): two imm8 */
		if (op == 0x78 && (opsize || repne))
			imm = 2;
		n = i + m + imm;
		return (size_t)n <= avail ? n : 0;
	}
	imm = one_imm[op];
	if (imm == I_BAD)
		return 1;
	n = i;
	if (bit(one_modrm, op)) {
		m = modrm_len(p + i, avail - (size_t)i);
		if (m == 0)
			return 0;
		if (imm == I_GRP3)
			imm = ((p[i] >> 3) & 7) < 2 ? (op == 0xf6 ? I_B : I_Z) :
			      I_NONE;
		n += m;
	}
	switch (imm) {
	case I_B:
		n += 1;
		break;
	case I_W:
		n += 2;
		break;
	case I_Z:
		n += opsize && !rexw ? 2 : 4;
		break;
	case I_V:
		n += rexw ? 8 : opsize ? 2 : 4;
		break;
	case I_WB:
		n += 3;
		break;
	case I_M:
		n += addrsize ? 4 : 8;
		break;
	default:
		break;
	}
	return (size_t)n <= avail ? n : 0;
}
