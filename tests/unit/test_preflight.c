/*
 * Unit tests of the preflight checks (netstack/ns_preflight.c), which
 * `zpnet check`/`zpnet run` and libzpnet.so share: every example config
 * passes on a machine that has what it needs, and each missing piece
 * (interface, capabilities, hugepages, memory, vm.mmap_min_addr) fails
 * with the errno and a message that names the fix; net_tap, which creates
 * its interface, is not asked for one.
 *
 * usage: test_preflight SRC_ROOT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ns_config.h"
#include "unit_check.h"
#include "ns_preflight.h"

static char tmpdir[] = "/tmp/zp-preflight-XXXXXX";

#define CAP_NET_ADMIN	12	/* linux/capability.h */
#define CAP_NET_RAW	13
#define CAPS ((1ull << CAP_NET_ADMIN) | (1ull << CAP_NET_RAW))

static const char *missing_iface;	/* the one interface that is not there */

static bool
fake_iface(const char *name)
{
	return missing_iface == NULL || strcmp(name, missing_iface) != 0;
}

/* A machine with all a config could want. */
static struct ns_preflight_env
good_env(void)
{
	struct ns_preflight_env env = {
		.mmap_min_addr = 0,
		.iface_exists = fake_iface,
		.free_hugepages = 4096,
		.mem_available = 16 * 1024 * NS_MB,
		.cap_eff = CAPS,
		.euid = 0,
	};

	missing_iface = NULL;
	return env;
}

struct verdicts {
	unsigned int ok, bad;
	char last_error[512];
};

static void
collect(void *arg, bool ok, const char *msg)
{
	struct verdicts *v = arg;

	if (ok) {
		v->ok++;
	} else {
		v->bad++;
		snprintf(v->last_error, sizeof(v->last_error), "%s", msg);
	}
}

static int
load(const char *path, struct ns_config *cfg)
{
	char err[NS_ERR_MAX];
	int rc = ns_config_load(path, cfg, err, sizeof(err));

	CHECK(rc == 0, "%s: %s", path, err);
	return rc;
}

static int
load_text(const char *text, struct ns_config *cfg)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.ini", tmpdir);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return load(path, cfg);
}

static int
run(const struct ns_config *cfg, const char *mode,
    const struct ns_preflight_env *env, struct verdicts *v)
{
	memset(v, 0, sizeof(*v));
	return ns_preflight(cfg, mode, env, collect, v);
}

static void
test_examples(const char *src_root)
{
	static const char *const files[] = {
		"veth.ini", "af-xdp.ini", "memif.ini", "nic.ini", "two-ports.ini",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct ns_preflight_env env = good_env();
		struct ns_config *cfg = calloc(1, sizeof(*cfg));
		struct verdicts v;
		char path[1024];

		snprintf(path, sizeof(path), "%s/configs/%s", src_root, files[i]);
		if (cfg == NULL || load(path, cfg) < 0) {
			free(cfg);
			continue;
		}
		CHECK(run(cfg, "zpoline", &env, &v) == 0 && v.bad == 0 && v.ok >= 2,
		      "%s: %u errors, last: %s", files[i], v.bad, v.last_error);
		free(cfg);
	}
}

#define VETH "[eal]\nmemory_mb = 256\n[port.0]\npmd = net_af_packet\niface = vz0\naddr = 198.18.0.2/24\n"

