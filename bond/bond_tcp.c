/*
 * TCP sockets on lwIP's raw API. Every entry point runs with the stack lock
 * held and never blocks; lwIP's callbacks run inside ns_poll() under the
 * same lock and only queue data and bump the readiness counter.
 *
 * Received data waits on the socket as a pbuf chain; the window opens
 * (tcp_recved) only by what the application has read, so a slow reader
 * slows its sender. close() hands the pcb back to lwIP with its queued data:
 * lwIP sends it, then the FIN, while the stack keeps being polled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>

#include "lwip/icmp.h"
#include "lwip/mem.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/icmp6.h"
#include "lwip/tcp.h"

#include "bond.h"
#include "bond_icmp.h"
#include "bond_lwip.h"
#include "ns.h"
#include "ns_icmp.h"
#include "ns_log.h"
#include "ns_memp.h"

#define BOND_TCP_RECVED_MAX	0xffff	/* tcp_recved() takes a u16_t */
#define BOND_TCP_WRITE_MAX	0xffff	/* tcp_write() takes a u16_t */
#define BOND_TCP_SYNQ_MAX	0xff	/* lwIP keeps its backlog in a u8_t */
#define BOND_TCP_MSS_DEFAULT	536	/* Linux's TCP_MSS_DEFAULT */
#define BOND_MS_PER_S		1000u
#define BOND_DRAIN_NAP_NS	100000	/* between polls while draining at exit */
#define BOND_ACKS_OWED_MAX	64
#define BOND_TCP_PMTU_MIN4	552	/* Linux's net.ipv4.route.min_pmtu */
#define BOND_TCP_PMTU_MIN6	1280	/* IPV6_MIN_MTU */
#define BOND_CORK_CEILING_NS	(200 * BOND_NS_PER_MS)	/* Linux's */

enum bond_tcp_state {
	BT_NEW,			/* no pcb yet */
	BT_BOUND,
	BT_LISTEN,
	BT_CONNECTING,
	BT_CONNECTED,
	BT_DEAD,		/* pcb gone: reset, refused, timed out */
};

struct bond_tcp {
	struct bond_sock sk;
	struct tcp_pcb *pcb;
	enum bond_tcp_state state;
	struct pbuf *rx;	/* received, not yet read (tot_len unused) */
	struct pbuf *rx_tail;
	size_t rx_len;
	bool rx_fin;		/* peer sent FIN */
	bool shut_rd;
	bool shut_wr;
	bool orphan;		/* closed by the app, waiting to queue its FIN */
	bool started_connect;	/* connect() made it (not accept) */
	bool connect_seen;	/* a connect() call has reported the connection */
	bool was_connected;	/* established once: Linux's SS_CONNECTED stays */
	bool ack_owed;		/* in acks_owed[] */
	/* an ICMP error kept for the report of a timeout (0: none), and the
	 * MSS the path's MTU allows (0: not known) */
	int err_soft;
	u16_t pmtu_mss;
	/* Nagle as Linux's (Minshall's): where the last segment under the
	 * MSS that went out ends (snd_sml) */
	u32_t small_end;
	bool out_owed;		/* in acks_owed[]: output() owed (on_sent) */
	struct bond_errq_list eq;	/* the error queue (IP_RECVERR) */
	/* TCP_USER_TIMEOUT: since when the oldest data in flight waits for
	 * its ACK (0: none, or not known yet) */
	uint64_t stall_ns;
	/* TCP_DEFER_ACCEPT: waiting in the accept queue of acc_listener,
	 * not yet handed to accept(), until data comes or defer_end_ns */
	bool deferred;
	uint64_t defer_end_ns;
	struct bond_tcp *acc_listener;
	/* TCP_CORK, MSG_MORE: the partial tail held back (under one MSS) */
	u8_t *cork_buf;
	u16_t cork_len, cork_cap;
	uint64_t cork_due_ns;	/* when it goes anyway (Linux's ceiling) */
	bool cork_force;	/* uncorked: it goes as soon as lwIP has room */
	bool fin_owed;		/* shut down for writing: the FIN follows it */
	bool cork_listed;	/* on the corked list */
	struct bond_tcp *cork_next, **cork_pprev;
	/* addresses, kept past the pcb's life */
	ip_addr_t local_ip, remote_ip;
	u16_t local_port, remote_port;
	/* listener: connections waiting for accept() */
	struct bond_tcp *acc_head, *acc_tail;
	struct bond_tcp *acc_next;
	unsigned int acc_n;
	unsigned int acc_deferred;	/* of them, TCP_DEFER_ACCEPT's */
	/* listen()'s backlog, capped at somaxconn: the accept queue holds
	 * one more (Linux's sk_max_ack_backlog); lwIP's own, the SYN queue,
	 * is at most BOND_TCP_SYNQ_MAX (SYN cookies beyond it) */
	unsigned int backlog;
	struct bond_tcp *orphan_next;
	/* SO_REUSEPORT group: listening sockets on one address and port */
	struct bond_tcp *rp_owner;	/* the member whose pcb listens; NULL: none */
	struct bond_tcp *rp_next;	/* next member, the owner first */
	struct bond_tcp *rp_cursor;	/* owner: the next member to get one */
	struct bond_tcp *rp_groups_next;	/* owner: the next group */
};

/* Closed sockets whose FIN could not be queued yet (out of memory). */
static struct bond_tcp *orphans BOND_SHARED;
/*
 * SO_REUSEPORT: lwIP keeps one listen pcb per address and port, so the
 * listening sockets that share one (in one process or several) form a
 * group around the first one's pcb; new connections go to the members in
 * turn, as Linux spreads them over its reuseport group. The owners of the
 * groups, linked by rp_groups_next.
 */
static struct bond_tcp *rp_groups BOND_SHARED;

/*
 * ACKs owed for data the application has read. lwIP delays the ACK of a
 * lone segment until its fast timer (up to 250 ms), and a peer that writes
 * twice before it reads (Nagle) holds its second write until that ACK.
 * Linux avoids most of it with quick-ACK mode. Here a read that leaves
 * the ACK delayed notes the socket, and the next poll of the stack sends
 * it: a poll comes when the application waits again without having
 * answered (an answer carries the ACK, and lwIP clears the delay), or at
 * the service thread's turn. Request/response traffic sends nothing more.
 */
static struct {
	uint32_t idx;
	uint64_t id;
} acks_owed[BOND_ACKS_OWED_MAX] BOND_SHARED;
static unsigned int n_acks_owed BOND_SHARED;

static bool tail_held(const struct bond_tcp *t, const struct tcp_pcb *pcb);
static void output_nodelay(struct tcp_pcb *pcb);
static void output(struct bond_tcp *t);

/* t owes the stack's next poll something (an ACK; output() with
 * out_owed): on the list once. */
static void
owe(struct bond_tcp *t)
{
	if (t->ack_owed || n_acks_owed >= BOND_ACKS_OWED_MAX)
		return;
	acks_owed[n_acks_owed].idx = t->sk.idx;
	acks_owed[n_acks_owed].id = t->sk.id;
	n_acks_owed++;
	t->ack_owed = true;
}

/*
 * TCP_CORK and MSG_MORE. lwIP sends every segment it holds, a partial last
 * one too, as soon as the window and Nagle allow; Linux holds a partial
 * frame while corked. So a corked socket gives lwIP whole segments only
 * and keeps the partial tail itself (cork_buf, under one MSS), which goes
 * when the cork comes off, with the next send without MSG_MORE, at
 * shutdown or close, on TCP_NODELAY, or after Linux's 200 ms ceiling. A
 * socket holding a tail, or a FIN owed after it, is on the corked list,
 * looked at before each poll (bond_tcp_flush_corks): whatever lwIP had no
 * room for goes as soon as it has.
 */
static struct bond_tcp *corked BOND_SHARED;

static inline struct bond_tcp *
bt_of(struct bond_sock *sk)
{
	return (struct bond_tcp *)sk;
}

static void
bump(struct bond_tcp *t)
{
	bond_sock_bump(&t->sk);
}

static void
cache_addrs(struct bond_tcp *t)
{
	if (t->pcb == NULL)
		return;
	ip_addr_copy(t->local_ip, t->pcb->local_ip);
	t->local_port = t->pcb->local_port;
	if (t->state != BT_LISTEN) {
		ip_addr_copy(t->remote_ip, t->pcb->remote_ip);
		t->remote_port = t->pcb->remote_port;
	}
}

static struct bond_tcp *
bt_alloc(int family)
{
	/* lwIP's heap: shared by every process of the stack, like the pcb. */
	struct bond_tcp *t = mem_calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	bond_sock_init(&t->sk, &bond_tcp_proto, family);
	t->sk.opt.rcvbuf = TCP_WND;
	t->sk.opt.sndbuf = TCP_SND_BUF;
	/* lwIP's keepalive defaults are Linux's (7200 s, 75 s, 9): report them */
	t->sk.opt.keepidle_s = (int)(TCP_KEEPIDLE_DEFAULT / BOND_MS_PER_S);
	t->sk.opt.keepintvl_s = (int)(TCP_KEEPINTVL_DEFAULT / BOND_MS_PER_S);
	t->sk.opt.keepcnt = (int)TCP_KEEPCNT_DEFAULT;
	t->state = BT_NEW;
	return t;
}

