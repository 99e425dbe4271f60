/*
 * netstack/ns_tso.c, TCP segmentation offload through a packet socket:
 * checksums as an offload expects them, which runs of segments merge and
 * which do not, and that the kernel's segmentation of a merged frame (done
 * here the way the kernel does it: split at gso_size, IPv4 ids counting up,
 * PSH on the last, sums filled) gives back byte for byte the segments lwIP
 * made; and the software sum of ns_csum.h. Sums here are computed independently of ns_tso.c, a 16-bit word
 * at a time in network order. Ends with random frames and flipped bytes
 * (ASan watches the bounds).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns_csum.h"
#include "ns_tso.h"
#include "unit_check.h"

#define FRAME_MAX	70000
#define SEGS		120

static uint32_t
sum16(const uint8_t *p, size_t n, uint32_t acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t
fold16(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static bool
is_v6(const uint8_t *f)
{
	return rd16(f + 12) == 0x86dd;
}

static size_t
l4_off(const uint8_t *f)
{
	return is_v6(f) ? 14 + 40 : 14 + (size_t)(f[14] & 0x0f) * 4;
}

static size_t
tcp_len(const uint8_t *f)
{
	return is_v6(f) ? rd16(f + 18) : rd16(f + 16) - (size_t)(f[14] & 0x0f) * 4;
}

/* The pseudo-header's sum for this frame's addresses and length. */
static uint16_t
pseudo16(const uint8_t *f, size_t len)
{
	uint32_t acc = 6 + (uint32_t)len;

	if (is_v6(f))
		acc = sum16(f + 14 + 8, 32, acc);
	else
		acc = sum16(f + 14 + 12, 8, acc);
	return fold16(acc);
}

static bool
ip4_sum_ok(const uint8_t *f)
{
	return is_v6(f) || fold16(sum16(f + 14, (size_t)(f[14] & 0x0f) * 4, 0)) == 0xffff;
}

static bool
tcp_sum_ok(const uint8_t *f)
{
	size_t l4 = l4_off(f), n = tcp_len(f);

	return fold16(sum16(f + l4, n, pseudo16(f, n))) == 0xffff;
}

/* The field holds the pseudo-header's sum, as an offload expects. */
static bool
tcp_sum_partial(const uint8_t *f)
{
	size_t l4 = l4_off(f);

	return rd16(f + l4 + 16) == pseudo16(f, tcp_len(f));
}

struct seg {
	uint8_t f[FRAME_MAX];
	uint16_t len;
};

static struct seg segs[SEGS], want[SEGS], got[SEGS];
static uint8_t *fp[SEGS];
static uint16_t fl[SEGS];

struct shape {
	bool v6;
	unsigned int opts;	/* TCP option bytes (multiple of 4) */
	unsigned int ip_opts;	/* IPv4 option bytes */
};

/* A segment as lwIP leaves it for a port with checksum offload: IPv4
 * header checksum 0, TCP checksum 0. */
