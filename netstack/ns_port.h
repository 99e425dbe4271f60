/*
 * The DPDK side of the stack, seen from the lwIP side: EAL start-up and
 * per-port RX/TX in bursts. No DPDK or lwIP types cross this header; mbufs
 * travel as opaque pointers. (DPDK's and lwIP's headers clash.)
 */
#ifndef ZPNET_NS_PORT_H
#define ZPNET_NS_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ns_config.h"

/* What a received frame looks like to the netif driver. data NULL: an
 * IPv4 datagram of len bytes longer than the port's frames (the kernel
 * reassembled it for net_af_packet), to be read with ns_port_rx_long(). */
struct ns_rx_pkt {
	void *m;		/* the mbuf, freed with ns_port_free() */
	void *data;		/* first byte of the Ethernet header */
	void *priv;		/* per-mbuf private area (the pbuf_custom) */
	uint16_t len;
	bool l4_open;		/* caps.rx_csum, but its TCP/UDP sum unchecked */
};

/* What the port offers, filled by ns_port_start(). */
struct ns_port_caps {
	uint8_t mac[6];
	uint16_t mtu;
	bool rx_csum;		/* IPv4 header + TCP/UDP checked by the port */
	bool tx_csum_tcp;	/* port fills IPv4 header and TCP checksums */
	unsigned int rx_hold_max;	/* received mbufs lwIP and sockets may hold */
	char driver[NS_PMD_NAME_MAX];
};

struct ns_port_stats {
	uint64_t rx_pkts, tx_pkts;
	uint64_t rx_bytes, tx_bytes;	/* the device's count (0: it keeps none) */
	uint64_t link_up;	/* 1: the link is up */
	uint64_t rx_csum_bad;	/* dropped: bad checksum reported or found */
	uint64_t rx_long;	/* datagrams longer than a frame, read whole */
	uint64_t rx_long_drop;	/* frames cut short by the port: dropped */
	uint64_t tx_nombuf;	/* dropped: mbuf pool empty */
	uint64_t tx_full;	/* dropped: TX ring stayed full */
	uint64_t pool_free;	/* mbufs free in the pool now */
	uint64_t pool_placed;	/* mbufs placed in it so far (ns_pool_grow) */
	uint64_t rx_nombuf;	/* driver found no mbuf for a frame */
	uint64_t rx_missed;	/* frames the device dropped: ring full */
	uint64_t tx_queued;	/* frames waiting in our TX queue */
	uint64_t tx_tso;	/* frames of several TCP segments (ns_tso.h) */
	uint64_t tx_tso_segs;	/* the segments they carried */
	uint64_t tx_tso_err;	/* lost: the device refused them (down) */
	uint64_t queues_prewarmed;	/* queue sockets made by zpnet run's helper */
};

/* EAL start-up from [eal] and the ports' devices. Call once. */
int ns_eal_start(const struct ns_config *cfg, char *err, size_t errlen);

/* Set up, start and describe port idx; priv_size bytes per mbuf for the
 * driver. 0, or a negative errno with err filled. */
int ns_port_start(unsigned int idx, const struct ns_port_config *pc,
		  size_t priv_size, struct ns_port_caps *caps, char *err,
		  size_t errlen);

/* Receive up to max frames; checksum-verified when caps.rx_csum. */
unsigned int ns_port_rx(unsigned int idx, struct ns_rx_pkt *pkts,
			unsigned int max);
void ns_port_free(void *m);
/* Copy the long packet ns_port_rx() announced last (its IP header first)
 * to dst: 0; 1 when its TCP/UDP sum is left to lwIP's input (l4_open);
 * or -1 when it is gone or failed its checksum (counted). dst NULL: drop
 * it. */
int ns_port_rx_long(unsigned int idx, void *dst, uint16_t len);
/* True when the pool is so low that received data should be copied. */
bool ns_port_pool_low(unsigned int idx);

/* A TX buffer of len bytes, or NULL (pool empty: counted). */
void *ns_port_tx_alloc(unsigned int idx, uint16_t len, void **data);
/* Queue a filled buffer; the batch goes out at ns_port_tx_flush() or
 * when it fills. csum: ask the port to fill IPv4/TCP checksums. */
void ns_port_tx_queue(unsigned int idx, void *m, bool csum);
/* Send every queued frame; returns how many are still queued. */
unsigned int ns_port_tx_flush(unsigned int idx);
/* ns_tx_pending() (ns.h) */
bool ns_port_tx_pending(void);

/* The lock was taken from a holder that died: if it died inside a burst
 * of a port whose ring position the driver keeps (net_af_packet), put the
 * position where the kernel's is. Lock held. */
void ns_port_repair(void);
/* How many bursts were repaired. */
unsigned long ns_port_repaired(void);

void ns_port_get_stats(unsigned int idx, struct ns_port_stats *st);
unsigned int ns_port_count(void);
void ns_port_stop_all(void);

/* TSC frequency in Hz, known after ns_eal_start(). */
uint64_t ns_tsc_hz(void);

#endif
