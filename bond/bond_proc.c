/*
 * Processes of one stack, and who holds each socket.
 *
 * A stack socket is like the kernel's open file description: every process
 * that has an fd for it holds it, and it closes when the last holder lets
 * go, whether by close(), exit, exec or death. Each process of the stack
 * has a slot (up to BOND_PROCS_MAX); a socket records its holders as a
 * bitmap of slots (shared, under the stack lock) and each process counts
 * its own fds per socket privately (its fd table is its own, as the
 * kernel's is), indexed by the socket's small index.
 *
 * fork() gives the child a slot in the parent's prepare step, with the
 * stack lock held, and the child holds everything the parent holds before
 * fork returns: the parent may exit at once (a daemon's double fork) and
 * nothing closes under the child.
 *
 * A process may also vanish without telling anyone: SIGKILL, or exec (the
 * new image has none of this memory). Each slot's process binds an
 * abstract unix socket named after the stack and the slot, close-on-exec;
 * the name disappears with the process or at its exec. Any process can
 * see it gone (connect() is refused) and releases what the slot held
 * (bond_proc_scan, from the service threads).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "bond.h"
#include "ns_log.h"

#define BOND_PROC_NAME		"zpnet-proc"	/* abstract socket: "\0zpnet-proc-NONCE-SLOT-GEN" */
#define BOND_BITS		64u

enum bond_proc_state {
	BOND_PROC_FREE = 0,
	BOND_PROC_LIVE,		/* a process is in it */
	BOND_PROC_FORKING,	/* reserved by a parent in fork's prepare */
};

/* Shared by every process of the stack (ns_shared.ld). */
struct bond_procs {
	uint64_t nonce;				/* names this stack's slots */
	uint8_t state[BOND_PROCS_MAX];
	int32_t pid[BOND_PROCS_MAX];
	uint32_t gen[BOND_PROCS_MAX];		/* bumped at each use of a slot */
	uint64_t idx_map[BOND_SOCKS_MAX / BOND_BITS];	/* socket indexes in use */
	struct bond_sock *at[BOND_SOCKS_MAX];	/* the socket at each index in use */
	uint32_t idx_hint;
	struct bond_sock *socks;		/* every open stack socket */
	uint64_t reaped;			/* slots released for a vanished process */
	uint32_t used;				/* slots not free */
	uint64_t last_scan_ns;
};
static struct bond_procs procs BOND_SHARED;

/* This process's own. */
int bond_self = -1;
static uint16_t *fdcount;	/* per socket index: this process's fds */
static int name_fd = -1;	/* the bound abstract socket */
static int fork_slot = -1;	/* reserved for the child of the fork in progress */
/* preload: this thread's last fork, whose child's pid is not known yet */
static __thread int unsettled_slot = -1;
static __thread uint32_t unsettled_gen;
static uint64_t closed_here;	/* sockets whose last hold this process dropped */

static bool
holds(const struct bond_sock *sk, int slot)
{
	return sk->holders[(unsigned int)slot / BOND_BITS] &
	       (1ull << ((unsigned int)slot % BOND_BITS));
}

/* slot -1: a process past BOND_PROCS_MAX, which holds nothing by bit. */
static void
hold_set(struct bond_sock *sk, int slot)
{
	if (slot < 0 || holds(sk, slot))
		return;
	sk->holders[(unsigned int)slot / BOND_BITS] |= 1ull << ((unsigned int)slot % BOND_BITS);
	sk->nholders++;
}

/* Returns true when slot was the last holder. */
static bool
hold_clear(struct bond_sock *sk, int slot)
{
	if (slot < 0)
		return sk->nholders == 0;	/* its own socket: no other holder */
	if (!holds(sk, slot))
		return false;
	sk->holders[(unsigned int)slot / BOND_BITS] &= ~(1ull << ((unsigned int)slot % BOND_BITS));
	return --sk->nholders == 0;
}

static int
slot_name(int slot, struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* The generation: a slot's previous process may still hold its own
	 * name while it finishes exiting. */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
		     "%s-%016llx-%d-%u", BOND_PROC_NAME,
		     (unsigned long long)procs.nonce, slot, procs.gen[slot]);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/*
 * A datagram socket (close-on-exec) that has bound (SYS_bind) or connected
 * to (SYS_connect) slot's name. Returns it, or -errno (nothing left open).
 */
