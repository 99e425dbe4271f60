/*
 * libzpnet.so start-up, in phases. The constructor reads the config (path
 * in ZPNET_CONFIG, set by the launcher) and starts the hooks engine; the
 * stack itself (claim the ports, DPDK and lwIP, the service thread) starts
 * when the process first needs it: its first TCP or UDP socket that the
 * offload policy may give to the stack. A wrapper or a shell that only
 * execs never touches the port. Without ZPNET_CONFIG, or when another
 * process holds the ports, every call goes to the kernel.
 *
 * Also here: fork (the child shares the stack, bond_proc.c), the service thread
 * (timers and TX while the application is busy elsewhere) and exit (written
 * data is delivered, bounded by [stack] exit_linger_ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <time.h>
#include <unistd.h>

#include "bond.h"
#include "bond_config.h"
#include "bond_hooks.h"
#include "ns.h"
#include "ns_log.h"
#include "ns_prewarm.h"

#define BOND_ENV_CONFIG		"ZPNET_CONFIG"
#define BOND_ENV_HOOKS_ONLY	"ZPNET_HOOKS_ONLY"
#define BOND_ENV_STATS		"ZPNET_STATS"
#define BOND_FD_TABLE_MAX	(1u << 20)	/* fd table ceiling */
#define BOND_FD_TABLE_MIN	1024
#define BOND_CLAIM_PREFIX	"zpnet-port"	/* abstract socket names of claimed ports */

/* One turn: what the application's reads owe first, so it leaves in this
 * turn's TX burst. */
static unsigned int
stack_poll(void)
{
	bond_tcp_send_owed_acks();
	bond_tcp_flush_corks();
	bond_tcp_reap();	/* closes still owing their FIN (or a held tail) */
	return ns_poll();
}

static BOND_GENERAL_REGS bool
stack_poll_owed(void)
{
	return ns_tx_pending() || bond_tcp_acks_owed();
}

static const struct bond_stack_ops ns_stack_ops = {
	.poll_owed = stack_poll_owed,
	.lock = ns_lock,
	.unlock = ns_unlock,
	.lock_exit = ns_lock_exit,
	.poll = stack_poll,
	.now_ns = ns_now_ns,
	.wake_fds = ns_wake_fds,
	.flush = ns_flush_pending,
};
_Static_assert(BOND_WAKE_MAX >= NS_WAKE_FDS_MAX, "a wake fd per port");

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

/*
 * fork(), and clone() without CLONE_VM: the stack's memory is shared, so
 * parent and child go on with one stack. With the lock held, the child is
 * given a slot and holds every socket the parent holds before fork
 * returns (bond_proc.c). The parent unlocks; the child never does (the
 * lock is the parent's), it only gives up the guard. Its service thread
 * starts at its first stack call: threads must not be made this early.
 */
static void start_service_lazily(void);

void
bond_fork_prepare(void)
{
	if (!bond_active)
		return;
	bond_enter();
	/* the child shares the pools: whole, before it exists (ns.h) */
	ns_pool_complete();
	bond_proc_fork_prepare();
}

void
bond_fork_parent(long child_pid)
{
	if (!bond_active)
		return;
	bond_proc_fork_parent(child_pid);
	bond_leave();
}

void
bond_fork_child(void)
{
	if (!bond_active)
		return;
	bond_proc_fork_child();
	bond_stats_fork_child();
	bond_service_start_fn = start_service_lazily;
	bond_leave_forked();
}

/* pthread_atfork (preload mode) does not say whether fork worked, nor
 * the child's pid: the fork wrapper (bond_preload.c) settles it. */
static void
fork_parent_preload(void)
{
	bond_fork_parent(BOND_PID_UNKNOWN);
}

bool bond_fork_settles;	/* preload mode: fork() is ours to settle */

void
bond_fork_settle(long child_pid)
{
	if (!bond_active)
		return;
	bond_enter();
	bond_proc_fork_settle(child_pid);
	bond_leave();
}

/* ---- service thread ---- */

/* How often a service thread looks for processes of the stack that are
 * gone without a word (SIGKILL, exec), to release what they held. */
#define BOND_PROC_SCAN_NS	(100 * BOND_NS_PER_MS)

