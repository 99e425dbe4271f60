/*
 * zpnet: run an unmodified program on zpnet's user-space TCP/IP stack.
 *
 *   zpnet run [-c CONFIG] [--hooks-only] [--allow-static] -- PROGRAM ARGS...
 *   zpnet check -c CONFIG [-- PROGRAM]
 *   zpnet stats [OPTIONS] [PID...]
 *   zpnet --help
 *
 * `run` checks the environment the config asks for, then sets LD_PRELOAD
 * (libzpnet.so) and ZPNET_CONFIG and execs PROGRAM. `check` prints the
 * same diagnosis and runs nothing. Every problem is reported with its fix.
 * `stats` reads running stacks (zpnet_stats.c).
 */
#include <elf.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bond.h"
#include "bond_config.h"
#include "ns_config.h"
#include "ns_preflight.h"
#include "ns_prewarm.h"
#include "zpnet_stats.h"

#define ZPNET_ENV_CONFIG	"ZPNET_CONFIG"
#define ZPNET_ENV_LIB		"ZPNET_LIB"
#define ZPNET_ENV_HOOKS_ONLY	"ZPNET_HOOKS_ONLY"
#define ZPNET_LIB_NAME		"libzpnet.so"
#define ZPNET_PRELOAD_LIB_NAME	"libzpnet-preload.so"	/* mode = preload */

enum zpnet_exit {
	ZPNET_EXIT_OK = 0,
	ZPNET_EXIT_ENV = 1,	/* config or environment problem */
	ZPNET_EXIT_USAGE = 2,
};

static struct ns_config cfg;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: zpnet run [-c CONFIG] [--hooks-only] [--allow-static] -- PROGRAM [ARGS...]\n"
		"       zpnet check -c CONFIG [-- PROGRAM]\n"
		"       zpnet stats [OPTIONS] [PID...]\n"
		"       zpnet --help\n"
		"\n"
		"Runs PROGRAM, unmodified, with its TCP and UDP sockets served by lwIP\n"
		"on the DPDK ports of CONFIG; every other system call goes to the kernel.\n"
		"\n"
		"  run          check the environment, then exec PROGRAM under zpnet\n"
		"               (meanwhile a helper, zpnet-prewarm, sets up the rings\n"
		"               of net_af_packet ports: [port.N] prewarm)\n"
		"  check        print the same diagnosis and exit (0: ready); with\n"
		"               PROGRAM, also what zpnet can do for it\n"
		"  stats        what running stacks do now: ports, counters and a\n"
		"               socket table like ss's (zpnet stats --help)\n"
		"  -c CONFIG    config file (default: $%s); see configs/README.md\n"
		"  --hooks-only catch system calls but serve nothing: every call goes\n"
		"               to the kernel (to tell hooks problems from stack ones)\n"
		"  --allow-static\n"
		"               run a statically linked PROGRAM on the kernel stack\n"
		"               (refused without it: zpnet cannot load into it); the\n"
		"               dynamically linked programs it execs are served\n"
		"\n"
		"Environment: %s (path of %s, or of %s for\n"
		"[hooks] mode = preload; default: next to zpnet),\n"
		"ZPNET_LOG (error|warning|notice|info|debug, overrides the config),\n"
		"ZPNET_STATS (a file: at exit, append the stack's counters to it).\n"
		"Exit status: 0 ok, %d config or environment problem, %d usage;\n"
		"`run` exits with PROGRAM's status.\n",
		ZPNET_ENV_CONFIG, ZPNET_ENV_LIB, ZPNET_LIB_NAME,
		ZPNET_PRELOAD_LIB_NAME, ZPNET_EXIT_ENV,
		ZPNET_EXIT_USAGE);
}

