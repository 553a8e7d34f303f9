// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sector definitions: YAML (libyaml's document API) to struct sg_model.
 *
 * Every error names FILE:LINE:COLUMN, the field path as the user wrote it
 * ("sectors[1].cidrs[0]") and what is wrong. Parsing goes on after an error
 * so that one `check` reports every problem; the model is only used when
 * there were none. Unknown keys are errors, never ignored.
 *
 * The parts are in config_yaml.c, config_schema.c and config_check.c
 * (config_parse.h says what each has).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "config_parse.h"
#include "util.h"

int sg_config_parse(const char *file, const char *text, size_t len,
		    struct sg_model *m, struct sg_diags *d)
{
	struct sg_parser p = { .file = file, .diags = d, .m = m };
	yaml_parser_t yp;
	yaml_node_t *root;
	int before = sg_diags_count(d);

	memset(m, 0, sizeof(*m));
	cfg_model_defaults(m);
	m->file = sg_strdup(file);

	yaml_parser_initialize(&yp);
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, &p.doc)) {
		sg_diag_add(d, "%s:%zu:%zu: %s%s%s", file,
			    yp.problem_mark.line + 1,
			    yp.problem_mark.column + 1,
			    yp.problem ? yp.problem : "YAML syntax error",
			    yp.context ? " " : "",
			    yp.context ? yp.context : "");
		yaml_parser_delete(&yp);
		return -1;
	}
	root = yaml_document_get_root_node(&p.doc);
	if (!root)
		sg_diag_add(d, "%s:1:1: the file is empty", file);
	else
		cfg_parse_root(&p, root);
	if (sg_diags_count(d) == before)
		cfg_validate(&p);
	for (int i = 0; i < p.unsupported.n; i++)
		sg_diag_add(d, "%s", p.unsupported.msgs[i]);
	d->dropped += p.unsupported.dropped;
	sg_diags_free(&p.unsupported);
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&yp);
	return sg_diags_count(d) == before ? 0 : -1;
}

int sg_config_read(const char *path, char **text, size_t *len,
		   struct sg_diags *d)
{
	FILE *f = fopen(path, "r");
	size_t cap = 0, got;

	*text = NULL;
	*len = 0;
	if (!f) {
		sg_diag_add(d, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	do {
		if (*len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			*text = realloc(*text, cap);
			if (!*text)
				sg_oom();
		}
		got = fread(*text + *len, 1, cap - *len, f);
		*len += got;
	} while (got);
	fclose(f);
	return 0;
}

int sg_config_load(const char *path, struct sg_model *m, struct sg_diags *d)
{
	char *text;
	size_t len;
	int ret;

	if (sg_config_read(path, &text, &len, d)) {
		memset(m, 0, sizeof(*m));
		return -1;
	}
	ret = sg_config_parse(path, text, len, m, d);
	free(text);
	return ret;
}
