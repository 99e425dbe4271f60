/*
 * UDP sockets on lwIP's raw API. Received datagrams queue on the socket with
 * their source; a full queue drops (as a full receive buffer does on Linux).
 * Every entry point runs with the stack lock held and never blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "lwip/icmp.h"
#include "lwip/ip.h"
#include "lwip/mem.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/icmp6.h"
#include "lwip/udp.h"

#include "bond.h"
#include "bond_icmp.h"
#include "bond_lwip.h"
#include "ns.h"
#include "ns_icmp.h"

#define BOND_UDP_RCVBUF		(208 * 1024)	/* Linux's default rmem */
#define BOND_UDP_MAX_PAYLOAD	65507		/* IPv4 datagram minus headers */
#define BOND_UDP_PMTU_MIN4	552		/* net.ipv4.route.min_pmtu */
/* IPv6: Linux's 65,527 (the payload length leaves out the header) does
 * not fit lwIP, which holds a packet, header included, in 64 KiB. */
#define BOND_UDP6_MAX_PAYLOAD	(0xffff - IP6_HLEN - UDP_HLEN)

struct bond_dgram {
	struct bond_dgram *next;
	struct pbuf *p;
	ip_addr_t from;
	u16_t port;
};

struct bond_udp {
	struct bond_sock sk;
	struct udp_pcb *pcb;
	bool bound;
	bool connected;
	/* Linux names a connected socket by the source address its sends
	 * take (the pcb stays on the wildcard: lwIP would enforce it), and a
	 * disconnect gives back the port connect bound */
	bool name_by_connect;
	ip_addr_t conn_src;
	bool port_by_connect;
	bool shut_rd, shut_wr;
	struct bond_dgram *head, *tail;
	size_t queued;		/* bytes waiting */
	unsigned long drops;
	struct bond_errq_list eq;	/* the error queue (IP_RECVERR) */
	/* UDP_CORK, MSG_MORE: the datagram being put together (one buffer,
	 * grown by doubling), and where it goes (the first send's
	 * destination, as Linux fixes it) */
	bool corked;
	unsigned char *cork_buf;
	size_t cork_len, cork_cap;
	ip_addr_t cork_ip;
	u16_t cork_port;
};

static void cork_drop(struct bond_udp *u);

static inline struct bond_udp *
bu_of(struct bond_sock *sk)
{
	return (struct bond_udp *)sk;
}

static struct bond_sock *
bu_create(int family)
{
	/* lwIP's heap: shared by every process of the stack, like the pcb. */
	struct bond_udp *u = mem_calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	bond_sock_init(&u->sk, &bond_udp_proto, family);
	u->sk.opt.rcvbuf = BOND_UDP_RCVBUF;
	u->sk.opt.sndbuf = BOND_UDP_RCVBUF;
	return &u->sk;
}

static void
on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
	u16_t port)
{
	struct bond_udp *u = arg;
	struct bond_dgram *d;

	/* the error queue counts too: Linux's sk_rmem_alloc */
	if (u == NULL || u->shut_rd ||
	    u->queued + u->eq.bytes + p->tot_len > (size_t)u->sk.opt.rcvbuf) {
		if (u != NULL)
			u->drops++;
		pbuf_free(p);
		return;
	}
	d = mem_malloc(sizeof(*d));
	if (d == NULL) {
		u->drops++;
		pbuf_free(p);
		return;
	}
	d->next = NULL;
	d->p = p;
	ip_addr_copy(d->from, *addr);
	d->port = port;
	if (u->tail != NULL)
		u->tail->next = d;
	else
		u->head = d;
	u->tail = d;
	u->queued += p->tot_len;
	bond_sock_bump(&u->sk);
}

