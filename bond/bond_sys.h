/*
 * The handlers of the hooked system calls, one per line of syscalls.def,
 * all with the kernel's shape: six long arguments in, a value or -errno out.
 */
#ifndef ZPNET_BOND_SYS_H
#define ZPNET_BOND_SYS_H

#define BOND_SYSCALL(name) \
	long bond_sys_##name(long a1, long a2, long a3, long a4, long a5, long a6);
#include "syscalls.def"
#undef BOND_SYSCALL

/* The dispatcher registered with the hooks engine. */
long bond_dispatch(long nr, long a1, long a2, long a3, long a4, long a5,
		   long a6);

#endif
