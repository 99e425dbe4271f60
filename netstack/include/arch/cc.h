/* lwIP's compiler/platform glue for Linux x86-64 (gcc). */
#ifndef ZPNET_ARCH_CC_H
#define ZPNET_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#define LWIP_TIMEVAL_PRIVATE	0	/* struct timeval comes from the system */
#define LWIP_NO_UNISTD_H	0

/* Internal invariants only: never compiled out, never on app input. */
void ns_lwip_assert(const char *msg, const char *file, int line)
	__attribute__((noreturn, cold));
#define LWIP_PLATFORM_ASSERT(x)	ns_lwip_assert((x), __FILE__, __LINE__)
void ns_lwip_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define LWIP_PLATFORM_DIAG(x)	do { ns_lwip_diag x; } while (0)

#endif
