/*
 * bond: the socket layer. Serves the socket system calls of an unmodified
 * program on lwIP (raw API) for the sockets zpnet owns, and passes every
 * other call to the kernel.
 *
 * Layers inside bond, top down:
 *   bond_dispatch.c  syscall number -> handler (table from syscalls.def)
 *   bond_preload.c   libc symbol -> the same handlers (LD_PRELOAD front-end)
 *   bond_sys.c       the handlers: look up the fd, serve it or fall through
 *   bond_wait.c      epoll/poll/select over kernel fds and stack sockets
 *   bond_sockopt.c   setsockopt/getsockopt table
 *   bond_fd.c        fd -> owner table
 *   bond_tcp.c       TCP on lwIP's raw API (a struct bond_proto)
 *   bond_udp.c       UDP on lwIP's raw API (a struct bond_proto)
 *
 * Handlers return what the kernel returns (a value or -errno) and never
 * touch errno. No lwIP header is included here: the protocol files keep
 * lwIP to themselves, so the generic layer builds against a fake stack in
 * the unit suite.
 */
#ifndef ZPNET_BOND_H
#define ZPNET_BOND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/* Time units, for nanosecond clocks. */
#define BOND_NS_PER_US	1000ull
#define BOND_NS_PER_MS	1000000ull
#define BOND_NS_PER_S	1000000000ull
#define BOND_DEFAULT_TTL	64	/* Linux's ip_default_ttl, hop_limit */

/* ---- the kernel ---- */

/* Raw system call to the kernel (never back into bond). */
typedef long (*bond_kernel_fn)(long nr, long a1, long a2, long a3, long a4,
			       long a5, long a6);
extern bond_kernel_fn bond_kernel_fn_ptr;

static inline long
bond_kernel(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	return bond_kernel_fn_ptr(nr, a1, a2, a3, a4, a5, a6);
}

/*
 * A call that reaches a front-end while bond_guard is set goes to the
 * kernel, but socket() and setsockopt() in bond_device_window (the thread
 * creating a port's device, during it): bond_device_socket and
 * bond_device_setsockopt (bond_device.c).
 */
extern __thread bool bond_device_window;
long bond_device_socket(long a1, long a2, long a3, long a4, long a5, long a6);
long bond_device_setsockopt(long a1, long a2, long a3, long a4, long a5,
			    long a6);
/* ns_device_window's: the window opens (for iface's device) or closes,
 * and then says how many queue sockets zpnet run's helper made. */
unsigned int bond_device_window_fn(bool open, const char *iface);
/* The helper's socket name (NS_PREWARM_ENV), read by the constructor;
 * after the stack's start, its sockets that no port took are released. */
void bond_device_prewarm_init(const char *name);
void bond_device_prewarm_drop(void);

#define BOND_SOCK_TYPE_MASK	0xf	/* Linux's SOCK_TYPE_MASK */

/* The default escape hatch: the syscall instruction, inline. */
long bond_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5,
		      long a6);

/*
 * Per-thread guard: set while bond serves a call (and in zpnet's own
 * threads). Calls that reach the front-ends while it is set go straight to
 * the kernel, so the stack's own syscalls never recurse into bond.
 */
extern __thread int bond_guard;

/* Set by the hooks seam: true in the child of a vfork, which shares our
 * memory. Everything it calls goes to the kernel. */
extern int (*bond_vfork_child_fn)(void);

/* ---- the stack seam ---- */

/* What bond needs from the network stack below it (netstack, or a fake). */
struct bond_stack_ops {
	void (*lock)(void);
	void (*unlock)(void);
	unsigned int (*poll)(void);	/* one turn: rx, timers, tx; lock held */
	uint64_t (*now_ns)(void);	/* monotonic */
	void (*lock_exit)(void);	/* lock, held through exit_group; may be NULL */
	/* Something waits for the next poll (frames to send, ACKs owed):
	 * lock-free, general registers only. NULL: assume so. */
	bool (*poll_owed)(void);
	/* The kernel fds that poll readable while a port has a frame for
	 * the stack (ns_wake_fds): at most BOND_WAKE_MAX into fds, how many.
	 * NULL: none, a nap is a plain sleep. */
	unsigned int (*wake_fds)(int *fds, unsigned int max);
	/* Send what is queued for the ports, if anything (lock held), at
	 * the end of every call: a thread that sends and then leaves the
	 * stack for a while (sleeps, computes) must not leave its frames to
	 * the service thread's next look. NULL: nothing is ever queued. */
	void (*flush)(void);
};
extern const struct bond_stack_ops *bond_stack;

/* Take the stack lock and the guard. */
void bond_enter(void);
void bond_leave(void);
/* A forked child's end of the parent's bond_enter() (fork prepare): the
 * child's lock is its own already, only the thread's counts go back. */
void bond_leave_forked(void);
/* One turn of the stack (lock held). */
void bond_poll_locked(void);
/*
 * A turn unless one began less than BOND_FRESH_NS ago and nothing waits
 * for the next (frames to send, ACKs owed: bond_stack->poll_owed), for a
 * call that only looks (epoll_wait, poll, select, the lock-free recv of
 * bond_dispatch): such calls in a loop poll the ports every BOND_FRESH_NS
 * and see a frame at most that much later. Lock held.
 */
