/*
 * zpnet-sockcheck: socket semantics, asserted the same way on the kernel
 * stack and under zpnet.
 *
 *   zpnet-sockcheck peer PORT
 *	the kernel-side helper: a TCP service on PORT (first line picks the
 *	mode: ECHO, SINK, LAST, SEND n, DRIP n k ms, BACK port, BACKN n port,
 *	BACKIDLE ms port, ORDER n port, RESET;
 *	anything else: close) and UDP echo on PORT;
 *	nothing listens on PORT+1 (for ECONNREFUSED); PORT+2 accepts and
 *	holds connections whose data sockcheck.sh has the kernel drop (a
 *	black hole, for TCP_USER_TIMEOUT).
 *   zpnet-sockcheck test PEER_IP PORT LOCAL_IP [PEER_IP6]
 *	every check against the peer (IPv6 ones when PEER_IP6 is given);
 *	prints "ok N name" per check and exits 0 only when all pass.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h>	/* after time.h: its struct timespec */

#define LINE_MAX_LEN	64
#define BIG_WRITE	(4u * 1024 * 1024)
#define CLOSE_FLUSH	(1u * 1024 * 1024)
#define NB_WRITE	(64u * 1024 * 1024)
#define WAITALL_LEN	(300u * 1000)
#define SEND_CHUNK	1000
#define SEND_PAUSE_EVERY (64u * 1024)
#define SEND_PAUSE_US	2000
#define HOLD_US		500000	/* HOLD: how long the peer reads nothing */
#define RCVTIMEO_MS	200
#define UNKNOWN_OPT	9999
#define TEST_NONLOCAL	"192.0.2.99"	/* TEST-NET-1: never ours */
#define WAIT_MS		5000
#define PEER_LIFETIME_S	240
#define SOCKBUF_SET	65536
#define KEEPIDLE_SET	30
#define KEEPINTVL_SET	5
#define KEEPCNT_SET	4
#define LINUX_KEEPIDLE	7200	/* net.ipv4.tcp_keepalive_time, a new netns */
#define LINUX_KEEPINTVL	75
#define LINUX_KEEPCNT	9
#define BACKLOG_CONNS	3
#define ORDER_ROUNDS	1000
#define DUP_LOW		50
#define NAP_NS		(100 * 1000 * 1000)
#define DRIP_MS		600	/* DRIP: between the peer's pieces */
#define LOWAT_SET	10
#define USER_TIMEOUT_MS	1000
#define BLACKHOLE_HELD	16	/* connections the black-hole port keeps */
#define DEFER_S		1	/* TCP_DEFER_ACCEPT in the checks */
#define IDLE_MS		2500	/* BACKIDLE: before the connection's data */
#define HELD_MS		50	/* well under Linux's 200 ms cork ceiling */

static struct sockaddr_in peer_sa, local_sa;
static struct sockaddr_in6 peer6_sa;
static bool have6;
static int port;
static int failures, checks;
static volatile sig_atomic_t sigpipes;

#define CHECK(cond, ...) do {						\
	checks++;							\
	if (cond) {							\
		printf("ok %d ", checks);				\
	} else {							\
		failures++;						\
		printf("not ok %d (%s:%d, errno %d %s) ", checks,	\
		       __FILE__, __LINE__, errno, strerror(errno));	\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	fflush(stdout);							\
} while (0)

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sockaddr_in
addr_of(const struct sockaddr_in *base, int p)
{
	struct sockaddr_in a = *base;

	a.sin_port = htons((uint16_t)p);
	return a;
}

static ssize_t
read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got > 0 ? (ssize_t)got : r;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int
read_line(int fd, char *buf, size_t n)
{
	size_t i = 0;

	while (i + 1 < n) {
		ssize_t r = read(fd, buf + i, 1);

		if (r <= 0)
			return -1;
		if (buf[i] == '\n')
			break;
		i++;
	}
	buf[i] = '\0';
	return (int)i;
}

static int
write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* ---- the peer (kernel side) ---- */

static unsigned long last_sink;

static void
peer_conn(int c, const struct sockaddr_in *from)
{
	char line[LINE_MAX_LEN], buf[65536];
	ssize_t r;

	if (read_line(c, line, sizeof(line)) < 0)
		return;
	if (strcmp(line, "ECHO") == 0) {
		while ((r = read(c, buf, sizeof(buf))) > 0)
			if (write_all(c, buf, (size_t)r) < 0)
				break;
	} else if (strcmp(line, "SINK") == 0) {
		unsigned long n = 0;

		while ((r = read(c, buf, sizeof(buf))) > 0)
			n += (unsigned long)r;
		last_sink = n;
		snprintf(line, sizeof(line), "%lu\n", n);
		write_all(c, line, strlen(line));
	} else if (strcmp(line, "HOLD") == 0) {
		/* read nothing for a while, so the sender's buffers fill */
		usleep(HOLD_US);
		while (read(c, buf, sizeof(buf)) > 0)
			;
	} else if (strcmp(line, "LAST") == 0) {
		snprintf(line, sizeof(line), "%lu\n", last_sink);
		write_all(c, line, strlen(line));
	} else if (strncmp(line, "SEND ", 5) == 0) {
		unsigned long n = strtoul(line + 5, NULL, 10), sent = 0;

		memset(buf, 'z', sizeof(buf));
		while (sent < n) {
			size_t k = n - sent < SEND_CHUNK ? n - sent : SEND_CHUNK;

			if (write_all(c, buf, k) < 0)
				break;
			sent += k;
			if (sent % SEND_PAUSE_EVERY < SEND_CHUNK)
				usleep(SEND_PAUSE_US);
		}
	} else if (strncmp(line, "DRIP ", 5) == 0) {
		/* n pieces of k bytes, each its own segment after a pause of
		 * ms; a last pause before the FIN */
		char *end;
		int n = (int)strtol(line + 5, &end, 10), one = 1;
		int k = (int)strtol(end, &end, 10), ms = atoi(end);

		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(buf, 'd', sizeof(buf));
		for (int i = 0; i < n && k > 0 && k <= (int)sizeof(buf); i++) {
			usleep((useconds_t)ms * 1000);
			if (write_all(c, buf, (size_t)k) < 0)
				break;
		}
		usleep((useconds_t)ms * 1000);
	} else if (strcmp(line, "RESET") == 0) {
		struct linger lg = { 1, 0 };

		/* close() with linger 0 resets the connection */
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (strncmp(line, "BACKN ", 6) == 0 && from != NULL) {
		/* n connections in a row, each "hello" then FIN; then tell
		 * how many connected */
		char *end;
		int n = (int)strtol(line + 6, &end, 10), ok = 0;
		struct sockaddr_in to = addr_of(from, atoi(end));

		for (int i = 0; i < n; i++) {
			int s = socket(AF_INET, SOCK_STREAM, 0);

			if (connect(s, (struct sockaddr *)&to, sizeof(to)) == 0 &&
			    write_all(s, "hello", 5) == 0)
				ok++;
			close(s);
		}
		snprintf(line, sizeof(line), "%d\n", ok);
		write_all(c, line, strlen(line));
	} else if (strncmp(line, "ORDER ", 6) == 0 && from != NULL) {
		/* two connections back; then n rounds, each on a "g": '1' on
		 * one of them, then '2' on the other, the order at random */
		char *end, g;
		int n = (int)strtol(line + 6, &end, 10), s[2], one = 1;
		struct sockaddr_in to = addr_of(from, atoi(end));
		unsigned int seed = 12345;

		for (int i = 0; i < 2; i++) {
			s[i] = socket(AF_INET, SOCK_STREAM, 0);
			setsockopt(s[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(s[i], (struct sockaddr *)&to, sizeof(to)) < 0)
				n = 0;
		}
		for (int i = 0; i < n && read(c, &g, 1) == 1; i++) {
			int first = rand_r(&seed) & 1;

			if (write_all(s[first], "1", 1) < 0 ||
			    write_all(s[!first], "2", 1) < 0)
				break;
		}
		read(c, &g, 1);	/* no FIN before the test is done */
		close(s[0]);
		close(s[1]);
	} else if (strncmp(line, "BACKIDLE ", 9) == 0 && from != NULL) {
		/* connect back, send nothing for ms, then "late" */
		char *end;
		int ms = (int)strtol(line + 9, &end, 10);
		struct sockaddr_in to = addr_of(from, atoi(end));
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(s, (struct sockaddr *)&to, sizeof(to)) == 0) {
			usleep((useconds_t)ms * 1000);
			write_all(s, "late", 4);
		}
		close(s);
	} else if (strncmp(line, "BACK ", 5) == 0 && from != NULL) {
		struct sockaddr_in to = addr_of(from, atoi(line + 5));
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(s, (struct sockaddr *)&to, sizeof(to)) == 0)
			write_all(s, "hello", 5);
		close(s);
	}
}

static int
peer_main(int p)
{
	struct sockaddr_in any = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)p) };
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons((uint16_t)p) };
	struct sockaddr_in hole = any;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int l6 = socket(AF_INET6, SOCK_STREAM, 0);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	int lh = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1, held[BLACKHOLE_HELD], nheld = 0;
	uint64_t end = now_ms() + PEER_LIFETIME_S * 1000ull;

	/* a check may close while the peer still writes (DRIP) */
	signal(SIGPIPE, SIG_IGN);

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lh, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(u, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
	if (bind(l6, (struct sockaddr *)&any6, sizeof(any6)) < 0 || listen(l6, 64) < 0) {
		perror("peer: IPv6");
		return 1;
	}
	hole.sin_port = htons((uint16_t)(p + 2));
	if (bind(l, (struct sockaddr *)&any, sizeof(any)) < 0 ||
	    bind(u, (struct sockaddr *)&any, sizeof(any)) < 0 ||
	    bind(lh, (struct sockaddr *)&hole, sizeof(hole)) < 0 ||
	    listen(l, 64) < 0 || listen(lh, 8) < 0) {
		perror("peer");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (now_ms() < end) {
		struct pollfd pf[4 + BLACKHOLE_HELD] = {
			{ l, POLLIN, 0 }, { u, POLLIN, 0 }, { l6, POLLIN, 0 },
			{ lh, POLLIN, 0 } };

		for (int i = 0; i < nheld; i++)
			pf[4 + i] = (struct pollfd){ held[i], POLLIN, 0 };
		if (poll(pf, (nfds_t)(4 + nheld), 1000) <= 0)
			continue;
		/* the black hole: held until the other side closes or resets */
		for (int i = nheld - 1; i >= 0; i--) {
			char b[256];

			if (pf[4 + i].revents != 0 && read(held[i], b, sizeof(b)) <= 0) {
				close(held[i]);
				held[i] = held[--nheld];
			}
		}
		if (pf[3].revents & POLLIN) {
			int c = accept(lh, NULL, NULL);

			if (c >= 0 && nheld < BLACKHOLE_HELD)
				held[nheld++] = c;
			else if (c >= 0)
				close(c);
		}
		if (pf[2].revents & POLLIN) {
			int c = accept(l6, NULL, NULL);

			if (c >= 0) {
				peer_conn(c, NULL);
				close(c);
			}
		}
		if (pf[1].revents & POLLIN) {
			char buf[65536], cbuf[CMSG_SPACE(sizeof(int))];
			struct sockaddr_in from;
			struct iovec iov = { buf, sizeof(buf) };
			struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from),
					    .msg_iov = &iov, .msg_iovlen = 1,
					    .msg_control = cbuf,
					    .msg_controllen = sizeof(cbuf) };
			ssize_t r = recvmsg(u, &m, 0);
			struct cmsghdr *c = CMSG_FIRSTHDR(&m);

			/* "TTL?": the answer is the TTL it came with */
			if (r == 4 && memcmp(buf, "TTL?", 4) == 0 && c != NULL &&
			    c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
				int ttl;

				memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
				r = snprintf(buf, sizeof(buf), "TTL %d", ttl);
			}
			if (r >= 0)
				sendto(u, buf, (size_t)r, 0,
				       (struct sockaddr *)&from, m.msg_namelen);
		}
		if (pf[0].revents & POLLIN) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			int c = accept(l, (struct sockaddr *)&from, &fl);

			if (c < 0)
				continue;
			/* Serially: the checks run one connection at a time,
			 * except the large ones, which never overlap. */
			peer_conn(c, &from);
			close(c);
		}
	}
	return 0;
}

/* ---- the checks ---- */

static int
tcp_to(const char *mode)
{
	struct sockaddr_in a = addr_of(&peer_sa, port);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	if (mode != NULL && write_all(s, mode, strlen(mode)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static void
on_sigpipe(int sig)
{
	sigpipes++;
}

static void
check_socket_flags(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int v = -1;
	socklen_t len = sizeof(v);

	CHECK(s >= 0, "socket(SOCK_NONBLOCK|SOCK_CLOEXEC)");
	CHECK(fcntl(s, F_GETFL) & O_NONBLOCK, "F_GETFL has O_NONBLOCK");
	CHECK(fcntl(s, F_GETFD) & FD_CLOEXEC, "F_GETFD has FD_CLOEXEC");
	CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
	      v == SOCK_STREAM, "SO_TYPE is SOCK_STREAM");
	CHECK(getsockopt(s, SOL_SOCKET, UNKNOWN_OPT, &v, &len) < 0 &&
	      errno == ENOPROTOOPT, "unknown option: ENOPROTOOPT");
	v = 1;
	CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0,
	      "TCP_NODELAY set");
	v = 0;
	len = sizeof(v);
	CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1,
	      "TCP_NODELAY reads back");
	CHECK(fcntl(s, F_SETFL, 0) == 0 && !(fcntl(s, F_GETFL) & O_NONBLOCK),
	      "F_SETFL clears O_NONBLOCK");
	v = 1;
	CHECK(ioctl(s, FIONBIO, &v) == 0 && (fcntl(s, F_GETFL) & O_NONBLOCK),
	      "FIONBIO sets O_NONBLOCK");
	close(s);
}

static void
check_bind(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	int s = socket(AF_INET, SOCK_STREAM, 0), s2;

	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind INADDR_ANY:0");
	CHECK(getsockname(s, (struct sockaddr *)&got, &len) == 0 &&
	      got.sin_port != 0 && len == sizeof(got), "bound port is picked");
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EINVAL,
	      "second bind: EINVAL");
	s2 = socket(AF_INET, SOCK_STREAM, 0);
	a = local_sa;
	a.sin_port = got.sin_port;
	CHECK(bind(s2, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EADDRINUSE,
	      "same port again: EADDRINUSE");
	close(s2);
	s2 = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, TEST_NONLOCAL, &a.sin_addr);
	a.sin_port = 0;
	CHECK(bind(s2, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	      errno == EADDRNOTAVAIL, "non-local address: EADDRNOTAVAIL");
	close(s2);
	close(s);
}

static void
check_listen_accept(void)
{
	struct sockaddr_in a = local_sa, got, from;
	socklen_t len = sizeof(got), fl = sizeof(from);
	char cmd[LINE_MAX_LEN], buf[8] = "";
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), c, ctl;
	struct pollfd pf;

	a.sin_port = 0;
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 8) == 0,
	      "bind + listen");
	getsockname(l, (struct sockaddr *)&got, &len);
	CHECK(accept(l, NULL, NULL) < 0 && errno == EAGAIN,
	      "accept with nothing pending: EAGAIN");
	snprintf(cmd, sizeof(cmd), "BACK %d\n", ntohs(got.sin_port));
	ctl = tcp_to(cmd);
	CHECK(ctl >= 0, "peer asked to connect back");
	pf.fd = l;
	pf.events = POLLIN;
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && (pf.revents & POLLIN),
	      "poll: listener readable");
	c = accept4(l, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(c >= 0, "accept4");
	CHECK(fl == sizeof(from) && from.sin_addr.s_addr == peer_sa.sin_addr.s_addr,
	      "accept4 fills the peer address");
	CHECK((fcntl(c, F_GETFL) & O_NONBLOCK) && (fcntl(c, F_GETFD) & FD_CLOEXEC),
	      "accept4 flags applied");
	fcntl(c, F_SETFL, 0);
	CHECK(read_full(c, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0,
	      "accepted socket reads");
	CHECK(read(c, buf, sizeof(buf)) == 0, "read after FIN returns 0");
	close(c);
	close(ctl);
	close(l);
}

static void
check_echo(void)
{
	char out[] = "0123456789", in[32];
	struct iovec iov[2];
	struct msghdr m;
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	int s = tcp_to("ECHO\n"), n = -1;

	CHECK(s >= 0, "blocking connect");
	CHECK(getpeername(s, (struct sockaddr *)&got, &len) == 0 &&
	      got.sin_addr.s_addr == peer_sa.sin_addr.s_addr &&
	      got.sin_port == htons((uint16_t)port), "getpeername");
	len = sizeof(got);
	CHECK(getsockname(s, (struct sockaddr *)&got, &len) == 0 &&
	      got.sin_addr.s_addr == local_sa.sin_addr.s_addr, "getsockname");
	CHECK(write(s, out, 10) == 10, "write");
	CHECK(recv(s, in, 4, MSG_PEEK | MSG_WAITALL) == 4 && memcmp(in, "0123", 4) == 0,
	      "MSG_PEEK");
	usleep(100000);
	CHECK(ioctl(s, FIONREAD, &n) == 0 && n == 10, "FIONREAD counts queued bytes");
	CHECK(read_full(s, in, 10) == 10 && memcmp(in, out, 10) == 0,
	      "read gets the peeked data and the rest");
	CHECK(recv(s, in, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "MSG_DONTWAIT on empty: EAGAIN");
	iov[0].iov_base = out;
	iov[0].iov_len = 3;
	iov[1].iov_base = out + 3;
	iov[1].iov_len = 7;
	CHECK(writev(s, iov, 2) == 10, "writev");
	memset(in, 0, sizeof(in));
	iov[0].iov_base = in;
	iov[0].iov_len = 5;
	iov[1].iov_base = in + 5;
	iov[1].iov_len = 5;
	CHECK(recv(s, in, 10, MSG_WAITALL) == 10 && memcmp(in, out, 10) == 0,
	      "MSG_WAITALL");
	memset(&m, 0, sizeof(m));
	iov[0].iov_base = out;
	iov[0].iov_len = 10;
	m.msg_iov = iov;
	m.msg_iovlen = 1;
	CHECK(sendmsg(s, &m, MSG_NOSIGNAL) == 10, "sendmsg");
	iov[0].iov_base = in;
	iov[1].iov_base = in + 5;
	iov[0].iov_len = iov[1].iov_len = 5;
	m.msg_iovlen = 2;
	CHECK(recvmsg(s, &m, MSG_WAITALL) == 10 && memcmp(in, out, 10) == 0,
	      "recvmsg into two buffers");
	CHECK(shutdown(s, SHUT_WR) == 0, "shutdown(SHUT_WR)");
	CHECK(read(s, in, sizeof(in)) == 0, "peer closes after our FIN: read 0");
	CHECK(send(s, out, 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "send after SHUT_WR: EPIPE");
	sigpipes = 0;
	CHECK(write(s, out, 1) < 0 && errno == EPIPE && sigpipes == 1,
	      "write after SHUT_WR: EPIPE and SIGPIPE");
	close(s);
}

static void
check_connect_errors(void)
{
	struct sockaddr_in a = addr_of(&peer_sa, port + 1);
	int s = socket(AF_INET, SOCK_STREAM, 0), e = -1;
	socklen_t len = sizeof(e);
	struct pollfd pf;

	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	      errno == ECONNREFUSED, "connect to a closed port: ECONNREFUSED");
	close(s);
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	      errno == EINPROGRESS, "non-blocking connect: EINPROGRESS");
	pf.fd = s;
	pf.events = POLLOUT;
	CHECK(poll(&pf, 1, WAIT_MS) == 1, "poll reports the failed connect");
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) == 0 &&
	      e == ECONNREFUSED, "SO_ERROR is ECONNREFUSED");
	close(s);
	a = addr_of(&peer_sa, port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	      errno == EINPROGRESS, "non-blocking connect to a listener");
	pf.fd = s;
	pf.events = POLLOUT;
	e = -1;
	len = sizeof(e);
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && (pf.revents & POLLOUT) &&
	      getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0,
	      "writable, SO_ERROR 0");
	/* Linux: the first connect() after completion reports it (0); the
	 * next one says EISCONN. */
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0,
	      "connect again after completion: 0");
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EISCONN,
	      "and again: EISCONN");
	close(s);
}

static void
check_timeouts(void)
{
	struct timeval tv = { 0, RCVTIMEO_MS * 1000 };
	int s = tcp_to("ECHO\n");
	char c;
	uint64_t t0, dt;

	CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0,
	      "SO_RCVTIMEO set");
	t0 = now_ms();
	CHECK(read(s, &c, 1) < 0 && errno == EAGAIN, "read times out: EAGAIN");
	dt = now_ms() - t0;
	CHECK(dt >= RCVTIMEO_MS * 3 / 4 && dt < RCVTIMEO_MS * 5,
	      "after about %d ms (%llu)", RCVTIMEO_MS, (unsigned long long)dt);
	close(s);
}

