/*
 * DPDK side of the stack: EAL start-up, port bring-up, RX/TX bursts.
 * Only DPDK headers here (see ns_port.h).
 */
/* rte_ipv*_udptcp_cksum_verify are still experimental in 22.11. */
#define ALLOW_EXPERIMENTAL_API

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memzone.h>
#include <rte_mempool.h>
#include <rte_random.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "ns_csum.h"
#include "ns_log.h"
#include "ns_port.h"
#include "ns_preflight.h"
#include "ns_tso.h"

/*
 * A PMD's burst functions may use AVX (glibc's memcpy, vector RX paths):
 * inside a served call the rest of the vector state is saved first
 * (hooks/zp_hooks.h, zp_hooks_vec_full; absent outside libzpnet.so). The
 * other calls into DPDK and libc go through bond_vecwrap.S.
 */
extern void zp_vec_full(void) __attribute__((weak, visibility("hidden")));

static inline void
ns_vec_full(void)
{
	if (zp_vec_full != NULL)
		zp_vec_full();
}

#define NS_EAL_ARGV_MAX		64
#define NS_TX_QUEUED_MAX	1024	/* frames held when the TX ring is full */
#define NS_POOL_CACHE		256	/* per-lcore mempool cache */
#define NS_POOL_LOW_DIV		8	/* "low" below 1/8 of the pool free */
#define NS_RX_HOLD_MIN		1024	/* mbufs left for sockets beyond the rings */
/*
 * Without hugepages the pool's memory is 4 KiB pages of shared memory,
 * which take 10-20 ms to fault in for the default 8191 mbufs: its first
 * NS_POOL_FIRST_BYTES are placed while the port starts, the rest
 * NS_POOL_CHUNK_BYTES at a time once it runs (ns_pool_grow).
 */
#define NS_POOL_FIRST_BYTES	(4u << 20)
#define NS_POOL_CHUNK_BYTES	(1u << 20)
/*
 * net_af_xdp sizes its rings itself, whatever rx_desc/tx_desc say: a fill
 * ring of 2 x 2048, RX, TX and completion rings of 2048, and it reaps TX
 * completions only once half the completion ring is full.
 */
#define NS_AF_XDP_RING_MBUFS	(4096 + 2048 + 2048 + 2048)

/*
 * net_af_packet keeps its position in the kernel's RX and TX rings in its
 * queue, in DPDK's (shared) memory, but writes it back only at the end of
 * a burst. A process killed inside a burst (SIGKILL; exit_group is handled
 * by bond) leaves the position behind the kernel's, for every process of
 * the stack: RX then waits for a whole ring turn before it sees a frame,
 * TX frames wait behind the kernel's head (seen as transfers stalling
 * until retransmission timers push them out, after a killed nginx worker).
 * So each burst is made repairable: its start and length are marked
 * (shared), RX asks only for the frames that are there, TX only for free
 * slots whose length was cleared first; whoever takes the lock from a dead
 * holder counts what the burst did and moves the position on (afp_repair).
 * The driver's queue layout (DPDK 22.11's pkt_rx_queue/pkt_tx_queue
 * leading fields) is checked at port start; when it does not match, none
 * of this is done.
 */
struct afp_rxq {
	int sockfd;
	struct iovec *rd;
	uint8_t *map;
	unsigned int framecount;
	unsigned int framenum;
};

struct afp_txq {
	int sockfd;
	unsigned int frame_data_size;
	struct iovec *rd;
	uint8_t *map;
	unsigned int framecount;
	unsigned int framenum;
};

struct afp_burst {
	int8_t port;		/* -1: no burst under way */
	bool tx;
	uint32_t start;		/* ring position when it began */
	uint32_t n;		/* frames or free slots it was given */
	void *first;		/* TX: the queue's first mbuf then */
};

struct ns_port {
	bool up;
	struct afp_rxq *afp_rx;	/* net_af_packet with a known layout */
	struct afp_txq *afp_tx;
	uint16_t port_id;
	uint16_t burst;
	bool rx_csum;
	bool tx_csum;
	bool is_vdev;
	bool tso_broken;	/* the socket refused a frame: checksums in software */
	unsigned int tso_merge_fails;
	int tso_fd;		/* -1, or our packet socket for TCP (ns_tso.h) */
	uint64_t tso_bytes;	/* frame bytes sent through it */
	char dev_name[64];
	struct rte_mempool *pool;
	unsigned int pool_low;
	/* the pool's memory not placed yet: from pool_off to the end of
	 * pool_mz (NULL: all placed), placed by pool_owner alone (its EAL
	 * heap holds the chunks' headers) */
	const struct rte_memzone *pool_mz;
	size_t pool_off;
	pid_t pool_owner;
	unsigned int n_tx;
	uint32_t rx_long;	/* tp_len of the burst's last frame if cut */
	bool rx_long_copied;	/* ...and the kernel queued it whole */
	bool afp_no_outgoing;	/* the driver's socket ignores outgoing frames */
	uint64_t tso_nomerge_until;	/* TSC: merging off until then */
	/* net_af_packet: the burst's frames whose TCP/UDP sum needs no
	 * check (the kernel's TP_STATUS_CSUMNOTREADY or _CSUM_VALID) */
	uint64_t rx_summed[NS_TX_QUEUED_MAX / 64];
	struct rte_mbuf *tx[NS_TX_QUEUED_MAX];
	struct ns_port_stats st;
};

static struct ns_port ports[NS_MAX_PORTS];
static unsigned int n_ports;
static struct afp_burst afp_burst = { .port = -1 };
static unsigned long afp_repaired;

static void afp_attach(struct ns_port *p, uint16_t port_id);
static bool pool_grow(struct ns_port *p);
static void afp_long_frames(struct ns_port *p);
static void tso_open(struct ns_port *p, const struct ns_port_config *pc);
static uint64_t tsc_hz;

uint64_t
ns_tsc_hz(void)
{
	return tsc_hz;
}

unsigned int
ns_port_count(void)
{
	return n_ports;
}

/* The preflight's (ns_preflight.c) idea of an mbuf is DPDK's. */
_Static_assert(NS_MBUF_HEADROOM == RTE_PKTMBUF_HEADROOM, "mbuf headroom");
_Static_assert(NS_MBUF_DEFAULT_BUF == RTE_MBUF_DEFAULT_BUF_SIZE, "mbuf data room");
_Static_assert(NS_MBUF_HDR == sizeof(struct rte_mbuf), "mbuf header");
_Static_assert(NS_CACHE_LINE == RTE_CACHE_LINE_SIZE, "cache line");
_Static_assert(NS_L2_OVERHEAD == RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 8, "L2 overhead");

/* The preflight's first error into err (libzpnet.so says it and stops). */
struct preflight_err {
	char *err;
	size_t len;
	bool said;
};

static void
preflight_report(void *arg, bool ok, const char *msg)
{
	struct preflight_err *pe = arg;

	if (ok || pe->said)
		return;
	snprintf(pe->err, pe->len, "%s", msg);
	pe->said = true;
}

/*
 * A shared DPDK build dlopens every driver in its plugin directory at
 * rte_eal_init() — 128 files and the libraries they need here, about
 * 250 ms of a 300 ms start — whatever -d says. It skips a directory entry
 * that stat() does not find. So while this thread runs rte_eal_init() for
 * a config whose drivers are all known files, stat64() of any other file
 * of that directory fails with ENOENT: EAL loads the drivers the config
 * names and nothing else. libzpnet.so exports stat64 (EAL's reference
 * binds to it); for everyone else, and for this thread outside the window,
 * it is glibc's stat64.
 */
static _Atomic bool plugins_filtered;
static _Atomic bool eal_starting;	/* eal_thread is in rte_eal_init */
static pthread_t eal_thread;

/* The caller is the thread running rte_eal_init(), during it; with
 * filtered, only while the plugin filter is on. */
static inline bool
in_eal_start(_Atomic bool *flag)
{
	return __builtin_expect(atomic_load_explicit(flag, memory_order_relaxed), 0) &&
	       pthread_equal(eal_thread, pthread_self());
}
static char plugins_wanted[NS_MAX_PORTS + 1][PATH_MAX];
static unsigned int plugins_n;

static bool
plugin_unwanted(const char *path)
{
	size_t dirlen = strlen(RTE_EAL_PMD_PATH);

	if (strncmp(path, RTE_EAL_PMD_PATH, dirlen) != 0 || path[dirlen] != '/')
		return false;
	for (unsigned int i = 0; i < plugins_n; i++)
		if (strcmp(path, plugins_wanted[i]) == 0)
			return false;
	return true;
}

int
stat64(const char *restrict path, struct stat64 *restrict st)
{
	if (in_eal_start(&plugins_filtered) && plugin_unwanted(path)) {
		errno = ENOENT;
		return -1;
	}
	return fstatat64(AT_FDCWD, path, st, 0);
}

