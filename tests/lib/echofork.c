/*
 * echofork: a prefork TCP echo server that holds many connections.
 *
 * usage: echofork ADDR PORT PROCS MAX
 *
 * Listens on ADDR:PORT (IPv4), then forks PROCS workers that share the
 * listening socket, as nginx's workers share the master's. Each worker
 * accepts until it holds MAX connections (one process may hold only as
 * many as RLIMIT_NOFILE allows), then leaves accepting to the others, and
 * echoes what its connections send. Prints "ready" once listening; on
 * SIGTERM or SIGINT stops the workers and prints, per worker, "worker I:
 * N connections at most". Exits 1 if a worker fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS_MAX	64

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: echofork ADDR PORT PROCS MAX\n");
	exit(2);
}

/* One worker: accept up to max, echo; returns the exit code. */
static int
worker(int ls, int idx, long max, int report)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
	long held = 0, most = 0;
	bool accepting = true;
	int ep = epoll_create1(0);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0) {
		perror("echofork: epoll");
		return 1;
	}
	while (!stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 200);

		if (n < 0 && errno != EINTR) {
			perror("echofork: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			char buf[4096];
			ssize_t r;

			if (fd == ls) {
				while (held < max) {
					int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
					struct epoll_event ce = { .events = EPOLLIN };

					if (c < 0) {
						if (errno == EAGAIN || errno == ECONNABORTED ||
						    errno == EINTR)
							break;
						perror("echofork: accept4");
						return 1;
					}
					ce.data.fd = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0) {
						perror("echofork: epoll_ctl");
						return 1;
					}
					if (++held > most)
						most = held;
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r > 0 && write(fd, buf, (size_t)r) == r)
				continue;
			if (r < 0 && errno == EAGAIN)
				continue;
			close(fd);	/* the end, or an error: the connection goes */
			held--;
		}
		/* full: the others accept; below MAX again: this one too */
		if (accepting != (held < max)) {
			accepting = held < max;
			ev.events = EPOLLIN;
			if (epoll_ctl(ep, accepting ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
				      ls, &ev) < 0) {
				perror("echofork: epoll_ctl listener");
				return 1;
			}
		}
	}
	dprintf(report, "worker %d: %ld connections at most\n", idx, most);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t stops, old;
	pid_t pids[PROCS_MAX];
	int ls, procs, one = 1, rc = 0;
	long max;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
		usage();
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	procs = atoi(argv[3]);
	max = atol(argv[4]);
	if (procs < 1 || procs > PROCS_MAX || max < 1)
		usage();
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	/* held until the parent waits for them (no wake-up lost) */
	sigprocmask(SIG_BLOCK, &stops, &old);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4096) < 0) {
		perror("echofork: listen");
		return 1;
	}
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("echofork: fork");
			return 1;
		}
		if (pids[i] == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			_exit(worker(ls, i, max, STDOUT_FILENO));
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		sigsuspend(&old);
	for (int i = 0; i < procs; i++)
		kill(pids[i], SIGTERM);
	for (int i = 0; i < procs; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = 1;
	}
	return rc;
}
