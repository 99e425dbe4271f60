/*
 * Helpers shared by the protocol files (lwIP side): socket addresses to and
 * from lwIP's ip_addr_t.
 */
#ifndef ZPNET_BOND_LWIP_H
#define ZPNET_BOND_LWIP_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"

/* sockaddr (of a socket of family) to addr/port; -EINVAL, -EAFNOSUPPORT. */
int bond_sa_to_ip(int family, const struct sockaddr *sa, socklen_t len,
		  ip_addr_t *ip, u16_t *port);
/* addr/port to a sockaddr of family (v4 peers of v6 sockets are mapped);
 * *len in: buffer size, out: full size (Linux truncates the copy). */
void bond_ip_to_sa(int family, const ip_addr_t *ip, u16_t port,
		   struct sockaddr *sa, socklen_t *len);
/* n bytes from offset off of a pbuf chain (its len and next only) to the
 * application at dst; how many arrived, counting whole pbufs only, as
 * Linux copies a segment whole or not at all (n: all). */
size_t bond_pbuf_to_user(const struct pbuf *p, size_t off, char *dst, size_t n);
/* true when ip is one of our netifs' addresses. */
bool bond_ip_is_local(const ip_addr_t *ip);

#endif
