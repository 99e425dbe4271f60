/*
 * sites.c - the set of rewritten call sites, keyed by return address, and
 * poke.c's set of addresses written with the int3 protocol.
 *
 * Open addressing with linear probing; entry.S probes the site set with
 * the same hash (zp_site_hash) and stops at an empty slot, 0.  A set
 * grows, under the rewrite lock, by copying into one twice its size;
 * readers may still walk the old one, so it is never freed.  A removed
 * address leaves ZP_SITE_GONE behind, which ends no probe.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zp_rewrite.h"

#define ZP_POKE_SET_INIT	(1UL << 8)

struct zp_site_set *zp_site_set;
static uint64_t zp_site_count;

/* ---------------------------------------------------------------------- */
/* site set */

static inline uint64_t
zp_site_hash(uintptr_t a)
{
	/* the same as entry.S: imul with a sign-extended imm32, then shr */
	return ((uint64_t)a * (uint64_t)(int64_t)(int32_t)ZP_SITE_HASH_MUL)
		>> ZP_SITE_HASH_SHIFT;
}

struct zp_site_set *
zp_site_set_alloc(uint64_t nslots)
{
	size_t sz = sizeof(struct zp_site_set) + nslots * sizeof(uint64_t);
	long r = zp_syscall6(SYS_mmap, 0, (long)sz, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (zp_kerr(r))
		return NULL;
	((struct zp_site_set *)r)->mask = nslots - 1;
	return (struct zp_site_set *)r;
}

static void
zp_site_insert(struct zp_site_set *s, uintptr_t a)
{
	uint64_t i = zp_site_hash(a);

	for (;; i++) {
		i &= s->mask;
		if (s->slot[i] == a)
			return;
		if (s->slot[i] == 0) {
			__atomic_store_n(&s->slot[i], a, __ATOMIC_RELEASE);
			return;
		}
	}
}

static int
zp_set_has(struct zp_site_set **sp, uintptr_t a)
{
	struct zp_site_set *s = __atomic_load_n(sp, __ATOMIC_ACQUIRE);
	uint64_t i = zp_site_hash(a);

	for (;; i++) {
		i &= s->mask;
		if (s->slot[i] == a)
			return 1;
		if (s->slot[i] == 0)
			return 0;
	}
}

/* Add an address to *sp holding *count.  Caller holds the rewrite lock. */
static int
zp_set_add(struct zp_site_set **sp, uint64_t *count, uintptr_t a)
{
	struct zp_site_set *s = *sp;

	if ((*count + 1) * 2 > s->mask + 1) {
		struct zp_site_set *n = zp_site_set_alloc((s->mask + 1) * 2);
		uint64_t i;

		if (n == NULL)
			return -ENOMEM;
		for (i = 0; i <= s->mask; i++)
			if (s->slot[i] > ZP_SITE_GONE)
				zp_site_insert(n, s->slot[i]);
		/* readers may still walk the old set: it is never freed */
		__atomic_store_n(sp, n, __ATOMIC_RELEASE);
		s = n;
	}
	if (!zp_set_has(sp, a)) {
		zp_site_insert(s, a);
		(*count)++;
	}
	return 0;
}

int
zp_site_has(uintptr_t a)
{
	return zp_set_has(&zp_site_set, a);
}

/* Add a return address.  Caller holds the rewrite lock. */
int
zp_site_add(uintptr_t a)
{
	return zp_set_add(&zp_site_set, &zp_site_count, a);
}

/*
 * Remove a return address: its slot becomes ZP_SITE_GONE, which no
 * address equals and which does not end a probe (entry.S stops at 0).
 * The slot still counts as used until the set grows.  Caller holds the
 * rewrite lock.
 */
void
zp_site_del(uintptr_t a)
{
	struct zp_site_set *s = zp_site_set;
	uint64_t i = zp_site_hash(a);

	for (;; i++) {
		i &= s->mask;
		if (s->slot[i] == a) {
			__atomic_store_n(&s->slot[i], ZP_SITE_GONE,
					 __ATOMIC_RELEASE);
			return;
		}
		if (s->slot[i] == 0)
			return;
	}
}

/*
 * poke.c's set: first bytes written with the int3 protocol, looked up by
 * its SIGTRAP handler.  Never shrinks (a trap may be delivered late).
 */
static struct zp_site_set *zp_poke_set;
static uint64_t zp_poke_count;

int
zp_poke_set_init(void)
{
	if (zp_poke_set == NULL)
		zp_poke_set = zp_site_set_alloc(ZP_POKE_SET_INIT);
	return zp_poke_set == NULL ? -ENOMEM : 0;
}

int
zp_poke_set_add(uintptr_t a)
{
	return zp_set_add(&zp_poke_set, &zp_poke_count, a);
}

int
zp_poke_set_has(uintptr_t a)
{
	return __atomic_load_n(&zp_poke_set, __ATOMIC_ACQUIRE) != NULL &&
		zp_set_has(&zp_poke_set, a);
}