static void
check_bulk(void)
{
	char *buf = malloc(NB_WRITE), line[LINE_MAX_LEN];
	int s = tcp_to("SINK\n");
	ssize_t r;

	memset(buf, 'a', NB_WRITE);
	CHECK(write(s, buf, BIG_WRITE) == (ssize_t)BIG_WRITE,
	      "blocking write of 4 MiB writes everything");
	shutdown(s, SHUT_WR);
	CHECK(read_line(s, line, sizeof(line)) > 0 &&
	      strtoul(line, NULL, 10) == BIG_WRITE, "peer received 4 MiB");
	close(s);

	s = tcp_to("HOLD\n");	/* a peer that reads nothing yet */
	fcntl(s, F_SETFL, O_NONBLOCK);
	r = write(s, buf, NB_WRITE);
	CHECK(r > 0 && r < (ssize_t)NB_WRITE,
	      "non-blocking write of 64 MiB writes part (%zd)", r);
	close(s);

	s = tcp_to("SINK\n");
	CHECK(write(s, buf, CLOSE_FLUSH) == (ssize_t)CLOSE_FLUSH, "write 1 MiB");
	close(s);	/* no wait: close must still deliver it */
	usleep(500000);
	s = tcp_to("LAST\n");
	CHECK(read_line(s, line, sizeof(line)) > 0 &&
	      strtoul(line, NULL, 10) == CLOSE_FLUSH,
	      "close delivers written data before FIN (%s)", line);
	close(s);

	s = tcp_to(NULL);
	snprintf(line, sizeof(line), "SEND %u\n", WAITALL_LEN);
	write_all(s, line, strlen(line));
	r = recv(s, buf, WAITALL_LEN, MSG_WAITALL);
	CHECK(r == (ssize_t)WAITALL_LEN, "MSG_WAITALL over many segments (%zd)", r);
	close(s);
	free(buf);
}

static void
check_multiplex(void)
{
	int s = tcp_to("ECHO\n"), p[2], ep, n;
	struct epoll_event ev, out[4];
	struct pollfd pf[2];
	fd_set rs;
	struct timeval tv = { 5, 0 };
	char c;

	CHECK(pipe(p) == 0, "pipe");
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1234567890abcdefull;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll_ctl ADD socket");
	ev.data.u64 = 42;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl ADD pipe");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST,
	      "ADD twice: EEXIST");
	CHECK(epoll_wait(ep, out, 4, 0) == 0, "nothing ready");
	write(s, "x", 1);
	write(p[1], "y", 1);
	/* wait until the echo is back, then both must be in one answer */
	pf[0].fd = s;
	pf[0].events = POLLIN;
	poll(pf, 1, WAIT_MS);
	n = epoll_wait(ep, out, 4, 1000);
	CHECK(n == 2 && ((out[0].data.u64 == 42 && out[1].data.u64 == 0x1234567890abcdefull) ||
			 (out[1].data.u64 == 42 && out[0].data.u64 == 0x1234567890abcdefull)),
	      "socket and pipe both reported, data as given (%d)", n);
	CHECK(epoll_wait(ep, out, 4, 100) == 2, "level-triggered: reported again");
	/* the set's kernel fds counted: none left, then one again */
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == 0 &&
	      epoll_wait(ep, out, 4, 100) == 1 &&
	      out[0].data.u64 == 0x1234567890abcdefull,
	      "pipe deleted: the socket alone");
	ev.data.u64 = 42;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0 &&
	      epoll_wait(ep, out, 4, 100) == 2, "pipe added again: both");

	pf[0].fd = s;
	pf[0].events = POLLIN;
	pf[1].fd = p[0];
	pf[1].events = POLLIN;
	CHECK(poll(pf, 2, 1000) == 2 && (pf[0].revents & POLLIN) &&
	      (pf[1].revents & POLLIN), "poll over socket and pipe");
	FD_ZERO(&rs);
	FD_SET(s, &rs);
	FD_SET(p[0], &rs);
	CHECK(select((s > p[0] ? s : p[0]) + 1, &rs, NULL, NULL, &tv) == 2 &&
	      FD_ISSET(s, &rs) && FD_ISSET(p[0], &rs), "select over socket and pipe");

	read(s, &c, 1);
	read(p[0], &c, 1);
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 7;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0, "MOD to EPOLLET");
	write(s, "ab", 2);
	n = 0;
	for (uint64_t end = now_ms() + WAIT_MS; n == 0 && now_ms() < end;)
		n = epoll_wait(ep, out, 4, 100);
	CHECK(n == 1 && out[0].data.u64 == 7, "EPOLLET: reported once");
	usleep(100000);
	CHECK(epoll_wait(ep, out, 4, 200) == 0, "EPOLLET: not again without new data");
	read_full(s, &c, 1);
	read_full(s, &c, 1);
	ev.events = EPOLLIN | EPOLLONESHOT;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0, "MOD to EPOLLONESHOT");
	write(s, "c", 1);
	n = 0;
	for (uint64_t end = now_ms() + WAIT_MS; n == 0 && now_ms() < end;)
		n = epoll_wait(ep, out, 4, 100);
	CHECK(n == 1, "EPOLLONESHOT: reported");
	CHECK(epoll_wait(ep, out, 4, 200) == 0, "EPOLLONESHOT: then disarmed");
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0 &&
	      epoll_wait(ep, out, 4, 1000) == 1, "EPOLLONESHOT: MOD re-arms");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) == 0 &&
	      epoll_wait(ep, out, 4, 100) == 0, "DEL");
	close(ep);
	close(p[0]);
	close(p[1]);
	close(s);
}

struct epoll_waiter {
	int ep;
	int n;
	uint64_t data;
	volatile int started;	/* about to call epoll_wait */
};

static void *
epoll_wait_thread(void *arg)
{
	struct epoll_waiter *w = arg;
	struct epoll_event out;

	w->started = 1;
	w->n = epoll_wait(w->ep, &out, 1, 3000);
	w->data = out.data.u64;
	return NULL;
}

/*
 * One thread waits in epoll_wait while another closes the epoll fd: the
 * instance lives on for the waiter (Linux holds the file), which still
 * gets the socket's readiness.
 */
static void
check_epoll_close_while_waiting(void)
{
	int s = tcp_to("ECHO\n");
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
	struct epoll_waiter w = { .ep = epoll_create1(0), .n = -2 };
	pthread_t th;

	CHECK(epoll_ctl(w.ep, EPOLL_CTL_ADD, s, &ev) == 0 &&
	      pthread_create(&th, NULL, epoll_wait_thread, &w) == 0,
	      "epoll close while waiting: a set and a waiting thread");
	while (!w.started)
		usleep(1000);
	usleep(100000);		/* and in it by now */
	close(w.ep);
	usleep(50000);
	write(s, "z", 1);
	pthread_join(th, NULL);
	CHECK(w.n == 1 && w.data == 77,
	      "epoll_wait goes on after another thread closed the set: the "
	      "socket reported (%d)", w.n);
	{
		/* the same with a kernel fd in the set: it is reported too */
		struct epoll_event pev = { .events = EPOLLIN, .data.u64 = 88 };
		char c;
		int p[2];

		CHECK(read_full(s, &c, 1) == 1, "the echo of the first part");
		w.ep = epoll_create1(0);
		w.n = -2;
		w.started = 0;
		ev.data.u64 = 77;
		CHECK(pipe(p) == 0 &&
		      epoll_ctl(w.ep, EPOLL_CTL_ADD, s, &ev) == 0 &&
		      epoll_ctl(w.ep, EPOLL_CTL_ADD, p[0], &pev) == 0 &&
		      pthread_create(&th, NULL, epoll_wait_thread, &w) == 0,
		      "epoll close while waiting: a set with a pipe and a socket");
		while (!w.started)
			usleep(1000);
		usleep(100000);
		close(w.ep);
		usleep(50000);
		write(p[1], "z", 1);
		pthread_join(th, NULL);
		CHECK(w.n == 1 && w.data == 88,
		      "epoll_wait goes on after another thread closed the set: "
		      "the pipe reported (%d, %llu)", w.n,
		      (unsigned long long)w.data);
		close(p[0]);
		close(p[1]);
	}
	close(s);
}

static void
check_dup(void)
{
	int s = tcp_to("ECHO\n"), d;
	char buf[4];

	d = dup(s);
	CHECK(d >= 0 && d != s, "dup");
	close(s);
	CHECK(write(d, "dup!", 4) == 4 && read_full(d, buf, 4) == 4 &&
	      memcmp(buf, "dup!", 4) == 0, "the dup works after the original closed");
	s = fcntl(d, F_DUPFD_CLOEXEC, 100);
	CHECK(s >= 100 && (fcntl(s, F_GETFD) & FD_CLOEXEC), "F_DUPFD_CLOEXEC");
	CHECK(write(s, "abc", 3) == 3 && read_full(d, buf, 3) == 3, "shared socket");
	close(s);
	CHECK(close_range((unsigned int)d, (unsigned int)d, 0) == 0, "close_range");
	{
		int p[2];

		/* the lowest free fd is d again: now a pipe, served by the kernel */
		CHECK(pipe(p) == 0 && (p[0] == d || p[1] == d) &&
		      write(p[1], "pip", 3) == 3 && read_full(p[0], buf, 3) == 3 &&
		      memcmp(buf, "pip", 3) == 0, "fd reused after close_range");
		close(p[0]);
		close(p[1]);
	}
}

static void
check_udp(void)
{
	struct sockaddr_in a = addr_of(&peer_sa, port), from;
	socklen_t fl = sizeof(from);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[64];
	struct pollfd pf = { u, POLLIN, 0 };

	CHECK(recvfrom(u, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL) < 0 &&
	      errno == EAGAIN, "UDP: empty recvfrom EAGAIN");
	CHECK(sendto(u, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a)) == 4,
	      "UDP sendto");
	CHECK(poll(&pf, 1, WAIT_MS) == 1, "UDP: reply arrives");
	CHECK(recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl) == 4 &&
	      memcmp(buf, "ping", 4) == 0 && from.sin_addr.s_addr == a.sin_addr.s_addr &&
	      from.sin_port == a.sin_port, "UDP recvfrom: data and source");
	CHECK(connect(u, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      send(u, "pong!", 5, 0) == 5, "UDP connect + send");
	pf.revents = 0;
	poll(&pf, 1, WAIT_MS);
	CHECK(recv(u, buf, 2, 0) == 2 && memcmp(buf, "po", 2) == 0,
	      "UDP: short read truncates the datagram");
	CHECK(recv(u, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "UDP: the rest of the datagram is gone");
	close(u);
}

static void
check_more_calls(void)
{
	char path[] = "/tmp/zpnet-sockcheck.XXXXXX", line[LINE_MAX_LEN];
	char *data = malloc(CLOSE_FLUSH);
	int f = mkstemp(path), s, u, ep;
	off_t off = 0;
	struct sockaddr_in a = addr_of(&peer_sa, port);
	struct mmsghdr mm[2];
	struct iovec iov[2];
	char b0[8] = "", b1[8] = "";
	struct epoll_event ev, out[2];
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	memset(data, 's', CLOSE_FLUSH);
	unlink(path);
	write_all(f, data, CLOSE_FLUSH);
	s = tcp_to("SINK\n");
	CHECK(sendfile(s, f, &off, CLOSE_FLUSH) == (ssize_t)CLOSE_FLUSH &&
	      off == (off_t)CLOSE_FLUSH, "sendfile file -> socket");
	shutdown(s, SHUT_WR);
	CHECK(read_line(s, line, sizeof(line)) > 0 &&
	      strtoul(line, NULL, 10) == CLOSE_FLUSH, "peer got the file");
	close(s);
	close(f);
	free(data);

	u = socket(AF_INET, SOCK_DGRAM, 0);
	connect(u, (struct sockaddr *)&a, sizeof(a));
	memset(mm, 0, sizeof(mm));
	iov[0].iov_base = "one";
	iov[0].iov_len = 3;
	iov[1].iov_base = "two";
	iov[1].iov_len = 3;
	mm[0].msg_hdr.msg_iov = &iov[0];
	mm[0].msg_hdr.msg_iovlen = 1;
	mm[1].msg_hdr.msg_iov = &iov[1];
	mm[1].msg_hdr.msg_iovlen = 1;
	CHECK(sendmmsg(u, mm, 2, 0) == 2 && mm[0].msg_len == 3 && mm[1].msg_len == 3,
	      "sendmmsg");
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = u;
	epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev);
	CHECK(epoll_pwait2(ep, out, 2, NULL, NULL) == 1 && out[0].data.fd == u,
	      "epoll_pwait2 without timeout");
	usleep(100000);
	iov[0].iov_base = b0;
	iov[0].iov_len = sizeof(b0);
	iov[1].iov_base = b1;
	iov[1].iov_len = sizeof(b1);
	CHECK(recvmmsg(u, mm, 2, MSG_WAITFORONE, NULL) == 2 && mm[0].msg_len == 3 &&
	      mm[1].msg_len == 3 && memcmp(b0, "one", 3) == 0 &&
	      memcmp(b1, "two", 3) == 0, "recvmmsg");
	CHECK(epoll_pwait2(ep, out, 2, &ts, NULL) == 0, "epoll_pwait2 times out");
	close(ep);
	close(u);
}

static void
check_ipv6(void)
{
	struct sockaddr_in6 a = peer6_sa, got;
	socklen_t len = sizeof(got);
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	char buf[8];

	a.sin6_port = htons((uint16_t)port);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0, "IPv6 connect");
	CHECK(getpeername(s, (struct sockaddr *)&got, &len) == 0 &&
	      len == sizeof(got) && got.sin6_family == AF_INET6 &&
	      memcmp(&got.sin6_addr, &a.sin6_addr, 16) == 0, "IPv6 getpeername");
	CHECK(write_all(s, "ECHO\nv6", 7) == 0 && read_full(s, buf, 2) == 2 &&
	      memcmp(buf, "v6", 2) == 0, "IPv6 echo");
	close(s);
}

static void *
accept_thread(void *arg)
{
	int l = *(int *)arg;

	return (void *)(intptr_t)accept(l, NULL, NULL);
}

/* A thread blocked in accept() does not stop another thread's I/O. */
static void
check_threads(void)
{
	struct sockaddr_in a = local_sa, got;
	socklen_t len = sizeof(got);
	int l = socket(AF_INET, SOCK_STREAM, 0), s, c, ctl;
	char cmd[LINE_MAX_LEN], buf[8];
	pthread_t th;
	void *ret;

	a.sin_port = 0;
	bind(l, (struct sockaddr *)&a, sizeof(a));
	listen(l, 4);
	getsockname(l, (struct sockaddr *)&got, &len);
	CHECK(pthread_create(&th, NULL, accept_thread, &l) == 0,
	      "thread blocks in accept");
	usleep(200000);
	s = tcp_to("ECHO\n");
	CHECK(s >= 0 && write(s, "thr", 3) == 3 && read_full(s, buf, 3) == 3 &&
	      memcmp(buf, "thr", 3) == 0, "meanwhile another thread's I/O flows");
	close(s);
	snprintf(cmd, sizeof(cmd), "BACK %d\n", ntohs(got.sin_port));
	ctl = tcp_to(cmd);
	pthread_join(th, &ret);
	c = (int)(intptr_t)ret;
	CHECK(c >= 0 && read_full(c, buf, 5) == 5, "the blocked accept returns");
	close(c);
	close(ctl);
	close(l);
}

/* pthread_cancel of a thread blocked in a socket call (glibc cancels it
 * inside the call, where its wrapper enables asynchronous cancellation):
 * the thread ends, and every other call goes on being served. */
static bool echo_ok(int s, const char *msg);

#define CANCEL_AFTER_US	100000	/* the thread is blocked by then */
#define CANCEL_JOIN_S	3
#define CANCEL_POLL_FDS	65	/* past the pollfd copies kept on the stack */

struct cancel_arg {
	int fd;
	int what;	/* 0 recv, 1 accept, 2 epoll_wait, 3 poll */
};

static void *
cancel_thread(void *arg)
{
	struct cancel_arg *c = arg;
	struct pollfd pf[CANCEL_POLL_FDS];
	struct epoll_event ev;
	char buf[16];

	if (c->what == 0) {
		recv(c->fd, buf, sizeof(buf), 0);
	} else if (c->what == 1) {
		accept(c->fd, NULL, NULL);
	} else if (c->what == 2) {
		epoll_wait(c->fd, &ev, 1, -1);
	} else {
		for (int i = 0; i < CANCEL_POLL_FDS; i++)
			pf[i] = (struct pollfd){ i == 0 ? c->fd : -1, POLLIN, 0 };
		poll(pf, CANCEL_POLL_FDS, -1);
	}
	return NULL;
}

static void
check_cancel(void)
{
	static const char *const names[] = { "recv", "accept", "epoll_wait", "poll" };
	struct sockaddr_in a = local_sa;
	struct epoll_event ev = { .events = EPOLLIN };
	int s = tcp_to("ECHO\n"), l = socket(AF_INET, SOCK_STREAM, 0);
	int ep = epoll_create1(0);

	a.sin_port = 0;
	CHECK(s >= 0 && l >= 0 && ep >= 0 &&
	      bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 4) == 0,
	      "cancel: an idle connection, a listener, an epoll set");
	ev.data.fd = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	for (int what = 0; what < 4; what++) {
		struct cancel_arg c = { what == 1 ? l : what == 2 ? ep : s, what };
		struct timespec until;
		pthread_t th;
		void *ret = NULL;
		int rc;

		CHECK(pthread_create(&th, NULL, cancel_thread, &c) == 0,
		      "cancel: a thread blocks in %s", names[what]);
		usleep(CANCEL_AFTER_US);
		pthread_cancel(th);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CANCEL_JOIN_S;
		rc = pthread_timedjoin_np(th, &ret, &until);
		CHECK(rc == 0 && ret == PTHREAD_CANCELED,
		      "cancel: the thread in %s is cancelled (%d)", names[what], rc);
		if (rc != 0)
			return;	/* it still runs: the rest would race it */
		CHECK(echo_ok(s, names[what]),
		      "cancel: after the thread in %s, the connection works", names[what]);
	}
	/* the set the cancelled thread waited on still reports */
	{
		struct epoll_event got;
		char b;

		CHECK(write(s, "e", 1) == 1 && epoll_wait(ep, &got, 1, WAIT_MS) == 1 &&
		      got.data.fd == s && read(s, &b, 1) == 1,
		      "cancel: the epoll set still reports the connection");
	}
	close(ep);
	close(l);
	close(s);
}

/* Loopback stays on the kernel (the default [bond] kernel_addrs). */
static void
check_loopback(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, got;
	socklen_t len = sizeof(got);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, s;
	char buf[4];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 4) == 0 &&
	      getsockname(l, (struct sockaddr *)&got, &len) == 0,
	      "loopback listener");
	s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(s, (struct sockaddr *)&got, sizeof(got)) == 0,
	      "connect to 127.0.0.1");
	c = accept(l, NULL, NULL);
	CHECK(c >= 0 && write(s, "loop", 4) == 4 && read_full(c, buf, 4) == 4 &&
	      memcmp(buf, "loop", 4) == 0, "loopback data");
	close(c);
	close(s);
	close(l);
}

static int
get_int_opt(int s, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(s, level, name, &v, &len) < 0 || len != sizeof(v))
		return -1;
	return v;
}

static bool
set_int_opt(int s, int level, int name, int v)
{
	return setsockopt(s, level, name, &v, sizeof(v)) == 0;
}

/* Each option reads back what Linux reports after setting it. */
static void
check_sockopts(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), v = 1;
	struct timeval tv = { 1, 500000 }, got;
	socklen_t len = sizeof(got);

	CHECK(get_int_opt(s, SOL_SOCKET, SO_REUSEADDR) == 0 &&
	      set_int_opt(s, SOL_SOCKET, SO_REUSEADDR, 1) &&
	      get_int_opt(s, SOL_SOCKET, SO_REUSEADDR) == 1, "SO_REUSEADDR round-trip");
	CHECK(get_int_opt(s, SOL_SOCKET, SO_REUSEPORT) == 0 &&
	      set_int_opt(s, SOL_SOCKET, SO_REUSEPORT, 1) &&
	      get_int_opt(s, SOL_SOCKET, SO_REUSEPORT) == 1, "SO_REUSEPORT round-trip");
	CHECK(get_int_opt(s, SOL_SOCKET, SO_KEEPALIVE) == 0 &&
	      set_int_opt(s, SOL_SOCKET, SO_KEEPALIVE, 1) &&
	      get_int_opt(s, SOL_SOCKET, SO_KEEPALIVE) == 1 &&
	      set_int_opt(s, SOL_SOCKET, SO_KEEPALIVE, 0) &&
	      get_int_opt(s, SOL_SOCKET, SO_KEEPALIVE) == 0, "SO_KEEPALIVE round-trip");
	CHECK(get_int_opt(s, SOL_SOCKET, SO_RCVBUF) > 0 &&
	      get_int_opt(s, SOL_SOCKET, SO_SNDBUF) > 0, "SO_RCVBUF/SO_SNDBUF defaults");
	CHECK(set_int_opt(s, SOL_SOCKET, SO_RCVBUF, SOCKBUF_SET) &&
	      (v = get_int_opt(s, SOL_SOCKET, SO_RCVBUF)) == 2 * SOCKBUF_SET,
	      "SO_RCVBUF reads back doubled (%d)", v);
	CHECK(set_int_opt(s, SOL_SOCKET, SO_SNDBUF, SOCKBUF_SET) &&
	      (v = get_int_opt(s, SOL_SOCKET, SO_SNDBUF)) == 2 * SOCKBUF_SET,
	      "SO_SNDBUF reads back doubled (%d)", v);
	CHECK(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	      getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &got, &len) == 0 &&
	      len == sizeof(got) && got.tv_sec == tv.tv_sec &&
	      got.tv_usec == tv.tv_usec, "SO_SNDTIMEO round-trip");
	len = sizeof(got);
	CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	      getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got, &len) == 0 &&
	      len == sizeof(got) && got.tv_sec == tv.tv_sec &&
	      got.tv_usec == tv.tv_usec, "SO_RCVTIMEO round-trip");
	CHECK(get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE) == LINUX_KEEPIDLE &&
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPINTVL) == LINUX_KEEPINTVL &&
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT) == LINUX_KEEPCNT,
	      "TCP_KEEPIDLE/INTVL/CNT defaults %d/%d/%d",
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE),
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPINTVL),
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT));
	CHECK(set_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE, KEEPIDLE_SET) &&
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE) == KEEPIDLE_SET,
	      "TCP_KEEPIDLE round-trip");
	CHECK(set_int_opt(s, IPPROTO_TCP, TCP_KEEPINTVL, KEEPINTVL_SET) &&
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPINTVL) == KEEPINTVL_SET,
	      "TCP_KEEPINTVL round-trip");
	CHECK(set_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT, KEEPCNT_SET) &&
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT) == KEEPCNT_SET,
	      "TCP_KEEPCNT round-trip");
	CHECK(!set_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE, 0) && errno == EINVAL,
	      "TCP_KEEPIDLE 0: EINVAL");
	CHECK(!set_int_opt(s, SOL_SOCKET, UNKNOWN_OPT, 1) && errno == ENOPROTOOPT,
	      "setsockopt unknown option: ENOPROTOOPT");
	close(s);
}

