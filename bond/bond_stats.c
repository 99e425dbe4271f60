/*
 * What `zpnet stats` reads of a running stack.
 *
 * Every process of a stack listens on an abstract unix socket named
 * "zpnet-stats-PID" (close-on-exec, in its network namespace, nothing
 * left in the file system) and its service thread answers on it between
 * its naps. A caller must be root or the process's own user
 * (SO_PEERCRED); anyone else gets "error permission denied". The answer
 * is a snapshot in lines of text, each a keyword and its fields:
 *
 *   zpnet-stats 1                       the format's version
 *   stack NONCE                         the stack (one for all its processes)
 *   self PID                            the process that answered
 *   proc PID                            each process of the stack
 *   counter NAME VALUE                  the counters ZPNET_STATS writes
 *   sock id=N proto=tcp family=4 ...    each open socket, KEY=VALUE; id=0:
 *                                       a connection lwIP has that no
 *                                       application socket refers to
 *   end                                 the snapshot is whole
 *
 * Any process of the stack can describe all of it: the socket list, who
 * holds each socket and lwIP's memory are shared. The stack lock is held
 * for BOND_STATS_CHUNK sockets at a time, and only to copy them: the
 * text is written with the lock released, so a listing of 100,000
 * sockets never stalls the server for longer than one chunk.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "bond.h"
#include "bond_stats_proto.h"
#include "ns_log.h"

#define BOND_STATS_CHUNK	32	/* sockets copied per lock hold */
#define BOND_STATS_HOLDERS	64	/* pids listed per socket (holders= counts all) */
#define BOND_STATS_BUSY		4	/* snapshots written at once */
#define BOND_STATS_IO_S		5	/* a caller that stalls is dropped */
#define BOND_STATS_REQ_MAX	64
#define BOND_STATS_LINE_MAX	1024	/* one socket's line, at most */
#define BOND_STATS_DIGITS_MAX	20	/* of a uint64_t */
#define BOND_STATS_PORT_TEXT	16	/* "[", "]:65535", NUL, with room */
#define BOND_STATS_OUT_BUF	(64 * 1024)	/* written to a caller at once */
#define BOND_STATS_BACKLOG	8	/* also: callers taken per nap */
#define BOND_STATS_FD_SPAN	64	/* our fds sit this far below the fd limit ... */
#define BOND_STATS_FD_TOP	1024	/* ... or below this one, if lower */
#define BOND_STATS_REST_NS	(1000 * BOND_NS_PER_MS)	/* after EMFILE */

/* One socket, as copied under the lock. */
struct stats_rec {
	const char *proto;
	uint64_t id, ino, bytes_in, bytes_out;
	int family;
	int so_error;
	struct sockaddr_storage local, peer;
	bool has_local, has_peer;
	struct bond_sock_stat st;
	unsigned int nholders, holders_all;
	int32_t holders[BOND_STATS_HOLDERS];
};

unsigned int (*bond_stats_pcbs)(uint32_t *cursor, struct bond_pcb_stat *out,
				unsigned int max, bool *done);

static int listen_fd = -1;
static uint32_t busy;	/* snapshots being written */
/* Their sockets, fd + 1 (0: free): a forked child closes them. */
static int inflight[BOND_STATS_BUSY];
/* accept() failed for want of fds: the listener rests until then */
static uint64_t rest_until_ns;

/* Out of the way of the application's small fds (a daemon that closes
 * and reopens 0-2, a dup2 onto a number it expects free). */
int
bond_fd_dup_high(int fd)
{
	struct rlimit rl;
	rlim_t top;

	if (bond_kernel(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&rl, 0, 0) < 0)
		return -1;
	/* not at a huge limit's top: the kernel's fd table grows to it */
	top = rl.rlim_cur < BOND_STATS_FD_TOP ? rl.rlim_cur : BOND_STATS_FD_TOP;
	if (top < 2 * BOND_STATS_FD_SPAN)
		return -1;
	return (int)bond_kernel(SYS_fcntl, fd, F_DUPFD_CLOEXEC,
				(long)(top - BOND_STATS_FD_SPAN), 0, 0, 0);
}

/*
 * The kernel grows a process's fd table under an RCU grace period once
 * the process has a second thread (expand_fdtable: 12-16 ms here), and
 * the first of bond's own fds up there would grow it from 64 to 1,024
 * entries during the stack's start-up. Grown now, while the process has
 * one thread (bond_init), it costs a microsecond.
 */
