/*
 * zpnet stats: a live look inside running stacks, in the manner of ss.
 *
 * Each zpnet process answers on an abstract unix socket named
 * "zpnet-stats-PID" in its network namespace (bond/bond_stats.c, which
 * also documents the lines of a snapshot). This file finds the processes,
 * asks each stack once (any of its processes describes all of it), finds
 * which fds of which process refer to each socket (the socket's kernel
 * inode in /proc/PID/fd), and prints a table, JSON, or rates.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "bond_stats_proto.h"
#include "zpnet_stats.h"

#define ST_LIB		"libzpnet.so"
#define ST_LIB_PRELOAD	"libzpnet-preload.so"	/* [hooks] mode = preload */
#define ST_LINE_MAX	4096
#define ST_PIDS_MAX	4096
#define ST_IO_S		5	/* per read or write */
#define ST_DEADLINE_S	60	/* per snapshot, whatever the process does */
#define ST_LINES_MAX	(4u << 20)	/* lines per snapshot, at most */
#define ST_EXIT_OK	0
#define ST_EXIT_FAIL	1
#define ST_EXIT_USAGE	2

/* One socket of a snapshot: its KEY=VALUE fields as they came. */
struct st_sock {
	char *line;		/* the fields, NUL-separated in place */
	unsigned int nkv;
	char **key, **val;
	const char *proto, *state, *local, *peer;
	uint64_t ino;
};

struct st_counter {
	char *name;
	uint64_t value;
};

struct st_stack {
	char nonce[32];
	long self;
	long *pids;
	unsigned int npids;
	struct st_counter *ctr;
	unsigned int nctr;
	struct st_sock *socks;
	unsigned int nsocks, capsocks;
	double when;		/* CLOCK_MONOTONIC, s */
};

/* ino -> fd, for one process, sorted by inode */
struct st_fd {
	uint64_t ino;
	int fd;
};

struct st_fdmap {
	long pid;
	char comm[32];
	unsigned int n, cap;
	struct st_fd *fds;
};

struct st_opts {
	bool tcp, udp, listen, all, json, counters_only;
	const char *state;	/* ss's name, or NULL */
	long port;		/* local or peer; -1: any */
	long sport, dport;	/* local, peer; -1: any */
	double watch;		/* 0: once */
	long count;		/* snapshots with --watch; 0: until stopped */
	long pids[ST_PIDS_MAX];
	unsigned int npids;
};

static void
stats_usage(FILE *f)
{
	fprintf(f,
		"usage: zpnet stats [OPTIONS] [PID...]\n"
		"\n"
		"Shows what zpnet's stacks are doing now: per port frames, bytes, drops\n"
		"and free mbufs; lwIP's counters per protocol; and a socket table in the\n"
		"manner of `ss -tanpi`. Without PID: every zpnet process the caller may\n"
		"see (root: all; others: their own). A stack shared by several\n"
		"processes (after fork) is shown once, with its processes.\n"
		"\n"
		"  -t, --tcp            TCP sockets only\n"
		"  -u, --udp            UDP sockets only\n"
		"  -l, --listen         listening sockets only\n"
		"  -s, --state NAME     sockets in this state (ESTAB, LISTEN, TIME-WAIT,\n"
		"                       SYN-SENT, CLOSE-WAIT, UNCONN, ...; as ss names them)\n"
		"  -p, --port N         sockets whose local or peer port is N\n"
		"  -c, --counters       counters only, no socket table\n"
		"  -j, --json           one JSON object per snapshot (see README.md)\n"
		"  -w, --watch SECONDS  a snapshot every SECONDS, with the rate of every\n"
		"                       counter that moved (per second)\n"
		"  -n, --count N        with --watch: stop after N snapshots\n"
		"  -h, --help           this text\n"
		"\n"
		"ss's filter words work too: state NAME, port N (local or peer), sport N\n"
		"(local), dport N (peer), also as ss writes them: `sport = :6379`.\n"
		"Exit status: 0 ok; 1 no stack found, or a PID given could not be read\n"
		"(the message says why: no stack there, permission denied); 2 usage.\n"
		"Without PIDs, a process that ends or has no stack yet is skipped.\n");
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- finding the processes ---- */

static bool
parse_pid(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT32_MAX)
		return false;
	*out = v;
	return true;
}

