/* The lwIP netif driver for DPDK ports (lwIP side; see tapif.c's skeleton). */
#ifndef ZPNET_DPDKIF_H
#define ZPNET_DPDKIF_H

#include "lwip/netif.h"

#include "ns_config.h"
#include "ns_port.h"

struct dpdkif {
	unsigned int idx;		/* port index for ns_port_*() */
	struct ns_port_caps caps;
	bool tx_csum;			/* checksums left to the port */
	uint64_t rx_drop_nomem;		/* no pbuf for a copied frame */
	uint64_t rx_drop_input;		/* lwIP refused the frame */
	uint64_t tx_drop;		/* no mbuf for an outgoing frame */
	uint64_t rx_copied;		/* frames copied because the pool ran low */
	unsigned int rx_held;		/* zero-copy pbufs not yet freed */
};

/* Per-mbuf private area size the driver needs (ns_port_start's priv_size). */
size_t dpdkif_priv_size(void);
/* netif_add()'s init function; netif->state is a struct dpdkif. */
err_t dpdkif_init(struct netif *netif);
/* Receive and input one burst; returns frames received. */
unsigned int dpdkif_poll(struct netif *netif);

#endif
