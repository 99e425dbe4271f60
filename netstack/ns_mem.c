/*
 * lwIP's heap (the mem API: mem_malloc, mem_free, mem_trim), in place of
 * lwIP's mem.c.
 *
 * lwIP's heap is first-fit over a list of every block, used or free, in
 * address order: mem_malloc walks from the lowest free block past every
 * block above it until one fits. The heap holds TX data (PBUF_RAM pbufs)
 * and the socket layer's sockets, so with 100,000 connections open one
 * allocation walked 100,000 blocks: opening connections became quadratic
 * (44% of all CPU time at 95,000 connections, in mem_malloc alone).
 *
 * Here the heap is a two-level segregated fit (TLSF, Masmano et al.):
 * free blocks sit in lists by size, 16 lists per power of two (one list
 * per 16 bytes below 256), found through two levels of bitmaps, so that
 * malloc and free are O(1) whatever is allocated. A block is split on
 * malloc and merged with its free neighbours on free: the heap never
 * fragments into pieces that cannot be merged again. Every block starts
 * with its header (the size of its payload, two flags, and the block
 * before it, kept while that one is free); payloads are 16-byte aligned.
 *
 * Memory is touched in address order from the start: the heap counts in
 * resident memory only as far as it was ever used (it lives in the shared
 * stack memory, ns_shared.ld, as lwIP's did). A pointer that is not a
 * block in use stops the process (NS_ASSERT): only lwIP and the socket
 * layer free here. Lock held.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/mem.h"
#include "lwip/stats.h"

#include "ns_log.h"
#include "ns_mem.h"

#if MEM_LIBC_MALLOC || MEM_USE_POOLS || MEM_OVERFLOW_CHECK
#error "ns_mem.c is the heap: MEM_LIBC_MALLOC, MEM_USE_POOLS, MEM_OVERFLOW_CHECK off"
#endif

#ifndef NS_MEM_SIZE
#define NS_MEM_SIZE	MEM_SIZE	/* the unit test builds a small one */
#endif

#define GRAN		16u			/* sizes are multiples of this */
#define SL_BITS		4u			/* lists per power of two: 16 */
#define SL_COUNT	(1u << SL_BITS)
#define SMALL		(SL_COUNT * GRAN)	/* below: a list per 16 bytes */
#define SMALL_SHIFT	8u			/* log2(SMALL) */
#define FL_COUNT	32u

#define F_FREE		1u	/* in size's low bits (sizes are GRAN-aligned) */
#define F_PREV_FREE	2u
#define F_MASK		(GRAN - 1)

struct blk {
	struct blk *prev_phys;	/* the block before, while it is free */
	size_t size;		/* payload bytes | F_FREE | F_PREV_FREE */
	/* the payload; of a free block: */
	struct blk *next_free, *prev_free;
};

#define HDR		offsetof(struct blk, next_free)
#define MIN_PAYLOAD	(sizeof(struct blk) - HDR)

_Static_assert(HDR % GRAN == 0 && MIN_PAYLOAD % GRAN == 0, "aligned blocks");
_Static_assert(GRAN % MEM_ALIGNMENT == 0, "lwIP's alignment");
_Static_assert(NS_MEM_SIZE % GRAN == 0, "the heap is whole blocks");
_Static_assert(NS_MEM_SIZE < (1ull << (FL_COUNT + SMALL_SHIFT - 1)), "first levels");

static unsigned char heap[NS_MEM_SIZE + 2 * sizeof(struct blk)]
	__attribute__((aligned(64)));
static uint32_t fl_map;
static uint32_t sl_map[FL_COUNT];
static struct blk *lists[FL_COUNT][SL_COUNT];

static inline size_t
blk_size(const struct blk *b)
{
	return b->size & ~(size_t)F_MASK;
}

static inline struct blk *
blk_next(const struct blk *b)
{
	return (struct blk *)(void *)((unsigned char *)b + HDR + blk_size(b));
}

static inline void *
blk_payload(struct blk *b)
{
	return (unsigned char *)b + HDR;
}

