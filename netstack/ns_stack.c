/*
 * netstack start-up, poll loop, timers and the stack lock (lwIP side).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/ip6_addr.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "dpdkif.h"
#include "ns.h"
#include "ns_demux.h"
#include "ns_log.h"
#include "ns_port.h"
#include "ns_memp.h"
#include "ns_shared.h"
#include "ns_syncookie.h"

#define NS_ISN_TICK_NS	4000	/* RFC 6528: the clock advances every 4 us */

/* Runtime lwIP sizes (ns_lwip_rt.h): deltas from the compile-time ceilings. */
int32_t ns_tcp_wnd_delta;
int32_t ns_tcp_snd_buf_delta;
int32_t ns_tcp_snd_queuelen_delta;

/*
 * The stack lock: in shared memory (this file's data is, ns_shared.ld),
 * process-shared and robust. A process that dies holding it (SIGKILL in the
 * middle of a poll) leaves it to the next taker as EOWNERDEAD: the next
 * one marks it consistent and goes on, and counts it (ns_lock_recovered).
 */
static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long lock_recovered;
static bool lock_exit_held;	/* its holder left by exit_group, on purpose */
static struct netif netifs[NS_MAX_PORTS];
/* What SO_BINDTODEVICE names each port by (ns_port_by_dev). */
static char port_dev[NS_MAX_PORTS][IF_NAMESIZE];
static struct dpdkif dpdkifs[NS_MAX_PORTS];
static unsigned int n_netifs;
static bool started;
/* IPv6 routing beyond lwIP's /64 on-link rule: prefixes and gateways. */
static struct {
	ip6_addr_t addr, gw;
	uint8_t prefix;
	bool has_addr, has_gw;
} route6[NS_MAX_PORTS];
static uint64_t tsc_per_ms;
static uint64_t tsc_start;
static uint64_t ns_per_tsc_q32;	/* ns per TSC tick, 32.32 fixed point */
static uint64_t isn_secret[2];

static void
lock_init(void)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&stack_lock, &a);
	pthread_mutexattr_destroy(&a);
}

static bool
lock_taken(int rc)
{
	if (rc == EOWNERDEAD) {
		/* Its holder died: what it was doing is lost, the stack goes on. */
		pthread_mutex_consistent(&stack_lock);
		ns_demux_repair();
		ns_port_repair();
		/* a datagram's send lowers a port's MTU for its call (bond) */
		for (unsigned int i = 0; i < n_netifs; i++)
			netifs[i].mtu = dpdkifs[i].caps.mtu;
		if (lock_exit_held)
			lock_exit_held = false;
		else
			lock_recovered++;
		return true;
	}
	return rc == 0;
}

void
ns_lock(void)
{
	bool taken = lock_taken(pthread_mutex_lock(&stack_lock));

	NS_ASSERT(taken);
}

void
ns_unlock(void)
{
	pthread_mutex_unlock(&stack_lock);
}

void
ns_lock_exit(void)
{
	ns_lock();
	lock_exit_held = true;
}

bool
ns_trylock(void)
{
	return lock_taken(pthread_mutex_trylock(&stack_lock));
}

unsigned long
ns_bursts_repaired(void)
{
	return ns_port_repaired();
}

unsigned long
ns_lock_recovered(void)
{
	return lock_recovered;
}

bool
ns_started(void)
{
	return started;
}

__attribute__((target("general-regs-only"))) bool
ns_tx_pending(void)
{
	for (unsigned int i = 0; i < n_netifs; i++)
		if (__atomic_load_n(&netifs[i].loop_first,
				    __ATOMIC_RELAXED) != NULL)
			return true;
	return ns_port_tx_pending();
}

__attribute__((target("general-regs-only"))) uint64_t
ns_now_ns(void)
{
	/* A multiply and a shift: this runs on every busy-poll turn. */
	return (uint64_t)(((unsigned __int128)(__rdtsc() - tsc_start) *
			   ns_per_tsc_q32) >> 32);
}

