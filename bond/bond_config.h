/*
 * The config sections bond owns: [bond] (struct bond_config, in bond.h) and
 * [hooks]. Registered with netstack's parser before the file is loaded.
 */
#ifndef ZPNET_BOND_CONFIG_H
#define ZPNET_BOND_CONFIG_H

#include <stdbool.h>

#include "ns_config.h"

#define BOND_HOOKS_MODE_MAX	16

struct bond_hooks_config {
	char mode[BOND_HOOKS_MODE_MAX];	/* zpoline, sud, preload */
	bool sud_safety_net;
	bool sud_fallback;
};

extern const struct ns_cfg_section bond_cfg_bond, bond_cfg_hooks;
extern struct bond_hooks_config bond_hooks_cfg;

void bond_hooks_config_defaults(struct bond_hooks_config *h);

#endif
