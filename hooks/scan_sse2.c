/*
 * The rewriter's search for syscall instructions, 16 bytes a step (SSE2,
 * the x86-64 baseline: no VEX, see tests/bond/vecwrap.sh). The rest of
 * the engine is built with -mgeneral-regs-only, since a hooked call must
 * leave the application's vector registers alone; this file is not. Only
 * the rewriter calls it (zp_scan_code_at), and it runs where they are not
 * live: at start-up, or in the C path of a hooked mmap/mprotect with
 * PROT_EXEC, whose entry saves them (entry.S, ZP_KIND_PROT). About a
 * quarter of the rewriter's time went to the search in general registers
 * (8 bytes a step, its false positives checked a byte at a time).
 */
#include <emmintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "zp_internal.h"
#include "zp_rewrite.h"

size_t
zp_next_syscall_sse2(const uint8_t *buf, size_t from, size_t len)
{
	const __m128i op0 = _mm_set1_epi8((char)ZP_OP_SYSCALL0);
	const __m128i op1 = _mm_set1_epi8((char)ZP_OP_SYSCALL1);
	const __m128i op2 = _mm_set1_epi8((char)ZP_OP_SYSENTER1);
	size_t x = from;

	/* reads buf[x .. x + 16]: both loads end before len */
	while (x + sizeof(__m128i) + 1 <= len) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(buf + x));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(buf + x + 1));
		__m128i hit = _mm_and_si128(_mm_cmpeq_epi8(a, op0),
					    _mm_or_si128(_mm_cmpeq_epi8(b, op1),
							 _mm_cmpeq_epi8(b, op2)));
		unsigned int bits = (unsigned int)_mm_movemask_epi8(hit);

		if (bits != 0)
			return x + (size_t)__builtin_ctz(bits);
		x += sizeof(__m128i);
	}
	return x;
}
