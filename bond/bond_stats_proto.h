/*
 * The stats socket's name and request lines, shared by the server side
 * (bond_stats.c) and `zpnet stats` (cli/zpnet_stats.c). The answer's
 * format is described in bond_stats.c.
 */
#ifndef ZPNET_BOND_STATS_PROTO_H
#define ZPNET_BOND_STATS_PROTO_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define BOND_STATS_NAME		"zpnet-stats"	/* abstract: "\0zpnet-stats-PID" */
#define BOND_STATS_MAGIC	"zpnet-stats"	/* an answer's first word */
#define BOND_STATS_VERSION	1		/* ... and its second */
#define BOND_STATS_REQUEST	"snapshot"	/* a request's first word */
#define BOND_STATS_NOSOCKETS	"nosockets"	/* then, optionally: counters only */

/* The address of pid's stats socket; its length. */
static inline socklen_t
bond_stats_addr(struct sockaddr_un *sun, long pid)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* sun_path[0] = '\0': the abstract namespace */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "%s-%ld",
		     BOND_STATS_NAME, pid);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

#endif
