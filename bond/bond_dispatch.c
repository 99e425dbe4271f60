/*
 * The dispatcher: syscall number -> handler, from syscalls.def. The hook
 * entry sends only the numbers of syscalls.def here (bond_dispatch_nrs);
 * numbers without a handler go to the kernel unchanged.
 *
 * This file runs before the vector state is saved: the hooks engine enters
 * it on general registers only (bond registers without ZP_DISPATCH_VECTOR),
 * so it is compiled for general registers and calls nothing but the fd
 * table (bond_fd.c, also general registers only) and the raw syscall. A
 * call its gate sends to the kernel (a read of a regular file, a close of a
 * pipe) thus costs a table lookup; a call bond serves goes to its handler
 * through bond_vec_call_fn, which saves the vector state around it.
 */
#pragma GCC target("general-regs-only")

#include <errno.h>
#include <sys/syscall.h>

#include "bond.h"
#include "bond_sys.h"

#define BOND_NR_MAX	512	/* above every x86-64 syscall number we hook */

enum bond_gate {
	BOND_GATE_ALWAYS = 0,
	BOND_GATE_FD,
	BOND_GATE_FD2,
	BOND_GATE_SOCKS,
	BOND_GATE_FD_SOCKS,
};

struct bond_handler {
	bond_handler_fn fn;
	enum bond_gate gate;
};

/* The register-shaped entries: six longs read as the handler's types. */
#define BOND_SYSCALL(ret, name, gate, types)				\
	long bond_sysreg_##name(long a1, long a2, long a3, long a4, long a5,	\
			      long a6)					\
	{								\
		return (long)bond_sys_##name(BOND_CASTS(types));	\
	}
#include "syscalls.def"

static const struct bond_handler handlers[BOND_NR_MAX] = {
#define BOND_SYSCALL(ret, name, gate, types) \
	[__NR_##name] = { bond_sysreg_##name, BOND_GATE_##gate },
#include "syscalls.def"
};

const int bond_dispatch_nrs[] = {
#define BOND_SYSCALL(ret, name, gate, types) __NR_##name,
#include "syscalls.def"
};
const size_t bond_dispatch_nnrs = sizeof(bond_dispatch_nrs) /
	sizeof(bond_dispatch_nrs[0]);

/* The FD-gated ones: the hook entry itself sends a kernel fd's call on. */
#define BOND_FDNR_ALWAYS(nr)
#define BOND_FDNR_FD(nr)	nr,
#define BOND_FDNR_FD2(nr)
#define BOND_FDNR_SOCKS(nr)
#define BOND_FDNR_FD_SOCKS(nr)
const int bond_dispatch_fd_nrs[] = {
#define BOND_SYSCALL(ret, name, gate, types) BOND_FDNR_##gate(__NR_##name)
#include "syscalls.def"
};
const size_t bond_dispatch_fd_nnrs = sizeof(bond_dispatch_fd_nrs) /
	sizeof(bond_dispatch_fd_nrs[0]);

bond_vec_call_fn bond_vec_call_fn_ptr;

/* fd is not bond's: its table entry is empty (fds past the table too). */
static inline bool
fd_kernel(long fd)
{
	return bond_fd_is_kernel((int)fd);
}

/* The gate says the kernel alone decides this call. */
static inline bool
gate_kernel(enum bond_gate gate, long a1, long a2)
{
	switch (gate) {
	case BOND_GATE_FD:
		return fd_kernel(a1);
	case BOND_GATE_FD2:
		return fd_kernel(a1) && fd_kernel(a2);
	case BOND_GATE_SOCKS:
		return bond_fd_nsocks() == 0;
	case BOND_GATE_FD_SOCKS:
		return fd_kernel(a1) && bond_fd_nsocks() == 0;
	case BOND_GATE_ALWAYS:
		break;
	}
	return false;
}

/*
 * A recv that would find nothing, answered here: EAGAIN for read or
 * recvfrom on a non-blocking stack socket with nothing to read or report,
 * without the stack's lock, a port poll or the vector save, when the stack
 * was polled less than BOND_FRESH_NS ago and nothing waits for the next
 * poll. The handler would poll and find the same, unless a frame reached
 * the port in those nanoseconds: a reader spinning on EAGAIN so polls the
 * port every BOND_FRESH_NS, and sees data at most that much later.
 */

/* How many (stack.recv_eagain_lockfree): a plain load and store, no
 * locked add, so threads racing on it may lose a count. */
uint64_t bond_recv_eagain_lockfree BOND_SHARED;

static bool
rx_would_block(long nr, long fd, long len, long flags)
{
	const struct bond_sock *sk = bond_fd_sock((int)fd);

	if (sk == NULL || len <= 0 || sk->proto->rx_idle == NULL ||
	    bond_stack->poll_owed == NULL)
		return false;
	if (nr == __NR_recvfrom) {
		if (flags & ~(long)(MSG_DONTWAIT | MSG_PEEK))
			return false;
		if (!(flags & MSG_DONTWAIT) && !BOND_PEEK(sk->nonblock))
			return false;
	} else if (!BOND_PEEK(sk->nonblock)) {
		return false;
	}
	return sk->proto->rx_idle(sk) && bond_polled_fresh(bond_stack->now_ns());
}

/* A handler, with the vector state saved around it where the engine
 * left it to bond. */
static inline long
call(bond_handler_fn fn, long a1, long a2, long a3, long a4, long a5, long a6)
{
	const long args[6] = { a1, a2, a3, a4, a5, a6 };

	if (bond_vec_call_fn_ptr == NULL)
		return fn(a1, a2, a3, a4, a5, a6);
	return bond_vec_call_fn_ptr(fn, args);
}

long
bond_dispatch(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	const struct bond_handler *h;

	if (nr < 0 || nr >= BOND_NR_MAX || handlers[nr].fn == NULL)
		return bond_kernel(nr, a1, a2, a3, a4, a5, a6);
	if (bond_guard) {
		if (__builtin_expect(bond_device_window, 0)) {
			if (nr == __NR_socket)
				return call(bond_device_socket, a1, a2, a3, a4, a5, a6);
			if (nr == __NR_setsockopt)
				return call(bond_device_setsockopt, a1, a2, a3, a4, a5, a6);
		}
		return bond_kernel(nr, a1, a2, a3, a4, a5, a6);
	}
	if (bond_vfork_child_fn != NULL && bond_vfork_child_fn())
		return bond_kernel(nr, a1, a2, a3, a4, a5, a6);
	h = &handlers[nr];
	/* The kernel reads an fd argument as its low 32 bits: so does bond. */
	if (h->gate == BOND_GATE_FD || h->gate == BOND_GATE_FD_SOCKS)
		a1 = (int)a1;
	else if (h->gate == BOND_GATE_FD2) {
		a1 = (int)a1;
		a2 = (int)a2;
	}
	if (gate_kernel(h->gate, a1, a2))
		return bond_kernel(nr, a1, a2, a3, a4, a5, a6);
	if ((nr == __NR_read || nr == __NR_recvfrom) &&
	    rx_would_block(nr, a1, a3, a4)) {
		__atomic_store_n(&bond_recv_eagain_lockfree,
				 BOND_PEEK(bond_recv_eagain_lockfree) + 1,
				 __ATOMIC_RELAXED);
		return -EAGAIN;
	}
	return call(h->fn, a1, a2, a3, a4, a5, a6);
}