#define BOND_FRESH_NS	1000
void bond_poll_fresh(void);

/* ---- sockets ---- */

/* Options kept per socket; the protocol applies them to its pcb. */
#define BOND_IFNAMSIZ	16	/* Linux's IFNAMSIZ, NUL included */

struct bond_sockopts {
	bool reuseaddr;
	bool reuseport;
	bool keepalive;
	bool nodelay;
	bool v6only;
	bool linger_on;
	int linger_s;
	int rcvbuf;		/* as set; 0: protocol default */
	int sndbuf;
	int keepidle_s;		/* 0: protocol default */
	int keepintvl_s;
	int keepcnt;
	int tos;		/* IP_TOS */
	int tclass;		/* IPV6_TCLASS */
	int ttl;		/* IP_TTL */
	int hops;		/* IPV6_UNICAST_HOPS */
	int pmtudisc;		/* IP_MTU_DISCOVER: IP_PMTUDISC_* */
	int pmtudisc6;		/* IPV6_MTU_DISCOVER: IPV6_PMTUDISC_* */
	bool broadcast;		/* SO_BROADCAST */
	bool recverr;		/* IP_RECVERR: IPv4 errors queue (UDP) */
	bool recverr6;		/* IPV6_RECVERR: IPv6 errors queue */
	bool quickack;		/* TCP_QUICKACK */
	int user_mss;		/* TCP_MAXSEG as set; 0: none */
	int rcvlowat;		/* SO_RCVLOWAT as it reads back: 1 by default */
	bool rcvbuf_set;	/* SO_RCVBUF was set (Linux's SOCK_RCVBUF_LOCK) */
	int user_timeout_ms;	/* TCP_USER_TIMEOUT; 0: none */
	int defer_accept_s;	/* TCP_DEFER_ACCEPT as it reads back; 0: none */
	bool cork;		/* TCP_CORK */
	int fastopen_qlen;	/* TCP_FASTOPEN as it reads back; 0: none */
	bool fastopen_connect;	/* TCP_FASTOPEN_CONNECT */
	int dev_port;		/* SO_BINDTODEVICE: the stack port; -1: none */
	char devname[BOND_IFNAMSIZ];	/* and the name it was given */
	int dev_ifindex;	/* its kernel index (SO_BINDTOIFINDEX); 0: none */
	uint64_t rcvtimeo_ns;	/* 0: forever */
	uint64_t sndtimeo_ns;
};

/* Linux's TCP states (include/net/tcp_states.h), as TCP_INFO numbers them;
 * <netinet/tcp.h> names them too, but clashes with lwIP's headers. */
enum {
	BOND_TCPS_ESTABLISHED = 1, BOND_TCPS_SYN_SENT, BOND_TCPS_SYN_RECV,
	BOND_TCPS_FIN_WAIT1, BOND_TCPS_FIN_WAIT2, BOND_TCPS_TIME_WAIT,
	BOND_TCPS_CLOSE, BOND_TCPS_CLOSE_WAIT, BOND_TCPS_LAST_ACK,
	BOND_TCPS_LISTEN, BOND_TCPS_CLOSING,
};

/* What TCP_INFO reports (struct bond_proto's tcp_info). */
struct bond_tcp_info {
	uint8_t state;		/* Linux's numbering */
	uint8_t retransmits;
	bool wscale, sack;
	uint8_t snd_wscale, rcv_wscale;
	uint32_t rto_us, rtt_us, rttvar_us;
	uint32_t mss, unacked, ssthresh, cwnd;	/* the last three in segments */
	uint32_t rcv_space, pmtu;
	uint32_t sacked;	/* a listener: its backlog (Linux's tcpi_sacked);
				 * its accept queue is in unacked */
};
struct bond_sock;

/* What `zpnet stats` shows of a socket (struct bond_proto's describe). */
struct bond_sock_stat {
	uint8_t state;		/* TCP: Linux's numbering; UDP: ESTABLISHED
				 * when connected, CLOSE when not (as ss) */
	uint32_t rxq, txq;	/* bytes queued; a listener: its accept queue
				 * and backlog (as ss) */
	uint32_t snd_wnd;	/* the peer's window, bytes */
	uint64_t drops;		/* datagrams dropped: receive queue full */
	struct bond_tcp_info ti;	/* TCP only */
};

/* Internal bit of bond_proto.events(): the socket is listening. */
#define BOND_EV_LISTENING	(1u << 27)

/* An error queue's entry as recvmsg(MSG_ERRQUEUE) reports it: Linux's
 * struct sock_extended_err, where it came from, what it was about. */
struct bond_errq_msg {
	uint32_t ee_errno, ee_info;
	uint8_t ee_origin, ee_type, ee_code;
	size_t len;		/* the entry's bytes, all of them */
	struct sockaddr_storage name;	/* the datagram's destination */
	socklen_t namelen;
	struct sockaddr_storage offender;	/* who sent the error */
	socklen_t offenderlen;
};

