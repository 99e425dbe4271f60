/*
 * bond unit tests (no root, ASan/UBSan): the fd table, the sockopt table,
 * the errno mapping, epoll bookkeeping, the offload policy and who holds a
 * socket across fork, exit and a vanished process, against a fake stack
 * and a fake protocol.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bond.h"
#include "cfgdoc.h"
#include "bond_config.h"
#include "ns_log.h"

int failures, checks;

void test_errno(void);	/* test_errno.c: lwIP's headers clash with netinet/tcp.h */

#define EXPECT(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__,	\
			#cond);						\
	}								\
} while (0)

/* ---- fake stack and protocol ---- */

static unsigned int locks, polls, applied;
static unsigned int lock_takes, held_work, held_work_max;	/* test_stats */
static uint64_t fake_now;

static void fake_lock(void) { locks++; lock_takes++; held_work = 0; }
static void fake_unlock(void) { locks--; }
static unsigned int fake_poll(void) { polls++; return 0; }
static uint64_t fake_now_ns(void) { return fake_now; }
static int fake_wake_fd = -1;	/* the stack's wake fd (-1: none) */

static unsigned int
fake_wake_fds(int *fds, unsigned int max)
{
	if (fake_wake_fd < 0 || max == 0)
		return 0;
	fds[0] = fake_wake_fd;
	return 1;
}

static const struct bond_stack_ops fake_stack = {
	.lock = fake_lock, .unlock = fake_unlock, .poll = fake_poll,
	.now_ns = fake_now_ns, .wake_fds = fake_wake_fds,
};
const struct bond_stack_ops *bond_stack = &fake_stack;

struct fake_sock {
	struct bond_sock sk;
	uint32_t ev;
};

static uint32_t
fake_events(struct bond_sock *sk)
{
	return ((struct fake_sock *)sk)->ev;
}

static void
fake_close(struct bond_sock *sk)
{
}

static void
fake_apply(struct bond_sock *sk)
{
	applied++;
}

static const struct bond_proto fake_proto = {
	.name = "fake", .type = SOCK_STREAM, .events = fake_events,
	.apply_opts = fake_apply, .close = fake_close,
};

/* What a protocol does when readiness changes: new state, then a bump. */
static void
fake_set(struct fake_sock *f, uint32_t ev)
{
	f->ev = ev;
	bond_sock_bump(&f->sk);
}

static struct fake_sock *
fake_new(int fd)
{
	struct fake_sock *f = calloc(1, sizeof(*f));

	bond_sock_init(&f->sk, &fake_proto, AF_INET);
	f->sk.kfd = fd;
	bond_fd_set(fd, BOND_FD_SOCK, &f->sk);
	return f;
}

/* ---- tests ---- */

static void
test_fd_table(void)
{
	unsigned int socks0 = bond_fd_nsocks();
	struct fake_sock *f = fake_new(5);
	void *obj;

	EXPECT(bond_fd_nsocks() == socks0 + 1);
	EXPECT(bond_fd_get(5, &obj) == BOND_FD_SOCK && obj == &f->sk);
	EXPECT(bond_fd_sock(5) == &f->sk);
	EXPECT(bond_fd_get(6, &obj) == BOND_FD_KERNEL && obj == NULL);
	EXPECT(bond_fd_get(-1, &obj) == BOND_FD_KERNEL);
	EXPECT(bond_fd_get(1 << 30, &obj) == BOND_FD_KERNEL);
	EXPECT(bond_fd_set((int)bond_fd_max(), BOND_FD_SOCK, f) == -EBADF);
	EXPECT(bond_fd_set(7, BOND_FD_EPOLL, f) == 0);
	EXPECT(bond_fd_get(7, &obj) == BOND_FD_EPOLL && obj == f);
	EXPECT(bond_fd_nsocks() == socks0 + 1);	/* an epoll fd is no socket */
	EXPECT(bond_fd_set(5, BOND_FD_SOCK, &f->sk) == 0);	/* again: once */
	EXPECT(bond_fd_nsocks() == socks0 + 1);
	bond_fd_clear(7);
	bond_fd_clear(5);
	EXPECT(bond_fd_sock(5) == NULL);
	EXPECT(bond_fd_nsocks() == socks0);
	bond_fd_clear(5);	/* twice: no change */
	EXPECT(bond_fd_nsocks() == socks0);
	bond_fd_clear(-3);	/* out of range: ignored */
	free(f);
}

