/*
 * bond's process-wide state: the kernel escape hatch, the stack seam, the
 * per-thread guard, and the busy-poll-then-back-off waiter.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "bond.h"

#define BOND_NAP_MIN_NS		10000ull	/* first nap after busy-polling */

__thread int bond_guard;
int (*bond_vfork_child_fn)(void);
bool bond_active;
bool bond_armed;
uint64_t bond_last_poll_ns BOND_SHARED;	/* whoever polled, in any process */

long
bond_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

bond_kernel_fn bond_kernel_fn_ptr = bond_raw_syscall;

static uint64_t last_sock_id BOND_SHARED;
uint64_t bond_ev_gen BOND_SHARED;
uint64_t bond_ev_log[BOND_EV_LOG] BOND_SHARED;

void
bond_sock_init(struct bond_sock *sk, const struct bond_proto *proto,
	       int family)
{
	sk->proto = proto;
	sk->id = __atomic_add_fetch(&last_sock_id, 1, __ATOMIC_RELAXED);
	sk->family = family;
	sk->kfd = -1;
	sk->opt.ttl = BOND_DEFAULT_TTL;
	sk->opt.hops = BOND_DEFAULT_TTL;
	/* net.ipv4.ip_no_pmtu_disc 0: path MTU discovery, fragmenting what
	 * is larger; IPv6's default too */
	sk->opt.pmtudisc = IP_PMTUDISC_WANT;
	sk->opt.pmtudisc6 = IPV6_PMTUDISC_WANT;
	sk->opt.quickack = true;
	sk->opt.rcvlowat = 1;
	sk->opt.dev_port = -1;
}

uint64_t
bond_sock_created(void)
{
	return __atomic_load_n(&last_sock_id, __ATOMIC_RELAXED);
}

void (*bond_service_start_fn)(void);

__thread uint32_t bond_in_stack;
__thread uint64_t bond_sig_deferred;

/* The stack ops this thread's bond_enter() locked (bond_leave's). */
static __thread const struct bond_stack_ops *entered;

void
bond_enter(void)
{
	bond_in_stack++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	bond_guard++;
	if (__builtin_expect(bond_service_start_fn != NULL, 0))
		bond_service_start_fn();
	entered = bond_stack;
	entered->lock();
}

/* Handlers deferred while this thread was in the stack run now: their
 * signals were left pending and blocked (bond_signal.c). */
static void
sig_release(void)
{
	uint64_t set = bond_sig_deferred;

	bond_sig_deferred = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	bond_kernel(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0, sizeof(set), 0, 0);
}

/* The thread's half of bond_leave(), after the lock. */
void
bond_leave_forked(void)
{
	bond_guard--;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (--bond_in_stack == 0 && __builtin_expect(bond_sig_deferred != 0, 0))
		sig_release();
}

void
bond_leave(void)
{
	/* the ops bond_enter locked: the stack may have started since
	 * (the idle ops lock nothing, and the real flush needs the lock) */
	const struct bond_stack_ops *ops = entered != NULL ? entered : bond_stack;

	if (ops->flush != NULL)
		ops->flush();
	ops->unlock();
	bond_leave_forked();
}

void
bond_poll_locked(void)
{
	bond_rx_frames += bond_stack->poll();
	bond_last_poll_ns = bond_stack->now_ns();
}

void
bond_poll_fresh(void)
{
	uint64_t now = bond_stack->now_ns();

	if (bond_polled_fresh(now))
		return;
	bond_rx_frames += bond_stack->poll();
	bond_last_poll_ns = now;	/* when it looked at the ports */
}

uint64_t bond_service_wakes BOND_SHARED;
uint64_t bond_service_polls BOND_SHARED;

uint64_t
bond_service_nap(uint64_t last_ns, uint64_t since_poll_ns)
{
	uint64_t interval = bond_cfg.service_interval_us * BOND_NS_PER_US;
	uint64_t backoff = bond_cfg.service_backoff_us * BOND_NS_PER_US;

	if (since_poll_ns >= interval || backoff <= interval || last_ns < interval)
		return interval;
	return last_ns >= backoff / 2 ? backoff : last_ns * 2;
}

__thread uint32_t bond_sig_runs;
__thread uint32_t bond_sig_norestart;

void
bond_waiter_sigs(struct bond_waiter *w)
{
	w->sig_runs = bond_sig_runs;
	w->sig_norestart = bond_sig_norestart;
	w->cancel = false;
}

#define BOND_SOMAXCONN_PATH	"/proc/sys/net/core/somaxconn"
#define BOND_SOMAXCONN_DEFAULT	4096	/* Linux's since 5.4 */

