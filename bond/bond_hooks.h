/*
 * The seam to the hooks engine: bond_zpoline.c when hooks/ is built,
 * bond_nohooks.c otherwise.
 */
#ifndef ZPNET_BOND_HOOKS_H
#define ZPNET_BOND_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "bond_config.h"

/* Register bond_dispatch and start the engine; 0 or -errno with err set. */
int bond_hooks_start(const struct bond_hooks_config *h, char *err,
		     size_t errlen);

/* The fd table's words (bond_fd.c): the engine sends a call on an fd
 * whose word is zero to the kernel itself. */
void bond_hooks_fd_table(const uintptr_t *words, unsigned int len);

#endif
