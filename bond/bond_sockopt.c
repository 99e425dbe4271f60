/*
 * setsockopt/getsockopt on stack sockets: one table of {level, optname,
 * set, get}. What is not in the table is -ENOPROTOOPT, never a silent 0.
 * Values live in struct bond_sockopts; the protocol pushes them into its
 * pcb (apply_opts).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/time.h>

#include "bond.h"

#define BOND_KEEP_MAX_S		32767	/* Linux's MAX_TCP_KEEPIDLE/INTVL */
#define BOND_KEEPCNT_MAX	127	/* Linux's MAX_TCP_KEEPCNT */
#define BOND_BUF_MIN		2048	/* Linux's SOCK_MIN_RCVBUF, roughly */
#define BOND_ECN_MASK		3	/* the ECN bits of TOS / traffic class */
#define BOND_TCP_MIN_MSS	88	/* Linux's TCP_MIN_MSS */
#define BOND_TCP_MAX_WINDOW	32767	/* Linux's MAX_TCP_WINDOW */
/* SO_RCVTIMEO/SO_SNDTIMEO in ns, 0 meaning none: a negative time is 1 ns
 * (expired at the first wait), and from 584 years on (ns overflow; Linux
 * goes on to 1e9 years) none. */
#define BOND_TIMEO_NOW		1ull
#define BOND_TIMEO_MAX_S	(UINT64_MAX / BOND_NS_PER_S - 1)

static int
get_int(const void *val, socklen_t len, int *out)
{
	if (val == NULL || len < (socklen_t)sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

static int
put_int(void *val, socklen_t *len, int v)
{
	socklen_t n;

	if (val == NULL || len == NULL || (int)*len < 0)
		return -EINVAL;
	n = *len < (socklen_t)sizeof(int) ? *len : (socklen_t)sizeof(int);
	memcpy(val, &v, n);
	*len = n;
	return 0;
}

static void
apply(struct bond_sock *sk)
{
	if (sk->proto->apply_opts != NULL)
		sk->proto->apply_opts(sk);
}

/* Boolean options: one set/get pair per field; a set then runs `then`. */
#define BOND_BOOL_OPT_THEN(field, then)					\
static int								\
set_##field(struct bond_sock *sk, const void *val, socklen_t len)	\
{									\
	int v, rc = get_int(val, len, &v);				\
									\
	if (rc < 0)							\
		return rc;						\
	sk->opt.field = v != 0;						\
	then;								\
	return 0;							\
}									\
static int								\
get_##field(struct bond_sock *sk, void *val, socklen_t *len)		\
{									\
	return put_int(val, len, sk->opt.field);			\
}
#define BOND_BOOL_OPT(field)	BOND_BOOL_OPT_THEN(field, apply(sk))

/* IP_RECVERR, IPV6_RECVERR: turned off, the error queue goes (Linux
 * purges it for either). */
static void
errq_off(struct bond_sock *sk)
{
	if (sk->proto->errq_purge != NULL)
		sk->proto->errq_purge(sk);
}

BOND_BOOL_OPT_THEN(recverr, if (!sk->opt.recverr) errq_off(sk))
BOND_BOOL_OPT_THEN(recverr6, if (!sk->opt.recverr6) errq_off(sk))

BOND_BOOL_OPT(reuseaddr)
BOND_BOOL_OPT(reuseport)
BOND_BOOL_OPT(keepalive)
BOND_BOOL_OPT(v6only)
BOND_BOOL_OPT(broadcast)

/* TCP_NODELAY on pushes what TCP_CORK holds, cork or not (Linux); TCP_CORK
 * off pushes it too, and so does UDP_CORK off (the same field: a socket is
 * one or the other). */
static void
flush(struct bond_sock *sk)
{
	if (sk->proto->flush != NULL)
		sk->proto->flush(sk);
}

static int
set_nodelay(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	sk->opt.nodelay = v != 0;
	apply(sk);
	if (sk->opt.nodelay)
		flush(sk);
	return 0;
}

static int
get_nodelay(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.nodelay);
}

static int
set_cork(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	sk->opt.cork = v != 0;
	if (!sk->opt.cork)
		flush(sk);
	return 0;
}

static int
get_cork(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.cork);
}

