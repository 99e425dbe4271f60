/*
 * ICMP and ICMPv6 errors for the stack's sockets (bond_icmp.c): Linux's
 * errno for each, and the error queue of IP_RECVERR and IPV6_RECVERR that
 * recvmsg(MSG_ERRQUEUE) reads. Lock held; lwIP's types.
 */
#ifndef ZPNET_BOND_ICMP_H
#define ZPNET_BOND_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "bond.h"
#include "ns_icmp.h"

/*
 * The errno Linux gives for e (icmp_err_convert[], icmpv6_err_convert()),
 * with whether it is "hard" (a connected UDP socket gets it without
 * IP_RECVERR); 0: no error for a socket. Fragmentation needed and packet
 * too big are hard EMSGSIZE, as under Linux's default path-MTU discovery.
 */
int bond_icmp_errno(const struct ns_icmp_error *e, bool *hard);

struct netif;

/* An error queue: its entries, oldest first, and the bytes they take. */
struct bond_errq;
struct bond_errq_list {
	struct bond_errq *head, *tail;
	size_t bytes;
};

/*
 * Queue e with errno err and the quoted bytes data (len of them), as
 * Linux's ip_icmp_error: refused (false) when rmem, what the socket holds
 * already, and the entry would pass rcvbuf.
 */
bool bond_errq_add(struct bond_errq_list *q, const struct ns_icmp_error *e,
		   int err, const uint8_t *data, size_t len, size_t rmem,
		   int rcvbuf);
/* proto->recv_err (bond.h) on q, sk's queue. */
ssize_t bond_errq_recv(struct bond_errq_list *q, struct bond_sock *sk,
		       const struct iovec *iov, int iovcnt,
		       struct bond_errq_msg *m);
void bond_errq_purge(struct bond_errq_list *q);

/*
 * A local error (Linux's ip_local_error, ipv6_local_error): errno err
 * about a datagram to dst:dport that was not sent, info its limit (the
 * MTU of EMSGSIZE), no bytes, no offender; refused as bond_errq_add.
 */
bool bond_errq_add_local(struct bond_errq_list *q, bool v6, int err,
			 uint32_t info, const ip_addr_t *dst, u16_t dport,
			 size_t rmem, int rcvbuf);

/* The path MTU learned for an IPv4 destination, or 0; keep mtu for dst
 * unless a lower one is known. */
uint32_t bond_pmtu4_get(const ip_addr_t *dst);
void bond_pmtu4_learn(const ip_addr_t *dst, uint32_t mtu);
/* The MTU of the path from src to dst (Linux's dst_mtu): the learned one
 * (IPv4: bond_pmtu4_get; IPv6: lwIP's destination cache), else the
 * port's: the port of netif_idx (a pcb's SO_BINDTODEVICE), or the route's;
 * 0 when none. bond_path_mtu_if: by port n. */
uint32_t bond_path_mtu(const ip_addr_t *src, const ip_addr_t *dst,
		       u8_t netif_idx);
uint32_t bond_path_mtu_if(struct netif *n, const ip_addr_t *dst);

#endif
