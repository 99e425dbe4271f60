/*
 * callbench.c - what the common socket calls cost, one at a time: the same
 * program on the kernel's sockets and (under `zpnet run`) on the stack's,
 * for bench/calls.
 *
 * usage: callbench [-n CALLS] [-r ROUNDS] [-t ROW] HOST PORT
 *
 * HOST:PORT is bench/calls's peer (callpeer.py): a connection that starts
 * with "sink\n" is read and dropped, one that starts with "source\n" gets
 * N bytes for every "more N\n" it sends. Rows, each the median over
 * ROUNDS of the mean over CALLS calls (batches where the call needs data
 * or room: only the calls are timed, not the waits between batches):
 *   recv, empty (EAGAIN)   recv(MSG_DONTWAIT) on a connection with nothing
 *   recv 64 B              recv of 64 B with 32 KiB already buffered
 *   send 64 B              send of 64 B with room in the send buffer (Nagle:
 *                          the small sends coalesce)
 *   send 64 B, TCP_NODELAY the same, each send its own segment
 *   epoll_wait, 1 ready    epoll_wait(timeout 0), one LT socket readable
 *   getsockopt SO_RCVBUF   on a connected TCP socket
 *   poll, 1 ready          poll(timeout 0) of one readable socket
 * -t ROW runs only the rows whose names start with ROW (to profile one).
 * Prints "ROW<TAB>NS" lines, then "ok".
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CB_MSG		64
#define CB_BATCH	32768		/* bytes buffered per recv/send batch */
#define CB_ROUNDS_MAX	64
#define CB_WAIT_MS	5000

static long calls = 100000;
static int rounds = 5;
static const char *only;	/* -t: rows starting with this */

static int
want(const char *row)
{
	return only == NULL || strncmp(row, only, strlen(only)) == 0;
}