/* Integer options with Linux's bounds. */
static int
set_ranged(int *field, const void *val, socklen_t len, int min, int max)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v < min || v > max)
		return -EINVAL;
	*field = v;
	return 0;
}

/* Integer options in [min, max], pushed into the pcb: a set/get pair. */
#define BOND_RANGED_OPT(name, field, min, max)				\
static int								\
set_##name(struct bond_sock *sk, const void *val, socklen_t len)	\
{									\
	int rc = set_ranged(&sk->opt.field, val, len, (min), (max));	\
									\
	if (rc == 0)							\
		apply(sk);						\
	return rc;							\
}									\
static int								\
get_##name(struct bond_sock *sk, void *val, socklen_t *len)		\
{									\
	return put_int(val, len, sk->opt.field);			\
}

BOND_RANGED_OPT(keepidle, keepidle_s, 1, BOND_KEEP_MAX_S)
BOND_RANGED_OPT(keepintvl, keepintvl_s, 1, BOND_KEEP_MAX_S)
BOND_RANGED_OPT(keepcnt, keepcnt, 1, BOND_KEEPCNT_MAX)
/* TCP_USER_TIMEOUT, ms: how long written data may stay unacknowledged
 * before the connection is given up with ETIMEDOUT; 0: lwIP's
 * retransmission limit. */
BOND_RANGED_OPT(user_timeout, user_timeout_ms, 0, INT_MAX)

/* SO_RCVBUF/SO_SNDBUF: Linux doubles what is set and reports the double. */
static int
set_buf(int *field, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v < BOND_BUF_MIN / 2)
		v = BOND_BUF_MIN / 2;
	if (v > INT_MAX / 2)
		v = INT_MAX / 2;
	*field = v * 2;
	return 0;
}

static int
set_rcvbuf(struct bond_sock *sk, const void *val, socklen_t len)
{
	int rc = set_buf(&sk->opt.rcvbuf, val, len);

	if (rc == 0)
		sk->opt.rcvbuf_set = true;
	return rc;
}

static int
get_rcvbuf(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.rcvbuf);
}

static int
set_sndbuf(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_buf(&sk->opt.sndbuf, val, len);
}

static int
get_sndbuf(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.sndbuf);
}

/* IP_TOS, IPV6_TCLASS: Linux keeps a TCP socket's ECN bits its own. */
static void
set_tos_bits(struct bond_sock *sk, int *field, int v)
{
	if (sk->proto->type == SOCK_STREAM)
		v = (v & ~BOND_ECN_MASK) | (*field & BOND_ECN_MASK);
	*field = v & UINT8_MAX;
	apply(sk);
}

static int
set_tos(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	set_tos_bits(sk, &sk->opt.tos, v);	/* any int: its low byte */
	return 0;
}

static int
get_tos(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.tos);
}

static int
set_tclass(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v < -1 || v > UINT8_MAX)
		return -EINVAL;
	set_tos_bits(sk, &sk->opt.tclass, v < 0 ? 0 : v);
	return 0;
}

static int
get_tclass(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.tclass);
}

/* IP_TTL 1-255, IPV6_UNICAST_HOPS 0-255; -1: the default. */
static int
set_hoplimit(struct bond_sock *sk, int *field, const void *val, socklen_t len,
	     int min)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v == -1)
		v = BOND_DEFAULT_TTL;
	else if (v < min || v > UINT8_MAX)
		return -EINVAL;
	*field = v;
	apply(sk);
	return 0;
}

static int
set_ttl(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_hoplimit(sk, &sk->opt.ttl, val, len, 1);
}