/* The list a block of size belongs in. */
static void
mapping(size_t size, unsigned int *fl, unsigned int *sl)
{
	if (size < SMALL) {
		*fl = 0;
		*sl = (unsigned int)(size / GRAN);
	} else {
		unsigned int msb = 63u - (unsigned int)__builtin_clzll(size);

		*fl = msb - SMALL_SHIFT + 1;
		*sl = (unsigned int)(size >> (msb - SL_BITS)) ^ SL_COUNT;
	}
}

static void
insert_free(struct blk *b)
{
	unsigned int fl, sl;
	struct blk *head;

	mapping(blk_size(b), &fl, &sl);
	head = lists[fl][sl];
	b->next_free = head;
	b->prev_free = NULL;
	if (head != NULL)
		head->prev_free = b;
	lists[fl][sl] = b;
	fl_map |= 1u << fl;
	sl_map[fl] |= 1u << sl;
}

static void
remove_free(struct blk *b)
{
	unsigned int fl, sl;

	mapping(blk_size(b), &fl, &sl);
	if (b->next_free != NULL)
		b->next_free->prev_free = b->prev_free;
	if (b->prev_free != NULL) {
		b->prev_free->next_free = b->next_free;
		return;
	}
	lists[fl][sl] = b->next_free;
	if (b->next_free == NULL) {
		sl_map[fl] &= ~(1u << sl);
		if (sl_map[fl] == 0)
			fl_map &= ~(1u << fl);
	}
}

/* A free block of at least size (GRAN-aligned), or NULL. */
static struct blk *
find(size_t size)
{
	unsigned int fl, sl;
	uint32_t map;

	mapping(size, &fl, &sl);
	if (size >= SMALL) {
		/* the first list whose every block is large enough */
		unsigned int msb = 63u - (unsigned int)__builtin_clzll(size);

		mapping(size + ((size_t)1 << (msb - SL_BITS)) - 1, &fl, &sl);
	}
	map = fl < FL_COUNT ? sl_map[fl] & (~0u << sl) : 0;
	if (map == 0) {
		map = fl + 1 < FL_COUNT ? fl_map & (~0u << (fl + 1)) : 0;
		if (map != 0) {
			fl = (unsigned int)__builtin_ctz(map);
			map = sl_map[fl];
		}
	}
	if (map != 0)
		return lists[fl][__builtin_ctz(map)];
	/* Only size's own list is left, where blocks may be smaller than
	 * it: first fit there (the heap is nearly full). */
	mapping(size, &fl, &sl);
	for (struct blk *b = lists[fl][sl]; b != NULL; b = b->next_free)
		if (blk_size(b) >= size)
			return b;
	return NULL;
}

/* b, free and off its list, merged with a free block after it, goes on
 * its list; the block after it learns it is free. */
static void
release(struct blk *b)
{
	struct blk *next = blk_next(b);

	if (next->size & F_FREE) {
		remove_free(next);
		b->size += HDR + blk_size(next);	/* keeps b's flags */
		next = blk_next(b);
	}
	next->prev_phys = b;
	next->size |= F_PREV_FREE;
	insert_free(b);
}

/* Cut b (in use) to size; the rest, if it can be a block, becomes a free
 * one, merged with a free block after it. */
static void
split(struct blk *b, size_t size)
{
	struct blk *rest;
	size_t have = blk_size(b);

	if (have < size + HDR + MIN_PAYLOAD)
		return;
	rest = (struct blk *)(void *)((unsigned char *)b + HDR + size);
	b->size = size | (b->size & F_MASK);
	rest->size = (have - size - HDR) | F_FREE;	/* b before it is used */
	release(rest);
}

static size_t
request(mem_size_t n)
{
	size_t size = ((size_t)n + GRAN - 1) & ~(size_t)(GRAN - 1);

	return size < MIN_PAYLOAD ? MIN_PAYLOAD : size;
}

static struct blk *
used_blk(void *mem)
{
	struct blk *b = (struct blk *)(void *)((unsigned char *)mem - HDR);

	NS_ASSERT((unsigned char *)mem >= heap + HDR &&
		  (unsigned char *)mem < heap + sizeof(heap) &&
		  ((uintptr_t)mem & (GRAN - 1)) == 0 && !(b->size & F_FREE));
	return b;
}

