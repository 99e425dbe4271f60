/*
 * zpnet-stackdemo: the netstack alone (no hooks, no socket layer). Brings up
 * lwIP on the ports of a config file and serves TCP echo, UDP echo and ping
 * on every configured address, IPv4 and IPv6, until SIGINT/SIGTERM or -t.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

#include "ns.h"
#include "ns_config.h"

#define DEMO_ECHO_PORT		7
#define DEMO_IDLE_POLLS		20000	/* empty polls before napping */
#define DEMO_NAP_NS		50000	/* nap length when idle */

struct echo_conn {
	struct tcp_pcb *pcb;
	struct pbuf *pending;	/* received, not yet queued for sending */
	bool peer_closed;
};

static volatile sig_atomic_t stop;
static volatile sig_atomic_t dump;
static unsigned long n_conns, n_closed, n_udp;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
on_usr1(int sig)
{
	(void)sig;
	dump = 1;
}

static void
print_stats(void)
{
	fprintf(stderr, "tcp.accepted %lu\ntcp.closed %lu\nudp.echoed %lu\n",
		n_conns, n_closed, n_udp);
	ns_print_stats(stderr);
}

static void
conn_free(struct echo_conn *c)
{
	if (c->pending != NULL)
		pbuf_free(c->pending);
	free(c);
	n_closed++;
}

static void
conn_close(struct echo_conn *c)
{
	struct tcp_pcb *pcb = c->pcb;

	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
	conn_free(c);
}

/* Queue as much pending data as the send buffer takes; open the receive
 * window only by what was queued, so a slow peer slows its sender. */
static void
echo_send(struct echo_conn *c)
{
	u32_t queued = 0;

	while (c->pending != NULL) {
		struct pbuf *p = c->pending;
		u16_t n = p->len;

		if (n > tcp_sndbuf(c->pcb))
			n = tcp_sndbuf(c->pcb);
		if (n == 0)
			break;
		if (tcp_write(c->pcb, p->payload, n, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		queued += n;
		c->pending = pbuf_free_header(p, n);
	}
	if (queued) {
		/* tcp_recved() takes a u16_t: open the window in pieces. */
		while (queued > 0) {
			u16_t part = queued > 0xffff ? 0xffff : (u16_t)queued;

			tcp_recved(c->pcb, part);
			queued -= part;
		}
		tcp_output(c->pcb);
	}
	if (c->pending == NULL && c->peer_closed)
		conn_close(c);
}

static err_t
echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct echo_conn *c = arg;

	if (p == NULL) {
		c->peer_closed = true;
		echo_send(c);
		return ERR_OK;
	}
	if (c->pending == NULL)
		c->pending = p;
	else
		pbuf_cat(c->pending, p);
	echo_send(c);
	return ERR_OK;
}

static err_t
echo_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	echo_send(arg);
	return ERR_OK;
}

static void
echo_err(void *arg, err_t err)
{
	if (arg != NULL)
		conn_free(arg);	/* lwIP has freed the pcb */
}

static err_t
echo_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct echo_conn *c;

	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ERR_MEM;
	c->pcb = pcb;
	n_conns++;
	tcp_arg(pcb, c);
	tcp_recv(pcb, echo_recv);
	tcp_sent(pcb, echo_sent);
	tcp_err(pcb, echo_err);
	tcp_nagle_disable(pcb);
	return ERR_OK;
}

static void
udp_echo(void *arg, struct udp_pcb *pcb, struct pbuf *p,
	 const ip_addr_t *addr, u16_t port)
{
	udp_sendto(pcb, p, addr, port);
	pbuf_free(p);
	n_udp++;
}

static int
serve(u16_t port)
{
	struct tcp_pcb *l = tcp_new_ip_type(IPADDR_TYPE_ANY);
	struct udp_pcb *u = udp_new_ip_type(IPADDR_TYPE_ANY);

	if (l == NULL || u == NULL)
		return -ENOMEM;
	if (tcp_bind(l, IP_ANY_TYPE, port) != ERR_OK ||
	    udp_bind(u, IP_ANY_TYPE, port) != ERR_OK)
		return -EADDRINUSE;
	l = tcp_listen_with_backlog(l, TCP_DEFAULT_LISTEN_BACKLOG);
	if (l == NULL)
		return -ENOMEM;
	tcp_accept(l, echo_accept);
	udp_recv(u, udp_echo, NULL);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: zpnet-stackdemo -c CONFIG [-p PORT] [-t SECONDS] [-s]\n"
		"\n"
		"Brings up lwIP on the DPDK ports of CONFIG (see configs/README.md) and\n"
		"serves TCP echo and UDP echo on PORT (default %d) and ping, over IPv4\n"
		"and IPv6, until SIGINT/SIGTERM or SECONDS have passed.\n"
		"\n"
		"  -c CONFIG   config file (required)\n"
		"  -p PORT     echo port (default %d)\n"
		"  -t SECONDS  stop after this long (default: run until signalled)\n"
		"  -s          print counters to stderr at exit (and on SIGUSR1)\n"
		"  -h          this help\n"
		"\n"
		"Prints 'ready' on stdout once the ports are up.\n",
		DEMO_ECHO_PORT, DEMO_ECHO_PORT);
}

int
main(int argc, char **argv)
{
	static struct ns_config cfg;
	char err[NS_ERR_MAX];
	const char *path = NULL;
	long port = DEMO_ECHO_PORT, seconds = 0;
	bool stats = false;
	unsigned long idle = 0;
	uint64_t deadline = 0;
	int opt, rc;

	while ((opt = getopt(argc, argv, "c:p:t:sh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'p':
			port = strtol(optarg, NULL, 10);
			break;
		case 't':
			seconds = strtol(optarg, NULL, 10);
			break;
		case 's':
			stats = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || port <= 0 || port > 65535 || seconds < 0) {
		usage(stderr);
		return 2;
	}
	rc = ns_config_load(path, &cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "zpnet-stackdemo: %s\n", err);
		return 1;
	}
	rc = ns_start(&cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "zpnet-stackdemo: %s\n", err);
		return 1;
	}
	rc = serve((u16_t)port);
	if (rc < 0) {
		fprintf(stderr, "zpnet-stackdemo: cannot serve port %ld: %s\n",
			port, strerror(-rc));
		ns_stop();
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_usr1);
	if (seconds)
		deadline = ns_now_ns() + (uint64_t)seconds * 1000000000u;
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		if (dump) {
			dump = 0;
			print_stats();
		}
		if (ns_poll() != 0) {
			idle = 0;
			continue;
		}
		if (++idle > DEMO_IDLE_POLLS) {
			struct timespec nap = { 0, DEMO_NAP_NS };

			nanosleep(&nap, NULL);
			if (deadline && ns_now_ns() > deadline)
				break;
		}
	}
	if (stats)
		print_stats();
	ns_stop();
	return 0;
}