static struct bond_sock *
bt_create(int family)
{
	struct bond_tcp *t = bt_alloc(family);

	return t != NULL ? &t->sk : NULL;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb);

static void
bt_apply_opts(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);
	struct tcp_pcb *pcb = t->pcb;

	if (pcb == NULL)
		return;
	if (sk->opt.reuseaddr || sk->opt.reuseport)
		ip_set_option(pcb, SOF_REUSEADDR);
	else
		ip_reset_option(pcb, SOF_REUSEADDR);
	/* SO_BINDTODEVICE: only that port's traffic, in and out */
	tcp_bind_netif(pcb, sk->opt.dev_port >= 0 ?
		       ns_netif((unsigned int)sk->opt.dev_port) : NULL);
	/* IPv4 segments' DF (ns.h); a SYN|ACK has it whatever this says */
	if (sk->opt.pmtudisc == IP_PMTUDISC_DO || sk->opt.pmtudisc == IP_PMTUDISC_WANT)
		ip_reset_option(pcb, NS_SOF_NODF);
	else
		ip_set_option(pcb, NS_SOF_NODF);
	if (t->state == BT_LISTEN)
		return;	/* a listen pcb has no more fields */
	if (sk->opt.keepalive)
		ip_set_option(pcb, SOF_KEEPALIVE);
	else
		ip_reset_option(pcb, SOF_KEEPALIVE);
	if (sk->opt.nodelay)
		tcp_nagle_disable(pcb);
	else
		tcp_nagle_enable(pcb);
	if (sk->opt.keepidle_s)
		pcb->keep_idle = (u32_t)sk->opt.keepidle_s * BOND_MS_PER_S;
	if (sk->opt.keepintvl_s)
		pcb->keep_intvl = (u32_t)sk->opt.keepintvl_s * BOND_MS_PER_S;
	if (sk->opt.keepcnt)
		pcb->keep_cnt = (u32_t)sk->opt.keepcnt;
	/* IPv4 traffic (an IPv4 socket, or v4-mapped) or IPv6 */
	if (sk->family == AF_INET || IP_IS_V4_VAL(pcb->remote_ip)) {
		pcb->tos = (u8_t)sk->opt.tos;
		pcb->ttl = (u8_t)sk->opt.ttl;
	} else {
		pcb->tos = (u8_t)sk->opt.tclass;
		pcb->ttl = (u8_t)sk->opt.hops;
	}
	if (sk->opt.user_mss != 0 && pcb->mss > sk->opt.user_mss)
		pcb->mss = (u16_t)sk->opt.user_mss;
	if (t->pmtu_mss != 0 && pcb->mss > t->pmtu_mss)
		pcb->mss = t->pmtu_mss;
	if (sk->opt.user_timeout_ms == 0)
		t->stall_ns = 0;	/* set again: the clock starts anew */
	if (sk->opt.user_timeout_ms != 0 || t->deferred)
		tcp_poll(pcb, on_poll, 1);	/* every slow tick, 500 ms */
	else if (pcb->poll != NULL)
		tcp_poll(pcb, NULL, 0);
}

/* ---- TCP-level options ---- */

static void
bt_ack_now(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);

	if (t->pcb != NULL && t->state != BT_LISTEN &&
	    (t->pcb->flags & TF_ACK_DELAY)) {
		tcp_ack_now(t->pcb);
		tcp_output(t->pcb);
	}
}

/* Linux: the MSS in use; before a connection (or listening), what was set,
 * else TCP_MSS_DEFAULT. */
static int
bt_maxseg(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);
	bool open = t->pcb != NULL && t->state != BT_LISTEN &&
		    t->pcb->state != CLOSED;

	if (!open)
		return sk->opt.user_mss != 0 ? sk->opt.user_mss : BOND_TCP_MSS_DEFAULT;
	return t->pcb->mss;
}

/* IP_MTU: a connection's path, from its SYN on (Linux sets the socket's
 * route at connect and accept). */
static int
bt_path_mtu(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);
	uint32_t mtu;

	if (t->pcb == NULL || t->state == BT_LISTEN || t->pcb->state == CLOSED)
		return -ENOTCONN;
	mtu = bond_path_mtu(&t->pcb->local_ip, &t->pcb->remote_ip,
			    t->pcb->netif_idx);
	return mtu != 0 ? (int)mtu : -ENOTCONN;
}

/* Linux's TCP states, indexed by lwIP's. */
static const u8_t linux_state[] = {
	[CLOSED] = BOND_TCPS_CLOSE, [LISTEN] = BOND_TCPS_LISTEN,
	[SYN_SENT] = BOND_TCPS_SYN_SENT, [SYN_RCVD] = BOND_TCPS_SYN_RECV,
	[ESTABLISHED] = BOND_TCPS_ESTABLISHED, [FIN_WAIT_1] = BOND_TCPS_FIN_WAIT1,
	[FIN_WAIT_2] = BOND_TCPS_FIN_WAIT2, [CLOSE_WAIT] = BOND_TCPS_CLOSE_WAIT,
	[CLOSING] = BOND_TCPS_CLOSING, [LAST_ACK] = BOND_TCPS_LAST_ACK,
	[TIME_WAIT] = BOND_TCPS_TIME_WAIT,
};

#define BOND_US_PER_TICK	(TCP_SLOW_INTERVAL * 1000u)

static void pcb_info(struct tcp_pcb *pcb, struct bond_tcp_info *ti);

/* What lwIP knows of a connection, for TCP_INFO: its RTT estimate counts
 * in slow-timer ticks (500 ms), so rtt and rttvar are that coarse. */
static void
bt_info(struct bond_sock *sk, struct bond_tcp_info *ti)
{
	struct bond_tcp *t = bt_of(sk);
	struct tcp_pcb *pcb = t->pcb;

	memset(ti, 0, sizeof(*ti));
	ti->state = linux_state[CLOSED];
	if (pcb == NULL)
		return;
	if (t->state == BT_LISTEN) {
		ti->state = linux_state[LISTEN];
		ti->unacked = t->acc_n;	/* as Linux reports a listener */
		ti->sacked = t->backlog;
		return;
	}
	pcb_info(pcb, ti);
}

/* What lwIP knows of a connection's pcb (not a listener's). */
static void
pcb_info(struct tcp_pcb *pcb, struct bond_tcp_info *ti)
{
	u32_t mss;

	if (pcb->state < LWIP_ARRAYSIZE(linux_state))
		ti->state = linux_state[pcb->state];
	mss = pcb->mss != 0 ? pcb->mss : 1;
	ti->retransmits = pcb->nrtx;
	ti->rto_us = (u32_t)pcb->rto * BOND_US_PER_TICK;
	ti->mss = pcb->mss;
	for (struct tcp_seg *seg = pcb->unacked; seg != NULL; seg = seg->next)
		ti->unacked++;
	ti->rtt_us = (u32_t)(pcb->sa >> 3) * BOND_US_PER_TICK;
	ti->rttvar_us = (u32_t)(pcb->sv >> 2) * BOND_US_PER_TICK;
	ti->ssthresh = pcb->ssthresh / mss;
	ti->cwnd = pcb->cwnd / mss;
	ti->rcv_space = pcb->rcv_wnd;
#if LWIP_WND_SCALE
	if (pcb->flags & TF_WND_SCALE) {
		ti->wscale = true;
		ti->snd_wscale = pcb->snd_scale;
		ti->rcv_wscale = pcb->rcv_scale;
	}
#endif
#if LWIP_TCP_SACK_OUT
	ti->sack = (pcb->flags & TF_SACK) != 0;
#endif
	if (pcb->netif_idx != NETIF_NO_INDEX) {
		struct netif *n = netif_get_by_index(pcb->netif_idx);

		if (n != NULL)
			ti->pmtu = n->mtu;
	}
}

/* ---- lwIP callbacks ---- */

static void unhook_pcb(struct tcp_pcb *pcb);

/* A deferred connection becomes one accept() takes (TCP_DEFER_ACCEPT). */
static void
undefer(struct bond_tcp *t)
{
	if (!t->deferred)
		return;
	t->deferred = false;
	if (t->acc_listener != NULL) {
		t->acc_listener->acc_deferred--;
		bump(t->acc_listener);
	}
}

static err_t
on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct bond_tcp *t = arg;

	undefer(t);	/* data or a FIN: Linux establishes it now */
	t->err_soft = 0;	/* as on_sent: the peer answers */
	if (p == NULL) {
		t->rx_fin = true;
		if (pcb->state == TIME_WAIT) {
			/* Both sides are done (we shut down first): lwIP's
			 * timer frees a TIME-WAIT pcb without a word, so let
			 * go of it now. Linux's socket is CLOSE here too. */
			unhook_pcb(pcb);
			t->pcb = NULL;
		}
		bump(t);
		return ERR_OK;
	}
	t->rx_len += p->tot_len;
	/* Chain by hand: pbuf_cat walks the whole queue and tot_len is
	 * only 16 bits wide, while a window holds megabytes. */
	if (t->rx == NULL)
		t->rx = p;
	else
		t->rx_tail->next = p;
	while (p->next != NULL)
		p = p->next;
	t->rx_tail = p;
	bump(t);
	return ERR_OK;
}