/*
 * A protocol on the stack. Every call is made with the stack lock held and
 * never blocks: -EAGAIN means "not now"; the generic layer waits.
 */
struct bond_proto {
	const char *name;
	int type;		/* SOCK_STREAM, SOCK_DGRAM */
	struct bond_sock *(*create)(int family);
	int (*bind)(struct bond_sock *sk, const struct sockaddr *sa,
		    socklen_t len);
	int (*listen)(struct bond_sock *sk, int backlog);
	/* A connection from the accept queue, or -EAGAIN. */
	int (*accept)(struct bond_sock *sk, struct bond_sock **out);
	/* 0 (connected), -EINPROGRESS (started), or -errno. */
	int (*connect)(struct bond_sock *sk, const struct sockaddr *sa,
		       socklen_t len);
	ssize_t (*recv)(struct bond_sock *sk, const struct iovec *iov,
			int iovcnt, int flags, struct sockaddr *from,
			socklen_t *fromlen);
	ssize_t (*send)(struct bond_sock *sk, const struct iovec *iov,
			int iovcnt, int flags, const struct sockaddr *to,
			socklen_t tolen);
	int (*shutdown)(struct bond_sock *sk, int how);
	/* Release the socket (data already written is still delivered). */
	void (*close)(struct bond_sock *sk);
	int (*getname)(struct bond_sock *sk, struct sockaddr *sa,
		       socklen_t *len, bool peer);
	/* EPOLLIN/OUT/RDHUP/HUP/ERR as Linux would report them now. */
	uint32_t (*events)(struct bond_sock *sk);
	/* Bytes readable now (FIONREAD). */
	int (*nread)(struct bond_sock *sk);
	/* Push sk->opt into the pcb after a setsockopt. */
	void (*apply_opts)(struct bond_sock *sk);
	/* true once bound/connected/listening on the stack. */
	bool (*placed)(struct bond_sock *sk);
	/* true when everything written has been acknowledged (SO_LINGER);
	 * NULL: nothing to wait for. */
	bool (*tx_done)(struct bond_sock *sk);
	/* TCP-level options (NULL for UDP): TCP_INFO, the MSS in use
	 * (TCP_MAXSEG), ACK now (TCP_QUICKACK). */
	void (*tcp_info)(struct bond_sock *sk, struct bond_tcp_info *ti);
	int (*maxseg)(struct bond_sock *sk);
	void (*ack_now)(struct bond_sock *sk);
	/* The largest SO_RCVLOWAT that can ever be met; NULL: no limit
	 * (datagrams, where it changes nothing). */
	int (*rcvlowat_max)(struct bond_sock *sk);
	/* Send what TCP_CORK or MSG_MORE holds back, now (TCP_CORK off,
	 * TCP_NODELAY on); NULL: nothing is ever held. */
	void (*flush)(struct bond_sock *sk);
	/* For `zpnet stats` (bond_stats.c); NULL: state and queues unknown. */
	void (*describe)(struct bond_sock *sk, struct bond_sock_stat *st);
	/*
	 * Without the lock, on general registers only (BOND_GENERAL_REGS:
	 * bond_dispatch calls it before the vector state is saved): true when
	 * a recv would find nothing to read and nothing to report (no data,
	 * no error, no FIN, connected), as of the last poll. A racing change
	 * is seen by the next call. NULL: always ask under the lock.
	 */
	bool (*rx_idle)(const struct bond_sock *sk);
	/* The oldest entry of the error queue (IP_RECVERR): its bytes to iov
	 * (how many fit, or -EFAULT: the entry is gone all the same), the
	 * rest to *m; -EAGAIN when the queue is empty. NULL: none is kept. */
	ssize_t (*recv_err)(struct bond_sock *sk, const struct iovec *iov,
			    int iovcnt, struct bond_errq_msg *m);
	/* Drop the error queue (IP_RECVERR or IPV6_RECVERR turned off). */
	void (*errq_purge)(struct bond_sock *sk);
	/* IP_MTU, IPV6_MTU: the MTU of the path to the connected peer (as
	 * Linux's dst_mtu of the socket's route), -ENOTCONN without one.
	 * NULL: -ENOTCONN. */
	int (*path_mtu)(struct bond_sock *sk);
};

/*
 * Shared memory: a variable marked BOND_SHARED lives in the range that
 * netstack/ns_shared.ld gathers and ns_shared.c maps MAP_SHARED, so every
 * process of the stack sees one copy (zero-initialised variables only).
 * Stack sockets themselves are allocated from lwIP's heap, which is there
 * too.
 */
#define BOND_SHARED	__attribute__((section(".bss.zp_shared")))

/* A function bond_dispatch may call before the vector state is saved. */
#define BOND_GENERAL_REGS	__attribute__((target("general-regs-only")))

/* A field another thread writes under the stack lock, read without it. */
#define BOND_PEEK(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

#define BOND_PROCS_MAX	1024		/* processes sharing one stack */
#define BOND_SOCKS_MAX	(1u << 18)	/* open stack sockets */

