/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zp_asm.h - constants shared by entry.S and the C side.  Only #defines: it
 * is included from assembly.
 */
#ifndef ZP_ASM_H
#define ZP_ASM_H

/* The System V red zone below %rsp that leaf functions may use. */
#define ZP_RED_ZONE		128
/* Distance from the app's %rsp to ours at the body: red zone + return. */
#define ZP_ENTRY_GAP		(ZP_RED_ZONE + 8)

/* zp_kind_table[nr]: what the entry does for special syscall numbers. */
#define ZP_KIND_TABLE_LEN	512
#define ZP_KIND_PLAIN		0	/* dispatcher or straight through */
/* zp_served_table values */
#define ZP_SERVED_ALL		1	/* every call reaches the dispatcher */
#define ZP_SERVED_FD		2	/* only if rdi's fd word is non-zero */
#define ZP_KIND_SIGRETURN	1	/* rsp must be the signal frame */
#define ZP_KIND_VFORK		2	/* child shares our stack */
#define ZP_KIND_CLONE		3	/* child may start on a new stack */
#define ZP_KIND_CLONE3		4	/* same, arguments in a struct */
#define ZP_KIND_C		5	/* always the C slow path */
#define ZP_KIND_PROT		6	/* C slow path when PROT_EXEC in a3 */
#define ZP_KIND_MASK		7	/* C path, vectors as the dispatcher asks */
#define ZP_KIND_EXIT		8	/* thread exit: free its hook stack first */
#define ZP_KIND_ALTSTACK	9	/* sigaltstack: note SS_AUTODISARM */

/*
 * The hook's own stack, one per thread, mapped at the thread's first C
 * call: the C path (dispatcher, bond, lwIP, the XSAVE area) runs there,
 * never on the application's stack (a goroutine's may have a few hundred
 * bytes).  A guard page below it.
 */
#define ZP_STACK_SIZE		(256 * 1024)
#define ZP_STACK_GUARD		4096
#define ZP_STACK_MAP		(ZP_STACK_SIZE + ZP_STACK_GUARD)
/* struct zp_hstack (zp_internal.h), this thread's in TLS */
#define ZP_HSTACK_TOP		0	/* 0: not mapped yet */
#define ZP_HSTACK_BUSY		8	/* a hooked call runs on it */
#define ZP_HSTACK_TID		16	/* the thread that mapped it */
#define ZP_HSTACK_AUTODISARM	20	/* its sigaltstack is SS_AUTODISARM */
#define ZP_HSTACK_ALT_SP	24	/* that altstack: where, */
#define ZP_HSTACK_ALT_SIZE	32	/*  how long */

/* Linux uapi values used by the assembly. */
#define ZP_NR_MMAP		9
#define ZP_NR_MPROTECT		10
#define ZP_NR_MUNMAP		11
#define ZP_NR_EXIT		60
#define ZP_NR_GETTID		186
#define ZP_NR_SIGALTSTACK	131
#define ZP_STACK_T_SIZE		24	/* stack_t */
#define ZP_STACK_T_SP		0	/* its ss_sp */
#define ZP_STACK_T_FLAGS	8	/* its ss_flags */
#define ZP_STACK_T_SS_SIZE	16	/* its ss_size */
#define ZP_SS_ONSTACK		1
#define ZP_SS_DISABLE		2
#define ZP_PROT_RW		0x3	/* PROT_READ | PROT_WRITE */
/* MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK */
#define ZP_MAP_STACK_FLAGS	0x24022
#define ZP_CLONE_VM		0x00000100
#define ZP_CLONE_VFORK		0x00004000
#define ZP_PROT_EXEC		0x4
#define ZP_EFLAGS_DF		0x400	/* direction flag */
#define ZP_EINVAL		22
#define ZP_E2BIG		7

/* struct clone_args (linux/sched.h) */
#define ZP_CLONE_ARGS_FLAGS	0
#define ZP_CLONE_ARGS_STACK	40
#define ZP_CLONE_ARGS_STACK_SIZE 48
#define ZP_CLONE_ARGS_SIZE_VER0	64
/* Largest clone_args we copy to adjust the child's stack. */
#define ZP_CLONE_ARGS_COPY	256

/* Set of rewritten call sites (return addresses), open addressing. */
#define ZP_SITE_HASH_MUL	0x5bd1e995
#define ZP_SITE_HASH_SHIFT	20
#define ZP_SITE_SET_MASK	0	/* offset of the mask */
#define ZP_SITE_SET_SLOTS	8	/* offset of slot[0] */

/* XSAVE area: the header that XRSTOR checks. */
#define ZP_XSAVE_HDR_OFF	512
#define ZP_XSAVE_HDR_LEN	64
#define ZP_XSAVE_ALIGN		64
/*
 * How the vector state is saved (zp_vsave_kind): XSAVE(C)/XRSTOR, or by
 * hand (SSE: xmm0-15; AVX: ymm0-15; AVX512: zmm0-31 and k0-7), with MXCSR
 * and the x87 control and status words, in an area of ZP_VS_SIZE bytes.
 */
#define ZP_VS_XSAVE		0
#define ZP_VS_SSE		1
#define ZP_VS_AVX		2
#define ZP_VS_AVX512		3
#define ZP_VS_K			2048	/* k0-k7, 8 bytes each */
#define ZP_VS_MXCSR		2112
#define ZP_VS_FCW		2116
#define ZP_VS_FSW		2118	/* the x87 status word */
#define ZP_VS_INUSE		2120	/* XINUSE (xgetbv 1) at the save */
#define ZP_VS_SIZE		2176
#define ZP_XINUSE_UPPER		0x44	/* AVX upper halves, ZMM_Hi256 */
/*
 * zp_hooks_vec_call's frame where the CPU has AVX (zp_vsave_kind AVX or
 * AVX512): the ZP_VS area (filled by zp_hooks_vec_full when the call
 * escalates), xmm0-15 as the app had them (the light save), and the
 * app's whole state again for ZPHOOKS_VCHECK.  64-byte aligned.
 */
#define ZP_VS_ESC		2124	/* 1: zp_hooks_vec_full saved the rest */
/* ZPHOOKS_VCHECK: MXCSR and the x87 words as fn got them (flags clear) */
#define ZP_VS_PROBE_MXCSR	2128
#define ZP_VS_PROBE_FCW		2132
#define ZP_VS_PROBE_FSW		2134
#define ZP_MXCSR_FLAGS		0x3f	/* its exception flags */
#define ZP_VL_XMM		ZP_VS_SIZE		/* 16 x 16 bytes */
#define ZP_VL_CHECK		(ZP_VL_XMM + 256)	/* a ZP_VS area */
#define ZP_VL_FRAME		(ZP_VL_CHECK + ZP_VS_SIZE)

/* fnstenv's 28 bytes (room for 32): the status word at 4 */
#define ZP_FENV_SIZE		32
#define ZP_FENV_FSW		4

#endif /* ZP_ASM_H */
