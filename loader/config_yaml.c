// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The YAML primitives of the definitions parser: the field path being
 * parsed ("sectors[1].cidrs[0]"), errors at it, scalars, and mappings and
 * lists walked with that path kept up to date. Which keys there are is
 * config_schema.c's business.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"
#include "util.h"

/* ---- field paths and errors ------------------------------------------- */

static struct sg_pos pos_of(const yaml_node_t *n)
{
	return (struct sg_pos){
		.line = n->start_mark.line + 1,
		.col = n->start_mark.column + 1,
	};
}

/*
 * Where node n is and the field path it is at, kept in the model: the
 * cross-checks name what they find wrong by what the parser recorded,
 * never by a path spelt again.
 */
struct sg_pos cfg_pos(struct sg_parser *p, const yaml_node_t *n)
{
	struct sg_pos pos = pos_of(n);

	pos.path = sg_model_path(p->m, p->path);
	return pos;
}

/* "FILE:LINE:COL: PATH[.SUFFIX]: message"; no field at the root. */
static void verr_at(struct sg_parser *p, struct sg_pos pos, const char *suffix,
		    const char *fmt, va_list ap)
{
	sg_diag_vat(p->diags, p->file, pos, suffix, fmt, ap);
}

/* An error about node n, at the current field path. */
void cfg_perr(struct sg_parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	struct sg_pos pos = pos_of(n);
	va_list ap;

	pos.path = p->path;
	va_start(ap, fmt);
	verr_at(p, pos, NULL, fmt, ap);
	va_end(ap);
}

/*
 * An error found after parsing, at a remembered position: its field is
 * the path recorded there, followed by ".suffix" if suffix is given.
 */
void cfg_verr(struct sg_parser *p, struct sg_pos pos, const char *suffix,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(p, pos, suffix, fmt, ap);
	va_end(ap);
}

/* The node at the current field path uses what is not enforced yet. */
void cfg_unsupported(struct sg_parser *p, const yaml_node_t *n)
{
	struct sg_pos pos = pos_of(n);

	sg_diag_add(&p->unsupported, "%s:%d:%d: %s: not supported yet",
		    p->file, pos.line, pos.col, p->path);
}

static size_t path_key(struct sg_parser *p, const char *key)
{
	size_t old = strlen(p->path);

	snprintf(p->path + old, sizeof(p->path) - old, old ? ".%s" : "%s", key);
	return old;
}

static size_t path_index(struct sg_parser *p, int i)
{
	size_t old = strlen(p->path);

	snprintf(p->path + old, sizeof(p->path) - old, "[%d]", i);
	return old;
}

static void path_pop(struct sg_parser *p, size_t old)
{
	p->path[old] = '\0';
}

static yaml_node_t *node_at(struct sg_parser *p, int index)
{
	return yaml_document_get_node(&p->doc, index);
}

/* Take cost units of the budget at node n: false, and the error said
 * once, when it is spent. */
static bool charge(struct sg_parser *p, const yaml_node_t *n, size_t cost)
{
	if (p->spent > SG_PARSE_BUDGET)
		return false;
	p->spent += cost;
	if (p->spent <= SG_PARSE_BUDGET)
		return true;
	cfg_perr(p, n, "the file stands for more than %d entries and bytes "
		 "(YAML aliases?); not read further", SG_PARSE_BUDGET);
	return false;
}

/* ---- scalars ---------------------------------------------------------- */