void
bond_fd_table_grow(void)
{
	long fd = bond_kernel(SYS_open, (long)"/", O_PATH | O_CLOEXEC, 0, 0, 0, 0);
	int high;

	if (fd < 0)
		return;
	high = bond_fd_dup_high((int)fd);
	if (high >= 0)
		bond_kernel(SYS_close, high, 0, 0, 0, 0, 0);
	bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
}

int
bond_fd_move_high(int fd)
{
	int high = bond_fd_dup_high(fd);

	if (high < 0)
		return fd;
	bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
	return high;
}

static void
close_listener(void)
{
	if (listen_fd >= 0)
		bond_kernel(SYS_close, listen_fd, 0, 0, 0, 0, 0);
	listen_fd = -1;
}

int
bond_stats_listen(void)
{
	struct sockaddr_un sun;
	long fd, rc, pid = bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0);
	int len = bond_stats_addr(&sun, pid);

	close_listener();	/* one inherited from a parent: its name */
	fd = bond_kernel(SYS_socket, AF_UNIX,
			 SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 0, 0, 0);
	if (fd < 0)
		return (int)fd;
	rc = bond_kernel(SYS_bind, fd, (long)&sun, len, 0, 0, 0);
	if (rc == 0)
		rc = bond_kernel(SYS_listen, fd, BOND_STATS_BACKLOG, 0, 0, 0, 0);
	if (rc < 0) {
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		if (rc == -EADDRINUSE)
			NS_WARN("another process holds the name @%s-%ld: `zpnet stats` "
				"cannot read this process (and must not trust that name)",
				BOND_STATS_NAME, pid);
		return (int)rc;
	}
	listen_fd = bond_fd_move_high((int)fd);
	return 0;
}

void
bond_stats_fork_child(void)
{
	close_listener();
	/* the parent's callers are the parent's threads' to answer */
	for (unsigned int i = 0; i < BOND_STATS_BUSY; i++) {
		if (inflight[i] != 0)
			bond_kernel(SYS_close, inflight[i] - 1, 0, 0, 0, 0, 0);
		inflight[i] = 0;
	}
	busy = 0;
}

/* Is listen_fd still ours? An application that closes every fd (a
 * daemon's clean-up) may have reused its number for one of its own. */
static bool
still_ours(void)
{
	struct sockaddr_un mine, now;
	socklen_t len = sizeof(now);
	int mlen = bond_stats_addr(&mine, bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0));

	if (bond_kernel(SYS_getsockname, listen_fd, (long)&now, (long)&len,
			0, 0, 0) < 0)
		return false;
	return (int)len == mlen && memcmp(&now, &mine, (size_t)mlen) == 0;
}

/* ---- the snapshot ---- */

static const char *const tcp_state_name[] = {
	[BOND_TCPS_ESTABLISHED] = "ESTAB", [BOND_TCPS_SYN_SENT] = "SYN-SENT",
	[BOND_TCPS_SYN_RECV] = "SYN-RECV", [BOND_TCPS_FIN_WAIT1] = "FIN-WAIT-1",
	[BOND_TCPS_FIN_WAIT2] = "FIN-WAIT-2", [BOND_TCPS_TIME_WAIT] = "TIME-WAIT",
	[BOND_TCPS_CLOSE] = "CLOSE", [BOND_TCPS_CLOSE_WAIT] = "CLOSE-WAIT",
	[BOND_TCPS_LAST_ACK] = "LAST-ACK", [BOND_TCPS_LISTEN] = "LISTEN",
	[BOND_TCPS_CLOSING] = "CLOSING",
};

/* ss's names; a UDP socket that is not connected is UNCONN. */
static const char *
state_name(const struct stats_rec *r)
{
	uint8_t s = r->st.state;

	if (strcmp(r->proto, "udp") == 0)
		return s == BOND_TCPS_ESTABLISHED ? "ESTAB" : "UNCONN";
	if (s < sizeof(tcp_state_name) / sizeof(tcp_state_name[0]) &&
	    tcp_state_name[s] != NULL)
		return tcp_state_name[s];
	return "UNKNOWN";
}

/* ADDR:PORT, [ADDR6]:PORT, or * when there is none. */
static void
addr_text(const struct sockaddr_storage *ss, bool has, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!has) {
		snprintf(out, len, "*");
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(out, len, "*");
	}
}

