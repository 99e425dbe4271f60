/*
 * zpnet's logging, over DPDK's rte_log with our own log type "zpnet".
 * Never to the app's stdout; saves and restores errno; gated by level.
 */
#ifndef ZPNET_NS_LOG_H
#define ZPNET_NS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "ns_config.h"

/* Before the config is read: level from ZPNET_LOG or notice, to stderr. */
void ns_log_init_early(void);
/* Apply the config's level and file (ZPNET_LOG still wins). */
int ns_log_configure(const struct ns_stack_config *sc, char *err, size_t errlen);
/* rte_log's output stream, once EAL's own is not wanted. */
void ns_log_claim_stream(void);

extern enum ns_log_level ns_log_level;

void ns_log_write(enum ns_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), cold));

#define NS_LOG(level, ...) do {						\
	if ((level) <= ns_log_level)					\
		ns_log_write((level), __VA_ARGS__);			\
} while (0)

#define NS_ERR(...)	NS_LOG(NS_LOG_ERR, __VA_ARGS__)
#define NS_WARN(...)	NS_LOG(NS_LOG_WARNING, __VA_ARGS__)
#define NS_NOTICE(...)	NS_LOG(NS_LOG_NOTICE, __VA_ARGS__)
#define NS_INFO(...)	NS_LOG(NS_LOG_INFO, __VA_ARGS__)
#define NS_DEBUG(...)	NS_LOG(NS_LOG_DEBUG, __VA_ARGS__)

/*
 * A line that may repeat (one per dropped frame, refused call, failed
 * poll, rewritten site): each place says its first NS_LOG_BURST lines of
 * every NS_LOG_WINDOW_NS, then holds its tongue, and its next line after
 * the window says how many it held back. Never a loop of errors.
 */
#define NS_LOG_BURST		5
#define NS_LOG_WINDOW_NS	(5ull * 1000 * 1000 * 1000)

struct ns_log_limit {
	uint64_t window_start_ns;
	uint32_t said;		/* lines said in this window */
	uint64_t held;		/* lines held back since the last one said */
};

/* Say this one? *held: how many were held back before it. */
bool ns_log_limit_pass(struct ns_log_limit *lim, uint64_t now_ns,
		       uint64_t *held);
uint64_t ns_log_clock_ns(void);
void ns_log_write_held(enum ns_log_level level, uint64_t held,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4), cold));

#define NS_LOG_LIMITED(level, ...) do {					\
	static struct ns_log_limit lim_;				\
	uint64_t held_;							\
	if ((level) <= ns_log_level &&					\
	    ns_log_limit_pass(&lim_, ns_log_clock_ns(), &held_))	\
		ns_log_write_held((level), held_, __VA_ARGS__);		\
} while (0)

/* An internal invariant: never compiled out, never on app-controlled input. */
#define NS_ASSERT(cond) do {						\
	if (__builtin_expect(!(cond), 0))				\
		ns_assert_fail(#cond, __FILE__, __LINE__);		\
} while (0)
void ns_assert_fail(const char *what, const char *file, int line)
	__attribute__((noreturn, cold));

#endif