/* SO_RCVLOWAT as Linux's tcp_poll and tcp_recvmsg: readable from the
 * mark on, a blocking recv's target (or fewer bytes, asked for fewer),
 * while a non-blocking recv and EOF take what there is. */
static void
check_rcvlowat(void)
{
	struct sockaddr_in pa = addr_of(&peer_sa, port);
	struct timeval tv = { WAIT_MS / 1000, 0 };
	char cmd[LINE_MAX_LEN], buf[100];
	int u = socket(AF_INET, SOCK_DGRAM, 0), s, v, n = -1;
	struct pollfd pf;
	ssize_t r = -1;
	uint64_t t0;

	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* bounded */

	CHECK(get_int_opt(u, SOL_SOCKET, SO_RCVLOWAT) == 1 &&
	      set_int_opt(u, SOL_SOCKET, SO_RCVLOWAT, 5000) &&
	      get_int_opt(u, SOL_SOCKET, SO_RCVLOWAT) == 5000 &&
	      set_int_opt(u, SOL_SOCKET, SO_RCVLOWAT, 0) &&
	      get_int_opt(u, SOL_SOCKET, SO_RCVLOWAT) == 1 &&
	      set_int_opt(u, SOL_SOCKET, SO_RCVLOWAT, -1) &&
	      get_int_opt(u, SOL_SOCKET, SO_RCVLOWAT) == INT_MAX,
	      "UDP SO_RCVLOWAT: 1 by default, as set, 0 is 1, -1 is INT_MAX");
	CHECK(sendto(u, "low", 3, 0, (struct sockaddr *)&pa, sizeof(pa)) == 3 &&
	      recv(u, buf, sizeof(buf), 0) == 3,
	      "UDP under SO_RCVLOWAT INT_MAX still takes a datagram");
	close(u);

	s = socket(AF_INET, SOCK_STREAM, 0);
	v = get_int_opt(s, SOL_SOCKET, SO_RCVLOWAT);
	CHECK(v == 1 && set_int_opt(s, SOL_SOCKET, SO_RCVLOWAT, -1) &&
	      (v = get_int_opt(s, SOL_SOCKET, SO_RCVLOWAT)) >= SOCKBUF_SET &&
	      v < INT_MAX, "TCP SO_RCVLOWAT: 1 by default, -1 capped (%d)", v);
	CHECK(set_int_opt(s, SOL_SOCKET, SO_RCVBUF, SOCKBUF_SET) &&
	      set_int_opt(s, SOL_SOCKET, SO_RCVLOWAT, INT_MAX) &&
	      (v = get_int_opt(s, SOL_SOCKET, SO_RCVLOWAT)) == SOCKBUF_SET,
	      "TCP SO_RCVLOWAT: at most half of a SO_RCVBUF set (%d)", v);
	CHECK(setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, 2) < 0 && errno == EINVAL,
	      "SO_RCVLOWAT with a short value: EINVAL");
	close(s);

	/* the mark set before anything came: the recv takes the first two
	 * pieces (Linux wakes its reader only once the mark is there) */
	snprintf(cmd, sizeof(cmd), "DRIP 3 5 %d\n", DRIP_MS);
	s = tcp_to(cmd);
	CHECK(s >= 0 && set_int_opt(s, SOL_SOCKET, SO_RCVLOWAT, LOWAT_SET),
	      "DRIP, SO_RCVLOWAT %d", LOWAT_SET);
	r = recv(s, buf, sizeof(buf), 0);
	CHECK(r == LOWAT_SET, "a blocking recv waits for the mark: %zd bytes", r);
	for (int i = 0; i < WAIT_MS / 10 && ioctl(s, FIONREAD, &n) == 0 && n < 5; i++)
		usleep(10000);
	pf = (struct pollfd){ s, POLLIN, 0 };
	CHECK(n == 5 && poll(&pf, 1, 0) == 0,
	      "5 bytes under the mark: not readable (FIONREAD %d)", n);
	r = recv(s, buf, 3, 0);
	CHECK(r == 3, "asked for fewer than the mark: those (%zd)", r);
	r = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(r == 2, "non-blocking under the mark: what there is (%zd)", r);
	CHECK(recv(s, buf, sizeof(buf), 0) == 0, "EOF ends a wait for the mark");
	close(s);

	/* SO_RCVTIMEO bounds the whole wait for the mark: what came by then
	 * (the first piece; the second comes a DRIP_MS later) */
	s = tcp_to(cmd);
	tv = (struct timeval){ 0, DRIP_MS * 3 / 2 * 1000 };
	t0 = now_ms();
	CHECK(s >= 0 && set_int_opt(s, SOL_SOCKET, SO_RCVLOWAT, 100) &&
	      setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	      (r = recv(s, buf, sizeof(buf), 0)) == 5 && now_ms() - t0 < 2 * DRIP_MS,
	      "SO_RCVTIMEO ends a wait for the mark with what came (%zd)", r);
	close(s);
}

/* TCP_USER_TIMEOUT: data that stays unacknowledged that long (the peer's
 * port PORT+2 is a black hole for data) gives the connection up with
 * ETIMEDOUT, as Linux does. */
static void
check_user_timeout(void)
{
	struct sockaddr_in a = addr_of(&peer_sa, port + 2);
	struct timeval tv = { 4 * USER_TIMEOUT_MS / 1000, 0 };
	int s = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[256] = "";
	uint64_t t0, took = 0;
	ssize_t r = 0;

	CHECK(get_int_opt(s, IPPROTO_TCP, TCP_USER_TIMEOUT) == 0 &&
	      !set_int_opt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, -1) && errno == EINVAL &&
	      set_int_opt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, USER_TIMEOUT_MS) &&
	      get_int_opt(s, IPPROTO_TCP, TCP_USER_TIMEOUT) == USER_TIMEOUT_MS,
	      "TCP_USER_TIMEOUT: 0 by default, -1 EINVAL, reads back");
	CHECK(!set_int_opt(u, IPPROTO_TCP, TCP_USER_TIMEOUT, USER_TIMEOUT_MS) &&
	      errno == ENOPROTOOPT, "TCP_USER_TIMEOUT on UDP: ENOPROTOOPT");
	close(u);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      send(s, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf),
	      "connected to the black hole, data sent");
	t0 = now_ms();
	r = recv(s, buf, sizeof(buf), 0);
	took = now_ms() - t0;
	CHECK(r < 0 && errno == ETIMEDOUT && took >= USER_TIMEOUT_MS * 9 / 10,
	      "unacknowledged past TCP_USER_TIMEOUT: ETIMEDOUT (after %llu ms)",
	      (unsigned long long)took);
	close(s);
}

/* MSG_OOB and MSG_ERRQUEUE as Linux reports them with no urgent byte and
 * an empty error queue. (A TCP send with MSG_OOB is the one difference:
 * Linux sends urgent data, zpnet says EOPNOTSUPP; not checked here.) */
static void
check_oob_errqueue(void)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0), l = socket(AF_INET, SOCK_STREAM, 0);
	int t = socket(AF_INET, SOCK_STREAM, 0), s;
	struct sockaddr_in a = local_sa, pa = addr_of(&peer_sa, port);
	struct timeval tv = { WAIT_MS / 1000, 0 };
	char buf[8];

	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* bounded */

	/* UDP first: the peer echoes datagrams only between connections */
	CHECK(recv(u, buf, sizeof(buf), MSG_ERRQUEUE) < 0 && errno == EAGAIN,
	      "UDP MSG_ERRQUEUE, nothing queued: EAGAIN");
	CHECK(sendto(u, "o", 1, MSG_OOB, (struct sockaddr *)&pa,
		     sizeof(pa)) < 0 && errno == EOPNOTSUPP,
	      "UDP send MSG_OOB: EOPNOTSUPP");
	CHECK(recv(u, buf, sizeof(buf), MSG_OOB | MSG_DONTWAIT) < 0 && errno == EAGAIN &&
	      sendto(u, "oob", 3, 0, (struct sockaddr *)&pa, sizeof(pa)) == 3 &&
	      recv(u, buf, sizeof(buf), MSG_OOB) == 3,
	      "UDP recv MSG_OOB: an ordinary recv");
	close(u);

	s = tcp_to("ECHO\n");
	a.sin_port = 0;
	bind(l, (struct sockaddr *)&a, sizeof(a));
	listen(l, 1);
	CHECK(recv(s, buf, sizeof(buf), MSG_OOB | MSG_DONTWAIT) < 0 && errno == EINVAL &&
	      recv(s, buf, sizeof(buf), MSG_OOB | MSG_PEEK) < 0 && errno == EINVAL,
	      "TCP recv MSG_OOB, no urgent byte: EINVAL");
	CHECK(recv(t, buf, sizeof(buf), MSG_OOB) < 0 && errno == EINVAL,
	      "unconnected TCP recv MSG_OOB: EINVAL");
	CHECK(recv(l, buf, sizeof(buf), MSG_OOB) < 0 && errno == ENOTCONN,
	      "listener recv MSG_OOB: ENOTCONN");
	CHECK(recv(s, buf, sizeof(buf), MSG_ERRQUEUE) < 0 && errno == EAGAIN &&
	      recv(l, buf, sizeof(buf), MSG_ERRQUEUE) < 0 && errno == EAGAIN,
	      "TCP MSG_ERRQUEUE, nothing queued: EAGAIN (connected, listener)");
	CHECK(write(s, "ok", 2) == 2 && read_full(s, buf, 2) == 2 &&
	      memcmp(buf, "ok", 2) == 0, "the stream goes on after them");
	close(s);
	close(t);
	close(l);
}

/* Wait for POLLERR on fd (an ICMP error's arrival); its revents. */
static short
wait_err(int fd)
{
	struct pollfd pf = { fd, POLLIN, 0 };

	return poll(&pf, 1, WAIT_MS) == 1 ? pf.revents : 0;
}

/* One recvmsg(MSG_ERRQUEUE) of fd into buf and ctl: its result, with
 * the name, the flags and the extended error (or NULL) given back. */
struct errq_read {
	ssize_t n;
	int flags;
	socklen_t namelen;
	size_t controllen;
	struct sockaddr_storage name;
	const struct cmsghdr *cmsg;
	struct sock_extended_err ee;
	struct sockaddr_storage offender;
};

static void
errq_read(int fd, char *buf, size_t len, unsigned char *ctl, size_t ctllen,
	  struct errq_read *r)
{
	struct iovec iov = { buf, len };
	struct msghdr m = {
		.msg_name = &r->name, .msg_namelen = sizeof(r->name),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl, .msg_controllen = ctllen,
	};

	memset(&r->name, 0, sizeof(r->name));
	memset(&r->ee, 0, sizeof(r->ee));
	memset(&r->offender, 0, sizeof(r->offender));
	r->n = recvmsg(fd, &m, MSG_ERRQUEUE);
	r->flags = m.msg_flags;
	r->namelen = m.msg_namelen;
	r->controllen = m.msg_controllen;
	r->cmsg = r->n >= 0 && ctl != NULL ? CMSG_FIRSTHDR(&m) : NULL;
	if (r->cmsg != NULL && r->cmsg->cmsg_len >= CMSG_LEN(sizeof(r->ee))) {
		size_t n = r->cmsg->cmsg_len - CMSG_LEN(0);

		memcpy(&r->ee, CMSG_DATA(r->cmsg), sizeof(r->ee));
		n -= sizeof(r->ee);
		memcpy(&r->offender, CMSG_DATA(r->cmsg) + sizeof(r->ee),
		       n < sizeof(r->offender) ? n : sizeof(r->offender));
	}
}

#define ICMP_UNREACH_PORT	3	/* destination unreachable, port */
#define ICMP6_UNREACH_PORT	4

/*
 * ICMP errors from the peer (nothing listens on its UDP PORT+1, so its
 * kernel answers "port unreachable"), as Linux's udp_err hands them out:
 * a connected socket's next recv, send or SO_ERROR says ECONNREFUSED once,
 * and poll says POLLERR; an unconnected one hears nothing, unless
 * IP_RECVERR is on: then the error is pending and queued, and
 * recvmsg(MSG_ERRQUEUE) gives the datagram's bytes, its destination and
 * a sock_extended_err with the peer as offender; IP_RECVERR off drops the
 * queue.
 */
