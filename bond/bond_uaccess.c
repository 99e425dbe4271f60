/*
 * Copies to and from the application's memory that cannot crash it: the
 * kernel's copy_from_user/copy_to_user, in user space. One instruction
 * (rep movsb) touches the application's bytes; when it faults, the SIGSEGV
 * or SIGBUS handler (bond_signal.c) sees the fault at that instruction and
 * resumes at the fix-up, where RCX still counts the bytes not copied (a
 * string instruction is restartable: it stops between two bytes). The
 * call then says how much was copied, and the socket call answers as Linux
 * does: the bytes before the fault, or EFAULT.
 *
 * Addresses Linux never maps for a process are refused before any access:
 * below 64 KiB (vm.mmap_min_addr's default; zpoline's trampoline lives at
 * 0, readable, so a NULL buffer would otherwise be read), and ranges that
 * wrap or reach past user space.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/ucontext.h>

#include "bond.h"

#define USER_MIN	0x10000ull		/* 64 KiB */
#define USER_END	(1ull << 47)		/* x86-64, 4-level paging */
#define PAGE		4096ull

/* size_t bond_ucopy(void *dst, const void *src, size_t n): bytes NOT copied */
__asm__(".text\n"
	".p2align 4\n"
	".globl bond_ucopy\n"
	".hidden bond_ucopy\n"
	".type bond_ucopy, @function\n"
	"bond_ucopy:\n"
	"	mov %rdx, %rcx\n"
	".globl bond_ucopy_insn\n"
	".hidden bond_ucopy_insn\n"
	"bond_ucopy_insn:\n"
	"	rep movsb\n"
	".globl bond_ucopy_fixup\n"
	".hidden bond_ucopy_fixup\n"
	"bond_ucopy_fixup:\n"
	"	mov %rcx, %rax\n"
	"	ret\n"
	".size bond_ucopy, .-bond_ucopy\n"
/* int bond_uprobe_w(void *p): 0 when the byte at p can be written, 1 when
 * it faults; lock or of 0 writes what is there, atomically. */
	".p2align 4\n"
	".globl bond_uprobe_w\n"
	".hidden bond_uprobe_w\n"
	".type bond_uprobe_w, @function\n"
	"bond_uprobe_w:\n"
	"	xor %eax, %eax\n"
	".globl bond_uprobe_insn\n"
	".hidden bond_uprobe_insn\n"
	"bond_uprobe_insn:\n"
	"	lock orb $0, (%rdi)\n"
	"	ret\n"
	".globl bond_uprobe_fixup\n"
	".hidden bond_uprobe_fixup\n"
	"bond_uprobe_fixup:\n"
	"	mov $1, %eax\n"
	"	ret\n"
	".size bond_uprobe_w, .-bond_uprobe_w\n");

size_t bond_ucopy(void *dst, const void *src, size_t n);
int bond_uprobe_w(void *p);
extern const char bond_ucopy_insn[], bond_ucopy_fixup[];
extern const char bond_uprobe_insn[], bond_uprobe_fixup[];

static inline bool
user_range(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;

	return n == 0 || (a >= USER_MIN && a + n > a && a + n <= USER_END);
}

size_t
bond_copy_from_user(void *dst, const void *src, size_t n)
{
	if (!user_range(src, n))
		return 0;
	return n - bond_ucopy(dst, src, n);
}

size_t
bond_copy_to_user(void *dst, const void *src, size_t n)
{
	if (!user_range(dst, n))
		return 0;
	return n - bond_ucopy(dst, src, n);
}

size_t
bond_user_readable(const void *src, size_t n)
{
	const char *p = src;
	size_t done = 0;
	char c;

	if (n == 0)
		return 0;
	if (!user_range(src, n))
		return 0;
	/* one byte of every page the range touches */
	while (done < n) {
		if (bond_ucopy(&c, p + done, 1) != 0)
			return done;
		done += PAGE - ((uintptr_t)(p + done) & (PAGE - 1));
	}
	return n;
}

bool
bond_user_writable(void *dst, size_t n)
{
	char *p = dst;

	if (n == 0)
		return true;
	if (!user_range(dst, n))
		return false;
	/*
	 * The last byte of the range in each page: a locked write makes a
	 * read of the same bytes right after it wait for the store (a failed
	 * store-to-load forward, ~7 ns here), and callers read the start of
	 * their ranges next (poll's fd, its revents being last).
	 */
	for (size_t done = 0; done < n;) {
		size_t chunk = PAGE - ((uintptr_t)(p + done) & (PAGE - 1));

		if (chunk > n - done)
			chunk = n - done;
		if (bond_uprobe_w(p + done + chunk - 1) != 0)
			return false;
		done += chunk;
	}
	return true;
}

bool
bond_uaccess_fixup(void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *rip = &uc->uc_mcontext.gregs[REG_RIP];

	if ((uintptr_t)*rip == (uintptr_t)bond_ucopy_insn)
		*rip = (greg_t)(uintptr_t)bond_ucopy_fixup;
	else if ((uintptr_t)*rip == (uintptr_t)bond_uprobe_insn)
		*rip = (greg_t)(uintptr_t)bond_uprobe_fixup;
	else
		return false;
	return true;
}
