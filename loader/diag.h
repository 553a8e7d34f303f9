/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A list of error messages, collected so that `check` reports them all. */
#ifndef SG_DIAG_H
#define SG_DIAG_H

#include <stdio.h>

struct sg_diags {
	char **msgs;
	int n;
};

__attribute__((format(printf, 2, 3)))
void sg_diag_add(struct sg_diags *d, const char *fmt, ...);
void sg_diags_print(FILE *out, const struct sg_diags *d);
void sg_diags_free(struct sg_diags *d);

#endif /* SG_DIAG_H */
