/*
 * Finding a TCP segment's connection without walking every connection.
 *
 * lwIP's tcp_input() looks a segment up by walking tcp_active_pcbs, then
 * tcp_tw_pcbs, then the listeners. A segment that belongs to no connection
 * (every SYN, every SYN-cookie ACK, a flood's spoofed SYNs, strays) visits
 * every connection and every TIME-WAIT before it reaches its listener, and
 * a segment for a connection that has been idle (its FIN, say) walks past
 * all the busier ones: with 18,000 connections 0.4 ms per SYN, and closing
 * N idle connections at once costs N^2 / 2 visits.
 *
 * Here a hash of every pcb in those two lists, keyed by its four-tuple,
 * finds a segment's pcb, and each pcb's predecessor in its list is known:
 * - no pcb has the tuple: the two lists are set aside for the one
 *   tcp_input() call (it finds them empty and goes to the listeners at
 *   once) and put back behind whatever the call added;
 * - one pcb has it: it is moved to the front of its list first, as lwIP's
 *   walk would have moved it, so tcp_input() finds it at once (for a
 *   TIME-WAIT pcb the active list is set aside too);
 * - anything else (two pcbs with the tuple, a pcb bound to another port, a
 *   header lwIP will drop): lwIP's own walk.
 * The lists end as lwIP's walk would have left them, but that a TIME-WAIT
 * pcb moves to the front too, and a segment lwIP then drops (a bad
 * checksum) has still moved its pcb: no lwIP code depends on the order.
 * The set-aside heads are kept in the shared state, not on the caller's
 * stack: a process that dies in the middle (the stack lock's EOWNERDEAD)
 * leaves them for the next holder to put back (ns_demux_repair).
 *
 * lwIP is not changed; tcp_input is wrapped at link time
 * (-Wl,--wrap=tcp_input: ip4.c, ip6.c and ns_stack.c's re-input call this
 * one). The hash stays exact by what lwIP's lists guarantee:
 * - a pcb enters tcp_active_pcbs at its head only (TCP_REG: a passive
 *   open, a SYN cookie's connection, tcp_connect); it reaches the
 *   TIME-WAIT list only from there;
 * - the only other reordering is tcp_input()'s move to the front, and
 *   every tcp_input() starts here, which first learns the pcbs at the head
 *   that the hash does not hold yet: everything behind the first one it
 *   holds (in its right bucket) was learnt before;
 * - a pcb leaves the hash when lwIP frees it (memp_free, ns_memp.c). One
 *   that left the lists without being freed stays in the hash until then:
 *   its state says it is in no list, and its tuple goes to lwIP's walk.
 * A predecessor is a hint, checked before use: X is P's predecessor if
 * X->next == P, since a pcb's next is NULL or in its own list (TCP_RMV
 * clears it, a freed pcb's is cleared here). lwIP's unlinks are not seen,
 * so the pcb behind one keeps a stale hint; it is then found by a walk
 * from the head (and the hint mended), which lwIP would have done anyway.
 *
 * While tcp_input() runs on set-aside lists nothing may look for another
 * pcb in them: lwIP does so only when its pool is exhausted (tcp_alloc's
 * tcp_kill_*), so the lists are set aside only while the pool has room for
 * the two pcbs one call can make (a SYN cookie's connection, then a
 * passive open), and the socket layer's callbacks act on their own pcb.
 *
 * The tables are indexed by the pcb's pool slot and live in the shared
 * stack memory (ns_shared.ld): every process of the tree uses one hash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lwip/ip.h"
#include "lwip/memp.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/tcp.h"
#include "lwip/tcp.h"

#include "ns_demux.h"
#include "ns_log.h"
#include "ns_lwip_rt.h"
#include "ns_memp.h"

#define DEMUX_BITS	16u	/* 65,536 chains: 4 pcbs each at the ceiling */
#define DEMUX_BUCKETS	(1u << DEMUX_BITS)

