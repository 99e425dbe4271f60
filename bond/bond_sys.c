/*
 * The socket and descriptor handlers. Every one has the same shape: look up
 * the owner of the fd; a kernel fd goes to the kernel unchanged; a stack
 * socket is served here. They return what the kernel returns (a value or
 * -errno) and never touch errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/close_range.h>
#include <linux/errqueue.h>

#include "bond.h"
#include "bond_sys.h"
#include "ns.h"
#include "ns_log.h"

#define BOND_IOV_MAX		1024	/* Linux's UIO_MAXIOV */
#define BOND_OPTVAL_MAX		256	/* above every option value bond serves */
_Static_assert(sizeof(struct tcp_info) <= BOND_OPTVAL_MAX, "TCP_INFO fits");

/* ---- helpers ---- */

static struct bond_sock *
sock_of(long fd)
{
	if (fd < 0 || fd > INT_MAX)
		return NULL;
	return bond_fd_sock((int)fd);
}

/*
 * SO_LINGER with a time, on a blocking socket: the last close() waits until
 * what was written is acknowledged, or the time is up (then the data is
 * still delivered in the background, as zpnet never discards it).
 */
static long
linger_turn(void *arg)
{
	struct bond_sock *sk = arg;
	bool done;

	bond_enter();
	bond_poll_locked();
	done = sk->proto->tx_done(sk);
	bond_leave();
	return done ? 0 : BOND_WAIT_MORE;
}

static void
linger_wait(struct bond_sock *sk)
{
	static const struct bond_wait_ops ops = { .turn = linger_turn };
	struct bond_waiter w;

	bond_waiter_init(&w, (uint64_t)sk->opt.linger_s * BOND_NS_PER_S);
	/* a handler or the time ends the wait; close() itself still
	 * succeeds; not a cancellation point (the fd is gone already) */
	if (linger_turn(sk) == BOND_WAIT_MORE)
		bond_wait(&w, &ops, sk, false, 0);
}

/*
 * Drop one fd's hold; the last fd of the last process that holds the
 * socket closes it (bond_proc.c), as the kernel's last close does.
 */
static void
sock_unref(struct bond_sock *sk)
{
	bond_enter();
	if (bond_sock_last(sk) && sk->opt.linger_on && sk->opt.linger_s > 0 &&
	    !sk->nonblock && sk->proto->tx_done != NULL) {
		bond_leave();
		linger_wait(sk);
		bond_enter();
	}
	bond_sock_drop(sk);
	bond_leave();
}

/* A registered socket no fd got: closed as a last close would. */
static void
sock_abandon(struct bond_sock *sk)
{
	bond_enter();
	bond_sock_hold(sk);
	bond_sock_drop(sk);
	bond_leave();
}

/* The inode of kernel socket fd, by which `zpnet stats` finds the fds
 * of every process holding it in /proc/PID/fd ("socket:[INO]"). */
static uint64_t
kernel_ino(long fd)
{
	struct stat st;

	if (bond_kernel(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) < 0)
		return 0;
	return (uint64_t)st.st_ino;
}

/*
 * fd now refers to sk: one more hold; -EMFILE when fd is out of the table.
 * The hold comes first: a fork in between finds this process holding sk
 * (a holder without the fd is released at its exit), never an fd without
 * the hold.
 */
static int
sock_install(int fd, struct bond_sock *sk)
{
	bond_enter();
	bond_sock_hold(sk);
	bond_leave();
	if (bond_fd_set(fd, BOND_FD_SOCK, sk) < 0) {
		sock_unref(sk);
		return -EMFILE;
	}
	return 0;
}

/* Forget what bond knew about fd (the kernel closes it separately). */
static void
fd_release(int fd)
{
	void *obj;

	switch (bond_fd_get(fd, &obj)) {
	case BOND_FD_SOCK:
		bond_fd_clear(fd);
		sock_unref(obj);
		break;
	case BOND_FD_EPOLL:
		bond_fd_clear(fd);
		bond_enter();
		if (bond_epoll_unref(obj)) {	/* no epoll_wait on it */
			bond_epoll_free(obj);
		} else {
			/* a waiter goes on with the kernel's part, as Linux's */
			long d = bond_kernel(SYS_fcntl, bond_epoll_kfd(obj),
					     F_DUPFD_CLOEXEC, 0, 0, 0, 0);

			/* not where the app's next open() lands */
			if (d >= 0)
				bond_epoll_keep_kfd(obj,
						    bond_fd_move_high((int)d));
		}
		bond_leave();
		break;
	case BOND_FD_KERNEL:
	case BOND_FD_DEVICE:
		break;
	}
}

/* Policy said "kernel": the socket continues as the kernel socket it is. */
static void
sock_detach(int fd, struct bond_sock *sk)
{
	bond_fd_clear(fd);
	sock_unref(sk);
}

static bool
to_kernel(struct bond_sock *sk, const struct sockaddr *sa, socklen_t len)
{
	return bond_policy_kernel(&bond_cfg, sa, len);
}

/* A socket address from the application, as Linux's move_addr_to_kernel:
 * a length past sockaddr_storage is EINVAL, a fault EFAULT. */
static long
sa_in(struct sockaddr_storage *k, const void *usa, socklen_t len)
{
	if ((int)len < 0 || len > sizeof(*k))
		return -EINVAL;
	if (bond_copy_from_user(k, usa, len) != len)
		return -EFAULT;
	return 0;
}

/* An address klen long to the application, as Linux's move_addr_to_user:
 * *ulen in: the room at usa (negative: EINVAL), out: klen; the copy is
 * cut to the room. */
static long
sa_out(void *usa, socklen_t *ulen, const struct sockaddr_storage *k,
       socklen_t klen)
{
	socklen_t room;

	if (bond_copy_from_user(&room, ulen, sizeof(room)) != sizeof(room))
		return -EFAULT;
	if ((int)room < 0)
		return -EINVAL;
	if (room > klen)
		room = klen;
	if (bond_copy_to_user(usa, k, room) != room ||
	    bond_copy_to_user(ulen, &klen, sizeof(klen)) != sizeof(klen))
		return -EFAULT;
	return 0;
}

static void
raise_sigpipe(void)
{
	long pid = bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0);
	long tid = bond_kernel(SYS_gettid, 0, 0, 0, 0, 0, 0);

	bond_kernel(SYS_tgkill, pid, tid, SIGPIPE, 0, 0, 0);
}

static size_t
iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Advance an iovec array (copied into dst) past n bytes; returns count. */
static int
iov_advance(struct iovec *iov, int iovcnt, size_t n)
{
	int i = 0;

	while (i < iovcnt && n >= iov[i].iov_len) {
		n -= iov[i].iov_len;
		i++;
	}
	if (i < iovcnt) {
		iov[i].iov_base = (char *)iov[i].iov_base + n;
		iov[i].iov_len -= n;
	}
	memmove(iov, iov + i, (size_t)(iovcnt - i) * sizeof(*iov));
	return iovcnt - i;
}

/* ---- data ---- */

/*
 * The shape of every blocking call: try under the stack lock; on -EAGAIN
 * poll the port once and try again; then, unless non-blocking, wait
 * (busy-poll, then naps) until the call stops saying -EAGAIN or timeout_ns
 * passes (0: forever).
 */
