/*
 * connhold: open many TCP connections to one server and hold them.
 *
 * usage: connhold ADDR PORT COUNT SRC[,SRC...] [-p EVERY] [-t SECONDS]
 *
 * Connects COUNT times to ADDR:PORT (IPv4), from the source addresses in
 * turn with explicit source ports (20,000-59,999 on each: more than one
 * address is needed past 40,000), at most 256 handshakes in flight.
 * Then, with -p, sends "PING\r\n" on every EVERY-th connection and
 * requires Redis's "+PONG\r\n" or an echo of it on each. Prints "held N" when all are up and checked,
 * then holds them until stdin closes (or SECONDS, default 600, pass) and
 * closes them all. Exits 1 if a connection fails or a PING goes
 * unanswered, printing how many were up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORT_FIRST	20000
#define PORT_LAST	59999
#define IN_FLIGHT_MAX	256	/* below the backlog of most servers */
#define SRC_MAX		16
#define STEP_MS		60000	/* no handshake or PING done for this long: fail */
#define FD_SLACK	64

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: connhold ADDR PORT COUNT SRC[,SRC...] [-p EVERY] [-t SECONDS]\n");
	exit(2);
}

static int
open_one(const struct sockaddr_in *dst, struct in_addr src, int sport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr = src,
				 .sin_port = htons((uint16_t)sport) };
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (connect(s, (const struct sockaddr *)dst, sizeof(*dst)) < 0 &&
	     errno != EINPROGRESS)) {
		close(s);
		return -1;
	}
	return s;
}

/* PING on s, +PONG (Redis) or PING (an echo) back within STEP_MS; on
 * failure, what came back (or the error) is said on stderr. */
static bool
ping(int s, long i)
{
	char buf[16];
	size_t got = 0;
	struct pollfd pf = { s, POLLIN, 0 };

	if (write(s, "PING\r\n", 6) != 6) {
		fprintf(stderr, "connhold: connection %ld: write: %s\n", i, strerror(errno));
		return false;
	}
	while (poll(&pf, 1, STEP_MS) == 1) {
		ssize_t r = read(s, buf + got, sizeof(buf) - 1 - got);

		if (r <= 0) {
			fprintf(stderr, "connhold: connection %ld: read: %s\n", i,
				r == 0 ? "end of file" : strerror(errno));
			return false;
		}
		got += (size_t)r;
		if (got == 6 && memcmp(buf, "PING\r\n", 6) == 0)
			return true;
		if (got == 7 && memcmp(buf, "+PONG\r\n", 7) == 0)
			return true;
		if (got >= 7) {
			buf[got] = '\0';
			fprintf(stderr, "connhold: connection %ld: got \"%.*s\"\n", i,
				(int)strcspn(buf, "\r\n"), buf);
			return false;
		}
	}
	fprintf(stderr, "connhold: connection %ld: nothing back in %d ms\n", i, STEP_MS);
	return false;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct in_addr src[SRC_MAX];
	int nsrc = 0, every = 0, hold_s = 600, opt, ep, *fds;
	long count;
	long opened = 0, up = 0, in_flight = 0;
	struct rlimit rl;
	double t0;
	char *list, *tok;

	while ((opt = getopt(argc, argv, "p:t:")) != -1) {
		if (opt == 'p')
			every = atoi(optarg);
		else if (opt == 't')
			hold_s = atoi(optarg);
		else
			usage();
	}
	if (argc - optind != 4)
		usage();
	if (inet_pton(AF_INET, argv[optind], &dst.sin_addr) != 1)
		usage();
	dst.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
	count = atol(argv[optind + 2]);
	list = argv[optind + 3];
	for (tok = strtok(list, ","); tok != NULL && nsrc < SRC_MAX; tok = strtok(NULL, ","))
		if (inet_pton(AF_INET, tok, &src[nsrc++]) != 1)
			usage();
	if (count <= 0 || nsrc == 0 ||
	    count > (long)nsrc * (PORT_LAST - PORT_FIRST + 1)) {
		fprintf(stderr, "connhold: %ld connections need %ld source addresses\n",
			count, count / (PORT_LAST - PORT_FIRST + 1) + 1);
		return 2;
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)count + FD_SLACK;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("connhold: RLIMIT_NOFILE");
		return 2;
	}
	fds = calloc((size_t)count, sizeof(*fds));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (fds == NULL || ep < 0)
		return 2;

	t0 = now_s();
	while (up < count) {
		struct epoll_event ev[256];
		int n;

		while (opened < count && in_flight < IN_FLIGHT_MAX) {
			int s = open_one(&dst, src[opened % nsrc],
					 PORT_FIRST + (int)(opened / nsrc));
			struct epoll_event e = { .events = EPOLLOUT, .data.u64 = (uint64_t)opened };

			if (s < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &e) < 0) {
				fprintf(stderr, "connhold: connection %ld: %s (%ld up)\n",
					opened, strerror(errno), up);
				return 1;
			}
			fds[opened++] = s;
			in_flight++;
		}
		n = epoll_wait(ep, ev, 256, STEP_MS);
		if (n <= 0) {
			fprintf(stderr, "connhold: no handshake finished in %d ms (%ld up, %ld in flight)\n",
				STEP_MS, up, in_flight);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int s = fds[ev[i].data.u64], err = 0;
			socklen_t len = sizeof(err);

			getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err != 0) {
				fprintf(stderr, "connhold: connection %lu: %s (%ld up)\n",
					(unsigned long)ev[i].data.u64, strerror(err), up);
				return 1;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
			in_flight--;
			up++;
		}
	}
	printf("connected %ld in %.2f s\n", up, now_s() - t0);
	if (every > 0) {
		long pinged = 0;

		for (long i = 0; i < count; i += every, pinged++) {
			if (!ping(fds[i], i))
				return 1;
		}
		printf("PONG on %ld of them\n", pinged);
	}
	printf("held %ld\n", up);
	fflush(stdout);
	{
		struct pollfd pf = { STDIN_FILENO, POLLIN, 0 };
		char c;

		/* until stdin closes or the time is up */
		while (poll(&pf, 1, hold_s * 1000) == 1 && read(STDIN_FILENO, &c, 1) > 0)
			;
	}
	for (long i = 0; i < count; i++)
		close(fds[i]);
	return 0;
}