/* lwIP's clock. */
u32_t
sys_now(void)
{
	if (tsc_per_ms == 0)
		return 0;
	return (u32_t)((__rdtsc() - tsc_start) / tsc_per_ms);
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* RFC 6528 initial sequence numbers: a keyed hash of the 4-tuple plus a clock. */
u32_t
ns_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
	   const ip_addr_t *remote_ip, u16_t remote_port)
{
	uint64_t h = isn_secret[0];
	const u32_t *a = (const u32_t *)local_ip;
	const u32_t *b = (const u32_t *)remote_ip;

	for (size_t i = 0; i < sizeof(ip_addr_t) / sizeof(u32_t); i++)
		h = mix64(h ^ a[i] ^ ((uint64_t)b[i] << 32));
	h = mix64(h ^ isn_secret[1] ^ ((uint64_t)local_port << 16) ^ remote_port);
	return (u32_t)h + (u32_t)(ns_now_ns() / NS_ISN_TICK_NS);
}

/* Whether a segment can go through tcp_input again: its header (and
 * options) just before p's payload, as for a SYN or ACK off one mbuf. */
static bool
can_reinput(const struct tcp_hdr *hdr, u16_t optlen, const u8_t *opt2,
	    const struct pbuf *p)
{
	return opt2 == NULL &&
	       (const u8_t *)p->payload == (const u8_t *)hdr + TCP_HLEN + optlen;
}

/* tcp_input again for a segment the hook took (the caller frees p too). */
static void
reinput(u16_t optlen, struct pbuf *p)
{
	struct tcp_hdr *h;

	if (pbuf_add_header_force(p, TCP_HLEN + optlen) != 0)
		return;
	h = p->payload;
	/* Back to the wire's byte order, which tcp_input checksums. */
	h->src = lwip_htons(h->src);
	h->dest = lwip_htons(h->dest);
	h->seqno = lwip_htonl(h->seqno);
	h->ackno = lwip_htonl(h->ackno);
	h->wnd = lwip_htons(h->wnd);
	pbuf_ref(p);
	tcp_input(p, ip_current_input_netif());
}

static void (*segment_out)(const struct tcp_pcb *pcb, u32_t seq, u16_t len);

void
ns_tcp_set_segment_out(void (*out)(const struct tcp_pcb *pcb, u32_t seq, u16_t len))
{
	segment_out = out;
}

/* lwIP's LWIP_HOOK_TCP_OUT_ADD_TCPOPTS, for each segment of a connection
 * (and each empty one) as it goes: adds no option; tells segment_out of
 * those with data. */
u32_t *
ns_tcp_out_segment(struct pbuf *p, struct tcp_hdr *hdr, const struct tcp_pcb *pcb,
		   u32_t *opts)
{
	u16_t hlen = (u16_t)(TCPH_HDRLEN_BYTES(hdr));
	u8_t so = 0;

	/* DF for this segment, whose pbuf goes to IP next (ns.h): a SYN|ACK
	 * and what a listener or TIME-WAIT answers (Linux's control socket)
	 * always, the rest by the socket's policy; IPv6 none */
	if (pcb != NULL && pcb->state != SYN_RCVD && pcb->state != LISTEN &&
	    pcb->state != TIME_WAIT)
		so = pcb->so_options;
	ns_tx_df = !(so & NS_SOF_NODF) &&
		   !(pcb != NULL ? IP_IS_V6_VAL(pcb->remote_ip) : ip_current_is_v6());

	if (segment_out != NULL && pcb != NULL && pcb->state != LISTEN &&
	    p->tot_len > hlen)
		segment_out(pcb, lwip_ntohl(hdr->seqno), (u16_t)(p->tot_len - hlen));
	return opts;
}

