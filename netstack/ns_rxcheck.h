/* The TCP and UDP sums a port's check could not reach (ns_rxcheck.c). */
#ifndef ZPNET_NS_RXCHECK_H
#define ZPNET_NS_RXCHECK_H

#include <stdbool.h>

/* Set while lwIP takes in a frame whose TCP/UDP sum is still unchecked. */
extern bool ns_rx_l4_open;

#endif
