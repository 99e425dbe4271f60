/*
 * Config file parser: one pass over the INI file records every section
 * header and key = value with its line, and rejects lines that are not
 * INI; each section and key is then checked against its table, and every
 * mistake reported as FILE:LINE.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


#include "ns_config.h"
#include "ns_lwip_rt.h"

#define NS_CFG_COMMENT		'#'
#define NS_CFG_LINE_MAX		1024	/* longest line accepted */
#define NS_CFG_MAX_ENTRIES	1024	/* keys + sections in one file */
#define NS_CFG_MAX_EXTRA	8	/* sections registered by upper layers */
#define NS_CFG_SECTION_MAX	64
#define NS_CFG_KEY_MAX		64
#define NS_CFG_VALUE_MAX	255	/* longest value */

#define KEY(sec_t, field, type_, def_, min_, max_, doc_) { \
	.name = #field, .type = (type_), \
	.offset = offsetof(struct sec_t, field), \
	.size = sizeof(((struct sec_t *)0)->field), \
	.def = (def_), .min = (min_), .max = (max_), .doc = (doc_) }

static const struct ns_cfg_key eal_keys[] = {
	KEY(ns_eal_config, cores, NS_CFG_STR, "auto", 0, 0,
	    "CPU list for DPDK's lcores (EAL -l); auto: the first CPU the process may run on. The app's own affinity is restored after start-up"),
	KEY(ns_eal_config, memory_mb, NS_CFG_UINT, "256", 64, 1024 * 1024,
	    "MiB of DPDK memory (EAL -m): mbuf pools and rings"),
	KEY(ns_eal_config, hugepages, NS_CFG_BOOL, "no", 0, 0,
	    "yes: back DPDK memory with hugepages (--in-memory); no: ordinary pages (--no-huge)"),
	KEY(ns_eal_config, args, NS_CFG_STR, "", 0, 0,
	    "extra EAL arguments, split at spaces (e.g. --log-level=pmd.net.af_packet:debug)"),
	KEY(ns_eal_config, log_level, NS_CFG_LOG_LEVEL, "warning", 0, 0,
	    "level of DPDK's own messages"),
};

static const struct ns_cfg_key port_keys[] = {
	KEY(ns_port_config, pmd, NS_CFG_STR, NULL, 0, 0,
	    "driver: net_af_packet, net_af_xdp, net_tap, net_memif, any DPDK vdev driver, or pci"),
	KEY(ns_port_config, pci, NS_CFG_STR, "", 0, 0,
	    "PCI address of the NIC when pmd = pci (e.g. 0000:3b:00.0)"),
	KEY(ns_port_config, iface, NS_CFG_STR, "", 0, 0,
	    "kernel interface the PMD attaches to (net_af_packet, net_af_xdp); must exist"),
	KEY(ns_port_config, devargs, NS_CFG_STR, "", 0, 0,
	    "extra driver arguments, comma separated (e.g. role=server,socket=/run/zp.sock for net_memif)"),
	KEY(ns_port_config, mac, NS_CFG_MAC, NULL, 0, 0,
	    "MAC address to set on the port; default: the port's own"),
	KEY(ns_port_config, addr, NS_CFG_IP4_PREFIX, NULL, 0, 0,
	    "IPv4 address and prefix length, e.g. 198.18.0.2/24"),
	KEY(ns_port_config, gateway, NS_CFG_IP4, NULL, 0, 0,
	    "IPv4 gateway for destinations off this port's subnet"),
	KEY(ns_port_config, addr6, NS_CFG_IP6_PREFIX, NULL, 0, 0,
	    "IPv6 address and prefix length, e.g. 2001:2::2/64 (a link-local address is always added)"),
	KEY(ns_port_config, gateway6, NS_CFG_IP6, NULL, 0, 0,
	    "IPv6 gateway for destinations off this port's prefix"),
	KEY(ns_port_config, mtu, NS_CFG_UINT, "1500", 576, 9000,
	    "IP MTU of the port; TCP's MSS follows it"),
	KEY(ns_port_config, rx_desc, NS_CFG_UINT, "1024", 64, 32768,
	    "RX ring size"),
	KEY(ns_port_config, tx_desc, NS_CFG_UINT, "1024", 64, 32768,
	    "TX ring size"),
	KEY(ns_port_config, burst, NS_CFG_UINT, "32", 1, 512,
	    "frames per RX burst, and TX batch size before an early flush"),
	KEY(ns_port_config, mbufs, NS_CFG_UINT, "8191", 1023, 1048575,
	    "mbufs in the port's pool (received data waiting in sockets holds mbufs)"),
	KEY(ns_port_config, offload, NS_CFG_BOOL, "yes", 0, 0,
	    "use the port's checksum offloads when it offers them"),
	KEY(ns_port_config, tso, NS_CFG_BOOL, "yes", 0, 0,
	    "net_af_packet: send TCP through a packet socket of zpnet's with virtio-net headers, so the kernel fills the checksums and segments up to 64 KiB at a time; no: through the driver's ring, a frame per segment (needs offload = yes)"),
	KEY(ns_port_config, prewarm, NS_CFG_BOOL, "yes", 0, 0,
	    "net_af_packet: zpnet run sets the queue sockets' rings up in a helper process while PROGRAM starts, and the stack takes them over (each ring setup waits for the kernel, 10-30 ms); no: the driver sets them up when the stack starts"),
	KEY(ns_port_config, is_default, NS_CFG_BOOL, "no", 0, 0,
	    "route destinations that match no port's subnet through this port (default: the first port)"),
};

