/*
 * kernel_echo: TCP and UDP echo on the kernel stack, the baseline that
 * zpnet-stackdemo is compared with. One process per TCP connection,
 * blocking read/write; UDP served by the parent.
 *
 * usage: kernel_echo PORT SECONDS    (prints "ready" when listening)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ECHO_BUF	(256 * 1024)
#define POLL_MS		100

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

int
main(int argc, char **argv)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	int one = 1, zero = 0;
	int l, u;
	time_t end;

	if (argc != 3) {
		fprintf(stderr, "usage: kernel_echo PORT SECONDS\n");
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
	while (time(NULL) < end) {
		struct pollfd p[2] = { { l, POLLIN, 0 }, { u, POLLIN, 0 } };

		if (poll(p, 2, POLL_MS) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int c = accept(l, NULL, NULL);

			if (c >= 0) {
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				if (fork() == 0)
					serve_tcp(c);
				close(c);
			}
		}
		if (p[1].revents & POLLIN) {
			char buf[2048];
			struct sockaddr_in6 from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(u, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl);

			if (n >= 0)
				sendto(u, buf, n, 0, (struct sockaddr *)&from, fl);
		}
	}
	return 0;
}
