/*
 * For the unit suite: configs/README.md documents every key of a config
 * section, in a table row "| `key` | `DEFAULT` |" (or "(empty)", or
 * "(none" for keys without a default) under the heading "## `[section".
 */
#ifndef ZPNET_TEST_CFGDOC_H
#define ZPNET_TEST_CFGDOC_H

#include "ns_config.h"

/* Missing rows are printed to stderr; returns how many are missing, or -1
 * when the README cannot be read. */
int cfgdoc_missing(const char *src_root, const struct ns_cfg_section *sec);

#endif