/*
 * LWIP_HOOK_TCP_INPACKET_PCB, for every segment that found a pcb:
 * - LISTEN: Linux's SYN queue, accept queue and SYN cookies
 *   (ns_syncookie.c);
 * - SYN_RCVD: while the listener's accept queue is full the handshake's
 *   ACK is dropped and the SYN|ACK's retransmission tries again, as Linux;
 * - TIME-WAIT as Linux keeps it (tcp_timewait_state_process,
 *   tcp_rfc1337 = 0). lwIP answers every segment to a TIME-WAIT pcb with
 *   an ACK and ignores RSTs, which shuts a client that reuses its port
 *   (Linux's clients do) out for 2 MSL: a SYN whose sequence number is
 *   past all the old connection received starts a new connection (the
 *   pcb goes and the SYN is handed to the listener at once: tcp_input
 *   again, now without the pcb); an RST at exactly rcv_nxt ends the
 *   TIME-WAIT. That is the answer of a client whose SYN was behind
 *   rcv_nxt: lwIP ACKs the SYN, the client's SYN-SENT resets the ACK, and
 *   its SYN's retransmission then finds the listener.
 */
err_t
ns_tcp_inpacket(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, u16_t optlen,
		const u8_t *opt2, struct pbuf *p)
{
	u8_t flags = TCPH_FLAGS(hdr);
	u32_t seq = hdr->seqno;	/* tcp_input made the header host-order */

	if (pcb->state == ESTABLISHED)
		return ERR_OK;
	if (pcb->state == LISTEN) {
		bool revived;
		err_t e = ns_tcp_listen_segment((struct tcp_pcb_listen *)pcb, hdr,
						optlen, opt2,
						can_reinput(hdr, optlen, opt2, p),
						&revived);

		if (revived)
			reinput(optlen, p);
		return e;
	}
	if (pcb->state == SYN_RCVD) {
		/* Linux: the handshake waits while the accept queue is full
		 * (an RST still ends it) */
		if ((flags & (TCP_ACK | TCP_RST)) == TCP_ACK && pcb->listener != NULL &&
		    ns_tcp_acceptq_is_full(pcb->listener))
			return ERR_ABRT;
		return ERR_OK;
	}
	if (pcb->state != TIME_WAIT)
		return ERR_OK;
	if ((flags & TCP_RST) && seq == pcb->rcv_nxt) {
		tcp_abort(pcb);	/* in TIME-WAIT: removed and freed, nothing sent */
		return ERR_ABRT;
	}
	if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN ||
	    !TCP_SEQ_GT(seq, pcb->rcv_nxt))
		return ERR_OK;
	tcp_abort(pcb);
	/* Otherwise the SYN is dropped and its retransmission finds the
	 * listener. */
	if (can_reinput(hdr, optlen, opt2, p))
		reinput(optlen, p);
	return ERR_ABRT;
}

void
ns_lwip_assert(const char *msg, const char *file, int line)
{
	ns_assert_fail(msg, file, line);
}

void
ns_lwip_diag(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	NS_DEBUG("lwip: %s", buf);
}

static bool
prefix_match6(const ip6_addr_t *a, const ip6_addr_t *b, unsigned int len)
{
	for (unsigned int i = 0; i < 4 && len > 0; i++) {
		u32_t mask = len >= 32 ? 0xffffffffu : lwip_htonl(~0u << (32 - len));

		if ((a->addr[i] ^ b->addr[i]) & mask)
			return false;
		len = len >= 32 ? len - 32 : 0;
	}
	return true;
}

/* LWIP_HOOK_IP6_ROUTE: the port whose prefix holds dest, else a port with
 * a gateway6 (the default port first), else lwIP's own choice. */
struct netif *
ns_ip6_route(const ip6_addr_t *src, const ip6_addr_t *dest)
{
	struct netif *deflt = netif_default;

	for (unsigned int i = 0; i < n_netifs; i++) {
		if (route6[i].has_addr &&
		    prefix_match6(dest, &route6[i].addr, route6[i].prefix))
			return &netifs[i];
	}
	if (deflt != NULL && route6[deflt - netifs].has_gw)
		return deflt;
	for (unsigned int i = 0; i < n_netifs; i++) {
		if (route6[i].has_gw)
			return &netifs[i];
	}
	return NULL;
}