const char *cfg_scalar(struct sg_parser *p, yaml_node_t *n, const char *what)
{
	if (!charge(p, n, 1 + (n->type == YAML_SCALAR_NODE ?
			       n->data.scalar.length : 0)))
		return NULL;
	if (n->type != YAML_SCALAR_NODE) {
		cfg_perr(p, n, "expected %s, not a %s", what,
			 n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return NULL;
	}
	/* "\0" in a quoted scalar: read as a C string, "nat-ports\0x"
	 * would be the key nat-ports, "vm1\0x" the name vm1. */
	if (strlen((const char *)n->data.scalar.value) !=
	    n->data.scalar.length) {
		cfg_perr(p, n, "expected %s; \"%s\\0...\" holds a NUL byte",
			 what, (const char *)n->data.scalar.value);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

bool cfg_bool(struct sg_parser *p, yaml_node_t *n, bool *out)
{
	const char *s = cfg_scalar(p, n, "true or false");

	if (!s)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "false")) {
		*out = s[0] == 't';
		return true;
	}
	cfg_perr(p, n, "\"%s\" is not true or false", s);
	return false;
}

bool cfg_uint(struct sg_parser *p, yaml_node_t *n, uint32_t min,
	      uint32_t max, uint32_t *out)
{
	const char *s = cfg_scalar(p, n, "a number");
	unsigned long long v = 0;

	if (!s)
		return false;
	/* A number, but below every range here. */
	if (s[0] == '-' && isdigit((unsigned char)s[1]) &&
	    strspn(s + 1, "0123456789") == strlen(s + 1) &&
	    strspn(s + 1, "0") != strlen(s + 1)) {
		cfg_perr(p, n, "%s is out of range %u-%u", s, min, max);
		return false;
	}
	for (const char *c = s; ; c++) {
		if (!*c && c != s)
			break;
		if (!isdigit((unsigned char)*c) || v > UINT32_MAX) {
			cfg_perr(p, n, "\"%s\" is not a number", s);
			return false;
		}
		v = v * 10 + (*c - '0');
	}
	if (v < min || v > max) {
		cfg_perr(p, n, "%s is out of range %u-%u", s, min, max);
		return false;
	}
	*out = v;
	return true;
}

bool cfg_addr(struct sg_parser *p, yaml_node_t *n, uint32_t *out)
{
	const char *s = cfg_scalar(p, n, "an IPv4 address");

	if (!s)
		return false;
	if (!sg_parse_ipv4(s, out)) {
		cfg_perr(p, n, "\"%s\" is not an IPv4 address", s);
		return false;
	}
	return true;
}

/* "a.b.c.d:port" */
bool cfg_endpoint(struct sg_parser *p, yaml_node_t *n, uint32_t *addr,
		  uint16_t *port)
{
	const char *s = cfg_scalar(p, n, "an IPv4 address:port");
	char buf[32], *colon, *end;
	unsigned long v;

	if (!s)
		return false;
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (!colon)
		goto bad;
	*colon = '\0';
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (!sg_parse_ipv4(buf, addr) || !isdigit((unsigned char)colon[1]) ||
	    *end || errno || v < 1 || v > 65535)
		goto bad;
	*port = v;
	return true;
bad:
	cfg_perr(p, n, "\"%s\" is not an IPv4 address:port", s);
	return false;
}

bool cfg_cidr(struct sg_parser *p, yaml_node_t *n, struct sg_cidr *c)
{
	const char *s = cfg_scalar(p, n, "an IPv4 CIDR");
	char buf[32], *slash, *end;
	unsigned long plen = 32;
	char fixed[16];

	if (!s)
		return false;
	c->pos = cfg_pos(p, n);
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]))
			goto bad;
		plen = strtoul(slash + 1, &end, 10);
		if (*end || plen > 32)
			goto bad;
	}
	if (!sg_parse_ipv4(buf, &c->addr))
		goto bad;
	c->plen = plen;
	if (c->addr & ~sg_cidr_mask(c->plen)) {
		cfg_perr(p, n, "\"%s\" has host bits set (the network is "
			 "%s/%u)", s,
			 sg_ipv4_str(c->addr & sg_cidr_mask(c->plen), fixed),
			 c->plen);
		return false;
	}
	return true;
bad:
	cfg_perr(p, n, "\"%s\" is not an IPv4 CIDR", s);
	return false;
}

bool cfg_proto(struct sg_parser *p, yaml_node_t *n, uint8_t *proto)
{
	static const struct { const char *name; uint8_t proto; } protos[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "icmp", IPPROTO_ICMP }, { "any", 0 },
	};
	const char *s = cfg_scalar(p, n, "tcp, udp, icmp or any");

	if (!s)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		if (!strcmp(s, protos[i].name)) {
			*proto = protos[i].proto;
			return true;
		}
	}
	cfg_perr(p, n, "\"%s\" is not tcp, udp, icmp or any", s);
	return false;
}

bool cfg_xdp_mode(struct sg_parser *p, yaml_node_t *n, enum sg_xdp_mode *mode)
{
	static const char *const modes[] = {
		[SG_XDP_AUTO] = "auto", [SG_XDP_ON] = "on", [SG_XDP_OFF] = "off",
	};
	const char *s = cfg_scalar(p, n, "auto, on or off");

	if (!s)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		if (!strcmp(s, modes[i])) {
			*mode = i;
			return true;
		}
	}
	cfg_perr(p, n, "\"%s\" is not auto, on or off", s);
	return false;
}

