/*
 * zpnet stats: a snapshot as ss-like text or as JSON, filtered as the
 * options say.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_int.h"

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

void
st_text_procs(const struct st_stack *st, struct st_fdmap *maps, unsigned int nmaps)
{
	printf("stack %s: %u process%s:", st->nonce, st->npids,
	       st->npids == 1 ? "" : "es");
	for (unsigned int i = 0; i < st->npids; i++) {
		struct st_fdmap *m = st_fdmap_of(maps, nmaps, st->pids[i]);

		printf(" %ld(%s)", st->pids[i], m != NULL && m->comm[0] ? m->comm : "?");
	}
	printf("\n");
}

void
st_text_counters(const struct st_stack *st, const struct st_stack *prev)
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
	const char *pids = st_sock_get(s, "pids");
	size_t used = 0;

	out[0] = '\0';
	while (*pids != '\0' && *pids != '-') {
		long pid = strtol(pids, (char **)&pids, 10);
		struct st_fdmap *m = st_fdmap_of(maps, nmaps, pid);

		const struct st_fd *fd;
		unsigned int nfd = st_fdmap_find(m, s->ino, &fd);

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

void
st_text_sockets(const struct st_opts *o, const struct st_stack *st,
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
		       st_sock_get(s, "rxq"), st_sock_get(s, "txq"), s->local, s->peer,
		       owner);
		printf("\t");
		for (unsigned int k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
			const char *v = st_sock_get(s, shown[k]);

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

void
st_json_stack(const struct st_opts *o, const struct st_stack *st,
	   const struct st_stack *prev, struct st_fdmap *maps,
	   unsigned int nmaps)
{
	bool first = true;

	printf("{\"stack\":");
	json_str(st->nonce);
	printf(",\"answered_by\":%ld,\"processes\":[", st->self);
	for (unsigned int i = 0; i < st->npids; i++) {
		struct st_fdmap *m = st_fdmap_of(maps, nmaps, st->pids[i]);

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
		pids = st_sock_get(s, "pids");
		for (bool p1 = true; *pids != '\0' && *pids != '-'; p1 = false) {
			long pid = strtol(pids, (char **)&pids, 10);
			struct st_fdmap *m = st_fdmap_of(maps, nmaps, pid);

			const struct st_fd *fd;
			unsigned int nfd = st_fdmap_find(m, s->ino, &fd);

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