static void
check_icmp_errors(void)
{
	struct sockaddr_in closed = addr_of(&peer_sa, port + 1);
	const struct sockaddr_in *nm, *off;
	int c = socket(AF_INET, SOCK_DGRAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	int q = socket(AF_INET, SOCK_DGRAM, 0), v = -1, e = -1;
	socklen_t len = sizeof(v);
	unsigned char ctl[256];
	struct errq_read r;
	char buf[64];

	CHECK(connect(c, (struct sockaddr *)&closed, sizeof(closed)) == 0 &&
	      send(c, "x", 1, 0) == 1 && (wait_err(c) & POLLERR) &&
	      recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED &&
	      recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "connected UDP, port unreachable: POLLERR, recv ECONNREFUSED once");
	len = sizeof(e);
	CHECK(send(c, "x", 1, 0) == 1 && (wait_err(c) & POLLERR) &&
	      getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == ECONNREFUSED &&
	      getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0,
	      "connected UDP: SO_ERROR ECONNREFUSED, then 0");
	CHECK(send(c, "x", 1, 0) == 1 && (wait_err(c) & POLLERR) &&
	      send(c, "y", 1, 0) < 0 && errno == ECONNREFUSED &&
	      recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "connected UDP: the next send says ECONNREFUSED instead");
	/* the error took the "y": it never left, nothing comes back for it */
	CHECK(recv(c, buf, sizeof(buf), MSG_ERRQUEUE) < 0 && errno == EAGAIN,
	      "connected UDP without IP_RECVERR: nothing queued");

	/* an unconnected socket hears of it only with IP_RECVERR: the
	 * connected one's error, sent after it, says it has come */
	CHECK(sendto(u, "z", 1, 0, (struct sockaddr *)&closed, sizeof(closed)) == 1 &&
	      send(c, "x", 1, 0) == 1 && (wait_err(c) & POLLERR) &&
	      recv(u, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN &&
	      recv(u, buf, sizeof(buf), MSG_ERRQUEUE) < 0 && errno == EAGAIN,
	      "unconnected UDP without IP_RECVERR: no error");
	recv(c, buf, sizeof(buf), MSG_DONTWAIT);

	len = sizeof(v);
	CHECK(getsockopt(q, IPPROTO_IP, IP_RECVERR, &v, &len) == 0 && v == 0 &&
	      setsockopt(q, IPPROTO_IP, IP_RECVERR, &(int){ 1 }, sizeof(int)) == 0 &&
	      getsockopt(q, IPPROTO_IP, IP_RECVERR, &v, &len) == 0 && v == 1,
	      "IP_RECVERR: 0, set, 1");
	CHECK(sendto(q, "hello", 5, 0, (struct sockaddr *)&closed, sizeof(closed)) == 5 &&
	      (wait_err(q) & POLLERR) &&
	      recv(q, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED,
	      "IP_RECVERR, unconnected: the error is pending (recv ECONNREFUSED)");
	errq_read(q, buf, sizeof(buf), ctl, sizeof(ctl), &r);
	nm = (const struct sockaddr_in *)&r.name;
	off = (const struct sockaddr_in *)&r.offender;
	CHECK(r.n == 5 && memcmp(buf, "hello", 5) == 0 && r.flags == MSG_ERRQUEUE &&
	      r.namelen == sizeof(*nm) && nm->sin_family == AF_INET &&
	      nm->sin_port == closed.sin_port && nm->sin_addr.s_addr == closed.sin_addr.s_addr,
	      "MSG_ERRQUEUE: the datagram's bytes and destination");
	CHECK(r.cmsg != NULL && r.cmsg->cmsg_level == SOL_IP &&
	      r.cmsg->cmsg_type == IP_RECVERR &&
	      r.cmsg->cmsg_len == CMSG_LEN(sizeof(r.ee) + sizeof(struct sockaddr_in)) &&
	      r.controllen == CMSG_SPACE(sizeof(r.ee) + sizeof(struct sockaddr_in)) &&
	      r.ee.ee_errno == ECONNREFUSED && r.ee.ee_origin == SO_EE_ORIGIN_ICMP &&
	      r.ee.ee_type == 3 && r.ee.ee_code == ICMP_UNREACH_PORT &&
	      r.ee.ee_info == 0 && off->sin_family == AF_INET &&
	      off->sin_addr.s_addr == peer_sa.sin_addr.s_addr,
	      "MSG_ERRQUEUE: IP_RECVERR cmsg, ECONNREFUSED from ICMP 3/3, the peer as offender");
	errq_read(q, buf, sizeof(buf), ctl, sizeof(ctl), &r);
	CHECK(r.n < 0 && errno == EAGAIN, "MSG_ERRQUEUE again: EAGAIN");

	/* short buffers: MSG_TRUNC for the bytes, MSG_CTRUNC for the cmsg */
	CHECK(sendto(q, "hello", 5, 0, (struct sockaddr *)&closed, sizeof(closed)) == 5 &&
	      (wait_err(q) & POLLERR), "IP_RECVERR: a second error");
	errq_read(q, buf, 2, ctl, CMSG_LEN(4), &r);
	CHECK(r.n == 2 && r.flags == (MSG_ERRQUEUE | MSG_TRUNC | MSG_CTRUNC) &&
	      r.controllen == CMSG_LEN(4) &&
	      getsockopt(q, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0,
	      "MSG_ERRQUEUE into short buffers: 2 bytes, MSG_TRUNC, MSG_CTRUNC; no error left");
	CHECK(sendto(q, "hello", 5, 0, (struct sockaddr *)&closed, sizeof(closed)) == 5 &&
	      (wait_err(q) & POLLERR) &&
	      setsockopt(q, IPPROTO_IP, IP_RECVERR, &(int){ 0 }, sizeof(int)) == 0 &&
	      recv(q, buf, sizeof(buf), MSG_ERRQUEUE) < 0 && errno == EAGAIN &&
	      getsockopt(q, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == ECONNREFUSED,
	      "IP_RECVERR off: the queue is dropped, the pending error stays");
	close(c);
	close(u);
	close(q);
}

/* The same over IPv6: ICMPv6 "port unreachable" (1/4), IPV6_RECVERR. */
static void
check_icmp_errors6(void)
{
	struct sockaddr_in6 closed = peer6_sa;
	const struct sockaddr_in6 *nm, *off;
	int c = socket(AF_INET6, SOCK_DGRAM, 0), q = socket(AF_INET6, SOCK_DGRAM, 0);
	socklen_t len;
	unsigned char ctl[256];
	struct errq_read r;
	char buf[64];
	int v = -1;

	closed.sin6_port = htons((uint16_t)(port + 1));
	CHECK(connect(c, (struct sockaddr *)&closed, sizeof(closed)) == 0 &&
	      send(c, "x", 1, 0) == 1 && (wait_err(c) & POLLERR) &&
	      recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED &&
	      recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "IPv6 connected UDP, port unreachable: POLLERR, recv ECONNREFUSED once");
	len = sizeof(v);
	CHECK(getsockopt(q, IPPROTO_IPV6, IPV6_RECVERR, &v, &len) == 0 && v == 0 &&
	      setsockopt(q, IPPROTO_IPV6, IPV6_RECVERR, &(int){ 1 }, sizeof(int)) == 0 &&
	      getsockopt(q, IPPROTO_IPV6, IPV6_RECVERR, &v, &len) == 0 && v == 1,
	      "IPV6_RECVERR: 0, set, 1");
	CHECK(sendto(q, "hello6", 6, 0, (struct sockaddr *)&closed, sizeof(closed)) == 6 &&
	      (wait_err(q) & POLLERR), "IPV6_RECVERR: the error arrives");
	errq_read(q, buf, sizeof(buf), ctl, sizeof(ctl), &r);
	nm = (const struct sockaddr_in6 *)&r.name;
	off = (const struct sockaddr_in6 *)&r.offender;
	CHECK(r.n == 6 && memcmp(buf, "hello6", 6) == 0 && r.flags == MSG_ERRQUEUE &&
	      r.namelen == sizeof(*nm) && nm->sin6_family == AF_INET6 &&
	      nm->sin6_port == closed.sin6_port &&
	      memcmp(&nm->sin6_addr, &closed.sin6_addr, sizeof(nm->sin6_addr)) == 0,
	      "IPv6 MSG_ERRQUEUE: the datagram's bytes and destination");
	CHECK(r.cmsg != NULL && r.cmsg->cmsg_level == SOL_IPV6 &&
	      r.cmsg->cmsg_type == IPV6_RECVERR &&
	      r.cmsg->cmsg_len == CMSG_LEN(sizeof(r.ee) + sizeof(struct sockaddr_in6)) &&
	      r.ee.ee_errno == ECONNREFUSED && r.ee.ee_origin == SO_EE_ORIGIN_ICMP6 &&
	      r.ee.ee_type == 1 && r.ee.ee_code == ICMP6_UNREACH_PORT &&
	      off->sin6_family == AF_INET6 &&
	      memcmp(&off->sin6_addr, &peer6_sa.sin6_addr, sizeof(off->sin6_addr)) == 0,
	      "IPv6 MSG_ERRQUEUE: IPV6_RECVERR cmsg, ECONNREFUSED from ICMPv6 1/4, the peer as offender");
	close(c);
	close(q);
}

/* The echo peer's answer to a datagram of n bytes came back whole. */
static bool
echoed(int s, size_t n)
{
	static char back[4096];

	return poll(&(struct pollfd){ s, POLLIN, 0 }, 1, WAIT_MS) == 1 &&
	       recv(s, back, sizeof(back), MSG_DONTWAIT) == (ssize_t)n;
}

/* The local EMSGSIZE of a datagram past the MTU under IP_PMTUDISC_DO,
 * as IP_RECVERR queues it: origin local, the MTU as info, no offender,
 * nothing pending; port: what the name must say. */
static void
check_local_emsgsize(int s, int level, int type, const struct sockaddr *to,
		     uint16_t port_be, const char *what)
{
	unsigned char ctl[256];
	struct errq_read r;
	const struct sockaddr_in *nm;
	char buf[16];
	int e = -1;
	socklen_t len = sizeof(e);
	bool v6 = to->sa_family == AF_INET6;

	CHECK((wait_err(s) & POLLERR) && getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) == 0 &&
	      e == 0, "%s: POLLERR, nothing pending", what);
	errq_read(s, buf, sizeof(buf), ctl, sizeof(ctl), &r);
	nm = (const struct sockaddr_in *)&r.name;
	CHECK(r.n == 0 && r.flags == MSG_ERRQUEUE && r.name.ss_family == to->sa_family &&
	      r.namelen == (v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) &&
	      (v6 ? memcmp(&((const struct sockaddr_in6 *)&r.name)->sin6_addr,
			   &((const struct sockaddr_in6 *)to)->sin6_addr, 16) == 0 :
		    nm->sin_addr.s_addr == ((const struct sockaddr_in *)to)->sin_addr.s_addr) &&
	      nm->sin_port == port_be && r.cmsg != NULL && r.cmsg->cmsg_level == level &&
	      r.cmsg->cmsg_type == type && r.ee.ee_errno == EMSGSIZE &&
	      r.ee.ee_origin == SO_EE_ORIGIN_LOCAL && r.ee.ee_type == 0 &&
	      r.ee.ee_code == 0 && r.ee.ee_info == 1500 && r.offender.ss_family == 0,
	      "%s: queued, origin local, info 1500, no offender (n %zd origin %d info %u port %u)",
	      what, r.n, r.ee.ee_origin, r.ee.ee_info, ntohs(nm->sin_port));
	errq_read(s, buf, sizeof(buf), ctl, sizeof(ctl), &r);
	CHECK(r.n < 0 && errno == EAGAIN, "%s: once", what);
}

/* IP_MTU_DISCOVER, IPV6_MTU_DISCOVER, IP_MTU, IPV6_MTU (ip(7), ipv6(7)):
 * the policies and what a datagram past the port's MTU (1,500) gets. */
static void
check_pmtudisc(void)
{
	struct sockaddr_in echo = addr_of(&peer_sa, port), closed;
	struct sockaddr_in6 echo6 = peer6_sa;
	int t = tcp_to("ECHO\n"), l = socket(AF_INET, SOCK_STREAM, 0);
	int u = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0);
	int u6 = socket(AF_INET6, SOCK_DGRAM, 0), v = -1, ok = 1;
	socklen_t len = sizeof(v);
	static char big[2000];

	echo6.sin6_port = htons((uint16_t)(port + 3));	/* it drops them */
	CHECK(t >= 0 && getsockopt(t, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len) == 0 &&
	      v == IP_PMTUDISC_WANT && getsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len) == 0 &&
	      v == IP_PMTUDISC_WANT && getsockopt(u6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, &len) == 0 &&
	      v == IPV6_PMTUDISC_WANT && getsockopt(u6, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len) == 0 &&
	      v == IP_PMTUDISC_WANT, "IP_MTU_DISCOVER, IPV6_MTU_DISCOVER: WANT by default (TCP, UDP, IPv6)");
	for (int p = IP_PMTUDISC_DONT; p <= IP_PMTUDISC_OMIT; p++)
		ok &= setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &p, sizeof(p)) == 0 &&
		      getsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len) == 0 && v == p &&
		      setsockopt(u6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &p, sizeof(p)) == 0 &&
		      getsockopt(u6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, &len) == 0 && v == p;
	CHECK(ok, "IP_MTU_DISCOVER, IPV6_MTU_DISCOVER: 0 to 5 set and read back");
	CHECK(setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ 6 }, sizeof(int)) < 0 &&
	      errno == EINVAL && setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ -1 },
					     sizeof(int)) < 0 && errno == EINVAL &&
	      setsockopt(u6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &(int){ 6 }, sizeof(int)) < 0 &&
	      errno == EINVAL && getsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len) == 0 &&
	      v == IP_PMTUDISC_OMIT, "IP_MTU_DISCOVER 6 and -1, IPV6_MTU_DISCOVER 6: EINVAL, kept");

	CHECK(getsockopt(u, IPPROTO_IP, IP_MTU, &v, &len) < 0 && errno == ENOTCONN &&
	      getsockopt(l, IPPROTO_IP, IP_MTU, &v, &len) < 0 && errno == ENOTCONN,
	      "IP_MTU, unconnected UDP and a new TCP socket: ENOTCONN");
	CHECK(connect(c, (struct sockaddr *)&echo, sizeof(echo)) == 0 &&
	      getsockopt(c, IPPROTO_IP, IP_MTU, &v, &len) == 0 && v == 1500 &&
	      getsockopt(t, IPPROTO_IP, IP_MTU, &v, &len) == 0 && v == 1500,
	      "IP_MTU, connected UDP and TCP: 1500 (%d)", v);
	close(t);	/* the peer serves one connection at a time, UDP after */
	CHECK(connect(u6, (struct sockaddr *)&echo6, sizeof(echo6)) == 0 &&
	      getsockopt(u6, IPPROTO_IPV6, IPV6_MTU, &v, &len) == 0 && v == 1500,
	      "IPV6_MTU, connected UDP: 1500 (%d)", v);

	/* what goes: 1,472 bytes fill a 1,500-byte IPv4 packet */
	CHECK(setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_WANT },
			 sizeof(int)) == 0 &&
	      sendto(u, big, sizeof(big), 0, (struct sockaddr *)&echo, sizeof(echo)) == sizeof(big) &&
	      echoed(u, sizeof(big)), "IP_PMTUDISC_WANT: 2,000 bytes go (fragmented) and come back");
	CHECK(setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_DO },
			 sizeof(int)) == 0 &&
	      sendto(u, big, 1472, 0, (struct sockaddr *)&echo, sizeof(echo)) == 1472 &&
	      echoed(u, 1472) &&
	      sendto(u, big, 1473, 0, (struct sockaddr *)&echo, sizeof(echo)) < 0 &&
	      errno == EMSGSIZE && recv(u, big, sizeof(big), MSG_ERRQUEUE | MSG_DONTWAIT) < 0 &&
	      errno == EAGAIN, "IP_PMTUDISC_DO: 1,472 bytes go, 1,473 EMSGSIZE; nothing queued");
	CHECK(setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_PROBE },
			 sizeof(int)) == 0 &&
	      sendto(u, big, 1473, 0, (struct sockaddr *)&echo, sizeof(echo)) < 0 &&
	      errno == EMSGSIZE && setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER,
					      &(int){ IP_PMTUDISC_OMIT }, sizeof(int)) == 0 &&
	      sendto(u, big, sizeof(big), 0, (struct sockaddr *)&echo, sizeof(echo)) == sizeof(big) &&
	      echoed(u, sizeof(big)), "IP_PMTUDISC_PROBE: 1,473 EMSGSIZE; IP_PMTUDISC_OMIT: 2,000 go");
	CHECK(setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_DO },
			 sizeof(int)) == 0 &&
	      setsockopt(u, IPPROTO_IP, IP_RECVERR, &(int){ 1 }, sizeof(int)) == 0 &&
	      sendto(u, big, 1473, 0, (struct sockaddr *)&echo, sizeof(echo)) < 0 && errno == EMSGSIZE,
	      "IP_PMTUDISC_DO with IP_RECVERR, unconnected: EMSGSIZE");
	check_local_emsgsize(u, SOL_IP, IP_RECVERR, (struct sockaddr *)&echo, 0,
			     "the local error, unconnected (Linux: port 0)");
	CHECK(setsockopt(c, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_DO },
			 sizeof(int)) == 0 &&
	      setsockopt(c, IPPROTO_IP, IP_RECVERR, &(int){ 1 }, sizeof(int)) == 0 &&
	      send(c, big, 1473, 0) < 0 && errno == EMSGSIZE,
	      "IP_PMTUDISC_DO with IP_RECVERR, connected: EMSGSIZE");
	check_local_emsgsize(c, SOL_IP, IP_RECVERR, (struct sockaddr *)&echo, echo.sin_port,
			     "the local error, connected (the peer's port)");
	CHECK(setsockopt(u6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &(int){ IPV6_PMTUDISC_DO },
			 sizeof(int)) == 0 &&
	      setsockopt(u6, IPPROTO_IPV6, IPV6_RECVERR, &(int){ 1 }, sizeof(int)) == 0 &&
	      send(u6, big, 1453, 0) < 0 && errno == EMSGSIZE,
	      "IPV6_PMTUDISC_DO: 1,453 bytes EMSGSIZE");
	check_local_emsgsize(u6, SOL_IPV6, IPV6_RECVERR, (struct sockaddr *)&echo6,
			     echo6.sin6_port, "the IPv6 local error (the peer's port)");
	CHECK(send(u6, big, 1452, 0) == 1452, "IPV6_PMTUDISC_DO: 1,452 bytes go");
	CHECK(setsockopt(u6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &(int){ IPV6_PMTUDISC_WANT },
			 sizeof(int)) == 0 && send(u6, big, sizeof(big), 0) == sizeof(big),
	      "IPV6_PMTUDISC_WANT: 2,000 bytes go (fragmented)");

	/* corked, each piece is measured with what is pending; past the MTU
	 * the datagram is dropped */
	close(c);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(connect(c, (struct sockaddr *)&echo, sizeof(echo)) == 0 &&
	      setsockopt(c, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_DO },
			 sizeof(int)) == 0 &&
	      send(c, big, 1000, MSG_MORE) == 1000 && send(c, big, 500, MSG_MORE) < 0 &&
	      errno == EMSGSIZE && send(c, big, 10, 0) == 10 && echoed(c, 10),
	      "IP_PMTUDISC_DO, corked: the piece past the MTU EMSGSIZE, what was pending dropped");
	/* EMSGSIZE comes before a pending error, which stays */
	close(c);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	closed = addr_of(&peer_sa, port + 1);
	len = sizeof(v);
	CHECK(connect(c, (struct sockaddr *)&closed, sizeof(closed)) == 0 &&
	      setsockopt(c, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_DO },
			 sizeof(int)) == 0 &&
	      send(c, "x", 1, 0) == 1 && (wait_err(c) & POLLERR) &&
	      send(c, big, 1473, 0) < 0 && errno == EMSGSIZE &&
	      getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len) == 0 && v == ECONNREFUSED,
	      "IP_PMTUDISC_DO: EMSGSIZE before a pending ECONNREFUSED, which stays");
	close(l);
	close(u);
	close(c);
	close(u6);
}

/* SO_BINDTOIFINDEX: dev by its index (binds, reads back the index and the
 * name, the connection works), 0 unbinds, Linux's errors, and an index
 * nothing has. */
static void
check_bindtoifindex(const char *dev, const struct sockaddr_in *pa)
{
	int idx = (int)if_nametoindex(dev), v = -1, s = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t len = sizeof(v);
	char name[32];

	CHECK(idx > 0, "%s has an index", dev);
	CHECK(getsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &v, &len) == 0 && v == 0 &&
	      len == sizeof(v), "SO_BINDTOIFINDEX unbound: 0");
	v = -1;
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &v, sizeof(v)) < 0 &&
	      errno == EINVAL, "SO_BINDTOIFINDEX -1: EINVAL");
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &idx, 2) < 0 && errno == EINVAL,
	      "SO_BINDTOIFINDEX with 2 bytes: EINVAL");
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, NULL, sizeof(int)) < 0 &&
	      errno == EFAULT, "SO_BINDTOIFINDEX from NULL: EFAULT");
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &idx, sizeof(idx)) == 0,
	      "SO_BINDTOIFINDEX %d (%s)", idx, dev);
	len = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &v, &len) == 0 && v == idx,
	      "SO_BINDTOIFINDEX reads back %d: %d", idx, v);
	len = sizeof(name);
	CHECK(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 &&
	      strcmp(name, dev) == 0, "then SO_BINDTODEVICE reads back %s", dev);
	CHECK(connect(s, (const struct sockaddr *)pa, sizeof(*pa)) == 0 &&
	      write_all(s, "ECHO\nbi", 7) == 0 && read_full(s, name, 2) == 2 &&
	      memcmp(name, "bi", 2) == 0, "TCP bound by index: connects and echoes");
	close(s);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	v = 0;
	len = sizeof(name);
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &idx, sizeof(idx)) == 0 &&
	      setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &v, sizeof(v)) == 0 &&
	      getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 && len == 0,
	      "SO_BINDTOIFINDEX 0 unbinds");
	close(s);
	/* Linux takes any index, there or not (the socket then reaches
	 * nothing); zpnet's stack has no such device: the kernel's socket */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	v = 999999;
	len = sizeof(v);
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &v, sizeof(v)) == 0 &&
	      getsockopt(s, SOL_SOCKET, SO_BINDTOIFINDEX, &v, &len) == 0 && v == 999999,
	      "SO_BINDTOIFINDEX to an index no interface has: taken, reads back (%d)", v);
	close(s);
}

/* SO_BINDTODEVICE to the interface that reaches the peer ($SOCKCHECK_DEV:
 * the veth's end on the kernel run, the port's iface under zpnet), to a
 * device only the kernel has (lo), to none, to one that is not there. */
static void
check_bindtodevice(void)
{
	const char *dev = getenv("SOCKCHECK_DEV");
	struct sockaddr_in pa = addr_of(&peer_sa, port);
	char name[32];
	socklen_t len = sizeof(name);
	int s = socket(AF_INET, SOCK_STREAM, 0), u;

	struct timeval tv = { WAIT_MS / 1000, 0 };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };

	CHECK(dev != NULL && strlen(dev) < 16, "SOCKCHECK_DEV names the interface");
	if (dev == NULL) {
		close(s);
		return;
	}
	CHECK(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 && len == 0,
	      "SO_BINDTODEVICE unbound: reads back nothing");
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "nosuchdev9", 10) < 0 &&
	      errno == ENODEV, "SO_BINDTODEVICE to no such device: ENODEV");
	CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) == 0,
	      "SO_BINDTODEVICE %s", dev);
	len = sizeof(name);
	memset(name, 'x', sizeof(name));
	CHECK(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 &&
	      len == strlen(dev) + 1 && strcmp(name, dev) == 0,
	      "SO_BINDTODEVICE reads back %s", dev);
	len = 8;
	CHECK(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &len) < 0 &&
	      errno == EINVAL, "SO_BINDTODEVICE read into fewer than IFNAMSIZ bytes: EINVAL");
	CHECK(connect(s, (struct sockaddr *)&pa, sizeof(pa)) == 0 &&
	      write_all(s, "ECHO\nbd", 7) == 0 && read_full(s, name, 2) == 2 &&
	      memcmp(name, "bd", 2) == 0, "TCP bound to %s: connects and echoes", dev);
	close(s);

	u = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* bounded */
	CHECK(setsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1) == 0 &&
	      sendto(u, "bdu", 3, 0, (struct sockaddr *)&pa, sizeof(pa)) == 3 &&
	      recv(u, name, sizeof(name), 0) == 3 && memcmp(name, "bdu", 3) == 0,
	      "UDP bound to %s: echoes", dev);
	len = sizeof(name);
	CHECK(setsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, "", 0) == 0 &&
	      getsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 && len == 0,
	      "SO_BINDTODEVICE with optlen 0 unbinds");
	len = sizeof(name);
	CHECK(setsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) == 0 &&
	      connect(u, (struct sockaddr *)&pa, sizeof(pa)) == 0 &&
	      connect(u, &unspec, sizeof(unspec)) == 0 &&
	      getsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 && len == 0,
	      "UDP disconnect (AF_UNSPEC) unbinds the device too");
	close(u);

	u = socket(AF_INET, SOCK_DGRAM, 0);
	len = sizeof(name);
	CHECK(setsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2) == 0 &&
	      getsockopt(u, SOL_SOCKET, SO_BINDTODEVICE, name, &len) == 0 &&
	      len == 3 && strcmp(name, "lo") == 0, "SO_BINDTODEVICE lo: reads back");
	close(u);
	check_bindtoifindex(dev, &pa);
}

static int listen_back(int backlog, int *p);

/* UDP_CORK and MSG_MORE put one datagram together from several sends, to
 * the first one's destination; past the largest datagram a send is
 * EMSGSIZE and what was pending is dropped (Linux flushes it). */
static void
check_udp_cork(void)
{
	struct sockaddr_in pa = addr_of(&peer_sa, port);
	struct timeval tv = { WAIT_MS / 1000, 0 };
	static char big[65536];
	char buf[64];
	struct pollfd pf;
	int u = socket(AF_INET, SOCK_DGRAM, 0), v = -1;
	ssize_t n = -1;

	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* bounded */
	pf = (struct pollfd){ u, POLLIN, 0 };
	CHECK(get_int_opt(u, IPPROTO_UDP, UDP_CORK) == 0 &&
	      set_int_opt(u, IPPROTO_UDP, UDP_CORK, 1) &&
	      get_int_opt(u, IPPROTO_UDP, UDP_CORK) == 1, "UDP_CORK reads back");
	CHECK(sendto(u, "ab", 2, 0, (struct sockaddr *)&pa, sizeof(pa)) == 2 &&
	      sendto(u, "cd", 2, 0, (struct sockaddr *)&pa, sizeof(pa)) == 2 &&
	      poll(&pf, 1, 300) == 0, "UDP_CORK: nothing goes while corked");
	CHECK(set_int_opt(u, IPPROTO_UDP, UDP_CORK, 0) &&
	      (n = recv(u, buf, sizeof(buf), 0)) == 4 && memcmp(buf, "abcd", 4) == 0,
	      "UDP_CORK off: one datagram of both sends (%zd bytes)", n);
	CHECK(sendto(u, "x", 1, MSG_MORE, (struct sockaddr *)&pa, sizeof(pa)) == 1 &&
	      sendto(u, "yz", 2, 0, (struct sockaddr *)&pa, sizeof(pa)) == 2 &&
	      (n = recv(u, buf, sizeof(buf), 0)) == 3 && memcmp(buf, "xyz", 3) == 0,
	      "MSG_MORE: one datagram with the next send (%zd bytes)", n);
	CHECK(sendto(u, big, 40000, MSG_MORE, (struct sockaddr *)&pa, sizeof(pa)) == 40000 &&
	      sendto(u, big, 30000, 0, (struct sockaddr *)&pa, sizeof(pa)) < 0 &&
	      errno == EMSGSIZE, "a corked datagram past 65,507 bytes: EMSGSIZE");
	CHECK(sendto(u, "ok", 2, 0, (struct sockaddr *)&pa, sizeof(pa)) == 2 &&
	      (n = recv(u, buf, sizeof(buf), 0)) == 2 && memcmp(buf, "ok", 2) == 0,
	      "then what was pending is gone: the next send alone (%zd bytes)", n);
	{
		int zeros = 0;

		for (int i = 0; i < 1000; i++)
			zeros += sendto(u, "", 0, MSG_MORE, (struct sockaddr *)&pa, sizeof(pa)) == 0;
		CHECK(zeros == 1000 &&
		      sendto(u, "zz", 2, 0, (struct sockaddr *)&pa, sizeof(pa)) == 2 &&
		      (n = recv(u, buf, sizeof(buf), 0)) == 2 && memcmp(buf, "zz", 2) == 0,
		      "1000 empty MSG_MORE sends add nothing (%zd bytes)", n);
	}
	CHECK(sendto(u, big, 65535, MSG_MORE, (struct sockaddr *)&pa, sizeof(pa)) < 0 &&
	      errno == EMSGSIZE, "65,535 bytes uncorked: EMSGSIZE");
	CHECK(connect(u, (struct sockaddr *)&pa, sizeof(pa)) == 0 &&
	      send(u, "c1", 2, MSG_MORE) == 2 && send(u, "c2", 2, 0) == 2 &&
	      (n = recv(u, buf, sizeof(buf), 0)) == 4 && memcmp(buf, "c1c2", 4) == 0,
	      "MSG_MORE on a connected socket: one datagram (%zd bytes)", n);
	v = get_int_opt(u, IPPROTO_UDP, 999);
	CHECK(v == -1 && errno == ENOPROTOOPT, "an unknown UDP option: ENOPROTOOPT");
	CHECK(send(u, "gone", 4, MSG_MORE) == 4 && close(u) == 0,
	      "close with a corked datagram pending");
}

