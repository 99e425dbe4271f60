/*
 * The Internet checksum (RFC 1071) in software, for ports without
 * offloads: 64-bit words added with their carries, then folded. Words are
 * summed in native order and the folded result stored the same way, which
 * gives the network-order sum (byte order independence, RFC 1071 2(B)).
 * No DPDK or lwIP types.
 */
#ifndef ZPNET_NS_CSUM_H
#define ZPNET_NS_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* acc plus the native-order words of n bytes at p, not yet folded. */
static inline uint64_t
ns_csum_add(const void *data, size_t n, uint64_t acc)
{
	const uint8_t *p = data;
	uint64_t carry = 0, wrap;

	for (; n >= 32; p += 32, n -= 32) {
		uint64_t w[4];

		memcpy(w, p, sizeof(w));
		carry += __builtin_add_overflow(acc, w[0], &acc);
		carry += __builtin_add_overflow(acc, w[1], &acc);
		carry += __builtin_add_overflow(acc, w[2], &acc);
		carry += __builtin_add_overflow(acc, w[3], &acc);
	}
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		carry += __builtin_add_overflow(acc, w, &acc);
	}
	if (n >= 4) {
		uint32_t w;

		memcpy(&w, p, sizeof(w));
		carry += __builtin_add_overflow(acc, (uint64_t)w, &acc);
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		uint16_t w;

		memcpy(&w, p, sizeof(w));
		carry += __builtin_add_overflow(acc, (uint64_t)w, &acc);
		p += 2;
		n -= 2;
	}
	if (n != 0) {	/* the high byte of a word padded with zero */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		carry += __builtin_add_overflow(acc, (uint64_t)*p << 8, &acc);
#else
		carry += __builtin_add_overflow(acc, (uint64_t)*p, &acc);
#endif
	}
	/* end-around carry: each carry out of bit 63 is worth 1; a wrap
	 * here leaves acc below carry, so the last 1 cannot wrap again */
	wrap = __builtin_add_overflow(acc, carry, &acc);
	return acc + wrap;
}

/* 64 bits folded to the 16-bit ones' complement sum. */
static inline uint16_t
ns_csum_fold(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

#endif
