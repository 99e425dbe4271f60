/*
 * lwIP's fixed-size pools (the memp API), in place of lwIP's memp.c.
 *
 * lwIP threads every element of every pool onto its free list at start-up,
 * touching all of them: each pool costs its full size in resident memory
 * before the first connection, and a pool holds at most 65,535 elements
 * (its count is a u16_t in struct memp_desc). Here a pool hands out its
 * elements in address order from a high-water mark first and reuses
 * freed ones (LIFO) after that: memory becomes resident as the stack
 * grows into it, a pool may hold any number of elements, and a pool's
 * limit can be lowered at run time (ns_memp_set_limit: [stack]
 * max_sockets). Allocation and free stay O(1).
 *
 * The pools are lwIP's own (lwip/priv/memp_std.h, sized by lwipopts.h),
 * declared with lwIP's macros, so every memp_t user finds them as before;
 * a pool declared elsewhere (LWIP_MEMPOOL_DECLARE) is not served. A free
 * that does not match an allocation stops the process (NS_ASSERT).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/memp.h"
#include "lwip/stats.h"

/* What memp_std.h needs to size every pool. */
#include "lwip/etharp.h"
#include "lwip/igmp.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/mld6.h"
#include "lwip/pbuf.h"
#include "lwip/priv/nd6_priv.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/raw.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ppp/ppp_opts.h"	/* PPP_NUM_TIMEOUTS, in MEMP_NUM_SYS_TIMEOUT */

#include "ns.h"
#include "ns_demux.h"
#include "ns_log.h"
#include "ns_memp.h"

#if MEMP_MEM_MALLOC || MEMP_OVERFLOW_CHECK || MEMP_MEM_INIT || MEMP_USE_CUSTOM_POOLS
#error "ns_memp.c implements plain pools only"
#endif

/* A pool's num field is a u16_t: larger counts are cut there, and kept
 * whole in pool_size below. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverflow"
#define LWIP_MEMPOOL(name, num, size, desc) LWIP_MEMPOOL_DECLARE(name, num, size, desc)
#include "lwip/priv/memp_std.h"
#pragma GCC diagnostic pop

const struct memp_desc *const memp_pools[MEMP_MAX] = {
#define LWIP_MEMPOOL(name, num, size, desc) &memp_ ## name,
#include "lwip/priv/memp_std.h"
};

/* The true counts (a desc's num is cut to 16 bits). */
static const u32_t pool_size[MEMP_MAX] = {
#define LWIP_MEMPOOL(name, num, size, desc) (num),
#include "lwip/priv/memp_std.h"
};

/* TCP pcbs in use, a bit per element: `zpnet stats` walks them
 * (ns_tcp_pcb_next), TIME-WAIT and half-open ones included. */
#define NS_LIVE_BITS	64u
static uint64_t tcp_pcb_live[(MEMP_NUM_TCP_PCB + NS_LIVE_BITS - 1) / NS_LIVE_BITS];

static void (*pcb_freed)(struct tcp_pcb *pcb);	/* ns_tcp_set_pcb_freed */
static u32_t pool_limit[MEMP_MAX];	/* at most pool_size */
static u32_t pool_used[MEMP_MAX];
static u32_t pool_fresh[MEMP_MAX];	/* elements handed out from the start */

static void
pool_reset(unsigned int i)
{
	const struct memp_desc *d = memp_pools[i];

	*d->tab = NULL;
	if (i == MEMP_TCP_PCB) {
		/* only what was handed out: the rest is 0 */
		memset(tcp_pcb_live, 0, (pool_fresh[i] + NS_LIVE_BITS - 1) /
					NS_LIVE_BITS * sizeof(tcp_pcb_live[0]));
		ns_demux_reset(pool_fresh[i]);
	}
	pool_used[i] = 0;
	pool_fresh[i] = 0;
	pool_limit[i] = pool_size[i];
#if MEMP_STATS
	d->stats->avail = (mem_size_t)pool_limit[i];
	d->stats->used = 0;
	d->stats->max = 0;
#endif
}

void
memp_init(void)
{
	for (unsigned int i = 0; i < MEMP_MAX; i++) {
		pool_reset(i);
#if LWIP_STATS && MEMP_STATS
		lwip_stats.memp[i] = memp_pools[i]->stats;
#endif
	}
}

int
ns_memp_set_limit(memp_t type, u32_t limit)
{
	if ((unsigned int)type >= MEMP_MAX || limit > pool_size[type] ||
	    limit < pool_used[type])
		return -1;
	pool_limit[type] = limit;
#if MEMP_STATS
	memp_pools[type]->stats->avail = (mem_size_t)limit;
#endif
	return 0;
}

static u8_t *
pool_base(const struct memp_desc *d)
{
	return (u8_t *)LWIP_MEM_ALIGN(d->base);
}

