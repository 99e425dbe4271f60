/*
 * The [bond] and [hooks] sections of the config file, and the offload
 * policy: which sockets the stack serves and which go to the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "bond.h"
#include "bond_config.h"

#define BOND_KEY(sec_t, field, type_, def_, min_, max_, doc_) { \
	.name = #field, .type = (type_), \
	.offset = offsetof(struct sec_t, field), \
	.size = sizeof(((struct sec_t *)0)->field), \
	.def = (def_), .min = (min_), .max = (max_), .doc = (doc_) }

#define BOND_US_MAX		(1000u * 1000u)	/* one second */
#define BOND_IP4_BITS		32
#define BOND_IP6_BITS		128
#define BOND_PORT_MAX		65535
#define BOND_RULE_SEP		" ,\t"

static const struct ns_cfg_key bond_keys[] = {
	BOND_KEY(bond_config, offload, NS_CFG_STR, "tcp,udp", 0, 0,
		 "protocols served by the stack: tcp,udp | tcp | udp | none (everything else always goes to the kernel)"),
	BOND_KEY(bond_config, kernel_addrs, NS_CFG_STR, "127.0.0.0/8 ::1/128", 0, 0,
		 "address prefixes (space or comma separated) sent to the kernel: a socket binding or connecting to one stays a kernel socket"),
	BOND_KEY(bond_config, kernel_ports, NS_CFG_STR, "", 0, 0,
		 "ports (space or comma separated) sent to the kernel: a socket binding or connecting to one stays a kernel socket"),
	BOND_KEY(bond_config, busy_poll_us, NS_CFG_UINT, "100", 0, BOND_US_MAX,
		 "a blocked call busy-polls the port this long before napping, microseconds"),
	BOND_KEY(bond_config, busy_poll_max_us, NS_CFG_UINT, "500", 0, BOND_US_MAX,
		 "a blocked call waiting for a request busy-polls 1.5 times as long as the thread's recent ones waited, when that is more than busy_poll_us and at most this, microseconds (0: busy_poll_us always)"),
	BOND_KEY(bond_config, max_nap_us, NS_CFG_UINT, "1000", 1, BOND_US_MAX,
		 "longest nap between polls of an idle blocked call (naps double up to it), microseconds"),
	BOND_KEY(bond_config, kernel_check_us, NS_CFG_UINT, "20", 0, BOND_US_MAX,
		 "while an epoll_wait over kernel fds and stack sockets busy-polls, it asks the kernel about its fds at most this often (its first turn always asks), microseconds (0: every turn)"),
	BOND_KEY(bond_config, service_interval_us, NS_CFG_UINT, "1000", 100, BOND_US_MAX,
		 "the service thread runs timers and TX when no application thread polled for this long, microseconds"),
	BOND_KEY(bond_config, service_backoff_us, NS_CFG_UINT, "32000", 0, BOND_US_MAX,
		 "while application threads keep polling, the service thread's naps double from service_interval_us up to this, microseconds (at most service_interval_us: they never grow)"),
};

static const struct ns_cfg_key hooks_keys[] = {
	BOND_KEY(bond_hooks_config, mode, NS_CFG_STR, "zpoline", 0, 0,
		 "how system calls are caught: zpoline (binary rewriting), sud (Syscall User Dispatch only), preload (libc symbols only)"),
	BOND_KEY(bond_hooks_config, sud_safety_net, NS_CFG_BOOL, "yes", 0, 0,
		 "zpoline mode: arm Syscall User Dispatch behind the rewriter for anything it missed"),
	BOND_KEY(bond_hooks_config, sud_fallback, NS_CFG_BOOL, "no", 0, 0,
		 "zpoline mode: when address 0 cannot be mapped, run on Syscall User Dispatch alone instead of failing"),
};

const struct ns_cfg_section bond_cfg_bond = {
	.name = "bond", .keys = bond_keys,
	.n_keys = sizeof(bond_keys) / sizeof(bond_keys[0]),
};
const struct ns_cfg_section bond_cfg_hooks = {
	.name = "hooks", .keys = hooks_keys,
	.n_keys = sizeof(hooks_keys) / sizeof(hooks_keys[0]),
};

struct bond_config bond_cfg;
struct bond_hooks_config bond_hooks_cfg;

static void
apply_defaults(const struct ns_cfg_section *sec, void *dst)
{
	for (unsigned int i = 0; i < sec->n_keys; i++)
		if (sec->keys[i].def != NULL)
			ns_cfg_parse_value(&sec->keys[i], sec->keys[i].def, dst);
}

