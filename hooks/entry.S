/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * entry.S - the hook entry, the raw-syscall gate and its helpers.
 *
 * Everything here lives in one section, .text.zp_gate, bracketed by
 * zp_gate_start/zp_gate_end: it holds every `syscall` instruction the
 * process executes once rewritten, and Syscall User Dispatch lets exactly
 * this range through.
 *
 * Two ways in:
 *  - zp_sled_entry: a rewritten `call *%rax` at a site went to address 0,
 *    slid down the sled and jumped here.  (%rsp) is the return address and
 *    it sits in the top 8 bytes of the app's red zone.
 *  - zp_stub_entry: a per-site stub (stubs.c) already moved %rsp below the
 *    red zone, pushed its continuation and jumped here (no `call`, so the
 *    CPU's return stack stays balanced); (%rsp) is that continuation.
 * Both bring the stack to the same shape before the common body:
 *	%rsp = S0 - ZP_ENTRY_GAP, (%rsp) = where to return,
 * where S0 is the app's %rsp at its syscall.  Only the final return
 * differs (ZP_EXIT): the sled path pops the red zone itself, a stub does it
 * after we return.
 *
 * Registers: the kernel clobbers rax (result), rcx and r11; so do we.
 * Arithmetic flags are not preserved (compilers never keep them live across
 * a syscall); DF and everything else is.  C runs with DF clear (the C ABI:
 * an app may make a syscall after `std`).
 */
#include "zp_asm.h"

	.section .text.zp_gate, "ax", @progbits

	.globl	zp_gate_start
	.hidden	zp_gate_start
zp_gate_start:

/*
 * Return to the site: sled path drops the red zone gap, stub path not.
 * Not with `ret`: a return right after a syscall mispredicts on this
 * kernel (the return stack is not valid after kernel entry), costing tens
 * of ns; an indirect jmp through the copy just below the new %rsp is
 * predicted.  That copy is in the red zone, which the kernel never uses
 * for signal frames, so a signal between the two instructions is safe.
 */
.macro ZP_EXIT sled
.if \sled
	lea	ZP_ENTRY_GAP(%rsp), %rsp	/* rsp = S0 */
	jmp	*-8(%rsp)			/* the call's own return slot */
.else
	lea	8(%rsp), %rsp			/* rsp = S0 - red zone */
	jmp	*-8(%rsp)			/* stub restores %rsp itself */
.endif
.endm

/*
 * Call \fn (C, general registers only) keeping the argument registers
 * and rbp; rax, rcx and r11 are the caller's to keep.
 */
.macro ZP_CALL_C fn
	push	%rdi
	push	%rsi
	push	%rdx
	push	%r8
	push	%r9
	push	%r10
	push	%rbp
	mov	%rsp, %rbp
	and	$-16, %rsp			/* ABI alignment */
	call	\fn			/* general registers only */
	mov	%rbp, %rsp
	pop	%rbp
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdx
	pop	%rsi
	pop	%rdi
.endm

/*
 * What legacy SSE code cannot change, saved at \base (a ZP_VS area,
 * 64-byte aligned) for zp_vsave_kind AVX or AVX512: XINUSE, then ymm0-15,
 * or zmm0-31 and k0-7.  xmm0-15's low halves are saved too (they are
 * what they are: the light save has the app's).  Clobbers rax, rcx, rdx.
 */
.macro ZP_VSAVE_UPPER base
	mov	$1, %ecx			/* XINUSE: which parts are */
	xgetbv					/*  in their initial state */
	mov	%eax, ZP_VS_INUSE(\base)
	cmpb	$ZP_VS_AVX512, zp_vsave_kind(%rip)
	je	84f
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqa	%ymm\n, \n*32(\base)
	.endr
	jmp	85f
84:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqa64 %zmm\n, \n*64(\base)
	.endr
	.irp n,0,1,2,3,4,5,6,7
	kmovq	%k\n, ZP_VS_K+\n*8(\base)
	.endr
85:
.endm

/*
 * Put back what ZP_VSAVE_UPPER saved at %rsp; upper halves that were
 * initial are made so again.  The caller then restores xmm0-15 with
 * legacy loads, which keep the uppers.  Clobbers nothing else.
 */
.macro ZP_VRESTORE_UPPER
	cmpb	$ZP_VS_AVX512, zp_vsave_kind(%rip)
	je	86f
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqa	\n*32(%rsp), %ymm\n
	.endr
	jmp	87f
86:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqa64 \n*64(%rsp), %zmm\n
	.endr
	.irp n,0,1,2,3,4,5,6,7
	kmovq	ZP_VS_K+\n*8(%rsp), %k\n
	.endr
87:	testl	$ZP_XINUSE_UPPER, ZP_VS_INUSE(%rsp)
	jnz	88f
	vzeroupper				/* they were initial */
88:
.endm

/*
 * The x87 status word saved at \off(%rsp) back if the call changed it
 * (exception flags, TOP: a wrapped libc function formatting a long
 * double): only fldenv writes it, so the environment is stored, patched
 * and loaded again (~100 cycles, never on a served path: nothing of ours
 * runs x87 code). Clobbers rax.
 */
.macro ZP_FSW_RESTORE off
	fnstsw	%ax
	cmp	\off(%rsp), %ax
	je	89f
	sub	$ZP_FENV_SIZE, %rsp
	fnstenv	(%rsp)				/* (masks all: fldenv unmasks) */
	mov	\off+ZP_FENV_SIZE(%rsp), %ax
	mov	%ax, ZP_FENV_FSW(%rsp)
	fldenv	(%rsp)
	add	$ZP_FENV_SIZE, %rsp
89:
.endm

/*
 * Make room below a 64-byte aligned %rsp and save the vector state there
 * (zp_vsave_kind, hooks.c): by hand where the CPU's registers are known,
 * xmm/ymm/zmm, opmasks, MXCSR and the x87 control and status words
 * (~10 ns; the x87/MMX data registers are not kept: nothing on a served
 * path uses them), else XSAVEC (XSAVE) of everything, ~60-70 ns here.
 * Clobbers rax, rcx, rdx.
 */
.macro ZP_VSAVE
	sub	zp_xsave_size(%rip), %rsp	/* room for the area */
	movzbl	zp_vsave_kind(%rip), %eax
	test	%eax, %eax
	jz	97f				/* XSAVE */
	stmxcsr	ZP_VS_MXCSR(%rsp)
	fnstcw	ZP_VS_FCW(%rsp)
	fnstsw	ZP_VS_FSW(%rsp)
	cmp	$ZP_VS_AVX, %eax
	jb	93f				/* SSE */
	ZP_VSAVE_UPPER %rsp
	jmp	98f
93:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqa	%xmm\n, \n*16(%rsp)
	.endr
	jmp	98f
97:	xor	%ecx, %ecx			/* zero the xsave header: */
	mov	%rcx, ZP_XSAVE_HDR_OFF+0(%rsp)	/*  XRSTOR faults on junk */
	mov	%rcx, ZP_XSAVE_HDR_OFF+8(%rsp)
	mov	%rcx, ZP_XSAVE_HDR_OFF+16(%rsp)
	mov	%rcx, ZP_XSAVE_HDR_OFF+24(%rsp)
	mov	%rcx, ZP_XSAVE_HDR_OFF+32(%rsp)
	mov	%rcx, ZP_XSAVE_HDR_OFF+40(%rsp)
	mov	%rcx, ZP_XSAVE_HDR_OFF+48(%rsp)
	mov	%rcx, ZP_XSAVE_HDR_OFF+56(%rsp)
	mov	$-1, %eax			/* component mask: all */
	mov	$-1, %edx
	cmpb	$0, zp_xsave_compact(%rip)
	je	95f
	xsavec64 (%rsp)				/* save x87/SSE/AVX/AVX-512, */
	jmp	98f				/*  skipping unused parts */
95:	xsave64	(%rsp)				/* the same, all of it */
98:
.endm

/*
 * Put back what ZP_VSAVE saved at %rsp (the area stays).  Upper halves
 * that were in their initial state are made so again (vzeroupper), so
 * the app's SSE code pays no false dependency.  Clobbers rax, rcx, rdx.
 */
.macro ZP_VRESTORE
	movzbl	zp_vsave_kind(%rip), %eax
	test	%eax, %eax
	jz	97f				/* XRSTOR */
	ldmxcsr	ZP_VS_MXCSR(%rsp)
	fldcw	ZP_VS_FCW(%rsp)
	ZP_FSW_RESTORE ZP_VS_FSW
	movzbl	zp_vsave_kind(%rip), %eax
	cmp	$ZP_VS_AVX, %eax
	jb	93f				/* SSE */
	ZP_VRESTORE_UPPER
	jmp	98f
93:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqa	\n*16(%rsp), %xmm\n
	.endr
	jmp	98f
97:	mov	$-1, %eax			/* component mask: all */
	mov	$-1, %edx
	xrstor64 (%rsp)
98:
.endm

/*
 * In a new thread or process on its own stack: arm SUD there too (the
 * kernel does not inherit it) and unblock SIGTRAP if poke.c uses it
 * (zp_child_setup).  rax = 0 (the child's result) after.
 */
.macro ZP_CHILD_SETUP
	cmpl	$0, zp_sud_active(%rip)		/* safety net on? */
	jne	81f
	cmpl	$0, zp_poke_installed(%rip)	/* int3 patching in use? */
	je	80f
81:	ZP_CALL_C zp_child_setup		/* keeps the child's args */
	xor	%eax, %eax			/* child: clone returned 0 */
80:
.endm

/* Arm SUD in this thread from the hook, keeping every register. */
.macro ZP_CALL_ARM_SUD
	push	%rax				/* nr */
	ZP_CALL_C zp_sud_thread_arm
	pop	%rax
.endm

/* Set the vfork-child flag of this thread's TLS to \val. */
.macro ZP_VFORK_FLAG val
	movq	zp_tls_vfork_child@gottpoff(%rip), %r11	/* TLS offset */
	movb	$\val, %fs:(%r11)			/* flag = val */
.endm

/*
 * The common body.  In: rax = nr, args in rdi rsi rdx r10 r8 r9,
 * rsp = S0 - ZP_ENTRY_GAP, (%rsp) = return address.
 */
.macro ZP_BODY sled
	mov	%eax, %eax			/* the kernel's nr: 32 bits */
	cmpl	$0, zp_sud_active(%rip)		/* SUD wanted everywhere? */
	jne	12f
13:	cmp	$ZP_KIND_TABLE_LEN, %rax	/* numbers past the table: */
	jae	14f				/*  plain, served or not */
	lea	zp_kind_table(%rip), %rcx	/* rcx = &zp_kind_table */
	movzbl	(%rcx,%rax), %ecx		/* ecx = kind of nr */
	test	%ecx, %ecx
	jnz	20f				/* special syscall */
10:	lea	zp_served_table(%rip), %rcx	/* rcx = &zp_served_table */
	movzbl	(%rcx,%rax), %ecx		/* does the dispatcher serve nr? */
	cmp	$ZP_SERVED_FD, %ecx
	je	15f				/* if the fd is its */
	test	%ecx, %ecx
	jnz	30f				/* yes: C path */
11:	syscall					/* no: straight through */
	ZP_EXIT	\sled
15:	mov	%edi, %ecx			/* the fd: 32 bits, unsigned */
	cmp	zp_fd_words_len(%rip), %ecx
	jae	11b				/* past the table: not its */
	mov	zp_fd_words(%rip), %r11
	cmpq	$0, (%r11,%rcx,8)
	je	11b				/* not its fd: the kernel's */
	jmp	30f
14:	cmpb	$0, zp_served_other(%rip)	/* served past the table? */
	jne	30f
	jmp	11b

	/* ---- SUD wanted: is this thread armed yet? ---- */
12:	movq	zp_tls_sud_armed@gottpoff(%rip), %rcx	/* TLS offset */
	cmpb	$0, %fs:(%rcx)
	jne	13b				/* armed: carry on */
	ZP_CALL_ARM_SUD				/* arm, keep all registers */
	jmp	13b

	/* ---- special syscalls; ecx = kind ---- */
20:	cmp	$ZP_KIND_PROT, %ecx		/* mmap/mprotect: */
	jne	21f
	test	$ZP_PROT_EXEC, %edx		/* PROT_EXEC asked (a3)? */
	jz	10b				/* no: plain */
	jmp	29f				/* yes: C path, rewrite after */
21:	cmp	$ZP_KIND_MASK, %ecx		/* rt_sigprocmask (SUD on): */
	je	30f				/*  C keeps SIGSYS unblocked */
	cmp	$ZP_KIND_SIGRETURN, %ecx
	je	40f
	cmp	$ZP_KIND_VFORK, %ecx
	je	50f
	cmp	$ZP_KIND_CLONE, %ecx
	je	60f
	cmp	$ZP_KIND_CLONE3, %ecx
	je	70f
	cmp	$ZP_KIND_EXIT, %ecx
	je	45f
	cmp	$ZP_KIND_ALTSTACK, %ecx
	je	48f
29:	mov	$1, %r11d			/* ZP_KIND_C: save vectors */
	jmp	31f

	/*
	 * ---- sigaltstack: on the app's stack (the kernel's SS_ONSTACK and
	 * EPERM depend on rsp), then note whether the new one disarms
	 * itself in its handlers (the stale-busy check, 43) ----
	 */
48:	syscall
	test	%rax, %rax
	jnz	49f				/* failed: nothing changed */
	test	%rdi, %rdi
	jz	49f				/* a query */
	movq	zp_tls_vfork_child@gottpoff(%rip), %rcx
	cmpb	$0, %fs:(%rcx)
	jne	49f				/* a vfork child: our TLS */
	mov	ZP_STACK_T_FLAGS(%rdi), %ecx	/* ss_flags, as the kernel took them */
	xor	%r11d, %r11d
	test	$ZP_SS_DISABLE, %ecx
	jnz	44f				/* disabled: no altstack */
	shr	$31, %ecx			/* SS_AUTODISARM */
	mov	%ecx, %r11d
44:	movq	zp_tls_hstack@gottpoff(%rip), %rcx
	test	%r11d, %r11d
	jz	41f
	mov	ZP_STACK_T_SP(%rdi), %rax	/* where it is (43 asks), */
	mov	%rax, %fs:ZP_HSTACK_ALT_SP(%rcx)
	mov	ZP_STACK_T_SS_SIZE(%rdi), %rax
	mov	%rax, %fs:ZP_HSTACK_ALT_SIZE(%rcx)
	xor	%eax, %eax			/* (the call's result: 0) */
41:	mov	%r11d, %fs:ZP_HSTACK_AUTODISARM(%rcx)	/* then the flag */
49:	ZP_EXIT	\sled

	/*
	 * ---- C path: zp_hook_c(struct zp_frame *), on our stack ----
	 * The app's rsp goes on top of this thread's hook stack and rsp
	 * there; a call made while already on it (a signal handler's
	 * syscall inside one of ours) stays where it is.
	 */
30:	movzbl	zp_dispatch_vec(%rip), %r11d	/* save vectors if asked */
31:	movq	zp_tls_vfork_child@gottpoff(%rip), %rcx
	cmpb	$0, %fs:(%rcx)			/* a vfork child (our TLS, */
	jne	38f				/*  its own stack): stay */
	movq	zp_tls_hstack@gottpoff(%rip), %rcx	/* TLS offset */
	cmpq	$0, %fs:ZP_HSTACK_TOP(%rcx)
	je	37f				/* none yet: map it */
	mov	%fs:ZP_HSTACK_TOP(%rcx), %rcx	/* rcx = top */
	sub	%rsp, %rcx			/* rcx = top - rsp */
	cmp	$ZP_STACK_MAP, %rcx
	jbe	38f				/* on it already: stay */
	movq	zp_tls_hstack@gottpoff(%rip), %rcx
	cmpq	$0, %fs:ZP_HSTACK_BUSY(%rcx)	/* a call of ours on it, */
	jne	43f				/*  interrupted? */
	/*
	 * Switch in one instruction, then claim it: a signal before the
	 * switch finds the stack free (its handler's calls use it and are
	 * done before we go on), one after it finds rsp on it.
	 */
42:	push	%r11				/* vectors flag (app stack) */
	mov	%rsp, %r11			/* r11 = app rsp - 8 */
	mov	%fs:ZP_HSTACK_TOP(%rcx), %rsp	/* on the hook stack, at top */
	movq	$1, %fs:ZP_HSTACK_BUSY(%rcx)	/* ours now */
	lea	8(%r11), %rcx			/* the app's rsp... */
	push	%rcx				/* ...on top */
	mov	(%r11), %r11			/* vectors flag */
	push	$1				/* switched: clear busy after */
	jmp	39f
38:	push	%rsp				/* staying: the same shape */
	push	$0
	jmp	39f

	/*
	 * Busy, and rsp elsewhere: a signal handler on its sigaltstack
	 * interrupted a call of ours (stay, not over that call's frames), or
	 * a siglongjmp left a call of ours for good (the alarm-timeout
	 * pattern: the stack is free again).  The kernel knows which: is
	 * this thread on its sigaltstack?  (rare: one more syscall)
	 */
43:	push	%rax
	push	%rdi
	push	%rsi
	push	%r11
	sub	$ZP_STACK_T_SIZE, %rsp		/* a stack_t, */
	movl	$ZP_SS_ONSTACK, ZP_STACK_T_FLAGS(%rsp)	/* "on it" if it fails */
	mov	$ZP_NR_SIGALTSTACK, %eax
	xor	%edi, %edi			/* no change */
	mov	%rsp, %rsi			/* the current one */
	syscall
	mov	ZP_STACK_T_FLAGS(%rsp), %ecx	/* ecx = ss_flags */
	lea	ZP_STACK_T_SIZE(%rsp), %rsp
	pop	%r11
	pop	%rsi
	pop	%rdi
	pop	%rax
	test	$ZP_SS_ONSTACK, %ecx
	jnz	38b				/* on it: a handler, stay */
	/*
	 * An SS_AUTODISARM altstack reads as disabled while its handler
	 * runs (as not in use once the handler arms it again), and stays
	 * disabled after a siglongjmp out of it: with one set up, rsp on
	 * it means "in that handler".
	 */
	movq	zp_tls_hstack@gottpoff(%rip), %rcx
	cmpl	$0, %fs:ZP_HSTACK_AUTODISARM(%rcx)
	je	42b				/* none: left for good, ours again */
	push	%rax
	lea	8(%rsp), %rax			/* rsp as it was */
	sub	%fs:ZP_HSTACK_ALT_SP(%rcx), %rax	/* rax = rsp - ss_sp */
	cmp	%fs:ZP_HSTACK_ALT_SIZE(%rcx), %rax
	pop	%rax				/* (flags kept) */
	jb	38b				/* on it: a handler, stay */
	jmp	42b				/* left for good: ours again */
39:	push	%rbp				/* frame: rbp */
	mov	%rsp, %rbp			/* rbp = frame anchor */
	push	%rdi				/* -8:  a1 */
	push	%rsi				/* -16: a2 */
	push	%rdx				/* -24: a3 */
	push	%r10				/* -32: a4 */
	push	%r8				/* -40: a5 */
	push	%r9				/* -48: a6 */
	push	%rax				/* -56: nr (frame start) */
	push	%r11				/* -64: vectors saved? */
	pushfq					/* -72: the app's DF */
	cld					/* the C ABI wants DF clear */
	and	$-ZP_XSAVE_ALIGN, %rsp		/* align for xsave and call */
	test	%r11d, %r11d
	jz	32f
	ZP_VSAVE				/* rcx, rax, rdx clobbered */
32:	lea	-56(%rbp), %rdi			/* arg: struct zp_frame * */
	call	zp_hook_c			/* rax = result */
	cmpq	$0, -64(%rbp)			/* vectors saved? */
	je	33f
	mov	%rax, %r11			/* keep result */
	ZP_VRESTORE				/* rcx, rax, rdx clobbered */
	mov	%r11, %rax			/* result back */
33:	testl	$ZP_EFLAGS_DF, -72(%rbp)	/* app ran with DF set? */
	jz	34f
	std					/* give it back */
34:	lea	-48(%rbp), %rsp			/* drop xsave area, nr, flags */
	pop	%r9
	pop	%r8
	pop	%r10
	pop	%rdx
	pop	%rsi
	pop	%rdi
	pop	%rbp
	pop	%rcx				/* switched? */
	pop	%r11				/* the rsp to go back to */
	test	%rcx, %rcx
	jz	35f
	movq	zp_tls_hstack@gottpoff(%rip), %rcx	/* free again: a */
	movq	$0, %fs:ZP_HSTACK_BUSY(%rcx)	/*  signal now sees rsp on it */
35:	mov	%r11, %rsp			/* back on the app's stack */
	ZP_EXIT	\sled

	/*
	 * ---- this thread's first C call: map its hook stack ----
	 * Raw syscalls, nothing but the registers pushed here on the app's
	 * stack.  If the mapping fails the call runs where it is.
	 */
37:	cmp	$ZP_NR_EXIT, %eax		/* a thread's end (served): */
	je	38b				/*  no stack to map for it */
	push	%rax				/* nr */
	push	%rdi
	push	%rsi
	push	%rdx
	push	%r10
	push	%r8
	push	%r9
	push	%r11				/* vectors flag */
	mov	$ZP_NR_MMAP, %eax
	xor	%edi, %edi			/* anywhere */
	mov	$ZP_STACK_MAP, %esi
	mov	$ZP_PROT_RW, %edx
	mov	$ZP_MAP_STACK_FLAGS, %r10d
	mov	$-1, %r8
	xor	%r9d, %r9d
	syscall
	cmp	$-4095, %rax
	jae	36f				/* no memory: stay */
	mov	%rax, %rdi			/* base: guard page */
	mov	$ZP_NR_MPROTECT, %eax
	mov	$ZP_STACK_GUARD, %esi
	xor	%edx, %edx			/* PROT_NONE */
	syscall
	mov	$ZP_NR_GETTID, %eax		/* the owner frees it */
	syscall
	movq	zp_tls_hstack@gottpoff(%rip), %rcx
	mov	%eax, %fs:ZP_HSTACK_TID(%rcx)
	lea	ZP_STACK_MAP(%rdi), %rdi	/* top */
	mov	%rdi, %fs:ZP_HSTACK_TOP(%rcx)
	mov	$1, %ecx			/* mapped */
	jmp	47f
36:	xor	%ecx, %ecx			/* not mapped */
47:	pop	%r11
	pop	%r9
	pop	%r8
	pop	%r10
	pop	%rdx
	pop	%rsi
	pop	%rdi
	pop	%rax
	test	%ecx, %ecx
	jnz	31b				/* now with a stack */
	jmp	38b				/* without: stay */

	/*
	 * ---- exit (a thread's end): unmap its hook stack first ----
	 * Only the thread that mapped it (a vfork child or a raw clone
	 * sharing our TLS must not), and not while running on it.  Nothing
	 * goes on the app's stack here: it may be free already (Go's
	 * exitThread has told another thread it may reuse it); a dispatcher
	 * that serves exit (not bond) then runs its C on that stack (path
	 * 37 maps no new one for a dying thread).  exit never returns, so
	 * any register may go but rdi (the code, kept in r8).
	 */
45:	movq	zp_tls_hstack@gottpoff(%rip), %rcx
	mov	%fs:ZP_HSTACK_TOP(%rcx), %r11
	test	%r11, %r11
	jz	10b				/* none: a plain exit */
	sub	%rsp, %r11
	cmp	$ZP_STACK_MAP, %r11
	jbe	10b				/* on it: leave it mapped */
	mov	%rdi, %r8			/* exit code */
	mov	$ZP_NR_GETTID, %eax
	syscall
	movq	zp_tls_hstack@gottpoff(%rip), %rcx
	cmp	%eax, %fs:ZP_HSTACK_TID(%rcx)
	jne	46f				/* not ours to free */
	mov	%fs:ZP_HSTACK_TOP(%rcx), %rdi
	movq	$0, %fs:ZP_HSTACK_TOP(%rcx)	/* forget it, then unmap */
	movq	$0, %fs:ZP_HSTACK_BUSY(%rcx)
	sub	$ZP_STACK_MAP, %rdi
	mov	$ZP_STACK_MAP, %esi
	mov	$ZP_NR_MUNMAP, %eax
	syscall
46:	mov	%r8, %rdi
	mov	$ZP_NR_EXIT, %eax
	jmp	10b

	/* ---- rt_sigreturn: rsp must be exactly the signal frame ---- */
40:	lea	ZP_ENTRY_GAP(%rsp), %rsp	/* rsp = S0 = frame */
	syscall					/* does not return */
	ud2

	/*
	 * ---- vfork, or clone(CLONE_VM) on our stack ----
	 * The child runs first on this very stack and overwrites it: keep the
	 * return address in TLS (the child writes the same TLS, but only with
	 * the same value) and push nothing.
	 */
50:	movq	zp_tls_vfork_ret@gottpoff(%rip), %rcx	/* TLS offset */
	popq	%fs:(%rcx)			/* return address -> TLS */
	syscall					/* rsp = S0 - red zone */
	movq	zp_tls_vfork_ret@gottpoff(%rip), %rcx	/* syscall ate rcx */
	movq	zp_tls_vfork_child@gottpoff(%rip), %r11
	test	%rax, %rax
	setz	%fs:(%r11)			/* child: 1, parent: 0 */
.if \sled
	lea	ZP_RED_ZONE(%rsp), %rsp		/* rsp = S0 */
.endif
	jmp	*%fs:(%rcx)			/* back to the site/stub */

	/*
	 * ---- clone(flags=rdi, newsp=rsi, ...) ----
	 * With a new stack the child starts there: put our return address at
	 * newsp - ZP_ENTRY_GAP and start it there, so that ZP_EXIT leaves it
	 * with rsp = newsp, exactly where the kernel would have.
	 */
60:	test	%rsi, %rsi			/* new stack? */
	jnz	61f
	test	$ZP_CLONE_VM, %edi		/* same memory, same stack: */
	jnz	50b				/*  vfork-like */
	jmp	29b				/* fork-like: C, callbacks */
61:	mov	(%rsp), %rcx			/* rcx = return address */
	mov	%rcx, -ZP_ENTRY_GAP(%rsi)	/* onto the child's stack */
	mov	%rcx, -8(%rsi)			/*  and where ZP_EXIT reads */
	push	%rsi				/* parent keeps newsp */
	lea	-ZP_ENTRY_GAP(%rsi), %rsi	/* child rsp = that slot */
	syscall
	test	%rax, %rax
	jnz	62f
	lea	ZP_ENTRY_GAP(%rsp), %rsi	/* child: rsi = newsp again */
	test	$ZP_CLONE_VFORK, %edi
	jz	63f
	ZP_VFORK_FLAG 1				/* shares the parent's TLS */
	ZP_EXIT	\sled
63:	ZP_CHILD_SETUP
	ZP_EXIT	\sled				/* child: rsp = newsp */
62:	pop	%rsi				/* parent: rsi = newsp */
	test	$ZP_CLONE_VFORK, %edi
	jz	64f
	ZP_VFORK_FLAG 0				/* child has exec'd/exited */
64:	ZP_EXIT	\sled

	/*
	 * ---- clone3(args=rdi, size=rsi) ----
	 * Same idea: copy the args, shrink the child's stack by
	 * ZP_ENTRY_GAP, leave our return address, the original args
	 * pointer and the flags at its top (the child must not read the
	 * args: they may live on the parent's stack, already reused).
	 */
70:	cmp	$ZP_CLONE_ARGS_SIZE_VER0, %rsi	/* too small: let the */
	jb	11b				/*  kernel say EINVAL */
	cmpq	$0, ZP_CLONE_ARGS_STACK(%rdi)	/* new stack? */
	jne	71f
	testl	$ZP_CLONE_VM, ZP_CLONE_ARGS_FLAGS(%rdi)
	jnz	50b				/* same stack: vfork-like */
	jmp	29b				/* fork-like: C, callbacks */
71:	cmp	$ZP_CLONE_ARGS_COPY, %rsi	/* bigger than we copy */
	ja	78f
	cmpq	$ZP_ENTRY_GAP, ZP_CLONE_ARGS_STACK_SIZE(%rdi)
	jbe	79f				/* no room for our slot */
	push	%rdi				/* parent keeps args */
	push	%rsi				/* and size */
	sub	$ZP_CLONE_ARGS_COPY, %rsp	/* copy buffer */
	xor	%r11d, %r11d			/* i = 0 */
72:	movzbl	(%rdi,%r11), %ecx		/* copy byte i */
	mov	%cl, (%rsp,%r11)
	inc	%r11
	cmp	%rsi, %r11
	jb	72b
	mov	ZP_CLONE_ARGS_STACK(%rsp), %rcx	/* rcx = stack */
	add	ZP_CLONE_ARGS_STACK_SIZE(%rsp), %rcx	/* rcx = top */
	mov	ZP_CLONE_ARGS_COPY+16(%rsp), %r11	/* return address */
	mov	%r11, -ZP_ENTRY_GAP(%rcx)	/* child's (%rsp) */
	mov	%r11, -8(%rcx)			/*  and where ZP_EXIT reads */
	mov	%rdi, -ZP_ENTRY_GAP+8(%rcx)	/* child's 8(%rsp): args */
	mov	ZP_CLONE_ARGS_FLAGS(%rsp), %r11	/* child's 16(%rsp): flags */
	mov	%r11, -ZP_ENTRY_GAP+16(%rcx)	/*  (args may be gone then) */
	subq	$ZP_ENTRY_GAP, ZP_CLONE_ARGS_STACK_SIZE(%rsp)
	mov	%rsp, %rdi			/* syscall on the copy */
	syscall
	test	%rax, %rax
	jnz	73f
	mov	8(%rsp), %rdi			/* child: rdi = args */
	testl	$ZP_CLONE_VFORK, 16(%rsp)	/* our copy of the flags */
	jz	74f
	ZP_VFORK_FLAG 1
	ZP_EXIT	\sled
74:	ZP_CHILD_SETUP
	ZP_EXIT	\sled				/* child: rsp = top */
73:	add	$ZP_CLONE_ARGS_COPY, %rsp	/* parent: drop the copy */
	pop	%rsi
	pop	%rdi
	testl	$ZP_CLONE_VFORK, ZP_CLONE_ARGS_FLAGS(%rdi)
	jz	75f
	ZP_VFORK_FLAG 0
75:	ZP_EXIT	\sled
78:	mov	$-ZP_E2BIG, %rax		/* args larger than we know */
	ZP_EXIT	\sled
79:	mov	$-ZP_EINVAL, %rax		/* stack too small for us */
	ZP_EXIT	\sled
.endm

/*
 * zp_sled_entry: from the trampoline at address 0.
 * First make room below the red zone and copy the return address there,
 * then check that it belongs to a rewritten site: a call through a NULL
 * pointer must still crash.
 */
	.globl	zp_sled_entry
	.hidden	zp_sled_entry
	.type	zp_sled_entry, @function
	.p2align 5
zp_sled_entry:
	lea	-(ZP_RED_ZONE - 8)(%rsp), %rsp	/* rsp = S0 - 128 */
	push	(ZP_RED_ZONE - 8)(%rsp)		/* return -> S0 - 136 */
	push	%rdx				/* one more scratch */
	mov	8(%rsp), %rcx			/* rcx = return address */
	mov	zp_site_set(%rip), %r11		/* r11 = site set */
	imul	$ZP_SITE_HASH_MUL, %rcx, %rdx	/* hash the address */
	shr	$ZP_SITE_HASH_SHIFT, %rdx
1:	and	ZP_SITE_SET_MASK(%r11), %rdx	/* slot index */
	cmp	%rcx, ZP_SITE_SET_SLOTS(%r11,%rdx,8)
	je	2f				/* a rewritten site */
	cmpq	$0, ZP_SITE_SET_SLOTS(%r11,%rdx,8)
	je	zp_null_call			/* empty slot: unknown */
	inc	%rdx				/* linear probe */
	jmp	1b
2:	pop	%rdx
3:	ZP_BODY	1
	.size	zp_sled_entry, . - zp_sled_entry

/*
 * zp_sled_entry_checked: the same without the site check, for the SUD
 * handler, which makes a caught syscall look like a rewritten call.
 */
	.globl	zp_sled_entry_checked
	.hidden	zp_sled_entry_checked
	.type	zp_sled_entry_checked, @function
zp_sled_entry_checked:
	lea	-(ZP_RED_ZONE - 8)(%rsp), %rsp	/* rsp = S0 - 128 */
	push	(ZP_RED_ZONE - 8)(%rsp)		/* return -> S0 - 136 */
	jmp	3b
	.size	zp_sled_entry_checked, . - zp_sled_entry_checked

/*
 * zp_sud_entry: where sud.c resumes a call SUD caught, after its handler
 * returned: rsp = S0 (the app's), rcx = the app's rip after the syscall.
 * It makes the stub shape below the red zone, with zp_sud_cont as the
 * continuation; a signal before the pushes finds rcx kept and rsp still
 * the app's.
 */
	.globl	zp_sud_entry
	.hidden	zp_sud_entry
	.type	zp_sud_entry, @function
zp_sud_entry:
	lea	-ZP_RED_ZONE(%rsp), %rsp	/* rsp = S0 - 128 */
	push	%rcx				/* S0 - 136: the app's rip */
	lea	zp_sud_cont(%rip), %rcx
	push	%rcx				/* S0 - 144: where we return */
	jmp	zp_stub_entry
	.size	zp_sud_entry, . - zp_sud_entry

/*
 * zp_sud_cont: rsp = S0 - 136, where (%rsp) is the app's rip after the
 * syscall; the red zone above was never touched.  rcx ends holding that
 * rip, as the kernel leaves it.
 */
	.type	zp_sud_cont, @function
zp_sud_cont:
	mov	(%rsp), %rcx			/* the app's rip */
	lea	ZP_ENTRY_GAP(%rsp), %rsp	/* rsp = S0 */
	jmp	*%rcx
	.size	zp_sud_cont, . - zp_sud_cont

/*
 * A call or jump to 0 from anywhere else: put the stack back as it was
 * right after the call and fault with si_addr = 0 (page 0 is not
 * writable), like the NULL call would have without us.
 */
	.type	zp_null_call, @function
zp_null_call:
	pop	%rdx				/* app's rdx */
	lea	ZP_RED_ZONE(%rsp), %rsp		/* rsp = S0 - 8 */
	movb	$0, 0				/* SIGSEGV at address 0 */
	ud2
	.size	zp_null_call, . - zp_null_call

/* zp_stub_entry: from a per-site stub, red zone already skipped. */
	.globl	zp_stub_entry
	.hidden	zp_stub_entry
	.type	zp_stub_entry, @function
	.p2align 5
zp_stub_entry:
	ZP_BODY	0
	.size	zp_stub_entry, . - zp_stub_entry

/* long zp_syscall6(nr, a1, a2, a3, a4, a5, a6): straight to the kernel. */
	.globl	zp_syscall6
	.type	zp_syscall6, @function
	.p2align 4
zp_syscall6:
	mov	%rdi, %rax			/* nr */
	mov	%rsi, %rdi			/* a1 */
	mov	%rdx, %rsi			/* a2 */
	mov	%rcx, %rdx			/* a3 */
	mov	%r8, %r10			/* a4 */
	mov	%r9, %r8			/* a5 */
	mov	8(%rsp), %r9			/* a6 from the stack */
	syscall
	ret
	.size	zp_syscall6, . - zp_syscall6

/* Signal restorer for handlers the engine installs itself. */
	.globl	zp_sigreturn_restorer
	.hidden	zp_sigreturn_restorer
	.type	zp_sigreturn_restorer, @function
	.p2align 4
zp_sigreturn_restorer:
	mov	$15, %eax			/* __NR_rt_sigreturn */
	syscall
	ud2
	.size	zp_sigreturn_restorer, . - zp_sigreturn_restorer

	.globl	zp_gate_end
	.hidden	zp_gate_end
zp_gate_end:

/* Outside the gate: it makes no system call. */
	.text

/*
 * long zp_hooks_vec_call(fn, const long args[6]): fn(args[0..5]) with the
 * vector state (x87 control and status, SSE, AVX, AVX-512...) kept for
 * the caller,
 * for a dispatcher registered without ZP_DISPATCH_VECTOR that has decided
 * to run code which may use vector registers.
 *
 * Where the CPU has AVX, the save is light: xmm0-15, all that code
 * without VEX/EVEX and without floating-point arithmetic can change
 * (legacy SSE instructions keep the upper halves, zmm16-31 and the
 * opmasks; only floating-point and x87 instructions change MXCSR and the
 * x87 words).  fn may run such code freely (every function of
 * libzpnet.so: tests/bond/vecwrap.sh); before anything else (glibc's
 * string functions, a PMD) it calls zp_hooks_vec_full(), which saves the
 * rest in this frame, once, MXCSR and the x87 control and status words
 * included, and the return puts it back.  Elsewhere
 * (no AVX, an unknown CPU, ZPHOOKS_VSAVE=xsave) everything is saved
 * before fn, as ZP_VSAVE does.  With ZPHOOKS_VCHECK=1 the light path
 * also saves everything, fills the upper state with ones, clears the
 * exception flags of MXCSR and the x87 status word and, if fn returns
 * without having called zp_hooks_vec_full(), checks that all of it is
 * unchanged (zp_vcheck_verify aborts with fn's address otherwise).
 */
/* fn (r12) of the six arguments at rbx, 64-byte aligned; rbx = result */
.macro ZP_VEC_FN
	mov	0(%rbx), %rdi
	mov	8(%rbx), %rsi
	mov	16(%rbx), %rdx
	mov	24(%rbx), %rcx
	mov	32(%rbx), %r8
	mov	40(%rbx), %r9
	call	*%r12
	mov	%rax, %rbx
.endm

	.globl	zp_hooks_vec_call
	.type	zp_hooks_vec_call, @function
	.p2align 4
zp_hooks_vec_call:
	push	%rbp
	mov	%rsp, %rbp			/* rbp = frame anchor */
	push	%rbx				/* callee-saved: the result, */
	push	%r12				/*  fn, */
	push	%r13				/*  the TLS slot, */
	push	%r14				/*  the outer call's area */
	mov	%rdi, %r12
	mov	%rsi, %rbx
	and	$-ZP_XSAVE_ALIGN, %rsp		/* 64-byte alignment */
	cmpb	$ZP_VS_AVX, zp_vsave_kind(%rip)
	jb	50f				/* no light save: all now */
	sub	$ZP_VL_FRAME, %rsp
	movl	$0, ZP_VS_ESC(%rsp)
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqa	%xmm\n, ZP_VL_XMM+\n*16(%rsp)
	.endr
	movq	zp_tls_vlight@gottpoff(%rip), %r13	/* TLS offset */
	mov	%fs:(%r13), %r14		/* an outer call's (a handler's) */
	mov	%rsp, %fs:(%r13)		/* this call's area */
	cmpb	$0, zp_vcheck(%rip)
	jne	60f
51:	ZP_VEC_FN
	mov	%r14, %fs:(%r13)		/* the outer call's again */
	cmpb	$0, zp_vcheck(%rip)
	jne	62f
	cmpl	$0, ZP_VS_ESC(%rsp)
	je	53f
	ZP_VRESTORE_UPPER			/* what zp_hooks_vec_full saved */
	ldmxcsr	ZP_VS_MXCSR(%rsp)
	fldcw	ZP_VS_FCW(%rsp)
	ZP_FSW_RESTORE ZP_VS_FSW		/* rax: the result is in rbx */
53:	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqa	ZP_VL_XMM+\n*16(%rsp), %xmm\n	/* legacy: uppers stay */
	.endr
	jmp	59f

50:	ZP_VSAVE				/* rcx, rax, rdx clobbered */
	ZP_VEC_FN
	ZP_VRESTORE				/* vector state back */
59:	mov	%rbx, %rax
	lea	-32(%rbp), %rsp
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret

	/* ZPHOOKS_VCHECK, entry: everything in the check area, ones in
	 * every register the light save does not keep */
60:	lea	ZP_VL_CHECK(%rsp), %rdi
	stmxcsr	ZP_VS_MXCSR(%rdi)
	fnstcw	ZP_VS_FCW(%rdi)
	fnstsw	ZP_VS_FSW(%rdi)
	ZP_VSAVE_UPPER %rdi			/* rax, rcx, rdx clobbered */
	/* exception flags clear, so that a floating-point instruction of
	 * fn's shows in them; the control words as they are */
	mov	ZP_VS_MXCSR(%rdi), %eax
	and	$~ZP_MXCSR_FLAGS, %eax
	mov	%eax, ZP_VS_PROBE_MXCSR(%rsp)
	ldmxcsr	ZP_VS_PROBE_MXCSR(%rsp)
	fnclex
	fnstcw	ZP_VS_PROBE_FCW(%rsp)
	fnstsw	ZP_VS_PROBE_FSW(%rsp)
	cmpb	$ZP_VS_AVX512, zp_vsave_kind(%rip)
	je	61f
	vpcmpeqd %ymm0, %ymm0, %ymm0
	.irp n,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqa	%ymm0, %ymm\n
	.endr
	jmp	51b
61:	vpternlogd $0xff, %zmm0, %zmm0, %zmm0
	.irp n,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqa64 %zmm0, %zmm\n
	.endr
	.irp n,0,1,2,3,4,5,6,7
	kxnorq	%k0, %k0, %k\n
	.endr
	jmp	51b

	/* ZPHOOKS_VCHECK, return: the ones and the flags must be as fn got
	 * them when it returns, or when it escalated (zp_hooks_vec_full
	 * saved them then, in the same place); then the app's state from
	 * the check area */
62:	cmpl	$0, ZP_VS_ESC(%rsp)
	jne	65f
	mov	%rsp, %rdi
	ZP_VSAVE_UPPER %rdi			/* what fn left */
	stmxcsr	ZP_VS_MXCSR(%rsp)
	fnstcw	ZP_VS_FCW(%rsp)
	fnstsw	ZP_VS_FSW(%rsp)
65:	mov	%rsp, %rdi
	mov	%r12, %rsi
	call	zp_vcheck_verify		/* general registers only */
63:	lea	ZP_VL_CHECK(%rsp), %rax
	mov	%rax, %rsp			/* ZP_VRESTORE_UPPER's base */
	ZP_VRESTORE_UPPER
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqa	ZP_VL_XMM-ZP_VL_CHECK+\n*16(%rsp), %xmm\n
	.endr
	ldmxcsr	ZP_VS_MXCSR(%rsp)		/* the app's, saved at 60 */
	fldcw	ZP_VS_FCW(%rsp)
	ZP_FSW_RESTORE ZP_VS_FSW
	jmp	59b
	.size	zp_hooks_vec_call, . - zp_hooks_vec_call

/*
 * void zp_hooks_vec_full(void): inside zp_hooks_vec_call's fn, before
 * code that may use VEX/EVEX, floating-point or x87 instructions: the
 * rest of the state (MXCSR, the x87 control and status words, the upper
 * halves, zmm16-31, the opmasks) goes to the call's frame,
 * once; later calls, and calls outside a light zp_hooks_vec_call, return
 * at once.  Keeps every register but r11 and the flags (a wrapper calls
 * it before jumping to the function it wraps, arguments in place).
 */
	.globl	zp_hooks_vec_full
	.type	zp_hooks_vec_full, @function
	.globl	zp_vec_full
	.hidden	zp_vec_full
	.p2align 4
zp_hooks_vec_full:
zp_vec_full:
	movq	zp_tls_vlight@gottpoff(%rip), %r11	/* TLS offset */
	cmpq	$0, %fs:(%r11)
	jne	1f
	ret					/* done, or not light */
1:	push	%rax
	push	%rcx
	push	%rdx
	push	%rdi
	mov	%fs:(%r11), %rdi		/* the frame's area */
	movq	$0, %fs:(%r11)			/* once per call */
	movl	$1, ZP_VS_ESC(%rdi)
	stmxcsr	ZP_VS_MXCSR(%rdi)
	fnstcw	ZP_VS_FCW(%rdi)
	fnstsw	ZP_VS_FSW(%rdi)
	ZP_VSAVE_UPPER %rdi
	pop	%rdi
	pop	%rdx
	pop	%rcx
	pop	%rax
	ret
	.size	zp_hooks_vec_full, . - zp_hooks_vec_full

	.section .note.GNU-stack, "", @progbits