static void
test_errors(void)
{
	struct ns_config *cfg = calloc(1, sizeof(*cfg));
	struct ns_preflight_env env;
	struct verdicts v;

	if (cfg == NULL)
		exit(1);
	/* the interface: missing for af_packet, never asked of net_tap */
	if (load_text(VETH, cfg) == 0) {
		env = good_env();
		missing_iface = "vz0";
		CHECK(run(cfg, "preload", &env, &v) == -ENODEV && v.bad == 1, "%u", v.bad);
		CHECK(strstr(v.last_error, ":3: [port.0] iface = vz0: no such interface") != NULL &&
		      strstr(v.last_error, "ip netns exec") != NULL, "%s", v.last_error);
	}
	if (load_text("[port.0]\npmd = net_tap\niface = zptap9\naddr = 198.18.0.2/24\n", cfg) == 0) {
		env = good_env();
		missing_iface = "zptap9";
		CHECK(run(cfg, "preload", &env, &v) == 0 && v.bad == 0, "net_tap: %s", v.last_error);
		env.cap_eff = 0;	/* but it is a kernel interface */
		CHECK(run(cfg, "preload", &env, &v) == -EPERM, "net_tap without caps");
	}
	/* capabilities: needed for a kernel interface, not for memif */
	if (load_text(VETH, cfg) == 0) {
		env = good_env();
		env.cap_eff = 1ull << CAP_NET_RAW;	/* only */
		env.euid = 1000;
		CHECK(run(cfg, "preload", &env, &v) == -EPERM, "caps");
		CHECK(strstr(v.last_error, "CAP_NET_RAW and CAP_NET_ADMIN, which this process (uid 1000) lacks") != NULL &&
		      strstr(v.last_error, "--ambient-caps=+net_raw,+net_admin") != NULL, "%s", v.last_error);
	}
	if (load_text("[port.0]\npmd = net_memif\ndevargs = role=server\naddr = 198.18.0.2/24\n", cfg) == 0) {
		env = good_env();
		env.cap_eff = 0;
		CHECK(run(cfg, "preload", &env, &v) == 0, "memif needs no caps: %s", v.last_error);
	}
	/* hugepages: too few free for memory_mb */
	if (load_text("[eal]\nhugepages = yes\nmemory_mb = 512\n[port.0]\npmd = net_af_packet\niface = vz0\naddr = 198.18.0.2/24\n", cfg) == 0) {
		env = good_env();
		env.free_hugepages = 100;	/* 200 MiB */
		CHECK(run(cfg, "preload", &env, &v) == -ENOMEM, "hugepages");
		CHECK(strstr(v.last_error, "hugepages = yes but only 200 MiB") != NULL &&
		      strstr(v.last_error, "sysctl -w vm.nr_hugepages=272") != NULL, "%s", v.last_error);
		env.free_hugepages = 256;
		CHECK(run(cfg, "preload", &env, &v) == 0, "512 MiB of hugepages: %s", v.last_error);
	}
	/* memory: the pools need more than memory_mb; less is available */
	if (load_text("[eal]\nmemory_mb = 64\n[port.0]\npmd = net_af_packet\niface = vz0\naddr = 198.18.0.2/24\nmbufs = 65535\n", cfg) == 0) {
		env = good_env();
		CHECK(run(cfg, "preload", &env, &v) == -ENOMEM, "pools");
		CHECK(strstr(v.last_error, "mbuf pools need about") != NULL &&
		      strstr(v.last_error, "raise memory_mb to") != NULL, "%s", v.last_error);
	}
	if (load_text(VETH, cfg) == 0) {
		env = good_env();
		env.mem_available = 100 * NS_MB;
		CHECK(run(cfg, "preload", &env, &v) == -ENOMEM, "MemAvailable");
		CHECK(strstr(v.last_error, "memory_mb = 256 but only 100 MiB") != NULL, "%s", v.last_error);
	}
	/* vm.mmap_min_addr: zpoline only; the library (mode NULL) leaves it
	 * to the hooks */
	if (load_text(VETH, cfg) == 0) {
		env = good_env();
		env.mmap_min_addr = 65536;
		CHECK(run(cfg, "zpoline", &env, &v) == -EPERM, "mmap_min_addr");
		CHECK(strstr(v.last_error, "vm.mmap_min_addr is 65536") != NULL &&
		      strstr(v.last_error, "sysctl -w vm.mmap_min_addr=0") != NULL, "%s", v.last_error);
		CHECK(run(cfg, "preload", &env, &v) == 0, "preload: %s", v.last_error);
		CHECK(run(cfg, NULL, &env, &v) == 0, "library: %s", v.last_error);
		env.mmap_min_addr = -1;
		CHECK(run(cfg, "zpoline", &env, &v) == -EACCES, "unreadable");
	}
	/* two failures: both said, the first one's errno returned */
	if (load_text(VETH, cfg) == 0) {
		env = good_env();
		missing_iface = "vz0";
		env.cap_eff = 0;
		CHECK(run(cfg, "preload", &env, &v) == -ENODEV && v.bad == 2, "%u", v.bad);
	}
	free(cfg);
}