static void
die(const char *what)
{
	fprintf(stderr, "callbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* nodelay: TCP_NODELAY (else Nagle: small sends coalesce into segments) */
static int
dial(const char *host, const char *port, const char *hello, int nodelay)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM }, *ai;
	int fd, one = 1, sndbuf = 1 << 20;

	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		fprintf(stderr, "callbench: cannot resolve %s:%s\n", host, port);
		exit(1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		die("connect");
	freeaddrinfo(ai);
	if (nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* room for a batch of small sends (the kernel counts each one's skb) */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (send(fd, hello, strlen(hello), 0) != (ssize_t)strlen(hello))
		die("send hello");
	return fd;
}

/* until want bytes are buffered to read on fd */
static void
wait_buffered(int fd, size_t want)
{
	static char peek[CB_BATCH];
	uint64_t t0 = now_ns();

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n = recv(fd, peek, want, MSG_PEEK | MSG_DONTWAIT);

		if (n == (ssize_t)want)
			return;
		if (n == 0)
			die("the peer closed");
		if (now_ns() - t0 > (uint64_t)CB_WAIT_MS * 1000000) {
			errno = ETIMEDOUT;
			die("waiting for the peer's data");
		}
		poll(&p, 1, 10);
		if (n > 0)
			usleep(100);
	}
}

/* until everything sent on fd has been acknowledged (the queue is empty) */
static void
wait_room(int fd)
{
	struct pollfd p = { fd, POLLOUT, 0 };

	if (poll(&p, 1, CB_WAIT_MS) != 1)
		die("waiting for room to send");
	usleep(2000);	/* the peer's ACKs for the last batch */
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *row, uint64_t *ns, int n)
{
	qsort(ns, (size_t)n, sizeof(ns[0]), cmp_u64);
	printf("%s\t%.1f\n", row, (double)ns[n / 2] / (double)calls);
	fflush(stdout);
}

/* batches of 64-B sends on fd, each into an empty send queue */
static void
send_rows(int fd, const char *row, uint64_t *ns)
{
	static char buf[CB_MSG];
	long i, done;
	int r;

	for (r = 0; r < rounds; r++) {
		ns[r] = 0;
		for (done = 0; done < calls; ) {
			long batch = CB_BATCH / CB_MSG / 4;
			uint64_t t0;

			wait_room(fd);
			if (batch > calls - done)
				batch = calls - done;
			t0 = now_ns();
			for (i = 0; i < batch; i++)
				if (send(fd, buf, CB_MSG, MSG_DONTWAIT) != CB_MSG)
					die(row);
			ns[r] += now_ns() - t0;
			done += batch;
		}
	}
	report(row, ns, rounds);
}

int
main(int argc, char **argv)
{
	char buf[CB_BATCH], cmd[32];
	uint64_t ns[CB_ROUNDS_MAX];
	struct epoll_event ev = { .events = EPOLLIN }, out[8];
	int sink, sink_nd, src, ep, opt, r, v;
	socklen_t len;
	long i, done;

	while ((opt = getopt(argc, argv, "n:r:t:")) != -1) {
		if (opt == 'n')
			calls = strtol(optarg, NULL, 10);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 't')
			only = optarg;
		else
			goto usage;
	}
	if (argc - optind != 2 || calls <= 0 || rounds <= 0 ||
	    rounds > CB_ROUNDS_MAX)
		goto usage;
	memset(buf, 'x', sizeof(buf));
	sink = dial(argv[optind], argv[optind + 1], "sink\n", 0);
	sink_nd = dial(argv[optind], argv[optind + 1], "sink\n", 1);
	src = dial(argv[optind], argv[optind + 1], "source\n", 1);

	for (r = 0; r < rounds && want("recv, empty (EAGAIN)"); r++) {
		uint64_t t0 = now_ns();

		for (i = 0; i < calls; i++)
			if (recv(sink, buf, CB_MSG, MSG_DONTWAIT) != -1 ||
			    errno != EAGAIN)
				die("recv on an empty socket");
		ns[r] = now_ns() - t0;
	}
	if (want("recv, empty (EAGAIN)"))
		report("recv, empty (EAGAIN)", ns, rounds);

	for (r = 0; r < rounds && want("recv 64 B"); r++) {
		ns[r] = 0;
		for (done = 0; done < calls; ) {
			long batch = CB_BATCH / CB_MSG;
			uint64_t t0;

			snprintf(cmd, sizeof(cmd), "more %d\n", CB_BATCH);
			if (send(src, cmd, strlen(cmd), 0) < 0)
				die("send more");
			wait_buffered(src, CB_BATCH);
			if (batch > calls - done)
				batch = calls - done;
			t0 = now_ns();
			for (i = 0; i < batch; i++)
				if (recv(src, buf, CB_MSG, 0) != CB_MSG)
					die("recv 64 B");
			ns[r] += now_ns() - t0;
			done += batch;
			/* what the last batch left */
			while (recv(src, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				;
		}
	}
	if (want("recv 64 B"))
		report("recv 64 B", ns, rounds);

	if (want("send 64 B"))
		send_rows(sink, "send 64 B", ns);
	if (want("send 64 B, TCP_NODELAY"))
		send_rows(sink_nd, "send 64 B, TCP_NODELAY", ns);

	/* one readable socket: 64 B left in it */
	snprintf(cmd, sizeof(cmd), "more %d\n", CB_MSG);
	if (send(src, cmd, strlen(cmd), 0) < 0)
		die("send more");
	wait_buffered(src, CB_MSG);
	ep = epoll_create1(0);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, src, &ev) != 0)
		die("epoll");
	for (r = 0; r < rounds && want("epoll_wait, 1 ready"); r++) {
		uint64_t t0 = now_ns();

		for (i = 0; i < calls; i++)
			if (epoll_wait(ep, out, 8, 0) != 1)
				die("epoll_wait");
		ns[r] = now_ns() - t0;
	}
	if (want("epoll_wait, 1 ready"))
		report("epoll_wait, 1 ready", ns, rounds);

	for (r = 0; r < rounds && want("getsockopt SO_RCVBUF"); r++) {
		uint64_t t0 = now_ns();

		for (i = 0; i < calls; i++) {
			len = sizeof(v);
			if (getsockopt(src, SOL_SOCKET, SO_RCVBUF, &v, &len) != 0)
				die("getsockopt");
		}
		ns[r] = now_ns() - t0;
	}
	if (want("getsockopt SO_RCVBUF"))
		report("getsockopt SO_RCVBUF", ns, rounds);

	for (r = 0; r < rounds && want("poll, 1 ready"); r++) {
		struct pollfd p = { src, POLLIN, 0 };
		uint64_t t0 = now_ns();

		for (i = 0; i < calls; i++)
			if (poll(&p, 1, 0) != 1)
				die("poll");
		ns[r] = now_ns() - t0;
	}
	if (want("poll, 1 ready"))
		report("poll, 1 ready", ns, rounds);
	printf("ok\n");
	return 0;
usage:
	fprintf(stderr, "usage: callbench [-n CALLS] [-r ROUNDS] [-t ROW] HOST PORT\n");
	return 2;
}
