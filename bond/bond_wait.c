/*
 * Waiting over any mix of kernel fds and stack sockets: epoll, poll and
 * select. A wait with no stack socket in it goes to the kernel unchanged.
 * Otherwise each turn polls the stack, collects ready stack sockets, asks
 * the kernel (without blocking) about the kernel fds (epoll: on the first
 * turn, then at most every [bond] kernel_check_us), and returns when
 * anything is ready; between turns it busy-polls, then naps in the kernel's
 * own wait (so kernel fds wake it), growing up to [bond] max_nap_us.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include "bond.h"
#include "bond_sys.h"

#define BOND_EPOLL_MAX_EVENTS	(INT_MAX / (int)sizeof(struct epoll_event))
#define BOND_POLL_STACK_FDS	64	/* pollfd copies kept on the stack */
#define BOND_SIGSET_SIZE	(_NSIG / 8)

static uint64_t
ms_to_ns(long ms)
{
	return ms < 0 ? 0 : (uint64_t)ms * BOND_NS_PER_MS;
}

/* A timespec from the application (NULL: none): 0, -EFAULT or -EINVAL. */
static long
ts_in(struct timespec *k, const struct timespec *uts)
{
	if (uts == NULL)
		return 0;
	if (bond_copy_from_user(k, uts, sizeof(*k)) != sizeof(*k))
		return -EFAULT;
	if (k->tv_sec < 0 || k->tv_nsec < 0 || k->tv_nsec >= (long)BOND_NS_PER_S)
		return -EINVAL;
	return 0;
}

/* The caller's signal mask (NULL: none) copied in: 0 or -EFAULT. */
static long
mask_in(sigset_t *k, const sigset_t **umask)
{
	if (*umask == NULL)
		return 0;
	memset(k, 0, sizeof(*k));
	if (bond_copy_from_user(k, *umask, BOND_SIGSET_SIZE) != BOND_SIGSET_SIZE)
		return -EFAULT;
	*umask = k;
	return 0;
}

/* ---- epoll ---- */

static struct bond_epoll *
epoll_of(long fd)
{
	void *obj;

	if (fd < 0 || fd > INT_MAX)
		return NULL;
	if (bond_fd_get((int)fd, &obj) != BOND_FD_EPOLL)
		return NULL;
	return obj;
}

static long
epoll_track(long fd)
{
	struct bond_epoll *ep;

	/* Before the stack starts too: its sockets may join this set later. */
	if (fd < 0 || !bond_armed)
		return fd;
	ep = bond_epoll_new((int)fd);
	if (ep == NULL)
		return fd;	/* kernel-only: stack sockets can't join it */
	if (bond_fd_set((int)fd, BOND_FD_EPOLL, ep) < 0)
		bond_epoll_free(ep);
	return fd;
}

long
bond_sys_epoll_create(int a1)
{
	return epoll_track(bond_kernel_epoll_create(a1));
}

long
bond_sys_epoll_create1(int a1)
{
	return epoll_track(bond_kernel_epoll_create1(a1));
}

long
bond_sys_epoll_ctl(int a1, int a2, int a3, struct epoll_event *a4)
{
	struct bond_epoll *ep = epoll_of(a1);
	struct epoll_event kev, *ev = NULL;
	struct bond_sock *sk;
	long r;

	if (ep == NULL)
		return bond_kernel_epoll_ctl(a1, a2, a3, a4);
	sk = bond_fd_sock(a3);
	if (sk == NULL) {
		r = bond_kernel_epoll_ctl(a1, a2, a3, a4);
		if (r == 0 && a2 == EPOLL_CTL_ADD)
			bond_epoll_kernel_fds(ep, 1);
		else if (r == 0 && a2 == EPOLL_CTL_DEL)
			bond_epoll_kernel_fds(ep, -1);
		return r;
	}
	/* Linux reads the event first, before it looks at the fds */
	if (a2 != EPOLL_CTL_DEL) {
		if (bond_copy_from_user(&kev, a4, sizeof(kev)) != sizeof(kev))
			return -EFAULT;
		ev = &kev;
	}
	if (a1 == a3)
		return -EINVAL;
	bond_enter();
	r = bond_epoll_ctl_sock(ep, a2, a3, sk, ev);
	bond_leave();
	return r;
}