_Static_assert(NS_MAX_TCP_PCB == 262144, "max_sockets' default and docs say 262144");

static const struct ns_cfg_key stack_keys[] = {
	KEY(ns_stack_config, tcp_wnd, NS_CFG_UINT, "1m", 4096, 8388480,
	    "TCP receive window per connection, bytes (scaled; up to 8388480)"),
	KEY(ns_stack_config, tcp_sndbuf, NS_CFG_UINT, "1m", 4096, 16 * 1024 * 1024,
	    "TCP send buffer per connection, bytes"),
	KEY(ns_stack_config, max_sockets, NS_CFG_UINT, "262144", 16, NS_MAX_TCP_PCB,
	    "most TCP connections at once, TIME-WAIT included (memory is taken as they open)"),
	KEY(ns_stack_config, exit_linger_ms, NS_CFG_UINT, "5000", 0, 600000,
	    "at exit, how long to wait for sent data to be acknowledged"),
	KEY(ns_stack_config, demux_check, NS_CFG_BOOL, "no", 0, 0,
	    "self-check for tests: verify every connection lookup against lwIP's own walk (slow with many connections); a disagreement stops the process"),
	KEY(ns_stack_config, log_level, NS_CFG_LOG_LEVEL, "notice", 0, 0,
	    "zpnet's log level (the ZPNET_LOG environment variable overrides it)"),
	KEY(ns_stack_config, log_file, NS_CFG_STR, "", 0, 0,
	    "append log lines to this file instead of stderr"),
};

#define TABLE(n, k) { .name = (n), .keys = (k), .n_keys = sizeof(k) / sizeof((k)[0]) }
const struct ns_cfg_section ns_cfg_eal = TABLE("eal", eal_keys);
const struct ns_cfg_section ns_cfg_port = TABLE("port", port_keys);
const struct ns_cfg_section ns_cfg_stack = TABLE("stack", stack_keys);

static struct {
	const struct ns_cfg_section *sec;
	void *dst;
} extra[NS_CFG_MAX_EXTRA];
static unsigned int n_extra;

/* Each section header and key of the file, in its order, with its line. */
struct cfg_pos {
	char section[NS_CFG_SECTION_MAX];
	char key[NS_CFG_KEY_MAX];	/* "" for the section header */
	char value[NS_CFG_VALUE_MAX + 1];
	int line;
};

struct cfg_scan {
	struct cfg_pos pos[NS_CFG_MAX_ENTRIES];
	unsigned int n;
};

static void
fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (line > 0)
		n = snprintf(err, errlen, "%s:%d: ", path, line);
	else
		n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
}