static void
make(struct seg *s, const struct shape *sh, uint16_t sport, uint32_t seq,
     uint16_t data, uint8_t flags, uint16_t id)
{
	uint8_t *f = s->f;
	size_t l3 = sh->v6 ? 40 : 20 + sh->ip_opts, l4 = 14 + l3;
	size_t th = 20 + sh->opts;

	memset(f, 0, 14 + l3 + th);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (sh->v6) {
		wr16(f + 12, 0x86dd);
		f[14] = 0x60;
		wr16(f + 18, (uint16_t)(th + data));
		f[20] = 6;
		f[21] = 64;
		memcpy(f + 22, "\x20\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02", 16);
		memcpy(f + 38, "\x20\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	} else {
		wr16(f + 12, 0x0800);
		f[14] = (uint8_t)(0x40 | (l3 / 4));
		wr16(f + 16, (uint16_t)(l3 + th + data));
		wr16(f + 18, id);
		wr16(f + 20, 0x4000);	/* DF */
		f[22] = 64;
		f[23] = 6;
		memcpy(f + 26, "\xc6\x12\x00\x02\xc6\x12\x00\x01", 8);
		for (unsigned int i = 0; i < sh->ip_opts; i++)
			f[34 + i] = 1;	/* NOP */
	}
	wr16(f + l4, sport);
	wr16(f + l4 + 2, 5201);
	wr32(f + l4 + 4, seq);
	wr32(f + l4 + 8, 0x11223344);
	f[l4 + 12] = (uint8_t)((th / 4) << 4);
	f[l4 + 13] = flags;
	wr16(f + l4 + 14, 501);
	for (unsigned int i = 0; i < sh->opts; i++)
		f[l4 + 20 + i] = 1;	/* NOP */
	for (unsigned int i = 0; i < data; i++)
		f[l4 + th + i] = (uint8_t)(seq + i);
	s->len = (uint16_t)(l4 + th + data);
}

/* A run of n segments of data bytes each (the last last_data), ACK, the
 * last PSH, into segs[at...]. */
static void
run(unsigned int at, unsigned int n, const struct shape *sh, uint16_t data,
    uint16_t last_data, uint32_t seq)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = i + 1 == n ? last_data : data;

		make(&segs[at + i], sh, 40000, seq, d,
		     i + 1 == n ? 0x18 : 0x10, (uint16_t)(100 + at + i));
		seq += d;
	}
}

/* What the receiver should get: each segment with full sums. */
static void
expect(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		want[i] = segs[i];
		CHECK(ns_tso_prepare(want[i].f, want[i].len), "segment %u is TCP", i);
		ns_tso_finish(want[i].f, want[i].len);
		CHECK(ip4_sum_ok(want[i].f) && tcp_sum_ok(want[i].f),
		      "segment %u: finished sums verify", i);
	}
}

static unsigned int
plan(unsigned int n, struct ns_tso_msg *msgs, unsigned int max,
     unsigned int *used)
{
	for (unsigned int i = 0; i < n; i++) {
		CHECK(ns_tso_prepare(segs[i].f, segs[i].len), "segment %u is TCP", i);
		CHECK(ip4_sum_ok(segs[i].f), "segment %u: IPv4 header sum", i);
		CHECK(tcp_sum_partial(segs[i].f), "segment %u: pseudo-header sum", i);
		fp[i] = segs[i].f;
		fl[i] = segs[i].len;
	}
	return ns_tso_plan(fp, fl, n, NS_TSO_SEGS_MAX, msgs, max, used);
}

/*
 * The kernel's side of one message: the bytes the iovecs give (the head
 * whole, then the others' data), cut at gso_size into segments with the
 * head's headers, IPv4 ids counting up, PSH and the sums on each; into
 * got[at...]. Returns the segments made.
 */
static unsigned int
segment(const struct ns_tso_msg *m, unsigned int at)
{
	static uint8_t data[FRAME_MAX];
	const uint8_t *h = m->n > 1 ? m->hdr : segs[m->first].f;
	size_t hdr = m->vh.hdr_len, n = 0, off;
	uint32_t seq;
	unsigned int k = 0;
	bool psh;

	if (m->vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		got[at] = segs[m->first];
		ns_tso_finish(got[at].f, got[at].len);
		return 1;
	}
	memcpy(data, segs[m->first].f + hdr, segs[m->first].len - hdr);
	n = segs[m->first].len - hdr;
	for (unsigned int i = m->first + 1; i < m->first + m->n; i++) {
		memcpy(data + n, segs[i].f + hdr, segs[i].len - hdr);
		n += segs[i].len - hdr;
	}
	CHECK(is_v6(h) ? rd16(h + 18) == hdr - 54 + n :
	      rd16(h + 16) == hdr - 14 + n,
	      "the head's IP length covers all %zu bytes", n);
	CHECK(ip4_sum_ok(h), "the head's IPv4 header sum");
	CHECK(rd16(h + m->vh.csum_start + 16) == pseudo16(h, hdr - m->vh.csum_start + n),
	      "the head carries the pseudo-header sum of the whole");
	seq = (uint32_t)rd16(h + l4_off(h) + 4) << 16 | rd16(h + l4_off(h) + 6);
	psh = (h[l4_off(h) + 13] & 0x08) != 0;
	for (off = 0; off < n; off += m->vh.gso_size, k++) {
		struct seg *s = &got[at + k];
		size_t d = n - off < m->vh.gso_size ? n - off : m->vh.gso_size;
		size_t l4 = l4_off(h);

		memcpy(s->f, h, hdr);
		memcpy(s->f + hdr, data + off, d);
		s->len = (uint16_t)(hdr + d);
		if (is_v6(h)) {
			wr16(s->f + 18, (uint16_t)(hdr - 54 + d));
		} else {
			wr16(s->f + 16, (uint16_t)(hdr - 14 + d));
			wr16(s->f + 18, (uint16_t)(rd16(h + 18) + k));
			wr16(s->f + 24, 0);
			wr16(s->f + 24, (uint16_t)~fold16(sum16(s->f + 14, l4 - 14, 0)));
		}
		wr32(s->f + l4 + 4, seq + (uint32_t)off);
		s->f[l4 + 13] &= (uint8_t)~0x08;
		if (off + d == n && psh)
			s->f[l4 + 13] |= 0x08;
		wr16(s->f + l4 + 16, 0);
		wr16(s->f + l4 + 16, (uint16_t)~fold16(sum16(s->f + l4, hdr - l4 + d,
							    pseudo16(s->f, hdr - l4 + d))));
	}
	return k;
}