static err_t
on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct bond_tcp *t = arg;

	t->err_soft = 0;	/* Linux's tcp_ack: something worked */
	if (TCP_SEQ_LT(t->small_end, pcb->lastack))
		t->small_end = pcb->lastack;	/* never 2 GiB behind */
	/* a small tail held behind the small segment just acknowledged goes
	 * (tail_held); not from here: tcp_input's own tcp_output, after the
	 * callbacks, would hold it until all is acknowledged */
	if (!t->out_owed && !t->sk.opt.cork && tail_held(t, pcb)) {
		t->out_owed = true;
		owe(t);
		if (!t->ack_owed)
			t->out_owed = false;	/* the list is full */
	}
	if (t->sk.opt.user_timeout_ms != 0)	/* progress: the clock restarts */
		t->stall_ns = pcb->unacked != NULL || pcb->unsent != NULL ?
			      bond_stack->now_ns() : 0;
	bump(t);
	return ERR_OK;
}

/*
 * TCP_USER_TIMEOUT, from lwIP's slow timer (every 500 ms, so up to that
 * late): give an established connection up with ETIMEDOUT, as Linux does,
 * once data in flight has waited longer than the timeout for its ACK. A zero window
 * whose probes the peer answers holds nothing in flight and is not given
 * up (Linux gives up one whose probes go unanswered; lwIP's persist timer
 * does not say).
 */
static err_t
on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct bond_tcp *t = arg;
	uint64_t now;

	if (t == NULL)
		return ERR_OK;
	now = bond_stack->now_ns();
	if (t->deferred && now >= t->defer_end_ns)
		undefer(t);	/* Linux accepts it on the ACK after the period */
	if (t->sk.opt.user_timeout_ms == 0)
		return ERR_OK;
	if (pcb->state < ESTABLISHED) {
		t->stall_ns = 0;	/* Linux: a handshake has its own retries */
		return ERR_OK;
	}
	if (pcb->unacked == NULL) {
		t->stall_ns = pcb->unsent != NULL ? now : 0;
		return ERR_OK;
	}
	if (t->stall_ns == 0) {
		t->stall_ns = now;
		return ERR_OK;
	}
	if (now - t->stall_ns <
	    (uint64_t)t->sk.opt.user_timeout_ms * BOND_NS_PER_MS)
		return ERR_OK;
	tcp_abort(pcb);	/* on_err: lwIP's ERR_ABRT, ETIMEDOUT */
	return ERR_ABRT;
}

static void
on_err(void *arg, err_t err)
{
	struct bond_tcp *t = arg;

	/* lwIP has freed the pcb. ERR_CLSD: LAST-ACK got its ACK, a close
	 * both ends made, no error (Linux's TCP_CLOSE after it: HUP, not ERR) */
	t->pcb = NULL;
	t->sk.so_error = err == ERR_CLSD ? 0 : -bond_errno(err, t->state == BT_CONNECTING);
	if (err == ERR_ABRT && t->err_soft != 0)
		t->sk.so_error = t->err_soft;	/* Linux's tcp_write_err */
	t->state = BT_DEAD;
	undefer(t);	/* accept() hands it over with its error */
	bump(t);
}

/* A new connection (connected, accepted) to a destination whose path MTU
 * is known starts with the MSS it allows. */
static void
pmtu_start(struct bond_tcp *t, const struct tcp_pcb *pcb)
{
	uint32_t mtu = bond_pmtu4_get(&pcb->remote_ip);

	if (mtu != 0)
		t->pmtu_mss = (u16_t)(mtu - IP_HLEN - TCP_HLEN);
}

static err_t
on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct bond_tcp *t = arg;

	t->state = BT_CONNECTED;
	t->was_connected = true;
	cache_addrs(t);
	pmtu_start(t, pcb);
	t->small_end = pcb->lastack;	/* Linux's snd_sml: none yet */
	bt_apply_opts(&t->sk);	/* the MSS lwIP just chose, the peer's family */
	bump(t);
	return ERR_OK;
}

static void
hook_pcb(struct bond_tcp *t)
{
	tcp_arg(t->pcb, t);
	tcp_recv(t->pcb, on_recv);
	tcp_sent(t->pcb, on_sent);
	tcp_err(t->pcb, on_err);
}

static void
unhook_pcb(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);	/* lwIP's default frees what still arrives */
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
}

/* The member of l's reuseport group (or l) that gets the next connection. */
static struct bond_tcp *
rp_pick(struct bond_tcp *l)
{
	struct bond_tcp *m;

	if (l->rp_owner == NULL)
		return l;
	m = l->rp_cursor != NULL ? l->rp_cursor : l;
	l->rp_cursor = m->rp_next;
	return m;
}

/*
 * Linux's sk_acceptq_is_full() for netstack's SYN handling: backlog + 1
 * connections wait for accept() (lwIP's own count, accepts_pending, is the
 * SYN queue). In a SO_REUSEPORT group, the member the next one goes to.
 */
static bool
acceptq_full(const struct tcp_pcb_listen *lpcb)
{
	struct bond_tcp *l = lpcb->callback_arg, *m;

	if (l == NULL)
		return false;
	m = l->rp_owner == NULL || l->rp_cursor == NULL ? l : l->rp_cursor;
	/* TCP_DEFER_ACCEPT's wait where Linux's SYN queue would hold them,
	 * as many again as the backlog */
	return m->acc_n - m->acc_deferred > m->backlog ||
	       m->acc_deferred > m->backlog;
}

/* ---- `zpnet stats`: connections no application socket refers to ---- */

/* pcb is the connection of a socket an application holds. */
static bool
app_owned(struct tcp_pcb *pcb)
{
	struct bond_tcp *t = pcb->callback_arg;

	return t != NULL && t->pcb == pcb &&
	       bond_sock_at(t->sk.idx, t->sk.id) == &t->sk;
}

static unsigned int
stats_pcbs(uint32_t *cursor, struct bond_pcb_stat *out, unsigned int max,
	   bool *done)
{
	struct tcp_pcb *pcbs[BOND_STATS_PCB_CHUNK];
	u32_t c = *cursor;
	unsigned int got, n = 0;

	if (max > BOND_STATS_PCB_CHUNK)
		max = BOND_STATS_PCB_CHUNK;
	got = ns_tcp_pcb_next(&c, pcbs, max);
	*cursor = c;
	*done = got == 0;
	for (unsigned int i = 0; i < got; i++) {
		struct tcp_pcb *pcb = pcbs[i];
		struct bond_pcb_stat *o = &out[n];
		struct bond_tcp *t = pcb->callback_arg;
		socklen_t len = sizeof(o->local);

		if (app_owned(pcb) || pcb->state == CLOSED)
			continue;
		memset(o, 0, sizeof(*o));
		o->family = IP_IS_V6(&pcb->local_ip) ? AF_INET6 : AF_INET;
		bond_ip_to_sa(o->family, &pcb->local_ip, pcb->local_port,
			      (struct sockaddr *)&o->local, &len);
		len = sizeof(o->peer);
		bond_ip_to_sa(o->family, &pcb->remote_ip, pcb->remote_port,
			      (struct sockaddr *)&o->peer, &len);
		pcb_info(pcb, &o->st.ti);
		o->st.state = o->st.ti.state;
		o->st.txq = pcb->snd_lbb - pcb->lastack;
		o->st.snd_wnd = pcb->snd_wnd;
		/* waiting for accept(): what arrived meanwhile */
		if (t != NULL && t->pcb == pcb)
			o->st.rxq = t->rx_len > UINT32_MAX ? UINT32_MAX : (uint32_t)t->rx_len;
		n++;
	}
	return n;
}

/*
 * lwIP frees a pcb: a socket still holding it lets go. Every way lwIP
 * frees a connection it tells on_err of, but two: a TIME-WAIT pcb at the
 * end of 2 MSL (tcp_slowtmr), and so one a simultaneous close brought
 * there (CLOSING to TIME-WAIT on an ACK, which brings no callback; on_recv
 * lets go of the other ones, reached by the peer's FIN). The socket reads
 * as closed from then on, as Linux's does.
 */
static void
pcb_freed(struct tcp_pcb *pcb)
{
	struct bond_tcp *t = pcb->callback_arg;

	if (t != NULL && t->pcb == pcb)
		t->pcb = NULL;
}