/* slot + 1 (0: none) of each chain's first pcb, and of the next one */
static u32_t chain_head[DEMUX_BUCKETS];
static u32_t chain_next[MEMP_NUM_TCP_PCB];
/* bucket + 1 a pool slot is chained in; 0: not in the hash */
static u32_t slot_bucket[MEMP_NUM_TCP_PCB];
/* slot + 1 of the pcb before it in its list; 0: it is the head (hints) */
static u32_t slot_prev[MEMP_NUM_TCP_PCB];
static u32_t n_hashed;
/* the lists tcp_input() runs without, innermost last (ns_stack.c's
 * re-input nests one call in another) */
#define ASIDE_MAX	4
static struct aside {
	struct tcp_pcb *active, *tw;
	bool tw_kept;
} asides[ASIDE_MAX];
static unsigned int n_asides;
static uint64_t secret;
static bool check;
static struct ns_demux_stats st;

void __real_tcp_input(struct pbuf *p, struct netif *inp);
void ns_demux_tcp_input(struct pbuf *p, struct netif *inp);

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

static uint64_t
mix_addr(uint64_t h, const ip_addr_t *ip)
{
#if LWIP_IPV6
	if (IP_IS_V6_VAL(*ip)) {
		const ip6_addr_t *a = ip_2_ip6(ip);

		h = mix(h, ((uint64_t)a->addr[0] << 32) | a->addr[1]);
		return mix(h, ((uint64_t)a->addr[2] << 32) | a->addr[3]);
	}
#endif
	/* an IPv4 address is its 4 bytes only (ip_addr_cmp's view) */
	return mix(h, ip4_addr_get_u32(ip_2_ip4(ip)));
}

static u32_t
bucket_of(const ip_addr_t *rip, u16_t rport, const ip_addr_t *lip, u16_t lport)
{
	uint64_t h = mix(secret, ((uint64_t)rport << 16) | lport);

	h = mix_addr(mix_addr(h, rip), lip);
	return (u32_t)(h >> (64 - DEMUX_BITS));
}

static bool
pcb_has(const struct tcp_pcb *pcb, const ip_addr_t *rip, u16_t rport,
	const ip_addr_t *lip, u16_t lport)
{
	return pcb->remote_port == rport && pcb->local_port == lport &&
	       ip_addr_cmp(&pcb->remote_ip, rip) && ip_addr_cmp(&pcb->local_ip, lip);
}

static void
unchain(u32_t slot)
{
	u32_t *link = &chain_head[slot_bucket[slot] - 1];

	while (*link != slot + 1) {
		NS_ASSERT(*link != 0);
		link = &chain_next[*link - 1];
	}
	*link = chain_next[slot];
	slot_bucket[slot] = 0;
	n_hashed--;
}

void
ns_demux_forget(u32_t slot)
{
	if (slot_bucket[slot] != 0)
		unchain(slot);
	/* in no list now: a hint naming it must not check out */
	ns_tcp_pcb_at(slot)->next = NULL;
}

void
ns_demux_reset(u32_t fresh)
{
	if (n_hashed != 0)
		memset(chain_head, 0, sizeof(chain_head));
	memset(chain_next, 0, fresh * sizeof(chain_next[0]));
	memset(slot_bucket, 0, fresh * sizeof(slot_bucket[0]));
	memset(slot_prev, 0, fresh * sizeof(slot_prev[0]));
	n_hashed = 0;
}

void
ns_demux_init(bool check_walk)
{
	secret = ((uint64_t)ns_rand32() << 32) | ns_rand32();
	check = check_walk;
	memset(&st, 0, sizeof(st));
}

void
ns_demux_get_stats(struct ns_demux_stats *out)
{
	*out = st;
}

static inline u32_t
slot_of(const struct tcp_pcb *pcb)
{
	return pcb != NULL ? ns_tcp_pcb_slot(pcb) + 1 : 0;
}

