/*
 * The seam to the hooks engine: bond_zpoline.c when hooks/ is built,
 * bond_nohooks.c otherwise.
 */
#ifndef ZPNET_BOND_HOOKS_H
#define ZPNET_BOND_HOOKS_H

#include <stddef.h>

#include "bond_config.h"

/* Register bond_dispatch and start the engine; 0 or -errno with err set. */
int bond_hooks_start(const struct bond_hooks_config *h, char *err,
		     size_t errlen);

#endif