/* Kernel CPU lists (/sys/devices/system/cpu/possible and friends). */
static void
test_cpu_list(void)
{
	CHECK(ns_cpu_list_count("0-1\n") == 2, "0-1: 2");
	CHECK(ns_cpu_list_count("0") == 1, "0: 1");
	CHECK(ns_cpu_list_count("0,2-5\n") == 6, "0,2-5: 6");
	CHECK(ns_cpu_list_count("0-1023") == 1024, "0-1023: 1024");
	CHECK(ns_cpu_list_count("") == 0, "empty: unknown");
	CHECK(ns_cpu_list_count("none\n") == 0, "no number: unknown");
	CHECK(ns_cpu_list_count("0-99999999") == 0, "absurd: unknown");
	/* it read 0 when "0-1" parsed as 0 and -1 */
	CHECK(ns_cpus_possible() >= (unsigned int)sysconf(_SC_NPROCESSORS_ONLN),
	      "this machine: at least its online CPUs are possible (%u)",
	      ns_cpus_possible());
}

/* The advice that fails nothing: RCU grace periods, only for a port on
 * a kernel interface and only when they are known not to be expedited. */
static void
test_notes(void)
{
	struct ns_config *cfg = calloc(1, sizeof(*cfg));
	struct ns_preflight_env env = good_env();
	struct verdicts v;

	if (cfg == NULL || load_text(VETH, cfg) < 0) {
		free(cfg);
		return;
	}
	memset(&v, 0, sizeof(v));
	env.rcu_expedited = 0;
	ns_preflight_notes(cfg, &env, collect, &v);
	CHECK(v.ok == 0 && v.bad == 0,
	      "af_packet with prewarm (zpnet run makes its rings): no note (%u)", v.ok);
	cfg->ports[0].prewarm = false;
	memset(&v, 0, sizeof(v));
	ns_preflight_notes(cfg, &env, collect, &v);
	CHECK(v.ok == 1 && v.bad == 0, "af_packet, prewarm = no, RCU not expedited: one note (%u)", v.ok);
	memset(&v, 0, sizeof(v));
	env.rcu_expedited = 1;
	ns_preflight_notes(cfg, &env, collect, &v);
	CHECK(v.ok == 0 && v.bad == 0, "RCU expedited: no note");
	memset(&v, 0, sizeof(v));
	env.rcu_expedited = -1;
	ns_preflight_notes(cfg, &env, collect, &v);
	CHECK(v.ok == 0, "RCU state unknown: no note");
	memset(cfg, 0, sizeof(*cfg));
	if (load_text("[eal]\nmemory_mb = 256\n[port.0]\npmd = net_memif\n"
		      "addr = 198.18.0.2/24\n", cfg) == 0) {
		memset(&v, 0, sizeof(v));
		env.rcu_expedited = 0;
		ns_preflight_notes(cfg, &env, collect, &v);
		CHECK(v.ok == 0, "memif (no kernel interface): no note");
	}
	free(cfg);
}

/* This machine, read for real: whatever it has, the fields are sane. */
static void
test_env_read(void)
{
	struct ns_preflight_env env;

	ns_preflight_env_read(&env);
	CHECK(env.iface_exists != NULL && env.iface_exists("lo"), "lo");
	CHECK(!env.iface_exists("zp-no-such-if"), "no such interface");
	CHECK(env.mmap_min_addr >= 0, "mmap_min_addr readable");
	CHECK(env.mem_available > 0, "MemAvailable");
	CHECK(env.euid == (long)geteuid(), "euid");
	CHECK(access("/sys/kernel/rcu_expedited", R_OK) != 0 ? env.rcu_expedited == -1 :
	      env.rcu_expedited == 0 || env.rcu_expedited == 1,
	      "rcu_expedited as the kernel says (%d)", env.rcu_expedited);
}

int
main(int argc, char **argv)
{
	int rc = unit_start(argc, argv, tmpdir);

	if (rc != 0)
		return rc;
	test_examples(argv[1]);
	test_errors();
	test_notes();
	test_env_read();
	test_cpu_list();
	return unit_finish(tmpdir);
}