/* Kernel epoll wait for at most nap_ns (epoll_pwait2 where the kernel has
 * it, else a zero-timeout check and a sleep). */
static long
kernel_epoll_nap(int kfd, struct epoll_event *ev, int max, uint64_t nap_ns,
		 const sigset_t *sigmask)
{
	static bool no_pwait2;
	struct timespec ts;
	long r;

	ns_to_ts(nap_ns, &ts);
	if (!no_pwait2) {
		r = bond_kernel(SYS_epoll_pwait2, kfd, (long)ev, max, (long)&ts,
				(long)sigmask, BOND_SIGSET_SIZE);
		if (r != -ENOSYS)
			return r;
		no_pwait2 = true;
	}
	r = bond_kernel(SYS_epoll_pwait, kfd, (long)ev, max, 0, (long)sigmask,
			BOND_SIGSET_SIZE);
	if (r != 0)
		return r;
	return bond_kernel(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}

/*
 * The first turn of a wait always asks the kernel about its fds, so a call
 * reports everything ready when it is made; later busy-poll turns ask at
 * most every [bond] kernel_check_us: a system call per turn would delay
 * noticing the stack's own next frame.
 */
static bool
kernel_due(uint64_t *last, bool first)
{
	uint64_t now = bond_stack->now_ns();

	if (!first && now - *last < bond_cfg.kernel_check_us * BOND_NS_PER_US)
		return false;
	*last = now;
	return true;
}

/* A wait's hold on its set ends (also when its thread is cancelled). */
static void
epoll_release(void *arg)
{
	struct bond_epoll *ep = arg;

	if (bond_epoll_unref(ep)) {	/* closed meanwhile: the last user */
		int kfd;

		bond_enter();
		kfd = bond_epoll_owned_kfd(ep);	/* set by close, locked */
		bond_epoll_free(ep);
		bond_leave();
		if (kfd >= 0)
			bond_kernel(SYS_close, kfd, 0, 0, 0, 0, 0);
	}
}

/*
 * One turn of a wait: the set's ready items, then, when due, the kernel's
 * part. The first checks, under the lock, that the fd still names the set
 * (another thread may have closed it since the lookup), and takes the set
 * (*held) when it will use it after the lock: to ask the kernel's part, or
 * to wait (may_wait and nothing ready). A call that finds its events at
 * once touches no count. Events, 0, or -errno.
 */
static long
epoll_turn(long epfd, struct bond_epoll *ep, struct epoll_event *events,
	   int maxevents, uint64_t *kcheck, bool first, bool may_wait,
	   bool *held)
{
	bool kernel;
	long n, k;

	bond_enter();
	if (first && epoll_of(epfd) != ep) {
		bond_leave();
		return -EBADF;
	}
	bond_poll_fresh();
	n = bond_epoll_collect(ep, events, maxevents);
	/* read once, under the lock: without a reference the set may be
	 * closed and reused once it is released */
	kernel = n >= 0 && n < maxevents && bond_epoll_has_kernel_fds(ep);
	if (first && n >= 0 && (kernel || (n == 0 && may_wait))) {
		bond_epoll_ref(ep);
		*held = true;
	}
	bond_leave();
	if (n < 0)
		return n;	/* EFAULT: no event could be written */
	if (kernel && kernel_due(kcheck, first)) {
		k = bond_kernel(SYS_epoll_pwait, bond_epoll_kfd(ep),
				(long)(events + n), maxevents - n, 0, 0,
				BOND_SIGSET_SIZE);
		if (k > 0)
			n += k;
	}
	return n;
}

/* What a wait on an epoll set goes on with (bond_wait). */
struct epoll_wait_args {
	long epfd;
	struct bond_epoll *ep;
	struct epoll_event *events;
	int maxevents;
	const sigset_t *sigmask;
	uint64_t kcheck;
};

static long
epoll_wait_turn(void *arg)
{
	struct epoll_wait_args *a = arg;
	long n = epoll_turn(a->epfd, a->ep, a->events, a->maxevents,
			    &a->kcheck, false, true, NULL);

	return n != 0 ? n : BOND_WAIT_MORE;
}

/* Naps on the kernel part of the set and the stack's wake fds: the
 * kernel part's events, if any, are the call's. */
static long
epoll_wait_nap(void *arg, uint64_t ns)
{
	struct epoll_wait_args *a = arg;
	struct pollfd pfd[1 + BOND_WAKE_MAX];
	unsigned int w = bond_wake_pollfds(pfd + 1);
	int kfd = bond_epoll_kfd(a->ep);
	struct timespec ts;
	long k;

	if (w == 0) {
		bond_nap_count(NULL, 0);
		return kernel_epoll_nap(kfd, a->events, a->maxevents, ns,
					a->sigmask);
	}
	/* the set's kernel fd polls readable when one of its fds is ready */
	pfd[0] = (struct pollfd){ .fd = kfd, .events = POLLIN };
	ns_to_ts(ns, &ts);
	k = bond_kernel(SYS_ppoll, (long)pfd, 1 + w, (long)&ts,
			(long)a->sigmask, BOND_SIGSET_SIZE, 0);
	bond_nap_count(pfd + 1, k > 0 ? w : 0);
	if (k < 0)
		return k;	/* -EINTR ends the wait; others: the next turn */
	if (pfd[0].revents == 0)
		return 0;	/* a frame, or the time: the next turn looks */
	return bond_kernel(SYS_epoll_pwait, kfd, (long)a->events, a->maxevents,
			   0, 0, BOND_SIGSET_SIZE);
}

/* The wait, holding the set: a cancel in it (asynchronous in the zpoline
 * and sud modes, at bond_waiter_intr in preload mode) lets go. */
static long
epoll_wait_held(struct epoll_wait_args *a, struct bond_waiter *w)
{
	static const struct bond_wait_ops ops = {
		.turn = epoll_wait_turn, .nap = epoll_wait_nap,
	};
	long r;

	pthread_cleanup_push(epoll_release, a->ep);
	r = bond_wait(w, &ops, a, false, 0);
	pthread_cleanup_pop(0);
	return r;
}

static long
epoll_wait_mixed(long epfd, struct bond_epoll *ep, struct epoll_event *events,
		 int maxevents, uint64_t timeout_ns, bool forever,
		 const sigset_t *sigmask)
{
	struct epoll_wait_args a = { epfd, ep, events, maxevents, sigmask, 0 };
	bool may_wait = forever || timeout_ns != 0, held = false;
	struct bond_waiter w;
	long r;

	if (maxevents <= 0 || maxevents > BOND_EPOLL_MAX_EVENTS)
		return -EINVAL;
	/* the clock only if it waits; a handler is seen from the start */
	bond_waiter_sigs(&w);
	r = epoll_turn(epfd, ep, events, maxevents, &a.kcheck, true, may_wait,
		       &held);
	if (r == 0 && may_wait) {
		bond_waiter_start(&w, forever ? 0 : timeout_ns);
		bond_waiter_paced(&w);
		w.cancel = true;
		r = epoll_wait_held(&a, &w);
	}
	if (held)
		epoll_release(ep);
	return r;
}

long
bond_sys_epoll_wait(int a1, struct epoll_event *a2, int a3, int a4)
{
	struct bond_epoll *ep = epoll_of(a1);

	if (ep == NULL || bond_epoll_count(ep) == 0)
		return bond_kernel_epoll_wait(a1, a2, a3, a4);
	return epoll_wait_mixed(a1, ep, a2, a3, ms_to_ns(a4), a4 < 0, NULL);
}

long
bond_sys_epoll_pwait(int a1, struct epoll_event *a2, int a3, int a4,
		     const sigset_t *a5, size_t a6)
{
	struct bond_epoll *ep = epoll_of(a1);

	const sigset_t *mask = a5;
	sigset_t kmask;

	if (ep == NULL || bond_epoll_count(ep) == 0)
		return bond_kernel_epoll_pwait(a1, a2, a3, a4, a5, a6);
	if (mask_in(&kmask, &mask) < 0)
		return -EFAULT;
	return epoll_wait_mixed(a1, ep, a2, a3, ms_to_ns(a4), a4 < 0, mask);
}

long
bond_sys_epoll_pwait2(int a1, struct epoll_event *a2, int a3,
		      const struct timespec *a4, const sigset_t *a5, size_t a6)
{
	struct bond_epoll *ep = epoll_of(a1);
	const struct timespec *ts = a4;
	const sigset_t *mask = a5;
	struct timespec kts;
	sigset_t kmask;
	long r;

	if (ep == NULL || bond_epoll_count(ep) == 0)
		return bond_kernel_epoll_pwait2(a1, a2, a3, a4, a5, a6);
	r = ts_in(&kts, ts);
	if (r < 0)
		return r;
	if (mask_in(&kmask, &mask) < 0)
		return -EFAULT;
	return epoll_wait_mixed(a1, ep, a2, a3, ts != NULL ? ts_to_ns(&kts) : 0,
				ts == NULL, mask);
}

/* ---- poll ---- */

/* What a poll goes on with (bond_wait): kfds, the kernel's copy of fds. */
struct poll_args {
	struct pollfd *fds, *kfds;
	nfds_t nfds, nkernel;
	const sigset_t *sigmask;
};

/* The kernel's fds (at once), then the stack's: how many are ready. */
static long
poll_turn(void *arg)
{
	struct poll_args *a = arg;
	struct timespec ts = { 0, 0 };
	long n = 0, k = 0;

	/* stack sockets alone: nothing to ask the kernel */
	if (a->nkernel > 0)
		k = bond_kernel(SYS_ppoll, (long)a->kfds, (long)a->nfds,
				(long)&ts, 0, BOND_SIGSET_SIZE, 0);
	if (k < 0)
		return k;
	bond_enter();
	bond_poll_fresh();
	for (nfds_t i = 0; i < a->nfds; i++) {
		struct pollfd *f = &a->fds[i];
		struct bond_sock *sk = a->kfds[i].fd < 0 && f->fd >= 0 ?
				       bond_fd_sock(f->fd) : NULL;

		if (sk != NULL)
			f->revents = (short)(sk->proto->events(sk) &
				((uint32_t)(unsigned short)f->events |
				 POLLERR | POLLHUP));
		else
			f->revents = a->kfds[i].revents;
		if (f->revents)
			n++;
	}
	bond_leave();
	return n > 0 ? n : BOND_WAIT_MORE;
}

/* Naps on the kernel's fds and the stack's wake fds (kfds has room for
 * them past nfds), with the call's signal mask; the next turn reads the
 * kernel's fds again. */
static long
poll_nap(void *arg, uint64_t ns)
{
	struct poll_args *a = arg;
	unsigned int w = bond_wake_pollfds(a->kfds + a->nfds);
	struct timespec ts;
	long k;

	if (a->nfds + w > bond_fd_max())
		w = 0;	/* past RLIMIT_NOFILE the kernel's ppoll says EINVAL */

	ns_to_ts(ns, &ts);
	k = bond_kernel(SYS_ppoll, (long)a->kfds, (long)(a->nfds + w),
			(long)&ts, (long)a->sigmask, BOND_SIGSET_SIZE, 0);
	bond_nap_count(a->kfds + a->nfds, k > 0 ? w : 0);
	return k == -EINTR ? k : 0;
}

/* poll_mixed's turns, with kfds the kernel's copy of fds. */
static long
poll_turns(struct pollfd *fds, struct pollfd *kfds, nfds_t nfds,
	   uint64_t timeout_ns, bool forever, const sigset_t *sigmask)
{
	static const struct bond_wait_ops ops = {
		.turn = poll_turn, .nap = poll_nap,
	};
	struct poll_args a = { fds, kfds, nfds, 0, sigmask };
	struct bond_waiter w;
	long r;

	/* The kernel's copy skips stack sockets (negative fds are ignored). */
	for (nfds_t i = 0; i < nfds; i++) {
		kfds[i] = fds[i];
		kfds[i].revents = 0;
		if (bond_fd_sock(fds[i].fd) != NULL)
			kfds[i].fd = -1;
		else if (fds[i].fd >= 0)
			a.nkernel++;
	}
	bond_waiter_sigs(&w);
	r = poll_turn(&a);
	if (r != BOND_WAIT_MORE)
		return r;
	if (!forever && timeout_ns == 0)
		return 0;
	bond_waiter_start(&w, forever ? 0 : timeout_ns);
	bond_waiter_paced(&w);
	w.cancel = true;
	r = bond_wait(&w, &ops, &a, false, 0);
	return r;
}

/* poll_turns with a copy on the heap: a cancel in it (asynchronous in the
 * zpoline and sud modes, at bond_waiter_intr in preload mode) frees it. */
static long
poll_turns_heap(struct pollfd *fds, struct pollfd *kfds, nfds_t nfds,
		uint64_t timeout_ns, bool forever, const sigset_t *sigmask)
{
	long r;

	pthread_cleanup_push(free, kfds);
	r = poll_turns(fds, kfds, nfds, timeout_ns, forever, sigmask);
	pthread_cleanup_pop(0);
	return r;
}

static long
poll_mixed(struct pollfd *fds, nfds_t nfds, uint64_t timeout_ns,
	   bool forever, const sigset_t *sigmask)
{
	/* the kernel's copy, then room for the wake fds (poll_nap) */
	struct pollfd local[BOND_POLL_STACK_FDS + BOND_WAKE_MAX], *kfds = local;
	long r;

	if (nfds > BOND_POLL_STACK_FDS) {
		kfds = malloc((nfds + BOND_WAKE_MAX) * sizeof(*kfds));
		if (kfds == NULL)
			return -ENOMEM;
	}
	if (kfds == local)
		r = poll_turns(fds, kfds, nfds, timeout_ns, forever, sigmask);
	else
		r = poll_turns_heap(fds, kfds, nfds, timeout_ns, forever,
				    sigmask);
	if (kfds != local)
		free(kfds);
	return r;
}

static bool
has_stack_fd(struct pollfd *fds, nfds_t nfds)
{
	/* More fds than RLIMIT_NOFILE, or an array that cannot be read and
	 * written: the kernel's call says EINVAL or EFAULT. */
	if (fds == NULL || nfds > bond_fd_max() ||
	    !bond_user_writable(fds, nfds * sizeof(*fds)))
		return false;
	for (nfds_t i = 0; i < nfds; i++)
		if (bond_fd_sock(fds[i].fd) != NULL)
			return true;
	return false;
}

long
bond_sys_poll(struct pollfd *a1, unsigned int a2, int a3)
{
	if (!has_stack_fd(a1, a2))
		return bond_kernel_poll(a1, a2, a3);
	return poll_mixed(a1, a2, ms_to_ns(a3), a3 < 0, NULL);
}

long
bond_sys_ppoll(struct pollfd *a1, unsigned int a2, const struct timespec *a3,
	       const sigset_t *a4, size_t a5)
{
	const struct timespec *ts = a3;
	const sigset_t *mask = a4;
	struct timespec kts;
	sigset_t kmask;
	long r;

	if (!has_stack_fd(a1, a2))
		return bond_kernel_ppoll(a1, a2, a3, a4, a5);
	r = ts_in(&kts, ts);
	if (r < 0)
		return r;
	if (mask_in(&kmask, &mask) < 0)
		return -EFAULT;
	return poll_mixed(a1, a2, ts != NULL ? ts_to_ns(&kts) : 0, ts == NULL,
			  mask);
}

/* ---- select ---- */

static bool
set_has_stack_fd(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	size_t n = nfds <= 0 ? 0 : ((size_t)(nfds < FD_SETSIZE ? nfds : FD_SETSIZE) + 7) / 8;

	/* sets that cannot be read and written: the kernel's call says EFAULT */
	if ((r && !bond_user_writable(r, n)) || (w && !bond_user_writable(w, n)) ||
	    (e && !bond_user_writable(e, n)))
		return false;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) ||
		     (e && FD_ISSET(fd, e))) && bond_fd_sock(fd) != NULL)
			return true;
	return false;
}

