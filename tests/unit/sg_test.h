/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A minimal test harness. Each test prints one line, "PASS name",
 * "FAIL name" (after the failed checks, each with what differed) or
 * "SKIP name: why"; tests/run.sh adds the lines of every program up.
 */
#ifndef SG_TEST_H
#define SG_TEST_H

#include <stdio.h>

static int sg_t_passed, sg_t_failed, sg_t_skipped;
static int sg_t_bad;

#define CHECK(cond, fmt, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("    %s:%d: %s: " fmt "\n", __FILE__,	\
			       __LINE__, #cond, ##__VA_ARGS__);		\
			sg_t_bad = 1;					\
		}							\
	} while (0)

static inline void test_begin(void)
{
	sg_t_bad = 0;
}

static inline void test_end(const char *name)
{
	if (sg_t_bad) {
		printf("FAIL %s\n", name);
		sg_t_failed++;
	} else {
		printf("PASS %s\n", name);
		sg_t_passed++;
	}
	fflush(stdout);
}

static inline void test_skip(const char *name, const char *why)
{
	printf("SKIP %s: %s\n", name, why);
	sg_t_skipped++;
}

static inline int test_summary(const char *prog)
{
	printf("# %s: %d passed, %d failed, %d skipped\n", prog, sg_t_passed,
	       sg_t_failed, sg_t_skipped);
	return sg_t_failed ? 1 : 0;
}

#endif /* SG_TEST_H */
