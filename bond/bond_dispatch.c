/*
 * The dispatcher: syscall number -> handler, from syscalls.def. Numbers
 * without a handler go to the kernel unchanged.
 */
#include <sys/syscall.h>

#include "bond.h"
#include "bond_sys.h"

typedef long (*bond_handler_fn)(long, long, long, long, long, long);

#define BOND_NR_MAX	512	/* above every x86-64 syscall number we hook */

static const bond_handler_fn handlers[BOND_NR_MAX] = {
#define BOND_SYSCALL(name) [__NR_##name] = bond_sys_##name,
#include "syscalls.def"
#undef BOND_SYSCALL
};

long
bond_dispatch(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	if (nr >= 0 && nr < BOND_NR_MAX && handlers[nr] != NULL && !bond_guard &&
	    (bond_vfork_child_fn == NULL || !bond_vfork_child_fn()))
		return handlers[nr](a1, a2, a3, a4, a5, a6);
	return bond_kernel(nr, a1, a2, a3, a4, a5, a6);
}