int
ns_config_register_section(const struct ns_cfg_section *sec, void *dst)
{
	unsigned int i;

	for (i = 0; i < n_extra; i++) {
		if (strcmp(extra[i].sec->name, sec->name) == 0) {
			extra[i].dst = dst;
			return 0;
		}
	}
	if (n_extra == NS_CFG_MAX_EXTRA)
		return -ENOSPC;
	extra[n_extra].sec = sec;
	extra[n_extra].dst = dst;
	n_extra++;
	return 0;
}

const char *
ns_log_level_name(enum ns_log_level l)
{
	static const char *const names[] = {
		[NS_LOG_ERR] = "error",
		[NS_LOG_WARNING] = "warning",
		[NS_LOG_NOTICE] = "notice",
		[NS_LOG_INFO] = "info",
		[NS_LOG_DEBUG] = "debug",
	};

	if (l < NS_LOG_ERR || l > NS_LOG_DEBUG)
		return "?";
	return names[l];
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
parse_uint(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case 'k':
		mul = 1024;
		end++;
		break;
	case 'm':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0')
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int
parse_prefix(const char *s, int af, void *addr, uint8_t *prefix)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	uint64_t len;
	unsigned int max = af == AF_INET ? 32 : 128;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash == NULL)
		return -EINVAL;
	*slash = '\0';
	if (parse_uint(slash + 1, &len) < 0 || len > max || len == 0)
		return -EINVAL;
	if (inet_pton(af, buf, addr) != 1)
		return -EINVAL;
	*prefix = (uint8_t)len;
	return 0;
}

int
ns_cfg_parse_value(const struct ns_cfg_key *key, const char *text, void *dst)
{
	void *field = (char *)dst + key->offset;

	switch (key->type) {
	case NS_CFG_STR:
		if (strlen(text) >= key->size)
			return -EINVAL;
		strcpy(field, text);
		return 0;
	case NS_CFG_UINT: {
		uint64_t v;

		if (parse_uint(text, &v) < 0 || v < key->min || v > key->max)
			return -EINVAL;
		*(uint64_t *)field = v;
		return 0;
	}
	case NS_CFG_BOOL:
		if (!strcasecmp(text, "yes") || !strcasecmp(text, "true") ||
		    !strcasecmp(text, "on") || !strcmp(text, "1"))
			*(bool *)field = true;
		else if (!strcasecmp(text, "no") || !strcasecmp(text, "false") ||
			 !strcasecmp(text, "off") || !strcmp(text, "0"))
			*(bool *)field = false;
		else
			return -EINVAL;
		return 0;
	case NS_CFG_MAC: {
		struct ns_mac *m = field;
		unsigned int b[6];
		char tail;

		if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1],
			   &b[2], &b[3], &b[4], &b[5], &tail) != 6)
			return -EINVAL;
		if (strlen(text) != 17)
			return -EINVAL;
		for (int i = 0; i < 6; i++)
			m->b[i] = (uint8_t)b[i];
		if (m->b[0] & 1)	/* multicast bit: not a station address */
			return -EINVAL;
		m->set = true;
		return 0;
	}
	case NS_CFG_IP4: {
		struct ns_ip4 *a = field;

		if (inet_pton(AF_INET, text, &a->addr) != 1)
			return -EINVAL;
		a->prefix = 32;
		a->set = true;
		return 0;
	}
	case NS_CFG_IP4_PREFIX: {
		struct ns_ip4 *a = field;

		if (parse_prefix(text, AF_INET, &a->addr, &a->prefix) < 0)
			return -EINVAL;
		a->set = true;
		return 0;
	}
	case NS_CFG_IP6: {
		struct ns_ip6 *a = field;

		if (inet_pton(AF_INET6, text, a->addr) != 1)
			return -EINVAL;
		a->prefix = 128;
		a->set = true;
		return 0;
	}
	case NS_CFG_IP6_PREFIX: {
		struct ns_ip6 *a = field;

		if (parse_prefix(text, AF_INET6, a->addr, &a->prefix) < 0)
			return -EINVAL;
		a->set = true;
		return 0;
	}
	case NS_CFG_LOG_LEVEL: {
		enum ns_log_level *l = field;

		for (int i = NS_LOG_ERR; i <= NS_LOG_DEBUG; i++) {
			if (strcasecmp(text, ns_log_level_name(i)) == 0) {
				*l = i;
				return 0;
			}
		}
		return -EINVAL;
	}
	}
	return -EINVAL;
}