static void
bu_apply_opts(struct bond_sock *sk)
{
	struct bond_udp *u = bu_of(sk);

	if (u->pcb == NULL)
		return;
	if (sk->opt.reuseaddr || sk->opt.reuseport)
		ip_set_option(u->pcb, SOF_REUSEADDR);
	else
		ip_reset_option(u->pcb, SOF_REUSEADDR);
	if (sk->opt.broadcast)
		ip_set_option(u->pcb, SOF_BROADCAST);
	else
		ip_reset_option(u->pcb, SOF_BROADCAST);
	udp_bind_netif(u->pcb, sk->opt.dev_port >= 0 ?
		       ns_netif((unsigned int)sk->opt.dev_port) : NULL);
	if (sk->family == AF_INET || IP_IS_V4_VAL(u->pcb->remote_ip)) {
		u->pcb->tos = (u8_t)sk->opt.tos;
		u->pcb->ttl = (u8_t)sk->opt.ttl;
	} else {
		u->pcb->tos = (u8_t)sk->opt.tclass;
		u->pcb->ttl = (u8_t)sk->opt.hops;
	}
}

static int
ensure_pcb(struct bond_udp *u, const ip_addr_t *ip)
{
	u8_t type;

	if (u->pcb != NULL)
		return 0;
	if (u->sk.family == AF_INET || (ip != NULL && IP_IS_V4(ip)))
		type = IPADDR_TYPE_V4;
	else if (u->sk.opt.v6only || (ip != NULL && !ip_addr_isany(ip)))
		type = IPADDR_TYPE_V6;
	else
		type = IPADDR_TYPE_ANY;
	u->pcb = udp_new_ip_type(type);
	if (u->pcb == NULL)
		return -ENOBUFS;
	udp_recv(u->pcb, on_recv, u);
	bu_apply_opts(&u->sk);
	return 0;
}

static int
do_bind(struct bond_udp *u, const ip_addr_t *ip, u16_t port)
{
	err_t e;

	if (IP_GET_TYPE(&u->pcb->local_ip) == IPADDR_TYPE_ANY && ip_addr_isany(ip))
		e = udp_bind(u->pcb, IP_ANY_TYPE, port);
	else
		e = udp_bind(u->pcb, ip, port);
	if (e != ERR_OK)
		return bond_errno(e, false);
	u->bound = true;
	return 0;
}

static int
bu_bind(struct bond_sock *sk, const struct sockaddr *sa, socklen_t len)
{
	struct bond_udp *u = bu_of(sk);
	ip_addr_t ip;
	u16_t port;
	int rc;

	rc = bond_sa_to_ip(sk->family, sa, len, &ip, &port);
	if (rc < 0)
		return rc;
	if (u->bound)
		return -EINVAL;
	if (!ip_addr_isany(&ip) && !bond_ip_is_local(&ip))
		return -EADDRNOTAVAIL;
	rc = ensure_pcb(u, &ip);
	if (rc < 0)
		return rc;
	return do_bind(u, &ip, port);
}

static int
bu_connect(struct bond_sock *sk, const struct sockaddr *sa, socklen_t len)
{
	struct bond_udp *u = bu_of(sk);
	bool had_port;
	ip_addr_t ip;
	u16_t port;
	int rc;

	if (sa != NULL && len >= (socklen_t)sizeof(sa_family_t) &&
	    sa->sa_family == AF_UNSPEC) {
		cork_drop(u);	/* Linux would send it later (documented) */
		if (u->pcb != NULL && u->port_by_connect) {
			/* unbound again: a send binds anew, as on Linux */
			udp_remove(u->pcb);
			u->pcb = NULL;
			u->bound = false;
		} else if (u->pcb != NULL) {
			udp_disconnect(u->pcb);
		}
		u->name_by_connect = false;
		u->port_by_connect = false;
		u->connected = false;
		/* Linux's __udp_disconnect unbinds the device too */
		u->sk.opt.dev_port = -1;
		u->sk.opt.devname[0] = '\0';
		u->sk.opt.dev_ifindex = 0;
		return 0;
	}
	rc = bond_sa_to_ip(sk->family, sa, len, &ip, &port);
	if (rc < 0)
		return rc;
	rc = ensure_pcb(u, &ip);
	if (rc < 0)
		return rc;
	had_port = u->pcb->local_port != 0;
	rc = bond_errno(udp_connect(u->pcb, &ip, port), false);
	if (rc < 0)
		return rc;
	if (!had_port)
		u->port_by_connect = true;	/* udp_connect bound one */
	/* the source address a send to ip takes, for getsockname */
	if (ip_addr_isany(&u->pcb->local_ip) && !u->name_by_connect) {
		struct netif *n = ip_route(&u->pcb->local_ip, &ip);
		const ip_addr_t *src = n != NULL ? ip_netif_get_local_ip(n, &ip) : NULL;

		if (src != NULL && !ip_addr_isany(src)) {
			ip_addr_copy(u->conn_src, *src);
			u->name_by_connect = true;
		}
	}
	u->bound = true;
	u->connected = true;
	return 0;
}