static long
name_socket(int slot, long op)
{
	struct sockaddr_un sun;
	int len = slot_name(slot, &sun);
	long fd, rc;

	fd = bond_kernel(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
	if (fd < 0)
		return fd;
	rc = bond_kernel(op, fd, (long)&sun, len, 0, 0, 0);
	if (rc < 0) {
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		return rc;
	}
	return fd;
}

/* Bind this process's slot name, held until exit or exec. */
static int
name_bind(int slot)
{
	long fd = name_socket(slot, SYS_bind);

	if (fd < 0)
		return (int)fd;
	name_fd = (int)fd;
	return 0;
}

/* Is the process of slot still there (its name still bound)? */
static bool
slot_alive(int slot)
{
	long fd = name_socket(slot, SYS_connect);

	if (fd >= 0) {
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		return true;
	}
	return fd != -ECONNREFUSED && fd != -ENOENT;	/* else: cannot tell */
}

static int
slot_alloc(enum bond_proc_state st)
{
	for (int i = 0; i < BOND_PROCS_MAX; i++) {
		if (procs.state[i] == BOND_PROC_FREE) {
			procs.state[i] = (uint8_t)st;
			procs.pid[i] = 0;
			procs.gen[i]++;
			procs.used++;
			return i;
		}
	}
	return -1;
}

int
bond_proc_start(uint64_t nonce)
{
	void *p;

	p = mmap(NULL, BOND_SOCKS_MAX * sizeof(*fdcount), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	fdcount = p;
	bond_enter();
	procs.nonce = nonce;
	bond_self = slot_alloc(BOND_PROC_LIVE);
	procs.pid[bond_self] = (int32_t)bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0);
	bond_leave();
	return name_bind(bond_self);
}

/* ---- sockets ---- */

int
bond_sock_register(struct bond_sock *sk)
{
	uint32_t n = BOND_SOCKS_MAX / BOND_BITS;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t w = (procs.idx_hint + k) % n;
		uint64_t free_bits = ~procs.idx_map[w];

		if (free_bits == 0)
			continue;
		sk->idx = w * BOND_BITS + (uint32_t)__builtin_ctzll(free_bits);
		procs.idx_map[w] |= 1ull << (sk->idx % BOND_BITS);
		procs.idx_hint = w;
		procs.at[sk->idx] = sk;
		sk->all_prev = NULL;
		sk->all_next = procs.socks;
		if (procs.socks != NULL)
			procs.socks->all_prev = sk;
		procs.socks = sk;
		fdcount[sk->idx] = 0;
		return 0;
	}
	return -ENFILE;
}

static void
sock_unregister(struct bond_sock *sk)
{
	procs.idx_map[sk->idx / BOND_BITS] &= ~(1ull << (sk->idx % BOND_BITS));
	procs.at[sk->idx] = NULL;
	if (sk->all_prev != NULL)
		sk->all_prev->all_next = sk->all_next;
	else
		procs.socks = sk->all_next;
	if (sk->all_next != NULL)
		sk->all_next->all_prev = sk->all_prev;
	sk->all_next = sk->all_prev = NULL;
}

/* The last holder let go: the protocol closes it (data still delivered). */
static void
sock_final(struct bond_sock *sk)
{
	sock_unregister(sk);
	closed_here++;
	bond_sock_bump(sk);	/* epoll sets drop it at their next look */
	sk->proto->close(sk);
}

struct bond_sock *
bond_sock_at(uint32_t idx, uint64_t id)
{
	struct bond_sock *sk = idx < BOND_SOCKS_MAX ? procs.at[idx] : NULL;

	return sk != NULL && sk->id == id ? sk : NULL;
}

void
bond_sock_hold(struct bond_sock *sk)
{
	if (fdcount[sk->idx]++ == 0)
		hold_set(sk, bond_self);
}

bool
bond_sock_last(const struct bond_sock *sk)
{
	return fdcount[sk->idx] == 1 && sk->nholders == 1;
}

void
bond_sock_drop(struct bond_sock *sk)
{
	if (fdcount[sk->idx] == 0 || --fdcount[sk->idx] != 0)
		return;
	if (hold_clear(sk, bond_self))
		sock_final(sk);
}

/* ---- fork ---- */

void
bond_proc_fork_prepare(void)
{
	static bool told;

	unsettled_slot = -1;	/* a fork the wrapper did not see settles no more */
	fork_slot = slot_alloc(BOND_PROC_FORKING);
	if (fork_slot < 0) {
		if (!told)
			NS_WARN("%d processes share this stack already; a "
				"child forked now holds none of its sockets",
				BOND_PROCS_MAX);
		told = true;
		return;
	}
	for (struct bond_sock *sk = procs.socks; sk != NULL; sk = sk->all_next)
		if (fdcount[sk->idx] != 0)
			hold_set(sk, fork_slot);
}

/* fork failed: nobody is in the slot */
static void
fork_failed(int slot)
{
	for (struct bond_sock *sk = procs.socks; sk != NULL; sk = sk->all_next)
		hold_clear(sk, slot);	/* we hold them too: never the last */
	procs.state[slot] = BOND_PROC_FREE;
	procs.used--;
}

void
bond_proc_fork_parent(long child_pid)
{
	int slot = fork_slot;

	fork_slot = -1;
	if (slot < 0)
		return;
	if (child_pid == BOND_PID_UNKNOWN) {	/* bond_proc_fork_settle says */
		unsettled_slot = slot;
		unsettled_gen = procs.gen[slot];
	}
	if (child_pid > 0) {
		procs.pid[slot] = (int32_t)child_pid;
		return;
	}
	fork_failed(slot);
}

