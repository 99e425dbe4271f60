/*
 * zpnet stats: which fds of a process refer to each socket, by the
 * socket's kernel inode in /proc/PID/fd.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats_int.h"

/* ---- fds and names of the processes ---- */

static int
fd_cmp(const void *a, const void *b)
{
	const struct st_fd *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->fd - y->fd;
}

void
st_fdmap_load(struct st_fdmap *m, long pid)
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

		if (!st_parse_pid(de->d_name, &fd) && strcmp(de->d_name, "0") != 0)
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
			m->fds = st_xrealloc(m->fds, m->cap * sizeof(*m->fds));
		}
		m->fds[m->n].ino = ino;
		m->fds[m->n++].fd = (int)fd;
	}
	closedir(d);
	qsort(m->fds, m->n, sizeof(*m->fds), fd_cmp);
}

void
st_fdmap_free(struct st_fdmap *m)
{
	free(m->fds);
}

/* The fds of m for inode ino: *first and the count (sorted, adjacent). */
unsigned int
st_fdmap_find(const struct st_fdmap *m, uint64_t ino, const struct st_fd **first)
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

struct st_fdmap *
st_fdmap_of(struct st_fdmap *maps, unsigned int n, long pid)
{
	for (unsigned int i = 0; i < n; i++)
		if (maps[i].pid == pid)
			return &maps[i];
	return NULL;
}
