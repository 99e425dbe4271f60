/*
 * echo_rr: request/response latency against a TCP echo server.
 *
 * One connection with TCP_NODELAY. Each iteration sends SIZE bytes (a
 * pattern that changes every iteration), reads until exactly SIZE bytes
 * have come back, checks them against what was sent, and records the
 * round trip (CLOCK_MONOTONIC); while a large request waits for socket
 * space, the echo already coming back is read. Warm-up iterations are not
 * recorded; the run stops after COUNT recorded iterations or SECONDS,
 * whichever is first.
 *
 * With -g GAP each recorded round trip starts GAP microseconds after the
 * last one ended (a sleep, so an idle server has gone idle): the latency
 * a server's first request after a quiet spell sees.
 *
 * With -p the connection keeps Nagle on and each request is written in two
 * halves: a client that writes twice, then reads. Against kernel_echo -m
 * SIZE (which answers whole requests only) the second half leaves only
 * once the first is acknowledged, so a server that delays that ACK costs
 * the client its delay.
 *
 * Prints one line to stdout:
 *   size=64 count=N p50_us=.. p90_us=.. p99_us=.. p999_us=.. min_us=.. \
 *   max_us=.. mean_us=..
 * Percentiles are nearest-rank over the sorted samples.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L	/* getaddrinfo, clock_gettime under -std=c11 */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RR_SIZE_DEFAULT		64
#define RR_SIZE_MAX		(1024 * 1024)
#define RR_COUNT_DEFAULT	100000
#define RR_COUNT_MAX		100000000
#define RR_WARMUP_DEFAULT	1000
#define RR_SECONDS_DEFAULT	30
#define RR_SECONDS_MAX		86400
#define RR_GAP_MAX		60000000	/* us */
#define NS_PER_SEC		1000000000LL
#define NS_PER_US		1000.0
#define MS_PER_SEC		1000
#define PERMILLE		1000

struct rr_opts {
	size_t size;
	long count;
	long warmup;
	long seconds;
	long gap_us;
	bool split;
	const char *host;
	const char *port;
};

static void
rr_usage(FILE *f)
{
	fprintf(f,
		"usage: echo_rr [-p] [-s SIZE] [-n COUNT] [-w WARMUP] [-g GAP] [-t SECONDS] HOST PORT\n"
		"  -p          Nagle on, each request written in two halves (SIZE >= 2)\n"
		"  -s SIZE     bytes per request, 1..%d (default %d)\n"
		"  -n COUNT    recorded round trips (default %d)\n"
		"  -w WARMUP   unrecorded round trips first (default %d)\n"
		"  -g GAP      microseconds of sleep before each recorded round trip (default 0)\n"
		"  -t SECONDS  stop after this long, warm-up included (default %d)\n"
		"Prints: size= count= p50_us= p90_us= p99_us= p999_us= min_us= max_us= mean_us=\n",
		RR_SIZE_MAX, RR_SIZE_DEFAULT, RR_COUNT_DEFAULT,
		RR_WARMUP_DEFAULT, RR_SECONDS_DEFAULT);
}

