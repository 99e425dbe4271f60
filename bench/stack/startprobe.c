/*
 * startprobe: start-up time of a server, from exec to its first request
 * served over the network.
 *
 * t0 is taken just before fork. The child makes its own session (so the
 * whole server, helpers included, is one process group), sends its stdout
 * to our stderr (our stdout carries only the result) and execs COMMAND in
 * our network namespace. The parent alone then enters NETNS_PATH (-N) and
 * tries non-blocking connects to HOST:PORT until one succeeds, sends SEND
 * and reads until the reply contains EXPECT: that is t1. A connection
 * closed or reset before EXPECT is retried from connect.
 *
 * Prints "startup_ms=12.34" to stdout, then stops the server's process
 * group (SIGTERM, up to 5 s, then SIGKILL) and reaps it. Exit 0 only on
 * success.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* setns, memmem, strsignal */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SP_SEND_DEFAULT		"PING\\r\\n"
#define SP_EXPECT_DEFAULT	"+PONG"
#define SP_TIMEOUT_DEFAULT	30
#define SP_TIMEOUT_MAX		3600
#define SP_CONNECT_POLL_MS	5	/* wait for one connect to complete */
#define SP_RETRY_SLEEP_NS	1000000	/* 1 ms between connect attempts */
#define SP_REPLY_POLL_MS	5	/* reply wait slice; child checked between */
#define SP_REPLY_MAX		65536	/* reply bytes kept for the search */
#define SP_TERM_GRACE_MS	5000	/* SIGTERM to SIGKILL */
#define SP_REAP_POLL_NS		10000000	/* 10 ms */
#define SP_EXIT_EXEC		127	/* child: execvp failed */
#define NS_PER_SEC		1000000000LL
#define NS_PER_MS		1000000LL

enum sp_result {
	SP_OK,		/* reply contained EXPECT */
	SP_RETRY,	/* not there yet: connect again */
	SP_FAIL,	/* give up; message printed */
};

struct sp_opts {
	const char *netns;
	char *send;
	size_t send_len;
	char *expect;
	size_t expect_len;
	long timeout_s;
	const char *host;
	const char *port;
	char **cmd;
};

static volatile sig_atomic_t sp_stop_sig;

static void
sp_usage(FILE *f)
{
	fprintf(f,
		"usage: startprobe [-N NETNS_PATH] [-s SEND] [-e EXPECT] [-t TIMEOUT_S]\n"
		"                  HOST PORT -- COMMAND [ARGS...]\n"
		"  -N NETNS_PATH  probe from this network namespace (e.g. /run/netns/NAME);\n"
		"                 COMMAND stays in the current one\n"
		"  -s SEND        request, C escapes \\r \\n \\t \\\\ \\xHH (default \"%s\")\n"
		"  -e EXPECT      reply must contain this, same escapes (default \"%s\")\n"
		"  -t TIMEOUT_S   give up after this long (default %d)\n"
		"Prints startup_ms=N.NN (exec to first reply); COMMAND's stdout goes to stderr.\n",
		SP_SEND_DEFAULT, SP_EXPECT_DEFAULT, SP_TIMEOUT_DEFAULT);
}

static int
sp_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo C escapes; a new buffer and its length, or NULL and a message. */
static char *
sp_unescape(const char *what, const char *s, size_t *lenp)
{
	char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	if (out == NULL) {
		fprintf(stderr, "startprobe: out of memory\n");
		return NULL;
	}
	while (*s != '\0') {
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': out[n++] = '\r'; s++; break;
		case 'n': out[n++] = '\n'; s++; break;
		case 't': out[n++] = '\t'; s++; break;
		case '0': out[n++] = '\0'; s++; break;
		case '\\': out[n++] = '\\'; s++; break;
		case 'x':
			if (sp_hex(s[1]) < 0 || sp_hex(s[2]) < 0)
				goto bad;
			out[n++] = (char)(sp_hex(s[1]) * 16 + sp_hex(s[2]));
			s += 3;
			break;
		default:
			goto bad;
		}
	}
	if (n == 0) {
		fprintf(stderr, "startprobe: %s is empty\n", what);
		free(out);
		return NULL;
	}
	*lenp = n;
	return out;
bad:
	fprintf(stderr,
		"startprobe: %s: bad escape '\\%.1s' (have \\r \\n \\t \\0 \\\\ \\xHH)\n",
		what, s);
	free(out);
	return NULL;
}

