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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/*
 * The value of key in a driver argument list "k=v,k=v" (the first one, as
 * rte_kvargs_get finds it), into out. Whether it is there.
 */
static bool
devarg(const char *args, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = args;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = len - klen - 1;

			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* An unsigned driver argument as net_af_packet reads it (atoi into an
 * unsigned int); def when absent. */
static unsigned int
devarg_uint(const char *args, const char *key, unsigned int def)
{
	char v[32];

	return devarg(args, key, v, sizeof(v)) ? (unsigned int)atoi(v) : def;
}

unsigned int
ns_prewarm_ring_of(const struct ns_port_config *pc, struct ns_prewarm_ring *ring)
{
	const char *args = pc->devargs;
	unsigned int qpairs, blocksz, framesz, framecnt, bypass, blocks;

	if ((strcmp(pc->pmd, "net_af_packet") != 0 &&
	     strcmp(pc->pmd, "eth_af_packet") != 0) || !pc->prewarm ||
	    pc->iface[0] == '\0')
		return 0;
	qpairs = devarg_uint(args, AFP_ARG_QPAIRS, 1);
	blocksz = devarg_uint(args, AFP_ARG_BLOCKSZ, (unsigned int)getpagesize());
	framesz = devarg_uint(args, AFP_ARG_FRAMESZ, AFP_FRAME_SIZE);
	framecnt = devarg_uint(args, AFP_ARG_FRAMECNT, AFP_FRAME_COUNT);
	bypass = devarg_uint(args, AFP_ARG_BYPASS, 1);
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

unsigned int
ns_prewarm_take(const char *name, struct ns_prewarm_ring *rings, int *fds,
		unsigned int max, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * NS_PREWARM_MAX)];
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
	unsigned int n = 0, nfds = 0;
	int got[NS_PREWARM_MAX];
	ssize_t r;
	int fd;

	if (name == NULL || *name == '\0')
		return 0;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ns_prewarm_addr(name, &sa, &salen);
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		close(fd);
		return 0;	/* no helper (any more) */
	}
	pf.fd = fd;
	pf.events = POLLIN;
	if (poll(&pf, 1, timeout_ms) != 1) {
		close(fd);
		return 0;
	}
	r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	close(fd);
	if (r < 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfds > NS_PREWARM_MAX)
			nfds = NS_PREWARM_MAX;
		memcpy(got, CMSG_DATA(c), nfds * sizeof(int));
		break;
	}
	if ((size_t)r >= NS_PREWARM_MSG_HDR && m.magic == NS_PREWARM_MAGIC &&
	    m.n == nfds && m.n <= max && !(mh.msg_flags & MSG_CTRUNC) &&
	    (size_t)r == NS_PREWARM_MSG_HDR + m.n * sizeof(m.rings[0])) {
		n = m.n;
		for (unsigned int i = 0; i < n; i++) {
			rings[i] = m.rings[i];
			rings[i].iface[sizeof(rings[i].iface) - 1] = '\0';
			fds[i] = got[i];
		}
		return n;
	}
	for (unsigned int i = 0; i < nfds; i++)
		close(got[i]);
	return 0;
}