/* LWIP_HOOK_ND6_GET_GW: next hop for an off-link destination. */
const ip6_addr_t *
ns_nd6_get_gw(struct netif *netif, const ip6_addr_t *dest)
{
	size_t i = (size_t)(netif - netifs);

	if (i >= n_netifs || !route6[i].has_gw)
		return NULL;
	if (route6[i].has_addr &&
	    prefix_match6(dest, &route6[i].addr, route6[i].prefix))
		return NULL;
	return &route6[i].gw;
}

static void
apply_sizes(const struct ns_stack_config *sc)
{
	uint32_t queuelen = (uint32_t)(4 * sc->tcp_sndbuf / TCP_MSS);

	if (queuelen > NS_TCP_SND_QUEUELEN_MAX)
		queuelen = NS_TCP_SND_QUEUELEN_MAX;
	ns_tcp_wnd_delta = (int32_t)((int64_t)sc->tcp_wnd - NS_TCP_WND_MAX);
	ns_tcp_snd_buf_delta = (int32_t)((int64_t)sc->tcp_sndbuf - NS_TCP_SND_BUF_MAX);
	ns_tcp_snd_queuelen_delta = (int32_t)((int64_t)queuelen - NS_TCP_SND_QUEUELEN_MAX);
	NS_ASSERT(TCP_WND == sc->tcp_wnd && TCP_SND_BUF == sc->tcp_sndbuf);
}

static int
add_port(unsigned int idx, const struct ns_port_config *pc, char *err,
	 size_t errlen)
{
	struct dpdkif *dif = &dpdkifs[idx];
	struct netif *nif = &netifs[idx];
	ip4_addr_t addr, mask, gw;
	int rc;

	memset(dif, 0, sizeof(*dif));
	dif->idx = idx;
	rc = ns_port_start(idx, pc, dpdkif_priv_size(), &dif->caps, err, errlen);
	if (rc < 0)
		return rc;
	ip4_addr_set_zero(&addr);
	ip4_addr_set_zero(&mask);
	ip4_addr_set_zero(&gw);
	if (pc->addr.set) {
		ip4_addr_set_u32(&addr, pc->addr.addr);
		ip4_addr_set_u32(&mask, pc->addr.prefix ?
				 lwip_htonl(~0u << (32 - pc->addr.prefix)) : 0);
	}
	if (pc->gateway.set)
		ip4_addr_set_u32(&gw, pc->gateway.addr);
	if (netif_add(nif, &addr, &mask, &gw, dif, dpdkif_init,
		      netif_input) == NULL) {
		snprintf(err, errlen, "[port.%u] lwIP refused the interface", pc->id);
		return -EINVAL;
	}
	if (pc->iface[0] != '\0')
		snprintf(port_dev[idx], sizeof(port_dev[idx]), "%s", pc->iface);
	else
		snprintf(port_dev[idx], sizeof(port_dev[idx]), "%c%c%u",
			 nif->name[0], nif->name[1], nif->num);
	netif_create_ip6_linklocal_address(nif, 1);
	netif_ip6_addr_set_state(nif, 0, IP6_ADDR_PREFERRED);
	if (pc->addr6.set) {
		ip6_addr_t a6;
		s8_t slot;

		memcpy(&a6.addr, pc->addr6.addr, sizeof(a6.addr));
		ip6_addr_clear_zone(&a6);
		if (netif_add_ip6_address(nif, &a6, &slot) != ERR_OK) {
			snprintf(err, errlen, "[port.%u] lwIP refused addr6", pc->id);
			return -EINVAL;
		}
		/* Configured statically: no duplicate detection delay. */
		netif_ip6_addr_set_state(nif, slot, IP6_ADDR_PREFERRED);
		route6[idx].addr = a6;
		route6[idx].prefix = pc->addr6.prefix;
		route6[idx].has_addr = true;
	}
	if (pc->gateway6.set) {
		memcpy(&route6[idx].gw.addr, pc->gateway6.addr, sizeof(route6[idx].gw.addr));
		ip6_addr_clear_zone(&route6[idx].gw);
		route6[idx].has_gw = true;
	}
	netif_set_up(nif);
	netif_set_link_up(nif);
	NS_INFO("port.%u: %s, mtu %u, csum offload %s, %02x:%02x:%02x:%02x:%02x:%02x",
		pc->id, dif->caps.driver, dif->caps.mtu,
		dif->tx_csum ? "on" : "off",
		dif->caps.mac[0], dif->caps.mac[1], dif->caps.mac[2],
		dif->caps.mac[3], dif->caps.mac[4], dif->caps.mac[5]);
	return 0;
}