/* Plan n segments, segment every message, compare with what lwIP made.
 * Returns the messages; *sizes: each message's segment count. */
static unsigned int
round_trip(const char *what, unsigned int n, unsigned int *sizes)
{
	static struct ns_tso_msg msgs[SEGS], again[SEGS];
	static struct seg before[SEGS];
	unsigned int used, nm, out = 0;

	expect(n);
	nm = plan(n, msgs, SEGS, &used);
	CHECK(used == n, "%s: all %u segments planned (%u)", what, n, used);
	/* the segments are left as they were: a batch the socket did not
	 * take is planned the same way again */
	memcpy(before, segs, sizeof(segs[0]) * n);
	CHECK(ns_tso_plan(fp, fl, n, NS_TSO_SEGS_MAX, again, SEGS, &used) == nm && used == n,
	      "%s: planned again, the same messages", what);
	for (unsigned int i = 0; i < nm; i++)
		CHECK(again[i].first == msgs[i].first && again[i].n == msgs[i].n &&
		      memcmp(&again[i].vh, &msgs[i].vh, sizeof(msgs[i].vh)) == 0 &&
		      (msgs[i].n == 1 ||
		       memcmp(again[i].hdr, msgs[i].hdr, msgs[i].vh.hdr_len) == 0),
		      "%s: message %u planned again is the same", what, i);
	for (unsigned int i = 0; i < n; i++)
		CHECK(memcmp(before[i].f, segs[i].f, segs[i].len) == 0,
		      "%s: segment %u unchanged by planning", what, i);
	for (unsigned int i = 0; i < nm; i++) {
		const struct ns_tso_msg *m = &msgs[i];

		sizes[i] = m->n;
		CHECK(m->first == out, "%s: message %u starts where the last ended", what, i);
		CHECK(m->vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
		      m->vh.csum_start == l4_off(segs[m->first].f) &&
		      m->vh.csum_offset == 16,
		      "%s: message %u asks for the TCP sum", what, i);
		if (m->n > 1) {
			size_t l4 = l4_off(segs[m->first].f);

			CHECK(m->vh.gso_type == (is_v6(segs[m->first].f) ?
						 VIRTIO_NET_HDR_GSO_TCPV6 :
						 VIRTIO_NET_HDR_GSO_TCPV4),
			      "%s: message %u: GSO type", what, i);
			CHECK(m->vh.hdr_len == l4 + (segs[m->first].f[l4 + 12] >> 4) * 4,
			      "%s: message %u: header length %u", what, i, m->vh.hdr_len);
		} else {
			CHECK(m->vh.gso_type == VIRTIO_NET_HDR_GSO_NONE,
			      "%s: message %u of one segment is not GSO", what, i);
		}
		CHECK(segment(m, out) == m->n,
		      "%s: message %u gives back its %u segments", what, i, m->n);
		out += m->n;
	}
	for (unsigned int i = 0; i < n && i < out; i++)
		CHECK(got[i].len == want[i].len &&
		      memcmp(got[i].f, want[i].f, want[i].len) == 0,
		      "%s: segment %u comes out as lwIP made it", what, i);
	return nm;
}