/*
 * Without a TSC frequency from CPUID (most VMs), EAL measures it: the TSC
 * against CLOCK_MONOTONIC_RAW across a 100 ms nanosleep(), rounded to
 * 10 MHz — a third of zpnet's start-up. Both clocks are read around the
 * sleep, so a shorter one measures the same: on the thread running
 * rte_eal_init(), during it, that sleep lasts NS_TSC_CALIB_NS. Every other
 * nanosleep() is glibc's. 1 ms is enough for DPDK's own use of it; the
 * stack's clock measures the TSC itself, across EAL's start-up (ns_stack.c).
 */
#define NS_TSC_CALIB_NS		1000000L	/* 1 ms */
#define EAL_TSC_CALIB_NS	100000000L

int
nanosleep(const struct timespec *req, struct timespec *rem)
{
	struct timespec shorter;
	int rc;

	if (in_eal_start(&eal_starting) && req != NULL && req->tv_sec == 0 &&
	    req->tv_nsec == EAL_TSC_CALIB_NS) {
		shorter = (struct timespec){ .tv_nsec = NS_TSC_CALIB_NS };
		req = &shorter;
	}
	rc = clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

/*
 * EAL looks for every CPU up to RTE_MAX_LCORE (1024 here) in sysfs, and for
 * each in every NUMA node: 5,000 access() calls for a 2-CPU machine. On the
 * thread running rte_eal_init(), during it, a CPU past the last possible
 * one (/sys/devices/system/cpu/possible) is answered ENOENT at once.
 */
static unsigned int cpus_possible;	/* 0: unknown, ask the kernel */

/* A path of sysfs about a CPU that cannot exist. */
static bool
cpu_path_impossible(const char *path)
{
	static const char cpu[] = "/sys/devices/system/cpu/cpu";
	static const char node[] = "/sys/devices/system/node/node";
	const char *p;
	char *end;
	unsigned long n;

	if (cpus_possible == 0)
		return false;
	if (strncmp(path, cpu, sizeof(cpu) - 1) == 0) {
		p = path + sizeof(cpu) - 1;
	} else if (strncmp(path, node, sizeof(node) - 1) == 0) {
		p = strchr(path + sizeof(node) - 1, '/');
		if (p == NULL || strncmp(p, "/cpu", 4) != 0)
			return false;
		p += 4;
	} else {
		return false;
	}
	if (*p < '0' || *p > '9')
		return false;
	n = strtoul(p, &end, 10);
	return (*end == '/' || *end == '\0') && n >= cpus_possible;
}

int
access(const char *path, int mode)
{
	if (in_eal_start(&eal_starting) && cpu_path_impossible(path)) {
		errno = ENOENT;
		return -1;
	}
	return faccessat(AT_FDCWD, path, mode, 0);
}

unsigned int (*ns_device_window)(bool open, const char *iface);

/* The file of DPDK driver PMD in the plugin directory, if there is one:
 * librte_<pmd>.so.<ABI>, ABI taken from the directory's name (pmds-23.0);
 * vdev names' old eth_ prefix is an alias of net_. */
static bool
plugin_file(const char *pmd, char *out, size_t outlen)
{
	const char *abi = strrchr(RTE_EAL_PMD_PATH, '-');

	if (abi == NULL)
		return false;
	if (strncmp(pmd, "eth_", 4) == 0)
		snprintf(out, outlen, "%s/librte_net_%s.so.%s", RTE_EAL_PMD_PATH,
			 pmd + 4, abi + 1);
	else
		snprintf(out, outlen, "%s/librte_%s.so.%s", RTE_EAL_PMD_PATH,
			 pmd, abi + 1);
	return access(out, R_OK) == 0;
}

/* The drivers the config needs: the mbuf pool's ring ops and every vdev
 * port's PMD. False (load them all, as EAL does) when a port is PCI — its
 * driver is not named in the config — or a driver is not a file of the
 * plugin directory. */
static bool
plugins_choose(const struct ns_config *cfg)
{
	unsigned int n = 0;

	if (!plugin_file("mempool_ring", plugins_wanted[n++], PATH_MAX))
		return false;
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		const char *pmd = cfg->ports[i].pmd;
		bool seen = false;

		if (strcmp(pmd, "pci") == 0 ||
		    !plugin_file(pmd, plugins_wanted[n], PATH_MAX))
			return false;
		for (unsigned int j = 0; j < n; j++)
			seen |= strcmp(plugins_wanted[j], plugins_wanted[n]) == 0;
		if (!seen)
			n++;
	}
	plugins_n = n;
	return true;
}