static void
rec_copy(struct bond_sock *sk, struct stats_rec *r)
{
	socklen_t len;

	memset(r, 0, sizeof(*r));
	r->proto = sk->proto->name;
	r->id = sk->id;
	r->ino = sk->ino;
	r->bytes_in = sk->bytes_in;
	r->bytes_out = sk->bytes_out;
	r->family = sk->family;
	r->so_error = sk->so_error;
	len = sizeof(r->local);
	r->has_local = sk->proto->getname != NULL &&
		       sk->proto->getname(sk, (struct sockaddr *)&r->local,
					  &len, false) == 0;
	len = sizeof(r->peer);
	r->has_peer = sk->proto->getname != NULL &&
		      sk->proto->getname(sk, (struct sockaddr *)&r->peer,
					 &len, true) == 0;
	if (sk->proto->describe != NULL)
		sk->proto->describe(sk, &r->st);
	r->nholders = bond_sock_holders(sk, r->holders, BOND_STATS_HOLDERS);
	r->holders_all = sk->nholders;
}

/* One line of a snapshot, built by hand: printf's parsing was most of
 * a snapshot's cost in the server (perf, 10,000 sockets). */
struct line {
	char b[BOND_STATS_LINE_MAX];
	size_t n;
};

static void
put(struct line *l, const char *s)
{
	size_t len = strlen(s);

	if (len > sizeof(l->b) - l->n)
		len = sizeof(l->b) - l->n;
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

static void
put_u(struct line *l, uint64_t v)
{
	char d[BOND_STATS_DIGITS_MAX];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (sizeof(d) - i > sizeof(l->b) - l->n)
		return;
	memcpy(l->b + l->n, d + i, sizeof(d) - i);
	l->n += sizeof(d) - i;
}

/* " key=value" */
static void
put_kv(struct line *l, const char *key, uint64_t v)
{
	put(l, " ");
	put(l, key);
	put(l, "=");
	put_u(l, v);
}

static void
rec_write(FILE *f, const struct stats_rec *r)
{
	char local[INET6_ADDRSTRLEN + BOND_STATS_PORT_TEXT], peer[INET6_ADDRSTRLEN + BOND_STATS_PORT_TEXT];
	const struct bond_tcp_info *ti = &r->st.ti;
	struct line l = { .n = 0 };

	addr_text(&r->local, r->has_local, local, sizeof(local));
	addr_text(&r->peer, r->has_peer, peer, sizeof(peer));
	put(&l, "sock");
	put_kv(&l, "id", r->id);
	put(&l, " proto=");
	put(&l, r->proto);
	put_kv(&l, "family", r->family == AF_INET6 ? 6 : 4);
	put(&l, " state=");
	put(&l, state_name(r));
	put(&l, " local=");
	put(&l, local);
	put(&l, " peer=");
	put(&l, peer);
	put_kv(&l, "rxq", r->st.rxq);
	put_kv(&l, "txq", r->st.txq);
	put_kv(&l, "ino", r->ino);
	put_kv(&l, "bytes_read", r->bytes_in);
	put_kv(&l, "bytes_written", r->bytes_out);
	put(&l, " pids=");
	for (unsigned int i = 0; i < r->nholders; i++) {
		if (i > 0)
			put(&l, ",");
		put_u(&l, (uint64_t)r->holders[i]);
	}
	if (r->nholders == 0)
		put(&l, "-");
	if (r->holders_all > r->nholders)	/* more than the list holds */
		put_kv(&l, "holders", r->holders_all);
	/* what lwIP knows of a connection (a listener has none of it) */
	if (strcmp(r->proto, "tcp") == 0 && r->st.state != BOND_TCPS_LISTEN &&
	    r->st.state != BOND_TCPS_CLOSE) {
		put_kv(&l, "rtt_us", ti->rtt_us);
		put_kv(&l, "rttvar_us", ti->rttvar_us);
		put_kv(&l, "rto_us", ti->rto_us);
		put_kv(&l, "mss", ti->mss);
		put_kv(&l, "cwnd", ti->cwnd);
		put_kv(&l, "ssthresh", ti->ssthresh);
		put_kv(&l, "snd_wnd", r->st.snd_wnd);
		put_kv(&l, "rcv_wnd", ti->rcv_space);
		put_kv(&l, "unacked", ti->unacked);
		put_kv(&l, "retrans", ti->retransmits);
	} else if (strcmp(r->proto, "udp") == 0) {
		put_kv(&l, "drops", r->st.drops);
	}
	if (r->so_error > 0)
		put_kv(&l, "error", (uint64_t)r->so_error);
	put(&l, "\n");
	fwrite(l.b, 1, l.n, f);
}

/* A connection without an application socket: id 0, no inode, no
 * holders, no bytes of its own. */
static void
pcb_write(FILE *f, const struct bond_pcb_stat *p)
{
	struct stats_rec r = {
		.proto = "tcp",
		.family = p->family,
		.local = p->local,
		.peer = p->peer,
		.has_local = true,
		.has_peer = true,
		.st = p->st,
	};

	rec_write(f, &r);
}

void
bond_stats_write(FILE *f, bool sockets, void (*counters)(FILE *f))
{
	struct stats_rec recs[BOND_STATS_CHUNK];
	int32_t pids[BOND_PROCS_MAX];
	unsigned int npids;
	uint64_t nonce;
	char *ctext = NULL;
	size_t clen = 0;
	FILE *cf = counters != NULL ? open_memstream(&ctext, &clen) : NULL;
	uint32_t idx = 0;

	/* the counters go to memory under the lock, to the caller after */
	bond_stack->lock();
	nonce = bond_proc_nonce();
	npids = bond_proc_pids(pids, BOND_PROCS_MAX);
	if (cf != NULL)
		counters(cf);
	bond_stack->unlock();
	fprintf(f, BOND_STATS_MAGIC " %d\nstack %016" PRIx64 "\nself %ld\n",
		BOND_STATS_VERSION, nonce,
		bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0));
	for (unsigned int i = 0; i < npids; i++)
		fprintf(f, "proc %d\n", pids[i]);
	if (cf != NULL) {
		fclose(cf);
		for (char *line = ctext, *nl; line != NULL && *line != '\0';
		     line = nl) {
			nl = strchr(line, '\n');
			if (nl != NULL)
				*nl++ = '\0';
			if (*line != '\0')
				fprintf(f, "counter %s\n", line);
		}
		free(ctext);
	}
	while (sockets && !ferror(f)) {
		struct bond_sock *sks[BOND_STATS_CHUNK];
		unsigned int n;

		bond_stack->lock();
		n = bond_sock_next(&idx, sks, BOND_STATS_CHUNK);
		for (unsigned int i = 0; i < n; i++)
			rec_copy(sks[i], &recs[i]);
		bond_stack->unlock();
		if (n == 0)
			break;
		for (unsigned int i = 0; i < n; i++)
			rec_write(f, &recs[i]);
	}
	idx = 0;
	/* then the connections lwIP has without an application socket */
	for (bool done = !sockets || bond_stats_pcbs == NULL; !done && !ferror(f);) {
		struct bond_pcb_stat pcbs[BOND_STATS_PCB_CHUNK];
		unsigned int n;

		bond_stack->lock();
		n = bond_stats_pcbs(&idx, pcbs, BOND_STATS_PCB_CHUNK, &done);
		bond_stack->unlock();
		for (unsigned int i = 0; i < n; i++)
			pcb_write(f, &pcbs[i]);
	}
	fprintf(f, "end\n");
}

