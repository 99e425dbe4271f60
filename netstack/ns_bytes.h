/*
 * Network-order (big-endian) fields of headers read and written byte by
 * byte: no alignment or byte-order assumption. No DPDK or lwIP types.
 */
#ifndef ZPNET_NS_BYTES_H
#define ZPNET_NS_BYTES_H

#include <stdint.h>

static inline uint16_t
ns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
ns_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void
ns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#endif