int
ns_eal_start(const struct ns_config *cfg, char *err, size_t errlen)
{
	static char mem[32], loglvl[64], loglvl_pmd[64], cores[16];
	static char extra[NS_EAL_ARGS_MAX];
	char *argv[NS_EAL_ARGV_MAX];
	int argc = 0;
	bool any_pci = false;
	cpu_set_t affinity;
	bool have_affinity;
	int saved_optind, saved_opterr, saved_optopt;
	char *saved_optarg;
	int rc;

	{
		struct ns_preflight_env env;
		struct preflight_err pe = { err, errlen, false };

		ns_preflight_env_read(&env);
		/* the hooks check vm.mmap_min_addr themselves */
		rc = ns_preflight(cfg, NULL, &env, preflight_report, &pe);
		if (rc < 0)
			return rc;
	}

	argv[argc++] = "zpnet";
	argv[argc++] = "-l";
	if (strcmp(cfg->eal.cores, "auto") == 0) {
		cpu_set_t set;
		int cpu = 0;

		/* The first CPU of the process's own mask (taskset, cgroups). */
		if (sched_getaffinity(0, sizeof(set), &set) == 0) {
			while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
				cpu++;
			if (cpu == CPU_SETSIZE)
				cpu = 0;
		}
		snprintf(cores, sizeof(cores), "%d", cpu);
		argv[argc++] = cores;
	} else {
		argv[argc++] = (char *)cfg->eal.cores;
	}
	snprintf(mem, sizeof(mem), "%" PRIu64, cfg->eal.memory_mb);
	argv[argc++] = "-m";
	argv[argc++] = mem;
	if (cfg->eal.hugepages) {
		argv[argc++] = "--in-memory";
	} else {
		argv[argc++] = "--no-huge";
		argv[argc++] = "--no-shconf";
	}
	argv[argc++] = "--no-telemetry";
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		if (strcmp(cfg->ports[i].pmd, "pci") == 0) {
			any_pci = true;
			argv[argc++] = "-a";
			argv[argc++] = (char *)cfg->ports[i].pci;
		}
	}
	if (!any_pci)
		argv[argc++] = "--no-pci";
	/* DPDK's libraries and drivers at [eal] log_level; ours stays. */
	snprintf(loglvl, sizeof(loglvl), "--log-level=lib.*:%s",
		 ns_log_level_name(cfg->eal.log_level));
	argv[argc++] = loglvl;
	snprintf(loglvl_pmd, sizeof(loglvl_pmd), "--log-level=pmd.*:%s",
		 ns_log_level_name(cfg->eal.log_level));
	argv[argc++] = loglvl_pmd;
	strcpy(extra, cfg->eal.args);
	for (char *save = NULL, *tok = strtok_r(extra, " \t", &save);
	     tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (argc >= NS_EAL_ARGV_MAX - 1) {
			snprintf(err, errlen, "%s: too many [eal] args", cfg->path);
			return -E2BIG;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;

	/* EAL pins the calling thread to its main lcore: the app's later
	 * threads would inherit one core. Put the app's affinity back. */
	have_affinity = sched_getaffinity(0, sizeof(affinity), &affinity) == 0;
	/* EAL parses its arguments with getopt: leave the app's state as it
	 * was, or an app that parses its own argv later starts mid-way. */
	saved_optind = optind;
	saved_opterr = opterr;
	saved_optopt = optopt;
	saved_optarg = optarg;
	eal_thread = pthread_self();
	cpus_possible = ns_cpus_possible();
	atomic_store(&eal_starting, true);
	if (plugins_choose(cfg))
		atomic_store(&plugins_filtered, true);
	rc = rte_eal_init(argc, argv);
	atomic_store(&plugins_filtered, false);
	atomic_store(&eal_starting, false);
	/* glibc's getopt also caches its scan position and ordering mode:
	 * optind = 0 makes the app's first getopt() start afresh. */
	optind = saved_optind == 1 ? 0 : saved_optind;
	opterr = saved_opterr;
	optopt = saved_optopt;
	optarg = saved_optarg;
	ns_log_claim_stream();
	if (rc < 0) {
		snprintf(err, errlen,
			 "%s: DPDK could not start (rte_eal_init: %s); check [eal] (cores, memory_mb, hugepages, args)",
			 cfg->path, rte_strerror(rte_errno));
		return -ENODEV;
	}
	if (have_affinity)
		sched_setaffinity(0, sizeof(affinity), &affinity);
	tsc_hz = rte_get_tsc_hz();
	return 0;
}

static int
create_device(unsigned int idx, const struct ns_port_config *pc,
	      uint16_t *port_id, char *err, size_t errlen)
{
	struct ns_port *p = &ports[idx];
	char args[NS_DEVARGS_MAX + IF_NAMESIZE + 16];
	bool window;
	int rc;

	if (strcmp(pc->pmd, "pci") == 0) {
		snprintf(p->dev_name, sizeof(p->dev_name), "%s", pc->pci);
		if (rte_eth_dev_get_port_by_name(pc->pci, port_id) != 0) {
			snprintf(err, errlen,
				 "[port.%u] PCI device %s has no DPDK port; bind it to vfio-pci (dpdk-devbind.py -b vfio-pci %s) and check the address",
				 pc->id, pc->pci, pc->pci);
			return -ENODEV;
		}
		return 0;
	}
	p->is_vdev = true;
	snprintf(p->dev_name, sizeof(p->dev_name), "%s%u", pc->pmd, pc->id);
	args[0] = '\0';
	if (pc->iface[0] != '\0')
		snprintf(args, sizeof(args), "iface=%s", pc->iface);
	if (pc->devargs[0] != '\0') {
		size_t n = strlen(args);

		snprintf(args + n, sizeof(args) - n, "%s%s", n ? "," : "",
			 pc->devargs);
	}
	/* the owner's window: for net_af_packet's sockets (bond_device.c) */
	window = ns_device_window != NULL &&
		 (strcmp(pc->pmd, "net_af_packet") == 0 ||
		  strcmp(pc->pmd, "eth_af_packet") == 0);
	if (window)
		ns_device_window(true, pc->iface);
	rc = rte_vdev_init(p->dev_name, args);
	if (window)
		p->st.queues_prewarmed = ns_device_window(false, NULL);
	if (rc != 0) {
		snprintf(err, errlen,
			 "[port.%u] DPDK driver '%s' did not create a port: no such driver, or it rejected iface/devargs '%s'; check pmd (installed drivers: dpdk-pmdinfo.py /usr/lib/x86_64-linux-gnu/dpdk/pmds-*)",
			 pc->id, pc->pmd, args);
		return -ENODEV;
	}
	if (rte_eth_dev_get_port_by_name(p->dev_name, port_id) != 0) {
		snprintf(err, errlen,
			 "[port.%u] driver '%s' is not an Ethernet driver; use a net_* driver",
			 pc->id, pc->pmd);
		rte_vdev_uninit(p->dev_name);
		return -ENODEV;
	}
	return 0;
}

/*
 * rte_pktmbuf_pool_create(), except that mbufs may straddle pages when
 * memory comes in 4 KiB pages (no hugepages) and the device sees virtual
 * addresses (IOVA as VA): DPDK otherwise keeps every object inside one page
 * for devices that need physically contiguous buffers, and a 2.4 KiB mbuf
 * then takes a whole 4 KiB page. Not for net_af_xdp, whose UMEM chunks
 * must not cross pages.
 */
static void
pool_zone_free(struct rte_mempool_memhdr *memhdr __rte_unused, void *zone)
{
	rte_memzone_free(zone);
}

/*
 * Objects of mp in [off, off + len) of mz: faulted in with one
 * madvise(MADV_POPULATE_WRITE) rather than a page fault per 4 KiB page as
 * they are laid out, placed, their mbufs initialised. The first chunk
 * frees the zone with the pool. The objects placed, or a negative errno.
 * Once the port runs, the stack lock is held: DPDK puts a chunk's objects
 * in the pool's ring as it places them, and nothing may take one before
 * it is initialised. Only the process that made the pool places chunks
 * (their headers come from its EAL heap), and a fork places the rest
 * first (ns_pool_complete): no other process ever sees a pool in part.
 */
static int
pool_place(struct rte_mempool *mp, const struct rte_memzone *mz, size_t off,
	   size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *va = (char *)mz->addr + off;
	/* where the list of objects goes on: the chunk's come there */
	struct rte_mempool_objhdr **tail = mp->elt_list.stqh_last;
	unsigned int idx = mp->populated_size;
	int rc;

	/* best effort: without it the pages fault in one by one */
	(void)madvise(va, len, MADV_POPULATE_WRITE);
	rc = rte_mempool_populate_virt(mp, va, len, pg,
				       off == 0 ? pool_zone_free : NULL,
				       off == 0 ? (void *)(uintptr_t)mz : NULL);
	if (rc <= 0)
		return rc;
	/* the chunk's mbufs only (rte_mempool_obj_iter's object: right
	 * after its header) */
	for (struct rte_mempool_objhdr *h = *tail; h != NULL; h = STAILQ_NEXT(h, next))
		rte_pktmbuf_init(mp, NULL, (char *)h + sizeof(*h), idx++);
	return rc;
}

/*
 * The pool's memory: one zone for all n objects, the first
 * NS_POOL_FIRST_BYTES of it placed now; *rest is the zone when more is
 * left to place (NULL when not). Returns the number of objects placed, or
 * a negative errno.
 */
static int
pool_populate(struct rte_mempool *mp, const char *name, unsigned int n,
	      int socket, const struct rte_memzone **rest)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t obj = mp->header_size + mp->elt_size + mp->trailer_size;
	size_t len = (size_t)n * obj + pg, chunks;
	const struct rte_memzone *mz;
	char zname[RTE_MEMZONE_NAMESIZE];
	int rc;

	*rest = NULL;
	/* each chunk may leave an object's worth, an alignment and a
	 * page unused at its end */
	chunks = len / NS_POOL_CHUNK_BYTES + 2;
	len = RTE_ALIGN_CEIL(len + chunks * (obj + RTE_MEMPOOL_ALIGN + pg), pg);
	snprintf(zname, sizeof(zname), "%s_mem", name);
	mz = rte_memzone_reserve_aligned(zname, len, socket, 0, pg);
	if (mz == NULL) {
		rc = rte_mempool_populate_default(mp);
		if (rc >= 0)
			rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
		return rc;
	}
	rc = pool_place(mp, mz, 0, RTE_MIN(len, (size_t)NS_POOL_FIRST_BYTES));
	if (rc < 0) {
		rte_memzone_free(mz);
		return rc;
	}
	if (mp->populated_size < mp->size && len > NS_POOL_FIRST_BYTES)
		*rest = mz;
	return rc;
}