/* Does the process have libzpnet.so (or libzpnet-preload.so) mapped? (Its
 * maps are readable to root and to its own user only: that is "may
 * see".) */
static bool
runs_zpnet(long pid)
{
	char path[64], line[ST_LINE_MAX];
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (!yes && fgets(line, sizeof(line), f) != NULL)
		yes = strstr(line, "/" ST_LIB) != NULL ||
			strstr(line, "/" ST_LIB_PRELOAD) != NULL;
	fclose(f);
	return yes;
}

static unsigned int
find_pids(long *pids, unsigned int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned int n = 0;
	long self = (long)getpid();

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		long pid;

		if (!parse_pid(de->d_name, &pid) || pid == self)
			continue;
		if (runs_zpnet(pid))
			pids[n++] = pid;
	}
	closedir(d);
	return n;
}

/* ---- asking one process ---- */

/* Enter pid's network namespace when it is not ours: its stats socket is
 * there. *home gets ours back (-1: nothing to undo). 0 or -errno. */
static int
enter_netns(long pid, int *home)
{
	char path[64];
	struct stat mine, theirs;
	int fd;

	*home = -1;
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
	/* Not ours to look at (another user's): try from here, where the
	 * process itself says whether we may read it. */
	if (stat(path, &theirs) < 0)
		return 0;
	if (stat("/proc/self/ns/net", &mine) == 0 && mine.st_ino == theirs.st_ino &&
	    mine.st_dev == theirs.st_dev)
		return 0;
	*home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || *home < 0 || setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		if (*home >= 0)
			close(*home);
		*home = -1;
		return -e;
	}
	close(fd);
	return 0;
}

static void
leave_netns(int home)
{
	if (home < 0)
		return;
	if (setns(home, CLONE_NEWNET) < 0)
		fprintf(stderr, "zpnet stats: cannot return to the network namespace: %s\n",
			strerror(errno));
	close(home);
}

/* The process listening on fd's other end is pid (as our pid namespace
 * numbers it; the kernel translates SO_PEERCRED). */
static bool
peer_is(int fd, long pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	       (long)cr.pid == pid;
}

/* A connected stream to pid's stats socket, or -errno. */
static int
dial(long pid, bool *other_ns)
{
	struct sockaddr_un sun;
	struct timeval tv = { .tv_sec = ST_IO_S };
	socklen_t len;
	int fd, home, rc;

	rc = enter_netns(pid, &home);
	*other_ns = home >= 0;
	if (rc < 0)
		return rc == -EPERM ? -EACCES : rc;
	len = bond_stats_addr(&sun, pid);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, len) < 0) {
		rc = -errno;
		close(fd);
		fd = rc;
	} else if (fd < 0) {
		fd = -errno;
	}
	leave_netns(home);
	if (fd < 0)
		return fd;
	/* Anyone may bind an abstract name: only pid itself is believed. */
	if (!peer_is(fd, pid)) {
		close(fd);
		return -EPERM;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
sock_fields(struct st_sock *s)
{
	unsigned int cap = 32;
	char *p = s->line;

	s->key = malloc(cap * sizeof(*s->key));
	s->val = malloc(cap * sizeof(*s->val));
	s->nkv = 0;
	while (s->key != NULL && s->val != NULL && *p != '\0') {
		char *tok = p, *eq;

		p += strcspn(p, " ");
		if (*p == ' ')
			*p++ = '\0';
		eq = strchr(tok, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (s->nkv == cap) {
			cap *= 2;
			s->key = realloc(s->key, cap * sizeof(*s->key));
			s->val = realloc(s->val, cap * sizeof(*s->val));
			if (s->key == NULL || s->val == NULL)
				break;
		}
		s->key[s->nkv] = tok;
		s->val[s->nkv++] = eq + 1;
	}
	if (s->key == NULL || s->val == NULL) {
		fprintf(stderr, "zpnet stats: out of memory\n");
		exit(ST_EXIT_FAIL);
	}
}

static const char *
sock_get(const struct st_sock *s, const char *key)
{
	for (unsigned int i = 0; i < s->nkv; i++)
		if (strcmp(s->key[i], key) == 0)
			return s->val[i];
	return "";
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "zpnet stats: out of memory\n");
		exit(ST_EXIT_FAIL);
	}
	return p;
}

