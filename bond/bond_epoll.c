/*
 * epoll bookkeeping for stack sockets. Each epoll instance is a real kernel
 * epoll fd (for the kernel fds in its set) plus this list of stack sockets
 * with their events and user data. Readiness of a stack socket is level
 * state from its protocol (events()); EPOLLET reports a socket again only
 * after its readiness counter moved; EPOLLONESHOT disarms it until
 * EPOLL_CTL_MOD. Items of closed sockets are dropped lazily: each keeps the
 * socket's unique id and is checked against the fd table.
 *
 * A scan that found nothing ready remembers bond_ev_gen: until a socket's
 * readiness moves (or the set changes), the next calls return 0 without
 * walking the set, so a busy-polling epoll_wait costs O(1) per turn.
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

struct bond_epoll_item {
	int fd;
	uint64_t sk_id;
	uint32_t events;	/* as given, with EPOLLET/ONESHOT */
	epoll_data_t data;
	uint32_t seen_seq;	/* EPOLLET: sk->ev_seq when last reported */
	bool armed;		/* EPOLLONESHOT: false once reported */
};

struct bond_epoll {
	int kfd;
	struct bond_epoll_item *items;
	unsigned int n, cap;
	unsigned int next;	/* where the next scan starts (fairness) */
	bool quiet;		/* the last scan found nothing ready ... */
	uint64_t quiet_gen;	/* ... when bond_ev_gen was this */
	uint64_t token;		/* names it in this process (EPOLLEXCLUSIVE) */
};

static uint64_t last_token;

struct bond_epoll *
bond_epoll_new(int kfd)
{
	struct bond_epoll *ep = calloc(1, sizeof(*ep));

	if (ep != NULL) {
		ep->kfd = kfd;
		ep->token = __atomic_add_fetch(&last_token, 1, __ATOMIC_RELAXED);
	}
	return ep;
}

void
bond_epoll_free(struct bond_epoll *ep)
{
	if (ep == NULL)
		return;
	free(ep->items);
	free(ep);
}

unsigned int
bond_epoll_count(const struct bond_epoll *ep)
{
	return ep->n;
}

int
bond_epoll_kfd(const struct bond_epoll *ep)
{
	return ep->kfd;
}

static int
find(const struct bond_epoll *ep, int fd)
{
	for (unsigned int i = 0; i < ep->n; i++)
		if (ep->items[i].fd == fd)
			return (int)i;
	return -1;
}

static void
remove_at(struct bond_epoll *ep, unsigned int i)
{
	ep->items[i] = ep->items[--ep->n];
}

/* The socket an item was made for, or NULL once that fd was closed. */
static struct bond_sock *
item_sock(const struct bond_epoll_item *it)
{
	struct bond_sock *sk = bond_fd_sock(it->fd);

	return sk != NULL && sk->id == it->sk_id ? sk : NULL;
}

int
bond_epoll_ctl_sock(struct bond_epoll *ep, int op, int fd,
		    struct bond_sock *sk, const void *event)
{
	struct epoll_event ev;
	int i = find(ep, fd);

	ep->quiet = false;

	/* An item whose socket was closed and whose fd was reused is stale. */
	if (i >= 0 && ep->items[i].sk_id != sk->id) {
		remove_at(ep, (unsigned int)i);
		i = -1;
	}
	if (op != EPOLL_CTL_DEL) {
		if (event == NULL)
			return -EFAULT;
		memcpy(&ev, event, sizeof(ev));
	}
	/* Linux: EPOLLEXCLUSIVE only at ADD, only with the bits it allows,
	 * and an exclusive item cannot be modified. */
	if (op == EPOLL_CTL_ADD && (ev.events & EPOLLEXCLUSIVE) &&
	    (ev.events & ~(uint32_t)BOND_EXCL_OK))
		return -EINVAL;
	if (op == EPOLL_CTL_MOD && ((ev.events & EPOLLEXCLUSIVE) ||
				    (i >= 0 && (ep->items[i].events & EPOLLEXCLUSIVE))))
		return -EINVAL;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (i >= 0)
			return -EEXIST;
		if (ep->n == ep->cap) {
			unsigned int cap = ep->cap ? ep->cap * 2 : BOND_EPOLL_MIN_CAP;
			void *p = realloc(ep->items, cap * sizeof(*ep->items));

			if (p == NULL)
				return -ENOMEM;
			ep->items = p;
			ep->cap = cap;
		}
		i = (int)ep->n++;
		ep->items[i].fd = fd;
		ep->items[i].sk_id = sk->id;
		break;
	case EPOLL_CTL_MOD:
		if (i < 0)
			return -ENOENT;
		break;
	case EPOLL_CTL_DEL:
		if (i < 0)
			return -ENOENT;
		remove_at(ep, (unsigned int)i);
		return 0;
	default:
		return -EINVAL;
	}
	ep->items[i].events = ev.events;
	ep->items[i].data = ev.data;
	ep->items[i].armed = true;
	/* So that EPOLLET reports what is already pending, as Linux does. */
	ep->items[i].seen_seq = sk->ev_seq - 1;
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
	uint64_t gen = bond_ev_gen;
	unsigned int start, n = ep->n, dead = 0;
	bool held = false;	/* an EPOLLEXCLUSIVE readiness left to another set */
	bool fault = false;
	int got = 0;

	if (n == 0 || (ep->quiet && ep->quiet_gen == gen))
		return 0;
	start = ep->next % n;
	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = (start + k) % n;
		struct bond_epoll_item *it = &ep->items[i];
		struct bond_sock *sk = item_sock(it);
		uint32_t ready;

		if (sk == NULL) {
			/* closed since: Linux drops it from the set */
			it->fd = -1;
			dead++;
			continue;
		}
		if (!it->armed || got == maxevents)
			continue;
		ready = sk->proto->events(sk) &
			((it->events & BOND_EPOLL_USER_EVENTS) | BOND_EPOLL_ALWAYS);
		if (ready == 0)
			continue;
		if ((it->events & EPOLLEXCLUSIVE) && !excl_claim(ep, sk)) {
			held = true;
			continue;
		}
		if (!out_ok(&out[got], got == 0)) {
			fault = true;	/* the item stays ready, as on Linux */
			got = got == 0 ? -EFAULT : got;
			break;
		}
		if (it->events & EPOLLET) {
			if (it->seen_seq == sk->ev_seq)
				continue;
			it->seen_seq = sk->ev_seq;
		}
		if (it->events & EPOLLONESHOT)
			it->armed = false;
		out[got].events = ready;
		out[got].data = it->data;
		got++;
		ep->next = i + 1;
	}
	for (unsigned int i = 0; dead > 0 && i < ep->n;) {
		if (ep->items[i].fd < 0) {
			remove_at(ep, i);
			dead--;
		} else {
			i++;
		}
	}
	/* a held readiness may come back to us: not quiet */
	ep->quiet = got == 0 && !held && !fault;
	ep->quiet_gen = gen;
	return got;
}