/*
 * Path MTU (RFC 1191, RFC 8201): fragmentation needed, or ICMPv6's packet
 * too big, about a segment in flight, as Linux's tcp_v4_mtu_reduced and
 * tcp_v6_mtu_reduced take it. An IPv4 MTU under 552 counts as 552 (Linux's
 * min_pmtu; the connection keeps a soft EMSGSIZE); an IPv6 one under 1,280
 * is ignored. A smaller MSS holds from then on (pmtu_mss: also past the
 * handshake, where lwIP would take the peer's again), every queued segment
 * larger than it is cut to size, and what was in flight goes again at once,
 * as after an RTO (Linux's tcp_simple_retransmit sends only the segments
 * that were too large). t: NULL for a pcb the application closed, whose
 * data still has to arrive.
 */
static void
mtu_reduced(struct bond_tcp *t, struct tcp_pcb *pcb,
	    const struct ns_icmp_error *e)
{
	uint32_t mtu = e->info, mss;
	struct tcp_seg *head;
	u16_t need = 0;
	bool rexmit, ignored;

	if (e->v6 && mtu < BOND_TCP_PMTU_MIN6)
		return;
	/* tcp_v4_mtu_reduced: the connection follows it unless its policy
	 * is DONT, INTERFACE or OMIT; tcp_v6_err: unless INTERFACE or OMIT
	 * (the route learns it all the same) */
	ignored = t != NULL &&
		  (e->v6 ? t->sk.opt.pmtudisc6 == IPV6_PMTUDISC_INTERFACE ||
			   t->sk.opt.pmtudisc6 == IPV6_PMTUDISC_OMIT :
			   t->sk.opt.pmtudisc == IP_PMTUDISC_DONT ||
			   t->sk.opt.pmtudisc == IP_PMTUDISC_INTERFACE ||
			   t->sk.opt.pmtudisc == IP_PMTUDISC_OMIT);
	if (!e->v6 && mtu < BOND_TCP_PMTU_MIN4) {
		mtu = BOND_TCP_PMTU_MIN4;
		if (t != NULL && !ignored)
			t->err_soft = EMSGSIZE;
	}
	if (!e->v6 && mtu < 0xffff)
		bond_pmtu4_learn(&pcb->remote_ip, mtu);
	if (ignored)
		return;
	mss = mtu - (e->v6 ? IP6_HLEN : IP_HLEN) - TCP_HLEN;
	if (mss >= pcb->mss)
		return;
	pcb->mss = (u16_t)mss;
	if (pcb->state >= ESTABLISHED) {
		/* the sent ones to the head of the unsent, as an RTO does;
		 * but not while the driver holds one (no such driver here) */
		rexmit = pcb->unacked != NULL && tcp_rexmit_rto_prepare(pcb) == ERR_OK;
		head = pcb->unsent;
		for (struct tcp_seg *seg = head; seg != NULL; seg = seg->next) {
			u16_t opt = (u16_t)LWIP_TCP_OPT_LENGTH(seg->flags);
			u16_t room = (u16_t)(mss - opt);
			u16_t moved = TCPH_FLAGS(seg->tcphdr) & (TCP_FIN | TCP_PSH);

			if (seg->len <= room)
				continue;
			/* lwIP splits the head of the unsent: make seg it */
			pcb->unsent = seg;
			if (need == 0 && tcp_split_unsent_seg(pcb, room) == ERR_OK) {
				/* lwIP gives FIN and PSH to the rest but
				 * leaves them on the first part too */
				TCPH_UNSET_FLAG(seg->tcphdr, moved);
			} else if (seg->len + opt > need) {
				need = (u16_t)(seg->len + opt);	/* out of memory */
			}
		}
		pcb->unsent = head;
		/* a segment left whole: the MSS may not be under it (lwIP's
		 * tcp_write asserts it); the next error about it tries again */
		if (need > pcb->mss)
			pcb->mss = need;
		if (rexmit)
			output_nodelay(pcb);	/* sent again, not held as new data */
	}
	if (t != NULL)
		t->pmtu_mss = pcb->mss;
}

/*
 * Whether an error about its SYN-ACK drops a connection in SYN-RECEIVED,
 * as Linux's tcp_v4_err and tcp_v6_err decide for a request: for IPv4 net
 * and host unreachable, time exceeded and parameter problem (port
 * unreachable, for one, is not); for IPv6 what icmpv6_err_convert calls
 * fatal.
 */
static bool
request_fatal(const struct ns_icmp_error *e)
{
	bool hard;

	if (e->v6)
		return bond_icmp_errno(e, &hard) != 0 && hard;
	return e->type == ICMP_PP || e->type == ICMP_TE ||
	       (e->type == ICMP_DUR &&
		(e->code == ICMP_DUR_NET || e->code == ICMP_DUR_HOST));
}

/*
 * An ICMP error (ns_icmp.c) about a segment of ours, as Linux's tcp_v4_err
 * and tcp_v6_err take it. It counts only if it quotes a sequence number in
 * flight (from the unacknowledged to the next). Then:
 * - fragmentation needed, packet too big: the path MTU (mtu_reduced);
 * - any other, in SYN-RECEIVED (a listener's connection not accepted
 *   yet): it is dropped without a word if the error is fatal for a
 *   request (request_fatal) and quotes the SYN-ACK's own number, as
 *   Linux's tcp_req_err; the peer's ACK then gets a RST;
 * - any other, in SYN-SENT: the connection ends at once with Linux's errno
 *   (EHOSTUNREACH, ECONNREFUSED...) and no RST, instead of retrying its
 *   SYN for two minutes; an IP_RECVERR socket also queues it;
 * - later, on an IP_RECVERR (IPV6_RECVERR) socket: the error is pending,
 *   the next call reports it once, the connection goes on;
 * - later, without: kept soft, reported only if the connection times
 *   out (instead of ETIMEDOUT), forgotten when the peer acknowledges data
 *   or sends some (Linux forgets it on any acceptable ACK; lwIP tells of
 *   neither a bare one nor a duplicate).
 */
static void
on_icmp_error(const struct ns_icmp_error *e)
{
	bool hard;

	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
		struct bond_tcp *t = pcb->callback_arg;
		bool recverr;
		int err;

		if (pcb->local_port != e->sport || pcb->remote_port != e->dport ||
		    !ip_addr_cmp(&pcb->local_ip, &e->src) ||
		    !ip_addr_cmp(&pcb->remote_ip, &e->dst))
			continue;
		/* Linux's check that it is about a segment in flight */
		if (TCP_SEQ_LT(e->seq, pcb->lastack) || TCP_SEQ_GT(e->seq, pcb->snd_nxt))
			return;
		if (pcb->errf != on_err)
			t = NULL;	/* closed, or a listener's SYN-RECEIVED */
		if ((!e->v6 && e->type == ICMP_DUR && e->code == ICMP_DUR_FRAG) ||
		    (e->v6 && e->type == ICMP6_TYPE_PTB)) {
			if (pcb->state != SYN_RCVD)
				mtu_reduced(t, pcb, e);
			return;
		}
		if (pcb->state == SYN_RCVD) {
			/* a request to Linux: dropped, silently, on a fatal
			 * error about the SYN-ACK itself (tcp_req_err) */
			if (e->seq == pcb->lastack && request_fatal(e))
				tcp_abandon(pcb, 0);
			return;
		}
		if (t == NULL)
			return;
		err = bond_icmp_errno(e, &hard);
		if (err == 0)
			return;
		recverr = e->v6 ? t->sk.opt.recverr6 : t->sk.opt.recverr;
		if (pcb->state == SYN_SENT) {
			if (recverr)	/* the TCP header on: Linux's quote */
				(void)bond_errq_add(&t->eq, e, err, e->l4, e->l4_len,
						    t->rx_len, t->sk.opt.rcvbuf);
			tcp_abandon(pcb, 0);	/* no RST, as tcp_done; on_err */
			t->sk.so_error = err;
		} else if (recverr) {
			t->sk.so_error = err;
			bump(t);
		} else {
			t->err_soft = err;
		}
		return;
	}
}

/* ns_tcp_set_segment_out: a segment with data went out; one under the
 * MSS is Minshall's (output()). */
static void
segment_out(const struct tcp_pcb *pcb, u32_t seq, u16_t len)
{
	struct bond_tcp *t = pcb->callback_arg;

	/* new data only, as Linux's tcp_minshall_update (lwIP moves
	 * snd_nxt past a segment once it is out) */
	if (pcb->errf == on_err && t != NULL && len < pcb->mss &&
	    TCP_SEQ_GEQ(seq, pcb->snd_nxt))
		t->small_end = seq + len;
}

void
bond_tcp_start(void)
{
	ns_icmp_tcp_error = on_icmp_error;
	ns_tcp_set_segment_out(segment_out);
	ns_tcp_set_pcb_freed(pcb_freed);
	ns_tcp_set_acceptq_full(acceptq_full);
	bond_stats_pcbs = stats_pcbs;
}