static void
test_sockopt(void)
{
	struct fake_sock *f = fake_new(9);
	struct bond_sock *sk = &f->sk;
	int v = 1, out = 0;
	socklen_t len = sizeof(out);
	struct timeval tv = { 1, 500000 }, tvo;
	struct linger lg = { 1, 0 }, lgo;
	char small;

	applied = 0;
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0);
	EXPECT(sk->opt.nodelay && applied == 1);
	EXPECT(bond_getsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &out, &len) == 0 &&
	       out == 1 && len == sizeof(int));
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, 9999, &v, sizeof(v)) == -ENOPROTOOPT);
	EXPECT(bond_getsockopt(sk, SOL_SOCKET, 9999, &out, &len) == -ENOPROTOOPT);
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5) == -ENOPROTOOPT);
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &v, 2) == -EINVAL);
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, NULL, 4) == -EINVAL);
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_ERROR, &v, sizeof(v)) == -ENOPROTOOPT);
	/* SO_ERROR reads and clears */
	sk->so_error = ECONNRESET;
	len = sizeof(out);
	EXPECT(bond_getsockopt(sk, SOL_SOCKET, SO_ERROR, &out, &len) == 0 &&
	       out == ECONNRESET && sk->so_error == 0);
	/* SO_TYPE, short buffer */
	len = 1;
	EXPECT(bond_getsockopt(sk, SOL_SOCKET, SO_TYPE, &small, &len) == 0 && len == 1);
	/* SO_RCVBUF doubles */
	v = 4096;
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0);
	len = sizeof(out);
	EXPECT(bond_getsockopt(sk, SOL_SOCKET, SO_RCVBUF, &out, &len) == 0 && out == 8192);
	/* keepalive bounds */
	v = 0;
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)) == -EINVAL);
	v = 60;
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)) == 0 &&
	       sk->opt.keepidle_s == 60);
	v = 1000;
	EXPECT(bond_setsockopt(sk, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v)) == -EINVAL);
	/* timeouts */
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	       sk->opt.rcvtimeo_ns == 1500000000ull);
	len = sizeof(tvo);
	EXPECT(bond_getsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tvo, &len) == 0 &&
	       tvo.tv_sec == 1 && tvo.tv_usec == 500000);
	tv = (struct timeval){ -1, 0 };	/* Linux: calls return at once */
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	       sk->opt.rcvtimeo_ns != 0 && sk->opt.rcvtimeo_ns < 1000);
	tv = (struct timeval){ 18446744074, 0 };	/* would wrap in ns: none */
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	       sk->opt.rcvtimeo_ns == 0);
	tv.tv_usec = 1000000;
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -EDOM);
	/* linger */
	EXPECT(bond_setsockopt(sk, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	len = sizeof(lgo);
	EXPECT(bond_getsockopt(sk, SOL_SOCKET, SO_LINGER, &lgo, &len) == 0 &&
	       lgo.l_onoff == 1 && lgo.l_linger == 0);
	/* IPv6 options on an IPv4 socket */
	v = 1;
	EXPECT(bond_setsockopt(sk, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) == -ENOPROTOOPT);
	EXPECT(bond_sockopt_find(SOL_SOCKET, SO_REUSEADDR) != NULL);
	EXPECT(bond_sockopt_find(SOL_SOCKET, SO_REUSEPORT) != NULL);
	EXPECT(bond_sockopt_find(SOL_SOCKET, SO_KEEPALIVE) != NULL);
	EXPECT(bond_sockopt_find(SOL_SOCKET, SO_SNDBUF) != NULL);
	EXPECT(bond_sockopt_find(IPPROTO_TCP, TCP_KEEPINTVL) != NULL);
	bond_fd_clear(9);
	free(f);
}

/* A socket epoll can see: registered with the stack, held by one fd. */
static struct fake_sock *
reg_new(int fd)
{
	struct fake_sock *f = fake_new(fd);

	EXPECT(bond_sock_register(&f->sk) == 0);
	bond_sock_hold(&f->sk);
	return f;
}

/* Its last close (the socket stays allocated: the test frees it). */
static void
reg_close(struct fake_sock *f)
{
	bond_fd_clear(f->sk.kfd);
	bond_sock_drop(&f->sk);
}

/* EPOLLEXCLUSIVE: one readiness goes to one set for a while. */
static void
test_epoll_exclusive(void)
{
	struct bond_epoll *e1 = bond_epoll_new(101), *e2 = bond_epoll_new(102);
	struct fake_sock *l = reg_new(30);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE }, out[2];

	EXPECT(bond_epoll_ctl_sock(e1, EPOLL_CTL_ADD, 30, &l->sk, &ev) == 0);
	EXPECT(bond_epoll_ctl_sock(e2, EPOLL_CTL_ADD, 30, &l->sk, &ev) == 0);
	/* Linux's rules: no MOD of an exclusive item, no ONESHOT with it */
	EXPECT(bond_epoll_ctl_sock(e1, EPOLL_CTL_MOD, 30, &l->sk, &ev) == -EINVAL);
	ev.events = EPOLLIN;
	EXPECT(bond_epoll_ctl_sock(e1, EPOLL_CTL_MOD, 30, &l->sk, &ev) == -EINVAL);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
	EXPECT(bond_epoll_ctl_sock(e1, EPOLL_CTL_ADD, 31, &l->sk, &ev) == -EINVAL);

	fake_now = 1000 * BOND_NS_PER_MS;
	fake_set(l, EPOLLIN);	/* a connection waits */
	EXPECT(bond_epoll_collect(e1, out, 2) == 1);
	EXPECT(bond_epoll_collect(e2, out, 2) == 0);	/* e1 has it */
	EXPECT(bond_epoll_collect(e1, out, 2) == 1);	/* still e1's */
	fake_set(l, EPOLLIN);	/* another one: anyone's */
	EXPECT(bond_epoll_collect(e2, out, 2) == 1);
	EXPECT(bond_epoll_collect(e1, out, 2) == 0);
	fake_now += 200 * BOND_NS_PER_MS;	/* e2 never took it: e1 may */
	EXPECT(bond_epoll_collect(e1, out, 2) == 1);
	fake_set(l, 0);
	reg_close(l);
	bond_epoll_free(e1);
	bond_epoll_free(e2);
	free(l);
}

