/*
 * Listening sockets under a SYN flood: Linux's SYN queue, accept queue and
 * SYN cookies (tcp_syncookies = 1), on lwIP.
 *
 * lwIP keeps one state per half-open connection (a SYN_RCVD pcb) and, once
 * `backlog` of them wait, drops every further SYN until they time out (20 s):
 * a few thousand spoofed SYNs shut a listener for that long. As Linux does:
 * - the SYN queue (lwIP's accepts_pending: SYN_RCVD pcbs) holds `backlog`
 *   entries; a SYN past that is answered with a SYN cookie, a SYN|ACK whose
 *   sequence number encodes the connection (no state kept), and the ACK
 *   that returns it becomes a connection as if the SYN had been queued;
 * - when the socket layer's accept queue is full (ns_tcp_set_acceptq_full:
 *   backlog + 1 connections not yet accepted, Linux's count), SYNs and the
 *   ACKs that would complete a handshake are dropped, not refused: the peer
 *   retransmits, and gets in once the application accepts.
 *
 * A cookie (32 bits): 2 bits of a 64-second clock, 2 bits for the peer's
 * MSS (a table), 28 bits of SipHash-2-4 over both addresses and ports, the
 * peer's initial sequence number, the clock and the MSS index, keyed by a
 * random 128-bit secret. It is good for two ticks (64-128 s). ACKs are
 * checked for a cookie only while cookies were sent in that time. What a
 * cookie cannot carry is lost, as on Linux without TCP timestamps: window
 * scaling and SACK are off on such a connection. Data in the returning
 * segment goes through with it (lwIP takes the segment as for any
 * SYN_RCVD pcb).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/tcp.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"

#include "ns.h"
#include "ns_lwip_rt.h"
#include "ns_syncookie.h"

#define COOKIE_TICK_MS		64000u	/* the clock in a cookie */
#define COOKIE_MAX_AGE		1u	/* ticks back a cookie is still good */
#define COOKIE_MAC_MASK		0x0fffffffu
#define COOKIE_DEFAULT_MSS	536	/* RFC 9293: a SYN without the option */

static const u16_t cookie_mss[4] = { 536, 1220, 1440, 1460 };

static uint64_t cookie_key[2];
static u32_t cookie_last_sent;	/* sys_now() of the last one, valid if sent */
static struct ns_syncookie_stats cookie_st;
static bool (*acceptq_full)(const struct tcp_pcb_listen *lpcb);

void
ns_tcp_set_acceptq_full(bool (*full)(const struct tcp_pcb_listen *lpcb))
{
	acceptq_full = full;
}

void
ns_syncookie_stats(struct ns_syncookie_stats *st)
{
	*st = cookie_st;
}

void
ns_syncookie_init(void)
{
	cookie_key[0] = ((uint64_t)ns_rand32() << 32) | ns_rand32();
	cookie_key[1] = ((uint64_t)ns_rand32() << 32) | ns_rand32();
}

/* ---- SipHash-2-4 (Aumasson and Bernstein) over whole 64-bit words ---- */

#define ROTL64(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

