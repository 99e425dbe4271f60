/*
 * ICMP errors for the stack's sockets (bond_icmp.h): the errno tables of
 * Linux's icmp.c and icmpv6's, and the error queue both UDP and TCP keep
 * for IP_RECVERR (Linux's sk_error_queue).
 */
#include <errno.h>
#include <string.h>
#include <time.h>	/* linux/errqueue.h's struct timespec */

#include <linux/errqueue.h>

#include "lwip/icmp.h"
#include "lwip/ip.h"
#include "lwip/mem.h"
#include "lwip/nd6.h"
#include "lwip/netif.h"
#include "lwip/prot/icmp6.h"

#include "bond_icmp.h"
#include "bond_lwip.h"

/* An entry: Linux's sock_extended_err and the bytes quoted. */
struct bond_errq {
	struct bond_errq *next;
	uint32_t err, info;
	uint8_t origin, type, code;
	ip_addr_t offender;	/* the error's source */
	ip_addr_t dst;		/* the quoted datagram's destination */
	u16_t dport;
	u16_t len;
	unsigned char data[];
};

struct icmp_errno {
	uint8_t err, hard;
};

int
bond_icmp_errno(const struct ns_icmp_error *e, bool *hard)
{
	/* Linux's icmp_err_convert[], by destination-unreachable code */
	static const struct icmp_errno unreach4[] = {
		{ ENETUNREACH, 0 }, { EHOSTUNREACH, 0 }, { ENOPROTOOPT, 1 },
		{ ECONNREFUSED, 1 }, { EMSGSIZE, 1 }, { EOPNOTSUPP, 0 },
		{ ENETUNREACH, 1 }, { EHOSTDOWN, 1 }, { ENONET, 1 },
		{ ENETUNREACH, 1 }, { EHOSTUNREACH, 1 }, { ENETUNREACH, 0 },
		{ EHOSTUNREACH, 0 }, { EHOSTUNREACH, 1 }, { EHOSTUNREACH, 1 },
		{ EHOSTUNREACH, 1 },
	};
	/* Linux's tab_unreach[] of icmpv6_err_convert() */
	static const struct icmp_errno unreach6[] = {
		{ ENETUNREACH, 0 }, { EACCES, 1 }, { EHOSTUNREACH, 0 },
		{ EHOSTUNREACH, 0 }, { ECONNREFUSED, 1 }, { EACCES, 1 },
		{ EACCES, 1 },
	};

	*hard = true;
	if (!e->v6) {
		switch (e->type) {
		case ICMP_DUR:
			if (e->code >= sizeof(unreach4) / sizeof(unreach4[0]))
				return 0;	/* ns_icmp.c drops them */
			*hard = unreach4[e->code].hard;
			return unreach4[e->code].err;
		case ICMP_PP:
			return EPROTO;
		case ICMP_TE:
			*hard = false;
			return EHOSTUNREACH;
		default:
			return 0;
		}
	}
	switch (e->type) {
	case ICMP6_TYPE_DUR:
		if (e->code < sizeof(unreach6) / sizeof(unreach6[0])) {
			*hard = unreach6[e->code].hard;
			return unreach6[e->code].err;
		}
		return EPROTO;
	case ICMP6_TYPE_PTB:
		return EMSGSIZE;
	case ICMP6_TYPE_TE:
		*hard = false;
		return EHOSTUNREACH;
	case ICMP6_TYPE_PP:
		return EPROTO;
	default:
		return 0;
	}
}

bool
bond_errq_add(struct bond_errq_list *q, const struct ns_icmp_error *e,
	      int err, const uint8_t *data, size_t len, size_t rmem, int rcvbuf)
{
	struct bond_errq *m;

	if (rmem + q->bytes + sizeof(*m) + len > (size_t)rcvbuf)
		return false;	/* Linux: the sum of both past sk_rcvbuf */
	m = mem_malloc((mem_size_t)(sizeof(*m) + len));
	if (m == NULL)
		return false;
	m->next = NULL;
	m->err = (uint32_t)err;
	m->info = e->info;
	m->origin = e->v6 ? SO_EE_ORIGIN_ICMP6 : SO_EE_ORIGIN_ICMP;
	m->type = e->type;
	m->code = e->code;
	ip_addr_copy(m->offender, e->offender);
	ip_addr_copy(m->dst, e->dst);
	m->dport = e->dport;
	m->len = (u16_t)len;
	if (len > 0)
		memcpy(m->data, data, len);
	if (q->tail != NULL)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += sizeof(*m) + len;
	return true;
}

bool
bond_errq_add_local(struct bond_errq_list *q, bool v6, int err, uint32_t info,
		    const ip_addr_t *dst, u16_t dport, size_t rmem, int rcvbuf)
{
	struct ns_icmp_error e;

	memset(&e, 0, sizeof(e));
	e.v6 = v6;
	e.info = info;
	ip_addr_copy(e.dst, *dst);
	e.dport = dport;
	if (!bond_errq_add(q, &e, err, NULL, 0, rmem, rcvbuf))
		return false;
	q->tail->origin = SO_EE_ORIGIN_LOCAL;
	return true;
}