static struct rte_mempool *
pool_create(const char *name, unsigned int n, uint16_t priv, uint16_t room,
	    int socket, const char *driver, const struct rte_memzone **rest)
{
	struct rte_pktmbuf_pool_private pp = {
		.mbuf_data_room_size = room,
		.mbuf_priv_size = priv,
	};
	struct rte_mempool *mp;
	int rc;

	*rest = NULL;
	if (rte_eal_has_hugepages() || rte_eal_iova_mode() != RTE_IOVA_VA ||
	    strcmp(driver, "net_af_xdp") == 0)
		return rte_pktmbuf_pool_create(name, n, NS_POOL_CACHE, priv,
					       room, socket);
	mp = rte_mempool_create_empty(name, n,
				      sizeof(struct rte_mbuf) + priv + room,
				      NS_POOL_CACHE, sizeof(pp), socket,
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (mp == NULL)
		return NULL;
	rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (rc == 0) {
		rte_pktmbuf_pool_init(mp, &pp);
		rc = pool_populate(mp, name, n, socket, rest);
	}
	if (rc < 0) {
		rte_mempool_free(mp);
		*rest = NULL;
		rte_errno = -rc;
		return NULL;
	}
	return mp;
}

/*
 * The pool, made on a thread of its own while the port's device is
 * created: net_af_packet's probe sets up its socket's rings and binds it,
 * and the kernel waits for an RCU grace period at each step (tens of ms)
 * while the 20 MB of mbufs are faulted in here. Made with what the device
 * will most likely say (the configured MTU, the current CPU's socket, the
 * PMD's name for its driver); ns_port_start makes it again if it says
 * otherwise. ns_start() runs with every signal blocked: so does the thread.
 */
struct pool_job {
	pthread_t thread;
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned int n;
	uint16_t priv, room;
	int socket;
	const char *driver;
	struct rte_mempool *mp;
	const struct rte_memzone *rest;	/* pool_create's */
};

static void *
pool_job_run(void *arg)
{
	struct pool_job *j = arg;

	j->mp = pool_create(j->name, j->n, j->priv, j->room, j->socket,
			    j->driver, &j->rest);
	return NULL;
}

/* The job's pool, when ns_port_start fails or cannot use it. */
static void
pool_job_drop(struct pool_job *j)
{
	if (j->mp != NULL)
		rte_mempool_free(j->mp);
	j->mp = NULL;
}

static uint16_t
pool_room(uint64_t mtu)
{
	uint64_t room = RTE_PKTMBUF_HEADROOM + mtu + NS_L2_OVERHEAD;

	return room < RTE_MBUF_DEFAULT_BUF_SIZE ? RTE_MBUF_DEFAULT_BUF_SIZE :
	       (uint16_t)room;
}

#define RX_CSUM_OFFLOADS (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | \
			  RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
#define TX_CSUM_OFFLOADS (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM)

int
ns_port_start(unsigned int idx, const struct ns_port_config *pc,
	      size_t priv_size, struct ns_port_caps *caps, char *err,
	      size_t errlen)
{
	struct ns_port *p = &ports[idx];
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	uint16_t nrx = pc->rx_desc, ntx = pc->tx_desc, mtu = 0;
	uint16_t port_id;
	uint32_t room;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	struct pool_job job = { .mp = NULL };
	bool job_started = false;
	int socket, rc;

	NS_ASSERT(idx < NS_MAX_PORTS && !p->up);
	memset(p, 0, sizeof(*p));
	p->tso_fd = -1;
	snprintf(pool_name, sizeof(pool_name), "zp_pool%u", idx);
	if (strcmp(pc->pmd, "pci") != 0) {
		snprintf(job.name, sizeof(job.name), "%s", pool_name);
		job.n = (unsigned int)pc->mbufs;
		job.priv = RTE_ALIGN_CEIL(priv_size, RTE_MBUF_PRIV_ALIGN);
		job.room = pool_room(pc->mtu);
		job.socket = (int)rte_socket_id();
		job.driver = pc->pmd;
		job_started = pthread_create(&job.thread, NULL, pool_job_run,
					     &job) == 0;
	}
	rc = create_device(idx, pc, &port_id, err, errlen);
	if (job_started)
		pthread_join(job.thread, NULL);
	if (rc < 0) {
		pool_job_drop(&job);
		return rc;
	}
	p->port_id = port_id;
	p->burst = pc->burst;

	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0) {
		snprintf(err, errlen, "[port.%u] %s: cannot read device info: %s",
			 pc->id, p->dev_name, strerror(-rc));
		rc = -ENODEV;
		goto fail;
	}
	memset(&conf, 0, sizeof(conf));
	if (pc->offload && (info.rx_offload_capa & RX_CSUM_OFFLOADS) == RX_CSUM_OFFLOADS) {
		conf.rxmode.offloads |= RX_CSUM_OFFLOADS;
		p->rx_csum = true;
	}
	if (pc->offload && (info.tx_offload_capa & TX_CSUM_OFFLOADS) == TX_CSUM_OFFLOADS) {
		conf.txmode.offloads |= TX_CSUM_OFFLOADS;
		p->tx_csum = true;
	}
	rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "[port.%u] %s: configure failed: %s",
			 pc->id, p->dev_name, strerror(-rc));
		rc = -ENODEV;
		goto fail;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nrx, &ntx);

	if (rte_eth_dev_get_mtu(port_id, &mtu) == 0 && mtu != pc->mtu) {
		rc = rte_eth_dev_set_mtu(port_id, pc->mtu);
		if (rc != 0) {
			snprintf(err, errlen,
				 "[port.%u] %s: cannot set MTU %" PRIu64 " (port has %u): %s; set mtu = %u",
				 pc->id, p->dev_name, pc->mtu, mtu, strerror(-rc), mtu);
			rc = -EINVAL;
			goto fail;
		}
		mtu = pc->mtu;
	}
	if (mtu == 0)
		mtu = pc->mtu;

	socket = rte_eth_dev_socket_id(port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	room = pool_room(mtu);
	if (job.mp != NULL && job.room == room && job.socket == socket &&
	    strcmp(job.driver, info.driver_name) == 0) {
		p->pool = job.mp;
		p->pool_mz = job.rest;
		job.mp = NULL;	/* the port's now */
	} else {
		pool_job_drop(&job);
		p->pool = pool_create(pool_name, (unsigned int)pc->mbufs,
				      RTE_ALIGN_CEIL(priv_size,
						     RTE_MBUF_PRIV_ALIGN),
				      room, socket, info.driver_name, &p->pool_mz);
	}
	p->pool_off = NS_POOL_FIRST_BYTES;
	p->pool_owner = getpid();
	if (p->pool == NULL) {
		snprintf(err, errlen,
			 "[port.%u] cannot create a pool of %" PRIu64 " mbufs: %s; raise [eal] memory_mb or lower mbufs",
			 pc->id, pc->mbufs, rte_strerror(rte_errno));
		rc = -ENOMEM;
		goto fail;
	}
	p->pool_low = pc->mbufs / NS_POOL_LOW_DIV;
	/*
	 * Received frames go to lwIP without a copy, so sockets holding
	 * unread data hold mbufs. The driver's RX ring (and a fill ring as
	 * large, for af_xdp), the TX ring, our TX queue and the pool caches
	 * must always find mbufs, or RX stops and no ACK can ever free the
	 * held ones. Beyond this many held frames the driver copies.
	 */
	{
		unsigned int rings = 2u * nrx + ntx;
		unsigned int reserve;

		if (strcmp(info.driver_name, "net_af_xdp") == 0)
			rings = NS_AF_XDP_RING_MBUFS;
		reserve = rings + NS_TX_QUEUED_MAX + 2u * p->burst +
			  2u * NS_POOL_CACHE;

		if (pc->mbufs < (uint64_t)reserve + NS_RX_HOLD_MIN) {
			snprintf(err, errlen,
				 "[port.%u] mbufs = %" PRIu64 " leaves too few for the %s rings (%u) and sockets; raise mbufs to at least %u%s",
				 pc->id, pc->mbufs, info.driver_name, reserve,
				 reserve + NS_RX_HOLD_MIN,
				 rings == NS_AF_XDP_RING_MBUFS ? "" : " or lower rx_desc/tx_desc");
			rc = -EINVAL;
			goto fail;
		}
		caps->rx_hold_max = (unsigned int)pc->mbufs - reserve;
	}
	/* what the driver may take as it sets up and starts (an RX ring
	 * filled, the caches) placed before it does; nothing else uses the
	 * pool yet */
	while (p->pool->populated_size < nrx + 2u * NS_POOL_CACHE + 2u * p->burst &&
	       pool_grow(p))
		;

	rc = rte_eth_rx_queue_setup(port_id, 0, nrx, socket, NULL, p->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port_id, 0, ntx, socket, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "[port.%u] %s: queue setup failed: %s",
			 pc->id, p->dev_name, strerror(-rc));
		rc = -ENODEV;
		goto fail;
	}
	if (pc->mac.set) {
		memcpy(mac.addr_bytes, pc->mac.b, sizeof(mac.addr_bytes));
		rc = rte_eth_dev_default_mac_addr_set(port_id, &mac);
		if (rc != 0) {
			snprintf(err, errlen,
				 "[port.%u] %s: cannot set MAC: %s; remove mac to use the port's own",
				 pc->id, p->dev_name, strerror(-rc));
			rc = -EINVAL;
			goto fail;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc != 0) {
		snprintf(err, errlen,
			 "[port.%u] %s: the port did not start: %s (is the interface up and free?)",
			 pc->id, p->dev_name, strerror(-rc));
		rc = -ENODEV;
		goto fail;
	}
	/* Multicast for IPv6 neighbour discovery; not every port can. */
	(void)rte_eth_allmulticast_enable(port_id);

	if (strcmp(info.driver_name, "net_af_packet") == 0) {
		afp_attach(p, port_id);
		if (pc->tso && pc->offload && !p->tx_csum)
			tso_open(p, pc);
	}
	rte_eth_macaddr_get(port_id, &mac);
	memcpy(caps->mac, mac.addr_bytes, sizeof(caps->mac));
	caps->mtu = mtu;
	caps->rx_csum = p->rx_csum;
	caps->tx_csum_tcp = p->tx_csum;
	snprintf(caps->driver, sizeof(caps->driver), "%s", info.driver_name);
	p->up = true;
	if (idx + 1 > n_ports)
		n_ports = idx + 1;
	return 0;

fail:
	/* Nothing stays behind: the device's queues go before the pool
	 * their mbufs came from. A retry in this process finds the pool's
	 * name free and makes a vdev anew; a closed PCI port would need
	 * probing again (rte_dev_probe), which nothing does today: the
	 * library stops the program on this error. */
	pool_job_drop(&job);
	rte_eth_dev_close(port_id);
	if (p->is_vdev)
		rte_vdev_uninit(p->dev_name);
	if (p->pool != NULL)
		rte_mempool_free(p->pool);
	p->pool = NULL;
	p->pool_mz = NULL;
	return rc;
}

/*
 * net_af_packet joins its socket to a fanout group with
 * PACKET_FANOUT_FLAG_DEFRAG: the kernel reassembles IPv4 fragments before
 * the ring sees them, so a datagram past the MTU arrives as one frame of
 * up to 64 KiB, longer than the ring's frames (framesz). With a copy
 * threshold the kernel queues such a frame whole on the socket as well,
 * marks the cut one in the ring TP_STATUS_COPY, and ns_port_rx_long()
 * reads it from there. IPv6 fragments are not reassembled by the kernel:
 * lwIP does. The same path takes the TCP segments of up to 64 KiB that a
 * kernel peer on veth sends with its offloads on (GSO, left whole on the
 * way, their sums CHECKSUM_PARTIAL: the ring says TP_STATUS_CSUMNOTREADY,
 * and such a sum is not checked). A receive buffer for a few dozen such
 * packets (8 MiB; the kernel keeps its own ipfrag limits for the
 * reassembly itself).
 */