/* What a select goes on with (bond_wait): kin, the kernel's fds of the
 * sets; kout, what a turn found ready. */
struct select_args {
	int nfds;
	fd_set *user[3];
	fd_set kin[3], kout[3];
	struct {
		const sigset_t *ss;
		size_t len;
	} sig;
};

/* The user's sets keep only what is ready (kout). */
static void
select_report(struct select_args *a)
{
	for (int s = 0; s < 3; s++) {
		if (a->user[s] == NULL)
			continue;
		for (int fd = 0; fd < a->nfds; fd++)
			if (FD_ISSET(fd, a->user[s]) && !FD_ISSET(fd, &a->kout[s]))
				FD_CLR(fd, a->user[s]);
	}
}

/* The kernel's fds (at once), then the stack's: how many bits are set. */
static long
select_turn(void *arg)
{
	struct select_args *a = arg;
	struct timespec ts = { 0, 0 };
	long n = 0, k;

	memcpy(a->kout, a->kin, sizeof(a->kout));
	k = bond_kernel(SYS_pselect6, a->nfds, (long)&a->kout[0],
			(long)&a->kout[1], (long)&a->kout[2], (long)&ts, 0);
	if (k < 0)
		return k;
	bond_enter();
	bond_poll_fresh();
	for (int fd = 0; fd < a->nfds; fd++) {
		struct bond_sock *sk = bond_fd_sock(fd);
		uint32_t ev;

		if (sk == NULL)
			continue;
		ev = sk->proto->events(sk);
		if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
			FD_SET(fd, &a->kout[0]);
		if (ev & (EPOLLOUT | EPOLLERR))
			FD_SET(fd, &a->kout[1]);
		if (ev & EPOLLPRI)
			FD_SET(fd, &a->kout[2]);
	}
	bond_leave();
	for (int s = 0; s < 3; s++) {
		if (a->user[s] == NULL)
			continue;
		for (int fd = 0; fd < a->nfds; fd++)
			if (FD_ISSET(fd, a->user[s]) && FD_ISSET(fd, &a->kout[s]))
				n++;
	}
	if (n == 0)
		return BOND_WAIT_MORE;
	select_report(a);
	return n;
}

