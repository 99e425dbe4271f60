/*
 * libzpnet.so start-up, in phases: read the config (path in ZPNET_CONFIG,
 * set by the launcher), claim the ports, start the stack, start the hooks
 * engine, start the service thread. Without ZPNET_CONFIG, or when another
 * process holds the ports, every call goes to the kernel.
 *
 * Also here: fork (a child never touches the port), the service thread
 * (timers and TX while the application is busy elsewhere) and exit (written
 * data is delivered, bounded by [stack] exit_linger_ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bond.h"
#include "bond_config.h"
#include "bond_hooks.h"
#include "ns.h"
#include "ns_log.h"

#define BOND_ENV_CONFIG		"ZPNET_CONFIG"
#define BOND_ENV_HOOKS_ONLY	"ZPNET_HOOKS_ONLY"
#define BOND_ENV_STATS		"ZPNET_STATS"
#define BOND_FD_TABLE_MAX	(1u << 20)	/* fd table ceiling */
#define BOND_FD_TABLE_MIN	1024
#define BOND_LOCK_DIR		"/tmp"

static const struct bond_stack_ops ns_stack_ops = {
	.lock = ns_lock,
	.unlock = ns_unlock,
	.poll = ns_poll,
	.now_ns = ns_now_ns,
};

/* Until the stack is up: a stack that never has anything. */
static void nop(void) { }
static unsigned int nop_poll(void) { return 0; }
static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * BOND_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static const struct bond_stack_ops idle_stack_ops = {
	.lock = nop,
	.unlock = nop,
	.poll = nop_poll,
	.now_ns = mono_ns,
};

const struct bond_stack_ops *bond_stack = &idle_stack_ops;

static struct ns_config ns_cfg;
static uint64_t exit_linger_ns;

/* ---- fork ---- */

void
bond_fork_prepare(void)
{
	if (!bond_active || bond_in_child)
		return;
	bond_enter();
}

void
bond_fork_parent(void)
{
	if (!bond_active || bond_in_child)
		return;
	bond_leave();
}

void
bond_fork_child(void)
{
	if (!bond_active || bond_in_child)
		return;
	/* The port and every stack socket belong to the parent. */
	bond_in_child = true;
	bond_leave();
}

/* ---- service thread ---- */

static void *
service_main(void *arg)
{
	uint64_t interval = bond_cfg.service_interval_us * BOND_NS_PER_US;
	struct timespec ts = {
		.tv_sec = (time_t)(interval / BOND_NS_PER_S),
		.tv_nsec = (long)(interval % BOND_NS_PER_S),
	};

	bond_guard = 1;	/* everything this thread calls goes to the kernel */
	for (;;) {
		bond_kernel(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
		if (bond_in_child)
			return NULL;
		if (ns_now_ns() - bond_last_poll_ns < interval)
			continue;
		if (!ns_trylock())
			continue;
		bond_tcp_reap();
		bond_poll_locked();
		ns_unlock();
	}
	return NULL;
}

static int
start_service_thread(char *err, size_t errlen)
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, service_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the service thread: %s",
			 strerror(rc));
		return -rc;
	}
	pthread_setname_np(tid, "zpnet-service");
	return 0;
}

/* ---- exit ---- */

/*
 * ZPNET_STATS=FILE: at exit, append "pid PID" and the stack's counters
 * (ns_print_stats: per port frames, drops, pool; lwIP's per protocol).
 */
static void
write_stats(void)
{
	const char *path = getenv(BOND_ENV_STATS);
	FILE *f;

	if (path == NULL || *path == '\0')
		return;
	f = fopen(path, "ae");
	if (f == NULL) {
		NS_WARN("cannot write %s=%s: %s\n",
			BOND_ENV_STATS, path, strerror(errno));
		return;
	}
	fprintf(f, "pid %ld\n", (long)getpid());
	ns_lock();
	ns_print_stats(f);
	ns_unlock();
	fclose(f);
}

/*
 * exit() (atexit) and exit_group (also _exit): close the stack sockets the
 * app left open and wait, bounded by exit_linger_ms, for what was written
 * to be acknowledged. Once per process; never in a forked child.
 */
void
bond_exit_flush(void)
{
	static bool done;

	if (!bond_active || bond_in_child || done)
		return;
	done = true;
	bond_guard++;
	bond_close_all();
	bond_tcp_drain(exit_linger_ns);
	write_stats();
	bond_guard--;
}

static void
bond_atexit(void)
{
	bond_exit_flush();
}

/* ---- ports ---- */

/*
 * One process per port: a lock file per port, named after the network
 * namespace and the interface. A process that finds a port taken (a
 * program started by execve from a zpnet process, or a second copy) runs
 * on the kernel stack.
 */
static uint64_t
fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a offset basis */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;		/* FNV-1a prime */
	}
	return h;
}