struct block_args {
	struct bond_sock *sk;
	long (*try)(struct bond_sock *sk, void *arg);
	void *arg;
};

static long
block_turn(void *arg)
{
	struct block_args *b = arg;
	long r;

	bond_enter();
	r = b->try(b->sk, b->arg);
	if (r == -EAGAIN) {
		bond_poll_locked();
		r = b->try(b->sk, b->arg);
	}
	bond_leave();
	return r == -EAGAIN ? BOND_WAIT_MORE : r;
}

/* fresh: the call has moved nothing yet, so it is a cancellation point
 * and, without a timeout, restarts under SA_RESTART; a call that moved
 * bytes ends at a signal with them, as Linux returns what it copied. */
static inline long
sock_block(struct bond_sock *sk, long (*try)(struct bond_sock *sk, void *arg),
	   void *arg, bool nonblock, uint64_t timeout_ns, bool fresh)
{
	static const struct bond_wait_ops ops = { .turn = block_turn };
	struct block_args b = { sk, try, arg };
	struct bond_waiter w;
	long r = block_turn(&b);

	if (r != BOND_WAIT_MORE)
		return r;
	if (nonblock)
		return -EAGAIN;
	bond_waiter_init(&w, timeout_ns);
	bond_waiter_paced(&w);	/* recv, accept: a request's wait */
	w.cancel = fresh;
	return bond_wait(&w, &ops, &b, timeout_ns == 0 && fresh, -EAGAIN);
}

struct recv_args {
	const struct iovec *iov;
	int iovcnt;
	int flags;
	struct sockaddr *from;
	socklen_t *fromlen;
};

static long
try_recv(struct bond_sock *sk, void *arg)
{
	struct recv_args *a = arg;
	long r = sk->proto->recv(sk, a->iov, a->iovcnt, a->flags, a->from,
				 a->fromlen);

	if (r > 0 && !(a->flags & MSG_PEEK))
		sk->bytes_in += (uint64_t)r;
	return r;
}

/* cancel: nothing received yet by this call (a cancellation point);
 * timeout_ns: the wait's (0: none) */
static long
sock_recv_once(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	       int flags, struct sockaddr *from, socklen_t *fromlen, bool cancel,
	       uint64_t timeout_ns)
{
	struct recv_args a = { iov, iovcnt, flags, from, fromlen };

	return sock_block(sk, try_recv, &a,
			  sk->nonblock || (flags & MSG_DONTWAIT), timeout_ns,
			  cancel);
}

/* The application's iovec array, copied in; false where it faults. */
static bool
iov_in(struct iovec *dst, const struct iovec *uiov, int iovcnt)
{
	size_t n = (size_t)iovcnt * sizeof(*uiov);

	return bond_copy_from_user(dst, uiov, n) == n;
}

/* The largest control message an error queue's entry has: the extended
 * error and an IPv6 offender. */
#define BOND_ERRQ_CMSG_MAX	(sizeof(struct sock_extended_err) + \
				 sizeof(struct sockaddr_in6))

/* recv with MSG_ERRQUEUE: the oldest entry of the error queue, or EAGAIN,
 * never a wait (Linux's ip_recv_error); from: the datagram's destination;
 * m: the rest, for a cmsg (or NULL). */
static long
sock_recv_err(struct bond_sock *sk, const struct iovec *iov, int iovcnt,
	      struct sockaddr *from, socklen_t *fromlen, struct bond_errq_msg *m)
{
	struct bond_errq_msg local;
	long r;

	if (sk->proto->recv_err == NULL)
		return -EAGAIN;	/* no queue: Linux's empty one */
	if (m == NULL)
		m = &local;
	bond_enter();
	r = sk->proto->recv_err(sk, iov, iovcnt, m);
	bond_leave();
	if (r >= 0 && from != NULL && fromlen != NULL) {
		memcpy(from, &m->name, *fromlen < m->namelen ? *fromlen : m->namelen);
		*fromlen = m->namelen;
	}
	return r;
}

/* read_call: read/readv, where nothing to read returns 0 at once on every
 * socket, as Linux's sock_read_iter ("match SYS5"); recv of nothing waits
 * for data instead. cancel: the call has received nothing yet (recvmmsg's
 * later messages have). */
static long
sock_recv(struct bond_sock *sk, const struct iovec *uiov, int iovcnt,
	  int flags, struct sockaddr *from, socklen_t *fromlen, bool read_call,
	  bool cancel)
{
	struct iovec left[BOND_IOV_MAX];
	size_t want, total = 0;
	uint64_t end = 0;
	long r;

	if (iovcnt < 0 || iovcnt > BOND_IOV_MAX)
		return -EINVAL;
	if (!iov_in(left, uiov, iovcnt))
		return -EFAULT;
	want = iov_total(left, iovcnt);
	if (flags & MSG_ERRQUEUE)
		return sock_recv_err(sk, left, iovcnt, from, fromlen, NULL);
	if (read_call && want == 0)
		return 0;
	if (sk->proto->type != SOCK_STREAM || (flags & MSG_PEEK))
		return sock_recv_once(sk, left, iovcnt, flags, from, fromlen,
				      cancel, sk->opt.rcvtimeo_ns);
	/* Linux's target: all of it (MSG_WAITALL), else SO_RCVLOWAT bytes
	 * or fewer when fewer were asked for; what arrived is taken as it
	 * comes, and a signal, a timeout, EOF or a non-blocking socket end
	 * the call with what it has */
	if (!(flags & MSG_WAITALL) && want > (size_t)sk->opt.rcvlowat)
		want = (size_t)sk->opt.rcvlowat;
	if (want <= 1)
		return sock_recv_once(sk, left, iovcnt, flags, from, fromlen,
				      cancel, sk->opt.rcvtimeo_ns);
	/* SO_RCVTIMEO bounds the whole call, as Linux's */
	if (sk->opt.rcvtimeo_ns != 0)
		end = bond_stack->now_ns() + sk->opt.rcvtimeo_ns;
	while (total < want) {
		uint64_t timeout = 0;

		if (end != 0) {
			uint64_t now = bond_stack->now_ns();

			if (total > 0 && now >= end)
				break;
			/* a wait of 0 ns would be none: at least 1 */
			timeout = now < end ? end - now : 1;
		}
		r = sock_recv_once(sk, left, iovcnt, flags & ~MSG_WAITALL,
				   from, fromlen, cancel && total == 0, timeout);
		if (r <= 0)
			return total > 0 ? (long)total : r;
		total += (size_t)r;
		iovcnt = iov_advance(left, iovcnt, (size_t)r);
	}
	return (long)total;
}

struct send_args {
	struct bond_sock *sk;
	struct iovec *left;	/* what is left to send */
	int iovcnt, flags;
	const struct sockaddr *to;
	socklen_t tolen;
	size_t want, total;
	struct bond_waiter *w;	/* once waiting: a cancel only before any byte */
};

/* Send what the socket takes now: the total when done, an error, or
 * BOND_WAIT_MORE when it takes nothing more for now. */
