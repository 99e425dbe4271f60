/*
 * lwIP configuration for zpnet: lwIP runs to completion in the
 * application's threads (NO_SYS=1) under one process-wide stack lock.
 *
 * Every line that differs from lwIP 2.1.3's default (src/include/lwip/opt.h)
 * says why in one line. Sizes marked "runtime" come from the [stack] section
 * of the config file (netstack/ns_config.c); the constants here are the
 * compile-time ceilings those settings are checked against.
 */
#ifndef ZPNET_LWIPOPTS_H
#define ZPNET_LWIPOPTS_H

#include "ns_lwip_rt.h"

/* ---- system ---- */
#define NO_SYS				1	/* no lwIP threads: run to completion in the app's thread */
#define SYS_LIGHTWEIGHT_PROT		0	/* callers hold the stack lock */
#define LWIP_SOCKET			0	/* our socket layer is bond/, over the raw API */
#define LWIP_NETCONN			0	/* needs threads */
#define LWIP_TIMERS			1
#define LWIP_RAND()			ns_rand32()	/* DPDK's PRNG, seeded per process */
#define LWIP_ERRNO_STDINCLUDE		1	/* use the system's errno values */
#define LWIP_STATS			1	/* counters for `zpnet stats` */
#define LWIP_STATS_DISPLAY		0
#define LWIP_STATS_LARGE		1	/* 32-bit counters: 16-bit ones wrap within a second */
#define LWIP_CHECKSUM_CTRL_PER_NETIF	1	/* skip software checksums on ports that offload them */
#define LWIP_SUPPORT_CUSTOM_PBUF	1	/* received mbufs back pbufs without a copy */
#define LWIP_NETIF_LOOPBACK		1	/* a process may connect to its own addresses */
#define LWIP_LOOPBACK_MAX_PBUFS		1024	/* bound the loopback queue */
#define LWIP_NUM_NETIF_CLIENT_DATA	1	/* one slot for the driver's per-port data */
#define LWIP_SINGLE_NETIF		0	/* several ports at once */

/* ---- memory: static pools in .bss, no malloc on the data path ---- */
#define MEM_ALIGNMENT			8	/* x86-64 */
#define MEM_SIZE			(256 * 1024 * 1024)	/* heap: copied TX data, bond's sockets; pages count as RSS only once used */
/* Pools cost memory only as they are used (netstack/ns_memp.c). */
#define MEMP_NUM_TCP_PCB		NS_MAX_TCP_PCB	/* connections, TIME-WAIT included */
#define MEMP_NUM_TCP_PCB_LISTEN		1024	/* many listening ports (SO_REUSEPORT, several apps) */
#define MEMP_NUM_UDP_PCB		1024	/* one per UDP socket */
#define MEMP_NUM_TCP_SEG		262144	/* queued TX segments across all connections */
#define MEMP_NUM_PBUF			16384	/* PBUF_REF/ROM headers */
#define MEMP_NUM_REASSDATA		64	/* concurrent IP reassemblies */
#define IP_REASS_MAX_PBUFS		256	/* fragments held for reassembly (64 KiB datagrams) */
#define MEMP_NUM_FRAG_PBUF		256	/* IPv4 fragments in flight */
#define MEMP_NUM_ARP_QUEUE		256	/* packets waiting on ARP across many peers */
#define MEMP_NUM_ND6_QUEUE		256	/* same for neighbour discovery */
#define PBUF_POOL_SIZE			512	/* copied RX frames when the heap is full too (memp_init touches every 2 KiB buffer: RSS) */
#define PBUF_POOL_BUFSIZE		2048	/* a full Ethernet frame plus headroom */
#define MEMP_NUM_SYS_TIMEOUT		(LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)	/* room for our timers */

/* ---- link layer ---- */
#define LWIP_ARP			1
#define ARP_TABLE_SIZE			512	/* many peers on one segment */
#define ARP_QUEUEING			1
#define ETHARP_SUPPORT_STATIC_ENTRIES	1	/* config may pin a peer's MAC */
#define LWIP_ETHERNET			1

/* ---- IPv4 ---- */
#define LWIP_IPV4			1
#define IP_DEFAULT_TTL			64	/* Linux's ip_default_ttl (lwIP: 255) */
#define IP_SOF_BROADCAST		1	/* sending to a broadcast address needs SO_BROADCAST */
#define IP_REASSEMBLY			1
#define IP_FRAG				1
#define LWIP_ICMP			1
#define LWIP_IGMP			1	/* UDP multicast receivers */
#define LWIP_RAW			0	/* no raw sockets on the stack */
#define LWIP_DHCP			0	/* addresses come from the config */
#define LWIP_AUTOIP			0
#define LWIP_DNS			0	/* the app's resolver uses kernel sockets */