struct bond_sock {
	const struct bond_proto *proto;
	uint64_t id;		/* unique for the stack, never reused */
	int family;		/* AF_INET, AF_INET6 */
	int kfd;		/* the kernel socket it was created as */
	bool nonblock;		/* O_NONBLOCK (mirrored on the kernel fd) */
	/* holders (bond_proc.c): processes with an fd for it */
	uint32_t idx;		/* small index, for per-process fd counts */
	uint32_t nholders;
	uint64_t holders[BOND_PROCS_MAX / 64];
	struct bond_sock *all_next, *all_prev;	/* every open socket */
	/* EPOLLEXCLUSIVE (bond_epoll.c): which set reported this readiness */
	uint32_t excl_seq;	/* ev_seq when it was claimed */
	uint64_t excl_token;	/* the claiming epoll set */
	uint64_t excl_ns;	/* when */
	int so_error;		/* pending error for SO_ERROR, positive */
	uint64_t ino;		/* the kernel socket's inode: its fds in /proc */
	uint64_t bytes_in;	/* read by the application */
	uint64_t bytes_out;	/* accepted from the application */
	uint32_t ev_seq;	/* bumped on every readiness change (EPOLLET) */
	struct bond_sockopts opt;
};

extern const struct bond_proto bond_tcp_proto;
extern const struct bond_proto bond_udp_proto;

/*
 * The readiness log (lock held): every change of a stack socket's
 * readiness, and its final close, appends the socket's id at
 * bond_ev_log[bond_ev_gen % BOND_EV_LOG] and bumps bond_ev_gen. Each epoll
 * set reads on from where it stopped and queues its items of those sockets
 * in that order (Linux's ready list), so epoll_wait costs what changed, not
 * the size of the set; a set that fell more than BOND_EV_LOG behind looks
 * at all its items once. Shared: the change may happen in any process.
 */
#define BOND_EV_LOG	(1u << 14)
extern uint64_t bond_ev_gen;
extern uint64_t bond_ev_log[BOND_EV_LOG];

/* Readiness of sk changed: for EPOLLET/EXCLUSIVE (ev_seq) and the log. */
static inline void
bond_sock_bump(struct bond_sock *sk)
{
	sk->ev_seq++;
	bond_ev_log[bond_ev_gen % BOND_EV_LOG] = sk->id;
	bond_ev_gen++;
}

/* Sockets the stack has created so far (its last id). */
uint64_t bond_sock_created(void);

/* Initialise a socket's generic part (protocols embed struct bond_sock). */
void bond_sock_init(struct bond_sock *sk, const struct bond_proto *proto,
		    int family);

/* ---- processes and holders (bond_proc.c; lock held unless said) ---- */

/* This process's slot, -1 before the stack starts. */
extern int bond_self;
/* At stack start (lock not held): this process takes the first slot. */
int bond_proc_start(uint64_t nonce);
/* A new socket joins the stack's list; -ENFILE when BOND_SOCKS_MAX are open. */
int bond_sock_register(struct bond_sock *sk);
/* The open socket with this index and id, or NULL once it was closed (any
 * process: safe on a stale pair, it reads only live sockets). */
struct bond_sock *bond_sock_at(uint32_t idx, uint64_t id);
/* One more fd in this process refers to sk. */
void bond_sock_hold(struct bond_sock *sk);
/* One fd less; the last fd of the last holder closes the socket. */
void bond_sock_drop(struct bond_sock *sk);
/* Would dropping one fd now close the socket? */
bool bond_sock_last(const struct bond_sock *sk);
/* This process has an fd for sk. */
bool bond_proc_holds(const struct bond_sock *sk);
/* fork: the child holds what the parent holds before fork returns. */
void bond_proc_fork_prepare(void);
void bond_proc_fork_parent(long child_pid);
void bond_proc_fork_child(void);
/* The last fork whose child's pid the parent did not know: child_pid is
 * what fork returned (< 0: it failed, the slot is freed). */
void bond_proc_fork_settle(long child_pid);
/* This process leaves (exit): what only it held closes. Lock not held. */
void bond_proc_exit(void);
/* At most every every_ns: release the slots of processes that are gone
 * (killed, or exec'd). true when one was. */
bool bond_proc_scan(uint64_t now_ns, uint64_t every_ns);
uint64_t bond_proc_reaped(void);
/* More than one process uses the stack. */
bool bond_proc_shared(void);
/* Sockets whose last hold this process dropped, so far. */
uint64_t bond_proc_closed(void);
/* For `zpnet stats` (lock held): the stack's name (its nonce), the pids
 * of its processes, the open sockets from index *idx on in index order
 * (up to max; *idx moves past them), and the pids holding one socket. */
uint64_t bond_proc_nonce(void);
unsigned int bond_proc_pids(int32_t *pids, unsigned int max);
unsigned int bond_sock_next(uint32_t *idx, struct bond_sock **out,
			    unsigned int max);
unsigned int bond_sock_holders(const struct bond_sock *sk, int32_t *pids,
			       unsigned int max);

/* ---- `zpnet stats` (bond_stats.c) ---- */

