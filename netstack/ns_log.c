/* Logging over rte_log (DPDK side). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <rte_log.h>

#include "ns_log.h"

enum ns_log_level ns_log_level = NS_LOG_NOTICE;

static int ns_logtype = -1;
static FILE *log_stream;
static bool level_from_env;

static const uint32_t rte_levels[] = {
	[NS_LOG_ERR] = RTE_LOG_ERR,
	[NS_LOG_WARNING] = RTE_LOG_WARNING,
	[NS_LOG_NOTICE] = RTE_LOG_NOTICE,
	[NS_LOG_INFO] = RTE_LOG_INFO,
	[NS_LOG_DEBUG] = RTE_LOG_DEBUG,
};

static void
set_level(enum ns_log_level l)
{
	ns_log_level = l;
	if (ns_logtype >= 0)
		rte_log_set_level(ns_logtype, rte_levels[l]);
}

void
ns_log_init_early(void)
{
	const char *env = getenv("ZPNET_LOG");

	if (ns_logtype < 0)
		ns_logtype = rte_log_register("zpnet");
	log_stream = stderr;
	ns_log_claim_stream();
	set_level(ns_log_level);
	if (env != NULL && *env != '\0') {
		for (int l = NS_LOG_ERR; l <= NS_LOG_DEBUG; l++) {
			if (strcasecmp(env, ns_log_level_name(l)) == 0) {
				set_level(l);
				level_from_env = true;
			}
		}
		if (!level_from_env)
			fprintf(stderr,
				"zpnet[%d]: ignoring ZPNET_LOG=%s; use error, warning, notice, info or debug\n",
				(int)getpid(), env);
	}
}

void
ns_log_claim_stream(void)
{
	/* DPDK 22.11's default log stream writes to stdout: not the app's. */
	rte_openlog_stream(log_stream);
}

int
ns_log_configure(const struct ns_stack_config *sc, char *err, size_t errlen)
{
	if (!level_from_env)
		set_level(sc->log_level);
	if (sc->log_file[0] != '\0') {
		FILE *f = fopen(sc->log_file, "ae");

		if (f == NULL) {
			snprintf(err, errlen,
				 "cannot open log_file %s: %s; fix [stack] log_file or leave it empty for stderr",
				 sc->log_file, strerror(errno));
			return -EINVAL;
		}
		setvbuf(f, NULL, _IOLBF, 0);
		log_stream = f;
		ns_log_claim_stream();
	}
	return 0;
}

static void
log_vwrite(enum ns_log_level level, uint64_t held, const char *fmt, va_list ap)
{
	int saved = errno;
	char buf[1024];
	int n;

	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	/* one line each: the newline is ours, a message's own is dropped */
	if (n > 0 && (size_t)n < sizeof(buf) && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (held != 0 && n >= 0 && (size_t)n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - (size_t)n,
			 " (%" PRIu64 " more like this were not shown)", held);
	if (ns_logtype >= 0)
		rte_log(rte_levels[level], ns_logtype, "zpnet[%d]: %s\n",
			(int)getpid(), buf);
	else
		fprintf(stderr, "zpnet[%d]: %s\n", (int)getpid(), buf);
	errno = saved;
}

void
ns_log_write(enum ns_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, 0, fmt, ap);
	va_end(ap);
}

void
ns_log_write_held(enum ns_log_level level, uint64_t held, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, held, fmt, ap);
	va_end(ap);
}

uint64_t
ns_log_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Threads race on a place's counts only to say a line more or less. */
bool
ns_log_limit_pass(struct ns_log_limit *lim, uint64_t now_ns, uint64_t *held)
{
	if (lim->said == 0 || now_ns - lim->window_start_ns >= NS_LOG_WINDOW_NS) {
		lim->window_start_ns = now_ns;
		lim->said = 0;
	}
	if (lim->said >= NS_LOG_BURST) {
		lim->held++;
		return false;
	}
	lim->said++;
	*held = lim->held;
	lim->held = 0;
	return true;
}

void
ns_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "zpnet[%d]: internal error: %s at %s:%d\n", (int)getpid(),
		what, file, line);
	abort();
}