static int
sp_parse_args(int argc, char **argv, struct sp_opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *send = SP_SEND_DEFAULT, *expect = SP_EXPECT_DEFAULT;
	char *end;
	int c, rest;

	memset(o, 0, sizeof(*o));
	o->timeout_s = SP_TIMEOUT_DEFAULT;
	/* '+': stop at HOST, so COMMAND's options stay COMMAND's. */
	while ((c = getopt_long(argc, argv, "+N:s:e:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'N':
			o->netns = optarg;
			break;
		case 's':
			send = optarg;
			break;
		case 'e':
			expect = optarg;
			break;
		case 't':
			errno = 0;
			o->timeout_s = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    o->timeout_s < 1 || o->timeout_s > SP_TIMEOUT_MAX) {
				fprintf(stderr,
					"startprobe: TIMEOUT_S '%s': want an integer in 1..%d\n",
					optarg, SP_TIMEOUT_MAX);
				return -1;
			}
			break;
		case 'h':
			sp_usage(stdout);
			exit(0);
		default:
			sp_usage(stderr);
			return -1;
		}
	}
	rest = argc - optind;
	if (rest < 4 || strcmp(argv[optind + 2], "--") != 0) {
		fprintf(stderr, "startprobe: want HOST PORT -- COMMAND\n");
		sp_usage(stderr);
		return -1;
	}
	o->host = argv[optind];
	o->port = argv[optind + 1];
	o->cmd = &argv[optind + 3];
	o->send = sp_unescape("SEND", send, &o->send_len);
	if (o->send == NULL)
		return -1;
	o->expect = sp_unescape("EXPECT", expect, &o->expect_len);
	if (o->expect == NULL)
		return -1;
	if (o->expect_len > SP_REPLY_MAX / 2) {
		fprintf(stderr, "startprobe: EXPECT longer than %d bytes\n",
			SP_REPLY_MAX / 2);
		return -1;
	}
	return 0;
}

static int64_t
sp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void
sp_sleep_ns(long ns)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ns };

	nanosleep(&ts, NULL);
}

static void
sp_on_signal(int sig)
{
	sp_stop_sig = sig;
}

