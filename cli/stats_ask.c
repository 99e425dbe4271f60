/*
 * zpnet stats: finding zpnet processes, entering a process's network
 * namespace, and asking its stack for a snapshot on the abstract unix
 * socket "zpnet-stats-PID" (bond/bond_stats.c documents the lines).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "bond_stats_proto.h"
#include "stats_int.h"

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- finding the processes ---- */

bool
st_parse_pid(const char *s, long *out)
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

unsigned int
st_find_pids(long *pids, unsigned int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned int n = 0;
	long self = (long)getpid();

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		long pid;

		if (!st_parse_pid(de->d_name, &pid) || pid == self)
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

const char *
st_sock_get(const struct st_sock *s, const char *key)
{
	for (unsigned int i = 0; i < s->nkv; i++)
		if (strcmp(s->key[i], key) == 0)
			return s->val[i];
	return "";
}

void *
st_xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "zpnet stats: out of memory\n");
		exit(ST_EXIT_FAIL);
	}
	return p;
}

void
st_stack_free(struct st_stack *st)
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
int
st_ask(long pid, bool sockets, struct st_stack *st, char *why, size_t whylen)
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
			st_stack_free(st);
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
			st->pids = st_xrealloc(st->pids, (st->npids + 1) * sizeof(*st->pids));
			st->pids[st->npids++] = strtol(line + 5, NULL, 10);
		} else if (strncmp(line, "counter ", 8) == 0) {
			char *name = line + 8, *sp = strchr(name, ' ');

			if (sp == NULL)
				continue;
			*sp = '\0';
			st->ctr = st_xrealloc(st->ctr, (st->nctr + 1) * sizeof(*st->ctr));
			st->ctr[st->nctr].name = strdup(name);
			st->ctr[st->nctr++].value = strtoull(sp + 1, NULL, 10);
		} else if (strncmp(line, "sock ", 5) == 0) {
			struct st_sock *s;

			if (st->nsocks == st->capsocks) {
				st->capsocks = st->capsocks ? st->capsocks * 2 : 64;
				st->socks = st_xrealloc(st->socks,
						     st->capsocks * sizeof(*st->socks));
			}
			s = &st->socks[st->nsocks++];
			memset(s, 0, sizeof(*s));
			s->line = strdup(line + 5);
			if (s->line == NULL)
				exit(ST_EXIT_FAIL);
			sock_fields(s);
			s->proto = st_sock_get(s, "proto");
			s->state = st_sock_get(s, "state");
			s->local = st_sock_get(s, "local");
			s->peer = st_sock_get(s, "peer");
			s->ino = strtoull(st_sock_get(s, "ino"), NULL, 10);
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
		st_stack_free(st);
		return -EPROTO;
	}
	(void)other_ns;
	return 0;
}
