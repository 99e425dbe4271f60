/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * maps.c - reading /proc/self/maps with raw system calls only (it runs
 * before and while libc is being rewritten).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zp_internal.h"

#define ZP_MAPS_BUF		(1 << 20)	/* enough for ~10000 lines */
#define ZP_MAPS_LINE_MAX	4096

static int
zp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *
zp_parse_hex(const char *s, uintptr_t *out)
{
	uintptr_t v = 0;
	int n = 0, h;

	while ((h = zp_hexval(*s)) >= 0) {
		v = (v << 4) | (uintptr_t)h;
		s++;
		n++;
	}
	*out = v;
	return n > 0 ? s : NULL;
}

static const char *
zp_skip_field(const char *s)
{
	while (*s != '\0' && *s != ' ' && *s != '\n')
		s++;
	while (*s == ' ')
		s++;
	return s;
}

/*
 * Parse one line "start-end perms offset dev inode [path]".
 * Returns 0, or -EINVAL for a malformed line.
 */
int
zp_maps_parse_line(const char *line, struct zp_map *m)
{
	const char *s = line;
	size_t n;
	int i;

	memset(m, 0, sizeof(*m));
	s = zp_parse_hex(s, &m->start);
	if (s == NULL || *s != '-')
		return -EINVAL;
	s = zp_parse_hex(s + 1, &m->end);
	if (s == NULL || *s != ' ' || m->end < m->start)
		return -EINVAL;
	s++;
	for (i = 0; i < 4; i++)
		if (s[i] == '\0')
			return -EINVAL;
	if (s[0] == 'r')
		m->prot |= PROT_READ;
	if (s[1] == 'w')
		m->prot |= PROT_WRITE;
	if (s[2] == 'x')
		m->prot |= PROT_EXEC;
	m->is_private = s[3] == 'p';
	/* perms, offset, dev, inode */
	for (i = 0; i < 4; i++) {
		s = zp_skip_field(s);
		if (i == 0) {
			uintptr_t off;

			if (zp_parse_hex(s, &off) == NULL)
				return -EINVAL;
			m->offset = off;
		}
		if (*s == '\0' || *s == '\n') {
			if (i < 3)
				return -EINVAL;
			return 0;
		}
	}
	n = strcspn(s, "\n");
	if (n >= sizeof(m->path))
		n = sizeof(m->path) - 1;
	memcpy(m->path, s, n);
	m->path[n] = '\0';
	return 0;
}

/*
 * Call cb for every mapping, from a snapshot taken first (cb may change
 * the mappings).  Stops early when cb returns non-zero and returns that.
 */
int
zp_maps_foreach(zp_map_cb cb, void *arg)
{
	char *buf;
	size_t len = 0;
	long fd, r;
	char *line, *nl;
	int ret = 0;

	buf = (char *)zp_syscall6(SYS_mmap, 0, ZP_MAPS_BUF,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zp_kerr((long)buf))
		return (int)(long)buf;
	fd = zp_syscall6(SYS_open, (long)"/proc/self/maps", O_RDONLY, 0, 0,
			 0, 0);
	if (fd < 0) {
		zp_syscall6(SYS_munmap, (long)buf, ZP_MAPS_BUF, 0, 0, 0, 0);
		return (int)fd;
	}
	for (;;) {
		r = zp_syscall6(SYS_read, fd, (long)(buf + len),
				ZP_MAPS_BUF - 1 - len, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len >= ZP_MAPS_BUF - 1)
			break;
	}
	zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	buf[len] = '\0';
	for (line = buf; *line != '\0' && ret == 0; line = nl + 1) {
		struct zp_map m;

		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line) - 1;
		if (zp_maps_parse_line(line, &m) == 0)
			ret = cb(&m, arg);
	}
	zp_syscall6(SYS_munmap, (long)buf, ZP_MAPS_BUF, 0, 0, 0, 0);
	return ret;
}