/* Microseconds of CLOCK_MONOTONIC, for the start-up's own timeline. */
static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * The TSC and CLOCK_MONOTONIC_RAW read together: of a few tries, the one
 * whose two clock reads are nearest (a preemption between them shows as
 * a wide gap), the clock taken at the middle.
 */
#define NS_CLOCK_PAIR_TRIES	3

static void
tsc_clock_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < NS_CLOCK_PAIR_TRIES; i++) {
		struct timespec a, b;
		uint64_t t, na, nb;

		clock_gettime(CLOCK_MONOTONIC_RAW, &a);
		t = __rdtsc();
		clock_gettime(CLOCK_MONOTONIC_RAW, &b);
		na = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
		nb = (uint64_t)b.tv_sec * 1000000000u + (uint64_t)b.tv_nsec;
		if (nb - na < best) {
			best = nb - na;
			*tsc = t;
			*ns = na + (nb - na) / 2;
		}
	}
}

/*
 * The stack's clock: TSC ticks per second measured across EAL's start-up
 * (milliseconds, each end read as above: a part in 10^4 or better). EAL's
 * own figure comes from one 1 ms sleep rounded to 10 MHz, a few parts in
 * 10^3, and wider if the thread was preempted between its reads; it is
 * kept when the window is too short to do better, or when the two differ
 * by more than 1% (a TSC that is not one clock across CPUs: EAL moves the
 * thread to its main lcore in between).
 */
#define NS_TSC_WINDOW_MIN_NS	1000000u
#define NS_TSC_AGREE_DIV	100	/* 1% */

static uint64_t
tsc_hz_measured(uint64_t tsc0, uint64_t ns0, uint64_t eal_hz)
{
	uint64_t tsc1, ns1, hz;

	tsc_clock_pair(&tsc1, &ns1);
	if (ns1 - ns0 < NS_TSC_WINDOW_MIN_NS || tsc1 <= tsc0)
		return eal_hz;
	hz = (uint64_t)(((unsigned __int128)(tsc1 - tsc0) * 1000000000u) /
			(ns1 - ns0));
	if (eal_hz != 0 && (hz > eal_hz + eal_hz / NS_TSC_AGREE_DIV ||
			    hz < eal_hz - eal_hz / NS_TSC_AGREE_DIV))
		return eal_hz;
	return hz;
}

