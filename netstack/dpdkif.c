/*
 * lwIP netif driver for a DPDK port, after lwIP's tapif skeleton:
 * low_level_init, low_level_output, low_level_input, dpdkif_init,
 * dpdkif_poll. Per-port state lives in netif->state (struct dpdkif).
 *
 * RX is zero-copy: the mbuf's private area holds a pbuf_custom whose payload
 * is the mbuf's data, freed back to the pool when lwIP (or the socket layer)
 * frees the pbuf. Sockets holding unread data hold mbufs, so once the
 * driver's share is held (caps.rx_hold_max), or the pool runs low, frames
 * are copied into lwIP's heap (or its PBUF_POOL when the heap is full)
 * instead and the port keeps receiving. TX copies the pbuf chain into one
 * mbuf (lwIP keeps its pbufs for retransmission) and queues it in the port's batch.
 * Drops are counted, never printed.
 */
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/ip.h"
#include "lwip/ip6.h"
#include "lwip/ip4.h"
#include "lwip/mld6.h"
#include "lwip/igmp.h"
#include "lwip/pbuf.h"
#include "lwip/snmp.h"
#include "netif/ethernet.h"

#include "dpdkif.h"
#include "ns_rxcheck.h"
#include "ns_log.h"

#define IFNAME0 'd'
#define IFNAME1 'p'
#define NS_RX_BURST_MAX 512

/* Lives in the mbuf's private area. */
struct ns_rx_pbuf {
	struct pbuf_custom pc;	/* first: lwIP casts the pbuf to it */
	void *m;
	struct dpdkif *dif;
};

size_t
dpdkif_priv_size(void)
{
	return sizeof(struct ns_rx_pbuf);
}

static void
rx_pbuf_free(struct pbuf *p)
{
	struct ns_rx_pbuf *rp = (struct ns_rx_pbuf *)p;

	rp->dif->rx_held--;
	ns_port_free(rp->m);
}

static void
low_level_init(struct netif *netif)
{
	struct dpdkif *dif = netif->state;

	netif->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(netif->hwaddr, dif->caps.mac, ETH_HWADDR_LEN);
	netif->mtu = dif->caps.mtu;
	netif->mtu6 = dif->caps.mtu;
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		       NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
	/*
	 * Offloads are all-or-nothing: frames looped back to our own
	 * addresses skip the port, so lwIP must either make and check every
	 * sum, or neither.
	 */
	dif->tx_csum = dif->caps.rx_csum && dif->caps.tx_csum_tcp;
	if (dif->tx_csum) {
		NETIF_SET_CHECKSUM_CTRL(netif, NETIF_CHECKSUM_GEN_UDP |
					NETIF_CHECKSUM_GEN_ICMP |
					NETIF_CHECKSUM_GEN_ICMP6 |
					NETIF_CHECKSUM_CHECK_ICMP |
					NETIF_CHECKSUM_CHECK_ICMP6);
	}
}

static err_t
low_level_output(struct netif *netif, struct pbuf *p)
{
	struct dpdkif *dif = netif->state;
	void *data, *m;

	if (p->tot_len > netif->mtu + SIZEOF_ETH_HDR) {
		dif->tx_drop++;
		return ERR_IF;
	}
	m = ns_port_tx_alloc(dif->idx, p->tot_len, &data);
	if (m == NULL) {
		dif->tx_drop++;
		return ERR_MEM;
	}
	if (p->next == NULL)
		memcpy(data, p->payload, p->len);
	else
		pbuf_copy_partial(p, data, p->tot_len, 0);
	ns_port_tx_queue(dif->idx, m, dif->tx_csum);
	MIB2_STATS_NETIF_ADD(netif, ifoutoctets, p->tot_len);
	return ERR_OK;
}

/* One received frame as a pbuf: zero-copy, or copied when the pool is low. */
static struct pbuf *
low_level_input(struct netif *netif, struct ns_rx_pkt *pkt, bool copy)
{
	struct dpdkif *dif = netif->state;
	struct pbuf *p;

	if (copy) {
		/* The heap first: a copy takes its own size, and heap pages
		 * count as memory only once used; the pool is the reserve. */
		p = pbuf_alloc(PBUF_RAW, pkt->len, PBUF_RAM);
		if (p == NULL)
			p = pbuf_alloc(PBUF_RAW, pkt->len, PBUF_POOL);
		if (p == NULL) {
			dif->rx_drop_nomem++;
			ns_port_free(pkt->m);
			return NULL;
		}
		pbuf_take(p, pkt->data, pkt->len);
		ns_port_free(pkt->m);
		dif->rx_copied++;
		return p;
	}
	struct ns_rx_pbuf *rp = pkt->priv;

	rp->pc.custom_free_function = rx_pbuf_free;
	rp->m = pkt->m;
	rp->dif = dif;
	dif->rx_held++;
	return pbuf_alloced_custom(PBUF_RAW, pkt->len, PBUF_REF, &rp->pc,
				   pkt->data, pkt->len);
}

