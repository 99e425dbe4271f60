/*
 * The handlers of the hooked system calls, one per BOND_SYSCALL line of
 * syscalls.def, typed as the kernel reads its arguments: a value or -errno
 * out, never errno.
 */
#ifndef ZPNET_BOND_SYS_H
#define ZPNET_BOND_SYS_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "bond.h"

/*
 * A type list (T1, ..., Tn) of syscalls.def, n from 1 to 6, spelled as
 * parameters (T1 a1, ..., Tn an), as the six registers read as these
 * types ((T1)a1, ..., (Tn)an), and as six register values again
 * ((long)a1, ..., (long)an, 0, ...).
 */
#define BOND_NARGS(...)	BOND_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define BOND_NARGS_(a, b, c, d, e, f, n, ...)	n
#define BOND_CAT(a, b)		BOND_CAT_(a, b)
#define BOND_CAT_(a, b)		a##b

#define BOND_PARAMS(types)	BOND_CAT(BOND_PARAMS_, BOND_NARGS types) types
#define BOND_PARAMS_1(t1)	t1 a1
#define BOND_PARAMS_2(t1, t2)	t1 a1, t2 a2
#define BOND_PARAMS_3(t1, t2, t3)	t1 a1, t2 a2, t3 a3
#define BOND_PARAMS_4(t1, t2, t3, t4)	t1 a1, t2 a2, t3 a3, t4 a4
#define BOND_PARAMS_5(t1, t2, t3, t4, t5)	t1 a1, t2 a2, t3 a3, t4 a4, t5 a5
#define BOND_PARAMS_6(t1, t2, t3, t4, t5, t6) \
	t1 a1, t2 a2, t3 a3, t4 a4, t5 a5, t6 a6

#define BOND_CASTS(types)	BOND_CAT(BOND_CASTS_, BOND_NARGS types) types
#define BOND_CASTS_1(t1)	(t1)a1
#define BOND_CASTS_2(t1, t2)	(t1)a1, (t2)a2
#define BOND_CASTS_3(t1, t2, t3)	(t1)a1, (t2)a2, (t3)a3
#define BOND_CASTS_4(t1, t2, t3, t4)	(t1)a1, (t2)a2, (t3)a3, (t4)a4
#define BOND_CASTS_5(t1, t2, t3, t4, t5) \
	(t1)a1, (t2)a2, (t3)a3, (t4)a4, (t5)a5
#define BOND_CASTS_6(t1, t2, t3, t4, t5, t6) \
	(t1)a1, (t2)a2, (t3)a3, (t4)a4, (t5)a5, (t6)a6

#define BOND_LONGS(types)	BOND_CAT(BOND_LONGS_, BOND_NARGS types) types
#define BOND_LONGS_1(t1)	(long)a1, 0L, 0L, 0L, 0L, 0L
#define BOND_LONGS_2(t1, t2)	(long)a1, (long)a2, 0L, 0L, 0L, 0L
#define BOND_LONGS_3(t1, t2, t3)	(long)a1, (long)a2, (long)a3, 0L, 0L, 0L
#define BOND_LONGS_4(t1, t2, t3, t4) \
	(long)a1, (long)a2, (long)a3, (long)a4, 0L, 0L
#define BOND_LONGS_5(t1, t2, t3, t4, t5) \
	(long)a1, (long)a2, (long)a3, (long)a4, (long)a5, 0L
#define BOND_LONGS_6(t1, t2, t3, t4, t5, t6) \
	(long)a1, (long)a2, (long)a3, (long)a4, (long)a5, (long)a6

/* The handlers, and each one's call of the kernel with the same arguments
 * (for a call the handler gives back: a kernel fd, an option the kernel
 * socket keeps in step). An argument goes back as the kernel reads it. */
#define BOND_SYSCALL(ret, name, gate, types)				\
	ret bond_sys_##name(BOND_PARAMS(types));			\
	static inline long bond_kernel_##name(BOND_PARAMS(types))	\
	{								\
		return bond_kernel(__NR_##name, BOND_LONGS(types));	\
	}
#include "syscalls.def"

/* Each handler in the register shape, six longs read as its types
 * (bond_dispatch.c): the dispatch table's entries, and the preload
 * wrappers' way in. */
#define BOND_SYSCALL(ret, name, gate, types)				\
	long bond_sysreg_##name(long a1, long a2, long a3, long a4,	\
				long a5, long a6);
#include "syscalls.def"

/* The dispatcher registered with the hooks engine. */
long bond_dispatch(long nr, long a1, long a2, long a3, long a4, long a5,
		   long a6);

/* The numbers it serves, one per line of syscalls.def: the hook entry
 * sends only these to it. */
extern const int bond_dispatch_nrs[];
extern const size_t bond_dispatch_nnrs;
/* those whose gate is FD (syscalls.def) */
extern const int bond_dispatch_fd_nrs[];
extern const size_t bond_dispatch_fd_nnrs;

/*
 * How bond_dispatch runs a handler: set by the hooks seam to the engine's
 * call that saves the vector state around it (bond_dispatch itself runs on
 * general registers only); NULL: a plain call.
 */
typedef long (*bond_handler_fn)(long, long, long, long, long, long);
typedef long (*bond_vec_call_fn)(bond_handler_fn fn, const long args[6]);
extern bond_vec_call_fn bond_vec_call_fn_ptr;

#endif