static void
stack_free(struct st_stack *st)
{
	for (unsigned int i = 0; i < st->nsocks; i++) {
		free(st->socks[i].line);
		free(st->socks[i].key);
		free(st->socks[i].val);
	}
	for (unsigned int i = 0; i < st->nctr; i++)
		free(st->ctr[i].name);
	free(st->socks);
	free(st->ctr);
	free(st->pids);
	memset(st, 0, sizeof(*st));
}

/*
 * Ask pid for a snapshot. 0, or -errno with why[] said: -ECONNREFUSED
 * (no stack there), -EACCES (the process refused us), -EPROTO.
 */
static int
ask(long pid, bool sockets, struct st_stack *st, char *why, size_t whylen)
{
	const char *req = sockets ? BOND_STATS_REQUEST "\n" :
				    BOND_STATS_REQUEST " " BOND_STATS_NOSOCKETS "\n";
	double deadline = mono_s() + ST_DEADLINE_S;
	unsigned int lines = 0;
	char line[ST_LINE_MAX];
	bool other_ns, ended = false, versioned = false;
	FILE *f;
	int fd;

	memset(st, 0, sizeof(*st));
	fd = dial(pid, &other_ns);
	if (fd < 0) {
		if (fd == -ECONNREFUSED || fd == -ENOENT)
			snprintf(why, whylen, "no zpnet stack runs there (not started yet, or gone)");
		else if (fd == -EACCES)
			snprintf(why, whylen, "permission denied (its network namespace is not ours; run as root)");
		else if (fd == -EPERM)
			snprintf(why, whylen, "another process answers in its name: not believed");
		else
			snprintf(why, whylen, "cannot reach it: %s", strerror(-fd));
		return fd;
	}
	/* A refusal may come (and the process close its end) before the
	 * request is written: read what it said either way. */
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		snprintf(why, whylen, "cannot ask it: %s", strerror(errno));
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return -ENOMEM;
	}
	st->when = mono_s();
	while (fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n');
		int version;

		if (++lines > ST_LINES_MAX || mono_s() > deadline)
			break;	/* cut short: said below */

		if (nl != NULL)
			*nl = '\0';
		if (strncmp(line, "error ", 6) == 0) {
			snprintf(why, whylen, "%.200s", line + 6);
			fclose(f);
			stack_free(st);
			return strncmp(line + 6, "permission denied", 17) == 0 ?
			       -EACCES : -EPROTO;
		}
		if (sscanf(line, BOND_STATS_MAGIC " %d", &version) == 1) {
			versioned = version == BOND_STATS_VERSION;
		} else if (strncmp(line, "stack ", 6) == 0) {
			snprintf(st->nonce, sizeof(st->nonce), "%.31s", line + 6);
		} else if (strncmp(line, "self ", 5) == 0) {
			st->self = strtol(line + 5, NULL, 10);
		} else if (strncmp(line, "proc ", 5) == 0) {
			st->pids = xrealloc(st->pids, (st->npids + 1) * sizeof(*st->pids));
			st->pids[st->npids++] = strtol(line + 5, NULL, 10);
		} else if (strncmp(line, "counter ", 8) == 0) {
			char *name = line + 8, *sp = strchr(name, ' ');

			if (sp == NULL)
				continue;
			*sp = '\0';
			st->ctr = xrealloc(st->ctr, (st->nctr + 1) * sizeof(*st->ctr));
			st->ctr[st->nctr].name = strdup(name);
			st->ctr[st->nctr++].value = strtoull(sp + 1, NULL, 10);
		} else if (strncmp(line, "sock ", 5) == 0) {
			struct st_sock *s;

			if (st->nsocks == st->capsocks) {
				st->capsocks = st->capsocks ? st->capsocks * 2 : 64;
				st->socks = xrealloc(st->socks,
						     st->capsocks * sizeof(*st->socks));
			}
			s = &st->socks[st->nsocks++];
			memset(s, 0, sizeof(*s));
			s->line = strdup(line + 5);
			if (s->line == NULL)
				exit(ST_EXIT_FAIL);
			sock_fields(s);
			s->proto = sock_get(s, "proto");
			s->state = sock_get(s, "state");
			s->local = sock_get(s, "local");
			s->peer = sock_get(s, "peer");
			s->ino = strtoull(sock_get(s, "ino"), NULL, 10);
		} else if (strcmp(line, "end") == 0) {
			ended = true;
			break;
		}
	}
	fclose(f);
	if (!versioned || !ended) {
		if (lines == 0 && why[0] != '\0')
			;	/* "cannot ask it" says it */
		else
			snprintf(why, whylen, "%s", versioned ?
				 "the snapshot was cut short (the process stalled or ended)" :
				 "it speaks another version of the stats format (a different zpnet)");
		stack_free(st);
		return -EPROTO;
	}
	(void)other_ns;
	return 0;
}

