/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the parts of the definitions parser share; only loader/config*.c
 * include this. config.c has the entry points of config.h, and:
 *
 *   config_yaml.c    the YAML primitives: the field path being parsed,
 *                    errors at it, scalars, mappings driven by a table
 *                    of keys, lists
 *   config_schema.c  the keys of SPEC section 1, as such tables: which
 *                    are required and which are not supported yet
 *   config_check.c   the cross-checks of a model parsed without errors
 *
 * Positions recorded with cfg_pos() carry their field path, so that the
 * cross-checks name fields the way the schema walk spelt them. The cfg_
 * functions are in libsectorgate.a for these files only.
 */
#ifndef SG_CONFIG_PARSE_H
#define SG_CONFIG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "diag.h"
#include "model.h"

struct sg_parser {
	const char *file;
	yaml_document_t doc;
	char path[256];
	struct sg_diags *diags;
	/*
	 * Keys of SPEC section 1 that the datapath does not enforce yet.
	 * Kept apart so that the cross-checks still run on a file that uses
	 * them (they only run on a file without other errors), then added
	 * to diags: such a file is refused, never applied with the key
	 * ignored.
	 */
	struct sg_diags unsupported;
	struct sg_model *m;
	unsigned long spent;	/* of SG_PARSE_BUDGET */
};

/*
 * YAML aliases let a small file name the same nodes over and over, and
 * each use is parsed again: 24 kB of nested aliases (1500 sectors, each
 * with 1500 allow rules, each with 1500 ports) stand for billions of
 * entries, gigabytes and many minutes. Parsing stops, with one error,
 * once it has read this much in all: a unit per list item and key, and
 * per byte of every scalar. Several times what a file the maps can hold
 * takes (SG_MAX_*: about a million), under a second.
 */
#define SG_PARSE_BUDGET	(8 * 1000 * 1000)

/* One key of a mapping, in the tables of config_schema.c. */
struct sg_field {
	const char *key;
	void (*parse)(struct sg_parser *p, yaml_node_t *val, void *obj);
	bool required;
	bool unsupported;	/* parsed, then refused: "not supported yet" */
};

/* config_yaml.c */
struct sg_pos cfg_pos(struct sg_parser *p, const yaml_node_t *n);
__attribute__((format(printf, 3, 4)))
void cfg_perr(struct sg_parser *p, const yaml_node_t *n, const char *fmt, ...);
__attribute__((format(printf, 4, 5)))
void cfg_verr(struct sg_parser *p, struct sg_pos pos, const char *suffix,
	      const char *fmt, ...);
void cfg_unsupported(struct sg_parser *p, const yaml_node_t *n);

/* The value of n, or false (NULL) with what is wrong with it reported. */
const char *cfg_scalar(struct sg_parser *p, yaml_node_t *n, const char *what);
bool cfg_bool(struct sg_parser *p, yaml_node_t *n, bool *out);
bool cfg_uint(struct sg_parser *p, yaml_node_t *n, uint32_t min, uint32_t max,
	      uint32_t *out);
bool cfg_addr(struct sg_parser *p, yaml_node_t *n, uint32_t *out);
bool cfg_endpoint(struct sg_parser *p, yaml_node_t *n, uint32_t *addr,
		  uint16_t *port);
bool cfg_cidr(struct sg_parser *p, yaml_node_t *n, struct sg_cidr *c);
bool cfg_proto(struct sg_parser *p, yaml_node_t *n, uint8_t *proto);
bool cfg_xdp_mode(struct sg_parser *p, yaml_node_t *n, enum sg_xdp_mode *mode);
bool cfg_port_range(struct sg_parser *p, yaml_node_t *n,
		    struct sg_port_range *r);
bool cfg_ifname(struct sg_parser *p, yaml_node_t *n, struct sg_name *out);

void cfg_mapping(struct sg_parser *p, yaml_node_t *n,
		 const struct sg_field *fields, void *obj);
void cfg_list(struct sg_parser *p, yaml_node_t *n, void **array, int *count,
	      size_t size,
	      void (*parse_item)(struct sg_parser *, yaml_node_t *, void *));

/* cfg_list() into an array and its count, sized by its element. */
#define CFG_LIST(p, n, arr, cnt, fn) \
	cfg_list(p, n, (void **)&(arr), &(cnt), sizeof(*(arr)), fn)

/* config_schema.c */
void cfg_model_defaults(struct sg_model *m);
void cfg_parse_root(struct sg_parser *p, yaml_node_t *root);

/* config_check.c */
void cfg_validate(struct sg_parser *p);

#endif /* SG_CONFIG_PARSE_H */