/* We shut down first, then the peer's FIN: Linux's socket is CLOSE (its
 * TIME-WAIT lives on without it), and stays usable as a closed socket
 * for as long as the application keeps the fd. */
static void
check_closed_both_ways(void)
{
	int s = tcp_to("ECHO\n");
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char buf[8];

	memset(&ti, 0, sizeof(ti));
	CHECK(s >= 0 && shutdown(s, SHUT_WR) == 0 && read(s, buf, sizeof(buf)) == 0 &&
	      getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	      ti.tcpi_state == TCP_CLOSE,
	      "shut down, then the peer's FIN: TCP_INFO says CLOSE (%u)", ti.tcpi_state);
	CHECK(send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE && read(s, buf, 1) == 0,
	      "and it answers as a closed socket");
	close(s);
}

/* TCP_CORK and MSG_MORE hold a partial frame: until the cork comes off,
 * a send without MSG_MORE, TCP_NODELAY, shutdown, or Linux's 200 ms
 * ceiling. The peer echoes: what it has not got, it does not echo. */
static void
check_cork(void)
{
	int s = tcp_to("ECHO\n"), k = tcp_to("SINK\n");
	struct pollfd pf = { s, POLLIN, 0 };
	char buf[16], line[LINE_MAX_LEN];

	CHECK(get_int_opt(s, IPPROTO_TCP, TCP_CORK) == 0 &&
	      set_int_opt(s, IPPROTO_TCP, TCP_CORK, 2) &&
	      get_int_opt(s, IPPROTO_TCP, TCP_CORK) == 1,
	      "TCP_CORK: 0 by default, reads back 1");
	CHECK(write(s, "abc", 3) == 3 && poll(&pf, 1, HELD_MS) == 0,
	      "corked: 3 bytes held for %d ms", HELD_MS);
	CHECK(set_int_opt(s, IPPROTO_TCP, TCP_CORK, 0) && poll(&pf, 1, WAIT_MS) == 1 &&
	      read_full(s, buf, 3) == 3 && memcmp(buf, "abc", 3) == 0,
	      "TCP_CORK off sends them");
	CHECK(set_int_opt(s, IPPROTO_TCP, TCP_CORK, 1) && write(s, "def", 3) == 3 &&
	      poll(&pf, 1, WAIT_MS) == 1 && read_full(s, buf, 3) == 3 &&
	      memcmp(buf, "def", 3) == 0, "corked: sent anyway past the ceiling");
	CHECK(write(s, "xyz", 3) == 3 && poll(&pf, 1, HELD_MS) == 0 &&
	      set_int_opt(s, IPPROTO_TCP, TCP_NODELAY, 1) && poll(&pf, 1, WAIT_MS) == 1 &&
	      read_full(s, buf, 3) == 3 && memcmp(buf, "xyz", 3) == 0 &&
	      get_int_opt(s, IPPROTO_TCP, TCP_CORK) == 1,
	      "TCP_NODELAY on sends what the cork holds (still corked)");
	set_int_opt(s, IPPROTO_TCP, TCP_CORK, 0);
	CHECK(send(s, "ghi", 3, MSG_MORE) == 3 && poll(&pf, 1, HELD_MS) == 0 &&
	      send(s, "jk", 2, 0) == 2 && read_full(s, buf, 5) == 5 &&
	      memcmp(buf, "ghijk", 5) == 0, "MSG_MORE holds until a send without it");
	close(s);

	/* shutdown and close send what the cork holds */
	CHECK(set_int_opt(k, IPPROTO_TCP, TCP_CORK, 1) && write(k, buf, 10) == 10 &&
	      shutdown(k, SHUT_WR) == 0 && read_line(k, line, sizeof(line)) > 0 &&
	      strtoul(line, NULL, 10) == 10, "corked, then shutdown: the peer got 10 bytes");
	close(k);
	k = tcp_to("SINK\n");
	CHECK(set_int_opt(k, IPPROTO_TCP, TCP_CORK, 1) && write(k, buf, 7) == 7 &&
	      close(k) == 0, "corked, 7 bytes, close");
	k = tcp_to("LAST\n");
	CHECK(k >= 0 && read_line(k, line, sizeof(line)) > 0 &&
	      strtoul(line, NULL, 10) == 7, "corked, then close: the peer got them (%s)", line);
	close(k);
}

/* TCP_DEFER_ACCEPT: it reads back rounded as Linux rounds it (to SYN-ACK
 * retransmission times); a connection that brings data is accepted at
 * once, one that sends nothing only after the period. */
static void
check_defer_accept(void)
{
	char cmd[LINE_MAX_LEN], buf[8];
	int p, l = listen_back(4, &p), c = -1, ctl, v = -1, n = -1;
	struct pollfd pf = { l, POLLIN, 0 };

	CHECK(get_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT) == 0 &&
	      set_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5) &&
	      (v = get_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT)) == 7 &&
	      set_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, -1) &&
	      get_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT) == 0 &&
	      set_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, DEFER_S) &&
	      get_int_opt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT) == DEFER_S,
	      "TCP_DEFER_ACCEPT reads back rounded as Linux's (5 s: %d)", v);

	snprintf(cmd, sizeof(cmd), "BACK %d\n", p);
	ctl = tcp_to(cmd);
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && (c = accept(l, NULL, NULL)) >= 0 &&
	      read_full(c, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0,
	      "TCP_DEFER_ACCEPT: a connection with data is accepted at once");
	close(c);
	close(ctl);

	snprintf(cmd, sizeof(cmd), "BACKIDLE %d %d\n", IDLE_MS, p);
	ctl = tcp_to(cmd);
	CHECK(poll(&pf, 1, DEFER_S * 1000 / 3) == 0,
	      "TCP_DEFER_ACCEPT: one that sent nothing is not there yet");
	c = -1;
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && (c = accept(l, NULL, NULL)) >= 0 &&
	      ioctl(c, FIONREAD, &n) == 0 && n == 0,
	      "after the period, before its data: accepted (FIONREAD %d)", n);
	CHECK(c >= 0 && read_full(c, buf, 4) == 4 && memcmp(buf, "late", 4) == 0,
	      "its data comes later");
	close(c);
	close(ctl);
	close(l);
}

static int set_err(int s, int level, int name, int v);

/* TCP_FASTOPEN, as a Linux with tcp_fastopen = 1 keeps a listener's queue:
 * it reads back capped at somaxconn (4096), may be set closed or
 * listening, not connected nor negative, and an accepted socket has none
 * of its listener's. */
static void
check_fastopen(void)
{
	int p, l, s = socket(AF_INET, SOCK_STREAM, 0), c = -1, v = -1;

	CHECK(get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN) == 0 &&
	      set_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN, 5) &&
	      (v = get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN)) == 5,
	      "TCP_FASTOPEN 5 on a new socket reads back 5: %d", v);
	CHECK(set_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN, 100000) &&
	      (v = get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN)) == 4096,
	      "TCP_FASTOPEN 100000 reads back somaxconn: %d", v);
	CHECK(set_err(s, IPPROTO_TCP, TCP_FASTOPEN, -1) == EINVAL &&
	      get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN) == 4096,
	      "TCP_FASTOPEN -1: EINVAL, the last value stays");
	close(s);
	l = listen_back(4, &p);
	CHECK(set_int_opt(l, IPPROTO_TCP, TCP_FASTOPEN, 16) &&
	      (v = get_int_opt(l, IPPROTO_TCP, TCP_FASTOPEN)) == 16,
	      "TCP_FASTOPEN 16 on a listener: %d", v);
	s = tcp_to("ECHO\n");
	CHECK(s >= 0 && set_err(s, IPPROTO_TCP, TCP_FASTOPEN, 5) == EINVAL,
	      "TCP_FASTOPEN on a connected socket: EINVAL");
	close(s);
	{
		char cmd[LINE_MAX_LEN];
		int ctl;
		struct pollfd pf = { l, POLLIN, 0 };

		snprintf(cmd, sizeof(cmd), "BACK %d\n", p);
		ctl = tcp_to(cmd);
		CHECK(poll(&pf, 1, WAIT_MS) == 1 && (c = accept(l, NULL, NULL)) >= 0 &&
		      get_int_opt(c, IPPROTO_TCP, TCP_FASTOPEN) == 0,
		      "an accepted socket has no TCP_FASTOPEN of its listener's");
		close(c);
		close(ctl);
	}
	close(l);
}

/*
 * TCP_FASTOPEN_CONNECT, as Linux's client keeps it: 0 or 1, set only on a
 * closed socket, read back as set, kept by a listener's accepted sockets;
 * with no cookie for the peer the connect is an ordinary one.
 */
static void
check_fastopen_connect(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), l, p, c = -1, v = -1, ctl;
	char cmd[LINE_MAX_LEN], buf[8] = "";
	struct sockaddr_in a = addr_of(&peer_sa, port);
	struct pollfd pf;

	CHECK(get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT) == 0 &&
	      set_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1) &&
	      get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT) == 1,
	      "TCP_FASTOPEN_CONNECT 1 on a new socket reads back 1");
	CHECK(set_err(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 2) == EINVAL &&
	      set_err(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, -1) == EINVAL &&
	      get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT) == 1,
	      "TCP_FASTOPEN_CONNECT 2 or -1: EINVAL, 1 stays");
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      write_all(s, "ECHO\nhello", 10) == 0 && read_full(s, buf, 5) == 5 &&
	      memcmp(buf, "hello", 5) == 0,
	      "with it, connect() and the first write as usual");
	CHECK(set_err(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 0) == EINVAL &&
	      (v = get_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT)) == 1,
	      "TCP_FASTOPEN_CONNECT once connected: EINVAL, reads 1: %d", v);
	close(s);
	l = listen_back(4, &p);
	CHECK(set_err(l, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1) == EINVAL,
	      "TCP_FASTOPEN_CONNECT on a listener: EINVAL");
	close(l);
	s = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in b = local_sa, got;
		socklen_t len = sizeof(got);
		struct timeval tv = { WAIT_MS / 1000, 0 };

		b.sin_port = 0;
		CHECK(set_int_opt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1) &&
		      bind(s, (struct sockaddr *)&b, sizeof(b)) == 0 &&
		      listen(s, 4) == 0 &&
		      getsockname(s, (struct sockaddr *)&got, &len) == 0,
		      "set, then listen");
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		snprintf(cmd, sizeof(cmd), "BACK %d\n", ntohs(got.sin_port));
		ctl = tcp_to(cmd);
		pf = (struct pollfd){ s, POLLIN, 0 };
		CHECK(poll(&pf, 1, WAIT_MS) == 1 && (c = accept(s, NULL, NULL)) >= 0 &&
		      (v = get_int_opt(c, IPPROTO_TCP, TCP_FASTOPEN_CONNECT)) == 1,
		      "an accepted socket keeps its listener's TCP_FASTOPEN_CONNECT: %d", v);
		if (c >= 0)
			close(c);
		close(ctl);
	}
	close(s);
}

/*
 * sendto(MSG_FASTOPEN), as a Linux with tcp_fastopen = 1 and no cookie
 * for the peer: a new blocking socket connects and sends (the data after
 * the handshake), a non-blocking one (or MSG_DONTWAIT) says EINPROGRESS
 * and connects, a connected or listening one EISCONN, a new one without
 * an address EINVAL; UDP ignores the flag.
 */
static void
check_msg_fastopen(void)
{
	static const char req[] = "ECHO\nhello";
	struct sockaddr_in a = addr_of(&peer_sa, port);
	int s = socket(AF_INET, SOCK_STREAM, 0), n, l, p, u;
	char buf[8] = "";
	struct pollfd pf;
	ssize_t r;

	r = sendto(s, req, sizeof(req) - 1, MSG_FASTOPEN, (struct sockaddr *)&a,
		   sizeof(a));
	CHECK(r == (ssize_t)sizeof(req) - 1 && read_full(s, buf, 5) == 5 &&
	      memcmp(buf, "hello", 5) == 0,
	      "MSG_FASTOPEN on a new socket connects and sends: %zd", r);
	errno = 0;
	CHECK(sendto(s, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	      errno == EISCONN, "MSG_FASTOPEN once connected: EISCONN (%d)", errno);
	errno = 0;
	CHECK(send(s, "x", 1, MSG_FASTOPEN) < 0 && errno == EISCONN,
	      "... also without an address: EISCONN (%d)", errno);
	close(s);
	n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 0;
	CHECK(sendto(n, req, sizeof(req) - 1, MSG_FASTOPEN, (struct sockaddr *)&a,
		     sizeof(a)) < 0 && errno == EINPROGRESS,
	      "MSG_FASTOPEN, non-blocking: EINPROGRESS (%d)", errno);
	pf = (struct pollfd){ n, POLLOUT, 0 };
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && (pf.revents & POLLOUT) &&
	      send(n, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1,
	      "... then it connects, and sends");
	fcntl(n, F_SETFL, 0);
	CHECK(read_full(n, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0,
	      "... and the echo comes back");
	close(n);
	s = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	CHECK(sendto(s, req, sizeof(req) - 1, MSG_FASTOPEN | MSG_DONTWAIT,
		     (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EINPROGRESS,
	      "MSG_FASTOPEN | MSG_DONTWAIT on a blocking socket: EINPROGRESS (%d)",
	      errno);
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	CHECK(send(s, "x", 1, MSG_FASTOPEN) < 0 && errno == EINVAL,
	      "MSG_FASTOPEN without an address: EINVAL (%d)", errno);
	close(s);
	l = listen_back(4, &p);
	errno = 0;
	CHECK(sendto(l, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	      errno == EISCONN, "MSG_FASTOPEN on a listener: EISCONN (%d)", errno);
	close(l);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(sendto(u, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a)) == 1,
	      "UDP ignores MSG_FASTOPEN");
	close(u);
}

/* getsockopt/setsockopt's errno for a missing option or level. */
static int
get_err(int s, int level, int name)
{
	char buf[256];
	socklen_t len = sizeof(buf);

	return getsockopt(s, level, name, buf, &len) == 0 ? 0 : errno;
}

static int
set_err(int s, int level, int name, int v)
{
	return set_int_opt(s, level, name, v) ? 0 : errno;
}

/* IP-level and TCP-level options, and the errno for what a socket does
 * not answer, on the four kinds of socket, as Linux gives them (IPv4 and
 * IPv6 sockets differ: an IPv4 socket hands an unknown level down to
 * ip_getsockopt, which says EOPNOTSUPP). */
static void
check_sockopts_levels(void)
{
	static const struct { int family, type; const char *name; } kinds[] = {
		{ AF_INET, SOCK_STREAM, "TCP" }, { AF_INET, SOCK_DGRAM, "UDP" },
		{ AF_INET6, SOCK_STREAM, "TCP6" }, { AF_INET6, SOCK_DGRAM, "UDP6" },
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int s = socket(kinds[k].family, kinds[k].type, 0);
		bool v6 = kinds[k].family == AF_INET6;
		bool tcp = kinds[k].type == SOCK_STREAM;
		const char *n = kinds[k].name;
		int other = v6 ? ENOPROTOOPT : EOPNOTSUPP, e, v = -1;

		CHECK((e = get_err(s, UNKNOWN_OPT, 1)) == other &&
		      (e = set_err(s, UNKNOWN_OPT, 1, 1)) == ENOPROTOOPT,
		      "%s: unknown level: get %s, set ENOPROTOOPT (%s)", n,
		      v6 ? "ENOPROTOOPT" : "EOPNOTSUPP", strerror(e));
		CHECK((e = get_err(s, IPPROTO_IP, UNKNOWN_OPT)) == ENOPROTOOPT &&
		      (e = get_err(s, SOL_SOCKET, UNKNOWN_OPT)) == ENOPROTOOPT,
		      "%s: unknown IP and socket option: ENOPROTOOPT (%s)", n, strerror(e));
		CHECK((e = get_err(s, IPPROTO_TCP, UNKNOWN_OPT)) == (tcp ? ENOPROTOOPT : other) &&
		      (e = set_err(s, IPPROTO_TCP, UNKNOWN_OPT, 1)) == ENOPROTOOPT,
		      "%s: unknown TCP option: get %s (%s)", n,
		      tcp ? "ENOPROTOOPT" : v6 ? "ENOPROTOOPT" : "EOPNOTSUPP", strerror(e));
		if (!tcp)
			CHECK((e = get_err(s, IPPROTO_TCP, TCP_INFO)) == other,
			      "%s: TCP_INFO on UDP: %s (%s)", n,
			      v6 ? "ENOPROTOOPT" : "EOPNOTSUPP", strerror(e));
		if (!v6)
			CHECK((e = get_err(s, IPPROTO_IPV6, IPV6_TCLASS)) == EOPNOTSUPP &&
			      (e = set_err(s, IPPROTO_IPV6, IPV6_TCLASS, 1)) == ENOPROTOOPT,
			      "%s: an IPv6 option on IPv4: get EOPNOTSUPP, set ENOPROTOOPT (%s)",
			      n, strerror(e));
		CHECK(get_int_opt(s, IPPROTO_IP, IP_TTL) == 64 &&
		      set_err(s, IPPROTO_IP, IP_TTL, 0) == EINVAL &&
		      set_err(s, IPPROTO_IP, IP_TTL, 256) == EINVAL &&
		      set_int_opt(s, IPPROTO_IP, IP_TTL, 255) &&
		      get_int_opt(s, IPPROTO_IP, IP_TTL) == 255 &&
		      set_int_opt(s, IPPROTO_IP, IP_TTL, -1) &&
		      get_int_opt(s, IPPROTO_IP, IP_TTL) == 64,
		      "%s: IP_TTL 64 by default, 1-255, -1 the default", n);
		CHECK(set_int_opt(s, IPPROTO_IP, IP_TOS, 256) &&
		      get_int_opt(s, IPPROTO_IP, IP_TOS) == 0 &&
		      set_int_opt(s, IPPROTO_IP, IP_TOS, 0xff) &&
		      (v = get_int_opt(s, IPPROTO_IP, IP_TOS)) == (tcp ? 0xfc : 0xff),
		      "%s: IP_TOS keeps the low byte%s (%d)", n,
		      tcp ? ", TCP's ECN bits its own" : "", v);
		if (v6) {
			CHECK(get_int_opt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 64 &&
			      set_int_opt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 0) &&
			      get_int_opt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 0 &&
			      set_err(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 256) == EINVAL &&
			      set_int_opt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, -1) &&
			      get_int_opt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 64,
			      "%s: IPV6_UNICAST_HOPS 64 by default, 0-255, -1 the default", n);
			CHECK(get_int_opt(s, IPPROTO_IPV6, IPV6_TCLASS) == 0 &&
			      set_err(s, IPPROTO_IPV6, IPV6_TCLASS, 256) == EINVAL &&
			      set_int_opt(s, IPPROTO_IPV6, IPV6_TCLASS, 0xff) &&
			      (v = get_int_opt(s, IPPROTO_IPV6, IPV6_TCLASS)) == (tcp ? 0xfc : 0xff) &&
			      set_int_opt(s, IPPROTO_IPV6, IPV6_TCLASS, -1) &&
			      get_int_opt(s, IPPROTO_IPV6, IPV6_TCLASS) == 0,
			      "%s: IPV6_TCLASS 0-255, -1 the default (%d)", n, v);
		}
		CHECK(get_int_opt(s, SOL_SOCKET, SO_BROADCAST) == 0 &&
		      set_int_opt(s, SOL_SOCKET, SO_BROADCAST, 5) &&
		      get_int_opt(s, SOL_SOCKET, SO_BROADCAST) == 1,
		      "%s: SO_BROADCAST round-trip", n);
		if (tcp) {
			struct tcp_info ti;
			socklen_t len = sizeof(ti);

			CHECK(get_int_opt(s, IPPROTO_TCP, TCP_MAXSEG) == 536 &&
			      set_err(s, IPPROTO_TCP, TCP_MAXSEG, 1) == EINVAL &&
			      set_err(s, IPPROTO_TCP, TCP_MAXSEG, 40000) == EINVAL &&
			      set_int_opt(s, IPPROTO_TCP, TCP_MAXSEG, 1000) &&
			      get_int_opt(s, IPPROTO_TCP, TCP_MAXSEG) == 1000 &&
			      set_int_opt(s, IPPROTO_TCP, TCP_MAXSEG, 0),
			      "%s: TCP_MAXSEG 536 unconnected, 88-32767 or 0", n);
			CHECK(get_int_opt(s, IPPROTO_TCP, TCP_QUICKACK) == 1 &&
			      set_int_opt(s, IPPROTO_TCP, TCP_QUICKACK, 0) &&
			      get_int_opt(s, IPPROTO_TCP, TCP_QUICKACK) == 0,
			      "%s: TCP_QUICKACK on, then off", n);
			CHECK(getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
			      len == sizeof(ti) && ti.tcpi_state == TCP_CLOSE,
			      "%s: TCP_INFO of a new socket: CLOSE", n);
			len = 4;
			CHECK(getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && len == 4,
			      "%s: TCP_INFO cut to the length asked", n);
		}
		close(s);
	}
}

/* TCP_INFO and TCP_MAXSEG of a connection, a listener; SO_BROADCAST's
 * EACCES; IP_TTL on the wire is left to the stack suite. */
static void
check_sockopts_tcp_info(void)
{
	int s = tcp_to("ECHO\n"), lport, l = listen_back(4, &lport), u, e;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char buf[4];
	struct sockaddr_in bc = peer_sa;

	CHECK(write(s, "inf", 3) == 3 && read_full(s, buf, 3) == 3 &&
	      getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	      ti.tcpi_state == TCP_ESTABLISHED && ti.tcpi_snd_mss >= 536 &&
	      ti.tcpi_snd_mss <= 65495 && ti.tcpi_rto >= 200000 &&
	      ti.tcpi_unacked == 0,
	      "TCP_INFO of a connection: ESTABLISHED, mss %u, rto %u us, unacked %u",
	      ti.tcpi_snd_mss, ti.tcpi_rto, ti.tcpi_unacked);
	CHECK(get_int_opt(s, IPPROTO_TCP, TCP_MAXSEG) == (int)ti.tcpi_snd_mss,
	      "TCP_MAXSEG of a connection: the MSS in use (%d)",
	      get_int_opt(s, IPPROTO_TCP, TCP_MAXSEG));
	len = sizeof(ti);
	CHECK(l >= 0 && getsockopt(l, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	      ti.tcpi_state == TCP_LISTEN, "TCP_INFO of a listener: LISTEN");
	close(l);
	close(s);	/* the peer serves one connection at a time */
	{
		/* a TCP_MAXSEG set before connect bounds the connection's */
		struct sockaddr_in a = addr_of(&peer_sa, port);
		int c = socket(AF_INET, SOCK_STREAM, 0), m = -1;

		CHECK(set_int_opt(c, IPPROTO_TCP, TCP_MAXSEG, 1000) &&
		      connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		      write(c, "ECHO\n", 5) == 5 && write(c, "mss", 3) == 3 &&
		      read_full(c, buf, 3) == 3 &&
		      (m = get_int_opt(c, IPPROTO_TCP, TCP_MAXSEG)) > 0 && m <= 1000,
		      "TCP_MAXSEG 1000 set before connect: the connection's is %d", m);
		close(c);
	}
	/* the TTL datagrams leave with, as the peer saw it */
	for (int ttl = -1; ttl <= 33; ttl += 34) {
		struct sockaddr_in a = addr_of(&peer_sa, port);
		struct pollfd pf;
		char want[16], got[16] = "";
		ssize_t r = -1;

		u = socket(AF_INET, SOCK_DGRAM, 0);
		pf = (struct pollfd){ u, POLLIN, 0 };
		snprintf(want, sizeof(want), "TTL %d", ttl < 0 ? 64 : ttl);
		if (connect(u, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    (ttl < 0 || set_int_opt(u, IPPROTO_IP, IP_TTL, ttl)) &&
		    send(u, "TTL?", 4, 0) == 4 && poll(&pf, 1, WAIT_MS) == 1)
			r = recv(u, got, sizeof(got) - 1, 0);
		CHECK(r > 0 && strcmp(got, want) == 0,
		      "UDP leaves with %s (the peer saw \"%s\")", want, got);
		close(u);
	}
	/* the peer's subnet broadcast (a /24): routed, but not without
	 * SO_BROADCAST */
	u = socket(AF_INET, SOCK_DGRAM, 0);
	bc.sin_addr.s_addr = peer_sa.sin_addr.s_addr | htonl(0xff);
	bc.sin_port = htons(9);
	e = sendto(u, "b", 1, 0, (struct sockaddr *)&bc, sizeof(bc)) < 0 ? errno : 0;
	CHECK(e == EACCES, "UDP to a broadcast address without SO_BROADCAST: EACCES (%s)",
	      strerror(e));
	close(u);
}

/* The options stay with the socket once it is connected. */
static void
check_sockopts_connected(void)
{
	int s = tcp_to("ECHO\n");
	char buf[4];

	CHECK(set_int_opt(s, SOL_SOCKET, SO_KEEPALIVE, 1) &&
	      set_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE, KEEPIDLE_SET) &&
	      get_int_opt(s, SOL_SOCKET, SO_KEEPALIVE) == 1 &&
	      get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE) == KEEPIDLE_SET &&
	      write(s, "opt", 3) == 3 && read_full(s, buf, 3) == 3,
	      "keepalive options on a connected socket");
	close(s);
}

static void
check_fd_calls(void)
{
	int s = tcp_to("ECHO\n"), d, t, l;
	char buf[LINE_MAX_LEN];
	struct timeval tv = { WAIT_MS / 1000, 0 };
	struct sockaddr_in a = local_sa, got;
	socklen_t len = sizeof(got);

	CHECK(fcntl(s, F_GETFD) == 0, "F_GETFD: no FD_CLOEXEC");
	CHECK(fcntl(s, F_SETFD, FD_CLOEXEC) == 0 && fcntl(s, F_GETFD) == FD_CLOEXEC,
	      "F_SETFD FD_CLOEXEC");
	CHECK(fcntl(s, F_SETFD, 0) == 0 && fcntl(s, F_GETFD) == 0, "F_SETFD 0");
	d = fcntl(s, F_DUPFD, DUP_LOW);
	CHECK(d >= DUP_LOW && fcntl(d, F_GETFD) == 0, "F_DUPFD");
	CHECK(write(d, "fd", 2) == 2 && read_full(s, buf, 2) == 2 &&
	      memcmp(buf, "fd", 2) == 0, "F_DUPFD: same socket");
	close(d);
	CHECK(dup2(s, s) == s && write(s, "s", 1) == 1 && read_full(s, buf, 1) == 1,
	      "dup2 onto itself keeps the socket");
	CHECK(dup3(s, s, 0) < 0 && errno == EINVAL, "dup3 onto itself: EINVAL");

	/* dup3 with O_CLOEXEC onto a listener: the port is free again */
	l = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = 0;
	bind(l, (struct sockaddr *)&a, sizeof(a));
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&got, &len);
	CHECK(dup3(s, l, O_CLOEXEC) == l && fcntl(l, F_GETFD) == FD_CLOEXEC &&
	      fcntl(s, F_GETFD) == 0, "dup3 O_CLOEXEC");
	CHECK(write(l, "d3", 2) == 2 && read_full(s, buf, 2) == 2 &&
	      memcmp(buf, "d3", 2) == 0, "dup3: new fd is the first socket");
	d = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(d, (struct sockaddr *)&got, sizeof(got)) == 0,
	      "dup3 closed the old listener (its port binds again)");
	close(d);
	close(l);
	close(s);

	/* dup2 onto a stack socket closes that one: its peer sees the FIN
	 * (the peer serves one connection at a time: the echo is over) */
	t = tcp_to("SINK\n");
	s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(t >= 0 && write(t, "12345", 5) == 5, "second connection");
	CHECK(dup2(s, t) == t && getpeername(t, (struct sockaddr *)&got, &len) < 0 &&
	      errno == ENOTCONN, "dup2 onto it: now the unconnected socket");
	d = tcp_to("LAST\n");	/* served after the sink saw its FIN */
	setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* bound */
	CHECK(read_line(d, buf, sizeof(buf)) > 0 && strtoul(buf, NULL, 10) == 5,
	      "dup2 closed the old socket (peer got its data and FIN)");
	close(d);
	close(t);
	close(s);
}