static void
test_epoll(void)
{
	struct bond_epoll *ep = bond_epoll_new(100);
	struct fake_sock *a = reg_new(20), *b = reg_new(21), *c;
	struct epoll_event ev, out[4];

	EXPECT(ep != NULL && bond_epoll_kfd(ep) == 100 && bond_epoll_count(ep) == 0);
	ev.events = EPOLLIN;
	ev.data.u64 = 0xa;
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_ADD, 20, &a->sk, &ev) == 0);
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_ADD, 20, &a->sk, &ev) == -EEXIST);
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_MOD, 21, &b->sk, &ev) == -ENOENT);
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_DEL, 21, &b->sk, NULL) == -ENOENT);
	EXPECT(bond_epoll_ctl_sock(ep, 99, 20, &a->sk, &ev) == -EINVAL);
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_ADD, 21, &b->sk, NULL) == -EFAULT);
	ev.events = EPOLLOUT | EPOLLET;
	ev.data.u64 = 0xb;
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_ADD, 21, &b->sk, &ev) == 0);
	EXPECT(bond_epoll_count(ep) == 2);

	/* nothing ready */
	EXPECT(bond_epoll_collect(ep, out, 4) == 0);
	/* level: reported every time; only asked-for events, plus ERR/HUP */
	fake_set(a, EPOLLIN | EPOLLOUT);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1 && out[0].events == EPOLLIN &&
	       out[0].data.u64 == 0xa);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1);
	fake_set(a, EPOLLHUP);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1 && out[0].events == EPOLLHUP);
	fake_set(a, 0);
	/* edge: once per readiness change */
	fake_set(b, EPOLLOUT);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1 && out[0].data.u64 == 0xb);
	EXPECT(bond_epoll_collect(ep, out, 4) == 0);
	bond_sock_bump(&b->sk);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1);
	/* oneshot: once until MOD */
	ev.events = EPOLLOUT | EPOLLONESHOT;
	ev.data.u64 = 0xbb;
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_MOD, 21, &b->sk, &ev) == 0);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1 && out[0].data.u64 == 0xbb);
	EXPECT(bond_epoll_collect(ep, out, 4) == 0);
	bond_sock_bump(&b->sk);
	EXPECT(bond_epoll_collect(ep, out, 4) == 0);	/* disarmed */
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_MOD, 21, &b->sk, &ev) == 0);
	EXPECT(bond_epoll_collect(ep, out, 4) == 1);
	/* maxevents honoured, all reported across calls (fair rotation) */
	fake_set(a, EPOLLIN);
	ev.events = EPOLLOUT;
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_MOD, 21, &b->sk, &ev) == 0);
	EXPECT(bond_epoll_collect(ep, out, 1) == 1);
	{
		uint64_t first = out[0].data.u64;

		EXPECT(bond_epoll_collect(ep, out, 1) == 1 && out[0].data.u64 != first);
		EXPECT(bond_epoll_collect(ep, out, 1) == 1 && out[0].data.u64 == first);
	}
	EXPECT(bond_epoll_collect(ep, out, 4) == 2);
	/* closing its fd does not end the item (dup + close on Linux): the
	 * socket's last close does; a reused fd number is a new item */
	bond_sock_hold(&a->sk);		/* a dup */
	bond_fd_clear(20);
	bond_sock_drop(&a->sk);
	EXPECT(bond_epoll_collect(ep, out, 4) == 2 && bond_epoll_count(ep) == 2);
	bond_sock_drop(&a->sk);		/* the dup's close: the last */
	EXPECT(bond_epoll_collect(ep, out, 4) == 1 && out[0].data.u64 == 0xbb &&
	       bond_epoll_count(ep) == 1);
	reg_close(b);
	EXPECT(bond_epoll_collect(ep, out, 4) == 0 && bond_epoll_count(ep) == 0);
	c = reg_new(21);	/* fd 21 reused by another socket */
	fake_set(c, EPOLLIN);
	ev.events = EPOLLIN;
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_ADD, 21, &c->sk, &ev) == 0);
	EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_DEL, 21, &c->sk, NULL) == 0);
	EXPECT(bond_epoll_count(ep) == 0);
	reg_close(c);
	bond_epoll_free(ep);
	free(a);
	free(b);
	free(c);
}

/* The ready list: sockets in the order they became ready, not the order
 * they joined; one socket in two sets; a set far behind the log. */
static void
test_epoll_order(void)
{
	enum { N = 40 };
	struct bond_epoll *ep = bond_epoll_new(100), *e2 = bond_epoll_new(101);
	struct fake_sock *f[N];
	struct epoll_event ev = { .events = EPOLLIN }, out[N];
	bool order_ok = true;

	for (int i = 0; i < N; i++) {
		f[i] = reg_new(40 + i);
		ev.data.u32 = (uint32_t)i;
		EXPECT(bond_epoll_ctl_sock(ep, EPOLL_CTL_ADD, 40 + i, &f[i]->sk, &ev) == 0);
	}
	EXPECT(bond_epoll_count(ep) == N && bond_epoll_collect(ep, out, N) == 0);
	/* ready from the last joined to the first, with repeats: reported in
	 * the order of each one's first change */
	for (int i = N; i-- > 0;) {
		fake_set(f[i], EPOLLIN);
		fake_set(f[N - 1], EPOLLIN);
	}
	EXPECT(bond_epoll_collect(ep, out, N) == N);
	for (int i = 0; i < N; i++)
		order_ok &= out[i].data.u32 == (uint32_t)(N - 1 - i);
	EXPECT(order_ok);
	/* level: all still ready, reported again in the same order */
	EXPECT(bond_epoll_collect(ep, out, 2) == 2 && out[0].data.u32 == N - 1 &&
	       out[1].data.u32 == N - 2);
	EXPECT(bond_epoll_collect(ep, out, 1) == 1 && out[0].data.u32 == N - 3);
	for (int i = 0; i < N; i++)
		fake_set(f[i], 0);
	EXPECT(bond_epoll_collect(ep, out, N) == 0);

	/* one socket in two sets, each with its own data */
	ev.data.u32 = 0xe2;
	EXPECT(bond_epoll_ctl_sock(e2, EPOLL_CTL_ADD, 45, &f[5]->sk, &ev) == 0);
	fake_set(f[7], EPOLLIN);
	fake_set(f[5], EPOLLIN);
	EXPECT(bond_epoll_collect(ep, out, N) == 2 && out[0].data.u32 == 7 &&
	       out[1].data.u32 == 5);
	EXPECT(bond_epoll_collect(e2, out, N) == 1 && out[0].data.u32 == 0xe2);
	fake_set(f[5], 0);
	fake_set(f[7], 0);

	/* more changes than the log holds: every item looked at once */
	for (unsigned int k = 0; k < BOND_EV_LOG + 5; k++)
		bond_sock_bump(&f[k % N]->sk);
	f[3]->ev = EPOLLIN;
	EXPECT(bond_epoll_collect(ep, out, N) == 1 && out[0].data.u32 == 3);
	EXPECT(bond_epoll_collect(e2, out, N) == 0);
	for (int i = 0; i < N; i++) {
		reg_close(f[i]);
		free(f[i]);
	}
	EXPECT(bond_epoll_collect(ep, out, N) == 0 && bond_epoll_count(ep) == 0);
	EXPECT(bond_epoll_collect(e2, out, N) == 0 && bond_epoll_count(e2) == 0);
	bond_epoll_free(ep);
	bond_epoll_free(e2);
}

