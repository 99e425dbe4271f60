/*
 * TCP segmentation offload by a packet socket (ns_tso.h): the header work.
 * Sums are native-order (ns_csum.h) and stored the same way.
 */
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ns_bytes.h"
#include "ns_csum.h"
#include "ns_tso.h"

#define ETH_LEN		14u
#define ETH_TYPE	12u
#define IP4_LEN		20u
#define IP6_LEN		40u
#define TCP_LEN		20u
#define TCP_CSUM	16u	/* offset of the checksum in the TCP header */

#define TCP_FIN		0x01u
#define TCP_PSH		0x08u
#define TCP_ACK		0x10u

static void
store_sum(uint8_t *at, uint16_t v)
{
	memcpy(at, &v, sizeof(v));	/* native order (ns_csum.h) */
}

/* Where the parts of a frame are; false: not a frame this file handles. */
struct parts {
	bool v6;
	uint16_t l3, l4;	/* offsets of the IP and TCP headers */
	uint16_t ip_len;	/* IPv4 total length, or IPv6 header + payload */
	uint16_t tcp_len;	/* TCP header and payload */
	uint16_t hdr;		/* Ethernet, IP and TCP headers */
};

static bool
parse_tcp(const uint8_t *f, uint16_t len, struct parts *pt)
{
	uint16_t type, doff;

	if (len < ETH_LEN + IP4_LEN)
		return false;
	type = ns_get16(f + ETH_TYPE);
	pt->l3 = ETH_LEN;
	if (type == 0x0800) {
		const uint8_t *ip = f + ETH_LEN;
		uint16_t ihl = (uint16_t)((ip[0] & 0x0f) * 4);

		pt->v6 = false;
		pt->ip_len = ns_get16(ip + 2);
		if ((ip[0] >> 4) != 4 || ihl < IP4_LEN || ip[9] != IPPROTO_TCP ||
		    (ns_get16(ip + 6) & 0x3fff) != 0 ||	/* MF or an offset */
		    pt->ip_len < ihl + TCP_LEN || ETH_LEN + pt->ip_len > len)
			return false;
		pt->l4 = (uint16_t)(ETH_LEN + ihl);
		pt->tcp_len = (uint16_t)(pt->ip_len - ihl);
	} else if (type == 0x86dd) {
		const uint8_t *ip = f + ETH_LEN;
		uint32_t plen;

		if (len < ETH_LEN + IP6_LEN + TCP_LEN)
			return false;
		pt->v6 = true;
		plen = ns_get16(ip + 4);
		if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP || plen < TCP_LEN ||
		    ETH_LEN + IP6_LEN + plen > len)
			return false;
		pt->ip_len = (uint16_t)(IP6_LEN + plen);	/* <= len < 64 KiB */
		pt->l4 = ETH_LEN + IP6_LEN;
		pt->tcp_len = (uint16_t)plen;
	} else {
		return false;
	}
	doff = (uint16_t)((f[pt->l4 + 12] >> 4) * 4);
	if (doff < TCP_LEN || doff > pt->tcp_len)
		return false;
	pt->hdr = (uint16_t)(pt->l4 + doff);
	return true;
}

static void
ip4_csum(uint8_t *f)
{
	uint8_t *ip = f + ETH_LEN;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;

	memset(ip + 10, 0, 2);
	store_sum(ip + 10, (uint16_t)~ns_csum_fold(ns_csum_add(ip, ihl, 0)));
}

/* The pseudo-header's sum for a TCP length of tcp_len. */
static uint16_t
pseudo(const uint8_t *f, const struct parts *pt, uint16_t tcp_len)
{
	const uint8_t *ip = f + pt->l3;
	uint64_t acc = htons(IPPROTO_TCP) + (uint64_t)htons(tcp_len);

	if (pt->v6)
		acc = ns_csum_add(ip + 8, 32, acc);
	else
		acc = ns_csum_add(ip + 12, 8, acc);
	return ns_csum_fold(acc);
}

bool
ns_tso_prepare(uint8_t *frame, uint16_t len)
{
	struct parts pt;

	if (len >= ETH_LEN + IP4_LEN && ns_get16(frame + ETH_TYPE) == 0x0800 &&
	    (frame[ETH_LEN] >> 4) == 4 &&
	    (size_t)(frame[ETH_LEN] & 0x0f) * 4 >= IP4_LEN &&
	    (size_t)(frame[ETH_LEN] & 0x0f) * 4 <= len - ETH_LEN)
		ip4_csum(frame);
	if (!parse_tcp(frame, len, &pt))
		return false;
	store_sum(frame + pt.l4 + TCP_CSUM, pseudo(frame, &pt, pt.tcp_len));
	return true;
}

void
ns_tso_finish(uint8_t *frame, uint16_t len)
{
	struct parts pt;

	if (!parse_tcp(frame, len, &pt))
		return;
	/* the field holds the pseudo-header's sum: sum it with the rest */
	store_sum(frame + pt.l4 + TCP_CSUM,
		  (uint16_t)~ns_csum_fold(ns_csum_add(frame + pt.l4, pt.tcp_len, 0)));
}

static inline uint16_t
payload(const struct parts *pt)
{
	return (uint16_t)(pt->tcp_len - (pt->hdr - pt->l4));
}

/* May a run begin with this segment: plain headers, data, nothing past
 * the IP length, and no flag that must stay on one segment. */