#define BOND_STATS_PCB_CHUNK	32	/* pcbs looked at per lock hold */

/* A connection lwIP has that no application socket refers to: a
 * handshake in progress, one waiting for accept(), TIME-WAIT, one closed
 * with data still in flight. */
struct bond_pcb_stat {
	int family;
	struct sockaddr_storage local, peer;
	struct bond_sock_stat st;
};
/* Set by the TCP protocol (lock held): such connections from pool slot
 * *cursor on, up to max, looking at no more than max slots; *done once
 * the pool is walked. NULL: none are listed. */
extern unsigned int (*bond_stats_pcbs)(uint32_t *cursor,
				       struct bond_pcb_stat *out,
				       unsigned int max, bool *done);

/* Listen on this process's stats socket (at service-thread start). */
int bond_stats_listen(void);
/* fork: the child lets go of the parent's socket. */
void bond_stats_fork_child(void);
/* The service thread's nap: up to ts, answering callers meanwhile. */
void bond_stats_nap(const struct timespec *ts);
/* What the counter lines say (ZPNET_STATS's writer; lock held). */
void bond_stats_set_counters(void (*fn)(FILE *f));
/* A whole snapshot to f, the lock taken a chunk of sockets at a time. */
void bond_stats_write(FILE *f, bool sockets, void (*counters)(FILE *f));

/* ---- fd table ---- */

enum bond_fd_kind {
	BOND_FD_KERNEL = 0,	/* not ours: the kernel serves it */
	BOND_FD_SOCK,		/* a stack socket */
	BOND_FD_EPOLL,		/* an epoll instance with stack interest */
	BOND_FD_DEVICE,		/* a driver's socket in a device window: its
				 * setsockopt reaches bond (bond_device.c) */
};

int bond_fd_init(unsigned int max_fds);
void bond_fd_fini(void);
/* fd moved up near the fd limit (bond's own fds), or fd as it was. */
int bond_fd_move_high(int fd);
/* A close-on-exec copy of fd up there; -1 if the limit leaves no room. */
int bond_fd_dup_high(int fd);
/* The kernel's fd table made big enough for them: while single-threaded. */
void bond_fd_table_grow(void);
/* The table as words, zero for an fd bond does not serve (the hooks). */
const uintptr_t *bond_fd_words(void);
unsigned int bond_fd_max(void);
/* How many fds of this process are stack sockets. */
unsigned int bond_fd_nsocks(void);
/* Above every fd ever recorded: where scans of the table may stop. */
unsigned int bond_fd_hiwater(void);
/* The owner of fd (BOND_FD_KERNEL for anything unknown or out of range). */
enum bond_fd_kind bond_fd_get(int fd, void **obj);
/* fd is the kernel's alone (no entry); general registers only. */
bool bond_fd_is_kernel(int fd);
/* Record fd's owner; -EBADF when fd is outside the table. */
int bond_fd_set(int fd, enum bond_fd_kind kind, void *obj);
void bond_fd_clear(int fd);
/* Calls fn for every entry of a kind. */
void bond_fd_foreach(enum bond_fd_kind kind,
		     void (*fn)(int fd, void *obj, void *arg), void *arg);

static inline struct bond_sock *
bond_fd_sock(int fd)
{
	void *obj;

	if (bond_fd_get(fd, &obj) != BOND_FD_SOCK)
		return NULL;
	return obj;
}

/* ---- socket options ---- */

struct bond_sockopt {
	int level;
	int optname;
	int (*set)(struct bond_sock *sk, const void *val, socklen_t len);
	int (*get)(struct bond_sock *sk, void *val, socklen_t *len);
};

/* The table entry for (level, optname), or NULL. */
const struct bond_sockopt *bond_sockopt_find(int level, int optname);
int bond_setsockopt(struct bond_sock *sk, int level, int optname,
		    const void *val, socklen_t len);
int bond_getsockopt(struct bond_sock *sk, int level, int optname, void *val,
		    socklen_t *len);

/* ---- the application's memory (bond_uaccess.c) ---- */

/* Copies that stop at a fault: how many bytes were copied (n: all). */
size_t bond_copy_from_user(void *dst, const void *src, size_t n);
size_t bond_copy_to_user(void *dst, const void *src, size_t n);
/* How many bytes from src on can be read (page by page). */
size_t bond_user_readable(const void *src, size_t n);
/* Can all n bytes at dst be written (each page probed, nothing changed)? */
bool bond_user_writable(void *dst, size_t n);
/* In a SIGSEGV/SIGBUS handler: the fault is one of these copies; the
 * context now resumes at its fix-up. */
bool bond_uaccess_fixup(void *ucontext);
/* Install the fault handler (bond_signal.c); at start, guard raised. */
void bond_fault_install(void);

/* ---- waiting ---- */

/* A valid timespec in ns; from 146 years on (where ns would overflow) as
 * good as forever. */
#define BOND_NS_FOREVER	(1ull << 62)
static inline uint64_t
ts_to_ns(const struct timespec *ts)
{
	if ((uint64_t)ts->tv_sec >= BOND_NS_FOREVER / BOND_NS_PER_S)
		return BOND_NS_FOREVER;
	return (uint64_t)ts->tv_sec * BOND_NS_PER_S + (uint64_t)ts->tv_nsec;
}