/* Naps on the kernel's fds and the stack's wake fds (those an fd_set
 * can hold), with the call's signal mask; the next turn reads the
 * kernel's fds again. */
static long
select_nap(void *arg, uint64_t ns)
{
	struct select_args *a = arg;
	struct pollfd wake[BOND_WAKE_MAX];
	unsigned int w = bond_wake_pollfds(wake), n = 0;
	int nfds = a->nfds;
	struct timespec ts;
	long k;

	ns_to_ts(ns, &ts);
	memcpy(a->kout, a->kin, sizeof(a->kout));
	for (unsigned int i = 0; i < w; i++) {
		if (wake[i].fd < 0 || wake[i].fd >= FD_SETSIZE)
			continue;
		wake[n++] = wake[i];
		FD_SET(wake[i].fd, &a->kout[0]);
		if (wake[i].fd >= nfds)
			nfds = wake[i].fd + 1;
	}
	k = bond_kernel(SYS_pselect6, nfds, (long)&a->kout[0],
			(long)&a->kout[1], (long)&a->kout[2], (long)&ts,
			a->sig.ss != NULL ? (long)&a->sig : 0);
	for (unsigned int i = 0; i < n; i++) {
		/* select has no POLLNVAL: a wake fd gone (EBADF), or any
		 * other failure, leaves them out for the rest of the wait */
		if (k < 0 && k != -EINTR)
			wake[i].revents = POLLNVAL;
		else
			wake[i].revents = k > 0 &&
				FD_ISSET(wake[i].fd, &a->kout[0]) ? POLLIN : 0;
		if (!FD_ISSET(wake[i].fd, &a->kin[0]))
			FD_CLR(wake[i].fd, &a->kout[0]);	/* not the call's */
	}
	bond_nap_count(wake, n);
	return k == -EINTR ? k : 0;
}

