/*
 * The stack's memory shared across fork (ns_shared.c, ns_shared.ld).
 */
#ifndef ZPNET_NS_SHARED_H
#define ZPNET_NS_SHARED_H

#include <stdbool.h>
#include <stddef.h>

/* Remap the shared ranges MAP_SHARED (once, before the stack starts).
 * 0, or -errno with err filled. Without the ranges: 0, nothing shared. */
int ns_shared_init(char *err, size_t errlen);
/* true once the ranges are shared. */
bool ns_shared_active(void);

#endif