static void *
service_main(void *arg)
{
	uint64_t interval = bond_cfg.service_interval_us * BOND_NS_PER_US;
	uint64_t nap = interval, backoff = interval, next_scan = 0, own = 0;

	bond_guard = 1;	/* everything this thread calls goes to the kernel */
	for (;;) {
		struct timespec ts;
		uint64_t now, since;
		bool idle, scan, grow, locked;

		ns_to_ts(nap, &ts);
		bond_stats_nap(&ts);	/* answers `zpnet stats` meanwhile */
		__atomic_fetch_add(&bond_service_wakes, 1, __ATOMIC_RELAXED);
		now = ns_now_ns();
		/* bond_last_poll_ns is the stack's: whichever process polled.
		 * Still our own stamp: nobody else polls, so we are the poller
		 * (our nap's end, however early, is our turn). */
		since = __atomic_load_n(&bond_last_poll_ns, __ATOMIC_RELAXED) == own ?
			interval : bond_since_poll(now);
		idle = since >= interval;
		scan = now >= next_scan;
		/* the mbuf pool, a chunk a turn after the start (ns.h) */
		grow = ns_pool_pending();
		backoff = grow ? interval : bond_service_nap(backoff, since);
		locked = (idle || scan || grow) && ns_trylock();
		if (locked) {
			if (scan) {
				bond_proc_scan(now, BOND_PROC_SCAN_NS);
				next_scan = now + BOND_PROC_SCAN_NS;
			}
			if (grow)
				ns_pool_grow();
			if (idle) {
				bond_poll_locked();	/* stack_poll reaps too */
				own = __atomic_load_n(&bond_last_poll_ns, __ATOMIC_RELAXED);
				__atomic_fetch_add(&bond_service_polls, 1, __ATOMIC_RELAXED);
			}
			ns_unlock();
		}
		/* the back-off, or less: on time for the next scan, and soon
		 * again for what the lock kept us from */
		nap = backoff;
		if (next_scan > now && nap > next_scan - now)
			nap = next_scan - now;
		if ((idle || scan || grow) && !locked && nap > interval)
			nap = interval;
	}
	return NULL;
}

/*
 * zpnet's threads (the service thread, EAL's) take no signal meant for
 * the application: a process-directed signal goes to a thread that does
 * not block it, and a server waiting in sigsuspend() in its main thread
 * (nginx's master) must be the one to get its SIGCHLD. They are created
 * with every signal blocked (glibc keeps its own set*id signal open).
 */
static void
block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static int
start_service_thread(char *err, size_t errlen)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t old;
	int rc;

	rc = bond_stats_listen();
	if (rc < 0)
		NS_INFO("the stats socket: %s; `zpnet stats` cannot read this process",
			strerror(-rc));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	block_signals(&old);
	rc = pthread_create(&tid, &attr, service_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the service thread: %s",
			 strerror(rc));
		return -rc;
	}
	pthread_setname_np(tid, "zpnet-service");
	return 0;
}

/* A forked child's first stack call (bond_enter) starts its own. */
static void
start_service_lazily(void)
{
	char err[NS_ERR_MAX];

	bond_service_start_fn = NULL;
	if (start_service_thread(err, sizeof(err)) < 0)
		NS_WARN("%s; this process relies on the others to run "
			"the stack's timers", err);
}

/* ---- exit ---- */

/* The stack's counters, "NAME VALUE" a line (lock held): ZPNET_STATS's
 * and `zpnet stats`'s. */