static long
send_turn(void *arg)
{
	struct send_args *a = arg;
	struct bond_sock *sk = a->sk;
	long r;

	for (;;) {
		bond_enter();
		r = sk->proto->send(sk, a->left, a->iovcnt, a->flags, a->to,
				    a->tolen);
		if (r == -EAGAIN) {
			bond_poll_locked();
			r = sk->proto->send(sk, a->left, a->iovcnt, a->flags,
					    a->to, a->tolen);
		}
		if (r > 0)
			sk->bytes_out += (uint64_t)r;
		bond_leave();
		if (r == -EAGAIN)
			return BOND_WAIT_MORE;
		if (r < 0) {
			if (a->total > 0)
				return (long)a->total;
			if (r == -EPIPE && !(a->flags & MSG_NOSIGNAL))
				raise_sigpipe();
			return r;
		}
		a->total += (size_t)r;
		if (a->w != NULL && a->total > 0)
			a->w->cancel = false;
		if (a->total >= a->want || sk->proto->type != SOCK_STREAM)
			return (long)a->total;
		a->iovcnt = iov_advance(a->left, a->iovcnt, (size_t)r);
	}
}

static long connect_stack(struct bond_sock *sk, const struct sockaddr *sa,
			  socklen_t len, bool nonblock);

/*
 * MSG_FASTOPEN on a TCP socket, as Linux with its default tcp_fastopen = 1
 * and no cookie for the peer does it: a connect() to `to` first, blocking
 * or not as the send is (not: EINPROGRESS, nothing sent), the data after
 * the handshake. A socket connected or listening says EISCONN, one
 * connecting EALREADY, a closed one without an address EINVAL. 0: go on
 * and send.
 */
static long
send_fastopen(struct bond_sock *sk, const struct sockaddr *to, socklen_t tolen,
	      bool nonblock)
{
	struct bond_tcp_info bi;

	if (sk->proto->tcp_info == NULL)
		return 0;
	bond_enter();
	sk->proto->tcp_info(sk, &bi);
	bond_leave();
	if (bi.state == BOND_TCPS_SYN_SENT)
		return -EALREADY;
	if (bi.state != BOND_TCPS_CLOSE)
		return -EISCONN;
	if (to == NULL)
		return -EINVAL;
	return connect_stack(sk, to, tolen, nonblock);
}

/* cancel: a cancellation point (send, write; not sendfile) */
static long
sock_send(struct bond_sock *sk, const struct iovec *uiov, int iovcnt,
	  int flags, const struct sockaddr *to, socklen_t tolen, bool cancel)
{
	static const struct bond_wait_ops ops = { .turn = send_turn };
	bool nonblock = sk->nonblock || (flags & MSG_DONTWAIT);
	struct iovec left[BOND_IOV_MAX];
	struct send_args a = { sk, left, iovcnt, flags, to, tolen, 0, 0, NULL };
	struct bond_waiter w;
	long r;

	if (iovcnt < 0 || iovcnt > BOND_IOV_MAX)
		return -EINVAL;
	if (!iov_in(left, uiov, iovcnt))
		return -EFAULT;
	if ((flags & MSG_FASTOPEN) && sk->proto->type == SOCK_STREAM) {
		r = send_fastopen(sk, to, tolen, nonblock);
		if (r < 0)
			return r;
		a.to = NULL;	/* connected: TCP's sends take no address */
		a.tolen = 0;
	}
	a.want = iov_total(left, iovcnt);
	r = send_turn(&a);
	if (r != BOND_WAIT_MORE)
		return r;
	if (nonblock)
		return a.total > 0 ? (long)a.total : -EAGAIN;
	bond_waiter_init(&w, sk->opt.sndtimeo_ns);
	w.cancel = cancel && a.total == 0;
	a.w = &w;
	r = bond_wait(&w, &ops, &a, sk->opt.sndtimeo_ns == 0, -EAGAIN);
	/* a handler or the timeout: what was sent, else EINTR or EAGAIN */
	if ((r == -EINTR || r == -EAGAIN) && a.total > 0)
		return (long)a.total;
	return r;
}

long
bond_sys_read(unsigned int a1, void *a2, size_t a3)
{
	struct bond_sock *sk = sock_of(a1);
	struct iovec iov = { a2, a3 };

	if (sk == NULL)
		return bond_kernel_read(a1, a2, a3);
	return sock_recv(sk, &iov, 1, 0, NULL, NULL, true, true);
}

long
bond_sys_write(unsigned int a1, const void *a2, size_t a3)
{
	struct bond_sock *sk = sock_of(a1);
	struct iovec iov = { (void *)a2, a3 };

	if (sk == NULL)
		return bond_kernel_write(a1, a2, a3);
	return sock_send(sk, &iov, 1, 0, NULL, 0, true);
}

long
bond_sys_readv(unsigned long a1, const struct iovec *a2, unsigned long a3)
{
	struct bond_sock *sk = sock_of(a1);

	if (sk == NULL)
		return bond_kernel_readv(a1, a2, a3);
	/* the kernel's count: the low 32 bits, as an int (-1: EINVAL) */
	return sock_recv(sk, a2, (int)a3, 0, NULL, NULL, true, true);
}

long
bond_sys_writev(unsigned long a1, const struct iovec *a2, unsigned long a3)
{
	struct bond_sock *sk = sock_of(a1);

	if (sk == NULL)
		return bond_kernel_writev(a1, a2, a3);
	/* the kernel's count: the low 32 bits, as an int (-1: EINVAL) */
	return sock_send(sk, a2, (int)a3, 0, NULL, 0, true);
}

long
bond_sys_recvfrom(int a1, void *a2, size_t a3, unsigned int a4,
		  struct sockaddr *a5, int *a6)
{
	struct bond_sock *sk = sock_of(a1);
	struct iovec iov = { a2, a3 };
	struct sockaddr_storage ka;
	socklen_t kl = sizeof(ka);
	long r, e;

	if (sk == NULL)
		return bond_kernel_recvfrom(a1, a2, a3, a4, a5, a6);
	r = sock_recv(sk, &iov, 1, (int)a4,
		      a5 != NULL ? (struct sockaddr *)&ka : NULL,
		      a5 != NULL ? &kl : NULL, false, true);
	/* Linux: the data is taken, a bad address still says EFAULT */
	if (r >= 0 && a5 != NULL &&
	    (e = sa_out(a5, (socklen_t *)a6, &ka, kl)) < 0)
		return e;
	return r;
}

/* A datagram to an address the policy keeps on the kernel, from a socket
 * not yet placed on the stack: the socket becomes the kernel's. */
static bool
send_to_kernel(long fd, struct bond_sock *sk, const struct sockaddr *to,
	       socklen_t tolen)
{
	if (to == NULL || sk->proto->placed(sk) || !to_kernel(sk, to, tolen))
		return false;
	sock_detach((int)fd, sk);
	return true;
}

long
bond_sys_sendto(int a1, const void *a2, size_t a3, unsigned int a4,
		const struct sockaddr *a5, int a6)
{
	struct bond_sock *sk = sock_of(a1);
	struct iovec iov = { (void *)a2, a3 };
	struct sockaddr_storage ka;
	const struct sockaddr *to = NULL;
	long r;

	if (sk == NULL)
		return bond_kernel_sendto(a1, a2, a3, a4, a5, a6);
	if (a5 != NULL) {
		r = sa_in(&ka, a5, (socklen_t)a6);
		if (r < 0)
			return r;
		to = (const struct sockaddr *)&ka;
	}
	if (send_to_kernel(a1, sk, to, (socklen_t)a6))
		return bond_kernel_sendto(a1, a2, a3, a4, a5, a6);
	return sock_send(sk, &iov, 1, (int)a4, to,
			 to != NULL ? (socklen_t)a6 : 0, true);
}