/* ---- fds and names of the processes ---- */

static int
fd_cmp(const void *a, const void *b)
{
	const struct st_fd *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->fd - y->fd;
}

static void
fdmap_load(struct st_fdmap *m, long pid)
{
	char path[64], link[64];
	struct dirent *de;
	DIR *d;
	FILE *f;

	memset(m, 0, sizeof(*m));
	m->pid = pid;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (f != NULL) {
		if (fgets(m->comm, sizeof(m->comm), f) != NULL)
			m->comm[strcspn(m->comm, "\n")] = '\0';
		fclose(f);
		/* a process names itself: nothing that drives a terminal */
		for (char *c = m->comm; *c != '\0'; c++)
			if (!isprint((unsigned char)*c) || *c == '"')
				*c = '?';
	}
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char lpath[PATH_MAX];
		unsigned long long ino;
		ssize_t n;
		long fd;

		if (!parse_pid(de->d_name, &fd) && strcmp(de->d_name, "0") != 0)
			continue;
		if (strcmp(de->d_name, "0") == 0)
			fd = 0;
		snprintf(lpath, sizeof(lpath), "%s/%s", path, de->d_name);
		n = readlink(lpath, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1)
			continue;
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 64;
			m->fds = xrealloc(m->fds, m->cap * sizeof(*m->fds));
		}
		m->fds[m->n].ino = ino;
		m->fds[m->n++].fd = (int)fd;
	}
	closedir(d);
	qsort(m->fds, m->n, sizeof(*m->fds), fd_cmp);
}

static void
fdmap_free(struct st_fdmap *m)
{
	free(m->fds);
}

