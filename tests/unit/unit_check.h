/*
 * The unit suite's assertion: counts every check, reports a failure with
 * its place, condition and a printf-style message, and carries on.
 */
#ifndef ZPNET_UNIT_CHECK_H
#define ZPNET_UNIT_CHECK_H

#include <stdio.h>

static int failures;
static int checks;

#define CHECK(cond, ...) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#endif