#define AFP_LONG_RCVBUF	(8 << 20)

static void
afp_long_frames(struct ns_port *p)
{
	int one = 1, buf = AFP_LONG_RCVBUF;

	/* Frames this host sends on the interface are not ours to take,
	 * and their sums are left to offload (best effort: Linux 4.20). */
	p->afp_no_outgoing = setsockopt(p->afp_rx->sockfd, SOL_PACKET,
					PACKET_IGNORE_OUTGOING, &one,
					sizeof(one)) == 0;
	/* A long frame's copy says itself what the kernel knows of its sum;
	 * without it, the sum is checked (and a partial one fails). */
	(void)setsockopt(p->afp_rx->sockfd, SOL_PACKET, PACKET_AUXDATA, &one,
			 sizeof(one));
	if (setsockopt(p->afp_rx->sockfd, SOL_PACKET, PACKET_COPY_THRESH,
		       &one, sizeof(one)) != 0) {
		NS_INFO("%s: PACKET_COPY_THRESH: %s; IPv4 datagrams longer than a ring frame are dropped",
			p->dev_name, strerror(errno));
		return;
	}
	if (setsockopt(p->afp_rx->sockfd, SOL_SOCKET, SO_RCVBUFFORCE,
		       &buf, sizeof(buf)) != 0) {
		NS_INFO("%s: SO_RCVBUFFORCE: %s; room for long IPv4 datagrams as net.core.rmem_max allows",
			p->dev_name, strerror(errno));
		(void)setsockopt(p->afp_rx->sockfd, SOL_SOCKET, SO_RCVBUF,
				 &buf, sizeof(buf));
	}
}

/*
 * net_af_packet has no offloads: every TCP segment is a frame the kernel
 * takes through the driver's ring and, on veth, delivers to the receiving
 * stack one by one, which costs far more than the segment itself. So TCP
 * goes through a packet socket of our own instead, opened with virtio-net
 * headers (PACKET_VNET_HDR, which the driver's socket lacks and cannot
 * get once its rings exist): the kernel fills the TCP checksums, and runs
 * of full segments go as one frame that the kernel segments (ns_tso.h).
 *
 * The socket is bound to protocol 0 and receives nothing. Like the
 * driver's, it sends straight to the device (PACKET_QDISC_BYPASS: a third
 * faster on veth than through the qdisc path), which keeps its frames
 * from the interface's other packet sockets, the driver's among them;
 * where the kernel lacks it, the driver's socket is told to ignore
 * outgoing frames instead (PACKET_IGNORE_OUTGOING), or there is no
 * offload. Straight to the device, a frame the device cannot segment is
 * dropped (ENOBUFS) rather than segmented in software: merged frames stay
 * below the default gso_max_size (NS_TSO_FRAME_MAX), and one that still
 * fails goes again as its segments: when those pass TSO_MERGE_FAILS times
 * in a row with no merged frame passing in between, merging is off for
 * TSO_NOMERGE_S, then tried again (a device without TSO keeps failing it;
 * a full queue fails the segments too, mostly, and passes merged frames
 * again soon). The socket is made with the driver's and shared
 * the same way across fork, close-on-exec, and kept high among the fd
 * numbers (below bond's own, bond_stats.c), where an application's dup2()
 * or close of a low number does not reach it.
 */
#define TSO_SNDBUF	(4 << 20)
#define TSO_MERGE_FAILS	3
#define TSO_NOMERGE_S	1
/* Segments queued before an early flush: a few frames' worth, so that
 * runs are not cut at the batch's end (bench/bulk by hand: 27 segments a
 * frame with a batch of 64, 32 with 176 or 352, 5-7% faster; a stream's
 * window bounds them after that) */
#define TSO_BATCH	(3 * NS_TSO_SEGS_MAX)
#define TSO_FD_SPAN	96	/* below the fd limit ... */
#define TSO_FD_TOP	1024	/* ... or below this one, if lower */

static int
tso_fd_high(int fd)
{
	struct rlimit rl;
	rlim_t top;
	int high;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return fd;
	top = rl.rlim_cur < TSO_FD_TOP ? rl.rlim_cur : TSO_FD_TOP;
	if (top < 2 * TSO_FD_SPAN || (rlim_t)fd >= top - TSO_FD_SPAN)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, (int)(top - TSO_FD_SPAN));
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