ssize_t
bond_errq_recv(struct bond_errq_list *q, struct bond_sock *sk,
	       const struct iovec *iov, int iovcnt, struct bond_errq_msg *m)
{
	struct bond_errq *h = q->head;
	size_t total = 0;
	bool fault = false;

	if (h == NULL)
		return -EAGAIN;
	for (int i = 0; i < iovcnt && total < h->len && !fault; i++) {
		size_t n = iov[i].iov_len;

		if (n > h->len - total)
			n = h->len - total;
		fault = bond_copy_to_user(iov[i].iov_base, h->data + total, n) < n;
		total += n;
	}
	m->ee_errno = h->err;
	m->ee_info = h->info;
	m->ee_origin = h->origin;
	m->ee_type = h->type;
	m->ee_code = h->code;
	m->len = h->len;
	m->namelen = sizeof(m->name);
	bond_ip_to_sa(sk->family, &h->dst, h->dport, (struct sockaddr *)&m->name,
		      &m->namelen);
	m->offenderlen = sizeof(m->offender);
	bond_ip_to_sa(sk->family, &h->offender, 0,
		      (struct sockaddr *)&m->offender, &m->offenderlen);
	if (h->origin == SO_EE_ORIGIN_LOCAL)	/* its size, all zero */
		memset(&m->offender, 0, sizeof(m->offender));
	q->head = h->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->bytes -= sizeof(*h) + h->len;
	/* Linux's sock_dequeue_err_skb: the pending error is the next
	 * ICMP entry's; none after an ICMP one; a local error never was */
	if (q->head != NULL && q->head->origin != SO_EE_ORIGIN_LOCAL)
		sk->so_error = (int)q->head->err;
	else if (h->origin != SO_EE_ORIGIN_LOCAL)
		sk->so_error = 0;
	mem_free(h);
	bond_sock_bump(sk);
	return fault ? -EFAULT : (ssize_t)total;
}

void
bond_errq_purge(struct bond_errq_list *q)
{
	while (q->head != NULL) {
		struct bond_errq *h = q->head;

		q->head = h->next;
		mem_free(h);
	}
	q->tail = NULL;
	q->bytes = 0;
}

/*
 * Path MTUs learned for IPv4 destinations (TCP's mtu_reduced, UDP's
 * fragmentation needed), kept as Linux's route exceptions keep them
 * (net.ipv4.route.mtu_expires: 10 minutes), for every socket to the
 * destination: a new connection starts with an MSS that fits, a datagram
 * is cut to it. lwIP keeps IPv6's itself (its destination cache). Shared:
 * any process's socket may learn one.
 */
#define BOND_PMTU4_MAX		64
#define BOND_PMTU4_EXPIRES_NS	(600ull * BOND_NS_PER_S)

struct pmtu4 {
	u32_t addr;
	u16_t mtu;
	uint64_t until_ns;	/* 0: a free slot */
};
static struct pmtu4 pmtu4_cache[BOND_PMTU4_MAX] BOND_SHARED;

uint32_t
bond_pmtu4_get(const ip_addr_t *dst)
{
	uint64_t now = bond_stack->now_ns();

	if (!IP_IS_V4(dst))
		return 0;
	for (unsigned int i = 0; i < BOND_PMTU4_MAX; i++) {
		const struct pmtu4 *c = &pmtu4_cache[i];

		if (c->until_ns > now && c->addr == ip_2_ip4(dst)->addr)
			return c->mtu;
	}
	return 0;
}

/* In its slot, a free or expired one, or the one that expires first. */
void
bond_pmtu4_learn(const ip_addr_t *dst, uint32_t mtu)
{
	uint64_t now = bond_stack->now_ns();
	struct pmtu4 *slot = &pmtu4_cache[0];

	for (unsigned int i = 0; i < BOND_PMTU4_MAX; i++) {
		struct pmtu4 *c = &pmtu4_cache[i];

		if (c->until_ns > now && c->addr == ip_2_ip4(dst)->addr) {
			if (c->mtu <= mtu)
				return;
			slot = c;
			break;
		}
		if (c->until_ns < slot->until_ns)
			slot = c;
	}
	slot->addr = ip_2_ip4(dst)->addr;
	slot->mtu = (u16_t)mtu;
	slot->until_ns = now + BOND_PMTU4_EXPIRES_NS;
}

uint32_t
bond_path_mtu_if(struct netif *n, const ip_addr_t *dst)
{
	uint32_t mtu;

	if (IP_IS_V6(dst))
		return nd6_get_destination_mtu(ip_2_ip6(dst), n);
	mtu = bond_pmtu4_get(dst);
	return mtu != 0 && mtu < n->mtu ? mtu : n->mtu;
}

uint32_t
bond_path_mtu(const ip_addr_t *src, const ip_addr_t *dst, u8_t netif_idx)
{
	struct netif *n = netif_idx != NETIF_NO_INDEX ?
			  netif_get_by_index(netif_idx) : ip_route(src, dst);

	if (n == NULL || n->mtu == 0)
		return 0;
	return bond_path_mtu_if(n, dst);
}
