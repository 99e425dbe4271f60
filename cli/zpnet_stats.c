/*
 * zpnet stats: a live look inside running stacks, in the manner of ss.
 *
 * Each zpnet process answers on an abstract unix socket named
 * "zpnet-stats-PID" in its network namespace (bond/bond_stats.c, which
 * also documents the lines of a snapshot). zpnet stats finds the
 * processes, asks each stack once (any of its processes describes all of
 * it), finds which fds of which process refer to each socket (the
 * socket's kernel inode in /proc/PID/fd), and prints a table, JSON, or
 * rates. This file: the options, the rounds and the watch loop;
 * stats_ask.c finds and asks, stats_fdmap.c maps fds, stats_print.c
 * prints (stats_int.h between them).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats_int.h"
#include "zpnet_stats.h"

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

/* ---- one round ---- */

struct st_round {
	struct st_stack *stacks;
	unsigned int n;
};

static void
round_free(struct st_round *r)
{
	for (unsigned int i = 0; i < r->n; i++)
		st_stack_free(&r->stacks[i]);
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
		rc = st_ask(pids[i], !o->counters_only, &st, why, sizeof(why));
		if (rc < 0) {
			if (!(quiet_gone && rc == -ECONNREFUSED))
				fprintf(stderr, "zpnet stats: %ld: %s\n", pids[i], why);
			failed++;
			continue;
		}
		r->stacks = st_xrealloc(r->stacks, (r->n + 1) * sizeof(*r->stacks));
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
			st_fdmap_load(&maps[k], st->pids[k]);
		if (o->json) {
			printf("%s", i ? "," : "");
			st_json_stack(o, st, pst, maps, st->npids);
		} else {
			st_text_procs(st, maps, st->npids);
			st_text_counters(st, pst);
			if (!o->counters_only)
				st_text_sockets(o, st, maps, st->npids);
			if (i + 1 < r->n)
				printf("\n");
		}
		for (unsigned int k = 0; k < st->npids; k++)
			st_fdmap_free(&maps[k]);
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
		} else if (o->npids < ST_PIDS_MAX && st_parse_pid(argv[i], &o->pids[o->npids])) {
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
			npids = st_find_pids(pids, ST_PIDS_MAX);
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