static int
get_ttl(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.ttl);
}

/* IP_MTU_DISCOVER, IPV6_MTU_DISCOVER: Linux's six policies, 0 to 5
 * (IP_PMTUDISC_DONT ... IP_PMTUDISC_OMIT; IPv6's have the same values). */
static int
set_pmtudisc_field(int *field, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v < IP_PMTUDISC_DONT || v > IP_PMTUDISC_OMIT)
		return -EINVAL;
	*field = v;
	return 0;
}

static int
set_pmtudisc(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_pmtudisc_field(&sk->opt.pmtudisc, val, len);
}

static int
get_pmtudisc(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.pmtudisc);
}

static int
set_pmtudisc6(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_pmtudisc_field(&sk->opt.pmtudisc6, val, len);
}

static int
get_pmtudisc6(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.pmtudisc6);
}

/* IP_MTU, IPV6_MTU (read only here: Linux's IPV6_MTU set, a fragment
 * size, is not kept) */
static int
get_mtu(struct bond_sock *sk, void *val, socklen_t *len)
{
	int mtu = sk->proto->path_mtu != NULL ? sk->proto->path_mtu(sk) :
		  -ENOTCONN;

	return mtu < 0 ? mtu : put_int(val, len, mtu);
}

static int
set_hops(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_hoplimit(sk, &sk->opt.hops, val, len, 0);
}

static int
get_hops(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.hops);
}

/* TCP_QUICKACK: ACK what arrived now; on, as Linux reports it, unless
 * turned off (lwIP's delayed ACKs go out at the next poll anyway). */
static int
set_quickack(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	sk->opt.quickack = v != 0;
	if (sk->opt.quickack && sk->proto->ack_now != NULL)
		sk->proto->ack_now(sk);
	return 0;
}

static int
get_quickack(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.quickack);
}

/* TCP_MAXSEG: 0 (none) or Linux's TCP_MIN_MSS-MAX_TCP_WINDOW. */
static int
set_maxseg(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v != 0 && (v < BOND_TCP_MIN_MSS || v > BOND_TCP_MAX_WINDOW))
		return -EINVAL;
	sk->opt.user_mss = v;
	apply(sk);
	return 0;
}

static int
get_maxseg(struct bond_sock *sk, void *val, socklen_t *len)
{
	if (sk->proto->maxseg == NULL)
		return -ENOPROTOOPT;
	return put_int(val, len, sk->proto->maxseg(sk));
}

static int
get_tcp_info(struct bond_sock *sk, void *val, socklen_t *len)
{
	struct bond_tcp_info bi;
	struct tcp_info ti = { 0 };
	socklen_t n;

	if (sk->proto->tcp_info == NULL)
		return -ENOPROTOOPT;
	if (val == NULL || len == NULL || (int)*len < 0)
		return -EINVAL;
	sk->proto->tcp_info(sk, &bi);
	ti.tcpi_state = bi.state;
	ti.tcpi_retransmits = bi.retransmits;
	ti.tcpi_options = (bi.wscale ? TCPI_OPT_WSCALE : 0) |
			  (bi.sack ? TCPI_OPT_SACK : 0);
	ti.tcpi_snd_wscale = bi.snd_wscale & 0xf;
	ti.tcpi_rcv_wscale = bi.rcv_wscale & 0xf;
	ti.tcpi_rto = bi.rto_us;
	ti.tcpi_snd_mss = bi.mss;
	ti.tcpi_rcv_mss = bi.mss;
	ti.tcpi_advmss = bi.mss;
	ti.tcpi_unacked = bi.unacked;
	ti.tcpi_sacked = bi.sacked;
	ti.tcpi_pmtu = bi.pmtu;
	ti.tcpi_rtt = bi.rtt_us;
	ti.tcpi_rttvar = bi.rttvar_us;
	ti.tcpi_snd_ssthresh = bi.ssthresh;
	ti.tcpi_snd_cwnd = bi.cwnd;
	ti.tcpi_rcv_space = bi.rcv_space;
	ti.tcpi_reordering = 3;	/* Linux's initial tcp_reordering */
	n = *len < (socklen_t)sizeof(ti) ? *len : (socklen_t)sizeof(ti);
	memcpy(val, &ti, n);
	*len = n;
	return 0;
}