/* proto->rx_idle (bond.h): where bu_recv would say EAGAIN. */
static BOND_GENERAL_REGS bool
bu_rx_idle(const struct bond_sock *sk)
{
	const struct bond_udp *u = (const struct bond_udp *)sk;

	return BOND_PEEK(u->head) == NULL && BOND_PEEK(sk->so_error) == 0 &&
	       !BOND_PEEK(u->shut_rd);
}

static ssize_t
bu_recv(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	  int flags, struct sockaddr *from, socklen_t *fromlen)
{
	struct bond_udp *u = bu_of(sk);
	struct bond_dgram *d = u->head;
	size_t total = 0, len;
	bool fault = false;

	/* Linux's __skb_recv_udp: a pending error (an ICMP error's) first */
	if (sk->so_error) {
		int e = sk->so_error;

		sk->so_error = 0;
		return -e;
	}
	if (d == NULL)
		return u->shut_rd ? 0 : -EAGAIN;
	len = d->p->tot_len;
	for (int i = 0; i < iovcnt && total < len && !fault; i++) {
		size_t n = iov[i].iov_len;

		if (n > len - total)
			n = len - total;
		fault = bond_pbuf_to_user(d->p, total, iov[i].iov_base, n) < n;
		total += n;
	}
	if (from != NULL && fromlen != NULL)
		bond_ip_to_sa(sk->family, &d->from, d->port, from, fromlen);
	if (!(flags & MSG_PEEK)) {
		u->head = d->next;
		if (u->head == NULL)
			u->tail = NULL;
		u->queued -= len;
		pbuf_free(d->p);
		mem_free(d);
	}
	if (fault)
		return -EFAULT;	/* Linux: the datagram is gone all the same */
	return (ssize_t)((flags & MSG_TRUNC) ? len : total);
}

/* An IPv4 broadcast: all ones, or the subnet broadcast of the port the
 * datagram would leave by (lwIP's own check, which says only ERR_VAL). */
static bool
is_broadcast(const ip_addr_t *ip)
{
	const ip4_addr_t *a;
	struct netif *n;

	if (!IP_IS_V4(ip))
		return false;
	a = ip_2_ip4(ip);
	if (a->addr == IPADDR_BROADCAST)
		return true;
	if (ip4_addr_isany(a))
		return false;	/* Linux: this host */
	n = ip4_route(a);
	return n != NULL && ip4_addr_isbroadcast(a, n);
}

/* Whether iov's bytes can all be read (nothing goes out of a bad buffer). */
static bool
iov_readable(const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		if (bond_user_readable(iov[i].iov_base, iov[i].iov_len) < iov[i].iov_len)
			return false;
	return true;
}