/* ---- serving a caller ---- */

static uint64_t
stats_now_ns(void)
{
	struct timespec ts;

	bond_kernel(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0);
	return (uint64_t)ts.tv_sec * BOND_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void (*stats_counters)(FILE *f);

void
bond_stats_set_counters(void (*fn)(FILE *f))
{
	stats_counters = fn;
}

static bool
caller_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (bond_kernel(SYS_getsockopt, fd, SOL_SOCKET, SO_PEERCRED, (long)&cr,
			(long)&len, 0) < 0)
		return false;
	return cr.uid == 0 ||
	       cr.uid == (uid_t)bond_kernel(SYS_geteuid, 0, 0, 0, 0, 0, 0) ||
	       cr.uid == (uid_t)bond_kernel(SYS_getuid, 0, 0, 0, 0, 0, 0);
}

/* The request: one line, "snapshot" or "snapshot nosockets"
 * (bond_stats_proto.h). */
static bool
read_request(int fd, bool *sockets)
{
	char req[BOND_STATS_REQ_MAX];
	size_t got = 0;

	while (got < sizeof(req) - 1) {
		long n = bond_kernel(SYS_read, fd, (long)(req + got),
				     (long)(sizeof(req) - 1 - got), 0, 0, 0);

		if (n <= 0)
			return false;
		got += (size_t)n;
		if (memchr(req, '\n', got) != NULL)
			break;
	}
	req[got] = '\0';
	if (strncmp(req, BOND_STATS_REQUEST, strlen(BOND_STATS_REQUEST)) != 0)
		return false;
	*sockets = strstr(req, BOND_STATS_NOSOCKETS) == NULL;
	return true;
}