/* The fields of a msghdr Linux's recvmsg writes back; false: EFAULT. */
static bool
msg_out(struct msghdr *um, const struct msghdr *m)
{
	return bond_copy_to_user(&um->msg_namelen, &m->msg_namelen,
				 sizeof(m->msg_namelen)) == sizeof(m->msg_namelen) &&
	       bond_copy_to_user(&um->msg_controllen, &m->msg_controllen,
				 sizeof(m->msg_controllen)) == sizeof(m->msg_controllen) &&
	       bond_copy_to_user(&um->msg_flags, &m->msg_flags,
				 sizeof(m->msg_flags)) == sizeof(m->msg_flags);
}

/*
 * Linux's put_cmsg: one control message of len bytes at data into the
 * caller's msg_control, cut short to what fits (MSG_CTRUNC); what it used.
 * A control buffer it cannot write takes nothing, as Linux's.
 */
static size_t
put_cmsg(const struct msghdr *m, int level, int type, const void *data,
	 size_t len, int *flags)
{
	unsigned char buf[CMSG_SPACE(BOND_ERRQ_CMSG_MAX)];
	struct cmsghdr *c = (struct cmsghdr *)buf;
	size_t cmlen = CMSG_LEN(len), used = CMSG_SPACE(len);

	if (m->msg_control == NULL || m->msg_controllen < sizeof(*c)) {
		*flags |= MSG_CTRUNC;
		return 0;
	}
	if (m->msg_controllen < cmlen) {
		*flags |= MSG_CTRUNC;
		cmlen = m->msg_controllen;
	}
	if (m->msg_controllen < used)
		used = m->msg_controllen;
	memset(buf, 0, sizeof(buf));
	c->cmsg_len = cmlen;
	c->cmsg_level = level;
	c->cmsg_type = type;
	memcpy(CMSG_DATA(c), data, len);
	if (bond_copy_to_user(m->msg_control, buf, cmlen) != cmlen)
		return 0;
	return used;
}

/*
 * recvmsg with MSG_ERRQUEUE (Linux's ip_recv_error, ipv6_recv_error): the
 * entry's bytes, the datagram's destination as msg_name, and a control
 * message IP_RECVERR (IPV6_RECVERR on an IPv6 socket) with the extended
 * error and who sent it; MSG_ERRQUEUE in msg_flags.
 */
static long
sock_recvmsg_err(struct bond_sock *sk, struct msghdr *um, struct msghdr *m)
{
	struct iovec iov[BOND_IOV_MAX];
	struct bond_errq_msg em;
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in6 offender;	/* or a sockaddr_in */
	} eh;
	int iovcnt = (int)m->msg_iovlen, flags = MSG_ERRQUEUE;
	bool v4 = sk->family == AF_INET;
	size_t len;
	long r;

	if (iovcnt < 0 || iovcnt > BOND_IOV_MAX)
		return -EINVAL;
	if (!iov_in(iov, m->msg_iov, iovcnt))
		return -EFAULT;
	r = sock_recv_err(sk, iov, iovcnt, NULL, NULL, &em);
	if (r < 0)
		return r;
	if (em.len > iov_total(iov, iovcnt))
		flags |= MSG_TRUNC;
	if (m->msg_name != NULL) {
		size_t n = m->msg_namelen < em.namelen ? m->msg_namelen : em.namelen;

		if (bond_copy_to_user(m->msg_name, &em.name, n) != n)
			return -EFAULT;
		m->msg_namelen = em.namelen;
	} else {
		m->msg_namelen = 0;
	}
	memset(&eh, 0, sizeof(eh));
	eh.ee.ee_errno = em.ee_errno;
	eh.ee.ee_origin = em.ee_origin;
	eh.ee.ee_type = em.ee_type;
	eh.ee.ee_code = em.ee_code;
	eh.ee.ee_info = em.ee_info;
	len = sizeof(eh.ee) + (v4 ? sizeof(struct sockaddr_in) : sizeof(eh.offender));
	memcpy(&eh.offender, &em.offender,
	       em.offenderlen < sizeof(eh.offender) ? em.offenderlen : sizeof(eh.offender));
	m->msg_controllen = put_cmsg(m, v4 ? SOL_IP : SOL_IPV6,
				     v4 ? IP_RECVERR : IPV6_RECVERR, &eh, len,
				     &flags);
	m->msg_flags = flags;
	return msg_out(um, m) ? r : -EFAULT;
}

/* recvmsg on a stack socket; cancel: as sock_recv's */
static long
sock_recvmsg(struct bond_sock *sk, struct msghdr *um, unsigned int a3,
	     bool cancel)
{
	struct msghdr mh, *m = &mh;
	struct sockaddr_storage ka;
	socklen_t namelen;
	bool dgram;
	size_t room;
	long r;

	if (bond_copy_from_user(&mh, um, sizeof(mh)) != sizeof(mh))
		return -EFAULT;
	if (m->msg_name != NULL && (int)m->msg_namelen < 0)
		return -EINVAL;
	if (a3 & MSG_ERRQUEUE)
		return sock_recvmsg_err(sk, um, m);
	dgram = sk->proto->type == SOCK_DGRAM;
	namelen = sizeof(ka);
	/* A datagram: ask for its real length to tell a truncation. */
	r = sock_recv(sk, m->msg_iov, (int)m->msg_iovlen,
		      dgram ? (int)a3 | MSG_TRUNC : (int)a3,
		      m->msg_name != NULL ? (struct sockaddr *)&ka : NULL,
		      m->msg_name != NULL ? &namelen : NULL, false, cancel);
	if (r >= 0) {
		if (m->msg_name != NULL) {
			size_t n = m->msg_namelen < namelen ? m->msg_namelen : namelen;

			if (bond_copy_to_user(m->msg_name, &ka, n) != n)
				return -EFAULT;
		}
		m->msg_namelen = m->msg_name != NULL ? namelen : 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
		room = 0;
		for (int i = 0; dgram && i < (int)m->msg_iovlen; i++) {
			struct iovec v = { NULL, 0 };

			/* sock_recv has read the iovecs: they are readable */
			bond_copy_from_user(&v, &m->msg_iov[i], sizeof(v));
			room += v.iov_len;
		}
		if (dgram && (size_t)r > room) {
			m->msg_flags = MSG_TRUNC;
			if (!(a3 & MSG_TRUNC))
				r = (long)room;
		}
		if (!msg_out(um, m))
			return -EFAULT;
	}
	return r;
}

long
bond_sys_recvmsg(int a1, struct msghdr *a2, unsigned int a3)
{
	struct bond_sock *sk = sock_of(a1);

	if (sk == NULL)
		return bond_kernel_recvmsg(a1, a2, a3);
	return sock_recvmsg(sk, a2, a3, true);
}

/* Copy n bytes of the caller's memory; false where it is not readable
 * (the kernel reads it the same way and says EFAULT). */