/* Hash the pcbs at the head of tcp_active_pcbs that are new to it. */
static void
learn(void)
{
	struct tcp_pcb *prev = NULL;

	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb != NULL;
	     prev = pcb, pcb = pcb->next) {
		u32_t slot = ns_tcp_pcb_slot(pcb);
		u32_t b = bucket_of(&pcb->remote_ip, pcb->remote_port,
				    &pcb->local_ip, pcb->local_port) + 1;

		slot_prev[slot] = slot_of(prev);
		if (slot_bucket[slot] == b)
			break;	/* and so is everything behind it */
		if (slot_bucket[slot] != 0)
			unchain(slot);	/* a pcb connected again */
		chain_next[slot] = chain_head[b - 1];
		chain_head[b - 1] = slot + 1;
		slot_bucket[slot] = b;
		n_hashed++;
	}
}

/* The one pcb that has the tuple; NULL if none has; *more if several. */
static struct tcp_pcb *
lookup(const ip_addr_t *rip, u16_t rport, const ip_addr_t *lip, u16_t lport,
       bool *more)
{
	struct tcp_pcb *found = NULL;

	*more = false;
	for (u32_t s = chain_head[bucket_of(rip, rport, lip, lport)]; s != 0;
	     s = chain_next[s - 1]) {
		struct tcp_pcb *pcb = ns_tcp_pcb_at(s - 1);

		if (!pcb_has(pcb, rip, rport, lip, lport))
			continue;
		if (found != NULL)
			*more = true;
		found = pcb;
	}
	return found;
}

/* Whether pcb is in the list at head; *prev: the pcb before it (NULL: it
 * is the head). */
static bool
walk_to(struct tcp_pcb *head, const struct tcp_pcb *pcb, struct tcp_pcb **prev)
{
	*prev = NULL;
	for (; head != NULL; *prev = head, head = head->next)
		if (head == pcb)
			return true;
	return false;
}

/* The hash disagrees with the lists: a bug. demux_check stops there. */
static void
say_error(const char *what, u16_t port)
{
	if (st.errors++ == 0)	/* said once: the count is in the stats */
		NS_ERR("demux: %s, port %u; lwIP's walk takes over", what, port);
	if (check)
		ns_assert_fail(what, __FILE__, __LINE__);
}

/* Move pcb to the front of the list at *head; false if it is not in it
 * (the hash is wrong: lwIP's walk decides). */
static bool
to_front(struct tcp_pcb **head, struct tcp_pcb *pcb)
{
	u32_t slot = ns_tcp_pcb_slot(pcb), hint = slot_prev[slot];
	struct tcp_pcb *prev = hint != 0 ? ns_tcp_pcb_at(hint - 1) : NULL, *walked;

	if (*head == NULL) {
		say_error("a connection's list is empty", pcb->local_port);
		return false;
	}
	if (*head == pcb) {
		slot_prev[slot] = 0;
		return true;
	}
	if (prev == NULL || prev->next != pcb) {
		/* a stale hint: the pcb before it went */
		if (!walk_to(*head, pcb, &prev)) {
			say_error("a connection is not in its list", pcb->local_port);
			return false;
		}
		st.walked++;
	} else if (check && (!walk_to(*head, pcb, &walked) || walked != prev)) {
		say_error("a wrong predecessor", pcb->local_port);
		return false;
	}
	prev->next = pcb->next;
	if (pcb->next != NULL)
		slot_prev[ns_tcp_pcb_slot(pcb->next)] = slot_of(prev);
	pcb->next = *head;
	slot_prev[ns_tcp_pcb_slot(*head)] = slot + 1;
	*head = pcb;
	slot_prev[slot] = 0;
	return true;
}

static bool
listed(struct tcp_pcb *list, const ip_addr_t *rip, u16_t rport,
       const ip_addr_t *lip, u16_t lport)
{
	for (; list != NULL; list = list->next)
		if (pcb_has(list, rip, rport, lip, lport))
			return true;
	return false;
}