int
bond_somaxconn(void)
{
	static int cached;
	int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	char buf[16];
	long fd, n;

	if (v > 0)
		return v;
	v = 0;
	fd = bond_kernel(SYS_openat, AT_FDCWD, (long)BOND_SOMAXCONN_PATH,
			 O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd >= 0) {
		n = bond_kernel(SYS_read, fd, (long)buf, sizeof(buf) - 1, 0, 0, 0);
		bond_kernel(SYS_close, fd, 0, 0, 0, 0, 0);
		for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9' &&
		     v < INT_MAX / 10; i++)
			v = v * 10 + (buf[i] - '0');
	}
	if (v <= 0)
		v = BOND_SOMAXCONN_DEFAULT;
	__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	return v;
}

/* The pace (bond_spin_ns): a wait spins PACE_SPIN_NUM / PACE_SPIN_DEN of
 * the average; each new length weighs 1 / PACE_WEIGHT; one counts at most
 * as PACE_CAP x busy_poll_max_us (an idle gap is "long", however long). */
#define PACE_SPIN_NUM	3
#define PACE_SPIN_DEN	2
#define PACE_WEIGHT	4
#define PACE_CAP	2

__thread uint64_t bond_wait_avg_ns;

uint64_t
bond_spin_ns(void)
{
	uint64_t base = bond_cfg.busy_poll_us * BOND_NS_PER_US;
	uint64_t max = bond_cfg.busy_poll_max_us * BOND_NS_PER_US;
	uint64_t want = bond_wait_avg_ns / PACE_SPIN_DEN * PACE_SPIN_NUM;

	return want > base && want <= max ? want : base;
}

/* A paced wait ended with what it waited for: its length joins the
 * average. */
static void
waiter_count(const struct bond_waiter *w)
{
	uint64_t cap = PACE_CAP * bond_cfg.busy_poll_max_us * BOND_NS_PER_US;
	uint64_t d = bond_stack->now_ns() - w->start_ns;

	if (!w->paced)
		return;
	if (d > cap)
		d = cap;
	bond_wait_avg_ns = bond_wait_avg_ns - bond_wait_avg_ns / PACE_WEIGHT +
			   d / PACE_WEIGHT;
}

/* The wake fds of this thread's wait (bond_wake_pollfds): off for the
 * rest of it once one reported an error or a hang-up, or woke it
 * BOND_WAKE_MISSES times in a row without a frame for this thread's
 * polls (a frame another thread took, or one the driver keeps): the
 * wait then naps on its timer alone, as it would without them. */
#define BOND_WAKE_MISSES	3
static __thread bool wake_off;
static __thread bool wake_fired;	/* the last nap ended by a wake fd */
static __thread uint8_t wake_misses;
static __thread uint64_t wake_rx;	/* bond_rx_frames at that nap */
__thread uint64_t bond_rx_frames;

void
bond_waiter_start(struct bond_waiter *w, uint64_t timeout_ns)
{
	w->start_ns = bond_stack->now_ns();
	w->deadline_ns = timeout_ns ? w->start_ns + timeout_ns : 0;
	w->spin_ns = bond_cfg.busy_poll_us * BOND_NS_PER_US;
	w->nap_ns = 0;
	w->paced = false;
	wake_off = false;
	wake_fired = false;
	wake_misses = 0;
}

void
bond_waiter_paced(struct bond_waiter *w)
{
	w->paced = true;
	w->spin_ns = bond_spin_ns();
}

void
bond_waiter_init(struct bond_waiter *w, uint64_t timeout_ns)
{
	bond_waiter_sigs(w);
	bond_waiter_start(w, timeout_ns);
}

bool bond_cancel_points;

int
bond_waiter_intr(struct bond_waiter *w, bool restart)
{
	uint32_t runs;

	if (w->cancel && bond_cancel_points)
		pthread_testcancel();
	runs = __atomic_load_n(&bond_sig_runs, __ATOMIC_RELAXED);

	if (runs == w->sig_runs)
		return 0;
	if (!restart ||
	    __atomic_load_n(&bond_sig_norestart, __ATOMIC_RELAXED) != w->sig_norestart)
		return -EINTR;
	w->sig_runs = runs;
	return 0;
}

bool
bond_waiter_expired(const struct bond_waiter *w)
{
	return w->deadline_ns != 0 && bond_stack->now_ns() >= w->deadline_ns;
}

uint64_t
bond_waiter_nap(struct bond_waiter *w)
{
	uint64_t now = bond_stack->now_ns();
	uint64_t max = bond_cfg.max_nap_us * BOND_NS_PER_US;

	if (now - w->start_ns < w->spin_ns)
		return 0;
	/* past the deadline since the caller looked: no nap, the next
	 * look ends the wait */
	if (w->deadline_ns != 0 && now >= w->deadline_ns)
		return 0;
	w->nap_ns = w->nap_ns ? w->nap_ns * 2 : BOND_NAP_MIN_NS;
	if (w->nap_ns > max)
		w->nap_ns = max;
	if (w->deadline_ns != 0 && w->deadline_ns > now &&
	    w->nap_ns > w->deadline_ns - now)
		return w->deadline_ns - now;
	return w->nap_ns;
}

