// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdlib.h>

#include "diag.h"
#include "util.h"

void sg_diag_add(struct sg_diags *d, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (sg_diags_full(d)) {
		d->dropped++;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		sg_oom();
	d->msgs = sg_grow(d->msgs, d->n, sizeof(*d->msgs));
	d->msgs[d->n++] = msg;
}

int sg_diags_count(const struct sg_diags *d)
{
	return d->n + d->dropped;
}

bool sg_diags_full(const struct sg_diags *d)
{
	return d->n >= SG_DIAG_MAX;
}

void sg_diags_print(FILE *out, const struct sg_diags *d)
{
	for (int i = 0; i < d->n; i++)
		fprintf(out, "%s\n", d->msgs[i]);
	if (d->dropped)
		fprintf(out, "... and %d more error%s\n", d->dropped,
			d->dropped == 1 ? "" : "s");
}

void sg_diags_free(struct sg_diags *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
	d->dropped = 0;
}
