/*
 * The TCP and UDP sums a port's check could not reach.
 *
 * A port with checksum offload, or net_af_packet with zpnet's own TCP
 * socket (ns_port.c), has lwIP's TCP and UDP checks off: the port or
 * ns_port.c verified each frame. Two kinds of frame are verified by
 * neither: a fragment, whose sum spans the datagram lwIP reassembles, and
 * IPv6 with extension headers before TCP or UDP. ns_port_rx marks such a
 * frame (l4_open); dpdkif sets ns_rx_l4_open while lwIP takes it in, and
 * lwIP's tcp_input and udp_input, reached through the linker
 * (-Wl,--wrap), check the sum of what arrives then: a reassembled
 * datagram arrives with its last fragment. Frames looped back to our own
 * addresses skip the port, carry the sums lwIP made or left to offload,
 * and arrive with the flag clear.
 */
#include <stdbool.h>

#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/udp.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

#include "ns_rxcheck.h"

bool ns_rx_l4_open;

void __real_tcp_input(struct pbuf *p, struct netif *inp);
void ns_demux_tcp_input(struct pbuf *p, struct netif *inp);
void __wrap_udp_input(struct pbuf *p, struct netif *inp);
void __real_udp_input(struct pbuf *p, struct netif *inp);

/* p (the transport header on) fails the sum lwIP did not check. */
static bool
open_sum_bad(struct pbuf *p, const struct netif *inp, u8_t proto, u16_t check)
{
	/* lwIP checks it itself (LWIP_CHECKSUM_CTRL_PER_NETIF) */
	if (!ns_rx_l4_open || inp == NULL || (inp->chksum_flags & check) != 0)
		return false;
	if (proto == IP_PROTO_UDP && !ip_current_is_v6() &&
	    p->len >= UDP_HLEN &&
	    ((const struct udp_hdr *)p->payload)->chksum == 0)
		return false;	/* IPv4 UDP without a sum */
	return ip_chksum_pseudo(p, proto, p->tot_len, ip_current_src_addr(),
				ip_current_dest_addr()) != 0;
}

void
__wrap_tcp_input(struct pbuf *p, struct netif *inp)
{
	if (open_sum_bad(p, inp, IP_PROTO_TCP, NETIF_CHECKSUM_CHECK_TCP)) {
		TCP_STATS_INC(tcp.chkerr);
		TCP_STATS_INC(tcp.drop);
		pbuf_free(p);
		return;
	}
	ns_demux_tcp_input(p, inp);
}

void
__wrap_udp_input(struct pbuf *p, struct netif *inp)
{
	if (open_sum_bad(p, inp, IP_PROTO_UDP, NETIF_CHECKSUM_CHECK_UDP)) {
		UDP_STATS_INC(udp.chkerr);
		UDP_STATS_INC(udp.drop);
		pbuf_free(p);
		return;
	}
	__real_udp_input(p, inp);
}