static int
claim_ports(const struct ns_config *cfg)
{
	char netns[64] = "", path[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/ns/net", netns, sizeof(netns) - 1);
	if (n > 0)
		netns[n] = '\0';
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		const struct ns_port_config *pc = &cfg->ports[i];
		unsigned long ino = 0;
		int fd;

		char dev[IF_NAMESIZE + 32];

		sscanf(netns, "net:[%lu]", &ino);
		/* The device: its interface, its PCI address, or (memif, tap,
		 * ...) a hash of its driver arguments. */
		if (pc->iface[0] != '\0')
			snprintf(dev, sizeof(dev), "%s", pc->iface);
		else if (pc->pci[0] != '\0')
			snprintf(dev, sizeof(dev), "%s", pc->pci);
		else
			snprintf(dev, sizeof(dev), "args%016llx",
				 (unsigned long long)fnv1a64(pc->devargs));
		snprintf(path, sizeof(path), "%s/zpnet-%lu-%s-%s.lock",
			 BOND_LOCK_DIR, ino, pc->pmd, dev);
		for (char *c = path + strlen(BOND_LOCK_DIR) + 1; *c; c++)
			if (*c == '/' || *c == ',' || *c == '=' || *c == ':')
				*c = '_';
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(fd);
			return e == EWOULDBLOCK ? -EBUSY : -e;
		}
		/* Held (and leaked on purpose) for the life of the process. */
	}
	return 0;
}

static unsigned int
fd_table_size(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY ||
	    rl.rlim_max > BOND_FD_TABLE_MAX)
		return BOND_FD_TABLE_MAX;
	if (rl.rlim_max < BOND_FD_TABLE_MIN)
		return BOND_FD_TABLE_MIN;
	return (unsigned int)rl.rlim_max;
}

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "zpnet: %s: %s\n", what, err);
	exit(1);
}

/* ---- start-up ---- */

static void
load_config(const char *path)
{
	char err[NS_ERR_MAX];

	bond_config_defaults(&bond_cfg);
	bond_hooks_config_defaults(&bond_hooks_cfg);
	if (ns_config_register_section(&bond_cfg_bond, &bond_cfg) < 0 ||
	    ns_config_register_section(&bond_cfg_hooks, &bond_hooks_cfg) < 0)
		die(path, "cannot register the [bond] and [hooks] sections");
	if (ns_config_load(path, &ns_cfg, err, sizeof(err)) < 0)
		die("bad config", err);
	if (bond_config_finish(&bond_cfg, err, sizeof(err)) < 0)
		die(path, err);
	exit_linger_ns = ns_cfg.stack.exit_linger_ms * BOND_NS_PER_MS;
}

static void
start_stack(void)
{
	char err[NS_ERR_MAX];
	int rc;

	rc = bond_fd_init(fd_table_size());
	if (rc < 0)
		die("fd table", strerror(-rc));

	/* ns_start() leaves the app's getopt state as it found it. */
	rc = ns_start(&ns_cfg, err, sizeof(err));
	if (rc < 0)
		die("cannot start the network stack", err);
	bond_stack = &ns_stack_ops;
	bond_last_poll_ns = ns_now_ns();
}

static void
start_hooks(void)
{
	char err[NS_ERR_MAX];

	if (strcmp(bond_hooks_cfg.mode, "preload") == 0) {
		pthread_atfork(bond_fork_prepare, bond_fork_parent,
			       bond_fork_child);
		return;
	}
	if (strcmp(bond_hooks_cfg.mode, "zpoline") != 0 &&
	    strcmp(bond_hooks_cfg.mode, "sud") != 0)
		die(ns_cfg.path, "[hooks] mode must be zpoline, sud or preload");
	if (bond_hooks_start(&bond_hooks_cfg, err, sizeof(err)) < 0)
		die("cannot start the hooks engine", err);
	bond_preload_bypass = true;
}

__attribute__((constructor)) static void
bond_init(void)
{
	const char *path = getenv(BOND_ENV_CONFIG);
	char err[NS_ERR_MAX];
	int rc;

	bond_config_defaults(&bond_cfg);
	if (path == NULL || *path == '\0')
		return;	/* not launched by zpnet: the kernel serves everything */
	bond_guard++;
	load_config(path);
	if (getenv(BOND_ENV_HOOKS_ONLY) != NULL) {
		/* zpnet run --hooks-only: catch everything, serve nothing. */
		start_hooks();
		bond_guard--;
		return;
	}
	rc = claim_ports(&ns_cfg);
	if (rc < 0) {
		ns_log_init_early();
		NS_WARN("zpnet: the ports of %s are in use by another process (%s); "
			"this process uses the kernel stack",
			path, strerror(-rc));
		bond_guard--;
		return;
	}
	/*
	 * Hooks first, while this is the only thread: the engine may then
	 * move the instructions around a syscall into a stub (red zone kept
	 * whole), which it must not do under a thread that could be blocked
	 * in that syscall.  EAL's threads and plugins come after, under the
	 * hooks; until bond_active every call they make is the kernel's.
	 */
	start_hooks();
	start_stack();
	if (start_service_thread(err, sizeof(err)) < 0)
		die("start-up", err);
	atexit(bond_atexit);
	bond_active = true;
	NS_INFO("zpnet: serving TCP/UDP sockets on lwIP (hooks: %s)",
		bond_hooks_cfg.mode);
	bond_guard--;
}