static bool
policy(const struct bond_config *c, const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons((uint16_t)port) };

	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		return bond_policy_kernel(c, (struct sockaddr *)&sin, sizeof(sin));
	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	return bond_policy_kernel(c, (struct sockaddr *)&sin6, sizeof(sin6));
}

static void
test_config(void)
{
	struct bond_config c;
	char err[256];

	bond_config_defaults(&c);
	EXPECT(c.offload_mask == (BOND_OFFLOAD_TCP | BOND_OFFLOAD_UDP));
	EXPECT(c.busy_poll_us == 100 && c.max_nap_us == 1000);
	EXPECT(policy(&c, "127.0.0.1", 80));
	EXPECT(policy(&c, "127.255.0.9", 0));
	EXPECT(policy(&c, "::1", 80));
	EXPECT(policy(&c, "::ffff:127.0.0.1", 80));
	EXPECT(!policy(&c, "198.18.0.1", 6379));
	EXPECT(!policy(&c, "0.0.0.0", 0));
	EXPECT(!bond_policy_kernel(&c, NULL, 0));

	snprintf(c.kernel_addrs, sizeof(c.kernel_addrs), "10.1.0.0/16, 2001:db8::/32");
	snprintf(c.kernel_ports, sizeof(c.kernel_ports), "22 53");
	snprintf(c.offload, sizeof(c.offload), "tcp");
	EXPECT(bond_config_finish(&c, err, sizeof(err)) == 0);
	EXPECT(c.offload_mask == BOND_OFFLOAD_TCP && c.n_rules == 4);
	EXPECT(policy(&c, "10.1.200.3", 80) && !policy(&c, "10.2.0.1", 80));
	EXPECT(policy(&c, "2001:db8:1::5", 80) && !policy(&c, "2001:db9::5", 80));
	EXPECT(policy(&c, "198.18.0.1", 22) && policy(&c, "0.0.0.0", 53));
	EXPECT(!policy(&c, "127.0.0.1", 80));

	snprintf(c.kernel_addrs, sizeof(c.kernel_addrs), "10.1.0.0/33");
	EXPECT(bond_config_finish(&c, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "kernel_addrs") != NULL);
	snprintf(c.kernel_addrs, sizeof(c.kernel_addrs), "not-an-address");
	EXPECT(bond_config_finish(&c, err, sizeof(err)) == -EINVAL);
	c.kernel_addrs[0] = '\0';
	snprintf(c.kernel_ports, sizeof(c.kernel_ports), "70000");
	EXPECT(bond_config_finish(&c, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "kernel_ports") != NULL);
	c.kernel_ports[0] = '\0';
	snprintf(c.offload, sizeof(c.offload), "sctp");
	EXPECT(bond_config_finish(&c, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "offload") != NULL);
	EXPECT(bond_cfg_bond.n_keys == 9 && bond_cfg_hooks.n_keys == 3);
}

static void
test_waiter(void)
{
	struct bond_waiter w;

	bond_config_defaults(&bond_cfg);
	fake_now = 1000;
	bond_waiter_init(&w, 5000000);
	EXPECT(!bond_waiter_expired(&w));
	EXPECT(bond_waiter_nap(&w) == 0);	/* busy-poll phase */
	fake_now += bond_cfg.busy_poll_us * 1000;
	EXPECT(bond_waiter_nap(&w) > 0);
	for (int i = 0; i < 20; i++)
		EXPECT(bond_waiter_nap(&w) <= bond_cfg.max_nap_us * 1000);
	fake_now = 1000 + 5000000;
	EXPECT(bond_waiter_expired(&w));
	EXPECT(bond_waiter_nap(&w) == 0);	/* no nap past the deadline */
	bond_waiter_init(&w, 0);	/* forever */
	fake_now += 1ull << 40;
	EXPECT(!bond_waiter_expired(&w));
	EXPECT(locks == 0);
}

/* The service thread's naps: doubling from service_interval_us while the
 * stack is polled by others, up to service_backoff_us; back at once when
 * it went unpolled for an interval; never growing with no back-off. */
static void
test_service_nap(void)
{
	uint64_t us = 1000, interval, backoff, nap;
	unsigned int steps = 0;

	bond_config_defaults(&bond_cfg);
	interval = bond_cfg.service_interval_us * us;
	backoff = bond_cfg.service_backoff_us * us;
	EXPECT(interval == 1000 * us && backoff == 32000 * us);
	nap = interval;
	while (nap < backoff && steps++ < 64) {
		uint64_t next = bond_service_nap(nap, interval / 2);

		EXPECT(next == 2 * nap || next == backoff);
		nap = next;
	}
	EXPECT(nap == backoff && steps == 5);
	EXPECT(bond_service_nap(nap, 0) == backoff);	/* stays there */
	EXPECT(bond_service_nap(nap, interval) == interval);	/* unpolled */
	EXPECT(bond_service_nap(nap, interval - 1) == backoff);
	EXPECT(bond_service_nap(0, 0) == interval);
	bond_cfg.service_backoff_us = bond_cfg.service_interval_us;
	EXPECT(bond_service_nap(interval, 0) == interval);
	bond_cfg.service_backoff_us = 0;
	EXPECT(bond_service_nap(interval, 0) == interval);
	bond_cfg.service_backoff_us = 3 * bond_cfg.service_interval_us;
	EXPECT(bond_service_nap(interval, 0) == 2 * interval);
	EXPECT(bond_service_nap(2 * interval, 0) == 3 * interval);
	bond_config_defaults(&bond_cfg);
}