static void
tso_open(struct ns_port *p, const struct ns_port_config *pc)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = (int)if_nametoindex(pc->iface),
	};
	int one = 1, buf = TSO_SNDBUF;
	int fd = -1;
	const char *what = "the interface";

	if (sll.sll_ifindex == 0)
		goto fail;
	what = "socket";
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	what = "PACKET_VNET_HDR";
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0)
		goto fail;
	what = "bind";
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		goto fail;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0 &&
	    !p->afp_no_outgoing) {
		what = "PACKET_QDISC_BYPASS, and PACKET_IGNORE_OUTGOING on the driver's socket";
		errno = EOPNOTSUPP;
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	p->tso_fd = tso_fd_high(fd);
	p->rx_csum = true;	/* checked here in software (all or nothing) */
	p->tx_csum = true;
	return;
fail:
	NS_INFO("%s: %s: %s; TCP goes through the driver's ring, one frame per segment (no offload)",
		p->dev_name, what, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The leading fields of net_af_packet's queues, if they are what we know:
 * one AF_PACKET socket for both, frames of rd[] laid out from map. */
static void
afp_attach(struct ns_port *p, uint16_t port_id)
{
	struct afp_rxq *rx = rte_eth_fp_ops[port_id].rxq.data[0];
	struct afp_txq *tx = rte_eth_fp_ops[port_id].txq.data[0];
	int domain = 0;
	socklen_t len = sizeof(domain);

	if (rx == NULL || tx == NULL || rx->sockfd < 0 ||
	    rx->sockfd != tx->sockfd ||
	    getsockopt(rx->sockfd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
	    domain != AF_PACKET || rx->framecount == 0 ||
	    rx->framecount > (1u << 20) || rx->framecount != tx->framecount ||
	    rx->framenum >= rx->framecount || tx->framenum >= tx->framecount ||
	    rx->rd == NULL || tx->rd == NULL ||
	    rx->rd[0].iov_base != rx->map || tx->rd[0].iov_base != tx->map ||
	    tx->map <= rx->map ||
	    tx->frame_data_size != rx->rd[0].iov_len -
	    (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))) {
		NS_INFO("%s: net_af_packet's queue layout is not the one known; a process killed in a burst is not repaired",
		       p->dev_name);
		return;
	}
	p->afp_rx = rx;
	p->afp_tx = tx;
	afp_long_frames(p);
}

static inline struct tpacket2_hdr *
afp_frame(const struct iovec *rd, unsigned int count, uint32_t pos)
{
	return rd[pos % count].iov_base;
}

static inline bool
afp_tx_free(uint32_t status)
{
	return (status & ~(uint32_t)(TP_STATUS_TS_SOFTWARE |
				     TP_STATUS_TS_RAW_HARDWARE)) ==
	       TP_STATUS_AVAILABLE;
}

static inline void
afp_mark(unsigned int idx, bool tx, uint32_t start, uint32_t n)
{
	afp_burst.tx = tx;
	afp_burst.start = start;
	afp_burst.n = n;
	__atomic_store_n(&afp_burst.port, (int8_t)idx, __ATOMIC_RELEASE);
}

static inline void
afp_unmark(void)
{
	__atomic_store_n(&afp_burst.port, -1, __ATOMIC_RELEASE);
}

void
ns_port_repair(void)
{
	int idx = __atomic_load_n(&afp_burst.port, __ATOMIC_ACQUIRE);
	struct ns_port *p;
	uint32_t k = 0;

	if (idx < 0 || idx >= NS_MAX_PORTS)
		return;
	p = &ports[idx];
	if (!afp_burst.tx && p->afp_rx != NULL) {
		struct afp_rxq *q = p->afp_rx;

		/* frames it released are the kernel's again; the first it
		 * did not reach is still ours */
		while (k < afp_burst.n &&
		       !(afp_frame(q->rd, q->framecount, afp_burst.start + k)->tp_status & TP_STATUS_USER))
			k++;
		q->framenum = (afp_burst.start + k) % q->framecount;
		/* their mbufs went with the dead process: k at most */
	} else if (afp_burst.tx && p->afp_tx != NULL) {
		struct afp_txq *q = p->afp_tx;

		/* slots it filled have a length (cleared before it began) */
		while (k < afp_burst.n &&
		       afp_frame(q->rd, q->framecount, afp_burst.start + k)->tp_len != 0)
			k++;
		q->framenum = (afp_burst.start + k) % q->framecount;
		/* the driver freed the mbufs it copied: off the queue,
		 * unless the dead process had taken them off already */
		k = RTE_MIN(k, p->n_tx);
		if (k > 0 && p->tx[0] == afp_burst.first) {
			memmove(p->tx, p->tx + k, (p->n_tx - k) * sizeof(p->tx[0]));
			p->n_tx -= k;
		}
		(void)sendto(q->sockfd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	}
	afp_repaired++;
	afp_unmark();
}

unsigned long
ns_port_repaired(void)
{
	return afp_repaired;
}

/* RX: as many frames as the ring holds now (up to max), or 0; a burst
 * ends with the first frame the ring cut (p->rx_long: its length). */
static unsigned int
afp_rx_ready(struct ns_port *p, unsigned int max)
{
	const struct afp_rxq *q = p->afp_rx;
	unsigned int n = 0;

	p->rx_long = 0;
	while (n < max) {
		const struct tpacket2_hdr *h =
			afp_frame(q->rd, q->framecount, q->framenum + n);
		uint32_t status = h->tp_status;
		bool summed = (status & (TP_STATUS_CSUMNOTREADY |
					 TP_STATUS_CSUM_VALID)) != 0;

		if (!(status & TP_STATUS_USER))
			break;
		if (summed)
			p->rx_summed[n / 64] |= 1ull << (n % 64);
		else
			p->rx_summed[n / 64] &= ~(1ull << (n % 64));
		n++;
		if (unlikely(h->tp_snaplen < h->tp_len)) {
			p->rx_long = h->tp_len;
			p->rx_long_copied = (status & TP_STATUS_COPY) != 0;
			break;
		}
	}
	return n;
}

/* TX: free slots from the position (up to max), lengths cleared. */
static unsigned int
afp_tx_ready(const struct afp_txq *q, unsigned int max)
{
	unsigned int n = 0;

	while (n < max) {
		struct tpacket2_hdr *h = afp_frame(q->rd, q->framecount,
						   q->framenum + n);

		if (!afp_tx_free(h->tp_status))
			break;
		h->tp_len = 0;
		n++;
	}
	return n;
}

static bool
ipv4_is_fragment(const struct rte_ipv4_hdr *ip4)
{
	return (ip4->fragment_offset &
		rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
}

/* A TCP or UDP checksum over l4_len bytes at l4, with the pseudo-header
 * of addresses addr (addr_len bytes: both, source first): true if it
 * verifies. */
static bool
l4_csum_ok(const void *addr, size_t addr_len, uint8_t proto, const void *l4,
	   size_t l4_len)
{
	uint64_t acc = (uint64_t)rte_cpu_to_be_16(proto) +
		       rte_cpu_to_be_16((uint16_t)l4_len);

	if (l4_len > UINT16_MAX)	/* IPv6 jumbograms are not ours */
		return false;
	acc = ns_csum_add(addr, addr_len, acc);
	return ns_csum_fold(ns_csum_add(l4, l4_len, acc)) == 0xffff;
}

/* What a software check found: a bad sum, nothing wrong, or nothing wrong
 * with a TCP or UDP sum it could not reach (a fragment, IPv6 extension
 * headers): lwIP's input checks that one (ns_rxcheck.c). */
enum csum { CSUM_BAD, CSUM_OK, CSUM_L4_OPEN };

/* Software check of an IPv4 or IPv6 packet of len bytes at l3 (ethertype
 * in network order) for what the port's flags ip and l4 leave open. */
static enum csum
l3_csum(uint16_t type, const void *l3, size_t len, uint64_t ip, uint64_t l4)
{
	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		const struct rte_ipv4_hdr *ip4 = l3;
		uint16_t hlen;

		if (len < sizeof(*ip4))
			return CSUM_OK;	/* too short to be IP: lwIP decides */
		hlen = rte_ipv4_hdr_len(ip4);
		if (hlen < sizeof(*ip4) || len < hlen)
			return CSUM_BAD;
		if (ip != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
		    ns_csum_fold(ns_csum_add(ip4, hlen, 0)) != 0xffff)
			return CSUM_BAD;
		if (ip4->next_proto_id != IPPROTO_TCP && ip4->next_proto_id != IPPROTO_UDP)
			return CSUM_OK;
		if (ipv4_is_fragment(ip4))
			return CSUM_L4_OPEN;	/* the sum spans fragments */
		if (l4 != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
			uint16_t tot = rte_be_to_cpu_16(ip4->total_length);

			if (tot < hlen || len < tot)
				return CSUM_BAD;
			if (ip4->next_proto_id == IPPROTO_UDP &&
			    (tot - hlen < (int)sizeof(struct rte_udp_hdr) ||
			     ((const struct rte_udp_hdr *)((const char *)ip4 + hlen))->dgram_cksum == 0))
				return CSUM_OK;	/* lwIP drops it; or UDP without a sum */
			return l4_csum_ok(&ip4->src_addr, 8, ip4->next_proto_id,
					  (const char *)ip4 + hlen, (size_t)(tot - hlen)) ?
			       CSUM_OK : CSUM_BAD;
		}
		return CSUM_OK;
	}
	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
		const struct rte_ipv6_hdr *ip6 = l3;

		if (len < sizeof(*ip6))
			return CSUM_BAD;
		if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || ip6->proto == IPPROTO_ICMPV6)
			return CSUM_OK;	/* lwIP checks ICMPv6 */
		if (ip6->proto == IPPROTO_TCP || ip6->proto == IPPROTO_UDP) {
			uint16_t plen = rte_be_to_cpu_16(ip6->payload_len);

			if (len < sizeof(*ip6) + plen)
				return CSUM_BAD;
			return l4_csum_ok(ip6->src_addr, 32, ip6->proto, ip6 + 1, plen) ?
			       CSUM_OK : CSUM_BAD;
		}
		return CSUM_L4_OPEN;	/* behind extension headers */
	}
	return CSUM_OK;
}

/*
 * The L4 flag for a packet the kernel marked summed (TP_STATUS_CSUMNOTREADY
 * or _CSUM_VALID): good for TCP, which is a byte stream, so a segment the
 * kernel merged (GSO, GRO) means the same bytes. Not for UDP: a UDP_SEGMENT
 * sender's datagrams come merged the same way, and as one datagram they
 * would lose their boundaries; their partial sums fail the check instead.
 */
static uint64_t
summed_l4(uint16_t type, const void *l3, size_t len)
{
	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
	    len >= sizeof(struct rte_ipv4_hdr)) {
		const struct rte_ipv4_hdr *ip4 = l3;

		if (ip4->next_proto_id == IPPROTO_TCP && !ipv4_is_fragment(ip4))
			return RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	} else if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6) &&
		   len >= sizeof(struct rte_ipv6_hdr)) {
		if (((const struct rte_ipv6_hdr *)l3)->proto == IPPROTO_TCP)
			return RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	}
	return RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
}

/* Software check of what the port could not tell; summed: the kernel
 * marked the frame's sum as needing none (net_af_packet's ring). */
static enum csum
rx_csum(struct rte_mbuf *m, bool summed)
{
	uint64_t f = m->ol_flags;
	uint64_t ip = f & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = f & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	struct rte_ether_hdr *eth;

	if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return CSUM_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
	    (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE))
		return CSUM_OK;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (m->data_len < sizeof(*eth))
		return CSUM_OK;	/* too short to be IP: lwIP decides */
	if (summed && summed_l4(eth->ether_type, eth + 1,
				m->data_len - sizeof(*eth)) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		l4 = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	return l3_csum(eth->ether_type, eth + 1, m->data_len - sizeof(*eth), ip, l4);
}

/*
 * A frame the ring cut (m holds its start). An IPv4 or IPv6 packet the
 * kernel also queued whole becomes *pkt with data NULL and len its IP length,
 * to be read with ns_port_rx_long(); anything else is dropped, counted,
 * its copy taken off the socket. Returns the entries filled (0 or 1).
 */
static unsigned int
rx_long_frame(struct ns_port *p, struct rte_mbuf *m, struct ns_rx_pkt *pkt)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint32_t ip_len = p->rx_long - (uint32_t)sizeof(*eth);
	bool ip = m->data_len >= sizeof(*eth) &&
		  (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
		   eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6));

	rte_pktmbuf_free(m);
	if (p->rx_long_copied && ip && p->rx_long > sizeof(*eth) &&
	    ip_len <= UINT16_MAX) {
		pkt->m = NULL;
		pkt->data = NULL;
		pkt->priv = NULL;
		pkt->l4_open = false;
		pkt->len = (uint16_t)ip_len;
		return 1;
	}
	if (p->rx_long_copied)
		(void)ns_port_rx_long((unsigned int)(p - ports), NULL, 0);
	else
		p->st.rx_long_drop++;
	return 0;
}

