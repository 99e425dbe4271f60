/*
 * Preflight checks (ns_preflight.h): shared by the launcher and the
 * library, so `zpnet check` accepts exactly what the library starts.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "ns_preflight.h"
#include "ns_prewarm.h"

#define PF_MMAP_MIN_ADDR	"/proc/sys/vm/mmap_min_addr"
#define PF_MEMINFO		"/proc/meminfo"
#define PF_STATUS		"/proc/self/status"
#define PF_HUGEPAGES		"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
#define PF_RCU_EXPEDITED	"/sys/kernel/rcu_expedited"
#define PF_CAP_NET_ADMIN	12	/* linux/capability.h */
#define PF_CAP_NET_RAW		13
#define PF_LINE_MAX		256
#define PF_MSG_MAX		512
#define PF_HUGE_SPARE		16	/* pages beyond memory_mb: DPDK's own */
#define PF_DPDK_SHARE		4	/* 1/4 of memory_mb is DPDK's, not the pools' */

/* ---- reading this machine ---- */

static bool
file_u64(const char *path, const char *key, int base, uint64_t *out)
{
	char line[PF_LINE_MAX];
	size_t klen = key != NULL ? strlen(key) : 0;
	bool found = false;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (key == NULL) {
			*out = strtoull(line, NULL, base);
			found = true;
		} else if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			*out = strtoull(line + klen + 1, NULL, base);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool
iface_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

#define PF_CPUS_POSSIBLE	"/sys/devices/system/cpu/possible"
#define PF_CPUS_MAX		(1u << 20)

unsigned int
ns_cpu_list_count(const char *list)
{
	unsigned long last = 0;
	bool any = false;
	char *end;

	/* digits only: strtoul would read the "-1" of "0-1" as negative */
	for (const char *p = list; *p != '\0'; p = end) {
		if (*p < '0' || *p > '9') {
			end = (char *)p + 1;
			continue;
		}
		last = strtoul(p, &end, 10);
		any = true;
	}
	return any && last < PF_CPUS_MAX ? (unsigned int)last + 1 : 0;
}

unsigned int
ns_cpus_possible(void)
{
	FILE *f = fopen(PF_CPUS_POSSIBLE, "re");
	char line[256];
	unsigned int n = 0;

	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) != NULL)
		n = ns_cpu_list_count(line);
	fclose(f);
	return n;
}

void
ns_preflight_env_read(struct ns_preflight_env *env)
{
	uint64_t v;

	memset(env, 0, sizeof(*env));
	env->mmap_min_addr = file_u64(PF_MMAP_MIN_ADDR, NULL, 10, &v) ? (long)v : -1;
	env->iface_exists = iface_exists;
	if (file_u64(PF_HUGEPAGES, NULL, 10, &v))
		env->free_hugepages = v;
	if (file_u64(PF_MEMINFO, "MemAvailable", 10, &v))
		env->mem_available = v * 1024;	/* kB */
	if (file_u64(PF_STATUS, "CapEff", 16, &v))
		env->cap_eff = v;
	env->euid = (long)geteuid();
	env->rcu_expedited = file_u64(PF_RCU_EXPEDITED, NULL, 10, &v) ? (int)v : -1;
}

/* ---- the checks ---- */

struct pf_run {
	ns_preflight_report_fn *report;
	void *arg;
	int rc;			/* the first failure's */
};

static void __attribute__((format(printf, 4, 5)))
say(struct pf_run *run, bool ok, int err, const char *fmt, ...)
{
	char msg[PF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!ok && run->rc == 0)
		run->rc = -err;
	run->report(run->arg, ok, msg);
}

/* Drivers that attach to an interface that must already exist (net_tap
 * and others create theirs). */
static bool
attaches(const struct ns_port_config *pc)
{
	return pc->iface[0] != '\0' && (strcmp(pc->pmd, "net_af_packet") == 0 ||
					strcmp(pc->pmd, "eth_af_packet") == 0 ||
					strcmp(pc->pmd, "net_af_xdp") == 0);
}

static void
check_mmap_min_addr(struct pf_run *run, const char *mode,
		    const struct ns_preflight_env *env)
{
	if (mode == NULL || strcmp(mode, "zpoline") != 0)
		return;	/* only the trampoline at address 0 needs it */
	if (env->mmap_min_addr < 0)
		say(run, false, EACCES, "cannot read %s; zpoline needs it to be 0: "
		    "sysctl -w vm.mmap_min_addr=0 (or [hooks] mode = preload)",
		    PF_MMAP_MIN_ADDR);
	else if (env->mmap_min_addr != 0)
		say(run, false, EPERM, "vm.mmap_min_addr is %ld; zpnet's zpoline hooks need 0: "
		    "sysctl -w vm.mmap_min_addr=0 (or set [hooks] mode = preload)",
		    env->mmap_min_addr);
	else
		say(run, true, 0, "vm.mmap_min_addr is 0");
}

static void
check_ifaces(struct pf_run *run, const struct ns_config *cfg,
	     const struct ns_preflight_env *env)
{
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		const struct ns_port_config *pc = &cfg->ports[i];

		if (!attaches(pc))
			continue;
		if (!env->iface_exists(pc->iface))
			say(run, false, ENODEV, "%s:%d: [port.%u] iface = %s: no such interface "
			    "in this network namespace; create it (ip link) or run zpnet in the "
			    "namespace that has it (ip netns exec NS zpnet run ...)",
			    cfg->path, pc->line, pc->id, pc->iface);
		else
			say(run, true, 0, "[port.%u] %s on %s", pc->id, pc->pmd, pc->iface);
	}
}