void
mem_init(void)
{
	struct blk *first = (struct blk *)(void *)heap, *end;

	fl_map = 0;
	memset(sl_map, 0, sizeof(sl_map));
	memset(lists, 0, sizeof(lists));
	/* one free block, and a used one of size 0 that ends the heap */
	first->prev_phys = NULL;
	first->size = (NS_MEM_SIZE - HDR) | F_FREE;
	end = blk_next(first);
	end->prev_phys = first;
	end->size = F_PREV_FREE;
	insert_free(first);
#if MEM_STATS
	memset(&lwip_stats.mem, 0, sizeof(lwip_stats.mem));
	lwip_stats.mem.avail = (mem_size_t)NS_MEM_SIZE;
#endif
}

void *
mem_malloc(mem_size_t n)
{
	size_t size = request(n);
	struct blk *b;

	if (n == 0 || size > NS_MEM_SIZE || (b = find(size)) == NULL) {
		if (n != 0)
			MEM_STATS_INC(err);
		return NULL;
	}
	remove_free(b);
	b->size &= ~(size_t)F_FREE;
	blk_next(b)->size &= ~(size_t)F_PREV_FREE;
	split(b, size);
	MEM_STATS_INC_USED(used, (mem_size_t)(blk_size(b) + HDR));
	return blk_payload(b);
}

void *
mem_calloc(mem_size_t count, mem_size_t size)
{
	void *p;

	if (size != 0 && count > (mem_size_t)-1 / size)
		return NULL;
	p = mem_malloc((mem_size_t)(count * size));
	if (p != NULL)
		memset(p, 0, (size_t)count * size);
	return p;
}

void
mem_free(void *mem)
{
	struct blk *b;

	if (mem == NULL)
		return;
	b = used_blk(mem);
	MEM_STATS_DEC_USED(used, (mem_size_t)(blk_size(b) + HDR));
	b->size |= F_FREE;
	if (b->size & F_PREV_FREE) {
		struct blk *prev = b->prev_phys;

		remove_free(prev);
		prev->size += HDR + blk_size(b);	/* keeps prev's flags */
		b = prev;
	}
	release(b);
}

/* lwIP's contract: shrink in place (pbuf_realloc), never grow. */
void *
mem_trim(void *mem, mem_size_t n)
{
	struct blk *b = used_blk(mem);
	size_t size = request(n), had = blk_size(b);

	if (size > had)
		return NULL;
	split(b, size);
	MEM_STATS_DEC_USED(used, (mem_size_t)(had - blk_size(b)));
	return mem;
}

size_t
ns_mem_check(size_t *free_bytes)
{
	const struct blk *b = (const struct blk *)(const void *)heap;
	size_t used = 0, nfree = 0, listed = 0;
	bool prev_free = false;

	*free_bytes = 0;
	for (; blk_size(b) != 0; b = blk_next(b)) {
		NS_ASSERT(!!(b->size & F_PREV_FREE) == prev_free);
		prev_free = (b->size & F_FREE) != 0;
		if (prev_free) {
			NS_ASSERT(!(blk_next(b)->size & F_FREE));	/* merged */
			NS_ASSERT(blk_next(b)->prev_phys == b);
			*free_bytes += blk_size(b);
			nfree++;
		} else {
			used++;
		}
	}
	NS_ASSERT((const unsigned char *)b == heap + NS_MEM_SIZE);
	for (unsigned int fl = 0; fl < FL_COUNT; fl++) {
		NS_ASSERT(!!(fl_map & (1u << fl)) == (sl_map[fl] != 0));
		for (unsigned int sl = 0; sl < SL_COUNT; sl++) {
			NS_ASSERT(!!(sl_map[fl] & (1u << sl)) == (lists[fl][sl] != NULL));
			for (const struct blk *f = lists[fl][sl]; f != NULL; f = f->next_free) {
				unsigned int bfl, bsl;

				mapping(blk_size(f), &bfl, &bsl);
				NS_ASSERT(bfl == fl && bsl == sl && (f->size & F_FREE));
				listed++;
			}
		}
	}
	NS_ASSERT(listed == nfree);
	return used;
}