/* iov's len bytes, copied to dst. */
static void
iov_copy(unsigned char *dst, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

/* A corked datagram no longer pending. */
static void
cork_drop(struct bond_udp *u)
{
	mem_free(u->cork_buf);
	u->cork_buf = NULL;
	u->cork_len = u->cork_cap = 0;
	u->corked = false;
}

/* The port a datagram to dst leaves by, as udp_sendto picks it: the
 * bound device's (SO_BINDTODEVICE), else the route's; NULL: none. */
static struct netif *
out_netif(const struct bond_udp *u, const ip_addr_t *dst)
{
	if (u->pcb->netif_idx != NETIF_NO_INDEX)
		return netif_get_by_index(u->pcb->netif_idx);
	return ip_route(&u->pcb->local_ip, dst);
}

/* The MTU a datagram to dst is cut by (Linux's cork->fragsize,
 * ip_sk_use_pmtu): the path's under IP_MTU_DISCOVER DONT, WANT and DO
 * (IPV6_MTU_DISCOVER to an IPv6 address), the port's under PROBE,
 * INTERFACE and OMIT. */
static uint32_t
datagram_mtu(const struct bond_udp *u, struct netif *n, const ip_addr_t *dst)
{
	int policy = IP_IS_V6(dst) ? u->sk.opt.pmtudisc6 : u->sk.opt.pmtudisc;

	return policy < IP_PMTUDISC_PROBE ? bond_path_mtu_if(n, dst) : n->mtu;
}

/*
 * Whether len bytes of data to dst may go, as Linux's __ip_append_data
 * decides before it looks at a pending error or copies a byte: under DO,
 * PROBE and INTERFACE a datagram past its MTU is EMSGSIZE, queued as a
 * local error too under IP_RECVERR (IPV6_RECVERR), whose port is the
 * connected peer's for IPv4 and 0 otherwise (ip_local_error), dst's port
 * for IPv6 (ipv6_local_error); DONT, WANT and OMIT fragment it.
 */
static int
datagram_fits(struct bond_udp *u, const ip_addr_t *dst, u16_t port, size_t len)
{
	bool v6 = IP_IS_V6(dst);
	int policy = v6 ? u->sk.opt.pmtudisc6 : u->sk.opt.pmtudisc;
	struct netif *n;
	uint32_t mtu;

	if (policy < IP_PMTUDISC_DO || policy == IP_PMTUDISC_OMIT)
		return 0;
	n = out_netif(u, dst);
	if (n == NULL || n->mtu == 0)
		return 0;	/* udp_sendto says what is wrong */
	mtu = datagram_mtu(u, n, dst);
	if (len + UDP_HLEN + (v6 ? IP6_HLEN : IP_HLEN) <= mtu)
		return 0;
	if (v6 ? u->sk.opt.recverr6 : u->sk.opt.recverr) {
		u16_t eport = v6 ? port : u->connected ? u->pcb->remote_port : 0;

		(void)bond_errq_add_local(&u->eq, v6, EMSGSIZE, mtu, dst, eport,
					  u->queued, u->sk.opt.rcvbuf);
		bond_sock_bump(&u->sk);
	}
	return -EMSGSIZE;
}

/*
 * A datagram out, fragmented at its MTU (datagram_mtu). lwIP cuts IPv4 at
 * the port's MTU: a path's smaller one is the port's for the call, under
 * the lock (a holder that dies meanwhile leaves the port's MTU to the
 * lock's recovery, ns_stack.c); IPv6 it cuts at the path's MTU itself.
 * One that fits any IPv4 path (net.ipv4.route.min_pmtu) goes at once.
 * IPv4's DF bit goes by the socket's policy (ns_tx_df, ns.h).
 * 0 or -errno.
 */
static int
udp_out(struct bond_udp *u, struct pbuf *p, const ip_addr_t *dst, u16_t port)
{
	uint32_t len = (uint32_t)p->tot_len + UDP_HLEN + IP_HLEN, mtu = 0;
	bool v4 = !IP_IS_V6(dst), small = len <= BOND_UDP_PMTU_MIN4;
	int policy = u->sk.opt.pmtudisc;
	struct netif *n = NULL;
	u16_t port_mtu;
	err_t e;

	if (v4 && !small && (n = out_netif(u, dst)) != NULL && n->mtu != 0)
		mtu = datagram_mtu(u, n, dst);
	/* IPv4's DF as Linux's __ip_make_skb: always under DO and PROBE
	 * (what does not fit was refused), under WANT when the datagram
	 * fits the path */
	ns_tx_df = v4 && (policy == IP_PMTUDISC_DO || policy == IP_PMTUDISC_PROBE ||
			  (policy == IP_PMTUDISC_WANT &&
			   (small || (mtu != 0 && len <= mtu))));
	if (mtu == 0 || mtu >= n->mtu) {
		e = udp_sendto(u->pcb, p, dst, port);
	} else {
		port_mtu = n->mtu;
		n->mtu = (u16_t)mtu;
		e = udp_sendto(u->pcb, p, dst, port);
		n->mtu = port_mtu;
	}
	ns_tx_df = false;
	return e == ERR_OK ? 0 : bond_errno(e, false);
}

/* The corked datagram goes out (UDP_CORK off, a send without MSG_MORE). */
static int
push_cork(struct bond_udp *u)
{
	struct pbuf *p;
	ip_addr_t dst;
	u16_t port;
	int rc;

	if (!u->corked)
		return 0;
	if (u->pcb == NULL) {
		cork_drop(u);	/* disconnected meanwhile (documented) */
		return 0;
	}
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)u->cork_len, PBUF_RAM);
	if (p == NULL) {
		cork_drop(u);
		return -ENOBUFS;
	}
	if (u->cork_len > 0)
		pbuf_take(p, u->cork_buf, (u16_t)u->cork_len);
	ip_addr_copy(dst, u->cork_ip);
	port = u->cork_port;
	cork_drop(u);
	rc = udp_out(u, p, &dst, port);
	pbuf_free(p);
	return rc;
}

