/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>

#include "diag.h"
#include "model.h"

#define SG_DEFAULT_CONFIG "/etc/sectorgate/sectors.yaml"

/*
 * Parse and validate sector definitions. Returns 0 with *m filled, or -1
 * with every problem in *d (each "FILE:LINE:COL: field: message").
 * *m must be released with sg_model_free() either way.
 */
int sg_config_load(const char *path, struct sg_model *m, struct sg_diags *d);
int sg_config_parse(const char *file, const char *text, size_t len,
		    struct sg_model *m, struct sg_diags *d);
/* The text of file path (*text to be freed), or -1 with the reason in *d. */
int sg_config_read(const char *path, char **text, size_t *len,
		   struct sg_diags *d);

#endif /* SG_CONFIG_H */