unsigned int
ns_port_rx(unsigned int idx, struct ns_rx_pkt *pkts, unsigned int max)
{
	struct ns_port *p = &ports[idx];
	struct rte_mbuf *mb[NS_TX_QUEUED_MAX];
	unsigned int n, out = 0;
	bool cut = false, summed_known = false;

	if (max > p->burst)
		max = p->burst;
	if (p->afp_rx != NULL) {
		summed_known = true;
		max = afp_rx_ready(p, max);
		if (max == 0)
			return 0;
		afp_mark(idx, false, p->afp_rx->framenum, max);
		ns_vec_full();
		n = rte_eth_rx_burst(p->port_id, 0, mb, (uint16_t)max);
		afp_unmark();
		/* the cut frame, consumed only if it was reached */
		cut = unlikely(p->rx_long != 0) && n == max;
		n -= cut;
	} else {
		ns_vec_full();
		n = rte_eth_rx_burst(p->port_id, 0, mb, (uint16_t)max);
	}
	/* no mbuf for what came, while part of the pool waits to be placed */
	if (unlikely(n == 0) && p->pool_mz != NULL &&
	    rte_mempool_avail_count(p->pool) == 0)
		pool_grow(p);
	for (unsigned int i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];
		enum csum c = CSUM_L4_OPEN;	/* no check here: all lwIP's */

		if (likely(m->nb_segs == 1) && p->rx_csum)
			c = rx_csum(m, summed_known &&
					  (p->rx_summed[i / 64] >> (i % 64) & 1));
		if (unlikely(m->nb_segs != 1) || c == CSUM_BAD) {
			if (m->nb_segs == 1)
				p->st.rx_csum_bad++;
			else
				p->st.rx_long_drop++;
			rte_pktmbuf_free(m);
			continue;
		}
		pkts[out].l4_open = c == CSUM_L4_OPEN;
		pkts[out].m = m;
		pkts[out].data = rte_pktmbuf_mtod(m, void *);
		pkts[out].len = m->data_len;
		pkts[out].priv = rte_mbuf_to_priv(m);
		out++;
	}
	if (unlikely(cut))
		out += rx_long_frame(p, mb[n], &pkts[out]);
	p->st.rx_pkts += out;
	return out;
}

/* Copies left on the socket by a process that died between taking a cut
 * frame off the ring and reading its copy: skipped, up to this many. */
#define AFP_LONG_STALE_MAX	4

int
ns_port_rx_long(unsigned int idx, void *dst, uint16_t len)
{
	struct ns_port *p = &ports[idx];
	struct rte_ether_hdr eth;
	struct iovec iov[2] = {
		{ .iov_base = &eth, .iov_len = sizeof(eth) },
		{ .iov_base = dst, .iov_len = len },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	if (dst == NULL) {
		(void)recv(p->afp_rx->sockfd, NULL, 0, MSG_DONTWAIT | MSG_TRUNC);
		p->st.rx_long_drop++;
		return -1;
	}
	for (int i = 0; i <= AFP_LONG_STALE_MAX; i++) {
		ssize_t r;
		uint64_t l4 = RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
		enum csum c = CSUM_L4_OPEN;	/* no check here: all lwIP's */

		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		r = recvmsg(p->afp_rx->sockfd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0)
			break;
		if ((size_t)r != sizeof(eth) + len ||
		    (eth.ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
		     eth.ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)))
			continue;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		     cm = CMSG_NXTHDR(&mh, cm)) {
			struct tpacket_auxdata aux;

			if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA ||
			    cm->cmsg_len < CMSG_LEN(sizeof(aux)))
				continue;
			memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
			if (aux.tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID))
				l4 = summed_l4(eth.ether_type, dst, len);
		}
		/* whole (a datagram the kernel reassembled, or a segment
		 * it merged), so nothing stays open but what IPv6
		 * extension headers hide */
		if (p->rx_csum)
			c = l3_csum(eth.ether_type, dst, len,
				    RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, l4);
		if (c == CSUM_BAD) {
			p->st.rx_csum_bad++;
			return -1;
		}
		p->st.rx_long++;
		return c == CSUM_L4_OPEN ? 1 : 0;
	}
	p->st.rx_long_drop++;
	return -1;
}

void
ns_port_free(void *m)
{
	rte_pktmbuf_free(m);
}

/*
 * One more chunk of p's pool placed (NS_POOL_CHUNK_BYTES), under the stack
 * lock, by the process that made the pool. Whether one was.
 */
static bool
pool_grow(struct ns_port *p)
{
	const struct rte_memzone *mz = p->pool_mz;
	size_t len;
	int rc;

	if (mz == NULL || p->pool_owner != getpid())
		return false;
	len = RTE_MIN((size_t)NS_POOL_CHUNK_BYTES, mz->len - p->pool_off);
	rc = pool_place(p->pool, mz, p->pool_off, len);
	p->pool_off += len;
	if (rc < 0 || p->pool->populated_size >= p->pool->size ||
	    p->pool_off >= mz->len) {
		if (p->pool->populated_size < p->pool->size)
			NS_WARN("the mbuf pool of %s stops at %u of %u mbufs: %s\n",
					p->dev_name, p->pool->populated_size,
					p->pool->size, rc < 0 ? rte_strerror(-rc) :
					"its memory is used up");
		p->pool_mz = NULL;
	}
	return true;
}

bool
ns_pool_pending(void)
{
	for (unsigned int i = 0; i < n_ports; i++)
		if (__atomic_load_n(&ports[i].pool_mz, __ATOMIC_RELAXED) != NULL &&
		    ports[i].pool_owner == getpid())
			return true;
	return false;
}

void
ns_pool_grow(void)
{
	for (unsigned int i = 0; i < n_ports; i++)
		if (pool_grow(&ports[i]))
			return;
}

void
ns_pool_complete(void)
{
	for (unsigned int i = 0; i < n_ports; i++)
		while (pool_grow(&ports[i]))
			;
}

bool
ns_port_pool_low(unsigned int idx)
{
	struct ns_port *p = &ports[idx];

	if (rte_mempool_avail_count(p->pool) >= p->pool_low)
		return false;
	/* low while part of it is still to be placed: another chunk */
	return !pool_grow(p) || rte_mempool_avail_count(p->pool) < p->pool_low;
}

void *
ns_port_tx_alloc(unsigned int idx, uint16_t len, void **data)
{
	struct ns_port *p = &ports[idx];
	struct rte_mbuf *m = rte_pktmbuf_alloc(p->pool);

	if (unlikely(m == NULL) && pool_grow(p))
		m = rte_pktmbuf_alloc(p->pool);
	if (unlikely(m == NULL)) {
		p->st.tx_nombuf++;
		return NULL;
	}
	*data = rte_pktmbuf_append(m, len);
	if (unlikely(*data == NULL)) {
		rte_pktmbuf_free(m);
		p->st.tx_nombuf++;
		return NULL;
	}
	return m;
}

/* Ask the port for the IPv4 header and TCP checksums of this frame. */
static void
tx_csum_prepare(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	if (m->data_len < sizeof(*eth) + sizeof(struct rte_ipv4_hdr))
		return;
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		struct rte_ipv4_hdr *ip4 = (struct rte_ipv4_hdr *)(eth + 1);

		m->l2_len = sizeof(*eth);
		m->l3_len = rte_ipv4_hdr_len(ip4);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
		ip4->hdr_checksum = 0;
		if (ip4->next_proto_id == IPPROTO_TCP &&
		    !ipv4_is_fragment(ip4)) {
			struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)((char *)ip4 + m->l3_len);

			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
			th->cksum = rte_ipv4_phdr_cksum(ip4, m->ol_flags);
		}
	} else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);

		if (ip6->proto == IPPROTO_TCP &&
		    m->data_len >= sizeof(*eth) + sizeof(*ip6) + sizeof(struct rte_tcp_hdr)) {
			struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip6 + 1);

			m->l2_len = sizeof(*eth);
			m->l3_len = sizeof(*ip6);
			m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
			th->cksum = rte_ipv6_phdr_cksum(ip6, m->ol_flags);
		}
	}
}

void
ns_port_tx_queue(unsigned int idx, void *mp, bool csum)
{
	struct ns_port *p = &ports[idx];
	struct rte_mbuf *m = mp;

	if (p->tso_fd >= 0) {
		if (ns_tso_prepare(rte_pktmbuf_mtod(m, uint8_t *), m->data_len))
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;	/* ours */
	} else if (csum && p->tx_csum) {
		tx_csum_prepare(m);
	}
	/* a batch: a burst, or with the socket TSO_BATCH segments */
	if (p->n_tx >= (p->tso_fd >= 0 ? TSO_BATCH : p->burst))
		ns_port_tx_flush(idx);
	if (unlikely(p->n_tx == NS_TX_QUEUED_MAX)) {
		/* The ring has stayed full for a whole queue: drop; TCP resends. */
		p->st.tx_full++;
		rte_pktmbuf_free(m);
		return;
	}
	p->tx[p->n_tx++] = m;
}

__attribute__((target("general-regs-only"))) bool
ns_port_tx_pending(void)
{
	for (unsigned int i = 0; i < n_ports; i++)
		if (__atomic_load_n(&ports[i].n_tx, __ATOMIC_RELAXED) != 0)
			return true;
	return false;
}

