/*
 * Built when the hooks engine is not: only [hooks] mode = preload works.
 */
#include <errno.h>
#include <stdio.h>

#include "bond_hooks.h"

int
bond_hooks_start(const struct bond_hooks_config *h, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "[hooks] mode = %s, but this build has no hooks engine; "
		 "set [hooks] mode = preload or build hooks/", h->mode);
	return -ENOTSUP;
}

void
bond_hooks_fd_table(const uintptr_t *words, unsigned int len)
{
	(void)words;
	(void)len;
}
