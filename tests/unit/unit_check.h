/*
 * The unit suite's assertion: counts every check, reports a failure with
 * its place, condition and a printf-style message, and carries on.
 */
#ifndef ZPNET_UNIT_CHECK_H
#define ZPNET_UNIT_CHECK_H

#include <stdio.h>
#include <stdlib.h>

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

/* The start of a unit test's main: "PROG SRC_ROOT" and a fresh directory
 * at tmpl (mkdtemp's XXXXXX). 0, or the exit status to return. */
static inline int
unit_start(int argc, char **argv, char *tmpl)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SRC_ROOT\n", argv[0]);
		return 2;
	}
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	return 0;
}

/* Its end: the directory removed, the counts said; the exit status. */
static inline int
unit_finish(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}

#endif
