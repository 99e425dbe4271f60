/*
 * Runtime-sized lwIP settings.
 *
 * lwIP takes TCP_WND and TCP_SND_BUF as constants, checked by `#if` in
 * init.c. We want them from the config file. Each is written as
 * "ceiling + delta": in an `#if` the delta variable evaluates to 0, so lwIP's
 * compile-time checks see the ceiling; in C the sum is the configured value,
 * set by ns_config_apply() before any pcb exists.
 */
#ifndef ZPNET_NS_LWIP_RT_H
#define ZPNET_NS_LWIP_RT_H

#include <stdint.h>

#define NS_MAX_TCP_PCB		262144	/* ceiling for [stack] max_sockets */
#define NS_TCP_RCV_SCALE	7	/* window scale shift: windows up to 8 MiB */
#define NS_TCP_WND_MAX		(0xffffu << NS_TCP_RCV_SCALE)	/* largest scaled window */
#define NS_TCP_SND_BUF_MAX	(16u * 1024 * 1024)
#define NS_TCP_SND_QUEUELEN_MAX	0xfff0u	/* u16 in lwIP */

#ifndef __ASSEMBLER__
extern int32_t ns_tcp_wnd_delta;	/* configured - NS_TCP_WND_MAX */
extern int32_t ns_tcp_snd_buf_delta;	/* configured - NS_TCP_SND_BUF_MAX */
extern int32_t ns_tcp_snd_queuelen_delta;
uint32_t ns_rand32(void);
#endif

#define NS_TCP_WND		(NS_TCP_WND_MAX + ns_tcp_wnd_delta)
#define NS_TCP_SND_BUF		(NS_TCP_SND_BUF_MAX + ns_tcp_snd_buf_delta)
#define NS_TCP_SND_QUEUELEN	(NS_TCP_SND_QUEUELEN_MAX + ns_tcp_snd_queuelen_delta)
#define NS_TCP_SNDLOWAT		(NS_TCP_SND_BUF / 4)
#define NS_TCP_SNDQUEUELOWAT	(NS_TCP_SND_QUEUELEN / 4)

#endif