/* Parse a decimal in [lo, hi]; -1 and a message on anything else. */
static int
rr_parse_long(const char *what, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "echo_rr: %s '%s': want an integer in %ld..%ld\n",
			what, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int
rr_parse_args(int argc, char **argv, struct rr_opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	o->size = RR_SIZE_DEFAULT;
	o->count = RR_COUNT_DEFAULT;
	o->warmup = RR_WARMUP_DEFAULT;
	o->seconds = RR_SECONDS_DEFAULT;
	o->gap_us = 0;
	o->split = false;
	while ((c = getopt_long(argc, argv, "ps:n:w:g:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->split = true;
			break;
		case 's':
			if (rr_parse_long("SIZE", optarg, 1, RR_SIZE_MAX, &v) < 0)
				return -1;
			o->size = (size_t)v;
			break;
		case 'n':
			if (rr_parse_long("COUNT", optarg, 1, RR_COUNT_MAX, &v) < 0)
				return -1;
			o->count = v;
			break;
		case 'w':
			if (rr_parse_long("WARMUP", optarg, 0, RR_COUNT_MAX, &v) < 0)
				return -1;
			o->warmup = v;
			break;
		case 'g':
			if (rr_parse_long("GAP", optarg, 0, RR_GAP_MAX, &v) < 0)
				return -1;
			o->gap_us = v;
			break;
		case 't':
			if (rr_parse_long("SECONDS", optarg, 1, RR_SECONDS_MAX, &v) < 0)
				return -1;
			o->seconds = v;
			break;
		case 'h':
			rr_usage(stdout);
			exit(0);
		default:
			rr_usage(stderr);
			return -1;
		}
	}
	if (argc - optind != 2 || (o->split && o->size < 2)) {
		rr_usage(stderr);
		return -1;
	}
	o->host = argv[optind];
	o->port = argv[optind + 1];
	return 0;
}

static int64_t
rr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void
rr_sleep_us(long us)
{
	struct timespec ts = {
		.tv_sec = us / 1000000,
		.tv_nsec = (us % 1000000) * 1000,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/*
 * A server that never answers must not hang us past the time limit: a
 * blocking recv gives up after SECONDS (sends wait in poll, bounded too).
 */
static int
rr_set_timeouts(int fd, long seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, "echo_rr: SO_RCVTIMEO: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Connect to the first address of HOST:PORT that accepts; fd or -1. */
static int
rr_connect(const char *host, const char *port, long seconds, bool nodelay)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res, *ai;
	int one = 1;
	int fd = -1, err, saved = 0;

	err = getaddrinfo(host, port, &hints, &res);
	if (err != 0) {
		fprintf(stderr, "echo_rr: %s port %s: %s\n", host, port,
			gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "echo_rr: connect %s port %s: %s\n", host, port,
			strerror(saved));
		return -1;
	}
	if (nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		fprintf(stderr, "echo_rr: TCP_NODELAY: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	if (rr_set_timeouts(fd, seconds) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Send TX[from..to). When the socket is full, read the echo already on its
 * way into RX (*got of len bytes so far) while waiting: a blocking echo
 * server writing back a large request would otherwise never read the rest
 * of it.
 */
static int
rr_send_all(int fd, const unsigned char *tx, unsigned char *rx, size_t len,
	    size_t from, size_t to, size_t *got, int timeout_ms)
{
	size_t sent = from;

	while (sent < to) {
		struct pollfd p = { .fd = fd, .events = POLLOUT | POLLIN };
		ssize_t n = send(fd, tx + sent, to - sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n >= 0) {
			sent += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			fprintf(stderr, "echo_rr: send: %s\n", strerror(errno));
			return -1;
		}
		n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "echo_rr: send: %s\n",
				n == 0 ? "server not reading (timed out)" :
					 strerror(errno));
			return -1;
		}
		if (!(p.revents & (POLLIN | POLLERR | POLLHUP)) || *got == len)
			continue;
		n = recv(fd, rx + *got, len - *got, MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
		} else if (n == 0) {
			fprintf(stderr,
				"echo_rr: server closed the connection after %zu of %zu bytes\n",
				*got, len);
			return -1;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			   errno != EINTR) {
			fprintf(stderr, "echo_rr: recv: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
rr_recv_all(int fd, unsigned char *buf, size_t len, size_t got)
{
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				fprintf(stderr,
					"echo_rr: recv: timed out with %zu of %zu bytes back\n",
					got, len);
			else
				fprintf(stderr, "echo_rr: recv: %s\n", strerror(errno));
			return -1;
		}
		if (n == 0) {
			fprintf(stderr,
				"echo_rr: server closed the connection after %zu of %zu bytes\n",
				got, len);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Bytes depend on the iteration and the offset, so stale data is caught. */
static void
rr_fill(unsigned char *buf, size_t len, uint64_t iter)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(iter * 131 + i * 7 + (i >> 8));
}

/* One round trip; its duration in ns, or -1. */
static int64_t
rr_round_trip(int fd, unsigned char *tx, unsigned char *rx, size_t len,
	      bool split, uint64_t iter, int timeout_ms)
{
	size_t got = 0, half = split ? len / 2 : len;
	int64_t t0, t1;

	rr_fill(tx, len, iter);
	t0 = rr_now_ns();
	if (rr_send_all(fd, tx, rx, len, 0, half, &got, timeout_ms) < 0 ||
	    rr_send_all(fd, tx, rx, len, half, len, &got, timeout_ms) < 0 ||
	    rr_recv_all(fd, rx, len, got) < 0)
		return -1;
	t1 = rr_now_ns();
	if (memcmp(tx, rx, len) != 0) {
		size_t i = 0;

		while (tx[i] == rx[i])
			i++;
		fprintf(stderr,
			"echo_rr: reply %" PRIu64 " differs at byte %zu: sent 0x%02x got 0x%02x\n",
			iter, i, tx[i], rx[i]);
		return -1;
	}
	return t1 - t0;
}

static int
rr_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Nearest rank: the smallest sample with at least PERMILLE/1000 of the
 * samples <= it, i.e. rank ceil(n * permille / 1000), computed exactly.
 */
static double
rr_pct_us(const int64_t *s, size_t n, unsigned int permille)
{
	size_t rank = (n * permille + PERMILLE - 1) / PERMILLE;

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)s[rank - 1] / NS_PER_US;
}

static void
rr_report(size_t size, int64_t *s, size_t n)
{
	double sum = 0;

	qsort(s, n, sizeof(*s), rr_cmp_i64);
	for (size_t i = 0; i < n; i++)
		sum += (double)s[i];
	printf("size=%zu count=%zu p50_us=%.2f p90_us=%.2f p99_us=%.2f "
	       "p999_us=%.2f min_us=%.2f max_us=%.2f mean_us=%.2f\n",
	       size, n, rr_pct_us(s, n, 500), rr_pct_us(s, n, 900),
	       rr_pct_us(s, n, 990), rr_pct_us(s, n, 999),
	       (double)s[0] / NS_PER_US, (double)s[n - 1] / NS_PER_US,
	       sum / (double)n / NS_PER_US);
}

int
main(int argc, char **argv)
{
	struct rr_opts o;
	unsigned char *tx, *rx;
	int64_t *samples, deadline, rtt;
	uint64_t iter = 0;
	size_t n = 0;
	int fd, rc = 1, timeout_ms;

	if (rr_parse_args(argc, argv, &o) < 0)
		return 2;
	timeout_ms = (int)(o.seconds * MS_PER_SEC);
	tx = malloc(o.size);
	rx = malloc(o.size);
	samples = malloc((size_t)o.count * sizeof(*samples));
	if (tx == NULL || rx == NULL || samples == NULL) {
		fprintf(stderr, "echo_rr: out of memory for %ld samples\n", o.count);
		goto out;
	}
	fd = rr_connect(o.host, o.port, o.seconds, !o.split);
	if (fd < 0)
		goto out;
	deadline = rr_now_ns() + o.seconds * NS_PER_SEC;
	for (long i = 0; i < o.warmup && rr_now_ns() < deadline; i++) {
		if (rr_round_trip(fd, tx, rx, o.size, o.split, iter++, timeout_ms) < 0)
			goto out_close;
	}
	while (n < (size_t)o.count && rr_now_ns() < deadline) {
		if (o.gap_us > 0)
			rr_sleep_us(o.gap_us);
		rtt = rr_round_trip(fd, tx, rx, o.size, o.split, iter++, timeout_ms);
		if (rtt < 0)
			goto out_close;
		samples[n++] = rtt;
	}
	if (n == 0) {
		fprintf(stderr, "echo_rr: no samples in %ld s (warm-up took it all)\n",
			o.seconds);
		goto out_close;
	}
	if (n < (size_t)o.count)
		fprintf(stderr, "echo_rr: time limit %ld s: %zu of %ld samples\n",
			o.seconds, n, o.count);
	rr_report(o.size, samples, n);
	rc = 0;
out_close:
	close(fd);
out:
	free(samples);
	free(rx);
	free(tx);
	return rc;
}