/* Linux's restart rules (signal(7)), from the handler counts alone. */
static void
test_waiter_signals(void)
{
	struct bond_waiter w;

	bond_waiter_init(&w, 0);
	EXPECT(bond_waiter_intr(&w, true) == 0 && bond_waiter_intr(&w, false) == 0);
	bond_sig_runs++;	/* a handler with SA_RESTART */
	EXPECT(bond_waiter_intr(&w, true) == 0);	/* recv without timeout: goes on */
	EXPECT(bond_waiter_intr(&w, true) == 0);	/* and is not counted twice */
	bond_sig_runs++;
	EXPECT(bond_waiter_intr(&w, false) == -EINTR);	/* epoll_wait, poll, select */
	bond_waiter_init(&w, 0);
	bond_sig_runs++;	/* a handler without SA_RESTART */
	bond_sig_norestart++;
	EXPECT(bond_waiter_intr(&w, true) == -EINTR);
	EXPECT(bond_waiter_intr(&w, false) == -EINTR);
	bond_waiter_init(&w, 0);
	EXPECT(bond_waiter_intr(&w, false) == 0);	/* counts start at the wait */
}

/* ---- bond_wait, the one blocking loop, on the fake clock ---- */

struct wait_probe {
	int turns, naps;
	int ready_at;		/* the turn that has the result (0: none) */
	uint64_t advance;	/* what a turn takes on the clock */
	long nap_rc;		/* what a nap says */
	int sig_at;		/* a handler runs in this turn (0: none) */
	bool norestart;		/* ... registered without SA_RESTART */
	bool paced;		/* bond_waiter_paced */
	uint64_t slept, longest;
};

static long
probe_turn(void *arg)
{
	struct wait_probe *p = arg;

	p->turns++;
	fake_now += p->advance;
	if (p->sig_at == p->turns) {
		bond_sig_runs++;
		if (p->norestart)
			bond_sig_norestart++;
	}
	return p->ready_at != 0 && p->turns >= p->ready_at ? 42 : BOND_WAIT_MORE;
}

static long
probe_nap(void *arg, uint64_t ns)
{
	struct wait_probe *p = arg;

	p->naps++;
	p->slept += ns;
	if (ns > p->longest)
		p->longest = ns;
	fake_now += ns;
	return p->nap_rc;
}

static long
probe_wait(struct wait_probe *p, uint64_t timeout_ns, bool restart)
{
	static const struct bond_wait_ops ops = {
		.turn = probe_turn, .nap = probe_nap,
	};
	struct bond_waiter w;

	bond_waiter_init(&w, timeout_ns);
	if (p->paced)
		bond_waiter_paced(&w);
	return bond_wait(&w, &ops, p, restart, -EAGAIN);
}

static void
test_wait(void)
{
	struct wait_probe p;
	uint64_t busy, max;

	bond_config_defaults(&bond_cfg);
	busy = bond_cfg.busy_poll_us * 1000;
	max = bond_cfg.max_nap_us * 1000;
	fake_now = 1000;
	bond_wait_avg_ns = 0;	/* no pace known: busy_poll_us */
	/* ready while busy-polling: no nap */
	p = (struct wait_probe){ .ready_at = 5, .advance = 1000 };
	EXPECT(probe_wait(&p, 0, false) == 42 && p.turns == 5 && p.naps == 0);
	/* never ready: busy-poll, naps that double up to max_nap_us, the
	 * last one cut at the deadline, then the timeout's value */
	p = (struct wait_probe){ .advance = 1000 };
	EXPECT(probe_wait(&p, 10000000, false) == -EAGAIN);
	EXPECT(p.turns >= (int)(busy / 1000) && p.naps > 3 && p.longest <= max);
	EXPECT(p.slept + (uint64_t)p.turns * 1000 >= 10000000 - max &&
	       p.slept + (uint64_t)p.turns * 1000 <= 10000000 + 1000);
	/* forever: no deadline, however long */
	p = (struct wait_probe){ .ready_at = 2000, .advance = 100000 };
	EXPECT(probe_wait(&p, 0, false) == 42 && p.turns == 2000 && p.naps > 0);
	/* a nap on the call's kernel fds that has events ends the wait */
	p = (struct wait_probe){ .advance = busy, .nap_rc = 7 };
	EXPECT(probe_wait(&p, 0, false) == 7 && p.naps == 1);
	p = (struct wait_probe){ .advance = busy, .nap_rc = -EINTR };
	EXPECT(probe_wait(&p, 0, true) == -EINTR && p.naps == 1);
	/* a handler: EINTR at once, or on under SA_RESTART when the call
	 * restarts (signal(7)) */
	p = (struct wait_probe){ .ready_at = 6, .advance = 1000, .sig_at = 3 };
	EXPECT(probe_wait(&p, 0, false) == -EINTR && p.turns == 3);
	p = (struct wait_probe){ .ready_at = 6, .advance = 1000, .sig_at = 3 };
	EXPECT(probe_wait(&p, 0, true) == 42 && p.turns == 6);
	p = (struct wait_probe){ .ready_at = 6, .advance = 1000, .sig_at = 3,
				 .norestart = true };
	EXPECT(probe_wait(&p, 0, true) == -EINTR && p.turns == 3);
	EXPECT(locks == 0);
}

