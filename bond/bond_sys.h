/*
 * The handlers of the hooked system calls, one per line of syscalls.def,
 * all with the kernel's shape: six long arguments in, a value or -errno out.
 */
#ifndef ZPNET_BOND_SYS_H
#define ZPNET_BOND_SYS_H

#include <stddef.h>

#define BOND_SYSCALL(name, gate) \
	long bond_sys_##name(long a1, long a2, long a3, long a4, long a5, long a6);
#include "syscalls.def"
#undef BOND_SYSCALL

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