void
bond_config_defaults(struct bond_config *c)
{
	memset(c, 0, sizeof(*c));
	apply_defaults(&bond_cfg_bond, c);
	bond_config_finish(c, NULL, 0);
}

void
bond_hooks_config_defaults(struct bond_hooks_config *h)
{
	memset(h, 0, sizeof(*h));
	apply_defaults(&bond_cfg_hooks, h);
}

static int
fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	if (err != NULL)
		snprintf(err, errlen, fmt, what);
	return -EINVAL;
}

static int
parse_prefix(const char *tok, struct bond_rule *r)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long bits;

	if (strlen(tok) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, tok);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(r, 0, sizeof(*r));
	if (inet_pton(AF_INET, buf, r->addr) == 1) {
		r->family = AF_INET;
		bits = BOND_IP4_BITS;
	} else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
		r->family = AF_INET6;
		bits = BOND_IP6_BITS;
	} else {
		return -EINVAL;
	}
	if (slash != NULL) {
		unsigned long max = bits;

		bits = strtoul(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || bits > max)
			return -EINVAL;
	}
	r->prefix = (uint8_t)bits;
	return 0;
}

int
bond_config_finish(struct bond_config *c, char *err, size_t errlen)
{
	char buf[BOND_RULES_TEXT], *tok, *save;

	if (strcmp(c->offload, "tcp,udp") == 0 || strcmp(c->offload, "udp,tcp") == 0)
		c->offload_mask = BOND_OFFLOAD_TCP | BOND_OFFLOAD_UDP;
	else if (strcmp(c->offload, "tcp") == 0)
		c->offload_mask = BOND_OFFLOAD_TCP;
	else if (strcmp(c->offload, "udp") == 0)
		c->offload_mask = BOND_OFFLOAD_UDP;
	else if (strcmp(c->offload, "none") == 0)
		c->offload_mask = 0;
	else
		return fail(err, errlen,
			    "[bond] offload = %s: use tcp,udp, tcp, udp or none",
			    c->offload);
	c->n_rules = 0;
	snprintf(buf, sizeof(buf), "%s", c->kernel_addrs);
	for (tok = strtok_r(buf, BOND_RULE_SEP, &save); tok != NULL;
	     tok = strtok_r(NULL, BOND_RULE_SEP, &save)) {
		if (c->n_rules == BOND_RULES_MAX)
			return fail(err, errlen, "[bond] kernel_addrs: more than %s rules",
				    "32");
		if (parse_prefix(tok, &c->rules[c->n_rules]) < 0)
			return fail(err, errlen,
				    "[bond] kernel_addrs: '%s' is not an address/prefix (e.g. 127.0.0.0/8 or ::1/128)",
				    tok);
		c->n_rules++;
	}
	snprintf(buf, sizeof(buf), "%s", c->kernel_ports);
	for (tok = strtok_r(buf, BOND_RULE_SEP, &save); tok != NULL;
	     tok = strtok_r(NULL, BOND_RULE_SEP, &save)) {
		char *end;
		unsigned long port = strtoul(tok, &end, 10);

		if (c->n_rules == BOND_RULES_MAX)
			return fail(err, errlen, "[bond] kernel_ports: more than %s rules",
				    "32");
		if (*end != '\0' || port == 0 || port > BOND_PORT_MAX)
			return fail(err, errlen,
				    "[bond] kernel_ports: '%s' is not a port number (1-65535)",
				    tok);
		memset(&c->rules[c->n_rules], 0, sizeof(c->rules[0]));
		c->rules[c->n_rules].port = (uint16_t)port;
		c->n_rules++;
	}
	return 0;
}

static bool
prefix_match(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
bond_policy_kernel(const struct bond_config *c, const struct sockaddr *sa,
		   socklen_t len)
{
	uint8_t addr[16];
	int family;
	uint16_t port;

	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		family = AF_INET;
		memcpy(addr, &sin->sin_addr, 4);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6 &&
		   len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = AF_INET;
			memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			family = AF_INET6;
			memcpy(addr, &sin6->sin6_addr, 16);
		}
		port = ntohs(sin6->sin6_port);
	} else {
		return false;
	}
	for (unsigned int i = 0; i < c->n_rules; i++) {
		const struct bond_rule *r = &c->rules[i];

		if (r->family == 0) {
			if (port != 0 && r->port == port)
				return true;
		} else if (r->family == family &&
			   prefix_match(r->addr, addr, r->prefix)) {
			return true;
		}
	}
	return false;
}