static const char *
type_hint(const struct ns_cfg_key *key)
{
	static char buf[96];

	switch (key->type) {
	case NS_CFG_STR:
		snprintf(buf, sizeof(buf), "text of at most %zu characters",
			 key->size - 1);
		return buf;
	case NS_CFG_UINT:
		snprintf(buf, sizeof(buf),
			 "a whole number from %" PRIu64 " to %" PRIu64 " (k/m/g suffixes allowed)",
			 key->min, key->max);
		return buf;
	case NS_CFG_BOOL:
		return "yes or no";
	case NS_CFG_MAC:
		return "a unicast MAC like 02:00:00:00:00:01";
	case NS_CFG_IP4:
		return "an IPv4 address like 198.18.0.1";
	case NS_CFG_IP4_PREFIX:
		return "an IPv4 address with prefix like 198.18.0.2/24";
	case NS_CFG_IP6:
		return "an IPv6 address like 2001:2::1";
	case NS_CFG_IP6_PREFIX:
		return "an IPv6 address with prefix like 2001:2::2/64";
	case NS_CFG_LOG_LEVEL:
		return "one of error, warning, notice, info, debug";
	}
	return "?";
}

static void
apply_defaults(const struct ns_cfg_section *sec, void *dst)
{
	for (unsigned int i = 0; i < sec->n_keys; i++) {
		const struct ns_cfg_key *k = &sec->keys[i];
		int rc;

		if (k->def == NULL)
			continue;
		rc = ns_cfg_parse_value(k, k->def, dst);
		if (rc != 0) {
			fprintf(stderr, "zpnet[%d]: bad built-in default for %s.%s\n",
				(int)getpid(), sec->name, k->name);
			abort();
		}
	}
}

void
ns_config_defaults(struct ns_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	apply_defaults(&ns_cfg_eal, &cfg->eal);
	apply_defaults(&ns_cfg_stack, &cfg->stack);
}

static int
pos_line(const struct cfg_scan *sc, const char *section, const char *key)
{
	for (unsigned int i = 0; i < sc->n; i++) {
		if (strcmp(sc->pos[i].section, section) == 0 &&
		    strcmp(sc->pos[i].key, key) == 0)
			return sc->pos[i].line;
	}
	return 0;
}