/* ---- IPv6 ---- */
#define LWIP_IPV6			1
#define LWIP_IPV6_NUM_ADDRESSES		4	/* link-local plus configured addresses */
#define LWIP_IPV6_MLD			1	/* join solicited-node groups so switches deliver ND */
#define LWIP_IPV6_SEND_ROUTER_SOLICIT	0	/* static configuration, no RS chatter */
#define LWIP_IPV6_AUTOCONFIG		0	/* static configuration */
#define LWIP_IPV6_DHCP6			0
#define LWIP_ND6_NUM_NEIGHBORS		127	/* many peers; nd6.c indexes with s8_t, so 127 at most */
#define LWIP_ND6_NUM_DESTINATIONS	127	/* s8_t index, as above */
#define LWIP_ND6_QUEUEING		1
#define LWIP_IPV6_FRAG			1
#define LWIP_IPV6_REASS			1
#define IPV6_FRAG_COPYHEADER		1	/* 64-bit pointers do not fit in the fragment header */

/* ---- UDP ---- */
#define LWIP_UDP			1
#define SO_REUSE			1	/* SO_REUSEADDR / SO_REUSEPORT */
#define SO_REUSE_RXTOALL		1	/* broadcast/multicast to every reusing pcb */

/* ---- TCP ---- */
#define LWIP_TCP			1
#define TCP_MSS				1460	/* Ethernet MTU 1500; lwIP lowers it per netif MTU */
#define LWIP_WND_SCALE			1	/* windows above 64 KiB */
#define TCP_RCV_SCALE			NS_TCP_RCV_SCALE	/* see ns_lwip_rt.h */
#define TCP_WND				NS_TCP_WND	/* runtime: [stack] tcp_wnd */
#define TCP_SND_BUF			NS_TCP_SND_BUF	/* runtime: [stack] tcp_sndbuf */
#define TCP_SND_QUEUELEN		NS_TCP_SND_QUEUELEN	/* runtime, from tcp_sndbuf */
#define TCP_SNDLOWAT			NS_TCP_SNDLOWAT	/* writable again at a quarter free */
#define TCP_SNDQUEUELOWAT		NS_TCP_SNDQUEUELOWAT
#define LWIP_DISABLE_TCP_SANITY_CHECKS	1	/* runtime sizes: checked by ns_config instead */
#define TCP_QUEUE_OOSEQ			1
#define TCP_OOSEQ_MAX_BYTES		(4 * 1024 * 1024)	/* bound out-of-order data per connection */
#define TCP_OOSEQ_MAX_PBUFS		4096
#define LWIP_TCP_SACK_OUT		1	/* tell peers what arrived out of order */
#define LWIP_TCP_MAX_SACK_NUM		4
#define TCP_LISTEN_BACKLOG		1	/* listen(fd, backlog) is honoured */
#define TCP_DEFAULT_LISTEN_BACKLOG	0xff
#define LWIP_TCP_KEEPALIVE		1	/* TCP_KEEPIDLE/INTVL/CNT per socket */
#define LWIP_TCP_TIMESTAMPS		0
#define LWIP_TCP_PCB_NUM_EXT_ARGS	1	/* the socket layer hangs its state on each pcb */
#define LWIP_CALLBACK_API		1
#define TCP_OVERSIZE			TCP_MSS
#define TCP_MAXRTX			12
#define TCP_SYNMAXRTX			6

/* ---- hooks ---- */
#define LWIP_HOOK_TCP_ISN		ns_tcp_isn	/* unpredictable initial sequence numbers */
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
	ns_tcp_inpacket((pcb), (hdr), (optlen), (opt2), (p))	/* SYN cookies, TIME-WAIT as Linux */
#define LWIP_HOOK_TCP_OUT_ADD_TCPOPTS(p, hdr, pcb, opts) \
	ns_tcp_out_segment((p), (hdr), (pcb), (opts))	/* no options: sees each segment go */
#define LWIP_HOOK_IP6_ROUTE(src, dest)	ns_ip6_route((src), (dest))	/* any prefix length, gateway6 */
#define LWIP_HOOK_ND6_GET_GW(netif, dest)	ns_nd6_get_gw((netif), (dest))	/* static gateway6 */
#define LWIP_HOOK_FILENAME		"ns_lwip_hooks.h"

/* ---- debugging: off; asserts stay on (internal invariants only) ---- */
#define LWIP_DBG_MIN_LEVEL		LWIP_DBG_LEVEL_SEVERE
#define LWIP_NOASSERT_ON_ERROR		0

#endif