/* Zero-length I/O: read/readv of nothing return 0 at once (Linux's
 * sock_read_iter), so do sends of nothing on a connected socket; recv of
 * nothing returns 0 once data is queued and leaves it there. Timeouts turn
 * a call that would hang into a failed check. */
static void
check_zero_length(void)
{
	struct timeval tv = { 2, 0 };
	struct iovec iov[2] = { { NULL, 0 }, { NULL, 0 } };
	struct msghdr m;
	struct pollfd pf;
	char buf[16];
	int s = tcp_to("ECHO\n"), u, n = -1;

	CHECK(s >= 0, "zero-length: connected to the echo peer");
	if (s < 0)
		return;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	CHECK(write(s, buf, 0) == 0, "TCP write of 0 bytes: 0");
	CHECK(send(s, buf, 0, 0) == 0, "TCP send of 0 bytes: 0");
	CHECK(send(s, buf, 0, MSG_DONTWAIT) == 0, "TCP send of 0 bytes, MSG_DONTWAIT: 0");
	CHECK(writev(s, iov, 2) == 0, "TCP writev of two empty iovecs: 0");
	CHECK(writev(s, iov, 0) == 0, "TCP writev of no iovec: 0");
	memset(&m, 0, sizeof(m));
	CHECK(sendmsg(s, &m, 0) == 0, "TCP sendmsg of nothing: 0");
	CHECK(read(s, buf, 0) == 0, "TCP read of 0 bytes, nothing queued: 0 at once");
	CHECK(readv(s, iov, 2) == 0, "TCP readv of empty iovecs: 0 at once");
	CHECK(recv(s, buf, 0, MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "TCP recv of 0 bytes, nothing queued, MSG_DONTWAIT: EAGAIN");
	CHECK(write(s, "abc", 3) == 3, "zero-length: 3 bytes to the echo peer");
	pf = (struct pollfd){ s, POLLIN, 0 };
	CHECK(poll(&pf, 1, WAIT_MS) == 1, "zero-length: the echo is back");
	usleep(50000);
	CHECK(recv(s, buf, 0, 0) == 0, "TCP recv of 0 bytes, data queued: 0");
	CHECK(ioctl(s, FIONREAD, &n) == 0 && n == 3, "TCP: still 3 bytes queued (%d)", n);
	CHECK(read(s, buf, 0) == 0 && read_full(s, buf, 3) == 3 && memcmp(buf, "abc", 3) == 0,
	      "TCP: the data is read whole after reads of nothing");
	shutdown(s, SHUT_WR);
	CHECK(send(s, buf, 0, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "TCP send of 0 bytes after SHUT_WR: EPIPE");
	close(s);

	u = socket(AF_INET, SOCK_DGRAM, 0);
	{
		struct sockaddr_in a = addr_of(&peer_sa, port);

		connect(u, (struct sockaddr *)&a, sizeof(a));
	}
	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(read(u, buf, 0) == 0, "UDP read of 0 bytes, nothing queued: 0 at once");
	CHECK(send(u, buf, 0, 0) == 0, "UDP send of an empty datagram: 0");
	pf = (struct pollfd){ u, POLLIN, 0 };
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && recv(u, buf, sizeof(buf), 0) == 0,
	      "UDP: the empty datagram comes back, length 0");
	CHECK(send(u, "xyz", 3, 0) == 3, "UDP: a datagram of 3 bytes");
	pf.revents = 0;
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && read(u, buf, 0) == 0 &&
	      recv(u, buf, sizeof(buf), 0) == 3 && memcmp(buf, "xyz", 3) == 0,
	      "UDP read of 0 bytes leaves the datagram queued");
	close(u);
}

/* msg to the echo peer and back */
static bool
echo_ok(int s, const char *msg)
{
	size_t n = strlen(msg);
	char buf[32];
	struct pollfd pf = { s, POLLIN, 0 };

	return write_all(s, msg, n) == 0 && poll(&pf, 1, WAIT_MS) == 1 &&
	       read_full(s, buf, n) == (ssize_t)n && memcmp(buf, msg, n) == 0;
}

/* ---- bad pointers: EFAULT, never SIGSEGV ---- */

#define PAGE_SZ		4096
#define KERNEL_ADDR	((void *)0xffffffff81000000ull)
/* through volatile: the compiler must not see the bad pointers coming */
static void *volatile null_ptr;
static void *volatile page0_ptr = (void *)0x100;	/* zpoline's trampoline under zpnet */

/* Socket addresses, their lengths and option values: EFAULT and EINVAL. */
static void
check_bad_addresses(char *none)
{
	struct sockaddr_in a = addr_of(&peer_sa, port), got, la = addr_of(&local_sa, 0);
	socklen_t len, ll = sizeof(la);
	struct pollfd pf;
	char buf[16], line[LINE_MAX_LEN];
	int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
	int s = tcp_to("ECHO\n"), l, c, v = 1;

	CHECK(bind(u, null_ptr, sizeof(a)) < 0 && errno == EFAULT, "bind, address NULL: EFAULT");
	CHECK(bind(u, (struct sockaddr *)none, sizeof(a)) < 0 && errno == EFAULT,
	      "bind, address in PROT_NONE: EFAULT");
	CHECK(bind(u, (struct sockaddr *)&la, 200) < 0 && errno == EINVAL,
	      "bind, length 200 (past sockaddr_storage): EINVAL");
	CHECK(bind(u, (struct sockaddr *)&la, (socklen_t)-1) < 0 && errno == EINVAL,
	      "bind, length -1: EINVAL");
	CHECK(connect(t, (struct sockaddr *)none, sizeof(a)) < 0 && errno == EFAULT,
	      "connect, address in PROT_NONE: EFAULT");
	CHECK(sendto(u, "x", 1, 0, (struct sockaddr *)none, sizeof(a)) < 0 && errno == EFAULT,
	      "sendto, address in PROT_NONE: EFAULT");
	CHECK(sendto(u, "x", 1, 0, (struct sockaddr *)&a, 200) < 0 && errno == EINVAL,
	      "sendto, address length 200: EINVAL");

	len = sizeof(got);
	CHECK(getsockname(s, (struct sockaddr *)none, &len) < 0 && errno == EFAULT,
	      "getsockname into PROT_NONE: EFAULT");
	CHECK(getsockname(s, (struct sockaddr *)&got, null_ptr) < 0 && errno == EFAULT,
	      "getsockname, length pointer NULL: EFAULT");
	len = 0;
	CHECK(getsockname(s, null_ptr, &len) == 0 && len == sizeof(got),
	      "getsockname with room 0: nothing copied, the size told (%u)", len);
	len = (socklen_t)-1;
	CHECK(getsockname(s, (struct sockaddr *)&got, &len) < 0 && errno == EINVAL,
	      "getsockname, room -1: EINVAL");
	CHECK(getpeername(s, (struct sockaddr *)&got, (socklen_t *)none) < 0 && errno == EFAULT,
	      "getpeername, length in PROT_NONE: EFAULT");

	CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, null_ptr, sizeof(v)) < 0 && errno == EFAULT,
	      "setsockopt, value NULL: EFAULT");
	CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, none, sizeof(v)) < 0 && errno == EFAULT,
	      "setsockopt, value in PROT_NONE: EFAULT");
	CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, (socklen_t)-1) < 0 && errno == EINVAL,
	      "setsockopt, length -1: EINVAL");
	len = sizeof(v);
	CHECK(getsockopt(s, SOL_SOCKET, SO_RCVBUF, none, &len) < 0 && errno == EFAULT,
	      "getsockopt into PROT_NONE: EFAULT");
	CHECK(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, null_ptr) < 0 && errno == EFAULT,
	      "getsockopt, length pointer NULL: EFAULT");
	len = (socklen_t)-1;
	CHECK(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0 && errno == EINVAL,
	      "getsockopt, length -1: EINVAL");
	close(s);	/* the peer serves one connection at a time */

	connect(u, (struct sockaddr *)&a, sizeof(a));
	send(u, "peer", 4, 0);
	pf = (struct pollfd){ u, POLLIN, 0 };
	len = sizeof(got);
	CHECK(poll(&pf, 1, WAIT_MS) == 1 &&
	      recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&got, (socklen_t *)none) < 0 &&
	      errno == EFAULT, "recvfrom, source length in PROT_NONE: EFAULT");
	CHECK(recv(u, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "recvfrom: the datagram was taken all the same (Linux)");

	/* accept into a bad address: Linux closes that connection */
	l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(l, (struct sockaddr *)&la, sizeof(la)) == 0 && listen(l, 4) == 0 &&
	      getsockname(l, (struct sockaddr *)&la, &ll) == 0, "bad addresses: a listener");
	c = tcp_to(NULL);
	snprintf(line, sizeof(line), "BACK %d\n", ntohs(la.sin_port));
	write_all(c, line, strlen(line));
	pf = (struct pollfd){ l, POLLIN, 0 };
	len = sizeof(got);
	CHECK(poll(&pf, 1, WAIT_MS) == 1 &&
	      accept(l, (struct sockaddr *)none, &len) < 0 && errno == EFAULT,
	      "accept into PROT_NONE: EFAULT");
	close(c);
	c = tcp_to(NULL);
	write_all(c, line, strlen(line));
	pf.revents = 0;
	len = sizeof(got);
	{
		int n = -1;

		if (poll(&pf, 1, WAIT_MS) == 1) {
			int a2 = accept(l, (struct sockaddr *)&got, &len);

			pf = (struct pollfd){ a2, POLLIN, 0 };
			n = a2 >= 0 && poll(&pf, 1, WAIT_MS) == 1 ?
			    (int)read_full(a2, buf, 5) : -1;
			close(a2);
		}
		CHECK(n == 5 && memcmp(buf, "hello", 5) == 0 && len == sizeof(got),
		      "then accept works, the next connection's data arrives (%d)", n);
	}
	close(c);
	close(l);
	close(t);
	close(u);
}

/* The pointers of epoll_wait, poll, select and their p-forms. */
static void
check_bad_waits(char *none, char *two)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct timespec bad_ts = { 0, 1000000000 };
	struct pollfd pf, *pfs;
	fd_set rd;
	int s = tcp_to("ECHO\n"), ep = epoll_create1(0);

	CHECK(s >= 0 && ep >= 0, "bad waits: an idle connection and an epoll set");
	ev.data.fd = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	/* Linux faults only when it has an event to copy */
	CHECK(epoll_wait(ep, null_ptr, 4, 0) == 0,
	      "epoll_wait, events NULL, nothing ready: 0");
	CHECK(write(s, "r", 1) == 1 && poll(&(struct pollfd){ s, POLLIN, 0 }, 1, WAIT_MS) == 1,
	      "bad waits: the socket is made readable");
	/* two: a good page, then a PROT_NONE one; the array must be read
	 * whole and every revents written (Linux writes them all, ready or
	 * not, after the wait) */
	pfs = (struct pollfd *)(two + PAGE_SZ - sizeof(*pfs));
	pfs[0] = (struct pollfd){ s, POLLIN, 0 };
	CHECK(poll(pfs, 2, 0) < 0 && errno == EFAULT,
	      "poll, the second of 2 fds in PROT_NONE: EFAULT");
	pfs = (struct pollfd *)(two + PAGE_SZ - 4);	/* its fd only */
	memcpy(pfs, &s, sizeof(s));
	CHECK(poll(pfs, 1, 0) < 0 && errno == EFAULT,
	      "poll, an fd whose events and revents are in PROT_NONE: EFAULT");
	pfs = (struct pollfd *)two;
	pfs[0] = (struct pollfd){ s, POLLIN, 0 };
	CHECK(mprotect(two, PAGE_SZ, PROT_READ) == 0 && poll(pfs, 1, 0) < 0 &&
	      errno == EFAULT,
	      "poll, a read-only array, the socket readable: EFAULT");
	CHECK(mprotect(two, PAGE_SZ, PROT_READ | PROT_WRITE) == 0 &&
	      poll(pfs, 1, 0) == 1 && pfs[0].revents == POLLIN,
	      "poll, the same array writable: POLLIN");
	CHECK(epoll_wait(ep, null_ptr, 4, 0) < 0 && errno == EFAULT,
	      "epoll_wait, events NULL, one ready: EFAULT");
	CHECK(epoll_wait(ep, (struct epoll_event *)none, 4, 10) < 0 && errno == EFAULT,
	      "epoll_wait, events in PROT_NONE, one ready: EFAULT");
	CHECK(epoll_wait(ep, &ev, 1, 0) == 1 && ev.data.fd == s,
	      "epoll_wait: the event is still there for a good array");
	CHECK(read(s, &ev, 1) == 1, "bad waits: the byte read");
	CHECK(epoll_pwait(ep, &ev, 1, 10, (sigset_t *)none) < 0 && errno == EFAULT,
	      "epoll_pwait, sigmask in PROT_NONE: EFAULT");
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, (struct epoll_event *)none) < 0 &&
	      errno == EFAULT, "epoll_ctl MOD, event in PROT_NONE: EFAULT");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, null_ptr) < 0 && errno == EFAULT,
	      "epoll_ctl ADD, event NULL: EFAULT (before EEXIST)");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, s, (struct epoll_event *)none) == 0 &&
	      epoll_ctl(ep, EPOLL_CTL_ADD, s, &(struct epoll_event){ .events = EPOLLIN,
								 .data.fd = s }) == 0,
	      "epoll_ctl DEL reads no event; ADD again");
	CHECK(poll(null_ptr, 1, 0) < 0 && errno == EFAULT, "poll, fds NULL: EFAULT");
	CHECK(poll((struct pollfd *)none, 1, 0) < 0 && errno == EFAULT,
	      "poll, fds in PROT_NONE: EFAULT");
	pf = (struct pollfd){ s, POLLIN, 0 };
	/* raw calls: glibc's wrappers read the timeout themselves */
	CHECK(syscall(SYS_ppoll, &pf, 1, none, NULL, 8) < 0 && errno == EFAULT,
	      "ppoll, timeout in PROT_NONE: EFAULT");
	CHECK(ppoll(&pf, 1, &bad_ts, NULL) < 0 && errno == EINVAL,
	      "ppoll, tv_nsec of 1e9: EINVAL");
	FD_ZERO(&rd);
	FD_SET(s, &rd);
	CHECK(select(s + 1, (fd_set *)none, NULL, NULL, NULL) < 0 && errno == EFAULT,
	      "select, read set in PROT_NONE: EFAULT");
	CHECK(syscall(SYS_select, s + 1, &rd, NULL, NULL, none) < 0 && errno == EFAULT,
	      "select, timeout in PROT_NONE: EFAULT");
	CHECK(syscall(SYS_pselect6, s + 1, &rd, NULL, NULL, none, NULL) < 0 &&
	      errno == EFAULT, "pselect6, timeout in PROT_NONE: EFAULT");
	CHECK(echo_ok(s, "waits"), "bad waits: the connection works after them");
	close(ep);
	close(s);
}

