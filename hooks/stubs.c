/*
 * stubs.c - the per-site stubs that keep the red zone, and the arenas
 * they are allocated from.
 *
 * Red zone: `call` pushes its return address at rsp-8, inside the red zone
 * of a leaf function.  So when the instruction just before the syscall can
 * move (decode.c: the usual `mov $nr, %eax` of libc wrappers), it is
 * replaced by `jmp stub` and the stub, allocated within +-2 GiB, runs:
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
 * Otherwise the instructions right after the syscall may move instead
 * ("after" stubs, decode.c says which).  The syscall's address becomes
 * `jmp stub` (a branch to it still works) and the stub runs:
 *	lea  -128(%rsp), %rsp ... jmp *zp_stub_entry	(as above)
 * 1:	lea  128(%rsp), %rsp
 *	<the moved instructions>	(libc: `cmp $-4095,%rax`)
 *	jmp  <after them>
 * Or several whole instructions before the syscall move with it ("before"
 * stubs, entered by a jmp at the first of them): the stub runs them, then
 * enters the hook as above.  zp_stub_encode_moved() builds both kinds.
 *
 * Arenas are ZP_ARENA_SIZE bytes mapped near the code; their first
 * ZP_ARENA_HDR bytes hold &zp_stub_entry, the slot the stubs jump through.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <string.h>

#include "zp_rewrite.h"

#define ZP_ARENA_HDR		16	/* slot holding &zp_stub_entry */
#define ZP_NEAR_STEP		(16UL << 20)
#define ZP_NEAR_TRIES		120	/* 120 * 16 MiB < 2 GiB */
#define ZP_REL32_LIMIT		((1L << 31) - (1L << 24))

/* lea -128(%rsp),%rsp / lea 128(%rsp),%rsp */
static const uint8_t zp_lea_down[] = { 0x48, 0x8d, 0x64, 0x24, 0x80 };
static const uint8_t zp_lea_up[] = { 0x48, 0x8d, 0xa4, 0x24,
				     0x80, 0x00, 0x00, 0x00 };
/* lea rel32(%rip),%rcx / push %rcx / jmp *rel32(%rip) */
static const uint8_t zp_lea_rcx_rip[] = { 0x48, 0x8d, 0x0d };
#define ZP_OP_PUSH_RCX		0x51
static const uint8_t zp_jmp_rip[] = { 0xff, 0x25 };

struct zp_arena zp_arenas[ZP_ARENA_MAX];
int zp_narenas;

void
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
			if (!zp_kerr(r))
				zp_syscall6(SYS_munmap, r, ZP_ARENA_SIZE, 0, 0,
					    0, 0);
		}
	}
	return NULL;
}

uintptr_t
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

int
zp_is_arena(uintptr_t a)
{
	int i;

	for (i = 0; i < zp_narenas; i++)
		if (a >= zp_arenas[i].base &&
		    a < zp_arenas[i].base + ZP_ARENA_SIZE)
			return 1;
	return 0;
}
