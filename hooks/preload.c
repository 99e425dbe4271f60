/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * preload.c - libzphooks.so: the hook engine on its own, with a dispatcher
 * chosen by ZPHOOKS_DISPATCH (see hooks/README.md):
 *   pass    every syscall goes to the kernel (default)
 *   return  ZPHOOKS_RETURN_NR (default 39, getpid) returns
 *           ZPHOOKS_RETURN_VALUE (default 0) without entering the kernel;
 *           every other syscall passes through
 *   count   counts syscalls per number; at exit_group, appends
 *           "<pid> <nr> <count>" lines and "<pid> sud <n>" to
 *           ZPHOOKS_COUNT_FILE.  A forked child starts from zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "zp_internal.h"

#define ZP_COUNT_NR_MAX		1024
#define ZP_COUNT_LINE		48
#define ZP_PATH_MAX		4096
#define ZP_DEFAULT_RETURN_NR	39	/* __NR_getpid */

static long zp_ret_nr = ZP_DEFAULT_RETURN_NR;
static long zp_ret_val;
static uint64_t zp_counts[ZP_COUNT_NR_MAX];
static uint64_t zp_count_other;
static char zp_count_path[ZP_PATH_MAX];

static long
zp_dispatch_return(long nr, long a1, long a2, long a3, long a4, long a5,
		   long a6)
{
	if (nr == zp_ret_nr)
		return zp_ret_val;
	return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

/* Append this process's counts to the count file; raw syscalls only. */
static void
zp_count_dump(void)
{
	static char buf[ZP_COUNT_NR_MAX * ZP_COUNT_LINE];
	struct zp_hooks_stats st;
	long pid = zp_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
	size_t len = 0;
	long fd;
	int nr;

	if (zp_count_path[0] == '\0')
		return;
	for (nr = 0; nr < ZP_COUNT_NR_MAX; nr++) {
		uint64_t c = __atomic_load_n(&zp_counts[nr], __ATOMIC_RELAXED);

		if (c != 0 && len + ZP_COUNT_LINE < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%ld %d %lu\n", pid, nr,
						(unsigned long)c);
	}
	zp_hooks_get_stats(&st);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len,
				"%ld sud %lu\n%ld other %lu\n%ld armfail %lu\n"
				"%ld lazy %lu\n%ld forgotten %lu\n", pid,
				(unsigned long)st.sud_caught, pid,
				(unsigned long)zp_count_other, pid,
				(unsigned long)zp_sud_arm_fail, pid,
				(unsigned long)st.sites_lazy, pid,
				(unsigned long)st.sites_forgotten);
	fd = zp_syscall6(SYS_open, (long)zp_count_path,
			 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644, 0, 0,
			 0);
	if (fd < 0)
		return;
	zp_syscall6(SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
	zp_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* A forked child reports only its own syscalls. */
static void
zp_count_child(void)
{
	memset(zp_counts, 0, sizeof(zp_counts));
	zp_count_other = 0;
}

static long
zp_dispatch_count(long nr, long a1, long a2, long a3, long a4, long a5,
		  long a6)
{
	if ((unsigned long)nr < ZP_COUNT_NR_MAX)
		__atomic_fetch_add(&zp_counts[nr], 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&zp_count_other, 1, __ATOMIC_RELAXED);
	/* a vfork child shares our counters: it dumps nothing */
	if (nr == SYS_exit_group && !zp_hooks_in_vfork_child())
		zp_count_dump();
	return zp_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

static int
zp_env_flag(const char *name, int def)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return def;
	return strcmp(v, "0") != 0 && strcmp(v, "no") != 0;
}

static void
zp_die(const char *what, const char *msg)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), "zphooks: %s: %s\n", what, msg);
	zp_syscall6(SYS_write, 2, (long)buf, n, 0, 0, 0);
	zp_syscall6(SYS_exit_group, 1, 0, 0, 0, 0, 0);
}

__attribute__((constructor(101)))
static void
zp_preload_init(void)
{
	struct zp_hooks_config cfg;
	const char *disp = getenv("ZPHOOKS_DISPATCH");
	const char *v;
	int r;

	zp_hooks_config_default(&cfg);
	v = getenv("ZPHOOKS_MODE");
	if (v != NULL && strcmp(v, "sud") == 0)
		cfg.mode = ZP_HOOKS_SUD_ONLY;
	else if (v != NULL && *v != '\0' && strcmp(v, "zpoline") != 0)
		zp_die("ZPHOOKS_MODE", "must be zpoline or sud");
	v = getenv("ZPHOOKS_SUD");
	if (v == NULL || *v == '\0' || strcmp(v, "lazy") == 0)
		cfg.sud_safety_net = ZP_SUD_LAZY;
	else if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
		cfg.sud_safety_net = ZP_SUD_OFF;
	else if (strcmp(v, "1") == 0 || strcmp(v, "always") == 0)
		cfg.sud_safety_net = ZP_SUD_ALWAYS;
	else
		zp_die("ZPHOOKS_SUD", "must be off, lazy or always");
	cfg.allow_sud_fallback = zp_env_flag("ZPHOOKS_ALLOW_SUD_ONLY", 0);
	cfg.no_stubs = !zp_env_flag("ZPHOOKS_STUBS", 1);

	if (disp == NULL || *disp == '\0' || strcmp(disp, "pass") == 0) {
		r = 0;
	} else if (strcmp(disp, "return") == 0) {
		v = getenv("ZPHOOKS_RETURN_NR");
		if (v != NULL && *v != '\0')
			zp_ret_nr = atol(v);
		v = getenv("ZPHOOKS_RETURN_VALUE");
		if (v != NULL && *v != '\0')
			zp_ret_val = atol(v);
		v = getenv("ZPHOOKS_RETURN_VECTOR");
		r = zp_hooks_register_flags(zp_dispatch_return,
					    ZP_DISPATCH_REENTRANT |
					    (v != NULL && strcmp(v, "1") == 0 ?
					     ZP_DISPATCH_VECTOR : 0));
	} else if (strcmp(disp, "count") == 0) {
		v = getenv("ZPHOOKS_COUNT_FILE");
		if (v != NULL)
			snprintf(zp_count_path, sizeof(zp_count_path), "%s",
				 v);
		r = zp_hooks_register_flags(zp_dispatch_count,
					    ZP_DISPATCH_REENTRANT);
		zp_hooks_set_fork_callbacks(NULL, NULL, zp_count_child);
	} else {
		zp_die("ZPHOOKS_DISPATCH", "must be pass, return or count");
		r = -EINVAL;
	}
	if (r != 0)
		zp_die("register", strerror(-r));
	r = zp_hooks_start(&cfg);
	if (r != 0)
		zp_die("cannot start", zp_hooks_strerror());
}
