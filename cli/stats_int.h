/*
 * zpnet stats' pieces, shared by cli/zpnet_stats.c (options, rounds, the
 * watch loop) and the files beside it: stats_ask.c (finding the processes
 * and asking their stacks), stats_fdmap.c (which fds refer to a socket),
 * stats_print.c (text and JSON).
 */
#ifndef ZPNET_CLI_STATS_INT_H
#define ZPNET_CLI_STATS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* stats_ask.c */
bool st_parse_pid(const char *s, long *out);
unsigned int st_find_pids(long *pids, unsigned int max);
const char *st_sock_get(const struct st_sock *s, const char *key);
void *st_xrealloc(void *p, size_t n);
void st_stack_free(struct st_stack *st);
int st_ask(long pid, bool sockets, struct st_stack *st, char *why, size_t whylen);

/* stats_fdmap.c */
void st_fdmap_load(struct st_fdmap *m, long pid);
void st_fdmap_free(struct st_fdmap *m);
unsigned int st_fdmap_find(const struct st_fdmap *m, uint64_t ino, const struct st_fd **first);
struct st_fdmap *st_fdmap_of(struct st_fdmap *maps, unsigned int n, long pid);

/* stats_print.c */
void st_text_procs(const struct st_stack *st, struct st_fdmap *maps, unsigned int nmaps);
void st_text_counters(const struct st_stack *st, const struct st_stack *prev);
void st_text_sockets(const struct st_opts *o, const struct st_stack *st, struct st_fdmap *maps, unsigned int nmaps);
void st_json_stack(const struct st_opts *o, const struct st_stack *st, const struct st_stack *prev, struct st_fdmap *maps, unsigned int nmaps);

#endif
