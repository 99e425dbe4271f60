/* lwIP's pools, grown into lazily (ns_memp.c). Lock held. */
#ifndef ZPNET_NS_MEMP_H
#define ZPNET_NS_MEMP_H

#include "lwip/memp.h"

/* At most limit elements of pool type from now on (up to its compile-time
 * size, and not below what is in use): 0, or -1. */
int ns_memp_set_limit(memp_t type, u32_t limit);

struct tcp_pcb;
/* Up to max TCP pcbs in use, from pool slot *cursor on, in slot order
 * (*cursor moves past them): every connection lwIP has, TIME-WAIT and
 * SYN-RECEIVED included. */
unsigned int ns_tcp_pcb_next(u32_t *cursor, struct tcp_pcb **out,
			     unsigned int max);

/* A TCP pcb's slot in its pool (0 to MEMP_NUM_TCP_PCB - 1), and back. */
u32_t ns_tcp_pcb_slot(const struct tcp_pcb *pcb);
struct tcp_pcb *ns_tcp_pcb_at(u32_t slot);

/* How many more elements of pool type memp_malloc would hand out now. */
u32_t ns_memp_room(memp_t type);

#endif
