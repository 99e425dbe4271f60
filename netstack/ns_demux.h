/* Finding a TCP segment's connection by hash (ns_demux.c). Lock held. */
#ifndef ZPNET_NS_DEMUX_H
#define ZPNET_NS_DEMUX_H

#include <stdbool.h>

#include "lwip/arch.h"

struct ns_demux_stats {
	unsigned long hashed;	/* segments the hash placed (a pcb or none) */
	unsigned long walked;	/* segments that needed a walk of a list */
	unsigned long errors;	/* the hash disagreed with the lists */
};

/* A fresh hash (the stack's start), keyed by a new secret; with check,
 * every lookup is verified against lwIP's own walk, and a disagreement
 * stops the process. */
void ns_demux_init(bool check);

/* From ns_memp.c: pool slots [0, fresh) forgotten (memp_init), one slot
 * forgotten (its pcb is freed). */
void ns_demux_reset(u32_t fresh);
void ns_demux_forget(u32_t slot);

void ns_demux_get_stats(struct ns_demux_stats *st);

/* The stack lock's holder died (EOWNERDEAD): put back the lists it had set
 * aside for a tcp_input() it did not finish. */
void ns_demux_repair(void);

#endif
