/*
 * A net_af_packet port's queue sockets, made ahead of the stack by a
 * helper process of the launcher's (ns_prewarm.h): what the driver will
 * ask for, and the stack's side of the handover. The helper itself is
 * ns_prewarm_helper.c (the launcher's alone).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ns_prewarm.h"

/* net_af_packet's defaults (its DFLT_FRAME_SIZE, DFLT_FRAME_COUNT) and
 * argument names */
#define AFP_FRAME_SIZE		2048
#define AFP_FRAME_COUNT		512
#define AFP_ARG_QPAIRS		"qpairs"
#define AFP_ARG_BLOCKSZ		"blocksz"
#define AFP_ARG_FRAMESZ		"framesz"
#define AFP_ARG_FRAMECNT	"framecnt"
#define AFP_ARG_BYPASS		"qdisc_bypass"

/* net_af_packet's ring arguments, in the order of devargs_read's values */
enum afp_arg {
	AFP_QPAIRS, AFP_BLOCKSZ, AFP_FRAMESZ, AFP_FRAMECNT, AFP_BYPASS,
	AFP_ARGS,
};

static const char *const afp_arg_names[AFP_ARGS] = {
	[AFP_QPAIRS] = AFP_ARG_QPAIRS, [AFP_BLOCKSZ] = AFP_ARG_BLOCKSZ,
	[AFP_FRAMESZ] = AFP_ARG_FRAMESZ, [AFP_FRAMECNT] = AFP_ARG_FRAMECNT,
	[AFP_BYPASS] = AFP_ARG_BYPASS,
};

/*
 * The ring arguments of a driver argument list "k=v,k=v" into val (read as
 * net_af_packet reads them: atoi into an unsigned int; the ones absent
 * keep what val held). Whether every key is one of them, each once: what
 * the driver then reads does not depend on how its version matches keys
 * (some take a key's first value, some its last, some match parts of key
 * names) or refuses others.
 */
static bool
devargs_read(const char *args, unsigned int val[AFP_ARGS])
{
	bool seen[AFP_ARGS] = { false };
	const char *p = args;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq != NULL ? (size_t)(eq - p) : len;
		char v[32];
		unsigned int k;

		for (k = 0; k < AFP_ARGS; k++)
			if (strlen(afp_arg_names[k]) == klen &&
			    strncmp(p, afp_arg_names[k], klen) == 0)
				break;
		if (eq == NULL || k == AFP_ARGS || seen[k])
			return false;
		seen[k] = true;
		snprintf(v, sizeof(v), "%.*s", (int)(len - klen - 1), eq + 1);
		val[k] = (unsigned int)atoi(v);
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

unsigned int
ns_prewarm_ring_of(const struct ns_port_config *pc, struct ns_prewarm_ring *ring)
{
	/* the driver's defaults */
	unsigned int v[AFP_ARGS] = {
		[AFP_QPAIRS] = 1, [AFP_BLOCKSZ] = (unsigned int)getpagesize(),
		[AFP_FRAMESZ] = AFP_FRAME_SIZE, [AFP_FRAMECNT] = AFP_FRAME_COUNT,
		[AFP_BYPASS] = 1,
	};
	unsigned int qpairs, blocksz, framesz, framecnt, bypass, blocks;

	if ((strcmp(pc->pmd, "net_af_packet") != 0 &&
	     strcmp(pc->pmd, "eth_af_packet") != 0) || !pc->prewarm ||
	    pc->iface[0] == '\0' || !devargs_read(pc->devargs, v))
		return 0;
	qpairs = v[AFP_QPAIRS];
	blocksz = v[AFP_BLOCKSZ];
	framesz = v[AFP_FRAMESZ];
	framecnt = v[AFP_FRAMECNT];
	bypass = v[AFP_BYPASS];
	/* the driver's own checks: what it refuses is not made */
	if (qpairs < 1 || qpairs > NS_PREWARM_MAX || blocksz == 0 ||
	    framesz == 0 || framecnt == 0 || bypass > 1 || framesz > blocksz)
		return 0;
	blocks = framecnt / (blocksz / framesz);
	if (blocks == 0)
		return 0;
	memset(ring, 0, sizeof(*ring));
	snprintf(ring->iface, sizeof(ring->iface), "%s", pc->iface);
	ring->req.tp_block_size = blocksz;
	ring->req.tp_block_nr = blocks;
	ring->req.tp_frame_size = framesz;
	ring->req.tp_frame_nr = framecnt;
	ring->version = TPACKET_V2;
	ring->loss = 1;
	ring->qdisc_bypass = (int)bypass;
	return qpairs;
}

void
ns_prewarm_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n > sizeof(sa->sun_path) - 1)
		n = sizeof(sa->sun_path) - 1;
	memcpy(sa->sun_path + 1, name, n);	/* sun_path[0] = 0: abstract */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* The calling process's network namespace, as its /proc file's inode. */
