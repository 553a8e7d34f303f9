// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdlib.h>

#include "diag.h"
#include "util.h"

void sg_diag_add(struct sg_diags *d, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		sg_oom();
	d->msgs = sg_grow(d->msgs, d->n, sizeof(*d->msgs));
	d->msgs[d->n++] = msg;
}

void sg_diags_print(FILE *out, const struct sg_diags *d)
{
	for (int i = 0; i < d->n; i++)
		fprintf(out, "%s\n", d->msgs[i]);
}

void sg_diags_free(struct sg_diags *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}