static long
select_mixed(int nfds, fd_set *rs, fd_set *ws, fd_set *es, uint64_t timeout_ns,
	     bool forever, const sigset_t *sigmask)
{
	static const struct bond_wait_ops ops = {
		.turn = select_turn, .nap = select_nap,
	};
	struct select_args a = {
		.nfds = nfds, .user = { rs, ws, es },
		.sig = { sigmask, BOND_SIGSET_SIZE },
	};
	struct bond_waiter w;
	long r;

	if (nfds < 0 || nfds > FD_SETSIZE)
		return -EINVAL;
	for (int s = 0; s < 3; s++) {
		FD_ZERO(&a.kin[s]);
		if (a.user[s] == NULL)
			continue;
		for (int fd = 0; fd < nfds; fd++)
			if (FD_ISSET(fd, a.user[s]) && bond_fd_sock(fd) == NULL)
				FD_SET(fd, &a.kin[s]);
	}
	bond_waiter_sigs(&w);
	r = select_turn(&a);
	if (r == BOND_WAIT_MORE && (forever || timeout_ns != 0)) {
		bond_waiter_start(&w, forever ? 0 : timeout_ns);
		bond_waiter_paced(&w);
		w.cancel = true;
		r = bond_wait(&w, &ops, &a, false, 0);
	}
	if (r == BOND_WAIT_MORE || r == 0) {
		select_report(&a);	/* nothing ready: every bit cleared */
		r = 0;
	}
	return r;
}

