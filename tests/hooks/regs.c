/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * regs.c - checks that a hooked syscall leaves every register but rax, rcx
 * and r11 as it was (general, ymm0-15, zmm0-31 and k1/k7 with AVX-512,
 * MXCSR and the x87 control word), and reports
 * what happened to the red zone.  Prints one line per check; exits 1 on a
 * register mismatch.  hooks_test.py runs it natively and under zpnet.
 *
 * Built with -DREGS_SENDTO (and regs.S with REGS_NR 44) the syscall is
 * sendto(fd, 64 bytes, 0, ADDR:PORT) with real arguments in the argument
 * registers: `hooks_regs_sendto ADDR PORT` runs every shape once on a UDP
 * socket (under zpnet a stack socket, the call served by the stack with
 * the vector state saved around it) and once on /dev/null (a served number
 * that bond's gate gives back to the kernel: ENOTSOCK).  No red-zone lines.
 *
 * Built with -DREGS_RECVFROM (REGS_NR 45) the syscall is recvfrom(fd, 64
 * bytes, MSG_DONTWAIT) on a bound UDP socket that gets nothing: `hooks_regs_
 * recvfrom` runs every shape right after a recv() has polled the stack,
 * so under zpnet bond_dispatch answers EAGAIN without the lock or the
 * vector save (stack.recv_eagain_lockfree counts them).
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#if defined(REGS_SENDTO) || defined(REGS_RECVFROM)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

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

/* indexes into gpr[] of the argument registers (layout in regs.S) */
enum { GPR_RDX = 1, GPR_RSI = 2, GPR_RDI = 3, GPR_R8 = 5, GPR_R9 = 6,
       GPR_R10 = 7 };

#if defined(REGS_SENDTO) || defined(REGS_RECVFROM)
#define MSG_LEN	64
static long send_fd;
static char send_msg[MSG_LEN];
#endif
#ifdef REGS_SENDTO
static struct sockaddr_in send_to;
#endif
/* what the lines are about, before the shape ("sendto-socket ") */
static const char *regs_what = "";

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

/*
 * The control state around the call: MXCSR (round toward zero,
 * flush-to-zero) and the x87 control word (53-bit precision) away from
 * their defaults, the x87 status word with its precision flag set, and
 * with AVX-512 the opmasks k1-k7; the same after it.
 * (Nothing in between is compiled for AVX-512 or changes the modes.)
 */
#define MXCSR_TEST	0x7f80		/* default 0x1f80 + RC=11 + FTZ */
#define MXCSR_DEFAULT	0x1f80
#define FCW_TEST	0x027f		/* default 0x037f, 53-bit precision */
#define FCW_DEFAULT	0x037f
#define FSW_PE		0x0020		/* x87 precision (inexact) flag */
static unsigned short fsw_test;	/* after ctl_set: PE (and C1), TOP 0 */
#define MXCSR_CONTROL	0xffc0		/* not the exception flags */

static void
ctl_set(int variant)
{
	unsigned int mx = MXCSR_TEST;
	unsigned short cw = FCW_TEST;
	uint64_t k;
	float f;

	__asm__ volatile ("ldmxcsr %0" : : "m"(mx));
	__asm__ volatile ("fldcw %0" : : "m"(cw));
	/* the x87 status word: precision (inexact) only, pi stored to a
	 * float */
	__asm__ volatile ("fnclex\n\tfldpi\n\tfstps %0\n\tfnstsw %1"
			  : "=m"(f), "=m"(fsw_test));
	if (variant & V_AVX512) {
		k = 0x1111111111111111ULL;
		__asm__ volatile ("kmovq %0, %%k1" : : "r"(k));
		k = 0x7777777777777777ULL;
		__asm__ volatile ("kmovq %0, %%k7" : : "r"(k));
	}
}

static int
ctl_check(int variant)
{
	unsigned int mx, def = MXCSR_DEFAULT;
	unsigned short cw, cwdef = FCW_DEFAULT, sw;
	uint64_t k1 = 0, k7 = 0;
	int bad = 0;

	__asm__ volatile ("stmxcsr %0" : "=m"(mx));
	__asm__ volatile ("fnstcw %0" : "=m"(cw));
	__asm__ volatile ("fnstsw %0\n\tfnclex" : "=m"(sw));
	if (variant & V_AVX512) {
		__asm__ volatile ("kmovq %%k1, %0" : "=r"(k1));
		__asm__ volatile ("kmovq %%k7, %0" : "=r"(k7));
	}
	__asm__ volatile ("ldmxcsr %0" : : "m"(def));
	__asm__ volatile ("fldcw %0" : : "m"(cwdef));
	if ((mx & MXCSR_CONTROL) != (MXCSR_TEST & MXCSR_CONTROL)) {
		printf("  mxcsr changed: %#x -> %#x\n", MXCSR_TEST, mx);
		bad++;
	}
	if (cw != FCW_TEST) {
		printf("  x87 control word changed: %#x -> %#x\n", FCW_TEST, cw);
		bad++;
	}
	if (sw != fsw_test || !(sw & FSW_PE)) {
		printf("  x87 status word changed: %#x -> %#x\n", fsw_test, sw);
		bad++;
	}
	if ((variant & V_AVX512) && (k1 != 0x1111111111111111ULL ||
				     k7 != 0x7777777777777777ULL)) {
		printf("  k1/k7 changed: %#lx %#lx\n", (unsigned long)k1,
		       (unsigned long)k7);
		bad++;
	}
	return bad;
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
#ifdef REGS_SENDTO
	in.gpr[GPR_RDI] = (uint64_t)send_fd;
	in.gpr[GPR_RSI] = (uint64_t)(uintptr_t)send_msg;
	in.gpr[GPR_RDX] = MSG_LEN;
	in.gpr[GPR_R10] = 0;
	in.gpr[GPR_R8] = (uint64_t)(uintptr_t)&send_to;
	in.gpr[GPR_R9] = sizeof(send_to);
#endif
#ifdef REGS_RECVFROM
	in.gpr[GPR_RDI] = (uint64_t)send_fd;
	in.gpr[GPR_RSI] = (uint64_t)(uintptr_t)send_msg;
	in.gpr[GPR_RDX] = MSG_LEN;
	in.gpr[GPR_R10] = MSG_DONTWAIT;
	in.gpr[GPR_R8] = 0;
	in.gpr[GPR_R9] = 0;
#endif
	memset(&out, 0, sizeof(out));
	regs_rip = 0;
#ifdef REGS_RECVFROM
	/* the stack polled just now (MSG_TRUNC is not a flag of the
	 * lock-free answer: this one takes the lock and polls the port):
	 * the probe's call is answered lock-free */
	recv((int)send_fd, send_msg, MSG_LEN, MSG_DONTWAIT | MSG_TRUNC);
#endif
	ctl_set(variant);
	zp_regs_run(&in, &out, variant);
	bad += ctl_check(variant);
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
	printf("regs %s%s %s: %s\n", regs_what, variant_name(variant),
	       variant & V_AVX512 ? "zmm0-31" : "ymm0-15",
	       bad ? "CHANGED" : "ok");
	return bad;
}

static int
check_all(void)
{
	static const int shapes[] = { 0, V_TRAMP, V_AFTER, V_BEFORE,
				      V_AFTER_RIP, V_AFTER_JMP };
	unsigned int i;
	int bad = 0;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		bad += check(shapes[i]);
	if (has_avx512f())
		for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
			bad += check(V_AVX512 | shapes[i]);
	return bad;
}

#ifdef REGS_SENDTO
int
main(int argc, char **argv)
{
	int bad;

	if (argc != 3 || inet_pton(AF_INET, argv[1], &send_to.sin_addr) != 1) {
		fprintf(stderr, "usage: %s IPV4-ADDR PORT\n", argv[0]);
		return 2;
	}
	send_to.sin_family = AF_INET;
	send_to.sin_port = htons((uint16_t)atoi(argv[2]));
	memset(send_msg, 'r', sizeof(send_msg));
	send_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (send_fd < 0) {
		perror("socket");
		return 1;
	}
	/* the first datagram waits for ARP: let it resolve */
	if (sendto((int)send_fd, send_msg, MSG_LEN, 0,
		   (const struct sockaddr *)&send_to, sizeof(send_to)) != MSG_LEN) {
		perror("sendto");
		return 1;
	}
	usleep(300000);
	regs_what = "sendto-socket ";
	bad = check_all();
	send_fd = open("/dev/null", O_WRONLY);
	if (send_fd < 0) {
		perror("/dev/null");
		return 1;
	}
	regs_what = "sendto-devnull ";
	bad += check_all();
	return bad ? 1 : 0;
}
#elif defined(REGS_RECVFROM)
int
main(void)
{
	struct sockaddr_in any = { .sin_family = AF_INET };

	send_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (send_fd < 0 ||
	    bind((int)send_fd, (const struct sockaddr *)&any, sizeof(any)) != 0) {
		perror("socket");
		return 1;
	}
	regs_what = "recvfrom-empty ";
	return check_all() ? 1 : 0;
}
#else
int
main(void)
{
	static const char *const rz[] = { "stub", "trampoline", "after",
					  "before", "after-rip", "after-jmp" };
	unsigned int i;
	int bad = check_all();

	for (i = 0; i < sizeof(rz) / sizeof(rz[0]); i++)
		printf("redzone %s: %#x\n", rz[i], zp_redzone_run((int)i));
	return bad ? 1 : 0;
}
#endif
