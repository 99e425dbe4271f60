/*
 * netstack: lwIP on DPDK ports, brought up from a config file.
 *
 * Start-up phases (ns_start): configure logging, size lwIP from [stack],
 * start DPDK's EAL, initialise lwIP, then bring up each [port.N] as an lwIP
 * netif with its addresses. After that the owner drives everything through
 * ns_poll() from its own threads, holding the stack lock (ns_lock()).
 *
 * Callers use lwIP's raw API directly (lwIP headers are fine here); DPDK's
 * headers stay inside ns_port.c.
 */
#ifndef ZPNET_NS_H
#define ZPNET_NS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ns_config.h"

struct netif;

/* Bring up DPDK, lwIP and every port. 0, or -errno with err filled. */
int ns_start(const struct ns_config *cfg, char *err, size_t errlen);
/* Stop the ports (flushes queued frames first). */
void ns_stop(void);
bool ns_started(void);

/* One turn of the stack: receive a burst on every port, run lwIP's
 * timers, flush TX. Returns the number of frames received. Lock held. */
unsigned int ns_poll(void);
/* Send every frame queued for TX. Lock held. */
void ns_flush(void);
/* The same, only if a port has frames queued: the end of every stack
 * call (bond_leave), so that what a call sends leaves in it, as on
 * Linux, not at the next poll. Lock held. */
void ns_flush_pending(void);
/* Milliseconds until lwIP's next timer is due (0: now). Lock held. */
uint32_t ns_next_timer_ms(void);

/* SYN queue, accept queue and SYN cookies (ns_syncookie.c). The socket
 * layer says when a listener's accept queue is full: SYNs and handshake
 * ACKs are then dropped, as Linux drops them. Without it (the demo), only
 * the SYN queue counts. */
struct tcp_pcb_listen;
void ns_tcp_set_acceptq_full(bool (*full)(const struct tcp_pcb_listen *lpcb));

/* Called as lwIP frees a connection's pcb, whatever frees it: lwIP's
 * timer frees a TIME-WAIT pcb after 2 MSL without a callback, and one that
 * reached TIME-WAIT by a simultaneous close got none either. */
struct tcp_pcb;
void ns_tcp_set_pcb_freed(void (*freed)(struct tcp_pcb *pcb));

/* Called as a connection's segment with data, len bytes from sequence
 * number seq, goes out (sent or sent again), lock held. */
void ns_tcp_set_segment_out(void (*out)(const struct tcp_pcb *pcb, uint32_t seq,
					uint16_t len));

struct ns_syncookie_stats {
	unsigned long sent;		/* SYN|ACKs with a cookie */
	unsigned long recv;		/* connections a cookie brought back */
	unsigned long failed;		/* ACKs whose cookie did not check */
	unsigned long listen_overflows;	/* dropped: accept queue full */
};
void ns_syncookie_stats(struct ns_syncookie_stats *st);

/* The stack lock, shared by every process of the stack (robust: a holder
 * that dies passes it on). */
void ns_lock(void);
void ns_unlock(void);
bool ns_trylock(void);
/* Take the lock for good on the way out (exit_group): the process leaves
 * holding it, so none of its threads is inside the stack — in a driver's
 * burst, say — when the kernel ends them; the next taker finds it passed
 * on, not a crash (not counted by ns_lock_recovered). */
void ns_lock_exit(void);
/* How often a taker found the lock's holder dead. */
unsigned long ns_lock_recovered(void);
/* How often a driver's ring position was put right after such a death. */
unsigned long ns_bursts_repaired(void);

/* Frames this process queued and no port has yet, or looped back to the
 * stack's own addresses and not yet delivered (both at the next poll):
 * lock-free and on general registers only, as ns_now_ns. */
bool ns_tx_pending(void);

/* The kernel fds that poll readable (POLLIN) while a port has a frame
 * for the stack (net_af_packet's socket): a wait may sleep on them and be
 * woken by the next frame. Other drivers have none. At most max into fds;
 * how many. Lock-free (the port table is fixed once started). */
#define NS_WAKE_FDS_MAX	NS_MAX_PORTS
unsigned int ns_wake_fds(int *fds, unsigned int max);

/*
 * Called on the thread that creates a port's device (rte_vdev_init, from
 * ns_start): open before, for the port's interface, and !open after (iface
 * NULL), which returns how many of the driver's queue sockets were made
 * ahead by zpnet run's helper (ns_prewarm.h). The owner may catch the
 * driver's system calls in that window (bond: its AF_PACKET sockets).
 * NULL: none.
 */
extern unsigned int (*ns_device_window)(bool open, const char *iface);

/*
 * Without hugepages a port's mbuf pool is placed a chunk at a time once
 * the port runs (ns_port.c, NS_POOL_CHUNK_BYTES): whether this process has
 * some left to place (lock-free), and one chunk placed (stack lock held).
 * A pool that runs low places the next chunk at once.
 */
bool ns_pool_pending(void);
void ns_pool_grow(void);
/* All of them placed (stack lock held): before a fork, so that no other
 * process of the tree ever sees a pool in part. */
void ns_pool_complete(void);

/* Monotonic time from the TSC; general registers only (bond reads it
 * before it saves the vector state). */
uint64_t ns_now_ns(void);

/*
 * IPv4's "don't fragment" (IP_DF), which lwIP never sets, as Linux sets
 * it (dpdkif's output; never on a fragment, never on a looped-back
 * packet):
 * - a TCP segment has it unless its pcb has NS_SOF_NODF in so_options
 *   (bond sets that from IP_MTU_DISCOVER: ip_dont_fragment's DO and WANT
 *   give DF, DONT, PROBE, INTERFACE and OMIT do not); a SYN|ACK has it
 *   whatever the listener's policy, as Linux 6.18's (tests/apps/
 *   icmp_err.sh; ns_syncookie.c's under ns_tx_df), and so has what a
 *   listener, a TIME-WAIT pcb or no pcb answers with (resets, ACKs), as
 *   from Linux's control socket;
 * - a UDP datagram by bond's word (around its udp_sendto, for one that
 *   takes it: __ip_make_skb's rule).
 * Both say it in ns_tx_df, which the next IPv4 packet out takes (and
 * clears); the TCP hook says it, yes or no, for every segment.
 * ICMP has none, as from Linux's ICMP socket: lwIP's echo reply, built
 * on the request's header, has its DF taken off.
 */
#define NS_SOF_NODF	0x40U	/* a so_options bit lwIP leaves free */
extern bool ns_tx_df;

/* Port idx's netif, or NULL. */
struct netif *ns_netif(unsigned int idx);
unsigned int ns_nports(void);
/* The port a device name means (SO_BINDTODEVICE): the kernel interface
 * it drives (its iface), else its lwIP name ("dp0"); -1: none. */
int ns_port_by_dev(const char *name);

/* Counters of every port and of lwIP, one "name value" per line. */
void ns_print_stats(FILE *f);

#endif
