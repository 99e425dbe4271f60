/*
 * zpnet run's prewarm helper (ns_prewarm.h): a process that makes a
 * net_af_packet port's queue sockets and their rings while PROGRAM starts,
 * and hands them to the stack. Linked into the launcher only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, struct ucred, close_range */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ns_prewarm.h"

#define PREWARM_HELPER_NAME	"zpnet-prewarm"
#define PREWARM_BACKLOG		4
#define PREWARM_FIRST_FD	3	/* the helper keeps fds 3 and 4 */
#define PREWARM_ANCESTRY_MAX	64	/* parents walked from a peer */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
set_int(int fd, int opt, int v)
{
	return setsockopt(fd, SOL_PACKET, opt, &v, sizeof(v));
}

/* One queue's socket, as net_af_packet sets it up before its bind; -1
 * when the kernel refuses a step. */
static int
open_queue(const struct ns_prewarm_ring *r)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (set_int(fd, PACKET_VERSION, r->version) < 0 ||
	    set_int(fd, PACKET_LOSS, r->loss) < 0 ||
	    (r->qdisc_bypass && set_int(fd, PACKET_QDISC_BYPASS, 1) < 0) ||
	    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &r->req, sizeof(r->req)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &r->req, sizeof(r->req)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct queue_job {
	const struct ns_prewarm_ring *ring;
	int fd;
	pthread_t thread;
	bool started;
};

static void *
queue_job_run(void *arg)
{
	struct queue_job *j = arg;

	j->fd = open_queue(j->ring);
	return NULL;
}

/*
 * Each queue's socket into fds (-1: refused), the queues on threads of
 * their own: each ring setup waits for a grace period, and waits that
 * overlap share one.
 */
static void
open_queues(const struct ns_prewarm_ring *rings, unsigned int n, int *fds)
{
	struct queue_job jobs[NS_PREWARM_MAX];

	for (unsigned int i = 1; i < n; i++) {
		jobs[i].ring = &rings[i];
		jobs[i].fd = -1;
		jobs[i].started = pthread_create(&jobs[i].thread, NULL,
						 queue_job_run, &jobs[i]) == 0;
	}
	if (n > 0)
		fds[0] = open_queue(&rings[0]);
	for (unsigned int i = 1; i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
		else
			jobs[i].fd = open_queue(&rings[i]);
		fds[i] = jobs[i].fd;
	}
}

/* pid's parent, from /proc; 0 when it cannot be told. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd, ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold anything but the last ')' */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

/*
 * Whether the peer of conn may have the sockets: a process of our user,
 * root, or PROGRAM and its descendants whatever their user (a wrapper
 * such as setpriv may drop to another before the server starts).
 */
static bool
peer_allowed(int conn, pid_t program)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	pid_t p;

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	if (cr.uid == geteuid() || cr.uid == 0)
		return true;
	p = cr.pid;
	for (int depth = 0; depth < PREWARM_ANCESTRY_MAX && p > 0; depth++) {
		if (p == program)
			return true;
		if (p == 1)
			break;
		p = parent_of(p);
	}
	return false;
}

static int
send_rings(int conn, struct ns_prewarm_msg *m, const int *fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * NS_PREWARM_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {
		.iov_base = m,
		.iov_len = NS_PREWARM_MSG_HDR + m->n * sizeof(m->rings[0]),
	};
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (m->n > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * m->n);
	}
	return sendmsg(conn, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/*
 * The helper: fds 3 (the listening socket) and 4 (a pidfd of PROGRAM)
 * only, stdio on /dev/null so that nobody waits for its output. It makes
 * the sockets, then hands them to the first allowed process that asks
 * (peer_allowed), and exits then, when PROGRAM exits, or after
 * NS_PREWARM_WAIT_S.
 */
static void __attribute__((noreturn))
helper_main(const struct ns_prewarm_ring *rings, unsigned int n, pid_t program)
{
	struct ns_prewarm_msg m = { .magic = NS_PREWARM_MAGIC };
	int fds[NS_PREWARM_MAX], made[NS_PREWARM_MAX], null;
	int64_t deadline = now_ms() + NS_PREWARM_WAIT_S * 1000;

	prctl(PR_SET_NAME, PREWARM_HELPER_NAME, 0, 0, 0);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		for (int fd = 0; fd < PREWARM_FIRST_FD; fd++)
			dup2(null, fd);
		if (null >= PREWARM_FIRST_FD + 2)
			close(null);
	}
	open_queues(rings, n, made);
	for (unsigned int i = 0; i < n; i++)
		if (made[i] >= 0) {
			m.rings[m.n] = rings[i];
			fds[m.n++] = made[i];
		}
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = PREWARM_FIRST_FD, .events = POLLIN },
			{ .fd = PREWARM_FIRST_FD + 1, .events = POLLIN },
		};
		int64_t left = deadline - now_ms();
		int conn;

		if (left <= 0 || (poll(pf, 2, (int)left) < 0 && errno != EINTR))
			break;
		if (pf[1].revents != 0)
			break;	/* PROGRAM exited */
		if (pf[0].revents == 0)
			continue;
		conn = accept4(PREWARM_FIRST_FD, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		if (!peer_allowed(conn, program)) {
			close(conn);
			continue;
		}
		send_rings(conn, &m, fds);
		close(conn);
		break;
	}
	_exit(0);
}

