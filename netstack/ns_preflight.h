/*
 * Preflight: what a config needs from this machine, checked the same way
 * by `zpnet check`/`zpnet run` (before anything runs) and by libzpnet.so
 * (before DPDK starts), with the same words. No DPDK here: the launcher
 * links this file.
 */
#ifndef ZPNET_NS_PREFLIGHT_H
#define ZPNET_NS_PREFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "ns_config.h"

/* DPDK 22.11's mbuf geometry, asserted against its headers in ns_port.c. */
#define NS_MBUF_HEADROOM	128	/* RTE_PKTMBUF_HEADROOM */
#define NS_MBUF_DEFAULT_BUF	2176	/* RTE_MBUF_DEFAULT_BUF_SIZE */
#define NS_MBUF_HDR		128	/* sizeof(struct rte_mbuf) */
#define NS_CACHE_LINE		64	/* RTE_CACHE_LINE_SIZE */
#define NS_L2_OVERHEAD		(14 + 4 + 8)	/* Ethernet header, CRC, VLAN tags */
#define NS_HUGEPAGE_SIZE	(2u * 1024 * 1024)
#define NS_MB			((uint64_t)1024 * 1024)

/* What the checks read: this machine's (ns_preflight_env_read) or a
 * test's. */
struct ns_preflight_env {
	long mmap_min_addr;		/* -1: cannot be read */
	bool (*iface_exists)(const char *name);
	uint64_t free_hugepages;	/* 2 MiB pages free */
	uint64_t mem_available;		/* bytes; 0: unknown */
	uint64_t cap_eff;		/* the effective capability set */
	long euid;
	int rcu_expedited;		/* /sys/kernel/rcu_expedited; -1: unknown */
};

void ns_preflight_env_read(struct ns_preflight_env *env);

/* CPUs that can exist: the highest number in a kernel CPU list
 * ("0-1", "0,2-5") plus one; 0 when there is none. */
unsigned int ns_cpu_list_count(const char *list);
/* ... of /sys/devices/system/cpu/possible; 0: unknown. */
unsigned int ns_cpus_possible(void);

/* Each verdict: ok, and a line without "ok:"/"error:" (an error's names
 * its fix). */
typedef void ns_preflight_report_fn(void *arg, bool ok, const char *msg);

/*
 * Every check the config calls for: vm.mmap_min_addr when hooks_mode is
 * "zpoline" (NULL: not checked, the hooks say it themselves), each port's
 * interface, the capabilities ports on kernel interfaces need, memory and
 * hugepages for [eal] and the ports' mbuf pools. 0, or the first failing
 * check's -errno.
 */
int ns_preflight(const struct ns_config *cfg, const char *hooks_mode,
		 const struct ns_preflight_env *env,
		 ns_preflight_report_fn *report, void *arg);

/*
 * Advice that fails nothing (`zpnet check` prints it as "note:"), each
 * through report with ok = true: a port on a kernel interface while the
 * kernel's RCU grace periods are not expedited, since its set-up waits
 * for several of them (bench/README.md, start-up).
 */
void ns_preflight_notes(const struct ns_config *cfg,
			const struct ns_preflight_env *env,
			ns_preflight_report_fn *report, void *arg);

/* Bytes one port's mbuf pool takes. */
uint64_t ns_preflight_pool_bytes(const struct ns_port_config *pc);

#endif