static err_t
on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct bond_tcp *l = arg, *t;

	if (err != ERR_OK || pcb == NULL || l == NULL)
		return ERR_VAL;
	l = rp_pick(l);
	t = bt_alloc(l->sk.family);
	if (t == NULL)
		return ERR_MEM;
	t->pcb = pcb;
	t->state = BT_CONNECTED;
	t->was_connected = true;
	t->sk.opt = l->sk.opt;	/* Linux: accepted sockets inherit options */
	t->sk.opt.defer_accept_s = 0;	/* but not the listener's queue */
	t->sk.opt.fastopen_qlen = 0;
	t->acc_listener = l;
	if (l->sk.opt.defer_accept_s > 0) {
		/* Linux keeps a connection that sent nothing yet in its SYN
		 * queue until data comes or the period ends */
		t->deferred = true;
		t->defer_end_ns = bond_stack->now_ns() +
				  (uint64_t)l->sk.opt.defer_accept_s * BOND_NS_PER_S;
	}
	hook_pcb(t);
	cache_addrs(t);
	pmtu_start(t, pcb);
	t->small_end = pcb->lastack;
	bt_apply_opts(&t->sk);
	if (l->acc_tail != NULL)
		l->acc_tail->acc_next = t;
	else
		l->acc_head = t;
	l->acc_tail = t;
	l->acc_n++;
	if (t->deferred)
		l->acc_deferred++;
	else
		bump(l);
	return ERR_OK;
}

/* ---- socket calls ---- */

static u8_t
pcb_type(struct bond_tcp *t, const ip_addr_t *ip)
{
	if (t->sk.family == AF_INET)
		return IPADDR_TYPE_V4;
	if (ip != NULL && IP_IS_V4(ip))
		return IPADDR_TYPE_V4;	/* v4-mapped */
	if (t->sk.opt.v6only || (ip != NULL && !ip_addr_isany(ip)))
		return IPADDR_TYPE_V6;
	return IPADDR_TYPE_ANY;	/* dual stack */
}

static int
ensure_pcb(struct bond_tcp *t, const ip_addr_t *ip)
{
	if (t->pcb != NULL)
		return 0;
	t->pcb = tcp_new_ip_type(pcb_type(t, ip));
	if (t->pcb == NULL)
		return -ENOBUFS;
	hook_pcb(t);
	bt_apply_opts(&t->sk);
	return 0;
}

static int
bt_bind(struct bond_sock *sk, const struct sockaddr *sa, socklen_t len)
{
	struct bond_tcp *t = bt_of(sk);
	ip_addr_t ip;
	u16_t port;
	err_t e;
	int rc;

	rc = bond_sa_to_ip(sk->family, sa, len, &ip, &port);
	if (rc < 0)
		return rc;
	if (t->state != BT_NEW || (t->pcb != NULL && t->pcb->local_port != 0))
		return -EINVAL;
	if (!ip_addr_isany(&ip) && !bond_ip_is_local(&ip))
		return -EADDRNOTAVAIL;
	rc = ensure_pcb(t, &ip);
	if (rc < 0)
		return rc;
	if (IP_GET_TYPE(&t->pcb->local_ip) == IPADDR_TYPE_ANY && ip_addr_isany(&ip))
		e = tcp_bind(t->pcb, IP_ANY_TYPE, port);
	else
		e = tcp_bind(t->pcb, &ip, port);
	if (e != ERR_OK)
		return bond_errno(e, false);
	t->state = BT_BOUND;
	cache_addrs(t);
	return 0;
}

static void free_tcp(struct bond_tcp *t);

/*
 * listen() on a socket bound with SO_REUSEPORT to an address and port
 * that a group listens on already: join it (its own bound pcb goes).
 * Returns false when there is no such group.
 */
static bool
rp_join(struct bond_tcp *t)
{
	struct bond_tcp *g, *m;

	if (!t->sk.opt.reuseport || t->state != BT_BOUND || t->pcb == NULL)
		return false;
	for (g = rp_groups; g != NULL; g = g->rp_groups_next)
		if (g->sk.family == t->sk.family && g->sk.opt.reuseport &&
		    g->local_port == t->pcb->local_port &&
		    ip_addr_cmp(&g->local_ip, &t->pcb->local_ip))
			break;
	if (g == NULL)
		return false;
	unhook_pcb(t->pcb);
	tcp_close(t->pcb);	/* bound, never connected: freed at once */
	t->pcb = NULL;
	t->state = BT_LISTEN;
	ip_addr_copy(t->local_ip, g->local_ip);
	t->local_port = g->local_port;
	for (m = g; m->rp_next != NULL; m = m->rp_next)
		;
	m->rp_next = t;
	t->rp_owner = g;
	return true;
}

/*
 * A member of a reuseport group closes: its waiting connections go to
 * another member (nothing is lost), and when it owned the group's pcb the
 * next member takes the pcb over. Returns false when t was alone.
 */
/*
 * lwIP copies a listener's arg into each connection at its SYN and hands
 * it to on_accept when the handshake completes: when the listener's
 * bond_tcp goes away, the handshakes in progress on its pcb must not keep
 * it (an accept into freed memory). to: the heir, or NULL (lwIP then
 * drops them: tcp_close of a listener clears their listener).
 */
static void
handshakes_rearg(struct tcp_pcb *lpcb, struct bond_tcp *from, struct bond_tcp *to)
{
	for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next)
		if (p->state == SYN_RCVD && p->listener == (struct tcp_pcb_listen *)(void *)lpcb &&
		    p->callback_arg == from)
			p->callback_arg = to;
}

static bool
rp_leave(struct bond_tcp *t)
{
	struct bond_tcp *g = t->rp_owner, *heir, **pp;

	if (g == NULL)
		return false;
	heir = t == g ? g->rp_next : g;
	if (heir == NULL) {	/* the last one: the group goes with it */
		for (pp = &rp_groups; *pp != NULL; pp = &(*pp)->rp_groups_next)
			if (*pp == t) {
				*pp = t->rp_groups_next;
				break;
			}
		return false;
	}
	if (t->acc_head != NULL) {
		for (struct bond_tcp *c = t->acc_head; c != NULL; c = c->acc_next)
			c->acc_listener = heir;
		if (heir->acc_tail != NULL)
			heir->acc_tail->acc_next = t->acc_head;
		else
			heir->acc_head = t->acc_head;
		heir->acc_tail = t->acc_tail;
		heir->acc_n += t->acc_n;
		heir->acc_deferred += t->acc_deferred;
		t->acc_head = t->acc_tail = NULL;
		t->acc_n = 0;
		t->acc_deferred = 0;
		bump(heir);
	}
	if (t == g) {
		/* heir owns the pcb now, and the group's place in the list */
		heir->pcb = t->pcb;
		t->pcb = NULL;
		tcp_arg(heir->pcb, heir);
		handshakes_rearg(heir->pcb, t, heir);
		for (struct bond_tcp *m = heir; m != NULL; m = m->rp_next)
			m->rp_owner = heir;
		heir->rp_cursor = NULL;
		heir->rp_groups_next = t->rp_groups_next;
		for (pp = &rp_groups; *pp != NULL; pp = &(*pp)->rp_groups_next)
			if (*pp == t) {
				*pp = heir;
				break;
			}
	} else {
		for (pp = &g->rp_next; *pp != t; pp = &(*pp)->rp_next)
			;
		*pp = t->rp_next;
		if (g->rp_cursor == t)
			g->rp_cursor = t->rp_next;
	}
	free_tcp(t);
	return true;
}

static int
bt_listen(struct bond_sock *sk, int backlog)
{
	struct bond_tcp *t = bt_of(sk);
	struct tcp_pcb *lpcb;
	err_t e = ERR_OK;
	int rc, synq;

	/* Linux: the backlog as an unsigned number, capped at somaxconn (so
	 * a negative one is somaxconn); 0 lets one connection wait */
	if ((unsigned int)backlog > (unsigned int)bond_somaxconn())
		backlog = bond_somaxconn();
	synq = backlog < 1 ? 1 : backlog > BOND_TCP_SYNQ_MAX ?
	       BOND_TCP_SYNQ_MAX : backlog;
	if (t->state == BT_LISTEN) {
		/* Linux lets listen() be repeated, with a new backlog */
		t->backlog = (unsigned int)backlog;
		if ((t->rp_owner == t || t->rp_owner == NULL) && t->pcb != NULL)
			((struct tcp_pcb_listen *)(void *)t->pcb)->backlog = (u8_t)synq;
		return 0;
	}
	if (t->state != BT_NEW && t->state != BT_BOUND)
		return -EINVAL;
	t->backlog = (unsigned int)backlog;
	if (rp_join(t))
		return 0;
	rc = ensure_pcb(t, NULL);
	if (rc < 0)
		return rc;
	if (t->state == BT_NEW) {
		e = tcp_bind(t->pcb, IP_GET_TYPE(&t->pcb->local_ip) == IPADDR_TYPE_ANY ?
			     IP_ANY_TYPE : &t->pcb->local_ip, 0);
		if (e != ERR_OK)
			return bond_errno(e, false);
	}
	lpcb = tcp_listen_with_backlog_and_err(t->pcb, (u8_t)synq, &e);
	if (lpcb == NULL)
		return bond_errno(e, false);
	t->pcb = lpcb;
	t->state = BT_LISTEN;
	tcp_arg(lpcb, t);
	tcp_accept(lpcb, on_accept);
	cache_addrs(t);
	if (t->sk.opt.reuseport) {
		t->rp_owner = t;	/* a group of one, for now */
		t->rp_groups_next = rp_groups;
		rp_groups = t;
	}
	return 0;
}