void
bond_spin(void)
{
	if (bond_proc_shared())
		bond_kernel(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	else
		__builtin_ia32_pause();
}

uint64_t bond_naps BOND_SHARED;
uint64_t bond_nap_wakes BOND_SHARED;

uint64_t bond_nap_wake_errors BOND_SHARED;

unsigned int
bond_wake_pollfds(struct pollfd *pfd)
{
	int fds[BOND_WAKE_MAX];
	unsigned int n;

	if (bond_stack->wake_fds == NULL || wake_off)
		return 0;
	n = bond_stack->wake_fds(fds, BOND_WAKE_MAX);
	for (unsigned int i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	wake_rx = bond_rx_frames;
	return n;
}

void
bond_nap_count(const struct pollfd *pfd, unsigned int n)
{
	bool woke = false;

	for (unsigned int i = 0; i < n; i++) {
		if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			/* a link gone down leaves its error on the socket:
			 * read it, so the next wait can use the fd again */
			int err;
			socklen_t len = sizeof(err);

			if (pfd[i].revents & POLLERR)
				bond_kernel(SYS_getsockopt, pfd[i].fd, SOL_SOCKET,
					    SO_ERROR, (long)&err, (long)&len, 0);
			wake_off = true;
			__atomic_fetch_add(&bond_nap_wake_errors, 1,
					   __ATOMIC_RELAXED);
		}
		woke |= (pfd[i].revents & POLLIN) != 0;
	}
	wake_fired = woke;
	__atomic_fetch_add(&bond_naps, 1, __ATOMIC_RELAXED);
	if (woke)
		__atomic_fetch_add(&bond_nap_wakes, 1, __ATOMIC_RELAXED);
}

/* After the turn that followed a nap: did its wake fd bring a frame? */
static void
wake_check(void)
{
	if (!wake_fired)
		return;
	wake_fired = false;
	if (bond_rx_frames != wake_rx)
		wake_misses = 0;
	else if (++wake_misses >= BOND_WAKE_MISSES)
		wake_off = true;
}

/* A nap on the wake fds alone; a signal ends it early (the next handler
 * check decides). */
static void
nap_plain(uint64_t nap)
{
	struct timespec ts = {
		.tv_sec = (time_t)(nap / BOND_NS_PER_S),
		.tv_nsec = (long)(nap % BOND_NS_PER_S),
	};
	struct pollfd pfd[BOND_WAKE_MAX];
	unsigned int n = bond_wake_pollfds(pfd);
	long r;

	r = bond_kernel(SYS_ppoll, (long)pfd, n, (long)&ts, 0, 0, 0);
	bond_nap_count(pfd, r > 0 ? n : 0);
}

long
bond_wait(struct bond_waiter *w, const struct bond_wait_ops *ops, void *arg,
	  bool restart, long timeout_rc)
{
	for (;;) {
		uint64_t nap;
		long r;

		if (bond_waiter_intr(w, restart) < 0)
			return -EINTR;
		if (bond_waiter_expired(w))
			return timeout_rc;
		nap = bond_waiter_nap(w);
		if (nap == 0) {
			bond_spin();
		} else if (ops->nap != NULL) {
			r = ops->nap(arg, nap);
			if (r == -EINTR)
				return r;
			if (r > 0) {
				waiter_count(w);
				return r;
			}
		} else {
			nap_plain(nap);
		}
		r = ops->turn(arg);
		if (r != BOND_WAIT_MORE) {
			if (r != -EINTR)
				waiter_count(w);
			return r;
		}
		wake_check();
	}
}

struct wait_sock_args {
	struct bond_sock *sk;
	uint32_t events;
};

static long
wait_sock_turn(void *arg)
{
	struct wait_sock_args *a = arg;
	uint32_t ev;

	bond_enter();
	bond_poll_locked();
	ev = a->sk->proto->events(a->sk);
	bond_leave();
	return (ev & a->events) ? 0 : BOND_WAIT_MORE;
}

int
bond_wait_sock(struct bond_sock *sk, uint32_t events, uint64_t timeout_ns)
{
	static const struct bond_wait_ops ops = { .turn = wait_sock_turn };
	struct wait_sock_args a = { sk, events };
	struct bond_waiter w;
	long r;

	bond_waiter_init(&w, timeout_ns);
	w.cancel = true;	/* connect's wait */
	r = wait_sock_turn(&a);
	if (r != BOND_WAIT_MORE)
		return (int)r;
	return (int)bond_wait(&w, &ops, &a, timeout_ns == 0, -EAGAIN);
}
