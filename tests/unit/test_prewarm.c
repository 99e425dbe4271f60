/*
 * netstack/ns_prewarm.c's reading of a port: the rings net_af_packet will
 * ask for (its defaults, a page per block, 2,048-byte frames, 512 of
 * them), changed by devargs as the driver reads them, and no prewarm where
 * the driver would refuse the arguments, where driver versions read them
 * differently (a key twice, another key), for other drivers, or with
 * prewarm = no. The sockets themselves need CAP_NET_RAW: apps/prewarm.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ns_prewarm.h"
#include "unit_check.h"

static struct ns_port_config
port(const char *pmd, const char *devargs)
{
	struct ns_port_config pc;

	memset(&pc, 0, sizeof(pc));
	snprintf(pc.pmd, sizeof(pc.pmd), "%s", pmd);
	snprintf(pc.iface, sizeof(pc.iface), "vz0");
	snprintf(pc.devargs, sizeof(pc.devargs), "%s", devargs);
	pc.prewarm = true;
	return pc;
}

/* devargs -> queues and ring (block size, blocks, frame size, frames,
 * qdisc_bypass); queues 0: none made */
static void
expect(const char *pmd, const char *devargs, unsigned int queues,
       unsigned int bsz, unsigned int bnr, unsigned int fsz, unsigned int fnr,
       int bypass)
{
	struct ns_port_config pc = port(pmd, devargs);
	struct ns_prewarm_ring r;
	unsigned int q;

	memset(&r, 0xa5, sizeof(r));
	q = ns_prewarm_ring_of(&pc, &r);
	CHECK(q == queues, "%s '%s': %u queues, not %u", pmd, devargs, q, queues);
	if (q == 0 || queues == 0)
		return;
	CHECK(r.req.tp_block_size == bsz && r.req.tp_block_nr == bnr &&
	      r.req.tp_frame_size == fsz && r.req.tp_frame_nr == fnr,
	      "'%s': ring %u x %u blocks, %u x %u frames; want %u x %u, %u x %u",
	      devargs, r.req.tp_block_size, r.req.tp_block_nr,
	      r.req.tp_frame_size, r.req.tp_frame_nr, bsz, bnr, fsz, fnr);
	CHECK(r.version == TPACKET_V2 && r.loss == 1 && r.qdisc_bypass == bypass,
	      "'%s': version %d loss %d bypass %d", devargs, r.version, r.loss,
	      r.qdisc_bypass);
	CHECK(strcmp(r.iface, "vz0") == 0, "'%s': iface '%s'", devargs, r.iface);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/zpnet-prewarm-XXXXXX";
	int rc = unit_start(argc, argv, dir);
	unsigned int pg = (unsigned int)getpagesize();
	struct ns_port_config pc;
	struct ns_prewarm_ring r;

	if (rc != 0)
		return rc;
	expect("net_af_packet", "", 1, pg, 512 / (pg / 2048), 2048, 512, 1);
	expect("eth_af_packet", "", 1, pg, 512 / (pg / 2048), 2048, 512, 1);
	expect("net_af_packet", "framecnt=1024", 1, pg, 1024 / (pg / 2048), 2048, 1024, 1);
	expect("net_af_packet", "qpairs=2,framesz=4096,blocksz=8192", 2,
	       8192, 256, 4096, 512, 1);
	expect("net_af_packet", "qdisc_bypass=0", 1, pg, 512 / (pg / 2048), 2048, 512, 0);
	/* a key twice, a key of another name (one that contains a ring
	 * argument's name too), no value: not read at all, since driver
	 * versions differ on them */
	expect("net_af_packet", "framecnt=1024,framecnt=1024", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "xframesz=1024", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "iface=vz1", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "framecnt", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "framecnt=1024,", 1, pg, 1024 / (pg / 2048), 2048, 1024, 1);
	/* what the driver refuses */
	expect("net_af_packet", "framesz=8192", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "qpairs=0", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "qpairs=17", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "qdisc_bypass=2", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "framecnt=1", 0, 0, 0, 0, 0, 0);
	expect("net_af_packet", "blocksz=0", 0, 0, 0, 0, 0, 0);
	/* other drivers, prewarm = no, no interface */
	expect("net_af_xdp", "", 0, 0, 0, 0, 0, 0);
	expect("net_tap", "", 0, 0, 0, 0, 0, 0);
	pc = port("net_af_packet", "");
	pc.prewarm = false;
	CHECK(ns_prewarm_ring_of(&pc, &r) == 0, "prewarm = no made a ring");
	pc = port("net_af_packet", "");
	pc.iface[0] = '\0';
	CHECK(ns_prewarm_ring_of(&pc, &r) == 0, "no iface made a ring");
	return unit_finish(dir);
}
