/*
 * ICMP and ICMPv6 errors about the datagrams and segments this stack sent.
 *
 * lwIP drops a destination-unreachable, time-exceeded or parameter-problem
 * message (ICMPv6's packet-too-big it takes for path MTU). Linux hands
 * each to the socket that sent what it quotes: a connected UDP socket's
 * next call then fails with ECONNREFUSED (or EHOSTUNREACH...), one with
 * IP_RECVERR queues it for recvmsg(MSG_ERRQUEUE), and a TCP connect still
 * in SYN-SENT fails at once. lwIP's icmp_input and icmp6_input, reached
 * through the linker (-Wl,--wrap), look at each message first: an error
 * of the right shape (a sum that checks, a quoted IPv4 or IPv6 header,
 * UDP or TCP behind it with its first 8 bytes) goes to the owner's
 * ns_icmp_udp_error or ns_icmp_tcp_error, then to lwIP as before. The
 * error's source, its type, code and info (an MTU, a pointer), the ports,
 * a TCP sequence number and the quoted bytes after the first 8 go with
 * it, as Linux's sock_extended_err and its lookups have them. */
#include <stdbool.h>
#include <string.h>

#include "lwip/icmp.h"
#include "lwip/icmp6.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"
#include "lwip/prot/udp.h"

#include "ns_bytes.h"
#include "ns_icmp.h"

/* An error's ICMP or ICMPv6 header: type, code, sum, 4 bytes of info */
#define ICMP_HDR_LEN		8
#define ICMP_TYPE		0
#define ICMP_CODE		1
#define ICMP_INFO		4
#define ICMP_NEXT_MTU		6	/* fragmentation needed: the next hop's */
/* an IPv6 extension header: next header, then its length in 8 bytes
 * past the first 8 */
#define IP6_EXT_LEN		1
#define IP6_EXT_HLEN		8
/* What a message may quote: Linux sends at most 576 bytes of ICMPv4 and
 * 1,280 of ICMPv6, headers included. */
#define QUOTE_MAX		1280
#define IP6_EXT_MAX		8	/* extension headers walked in a quote */
#define ICMP_DUR_CODE_MAX	15	/* Linux's NR_ICMP_UNREACH */
#define IP6_MIN_MTU		1280

void (*ns_icmp_udp_error)(const struct ns_icmp_error *e);
void (*ns_icmp_tcp_error)(const struct ns_icmp_error *e);

void __wrap_icmp_input(struct pbuf *p, struct netif *inp);
void __real_icmp_input(struct pbuf *p, struct netif *inp);
void __wrap_icmp6_input(struct pbuf *p, struct netif *inp);
void __real_icmp6_input(struct pbuf *p, struct netif *inp);

/* The UDP or TCP header (proto) at off of the quote (len bytes in all):
 * its ports, a TCP sequence number and what follows the first 8 bytes,
 * into e. */
static bool
quoted_l4(const uint8_t *q, size_t len, size_t off, uint8_t proto,
	  struct ns_icmp_error *e)
{
	if ((proto != IP_PROTO_UDP && proto != IP_PROTO_TCP) || off + 8 > len)
		return false;
	e->tcp = proto == IP_PROTO_TCP;
	e->sport = ns_get16(q + off);
	e->dport = ns_get16(q + off + 2);
	e->seq = e->tcp ? ns_get32(q + off + 4) : 0;
	e->l4 = q + off;
	e->l4_len = (uint16_t)(len - off);
	e->payload = q + off + 8;
	e->payload_len = (uint16_t)(len - off - 8);
	return true;
}

static void
deliver(const struct ns_icmp_error *e)
{
	void (*fn)(const struct ns_icmp_error *) =
		e->tcp ? ns_icmp_tcp_error : ns_icmp_udp_error;

	if (fn != NULL)
		fn(e);
}

static void
error4(struct pbuf *p)
{
	uint8_t m[QUOTE_MAX] __attribute__((aligned(8)));
	const struct ip_hdr *q = (const struct ip_hdr *)(m + ICMP_HDR_LEN);
	struct ns_icmp_error e;
	size_t len, ihl;

	len = pbuf_copy_partial(p, m, sizeof(m), 0);
	if (len < ICMP_HDR_LEN + IP_HLEN || inet_chksum_pbuf(p) != 0)
		return;
	memset(&e, 0, sizeof(e));
	e.type = m[ICMP_TYPE];
	e.code = m[ICMP_CODE];
	if (e.type == ICMP_DUR && e.code > ICMP_DUR_CODE_MAX)
		return;	/* Linux's icmp_unreach drops it */
	if (e.type == ICMP_DUR && e.code == ICMP_DUR_FRAG)
		e.info = ns_get16(m + ICMP_NEXT_MTU);
	else if (e.type == ICMP_PP)
		e.info = m[ICMP_INFO];	/* the pointer, its first byte */
	len -= ICMP_HDR_LEN;
	ihl = IPH_HL_BYTES(q);
	/* a fragment but the first has no UDP header */
	if (IPH_V(q) != 4 || ihl < IP_HLEN ||
	    (lwip_ntohs(IPH_OFFSET(q)) & IP_OFFMASK) != 0 ||
	    !quoted_l4((const uint8_t *)q, len, ihl, IPH_PROTO(q), &e))
		return;
	ip_addr_copy_from_ip4(e.offender, *ip4_current_src_addr());
	ip_addr_copy_from_ip4(e.src, q->src);
	ip_addr_copy_from_ip4(e.dst, q->dest);
	deliver(&e);
}

