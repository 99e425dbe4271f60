/*
 * Unit tests of the config parser (netstack/ns_config.c): defaults, every
 * value type, every error with its file:line, the example configs, and that
 * configs/README.md documents every key with its default.
 *
 * usage: test_config SRC_ROOT
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cfgdoc.h"
#include "ns_config.h"
#include "unit_check.h"

static char tmpdir[] = "/tmp/zp-unit-XXXXXX";
static const char *src_root;

static const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text; return the parser's result, error text in err. */
static int
load(const char *text, struct ns_config *cfg, char *err)
{
	err[0] = '\0';
	return ns_config_load(write_file("t.ini", text), cfg, err, NS_ERR_MAX);
}

#define PORT0 "[port.0]\npmd = net_af_packet\niface = veth0\naddr = 198.18.0.2/24\n"

static void
expect_error(const char *text, int line, const char *what)
{
	static struct ns_config cfg;
	char err[NS_ERR_MAX], want[64];
	int rc = load(text, &cfg, err);

	CHECK(rc < 0, "accepted: %s", text);
	if (line > 0) {
		snprintf(want, sizeof(want), "t.ini:%d: ", line);
		CHECK(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
	}
	CHECK(strstr(err, what) != NULL, "error '%s' lacks '%s'", err, what);
}

static void
test_defaults(void)
{
	static struct ns_config cfg;
	char err[NS_ERR_MAX];
	const struct ns_port_config *p;
	uint32_t a;

	CHECK(load(PORT0, &cfg, err) == 0, "%s", err);
	CHECK(cfg.n_ports == 1, "%u ports", cfg.n_ports);
	p = &cfg.ports[0];
	CHECK(strcmp(p->pmd, "net_af_packet") == 0, "pmd %s", p->pmd);
	CHECK(strcmp(p->iface, "veth0") == 0, "iface %s", p->iface);
	inet_pton(AF_INET, "198.18.0.2", &a);
	CHECK(p->addr.set && p->addr.addr == a && p->addr.prefix == 24, "addr");
	CHECK(!p->gateway.set && !p->addr6.set && !p->mac.set, "unset keys set");
	CHECK(p->mtu == 1500 && p->rx_desc == 1024 && p->tx_desc == 1024, "rings");
	CHECK(p->burst == 32 && p->mbufs == 8191 && p->offload, "burst/mbufs");
	CHECK(cfg.eal.memory_mb == 256 && !cfg.eal.hugepages, "eal memory");
	CHECK(strcmp(cfg.eal.cores, "auto") == 0, "cores %s", cfg.eal.cores);
	CHECK(cfg.eal.log_level == NS_LOG_WARNING, "eal log level");
	CHECK(cfg.stack.tcp_wnd == 1024 * 1024, "tcp_wnd %lu", (unsigned long)cfg.stack.tcp_wnd);
	CHECK(cfg.stack.tcp_sndbuf == 1024 * 1024, "tcp_sndbuf");
	CHECK(cfg.stack.max_sockets == 262144, "max_sockets");
	CHECK(cfg.stack.log_level == NS_LOG_NOTICE, "log level");
}

static void
test_values(void)
{
	static struct ns_config cfg;
	char err[NS_ERR_MAX];
	uint8_t a6[16];
	const struct ns_port_config *p;

	CHECK(load("# comment line\n"
		   "[eal]\ncores = 1\nmemory_mb = 512   # trailing comment\n"
		   "hugepages = yes\nargs = --log-level=pmd.net.af_packet:debug\n"
		   "log_level = debug\n"
		   "[stack]\ntcp_wnd = 256k\ntcp_sndbuf = 2m\nmax_sockets = 100\n"
		   "log_level = INFO\n"
		   "[port.3]\npmd = pci\npci = 0000:3b:00.0\n"
		   "mac = 02:00:00:00:00:0a\naddr6 = 2001:2::2/64\n"
		   "gateway6 = 2001:2::1\nmtu = 9000\noffload = off\n"
		   "is_default = true\nmbufs = 64k\n"
		   "[port.1]\npmd = net_memif\ndevargs = role=server,id=0\n"
		   "addr = 198.18.1.2/24\ngateway = 198.18.1.1\n",
		   &cfg, err) == 0, "%s", err);
	CHECK(strcmp(cfg.eal.cores, "1") == 0 && cfg.eal.memory_mb == 512, "eal");
	CHECK(cfg.eal.hugepages && cfg.eal.log_level == NS_LOG_DEBUG, "eal flags");
	CHECK(strcmp(cfg.eal.args, "--log-level=pmd.net.af_packet:debug") == 0,
	      "args '%s'", cfg.eal.args);
	CHECK(cfg.stack.tcp_wnd == 256 * 1024 && cfg.stack.tcp_sndbuf == 2 * 1024 * 1024,
	      "sizes");
	CHECK(cfg.stack.max_sockets == 100 && cfg.stack.log_level == NS_LOG_INFO,
	      "stack");
	CHECK(cfg.n_ports == 2, "%u ports", cfg.n_ports);
	p = &cfg.ports[0];
	CHECK(p->id == 3 && strcmp(p->pci, "0000:3b:00.0") == 0, "pci port");
	CHECK(p->mac.set && p->mac.b[0] == 2 && p->mac.b[5] == 0x0a, "mac");
	inet_pton(AF_INET6, "2001:2::2", a6);
	CHECK(p->addr6.set && memcmp(p->addr6.addr, a6, 16) == 0 && p->addr6.prefix == 64,
	      "addr6");
	CHECK(p->gateway6.set && p->mtu == 9000 && !p->offload && p->is_default,
	      "port flags");
	CHECK(p->mbufs == 65536, "mbufs %lu", (unsigned long)p->mbufs);
	p = &cfg.ports[1];
	CHECK(p->id == 1 && strcmp(p->devargs, "role=server,id=0") == 0, "memif");
	CHECK(p->gateway.set && p->gateway.prefix == 32, "gateway");
}

static void
test_errors(void)
{
	char err[NS_ERR_MAX];
	static struct ns_config cfg;
	int rc;

	rc = ns_config_load("/nonexistent/zpnet.ini", &cfg, err, sizeof(err));
	CHECK(rc == -ENOENT, "missing file rc %d", rc);
	CHECK(strstr(err, "/nonexistent/zpnet.ini: cannot open the config file") != NULL,
	      "%s", err);

	expect_error(PORT0 "bogus = 1\n", 5, "unknown key 'bogus' in [port.0]");
	expect_error("[stack]\n\ntcp_window = 1m\n" PORT0, 3,
		     "unknown key 'tcp_window' in [stack]");
	expect_error(PORT0 "[nosuch]\nx = 1\n", 5, "unknown section [nosuch]");
	expect_error(PORT0 "mtu = 100\n", 5, "bad value '100' for mtu");
	expect_error(PORT0 "mtu = 15OO\n", 5, "bad value '15OO' for mtu");
	expect_error(PORT0 "mtu = 99999999999999999999999\n", 5, "bad value");
	expect_error(PORT0 "offload = maybe\n", 5, "expected yes or no");
	expect_error(PORT0 "mac = 01:00:5e:00:00:01\n", 5, "bad value '01:00:5e:00:00:01' for mac");
	expect_error(PORT0 "mac = 02:00:00:00:00\n", 5, "for mac");
	expect_error(PORT0 "gateway = 198.18.0.300\n", 5, "for gateway");
	expect_error(PORT0 "addr6 = 2001:2::2\n", 5, "for addr6");
	expect_error(PORT0 "addr6 = 2001:2::2/129\n", 5, "for addr6");
	expect_error("[port.0]\npmd = net_af_packet\niface = v\naddr = 198.18.0.2\n", 4,
		     "bad value '198.18.0.2' for addr");
	expect_error(PORT0 "iface = again\n", 5, "key 'iface' set twice in [port.0] (first at line 3)");
	expect_error(PORT0 "[port.0]\n", 5, "section [port.0] appears twice");
	expect_error("pmd = x\n" PORT0, 1, "key 'pmd' before any [section]");
	expect_error(PORT0 "just words\n", 5, "is not 'key = value'");
	expect_error(PORT0 "[broken\n", 5, "bad section header");
	expect_error(PORT0 "[port.x]\n", 5, "bad port section [port.x]");
	expect_error(PORT0 "[port.256]\n", 5, "bad port section");
	expect_error("[eal]\nmemory_mb = 256\n", 0, "no [port.N] section");
	expect_error("[port.0]\niface = v\naddr = 198.18.0.2/24\n", 1, "[port.0] has no pmd");
	expect_error("[port.0]\npmd = net_af_packet\naddr = 198.18.0.2/24\n", 1,
		     "names no interface");
	expect_error("[port.0]\npmd = net_af_xdp\naddr = 198.18.0.2/24\n", 1,
		     "names no interface");
	expect_error("[port.0]\npmd = pci\naddr = 198.18.0.2/24\n", 1, "no pci address");
	expect_error("[port.0]\npmd = net_tap\n", 1, "[port.0] has no address");
	expect_error("[port.0]\npmd = net_tap\naddr6 = 2001:2::2/64\ngateway = 198.18.0.1\n",
		     1, "gateway but no IPv4 addr");
	expect_error("[port.0]\npmd = net_tap\naddr = 198.18.0.2/24\ngateway6 = 2001:2::1\n",
		     1, "gateway6 but no addr6");
	expect_error(PORT0 "[stack]\ntcp_wnd = 9m\n", 6, "for tcp_wnd");
	expect_error(PORT0 "[stack]\nlog_level = loud\n", 6, "one of error, warning");
	expect_error(PORT0 "[eal]\nargs =   \n", 6, "'args' has no value");
	expect_error(PORT0 "devargs = " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		     5, "value of 'devargs' longer than 255 characters");
	{
		char many[NS_ERR_MAX * 4] = "";

		for (int i = 0; i < 9; i++) {
			char sec[96];

			snprintf(sec, sizeof(sec),
				 "[port.%d]\npmd = net_tap\naddr = 198.18.%d.2/24\n", i, i);
			strcat(many, sec);
		}
		expect_error(many, 25, "more than 8 ports");
	}
}

/* An upper layer's section, registered before loading. */
struct extra_config {
	uint64_t spin_us;
	bool flag;
};

static const struct ns_cfg_key extra_keys[] = {
	{ .name = "spin_us", .type = NS_CFG_UINT,
	  .offset = offsetof(struct extra_config, spin_us),
	  .size = sizeof(uint64_t), .def = "50", .min = 0, .max = 1000,
	  .doc = "test" },
	{ .name = "flag", .type = NS_CFG_BOOL,
	  .offset = offsetof(struct extra_config, flag),
	  .size = sizeof(bool), .def = "no", .doc = "test" },
};

static const struct ns_cfg_section extra_sec = {
	.name = "extra", .keys = extra_keys, .n_keys = 2,
};

static void
test_registered_section(void)
{
	static struct ns_config cfg;
	static struct extra_config ex;
	char err[NS_ERR_MAX];

	CHECK(ns_config_register_section(&extra_sec, &ex) == 0, "register");
	CHECK(load(PORT0, &cfg, err) == 0, "%s", err);
	CHECK(ex.spin_us == 50 && !ex.flag, "extra defaults");
	CHECK(load(PORT0 "[extra]\nspin_us = 7\nflag = yes\n", &cfg, err) == 0, "%s", err);
	CHECK(ex.spin_us == 7 && ex.flag, "extra values");
	expect_error(PORT0 "[extra]\nspin = 7\n", 6, "unknown key 'spin' in [extra]");
	expect_error(PORT0 "[extra]\nspin_us = 7000\n", 6, "from 0 to 1000");
}

static void
test_examples(void)
{
	static const char *const files[] = {
		"veth.ini", "two-ports.ini", "af-xdp.ini", "memif.ini", "nic.ini",
	};
	static struct ns_config cfg;
	char path[1024], err[NS_ERR_MAX];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/configs/%s", src_root, files[i]);
		CHECK(ns_config_load(path, &cfg, err, sizeof(err)) == 0,
		      "%s: %s", files[i], err);
	}
}

/* configs/README.md has a row "| `key` | DEFAULT ..." for every key. */
static void
test_docs(void)
{
	static const struct ns_cfg_section *const secs[] = {
		&ns_cfg_eal, &ns_cfg_port, &ns_cfg_stack,
	};

	for (size_t s = 0; s < sizeof(secs) / sizeof(secs[0]); s++) {
		int missing = cfgdoc_missing(src_root, secs[s]);

		CHECK(missing == 0, "configs/README.md: %d keys of [%s] undocumented",
		      missing, secs[s]->name);
	}
}

int
main(int argc, char **argv)
{
	int rc = unit_start(argc, argv, tmpdir);

	if (rc != 0)
		return rc;
	src_root = argv[1];
	test_defaults();
	test_values();
	test_errors();
	test_examples();
	test_docs();
	test_registered_section();	/* last: it registers a section for good */
	return unit_finish(tmpdir);
}