long
bond_sys_select(int a1, fd_set *a2, fd_set *a3, fd_set *a4, struct timeval *a5)
{
	const struct timeval *tv = a5;
	struct timespec kts = { 0, 0 };
	struct timeval ktv;

	if (!set_has_stack_fd(a1, a2, a3, a4))
		return bond_kernel_select(a1, a2, a3, a4, a5);
	if (tv != NULL) {
		if (bond_copy_from_user(&ktv, tv, sizeof(ktv)) != sizeof(ktv))
			return -EFAULT;
		if (ktv.tv_sec < 0 || ktv.tv_usec < 0)
			return -EINVAL;
		/* Linux takes tv_usec past a second as it comes */
		kts.tv_sec = ktv.tv_sec + ktv.tv_usec / 1000000;
		kts.tv_nsec = (ktv.tv_usec % 1000000) * 1000;
	}
	return select_mixed(a1, a2, a3, a4, tv != NULL ? ts_to_ns(&kts) : 0,
			    tv == NULL, NULL);
}

long
bond_sys_pselect6(int a1, fd_set *a2, fd_set *a3, fd_set *a4,
		  const struct timespec *a5, const void *a6)
{
	const struct timespec *ts = a5;
	struct {
		const sigset_t *ss;
		size_t len;
	} sig = { NULL, 0 };
	struct timespec kts;
	sigset_t kmask;
	long r;

	if (!set_has_stack_fd(a1, a2, a3, a4))
		return bond_kernel_pselect6(a1, a2, a3, a4, a5, a6);
	r = ts_in(&kts, ts);
	if (r < 0)
		return r;
	if (a6 != NULL &&
	    (bond_copy_from_user(&sig, a6, sizeof(sig)) != sizeof(sig) ||
	     mask_in(&kmask, &sig.ss) < 0))
		return -EFAULT;
	return select_mixed(a1, a2, a3, a4, ts != NULL ? ts_to_ns(&kts) : 0,
			    ts == NULL, sig.ss);
}