static int
bt_accept(struct bond_sock *sk, struct bond_sock **out)
{
	struct bond_tcp *l = bt_of(sk), *t;

	struct bond_tcp *prev = NULL;

	if (l->state != BT_LISTEN)
		return -EINVAL;
	/* the first one not deferred (TCP_DEFER_ACCEPT): the head, unless
	 * the option is set */
	for (t = l->acc_head; t != NULL && t->deferred; t = t->acc_next)
		prev = t;
	if (t == NULL)
		return -EAGAIN;
	if (prev != NULL)
		prev->acc_next = t->acc_next;
	else
		l->acc_head = t->acc_next;
	if (l->acc_tail == t)
		l->acc_tail = prev;
	l->acc_n--;
	t->acc_next = NULL;
	t->acc_listener = NULL;
	*out = &t->sk;
	return 0;
}

static int
bt_connect(struct bond_sock *sk, const struct sockaddr *sa, socklen_t len)
{
	struct bond_tcp *t = bt_of(sk);
	ip_addr_t ip;
	u16_t port;
	err_t e;
	int rc;

	switch (t->state) {
	case BT_CONNECTING:
		return -EALREADY;
	case BT_CONNECTED:
		/* Linux: the first connect() after a non-blocking one
		 * completed reports success; later ones EISCONN. */
		if (t->started_connect && !t->connect_seen) {
			t->connect_seen = true;
			return 0;
		}
		return -EISCONN;
	case BT_LISTEN:
		return -EINVAL;
	case BT_DEAD:
		if (sk->so_error) {
			rc = -sk->so_error;
			sk->so_error = 0;
			return rc;
		}
		/* Linux: a connection's socket stays SS_CONNECTED once closed */
		return t->was_connected ? -EISCONN : -ECONNABORTED;
	default:
		break;
	}
	rc = bond_sa_to_ip(sk->family, sa, len, &ip, &port);
	if (rc < 0)
		return rc;
	if (port == 0 || ip_addr_isany(&ip))
		return -ECONNREFUSED;
	rc = ensure_pcb(t, &ip);
	if (rc < 0)
		return rc;
	if (IP_GET_TYPE(&t->pcb->local_ip) != IP_GET_TYPE(&ip) &&
	    IP_GET_TYPE(&t->pcb->local_ip) != IPADDR_TYPE_ANY)
		return -EAFNOSUPPORT;
	e = tcp_connect(t->pcb, &ip, port, on_connected);
	if (e != ERR_OK)
		return bond_errno(e, true);
	t->state = BT_CONNECTING;
	t->started_connect = true;
	cache_addrs(t);
	return -EINPROGRESS;
}

static void
consume(struct bond_tcp *t, size_t n)
{
	while (n > 0) {
		size_t step = n > BOND_TCP_RECVED_MAX ? BOND_TCP_RECVED_MAX : n;

		t->rx = pbuf_free_header(t->rx, (u16_t)step);
		t->rx_len -= step;
		if (t->pcb != NULL)
			tcp_recved(t->pcb, (u16_t)step);
		n -= step;
	}
	if (t->rx == NULL)
		t->rx_tail = NULL;
	if (t->pcb != NULL && (t->pcb->flags & TF_ACK_DELAY))
		owe(t);
}

BOND_GENERAL_REGS bool
bond_tcp_acks_owed(void)
{
	return BOND_PEEK(n_acks_owed) != 0;
}

void
bond_tcp_send_owed_acks(void)
{
	for (unsigned int i = 0; i < n_acks_owed; i++) {
		struct bond_sock *sk = bond_sock_at(acks_owed[i].idx, acks_owed[i].id);
		struct bond_tcp *t;

		if (sk == NULL)
			continue;	/* closed: lwIP's timer has it */
		t = bt_of(sk);
		t->ack_owed = false;
		if (t->out_owed && t->pcb != NULL)
			output(t);	/* carries the ACK, if any goes */
		t->out_owed = false;
		if (t->pcb != NULL && (t->pcb->flags & TF_ACK_DELAY)) {
			tcp_ack_now(t->pcb);
			tcp_output(t->pcb);
		}
	}
	n_acks_owed = 0;
}

static ssize_t
bt_recv(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	  int flags, struct sockaddr *from, socklen_t *fromlen)
{
	struct bond_tcp *t = bt_of(sk);
	size_t total = 0;

	/* Linux without SO_OOBINLINE: EINVAL while no urgent byte waits
	 * apart, which lwIP never keeps (urgent data comes inline) */
	if (flags & MSG_OOB)
		return t->state == BT_LISTEN ? -ENOTCONN : -EINVAL;
	if (t->rx_len > 0) {
		bool fault = false;

		for (int i = 0; i < iovcnt && total < t->rx_len && !fault; i++) {
			size_t want = iov[i].iov_len, c;

			if (want > t->rx_len - total)
				want = t->rx_len - total;
			/* Linux: what came before a fault, or EFAULT */
			c = bond_pbuf_to_user(t->rx, total, iov[i].iov_base, want);
			total += c;
			fault = c < want;
		}
		if (!(flags & MSG_PEEK))
			consume(t, total);
		if (fault && total == 0)
			return -EFAULT;
		if (from != NULL && fromlen != NULL)
			*fromlen = 0;	/* Linux leaves TCP's source unset */
		return (ssize_t)total;
	}
	if (t->state == BT_NEW || t->state == BT_BOUND || t->state == BT_LISTEN)
		return -ENOTCONN;
	if (sk->so_error) {
		int e = sk->so_error;

		sk->so_error = 0;
		return -e;
	}
	if (t->rx_fin || t->shut_rd || t->state == BT_DEAD)
		return 0;
	return -EAGAIN;
}

/* proto->rx_idle (bond.h): where bt_recv would say EAGAIN, connected. */
static BOND_GENERAL_REGS bool
bt_rx_idle(const struct bond_sock *sk)
{
	const struct bond_tcp *t = (const struct bond_tcp *)sk;

	return BOND_PEEK(t->rx_len) == 0 &&
	       BOND_PEEK(t->state) == BT_CONNECTED &&
	       BOND_PEEK(sk->so_error) == 0 && !BOND_PEEK(t->rx_fin) &&
	       !BOND_PEEK(t->shut_rd);
}

/*
 * Whether lwIP's Nagle holds a tail Linux's (Minshall's variant,
 * tcp_nagle_check) would send: one segment under the MSS left unsent
 * behind data in flight, Nagle on, and no segment under the MSS
 * unacknowledged (small_end, segment_out). lwIP's tcp_output holds such
 * a tail behind any unacknowledged data, so the tail of a write longer
 * than the MSS would go an RTT (or the peer's delayed ACK, 40 ms) later.
 */
static bool
tail_held(const struct bond_tcp *t, const struct tcp_pcb *pcb)
{
	const struct tcp_seg *seg = pcb->unsent;

	return seg != NULL && seg->next == NULL && pcb->unacked != NULL &&
	       !tcp_nagle_disabled(pcb) &&
	       seg->len + LWIP_TCP_OPT_LENGTH(seg->flags) < pcb->mss &&
	       !(TCP_SEQ_GT(t->small_end, pcb->lastack) &&
		 TCP_SEQ_LEQ(t->small_end, pcb->snd_nxt));
}

/* tcp_output with Nagle off for the call: what it holds goes (within
 * the window). */
static void
output_nodelay(struct tcp_pcb *pcb)
{
	if (tcp_nagle_disabled(pcb)) {
		tcp_output(pcb);
		return;
	}
	tcp_nagle_disable(pcb);
	tcp_output(pcb);
	tcp_nagle_enable(pcb);
}

/* Send what lwIP may, with Nagle as Linux has it (tail_held). */
static void
output(struct bond_tcp *t)
{
	tcp_output(t->pcb);
	if (tail_held(t, t->pcb))
		output_nodelay(t->pcb);
}

/* ---- TCP_CORK, MSG_MORE (see corked) ---- */

/* Hand the held tail to lwIP (more: data follows, no PSH); false when
 * lwIP has no room for it now. */
static bool
cork_push(struct bond_tcp *t, bool more)
{
	if (t->cork_len == 0)
		return true;
	if (t->pcb == NULL) {
		t->cork_len = 0;	/* reset: nothing goes anywhere */
		return true;
	}
	if (t->pcb->snd_buf < t->cork_len ||
	    tcp_sndqueuelen(t->pcb) >= TCP_SND_QUEUELEN ||
	    tcp_write(t->pcb, t->cork_buf, t->cork_len, TCP_WRITE_FLAG_COPY |
		      (more ? TCP_WRITE_FLAG_MORE : 0)) != ERR_OK)
		return false;
	t->cork_len = 0;
	t->cork_force = false;
	return true;
}