/* The busy-poll follows the pace of the thread's waits (bond_spin_ns). */
static void
test_wait_pace(void)
{
	struct wait_probe p;
	uint64_t busy, adapt;

	bond_config_defaults(&bond_cfg);
	busy = bond_cfg.busy_poll_us * 1000;
	adapt = bond_cfg.busy_poll_max_us * 1000;
	EXPECT(busy == 100000 && adapt == 500000);
	fake_now = 1000;
	bond_wait_avg_ns = 0;
	EXPECT(bond_spin_ns() == busy);
	/* requests 200 us apart: the first waits nap after busy_poll_us ... */
	p = (struct wait_probe){ .ready_at = 200, .advance = 1000,
				 .paced = true };
	EXPECT(probe_wait(&p, 0, false) == 42 && p.naps > 0);
	for (int i = 0; i < 20; i++) {
		p = (struct wait_probe){ .ready_at = 20, .advance = 10000,
					 .paced = true };
		EXPECT(probe_wait(&p, 0, false) == 42);
	}
	/* ... then the spin covers them: 1.5 x 200 us, no nap */
	EXPECT(bond_spin_ns() > 290000 && bond_spin_ns() <= 305000);
	p = (struct wait_probe){ .ready_at = 20, .advance = 10000, .paced = true };
	EXPECT(probe_wait(&p, 0, false) == 42 && p.naps == 0);
	/* a wait that is not paced (room to send, a connect) spins
	 * busy_poll_us and leaves the pace alone */
	{
		uint64_t avg = bond_wait_avg_ns;

		p = (struct wait_probe){ .ready_at = 200, .advance = 1000 };
		EXPECT(probe_wait(&p, 0, false) == 42 && p.naps > 0 &&
		       bond_wait_avg_ns == avg);
	}
	/* short gaps: busy_poll_us, never less */
	for (int i = 0; i < 30; i++) {
		p = (struct wait_probe){ .ready_at = 2, .advance = 1000,
					 .paced = true };
		EXPECT(probe_wait(&p, 0, false) == 42);
	}
	EXPECT(bond_spin_ns() == busy);
	/* an idle thread (gaps past busy_poll_max_us): busy_poll_us */
	for (int i = 0; i < 10; i++) {
		p = (struct wait_probe){ .ready_at = 100, .advance = 100000,
					 .paced = true };
		EXPECT(probe_wait(&p, 0, false) == 42);
	}
	EXPECT(bond_wait_avg_ns <= 2 * adapt && bond_spin_ns() == busy);
	/* timeouts and handlers say nothing of the pace */
	bond_wait_avg_ns = 200000;
	p = (struct wait_probe){ .advance = 1000, .paced = true };
	EXPECT(probe_wait(&p, 50000, false) == -EAGAIN);
	p = (struct wait_probe){ .ready_at = 6, .advance = 1000, .sig_at = 3,
				 .paced = true };
	EXPECT(probe_wait(&p, 0, false) == -EINTR);
	EXPECT(bond_wait_avg_ns == 200000);
	/* busy_poll_max_us = 0: no adaptation */
	bond_cfg.busy_poll_max_us = 0;
	EXPECT(bond_spin_ns() == busy);
	bond_config_defaults(&bond_cfg);
	bond_wait_avg_ns = 0;
	EXPECT(locks == 0);
}

/* A wake fd that stays readable with no frame behind it, or one that is
 * not open, is left out of the wait's naps: they are timed, never a spin
 * (bond_wake_pollfds). The naps here are real ppolls, the clock fake. */
static void
test_wake_stuck(void)
{
	static const struct bond_wait_ops ops = { .turn = probe_turn };
	struct wait_probe p;
	struct bond_waiter w;
	uint64_t naps, wakes, errs;
	int fds[2];

	bond_config_defaults(&bond_cfg);
	fake_now = 1000;
	EXPECT(pipe(fds) == 0 && write(fds[1], "x", 1) == 1);
	fake_wake_fd = fds[0];	/* readable for good, no frame ever */
	for (int round = 0; round < 2; round++) {	/* each wait tries again */
		naps = bond_naps;
		wakes = bond_nap_wakes;
		errs = bond_nap_wake_errors;
		p = (struct wait_probe){ .ready_at = 30, .advance = 20000 };
		bond_waiter_init(&w, 0);
		EXPECT(bond_wait(&w, &ops, &p, false, -EAGAIN) == 42);
		EXPECT(bond_nap_wakes - wakes == 3 && bond_naps - naps > 10 &&
		       bond_nap_wake_errors == errs);
	}
	close(fds[0]);
	close(fds[1]);
	/* not open: POLLNVAL, left out at once */
	naps = bond_naps;
	wakes = bond_nap_wakes;
	errs = bond_nap_wake_errors;
	p = (struct wait_probe){ .ready_at = 30, .advance = 20000 };
	bond_waiter_init(&w, 0);
	EXPECT(bond_wait(&w, &ops, &p, false, -EAGAIN) == 42);
	EXPECT(bond_nap_wake_errors - errs == 1 && bond_nap_wakes == wakes &&
	       bond_naps - naps > 10);
	fake_wake_fd = -1;
	EXPECT(locks == 0);
}

/* configs/README.md documents every [bond] and [hooks] key. */
static void
test_docs(const char *src_root)
{
	EXPECT(cfgdoc_missing(src_root, &bond_cfg_bond) == 0);
	EXPECT(cfgdoc_missing(src_root, &bond_cfg_hooks) == 0);
}

/* ---- holders (bond_proc.c) ---- */

static unsigned int closes;

static void
counting_close(struct bond_sock *sk)
{
	closes++;
	free(sk);
}

static const struct bond_proto holder_proto = {
	.name = "holder", .type = SOCK_STREAM, .events = fake_events,
	.close = counting_close,
};