/* Put fd at want (fds at or above want are free, or are the others). */
static int
move_fd(int fd, int want)
{
	if (fd == want)
		return 0;
	if (dup2(fd, want) < 0)
		return -1;
	close(fd);
	return 0;
}

int
ns_prewarm_spawn(const struct ns_config *cfg, char *name, size_t len)
{
	struct ns_prewarm_ring rings[NS_PREWARM_MAX];
	struct sockaddr_un sa;
	socklen_t salen;
	unsigned int n = 0;
	uint64_t tag;
	int lfd, pidfd, status, err, subreaper = 0;
	pid_t mid, program = getpid();

	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		struct ns_prewarm_ring r;
		unsigned int q = ns_prewarm_ring_of(&cfg->ports[i], &r);

		for (unsigned int k = 0; k < q && n < NS_PREWARM_MAX; k++)
			rings[n++] = r;
	}
	if (n == 0)
		return -ENOENT;
	/*
	 * PID 1 (a container's entrypoint) or a subreaper: the helper, once
	 * orphaned, would be re-parented to PROGRAM, which may reap, or
	 * fail to reap, a child it never made. No helper then.
	 */
	if (getpid() == 1 ||
	    (prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) == 0 && subreaper))
		return -EPERM;
	if (getrandom(&tag, sizeof(tag), GRND_NONBLOCK) != sizeof(tag))
		tag = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
	if ((size_t)snprintf(name, len, "zpnet-prewarm-%d-%016llx", (int)getpid(),
			     (unsigned long long)tag) >= len)
		return -ENAMETOOLONG;
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	ns_prewarm_addr(name, &sa, &salen);
	if (bind(lfd, (struct sockaddr *)&sa, salen) < 0 ||
	    listen(lfd, PREWARM_BACKLOG) < 0) {
		err = -errno;
		close(lfd);
		return err;
	}
	/* PROGRAM is this process once it execs: the helper watches it */
	pidfd = (int)syscall(SYS_pidfd_open, program, 0);
	if (pidfd < 0) {
		err = -errno;
		close(lfd);
		return err;
	}
	/*
	 * Forked twice, so the helper is no child of PROGRAM's (a server that
	 * reaps every child would find one it never made); the middle one
	 * exits at once and is reaped here.
	 */
	mid = fork();
	if (mid < 0) {
		err = -errno;
		close(lfd);
		close(pidfd);
		return err;
	}
	if (mid == 0) {
		if (fork() != 0)
			_exit(0);
		/* fds 3 and 4, whatever they were; nothing else of ours */
		lfd = fcntl(lfd, F_DUPFD, PREWARM_FIRST_FD + 2);
		pidfd = fcntl(pidfd, F_DUPFD, PREWARM_FIRST_FD + 2);
		if (lfd < 0 || pidfd < 0 || move_fd(lfd, PREWARM_FIRST_FD) < 0 ||
		    move_fd(pidfd, PREWARM_FIRST_FD + 1) < 0)
			_exit(1);
		close_range(PREWARM_FIRST_FD + 2, ~0u, 0);
		helper_main(rings, n, program);
	}
	close(lfd);
	close(pidfd);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

