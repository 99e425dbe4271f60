/* Inside netstack: the listener side of the TCP input hook (ns_syncookie.c). */
#ifndef ZPNET_NS_SYNCOOKIE_H
#define ZPNET_NS_SYNCOOKIE_H

#include <stdbool.h>

#include "lwip/tcp.h"

/* A fresh secret; at stack start. */
void ns_syncookie_init(void);

/* A segment for listener lpcb (header in host order, as the hook gets
 * it): ERR_OK to let lwIP take it, ERR_ABRT when taken here (dropped, or
 * answered with a cookie; *revived: the connection its cookie stood for is
 * back as a SYN_RCVD pcb, and the segment must go to tcp_input again,
 * which can_revive says is possible). */
err_t ns_tcp_listen_segment(struct tcp_pcb_listen *lpcb, const struct tcp_hdr *hdr,
			    u16_t optlen, const u8_t *opt2, bool can_revive,
			    bool *revived);

/* The socket layer's accept queue of lpcb is full (counted as a listen
 * overflow). */
bool ns_tcp_acceptq_is_full(struct tcp_pcb_listen *lpcb);

#endif
