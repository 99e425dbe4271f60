/*
 * netstack/ns_mem.c, lwIP's heap, on a 1 MiB heap of its own: the edges
 * (0 bytes, too much, calloc's overflow, trim), alignment, a random run of
 * mallocs, frees and trims whose blocks are filled and checked (no two
 * overlap), with the whole heap checked as it goes (ns_mem_check stops
 * the test on anything inconsistent), exhaustion and holes, and that
 * everything freed merges back into one block the size of the heap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/mem.h"
#include "lwip/stats.h"

#include "ns_mem.h"
#include "unit_check.h"

struct stats_ lwip_stats;

void
ns_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "FAIL %s:%d: heap inconsistent: %s\n", file, line, what);
	abort();
}

#define HEAP		NS_MEM_SIZE
#define HDR		16u
#define LIVE_MAX	1500

struct live {
	unsigned char *p;
	size_t n;
	unsigned char fill;
};

static struct live live[LIVE_MAX];
static unsigned int n_live;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static size_t
rnd_size(void)
{
	switch (rnd() % 8) {
	case 0:
		return 1 + rnd() % 16;
	case 1: case 2: case 3:
		return 1 + rnd() % 512;
	case 4: case 5:
		return 512 + rnd() % 1536;	/* TX segments */
	case 6:
		return 2048 + rnd() % 8192;
	default:
		return 10000 + rnd() % 60000;	/* UDP datagrams */
	}
}

static int
intact(const struct live *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i] != l->fill)
			return 0;
	return 1;
}

static void
drop(unsigned int i)
{
	CHECK(intact(&live[i]), "block %u (%zu bytes) was overwritten", i, live[i].n);
	mem_free(live[i].p);
	live[i] = live[--n_live];
}

static size_t
heap_free(void)
{
	size_t f;

	ns_mem_check(&f);
	return f;
}

static void
test_edges(void)
{
	unsigned char *a, *b;

	CHECK(mem_malloc(0) == NULL, "malloc(0)");
	CHECK(mem_malloc(HEAP) == NULL, "all of the heap and its header");
	CHECK(mem_malloc((mem_size_t)-1) == NULL, "4 GiB");
	CHECK(mem_calloc(0x10000, 0x10001) == NULL, "calloc's product overflows");
	CHECK(lwip_stats.mem.err >= 2, "failures counted: %u", (unsigned)lwip_stats.mem.err);
	a = mem_calloc(10, 100);
	CHECK(a != NULL, "calloc(10, 100)");
	if (a == NULL)
		return;
	for (int i = 0; i < 1000; i++)
		if (a[i] != 0) {
			CHECK(0, "calloc left byte %d at %u", i, a[i]);
			break;
		}
	CHECK(((uintptr_t)a & 15) == 0, "16-byte aligned: %p", (void *)a);
	CHECK(mem_trim(a, 1009) == NULL, "trim cannot grow");
	CHECK(mem_trim(a, 1000) == a, "trim to the same size");
	CHECK(mem_trim(a, 10) == a, "trim in place");
	b = mem_malloc(100);	/* from the 1000 - 16 trim gave back */
	CHECK(b == a + 16 + HDR, "the trimmed tail is reused: %p after %p", (void *)b, (void *)a);
	mem_free(a);
	mem_free(b);
	CHECK(heap_free() == HEAP - HDR, "all merged back: %zu free", heap_free());
	CHECK(lwip_stats.mem.used == 0, "used %u after", (unsigned)lwip_stats.mem.used);
	a = mem_malloc(HEAP - HDR);
	CHECK(a != NULL, "the whole heap in one block");
	CHECK(mem_malloc(1) == NULL, "nothing left");
	mem_free(a);
}

static void
test_random(void)
{
	unsigned int nulls = 0, trims = 0;

	for (unsigned int op = 0; op < 300000; op++) {
		unsigned int r = rnd() % 10;

		if (r < 5 && n_live < LIVE_MAX) {
			struct live l = { .n = rnd_size(), .fill = (unsigned char)(1 + rnd() % 255) };

			l.p = mem_malloc((mem_size_t)l.n);
			if (l.p == NULL) {
				nulls++;
				continue;
			}
			if (((uintptr_t)l.p & 15) != 0)
				CHECK(0, "unaligned %p", (void *)l.p);
			memset(l.p, l.fill, l.n);
			live[n_live++] = l;
		} else if (r < 9 && n_live > 0) {
			drop(rnd() % n_live);
		} else if (n_live > 0) {
			struct live *l = &live[rnd() % n_live];
			size_t n = 1 + rnd() % l->n;

			if (mem_trim(l->p, (mem_size_t)n) != l->p)
				CHECK(0, "trim moved or failed");
			l->n = n;
			trims++;
		}
		if (op % 5000 == 0)
			heap_free();
	}
	printf("random: 300000 operations, %u live at the end, %u mallocs found no room, %u trims\n",
	       n_live, nulls, trims);
	CHECK(nulls > 0, "the run should fill the heap at times");
	while (n_live > 0)
		drop(n_live - 1);
	CHECK(heap_free() == HEAP - HDR, "all merged back: %zu free", heap_free());
}

static void
test_holes(void)
{
	static unsigned char *blocks[HEAP / 1024];
	unsigned int n = 0;
	unsigned char *big;

	while (n < HEAP / 1024 && (blocks[n] = mem_malloc(1024)) != NULL)
		n++;
	CHECK(n == (HEAP - HDR) / (1024 + HDR), "1 KiB blocks in the heap: %u", n);
	for (unsigned int i = 0; i < n; i += 2)
		mem_free(blocks[i]);
	CHECK(mem_malloc(1024 + 2 * HDR + 16) == NULL,
	      "no free block is larger than a hole");
	big = mem_malloc(1024);
	CHECK(big != NULL && big >= blocks[0] && (size_t)(big - blocks[0]) % (2 * (1024 + HDR)) == 0,
	      "a hole is reused: %p", (void *)big);
	mem_free(big);
	for (unsigned int i = 1; i < n; i += 2)
		mem_free(blocks[i]);
	CHECK(heap_free() == HEAP - HDR, "holes merged back: %zu free", heap_free());
	big = mem_malloc(HEAP / 2);
	CHECK(big != NULL, "half the heap after the holes");
	mem_free(big);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/zpnet-test-mem.XXXXXX";
	int rc = unit_start(argc, argv, dir);

	if (rc != 0)
		return rc;
	mem_init();
	CHECK(heap_free() == HEAP - HDR, "one free block at the start: %zu", heap_free());
	test_edges();
	test_random();
	test_holes();
	return unit_finish(dir);
}