static bool
inflight_take(int fd)
{
	for (unsigned int i = 0; i < BOND_STATS_BUSY; i++) {
		int zero = 0;

		if (__atomic_compare_exchange_n(&inflight[i], &zero, fd + 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

static void
inflight_put(int fd)
{
	for (unsigned int i = 0; i < BOND_STATS_BUSY; i++) {
		int mine = fd + 1;

		if (__atomic_compare_exchange_n(&inflight[i], &mine, 0, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
}

static void
refuse(int fd, const char *msg)
{
	/* a fresh socket's buffer takes one short line without blocking */
	bond_kernel(SYS_sendto, fd, (long)msg, (long)strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
	bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
}

static void *
serve_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct timeval tv = { .tv_sec = BOND_STATS_IO_S };
	bool sockets = true;
	FILE *f;

	bond_guard = 1;	/* everything this thread calls goes to the kernel */
	bond_kernel(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, (long)&tv,
		    sizeof(tv), 0);
	bond_kernel(SYS_setsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, (long)&tv,
		    sizeof(tv), 0);
	f = fdopen(fd, "w");
	if (f == NULL) {
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
	} else {
		setvbuf(f, NULL, _IOFBF, BOND_STATS_OUT_BUF);
		if (!read_request(fd, &sockets))
			fputs("error bad request (\"" BOND_STATS_REQUEST "\" expected)\n", f);
		else
			bond_stats_write(f, sockets, stats_counters);
		fflush(f);	/* nothing left to write once a fork may not close it */
		inflight_put(fd);
		fclose(f);
	}
	__atomic_sub_fetch(&busy, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* A caller: refused here (no thread for a stranger), or answered by a
 * thread of its own. */
static void
serve(int fd)
{
	pthread_attr_t attr;
	pthread_t tid;

	if (!caller_allowed(fd)) {
		refuse(fd, "error permission denied\n");
		return;
	}
	if (__atomic_add_fetch(&busy, 1, __ATOMIC_RELAXED) > BOND_STATS_BUSY ||
	    !inflight_take(fd)) {
		__atomic_sub_fetch(&busy, 1, __ATOMIC_RELAXED);
		refuse(fd, "error busy: try again\n");
		return;
	}
	/* Its own thread, so the service thread keeps its pace; created
	 * from the service thread, it blocks every signal as that one does. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, serve_main, (void *)(intptr_t)fd) != 0) {
		inflight_put(fd);
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		__atomic_sub_fetch(&busy, 1, __ATOMIC_RELAXED);
	} else {
		pthread_setname_np(tid, "zpnet-stats");
	}
	pthread_attr_destroy(&attr);
}

void
bond_stats_nap(const struct timespec *ts)
{
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	struct timespec left = *ts;	/* the raw ppoll writes back what is left */
	long n, fd;

	if (listen_fd < 0 || (rest_until_ns != 0 && stats_now_ns() < rest_until_ns)) {
		bond_kernel(SYS_nanosleep, (long)&left, 0, 0, 0, 0, 0);
		return;
	}
	rest_until_ns = 0;
	n = bond_kernel(SYS_ppoll, (long)&pfd, 1, (long)&left, 0, 0, 0);
	if (n <= 0)
		return;
	if ((pfd.revents & POLLNVAL) || !still_ours()) {
		/* closed under us (or its number reused): listen again */
		listen_fd = -1;
		if (bond_stats_listen() < 0)
			NS_LOG_LIMITED(NS_LOG_INFO, "the stats socket was closed and cannot listen again; `zpnet stats` gets no answer here");
		return;
	}
	/* a few callers per nap: a flood of them never keeps the service
	 * thread from the stack's timers */
	for (unsigned int i = 0; i < BOND_STATS_BACKLOG; i++) {
		fd = bond_kernel(SYS_accept4, listen_fd, 0, 0, SOCK_CLOEXEC, 0, 0);
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS) {
			/* the caller stays queued: rest, or ppoll never sleeps */
			rest_until_ns = stats_now_ns() + BOND_STATS_REST_NS;
			return;
		}
		if (fd < 0)
			return;
		serve(bond_fd_move_high((int)fd));
	}
}
