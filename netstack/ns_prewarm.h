/*
 * A net_af_packet port's queue sockets, made ahead of the stack.
 *
 * Each queue of net_af_packet is one AF_PACKET socket with an RX and a TX
 * ring, and each ring setup waits in the kernel for an RCU grace period
 * (packet_set_ring's synchronize_net: 8-28 ms each on the test VM) whatever
 * the socket's state. So `zpnet run` starts a helper process, named
 * zpnet-prewarm, just before it execs PROGRAM (ns_prewarm_spawn): the
 * helper opens each queue's socket as the driver would and sets its rings
 * up while PROGRAM loads and runs up to its first socket. The first
 * process of the tree that creates the port's device takes them
 * (ns_prewarm_take, over the abstract unix socket that ZPNET_PREWARM
 * names; only the helper's own user, root, or PROGRAM and its descendants
 * may; the stack takes them only from a helper of its own user or root,
 * and only AF_PACKET sockets of its network namespace) and bond puts them
 * in place of the driver's at its PACKET_RX_RING (bond_device.c). The
 * helper exits once it has handed them over, when PROGRAM exits, or after
 * NS_PREWARM_WAIT_S. No DPDK here: the launcher links ns_prewarm.c and
 * ns_prewarm_helper.c, the library ns_prewarm.c.
 */
#ifndef NS_PREWARM_H
#define NS_PREWARM_H

#include <linux/if_packet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ns_config.h"

#define NS_PREWARM_ENV		"ZPNET_PREWARM"
#define NS_PREWARM_MAX		16	/* queue sockets handed over at most */
#define NS_PREWARM_NAME_MAX	64	/* the abstract socket's name */
#define NS_PREWARM_WAIT_S	60	/* the helper's longest wait */
#define NS_PREWARM_TAKE_MS	2000	/* the stack's longest wait for it */

/* A queue socket as net_af_packet sets it up, and for which interface. */
struct ns_prewarm_ring {
	char iface[IF_NAMESIZE];
	struct tpacket_req req;
	int version;		/* PACKET_VERSION */
	int loss;		/* PACKET_LOSS */
	int qdisc_bypass;	/* PACKET_QDISC_BYPASS */
};

/*
 * What net_af_packet will ask for pc's queues, from its defaults and pc's
 * devargs (qpairs, blocksz, framesz, framecnt, qdisc_bypass), read as the
 * driver reads them. The number of queues, or 0: not a net_af_packet
 * port, prewarm = no, or arguments the driver would refuse.
 */
unsigned int ns_prewarm_ring_of(const struct ns_port_config *pc,
				struct ns_prewarm_ring *ring);

/*
 * The launcher, single-threaded, just before its exec: start the helper
 * for cfg's net_af_packet ports and put the socket's name in name (the
 * value of NS_PREWARM_ENV). 0, or a negative errno (-ENOENT: no port to
 * prewarm; -EPERM: this process is PID 1 or a subreaper, to which the
 * orphaned helper would belong); nothing is left behind on failure.
 */
int ns_prewarm_spawn(const struct ns_config *cfg, char *name, size_t len);

/*
 * The stack: take the helper's sockets, waiting up to timeout_ms for it
 * to finish their rings. The number of sockets (close-on-exec fds in fds,
 * what each is in rings), 0 when there are none (no helper, another
 * process took them, a helper of another user, an answer that is not
 * what it says).
 */
unsigned int ns_prewarm_take(const char *name, struct ns_prewarm_ring *rings,
			     int *fds, unsigned int max, int timeout_ms);

/* The handover's message (with an SCM_RIGHTS fd per ring) and address. */
#define NS_PREWARM_MAGIC	0x7a707277u	/* "zprw" */

struct ns_prewarm_msg {
	uint32_t magic;
	uint32_t n;
	struct ns_prewarm_ring rings[NS_PREWARM_MAX];
};

#define NS_PREWARM_MSG_HDR	offsetof(struct ns_prewarm_msg, rings)

/* The abstract unix socket address of name, and its length. */
void ns_prewarm_addr(const char *name, struct sockaddr_un *sa, socklen_t *len);

#endif