/*
 * Ports on a kernel interface (net_af_packet, net_af_xdp, net_tap) need
 * CAP_NET_RAW for the packet socket and CAP_NET_ADMIN for the interface's
 * flags and MAC: root has them; another user gets them as ambient
 * capabilities, which exec keeps for PROGRAM.
 */
static void
check_capabilities(struct pf_run *run, const struct ns_config *cfg,
		   const struct ns_preflight_env *env)
{
	const uint64_t need = (1ull << PF_CAP_NET_RAW) | (1ull << PF_CAP_NET_ADMIN);
	bool kernel_iface = false;

	for (unsigned int i = 0; i < cfg->n_ports; i++)
		kernel_iface |= cfg->ports[i].iface[0] != '\0';
	if (!kernel_iface)
		return;
	if ((env->cap_eff & need) != need)
		say(run, false, EPERM, "ports on a kernel interface need "
		    "CAP_NET_RAW and CAP_NET_ADMIN, which this process (uid %ld) "
		    "lacks; run as root, or give them to a non-root server: "
		    "setpriv --reuid=USER --inh-caps=+net_raw,+net_admin "
		    "--ambient-caps=+net_raw,+net_admin zpnet run ...", env->euid);
	else
		say(run, true, 0, "CAP_NET_RAW and CAP_NET_ADMIN%s",
		    env->euid == 0 ? " (root)" : "");
}

uint64_t
ns_preflight_pool_bytes(const struct ns_port_config *pc)
{
	uint64_t room = NS_MBUF_HEADROOM + pc->mtu + NS_L2_OVERHEAD;

	if (room < NS_MBUF_DEFAULT_BUF)
		room = NS_MBUF_DEFAULT_BUF;
	/* mbuf header, private area, data room, mempool object overhead */
	return pc->mbufs * (room + NS_MBUF_HDR + 2 * NS_CACHE_LINE);
}

static void
check_memory(struct pf_run *run, const struct ns_config *cfg,
	     const struct ns_preflight_env *env)
{
	uint64_t want = cfg->eal.memory_mb * NS_MB, pools = 0;

	for (unsigned int i = 0; i < cfg->n_ports; i++)
		pools += ns_preflight_pool_bytes(&cfg->ports[i]);
	/* DPDK itself needs some of the memory for rings and its heap: a
	 * quarter of memory_mb stays free of pools. */
	if (pools + want / PF_DPDK_SHARE > want) {
		say(run, false, ENOMEM, "%s: the ports' mbuf pools need about %" PRIu64
		    " MiB but [eal] memory_mb is %" PRIu64 "; raise memory_mb to %" PRIu64
		    " or lower the ports' mbufs", cfg->path, pools / NS_MB,
		    cfg->eal.memory_mb,
		    pools * PF_DPDK_SHARE / (PF_DPDK_SHARE - 1) / NS_MB + 1);
		return;
	}
	if (cfg->eal.hugepages) {
		uint64_t have = env->free_hugepages * NS_HUGEPAGE_SIZE;

		if (have < want)
			say(run, false, ENOMEM, "[eal] hugepages = yes but only %" PRIu64
			    " MiB of 2 MiB hugepages are free for memory_mb = %" PRIu64
			    ": sysctl -w vm.nr_hugepages=%" PRIu64 ", or set [eal] hugepages = no",
			    have / NS_MB, cfg->eal.memory_mb,
			    want / NS_HUGEPAGE_SIZE + PF_HUGE_SPARE);
		else
			say(run, true, 0, "%" PRIu64 " MiB of hugepages free for memory_mb = %" PRIu64,
			    have / NS_MB, cfg->eal.memory_mb);
		return;
	}
	if (env->mem_available != 0 && env->mem_available < want)
		say(run, false, ENOMEM, "%s: [eal] memory_mb = %" PRIu64 " but only %" PRIu64
		    " MiB of memory are available; lower memory_mb", cfg->path,
		    cfg->eal.memory_mb, env->mem_available / NS_MB);
	else
		say(run, true, 0, "memory_mb = %" PRIu64 " (the ports' pools need %" PRIu64 " MiB)",
		    cfg->eal.memory_mb, pools / NS_MB);
}

void
ns_preflight_notes(const struct ns_config *cfg, const struct ns_preflight_env *env,
		   ns_preflight_report_fn *report, void *arg)
{
	char msg[PF_MSG_MAX];

	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		const struct ns_port_config *pc = &cfg->ports[i];

		bool afp = strcmp(pc->pmd, "net_af_packet") == 0 ||
			   strcmp(pc->pmd, "eth_af_packet") == 0;
		struct ns_prewarm_ring ring;

		/* net_af_packet's two waits: made ahead by zpnet run's helper
		 * when it can (ns_prewarm.h) */
		if (!attaches(pc) || env->rcu_expedited != 0 ||
		    ns_prewarm_ring_of(pc, &ring) > 0)
			continue;
		snprintf(msg, sizeof(msg),
			 "start-up: [port.%u] (%s on %s%s) waits for several kernel RCU "
			 "grace periods, tens of ms; %s'echo 1 > %s' (system-wide) "
			 "makes them short", pc->id, pc->pmd, pc->iface,
			 afp ? ", prewarm = no" : "",
			 afp ? "prewarm = yes (under zpnet run) or " : "",
			 PF_RCU_EXPEDITED);
		report(arg, true, msg);
		return;	/* once: the setting is the machine's */
	}
}

int
ns_preflight(const struct ns_config *cfg, const char *hooks_mode,
	     const struct ns_preflight_env *env, ns_preflight_report_fn *report,
	     void *arg)
{
	struct pf_run run = { .report = report, .arg = arg };

	check_mmap_min_addr(&run, hooks_mode, env);
	check_ifaces(&run, cfg, env);
	check_capabilities(&run, cfg, env);
	check_memory(&run, cfg, env);
	return run.rc;
}