/*
 * SO_RCVLOWAT: a negative value is INT_MAX and 0 is 1, as Linux. On TCP a
 * blocking recv waits for that many bytes (or fewer, asked for fewer) and
 * the socket polls readable from then on; the protocol caps it at what it
 * can hold (rcvlowat_max).
 */
static int
set_rcvlowat(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v);

	if (rc < 0)
		return rc;
	if (v < 0)
		v = INT_MAX;
	if (sk->proto->rcvlowat_max != NULL && v > sk->proto->rcvlowat_max(sk))
		v = sk->proto->rcvlowat_max(sk);
	sk->opt.rcvlowat = v != 0 ? v : 1;
	bond_sock_bump(sk);	/* a lower mark may make it readable now */
	return 0;
}

static int
get_rcvlowat(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.rcvlowat);
}

/* SO_BINDTODEVICE reads back as Linux's sock_getbindtodevice: nothing
 * (length 0) when unbound, else the name, NUL included, into at least
 * IFNAMSIZ bytes. Setting it is bond_sys.c's: it may hand the socket to
 * the kernel. */
static int
get_bindtodevice(struct bond_sock *sk, void *val, socklen_t *len)
{
	size_t n;

	if (val == NULL || len == NULL || (int)*len < 0)
		return -EINVAL;
	if (sk->opt.devname[0] == '\0') {
		*len = 0;
		return 0;
	}
	if (*len < BOND_IFNAMSIZ)
		return -EINVAL;
	n = strlen(sk->opt.devname) + 1;
	memcpy(val, sk->opt.devname, n);
	*len = (socklen_t)n;
	return 0;
}

/* SO_BINDTOIFINDEX reads back the bound interface's kernel index: 0 when
 * unbound (or bound by a port's lwIP name, which the kernel has not). */
static int
get_bindtoifindex(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.dev_ifindex);
}

/*
 * TCP_DEFER_ACCEPT, seconds. Linux keeps it as a count of SYN-ACK
 * retransmissions (1 s, doubling up to 120 s), and reads back the time
 * those take: 5 s reads back 7. A connection that sent nothing reaches
 * accept() when its data comes, or once that time has passed.
 */
#define BOND_SYNACK_TIMEOUT_S	1	/* Linux's TCP_TIMEOUT_INIT */
#define BOND_RTO_MAX_S		120	/* TCP_RTO_MAX */
#define BOND_DEFER_RETRANS_MAX	255	/* kept in a u8 */

static int
set_defer_accept(struct bond_sock *sk, const void *val, socklen_t len)
{
	int v, rc = get_int(val, len, &v), step = BOND_SYNACK_TIMEOUT_S, period;

	if (rc < 0)
		return rc;
	if (v <= 0) {
		sk->opt.defer_accept_s = 0;
		return 0;
	}
	period = step;
	for (int n = 1; v > period && n < BOND_DEFER_RETRANS_MAX; n++) {
		step = step * 2 > BOND_RTO_MAX_S ? BOND_RTO_MAX_S : step * 2;
		period += step;
	}
	sk->opt.defer_accept_s = period;
	return 0;
}

static int
get_defer_accept(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.defer_accept_s);
}

/*
 * TCP_FASTOPEN: a listener's queue of fast-open requests, as a Linux with
 * its default net.ipv4.tcp_fastopen = 1 (client side only) keeps it: set
 * on a socket that is closed or listening (EINVAL once it connects, or for
 * a negative value), read back capped at somaxconn, and no data is taken from a SYN: a client's
 * fast-open SYN gets an ordinary SYN|ACK and sends its data after the
 * handshake, as RFC 7413 has it when the server does not do TFO.
 */