static void
test_runs(void)
{
	struct shape v4 = { 0 }, v6 = { .v6 = true }, opt = { .opts = 12 };
	unsigned int sz[SEGS], nm;

	run(0, 10, &v4, 1448, 1000, 1000);
	nm = round_trip("10 segments", 10, sz);
	CHECK(nm == 1 && sz[0] == 10, "10 segments: one message (%u)", nm);
	{	/* merging off: the same segments one by one */
		struct ns_tso_msg one[SEGS];
		unsigned int used, k = ns_tso_plan(fp, fl, 10, 1, one, SEGS, &used);
		bool singles = k == 10 && used == 10;

		for (unsigned int i = 0; i < k; i++)
			singles = singles && one[i].n == 1 &&
				  one[i].vh.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
				  one[i].vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM;
		CHECK(singles, "max_segs 1: 10 messages of one segment (%u)", k);
	}

	run(0, 50, &v4, 1448, 1448, 7);
	nm = round_trip("50 segments", 50, sz);
	CHECK(nm == 2 && sz[0] == 45 && sz[1] == 5,
	      "50 segments: 45 (a frame of 65,214 bytes) and 5 (%u: %u)", nm, sz[0]);

	/* 44 full segments of 1,460 bytes and one of 1,242 make a frame of
	 * 65,536 bytes, one past the most */
	run(0, 45, &v4, 1460, 1242, 7);
	nm = round_trip("a frame of 65,536 bytes", 45, sz);
	CHECK(nm == 2 && sz[0] == 44, "65,536 bytes: split (%u: %u)", nm, sz[0]);
	run(0, 45, &v4, 1460, 1241, 7);
	nm = round_trip("a frame of 65,535 bytes", 45, sz);
	CHECK(nm == 1 && sz[0] == 45, "65,535 bytes: one frame (%u)", nm);

	run(0, 100, &v4, 500, 500, 0xfffff000u);	/* seq wraps */
	nm = round_trip("100 small segments", 100, sz);
	CHECK(nm == 2 && sz[0] == NS_TSO_SEGS_MAX && sz[1] == 100 - NS_TSO_SEGS_MAX,
	      "100 small segments: %u, then the rest (%u)", NS_TSO_SEGS_MAX, nm);

	run(0, 6, &v6, 1428, 20, 99);
	nm = round_trip("IPv6", 6, sz);
	CHECK(nm == 1 && sz[0] == 6, "IPv6: one message (%u)", nm);

	run(0, 5, &opt, 1436, 1436, 5);
	nm = round_trip("TCP options", 5, sz);
	CHECK(nm == 1 && sz[0] == 5, "equal TCP options merge (%u)", nm);
}