static void
live_set(const struct memp_desc *d, void *mem, bool live)
{
	size_t i = (size_t)((u8_t *)mem - pool_base(d)) / d->size;

	if (!live)
		ns_demux_forget((u32_t)i);	/* before its slot is reused */

	if (live)
		tcp_pcb_live[i / NS_LIVE_BITS] |= 1ull << (i % NS_LIVE_BITS);
	else
		tcp_pcb_live[i / NS_LIVE_BITS] &= ~(1ull << (i % NS_LIVE_BITS));
}

unsigned int
ns_tcp_pcb_next(u32_t *cursor, struct tcp_pcb **out, unsigned int max)
{
	const struct memp_desc *d = memp_pools[MEMP_TCP_PCB];
	u32_t i = *cursor, end = pool_fresh[MEMP_TCP_PCB];
	unsigned int n = 0;

	while (i < end && n < max) {
		uint64_t word = tcp_pcb_live[i / NS_LIVE_BITS] >> (i % NS_LIVE_BITS);

		if (word == 0) {
			i = (i / NS_LIVE_BITS + 1) * NS_LIVE_BITS;
			continue;
		}
		i += (u32_t)__builtin_ctzll(word);
		if (i >= end)
			break;
		out[n++] = (struct tcp_pcb *)(void *)(pool_base(d) + (size_t)i * d->size);
		i++;
	}
	*cursor = i;
	return n;
}

void
ns_tcp_set_pcb_freed(void (*freed)(struct tcp_pcb *pcb))
{
	pcb_freed = freed;
}

u32_t
ns_tcp_pcb_slot(const struct tcp_pcb *pcb)
{
	const struct memp_desc *d = memp_pools[MEMP_TCP_PCB];

	return (u32_t)((size_t)((const u8_t *)pcb - pool_base(d)) / d->size);
}

struct tcp_pcb *
ns_tcp_pcb_at(u32_t slot)
{
	const struct memp_desc *d = memp_pools[MEMP_TCP_PCB];

	return (struct tcp_pcb *)(void *)(pool_base(d) + (size_t)slot * d->size);
}

u32_t
ns_memp_room(memp_t type)
{
	return pool_limit[type] - pool_used[type];
}

void *
memp_malloc(memp_t type)
{
	const struct memp_desc *d;
	struct memp *m;

	if ((unsigned int)type >= MEMP_MAX)
		return NULL;
	d = memp_pools[type];
	if (pool_used[type] >= pool_limit[type]) {
#if MEMP_STATS
		d->stats->err++;
#endif
		return NULL;
	}
	m = *d->tab;
	if (m != NULL) {
		*d->tab = m->next;
	} else {
		/* never handed out yet: the next one in address order */
		m = (struct memp *)(void *)((u8_t *)LWIP_MEM_ALIGN(d->base) +
					    (size_t)pool_fresh[type] * d->size);
		pool_fresh[type]++;
	}
	pool_used[type]++;
	if (type == MEMP_TCP_PCB)
		live_set(d, m, true);
#if MEMP_STATS
	d->stats->used = (mem_size_t)pool_used[type];
	if (d->stats->used > d->stats->max)
		d->stats->max = d->stats->used;
#endif
	return m;
}

void
memp_free(memp_t type, void *mem)
{
	const struct memp_desc *d;
	struct memp *m = mem;

	if (mem == NULL)
		return;
	NS_ASSERT((unsigned int)type < MEMP_MAX && pool_used[type] > 0);
	d = memp_pools[type];
	NS_ASSERT((u8_t *)mem >= (u8_t *)LWIP_MEM_ALIGN(d->base) &&
		  (u8_t *)mem < (u8_t *)LWIP_MEM_ALIGN(d->base) +
		  (size_t)pool_fresh[type] * d->size);
	if (type == MEMP_TCP_PCB) {
		if (pcb_freed != NULL)
			pcb_freed(mem);
		live_set(d, mem, false);
	}
	m->next = *d->tab;
	*d->tab = m;
	pool_used[type]--;
#if MEMP_STATS
	d->stats->used = (mem_size_t)pool_used[type];
#endif
}

/* LWIP_MEMPOOL_* users name a pool by its descriptor. */
static memp_t
pool_of(const struct memp_desc *desc)
{
	for (unsigned int i = 0; i < MEMP_MAX; i++)
		if (memp_pools[i] == desc)
			return (memp_t)i;
	return MEMP_MAX;
}

/* Only lwIP's own pools (memp_std.h) are served: no other is declared. */
void
memp_init_pool(const struct memp_desc *desc)
{
	memp_t t = pool_of(desc);

	NS_ASSERT(t != MEMP_MAX);
	pool_reset(t);
}

void *
memp_malloc_pool(const struct memp_desc *desc)
{
	return memp_malloc(pool_of(desc));
}

void
memp_free_pool(const struct memp_desc *desc, void *mem)
{
	memp_free(pool_of(desc), mem);
}
