/*
 * ICMP and ICMPv6 errors about the stack's UDP datagrams and TCP segments
 * (ns_icmp.c), for
 * the owner of the sockets. lwIP's types: include with lwIP's headers.
 */
#ifndef ZPNET_NS_ICMP_H
#define ZPNET_NS_ICMP_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/ip_addr.h"

/*
 * An ICMP or ICMPv6 error about a UDP datagram or TCP segment this stack
 * sent (ns_icmp.c): what Linux's udp_err and tcp_v4_err get. Lock held,
 * from ns_poll.
 */
struct ns_icmp_error {
	bool v6;
	uint8_t type, code;
	uint32_t info;		/* the MTU it gives, the parameter's pointer; or 0 */
	ip_addr_t offender;	/* the error's source */
	ip_addr_t src, dst;	/* the quoted datagram's addresses (src: ours) */
	bool tcp;		/* a TCP segment's (else a UDP datagram's) */
	uint16_t sport, dport;	/* its ports, host order */
	uint32_t seq;		/* TCP: its sequence number */
	const uint8_t *l4;	/* the quoted bytes from the UDP or TCP header */
	uint16_t l4_len;
	const uint8_t *payload;	/* the quoted bytes after its first 8 */
	uint16_t payload_len;
};
/* The owner's handlers of such errors; NULL: they are dropped, as lwIP's. */
extern void (*ns_icmp_udp_error)(const struct ns_icmp_error *e);
extern void (*ns_icmp_tcp_error)(const struct ns_icmp_error *e);

#endif