int
ns_start(const struct ns_config *cfg, char *err, size_t errlen)
{
	struct netif *deflt = NULL;
	uint64_t t0 = mono_us(), t_shared, t_eal, t_lwip, tsc0, ns0, hz;
	int rc;

	NS_ASSERT(!started);
	ns_log_init_early();
	rc = ns_log_configure(&cfg->stack, err, errlen);
	if (rc < 0)
		return rc;
	/* Before anything lives there: lwIP's and our state, and the lock. */
	rc = ns_shared_init(err, errlen);
	if (rc < 0)
		return rc;
	lock_init();
	apply_sizes(&cfg->stack);
	t_shared = mono_us();

	tsc_clock_pair(&tsc0, &ns0);
	rc = ns_eal_start(cfg, err, errlen);
	if (rc < 0)
		return rc;
	t_eal = mono_us();
	hz = tsc_hz_measured(tsc0, ns0, ns_tsc_hz());
	NS_DEBUG("TSC: %" PRIu64 " Hz (EAL's: %" PRIu64 ")\n", hz, ns_tsc_hz());
	tsc_start = __rdtsc();
	tsc_per_ms = hz / 1000;
	if (hz != 0)
		ns_per_tsc_q32 = (uint64_t)(((unsigned __int128)1000000000u << 32) /
					    hz);
	isn_secret[0] = ((uint64_t)ns_rand32() << 32) | ns_rand32();
	isn_secret[1] = ((uint64_t)ns_rand32() << 32) | ns_rand32();
	ns_syncookie_init();
	ns_demux_init(cfg->stack.demux_check);

	lwip_init();
	/* the pool is sized for the ceiling; [stack] max_sockets is the limit
	 * (ns_config.c bounds it by the ceiling) */
	rc = ns_memp_set_limit(MEMP_TCP_PCB, (u32_t)cfg->stack.max_sockets);
	NS_ASSERT(rc == 0);
	t_lwip = mono_us();
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		rc = add_port(i, &cfg->ports[i], err, errlen);
		if (rc < 0 && strncmp(err, cfg->path, strlen(cfg->path)) != 0) {
			char msg[NS_ERR_MAX];

			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "%s:%d: %s", cfg->path,
				 cfg->ports[i].line, msg);
		}
		if (rc < 0) {
			ns_port_stop_all();
			return rc;
		}
		n_netifs = i + 1;
		if (cfg->ports[i].is_default && deflt == NULL)
			deflt = &netifs[i];
	}
	netif_set_default(deflt != NULL ? deflt : &netifs[0]);
	started = true;
	{
		uint64_t t_end = mono_us();

		NS_DEBUG("stack started in %" PRIu64 " us: shared memory %" PRIu64 ", EAL %" PRIu64 ", lwIP %" PRIu64 ", ports %" PRIu64 "\n",
			 t_end - t0, t_shared - t0, t_eal - t_shared,
			 t_lwip - t_eal, t_end - t_lwip);
	}
	return 0;
}

void
ns_stop(void)
{
	if (!started)
		return;
	ns_port_stop_all();
	started = false;
}

void
ns_flush(void)
{
	for (unsigned int i = 0; i < n_netifs; i++)
		ns_port_tx_flush(i);
}

void
ns_flush_pending(void)
{
	if (ns_port_tx_pending())
		ns_flush();
}

unsigned int
ns_poll(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < n_netifs; i++) {
		n += dpdkif_poll(&netifs[i]);
		netif_poll(&netifs[i]);	/* frames to our own addresses */
	}
	sys_check_timeouts();
	ns_flush();
	return n;
}

uint32_t
ns_next_timer_ms(void)
{
	return sys_timeouts_sleeptime();
}

struct netif *
ns_netif(unsigned int idx)
{
	return idx < n_netifs ? &netifs[idx] : NULL;
}

unsigned int
ns_nports(void)
{
	return n_netifs;
}

int
ns_port_by_dev(const char *name)
{
	for (unsigned int i = 0; i < n_netifs; i++)
		if (strcmp(port_dev[i], name) == 0)
			return (int)i;
	return -1;
}