void
bond_proc_fork_settle(long child_pid)
{
	int slot = unsettled_slot;

	unsettled_slot = -1;
	/* still the slot of that fork, and nobody has reaped it */
	if (slot < 0 || procs.gen[slot] != unsettled_gen ||
	    procs.state[slot] == BOND_PROC_FREE ||
	    procs.pid[slot] != BOND_PID_UNKNOWN)
		return;
	if (child_pid > 0)
		procs.pid[slot] = (int32_t)child_pid;
	else
		fork_failed(slot);
}

/* In the child, before fork returns (one thread, the parent holds the lock). */
void
bond_proc_fork_child(void)
{
	int slot = fork_slot;

	fork_slot = -1;
	unsettled_slot = -1;	/* the parent's to settle */
	if (name_fd >= 0)
		bond_kernel(SYS_close, name_fd, 0, 0, 0, 0, 0);	/* the parent's name */
	name_fd = -1;
	bond_self = slot;
	if (slot < 0) {
		/* No slot: this process holds nothing (see prepare). */
		memset(fdcount, 0, BOND_SOCKS_MAX * sizeof(*fdcount));
		return;
	}
	/* Named first: a scan never finds a live slot without its name. */
	if (name_bind(slot) < 0)
		NS_WARN("a forked child could not name its slot; what it "
			"holds is released only when it exits normally");
	__atomic_store_n(&procs.state[slot], BOND_PROC_LIVE, __ATOMIC_RELEASE);
}

/* ---- leaving ---- */

/* Release slot's holds, closing what only it held. Lock held. */
static void
slot_release(int slot)
{
	struct bond_sock *sk = procs.socks, *next;

	for (; sk != NULL; sk = next) {
		next = sk->all_next;
		if (hold_clear(sk, slot))
			sock_final(sk);
	}
	procs.state[slot] = BOND_PROC_FREE;
	procs.pid[slot] = 0;
	procs.used--;
}

void
bond_proc_exit(void)
{
	if (bond_self < 0)
		return;
	bond_enter();
	slot_release(bond_self);
	bond_leave();
	bond_self = -1;
	if (name_fd >= 0)
		bond_kernel(SYS_close, name_fd, 0, 0, 0, 0, 0);
	name_fd = -1;
}

bool
bond_proc_scan(uint64_t now_ns, uint64_t every_ns)
{
	bool found = false;

	if (now_ns - procs.last_scan_ns < every_ns)
		return false;
	procs.last_scan_ns = now_ns;
	for (int i = 0; i < BOND_PROCS_MAX; i++) {
		uint8_t st = __atomic_load_n(&procs.state[i], __ATOMIC_ACQUIRE);

		if (st == BOND_PROC_FREE || i == bond_self)
			continue;
		/* A child that died before it could name itself: by its pid. */
		if (st == BOND_PROC_FORKING &&
		    (procs.pid[i] <= 0 ||
		     bond_kernel(SYS_kill, procs.pid[i], 0, 0, 0, 0, 0) != -ESRCH))
			continue;
		if (st == BOND_PROC_LIVE && slot_alive(i))
			continue;
		slot_release(i);
		procs.reaped++;
		found = true;
	}
	return found;
}

uint64_t
bond_proc_reaped(void)
{
	return procs.reaped;
}

bool
bond_proc_holds(const struct bond_sock *sk)
{
	return fdcount != NULL && fdcount[sk->idx] != 0;
}

uint64_t
bond_proc_closed(void)
{
	return closed_here;
}

bool
bond_proc_shared(void)
{
	return __atomic_load_n(&procs.used, __ATOMIC_RELAXED) > 1;
}

/* ---- what `zpnet stats` reads (lock held) ---- */

uint64_t
bond_proc_nonce(void)
{
	return procs.nonce;
}

unsigned int
bond_proc_pids(int32_t *pids, unsigned int max)
{
	unsigned int n = 0;

	for (int i = 0; i < BOND_PROCS_MAX && n < max; i++)
		if (procs.state[i] == BOND_PROC_LIVE && procs.pid[i] > 0)
			pids[n++] = procs.pid[i];
	return n;
}

unsigned int
bond_sock_next(uint32_t *idx, struct bond_sock **out, unsigned int max)
{
	unsigned int n = 0;
	uint32_t i = *idx;

	while (i < BOND_SOCKS_MAX && n < max) {
		uint64_t word = procs.idx_map[i / BOND_BITS] >> (i % BOND_BITS);

		if (word == 0) {	/* nothing more in this word */
			i = (i / BOND_BITS + 1) * BOND_BITS;
			continue;
		}
		i += (uint32_t)__builtin_ctzll(word);
		if (procs.at[i] != NULL)
			out[n++] = procs.at[i];
		i++;
	}
	*idx = i;
	return n;
}

unsigned int
bond_sock_holders(const struct bond_sock *sk, int32_t *pids, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int w = 0; w < BOND_PROCS_MAX / BOND_BITS; w++) {
		for (uint64_t bits = sk->holders[w]; bits != 0 && n < max;
		     bits &= bits - 1) {
			unsigned int i = w * BOND_BITS +
					 (unsigned int)__builtin_ctzll(bits);

			if (procs.state[i] != BOND_PROC_FREE && procs.pid[i] > 0)
				pids[n++] = procs.pid[i];
		}
	}
	return n;
}