/* A port "22" or a range "8000-8100" (lo <= hi, both 1-65535). */
bool cfg_port_range(struct sg_parser *p, yaml_node_t *n,
		    struct sg_port_range *r)
{
	const char *s = cfg_scalar(p, n, "a port or a port range");
	unsigned long lo, hi;
	char *end;

	if (!s)
		return false;
	if (!isdigit((unsigned char)s[0]))
		goto bad;
	lo = hi = strtoul(s, &end, 10);
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			goto bad;
		hi = strtoul(end + 1, &end, 10);
	}
	if (*end)
		goto bad;
	if (lo < 1 || hi > 65535 || lo > 65535) {
		cfg_perr(p, n, "\"%s\" is outside the ports 1-65535", s);
		return false;
	}
	if (lo > hi) {
		cfg_perr(p, n, "\"%s\" is an empty (reversed) port range", s);
		return false;
	}
	r->lo = lo;
	r->hi = hi;
	return true;
bad:
	cfg_perr(p, n, "\"%s\" is not a port or a port range", s);
	return false;
}

bool cfg_ifname(struct sg_parser *p, yaml_node_t *n, struct sg_name *out)
{
	const char *s = cfg_scalar(p, n, "an interface name");
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (!len || len > 15 || strpbrk(s, "/: \t") || !strcmp(s, ".") ||
	    !strcmp(s, "..")) {
		cfg_perr(p, n, "\"%s\" is not an interface name (1-15 "
			 "characters, no '/', ':' or spaces)", s);
		return false;
	}
	out->name = sg_strdup(s);
	out->pos = cfg_pos(p, n);
	return true;
}

/* ---- structure -------------------------------------------------------- */

/*
 * Each key of mapping n, parsed into obj by its entry of fields (a table
 * that ends with a NULL key). Unknown keys, keys given twice or without a
 * value and required keys left out are errors; keys not enforced yet are
 * parsed all the same, then refused.
 */
void cfg_mapping(struct sg_parser *p, yaml_node_t *n,
		 const struct sg_field *fields, void *obj)
{
	bool seen[16] = { false };
	yaml_node_pair_t *pair;
	int i;

	if (n->type != YAML_MAPPING_NODE) {
		cfg_perr(p, n, "expected a mapping of keys to values");
		return;
	}
	for (pair = n->data.mapping.pairs.start;
	     pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = node_at(p, pair->key);
		yaml_node_t *val = node_at(p, pair->value);
		const char *k = cfg_scalar(p, key, "a key");
		size_t old;

		if (p->spent > SG_PARSE_BUDGET)
			return;
		if (!k)
			continue;
		for (i = 0; fields[i].key; i++)
			if (!strcmp(fields[i].key, k))
				break;
		old = path_key(p, k);
		if (!fields[i].key)
			cfg_perr(p, key, "unknown key \"%s\"", k);
		else if (seen[i])
			cfg_perr(p, key, "\"%s\" is given twice", k);
		else if (val->type == YAML_SCALAR_NODE &&
			 val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			 (!val->data.scalar.length ||
			  !strcmp((char *)val->data.scalar.value, "null") ||
			  !strcmp((char *)val->data.scalar.value, "~")))
			cfg_perr(p, val, "has no value");
		else
			fields[i].parse(p, val, obj);
		if (fields[i].key && fields[i].unsupported)
			cfg_unsupported(p, key);
		if (fields[i].key)
			seen[i] = true;
		path_pop(p, old);
	}
	for (i = 0; fields[i].key; i++) {
		if (fields[i].required && !seen[i]) {
			size_t old = path_key(p, fields[i].key);

			cfg_perr(p, n, "is required");
			path_pop(p, old);
		}
	}
}

/*
 * Parse each element of a list with parse_item(p, item, array + i * size).
 * The array grows as needed; *count is the number of elements.
 */
void cfg_list(struct sg_parser *p, yaml_node_t *n, void **array,
	      int *count, size_t size,
	      void (*parse_item)(struct sg_parser *, yaml_node_t *, void *))
{
	yaml_node_item_t *item;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_perr(p, n, "expected a list");
		return;
	}
	for (item = n->data.sequence.items.start;
	     item < n->data.sequence.items.top; item++) {
		size_t old;

		if (!charge(p, n, 1))
			return;
		old = path_index(p, *count);
		*array = sg_grow(*array, *count, size);
		parse_item(p, node_at(p, *item), (char *)*array + *count * size);
		(*count)++;
		path_pop(p, old);
	}
}