/* A TCP option's int value and the socket's state (Linux's numbering):
 * 0, -EINVAL for a short value, -ENOPROTOOPT without TCP state. */
static int
get_int_state(struct bond_sock *sk, const void *val, socklen_t len, int *v,
	      uint8_t *state)
{
	struct bond_tcp_info bi;
	int rc = get_int(val, len, v);

	if (rc < 0)
		return rc;
	if (sk->proto->tcp_info == NULL)
		return -ENOPROTOOPT;
	sk->proto->tcp_info(sk, &bi);
	*state = bi.state;
	return 0;
}

static int
set_fastopen(struct bond_sock *sk, const void *val, socklen_t len)
{
	uint8_t state;
	int v, rc = get_int_state(sk, val, len, &v, &state);

	if (rc < 0)
		return rc;
	if (v < 0 || (state != BOND_TCPS_CLOSE && state != BOND_TCPS_LISTEN))
		return -EINVAL;
	sk->opt.fastopen_qlen = v < bond_somaxconn() ? v : bond_somaxconn();
	return 0;
}

static int
get_fastopen(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.fastopen_qlen);
}

/*
 * TCP_FASTOPEN_CONNECT, as Linux's client keeps it: 0 or 1 (else EINVAL),
 * set only before the socket connects or listens (EINVAL after), read
 * back as set. Without a cookie for the peer, which this stack never has
 * (it sends no fast-open option), Linux's connect() is then an ordinary
 * one, and so is zpnet's: the data follows the handshake.
 */
static int
set_fastopen_connect(struct bond_sock *sk, const void *val, socklen_t len)
{
	uint8_t state;
	int v, rc = get_int_state(sk, val, len, &v, &state);

	if (rc < 0)
		return rc;
	if (v < 0 || v > 1 || state != BOND_TCPS_CLOSE)
		return -EINVAL;
	sk->opt.fastopen_connect = v != 0;
	return 0;
}

static int
get_fastopen_connect(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->opt.fastopen_connect);
}

static int
set_linger(struct bond_sock *sk, const void *val, socklen_t len)
{
	struct linger l;

	if (val == NULL || len < (socklen_t)sizeof(l))
		return -EINVAL;
	memcpy(&l, val, sizeof(l));
	sk->opt.linger_on = l.l_onoff != 0;
	sk->opt.linger_s = l.l_linger < 0 ? 0 : l.l_linger;
	return 0;
}

static int
get_linger(struct bond_sock *sk, void *val, socklen_t *len)
{
	struct linger l = { .l_onoff = sk->opt.linger_on,
			    .l_linger = sk->opt.linger_s };
	socklen_t n;

	if (val == NULL || len == NULL || (int)*len < 0)
		return -EINVAL;
	n = *len < (socklen_t)sizeof(l) ? *len : (socklen_t)sizeof(l);
	memcpy(val, &l, n);
	*len = n;
	return 0;
}

static int
set_timeo(uint64_t *field, const void *val, socklen_t len)
{
	struct timeval tv;

	if (val == NULL || len < (socklen_t)sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) {
		/* Linux keeps a timeout of 0 jiffies: every call on the
		 * socket returns EAGAIN at once; getsockopt says {0, 0} */
		*field = BOND_TIMEO_NOW;
		return 0;
	}
	if ((uint64_t)tv.tv_sec >= BOND_TIMEO_MAX_S) {
		*field = 0;	/* none: Linux's MAX_SCHEDULE_TIMEOUT */
		return 0;
	}
	*field = (uint64_t)tv.tv_sec * BOND_NS_PER_S +
		 (uint64_t)tv.tv_usec * BOND_NS_PER_US;
	return 0;
}