static inline void
ns_to_ts(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / BOND_NS_PER_S);
	ts->tv_nsec = (long)(ns % BOND_NS_PER_S);
}

/* Handlers of the application run in this thread, and those of them
 * without SA_RESTART (bond_signal.c counts them). */
extern __thread uint32_t bond_sig_runs;
extern __thread uint32_t bond_sig_norestart;
/* Non-zero between bond_enter() and bond_leave(): a handler that would run
 * then is deferred to bond_leave(), its signal pending and blocked (bit
 * sig - 1 in bond_sig_deferred), so no handler runs, or longjmps, with the
 * stack lock held. */
extern __thread uint32_t bond_in_stack;
extern __thread uint64_t bond_sig_deferred;
/* The engine's dispatcher guard (zp_hooks_guard_drop/restore), dropped
 * while an application's handler runs; NULL without the engine. */
extern int (*bond_engine_guard_drop)(void);
extern void (*bond_engine_guard_restore)(int saved);

/* Busy-poll then back off. */
struct bond_waiter {
	uint64_t start_ns;
	uint64_t deadline_ns;	/* 0: none */
	uint64_t spin_ns;	/* busy-polls this long (bond_spin_ns) */
	uint64_t nap_ns;
	bool paced;		/* bond_waiter_paced */
	uint32_t sig_runs;	/* bond_sig_runs when the wait began */
	uint32_t sig_norestart;
	/* a cancellation point, nothing transferred yet: bond_waiter_intr
	 * acts on a pending pthread_cancel (bond_cancel_points) */
	bool cancel;
};

void bond_waiter_init(struct bond_waiter *w, uint64_t timeout_ns);
/* bond_waiter_init in two steps, for a call whose first turn may find
 * what it wants without waiting: the handler counts at the call's start
 * (a handler that runs from then on interrupts the wait), the clock only
 * when the wait begins. */
void bond_waiter_sigs(struct bond_waiter *w);
void bond_waiter_start(struct bond_waiter *w, uint64_t timeout_ns);
/* true when the deadline has passed. */
bool bond_waiter_expired(const struct bond_waiter *w);
/* How long to nap now (0: keep spinning). */
uint64_t bond_waiter_nap(struct bond_waiter *w);
/*
 * How long a paced wait (bond_waiter_paced) busy-polls before its first
 * nap, adapted to the pace of the thread's requests: bond_wait_avg_ns
 * averages how long its recent paced waits lasted until what they waited
 * for came (each counted at most as 2 * busy_poll_max_us; the last ones
 * weigh most). A wait spins 1.5 times that when that is more than
 * busy_poll_us and at most busy_poll_max_us, so a request that comes at
 * the pace of the last few is met spinning; otherwise (short gaps, or an
 * idle thread) busy_poll_us. Waits that time out or are interrupted say
 * nothing of the pace and are not counted.
 */
extern __thread uint64_t bond_wait_avg_ns;
uint64_t bond_spin_ns(void);
/* The wait started is one for a request (data to read, a connection to
 * accept, poll's events): its length counts toward the pace and its spin
 * follows it. Others (room to send, a connect, SO_LINGER) spin
 * busy_poll_us and are not counted. Call after bond_waiter_start. */
void bond_waiter_paced(struct bond_waiter *w);
/* Frames this thread's polls received (bond_poll_locked/_fresh). */
extern __thread uint64_t bond_rx_frames;
/*
 * A nap sleeps on the stack's wake fds too (bond_stack->wake_fds), so the
 * next frame ends it, not the timer: bond_wake_pollfds() writes them as
 * POLLIN pollfds from pfd (room for BOND_WAKE_MAX), how many; after the
 * nap, bond_nap_count() counts it (stack.naps) and, if one of them is
 * ready (the kernel said so: n > 0), a frame's wake-up
 * (stack.nap_port_wakes). A wake fd that reports an error, a hang-up or
 * POLLNVAL (stack.nap_wake_errors; a socket error is read, so it clears),
 * or that wakes the wait 3 times in a row without a frame for this
 * thread, is left out for the rest of the wait (bond_wake_pollfds gives
 * none): its naps are timed ones, never a spin on a stuck fd.
 */
#define BOND_WAKE_MAX	8
struct pollfd;
unsigned int bond_wake_pollfds(struct pollfd *pfd);
void bond_nap_count(const struct pollfd *pfd, unsigned int n);
extern uint64_t bond_naps, bond_nap_wakes, bond_nap_wake_errors;
/* One busy-poll turn's pause: the CPU's pause; sched_yield() while other
 * processes share the stack (a waiter spinning on a CPU must not keep the
 * process that has the work, or the stack lock, off it). */