static void
test_breaks(void)
{
	struct shape v4 = { 0 }, ipo = { .ip_opts = 4 }, opt = { .opts = 4 };
	unsigned int sz[SEGS], nm;

	/* a gap in the sequence */
	run(0, 4, &v4, 1000, 1000, 1);
	wr32(segs[2].f + 34 + 4, 2002);
	wr32(segs[3].f + 34 + 4, 3002);
	nm = round_trip("gap", 4, sz);
	CHECK(nm == 2 && sz[0] == 2 && sz[1] == 2, "a gap splits the run (%u)", nm);

	/* a short segment ends a run; PSH in the middle ends one */
	run(0, 3, &v4, 1000, 1000, 1);
	run(3, 3, &v4, 1000, 1000, 3001);
	make(&segs[1], &v4, 40000, 1001, 600, 0x10, 101);
	wr32(segs[2].f + 34 + 4, 1601);
	nm = round_trip("short, then PSH", 6, sz);
	CHECK(nm == 3 && sz[0] == 2 && sz[1] == 1 && sz[2] == 3,
	      "after a short segment a new run; PSH ends one (%u: %u %u)", nm, sz[0], sz[1]);

	/* another connection, another window, another ack */
	run(0, 2, &v4, 1000, 1000, 1);
	make(&segs[2], &v4, 40001, 2001, 1000, 0x10, 102);
	make(&segs[3], &v4, 40001, 3001, 1000, 0x10, 103);
	wr16(segs[3].f + 34 + 14, 502);
	make(&segs[4], &v4, 40001, 4001, 1000, 0x10, 104);
	wr16(segs[4].f + 34 + 14, 502);
	segs[4].f[34 + 11] ^= 1;
	nm = round_trip("flows", 5, sz);
	CHECK(nm == 4 && sz[0] == 2 && sz[1] == 1 && sz[2] == 1 && sz[3] == 1,
	      "port, window and ack each split (%u)", nm);

	/* IPv4 ids that do not count up by one (another datagram between) */
	run(0, 4, &v4, 1000, 1000, 1);
	wr16(segs[2].f + 18, 200);
	wr16(segs[3].f + 18, 201);
	nm = round_trip("ids", 4, sz);
	CHECK(nm == 2 && sz[0] == 2 && sz[1] == 2, "a jump in the IPv4 id splits (%u)", nm);

	/* FIN, SYN-ACK, pure ACK: each alone */
	make(&segs[0], &v4, 40000, 1, 1000, 0x10, 1);
	make(&segs[1], &v4, 40000, 1001, 1000, 0x11, 2);
	make(&segs[2], &v4, 40000, 1, 0, 0x12, 3);
	make(&segs[3], &v4, 40000, 2, 0, 0x10, 4);
	make(&segs[4], &v4, 40000, 2, 0, 0x10, 5);
	nm = round_trip("flags", 5, sz);
	CHECK(nm == 5, "FIN, SYN and ACKs without data go alone (%u)", nm);

	/* IPv4 options: never merged; differing TCP options split */
	run(0, 3, &ipo, 1000, 1000, 1);
	nm = round_trip("IPv4 options", 3, sz);
	CHECK(nm == 3, "IPv4 options: not merged (%u)", nm);
	run(0, 3, &opt, 1000, 1000, 1);
	segs[2].f[34 + 20] = 0;	/* EOL */
	nm = round_trip("TCP options", 3, sz);
	CHECK(nm == 2 && sz[0] == 2, "other TCP options split (%u)", nm);

	/* bytes past the IP length (padding) are not data */
	run(0, 3, &v4, 1000, 1000, 1);
	segs[1].len += 6;
	memset(segs[1].f + segs[1].len - 6, 0, 6);
	{
		struct ns_tso_msg msgs[8];
		unsigned int used;

		nm = plan(3, msgs, 8, &used);
		CHECK(nm == 3 && msgs[0].n == 1 && msgs[1].n == 1 && used == 3,
		      "a padded segment neither joins nor heads a run (%u)", nm);
	}
}

