/*
 * epoll bookkeeping for stack sockets. Each epoll instance is a real kernel
 * epoll fd (for the kernel fds in its set) plus these items for stack
 * sockets, kept the way Linux keeps them (fs/eventpoll.c):
 *
 * - An item is keyed by (socket, fd): the open file description and the
 *   fd it was added with. It lives until EPOLL_CTL_DEL or the socket's
 *   final close, so dup + close of the first fd keeps it, and the same
 *   socket can be in many sets. A hash on the socket's id finds items.
 * - A ready list holds the items whose socket changed since the set last
 *   looked, in the order they changed: the set reads the stack's readiness
 *   log (bond_ev_log) on from its cursor and queues its items of each
 *   socket logged, once. epoll_wait walks the ready list only: each item's
 *   level (events()) decides; a level-triggered item reported goes back to
 *   the tail (so maxevents rotates over ready sockets), one not ready, an
 *   EPOLLET or a disarmed EPOLLONESHOT item leaves the list until its
 *   socket changes again. ADD and MOD queue the item, as Linux polls it
 *   there. Cost: O(changes + reported), O(1) for ctl.
 * - A set more than BOND_EV_LOG changes behind queues all its items once.
 *
 * EPOLLEXCLUSIVE (nginx's workers on one listening socket): Linux wakes one
 * of the sets waiting on it. Here every waiter polls, so a readiness (the
 * socket's ev_seq) is claimed by the first set that reports it; the other
 * sets with EPOLLEXCLUSIVE leave it alone for BOND_EXCL_HOLD_NS, unless it
 * moves meanwhile (a new connection). Past that, any set may take it: a
 * claimer that never accepts delays a connection, it does not lose it
 * (on Linux the other waiters would sleep on until the next event).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bond.h"

#define BOND_EPOLL_MIN_CAP	16
#define BOND_EXCL_HOLD_NS	(100 * BOND_NS_PER_MS)
/* What Linux lets EPOLLEXCLUSIVE come with (fs/eventpoll.c) */
#define BOND_EXCL_OK		(EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | \
				 EPOLLWRNORM | EPOLLWRBAND | EPOLLERR | EPOLLHUP | \
				 EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)
#define BOND_EPOLL_ALWAYS	(EPOLLERR | EPOLLHUP)	/* reported unasked */
#define BOND_EPOLL_USER_EVENTS	(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | \
				 EPOLLERR | EPOLLHUP)
#define NIL			(-1)

struct bond_epoll_item {
	struct bond_sock *sk;	/* only through bond_sock_at(sk_idx, sk_id) */
	uint64_t sk_id;
	uint32_t sk_idx;
	int fd;
	uint32_t events;	/* as given, with EPOLLET/ONESHOT */
	epoll_data_t data;
	int hnext;		/* hash chain; free list when unused */
	int rprev, rnext;	/* ready list */
	bool queued;		/* on the ready list */
	bool armed;		/* EPOLLONESHOT: false once reported */
};

struct bond_epoll {
	int kfd;
	struct bond_epoll_item *items;
	unsigned int n, cap;	/* items in use, slots */
	int free;		/* unused slots, through hnext */
	int *bucket;		/* hash on sk_id: cap heads (cap: a power of 2) */
	int rhead, rtail;	/* ready list */
	uint64_t cursor;	/* bond_ev_gen read up to */
	uint64_t token;		/* names it in this process (EPOLLEXCLUSIVE) */
	unsigned int refs;	/* the fd table's, and each epoll_wait's */
	int own_kfd;		/* kfd is our dup (the app closed its fd) */
	unsigned int nkernel;	/* kernel fds added (and not deleted) */
	struct bond_epoll *next_free;
};

static uint64_t last_token;

/*
 * Sets are never given back to malloc: epoll_wait's fast path reads the
 * count of a set it found in the fd table without the lock, and another
 * thread may be freeing it then; a freed set reads as empty (the kernel
 * then answers for the fd, which is closed or names another set by then).
 */
