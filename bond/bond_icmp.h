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

#endif
