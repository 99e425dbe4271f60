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
 * usage: kernel_echo [-1] PORT SECONDS    (prints "ready" when listening)
 */
#include <errno.h>
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

/* -1 mode: echo what is ready on FD; 0, or -1 once it should be closed. */
static int
echo_once(int fd)
{
	static char buf[ECHO_BUF];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);

		if (w <= 0)
			return -1;
		off += w;
	}
	return 0;
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
	int one = 1, zero = 0;
	int single = 0, nconn = 0;
	int l, u;
	time_t end;

	if (argc == 4 && strcmp(argv[1], "-1") == 0) {
		single = 1;
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: kernel_echo [-1] PORT SECONDS\n");
		return 2;
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
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				if (single && nconn < MAX_CONNS) {
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
			if (p[i].revents == 0 || echo_once(p[i].fd) == 0)
				continue;
			close(p[i].fd);
			p[i] = p[PFD_CONN0 + --nconn];
			i--;
		}
	}
	return 0;
}