/* Each check prints "ok ..." or "error: ...; fix" and returns 0 or -1. */
static int
check_config(const char *path)
{
	char err[NS_ERR_MAX];

	bond_config_defaults(&bond_cfg);
	bond_hooks_config_defaults(&bond_hooks_cfg);
	ns_config_register_section(&bond_cfg_bond, &bond_cfg);
	ns_config_register_section(&bond_cfg_hooks, &bond_hooks_cfg);
	if (ns_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "zpnet: error: bad config: %s\n", err);
		return -1;
	}
	if (bond_config_finish(&bond_cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "zpnet: error: %s: %s\n", path, err);
		return -1;
	}
	if (strcmp(bond_hooks_cfg.mode, "zpoline") != 0 &&
	    strcmp(bond_hooks_cfg.mode, "sud") != 0 &&
	    strcmp(bond_hooks_cfg.mode, "preload") != 0) {
		fprintf(stderr, "zpnet: error: %s: [hooks] mode = %s; use zpoline, sud or preload\n",
			path, bond_hooks_cfg.mode);
		return -1;
	}
	if (cfg.n_ports == 0) {
		fprintf(stderr, "zpnet: error: %s: no [port.N] section; add one (see configs/README.md)\n",
			path);
		return -1;
	}
	fprintf(stderr, "zpnet: ok: config %s (%u port%s, hooks %s)\n", path,
		cfg.n_ports, cfg.n_ports == 1 ? "" : "s", bond_hooks_cfg.mode);
	return 0;
}

/* One preflight verdict (ns_preflight.c: the library checks the same). */
static void
print_verdict(void *arg, bool ok, const char *msg)
{
	(void)arg;
	fprintf(stderr, "zpnet: %s: %s\n", ok ? "ok" : "error", msg);
}

static void
print_note(void *arg, bool ok, const char *msg)
{
	(void)arg;
	(void)ok;
	fprintf(stderr, "zpnet: note: %s\n", msg);
}

/* notes: also the advice that fails nothing (zpnet check). */
static int
diagnose(const char *path, bool notes)
{
	struct ns_preflight_env env;
	int rc;

	if (check_config(path) < 0)
		return -1;
	ns_preflight_env_read(&env);
	rc = ns_preflight(&cfg, bond_hooks_cfg.mode, &env, print_verdict, NULL);
	if (rc == 0 && notes)
		ns_preflight_notes(&cfg, &env, print_note, NULL);
	return rc < 0 ? -1 : 0;
}

/*
 * PROGRAM as execvp() will find it: a name without '/' through $PATH.
 * Returns false when it is not found (execvp then says so).
 */