/* An IPv4 or IPv6 packet longer than a frame (struct ns_rx_pkt): copied
 * into the heap with room for a link header in front, straight to IP
 * (with its Ethernet header it could exceed a pbuf's 64 KiB). */
static void
long_input(struct netif *netif, const struct ns_rx_pkt *pkt)
{
	struct dpdkif *dif = netif->state;
	struct pbuf *p = pbuf_alloc(PBUF_LINK, pkt->len, PBUF_RAM);
	int rc;

	if (p == NULL) {
		dif->rx_drop_nomem++;
		(void)ns_port_rx_long(dif->idx, NULL, 0);	/* dropped */
		return;
	}
	rc = ns_port_rx_long(dif->idx, p->payload, pkt->len);
	if (rc < 0) {
		pbuf_free(p);
		return;
	}
	ns_rx_l4_open = rc == 1;
	/* takes p, delivered or dropped */
	if ((*(const u8_t *)p->payload >> 4) == 6)
		(void)ip6_input(p, netif);
	else
		(void)ip4_input(p, netif);
	ns_rx_l4_open = false;
}

unsigned int
dpdkif_poll(struct netif *netif)
{
	struct dpdkif *dif = netif->state;
	struct ns_rx_pkt pkts[NS_RX_BURST_MAX];
	unsigned int n;
	bool copy;

	n = ns_port_rx(dif->idx, pkts, NS_RX_BURST_MAX);
	if (n == 0)
		return 0;
	copy = ns_port_pool_low(dif->idx);
	for (unsigned int i = 0; i < n; i++) {
		struct pbuf *p;

		if (pkts[i].data == NULL) {
			long_input(netif, &pkts[i]);
			continue;
		}
		p = low_level_input(netif, &pkts[i],
				    copy || dif->rx_held >= dif->caps.rx_hold_max);

		if (p == NULL)
			continue;
		ns_rx_l4_open = pkts[i].l4_open;
		if (netif->input(p, netif) != ERR_OK) {
			dif->rx_drop_input++;
			pbuf_free(p);
		}
	}
	ns_rx_l4_open = false;
	return n;
}

bool ns_tx_df;

/* DF on or off in a whole datagram's header (not a fragment's), its sum
 * mended as RFC 1624 says, when lwIP made it (else the port makes it):
 * HC' = ~(~HC + ~m + m'), m the old word, m' the new. */
static void
ip4_set_df(struct netif *netif, struct pbuf *p, bool on)
{
	struct ip_hdr *ip = p->payload;
	u16_t old, new;
	uint32_t sum;

	if (p->len < IP_HLEN)
		return;
	old = IPH_OFFSET(ip);
	new = on ? (u16_t)(old | PP_HTONS(IP_DF)) : (u16_t)(old & ~PP_HTONS(IP_DF));
	if ((old & PP_HTONS(IP_MF | IP_OFFMASK)) != 0 || new == old)
		return;
	IPH_OFFSET_SET(ip, new);
	IF__NETIF_CHECKSUM_ENABLED(netif, NETIF_CHECKSUM_GEN_IP) {
		sum = (uint32_t)(u16_t)~IPH_CHKSUM(ip) + (u16_t)~old + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		IPH_CHKSUM_SET(ip, (u16_t)~sum);
	}
}

/* IPv4 out: DF as ns.h says (ns_tx_df, said for this packet and taken
 * here), then ARP. ICMP never: lwIP's echo reply is built on the
 * request's header, DF and all; Linux's ICMP socket sets none. */
static err_t
ip4_df_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	if (p->len >= IP_HLEN && IPH_PROTO((struct ip_hdr *)p->payload) == IP_PROTO_ICMP)
		ip4_set_df(netif, p, false);
	else if (ns_tx_df)
		ip4_set_df(netif, p, true);
	ns_tx_df = false;
	return etharp_output(netif, p, dst);
}

err_t
dpdkif_init(struct netif *netif)
{
	netif->name[0] = IFNAME0;
	netif->name[1] = IFNAME1;
	netif->output = ip4_df_output;
	netif->output_ip6 = ethip6_output;
	netif->linkoutput = low_level_output;
	MIB2_INIT_NETIF(netif, snmp_ifType_ethernet_csmacd, 0);
	low_level_init(netif);
	return ERR_OK;
}