static void
print_counters(FILE *f)
{
	ns_print_stats(f);
	/* the process tree: holders that vanished, locks taken from the dead,
	 * driver ring positions put right after a death inside a burst */
	fprintf(f, "stack.procs_reaped %llu\nstack.lock_recovered %lu\nstack.bursts_repaired %lu\n",
		(unsigned long long)bond_proc_reaped(), ns_lock_recovered(),
		ns_bursts_repaired());
	fprintf(f, "stack.sockets_created %llu\n",
		(unsigned long long)bond_sock_created());
	fprintf(f, "stack.recv_eagain_lockfree %llu\n",
		(unsigned long long)bond_recv_eagain_lockfree);
	/* blocked calls' sleeps, and those a port's frame ended */
	fprintf(f, "stack.naps %llu\nstack.nap_port_wakes %llu\n"
		"stack.nap_wake_errors %llu\n",
		(unsigned long long)bond_naps,
		(unsigned long long)bond_nap_wakes,
		(unsigned long long)bond_nap_wake_errors);
	/* the service threads': wake-ups, and those that polled the stack */
	fprintf(f, "stack.service_wakes %llu\nstack.service_polls %llu\n",
		(unsigned long long)bond_service_wakes,
		(unsigned long long)bond_service_polls);
}

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
	/* the service threads look every 100 ms: the last ones now */
	bond_proc_scan(ns_now_ns(), 0);
	print_counters(f);
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

	if (!bond_active || done)
		return;
	done = true;
	bond_guard++;
	bond_close_all();
	bond_proc_exit();
	/* Wait only in a process that closed a socket for good, now or
	 * before: a forked child that closed nothing its parent still holds
	 * (Redis's BGSAVE) leaves at once. */
	if (bond_proc_closed() != 0)
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
 * One process tree per port. A port is claimed by binding an abstract
 * unix socket named after the device: the name lives in the network
 * namespace (as the interface does), any user may bind it, it leaves no
 * file behind and it is released when the claiming process exits or
 * execs (close-on-exec), whatever user ran it and however it ended.
 * A process that finds a port taken (a second copy, or a program a zpnet
 * process started by fork and exec) runs on the kernel stack.
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
claim_port(const struct ns_port_config *pc)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dev[IF_NAMESIZE + 32];
	socklen_t len;
	int fd, n;

	/* The device: its interface, its PCI address, or (memif, tap, ...)
	 * a hash of its driver arguments. */
	if (pc->iface[0] != '\0')
		snprintf(dev, sizeof(dev), "%s", pc->iface);
	else if (pc->pci[0] != '\0')
		snprintf(dev, sizeof(dev), "%s", pc->pci);
	else
		snprintf(dev, sizeof(dev), "args%016llx",
			 (unsigned long long)fnv1a64(pc->devargs));
	/* sun_path[0] = '\0': the abstract namespace. */
	n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "%s-%s-%s",
		     BOND_CLAIM_PREFIX, pc->pmd, dev);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path) - 1)
		return -ENAMETOOLONG;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		int e = errno;

		close(fd);
		return e == EADDRINUSE ? -EBUSY : -e;
	}
	/* Held (and leaked on purpose) for the life of the process. */
	return 0;
}