static void
bu_flush(struct bond_sock *sk)
{
	(void)push_cork(bu_of(sk));	/* as Linux's setsockopt, no error */
}

/* Room for len more corked bytes (at most max in all); false: no memory. */
static bool
cork_room(struct bond_udp *u, size_t len, size_t max)
{
	size_t cap = u->cork_cap > 0 ? u->cork_cap : 2048;
	unsigned char *b;

	if (u->cork_len + len <= u->cork_cap)
		return true;
	while (cap < u->cork_len + len)
		cap *= 2;
	if (cap > max)
		cap = max;
	b = mem_malloc((mem_size_t)cap);
	if (b == NULL)
		return false;
	if (u->cork_len > 0)
		memcpy(b, u->cork_buf, u->cork_len);
	mem_free(u->cork_buf);
	u->cork_buf = b;
	u->cork_cap = cap;
	return true;
}

/*
 * A send while a corked datagram is pending adds to it (an IPv4 socket's
 * udp_sendmsg does not look at the address then); past the largest
 * datagram it is EMSGSIZE, and then, as on any error, what was pending is
 * dropped, as Linux flushes it. A send of nothing adds nothing.
 */
static ssize_t
cork_append(struct bond_udp *u, const struct iovec *iov, int iovcnt, size_t len,
	    bool more)
{
	size_t max = IP_IS_V6(&u->cork_ip) ? BOND_UDP6_MAX_PAYLOAD : BOND_UDP_MAX_PAYLOAD;
	int rc = 0;

	if (u->cork_len + len > max)
		rc = -EMSGSIZE;
	/* each piece is measured against the MTU with what is pending */
	else if ((rc = datagram_fits(u, &u->cork_ip, u->cork_port,
				     u->cork_len + len)) == 0) {
		if (!iov_readable(iov, iovcnt))
			rc = -EFAULT;
		else if (len > 0 && !cork_room(u, len, max))
			rc = -ENOBUFS;
	}
	if (rc < 0) {
		cork_drop(u);
		return rc;
	}
	iov_copy(u->cork_buf + u->cork_len, iov, iovcnt);
	u->cork_len += len;
	if (!more && (rc = push_cork(u)) < 0)
		return rc;
	return (ssize_t)len;
}

