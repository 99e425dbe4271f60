/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * regs.S - register and red-zone probes for the hooks suite.
 *
 * zp_regs_run(in, out, variant) loads every general register but rax, rcx,
 * r11 and rsp, and ymm0-15 (or zmm0-31 with AVX-512), from `in`, runs
 * getpid (or REGS_NR) through a `syscall` and stores them all to `out`.
 *   variant bit 0: the syscall is not right after `mov $nr, %eax` and
 *                  the instruction after it is a branch target, so the
 *                  rewriter sends it through address 0 (else a stub)
 *   variant bit 1: use zmm0-31 (AVX-512F)
 *   variant bit 2: not after `mov $nr, %eax`, but followed by glibc's
 *                  `cmp $-4095, %rax`: an "after" stub moves that
 *   variant bit 3: `mov $nr,%eax; nop; syscall`, a jump target after
 *                  it: a "before" stub moves the mov and nop
 *   variant bit 4: followed by a %rip-relative load (an after stub
 *                  re-encodes it; regs_rip must then hold `out`)
 *   variant bit 5: followed by a `jmp rel32` (an after stub runs it)
 *   bit 0 now: a `jmp` right before the syscall, aiming at it: nothing
 *   can move, address 0
 * Layout of in/out: rbx rdx rsi rdi rbp r8 r9 r10 r12 r13 r14 r15 at 0..95,
 * vector register n at 128 + 64 * n.
 *
 * zp_redzone_run(variant) fills the 128-byte red zone, runs getpid, and
 * returns a bitmask of the 8-byte slots that changed (bit 15 = rsp-8);
 * variant 0: stub, 1: address 0, 2: after stub, 3: before stub,
 * 4: after stub with a %rip-relative lea, 5: after stub with a jmp
 * (shapes as above).
 */
#define VEC	128
#define RZ_MAGIC 0x5a5a0000
/* the syscall: getpid, or (built with -DREGS_NR=44) sendto, whose
 * arguments regs.c then puts in `in` */
#ifndef REGS_NR
#define REGS_NR	39
#endif

	.data
	.p2align 3
regs_out:	.quad 0
regs_variant:	.long 0
	.p2align 3
	.globl	regs_rip
regs_rip:	.quad 0

	.text
	.globl	zp_regs_run
	.type	zp_regs_run, @function
zp_regs_run:
	.cfi_startproc				/* code has CFI: the rewriter
						   skips bytes outside any */
	push	%rbx				/* callee-saved */
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsi, regs_out(%rip)		/* all registers get used */
	mov	%edx, regs_variant(%rip)
	test	$2, %edx
	jz	1f
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 VEC+\n*64(%rdi), %zmm\n	/* load zmm n */
	.endr
	jmp	2f
1:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	VEC+\n*64(%rdi), %ymm\n	/* load ymm n */
	.endr
2:	mov	0(%rdi), %rbx			/* general registers */
	mov	8(%rdi), %rdx
	mov	16(%rdi), %rsi
	mov	32(%rdi), %rbp
	mov	40(%rdi), %r8
	mov	48(%rdi), %r9
	mov	56(%rdi), %r10
	mov	64(%rdi), %r12
	mov	72(%rdi), %r13
	mov	80(%rdi), %r14
	mov	88(%rdi), %r15
	mov	24(%rdi), %rdi			/* rdi last */
	testl	$4, regs_variant(%rip)
	jnz	7f
	testl	$1, regs_variant(%rip)
	jnz	3f
	testl	$8, regs_variant(%rip)
	jnz	8f
	testl	$16, regs_variant(%rip)
	jnz	9f
	testl	$32, regs_variant(%rip)
	jnz	10f
	mov	$REGS_NR, %eax			/* stub path */
	syscall
	jmp	4f
7:	mov	$REGS_NR, %eax			/* after-stub path: */
	nop					/*  no mov right before */
	syscall
	cmp	$-4095, %rax			/* moved to the stub */
	jmp	4f