void bond_spin(void);
/*
 * The one blocking loop of bond, for a call whose first turn said "not
 * yet". Before each further turn, in this order: a handler that ran
 * (bond_waiter_intr with restart: -EINTR, or on under SA_RESTART; a
 * pending cancel acts there too), the deadline (timeout_rc), then a
 * busy-poll pause or a nap (bond_waiter_nap): ops->nap(arg, ns) sleeps on
 * the call's own kernel fds and the wake fds, and a result > 0 or -EINTR
 * from it ends the wait with that value; without it, a sleep on the wake
 * fds alone. Then ops->turn(arg):
 * the call's result, or BOND_WAIT_MORE to go on. Turns take the stack lock
 * themselves. A handler is looked at before the deadline: when both come,
 * the call says EINTR, as Linux's poll and select do (its epoll_wait may
 * say 0 there).
 */
#define BOND_WAIT_MORE	LONG_MIN
struct bond_wait_ops {
	long (*turn)(void *arg);
	long (*nap)(void *arg, uint64_t ns);
};
long bond_wait(struct bond_waiter *w, const struct bond_wait_ops *ops,
	       void *arg, bool restart, long timeout_rc);
/*
 * Did a handler of the application run in this thread since the wait
 * began? -EINTR if so, unless restart is allowed and every such handler had
 * SA_RESTART: then the wait goes on, as Linux restarts the call. restart:
 * the call is one Linux restarts (a socket call with no timeout set);
 * epoll_wait, poll and select never are (signal(7)).
 */
int bond_waiter_intr(struct bond_waiter *w, bool restart);
/*
 * Set in preload mode: a blocking call bond serves that is a cancellation
 * point (pthreads(7)), as libc's would be, acts on a pending pthread_cancel
 * in bond_waiter_intr, between two turns of its wait (no lock held), as
 * long as it has transferred nothing (the waiter's cancel). Not close's
 * SO_LINGER wait, dup2's or sendfile's. In the zpoline and sud modes libc's
 * wrapper made the call asynchronously cancellable: the cancel handler,
 * like any, waits for bond_leave() (bond_signal.c), and a wait that holds
 * something (an epoll set, a copy of poll's fds) lets go of it in a
 * pthread cleanup handler.
 */
extern bool bond_cancel_points;

/* Block (unlocked) until sk reports one of events, or timeout. */
int bond_wait_sock(struct bond_sock *sk, uint32_t events,
		   uint64_t timeout_ns);

/* epoll bookkeeping (bond_epoll.c) */
struct bond_epoll;
struct bond_epoll *bond_epoll_new(int kfd);
void bond_epoll_free(struct bond_epoll *ep);
/*
 * A set lives while its fd does and while an epoll_wait uses it (a thread
 * may close the fd while another waits, exit closes every set): new gives
 * the fd table's reference; unref says whether it was the last one, then
 * the caller frees it (lock held).
 */
void bond_epoll_ref(struct bond_epoll *ep);
bool bond_epoll_unref(struct bond_epoll *ep);
int bond_epoll_ctl_sock(struct bond_epoll *ep, int op, int fd,
			struct bond_sock *sk, const void *event);
/* Fill events with ready stack sockets (lock held); returns the count. */
int bond_epoll_collect(struct bond_epoll *ep, void *events, int maxevents);
/* Set by the library (bond_user_writable): collect checks each page of the
 * application's array before it writes there; -EFAULT when the first
 * event cannot be written, else the events before the fault. */
extern bool (*bond_epoll_out_ok)(void *p, size_t n);
unsigned int bond_epoll_count(const struct bond_epoll *ep);
int bond_epoll_kfd(const struct bond_epoll *ep);
/*
 * The app closed the set's fd while an epoll_wait still uses it: the
 * waiter goes on with dup_fd, a dup of the kernel's part, which the last
 * user closes (bond_epoll_owned_kfd: that fd, else -1) before the free.
 */
void bond_epoll_keep_kfd(struct bond_epoll *ep, int dup_fd);
/*
 * Kernel fds the app added to the set (+1) or deleted (-1): with none,
 * epoll_wait does not ask the kernel part about events (it can have none:
 * a closed fd leaves the kernel's set by itself, the count stays, and the
 * check is made for nothing, never missed).
 */
void bond_epoll_kernel_fds(struct bond_epoll *ep, int delta);
bool bond_epoll_has_kernel_fds(const struct bond_epoll *ep);
int bond_epoll_owned_kfd(const struct bond_epoll *ep);

/* ---- errors ---- */

/* net.core.somaxconn of the process's network namespace, read once
 * (4096, Linux's default, if it cannot be read): listen()'s backlog and
 * TCP_FASTOPEN's queue are capped at it, as Linux caps them. */
int bond_somaxconn(void);

/* lwIP's err_t as a negative errno; connecting: the error ended a connect. */
int bond_errno(int lwip_err, bool connecting);

/* ---- policy and settings ([bond] section) ---- */

enum bond_offload {
	BOND_OFFLOAD_TCP = 1u << 0,
	BOND_OFFLOAD_UDP = 1u << 1,
};

#define BOND_RULES_MAX		32
#define BOND_RULES_TEXT		512

struct bond_rule {
	int family;		/* AF_INET, AF_INET6, or 0: port rule */
	uint8_t addr[16];
	uint8_t prefix;
	uint16_t port;		/* host order; port rules */
};