static ssize_t
bu_send(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	  int flags, const struct sockaddr *to, socklen_t tolen)
{
	struct bond_udp *u = bu_of(sk);
	bool more = sk->opt.cork || (flags & MSG_MORE);
	size_t len = 0;
	const ip_addr_t *dst;
	struct pbuf *p;
	ip_addr_t ip;
	u16_t port;
	int rc;

	if (u->shut_wr)
		return -EPIPE;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > 0xffff)
		return -EMSGSIZE;	/* Linux's first check: pending data stays */
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;	/* Linux's udp_sendmsg */
	if (u->corked && sk->family == AF_INET6 && to != NULL && tolen != 0) {
		/* udpv6_sendmsg looks at the address first: a bad one, or
		 * one of the other family than what is pending, is EINVAL
		 * and keeps it */
		rc = bond_sa_to_ip(sk->family, to, tolen, &ip, &port);
		if (rc < 0)
			return rc;
		if (IP_IS_V4(&ip) != IP_IS_V4(&u->cork_ip))
			return -EINVAL;
	}
	if (u->corked)
		return cork_append(u, iov, iovcnt, len, more);
	if (len > BOND_UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (to != NULL && tolen != 0) {
		rc = bond_sa_to_ip(sk->family, to, tolen, &ip, &port);
		if (rc < 0)
			return rc;
		if (port == 0)
			return -EINVAL;
	} else if (!u->connected) {
		return -EDESTADDRREQ;
	}
	rc = ensure_pcb(u, to != NULL && tolen != 0 ? &ip : NULL);
	if (rc < 0)
		return rc;
	dst = to != NULL && tolen != 0 ? &ip : &u->pcb->remote_ip;
	if (len > BOND_UDP6_MAX_PAYLOAD && IP_IS_V6(dst))
		return -EMSGSIZE;
	if (!sk->opt.broadcast && is_broadcast(dst))
		return -EACCES;	/* Linux: SO_BROADCAST first */
	if (!u->bound) {
		rc = do_bind(u, IP_GET_TYPE(&u->pcb->local_ip) == IPADDR_TYPE_V6 ?
			     IP6_ADDR_ANY : IP_GET_TYPE(&u->pcb->local_ip) ==
			     IPADDR_TYPE_ANY ? IP_ANY_TYPE : IP4_ADDR_ANY, 0);
		if (rc < 0)
			return rc;
	}
	if (!more && (rc = datagram_fits(u, dst, to != NULL && tolen != 0 ?
					 port : u->pcb->remote_port, len)) < 0)
		return rc;	/* __ip_append_data's first check */
	if (sk->so_error) {
		/* Linux's sock_alloc_send_pskb: a pending error, once, before
		 * the bytes are copied */
		rc = -sk->so_error;
		sk->so_error = 0;
		return rc;
	}
	if (!iov_readable(iov, iovcnt))
		return -EFAULT;
	if (more) {
		/* the first piece of a corked datagram: nothing goes yet */
		u->corked = true;
		ip_addr_copy(u->cork_ip, *dst);
		u->cork_port = to != NULL && tolen != 0 ? port : u->pcb->remote_port;
		return cork_append(u, iov, iovcnt, len, true);
	}
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (p == NULL)
		return -EAGAIN;
	for (size_t i = 0, off = 0; i < (size_t)iovcnt; off += iov[i].iov_len, i++)
		pbuf_take_at(p, iov[i].iov_base, (u16_t)iov[i].iov_len, (u16_t)off);
	rc = udp_out(u, p, dst, to != NULL && tolen != 0 ? port :
		     u->pcb->remote_port);
	pbuf_free(p);
	return rc < 0 ? rc : (ssize_t)len;
}

static int
bu_shutdown(struct bond_sock *sk, int how)
{
	struct bond_udp *u = bu_of(sk);

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (!u->connected)
		return -ENOTCONN;
	if (how != SHUT_WR)
		u->shut_rd = true;
	if (how != SHUT_RD)
		u->shut_wr = true;
	bond_sock_bump(sk);
	return 0;
}