static bool
copy_in(void *dst, const void *src, size_t n)
{
	struct iovec l = { dst, n }, r = { (void *)src, n };

	return bond_kernel(SYS_process_vm_readv,
			   bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0),
			   (long)&l, 1, (long)&r, 1, 0) == (long)n;
}

#define BOND_CMSG_MAX	20480	/* Linux's net.core.optmem_max default */

/*
 * A stack socket passed to another process with SCM_RIGHTS (over a unix
 * socket) would arrive there as the kernel socket underneath, which never
 * connected: refused, once said why. A fork()ed child shares the stack;
 * an unrelated process cannot.
 */
static bool
passes_stack_fd(const struct msghdr *um)
{
	static bool told;
	unsigned char buf[BOND_CMSG_MAX];
	struct msghdr m;

	/* a process without a stack socket has none to pass: no copy */
	if (!bond_active || bond_fd_nsocks() == 0 || um == NULL ||
	    !copy_in(&m, um, sizeof(m)) ||
	    m.msg_control == NULL || m.msg_controllen < sizeof(struct cmsghdr) ||
	    m.msg_controllen > sizeof(buf) ||
	    !copy_in(buf, m.msg_control, m.msg_controllen))
		return false;
	m.msg_control = buf;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
		const int *fds = (const int *)CMSG_DATA(c);
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			if (bond_fd_sock(fds[i]) == NULL)
				continue;
			if (!told)
				NS_WARN("fd %d is a socket of zpnet's stack: it "
					"cannot be passed to another process with "
					"SCM_RIGHTS (EOPNOTSUPP); only fork() shares it",
					fds[i]);
			told = true;
			return true;
		}
	}
	return false;
}

long
bond_sys_sendmsg(int a1, const struct msghdr *a2, unsigned int a3)
{
	struct bond_sock *sk = sock_of(a1);
	const struct msghdr *um = a2;
	struct sockaddr_storage ka;
	const struct sockaddr *to = NULL;
	struct msghdr m;
	long r;

	if (sk == NULL && passes_stack_fd(um))
		return -EOPNOTSUPP;
	if (sk == NULL)
		return bond_kernel_sendmsg(a1, a2, a3);
	if (bond_copy_from_user(&m, um, sizeof(m)) != sizeof(m))
		return -EFAULT;
	if (m.msg_name != NULL) {
		/* Linux: a negative length is EINVAL, a long one cut */
		if ((int)m.msg_namelen < 0)
			return -EINVAL;
		if (m.msg_namelen > sizeof(ka))
			m.msg_namelen = sizeof(ka);
		r = sa_in(&ka, m.msg_name, m.msg_namelen);
		if (r < 0)
			return r;
		to = (const struct sockaddr *)&ka;
	}
	if (send_to_kernel(a1, sk, to, m.msg_namelen))
		return bond_kernel_sendmsg(a1, a2, a3);
	return sock_send(sk, m.msg_iov, (int)m.msg_iovlen, (int)a3, to,
			 to != NULL ? m.msg_namelen : 0, true);
}

/* The count of one message of recvmmsg/sendmmsg, to the application. */
static bool
msg_len_out(struct mmsghdr *v, long r)
{
	unsigned int len = (unsigned int)r;

	return bond_copy_to_user(&v->msg_len, &len, sizeof(len)) == sizeof(len);
}

long
bond_sys_recvmmsg(int a1, struct mmsghdr *a2, unsigned int a3, unsigned int a4,
		  struct timespec *a5)
{
	struct bond_sock *sk = sock_of(a1);
	struct mmsghdr *v = a2;
	int flags = (int)a4;
	struct timespec *uts = a5, ts;
	uint64_t end = 0, now;
	unsigned int i;

	if (sk == NULL)
		return bond_kernel_recvmmsg(a1, a2, a3, a4, a5);
	if (v == NULL)
		return -EFAULT;
	if (uts != NULL) {
		if (bond_copy_from_user(&ts, uts, sizeof(ts)) != sizeof(ts))
			return -EFAULT;
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= (long)BOND_NS_PER_S)
			return -EINVAL;
		end = bond_stack->now_ns() + ts_to_ns(&ts);
	}
	/*
	 * Linux's timeout (recvmmsg(2), BUGS): looked at only after each
	 * datagram; once it has passed, the call returns what it has. What
	 * is left of it is written back.
	 */
	for (i = 0; i < a3; i++) {
		/* a cancel only while nothing was received */
		long r = sock_recvmsg(sk, &v[i].msg_hdr,
				      (unsigned int)flags & ~MSG_WAITFORONE,
				      i == 0);

		if (r < 0) {
			if (i == 0)
				return r;
			break;
		}
		if (!msg_len_out(&v[i], r))
			return i > 0 ? (long)i : -EFAULT;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		if (uts != NULL && bond_stack->now_ns() >= end) {
			i++;
			break;
		}
	}
	if (uts != NULL && i > 0) {
		now = bond_stack->now_ns();
		ns_to_ts(now < end ? end - now : 0, &ts);
		if (bond_copy_to_user(uts, &ts, sizeof(ts)) != sizeof(ts))
			return -EFAULT;
	}
	return (long)i;
}

long
bond_sys_sendmmsg(int a1, struct mmsghdr *a2, unsigned int a3, unsigned int a4)
{
	struct bond_sock *sk = sock_of(a1);
	struct mmsghdr *v = a2;
	unsigned int i;

	if (sk == NULL) {
		/* as sendmsg: the messages before one passing a stack fd go */
		unsigned int n = a3 > UIO_MAXIOV ? UIO_MAXIOV : a3;

		for (i = 0; v != NULL && i < n; i++)
			if (passes_stack_fd(&v[i].msg_hdr))
				return i == 0 ? -EOPNOTSUPP :
					bond_kernel_sendmmsg(a1, a2, i, a4);
		return bond_kernel_sendmmsg(a1, a2, a3, a4);
	}
	if (v == NULL)
		return -EFAULT;
	for (i = 0; i < a3; i++) {
		long r = bond_sys_sendmsg(a1, &v[i].msg_hdr, a4);

		if (r < 0)
			return i > 0 ? (long)i : r;
		if (!msg_len_out(&v[i], r))
			return i > 0 ? (long)i : -EFAULT;
	}
	return (long)i;
}

/* sendfile(out = stack socket, in = file): copy through a buffer; what the
 * socket did not take is given back to the file offset, or the caller's
 * offset says where it ends (written back as Linux does: EFAULT if it
 * cannot be). */
