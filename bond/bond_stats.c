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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "bond.h"
#include "ns_log.h"

#define BOND_STATS_VERSION	1
#define BOND_STATS_NAME		"zpnet-stats"	/* "\0zpnet-stats-PID" */
#define BOND_STATS_CHUNK	32	/* sockets copied per lock hold */
#define BOND_STATS_HOLDERS	8	/* pids listed per socket */
#define BOND_STATS_BUSY		4	/* snapshots written at once */
#define BOND_STATS_IO_S		5	/* a caller that stalls is dropped */
#define BOND_STATS_REQ_MAX	64
#define BOND_STATS_BACKLOG	8

/* One socket, as copied under the lock. */
struct stats_rec {
	const char *proto;
	uint64_t id, ino, bytes_in, bytes_out;
	int family;
	int so_error;
	struct sockaddr_storage local, peer;
	bool has_local, has_peer;
	struct bond_sock_stat st;
	unsigned int nholders;
	int32_t holders[BOND_STATS_HOLDERS];
};

unsigned int (*bond_stats_pcbs)(uint32_t *cursor, struct bond_pcb_stat *out,
				unsigned int max, bool *done);

static int listen_fd = -1;
static uint32_t busy;	/* snapshots being written */

static int
stats_addr(struct sockaddr_un *sun, long pid)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* sun_path[0] = '\0': the abstract namespace */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "%s-%ld",
		     BOND_STATS_NAME, pid);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int
bond_stats_listen(void)
{
	struct sockaddr_un sun;
	long fd, rc, pid = bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0);
	int len = stats_addr(&sun, pid);

	bond_stats_fork_child();	/* one inherited from a parent: its name */
	fd = bond_kernel(SYS_socket, AF_UNIX,
			 SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 0, 0, 0);
	if (fd < 0)
		return (int)fd;
	rc = bond_kernel(SYS_bind, fd, (long)&sun, len, 0, 0, 0);
	if (rc == 0)
		rc = bond_kernel(SYS_listen, fd, BOND_STATS_BACKLOG, 0, 0, 0, 0);
	if (rc < 0) {
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		return (int)rc;
	}
	listen_fd = (int)fd;
	return 0;
}

void
bond_stats_fork_child(void)
{
	if (listen_fd >= 0)
		bond_kernel(SYS_close, listen_fd, 0, 0, 0, 0, 0);
	listen_fd = -1;
}

/* Is listen_fd still ours? An application that closes every fd (a
 * daemon's clean-up) may have reused its number for one of its own. */
static bool
still_ours(void)
{
	struct sockaddr_un mine, now;
	socklen_t len = sizeof(now);
	int mlen = stats_addr(&mine, bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0));

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
}

static void
rec_write(FILE *f, const struct stats_rec *r)
{
	char local[INET6_ADDRSTRLEN + 16], peer[INET6_ADDRSTRLEN + 16];
	const struct bond_tcp_info *ti = &r->st.ti;

	addr_text(&r->local, r->has_local, local, sizeof(local));
	addr_text(&r->peer, r->has_peer, peer, sizeof(peer));
	fprintf(f, "sock id=%" PRIu64 " proto=%s family=%d state=%s local=%s peer=%s"
		" rxq=%u txq=%u ino=%" PRIu64 " bytes_received=%" PRIu64
		" bytes_sent=%" PRIu64 " pids=",
		r->id, r->proto, r->family == AF_INET6 ? 6 : 4, state_name(r),
		local, peer, r->st.rxq, r->st.txq, r->ino, r->bytes_in,
		r->bytes_out);
	for (unsigned int i = 0; i < r->nholders; i++)
		fprintf(f, "%s%d", i > 0 ? "," : "", r->holders[i]);
	if (r->nholders == 0)
		fputc('-', f);
	/* what lwIP knows of a connection (a listener has none of it) */
	if (strcmp(r->proto, "tcp") == 0 && r->st.state != BOND_TCPS_LISTEN &&
	    r->st.state != BOND_TCPS_CLOSE)
		fprintf(f, " rtt_us=%u rttvar_us=%u rto_us=%u mss=%u cwnd=%u"
			" ssthresh=%u snd_wnd=%u rcv_wnd=%u unacked=%u"
			" retrans=%u", ti->rtt_us, ti->rttvar_us, ti->rto_us,
			ti->mss, ti->cwnd, ti->ssthresh, r->st.snd_wnd,
			ti->rcv_space, ti->unacked, ti->retransmits);
	else if (strcmp(r->proto, "udp") == 0)
		fprintf(f, " drops=%" PRIu64, r->st.drops);
	if (r->so_error != 0)
		fprintf(f, " error=%d", r->so_error);
	fputc('\n', f);
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
	fprintf(f, "zpnet-stats %d\nstack %016" PRIx64 "\nself %ld\n",
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

/* The request: one line, "snapshot" or "snapshot nosockets". */
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
	if (strncmp(req, "snapshot", 8) != 0)
		return false;
	*sockets = strstr(req, "nosockets") == NULL;
	return true;
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
		if (!caller_allowed(fd))
			fputs("error permission denied\n", f);
		else if (!read_request(fd, &sockets))
			fputs("error bad request (\"snapshot\" expected)\n", f);
		else
			bond_stats_write(f, sockets, stats_counters);
		fclose(f);
	}
	__atomic_sub_fetch(&busy, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void
serve(int fd)
{
	pthread_attr_t attr;
	pthread_t tid;

	if (__atomic_add_fetch(&busy, 1, __ATOMIC_RELAXED) > BOND_STATS_BUSY) {
		static const char msg[] = "error busy: try again\n";

		bond_kernel(SYS_write, fd, (long)msg, sizeof(msg) - 1, 0, 0, 0);
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		__atomic_sub_fetch(&busy, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Its own thread, so the service thread keeps its pace; created
	 * from the service thread, it blocks every signal as that one does. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, serve_main, (void *)(intptr_t)fd) != 0) {
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
	long n, fd;

	if (listen_fd < 0) {
		bond_kernel(SYS_nanosleep, (long)ts, 0, 0, 0, 0, 0);
		return;
	}
	n = bond_kernel(SYS_ppoll, (long)&pfd, 1, (long)ts, 0, 0, 0);
	if (n <= 0)
		return;
	if ((pfd.revents & POLLNVAL) || !still_ours()) {
		/* closed under us (or its number reused): listen again */
		listen_fd = -1;
		if (bond_stats_listen() < 0)
			NS_LOG_LIMITED(NS_LOG_INFO, "the stats socket was closed and cannot listen again; `zpnet stats` gets no answer here");
		return;
	}
	while ((fd = bond_kernel(SYS_accept4, listen_fd, 0, 0, SOCK_CLOEXEC, 0,
				 0)) >= 0)
		serve((int)fd);
}
