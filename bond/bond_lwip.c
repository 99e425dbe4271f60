/*
 * Socket addresses and lwIP addresses.
 */
#include <errno.h>
#include <string.h>

#include "lwip/netif.h"

#include "bond.h"
#include "bond_lwip.h"

int
bond_sa_to_ip(int family, const struct sockaddr *sa, socklen_t len,
	      ip_addr_t *ip, u16_t *port)
{
	if (sa == NULL)
		return -EFAULT;
	if (family == AF_INET) {
		struct sockaddr_in sin;

		if (len < (socklen_t)sizeof(sin))
			return -EINVAL;
		memcpy(&sin, sa, sizeof(sin));
		/* Linux takes AF_UNSPEC with INADDR_ANY as AF_INET. */
		if (sin.sin_family != AF_INET &&
		    !(sin.sin_family == AF_UNSPEC &&
		      sin.sin_addr.s_addr == htonl(INADDR_ANY)))
			return -EAFNOSUPPORT;
		ip_addr_set_ip4_u32_val(*ip, sin.sin_addr.s_addr);
		*port = ntohs(sin.sin_port);
		return 0;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 sin6;

		if (len < (socklen_t)sizeof(sin6))
			return -EINVAL;
		memcpy(&sin6, sa, sizeof(sin6));
		if (sin6.sin6_family != AF_INET6)
			return -EAFNOSUPPORT;
		*port = ntohs(sin6.sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			u32_t a;

			memcpy(&a, &sin6.sin6_addr.s6_addr[12], sizeof(a));
			ip_addr_set_ip4_u32_val(*ip, a);
			return 0;
		}
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(ip)->addr, &sin6.sin6_addr, sizeof(ip_2_ip6(ip)->addr));
		ip6_addr_clear_zone(ip_2_ip6(ip));
		if (IN6_IS_ADDR_LINKLOCAL(&sin6.sin6_addr) && sin6.sin6_scope_id)
			ip6_addr_set_zone(ip_2_ip6(ip), (u8_t)sin6.sin6_scope_id);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void
bond_ip_to_sa(int family, const ip_addr_t *ip, u16_t port,
	      struct sockaddr *sa, socklen_t *len)
{
	union {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} u;
	socklen_t full, n;

	memset(&u, 0, sizeof(u));
	if (family == AF_INET) {
		u.sin.sin_family = AF_INET;
		u.sin.sin_port = htons(port);
		u.sin.sin_addr.s_addr = IP_IS_V4(ip) ? ip4_addr_get_u32(ip_2_ip4(ip)) : 0;
		full = sizeof(u.sin);
	} else {
		u.sin6.sin6_family = AF_INET6;
		u.sin6.sin6_port = htons(port);
		if (IP_IS_V6(ip)) {
			memcpy(&u.sin6.sin6_addr, ip_2_ip6(ip)->addr, 16);
			u.sin6.sin6_scope_id = ip6_addr_zone(ip_2_ip6(ip));
		} else if (IP_IS_V4(ip) && !ip_addr_isany(ip)) {
			u32_t a = ip4_addr_get_u32(ip_2_ip4(ip));

			u.sin6.sin6_addr.s6_addr[10] = 0xff;
			u.sin6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&u.sin6.sin6_addr.s6_addr[12], &a, sizeof(a));
		}
		full = sizeof(u.sin6);
	}
	if (sa != NULL && len != NULL) {
		n = *len < full ? *len : full;
		memcpy(sa, &u, n);
	}
	if (len != NULL)
		*len = full;
}

bool
bond_ip_is_local(const ip_addr_t *ip)
{
	struct netif *n;

	NETIF_FOREACH(n) {
		if (IP_IS_V4(ip) && ip4_addr_cmp(ip_2_ip4(ip), netif_ip4_addr(n)))
			return true;
		if (IP_IS_V6(ip) && netif_get_ip6_addr_match(n, ip_2_ip6(ip)) >= 0)
			return true;
	}
	return false;
}

size_t
bond_pbuf_to_user(const struct pbuf *p, size_t off, char *dst, size_t n)
{
	size_t done = 0;

	for (; p != NULL && off >= p->len; p = p->next)
		off -= p->len;
	for (; p != NULL && done < n; p = p->next, off = 0) {
		size_t k = p->len - off;

		if (k > n - done)
			k = n - done;
		if (bond_copy_to_user(dst + done, (const char *)p->payload + off, k) < k)
			break;
		done += k;
	}
	return done;
}