static bool
own_netns(dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st) < 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

/*
 * Whether fd is what the helper says it is: an AF_PACKET raw socket of
 * this network namespace, with r's version. (Its rings are the driver's
 * to check: mmap fails without them.)
 */
static bool
packet_socket_ok(int fd, const struct ns_prewarm_ring *r, dev_t ns_dev, ino_t ns_ino)
{
	struct stat st;
	socklen_t len = sizeof(int);
	int domain = -1, type = -1, version = -1, nsfd;
	bool same;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    domain != AF_PACKET ||
	    (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) < 0 ||
	    type != SOCK_RAW ||
	    (len = sizeof(int),
	     getsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, &len)) < 0 ||
	    version != r->version)
		return false;
	nsfd = ioctl(fd, SIOCGSKNS);
	if (nsfd < 0)
		return false;
	same = fstat(nsfd, &st) == 0 && st.st_dev == ns_dev && st.st_ino == ns_ino;
	close(nsfd);
	return same;
}

/* Whether the helper at the other end of conn is one we may trust: our
 * user's, or root's (another user could have taken the name). */
static bool
helper_trusted(int conn)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	       (cr.uid == 0 || cr.uid == geteuid());
}

unsigned int
ns_prewarm_take(const char *name, struct ns_prewarm_ring *rings, int *fds,
		unsigned int max, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * NS_PREWARM_MAX) * 2];
		struct cmsghdr align;
	} ctl;
	struct ns_prewarm_msg m;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct pollfd pf;
	struct sockaddr_un sa;
	struct cmsghdr *c;
	socklen_t salen;
	unsigned int nfds = 0;
	int got[NS_PREWARM_MAX];
	bool ok;
	dev_t ns_dev;
	ino_t ns_ino;
	ssize_t r;
	int fd;

	if (name == NULL || *name == '\0' || !own_netns(&ns_dev, &ns_ino))
		return 0;
	/* non-blocking: a full backlog is no helper, not a wait */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	ns_prewarm_addr(name, &sa, &salen);
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0 || !helper_trusted(fd)) {
		close(fd);
		return 0;	/* no helper (any more), or not ours */
	}
	pf.fd = fd;
	pf.events = POLLIN;
	if (poll(&pf, 1, timeout_ms) != 1) {
		close(fd);
		return 0;
	}
	r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	close(fd);
	if (r < 0)
		return 0;
	/* every fd that came, kept or closed */
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		unsigned int k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned int i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (nfds < NS_PREWARM_MAX)
				got[nfds++] = f;
			else
				close(f);
		}
	}
	ok = (size_t)r >= NS_PREWARM_MSG_HDR && m.magic == NS_PREWARM_MAGIC &&
	     m.n == nfds && m.n <= max && !(mh.msg_flags & MSG_CTRUNC) &&
	     (size_t)r == NS_PREWARM_MSG_HDR + m.n * sizeof(m.rings[0]);
	for (unsigned int i = 0; ok && i < nfds; i++)
		ok = packet_socket_ok(got[i], &m.rings[i], ns_dev, ns_ino);
	if (!ok) {
		for (unsigned int i = 0; i < nfds; i++)
			close(got[i]);
		return 0;
	}
	for (unsigned int i = 0; i < nfds; i++) {
		rings[i] = m.rings[i];
		rings[i].iface[sizeof(rings[i].iface) - 1] = '\0';
		fds[i] = got[i];
	}
	return nfds;
}
