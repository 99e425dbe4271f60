/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * regs.c - checks that a hooked syscall leaves every register but rax, rcx
 * and r11 as it was (general, ymm0-15, zmm0-31 with AVX-512), and reports
 * what happened to the red zone.  Prints one line per check; exits 1 on a
 * register mismatch.  hooks_test.py runs it natively and under zpnet.
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NGPR		12
#define NVEC		32
#define VEC_BYTES	64
#define YMM_REGS	16
#define YMM_BYTES	32
#define V_TRAMP		1
#define V_AVX512	2
#define V_AFTER		4
#define V_BEFORE	8
#define V_AFTER_RIP	16
#define V_AFTER_JMP	32

struct zp_regs {
	uint64_t gpr[NGPR];
	uint8_t pad[128 - NGPR * 8];
	uint8_t vec[NVEC][VEC_BYTES];
} __attribute__((aligned(64)));

void zp_regs_run(const struct zp_regs *in, struct zp_regs *out, int variant);
unsigned int zp_redzone_run(int variant);
extern uint64_t regs_rip;

static const char *
variant_name(int v)
{
	return v & V_TRAMP ? "trampoline" : v & V_AFTER ? "after" :
		v & V_BEFORE ? "before" : v & V_AFTER_RIP ? "after-rip" :
		v & V_AFTER_JMP ? "after-jmp" : "stub";
}

static const char *const gpr_names[NGPR] = {
	"rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r12", "r13",
	"r14", "r15",
};

static int
has_avx512f(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b >> 16) & 1;
}

static int
check(int variant)
{
	static struct zp_regs in, out;
	int nvec = variant & V_AVX512 ? NVEC : YMM_REGS;
	int vbytes = variant & V_AVX512 ? VEC_BYTES : YMM_BYTES;
	int i, j, bad = 0;

	for (i = 0; i < NGPR; i++)
		in.gpr[i] = 0x0123456789abcdefULL ^ ((uint64_t)(i + 1) << 56) ^
			(uint64_t)(i * 0x1111);
	for (i = 0; i < NVEC; i++)
		for (j = 0; j < VEC_BYTES; j++)
			in.vec[i][j] = (uint8_t)(i * 37 + j * 11 + 1);
	memset(&out, 0, sizeof(out));
	regs_rip = 0;
	zp_regs_run(&in, &out, variant);
	if ((variant & V_AFTER_RIP) && regs_rip != (uint64_t)(uintptr_t)&out) {
		printf("  %%rip-relative load read %#lx\n",
		       (unsigned long)regs_rip);
		bad++;
	}
	for (i = 0; i < NGPR; i++)
		if (in.gpr[i] != out.gpr[i]) {
			printf("  %s changed: %#lx -> %#lx\n", gpr_names[i],
			       (unsigned long)in.gpr[i],
			       (unsigned long)out.gpr[i]);
			bad++;
		}
	for (i = 0; i < nvec; i++)
		if (memcmp(in.vec[i], out.vec[i], (size_t)vbytes) != 0) {
			printf("  %s%d changed\n", variant & V_AVX512 ? "zmm" :
			       "ymm", i);
			bad++;
		}
	printf("regs %s %s: %s\n", variant_name(variant),
	       variant & V_AVX512 ? "zmm0-31" : "ymm0-15",
	       bad ? "CHANGED" : "ok");
	return bad;
}

int
main(void)
{
	int bad = 0;

	static const int shapes[] = { 0, V_TRAMP, V_AFTER, V_BEFORE,
				      V_AFTER_RIP, V_AFTER_JMP };
	static const char *const rz[] = { "stub", "trampoline", "after",
					  "before", "after-rip", "after-jmp" };
	unsigned int i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		bad += check(shapes[i]);
	if (has_avx512f())
		for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
			bad += check(V_AVX512 | shapes[i]);
	for (i = 0; i < sizeof(rz) / sizeof(rz[0]); i++)
		printf("redzone %s: %#x\n", rz[i], zp_redzone_run((int)i));
	return bad ? 1 : 0;
}