8:	mov	$REGS_NR, %eax			/* before-range stub: mov+nop */
	nop					/*  move, the syscall with them */
	syscall
	jmp	4f				/* (4f: a jump target) */
9:	mov	$REGS_NR, %eax			/* after stub, %rip-relative: */
	nop
	syscall
	mov	regs_out(%rip), %rcx		/*  re-encoded in the stub */
	mov	%rcx, regs_rip(%rip)		/*  (regs.c checks it) */
	jmp	4f
10:	mov	$REGS_NR, %eax			/* after stub ending in a jmp */
	nop
	syscall
	.byte	0xe9				/* jmp rel32 4f: run from */
	.long	4f - . - 4			/*  the stub, nothing after */
3:	mov	$REGS_NR, %eax			/* address-0 path: */
	jmp	11f				/*  a branch right before */
11:	syscall					/*  and to the syscall, */
4:	mov	%rdi, %rax			/* a jump target right after */
	mov	regs_out(%rip), %rdi
	mov	%rbx, 0(%rdi)
	mov	%rdx, 8(%rdi)
	mov	%rsi, 16(%rdi)
	mov	%rax, 24(%rdi)
	mov	%rbp, 32(%rdi)
	mov	%r8, 40(%rdi)
	mov	%r9, 48(%rdi)
	mov	%r10, 56(%rdi)
	mov	%r12, 64(%rdi)
	mov	%r13, 72(%rdi)
	mov	%r14, 80(%rdi)
	mov	%r15, 88(%rdi)
	testl	$2, regs_variant(%rip)
	jz	5f
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 %zmm\n, VEC+\n*64(%rdi)	/* store zmm n */
	.endr
	jmp	6f
5:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	%ymm\n, VEC+\n*64(%rdi)	/* store ymm n */
	.endr
6:	vzeroupper
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret
	.cfi_endproc
	.size	zp_regs_run, . - zp_regs_run

	.globl	zp_redzone_run
	.type	zp_redzone_run, @function
zp_redzone_run:					/* a leaf: uses the red zone */
	.cfi_startproc
	.irp k,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movq	$(RZ_MAGIC + \k), -128+8*\k(%rsp)	/* slot k */
	.endr
	cmp	$2, %edi
	je	3f
	cmp	$3, %edi
	je	4f
	cmp	$4, %edi
	je	5f
	cmp	$5, %edi
	je	6f
	test	%edi, %edi
	jnz	1f
	mov	$REGS_NR, %eax			/* stub path */
	syscall
	jmp	2f
3:	mov	$REGS_NR, %eax			/* after-stub path (glibc's */
	nop					/*  shape, no mov right before) */
	syscall
	cmp	$-4095, %rax			/* moved to the stub */
	jmp	2f
4:	mov	$REGS_NR, %eax			/* before-range stub */
	nop
	syscall
	jmp	2f
5:	mov	$REGS_NR, %eax			/* after stub, %rip-relative */
	nop
	syscall
	lea	regs_out(%rip), %rcx
	jmp	2f
6:	mov	$REGS_NR, %eax			/* after stub ending in jmp */
	nop
	syscall
	.byte	0xe9				/* jmp rel32 2f */
	.long	2f - . - 4
1:	mov	$REGS_NR, %eax			/* address-0 path: */
	jmp	7f				/*  a branch right before */
7:	syscall					/*  and to the syscall */
2:	xor	%eax, %eax			/* a jump target right after */
	.irp k,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	cmpq	$(RZ_MAGIC + \k), -128+8*\k(%rsp)	/* slot k intact? */
	setne	%cl
	movzbl	%cl, %ecx
	shl	$\k, %ecx
	or	%ecx, %eax
	.endr
	ret
	.cfi_endproc
	.size	zp_redzone_run, . - zp_redzone_run

	.section .note.GNU-stack, "", @progbits