static void
sp_describe_status(int status)
{
	if (WIFEXITED(status))
		fprintf(stderr, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "killed by signal %d (%s)", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	else
		fprintf(stderr, "ended with wait status 0x%x", status);
}

/* True, with a message, once the child has ended; it is then reaped. */
static bool
sp_child_gone(pid_t child, const char *name, bool *reaped)
{
	int status;
	pid_t r = waitpid(child, &status, WNOHANG);

	if (r == 0)
		return false;
	*reaped = true;
	if (r < 0) {
		fprintf(stderr, "startprobe: waitpid: %s\n", strerror(errno));
		return true;
	}
	fprintf(stderr, "startprobe: %s ", name);
	sp_describe_status(status);
	fprintf(stderr, " before answering\n");
	return true;
}

static bool
sp_retryable(int err)
{
	return err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH ||
	       err == ENETUNREACH;
}

/*
 * One non-blocking connect, waiting up to SP_CONNECT_POLL_MS. The fd on
 * success; -1 with *err set otherwise.
 */
static int
sp_try_connect(const struct addrinfo *ai, int *err)
{
	struct pollfd p;
	socklen_t el = sizeof(*err);
	int fd, r;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	p.fd = fd;
	p.events = POLLOUT;
	p.revents = 0;
	r = poll(&p, 1, SP_CONNECT_POLL_MS);
	if (r <= 0) {
		*err = r == 0 ? ETIMEDOUT : errno;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &el) < 0)
		*err = errno;
	if (*err != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Send the request and read until the reply holds EXPECT, the peer goes
 * away (retry), the child ends, a signal arrives or the deadline passes.
 */
static enum sp_result
sp_exchange(int fd, const struct sp_opts *o, int64_t deadline, pid_t child,
	    bool *reaped)
{
	static char reply[SP_REPLY_MAX];
	size_t sent = 0, have = 0;
	struct pollfd p = { .fd = fd };
	ssize_t n;

	while (sp_now_ns() < deadline) {
		if (sp_stop_sig != 0)
			return SP_FAIL;
		if (sp_child_gone(child, o->cmd[0], reaped))
			return SP_FAIL;
		p.events = sent < o->send_len ? POLLOUT : POLLIN;
		p.revents = 0;
		if (poll(&p, 1, SP_REPLY_POLL_MS) <= 0)
			continue;
		if (sent < o->send_len) {
			n = send(fd, o->send + sent, o->send_len - sent,
				 MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0)
				return SP_RETRY;
			sent += (size_t)n;
			continue;
		}
		n = recv(fd, reply + have, sizeof(reply) - have, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return SP_RETRY;
		have += (size_t)n;
		if (memmem(reply, have, o->expect, o->expect_len) != NULL)
			return SP_OK;
		/* Keep a tail long enough for a match split across reads. */
		if (have == sizeof(reply)) {
			memmove(reply, reply + have - o->expect_len, o->expect_len);
			have = o->expect_len;
		}
	}
	return SP_FAIL;
}

/* Connect-and-ask until it works; t1 in *t1 on SP_OK. */
static enum sp_result
sp_probe(const struct sp_opts *o, const struct addrinfo *ai, int64_t deadline,
	 pid_t child, bool *reaped, int64_t *t1)
{
	enum sp_result r;
	int fd, err = 0;

	while (sp_now_ns() < deadline) {
		if (sp_stop_sig != 0) {
			fprintf(stderr, "startprobe: stopped by signal %d\n",
				(int)sp_stop_sig);
			return SP_FAIL;
		}
		if (sp_child_gone(child, o->cmd[0], reaped))
			return SP_FAIL;
		fd = sp_try_connect(ai, &err);
		if (fd < 0) {
			if (!sp_retryable(err)) {
				fprintf(stderr, "startprobe: connect %s port %s: %s\n",
					o->host, o->port, strerror(err));
				return SP_FAIL;
			}
			sp_sleep_ns(SP_RETRY_SLEEP_NS);
			continue;
		}
		r = sp_exchange(fd, o, deadline, child, reaped);
		*t1 = sp_now_ns();
		close(fd);
		if (r == SP_OK)
			return SP_OK;
		if (r == SP_FAIL)
			break;
		sp_sleep_ns(SP_RETRY_SLEEP_NS);
	}
	if (sp_stop_sig != 0)
		fprintf(stderr, "startprobe: stopped by signal %d\n",
			(int)sp_stop_sig);
	else if (!*reaped)
		fprintf(stderr,
			"startprobe: no reply containing EXPECT from %s port %s in %ld s (last connect error: %s)\n",
			o->host, o->port, o->timeout_s,
			err != 0 ? strerror(err) : "none");
	return SP_FAIL;
}

/* SIGTERM the child's group, SIGKILL it after the grace period, reap. */
static void
sp_stop_child(pid_t child, bool reaped)
{
	int64_t until = sp_now_ns() + SP_TERM_GRACE_MS * NS_PER_MS;
	int status;

	/* The child may not have reached setsid() yet: then signal it alone. */
	if (kill(-child, SIGTERM) < 0 && !reaped)
		kill(child, SIGTERM);
	while (!reaped && sp_now_ns() < until) {
		pid_t r = waitpid(child, &status, WNOHANG);

		if (r == child || (r < 0 && errno != EINTR)) {
			reaped = true;
			break;
		}
		sp_sleep_ns(SP_REAP_POLL_NS);
	}
	/* Whatever is left of the group (helpers, or the leader itself). */
	if (kill(-child, SIGKILL) < 0 && !reaped)
		kill(child, SIGKILL);
	if (!reaped)
		fprintf(stderr,
			"startprobe: %d did not stop in %d ms after SIGTERM; killed\n",
			(int)child, SP_TERM_GRACE_MS);
	while (!reaped) {
		if (waitpid(child, &status, 0) == child || errno != EINTR)
			reaped = true;
	}
}

int
main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_protocol = IPPROTO_TCP };
	struct sigaction sa = { .sa_handler = sp_on_signal };
	struct addrinfo *res;
	struct sp_opts o;
	int64_t t0, t1 = 0;
	bool reaped = false;
	int nsfd = -1, err;
	pid_t child;
	enum sp_result r;

	if (sp_parse_args(argc, argv, &o) < 0)
		return 2;
	err = getaddrinfo(o.host, o.port, &hints, &res);
	if (err != 0) {
		fprintf(stderr, "startprobe: %s port %s: %s\n", o.host, o.port,
			gai_strerror(err));
		return 1;
	}
	/* Opened before fork, entered after it: the child keeps our netns. */
	if (o.netns != NULL) {
		nsfd = open(o.netns, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0) {
			fprintf(stderr, "startprobe: open %s: %s (make it with: ip netns add NAME)\n",
				o.netns, strerror(errno));
			return 1;
		}
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fflush(NULL);

	t0 = sp_now_ns();
	child = fork();
	if (child < 0) {
		fprintf(stderr, "startprobe: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (setsid() < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
			fprintf(stderr, "startprobe: child setup: %s\n",
				strerror(errno));
			_exit(SP_EXIT_EXEC);
		}
		execvp(o.cmd[0], o.cmd);
		fprintf(stderr, "startprobe: exec %s: %s\n", o.cmd[0],
			strerror(errno));
		_exit(SP_EXIT_EXEC);
	}

	if (nsfd >= 0) {
		if (setns(nsfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "startprobe: setns %s: %s (needs CAP_SYS_ADMIN)\n",
				o.netns, strerror(errno));
			r = SP_FAIL;
			goto stop;
		}
		close(nsfd);
	}
	r = sp_probe(&o, res, t0 + o.timeout_s * NS_PER_SEC, child, &reaped, &t1);
	if (r == SP_OK) {
		printf("startup_ms=%.2f\n", (double)(t1 - t0) / NS_PER_MS);
		fflush(stdout);
	}
stop:
	sp_stop_child(child, reaped);
	freeaddrinfo(res);
	free(o.send);
	free(o.expect);
	return r == SP_OK ? 0 : 1;
}