static int
get_timeo(uint64_t v, void *val, socklen_t *len)
{
	struct timeval tv = {
		.tv_sec = (time_t)(v / BOND_NS_PER_S),
		.tv_usec = (suseconds_t)(v % BOND_NS_PER_S / BOND_NS_PER_US),
	};
	socklen_t n;

	if (val == NULL || len == NULL || (int)*len < 0)
		return -EINVAL;
	n = *len < (socklen_t)sizeof(tv) ? *len : (socklen_t)sizeof(tv);
	memcpy(val, &tv, n);
	*len = n;
	return 0;
}

static int
set_rcvtimeo(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_timeo(&sk->opt.rcvtimeo_ns, val, len);
}

static int
get_rcvtimeo(struct bond_sock *sk, void *val, socklen_t *len)
{
	return get_timeo(sk->opt.rcvtimeo_ns, val, len);
}

static int
set_sndtimeo(struct bond_sock *sk, const void *val, socklen_t len)
{
	return set_timeo(&sk->opt.sndtimeo_ns, val, len);
}

static int
get_sndtimeo(struct bond_sock *sk, void *val, socklen_t *len)
{
	return get_timeo(sk->opt.sndtimeo_ns, val, len);
}

static int
get_error(struct bond_sock *sk, void *val, socklen_t *len)
{
	int e = sk->so_error;
	int rc = put_int(val, len, e);

	if (rc == 0)
		sk->so_error = 0;
	return rc;
}

static int
get_type(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->proto->type);
}

static int
get_domain(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->family);
}

static int
get_protocol(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, sk->proto->type == SOCK_STREAM ?
		       IPPROTO_TCP : IPPROTO_UDP);
}

static int
get_acceptconn(struct bond_sock *sk, void *val, socklen_t *len)
{
	return put_int(val, len, (sk->proto->events(sk) & BOND_EV_LISTENING) != 0);
}

static const struct bond_sockopt sockopts[] = {
	{ SOL_SOCKET, SO_REUSEADDR, set_reuseaddr, get_reuseaddr },
	{ SOL_SOCKET, SO_REUSEPORT, set_reuseport, get_reuseport },
	{ SOL_SOCKET, SO_KEEPALIVE, set_keepalive, get_keepalive },
	{ SOL_SOCKET, SO_RCVBUF, set_rcvbuf, get_rcvbuf },
	{ SOL_SOCKET, SO_SNDBUF, set_sndbuf, get_sndbuf },
	{ SOL_SOCKET, SO_LINGER, set_linger, get_linger },
	{ SOL_SOCKET, SO_RCVTIMEO, set_rcvtimeo, get_rcvtimeo },
	{ SOL_SOCKET, SO_SNDTIMEO, set_sndtimeo, get_sndtimeo },
	{ SOL_SOCKET, SO_ERROR, NULL, get_error },
	{ SOL_SOCKET, SO_TYPE, NULL, get_type },
	{ SOL_SOCKET, SO_DOMAIN, NULL, get_domain },
	{ SOL_SOCKET, SO_PROTOCOL, NULL, get_protocol },
	{ SOL_SOCKET, SO_ACCEPTCONN, NULL, get_acceptconn },
	{ SOL_SOCKET, SO_BROADCAST, set_broadcast, get_broadcast },
	{ SOL_SOCKET, SO_RCVLOWAT, set_rcvlowat, get_rcvlowat },
	{ SOL_SOCKET, SO_BINDTODEVICE, NULL, get_bindtodevice },
	{ SOL_SOCKET, SO_BINDTOIFINDEX, NULL, get_bindtoifindex },
	{ IPPROTO_TCP, TCP_NODELAY, set_nodelay, get_nodelay },
	{ IPPROTO_TCP, TCP_KEEPIDLE, set_keepidle, get_keepidle },
	{ IPPROTO_TCP, TCP_KEEPINTVL, set_keepintvl, get_keepintvl },
	{ IPPROTO_TCP, TCP_KEEPCNT, set_keepcnt, get_keepcnt },
	{ IPPROTO_TCP, TCP_QUICKACK, set_quickack, get_quickack },
	{ IPPROTO_TCP, TCP_MAXSEG, set_maxseg, get_maxseg },
	{ IPPROTO_TCP, TCP_INFO, NULL, get_tcp_info },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, set_user_timeout, get_user_timeout },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, set_defer_accept, get_defer_accept },
	{ IPPROTO_TCP, TCP_CORK, set_cork, get_cork },
	{ IPPROTO_TCP, TCP_FASTOPEN, set_fastopen, get_fastopen },
	{ IPPROTO_TCP, TCP_FASTOPEN_CONNECT, set_fastopen_connect,
	  get_fastopen_connect },
	{ IPPROTO_UDP, UDP_CORK, set_cork, get_cork },
	{ IPPROTO_IP, IP_TOS, set_tos, get_tos },
	{ IPPROTO_IP, IP_TTL, set_ttl, get_ttl },
	{ IPPROTO_IP, IP_RECVERR, set_recverr, get_recverr },
	{ IPPROTO_IP, IP_MTU_DISCOVER, set_pmtudisc, get_pmtudisc },
	{ IPPROTO_IP, IP_MTU, NULL, get_mtu },
	{ IPPROTO_IPV6, IPV6_MTU_DISCOVER, set_pmtudisc6, get_pmtudisc6 },
	{ IPPROTO_IPV6, IPV6_MTU, NULL, get_mtu },
	{ IPPROTO_IPV6, IPV6_RECVERR, set_recverr6, get_recverr6 },
	{ IPPROTO_IPV6, IPV6_V6ONLY, set_v6only, get_v6only },
	{ IPPROTO_IPV6, IPV6_TCLASS, set_tclass, get_tclass },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, set_hops, get_hops },
};

