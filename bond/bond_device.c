/*
 * The device window: the driver's system calls while a port's device is
 * created (ns_device_window, rte_vdev_init of a net_af_packet port, on the
 * thread that starts the stack).
 *
 * net_af_packet's probe opens its sockets as socket(AF_PACKET, SOCK_RAW,
 * htons(ETH_P_ALL)), sets each queue's up (PACKET_VERSION, PACKET_LOSS,
 * PACKET_QDISC_BYPASS, PACKET_RX_RING, PACKET_TX_RING), mmaps its rings,
 * binds it to the interface, and closes the one it only asks ioctls of.
 * In the kernel each ring setup, a bind that moves a socket already
 * hooked to frames, and the release of an AF_PACKET socket wait for an
 * RCU grace period (synchronize_net: 8-28 ms each on the test VM). So in
 * that window:
 *  - such a socket is opened with protocol 0: it takes no frame until its
 *    bind hooks it to ETH_P_ALL on the interface, which then unhooks
 *    nothing and does not wait; it ends as the driver asked, and the
 *    ioctl socket never queues a frame of the whole machine;
 *  - bond holds a copy of each until the window ends: the driver's close
 *    is then not the last one and returns at once; a copy whose socket
 *    the driver closed (or bond replaced) is released on a thread of its
 *    own, off the start-up path (the others just drop their copy);
 *  - a queue socket's rings come ready-made when zpnet run's helper made
 *    them (ns_prewarm.h): at the driver's PACKET_RX_RING, if one of the
 *    helper's sockets was set up exactly as the driver asked so far, it
 *    takes the driver's fd (dup3), and that PACKET_RX_RING and the
 *    PACKET_TX_RING after it return 0 without a wait.
 * The driver's socket() and setsockopt() reach bond through the
 * front-ends (the window drops the engine's guard, and marks the driver's
 * sockets BOND_FD_DEVICE in the fd table for the hooks' fd filter);
 * bond_guard stays set, so every other call still goes to the kernel.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "bond.h"
#include "ns.h"
#include "ns_log.h"
#include "ns_prewarm.h"

/* the ioctl socket and every queue's, and a few closed and made again */
#define DEVICE_SOCKS_MAX	(NS_PREWARM_MAX + 8)

struct device_sock {
	int fd, copy;
	dev_t dev;
	ino_t ino;	/* 0: not known */
	/* what the driver set on it so far (a new socket's values first) */
	int version, loss, qdisc_bypass;
	bool prewarmed;			/* the fd is now a helper's socket */
	struct tpacket_req req;		/* ...with these rings */
};

/* The helper's sockets, from the first window that needs one on. */
struct prewarmed {
	struct ns_prewarm_ring ring;
	int fd;		/* -1: in use by the driver, or released */
};

__thread bool bond_device_window;
static __thread int device_engine_guard;
static struct device_sock device_socks[DEVICE_SOCKS_MAX];
static unsigned int n_device_socks;
static char device_iface[IF_NAMESIZE];
static unsigned int device_prewarmed;	/* this window's */

static char prewarm_name[NS_PREWARM_NAME_MAX];
static bool prewarm_asked;
static struct prewarmed prewarm[NS_PREWARM_MAX];
static unsigned int n_prewarm;

void
bond_device_prewarm_init(const char *name)
{
	if (name != NULL && strlen(name) < sizeof(prewarm_name))
		strcpy(prewarm_name, name);
}

/* Whether fd is the file ds was (false when it cannot be told). */
static bool
fd_is(int fd, const struct device_sock *ds)
{
	struct stat st;

	return bond_kernel(__NR_fstat, fd, (long)&st, 0, 0, 0, 0) == 0 &&
	       st.st_dev == ds->dev && st.st_ino == ds->ino;
}