static struct bond_epoll *free_sets;
static atomic_flag free_lock = ATOMIC_FLAG_INIT;

static void
free_lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&free_lock,
						 memory_order_acquire))
		;
}

static void
free_lock_drop(void)
{
	atomic_flag_clear_explicit(&free_lock, memory_order_release);
}

struct bond_epoll *
bond_epoll_new(int kfd)
{
	struct bond_epoll *ep;

	free_lock_take();
	ep = free_sets;
	if (ep != NULL)
		free_sets = ep->next_free;
	free_lock_drop();
	if (ep != NULL)
		memset(ep, 0, sizeof(*ep));
	else
		ep = calloc(1, sizeof(*ep));
	if (ep != NULL) {
		ep->kfd = kfd;
		ep->free = ep->rhead = ep->rtail = NIL;
		ep->token = __atomic_add_fetch(&last_token, 1, __ATOMIC_RELAXED);
		ep->refs = 1;
	}
	return ep;
}

void
bond_epoll_ref(struct bond_epoll *ep)
{
	__atomic_add_fetch(&ep->refs, 1, __ATOMIC_RELAXED);
}

bool
bond_epoll_unref(struct bond_epoll *ep)
{
	return __atomic_sub_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

void
bond_epoll_free(struct bond_epoll *ep)
{
	if (ep == NULL)
		return;
	free(ep->items);
	free(ep->bucket);
	ep->items = NULL;
	ep->bucket = NULL;
	__atomic_store_n(&ep->n, 0, __ATOMIC_RELEASE);
	free_lock_take();
	ep->next_free = free_sets;
	free_sets = ep;
	free_lock_drop();
}

unsigned int
bond_epoll_count(const struct bond_epoll *ep)
{
	return __atomic_load_n(&ep->n, __ATOMIC_ACQUIRE);
}

int
bond_epoll_kfd(const struct bond_epoll *ep)
{
	return __atomic_load_n(&ep->kfd, __ATOMIC_ACQUIRE);
}

void
bond_epoll_kernel_fds(struct bond_epoll *ep, int delta)
{
	if (delta > 0)
		__atomic_add_fetch(&ep->nkernel, 1, __ATOMIC_RELEASE);
	else if (__atomic_load_n(&ep->nkernel, __ATOMIC_ACQUIRE) > 0)
		__atomic_sub_fetch(&ep->nkernel, 1, __ATOMIC_RELEASE);
}

bool
bond_epoll_has_kernel_fds(const struct bond_epoll *ep)
{
	return __atomic_load_n(&ep->nkernel, __ATOMIC_ACQUIRE) > 0;
}

void
bond_epoll_keep_kfd(struct bond_epoll *ep, int dup_fd)
{
	__atomic_store_n(&ep->kfd, dup_fd, __ATOMIC_RELEASE);
	ep->own_kfd = 1;
}

int
bond_epoll_owned_kfd(const struct bond_epoll *ep)
{
	return ep->own_kfd ? ep->kfd : -1;
}

static unsigned int
hash(const struct bond_epoll *ep, uint64_t id)
{
	return (unsigned int)((id * 0x9e3779b97f4a7c15ull) >> 32) & (ep->cap - 1);
}

/* Room for one more item: slots and buckets double together. */
static int
grow(struct bond_epoll *ep)
{
	unsigned int cap = ep->cap ? ep->cap * 2 : BOND_EPOLL_MIN_CAP;
	struct bond_epoll_item *items = realloc(ep->items, cap * sizeof(*items));
	int *bucket;

	if (items == NULL)
		return -ENOMEM;
	ep->items = items;
	bucket = malloc(cap * sizeof(*bucket));
	if (bucket == NULL)
		return -ENOMEM;
	free(ep->bucket);
	ep->bucket = bucket;
	for (unsigned int b = 0; b < cap; b++)
		bucket[b] = NIL;
	/* every old slot is in use (the free list was empty): rehash them */
	ep->cap = cap;
	for (unsigned int i = 0; i < ep->n; i++) {
		unsigned int b = hash(ep, items[i].sk_id);

		items[i].hnext = bucket[b];
		bucket[b] = (int)i;
	}
	for (unsigned int i = cap; i-- > ep->n;) {
		items[i].sk = NULL;
		items[i].hnext = ep->free;
		ep->free = (int)i;
	}
	return 0;
}

static int
find(const struct bond_epoll *ep, const struct bond_sock *sk, int fd)
{
	if (ep->cap == 0)
		return NIL;
	for (int i = ep->bucket[hash(ep, sk->id)]; i != NIL; i = ep->items[i].hnext)
		if (ep->items[i].sk_id == sk->id && ep->items[i].fd == fd)
			return i;
	return NIL;
}

static void
enqueue(struct bond_epoll *ep, int i)
{
	struct bond_epoll_item *it = &ep->items[i];

	if (it->queued)
		return;
	it->queued = true;
	it->rnext = NIL;
	it->rprev = ep->rtail;
	if (ep->rtail != NIL)
		ep->items[ep->rtail].rnext = i;
	else
		ep->rhead = i;
	ep->rtail = i;
}

static void
dequeue(struct bond_epoll *ep, int i)
{
	struct bond_epoll_item *it = &ep->items[i];

	if (!it->queued)
		return;
	it->queued = false;
	if (it->rprev != NIL)
		ep->items[it->rprev].rnext = it->rnext;
	else
		ep->rhead = it->rnext;
	if (it->rnext != NIL)
		ep->items[it->rnext].rprev = it->rprev;
	else
		ep->rtail = it->rprev;
}

static void
item_free(struct bond_epoll *ep, int i)
{
	int *link = &ep->bucket[hash(ep, ep->items[i].sk_id)];

	dequeue(ep, i);
	while (*link != i)
		link = &ep->items[*link].hnext;
	*link = ep->items[i].hnext;
	ep->items[i].sk = NULL;
	ep->items[i].hnext = ep->free;
	ep->free = i;
	ep->n--;
}

/* Queue the items of every socket logged since the set last looked. */
static void
catch_up(struct bond_epoll *ep)
{
	uint64_t gen = bond_ev_gen;

	if (gen - ep->cursor > BOND_EV_LOG) {
		for (unsigned int i = 0; i < ep->cap; i++)
			if (ep->items[i].sk != NULL)
				enqueue(ep, (int)i);
	} else {
		for (uint64_t c = ep->cursor; c != gen; c++) {
			uint64_t id = bond_ev_log[c % BOND_EV_LOG];

			for (int i = ep->bucket[hash(ep, id)]; i != NIL;
			     i = ep->items[i].hnext)
				if (ep->items[i].sk_id == id)
					enqueue(ep, i);
		}
	}
	ep->cursor = gen;
}

int
bond_epoll_ctl_sock(struct bond_epoll *ep, int op, int fd,
		    struct bond_sock *sk, const void *event)
{
	struct epoll_event ev = { 0 };
	int i;

	/* the caller copied the application's event (bond_sys_epoll_ctl) */
	if (op != EPOLL_CTL_DEL) {
		if (event == NULL)
			return -EFAULT;
		memcpy(&ev, event, sizeof(ev));
	}
	if (ep->n == 0)
		ep->cursor = bond_ev_gen;	/* nothing to catch up on */
	else
		catch_up(ep);	/* closed sockets leave, in bounded time */
	i = find(ep, sk, fd);
	/* Linux: EPOLLEXCLUSIVE only at ADD, only with the bits it allows,
	 * and an exclusive item cannot be modified. */
	if (op == EPOLL_CTL_ADD && (ev.events & EPOLLEXCLUSIVE) &&
	    (ev.events & ~(uint32_t)BOND_EXCL_OK))
		return -EINVAL;
	if (op == EPOLL_CTL_MOD && ((ev.events & EPOLLEXCLUSIVE) ||
				    (i != NIL && (ep->items[i].events & EPOLLEXCLUSIVE))))
		return -EINVAL;
	switch (op) {
	case EPOLL_CTL_ADD: {
		unsigned int b;

		if (i != NIL)
			return -EEXIST;
		if (ep->free == NIL && grow(ep) < 0)
			return -ENOMEM;
		i = ep->free;
		ep->free = ep->items[i].hnext;
		ep->n++;
		b = hash(ep, sk->id);
		ep->items[i] = (struct bond_epoll_item){
			.sk = sk, .sk_id = sk->id, .sk_idx = sk->idx, .fd = fd,
			.hnext = ep->bucket[b], .rprev = NIL, .rnext = NIL,
		};
		ep->bucket[b] = i;
		break;
	}
	case EPOLL_CTL_MOD:
		if (i == NIL)
			return -ENOENT;
		break;
	case EPOLL_CTL_DEL:
		if (i == NIL)
			return -ENOENT;
		item_free(ep, i);
		return 0;
	default:
		return -EINVAL;
	}
	ep->items[i].events = ev.events;
	ep->items[i].data = ev.data;
	ep->items[i].armed = true;
	enqueue(ep, i);
	return 0;
}

/* May ep report sk's readiness (EPOLLEXCLUSIVE)? Claims it if so. */
static bool
excl_claim(const struct bond_epoll *ep, struct bond_sock *sk)
{
	/* a forked copy of the set is another set: the process's slot too */
	uint64_t token = ((uint64_t)(bond_self + 1) << 40) ^ ep->token;
	uint64_t now = bond_stack->now_ns();

	if (sk->excl_seq == sk->ev_seq && sk->excl_token != token &&
	    now - sk->excl_ns < BOND_EXCL_HOLD_NS)
		return false;
	sk->excl_seq = sk->ev_seq;
	sk->excl_token = token;
	sk->excl_ns = now;
	return true;
}

bool (*bond_epoll_out_ok)(void *p, size_t n);

/* Can the event at slot be written? Probed once per page of the array
 * (first: the array's first slot), with the hook the library sets. */
static bool
out_ok(struct epoll_event *slot, bool first)
{
	uintptr_t a = (uintptr_t)slot, last = a + sizeof(*slot) - 1;

	if (bond_epoll_out_ok == NULL || (!first && ((a - 1) >> 12) == (last >> 12)))
		return true;
	return bond_epoll_out_ok(slot, sizeof(*slot));
}

int
bond_epoll_collect(struct bond_epoll *ep, void *events, int maxevents)
{
	struct epoll_event *out = events;
	int got = 0, next, last;

	if (ep->n == 0)
		return 0;
	catch_up(ep);
	/* the items queued now, once: those reported go back behind them */
	last = ep->rtail;
	for (int i = ep->rhead; i != NIL && got < maxevents; i = next) {
		struct bond_epoll_item *it = &ep->items[i];
		struct bond_sock *sk = bond_sock_at(it->sk_idx, it->sk_id);
		bool end = i == last;
		uint32_t ready;

		next = it->rnext;
		if (sk == NULL) {
			/* closed since: Linux drops it from the set */
			item_free(ep, i);
		} else if (!it->armed) {
			dequeue(ep, i);
		} else if ((ready = sk->proto->events(sk) &
			    ((it->events & BOND_EPOLL_USER_EVENTS) |
			     BOND_EPOLL_ALWAYS)) == 0) {
			dequeue(ep, i);
		} else if ((it->events & EPOLLEXCLUSIVE) && !excl_claim(ep, sk)) {
			/* another set's for now: stays queued, looked at again */
		} else if (!out_ok(&out[got], got == 0)) {
			/* the item stays ready, as on Linux */
			return got == 0 ? -EFAULT : got;
		} else {
			out[got].events = ready;
			out[got].data = it->data;
			got++;
			dequeue(ep, i);
			if (it->events & EPOLLONESHOT)
				it->armed = false;
			else if (!(it->events & EPOLLET))
				enqueue(ep, i);	/* level: behind the others */
		}
		if (end)
			break;
	}
	return got;
}
