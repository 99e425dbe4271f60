/*
 * The preload front-end (libzpnet-preload.so only): libc's socket, I/O and
 * wait functions, interposed with LD_PRELOAD, call the same handlers as the
 * syscall dispatcher and turn their -errno into errno. It is [hooks] mode =
 * preload, and the way bond runs without the zpoline engine.
 *
 * While bond_guard is set (zpnet's own calls: DPDK, lwIP, logging) a
 * wrapper goes straight to the kernel.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bond.h"
#include "bond_sys.h"

#define BOND_EXPORT		__attribute__((visibility("default")))
#define BOND_ERRNO_MAX		4095	/* -4095..-1 are errors (kernel ABI) */
#define BOND_SIGSET_SIZE	(_NSIG / 8)

static inline long
to_libc(long r)
{
	if (r < 0 && r >= -BOND_ERRNO_MAX) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* A call while zpnet itself is calling: the kernel's (bond.h). */
static inline long
guarded(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	if (__builtin_expect(bond_device_window, 0)) {
		if (nr == SYS_socket)
			return bond_device_socket(a1, a2, a3, a4, a5, a6);
		if (nr == SYS_setsockopt)
			return bond_device_setsockopt(a1, a2, a3, a4, a5, a6);
	}
	return bond_kernel(nr, a1, a2, a3, a4, a5, a6);
}

/*
 * One call. With the zpoline/SUD engine running (bond_preload_bypass), the
 * wrapper makes the plain system call through libc's syscall(), whose
 * instruction the engine has rewritten: the call reaches bond_dispatch like
 * any other. Otherwise: the handler, or the kernel while zpnet itself is
 * calling.
 */
#define CALL(name, a1, a2, a3, a4, a5, a6) (bond_preload_bypass ?	\
	syscall(SYS_##name, (long)(a1), (long)(a2), (long)(a3),	\
		(long)(a4), (long)(a5), (long)(a6)) :			\
	to_libc(bond_guard ?						\
	guarded(SYS_##name, (long)(a1), (long)(a2), (long)(a3),	\
		(long)(a4), (long)(a5), (long)(a6)) :			\
	bond_sysreg_##name((long)(a1), (long)(a2), (long)(a3), (long)(a4),	\
			 (long)(a5), (long)(a6))))
#define CALL_(...)	CALL(__VA_ARGS__)

/* This library has them: [hooks] mode = preload can run (bond_init.c). */
const bool bond_has_wrappers = true;

/*
 * fork: libc's, then (preload mode) the parent tells the stack the
 * child's pid or that fork failed, which its pthread_atfork handlers
 * cannot know: a child killed before it ran a line is then released by
 * pid, and a failed fork's slot at once.
 */
typedef pid_t (*fork_fn)(void);

BOND_EXPORT pid_t
fork(void)
{
	static fork_fn real_fork;
	fork_fn real = __atomic_load_n(&real_fork, __ATOMIC_ACQUIRE);
	pid_t pid;

	if (real == NULL) {
		real = (fork_fn)dlsym(RTLD_NEXT, "fork");
		__atomic_store_n(&real_fork, real, __ATOMIC_RELEASE);
	}
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	pid = real();
	if (pid != 0 && bond_fork_settles && !bond_guard) {
		int saved = errno;

		bond_fork_settle(pid < 0 ? -1 : pid);
		errno = saved;
	}
	return pid;
}

/* The BOND_LIBC lines of syscalls.def: libc's prototype, the syscall's
 * handler. */
#define BOND_LIBC(ret, name, sysname, types)				\
	BOND_EXPORT ret							\
	name(BOND_PARAMS(types))					\
	{								\
		return (ret)CALL_(sysname, BOND_LONGS(types));		\
	}
#include "syscalls.def"

BOND_EXPORT ssize_t
__read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	return CALL(read, fd, buf, n, 0, 0, 0);
}

BOND_EXPORT ssize_t
__recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	return CALL(recvfrom, fd, buf, n, flags, 0, 0);
}

BOND_EXPORT ssize_t
__recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
	       struct sockaddr *sa, socklen_t *len)
{
	return CALL(recvfrom, fd, buf, n, flags, sa, len);
}

BOND_EXPORT void
closefrom(int lowfd)
{
	CALL(close_range, lowfd, ~0u, 0, 0, 0, 0);
}

static long
fcntl_arg(va_list ap)
{
	return va_arg(ap, long);
}

BOND_EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = fcntl_arg(ap);
	va_end(ap);
	return (int)CALL(fcntl, fd, cmd, arg, 0, 0, 0);
}

BOND_EXPORT int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = fcntl_arg(ap);
	va_end(ap);
	return (int)CALL(fcntl, fd, cmd, arg, 0, 0, 0);
}

BOND_EXPORT int
ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	long arg;

	va_start(ap, req);
	arg = va_arg(ap, long);
	va_end(ap);
	return (int)CALL(ioctl, fd, req, arg, 0, 0, 0);
}

BOND_EXPORT int
epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
	    const sigset_t *ss)
{
	return (int)CALL(epoll_pwait, epfd, ev, max, timeout, ss,
			 BOND_SIGSET_SIZE);
}

BOND_EXPORT int
epoll_pwait2(int epfd, struct epoll_event *ev, int max,
	     const struct timespec *ts, const sigset_t *ss)
{
	return (int)CALL(epoll_pwait2, epfd, ev, max, ts, ss, BOND_SIGSET_SIZE);
}

BOND_EXPORT int
__poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	return (int)CALL(poll, fds, n, timeout, 0, 0, 0);
}

BOND_EXPORT int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
      const sigset_t *ss)
{
	return (int)CALL(ppoll, fds, n, ts, ss, BOND_SIGSET_SIZE, 0);
}

BOND_EXPORT int
__ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
	    const sigset_t *ss, size_t fdslen)
{
	return (int)CALL(ppoll, fds, n, ts, ss, BOND_SIGSET_SIZE, 0);
}

BOND_EXPORT int
pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
	const sigset_t *ss)
{
	struct {
		const sigset_t *ss;
		size_t len;
	} sig = { ss, BOND_SIGSET_SIZE };

	return (int)CALL(pselect6, nfds, r, w, e, ts, ss != NULL ? &sig : NULL);
}