long
bond_device_socket(long a1, long a2, long a3, long a4, long a5, long a6)
{
	struct device_sock *ds;
	struct stat st;
	long fd;

	if ((int)a1 != AF_PACKET || ((int)a2 & BOND_SOCK_TYPE_MASK) != SOCK_RAW ||
	    (int)a3 != htons(ETH_P_ALL))
		return bond_kernel(__NR_socket, a1, a2, a3, a4, a5, a6);
	fd = bond_kernel(__NR_socket, a1, a2, 0, 0, 0, 0);
	if (fd < 0 || n_device_socks == DEVICE_SOCKS_MAX)
		return fd;
	ds = &device_socks[n_device_socks];
	memset(ds, 0, sizeof(*ds));
	ds->fd = (int)fd;
	ds->version = TPACKET_V1;
	if (bond_kernel(__NR_fstat, fd, (long)&st, 0, 0, 0, 0) == 0) {
		ds->dev = st.st_dev;
		ds->ino = st.st_ino;
	}
	ds->copy = ds->ino != 0 ? bond_fd_dup_high(ds->fd) : -1;
	if (ds->copy >= 0) {
		n_device_socks++;
		/* the hooks' fd filter then lets its setsockopt reach bond
		 * (an entry already there, stale, would let it too: kept) */
		if (bond_fd_is_kernel(ds->fd))
			bond_fd_set(ds->fd, BOND_FD_DEVICE, NULL);
	}
	return fd;
}

/* The window's socket behind fd (the latest, should the driver have
 * closed one and got its number again), or NULL. */
static struct device_sock *
device_sock_of(int fd)
{
	for (unsigned int i = n_device_socks; i-- > 0;)
		if (device_socks[i].fd == fd)
			return &device_socks[i];
	return NULL;
}

static void
prewarm_fetch(void)
{
	struct ns_prewarm_ring rings[NS_PREWARM_MAX];
	int fds[NS_PREWARM_MAX];
	uint64_t t0 = ns_now_ns();
	unsigned int n;

	prewarm_asked = true;
	n = ns_prewarm_take(prewarm_name, rings, fds, NS_PREWARM_MAX,
			    NS_PREWARM_TAKE_MS);
	NS_DEBUG("prewarm: %u queue sockets from zpnet run's helper, after %" PRIu64
		 " us\n", n, (ns_now_ns() - t0) / 1000);
	for (unsigned int i = 0; i < n; i++) {
		prewarm[i].ring = rings[i];
		prewarm[i].fd = fds[i];
	}
	n_prewarm = n;
}

/*
 * At the driver's PACKET_RX_RING on ds: a helper's socket for this
 * window's interface, set up as the driver asked, takes the driver's fd.
 * Whether it did.
 */
static bool
prewarm_swap(struct device_sock *ds, const struct tpacket_req *req)
{
	if (!prewarm_asked && prewarm_name[0] != '\0')
		prewarm_fetch();
	for (unsigned int i = 0; i < n_prewarm; i++) {
		struct prewarmed *p = &prewarm[i];

		if (p->fd < 0 || strcmp(p->ring.iface, device_iface) != 0 ||
		    memcmp(&p->ring.req, req, sizeof(*req)) != 0 ||
		    p->ring.version != ds->version || p->ring.loss != ds->loss ||
		    p->ring.qdisc_bypass != ds->qdisc_bypass)
			continue;
		/* the driver's own socket: bond's copy keeps it (released
		 * with the window's, as one the driver closed) */
		if (bond_kernel(__NR_dup3, p->fd, ds->fd, 0, 0, 0, 0) < 0)
			return false;
		bond_kernel(__NR_close, p->fd, 0, 0, 0, 0, 0);
		p->fd = -1;
		ds->prewarmed = true;
		ds->req = *req;
		device_prewarmed++;
		return true;
	}
	return false;
}

static bool
opt_int(long val, long len, int *out)
{
	if (val == 0 || (size_t)len < sizeof(int))
		return false;
	memcpy(out, (const void *)val, sizeof(int));
	return true;
}