const struct bond_sockopt *
bond_sockopt_find(int level, int optname)
{
	for (size_t i = 0; i < sizeof(sockopts) / sizeof(sockopts[0]); i++)
		if (sockopts[i].level == level && sockopts[i].optname == optname)
			return &sockopts[i];
	return NULL;
}

/* Which level a socket answers at all: its own protocol's, IP's (IPv6
 * sockets too), IPv6's on IPv6 sockets, and the socket's. */
static bool
level_served(const struct bond_sock *sk, int level)
{
	switch (level) {
	case SOL_SOCKET:
	case IPPROTO_IP:
		return true;
	case IPPROTO_IPV6:
		return sk->family == AF_INET6;
	case IPPROTO_TCP:
		return sk->proto->type == SOCK_STREAM;
	case IPPROTO_UDP:
		return sk->proto->type == SOCK_DGRAM;
	default:
		return false;
	}
}

int
bond_setsockopt(struct bond_sock *sk, int level, int optname,
		const void *val, socklen_t len)
{
	const struct bond_sockopt *o = bond_sockopt_find(level, optname);

	if (o == NULL || o->set == NULL || !level_served(sk, level))
		return -ENOPROTOOPT;	/* Linux: whatever the level */
	return o->set(sk, val, len);
}

int
bond_getsockopt(struct bond_sock *sk, int level, int optname, void *val,
		socklen_t *len)
{
	const struct bond_sockopt *o = bond_sockopt_find(level, optname);

	if (o != NULL && o->get != NULL && level_served(sk, level))
		return o->get(sk, val, len);
	/* Linux: an IPv4 socket hands a level that is neither the socket's,
	 * its protocol's nor IP's down to ip_getsockopt(), which says
	 * EOPNOTSUPP; IPv6 sockets say ENOPROTOOPT. (UDP's own level has
	 * UDP_CORK; its other options are ENOPROTOOPT.) */
	if (sk->family == AF_INET && level != SOL_SOCKET && level != IPPROTO_IP &&
	    level != (sk->proto->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP))
		return -EOPNOTSUPP;
	return -ENOPROTOOPT;
}
