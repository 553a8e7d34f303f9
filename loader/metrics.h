/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Prometheus text format (version 0.0.4) of an applied instance: the
 * one generator behind `stats --prometheus` and `run --metrics-listen`.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stdio.h>

#include "instance.h"

#define SG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Write every metric family, each with its HELP and TYPE. */
void sg_metrics_write(FILE *out, struct sg_instance *in);

/*
 * The same text for the instance at pin_dir, in a malloc()ed buffer
 * (*len bytes), opened and closed for the call so that every scrape sees
 * what is applied now. 0 or -errno.
 */
int sg_metrics_text(const char *pin_dir, char **text, size_t *len);

#endif /* SG_METRICS_H */