static void
test_limits(void)
{
	struct shape v4 = { 0 };
	struct ns_tso_msg msgs[2];
	unsigned int used, nm;
	uint8_t udp[60] = { 0 }, arp[42] = { 0 }, bad[74];

	/* messages run out before the frames */
	for (unsigned int i = 0; i < 5; i++)
		make(&segs[i], &v4, (uint16_t)(40000 + i), 1, 100, 0x10, 1);
	nm = plan(5, msgs, 2, &used);
	CHECK(nm == 2 && used == 2, "2 messages take 2 frames (%u, %u)", nm, used);

	/* UDP: IPv4 sum filled, not TCP; ARP untouched */
	memcpy(udp + 12, "\x08\x00\x45\x00\x00\x2e", 6);
	udp[23] = 17;
	CHECK(!ns_tso_prepare(udp, sizeof(udp)), "UDP is not for the socket");
	CHECK(fold16(sum16(udp + 14, 20, 0)) == 0xffff, "UDP: IPv4 header sum filled");
	memcpy(arp + 12, "\x08\x06", 2);
	memset(arp + 14, 0xab, sizeof(arp) - 14);
	CHECK(!ns_tso_prepare(arp, sizeof(arp)) && arp[20] == 0xab, "ARP untouched");

	/* lengths that lie */
	make(&segs[0], &v4, 40000, 1, 20, 0x10, 1);
	CHECK(segs[0].len == sizeof(bad), "a frame of %u bytes", segs[0].len);
	memcpy(bad, segs[0].f, sizeof(bad));
	wr16(bad + 16, 2000);
	CHECK(!ns_tso_prepare(bad, sizeof(bad)), "IP length past the frame");
	memcpy(bad, segs[0].f, sizeof(bad));
	bad[34 + 12] = 0xf0;
	CHECK(!ns_tso_prepare(bad, sizeof(bad)), "TCP header past the data");
	memcpy(bad, segs[0].f, sizeof(bad));
	wr16(bad + 20, 0x2000);	/* MF */
	CHECK(!ns_tso_prepare(bad, sizeof(bad)), "a fragment");
	CHECK(!ns_tso_prepare(segs[0].f, 20), "a frame cut short");
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* Random and damaged frames, each in a buffer of exactly its length. */
static void
test_random(void)
{
	struct shape v4 = { 0 }, v6 = { .v6 = true };
	uint8_t *heap[16];
	uint16_t len[16];
	struct ns_tso_msg msgs[16];
	unsigned int used, rounds = 20000;

	for (unsigned int r = 0; r < rounds; r++) {
		unsigned int n = 1 + rnd() % 16;

		for (unsigned int i = 0; i < n; i++) {
			make(&segs[i], (rnd() & 1) ? &v6 : &v4, 40000,
			     1 + i * 500, (uint16_t)(rnd() % 600), 0x10,
			     (uint16_t)(1 + i));
			len[i] = (uint16_t)(rnd() % 4 ? segs[i].len : rnd() % (segs[i].len + 1));
			heap[i] = malloc(len[i] ? len[i] : 1);
			memcpy(heap[i], segs[i].f, len[i]);
			for (unsigned int k = rnd() % 4; k > 0 && len[i]; k--)
				heap[i][rnd() % len[i]] ^= (uint8_t)(1u << (rnd() % 8));
			(void)ns_tso_prepare(heap[i], len[i]);
		}
		used = 0;
		(void)ns_tso_plan(heap, len, n, NS_TSO_SEGS_MAX, msgs, 16, &used);
		CHECK(used == n, "random round %u: every frame planned", r);
		for (unsigned int i = 0; i < n; i++)
			free(heap[i]);
	}
}

/* ns_csum.h against the word-at-a-time sum: every length and alignment,
 * data that carries a lot (0xff runs) and random data. */
static void
test_sum(void)
{
	static uint8_t buf[4096 + 8];
	unsigned int bad = 0;

	for (unsigned int r = 0; r < 20000; r++) {
		size_t off = rnd() % 8, n = r < 3000 ? r % 1600 : rnd() % 4096;
		uint64_t acc0 = r & 1 ? 0 : rnd();
		uint16_t mine, ref, fold0;

		for (size_t i = 0; i < n; i++)
			buf[off + i] = (r & 2) ? 0xff : (uint8_t)rnd();
		mine = ns_csum_fold(ns_csum_add(buf + off, n, acc0));
		memcpy(&fold0, &mine, 2);
		/* the same start value, in network order */
		{
			uint16_t a0 = ns_csum_fold(acc0);
			uint8_t b[2];

			memcpy(b, &a0, 2);
			ref = fold16(sum16(buf + off, n, (uint32_t)(b[0] << 8 | b[1])));
		}
		{
			uint8_t b[2];

			memcpy(b, &fold0, 2);
			if ((uint16_t)(b[0] << 8 | b[1]) != ref)
				bad++;
		}
	}
	CHECK(bad == 0, "ns_csum: %u of 20000 sums differ from the reference", bad);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/zpnet-tso-XXXXXX";
	int rc = unit_start(argc, argv, dir);

	if (rc != 0)
		return rc;
	test_sum();
	test_runs();
	test_breaks();
	test_limits();
	test_random();
	return unit_finish(dir);
}