static void
cork_list(struct bond_tcp *t)
{
	if (t->cork_listed)
		return;
	t->cork_next = corked;
	if (corked != NULL)
		corked->cork_pprev = &t->cork_next;
	t->cork_pprev = &corked;
	corked = t;
	t->cork_listed = true;
}

static void
cork_unlist(struct bond_tcp *t)
{
	if (!t->cork_listed)
		return;
	*t->cork_pprev = t->cork_next;
	if (t->cork_next != NULL)
		t->cork_next->cork_pprev = t->cork_pprev;
	t->cork_listed = false;
}

/* The tail, then the owed FIN, as far as lwIP takes them now: true when
 * nothing is left. */
static bool
cork_settle(struct bond_tcp *t)
{
	if (!cork_push(t, false))
		return false;
	if (t->fin_owed) {
		if (t->pcb != NULL && tcp_shutdown(t->pcb, 0, 1) == ERR_MEM)
			return false;
		t->fin_owed = false;
	}
	if (t->pcb != NULL)
		output(t);
	return true;
}

void
bond_tcp_flush_corks(void)
{
	struct bond_tcp **pp = &corked;
	uint64_t now;

	if (corked == NULL)
		return;
	now = bond_stack->now_ns();
	while (*pp != NULL) {
		struct bond_tcp *t = *pp;

		if ((t->cork_len > 0 || t->fin_owed) &&
		    (t->cork_force || t->fin_owed || now >= t->cork_due_ns) &&
		    !cork_settle(t)) {
			pp = &t->cork_next;	/* no room yet */
			continue;
		}
		if (t->cork_len > 0) {
			pp = &t->cork_next;	/* still corked, not due */
			continue;
		}
		cork_unlist(t);	/* *pp is the next one now */
	}
}

/* The tail goes as soon as lwIP has room: now, or from the list. */
static void
cork_release(struct bond_tcp *t)
{
	if (t->cork_len == 0 && !t->fin_owed)
		return;
	t->cork_force = true;
	if (!cork_settle(t))
		cork_list(t);
}

/* proto->flush: TCP_CORK off, TCP_NODELAY on: the held tail goes, and
 * what lwIP holds (Linux's tcp_push_pending_frames). */
static void
bt_flush(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);

	cork_release(t);
	if (t->pcb != NULL && t->state == BT_CONNECTED)
		output(t);
}

/* A corked send: whole segments to lwIP, the partial tail kept. */
static ssize_t
cork_send(struct bond_tcp *t, const struct iovec *iov, int iovcnt)
{
	u16_t mss = t->pcb->mss != 0 ? t->pcb->mss : BOND_TCP_MSS_DEFAULT;
	size_t total = 0;
	bool full = false, fault = false;

	if (t->cork_cap < mss) {
		u8_t *b = mem_malloc(mss);

		if (b == NULL)
			return -EAGAIN;
		if (t->cork_len > 0)
			memcpy(b, t->cork_buf, t->cork_len);
		if (t->cork_buf != NULL)
			mem_free(t->cork_buf);
		t->cork_buf = b;
		t->cork_cap = mss;
	}
	if (t->cork_len >= mss && !cork_push(t, true))
		return -EAGAIN;
	for (int i = 0; i < iovcnt && !full && !fault; i++) {
		const char *src = iov[i].iov_base;
		size_t left = iov[i].iov_len, n;

		while (left > 0 && !full && !fault) {
			if (t->cork_len > 0 || left < mss) {
				/* into the tail; a tail grown whole goes on */
				n = (size_t)(mss - t->cork_len);
				if (n > left)
					n = left;
				if (bond_copy_from_user(t->cork_buf + t->cork_len, src, n) != n) {
					fault = true;
					break;
				}
				if (t->cork_len == 0)	/* a new tail: its ceiling */
					t->cork_due_ns = bond_stack->now_ns() +
							 BOND_CORK_CEILING_NS;
				t->cork_force = false;	/* corked again */
				t->cork_len = (u16_t)(t->cork_len + n);
				full = t->cork_len == mss && !cork_push(t, true);
			} else {
				/* whole segments straight from the application */
				n = t->pcb->snd_buf < BOND_TCP_WRITE_MAX ?
				    t->pcb->snd_buf : BOND_TCP_WRITE_MAX;
				n = (n < left ? n : left) / mss * mss;
				if (n == 0 || tcp_sndqueuelen(t->pcb) >= TCP_SND_QUEUELEN) {
					full = true;
					break;
				}
				if (bond_user_readable(src, n) < n) {
					fault = true;
					break;
				}
				if (tcp_write(t->pcb, src, (u16_t)n, TCP_WRITE_FLAG_COPY |
					      TCP_WRITE_FLAG_MORE) != ERR_OK) {
					full = true;
					break;
				}
			}
			src += n;
			left -= n;
			total += n;
		}
	}
	if (t->cork_len > 0)
		cork_list(t);
	if (total == 0)
		return fault ? -EFAULT : -EAGAIN;
	if (t->sk.opt.user_timeout_ms != 0 && t->stall_ns == 0)
		t->stall_ns = bond_stack->now_ns();
	tcp_output(t->pcb);	/* corked: a small tail stays (TCP_NAGLE_CORK) */
	return (ssize_t)total;
}

static bool
iov_empty(const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len > 0)
			return false;
	return true;
}

static ssize_t
bt_send(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	  int flags, const struct sockaddr *to, socklen_t tolen)
{
	struct bond_tcp *t = bt_of(sk);
	size_t total = 0;
	bool full = false, fault = false;

	if (sk->so_error) {
		int e = sk->so_error;

		sk->so_error = 0;
		return -e;
	}
	if (t->state == BT_CONNECTING)
		return -EAGAIN;
	if (t->state != BT_CONNECTED || t->shut_wr || t->pcb == NULL)
		return -EPIPE;
	if (iov_empty(iov, iovcnt))
		return 0;	/* nothing to send: done, whatever the room */
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;	/* lwIP sends no urgent data */
	if (sk->opt.cork || (flags & MSG_MORE))
		return cork_send(t, iov, iovcnt);
	if (t->cork_len > 0 && !cork_push(t, true)) {
		t->cork_force = true;	/* the held tail goes first */
		cork_list(t);
		return -EAGAIN;
	}
	for (int i = 0; i < iovcnt && !full; i++) {
		const char *src = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		if (bond_user_readable(src, left) < left) {
			/* Linux copies a chunk whole or not at all and stops
			 * at the first that faults: what came before, or EFAULT */
			fault = true;
			break;
		}

		while (left > 0) {
			size_t room = t->pcb->snd_buf;
			u8_t wflags = TCP_WRITE_FLAG_COPY;
			err_t e;

			if (room > BOND_TCP_WRITE_MAX)
				room = BOND_TCP_WRITE_MAX;
			if (room > left)
				room = left;
			if (room == 0 || tcp_sndqueuelen(t->pcb) >= TCP_SND_QUEUELEN) {
				full = true;
				break;
			}
			if ((flags & MSG_MORE) || room < left || i + 1 < iovcnt)
				wflags |= TCP_WRITE_FLAG_MORE;
			e = tcp_write(t->pcb, src, (u16_t)room, wflags);
			if (e == ERR_MEM) {
				full = true;
				break;
			}
			if (e != ERR_OK) {
				if (total == 0)
					return bond_errno(e, false);
				full = true;
				break;
			}
			src += room;
			left -= room;
			total += room;
		}
	}
	if (total == 0)
		return fault ? -EFAULT : -EAGAIN;
	if (sk->opt.user_timeout_ms != 0 && t->stall_ns == 0)
		t->stall_ns = bond_stack->now_ns();
	output(t);
	return (ssize_t)total;
}

static int
bt_shutdown(struct bond_sock *sk, int how)
{
	struct bond_tcp *t = bt_of(sk);

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (t->state != BT_CONNECTED && t->state != BT_CONNECTING &&
	    t->state != BT_LISTEN)
		return -ENOTCONN;
	/* Linux's SHUT_RD keeps what is queued and what still arrives
	 * readable; only an empty queue reads 0 instead of blocking. */
	if (how == SHUT_RD || how == SHUT_RDWR)
		t->shut_rd = true;
	if ((how == SHUT_WR || how == SHUT_RDWR) && !t->shut_wr &&
	    t->pcb != NULL && t->state == BT_CONNECTED) {
		err_t e;

		if (t->cork_len > 0) {
			/* the held tail, then the FIN: now or once lwIP has
			 * room (Linux queues the FIN behind the data) */
			t->shut_wr = true;
			t->fin_owed = true;
			cork_release(t);
			bump(t);
			return 0;
		}
		e = tcp_shutdown(t->pcb, 0, 1);

		if (e != ERR_OK)
			return bond_errno(e, false);
		t->shut_wr = true;
		tcp_output(t->pcb);
	}
	bump(t);
	return 0;
}

