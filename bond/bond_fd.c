/*
 * The fd table: fd numbers are the kernel's, so one array indexed by fd says
 * who serves each one. Entries are read without a lock (atomic loads) by
 * every handler; they change on socket/accept/close/dup under the stack lock.
 */
/* bond_dispatch.c calls bond_fd_is_kernel() and bond_fd_nsocks() before
 * the vector state is saved: no vector register here. */
#pragma GCC target("general-regs-only")

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bond.h"

struct bond_fd_entry {
	uintptr_t word;		/* obj pointer | kind in the low bits */
};

#define BOND_FD_KIND_MASK	((uintptr_t)3)
/* the hooks' entry reads the table as words (zp_hooks_set_fd_table) */
_Static_assert(sizeof(struct bond_fd_entry) == sizeof(uintptr_t),
	       "one word per fd");

static struct bond_fd_entry *table;
static unsigned int table_size;
static unsigned int hiwater;	/* above every fd ever set */
static unsigned int nsocks;	/* entries that are stack sockets */

/* An entry changed from old to new: keep nsocks. */
static inline void
count_change(uintptr_t old, uintptr_t new)
{
	bool was = (old & BOND_FD_KIND_MASK) == BOND_FD_SOCK;
	bool is = (new & BOND_FD_KIND_MASK) == BOND_FD_SOCK;

	if (was != is)
		__atomic_add_fetch(&nsocks, is ? 1u : -1u, __ATOMIC_RELAXED);
}

int
bond_fd_init(unsigned int max_fds)
{
	size_t bytes = (size_t)max_fds * sizeof(*table);
	void *p;

	if (max_fds == 0)
		return -EINVAL;
	/* mmap, not malloc: the pages cost nothing until an fd is used. */
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	table = p;
	table_size = max_fds;
	return 0;
}

void
bond_fd_fini(void)
{
	if (table != NULL)
		munmap(table, (size_t)table_size * sizeof(*table));
	table = NULL;
	table_size = 0;
	hiwater = 0;
	nsocks = 0;
}

const uintptr_t *
bond_fd_words(void)
{
	return &table[0].word;
}

unsigned int
bond_fd_max(void)
{
	return table_size;
}

unsigned int
bond_fd_nsocks(void)
{
	return __atomic_load_n(&nsocks, __ATOMIC_RELAXED);
}

unsigned int
bond_fd_hiwater(void)
{
	return __atomic_load_n(&hiwater, __ATOMIC_RELAXED);
}

bool
bond_fd_is_kernel(int fd)
{
	if (fd < 0 || (unsigned int)fd >= table_size)
		return true;
	return __atomic_load_n(&table[fd].word, __ATOMIC_ACQUIRE) == 0;
}

enum bond_fd_kind
bond_fd_get(int fd, void **obj)
{
	uintptr_t w;

	if (fd < 0 || (unsigned int)fd >= table_size) {
		*obj = NULL;
		return BOND_FD_KERNEL;
	}
	w = __atomic_load_n(&table[fd].word, __ATOMIC_ACQUIRE);
	*obj = (void *)(w & ~BOND_FD_KIND_MASK);
	return (enum bond_fd_kind)(w & BOND_FD_KIND_MASK);
}

int
bond_fd_set(int fd, enum bond_fd_kind kind, void *obj)
{
	uintptr_t w = (uintptr_t)obj;

	if (fd < 0 || (unsigned int)fd >= table_size)
		return -EBADF;
	if (kind == BOND_FD_KERNEL)
		w = 0;
	w |= (uintptr_t)kind;
	count_change(__atomic_exchange_n(&table[fd].word, w, __ATOMIC_ACQ_REL), w);
	for (unsigned int h = __atomic_load_n(&hiwater, __ATOMIC_RELAXED);
	     h < (unsigned int)fd + 1 &&
	     !__atomic_compare_exchange_n(&hiwater, &h, (unsigned int)fd + 1, false,
					  __ATOMIC_RELAXED, __ATOMIC_RELAXED);)
		;
	return 0;
}

void
bond_fd_clear(int fd)
{
	if (fd >= 0 && (unsigned int)fd < table_size)
		count_change(__atomic_exchange_n(&table[fd].word, 0, __ATOMIC_ACQ_REL), 0);
}

void
bond_fd_foreach(enum bond_fd_kind kind,
		void (*fn)(int fd, void *obj, void *arg), void *arg)
{
	for (unsigned int i = 0; i < bond_fd_hiwater(); i++) {
		void *obj;

		if (table[i].word != 0 && bond_fd_get((int)i, &obj) == kind)
			fn((int)i, obj, arg);
	}
}