static void
check_bad_pointers(void)
{
	char *none = mmap(NULL, PAGE_SZ, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *two = mmap(NULL, 2 * PAGE_SZ, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *edge = two + PAGE_SZ - 2;	/* 2 good bytes, then PROT_NONE */
	struct timeval tv = { 2, 0 };
	struct pollfd pf;
	struct iovec iov[2];
	struct msghdr m;
	char buf[16];
	int s = tcp_to("ECHO\n"), u, n = -1;
	struct sockaddr_in a = addr_of(&peer_sa, port);

	CHECK(none != MAP_FAILED && two != MAP_FAILED &&
	      mprotect(two + PAGE_SZ, PAGE_SZ, PROT_NONE) == 0 && s >= 0,
	      "bad pointers: a PROT_NONE page, a page before one, an echo connection");
	if (s < 0)
		return;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	CHECK(write(s, null_ptr, 10) < 0 && errno == EFAULT, "TCP write from NULL: EFAULT");
	CHECK(write(s, none, 10) < 0 && errno == EFAULT, "TCP write from PROT_NONE: EFAULT");
	CHECK(send(s, edge, 10, 0) < 0 && errno == EFAULT,
	      "TCP send of 10 bytes, a fault after 2: EFAULT");
	CHECK(write(s, page0_ptr, 10) < 0 && errno == EFAULT, "TCP write from page 0: EFAULT");
	CHECK(write(s, KERNEL_ADDR, 10) < 0 && errno == EFAULT,
	      "TCP write from a kernel address: EFAULT");
	CHECK(writev(s, null_ptr, 1) < 0 && errno == EFAULT, "TCP writev, iovec array NULL: EFAULT");
	iov[0] = (struct iovec){ none, 10 };
	CHECK(writev(s, iov, 1) < 0 && errno == EFAULT, "TCP writev from PROT_NONE: EFAULT");
	CHECK(sendmsg(s, null_ptr, 0) < 0 && errno == EFAULT, "TCP sendmsg, msghdr NULL: EFAULT");
	CHECK(sendmsg(s, (struct msghdr *)none, 0) < 0 && errno == EFAULT,
	      "TCP sendmsg, msghdr in PROT_NONE: EFAULT");

	CHECK(write(s, "abcdef", 6) == 6, "bad pointers: 6 bytes to the echo peer");
	pf = (struct pollfd){ s, POLLIN, 0 };
	CHECK(poll(&pf, 1, WAIT_MS) == 1, "bad pointers: the echo is back");
	usleep(50000);
	CHECK(read(s, null_ptr, 10) < 0 && errno == EFAULT, "TCP read into NULL: EFAULT");
	CHECK(read(s, none, 10) < 0 && errno == EFAULT, "TCP read into PROT_NONE: EFAULT");
	CHECK(recv(s, edge, 10, 0) < 0 && errno == EFAULT,
	      "TCP recv of 6 bytes into 2 good ones: EFAULT");
	CHECK(recv(s, KERNEL_ADDR, 10, 0) < 0 && errno == EFAULT,
	      "TCP recv into a kernel address: EFAULT");
	CHECK(readv(s, null_ptr, 1) < 0 && errno == EFAULT, "TCP readv, iovec array NULL: EFAULT");
	CHECK(readv(s, (struct iovec *)none, 1) < 0 && errno == EFAULT,
	      "TCP readv, iovec array in PROT_NONE: EFAULT");
	CHECK(recvmsg(s, null_ptr, 0) < 0 && errno == EFAULT, "TCP recvmsg, msghdr NULL: EFAULT");
	CHECK(ioctl(s, FIONREAD, &n) == 0 && n == 6, "TCP: the 6 bytes are still queued (%d)", n);
	CHECK(ioctl(s, FIONREAD, none) < 0 && errno == EFAULT, "TCP FIONREAD into PROT_NONE: EFAULT");
	CHECK(ioctl(s, FIONBIO, none) < 0 && errno == EFAULT, "TCP FIONBIO from PROT_NONE: EFAULT");
	{
		int f = memfd_create("sockcheck", 0);
		off_t off = -1;

		CHECK(f >= 0 && write(f, "file", 4) == 4, "bad pointers: a 4-byte file");
		CHECK(sendfile(s, f, (off_t *)none, 4) < 0 && errno == EFAULT,
		      "TCP sendfile, offset in PROT_NONE: EFAULT");
		CHECK(sendfile(s, f, &off, 4) < 0 && errno == EINVAL,
		      "TCP sendfile from offset -1: EINVAL");
		close(f);
	}
	CHECK(syscall(SYS_rt_sigaction, SIGUSR1, none, NULL, 8) < 0 && errno == EFAULT,
	      "rt_sigaction, new action in PROT_NONE: EFAULT");
	CHECK(syscall(SYS_rt_sigaction, SIGUSR1, NULL, none, 8) < 0 && errno == EFAULT,
	      "rt_sigaction, old action into PROT_NONE: EFAULT");
	/* the signals the hooks engine may keep for itself */
	CHECK(syscall(SYS_rt_sigaction, SIGSYS, none, NULL, 8) < 0 && errno == EFAULT,
	      "rt_sigaction(SIGSYS), new action in PROT_NONE: EFAULT");
	CHECK(syscall(SYS_rt_sigaction, SIGTRAP, none, NULL, 8) < 0 && errno == EFAULT,
	      "rt_sigaction(SIGTRAP), new action in PROT_NONE: EFAULT");
	{
		/* Linux sets the new action, then fails to write the old one */
		struct { void *h; unsigned long flags; void *restorer; uint64_t mask; }
			ign = { (void *)SIG_IGN, 0, NULL, 0 }, old = { NULL, 0, NULL, 0 };

		CHECK(syscall(SYS_rt_sigaction, SIGUSR1, &ign, none, 8) < 0 && errno == EFAULT &&
		      syscall(SYS_rt_sigaction, SIGUSR1, NULL, &old, 8) == 0 &&
		      old.h == (void *)SIG_IGN,
		      "rt_sigaction, old action into PROT_NONE: EFAULT, the new one set");
		signal(SIGUSR1, SIG_DFL);
	}
	CHECK(read_full(s, buf, 6) == 6 && memcmp(buf, "abcdef", 6) == 0,
	      "TCP: and read whole after the faults");
	CHECK(echo_ok(s, "still"), "TCP: the connection works after the faults");
	close(s);

	u = socket(AF_INET, SOCK_DGRAM, 0);
	connect(u, (struct sockaddr *)&a, sizeof(a));
	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(send(u, null_ptr, 10, 0) < 0 && errno == EFAULT, "UDP send from NULL: EFAULT");
	CHECK(send(u, none, 10, 0) < 0 && errno == EFAULT, "UDP send from PROT_NONE: EFAULT");
	CHECK(send(u, edge, 10, 0) < 0 && errno == EFAULT,
	      "UDP send, a fault after 2 bytes: EFAULT");
	iov[0] = (struct iovec){ "ab", 2 };
	iov[1] = (struct iovec){ none, 4 };
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 2;
	CHECK(sendmsg(u, &m, 0) < 0 && errno == EFAULT,
	      "UDP sendmsg, second iovec in PROT_NONE: EFAULT");
	CHECK(send(u, "first", 5, 0) == 5, "UDP: then a good datagram");
	pf = (struct pollfd){ u, POLLIN, 0 };
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && recv(u, buf, sizeof(buf), MSG_PEEK) == 5 &&
	      memcmp(buf, "first", 5) == 0, "UDP: the bad sends sent nothing");
	CHECK(recv(u, null_ptr, 10, 0) < 0 && errno == EFAULT, "UDP recv into NULL: EFAULT");
	CHECK(recv(u, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "UDP: the datagram is gone all the same (Linux)");
	close(u);
	check_bad_addresses(none);
	check_bad_waits(none, two);
	munmap(none, PAGE_SZ);
	munmap(two, 2 * PAGE_SZ);
}

/* ---- signals during blocking calls (signal(7)) ---- */

#define SIG_AFTER_MS	100	/* the handler runs this long into the call */
#define SIG_WRITE_MS	300	/* when the restart case's data arrives */
#define SIG_JUMPS	40	/* siglongjmp out of a blocking recv, this often */
#define SIG_HUGE_MS	600	/* past where a wrapped huge timeout would end */

static volatile sig_atomic_t sig_hits, sig_jump;
static sigjmp_buf sig_env;
static timer_t sig_timer;

static void
on_sigusr2(int sig)
{
	(void)sig;
	sig_hits++;
	if (sig_jump) {
		sig_jump = 0;
		siglongjmp(sig_env, 1);
	}
}

static void
sig_handler(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr2;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	sig_hits = 0;
}

/* SIGUSR2 to this thread in us microseconds. */
static void
sig_in_us(long us)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = us / 1000000;
	its.it_value.tv_nsec = (us % 1000000) * 1000;
	timer_settime(sig_timer, 0, &its, NULL);
}

struct late_write {
	int fd;
	long ms;
};

static void *
write_later(void *arg)
{
	struct late_write *lw = arg;

	usleep((useconds_t)lw->ms * 1000);
	if (write(lw->fd, "x", 1) != 1)
		perror("write_later");
	return NULL;
}

static void
check_signals(void)
{
	struct sigevent sev;
	struct sigaction dfl;
	struct timeval tv = { 3, 0 };
	struct sockaddr_in la = addr_of(&local_sa, 0);
	socklen_t ll = sizeof(la);
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct late_write lw;
	pthread_t th;
	fd_set rd;
	char buf[16];
	int s = tcp_to("ECHO\n"), l, ep, r, jumped = 0, served = 0;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR2;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	CHECK(s >= 0 && timer_create(CLOCK_MONOTONIC, &sev, &sig_timer) == 0,
	      "signals: an idle echo connection and a timer for this thread");
	if (s < 0)
		return;

	sig_handler(0);
	sig_in_us(SIG_AFTER_MS * 1000);
	r = (int)recv(s, buf, sizeof(buf), 0);
	CHECK(r < 0 && errno == EINTR && sig_hits == 1,
	      "blocking recv, handler without SA_RESTART: EINTR (%d, %d hits)", r, sig_hits);
	CHECK(echo_ok(s, "after"), "signals: the socket works after EINTR");

	sig_handler(SA_RESTART);
	lw = (struct late_write){ s, SIG_WRITE_MS };
	pthread_create(&th, NULL, write_later, &lw);
	sig_in_us(SIG_AFTER_MS * 1000);
	r = (int)recv(s, buf, sizeof(buf), 0);
	pthread_join(th, NULL);
	CHECK(r == 1 && buf[0] == 'x' && sig_hits == 1,
	      "blocking recv, SA_RESTART: restarted, then the data (%d, %d hits)", r, sig_hits);

	/* a MSG_WAITALL recv that has bytes ends at the signal with them,
	 * SA_RESTART or not (Linux returns what it copied) */
	sig_handler(SA_RESTART);
	r = write(s, "ab", 2) == 2 && poll(&(struct pollfd){ s, POLLIN, 0 }, 1, WAIT_MS) == 1;
	sig_in_us(SIG_AFTER_MS * 1000);
	r = r ? (int)recv(s, buf, 8, MSG_WAITALL) : -1;
	CHECK(r == 2 && memcmp(buf, "ab", 2) == 0 && sig_hits == 1,
	      "MSG_WAITALL with bytes in, SA_RESTART: the signal ends it with them (%d, %d hits)",
	      r, sig_hits);

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sig_handler(SA_RESTART);
	sig_in_us(SIG_AFTER_MS * 1000);
	r = (int)recv(s, buf, sizeof(buf), 0);
	CHECK(r < 0 && errno == EINTR && sig_hits == 1,
	      "recv with SO_RCVTIMEO, SA_RESTART: EINTR, not restarted (%d)", r);
	/* SO_RCVTIMEO of 2^64 ns and a bit: Linux waits forever; a
	 * multiplication in ns wraps it to 0.29 s */
	tv = (struct timeval){ 18446744074, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sig_handler(0);
	sig_in_us(SIG_HUGE_MS * 1000);
	r = (int)recv(s, buf, sizeof(buf), 0);
	CHECK(r < 0 && errno == EINTR && sig_hits == 1,
	      "recv with SO_RCVTIMEO of 18446744074 s: still waiting at %d ms (%d)",
	      SIG_HUGE_MS, r);
	/* a negative one: Linux's calls return EAGAIN at once */
	tv = (struct timeval){ -1, 0 };
	CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0,
	      "SO_RCVTIMEO of -1 s: accepted");
	{
		socklen_t tl = sizeof(tv);

		CHECK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0 &&
		      tv.tv_sec == 0 && tv.tv_usec == 0, "and reads back as {0, 0}");
	}
	sig_handler(0);
	sig_in_us(SIG_HUGE_MS * 1000);
	r = (int)recv(s, buf, sizeof(buf), 0);
	CHECK(r < 0 && errno == EAGAIN && sig_hits == 0,
	      "recv with a negative SO_RCVTIMEO: EAGAIN at once (%d)", r);
	sig_in_us(0);	/* disarmed */
	tv = (struct timeval){ 0, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	ep = epoll_create1(0);
	ev.data.fd = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	sig_handler(SA_RESTART);
	sig_in_us(SIG_AFTER_MS * 1000);
	r = epoll_wait(ep, &out, 1, -1);
	CHECK(r < 0 && errno == EINTR && sig_hits == 1,
	      "epoll_wait, SA_RESTART: EINTR, never restarted (%d)", r);
	close(ep);
	{
		struct pollfd pf = { s, POLLIN, 0 };

		sig_handler(SA_RESTART);
		sig_in_us(SIG_AFTER_MS * 1000);
		r = poll(&pf, 1, -1);
		CHECK(r < 0 && errno == EINTR && sig_hits == 1,
		      "poll, SA_RESTART: EINTR (%d)", r);
		{
			struct timespec huge = { 18446744074, 0 };

			sig_handler(0);
			sig_in_us(SIG_HUGE_MS * 1000);
			r = ppoll(&pf, 1, &huge, NULL);
			CHECK(r < 0 && errno == EINTR && sig_hits == 1,
			      "ppoll with a timeout of 18446744074 s: still waiting at %d ms (%d)",
			      SIG_HUGE_MS, r);
		}
	}
	FD_ZERO(&rd);
	FD_SET(s, &rd);
	sig_handler(SA_RESTART);
	sig_in_us(SIG_AFTER_MS * 1000);
	r = select(s + 1, &rd, NULL, NULL, NULL);
	CHECK(r < 0 && errno == EINTR && sig_hits == 1, "select, SA_RESTART: EINTR (%d)", r);

	l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(l, (struct sockaddr *)&la, sizeof(la)) == 0 && listen(l, 4) == 0 &&
	      getsockname(l, (struct sockaddr *)&la, &ll) == 0, "signals: a listener");
	sig_handler(0);
	sig_in_us(SIG_AFTER_MS * 1000);
	r = accept(l, NULL, NULL);
	CHECK(r < 0 && errno == EINTR && sig_hits == 1,
	      "blocking accept, handler without SA_RESTART: EINTR (%d)", r);
	close(l);

	/* The alarm-timeout pattern: the handler siglongjmps out of a
	 * blocking recv, at times from 0.2 to 8 ms into it, then the same
	 * socket is used again. */
	sig_handler(0);
	for (int i = 0; i < SIG_JUMPS; i++) {
		if (sigsetjmp(sig_env, 1) == 0) {
			sig_jump = 1;
			sig_in_us(200 + (i % 8) * 1000);
			r = (int)recv(s, buf, sizeof(buf), 0);
			sig_jump = 0;
		} else {
			jumped++;
		}
		if (echo_ok(s, "jump"))
			served++;
	}
	CHECK(jumped == SIG_JUMPS && served == SIG_JUMPS,
	      "siglongjmp out of a blocking recv, %d times: %d jumped, %d echoed after",
	      SIG_JUMPS, jumped, served);

	/* The same in a forked child (fork-per-connection servers,
	 * daemons, PostgreSQL's backends): its handlers run too. */
	{
		pid_t pid = fork();
		int st = -1;

		if (pid == 0) {
			int c = s;	/* the parent's, shared across fork */
			struct itimerval it = { { 0, 0 }, { 0, SIG_AFTER_MS * 1000 } };
			struct sigaction sa;

			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_sigusr2;
			sigaction(SIGALRM, &sa, NULL);
			sig_hits = 0;
			setitimer(ITIMER_REAL, &it, NULL);
			r = (int)recv(c, buf, sizeof(buf), 0);
			_exit(r < 0 && errno == EINTR && sig_hits == 1 && echo_ok(c, "child") ? 0 : 1);
		}
		waitpid(pid, &st, 0);
		CHECK(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "a forked child's blocking recv: EINTR, then the socket works (status %#x)", st);
	}

	timer_delete(sig_timer);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGUSR2, &dfl, NULL);
	close(s);
}

static void
check_shutdown(void)
{
	int s = tcp_to("ECHO\n"), n = -1;
	char buf[8];
	struct pollfd pf;

	CHECK(write(s, "abc", 3) == 3 && recv(s, buf, 3, MSG_PEEK | MSG_WAITALL) == 3,
	      "echo queued");
	CHECK(shutdown(s, SHUT_RD) == 0, "shutdown(SHUT_RD)");
	pf.fd = s;
	pf.events = POLLIN | POLLOUT | POLLRDHUP;
	CHECK(poll(&pf, 1, 0) == 1 && pf.revents == (POLLIN | POLLOUT | POLLRDHUP),
	      "SHUT_RD: poll IN|OUT|RDHUP (%#x)", pf.revents);
	CHECK(ioctl(s, FIONREAD, &n) == 0 && n == 3 && read(s, buf, sizeof(buf)) == 3 &&
	      memcmp(buf, "abc", 3) == 0, "SHUT_RD: queued data still reads");
	CHECK(read(s, buf, sizeof(buf)) == 0, "SHUT_RD: then read returns 0");
	CHECK(write(s, "d", 1) == 1, "SHUT_RD: write still works");
	close(s);

	s = tcp_to("ECHO\n");
	CHECK(shutdown(s, SHUT_RDWR) == 0, "shutdown(SHUT_RDWR)");
	pf.fd = s;
	pf.events = POLLIN | POLLOUT;
	pf.revents = 0;
	CHECK(poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP) && (pf.revents & POLLIN),
	      "SHUT_RDWR: poll reports HUP (%#x)", pf.revents);
	CHECK(read(s, buf, sizeof(buf)) == 0, "SHUT_RDWR: read returns 0");
	CHECK(send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "SHUT_RDWR: send EPIPE");
	close(s);
}