static inline void
sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL64(v[1], 13); v[1] ^= v[0]; v[0] = ROTL64(v[0], 32);
	v[2] += v[3]; v[3] = ROTL64(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL64(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL64(v[1], 17); v[1] ^= v[2]; v[2] = ROTL64(v[2], 32);
}

static uint64_t
siphash24(const uint64_t key[2], const uint64_t *m, size_t words)
{
	uint64_t v[4] = {
		key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
		key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull,
	};
	uint64_t last = (uint64_t)(words * 8) << 56;

	for (size_t i = 0; i < words; i++) {
		v[3] ^= m[i];
		sip_round(v);
		sip_round(v);
		v[0] ^= m[i];
	}
	v[3] ^= last;
	sip_round(v);
	sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The address's own bytes only: the rest of an ip_addr_t is not kept. */
static void
addr_words(const ip_addr_t *a, uint64_t w[2])
{
	uint32_t b[4] = { 0 };

	if (IP_IS_V6(a))
		memcpy(b, ip_2_ip6(a)->addr, sizeof(b));
	else
		b[0] = ip_2_ip4(a)->addr;
	w[0] = ((uint64_t)b[0] << 32) | b[1];
	w[1] = ((uint64_t)b[2] << 32) | b[3];
}

/* Every input in bits of its own: no two (tuple, ISN, tick, MSS) give the
 * same words, so a cookie is good for its own connection and time only. */
static u32_t
cookie_mac(u16_t lport, u16_t rport, u32_t peer_isn, u32_t tick, unsigned int mss_idx)
{
	uint64_t m[6];

	addr_words(ip_current_dest_addr(), &m[0]);
	addr_words(ip_current_src_addr(), &m[2]);
	m[4] = ((uint64_t)lport << 48) | ((uint64_t)rport << 32) | peer_isn;
	m[5] = ((uint64_t)tick << 3) | ((uint64_t)mss_idx << 1) |
	       (IP_IS_V6(ip_current_src_addr()) ? 1u : 0u);
	return (u32_t)siphash24(cookie_key, m, 6) & COOKIE_MAC_MASK;
}

/* The peer's MSS option in a SYN, if its options are in one piece. */
static u16_t
syn_mss(const struct tcp_hdr *hdr, u16_t optlen, const u8_t *opt2)
{
	const u8_t *o = (const u8_t *)(hdr + 1);

	if (opt2 != NULL)
		return COOKIE_DEFAULT_MSS;
	for (u16_t i = 0; i < optlen;) {
		if (o[i] == LWIP_TCP_OPT_EOL)
			break;
		if (o[i] == LWIP_TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= optlen || o[i + 1] < 2 || i + o[i + 1] > optlen)
			break;
		if (o[i] == LWIP_TCP_OPT_MSS && o[i + 1] == LWIP_TCP_OPT_LEN_MSS)
			return (u16_t)((o[i + 2] << 8) | o[i + 3]);
		i = (u16_t)(i + o[i + 1]);
	}
	return COOKIE_DEFAULT_MSS;
}

/* A SYN|ACK carrying cookie iss and our MSS, sent without a pcb. */
static void
send_cookie(const struct tcp_pcb_listen *lpcb, const struct tcp_hdr *hdr, u32_t iss)
{
	const ip_addr_t *src = ip_current_dest_addr(), *dst = ip_current_src_addr();
	struct netif *netif = ip_route(src, dst);
	struct tcp_hdr *th;
	struct pbuf *p;
	u8_t *opt;

	if (netif == NULL)
		return;
	p = pbuf_alloc(PBUF_IP, TCP_HLEN + LWIP_TCP_OPT_LEN_MSS, PBUF_RAM);
	if (p == NULL)
		return;
	th = p->payload;
	th->src = lwip_htons(lpcb->local_port);
	th->dest = lwip_htons(hdr->src);
	th->seqno = lwip_htonl(iss);
	th->ackno = lwip_htonl(hdr->seqno + 1);
	TCPH_HDRLEN_FLAGS_SET(th, (TCP_HLEN + LWIP_TCP_OPT_LEN_MSS) / 4, TCP_SYN | TCP_ACK);
	th->wnd = lwip_htons(TCPWND_MIN16(TCP_WND));	/* no window scaling */
	th->chksum = 0;
	th->urgp = 0;
	opt = (u8_t *)(th + 1);
	{
		u16_t mss = tcp_eff_send_mss_netif(TCP_MSS, netif, dst);

		opt[0] = LWIP_TCP_OPT_MSS;
		opt[1] = LWIP_TCP_OPT_LEN_MSS;
		opt[2] = (u8_t)(mss >> 8);
		opt[3] = (u8_t)mss;
	}
#if CHECKSUM_GEN_TCP
	IF__NETIF_CHECKSUM_ENABLED(netif, NETIF_CHECKSUM_GEN_TCP) {
		th->chksum = ip_chksum_pseudo(p, IP_PROTO_TCP, p->tot_len, src, dst);
	}
#endif
	TCP_STATS_INC(tcp.xmit);
	ns_tx_df = true;	/* a SYN|ACK has DF whatever the listener says (ns.h) */
	(void)ip_output_if(p, src, dst, lpcb->ttl, lpcb->tos, IP_PROTO_TCP, netif);
	ns_tx_df = false;
	pbuf_free(p);
	cookie_last_sent = sys_now();
	cookie_st.sent++;
}

static void
answer_with_cookie(const struct tcp_pcb_listen *lpcb, const struct tcp_hdr *hdr,
		   u16_t optlen, const u8_t *opt2)
{
	u16_t mss = syn_mss(hdr, optlen, opt2);
	unsigned int idx = 0;
	u32_t tick = sys_now() / COOKIE_TICK_MS;

	while (idx + 1 < LWIP_ARRAYSIZE(cookie_mss) && cookie_mss[idx + 1] <= mss)
		idx++;
	send_cookie(lpcb, hdr, ((tick & 3u) << 30) | ((u32_t)idx << 28) |
		    cookie_mac(lpcb->local_port, hdr->src, hdr->seqno, tick, idx));
}

/* The MSS index of a cookie an ACK returns, or -1. */
static int
check_cookie(const struct tcp_pcb_listen *lpcb, const struct tcp_hdr *hdr)
{
	u32_t c = hdr->ackno - 1, now = sys_now(), tick = now / COOKIE_TICK_MS;
	unsigned int idx = (c >> 28) & 3u;

	if (cookie_st.sent == 0 ||
	    now - cookie_last_sent > (COOKIE_MAX_AGE + 1) * COOKIE_TICK_MS)
		return -1;	/* none out there: an ordinary stray ACK */
	for (u32_t age = 0; age <= COOKIE_MAX_AGE; age++, tick--) {
		if ((tick & 3u) == c >> 30 &&
		    cookie_mac(lpcb->local_port, hdr->src, hdr->seqno - 1, tick, idx) ==
		    (c & COOKIE_MAC_MASK))
			return (int)idx;
	}
	cookie_st.failed++;
	return -1;
}

/*
 * The half-open connection the cookie stood for, as tcp_listen_input
 * makes one (SYN_RCVD, the SYN|ACK already sent), so that lwIP then takes
 * the ACK as it would have: ESTABLISHED, the accept callback.
 */
static bool
revive(struct tcp_pcb_listen *lpcb, const struct tcp_hdr *hdr, unsigned int idx)
{
	struct tcp_pcb *npcb = tcp_alloc(lpcb->prio);
	u32_t iss = hdr->ackno - 1;

	if (npcb == NULL) {
		TCP_STATS_INC(tcp.memerr);
		return false;
	}
	ip_addr_copy(npcb->local_ip, *ip_current_dest_addr());
	ip_addr_copy(npcb->remote_ip, *ip_current_src_addr());
	npcb->local_port = lpcb->local_port;
	npcb->remote_port = hdr->src;
	npcb->state = SYN_RCVD;
	npcb->rcv_nxt = hdr->seqno;
	npcb->rcv_ann_right_edge = npcb->rcv_nxt;
	npcb->snd_wl2 = iss;
	npcb->lastack = iss;
	npcb->snd_nxt = iss + 1;
	npcb->snd_lbb = iss + 1;
	npcb->snd_wl1 = hdr->seqno - 2;	/* before the SYN: takes the ACK's window */
	npcb->callback_arg = lpcb->callback_arg;
	npcb->listener = lpcb;	/* not counted in its SYN queue: never was */
	npcb->so_options = lpcb->so_options & SOF_INHERITED;
	npcb->netif_idx = lpcb->netif_idx;
	npcb->mss = tcp_eff_send_mss(cookie_mss[idx], &npcb->local_ip, &npcb->remote_ip);
	npcb->snd_wnd = hdr->wnd;
	npcb->snd_wnd_max = npcb->snd_wnd;
	TCP_REG_ACTIVE(npcb);
	cookie_st.recv++;
	return true;
}

bool
ns_tcp_acceptq_is_full(struct tcp_pcb_listen *lpcb)
{
	if (acceptq_full == NULL || !acceptq_full(lpcb))
		return false;
	cookie_st.listen_overflows++;
	return true;
}

err_t
ns_tcp_listen_segment(struct tcp_pcb_listen *lpcb, const struct tcp_hdr *hdr,
		      u16_t optlen, const u8_t *opt2, bool can_revive,
		      bool *revived)
{
	u8_t flags = TCPH_FLAGS(hdr);
	int idx;

	*revived = false;
	if (flags & TCP_RST)
		return ERR_OK;
	if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		if (ns_tcp_acceptq_is_full(lpcb))
			return ERR_ABRT;
		if (lpcb->accepts_pending < lpcb->backlog)
			return ERR_OK;
		answer_with_cookie(lpcb, hdr, optlen, opt2);
		return ERR_ABRT;
	}
	if ((flags & (TCP_SYN | TCP_ACK)) != TCP_ACK)
		return ERR_OK;
	idx = check_cookie(lpcb, hdr);
	if (idx < 0)
		return ERR_OK;	/* lwIP answers with an RST, as Linux */
	if (!can_revive || ns_tcp_acceptq_is_full(lpcb))
		return ERR_ABRT;	/* dropped: the peer's next segment tries again */
	*revived = revive(lpcb, hdr, (unsigned int)idx);
	return ERR_ABRT;
}