/* Put list (set aside) back behind what *head gained meanwhile (a pcb or
 * two); if it is there already (never set aside, or put back by a holder
 * that died before it said so), nothing. */
static void
put_back(struct tcp_pcb **head, struct tcp_pcb *list)
{
	struct tcp_pcb *last = NULL;

	while (*head != NULL) {
		if (*head == list)
			return;
		last = *head;
		head = &(*head)->next;
	}
	*head = list;
	if (list != NULL)
		slot_prev[ns_tcp_pcb_slot(list)] = slot_of(last);
}

/* The stores in the order written: a process may die between any two. */
#define IN_ORDER()	__atomic_signal_fence(__ATOMIC_SEQ_CST)

static void
restore_list(struct tcp_pcb **head, struct tcp_pcb **saved)
{
	put_back(head, *saved);
	IN_ORDER();
	*saved = NULL;
	IN_ORDER();
}

/* The innermost aside's lists back; done again after a death part way, it
 * puts back only what was not yet. */
static void
restore(struct aside *a)
{
	restore_list(&tcp_active_pcbs, &a->active);
	if (!a->tw_kept)
		restore_list(&tcp_tw_pcbs, &a->tw);
	n_asides--;
}

/* tcp_input() on lists the segment's tuple is not in (or on the TIME-WAIT
 * list only) */
static void
input_aside(struct pbuf *p, struct netif *inp, bool keep_tw)
{
	struct aside *a = &asides[n_asides];

	a->active = tcp_active_pcbs;
	a->tw = keep_tw ? NULL : tcp_tw_pcbs;
	a->tw_kept = keep_tw;
	IN_ORDER();
	n_asides++;
	IN_ORDER();
	tcp_active_pcbs = NULL;
	IN_ORDER();
	if (!keep_tw)
		tcp_tw_pcbs = NULL;
	IN_ORDER();
	__real_tcp_input(p, inp);
	restore(a);
}

void
ns_demux_repair(void)
{
	while (n_asides > 0)
		restore(&asides[n_asides - 1]);
}

/* lwIP's tcp_input, by way of ns_rxcheck.c's wrapper. */
void
ns_demux_tcp_input(struct pbuf *p, struct netif *inp)
{
	const struct tcp_hdr *th = p->payload;
	const ip_addr_t *rip = ip_current_src_addr(), *lip = ip_current_dest_addr();
	struct tcp_pcb *pcb;
	u16_t rport, lport;
	bool more;

	learn();
	if (p->len < TCP_HLEN)
		goto walk;	/* lwIP drops it */
	rport = lwip_ntohs(th->src);
	lport = lwip_ntohs(th->dest);
	pcb = lookup(rip, rport, lip, lport, &more);
	if (more || (pcb != NULL && pcb->netif_idx != NETIF_NO_INDEX &&
		     pcb->netif_idx != netif_get_index(inp)))
		goto walk;
	if (pcb != NULL && pcb->state != CLOSED && pcb->state != TIME_WAIT) {
		if (!to_front(&tcp_active_pcbs, pcb))
			goto walk;
		st.hashed++;
		__real_tcp_input(p, inp);
		return;
	}
	if (ns_memp_room(MEMP_TCP_PCB) < 2 || n_asides == ASIDE_MAX)
		goto walk;	/* lwIP may look for a pcb to kill for room */
	if (pcb != NULL && pcb->state == TIME_WAIT) {
		if (!to_front(&tcp_tw_pcbs, pcb))
			goto walk;
		st.hashed++;
		input_aside(p, inp, true);
		return;
	}
	/* none has it (a pcb in no list is a stale entry) */
	if (check && (listed(tcp_active_pcbs, rip, rport, lip, lport) ||
		      listed(tcp_tw_pcbs, rip, rport, lip, lport))) {
		say_error("the hash missed a connection", lport);
		goto walk;
	}
	st.hashed++;
	input_aside(p, inp, false);
	return;
walk:
	st.walked++;
	__real_tcp_input(p, inp);
}