void
__wrap_icmp_input(struct pbuf *p, struct netif *inp)
{
	if (p->len >= 1) {
		uint8_t type = *(const uint8_t *)p->payload;

		/* Linux's icmp_rcv takes no error sent to a broadcast or
		 * multicast address (RFC 1122, 3.2.2) */
		if ((type == ICMP_DUR || type == ICMP_TE || type == ICMP_PP) &&
		    !ip4_addr_isbroadcast(ip4_current_dest_addr(), ip_current_netif()) &&
		    !ip4_addr_ismulticast(ip4_current_dest_addr()))
			error4(p);
	}
	__real_icmp_input(p, inp);
}

/* Whether next header h is one a quote may carry before UDP. */
static bool
ip6_ext(uint8_t h)
{
	return h == IP6_NEXTH_HOPBYHOP || h == IP6_NEXTH_ROUTING ||
	       h == IP6_NEXTH_DESTOPTS || h == IP6_NEXTH_FRAGMENT;
}

static void
error6(struct pbuf *p, struct netif *inp)
{
	uint8_t m[QUOTE_MAX] __attribute__((aligned(8)));
	const struct ip6_hdr *q = (const struct ip6_hdr *)(m + ICMP_HDR_LEN);
	const uint8_t *qb = (const uint8_t *)q;
	struct ns_icmp_error e;
	size_t len, off = IP6_HLEN;
	uint8_t next;
	ip6_addr_t a;

	len = pbuf_copy_partial(p, m, sizeof(m), 0);
	if (len < ICMP_HDR_LEN + IP6_HLEN ||
	    ip6_chksum_pseudo(p, IP6_NEXTH_ICMP6, p->tot_len,
			      ip6_current_src_addr(), ip6_current_dest_addr()) != 0)
		return;
	memset(&e, 0, sizeof(e));
	e.v6 = true;
	e.type = m[ICMP_TYPE];
	e.code = m[ICMP_CODE];
	/* the MTU, the pointer; unused for the others, but Linux's
	 * icmpv6_notify passes the word on all the same */
	e.info = ns_get32(m + ICMP_INFO);
	len -= ICMP_HDR_LEN;
	if (IP6H_V(q) != 6)
		return;
	next = IP6H_NEXTH(q);
	for (int i = 0; ip6_ext(next); i++) {
		size_t hlen;

		if (i == IP6_EXT_MAX || off + IP6_EXT_HLEN > len)
			return;
		/* a fragment header is 8 bytes; the others say their length */
		if (next == IP6_NEXTH_FRAGMENT) {
			const struct ip6_frag_hdr *f =
				(const struct ip6_frag_hdr *)(qb + off);

			if ((lwip_ntohs(f->_fragment_offset) & IP6_FRAG_OFFSET_MASK) != 0)
				return;	/* not the first fragment: no UDP header */
			hlen = IP6_FRAG_HLEN;
		} else {
			hlen = ((size_t)qb[off + IP6_EXT_LEN] + 1) * IP6_EXT_HLEN;
		}
		next = qb[off];	/* every extension header starts with it */
		off += hlen;
	}
	if (!quoted_l4(qb, len, off, next, &e))
		return;
	ip_addr_copy_from_ip6(e.offender, *ip6_current_src_addr());
	/* zoned as lwIP zones the pcbs' link-local addresses (ip6.c) */
	ip6_addr_copy_from_packed(a, q->src);
	ip6_addr_assign_zone(&a, IP6_UNKNOWN, inp);
	ip_addr_copy_from_ip6(e.src, a);
	ip6_addr_copy_from_packed(a, q->dest);
	ip6_addr_assign_zone(&a, IP6_UNKNOWN, inp);
	ip_addr_copy_from_ip6(e.dst, a);
	deliver(&e);
}

void
__wrap_icmp6_input(struct pbuf *p, struct netif *inp)
{
	if (p->len >= ICMP_HDR_LEN) {
		const uint8_t *m = p->payload;
		uint8_t type = m[ICMP_TYPE];

		if (type == ICMP6_TYPE_DUR || type == ICMP6_TYPE_PTB ||
		    type == ICMP6_TYPE_TE || type == ICMP6_TYPE_PP)
			error6(p, inp);	/* UDP's EMSGSIZE whatever the MTU */
		/* lwIP would take an MTU under IPv6's minimum for the path
		 * and fragment every packet to it (Linux's TCP ignores it:
		 * RFC 8201, never below 1,280), and one past the link's as
		 * the path's (a path MTU never grows on a message: RFC 8201,
		 * Linux's __ip6_rt_update_pmtu) */
		if (type == ICMP6_TYPE_PTB &&
		    (ns_get32(m + ICMP_INFO) < IP6_MIN_MTU ||
		     ns_get32(m + ICMP_INFO) >= netif_mtu6(inp))) {
			pbuf_free(p);
			return;
		}
	}
	__real_icmp6_input(p, inp);
}
