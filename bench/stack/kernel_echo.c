/*
 * kernel_echo: TCP and UDP echo on the kernel stack, the baseline that
 * zpnet-stackdemo is compared with. One process per TCP connection,
 * blocking read/write; UDP served by the parent.
 *
 * With -1 every TCP connection is served by the one process from its poll
 * loop instead. Use it under zpnet: a forked zpnet child cannot use the
 * stack sockets it inherits (they look closed to it), so the default
 * fork-per-connection server echoes nothing there.
 *
 * With -m SIZE (implies -1) a connection answers only whole messages: it
 * echoes SIZE bytes once SIZE bytes have come, as a server that reads a
 * request to its end before it replies (Redis, HTTP) does.
 *
 * With -N the connections keep Nagle on (no TCP_NODELAY), as a server
 * that never sets it (Python's socketserver, many small daemons) does.
 *
 * usage: kernel_echo [-1] [-m SIZE] [-N] PORT SECONDS
 *	(prints "ready" when listening)
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ECHO_BUF	(256 * 1024)
#define POLL_MS		100
#define MAX_CONNS	256	/* -1 mode: connections served at once */
#define MSG_MAX		ECHO_BUF	/* -m */

/* -1 mode: one connection, and with -m what it has of a message. */
struct conn {
	char *msg;
	size_t have;
};

enum { PFD_TCP, PFD_UDP, PFD_CONN0 };	/* slots of the poll set */

static void
serve_tcp(int fd)
{
	static char buf[ECHO_BUF];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);

			if (w <= 0)
				_exit(1);
			off += w;
		}
	}
	_exit(0);
}

static int
write_all(int fd, const char *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);

		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* -1 mode: echo what is ready on FD (msg > 0: whole messages of msg
 * bytes); 0, or -1 once it should be closed. */
static int
echo_once(int fd, struct conn *c, size_t msg)
{
	static char buf[ECHO_BUF];
	ssize_t n;

	if (msg == 0) {
		n = read(fd, buf, sizeof(buf));
		return n <= 0 ? -1 : write_all(fd, buf, (size_t)n);
	}
	n = read(fd, c->msg + c->have, msg - c->have);
	if (n <= 0)
		return -1;
	c->have += (size_t)n;
	if (c->have < msg)
		return 0;
	c->have = 0;
	return write_all(fd, c->msg, msg);
}

static void
echo_udp(int u)
{
	char buf[2048];
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(u, buf, sizeof(buf), 0,
			     (struct sockaddr *)&from, &fl);

	if (n >= 0)
		sendto(u, buf, n, 0, (struct sockaddr *)&from, fl);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	struct pollfd p[PFD_CONN0 + MAX_CONNS];
	static struct conn conns[MAX_CONNS];
	int one = 1, zero = 0;
	int single = 0, nconn = 0, opt, nagle = 0;
	size_t msg = 0;
	int l, u;
	time_t end;

	while ((opt = getopt(argc, argv, "1m:N")) != -1) {
		switch (opt) {
		case '1':
			single = 1;
			break;
		case 'N':
			nagle = 1;
			break;
		case 'm':
			msg = strtoul(optarg, NULL, 10);
			if (msg == 0 || msg > MSG_MAX) {
				fprintf(stderr, "kernel_echo: -m takes 1..%d\n", MSG_MAX);
				return 2;
			}
			single = 1;
			break;
		default:
			argc = 0;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: kernel_echo [-1] [-m SIZE] [-N] PORT SECONDS\n");
		return 2;
	}
	argv += optind - 1;
	for (int i = 0; msg > 0 && i < MAX_CONNS; i++) {
		conns[i].msg = malloc(msg);
		if (conns[i].msg == NULL)
			return 1;
	}
	sa.sin6_port = htons((uint16_t)atoi(argv[1]));
	end = time(NULL) + atoi(argv[2]);
	signal(SIGCHLD, SIG_IGN);
	l = socket(AF_INET6, SOCK_STREAM, 0);
	u = socket(AF_INET6, SOCK_DGRAM, 0);
	if (l < 0 || u < 0)
		return 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    bind(u, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 128) < 0) {
		perror("kernel_echo");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	p[PFD_TCP] = (struct pollfd){ l, POLLIN, 0 };
	p[PFD_UDP] = (struct pollfd){ u, POLLIN, 0 };
	while (time(NULL) < end) {
		if (poll(p, PFD_CONN0 + nconn, POLL_MS) <= 0)
			continue;
		if (p[PFD_TCP].revents & POLLIN) {
			int c = accept(l, NULL, NULL);

			if (c >= 0) {
				if (!nagle)
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				if (single && nconn < MAX_CONNS) {
					conns[nconn].have = 0;
					p[PFD_CONN0 + nconn++] =
						(struct pollfd){ c, POLLIN, 0 };
				} else {
					/* -1 and full: refused by closing. */
					if (!single && fork() == 0)
						serve_tcp(c);
					close(c);
				}
			}
		}
		if (p[PFD_UDP].revents & POLLIN)
			echo_udp(u);
		for (int i = PFD_CONN0; i < PFD_CONN0 + nconn; i++) {
			struct conn *c = &conns[i - PFD_CONN0], t;

			if (p[i].revents == 0 || echo_once(p[i].fd, c, msg) == 0)
				continue;
			close(p[i].fd);
			p[i] = p[PFD_CONN0 + --nconn];
			t = *c;		/* the last one's state moves with it */
			*c = conns[nconn];
			conns[nconn] = t;
			i--;
		}
	}
	return 0;
}