/* IP_MTU: a connected socket's path (Linux sets its route at connect). */
static int
bu_path_mtu(struct bond_sock *sk)
{
	struct bond_udp *u = bu_of(sk);
	uint32_t mtu;

	if (!u->connected || u->pcb == NULL)
		return -ENOTCONN;
	mtu = bond_path_mtu(&u->pcb->local_ip, &u->pcb->remote_ip,
			    u->pcb->netif_idx);
	return mtu != 0 ? (int)mtu : -ENOTCONN;
}

static void
bu_errq_purge(struct bond_sock *sk)
{
	bond_errq_purge(&bu_of(sk)->eq);
}

static ssize_t
bu_recv_err(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	    struct bond_errq_msg *m)
{
	return bond_errq_recv(&bu_of(sk)->eq, sk, iov, iovcnt, m);
}

static void
bu_close(struct bond_sock *sk)
{
	struct bond_udp *u = bu_of(sk);

	bu_errq_purge(sk);
	cork_drop(u);	/* Linux drops a corked datagram at close */
	if (u->pcb != NULL)
		udp_remove(u->pcb);
	while (u->head != NULL) {
		struct bond_dgram *d = u->head;

		u->head = d->next;
		pbuf_free(d->p);
		mem_free(d);
	}
	mem_free(u);
}

static int
bu_name(struct bond_sock *sk, struct sockaddr *sa, socklen_t *len, bool peer)
{
	struct bond_udp *u = bu_of(sk);
	ip_addr_t any;

	if (peer) {
		if (!u->connected)
			return -ENOTCONN;
		bond_ip_to_sa(sk->family, &u->pcb->remote_ip, u->pcb->remote_port,
			      sa, len);
		return 0;
	}
	if (u->pcb == NULL) {
		ip_addr_set_zero(&any);
		bond_ip_to_sa(sk->family, &any, 0, sa, len);
		return 0;
	}
	bond_ip_to_sa(sk->family, u->name_by_connect ? &u->conn_src : &u->pcb->local_ip,
		      u->pcb->local_port, sa, len);
	return 0;
}

static uint32_t
bu_events(struct bond_sock *sk)
{
	struct bond_udp *u = bu_of(sk);
	uint32_t ev = EPOLLOUT;

	if (u->head != NULL || u->shut_rd)
		ev |= EPOLLIN;
	if (u->shut_rd)
		ev |= EPOLLRDHUP;
	if (u->shut_rd && u->shut_wr)
		ev |= EPOLLHUP;
	if (sk->so_error || u->eq.head != NULL)
		ev |= EPOLLERR;	/* Linux's datagram_poll */
	return ev;
}

static int
bu_nread(struct bond_sock *sk)
{
	struct bond_udp *u = bu_of(sk);

	/* Linux: the size of the next datagram. */
	return u->head != NULL ? u->head->p->tot_len : 0;
}

/* For `zpnet stats`: ss's UNCONN or ESTAB, the bytes waiting, the drops. */
static void
bu_describe(struct bond_sock *sk, struct bond_sock_stat *st)
{
	struct bond_udp *u = bu_of(sk);

	memset(st, 0, sizeof(*st));
	st->state = u->connected ? BOND_TCPS_ESTABLISHED : BOND_TCPS_CLOSE;
	st->rxq = u->queued > UINT32_MAX ? UINT32_MAX : (uint32_t)u->queued;
	st->drops = u->drops;
}

static bool
bu_placed(struct bond_sock *sk)
{
	return bu_of(sk)->pcb != NULL;
}

/* The socket that sent the datagram e quotes: Linux's lookup, the best
 * of a connected match, a bound address, the wildcard. */