static void
free_tcp(struct bond_tcp *t)
{
	bond_errq_purge(&t->eq);
	if (t->rx != NULL)
		pbuf_free(t->rx);
	cork_unlist(t);
	if (t->cork_buf != NULL)
		mem_free(t->cork_buf);
	mem_free(t);
}

static void abort_tcp(struct bond_tcp *t);

/* Hand the pcb to lwIP to finish (queued data, then FIN); free our part. */
static bool
finish(struct bond_tcp *t)
{
	struct tcp_pcb *pcb = t->pcb;

	if (pcb == NULL) {
		free_tcp(t);
		return true;
	}
	/* Linux resets when unread data is thrown away, or on linger 0. */
	if (t->rx_len > 0 || (t->sk.opt.linger_on && t->sk.opt.linger_s == 0)) {
		abort_tcp(t);
		return true;
	}
	if (!cork_push(t, false))
		return false;	/* the held tail before the FIN: retry later */
	if (tcp_close(pcb) != ERR_OK)
		return false;	/* no memory for the FIN: retry later */
	unhook_pcb(pcb);
	t->pcb = NULL;
	free_tcp(t);
	return true;
}

static void
abort_tcp(struct bond_tcp *t)
{
	if (t->pcb != NULL) {
		unhook_pcb(t->pcb);
		tcp_abort(t->pcb);
		t->pcb = NULL;
	}
	free_tcp(t);
}

static void
bt_close(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);

	bond_errq_purge(&t->eq);
	if (t->state == BT_LISTEN) {
		struct bond_tcp *c;

		if (rp_leave(t))
			return;
		c = t->acc_head;

		while (c != NULL) {
			struct bond_tcp *next = c->acc_next;

			abort_tcp(c);
			c = next;
		}
		t->acc_head = t->acc_tail = NULL;
		handshakes_rearg(t->pcb, t, NULL);
		tcp_arg(t->pcb, NULL);
		tcp_accept(t->pcb, NULL);
		tcp_close(t->pcb);	/* never fails for a listener */
		t->pcb = NULL;
		free_tcp(t);
		return;
	}
	if (!finish(t)) {
		t->orphan = true;
		t->orphan_next = orphans;
		orphans = t;
	}
}

void
bond_tcp_reap(void)
{
	struct bond_tcp **pp = &orphans;

	if (orphans == NULL)
		return;
	while (*pp != NULL) {
		struct bond_tcp *t = *pp, *next = t->orphan_next;

		if (t->pcb == NULL) {
			*pp = next;	/* reset meanwhile */
			free_tcp(t);
		} else if (finish(t)) {
			*pp = next;	/* finish() freed it */
		} else {
			pp = &t->orphan_next;
		}
	}
}

/* true when some connection still has data in flight. */
static bool
tx_pending(void)
{
	struct tcp_pcb *p;

	for (p = tcp_active_pcbs; p != NULL; p = p->next)
		if (p->unsent != NULL || p->unacked != NULL)
			return true;
	return orphans != NULL;
}

void
bond_tcp_drain(uint64_t timeout_ns)
{
	static const struct timespec drain_nap = { 0, BOND_DRAIN_NAP_NS };

	uint64_t end = bond_stack->now_ns() + timeout_ns;

	for (;;) {
		bool pending;

		bond_enter();
		bond_tcp_reap();
		bond_poll_locked();
		pending = tx_pending();
		bond_leave();
		if (!pending || bond_stack->now_ns() >= end)
			return;
		bond_kernel(SYS_nanosleep, (long)&drain_nap, 0, 0, 0, 0, 0);
	}
}

static int
bt_name(struct bond_sock *sk, struct sockaddr *sa, socklen_t *len, bool peer)
{
	struct bond_tcp *t = bt_of(sk);

	cache_addrs(t);
	if (peer) {
		if (t->state != BT_CONNECTED)
			return -ENOTCONN;
		bond_ip_to_sa(sk->family, &t->remote_ip, t->remote_port, sa, len);
	} else {
		bond_ip_to_sa(sk->family, &t->local_ip, t->local_port, sa, len);
	}
	return 0;
}

static bool
bt_tx_done(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);

	return t->pcb == NULL || (t->cork_len == 0 && t->pcb->unsent == NULL &&
				  t->pcb->unacked == NULL);
}

static uint32_t
bt_events(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);
	uint32_t ev = 0;

	switch (t->state) {
	case BT_NEW:
	case BT_BOUND:
		return EPOLLOUT | EPOLLHUP;
	case BT_LISTEN:
		for (struct bond_tcp *c = t->acc_head; c != NULL; c = c->acc_next)
			if (!c->deferred)
				return BOND_EV_LISTENING | EPOLLIN;
		return BOND_EV_LISTENING;
	case BT_CONNECTING:
		return 0;
	case BT_DEAD:
		ev = EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLRDHUP;
		if (sk->so_error || t->eq.head != NULL)
			ev |= EPOLLERR;
		return ev;
	case BT_CONNECTED:
		break;
	}
	/* SO_RCVLOWAT: readable once that much waits (Linux's tcp_poll) */
	if (t->rx_len >= (size_t)sk->opt.rcvlowat || t->rx_fin || t->shut_rd)
		ev |= EPOLLIN;
	if (t->rx_fin || t->shut_rd)
		ev |= EPOLLRDHUP;
	/* pcb->snd_buf, not tcp_sndbuf(): that one is clamped to 16 bits. */
	if (t->pcb != NULL && !t->shut_wr &&
	    t->pcb->snd_buf > TCP_SNDLOWAT &&
	    tcp_sndqueuelen(t->pcb) < TCP_SNDQUEUELOWAT)
		ev |= EPOLLOUT;
	if (t->shut_wr)
		ev |= EPOLLOUT;
	if ((t->rx_fin || t->shut_rd) && t->shut_wr)
		ev |= EPOLLHUP;	/* Linux: both directions shut */
	if (sk->so_error || t->eq.head != NULL)
		ev |= EPOLLERR;	/* Linux's tcp_poll */
	return ev;
}

/* SO_RCVLOWAT's cap: Linux's is half the receive buffer once SO_RCVBUF
 * was set (it grows the buffer otherwise); here also half the receive
 * window ([stack] tcp_wnd), which cannot grow: more could never wait. */
static int
bt_rcvlowat_max(struct bond_sock *sk)
{
	int cap = (int)(TCP_WND / 2);

	if (sk->opt.rcvbuf_set && sk->opt.rcvbuf / 2 < cap)
		cap = sk->opt.rcvbuf / 2;
	return cap;
}

static int
bt_nread(struct bond_sock *sk)
{
	struct bond_tcp *t = bt_of(sk);

	if (t->state == BT_LISTEN)
		return -EINVAL;
	return t->rx_len > INT32_MAX ? INT32_MAX : (int)t->rx_len;
}

/* For `zpnet stats`: ss's queues (a listener's accept queue and backlog,
 * else what waits to be read and what is not yet acknowledged). */
static void
bt_describe(struct bond_sock *sk, struct bond_sock_stat *st)
{
	struct bond_tcp *t = bt_of(sk);
	struct tcp_pcb *pcb = t->pcb;

	memset(st, 0, sizeof(*st));
	bt_info(sk, &st->ti);
	st->state = st->ti.state;
	if (t->state == BT_LISTEN) {
		st->rxq = t->acc_n;
		st->txq = t->backlog;
		return;
	}
	st->rxq = t->rx_len > UINT32_MAX ? UINT32_MAX : (uint32_t)t->rx_len;
	if (pcb != NULL) {
		st->txq = pcb->snd_lbb - pcb->lastack;
		st->snd_wnd = pcb->snd_wnd;	/* scaled already */
	}
}

static bool
bt_placed(struct bond_sock *sk)
{
	return bt_of(sk)->state != BT_NEW;
}

static ssize_t
bt_recv_err(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	    struct bond_errq_msg *m)
{
	return bond_errq_recv(&bt_of(sk)->eq, sk, iov, iovcnt, m);
}

static void
bt_errq_purge(struct bond_sock *sk)
{
	bond_errq_purge(&bt_of(sk)->eq);
}

const struct bond_proto bond_tcp_proto = {
	.name = "tcp",
	.type = SOCK_STREAM,
	.create = bt_create,
	.bind = bt_bind,
	.listen = bt_listen,
	.accept = bt_accept,
	.connect = bt_connect,
	.recv = bt_recv,
	.send = bt_send,
	.shutdown = bt_shutdown,
	.close = bt_close,
	.getname = bt_name,
	.events = bt_events,
	.nread = bt_nread,
	.apply_opts = bt_apply_opts,
	.placed = bt_placed,
	.tx_done = bt_tx_done,
	.tcp_info = bt_info,
	.maxseg = bt_maxseg,
	.path_mtu = bt_path_mtu,
	.ack_now = bt_ack_now,
	.rcvlowat_max = bt_rcvlowat_max,
	.flush = bt_flush,
	.describe = bt_describe,
	.rx_idle = bt_rx_idle,
	.recv_err = bt_recv_err,
	.errq_purge = bt_errq_purge,
};