long
bond_sys_sendfile(int a1, int a2, off_t *a3, size_t a4)
{
	enum { BOND_SENDFILE_CHUNK = 64 * 1024 };
	struct bond_sock *sk = sock_of(a1);
	off_t *offp = a3, off = 0;
	size_t count = a4, total = 0;
	long err = 0;
	char *buf;

	if (sk == NULL)
		return bond_kernel_sendfile(a1, a2, a3, a4);
	if (offp != NULL &&
	    bond_copy_from_user(&off, offp, sizeof(off)) != sizeof(off))
		return -EFAULT;
	buf = malloc(BOND_SENDFILE_CHUNK);
	if (buf == NULL)
		return -ENOMEM;
	while (total < count) {
		size_t want = count - total < BOND_SENDFILE_CHUNK ?
			      count - total : BOND_SENDFILE_CHUNK;
		struct iovec iov;
		long n, s;

		if (offp != NULL)
			n = bond_kernel(SYS_pread64, a2, (long)buf, (long)want,
					(long)off, 0, 0);
		else
			n = bond_kernel(SYS_read, a2, (long)buf, (long)want,
					0, 0, 0);
		if (n <= 0) {
			/* the file's error (EBADF before EINVAL for a
			 * negative offset, as Linux checks them) */
			if (total == 0 && n < 0)
				err = n;
			break;
		}
		iov.iov_base = buf;
		iov.iov_len = (size_t)n;
		s = sock_send(sk, &iov, 1, 0, NULL, 0, false);
		if (s < 0)
			s = total == 0 ? s : 0;
		if (s < n && offp == NULL)	/* give back what was not sent */
			bond_kernel(SYS_lseek, a2, -(n - (s > 0 ? s : 0)),
				    SEEK_CUR, 0, 0, 0);
		if (s < 0) {
			err = s;
			break;
		}
		total += (size_t)s;
		off += s;
		if (s < n)
			break;
	}
	free(buf);
	/* Linux writes the offset back whatever happened */
	if (offp != NULL &&
	    bond_copy_to_user(offp, &off, sizeof(off)) != sizeof(off))
		return -EFAULT;
	return err < 0 ? err : (long)total;
}

/* ---- sockets ---- */

static const struct bond_proto *
proto_for(int domain, int type, int protocol)
{
	if (domain != AF_INET && domain != AF_INET6)
		return NULL;
	if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP) &&
	    (bond_cfg.offload_mask & BOND_OFFLOAD_TCP))
		return &bond_tcp_proto;
	if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP) &&
	    (bond_cfg.offload_mask & BOND_OFFLOAD_UDP))
		return &bond_udp_proto;
	return NULL;
}

long
bond_sys_socket(int a1, int a2, int a3)
{
	const struct bond_proto *proto;
	struct bond_sock *sk;
	long fd;

	proto = proto_for(a1, a2 & BOND_SOCK_TYPE_MASK, a3);
	if (proto == NULL || !bond_stack_start())
		return bond_kernel_socket(a1, a2, a3);
	fd = bond_kernel_socket(a1, a2, a3);
	if (fd < 0)
		return fd;
	bond_enter();
	sk = proto->create(a1);
	if (sk != NULL && bond_sock_register(sk) < 0) {
		sk->proto->close(sk);
		sk = NULL;
	}
	bond_leave();
	if (sk == NULL)
		return fd;	/* out of memory: the kernel serves it */
	sk->kfd = (int)fd;
	sk->ino = kernel_ino(fd);
	sk->nonblock = (a2 & SOCK_NONBLOCK) != 0;
	/* Out of the table: the socket closes again, the kernel serves fd. */
	sock_install((int)fd, sk);
	return fd;
}

long
bond_sys_bind(int a1, const struct sockaddr *a2, int a3)
{
	struct bond_sock *sk = sock_of(a1);
	long r;

	struct sockaddr_storage ka;
	const struct sockaddr *sa = (const struct sockaddr *)&ka;

	if (sk == NULL)
		return bond_kernel_bind(a1, a2, a3);
	r = sa_in(&ka, a2, (socklen_t)a3);
	if (r < 0)
		return r;
	if (!sk->proto->placed(sk) && to_kernel(sk, sa, (socklen_t)a3)) {
		sock_detach(a1, sk);
		return bond_kernel_bind(a1, a2, a3);
	}
	bond_enter();
	r = sk->proto->bind(sk, sa, (socklen_t)a3);
	bond_leave();
	return r;
}

