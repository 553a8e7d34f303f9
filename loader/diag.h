/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A list of error messages, collected so that `check` reports them all.
 * At most SG_DIAG_MAX are kept; the rest are only counted, so a file that
 * is wrong a million times over (YAML aliases) costs no more than one
 * screen and a number.
 */
#ifndef SG_DIAG_H
#define SG_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#define SG_DIAG_MAX	50

struct sg_diags {
	char **msgs;
	int n;			/* kept in msgs */
	int dropped;		/* counted beyond SG_DIAG_MAX */
};

__attribute__((format(printf, 2, 3)))
void sg_diag_add(struct sg_diags *d, const char *fmt, ...);
/* Every error added, kept or not. */
int sg_diags_count(const struct sg_diags *d);
/* True once no more messages are kept: long checks may stop early. */
bool sg_diags_full(const struct sg_diags *d);
void sg_diags_print(FILE *out, const struct sg_diags *d);
void sg_diags_free(struct sg_diags *d);

#endif /* SG_DIAG_H */