static struct bond_sock *
holder_new(void)
{
	struct bond_sock *sk = calloc(1, sizeof(struct fake_sock));

	bond_sock_init(sk, &holder_proto, AF_INET);
	EXPECT(bond_sock_register(sk) == 0);
	return sk;
}

/* A pid that is surely gone: a child that has exited and been reaped. */
static long
dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void
test_holders(void)
{
	struct bond_sock *a, *b, *c;

	EXPECT(bond_proc_start(0x5eed) == 0);
	EXPECT(bond_self == 0);
	a = holder_new();
	b = holder_new();
	EXPECT(a->idx != b->idx);

	/* two fds (dup) on a: the second close is the last */
	bond_sock_hold(a);
	bond_sock_hold(a);
	EXPECT(a->nholders == 1 && bond_proc_holds(a));
	EXPECT(!bond_sock_last(a));
	bond_sock_drop(a);
	EXPECT(closes == 0 && bond_sock_last(a));
	bond_sock_drop(a);
	EXPECT(closes == 1);

	/* fork: the child holds b before fork returns; the parent's close
	 * leaves it open; the child vanishing (its pid gone before it named
	 * itself) releases it at the next scan, and the last hold closes it */
	bond_sock_hold(b);
	bond_proc_fork_prepare();
	EXPECT(b->nholders == 2);
	bond_proc_fork_parent(dead_pid());
	bond_sock_drop(b);
	EXPECT(closes == 1 && b->nholders == 1);
	EXPECT(bond_proc_scan(1000, 1) == true);
	EXPECT(closes == 2 && bond_proc_reaped() == 1);

	/* a failed fork takes the child's holds back */
	c = holder_new();
	bond_sock_hold(c);
	bond_proc_fork_prepare();
	EXPECT(c->nholders == 2);
	bond_proc_fork_parent(-1);
	EXPECT(c->nholders == 1);
	bond_sock_drop(c);
	EXPECT(closes == 3);

	/* exit: what only this process holds closes */
	c = holder_new();
	bond_sock_hold(c);
	bond_proc_exit();
	EXPECT(closes == 4 && bond_self == -1);
	EXPECT(bond_proc_closed() == 4);

	/* a process without a slot (past BOND_PROCS_MAX): its own sockets
	 * still close at their last close */
	c = holder_new();
	bond_sock_hold(c);
	EXPECT(c->nholders == 0 && bond_proc_holds(c));
	bond_sock_drop(c);
	EXPECT(closes == 5);
}


/* ---- zpnet stats ---- */

/* A TCP-named protocol that describes itself, as bond_tcp.c does. */
static int
stat_name(struct bond_sock *sk, struct sockaddr *sa, socklen_t *len, bool peer)
{
	struct fake_sock *f = (struct fake_sock *)sk;

	if (f->ev == 6) {	/* one IPv6 socket */
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
					    .sin6_port = htons(80) };

		inet_pton(AF_INET6, peer ? "2001:2::1" : "2001:2::2", &in6.sin6_addr);
		memcpy(sa, &in6, sizeof(in6));
		*len = sizeof(in6);
		return 0;
	}
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons(peer ? 1000 + f->ev : 6379) };

	inet_pton(AF_INET, peer ? "198.18.0.1" : "198.18.0.2", &in.sin_addr);
	memcpy(sa, &in, sizeof(in));
	*len = sizeof(in);
	return 0;
}

static void
stat_describe(struct bond_sock *sk, struct bond_sock_stat *st)
{
	struct fake_sock *f = (struct fake_sock *)sk;

	memset(st, 0, sizeof(*st));
	st->state = BOND_TCPS_ESTABLISHED;
	st->rxq = f->ev;
	st->txq = 2 * f->ev;
	st->ti.cwnd = 10;
	if (++held_work > held_work_max)
		held_work_max = held_work;
}

static const struct bond_proto stat_proto = {
	.name = "tcp", .type = SOCK_STREAM, .events = fake_events,
	.close = fake_close, .getname = stat_name, .describe = stat_describe,
};

static void
stat_counters(FILE *f)
{
	EXPECT(locks == 1);	/* read under the lock */
	fprintf(f, "port0.rx_pkts 7\nstack.x 9\n");
}

static unsigned int unlocked_writes, locked_writes;

static ssize_t
unlocked_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	(void)buf;
	if (locks == 0)
		unlocked_writes++;
	else
		locked_writes++;
	return (ssize_t)size;
}

/* Connections without a socket, two per call over three calls. */
static unsigned int fake_pcb_calls;

static unsigned int
fake_pcbs(uint32_t *cursor, struct bond_pcb_stat *out, unsigned int max,
	  bool *done)
{
	unsigned int n = 0;

	EXPECT(locks == 1 && max >= 2);
	fake_pcb_calls++;
	for (; n < 2 && *cursor < 5; n++, (*cursor)++) {
		struct sockaddr_in in = { .sin_family = AF_INET,
					  .sin_port = htons(7000 + *cursor) };

		memset(&out[n], 0, sizeof(out[n]));
		out[n].family = AF_INET;
		memcpy(&out[n].local, &in, sizeof(in));
		memcpy(&out[n].peer, &in, sizeof(in));
		out[n].st.state = BOND_TCPS_TIME_WAIT;
	}
	*done = *cursor >= 5 && n == 0;
	return n;
}

/* A snapshot copies the sockets a chunk per lock hold, prints every one
 * with its fields, the counters as given, and ends with "end". */