/* Every line is blank, a comment, [section] or key = value. */
static int
scan_file(const char *path, struct cfg_scan *sc, char *err, size_t errlen)
{
	char line[NS_CFG_LINE_MAX + 2];
	char section[NS_CFG_SECTION_MAX] = "";
	FILE *f;
	int lineno = 0;
	int rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		int e = errno;

		fail(err, errlen, path, 0,
		     "cannot open the config file: %s; pass an existing file with -c (examples in configs/)",
		     strerror(e));
		return -e;
	}
	sc->n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *c;

		lineno++;
		if (strlen(line) > NS_CFG_LINE_MAX) {
			fail(err, errlen, path, lineno, "line longer than %d characters",
			     NS_CFG_LINE_MAX);
			rc = -EINVAL;
			break;
		}
		c = strchr(line, NS_CFG_COMMENT);
		if (c != NULL)
			*c = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		if (sc->n == NS_CFG_MAX_ENTRIES) {
			fail(err, errlen, path, lineno, "more than %d entries",
			     NS_CFG_MAX_ENTRIES);
			rc = -EINVAL;
			break;
		}
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (e == NULL || e[1] != '\0' || e == s + 1 ||
			    (size_t)(e - s - 1) >= sizeof(section)) {
				fail(err, errlen, path, lineno,
				     "bad section header '%s'; write it as [name]", s);
				rc = -EINVAL;
				break;
			}
			*e = '\0';
			strcpy(section, trim(s + 1));
			if (pos_line(sc, section, "") != 0) {
				fail(err, errlen, path, lineno,
				     "section [%s] appears twice (first at line %d); merge them",
				     section, pos_line(sc, section, ""));
				rc = -EINVAL;
				break;
			}
			strcpy(sc->pos[sc->n].section, section);
			sc->pos[sc->n].key[0] = '\0';
			sc->pos[sc->n].line = lineno;
			sc->n++;
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			fail(err, errlen, path, lineno,
			     "'%s' is not 'key = value', a [section] or a # comment", s);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		s = trim(s);
		if (*s == '\0' || strlen(s) >= NS_CFG_KEY_MAX) {
			fail(err, errlen, path, lineno, "missing or too long key name");
			rc = -EINVAL;
			break;
		}
		if (*trim(eq + 1) == '\0') {
			fail(err, errlen, path, lineno,
			     "'%s' has no value; give one or remove the line", s);
			rc = -EINVAL;
			break;
		}
		if (strlen(trim(eq + 1)) > NS_CFG_VALUE_MAX) {
			fail(err, errlen, path, lineno,
			     "value of '%s' longer than %d characters", s,
			     NS_CFG_VALUE_MAX);
			rc = -EINVAL;
			break;
		}
		if (section[0] == '\0') {
			fail(err, errlen, path, lineno,
			     "key '%s' before any [section]", s);
			rc = -EINVAL;
			break;
		}
		if (pos_line(sc, section, s) != 0) {
			fail(err, errlen, path, lineno,
			     "key '%s' set twice in [%s] (first at line %d)", s,
			     section, pos_line(sc, section, s));
			rc = -EINVAL;
			break;
		}
		strcpy(sc->pos[sc->n].section, section);
		strcpy(sc->pos[sc->n].key, s);
		strcpy(sc->pos[sc->n].value, trim(eq + 1));
		sc->pos[sc->n].line = lineno;
		sc->n++;
	}
	fclose(f);
	return rc;
}

static void
known_keys(const struct ns_cfg_section *sec, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < sec->n_keys && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
			      sec->keys[i].name);
}

/* The keys after section header hdr, checked and stored into dst. */
static int
parse_section(const struct cfg_scan *sc, unsigned int hdr, const char *path,
	      const struct ns_cfg_section *sec, void *dst, char *err,
	      size_t errlen)
{
	const char *secname = sc->pos[hdr].section;

	for (unsigned int i = hdr + 1; i < sc->n && sc->pos[i].key[0] != '\0';
	     i++) {
		const struct cfg_pos *e = &sc->pos[i];
		const struct ns_cfg_key *key = NULL;

		for (unsigned int k = 0; k < sec->n_keys; k++) {
			if (strcmp(sec->keys[k].name, e->key) == 0)
				key = &sec->keys[k];
		}
		if (key == NULL) {
			char list[512];

			known_keys(sec, list, sizeof(list));
			fail(err, errlen, path, e->line,
			     "unknown key '%s' in [%s]; known keys: %s (see configs/README.md)",
			     e->key, secname, list);
			return -EINVAL;
		}
		if (ns_cfg_parse_value(key, e->value, dst) < 0) {
			fail(err, errlen, path, e->line,
			     "bad value '%s' for %s in [%s]; expected %s",
			     e->value, e->key, secname, type_hint(key));
			return -EINVAL;
		}
	}
	return 0;
}