void
ns_print_stats(FILE *f)
{
	for (unsigned int i = 0; i < n_netifs; i++) {
		struct ns_port_stats st;
		struct dpdkif *d = &dpdkifs[i];

		ns_port_get_stats(i, &st);
		fprintf(f, "port%u.rx_pkts %" PRIu64 "\n", i, st.rx_pkts);
		fprintf(f, "port%u.tx_pkts %" PRIu64 "\n", i, st.tx_pkts);
		fprintf(f, "port%u.rx_bytes %" PRIu64 "\n", i, st.rx_bytes);
		fprintf(f, "port%u.tx_bytes %" PRIu64 "\n", i, st.tx_bytes);
		fprintf(f, "port%u.link_up %" PRIu64 "\n", i, st.link_up);
		fprintf(f, "port%u.rx_csum_bad %" PRIu64 "\n", i, st.rx_csum_bad);
		fprintf(f, "port%u.rx_long %" PRIu64 "\n", i, st.rx_long);
		fprintf(f, "port%u.rx_long_drop %" PRIu64 "\n", i, st.rx_long_drop);
		fprintf(f, "port%u.tx_nombuf %" PRIu64 "\n", i, st.tx_nombuf);
		fprintf(f, "port%u.tx_full %" PRIu64 "\n", i, st.tx_full);
		fprintf(f, "port%u.rx_copied %" PRIu64 "\n", i, d->rx_copied);
		fprintf(f, "port%u.rx_drop_nomem %" PRIu64 "\n", i, d->rx_drop_nomem);
		fprintf(f, "port%u.rx_drop_input %" PRIu64 "\n", i, d->rx_drop_input);
		fprintf(f, "port%u.tx_drop %" PRIu64 "\n", i, d->tx_drop);
		fprintf(f, "port%u.rx_held %u\n", i, d->rx_held);
		fprintf(f, "port%u.pool_free %" PRIu64 "\n", i, st.pool_free);
		fprintf(f, "port%u.pool_placed %" PRIu64 "\n", i, st.pool_placed);
		fprintf(f, "port%u.rx_nombuf %" PRIu64 "\n", i, st.rx_nombuf);
		fprintf(f, "port%u.rx_missed %" PRIu64 "\n", i, st.rx_missed);
		fprintf(f, "port%u.tx_queued %" PRIu64 "\n", i, st.tx_queued);
		fprintf(f, "port%u.tx_tso %" PRIu64 "\n", i, st.tx_tso);
		fprintf(f, "port%u.tx_tso_segs %" PRIu64 "\n", i, st.tx_tso_segs);
		fprintf(f, "port%u.tx_tso_err %" PRIu64 "\n", i, st.tx_tso_err);
		fprintf(f, "port%u.queues_prewarmed %" PRIu64 "\n", i, st.queues_prewarmed);
	}
#if LWIP_STATS && TCP_STATS
	fprintf(f, "tcp.recv %u\ntcp.xmit %u\ntcp.drop %u\ntcp.chkerr %u\ntcp.memerr %u\n",
		(unsigned)lwip_stats.tcp.recv, (unsigned)lwip_stats.tcp.xmit,
		(unsigned)lwip_stats.tcp.drop, (unsigned)lwip_stats.tcp.chkerr,
		(unsigned)lwip_stats.tcp.memerr);
#endif
	{
		struct ns_syncookie_stats sc;

		ns_syncookie_stats(&sc);
		fprintf(f, "tcp.syncookies_sent %lu\ntcp.syncookies_recv %lu\n"
			"tcp.syncookies_failed %lu\ntcp.listen_overflows %lu\n",
			sc.sent, sc.recv, sc.failed, sc.listen_overflows);
	}
	{
		struct ns_demux_stats ds;

		ns_demux_get_stats(&ds);
		fprintf(f, "tcp.demux_hashed %lu\ntcp.demux_walked %lu\n"
			"tcp.demux_errors %lu\n", ds.hashed, ds.walked, ds.errors);
	}
#define PROTO_STATS(name, st) \
	fprintf(f, name ".recv %u\n" name ".xmit %u\n" name ".drop %u\n", \
		(unsigned)(st).recv, (unsigned)(st).xmit, (unsigned)(st).drop)
	PROTO_STATS("ip", lwip_stats.ip);
	PROTO_STATS("ipfrag", lwip_stats.ip_frag);
	PROTO_STATS("ip6", lwip_stats.ip6);
	PROTO_STATS("ip6frag", lwip_stats.ip6_frag);
	PROTO_STATS("icmp", lwip_stats.icmp);
	PROTO_STATS("nd6", lwip_stats.nd6);
	PROTO_STATS("icmp6", lwip_stats.icmp6);
	PROTO_STATS("udp", lwip_stats.udp);
	fprintf(f, "udp.chkerr %u\n", (unsigned)lwip_stats.udp.chkerr);
	PROTO_STATS("etharp", lwip_stats.etharp);
#undef PROTO_STATS
}