struct bond_config {
	char offload[64];		/* "tcp,udp", "tcp", "udp", "none" */
	char kernel_addrs[BOND_RULES_TEXT];
	char kernel_ports[BOND_RULES_TEXT];
	uint64_t busy_poll_us;
	uint64_t busy_poll_max_us;
	uint64_t max_nap_us;
	uint64_t kernel_check_us;
	uint64_t service_interval_us;
	uint64_t service_backoff_us;
	/* parsed */
	unsigned int offload_mask;
	struct bond_rule rules[BOND_RULES_MAX];
	unsigned int n_rules;
};

extern struct bond_config bond_cfg;

/* Parse offload/kernel_addrs/kernel_ports into the mask and rules. */
int bond_config_finish(struct bond_config *c, char *err, size_t errlen);
/* Defaults, for the unit suite and for processes without a config. */
void bond_config_defaults(struct bond_config *c);
/* true: a socket using this address (local or remote) goes to the kernel. */
bool bond_policy_kernel(const struct bond_config *c,
			const struct sockaddr *sa, socklen_t len);

/* ---- process state ---- */

extern bool bond_active;	/* the stack is up and serving */
/* Config read and hooks running: the stack starts on first need. */
extern bool bond_armed;
/* Start the stack if it is not up (first socket the policy may give to
 * it); true when it serves. bond_init.c, or the unit suite's fake. */
bool bond_stack_start(void);
/* The hooks engine catches syscalls: the libc wrappers only pass them on. */
extern bool bond_preload_bypass;

void bond_fork_prepare(void);
void bond_fork_parent(long child_pid);	/* < 0: fork failed */
void bond_fork_child(void);
/* Preload mode: the atfork parent handler knows no pid (it records
 * BOND_PID_UNKNOWN); the fork() wrapper then tells what fork returned
 * (< 0: failed), when bond_fork_settles. */
#define BOND_PID_UNKNOWN	1
extern bool bond_fork_settles;
void bond_fork_settle(long child_pid);
/* Set in a forked child: bond_enter() calls it once (starts the child's
 * service thread at its first stack call). */
extern void (*bond_service_start_fn)(void);

/* Service thread and exit flush (bond_init.c). */
extern uint64_t bond_last_poll_ns;
/* How long before now anyone polled the stack: 0 for a poll stamped after
 * now (another thread polled between our clock read and this load, or its
 * CPU's clock is a little ahead), not an unsigned wrap to "ages ago". */
static inline uint64_t
bond_since_poll(uint64_t now)
{
	int64_t d = (int64_t)(now - __atomic_load_n(&bond_last_poll_ns,
						    __ATOMIC_RELAXED));

	return d > 0 ? (uint64_t)d : 0;
}
/*
 * The service thread's next nap, from its last one and how long ago
 * anyone polled the stack: service_interval_us once the stack went that
 * long unpolled (the service thread polls it then), else twice the last,
 * up to service_backoff_us. A thread that keeps polling (busy-polling, or
 * blocked in bond_wait, which looks at least every max_nap_us) is then not
 * preempted a thousand times a second by a thread with nothing to do;
 * the price is that the stack may go unpolled for service_interval_us +
 * service_backoff_us after the application's last poll.
 */
uint64_t bond_service_nap(uint64_t last_ns, uint64_t since_poll_ns);
/* The service threads' wake-ups and their polls of the stack, stack-wide
 * (stack.service_wakes, stack.service_polls). */
extern uint64_t bond_service_wakes, bond_service_polls;
/* A turn began less than BOND_FRESH_NS before now and nothing waits for
 * the next (bond_poll_fresh); lock-free, general registers only. */
static inline bool
bond_polled_fresh(uint64_t now)
{
	return bond_stack->poll_owed != NULL &&
	       bond_since_poll(now) < BOND_FRESH_NS && !bond_stack->poll_owed();
}
/* Wait (bounded) for written data to be acknowledged. */
void bond_tcp_drain(uint64_t timeout_ns);
/* Close every stack socket the app left open (at exit, as the kernel does). */
void bond_close_all(void);
/* At exit (atexit and exit_group): close_all, then the bounded drain. */
void bond_exit_flush(void);
/* Retry closes that could not queue their FIN or a held tail (lock held;
 * before each poll). */
void bond_tcp_reap(void);
/* Send the ACKs that reads left delayed (lock held; before each poll). */
void bond_tcp_send_owed_acks(void);
/* Send the tails TCP_CORK/MSG_MORE held past Linux's 200 ms ceiling
 * (lock held; before each poll). */
void bond_tcp_flush_corks(void);
/* recv/read answered EAGAIN by bond_dispatch, without the lock. */
extern uint64_t bond_recv_eagain_lockfree;
/* ACKs wait for the next poll (lock-free, general registers only). */
bool bond_tcp_acks_owed(void);
/* Tells netstack when a listener's accept queue is full and gives it the
 * handler of ICMP errors about connections; once the stack is up. */
void bond_tcp_start(void);
/* Gives netstack's ICMP errors to the UDP sockets; once the stack is up. */
void bond_udp_start(void);

#endif
