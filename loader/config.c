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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "config_parse.h"
#include "util.h"

/* One level of the document while syntax_error_field() reads it. */
struct syntax_level {
	bool mapping;
	bool key_next;		/* mapping: its next scalar is a key */
	bool in_item;		/* sequence: item `index` is a collection
				 * being read */
	int index;		/* sequence: the item being read, -1 before */
	char key[64];		/* mapping: the key whose value is read */
};

#define SYNTAX_DEPTH 32

/* A value (scalar, alias or collection) starts at the top level. */
static void syntax_value_starts(struct syntax_level *top, bool collection)
{
	if (!top)
		return;
	if (!top->mapping) {
		top->index++;
		top->in_item = collection;
	} else if (!collection) {
		top->key_next = true;	/* a scalar value is whole */
	}
}

/*
 * The field a YAML syntax error is in, as the other errors name it
 * ("sectors[0].cidrs"): the document is read again as events up to the
 * error, keeping the path of mapping keys and sequence items open there.
 * Empty when the error is at the top.
 */
static void syntax_error_field(const char *text, size_t len, char *buf,
			       size_t size)
{
	struct syntax_level st[SYNTAX_DEPTH];
	int depth = 0, lost = 0;	/* levels past SYNTAX_DEPTH */
	yaml_parser_t yp;
	yaml_event_t ev;
	size_t n = 0;

	buf[0] = '\0';
	yaml_parser_initialize(&yp);
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	while (yaml_parser_parse(&yp, &ev)) {
		struct syntax_level *top = depth ? &st[depth - 1] : NULL;
		yaml_event_type_t type = ev.type;

		if (type == YAML_MAPPING_START_EVENT ||
		    type == YAML_SEQUENCE_START_EVENT) {
			if (lost || depth == SYNTAX_DEPTH) {
				lost++;
			} else {
				syntax_value_starts(top, true);
				st[depth++] = (struct syntax_level){
					.mapping = type == YAML_MAPPING_START_EVENT,
					.key_next = true, .index = -1 };
			}
		} else if (type == YAML_MAPPING_END_EVENT ||
			   type == YAML_SEQUENCE_END_EVENT) {
			if (lost) {
				lost--;
			} else if (depth) {
				depth--;
				top = depth ? &st[depth - 1] : NULL;
				if (top && top->mapping)
					top->key_next = true;
				else if (top)
					top->in_item = false;
			}
		} else if (!lost && top && top->mapping && top->key_next &&
			   type == YAML_SCALAR_EVENT) {
			snprintf(top->key, sizeof(top->key), "%.*s",
				 (int)ev.data.scalar.length,
				 (const char *)ev.data.scalar.value);
			top->key_next = false;
		} else if (!lost && (type == YAML_SCALAR_EVENT ||
				     type == YAML_ALIAS_EVENT)) {
			syntax_value_starts(top, false);
		}
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	for (int i = 0; i < depth && n < size; i++) {
		if (st[i].mapping && !st[i].key_next)
			n += snprintf(buf + n, size - n, "%s%s", n ? "." : "",
				      st[i].key);
		else if (!st[i].mapping && st[i].in_item)
			n += snprintf(buf + n, size - n, "[%d]", st[i].index);
		else
			break;	/* the error is in this level itself */
	}
	yaml_parser_delete(&yp);
}

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
		char field[256] = "";

		/* Only the scanner and the parser stop the events where
		 * the error is; the composer's (an undefined alias, an
		 * anchor twice) come after events that read on. */
		if (yp.error == YAML_SCANNER_ERROR ||
		    yp.error == YAML_PARSER_ERROR)
			syntax_error_field(text, len, field, sizeof(field));
		sg_diag_add(d, "%s:%zu:%zu: %s%s%s%s%s", file,
			    yp.problem_mark.line + 1,
			    yp.problem_mark.column + 1, field,
			    field[0] ? ": " : "",
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