/* Readable/writable events after the peer closes or resets. */
static void
check_peer_gone(void)
{
	int s = tcp_to("CLOSE\n"), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = 1 }, out[2];
	struct pollfd pf;
	char c;

	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0 &&
	      epoll_wait(ep, out, 2, WAIT_MS) == 1 &&
	      out[0].events == (EPOLLIN | EPOLLRDHUP),
	      "peer FIN: EPOLLIN|EPOLLRDHUP, no HUP (%#x)", out[0].events);
	CHECK(read(s, &c, 1) == 0, "peer FIN: read 0");
	CHECK(shutdown(s, SHUT_WR) == 0 && epoll_wait(ep, out, 2, 0) == 1 &&
	      out[0].events == (EPOLLIN | EPOLLRDHUP | EPOLLHUP),
	      "and our SHUT_WR: EPOLLHUP too (%#x)", out[0].events);
	{
		struct sockaddr_in a = addr_of(&peer_sa, port);
		struct tcp_info ti = { 0 };
		socklen_t tlen = sizeof(ti), elen;
		int err = -1, cerr = 0;

		/* the peer's ACK of our FIN: closed both ways (LAST-ACK done) */
		for (int i = 0; i < 100; i++) {
			tlen = sizeof(ti);
			if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tlen) < 0 ||
			    ti.tcpi_state == TCP_CLOSE)
				break;
			usleep(20 * 1000);
		}
		elen = sizeof(err);
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
			cerr = errno;
		CHECK(ti.tcpi_state == TCP_CLOSE && epoll_wait(ep, out, 2, 0) == 1 &&
		      out[0].events == (EPOLLIN | EPOLLRDHUP | EPOLLHUP) &&
		      getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0 &&
		      recv(s, &c, 1, MSG_DONTWAIT) == 0 &&
		      send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE && cerr == EISCONN,
		      "closed both ways (TCP_INFO %u): HUP, no ERR (%#x), SO_ERROR %d, "
		      "recv 0, send EPIPE, connect EISCONN (%d)", ti.tcpi_state,
		      out[0].events, err, cerr);
	}
	close(s);

	s = tcp_to("RESET\n");
	ev.events = EPOLLIN;	/* ERR and HUP come unasked */
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0 &&
	      epoll_wait(ep, out, 2, WAIT_MS) == 1 &&
	      out[0].events == (EPOLLIN | EPOLLERR | EPOLLHUP),
	      "peer RST: EPOLLIN|EPOLLERR|EPOLLHUP (%#x)", out[0].events);
	CHECK(read(s, &c, 1) < 0 && errno == ECONNRESET, "peer RST: read ECONNRESET");
	CHECK(read(s, &c, 1) == 0, "then read 0");
	CHECK(epoll_wait(ep, out, 2, 0) == 1 && out[0].events == (EPOLLIN | EPOLLHUP),
	      "then EPOLLIN|EPOLLHUP (%#x)", out[0].events);
	sigpipes = 0;
	CHECK(write(s, "x", 1) < 0 && errno == EPIPE && sigpipes == 1,
	      "then write EPIPE and SIGPIPE");
	close(s);
	close(ep);

	s = tcp_to("RESET\n");
	pf.fd = s;
	pf.events = POLLIN;
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && pf.revents == (POLLIN | POLLERR | POLLHUP),
	      "peer RST: poll IN|ERR|HUP (%#x)", pf.revents);
	sigpipes = 0;
	CHECK(write(s, "x", 1) < 0 && errno == ECONNRESET && sigpipes == 0,
	      "peer RST: write ECONNRESET, no SIGPIPE");
	CHECK(send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "then send EPIPE");
	CHECK(read(s, &c, 1) == 0, "then read 0");
	close(s);

	s = tcp_to("RESET\n");
	pf.revents = 0;
	poll(&pf, 1, WAIT_MS);
	CHECK(get_int_opt(s, SOL_SOCKET, SO_ERROR) == ECONNRESET &&
	      get_int_opt(s, SOL_SOCKET, SO_ERROR) == 0, "peer RST: SO_ERROR once");
	close(s);
}

static void
check_more_waits(void)
{
	int s = tcp_to("ECHO\n"), p[2], ep;
	struct pollfd pf[2];
	struct timespec ts = { 0, NAP_NS };
	struct epoll_event ev, out[4];
	sigset_t mask;
	fd_set rs;
	char c;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	pipe(p);
	pf[0].fd = s;
	pf[0].events = POLLIN;
	pf[1].fd = p[0];
	pf[1].events = POLLIN;
	CHECK(ppoll(pf, 2, &ts, &mask) == 0, "ppoll: nothing ready, times out");
	FD_ZERO(&rs);
	FD_SET(s, &rs);
	FD_SET(p[0], &rs);
	CHECK(pselect((s > p[0] ? s : p[0]) + 1, &rs, NULL, NULL, &ts, &mask) == 0 &&
	      !FD_ISSET(s, &rs) && !FD_ISSET(p[0], &rs), "pselect: times out, sets cleared");
	write(s, "x", 1);
	write(p[1], "y", 1);
	poll(pf, 1, WAIT_MS);
	ts.tv_sec = WAIT_MS / 1000;
	CHECK(ppoll(pf, 2, &ts, &mask) == 2 && (pf[0].revents & POLLIN) &&
	      (pf[1].revents & POLLIN), "ppoll over socket and pipe");
	FD_ZERO(&rs);
	FD_SET(s, &rs);
	FD_SET(p[0], &rs);
	CHECK(pselect((s > p[0] ? s : p[0]) + 1, &rs, NULL, NULL, &ts, &mask) == 2 &&
	      FD_ISSET(s, &rs) && FD_ISSET(p[0], &rs), "pselect over socket and pipe");
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	ev.data.u64 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	CHECK(epoll_pwait(ep, out, 4, WAIT_MS, &mask) == 2 &&
	      out[0].data.u64 + out[1].data.u64 == 3, "epoll_pwait over socket and pipe");
	CHECK(epoll_pwait(ep, out, 1, WAIT_MS, &mask) == 1, "epoll_pwait: maxevents 1");
	read(s, &c, 1);
	read(p[0], &c, 1);
	CHECK(epoll_pwait(ep, out, 4, 100, &mask) == 0, "epoll_pwait: times out");
	close(ep);
	close(p[0]);
	close(p[1]);
	close(s);
}

/*
 * A listening socket on our address for the peer to connect back to: its
 * port in *p (0 when it failed); accept() on it gives up after WAIT_MS.
 */
static int
listen_back(int backlog, int *p)
{
	struct sockaddr_in a = local_sa, got;
	socklen_t len = sizeof(got);
	struct timeval tv = { WAIT_MS / 1000, 0 };
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = 0;
	*p = 0;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, backlog) == 0 &&
	    getsockname(l, (struct sockaddr *)&got, &len) == 0)
		*p = ntohs(got.sin_port);
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* bound */
	return l;
}

/*
 * epoll's ready list: two connections, the peer sends on one and then on
 * the other (at random which first); epoll_wait must report first the one
 * whose data came first, every round. Then: one socket in two sets, each
 * reporting with its own data; a registration survives the close of its
 * fd while a dup keeps the socket open, and ends with the last close.
 */
static void
check_epoll_order(void)
{
	struct epoll_event ev, out[2];
	int lport, l = listen_back(4, &lport), ctl, c[2] = { -1, -1 };
	int ep = epoll_create1(0), ep2, rounds = 0, wrong = 0, s, d;
	char cmd[LINE_MAX_LEN], buf[8];

	CHECK(lport != 0, "order: listen");
	snprintf(cmd, sizeof(cmd), "ORDER %d %d\n", ORDER_ROUNDS, lport);
	ctl = tcp_to(cmd);
	c[0] = accept(l, NULL, NULL);
	c[1] = accept(l, NULL, NULL);
	CHECK(ctl >= 0 && c[0] >= 0 && c[1] >= 0, "order: two connections");
	/* the second joins the set first: interest order is not ready order */
	for (int i = 2; i-- > 0;) {
		ev.events = EPOLLIN;
		ev.data.fd = c[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i], &ev);
	}
	for (; rounds < ORDER_ROUNDS && ctl >= 0 && c[1] >= 0; rounds++) {
		int first = -1, n, seen = 0;
		char firstbyte = 0;

		if (write(ctl, "g", 1) != 1)
			break;
		while (seen < 2 && (n = epoll_wait(ep, out, 2, WAIT_MS)) > 0) {
			for (int i = 0; i < n; i++) {
				char b;

				if (recv(out[i].data.fd, &b, 1, MSG_DONTWAIT) != 1)
					continue;
				if (first < 0) {
					first = out[i].data.fd;
					firstbyte = b;
				}
				seen++;
			}
		}
		if (seen < 2)
			break;
		if (firstbyte != '1')
			wrong++;
		/* nothing left: the next round starts from an empty list */
		if (epoll_wait(ep, out, 2, 0) != 0)
			wrong++;
	}
	CHECK(rounds == ORDER_ROUNDS && wrong == 0,
	      "epoll_wait reports first the connection whose data came first "
	      "(%d rounds of %d, %d wrong)", rounds, ORDER_ROUNDS, wrong);
	close(c[0]);
	close(c[1]);
	close(ctl);
	close(l);
	close(ep);

	/* one socket in two sets */
	s = tcp_to("ECHO\n");
	ep = epoll_create1(0);
	ep2 = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	ev.data.u64 = 2;
	epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ev);
	write_all(s, "x", 1);
	CHECK(epoll_wait(ep, out, 2, WAIT_MS) == 1 && out[0].data.u64 == 1 &&
	      epoll_wait(ep2, out, 2, WAIT_MS) == 1 && out[0].data.u64 == 2,
	      "one socket in two epoll sets: each reports it with its own data");
	read_full(s, buf, 1);
	close(ep2);

	/* dup, then close the registered fd */
	d = dup(s);
	close(s);
	write_all(d, "y", 1);
	CHECK(epoll_wait(ep, out, 2, WAIT_MS) == 1 && out[0].data.u64 == 1,
	      "dup + close of the registered fd: the registration stays");
	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL) < 0 && errno == ENOENT,
	      "... and is not the dup's: EPOLL_CTL_DEL of the dup gives ENOENT");
	close(d);
	CHECK(epoll_wait(ep, out, 2, 0) == 0,
	      "the last close ends it (data was still pending)");
	close(ep);
}

/* listen(fd, 1): more connections than the backlog wait, none is refused. */
static void
check_backlog(void)
{
	int lport, l = listen_back(1, &lport), ctl, c, accepted = 0;
	char cmd[LINE_MAX_LEN], buf[8];

	CHECK(lport != 0, "listen backlog 1");
	snprintf(cmd, sizeof(cmd), "BACKN %d %d\n", BACKLOG_CONNS, lport);
	ctl = tcp_to(cmd);
	for (int i = 0; i < BACKLOG_CONNS; i++) {
		c = accept(l, NULL, NULL);
		if (c < 0)
			break;
		if (read_full(c, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0 &&
		    read(c, buf, 1) == 0)
			accepted++;
		close(c);
	}
	CHECK(accepted == BACKLOG_CONNS, "all %d connections accepted (%d)",
	      BACKLOG_CONNS, accepted);
	CHECK(read_line(ctl, cmd, sizeof(cmd)) > 0 && atoi(cmd) == BACKLOG_CONNS,
	      "none refused: the peer connected %d times (%s)", BACKLOG_CONNS, cmd);
	close(ctl);
	close(l);
}

/* A listener's TCP_INFO: true if the call worked. */
static bool
listener_info(int l, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	return getsockopt(l, IPPROTO_TCP, TCP_INFO, ti, &len) == 0;
}

static int
somaxconn(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
	int v = -1;

	if (f != NULL) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * listen()'s backlog as Linux keeps it: capped at net.core.somaxconn (a
 * negative one as well), set again by a second listen(), and read back
 * from the listener's TCP_INFO: tcpi_sacked is the backlog, tcpi_unacked
 * the connections waiting for accept(). (lwIP keeps its own in a u8_t.)
 */
static void
check_listen_backlog(void)
{
	int p, l = listen_back(511, &p), ctl, c, somax = somaxconn(), n = -1;
	char cmd[LINE_MAX_LEN];
	struct tcp_info ti;

	CHECK(p != 0 && listener_info(l, &ti) && ti.tcpi_state == TCP_LISTEN &&
	      ti.tcpi_sacked == 511 && ti.tcpi_unacked == 0,
	      "listen(511): TCP_INFO gives backlog %u, %u waiting",
	      ti.tcpi_sacked, ti.tcpi_unacked);
	CHECK(listen(l, 1000) == 0 && listener_info(l, &ti) && ti.tcpi_sacked == 1000,
	      "a second listen(1000) sets the backlog to 1000: %u", ti.tcpi_sacked);
	CHECK(somax > 0 && listen(l, 1 << 20) == 0 && listener_info(l, &ti) &&
	      ti.tcpi_sacked == (unsigned int)somax,
	      "listen(1 << 20): capped at somaxconn %d: %u", somax, ti.tcpi_sacked);
	CHECK(listen(l, -1) == 0 && listener_info(l, &ti) &&
	      ti.tcpi_sacked == (unsigned int)somax,
	      "listen(-1): somaxconn %d: %u", somax, ti.tcpi_sacked);
	CHECK(listen(l, 300) == 0 && listener_info(l, &ti) && ti.tcpi_sacked == 300,
	      "listen(300): %u", ti.tcpi_sacked);
	snprintf(cmd, sizeof(cmd), "BACKN %d %d\n", BACKLOG_CONNS, p);
	ctl = tcp_to(cmd);
	CHECK(ctl >= 0 && read_line(ctl, cmd, sizeof(cmd)) > 0 &&
	      atoi(cmd) == BACKLOG_CONNS,
	      "the peer connected %d times (%s)", BACKLOG_CONNS, cmd);
	for (int i = 0; i < WAIT_MS / 10 && n != BACKLOG_CONNS; i++) {
		n = listener_info(l, &ti) ? (int)ti.tcpi_unacked : -1;
		if (n != BACKLOG_CONNS)
			usleep(10000);
	}
	CHECK(n == BACKLOG_CONNS, "TCP_INFO counts %d connections waiting for accept(): %d",
	      BACKLOG_CONNS, n);
	for (int i = 0; i < BACKLOG_CONNS && (c = accept(l, NULL, NULL)) >= 0; i++)
		close(c);
	CHECK(listener_info(l, &ti) && ti.tcpi_unacked == 0,
	      "none waiting once accepted: %u", ti.tcpi_unacked);
	close(ctl);
	close(l);
}

static void
check_udp_more(void)
{
	struct sockaddr_in a = addr_of(&peer_sa, port), from;
	socklen_t fl = sizeof(from);
	int u = socket(AF_INET, SOCK_DGRAM, 0), total = 0, r;
	char buf[64], bufs[4][8];
	struct pollfd pf = { u, POLLIN, 0 };
	struct mmsghdr mm[4];
	struct iovec iov[4];
	struct msghdr m;
	const char *words[3] = { "one", "two", "six" };

	{
		struct sockaddr_in got;
		socklen_t gl = sizeof(got);
		struct sockaddr un = { .sa_family = AF_UNSPEC };
		int v = socket(AF_INET, SOCK_DGRAM, 0);

		/* connect picks the source address and port, as a send
		 * would; the disconnect gives back both (neither was bound) */
		CHECK(connect(v, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		      getsockname(v, (struct sockaddr *)&got, &gl) == 0 &&
		      got.sin_addr.s_addr == local_sa.sin_addr.s_addr && got.sin_port != 0,
		      "UDP connect: getsockname names the source address (%s)",
		      inet_ntoa(got.sin_addr));
		gl = sizeof(got);
		CHECK(connect(v, &un, sizeof(un)) == 0 &&
		      getsockname(v, (struct sockaddr *)&got, &gl) == 0 &&
		      got.sin_addr.s_addr == htonl(INADDR_ANY) && got.sin_port == 0,
		      "UDP connect(AF_UNSPEC): 0.0.0.0:0 again (%s:%u)",
		      inet_ntoa(got.sin_addr), ntohs(got.sin_port));
		close(v);
	}
	connect(u, (struct sockaddr *)&a, sizeof(a));
	send(u, "peek1", 5, 0);
	CHECK(poll(&pf, 1, WAIT_MS) == 1 &&
	      recvfrom(u, buf, sizeof(buf), MSG_PEEK, (struct sockaddr *)&from, &fl) == 5 &&
	      memcmp(buf, "peek1", 5) == 0 && from.sin_port == a.sin_port,
	      "UDP MSG_PEEK: data and source");
	CHECK(recv(u, buf, 2, MSG_PEEK) == 2 && recv(u, buf, sizeof(buf), 0) == 5 &&
	      memcmp(buf, "peek1", 5) == 0, "UDP: the peeked datagram is read whole");
	CHECK(recv(u, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "UDP: then nothing");

	send(u, "truncate-me", 11, 0);
	pf.revents = 0;
	CHECK(poll(&pf, 1, WAIT_MS) == 1 && recv(u, buf, 4, MSG_TRUNC | MSG_PEEK) == 11 &&
	      memcmp(buf, "trun", 4) == 0, "UDP MSG_TRUNC: the real length");
	memset(&m, 0, sizeof(m));
	iov[0].iov_base = buf;
	iov[0].iov_len = 4;
	m.msg_iov = iov;
	m.msg_iovlen = 1;
	CHECK(recvmsg(u, &m, 0) == 4 && (m.msg_flags & MSG_TRUNC),
	      "UDP recvmsg: msg_flags has MSG_TRUNC (%#x)", m.msg_flags);

	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)words[i];
		iov[i].iov_len = 3;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	CHECK(sendmmsg(u, mm, 3, 0) == 3, "sendmmsg of 3: 3");
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < 4; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	while (total < 3) {
		pf.revents = 0;
		if (poll(&pf, 1, WAIT_MS) != 1)
			break;
		r = recvmmsg(u, &mm[total], (unsigned int)(4 - total), MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		total += r;
	}
	CHECK(total == 3 && mm[0].msg_len == 3 && memcmp(bufs[0], "one", 3) == 0 &&
	      memcmp(bufs[2], "six", 3) == 0, "recvmmsg: 3 of 4 slots filled, in order");
	CHECK(recvmmsg(u, mm, 4, MSG_DONTWAIT, NULL) < 0 && errno == EAGAIN,
	      "recvmmsg on empty: EAGAIN");
	{
		/* Linux looks at the timeout after each datagram and writes
		 * back what is left of it (recvmmsg(2), BUGS). */
		struct timespec ts = { 0, 0 };

		for (int i = 0; i < 3; i++)
			send(u, words[i], 3, 0);
		pf.revents = 0;
		poll(&pf, 1, WAIT_MS);
		usleep(50000);	/* all three back */
		r = recvmmsg(u, mm, 4, 0, &ts);
		CHECK(r == 1 && ts.tv_sec == 0 && ts.tv_nsec == 0,
		      "recvmmsg, timeout 0, 3 queued: 1 datagram, timeout left 0 (%d)", r);
		ts = (struct timespec){ 10, 0 };
		r = recvmmsg(u, mm, 2, 0, &ts);
		CHECK(r == 2 && ts.tv_sec < 10 && (ts.tv_sec > 0 || ts.tv_nsec > 0),
		      "recvmmsg, timeout 10 s, 2 queued: both, the time left written back "
		      "(%d, %ld.%09ld)", r, (long)ts.tv_sec, ts.tv_nsec);
		ts = (struct timespec){ 0, 1000000000 };
		CHECK(recvmmsg(u, mm, 2, MSG_DONTWAIT, &ts) < 0 && errno == EINVAL,
		      "recvmmsg, tv_nsec of 1e9: EINVAL");
		ts = (struct timespec){ -1, 0 };
		CHECK(recvmmsg(u, mm, 2, MSG_DONTWAIT, &ts) < 0 && errno == EINVAL,
		      "recvmmsg, negative timeout: EINVAL");
	}
	close(u);
}

static int
test_main(const char *peer, int p, const char *local, const char *peer6)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
	port = p;
	peer_sa.sin_family = AF_INET;
	local_sa.sin_family = AF_INET;
	if (peer6 != NULL) {
		peer6_sa.sin6_family = AF_INET6;
		have6 = inet_pton(AF_INET6, peer6, &peer6_sa.sin6_addr) == 1;
	}
	if (inet_pton(AF_INET, peer, &peer_sa.sin_addr) != 1 ||
	    inet_pton(AF_INET, local, &local_sa.sin_addr) != 1) {
		fprintf(stderr, "bad address\n");
		return 2;
	}
	check_socket_flags();
	check_bind();
	check_listen_accept();
	check_echo();
	check_connect_errors();
	check_timeouts();
	check_bulk();
	check_multiplex();
	check_epoll_close_while_waiting();
	check_dup();
	check_udp();
	check_loopback();
	check_more_calls();
	check_threads();
	check_cancel();
	check_sockopts();
	check_sockopts_connected();
	check_sockopts_levels();
	check_sockopts_tcp_info();
	check_rcvlowat();
	check_user_timeout();
	check_oob_errqueue();
	check_bindtodevice();
	check_defer_accept();
	check_fastopen();
	check_msg_fastopen();
	check_fastopen_connect();
	check_udp_cork();
	check_cork();
	check_closed_both_ways();
	check_fd_calls();
	check_shutdown();
	check_zero_length();
	check_bad_pointers();
	check_signals();
	check_peer_gone();
	check_more_waits();
	check_backlog();
	check_listen_backlog();
	check_epoll_order();
	check_udp_more();
	check_icmp_errors();
	if (have6) {
		check_ipv6();
		check_icmp_errors6();
		check_pmtudisc();
	}
	printf("%d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "peer") == 0)
		return peer_main(atoi(argv[2]));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "test") == 0)
		return test_main(argv[2], atoi(argv[3]), argv[4],
				 argc == 6 ? argv[5] : NULL);
	fprintf(stderr, "usage: %s peer PORT | test PEER_IP PORT LOCAL_IP [PEER_IP6]\n",
		argv[0]);
	return 2;
}