/* The fds of m for inode ino: *first and the count (sorted, adjacent). */
static unsigned int
fdmap_find(const struct st_fdmap *m, uint64_t ino, const struct st_fd **first)
{
	unsigned int lo = 0, hi = m != NULL ? m->n : 0, n = 0;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (m->fds[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = m != NULL ? &m->fds[lo] : NULL;
	while (m != NULL && lo + n < m->n && m->fds[lo + n].ino == ino)
		n++;
	return n;
}

static struct st_fdmap *
fdmap_of(struct st_fdmap *maps, unsigned int n, long pid)
{
	for (unsigned int i = 0; i < n; i++)
		if (maps[i].pid == pid)
			return &maps[i];
	return NULL;
}

/* ---- filters ---- */

static long
port_of(const char *addr)
{
	const char *c = strrchr(addr, ':');

	return c != NULL ? strtol(c + 1, NULL, 10) : -1;
}

static bool
wanted(const struct st_opts *o, const struct st_sock *s)
{
	bool is_tcp = strcmp(s->proto, "tcp") == 0;

	if (o->tcp && !o->udp && !is_tcp)
		return false;
	if (o->udp && !o->tcp && is_tcp)
		return false;
	if (o->listen && strcmp(s->state, "LISTEN") != 0 &&
	    strcmp(s->state, "UNCONN") != 0)
		return false;
	if (o->state != NULL && strcasecmp(o->state, s->state) != 0)
		return false;
	if (o->port >= 0 && port_of(s->local) != o->port &&
	    port_of(s->peer) != o->port)
		return false;
	if (o->sport >= 0 && port_of(s->local) != o->sport)
		return false;
	if (o->dport >= 0 && port_of(s->peer) != o->dport)
		return false;
	return true;
}

/* ---- text ---- */

/* The rate of counter i since prev, or -1 when there is no previous. */
static double
rate_of(const struct st_stack *st, unsigned int i, const struct st_stack *prev)
{
	if (prev == NULL || prev->when >= st->when)
		return -1;
	for (unsigned int k = 0; k < prev->nctr; k++)
		if (strcmp(prev->ctr[k].name, st->ctr[i].name) == 0)
			return ((double)st->ctr[i].value - (double)prev->ctr[k].value) /
			       (st->when - prev->when);
	return -1;
}

static void
text_procs(const struct st_stack *st, struct st_fdmap *maps, unsigned int nmaps)
{
	printf("stack %s: %u process%s:", st->nonce, st->npids,
	       st->npids == 1 ? "" : "es");
	for (unsigned int i = 0; i < st->npids; i++) {
		struct st_fdmap *m = fdmap_of(maps, nmaps, st->pids[i]);

		printf(" %ld(%s)", st->pids[i], m != NULL && m->comm[0] ? m->comm : "?");
	}
	printf("\n");
}

static void
text_counters(const struct st_stack *st, const struct st_stack *prev)
{
	unsigned int col = 0;

	printf("counters%s:\n", prev != NULL ? " (and per second since the last snapshot)" : "");
	for (unsigned int i = 0; i < st->nctr; i++) {
		double r = rate_of(st, i, prev);
		char cell[96];

		if (st->ctr[i].value == 0 && r <= 0)
			continue;	/* what never happened */
		if (r > 0)
			snprintf(cell, sizeof(cell), "%s %" PRIu64 " (%.0f/s)",
				 st->ctr[i].name, st->ctr[i].value, r);
		else
			snprintf(cell, sizeof(cell), "%s %" PRIu64,
				 st->ctr[i].name, st->ctr[i].value);
		printf("  %-36s%s", cell, ++col % 2 == 0 ? "\n" : "");
	}
	if (col % 2 != 0)
		printf("\n");
}

static void
text_owner(const struct st_sock *s, struct st_fdmap *maps, unsigned int nmaps,
	   char *out, size_t len)
{
	const char *pids = sock_get(s, "pids");
	size_t used = 0;

	out[0] = '\0';
	while (*pids != '\0' && *pids != '-') {
		long pid = strtol(pids, (char **)&pids, 10);
		struct st_fdmap *m = fdmap_of(maps, nmaps, pid);

		const struct st_fd *fd;
		unsigned int nfd = fdmap_find(m, s->ino, &fd);

		for (unsigned int k = 0; k < nfd && used < len; k++) {
			int w = snprintf(out + used, len - used, "%s(\"%s\",pid=%ld,fd=%d)",
					 used ? "," : "users:(", m->comm, pid, fd[k].fd);

			used += w > 0 ? (size_t)w : 0;
		}
		if (*pids == ',')
			pids++;
	}
	if (used > 0 && used < len - 1)
		snprintf(out + used, len - used, ")");
}

static void
text_sockets(const struct st_opts *o, const struct st_stack *st,
	     struct st_fdmap *maps, unsigned int nmaps)
{
	static const char *const shown[] = {
		"rtt_us", "rttvar_us", "rto_us", "mss", "cwnd", "ssthresh",
		"snd_wnd", "rcv_wnd", "unacked", "retrans", "bytes_written",
		"bytes_read", "drops", "error",
	};
	unsigned int n = 0;

	printf("%-5s %-10s %8s %8s %-40s %-40s %s\n", "Netid", "State",
	       "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port",
	       "Process");
	for (unsigned int i = 0; i < st->nsocks; i++) {
		const struct st_sock *s = &st->socks[i];
		char owner[512];

		if (!wanted(o, s))
			continue;
		n++;
		text_owner(s, maps, nmaps, owner, sizeof(owner));
		printf("%-5s %-10s %8s %8s %-40s %-40s %s\n", s->proto, s->state,
		       sock_get(s, "rxq"), sock_get(s, "txq"), s->local, s->peer,
		       owner);
		printf("\t");
		for (unsigned int k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
			const char *v = sock_get(s, shown[k]);

			if (*v != '\0')
				printf(" %s:%s", shown[k], v);
		}
		printf("\n");
	}
	printf("%u socket%s shown of %u\n", n, n == 1 ? "" : "s", st->nsocks);
}

/* ---- JSON ---- */

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static bool
is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void
json_stack(const struct st_opts *o, const struct st_stack *st,
	   const struct st_stack *prev, struct st_fdmap *maps,
	   unsigned int nmaps)
{
	bool first = true;

	printf("{\"stack\":");
	json_str(st->nonce);
	printf(",\"answered_by\":%ld,\"processes\":[", st->self);
	for (unsigned int i = 0; i < st->npids; i++) {
		struct st_fdmap *m = fdmap_of(maps, nmaps, st->pids[i]);

		printf("%s{\"pid\":%ld,\"comm\":", i ? "," : "", st->pids[i]);
		json_str(m != NULL ? m->comm : "");
		printf("}");
	}
	printf("],\"counters\":{");
	for (unsigned int i = 0; i < st->nctr; i++) {
		printf("%s", i ? "," : "");
		json_str(st->ctr[i].name);
		printf(":%" PRIu64, st->ctr[i].value);
	}
	printf("}");
	if (prev != NULL) {
		printf(",\"rates\":{");
		for (unsigned int i = 0; i < st->nctr; i++) {
			double r = rate_of(st, i, prev);

			if (r < 0)
				continue;
			printf("%s", first ? "" : ",");
			first = false;
			json_str(st->ctr[i].name);
			printf(":%.3f", r);
		}
		printf("}");
	}
	if (o->counters_only) {
		printf("}");
		return;
	}
	printf(",\"sockets\":[");
	first = true;
	for (unsigned int i = 0; i < st->nsocks; i++) {
		const struct st_sock *s = &st->socks[i];
		const char *pids;

		if (!wanted(o, s))
			continue;
		printf("%s{", first ? "" : ",");
		first = false;
		for (unsigned int k = 0; k < s->nkv; k++) {
			if (strcmp(s->key[k], "pids") == 0)
				continue;
			printf("%s", k ? "," : "");
			json_str(s->key[k]);
			putchar(':');
			if (is_number(s->val[k]))
				printf("%s", s->val[k]);
			else
				json_str(s->val[k]);
		}
		printf(",\"processes\":[");
		pids = sock_get(s, "pids");
		for (bool p1 = true; *pids != '\0' && *pids != '-'; p1 = false) {
			long pid = strtol(pids, (char **)&pids, 10);
			struct st_fdmap *m = fdmap_of(maps, nmaps, pid);

			const struct st_fd *fd;
			unsigned int nfd = fdmap_find(m, s->ino, &fd);

			printf("%s{\"pid\":%ld,\"fds\":[", p1 ? "" : ",", pid);
			for (unsigned int k = 0; k < nfd; k++)
				printf("%s%d", k ? "," : "", fd[k].fd);
			printf("]}");
			if (*pids == ',')
				pids++;
		}
		printf("]}");
	}
	printf("]}");
}

/* ---- one round ---- */

struct st_round {
	struct st_stack *stacks;
	unsigned int n;
};

static void
round_free(struct st_round *r)
{
	for (unsigned int i = 0; i < r->n; i++)
		stack_free(&r->stacks[i]);
	free(r->stacks);
	r->stacks = NULL;
	r->n = 0;
}

static const struct st_stack *
round_find(const struct st_round *r, const char *nonce)
{
	for (unsigned int i = 0; r != NULL && i < r->n; i++)
		if (strcmp(r->stacks[i].nonce, nonce) == 0)
			return &r->stacks[i];
	return NULL;
}

static bool
seen_pid(const struct st_round *r, long pid)
{
	for (unsigned int i = 0; i < r->n; i++)
		for (unsigned int k = 0; k < r->stacks[i].npids; k++)
			if (r->stacks[i].pids[k] == pid)
				return true;
	return false;
}

/* Ask every process (once per stack). The number of failures. */
static unsigned int
take_round(const struct st_opts *o, const long *pids, unsigned int npids,
	   struct st_round *r, bool quiet_gone)
{
	unsigned int failed = 0;

	for (unsigned int i = 0; i < npids; i++) {
		struct st_stack st;
		char why[256] = "";
		int rc;

		if (seen_pid(r, pids[i]))
			continue;
		rc = ask(pids[i], !o->counters_only, &st, why, sizeof(why));
		if (rc < 0) {
			if (!(quiet_gone && rc == -ECONNREFUSED))
				fprintf(stderr, "zpnet stats: %ld: %s\n", pids[i], why);
			failed++;
			continue;
		}
		r->stacks = xrealloc(r->stacks, (r->n + 1) * sizeof(*r->stacks));
		r->stacks[r->n++] = st;
	}
	return failed;
}

static void
print_round(const struct st_opts *o, const struct st_round *r,
	    const struct st_round *prev)
{
	for (unsigned int i = 0; i < r->n; i++) {
		const struct st_stack *st = &r->stacks[i];
		const struct st_stack *pst = round_find(prev, st->nonce);
		struct st_fdmap *maps = calloc(st->npids ? st->npids : 1, sizeof(*maps));

		if (maps == NULL)
			exit(ST_EXIT_FAIL);
		for (unsigned int k = 0; k < st->npids; k++)
			fdmap_load(&maps[k], st->pids[k]);
		if (o->json) {
			printf("%s", i ? "," : "");
			json_stack(o, st, pst, maps, st->npids);
		} else {
			text_procs(st, maps, st->npids);
			text_counters(st, pst);
			if (!o->counters_only)
				text_sockets(o, st, maps, st->npids);
			if (i + 1 < r->n)
				printf("\n");
		}
		for (unsigned int k = 0; k < st->npids; k++)
			fdmap_free(&maps[k]);
		free(maps);
	}
}

/* ---- the command ---- */

static int
parse_args(int argc, char **argv, struct st_opts *o)
{
	static const struct option longs[] = {
		{ "tcp", no_argument, NULL, 't' },
		{ "udp", no_argument, NULL, 'u' },
		{ "listen", no_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "counters", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->port = o->sport = o->dport = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+tuls:p:cjw:n:h", longs, NULL)) != -1) {
		switch (c) {
		case 't': o->tcp = true; break;
		case 'u': o->udp = true; break;
		case 'l': o->listen = true; break;
		case 's': o->state = optarg; break;
		case 'c': o->counters_only = true; break;
		case 'j': o->json = true; break;
		case 'p':
			o->port = strtol(optarg, &end, 10);
			if (*end != '\0' || o->port < 0 || o->port > UINT16_MAX) {
				fprintf(stderr, "zpnet stats: --port %s: a port is 0 to 65535\n", optarg);
				return -1;
			}
			break;
		case 'w':
			o->watch = strtod(optarg, &end);
			if (*end != '\0' || !(o->watch > 0) || o->watch > 86400) {
				fprintf(stderr, "zpnet stats: --watch %s: seconds, above 0 (0.5, 1, 10)\n", optarg);
				return -1;
			}
			break;
		case 'n':
			o->count = strtol(optarg, &end, 10);
			if (*end != '\0' || o->count < 1) {
				fprintf(stderr, "zpnet stats: --count %s: a number of snapshots, 1 or more\n", optarg);
				return -1;
			}
			break;
		case 'h':
			stats_usage(stdout);
			exit(ST_EXIT_OK);
		default:
			stats_usage(stderr);
			return -1;
		}
	}
	/* PIDs, and ss's filter words */
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "state") == 0 && i + 1 < argc) {
			o->state = argv[++i];
			if (strcasecmp(o->state, "established") == 0)
				o->state = "ESTAB";
			else if (strcasecmp(o->state, "listening") == 0)
				o->state = "LISTEN";
		} else if ((strcmp(argv[i], "port") == 0 || strcmp(argv[i], "sport") == 0 ||
			    strcmp(argv[i], "dport") == 0) && i + 1 < argc) {
			const char *word = argv[i];
			long *dst = word[0] == 's' ? &o->sport :
				    word[0] == 'd' ? &o->dport : &o->port;
			const char *v;

			/* ss's "sport = :6379" as well as "sport 6379" */
			if (strcmp(argv[i + 1], "=") == 0 && i + 2 < argc)
				i++;
			v = argv[++i];
			if (*v == ':')
				v++;
			*dst = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || *dst < 0 || *dst > UINT16_MAX) {
				fprintf(stderr, "zpnet stats: %s %s: a port is 0 to 65535\n", word, argv[i]);
				return -1;
			}
		} else if (o->npids < ST_PIDS_MAX && parse_pid(argv[i], &o->pids[o->npids])) {
			o->npids++;
		} else {
			fprintf(stderr, "zpnet stats: '%s' is neither a PID nor a filter (state NAME, port N)\n",
				argv[i]);
			return -1;
		}
	}
	if (o->count != 0 && o->watch == 0) {
		fprintf(stderr, "zpnet stats: --count goes with --watch SECONDS\n");
		return -1;
	}
	return 0;
}

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void
nap(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (!stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
zpnet_cmd_stats(int argc, char **argv)
{
	struct st_round prev = { 0 }, cur = { 0 };
	bool tty = isatty(STDOUT_FILENO);
	struct sigaction sa = { .sa_handler = on_stop };
	long *pids;
	unsigned int npids;
	struct st_opts *o = calloc(1, sizeof(*o));
	int status = ST_EXIT_OK;

	if (o == NULL || parse_args(argc, argv, o) < 0)
		return ST_EXIT_USAGE;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pids = calloc(ST_PIDS_MAX, sizeof(*pids));
	if (pids == NULL)
		return ST_EXIT_FAIL;
	for (long taken = 0; !stop; taken++) {
		unsigned int failed;

		if (o->npids > 0) {
			memcpy(pids, o->pids, o->npids * sizeof(*pids));
			npids = o->npids;
		} else {
			npids = find_pids(pids, ST_PIDS_MAX);
		}
		/* Without PIDs, a process found as it ends (or one that has
		 * not started its stack) is no error. */
		failed = take_round(o, pids, npids, &cur, o->npids == 0);
		if (o->npids > 0 && failed > 0)
			status = ST_EXIT_FAIL;
		if (cur.n == 0 && o->npids == 0 && o->watch == 0) {
			fprintf(stderr, "zpnet stats: no zpnet stack is running that this user may see\n");
			status = ST_EXIT_FAIL;
		}
		if (o->watch > 0 && tty && !o->json)
			printf("\033[H\033[J");	/* refresh in place */
		if (o->json) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			printf("{\"time\":%.3f,\"stacks\":[",
			       (double)now.tv_sec + (double)now.tv_nsec / 1e9);
			print_round(o, &cur, taken > 0 ? &prev : NULL);
			printf("]}\n");
		} else {
			if (o->watch > 0)
				printf("--- snapshot %ld, every %gs\n", taken + 1, o->watch);
			print_round(o, &cur, taken > 0 ? &prev : NULL);
		}
		fflush(stdout);
		round_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		if (o->watch == 0 || (o->count > 0 && taken + 1 >= o->count) ||
		    (o->npids > 0 && status != ST_EXIT_OK))
			break;
		nap(o->watch);
	}
	round_free(&prev);
	free(pids);
	free(o);
	return status;
}
