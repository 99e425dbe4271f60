/*
 * The zpoline/SUD front-end: bond_dispatch registered with the hooks
 * engine, its raw syscall as bond's escape hatch, its fork callbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "zp_hooks.h"

#include "bond.h"
#include "bond_hooks.h"
#include "bond_sys.h"


int
bond_hooks_start(const struct bond_hooks_config *h, char *err, size_t errlen)
{
	struct zp_hooks_config c;
	int rc;

	zp_hooks_config_default(&c);
	c.mode = strcmp(h->mode, "sud") == 0 ? ZP_HOOKS_SUD_ONLY : ZP_HOOKS_ZPOLINE;
	c.sud_safety_net = h->sud_safety_net;
	c.allow_sud_fallback = h->sud_fallback;
	bond_kernel_fn_ptr = zp_syscall6;
	bond_vfork_child_fn = zp_hooks_in_vfork_child;
	bond_engine_guard_drop = zp_hooks_guard_drop;
	bond_engine_guard_restore = zp_hooks_guard_restore;
	rc = zp_hooks_set_fork_callbacks(bond_fork_prepare, bond_fork_parent,
					 bond_fork_child);
	/*
	 * Only syscalls.def's numbers reach bond_dispatch, on general
	 * registers; it saves the vector state itself for the calls it
	 * serves (zp_hooks_vec_call).
	 */
	bond_vec_call_fn_ptr = zp_hooks_vec_call;
	if (rc == 0)
		rc = zp_hooks_register_set(bond_dispatch, 0, bond_dispatch_nrs,
					   bond_dispatch_nnrs);
	/* read, write, recvfrom...: a kernel fd's never enters C */
	if (rc == 0)
		rc = zp_hooks_filter_fd(bond_dispatch_fd_nrs,
					bond_dispatch_fd_nnrs);
	if (rc == 0)
		rc = zp_hooks_start(&c);
	if (rc < 0)
		snprintf(err, errlen, "%s", zp_hooks_strerror());
	return rc;
}

void
bond_hooks_fd_table(const uintptr_t *words, unsigned int len)
{
	zp_hooks_set_fd_table(words, len);
}