long
bond_device_setsockopt(long a1, long a2, long a3, long a4, long a5, long a6)
{
	struct device_sock *ds = device_sock_of((int)a1);
	const struct tpacket_req *req = (const struct tpacket_req *)a4;
	long rc;
	int v;

	if (ds == NULL || (int)a2 != SOL_PACKET)
		return bond_kernel(__NR_setsockopt, a1, a2, a3, a4, a5, a6);
	switch ((int)a3) {
	case PACKET_RX_RING:
		if (!ds->prewarmed && a4 != 0 && (size_t)a5 == sizeof(*req) &&
		    prewarm_swap(ds, req))
			return 0;
		break;
	case PACKET_TX_RING:
		if (ds->prewarmed && a4 != 0 && (size_t)a5 == sizeof(*req) &&
		    memcmp(req, &ds->req, sizeof(*req)) == 0)
			return 0;	/* made with the RX ring, as asked */
		break;
	case PACKET_VERSION:
	case PACKET_LOSS:
	case PACKET_QDISC_BYPASS:
		rc = bond_kernel(__NR_setsockopt, a1, a2, a3, a4, a5, a6);
		if (rc == 0 && !ds->prewarmed && opt_int(a4, a5, &v)) {
			if ((int)a3 == PACKET_VERSION)
				ds->version = v;
			else if ((int)a3 == PACKET_LOSS)
				ds->loss = v != 0;
			else
				ds->qdisc_bypass = v != 0;
		}
		return rc;
	default:
		break;
	}
	return bond_kernel(__NR_setsockopt, a1, a2, a3, a4, a5, a6);
}

static void *
device_release_main(void *arg)
{
	int *fds = arg;

	bond_guard++;
	for (unsigned int i = 0; fds[i] >= 0; i++)
		bond_kernel(__NR_close, fds[i], 0, 0, 0, 0, 0);
	free(fds);
	return NULL;
}

/* Close fds (-1 ended) on a detached thread: each release may wait. */
static void
release_async(int *fds)
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* this thread blocks every signal (start_stack): so does that one */
	rc = pthread_create(&tid, &attr, device_release_main, fds);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		device_release_main(fds);
}

/*
 * The window's copies: dropped, or released on a thread of their own
 * where the driver closed the socket or a helper's took its fd. With
 * all_prewarmed, also the helper's sockets no driver took; else those of
 * this window's interface.
 */
static void
device_socks_drop(bool all_prewarmed)
{
	int *closed = malloc((n_device_socks + n_prewarm + 1) * sizeof(*closed));
	unsigned int n = 0;

	for (unsigned int i = 0; i < n_device_socks; i++) {
		struct device_sock *ds = &device_socks[i];
		void *obj;

		if (bond_fd_get(ds->fd, &obj) == BOND_FD_DEVICE)
			bond_fd_clear(ds->fd);
		if (closed != NULL && !fd_is(ds->fd, ds))
			closed[n++] = ds->copy;
		else
			bond_kernel(__NR_close, ds->copy, 0, 0, 0, 0, 0);
	}
	n_device_socks = 0;
	for (unsigned int i = 0; i < n_prewarm && closed != NULL; i++) {
		struct prewarmed *p = &prewarm[i];

		if (p->fd >= 0 && (all_prewarmed ||
				   strcmp(p->ring.iface, device_iface) == 0)) {
			closed[n++] = p->fd;
			p->fd = -1;
		}
	}
	if (n == 0) {
		free(closed);
		return;
	}
	closed[n] = -1;
	release_async(closed);
}

unsigned int
bond_device_window_fn(bool open, const char *iface)
{
	unsigned int n;

	if (open) {
		snprintf(device_iface, sizeof(device_iface), "%s",
			 iface != NULL ? iface : "");
		device_prewarmed = 0;
		device_engine_guard = bond_engine_guard_drop != NULL ?
				      bond_engine_guard_drop() : 0;
		bond_device_window = true;
		return 0;
	}
	bond_device_window = false;
	if (bond_engine_guard_restore != NULL)
		bond_engine_guard_restore(device_engine_guard);
	device_socks_drop(false);
	n = device_prewarmed;
	device_prewarmed = 0;
	return n;
}

void
bond_device_prewarm_drop(void)
{
	device_socks_drop(true);
}