static void
test_stats(void)
{
	enum { N = 70 };
	struct fake_sock *s[N];
	char *text = NULL, *line, *save;
	size_t len = 0;
	unsigned int takes0 = lock_takes, socks = 0, first = 0;
	bool seen[N] = { false }, v6 = false, end = false;
	FILE *f;

	for (unsigned int i = 0; i < N; i++) {
		s[i] = calloc(1, sizeof(*s[i]));
		bond_sock_init(&s[i]->sk, &stat_proto, i == 6 ? AF_INET6 : AF_INET);
		s[i]->ev = i;
		s[i]->sk.ino = 5000 + i;
		s[i]->sk.bytes_out = 100 + i;
		EXPECT(bond_sock_register(&s[i]->sk) == 0);
	}
	s[3]->sk.so_error = ECONNRESET;
	bond_stats_pcbs = fake_pcbs;
	f = open_memstream(&text, &len);
	bond_stats_write(f, true, stat_counters);
	fclose(f);
	bond_stats_pcbs = NULL;
	EXPECT(locks == 0);
	EXPECT(fake_pcb_calls == 4);
	{
		unsigned int tw = 0;

		for (char *p = text; (p = strstr(p, "sock id=0 proto=tcp family=4 state=TIME-WAIT local=0.0.0.0:700")) != NULL; p++)
			tw++;
		EXPECT(tw == 5);
		EXPECT(strstr(text, "state=TIME-WAIT local=0.0.0.0:7004 peer=0.0.0.0:7004 rxq=0 txq=0 ino=0 bytes_read=0 bytes_written=0 pids=- rtt_us=") != NULL);
	}
	EXPECT(held_work_max >= 1 && held_work_max <= 32);
	EXPECT(lock_takes - takes0 >= 1 + (N + 31) / 32);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned int i, rxq, txq, port;
		unsigned long long ino;

		if (first++ == 0)
			EXPECT(strcmp(line, "zpnet-stats 1") == 0);
		if (strcmp(line, "end") == 0)
			end = true;
		if (strncmp(line, "sock ", 5) != 0 || strstr(line, " proto=tcp ") == NULL ||
		    strncmp(line, "sock id=0 ", 10) == 0)
			continue;
		socks++;
		if (strstr(line, "local=[2001:2::2]:80 peer=[2001:2::1]:80") != NULL &&
		    strstr(line, " family=6 ") != NULL)
			v6 = true;
		if (sscanf(strstr(line, "peer="), "peer=198.18.0.1:%u rxq=%u txq=%u ino=%llu",
			   &port, &rxq, &txq, &ino) != 4)
			continue;
		i = port - 1000;
		EXPECT(i < N && rxq == i && txq == 2 * i && ino == 5000 + i);
		EXPECT(strstr(line, "state=ESTAB local=198.18.0.2:6379 ") != NULL);
		EXPECT(strstr(line, " cwnd=10 ") != NULL);
		EXPECT((strstr(line, " error=104") != NULL) == (i == 3));
		if (i < N)
			seen[i] = true;
	}
	EXPECT(socks == N && v6 && end);
	for (unsigned int i = 0; i < N; i++)
		EXPECT(seen[i] || i == 6);
	free(text);

	/* the text goes out with the lock released: a writer that checks */
	{
		cookie_io_functions_t io = { .write = unlocked_write };

		unlocked_writes = locked_writes = 0;
		f = fopencookie(NULL, "w", io);
		setvbuf(f, NULL, _IONBF, 0);	/* every fwrite reaches it */
		bond_stats_write(f, true, stat_counters);
		fclose(f);
		EXPECT(unlocked_writes >= N && locked_writes == 0);
	}

	/* counters only: no socket lines, the counters verbatim */
	text = NULL;
	f = open_memstream(&text, &len);
	bond_stats_write(f, false, stat_counters);
	fclose(f);
	EXPECT(strstr(text, "\ncounter port0.rx_pkts 7\ncounter stack.x 9\n") != NULL);
	EXPECT(strstr(text, "\nsock ") == NULL && strstr(text, "\nend\n") != NULL);
	free(text);
	for (unsigned int i = 0; i < N; i++) {
		bond_sock_hold(&s[i]->sk);	/* the last drop unregisters */
		bond_sock_drop(&s[i]->sk);
		EXPECT(bond_sock_at(s[i]->sk.idx, s[i]->sk.id) == NULL);
		free(s[i]);
	}
}

/* netstack's repeating lines: the first NS_LOG_BURST of a window, then
 * held; the next window's first says how many were held. */
static void
test_log_limit(void)
{
	struct ns_log_limit lim = { 0 };
	uint64_t held = 99, t = 5000;
	unsigned int said = 0;

	for (unsigned int i = 0; i < 50; i++)
		said += ns_log_limit_pass(&lim, t + i, &held);
	EXPECT(said == NS_LOG_BURST && held == 0);
	EXPECT(!ns_log_limit_pass(&lim, t + NS_LOG_WINDOW_NS - 1, &held));
	EXPECT(ns_log_limit_pass(&lim, t + NS_LOG_WINDOW_NS + 7, &held));
	EXPECT(held == 50 - NS_LOG_BURST + 1);
	/* a fresh window: a burst again */
	said = 1;
	for (unsigned int i = 0; i < 10; i++)
		said += ns_log_limit_pass(&lim, t + NS_LOG_WINDOW_NS + 8 + i, &held);
	EXPECT(said == NS_LOG_BURST);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SRC_ROOT\n", argv[0]);
		return 2;
	}
	if (bond_fd_init(1024) < 0) {
		fprintf(stderr, "fd table\n");
		return 1;
	}
	test_fd_table();
	test_errno();
	test_sockopt();
	test_holders();		/* first: it counts every close */
	test_epoll();		/* then sockets register as a process without a slot */
	test_epoll_exclusive();
	test_epoll_order();
	test_stats();
	test_log_limit();
	test_config();
	test_waiter();
	test_service_nap();
	test_waiter_signals();
	test_wait();
	test_wait_pace();
	test_wake_stuck();
	test_docs(argv[1]);
	bond_fd_fini();
	printf("%d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