static bool
run_head(const uint8_t *f, uint16_t len, const struct parts *pt)
{
	if ((!pt->v6 && pt->l4 != ETH_LEN + IP4_LEN) || pt->hdr > NS_TSO_HDR_MAX)
		return false;	/* IPv4 options */
	return ETH_LEN + pt->ip_len == len && payload(pt) != 0 &&
	       f[pt->l4 + 13] == TCP_ACK && ns_get16(f + pt->l4 + 18) == 0;
}

/* May b follow c in the run that a heads: the same connection and
 * headers, b's data right after c's, c full and without PSH. */
static bool
run_joins(const uint8_t *fa, const struct parts *a, const uint8_t *fc,
	  const struct parts *c, const uint8_t *fb, uint16_t lb,
	  const struct parts *b)
{
	const uint8_t *ta = fa + a->l4, *tb = fb + b->l4;
	uint8_t flags = tb[13];

	if (b->v6 != a->v6 || b->hdr != a->hdr || ETH_LEN + b->ip_len != lb ||
	    payload(c) != payload(a) || fc[c->l4 + 13] != TCP_ACK ||
	    payload(b) == 0 || payload(b) > payload(a) ||
	    (flags != TCP_ACK && flags != (TCP_ACK | TCP_PSH)))
		return false;
	if (memcmp(fa, fb, ETH_LEN) != 0)
		return false;
	if (a->v6) {
		if (memcmp(fa + ETH_LEN, fb + ETH_LEN, 4) != 0 ||
		    memcmp(fa + ETH_LEN + 6, fb + ETH_LEN + 6, 34) != 0)
			return false;
	} else if (memcmp(fa + ETH_LEN, fb + ETH_LEN, 2) != 0 ||
		   memcmp(fa + ETH_LEN + 6, fb + ETH_LEN + 6, 4) != 0 ||
		   memcmp(fa + ETH_LEN + 12, fb + ETH_LEN + 12, 8) != 0 ||
		   /* the kernel numbers the segments from the first */
		   ns_get16(fb + ETH_LEN + 4) != (uint16_t)(ns_get16(fc + ETH_LEN + 4) + 1)) {
		return false;	/* all but length, id and checksum */
	}
	return memcmp(ta, tb, 4) == 0 &&			/* ports */
	       ns_get32(tb + 4) == ns_get32(fc + c->l4 + 4) + payload(c) &&
	       memcmp(ta + 8, tb + 8, 5) == 0 &&		/* ack, offset */
	       memcmp(ta + 14, tb + 14, 2) == 0 &&		/* window */
	       ns_get16(tb + 18) == 0 &&				/* urgent */
	       memcmp(ta + TCP_LEN, tb + TCP_LEN,
		      (size_t)(a->hdr - a->l4 - TCP_LEN)) == 0;	/* options */
}

/* Into f, a copy of the run head's headers (parts a): rewrite them to
 * carry data bytes of payload, PSH if the last segment had it. */
static void
run_rewrite(uint8_t *f, const struct parts *a, uint32_t data, bool psh)
{
	uint16_t tcp_len = (uint16_t)(a->hdr - a->l4 + data);

	if (a->v6) {
		ns_put16(f + ETH_LEN + 4, tcp_len);
	} else {
		ns_put16(f + ETH_LEN + 2, (uint16_t)(a->l4 - ETH_LEN + tcp_len));
		ip4_csum(f);
	}
	if (psh)
		f[a->l4 + 13] |= TCP_PSH;
	store_sum(f + a->l4 + TCP_CSUM, pseudo(f, a, tcp_len));
}

unsigned int
ns_tso_plan(uint8_t *const *frame, const uint16_t *len, unsigned int count,
	    unsigned int max_segs, struct ns_tso_msg *msgs, unsigned int max,
	    unsigned int *used)
{
	unsigned int i = 0, m = 0;

	while (i < count && m < max) {
		struct ns_tso_msg *msg = &msgs[m++];
		struct parts a, c;
		unsigned int j = i + 1;
		uint32_t data;
		bool ok = parse_tcp(frame[i], len[i], &a);

		memset(&msg->vh, 0, sizeof(msg->vh));
		msg->first = i;
		if (!ok) {	/* not prepared as TCP: sent as it is */
			msg->n = 1;
			i++;
			continue;
		}
		msg->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		msg->vh.hdr_len = a.hdr;
		msg->vh.csum_start = a.l4;
		msg->vh.csum_offset = TCP_CSUM;
		data = payload(&a);
		c = a;
		if (run_head(frame[i], len[i], &a)) {
			while (j < count && j - i < max_segs &&
			       j - i < NS_TSO_SEGS_MAX) {
				struct parts b;

				if (!parse_tcp(frame[j], len[j], &b) ||
				    a.hdr + data + payload(&b) > NS_TSO_FRAME_MAX ||
				    !run_joins(frame[i], &a, frame[j - 1], &c,
					       frame[j], len[j], &b))
					break;
				data += payload(&b);
				c = b;
				j++;
			}
		}
		msg->n = j - i;
		if (msg->n > 1) {
			msg->vh.gso_type = a.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
						  VIRTIO_NET_HDR_GSO_TCPV4;
			msg->vh.gso_size = payload(&a);
			memcpy(msg->hdr, frame[i], a.hdr);
			run_rewrite(msg->hdr, &a, data,
				    (frame[j - 1][c.l4 + 13] & TCP_PSH) != 0);
		}
		i = j;
	}
	*used = i;
	return m;
}