unsigned int
ns_wake_fds(int *fds, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < n_ports && n < max; i++) {
		const struct ns_port *p = &ports[i];

		/* net_af_packet's socket polls readable while a frame of its
		 * RX ring is the application's (or one waits in its queue,
		 * the long-frame path) */
		if (p->up && p->afp_rx != NULL)
			fds[n++] = p->afp_rx->sockfd;
	}
	return n;
}

static inline bool
tso_frame(const struct rte_mbuf *m)
{
	return (m->ol_flags & RTE_MBUF_F_TX_TCP_CKSUM) != 0;
}

/* Take n sent frames off the front of the queue. */
static void
tx_consumed(struct ns_port *p, unsigned int n)
{
	memmove(p->tx, p->tx + n, (p->n_tx - n) * sizeof(p->tx[0]));
	p->n_tx -= n;
}

/* Messages one sendmmsg takes, and the scratch it uses (lock held). */
#define TSO_MSGS	32
static struct ns_tso_msg tso_msgs[TSO_MSGS];
static struct mmsghdr tso_mm[TSO_MSGS];
static struct iovec tso_iov[2 * TSO_MSGS + NS_TX_QUEUED_MAX];
static uint8_t *tso_data[NS_TX_QUEUED_MAX];
static uint16_t tso_len[NS_TX_QUEUED_MAX];
static struct rte_mbuf *tso_sent[NS_TX_QUEUED_MAX];

/*
 * Send the TCP segments at the front of p's queue through the socket.
 * Returns the frames sent (or dropped by the kernel); 0 when it would
 * block. A refusal of the frames' form turns the offload off for good.
 */
static unsigned int
tso_send(struct ns_port *p)
{
	unsigned int count = 0, used, nm, done = 0, v = 0;
	bool split = false;
	int r;

	while (count < p->n_tx && tso_frame(p->tx[count])) {
		tso_data[count] = rte_pktmbuf_mtod(p->tx[count], uint8_t *);
		tso_len[count] = p->tx[count]->data_len;
		count++;
	}
again:
	nm = ns_tso_plan(tso_data, tso_len, count,
			 split || (p->tso_nomerge_until != 0 &&
				   rte_get_tsc_cycles() < p->tso_nomerge_until) ?
			 1 : NS_TSO_SEGS_MAX,
			 tso_msgs, TSO_MSGS, &used);
	v = 0;
	for (unsigned int i = 0; i < nm; i++) {
		const struct ns_tso_msg *g = &tso_msgs[i];
		struct msghdr *mh = &tso_mm[i].msg_hdr;

		memset(mh, 0, sizeof(*mh));
		mh->msg_iov = &tso_iov[v];
		tso_iov[v++] = (struct iovec){ (void *)&g->vh, sizeof(g->vh) };
		if (g->n == 1) {
			tso_iov[v++] = (struct iovec){ tso_data[g->first],
						       tso_len[g->first] };
			mh->msg_iovlen = 2;
			continue;
		}
		/* the run's headers, then each segment's data */
		tso_iov[v++] = (struct iovec){ (void *)g->hdr, g->vh.hdr_len };
		for (unsigned int k = g->first; k < g->first + g->n; k++)
			tso_iov[v++] = (struct iovec){
				tso_data[k] + g->vh.hdr_len,
				(size_t)(tso_len[k] - g->vh.hdr_len) };
		mh->msg_iovlen = g->n + 2;
	}
	r = sendmmsg(p->tso_fd, tso_mm, nm, MSG_DONTWAIT);
	if (r < 0 && errno == ENOBUFS && tso_msgs[0].n > 1 && !split) {
		/* a full device queue, or a frame it cannot segment: its
		 * segments tell which */
		split = true;
		goto again;
	}
	if (r > 0 && split && ++p->tso_merge_fails == TSO_MERGE_FAILS) {
		NS_LOG_LIMITED(NS_LOG_NOTICE, "%s: the device drops TCP frames of several segments; for %d s TCP goes a frame per segment (still checksum-offloaded)",
			       p->dev_name, TSO_NOMERGE_S);
		p->tso_nomerge_until = rte_get_tsc_cycles() + TSO_NOMERGE_S * tsc_hz;
		p->tso_merge_fails = 0;
	}
	if (r < 0) {
		if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
			return 0;	/* as a full ring: stays queued */
		if (errno == EINVAL || errno == EMSGSIZE || errno == EOPNOTSUPP ||
		    errno == EPROTO) {
			NS_NOTICE("%s: the kernel refused an offloaded TCP frame (%s); TCP checksums are now made in software",
				  p->dev_name, strerror(errno));
			p->tso_broken = true;
			return 0;
		}
		/* the device is down or gone: the first is lost */
		p->st.tx_tso_err++;
		done = tso_msgs[0].n;
	} else {
		for (int i = 0; i < r; i++) {
			if (tso_msgs[i].n > 1) {
				p->st.tx_tso++;
				p->st.tx_tso_segs += tso_msgs[i].n;
				p->tso_merge_fails = 0;	/* in a row only */
			}
			done += tso_msgs[i].n;
		}
	}
	/* off the shared queue first, then freed: a holder killed in
	 * between leaks mbufs, never frees one twice */
	memcpy(tso_sent, p->tx, done * sizeof(p->tx[0]));
	tx_consumed(p, done);
	for (unsigned int k = 0; k < done; k++) {
		p->tso_bytes += tso_sent[k]->data_len;
		rte_pktmbuf_free(tso_sent[k]);
	}
	return done;
}

/* After a refusal: what is queued for the socket gets its sums here and
 * goes through the driver. */
static void
tso_fall_back(struct ns_port *p)
{
	for (unsigned int k = 0; k < p->n_tx; k++) {
		struct rte_mbuf *m = p->tx[k];

		if (tso_frame(m)) {
			ns_tso_finish(rte_pktmbuf_mtod(m, uint8_t *), m->data_len);
			m->ol_flags &= ~RTE_MBUF_F_TX_TCP_CKSUM;
		}
	}
}

unsigned int
ns_port_tx_flush(unsigned int idx)
{
	struct ns_port *p = &ports[idx];
	unsigned int sent = 0;

	if (p->n_tx == 0)
		return 0;
	if (unlikely(p->tso_broken))
		tso_fall_back(p);
	while (p->n_tx > 0) {
		unsigned int max = RTE_MIN(p->n_tx, (unsigned int)UINT16_MAX);
		uint16_t n;

		if (p->tso_fd >= 0 && !p->tso_broken) {
			unsigned int k = 0;

			while (k < max && !tso_frame(p->tx[k]))
				k++;
			if (k == 0) {
				unsigned int t = tso_send(p);

				if (unlikely(p->tso_broken)) {
					tso_fall_back(p);
					continue;
				}
				sent += t;
				if (t == 0)
					break;
				continue;
			}
			max = k;	/* the frames before the next segment */
		}

		if (p->afp_tx != NULL) {
			/* never into a full ring: the driver would wait in
			 * poll() for the kernel, lock held */
			max = afp_tx_ready(p->afp_tx, max);
			if (max == 0)
				break;
			afp_burst.first = p->tx[0];
			afp_mark(idx, true, p->afp_tx->framenum, max);
		}
		ns_vec_full();
		n = rte_eth_tx_burst(p->port_id, 0, p->tx, (uint16_t)max);
		/* the queue follows each burst, so that a repair finds it
		 * as the driver left it */
		tx_consumed(p, n);
		afp_unmark();
		sent += n;
		if (n == 0)
			break;
	}
	p->st.tx_pkts += sent;
	return p->n_tx;
}

void
ns_port_get_stats(unsigned int idx, struct ns_port_stats *st)
{
	struct rte_eth_stats es;
	struct rte_eth_link link;

	*st = ports[idx].st;
	st->pool_free = rte_mempool_avail_count(ports[idx].pool);
	st->pool_placed = ports[idx].pool->populated_size;
	st->tx_queued = ports[idx].n_tx;
	if (rte_eth_stats_get(ports[idx].port_id, &es) == 0) {
		st->rx_nombuf = es.rx_nombuf;
		st->rx_missed = es.imissed;
		st->rx_bytes = es.ibytes;
		st->tx_bytes = es.obytes + ports[idx].tso_bytes;
	}
	if (rte_eth_link_get_nowait(ports[idx].port_id, &link) == 0)
		st->link_up = link.link_status == RTE_ETH_LINK_UP;
}

void
ns_port_stop_all(void)
{
	for (unsigned int i = 0; i < n_ports; i++) {
		struct ns_port *p = &ports[i];

		if (!p->up)
			continue;
		ns_port_tx_flush(i);
		if (p->tso_fd >= 0)
			close(p->tso_fd);
		p->tso_fd = -1;
		rte_eth_dev_stop(p->port_id);
		rte_eth_dev_close(p->port_id);
		if (p->is_vdev)
			rte_vdev_uninit(p->dev_name);
		p->up = false;
	}
}

uint32_t
ns_rand32(void)
{
	return (uint32_t)rte_rand();
}
