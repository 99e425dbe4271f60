/*
 * TCP segmentation offload for ports without one (net_af_packet): the TCP
 * segments lwIP queued for a port are sent through a packet socket with
 * virtio-net headers (PACKET_VNET_HDR), so the kernel fills their
 * checksums, and consecutive full segments of one connection go as one
 * frame of up to 64 KiB that the kernel segments (GSO), or, on veth,
 * hands to the receiving stack whole.
 *
 * Frames here are plain bytes: an Ethernet header, IPv4 (no options) or
 * IPv6 (no extension headers), TCP. No DPDK or lwIP types.
 */
#ifndef ZPNET_NS_TSO_H
#define ZPNET_NS_TSO_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

/* Most segments one offloaded frame carries, and its longest length
 * (Ethernet header included: below the kernel's default gso_max_size). */
#define NS_TSO_SEGS_MAX		64u
#define NS_TSO_FRAME_MAX	65535u

/*
 * Before a frame is queued: fill the IPv4 header checksum (lwIP leaves it
 * to the port), and for a TCP segment the offsets and the pseudo-header
 * sum in its checksum field, as a checksum offload expects. True when the
 * frame is such a TCP segment; false leaves a frame lwIP summed whole.
 */
bool ns_tso_prepare(uint8_t *frame, uint16_t len);

/* A prepared TCP segment's full checksum, for a path without offload. */
void ns_tso_finish(uint8_t *frame, uint16_t len);

/* Longest Ethernet, IP and TCP headers a merged frame has (IPv4 without
 * options, or IPv6, and TCP's 60 bytes). */
#define NS_TSO_HDR_MAX		(14u + 40u + 60u)

/*
 * One frame to the socket: segments [first, first + n) of the batch. One
 * segment goes as it is; a run goes as vh, hdr (vh.hdr_len bytes: the
 * first segment's headers rewritten to carry the whole), then each
 * segment's data. The segments themselves are not changed, so a batch
 * the socket did not take can be planned again.
 */
struct ns_tso_msg {
	struct virtio_net_hdr vh;
	unsigned int first, n;
	uint8_t hdr[NS_TSO_HDR_MAX];
};

/*
 * Group prepared segments frame[0..count) (lengths len[]) into at most
 * max messages of at most max_segs segments (1: none merged), in order: a run of segments of one
 * connection that follow each other in sequence, all but the last exactly
 * as long as the first and with nothing but ACK set (PSH allowed on the
 * last), IPv4 ids counting up, the same headers otherwise, becomes one
 * message, with headers for the whole (lengths, IPv4 header checksum, PSH,
 * the pseudo-header sum) in msg->hdr. Returns the messages; *used: the
 * frames they cover.
 */
unsigned int ns_tso_plan(uint8_t *const *frame, const uint16_t *len,
			 unsigned int count, unsigned int max_segs,
			 struct ns_tso_msg *msgs, unsigned int max,
			 unsigned int *used);

#endif