long
bond_sys_listen(int a1, int a2)
{
	struct bond_sock *sk = sock_of(a1);
	long r;

	if (sk == NULL)
		return bond_kernel_listen(a1, a2);
	if (sk->proto->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	bond_enter();
	r = sk->proto->listen(sk, a2);
	bond_leave();
	return r;
}

static long
try_accept(struct bond_sock *sk, void *arg)
{
	return sk->proto->accept(sk, arg);
}

long
bond_sys_accept4(int a1, struct sockaddr *a2, int *a3, int a4)
{
	struct bond_sock *sk = sock_of(a1), *nsk = NULL;
	int flags = a4;
	long r, fd;

	if (sk == NULL)
		return bond_kernel_accept4(a1, a2, a3, a4);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (sk->proto->accept == NULL)
		return -EOPNOTSUPP;
	r = sock_block(sk, try_accept, &nsk, sk->nonblock, sk->opt.rcvtimeo_ns,
		       true);
	if (r < 0)
		return r;
	bond_enter();
	r = bond_sock_register(nsk);
	if (r < 0)
		nsk->proto->close(nsk);	/* the peer sees a reset */
	bond_leave();
	if (r < 0)
		return r;
	fd = bond_kernel(SYS_socket, nsk->family, SOCK_STREAM | flags, 0, 0, 0, 0);
	if (fd < 0) {
		sock_abandon(nsk);
		return fd;
	}
	if (sock_install((int)fd, nsk) < 0) {
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		return -EMFILE;
	}
	nsk->kfd = (int)fd;
	nsk->ino = kernel_ino(fd);
	nsk->nonblock = (flags & SOCK_NONBLOCK) != 0;
	if (a2 != NULL) {
		struct sockaddr_storage ka;
		socklen_t kl = sizeof(ka);

		bond_enter();
		nsk->proto->getname(nsk, (struct sockaddr *)&ka, &kl, true);
		bond_leave();
		if (sa_out(a2, (socklen_t *)a3, &ka, kl) < 0) {
			/* Linux: the connection is closed, EFAULT */
			bond_sys_close((unsigned int)fd);
			return -EFAULT;
		}
	}
	return fd;
}

long
bond_sys_accept(int a1, struct sockaddr *a2, int *a3)
{
	if (sock_of(a1) == NULL)
		return bond_kernel_accept(a1, a2, a3);
	return bond_sys_accept4(a1, a2, a3, 0);
}

long
bond_sys_connect(int a1, const struct sockaddr *a2, int a3)
{
	struct bond_sock *sk = sock_of(a1);
	long r;

	struct sockaddr_storage ka;
	const struct sockaddr *sa = (const struct sockaddr *)&ka;

	if (sk == NULL)
		return bond_kernel_connect(a1, a2, a3);
	r = sa_in(&ka, a2, (socklen_t)a3);
	if (r < 0)
		return r;
	if (!sk->proto->placed(sk) && to_kernel(sk, sa, (socklen_t)a3)) {
		sock_detach(a1, sk);
		return bond_kernel_connect(a1, a2, a3);
	}
	return connect_stack(sk, sa, (socklen_t)a3, sk->nonblock);
}

/* connect() on the stack; nonblock: EINPROGRESS rather than wait */
static long
connect_stack(struct bond_sock *sk, const struct sockaddr *sa, socklen_t len,
	      bool nonblock)
{
	long r;

	bond_enter();
	r = sk->proto->connect(sk, sa, len);
	bond_leave();
	if (r != -EINPROGRESS || nonblock)
		return r;
	r = bond_wait_sock(sk, EPOLLOUT | EPOLLERR | EPOLLHUP, sk->opt.sndtimeo_ns);
	if (r == -EINTR)
		return r;	/* the connection goes on: EALREADY, then EISCONN */
	if (r < 0)
		return -EINPROGRESS;	/* Linux, when SO_SNDTIMEO expires */
	/* Asking again reports the outcome: 0, or the pending error. */
	bond_enter();
	r = sk->proto->connect(sk, sa, len);
	bond_leave();
	return r;
}

long
bond_sys_shutdown(int a1, int a2)
{
	struct bond_sock *sk = sock_of(a1);
	long r;

	if (sk == NULL)
		return bond_kernel_shutdown(a1, a2);
	bond_enter();
	r = sk->proto->shutdown(sk, a2);
	bond_leave();
	return r;
}

static long
sock_name(int fd, struct sockaddr *sa, int *len, bool peer)
{
	struct bond_sock *sk = sock_of(fd);
	long r;

	struct sockaddr_storage ka;
	socklen_t kl = sizeof(ka);

	bond_enter();
	r = sk->proto->getname(sk, (struct sockaddr *)&ka, &kl, peer);
	bond_leave();
	if (r < 0)
		return r;
	return sa_out(sa, (socklen_t *)len, &ka, kl);
}

long
bond_sys_getsockname(int a1, struct sockaddr *a2, int *a3)
{
	if (sock_of(a1) == NULL)
		return bond_kernel_getsockname(a1, a2, a3);
	return sock_name(a1, a2, a3, false);
}

long
bond_sys_getpeername(int a1, struct sockaddr *a2, int *a3)
{
	if (sock_of(a1) == NULL)
		return bond_kernel_getpeername(a1, a2, a3);
	return sock_name(a1, a2, a3, true);
}

/* A device the stack does not have: the kernel's socket, bound to it,
 * takes over one the stack has not placed yet; a placed one cannot move. */
static long
sock_to_kernel_dev(int fd, struct bond_sock *sk, int opt, const void *uval, int ulen)
{
	bool placed;
	long r;

	bond_enter();
	placed = sk->proto->placed(sk);
	bond_leave();
	r = bond_kernel_setsockopt(fd, SOL_SOCKET, opt, uval, ulen);
	if (placed)
		return r == -ENODEV || r == -EFAULT ? r : -EOPNOTSUPP;
	if (r < 0)
		return r;
	bond_enter();
	placed = sk->proto->placed(sk);	/* another thread's bind? */
	bond_leave();
	if (placed)
		return -EOPNOTSUPP;
	sock_detach(fd, sk);
	return 0;
}

/*
 * SO_BINDTODEVICE on a stack socket. A port's device (ns_port_by_dev)
 * binds the pcb to that port; an empty name unbinds. A device only the
 * kernel has means the kernel's stack: a socket not yet bound or
 * connected continues as the kernel socket it is, bound there; one the
 * stack has placed cannot move and is EOPNOTSUPP. A name nobody knows is
 * ENODEV, from the kernel. The name is read as Linux reads it: at most
 * IFNAMSIZ - 1 bytes. opt, uval and ulen are the call's (SO_BINDTODEVICE
 * or SO_BINDTOIFINDEX), for the kernel socket.
 */
static long
sock_bindtodevice(int fd, struct bond_sock *sk, const char *name, int opt,
		  const void *uval, int ulen)
{
	struct ifreq ifr;
	bool placed;
	int port, ifindex = 0;

	port = name[0] != '\0' ? ns_port_by_dev(name) : -1;
	if (name[0] != '\0' && port < 0)
		return sock_to_kernel_dev(fd, sk, opt, uval, ulen);
	bond_enter();
	placed = sk->proto->placed(sk);
	bond_leave();
	/* the kernel's index of the port's interface (its lwIP name has none) */
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (name[0] != '\0' &&
	    bond_kernel_ioctl(fd, SIOCGIFINDEX, (unsigned long)&ifr) == 0)
		ifindex = ifr.ifr_ifindex;
	bond_enter();
	sk->opt.dev_port = port;
	sk->opt.dev_ifindex = ifindex;
	snprintf(sk->opt.devname, sizeof(sk->opt.devname), "%s", name);
	if (sk->proto->apply_opts != NULL)
		sk->proto->apply_opts(sk);
	bond_leave();
	/* the kernel socket too, while it may still take over (the
	 * port's kernel interface may be one it knows) */
	if (!placed)
		bond_kernel_setsockopt(fd, SOL_SOCKET, opt, uval, ulen);
	return 0;
}

/*
 * SO_BINDTOIFINDEX (Linux 5.0): an interface by its kernel index, then as
 * SO_BINDTODEVICE by its name; 0 unbinds. Linux's order: a value shorter
 * than an int is EINVAL, then EFAULT, a negative index EINVAL. Linux takes
 * an index no interface has (the socket then reaches nothing): that is a
 * device the stack does not have, the kernel socket's.
 */
static long
sock_bindtoifindex(int fd, struct bond_sock *sk, const void *uval, int ulen)
{
	struct ifreq ifr;
	int idx;

	if (ulen < (int)sizeof(int))
		return -EINVAL;
	if (bond_copy_from_user(&idx, uval, sizeof(idx)) != sizeof(idx))
		return -EFAULT;
	if (idx < 0)
		return -EINVAL;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = idx;
	if (idx != 0 && bond_kernel_ioctl(fd, SIOCGIFNAME, (unsigned long)&ifr) < 0)
		return sock_to_kernel_dev(fd, sk, SO_BINDTOIFINDEX, uval, ulen);
	return sock_bindtodevice(fd, sk, ifr.ifr_name, SO_BINDTOIFINDEX, uval, ulen);
}

long
bond_sys_setsockopt(int a1, int a2, int a3, const void *a4, int a5)
{
	struct bond_sock *sk = sock_of(a1);
	bool placed;
	long r;

	unsigned char kv[BOND_OPTVAL_MAX];
	size_t n;

	if (sk == NULL)
		return bond_kernel_setsockopt(a1, a2, a3, a4, a5);
	if (a5 < 0)
		return -EINVAL;
	if (a2 == SOL_SOCKET && a3 == SO_BINDTOIFINDEX)
		return sock_bindtoifindex(a1, sk, a4, a5);
	/* every option bond knows is shorter: a longer value is read as far
	 * as the option goes, as Linux does */
	n = (size_t)a5 < sizeof(kv) ? (size_t)a5 : sizeof(kv);
	if (bond_copy_from_user(kv, a4, n) != n)
		return -EFAULT;
	if (a2 == SOL_SOCKET && a3 == SO_BINDTODEVICE) {
		char name[BOND_IFNAMSIZ] = "";

		if (a4 != NULL)
			memcpy(name, kv, n < sizeof(name) - 1 ? n : sizeof(name) - 1);
		return sock_bindtodevice(a1, sk, name, SO_BINDTODEVICE, a4, a5);
	}
	bond_enter();
	placed = sk->proto->placed(sk);
	r = bond_setsockopt(sk, a2, a3, a4 != NULL ? kv : NULL, (socklen_t)a5);
	bond_leave();
	/* Until bind/connect decides, the kernel socket may still take over:
	 * keep its options in step. */
	if (r == 0 && !placed)
		bond_kernel_setsockopt(a1, a2, a3, a4, a5);
	return r;
}

long
bond_sys_getsockopt(int a1, int a2, int a3, void *a4, int *a5)
{
	struct bond_sock *sk = sock_of(a1);
	long r;

	unsigned char kv[BOND_OPTVAL_MAX];
	socklen_t len;

	if (sk == NULL)
		return bond_kernel_getsockopt(a1, a2, a3, a4, a5);
	if (bond_copy_from_user(&len, a5, sizeof(len)) != sizeof(len))
		return -EFAULT;
	if ((int)len < 0)
		return -EINVAL;
	if (len > sizeof(kv))
		len = sizeof(kv);
	bond_enter();
	r = bond_getsockopt(sk, a2, a3, kv, &len);
	bond_leave();
	if (r < 0)
		return r;
	if (bond_copy_to_user(a4, kv, len) != len ||
	    bond_copy_to_user(a5, &len, sizeof(len)) != sizeof(len))
		return -EFAULT;
	return r;
}

/* ---- descriptors ---- */

/*
 * At exit the kernel closes every descriptor the app left open, and its
 * peers see a FIN after the data. Do the same for stack sockets (the kernel
 * fds behind them close with the process).
 */
void
bond_close_all(void)
{
	for (unsigned int fd = 0; fd < bond_fd_hiwater(); fd++)
		fd_release((int)fd);
}

long
bond_sys_close(unsigned int a1)
{
	if (a1 <= INT_MAX)
		fd_release((int)a1);
	return bond_kernel_close(a1);
}

long
bond_sys_close_range(unsigned int a1, unsigned int a2, unsigned int a3)
{
	unsigned int first = a1, last = a2;
	long r = bond_kernel_close_range(a1, a2, a3);

	/* CLOSE_RANGE_CLOEXEC only marks them: nothing is closed yet. */
	if (r < 0 || (a3 & CLOSE_RANGE_CLOEXEC))
		return r;
	if (last >= bond_fd_hiwater())
		last = bond_fd_hiwater() - 1;
	for (unsigned int fd = first; fd <= last && fd < bond_fd_hiwater(); fd++)
		fd_release((int)fd);
	return r;
}

/* newfd now refers to what oldfd refers to. */
static void
fd_share(int oldfd, long newfd)
{
	struct bond_sock *sk;
	void *obj;

	if (newfd < 0)
		return;
	fd_release((int)newfd);
	if (bond_fd_get(oldfd, &obj) != BOND_FD_SOCK)
		return;
	sk = obj;
	sock_install((int)newfd, sk);	/* out of the table: a kernel fd */
}

long
bond_sys_fcntl(unsigned int a1, unsigned int a2, unsigned long a3)
{
	struct bond_sock *sk = sock_of(a1);
	long r;

	if (sk == NULL)
		return bond_kernel_fcntl(a1, a2, a3);
	r = bond_kernel_fcntl(a1, a2, a3);
	if (r < 0)
		return r;
	switch (a2) {
	case F_SETFL:
		sk->nonblock = (a3 & O_NONBLOCK) != 0;
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		fd_share((int)a1, r);
		break;
	default:
		break;
	}
	return r;
}

long
bond_sys_ioctl(unsigned int a1, unsigned int a2, unsigned long a3)
{
	struct bond_sock *sk = sock_of(a1);
	long r;
	int v;

	if (sk == NULL)
		return bond_kernel_ioctl(a1, a2, a3);
	switch (a2) {
	case FIONBIO:
		if (bond_copy_from_user(&v, (const void *)a3,
					sizeof(v)) != sizeof(v))
			return -EFAULT;
		r = bond_kernel_ioctl(a1, a2, a3);
		if (r == 0)
			sk->nonblock = v != 0;
		return r;
	case FIONREAD:
		bond_enter();
		v = sk->proto->nread(sk);
		bond_leave();
		if (v < 0)
			return v;
		if (bond_copy_to_user((void *)a3, &v, sizeof(v)) != sizeof(v))
			return -EFAULT;
		return 0;
	default:
		return bond_kernel_ioctl(a1, a2, a3);
	}
}

long
bond_sys_dup(unsigned int a1)
{
	long r = bond_kernel_dup(a1);

	if (r >= 0 && sock_of(a1) != NULL)
		fd_share((int)a1, r);
	return r;
}

long
bond_sys_dup2(unsigned int a1, unsigned int a2)
{
	long r = bond_kernel_dup2(a1, a2);

	if (r >= 0 && a1 != a2)
		fd_share((int)a1, r);
	return r;
}

long
bond_sys_dup3(unsigned int a1, unsigned int a2, int a3)
{
	long r = bond_kernel_dup3(a1, a2, a3);

	if (r >= 0)
		fd_share((int)a1, r);
	return r;
}

/* ---- process ---- */

/*
 * execve: the new program image has none of the stack's memory, so a stack
 * socket whose fd stays open across it (no FD_CLOEXEC; inetd-style
 * servers, nginx's binary upgrade) reaches the new program as the kernel
 * socket underneath, which never connected or listened. Said once, before
 * the exec; this process's holds go when it is seen gone (bond_proc.c).
 */
#define BOND_EXEC_FDS_SHOWN	8

static void
exec_check(void)
{
	static bool told;
	char list[BOND_EXEC_FDS_SHOWN * 12] = "";
	unsigned int n = 0;
	size_t len = 0;

	if (!bond_active || told || bond_fd_nsocks() == 0)
		return;
	for (unsigned int fd = 0; fd < bond_fd_hiwater(); fd++) {
		long fl;

		if (bond_fd_sock((int)fd) == NULL)
			continue;
		fl = bond_kernel(SYS_fcntl, fd, F_GETFD, 0, 0, 0, 0);
		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		if (n++ < BOND_EXEC_FDS_SHOWN && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
						"%s%u", n > 1 ? "," : "", fd);
	}
	if (n == 0)
		return;
	told = true;
	NS_WARN("%u socket(s) of zpnet's stack stay open across exec "
		"(fd %s%s): the new program sees the kernel socket under each, "
		"never connected; zpnet shares a stack across fork, not exec",
		n, list, n > BOND_EXEC_FDS_SHOWN ? ",..." : "");
}

long
bond_sys_execve(const char *a1, char *const *a2, char *const *a3)
{
	exec_check();
	return bond_kernel_execve(a1, a2, a3);
}

long
bond_sys_execveat(int a1, const char *a2, char *const *a3, char *const *a4,
		  int a5)
{
	exec_check();
	return bond_kernel_execveat(a1, a2, a3, a4, a5);
}

long
bond_sys_exit_group(int a1)
{
	bond_exit_flush();
	/*
	 * Another thread of this process (the service thread mid-poll) could
	 * be inside a driver's RX or TX burst when exit_group ends it: the
	 * burst's ring position, kept by the driver in shared memory, would
	 * be left behind the kernel's for every other process of the stack
	 * (frames then wait a whole ring turn). Leave holding the lock.
	 */
	if (bond_active && bond_stack->lock_exit != NULL)
		bond_stack->lock_exit();
	return bond_kernel_exit_group(a1);
}
