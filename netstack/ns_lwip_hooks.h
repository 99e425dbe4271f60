/* lwIP hook prototypes (LWIP_HOOK_FILENAME): included inside lwIP sources. */
#ifndef ZPNET_NS_LWIP_HOOKS_H
#define ZPNET_NS_LWIP_HOOKS_H

u32_t ns_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
		 const ip_addr_t *remote_ip, u16_t remote_port);

struct tcp_pcb;
struct tcp_hdr;
struct pbuf;
err_t ns_tcp_inpacket(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, u16_t optlen,
		      const u8_t *opt2, struct pbuf *p);

u32_t *ns_tcp_out_segment(struct pbuf *p, struct tcp_hdr *hdr,
			  const struct tcp_pcb *pcb, u32_t *opts);

struct netif *ns_ip6_route(const ip6_addr_t *src, const ip6_addr_t *dest);
const ip6_addr_t *ns_nd6_get_gw(struct netif *netif, const ip6_addr_t *dest);

#endif