static struct bond_udp *
icmp_sock(const struct ns_icmp_error *e)
{
	struct bond_udp *best = NULL;
	int best_score = -1;

	for (struct udp_pcb *pcb = udp_pcbs; pcb != NULL; pcb = pcb->next) {
		int score = 0;

		if (pcb->recv != on_recv || pcb->recv_arg == NULL ||
		    pcb->local_port != e->sport)
			continue;
		if (IP_GET_TYPE(&pcb->local_ip) != IPADDR_TYPE_ANY &&
		    IP_IS_V6_VAL(pcb->local_ip) != e->v6)
			continue;
		if (!ip_addr_isany(&pcb->local_ip)) {
			if (!ip_addr_cmp(&pcb->local_ip, &e->src))
				continue;
			score += 1;
		}
		if (pcb->flags & UDP_FLAGS_CONNECTED) {
			if (pcb->remote_port != e->dport ||
			    !ip_addr_cmp(&pcb->remote_ip, &e->dst))
				continue;
			score += 2;
		}
		if (score > best_score) {
			best = pcb->recv_arg;
			best_score = score;
		}
	}
	return best;
}

/*
 * An ICMP error (ns_icmp.c) about a datagram of ours, as Linux's
 * __udp4_lib_err and __udp6_lib_err take it: a connected socket gets the
 * "hard" ones (bond_icmp_errno) as its pending error; one with IP_RECVERR
 * (IPV6_RECVERR for IPv6 errors) gets every one, pending and queued with
 * the bytes after the UDP header, within SO_RCVBUF with the datagrams.
 */
static void
on_icmp_error(const struct ns_icmp_error *e)
{
	struct bond_udp *u = icmp_sock(e);
	bool hard;
	int err;

	if (u == NULL)
		return;
	err = bond_icmp_errno(e, &hard);
	if (err == 0)
		return;
	if (!e->v6 && e->type == ICMP_DUR && e->code == ICMP_DUR_FRAG) {
		/* __udp4_lib_err: the path's MTU for every socket, at least
		 * net.ipv4.route.min_pmtu, unless this one trusts no such
		 * message (INTERFACE, OMIT: ip_sk_accept_pmtu); no error
		 * under IP_PMTUDISC_DONT */
		if (u->sk.opt.pmtudisc != IP_PMTUDISC_INTERFACE &&
		    u->sk.opt.pmtudisc != IP_PMTUDISC_OMIT)
			bond_pmtu4_learn(&e->dst, e->info < BOND_UDP_PMTU_MIN4 ?
					 BOND_UDP_PMTU_MIN4 : e->info);
		if (u->sk.opt.pmtudisc == IP_PMTUDISC_DONT)
			return;
	}
	if (e->v6 && e->type == ICMP6_TYPE_PTB) {
		/* __udp6_lib_err: none under INTERFACE and OMIT, a soft one
		 * under DONT */
		if (u->sk.opt.pmtudisc6 == IPV6_PMTUDISC_INTERFACE ||
		    u->sk.opt.pmtudisc6 == IPV6_PMTUDISC_OMIT)
			return;
		hard = u->sk.opt.pmtudisc6 != IPV6_PMTUDISC_DONT;
	}
	if (!(e->v6 ? u->sk.opt.recverr6 : u->sk.opt.recverr)) {
		if (!hard || !u->connected)
			return;
	} else {
		(void)bond_errq_add(&u->eq, e, err, e->payload, e->payload_len,
				    u->queued, u->sk.opt.rcvbuf);
	}
	u->sk.so_error = err;
	bond_sock_bump(&u->sk);
}

void
bond_udp_start(void)
{
	ns_icmp_udp_error = on_icmp_error;
}

const struct bond_proto bond_udp_proto = {
	.name = "udp",
	.type = SOCK_DGRAM,
	.create = bu_create,
	.bind = bu_bind,
	.connect = bu_connect,
	.recv = bu_recv,
	.send = bu_send,
	.shutdown = bu_shutdown,
	.close = bu_close,
	.getname = bu_name,
	.events = bu_events,
	.nread = bu_nread,
	.apply_opts = bu_apply_opts,
	.flush = bu_flush,
	.placed = bu_placed,
	.describe = bu_describe,
	.rx_idle = bu_rx_idle,
	.recv_err = bu_recv_err,
	.errq_purge = bu_errq_purge,
	.path_mtu = bu_path_mtu,
};