static int
claim_ports(const struct ns_config *cfg)
{
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		int rc = claim_port(&cfg->ports[i]);

		if (rc < 0)
			return rc;
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

/* The program cannot go on: said on stderr whatever [stack] log_file
 * says, with the prefix of every line of the library (ns_log.c). */
static void
die(const char *what, const char *err)
{
	fprintf(stderr, "zpnet[%d]: %s: %s\n", (int)getpid(), what, err);
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

/*
 * The descriptors the stack opens (DPDK's packet and XDP sockets, its
 * interrupt thread's epoll, timerfd and pipe, the memory's memfd) belong to
 * this program image: close-on-exec, so that a program this one execs
 * never holds the port (an af_packet socket left in the port's fanout
 * group would take its share of the frames). EAL opens them without
 * O_CLOEXEC, so they are found afterwards: every fd that was not open
 * before the stack started.
 */
#define BOND_FD_SET_BITS	(sizeof(unsigned long) * CHAR_BIT)

struct fd_set_snap {
	unsigned long *bits;
	unsigned int n;		/* fds covered */
};

static void
fds_snapshot(struct fd_set_snap *snap, unsigned int n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	snap->n = n;
	snap->bits = calloc((n + BOND_FD_SET_BITS - 1) / BOND_FD_SET_BITS,
			    sizeof(unsigned long));
	if (d == NULL || snap->bits == NULL) {
		if (d != NULL)
			closedir(d);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long fd = strtoul(de->d_name, &end, 10);

		if (*end == '\0' && end != de->d_name && fd < n)
			snap->bits[fd / BOND_FD_SET_BITS] |=
				1ul << (fd % BOND_FD_SET_BITS);
	}
	closedir(d);
}

static void
fds_cloexec_new(const struct fd_set_snap *before)
{
	struct fd_set_snap after;

	if (before->bits == NULL)
		return;
	fds_snapshot(&after, before->n);
	if (after.bits == NULL)
		return;
	for (unsigned int fd = 0; fd < before->n; fd++) {
		unsigned long bit = 1ul << (fd % BOND_FD_SET_BITS);
		unsigned int w = fd / BOND_FD_SET_BITS;
		int fl;

		if (!(after.bits[w] & bit) || (before->bits[w] & bit))
			continue;
		fl = fcntl((int)fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
	}
	free(after.bits);
}

/* Names this stack's process slots (bond_proc.c): random, never reused. */
static uint64_t
stack_nonce(void)
{
	uint64_t n = 0;

	if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
		n = ns_now_ns() ^ ((uint64_t)getpid() << 32);
	return n;
}

static void
start_stack(void)
{
	struct fd_set_snap before;
	char err[NS_ERR_MAX];
	sigset_t mask;
	int rc;

	fds_snapshot(&before, bond_fd_max());
	/* ns_start() leaves the app's getopt state as it found it; EAL's
	 * threads start with every signal blocked (block_signals). */
	block_signals(&mask);
	ns_device_window = bond_device_window_fn;
	rc = ns_start(&ns_cfg, err, sizeof(err));
	bond_device_prewarm_drop();	/* the helper's sockets no port took */
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (rc < 0)
		die("cannot start the network stack", err);
	bond_stack = &ns_stack_ops;
	bond_tcp_start();
	bond_udp_start();
	bond_last_poll_ns = ns_now_ns();
	rc = bond_proc_start(stack_nonce());
	if (rc < 0)
		die("start-up: cannot take the stack's first process slot",
		    strerror(-rc));
	bond_stats_set_counters(print_counters);
	if (start_service_thread(err, sizeof(err)) < 0)
		die("start-up", err);
	fds_cloexec_new(&before);
	free(before.bits);
	atexit(bond_atexit);
}

/*
 * The first socket the policy may give to the stack starts it (ports,
 * DPDK, lwIP, the service thread). Any thread may get here; one starts
 * the stack, the others wait for it. Returns bond_active: false when the
 * ports are taken (then this process stays on the kernel for good).
 */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static bool start_refused;

bool
bond_stack_start(void)
{
	int rc;

	if (__atomic_load_n(&bond_active, __ATOMIC_ACQUIRE))
		return true;
	if (!bond_armed)
		return false;
	bond_guard++;	/* everything the start-up calls is the kernel's */
	pthread_mutex_lock(&start_lock);
	if (!bond_active && !start_refused) {
		rc = claim_ports(&ns_cfg);
		if (rc < 0) {
			start_refused = true;
			NS_WARN("the ports of %s are in use by another "
				"process (%s); this process uses the kernel stack",
				ns_cfg.path, strerror(-rc));
		} else {
			start_stack();
			bond_fault_install();	/* EFAULT, not SIGSEGV */
			bond_epoll_out_ok = bond_user_writable;
			__atomic_store_n(&bond_active, true, __ATOMIC_RELEASE);
			NS_INFO("serving TCP/UDP sockets on lwIP (hooks: %s)",
				bond_hooks_cfg.mode);
		}
	}
	pthread_mutex_unlock(&start_lock);
	bond_guard--;
	return bond_active;
}

bool bond_preload_bypass;
/* defined by bond_preload.c: in libzpnet-preload.so, not in libzpnet.so */
extern const bool bond_has_wrappers __attribute__((weak));

static void
start_hooks(void)
{
	char err[NS_ERR_MAX];

	if (strcmp(bond_hooks_cfg.mode, "preload") == 0) {
		if (&bond_has_wrappers == NULL)
			die(ns_cfg.path, "[hooks] mode = preload needs "
			    "libzpnet-preload.so, which wraps libc's functions "
			    "(zpnet run picks it): LD_PRELOAD=.../libzpnet-preload.so");
		pthread_atfork(bond_fork_prepare, fork_parent_preload,
			       bond_fork_child);
		bond_fork_settles = true;
		bond_cancel_points = true;
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
	int rc;

	bond_config_defaults(&bond_cfg);
	if (path == NULL || *path == '\0')
		return;	/* not launched by zpnet: the kernel serves everything */
	bond_guard++;
	load_config(path);
	ns_log_init_early();
	bond_device_prewarm_init(getenv(NS_PREWARM_ENV));
	/*
	 * Hooks first, while this is the only thread: the engine may then
	 * move the instructions around a syscall into a stub (red zone kept
	 * whole), which it must not do under a thread that could be blocked
	 * in that syscall.  EAL's threads and plugins come later, when the
	 * stack starts, under the hooks; until bond_active every call they
	 * make is the kernel's.
	 */
	start_hooks();
	/* zpnet run --hooks-only: catch everything, serve nothing. */
	if (getenv(BOND_ENV_HOOKS_ONLY) == NULL) {
		/* The fd table before the stack: epoll sets made before the
		 * first socket (Redis makes its own first) are tracked. */
		rc = bond_fd_init(fd_table_size());
		if (rc < 0)
			die("fd table", strerror(-rc));
		bond_hooks_fd_table(bond_fd_words(), bond_fd_max());
		bond_fd_table_grow();
		bond_armed = true;
	}
	bond_guard--;
}