static bool
find_program(const char *name, char *out, size_t outlen)
{
	const char *p = getenv("PATH");

	if (strchr(name, '/') != NULL) {
		snprintf(out, outlen, "%s", name);
		return access(out, X_OK) == 0;
	}
	for (p = p != NULL ? p : "/usr/bin:/bin"; *p != '\0';) {
		size_t n = strcspn(p, ":");

		snprintf(out, outlen, "%.*s/%s", (int)n, n ? p : ".", name);
		if (access(out, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

enum zpnet_image {
	ZPNET_IMAGE_OTHER,	/* dynamically linked, or not ELF, or unreadable */
	ZPNET_IMAGE_STATIC,	/* ELF without an interpreter (PT_INTERP) */
};

/*
 * The dynamic loader run as a program (`ld-linux-x86-64.so.2 PROGRAM`)
 * has no interpreter either, but it is the one that loads libzpnet.so.
 */
static bool
is_loader(const char *path)
{
	char real[PATH_MAX];
	const char *base;

	if (realpath(path, real) == NULL)
		return false;
	base = strrchr(real, '/');
	base = base != NULL ? base + 1 : real;
	return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld.so", 5) == 0;
}

static enum zpnet_image
image_kind(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	enum zpnet_image kind = ZPNET_IMAGE_OTHER;
	FILE *f;

	if (is_loader(path))
		return kind;
	f = fopen(path, "rb");
	if (f == NULL)
		return kind;
	if (fread(&eh, sizeof(eh), 1, f) == 1 &&
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    (eh.e_type == ET_EXEC || eh.e_type == ET_DYN)) {
		kind = ZPNET_IMAGE_STATIC;
		for (unsigned int i = 0; i < eh.e_phnum; i++) {
			if (fseek(f, (long)(eh.e_phoff + (uint64_t)i * eh.e_phentsize),
				  SEEK_SET) != 0 || fread(&ph, sizeof(ph), 1, f) != 1) {
				kind = ZPNET_IMAGE_OTHER;	/* cannot tell */
				break;
			}
			if (ph.p_type == PT_INTERP) {
				kind = ZPNET_IMAGE_OTHER;
				break;
			}
		}
	}
	fclose(f);
	return kind;
}

/*
 * libzpnet.so arrives through the dynamic loader (LD_PRELOAD): a statically
 * linked PROGRAM never loads it. Loading it with an ELF loader of our own
 * (the launcher maps the program, builds its stack and auxv, and jumps to
 * it with the engine in place) is not done: the program's own libc (or Go
 * runtime) takes the thread pointer (%fs, arch_prctl) and the process's
 * start-up (brk, signals, TLS), which libzpnet's glibc needs as well; two
 * C runtimes cannot share them. So it is refused, said before anything
 * runs, never left to the kernel without a word; --allow-static runs it
 * on the kernel stack (a static wrapper that execs a dynamically linked
 * server, which is served). level: "error" or "warning".
 */
static void
say_static(const char *level, const char *path, const char *script)
{
	if (strcmp(level, "warning") == 0) {	/* --allow-static given */
		fprintf(stderr, "zpnet: warning: %s is statically linked "
			"(%s%s): zpnet cannot load into it; it runs on the "
			"kernel stack (--allow-static)\n", path,
			script != NULL ? "the interpreter of " : "a program",
			script != NULL ? script : "");
		return;
	}
	if (script != NULL)
		fprintf(stderr, "zpnet: %s: %s runs under %s, which is "
			"statically linked: zpnet loads into a process through "
			"the dynamic loader (LD_PRELOAD), which a static program "
			"does not have, so zpnet cannot serve the script's "
			"sockets; use a dynamically linked interpreter, or pass "
			"--allow-static to run it on the kernel stack\n", level,
			script, path);
	else
		fprintf(stderr, "zpnet: %s: %s is statically linked: zpnet "
			"loads into a process through the dynamic loader "
			"(LD_PRELOAD), which a static program does not have, so "
			"zpnet cannot serve its sockets; run a dynamically linked "
			"build, or pass --allow-static to run it on the kernel "
			"stack (a dynamically linked program it execs is "
			"served)\n", level, path);
}

/* A script's interpreter (#!PATH), if path is one. */
static bool
script_interpreter(const char *path, char *out, size_t outlen)
{
	char line[PATH_MAX + 3];
	FILE *f = fopen(path, "re");
	size_t n;
	char *p;

	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL || strncmp(line, "#!", 2) != 0) {
		fclose(f);
		return false;
	}
	fclose(f);
	p = line + 2 + strspn(line + 2, " \t");
	n = strcspn(p, " \t\r\n");
	if (n == 0 || n >= outlen)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Returns false when PROGRAM cannot be served (said at level), else true. */
static bool
check_program(const char *name, const char *level)
{
	char path[PATH_MAX], interp[PATH_MAX];

	if (!find_program(name, path, sizeof(path)))
		return true;
	if (image_kind(path) == ZPNET_IMAGE_STATIC) {
		say_static(level, path, NULL);
		return false;
	}
	/* A script is served when its interpreter is (env execs another:
	 * that one is checked by the loader, not here). */
	if (script_interpreter(path, interp, sizeof(interp)) &&
	    image_kind(interp) == ZPNET_IMAGE_STATIC) {
		say_static(level, interp, path);
		return false;
	}
	return true;
}

/*
 * The library: $ZPNET_LIB, or next to this executable (build or install):
 * libzpnet.so, or libzpnet-preload.so for [hooks] mode = preload (the one
 * that wraps libc's functions).
 */
static int
find_lib(char *out, size_t outlen)
{
	static const char *const rel[] = {
		"../bond/",			/* build tree */
		"../lib/x86_64-linux-gnu/",	/* Debian prefix */
		"../lib64/",
		"../lib/",
	};
	const char *env = getenv(ZPNET_ENV_LIB);
	const char *name = strcmp(bond_hooks_cfg.mode, "preload") == 0 ?
		ZPNET_PRELOAD_LIB_NAME : ZPNET_LIB_NAME;
	char exe[PATH_MAX], *dir;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		if (access(env, R_OK) != 0) {
			fprintf(stderr, "zpnet: error: %s=%s: %s; point it at %s\n",
				ZPNET_ENV_LIB, env, strerror(errno), name);
			return -1;
		}
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	dir = dirname(exe);
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char cand[PATH_MAX];

		snprintf(cand, sizeof(cand), "%s/%s%s", dir, rel[i], name);
		if (access(cand, R_OK) == 0 && realpath(cand, out) != NULL)
			return 0;
	}
	fprintf(stderr, "zpnet: error: cannot find %s next to %s; set %s=/path/to/%s\n",
		name, exe, ZPNET_ENV_LIB, name);
	return -1;
}

static int
cmd_check(int argc, char **argv)
{
	const char *path = getenv(ZPNET_ENV_CONFIG), *program = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--") == 0 && i + 2 == argc) {
			program = argv[++i];
		} else {
			usage(stderr);
			return ZPNET_EXIT_USAGE;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "zpnet: error: no config; pass -c CONFIG\n");
		return ZPNET_EXIT_USAGE;
	}
	if (diagnose(path, true) < 0)
		return ZPNET_EXIT_ENV;
	if (program != NULL) {
		char found[PATH_MAX];

		if (!find_program(program, found, sizeof(found)))
			fprintf(stderr, "zpnet: warning: %s: no such program (PATH); "
				"give its path\n", program);
		else if (check_program(program, "error"))
			fprintf(stderr, "zpnet: ok: %s loads zpnet (dynamically linked)\n",
				found);
		else
			return ZPNET_EXIT_ENV;	/* `run` refuses it */
	}
	fprintf(stderr, "zpnet: ready\n");
	return ZPNET_EXIT_OK;
}

/*
 * net_af_packet ports with prewarm = yes: their queue sockets' rings are
 * set up by a helper while PROGRAM starts (ns_prewarm.h). Its name goes
 * to PROGRAM in NS_PREWARM_ENV; none inherited from a caller's run stays.
 * Without a helper the stack makes the rings itself: nothing to report.
 */
static void
start_prewarm(bool hooks_only)
{
	char name[NS_PREWARM_NAME_MAX];

	if (!hooks_only && ns_prewarm_spawn(&cfg, name, sizeof(name)) == 0 &&
	    setenv(NS_PREWARM_ENV, name, 1) == 0)
		return;
	unsetenv(NS_PREWARM_ENV);
}

static int
cmd_run(int argc, char **argv)
{
	const char *path = getenv(ZPNET_ENV_CONFIG), *old;
	char lib[PATH_MAX], abs[PATH_MAX], *preload;
	bool hooks_only = false, allow_static = false;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--hooks-only") == 0) {
			hooks_only = true;
		} else if (strcmp(argv[i], "--allow-static") == 0) {
			allow_static = true;
		} else if (argv[i][0] == '-') {
			usage(stderr);
			return ZPNET_EXIT_USAGE;
		} else {
			break;	/* PROGRAM without "--" */
		}
	}
	if (i >= argc) {
		fprintf(stderr, "zpnet: error: no PROGRAM to run\n");
		usage(stderr);
		return ZPNET_EXIT_USAGE;
	}
	if (path == NULL) {
		fprintf(stderr, "zpnet: error: no config; pass -c CONFIG (or set %s)\n",
			ZPNET_ENV_CONFIG);
		return ZPNET_EXIT_USAGE;
	}
	if (diagnose(path, false) < 0)
		return ZPNET_EXIT_ENV;
	if (find_lib(lib, sizeof(lib)) < 0)
		return ZPNET_EXIT_ENV;
	if (!check_program(argv[i], allow_static ? "warning" : "error") &&
	    !allow_static)
		return ZPNET_EXIT_ENV;
	if (realpath(path, abs) == NULL) {
		fprintf(stderr, "zpnet: error: %s: %s\n", path, strerror(errno));
		return ZPNET_EXIT_ENV;
	}
	old = getenv("LD_PRELOAD");
	if (old != NULL && *old != '\0') {
		if (asprintf(&preload, "%s:%s", lib, old) < 0)
			return ZPNET_EXIT_ENV;
	} else {
		preload = lib;
	}
	if (setenv("LD_PRELOAD", preload, 1) < 0 ||
	    setenv(ZPNET_ENV_CONFIG, abs, 1) < 0 ||
	    (hooks_only && setenv(ZPNET_ENV_HOOKS_ONLY, "1", 1) < 0)) {
		perror("zpnet: setenv");
		return ZPNET_EXIT_ENV;
	}
	start_prewarm(hooks_only);
	execvp(argv[i], argv + i);
	fprintf(stderr, "zpnet: error: cannot run %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return ZPNET_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return ZPNET_EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 2, argv + 2);
	if (strcmp(argv[1], "stats") == 0)
		return zpnet_cmd_stats(argc - 1, argv + 1);
	fprintf(stderr, "zpnet: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return ZPNET_EXIT_USAGE;
}
