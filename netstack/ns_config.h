/*
 * zpnet config file: an INI file, read in one pass (ns_config.c).
 *
 * Sections: [eal], [port.N] (one per port), [stack], plus the sections of
 * the layers above (bond, hooks) which they parse with the same key tables.
 * Every key has a default and a line of doc in its table; configs/README.md
 * is checked against the tables by the unit suite.
 *
 * No DPDK or lwIP types here: both sides of the stack include this.
 */
#ifndef ZPNET_NS_CONFIG_H
#define ZPNET_NS_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#define NS_MAX_PORTS		8
#define NS_PMD_NAME_MAX		32
#define NS_DEVARGS_MAX		256
#define NS_EAL_ARGS_MAX		512
#define NS_ERR_MAX		512	/* size of an error message buffer */

enum ns_log_level {
	NS_LOG_ERR = 1,
	NS_LOG_WARNING,
	NS_LOG_NOTICE,
	NS_LOG_INFO,
	NS_LOG_DEBUG,
};

struct ns_mac {
	uint8_t b[6];
	bool set;
};

struct ns_ip4 {
	uint32_t addr;		/* network byte order */
	uint8_t prefix;
	bool set;
};

struct ns_ip6 {
	uint8_t addr[16];
	uint8_t prefix;
	bool set;
};

struct ns_eal_config {
	char cores[64];			/* -l list */
	uint64_t memory_mb;		/* -m */
	bool hugepages;			/* false: --no-huge */
	char args[NS_EAL_ARGS_MAX];	/* extra EAL arguments */
	enum ns_log_level log_level;	/* for DPDK's own messages */
};

struct ns_port_config {
	unsigned int id;		/* N of [port.N] */
	int line;			/* line of the section header */
	char pmd[NS_PMD_NAME_MAX];	/* vdev driver, or "pci" */
	char pci[32];			/* PCI address when pmd = pci */
	char iface[IF_NAMESIZE];	/* kernel interface for af_packet/af_xdp */
	char devargs[NS_DEVARGS_MAX];	/* extra driver arguments */
	struct ns_mac mac;
	struct ns_ip4 addr;
	struct ns_ip4 gateway;
	struct ns_ip6 addr6;
	struct ns_ip6 gateway6;
	uint64_t mtu;
	uint64_t rx_desc;
	uint64_t tx_desc;
	uint64_t burst;
	uint64_t mbufs;
	bool offload;			/* use checksum offload when offered */
	bool tso;			/* net_af_packet: TCP by our own socket */
	bool prewarm;			/* net_af_packet: queue sockets by zpnet run (ns_prewarm.h) */
	bool is_default;		/* default route */
};

struct ns_stack_config {
	uint64_t tcp_wnd;
	uint64_t tcp_sndbuf;
	uint64_t max_sockets;
	uint64_t exit_linger_ms;
	bool demux_check;		/* verify the demux hash by lwIP's walk */
	enum ns_log_level log_level;
	char log_file[PATH_MAX];
};

struct ns_config {
	char path[PATH_MAX];
	struct ns_eal_config eal;
	struct ns_stack_config stack;
	struct ns_port_config ports[NS_MAX_PORTS];
	unsigned int n_ports;
};

/* Key tables: how each section's keys are typed, defaulted and checked. */
enum ns_cfg_type {
	NS_CFG_STR,
	NS_CFG_UINT,		/* decimal, with optional k/m/g (x1024) */
	NS_CFG_BOOL,		/* yes/no, true/false, on/off, 1/0 */
	NS_CFG_MAC,
	NS_CFG_IP4,
	NS_CFG_IP4_PREFIX,	/* a.b.c.d/len */
	NS_CFG_IP6,
	NS_CFG_IP6_PREFIX,	/* x::y/len */
	NS_CFG_LOG_LEVEL,	/* error, warning, notice, info, debug */
};

struct ns_cfg_key {
	const char *name;
	enum ns_cfg_type type;
	size_t offset;		/* into the section's struct */
	size_t size;		/* of the field (strings: buffer size) */
	const char *def;	/* default, as written in a file; NULL: unset */
	uint64_t min, max;	/* NS_CFG_UINT bounds */
	const char *doc;
};

struct ns_cfg_section {
	const char *name;	/* "eal", "port" (for port.N), "stack", ... */
	const struct ns_cfg_key *keys;
	unsigned int n_keys;
};

/* The tables of this layer, for docs and tests. */
extern const struct ns_cfg_section ns_cfg_eal, ns_cfg_port, ns_cfg_stack;

/*
 * Sections owned by the layers above: they are checked with their table
 * when registered before ns_config_load(); a section nobody registered is an
 * error. Returns 0, or -ENOSPC when the list is full.
 */
int ns_config_register_section(const struct ns_cfg_section *sec, void *dst);

/*
 * Load and check a config file. On error returns a negative errno and
 * writes "FILE:LINE: what is wrong; how to fix it" into err.
 */
int ns_config_load(const char *path, struct ns_config *cfg, char *err,
		   size_t errlen);

/* Fill cfg with every default (what an empty file gives). */
void ns_config_defaults(struct ns_config *cfg);

/* Parse one value of a key into dst + key->offset; 0 or -EINVAL. */
int ns_cfg_parse_value(const struct ns_cfg_key *key, const char *text,
		       void *dst);

const char *ns_log_level_name(enum ns_log_level l);

#endif