static int
check_port(const struct ns_port_config *p, const char *path, char *err,
	   size_t errlen)
{
	if (p->pmd[0] == '\0') {
		fail(err, errlen, path, p->line,
		     "[port.%u] has no pmd; set pmd = net_af_packet (or another driver, or pci)",
		     p->id);
		return -EINVAL;
	}
	if (strcmp(p->pmd, "pci") == 0 && p->pci[0] == '\0') {
		fail(err, errlen, path, p->line,
		     "[port.%u] has pmd = pci but no pci address; set pci = DOMAIN:BUS:DEV.FN",
		     p->id);
		return -EINVAL;
	}
	if ((strcmp(p->pmd, "net_af_packet") == 0 ||
	     strcmp(p->pmd, "net_af_xdp") == 0) && p->iface[0] == '\0') {
		fail(err, errlen, path, p->line,
		     "[port.%u] uses %s but names no interface; set iface = NAME (see 'ip link')",
		     p->id, p->pmd);
		return -EINVAL;
	}
	if (!p->addr.set && !p->addr6.set) {
		fail(err, errlen, path, p->line,
		     "[port.%u] has no address; set addr = A.B.C.D/LEN and/or addr6 = X::Y/LEN",
		     p->id);
		return -EINVAL;
	}
	if (p->gateway6.set && !p->addr6.set) {
		fail(err, errlen, path, p->line,
		     "[port.%u] has a gateway6 but no addr6", p->id);
		return -EINVAL;
	}
	if (p->gateway.set && !p->addr.set) {
		fail(err, errlen, path, p->line,
		     "[port.%u] has a gateway but no IPv4 addr", p->id);
		return -EINVAL;
	}
	return 0;
}

int
ns_config_load(const char *path, struct ns_config *cfg, char *err,
	       size_t errlen)
{
	struct cfg_scan *sc;
	int rc = 0;

	ns_config_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		fail(err, errlen, path, 0, "path too long");
		return -ENAMETOOLONG;
	}
	strcpy(cfg->path, path);
	for (unsigned int i = 0; i < n_extra; i++)
		apply_defaults(extra[i].sec, extra[i].dst);

	sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		fail(err, errlen, path, 0, "out of memory");
		return -ENOMEM;
	}
	rc = scan_file(path, sc, err, errlen);

	for (unsigned int i = 0; i < sc->n && rc == 0; i++) {
		const char *s = sc->pos[i].section;
		int line = sc->pos[i].line;

		if (sc->pos[i].key[0] != '\0')
			continue;	/* a key: its section's parse reads it */
		if (strcmp(s, "eal") == 0) {
			rc = parse_section(sc, i, path, &ns_cfg_eal, &cfg->eal,
					   err, errlen);
		} else if (strcmp(s, "stack") == 0) {
			rc = parse_section(sc, i, path, &ns_cfg_stack,
					   &cfg->stack, err, errlen);
		} else if (strncmp(s, "port.", 5) == 0) {
			struct ns_port_config *p;
			uint64_t id;

			if (parse_uint(s + 5, &id) < 0 || id >= 256) {
				fail(err, errlen, path, line,
				     "bad port section [%s]; write [port.N] with N from 0 to 255",
				     s);
				rc = -EINVAL;
				break;
			}
			if (cfg->n_ports == NS_MAX_PORTS) {
				fail(err, errlen, path, line,
				     "more than %d ports", NS_MAX_PORTS);
				rc = -EINVAL;
				break;
			}
			for (unsigned int j = 0; j < cfg->n_ports; j++) {
				if (cfg->ports[j].id == id) {
					fail(err, errlen, path, line,
					     "[%s] repeats port %" PRIu64, s, id);
					rc = -EINVAL;
				}
			}
			if (rc)
				break;
			p = &cfg->ports[cfg->n_ports++];
			apply_defaults(&ns_cfg_port, p);
			p->id = (unsigned int)id;
			p->line = line;
			rc = parse_section(sc, i, path, &ns_cfg_port, p, err,
					   errlen);
			if (rc == 0)
				rc = check_port(p, path, err, errlen);
		} else {
			unsigned int j;

			for (j = 0; j < n_extra; j++) {
				if (strcmp(extra[j].sec->name, s) == 0)
					break;
			}
			if (j == n_extra) {
				fail(err, errlen, path, line,
				     "unknown section [%s]; known: [eal], [port.N], [stack]%s (see configs/README.md)",
				     s, n_extra ? " and those of zpnet's layers" : "");
				rc = -EINVAL;
				break;
			}
			rc = parse_section(sc, i, path, extra[j].sec,
					   extra[j].dst, err, errlen);
		}
	}
	if (rc == 0 && cfg->n_ports == 0) {
		fail(err, errlen, path, 0,
		     "no [port.N] section: zpnet needs at least one port (see configs/README.md)");
		rc = -EINVAL;
	}
	free(sc);
	return rc;
}
