// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sector definitions: YAML (libyaml's document API) to struct sg_model.
 *
 * Every error names FILE:LINE:COLUMN, the field path as the user wrote it
 * ("sectors[1].cidrs[0]") and what is wrong. Parsing goes on after an error
 * so that one `check` reports every problem; the model is only used when
 * there were none. Unknown keys are errors, never ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "util.h"

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
};

struct sg_field {
	const char *key;
	void (*parse)(struct sg_parser *p, yaml_node_t *val, void *obj);
	bool required;
	bool unsupported;	/* parsed, then refused: "not supported yet" */
};

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
static struct sg_pos pos_here(struct sg_parser *p, const yaml_node_t *n)
{
	struct sg_pos pos = pos_of(n);

	pos.path = sg_model_path(p->m, p->path);
	return pos;
}

/* "FILE:LINE:COL: PATH[.SUFFIX]: message"; no field at the root. */
static void verr_at(struct sg_parser *p, struct sg_pos pos, const char *suffix,
		    const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (pos.path && *pos.path)
		sg_diag_add(p->diags, "%s:%d:%d: %s%s%s: %s", p->file, pos.line,
			    pos.col, pos.path, suffix ? "." : "",
			    suffix ? suffix : "", msg);
	else
		sg_diag_add(p->diags, "%s:%d:%d: %s", p->file, pos.line,
			    pos.col, msg);
}

/* An error about node n, at the current field path. */
__attribute__((format(printf, 3, 4)))
static void perr(struct sg_parser *p, const yaml_node_t *n, const char *fmt, ...)
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
__attribute__((format(printf, 4, 5)))
static void verr(struct sg_parser *p, struct sg_pos pos, const char *suffix,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(p, pos, suffix, fmt, ap);
	va_end(ap);
}

/* The node at the current field path uses what is not enforced yet. */
static void unsupported(struct sg_parser *p, const yaml_node_t *n)
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

/* ---- scalars ---------------------------------------------------------- */

static const char *scalar(struct sg_parser *p, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		perr(p, n, "expected %s, not a %s", what,
		     n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static bool parse_bool(struct sg_parser *p, yaml_node_t *n, bool *out)
{
	const char *s = scalar(p, n, "true or false");

	if (!s)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "false")) {
		*out = s[0] == 't';
		return true;
	}
	perr(p, n, "\"%s\" is not true or false", s);
	return false;
}

static bool parse_uint(struct sg_parser *p, yaml_node_t *n, uint32_t min,
		       uint32_t max, uint32_t *out)
{
	const char *s = scalar(p, n, "a number");
	unsigned long long v = 0;

	if (!s)
		return false;
	for (const char *c = s; ; c++) {
		if (!*c && c != s)
			break;
		if (!isdigit((unsigned char)*c) || v > UINT32_MAX) {
			perr(p, n, "\"%s\" is not a number", s);
			return false;
		}
		v = v * 10 + (*c - '0');
	}
	if (v < min || v > max) {
		perr(p, n, "%s is out of range %u-%u", s, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool parse_addr(struct sg_parser *p, yaml_node_t *n, uint32_t *out)
{
	const char *s = scalar(p, n, "an IPv4 address");

	if (!s)
		return false;
	if (!sg_parse_ipv4(s, out)) {
		perr(p, n, "\"%s\" is not an IPv4 address", s);
		return false;
	}
	return true;
}

/* "a.b.c.d:port" */
static bool parse_endpoint(struct sg_parser *p, yaml_node_t *n, uint32_t *addr,
			   uint16_t *port)
{
	const char *s = scalar(p, n, "an IPv4 address:port");
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
	perr(p, n, "\"%s\" is not an IPv4 address:port", s);
	return false;
}

static bool parse_cidr(struct sg_parser *p, yaml_node_t *n, struct sg_cidr *c)
{
	const char *s = scalar(p, n, "an IPv4 CIDR");
	char buf[32], *slash, *end;
	unsigned long plen = 32;
	char fixed[16];

	if (!s)
		return false;
	c->pos = pos_here(p, n);
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
		perr(p, n, "\"%s\" has host bits set (the network is %s/%u)",
		     s, sg_ipv4_str(c->addr & sg_cidr_mask(c->plen), fixed),
		     c->plen);
		return false;
	}
	return true;
bad:
	perr(p, n, "\"%s\" is not an IPv4 CIDR", s);
	return false;
}

static bool parse_proto(struct sg_parser *p, yaml_node_t *n, uint8_t *proto)
{
	static const struct { const char *name; uint8_t proto; } protos[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "icmp", IPPROTO_ICMP }, { "any", 0 },
	};
	const char *s = scalar(p, n, "tcp, udp, icmp or any");

	if (!s)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		if (!strcmp(s, protos[i].name)) {
			*proto = protos[i].proto;
			return true;
		}
	}
	perr(p, n, "\"%s\" is not tcp, udp, icmp or any", s);
	return false;
}

/* A port "22" or a range "8000-8100" (lo <= hi, both 1-65535). */
static bool parse_port_range(struct sg_parser *p, yaml_node_t *n,
			     struct sg_port_range *r)
{
	const char *s = scalar(p, n, "a port or a port range");
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
		perr(p, n, "\"%s\" is outside the ports 1-65535", s);
		return false;
	}
	if (lo > hi) {
		perr(p, n, "\"%s\" is an empty (reversed) port range", s);
		return false;
	}
	r->lo = lo;
	r->hi = hi;
	return true;
bad:
	perr(p, n, "\"%s\" is not a port or a port range", s);
	return false;
}

static bool parse_ifname(struct sg_parser *p, yaml_node_t *n, struct sg_name *out)
{
	const char *s = scalar(p, n, "an interface name");
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (!len || len > 15 || strpbrk(s, "/: \t") || !strcmp(s, ".") ||
	    !strcmp(s, "..")) {
		perr(p, n, "\"%s\" is not an interface name (1-15 characters, "
		     "no '/', ':' or spaces)", s);
		return false;
	}
	out->name = sg_strdup(s);
	out->pos = pos_here(p, n);
	return true;
}

/* ---- structure -------------------------------------------------------- */

static void parse_mapping(struct sg_parser *p, yaml_node_t *n,
			  const struct sg_field *fields, void *obj)
{
	bool seen[16] = { false };
	yaml_node_pair_t *pair;
	int i;

	if (n->type != YAML_MAPPING_NODE) {
		perr(p, n, "expected a mapping of keys to values");
		return;
	}
	for (pair = n->data.mapping.pairs.start;
	     pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = node_at(p, pair->key);
		yaml_node_t *val = node_at(p, pair->value);
		const char *k = scalar(p, key, "a key");
		size_t old;

		if (!k)
			continue;
		for (i = 0; fields[i].key; i++)
			if (!strcmp(fields[i].key, k))
				break;
		old = path_key(p, k);
		if (!fields[i].key)
			perr(p, key, "unknown key \"%s\"", k);
		else if (seen[i])
			perr(p, key, "\"%s\" is given twice", k);
		else if (val->type == YAML_SCALAR_NODE &&
			 val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			 (!val->data.scalar.length ||
			  !strcmp((char *)val->data.scalar.value, "null") ||
			  !strcmp((char *)val->data.scalar.value, "~")))
			perr(p, val, "has no value");
		else
			fields[i].parse(p, val, obj);
		if (fields[i].key && fields[i].unsupported)
			unsupported(p, key);
		if (fields[i].key)
			seen[i] = true;
		path_pop(p, old);
	}
	for (i = 0; fields[i].key; i++) {
		if (fields[i].required && !seen[i]) {
			size_t old = path_key(p, fields[i].key);

			perr(p, n, "is required");
			path_pop(p, old);
		}
	}
}

/*
 * Parse each element of a list with parse_item(p, item, array + i * size).
 * The array grows as needed; *count is the number of elements.
 */
static void parse_list(struct sg_parser *p, yaml_node_t *n, void **array,
		       int *count, size_t size,
		       void (*parse_item)(struct sg_parser *, yaml_node_t *, void *))
{
	yaml_node_item_t *item;

	if (n->type != YAML_SEQUENCE_NODE) {
		perr(p, n, "expected a list");
		return;
	}
	for (item = n->data.sequence.items.start;
	     item < n->data.sequence.items.top; item++) {
		size_t old = path_index(p, *count);

		*array = sg_grow(*array, *count, size);
		parse_item(p, node_at(p, *item), (char *)*array + *count * size);
		(*count)++;
		path_pop(p, old);
	}
}

#define PARSE_LIST(p, n, arr, cnt, fn) \
	parse_list(p, n, (void **)&(arr), &(cnt), sizeof(*(arr)), fn)

static void item_cidr(struct sg_parser *p, yaml_node_t *n, void *out)
{
	parse_cidr(p, n, out);
}

static void item_ifname(struct sg_parser *p, yaml_node_t *n, void *out)
{
	parse_ifname(p, n, out);
}

static void item_port_range(struct sg_parser *p, yaml_node_t *n, void *out)
{
	parse_port_range(p, n, out);
}

/* ---- host ------------------------------------------------------------- */

static void f_uplink_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_uplink_def *u = obj;
	struct sg_name name;

	if (parse_ifname(p, n, &name))
		u->iface = name.name;
}

static void f_uplink_snat(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_uplink_def *u = obj;

	u->snat_given = parse_addr(p, n, &u->snat_addr);
}

static void item_uplink(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "interface", f_uplink_iface, true, false },
		{ "snat-address", f_uplink_snat, false, false },
		{ NULL },
	};
	struct sg_uplink_def *u = obj;

	u->pos = pos_here(p, n);
	parse_mapping(p, n, fields, obj);
}

static void f_uplinks(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	PARSE_LIST(p, n, m->uplinks, m->nuplinks, item_uplink);
	if (n->type == YAML_SEQUENCE_NODE && !m->nuplinks)
		perr(p, n, "needs at least one uplink");
}

static void f_nat_ports(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;
	struct sg_port_range r;

	if (parse_port_range(p, n, &r)) {
		m->nat_port_lo = r.lo;
		m->nat_port_hi = r.hi;
	}
}

static void f_protected(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	PARSE_LIST(p, n, m->protected_nets, m->nprotected, item_cidr);
}

static void f_trusted_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	parse_ifname(p, n, obj);
}

static void item_trusted(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "interface", f_trusted_iface, true, false },
		{ NULL },
	};

	parse_mapping(p, n, fields, obj);
}

static void f_trusted(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	PARSE_LIST(p, n, m->trusted, m->ntrusted, item_trusted);
}

struct sg_imds_parse {
	struct sg_model *m;
	bool target_given;
};

static void f_imds_address(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_imds_parse *ip = obj;

	ip->m->imds_pos = pos_here(p, n);
	parse_addr(p, n, &ip->m->imds_addr);
}

static void f_imds_port(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_imds_parse *ip = obj;
	uint32_t v;

	if (parse_uint(p, n, 1, 65535, &v))
		ip->m->imds_port = v;
}

static void f_imds_target(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_imds_parse *ip = obj;

	ip->target_given = parse_endpoint(p, n, &ip->m->imds_target_addr,
					  &ip->m->imds_target_port);
}

static void f_imds(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "address", f_imds_address, false, false },
		{ "port", f_imds_port, false, false },
		{ "target", f_imds_target, false, false },
		{ NULL },
	};
	struct sg_imds_parse ip = { .m = obj };

	parse_mapping(p, n, fields, &ip);
	if (!ip.target_given) {
		ip.m->imds_target_addr = ip.m->imds_addr;
		ip.m->imds_target_port = ip.m->imds_port;
	}
}

static void f_max_flows(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	parse_uint(p, n, 16, 1U << 24, &((struct sg_model *)obj)->max_flows);
}

#define TIMEOUT_FIELD(fn, member)					\
static void fn(struct sg_parser *p, yaml_node_t *n, void *obj)		\
{									\
	parse_uint(p, n, 1, 30 * 86400, &((struct sg_model *)obj)->member); \
}
TIMEOUT_FIELD(f_timeout_tcp_est, timeout_tcp_established)
TIMEOUT_FIELD(f_timeout_tcp_trans, timeout_tcp_transitory)
TIMEOUT_FIELD(f_timeout_udp, timeout_udp)
TIMEOUT_FIELD(f_timeout_icmp, timeout_icmp)

static void f_timeouts(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "tcp-established", f_timeout_tcp_est, false, false },
		{ "tcp-transitory", f_timeout_tcp_trans, false, false },
		{ "udp", f_timeout_udp, false, false },
		{ "icmp", f_timeout_icmp, false, false },
		{ NULL },
	};

	parse_mapping(p, n, fields, obj);
}

static void f_max_flows_per_sector(struct sg_parser *p, yaml_node_t *n,
				   void *obj)
{
	uint32_t v;

	parse_uint(p, n, 1, 1U << 24, &v);
}

static void f_conntrack(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "max-flows", f_max_flows, false, false },
		{ "max-flows-per-sector", f_max_flows_per_sector, false, true },
		{ "timeouts", f_timeouts, false, false },
		{ NULL },
	};

	parse_mapping(p, n, fields, obj);
}

static void f_host(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "uplinks", f_uplinks, true, false },
		{ "nat-ports", f_nat_ports, false, false },
		{ "protected", f_protected, false, false },
		{ "trusted", f_trusted, false, false },
		{ "imds", f_imds, false, false },
		{ "conntrack", f_conntrack, false, false },
		{ NULL },
	};

	parse_mapping(p, n, fields, obj);
}

/* ---- sectors ---------------------------------------------------------- */

static void f_sector_name(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;
	const char *v = scalar(p, n, "a sector name");
	size_t len;

	if (!v)
		return;
	len = strlen(v);
	s->name_pos = pos_here(p, n);
	if (!len || len >= SG_NAME_LEN || strspn(v, "abcdefghijklmnopqrstuvwxyz"
						   "0123456789-") != len) {
		perr(p, n, "\"%s\" is not a sector name ([a-z0-9-]{1,15})", v);
		return;
	}
	memcpy(s->name, v, len + 1);
}

static void f_sector_id(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;
	uint32_t v;

	s->id_pos = pos_here(p, n);
	if (parse_uint(p, n, 1, 65535, &v)) {
		s->id = v;
		s->id_given = true;
	}
}

static void f_sector_cidrs(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	PARSE_LIST(p, n, s->cidrs, s->ncidrs, item_cidr);
	if (n->type == YAML_SEQUENCE_NODE && !s->ncidrs)
		perr(p, n, "needs at least one CIDR");
}

static void f_sector_ifaces(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	PARSE_LIST(p, n, s->ifaces, s->nifaces, item_ifname);
	if (n->type == YAML_SEQUENCE_NODE && !s->nifaces)
		perr(p, n, "needs at least one interface");
}

static void f_sector_internet(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	parse_bool(p, n, &((struct sg_sector_def *)obj)->internet);
}

/* imds: false is enforced (imds-denied); the rewrite is not there yet. */
static void f_sector_imds(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	if (parse_bool(p, n, &s->imds) && s->imds)
		unsupported(p, n);
}

static void item_source(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_source_def *src = obj;
	const char *s = scalar(p, n, "a trusted interface or a CIDR");

	if (!s)
		return;
	src->pos = pos_here(p, n);
	if (isdigit((unsigned char)s[0])) {
		parse_cidr(p, n, &src->cidr);
		return;
	}
	/* Checked against host.trusted once everything is parsed. */
	src->iface = sg_strdup(s);
}

static void f_sector_allow_from(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	PARSE_LIST(p, n, s->allow_from, s->nallow_from, item_source);
}

static void f_allow_sector(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_allow_def *a = obj;
	const char *s = scalar(p, n, "a sector name");

	if (s) {
		a->sector = sg_strdup(s);
		a->sector_pos = pos_here(p, n);
	}
}

static void f_allow_proto(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	parse_proto(p, n, &((struct sg_allow_def *)obj)->proto);
}

static void f_allow_ports(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_allow_def *a = obj;

	PARSE_LIST(p, n, a->ports, a->nports, item_port_range);
}

static void item_allow(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "sector", f_allow_sector, true, false },
		{ "proto", f_allow_proto, false, false },
		{ "ports", f_allow_ports, false, false },
		{ NULL },
	};
	struct sg_allow_def *a = obj;

	a->pos = pos_here(p, n);
	a->target = -1;
	parse_mapping(p, n, fields, obj);
	if (a->nports && a->proto == IPPROTO_ICMP)
		perr(p, n, "icmp has no ports");
}

static void f_sector_allow(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	PARSE_LIST(p, n, s->allow, s->nallow, item_allow);
}

static void f_forward_proto(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_forward_def *f = obj;

	if (parse_proto(p, n, &f->proto) &&
	    f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		perr(p, n, "a forward is tcp or udp");
}

static void f_forward_port(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	uint32_t v;

	if (parse_uint(p, n, 1, 65535, &v))
		((struct sg_forward_def *)obj)->port = v;
}

static void f_forward_to(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_forward_def *f = obj;

	f->to_pos = pos_here(p, n);
	parse_endpoint(p, n, &f->to_addr, &f->to_port);
}

static void item_forward(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "proto", f_forward_proto, true, false },
		{ "port", f_forward_port, true, false },
		{ "to", f_forward_to, true, false },
		{ NULL },
	};

	((struct sg_forward_def *)obj)->pos = pos_here(p, n);
	parse_mapping(p, n, fields, obj);
}

static void f_sector_forwards(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	PARSE_LIST(p, n, s->forwards, s->nforwards, item_forward);
}

static void f_egress_dests(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	PARSE_LIST(p, n, e->dests, e->ndests, item_cidr);
}

static void f_egress_except(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	PARSE_LIST(p, n, e->except, e->nexcept, item_cidr);
}

static void f_egress_proto(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	parse_proto(p, n, &((struct sg_egress_def *)obj)->proto);
}

static void f_egress_ports(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	PARSE_LIST(p, n, e->ports, e->nports, item_port_range);
}

static void item_egress_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_name name;

	if (parse_ifname(p, n, &name))
		*(char **)obj = name.name;
}

/* One device, or a list: the first that is up takes new flows. */
static void f_egress_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	if (n->type == YAML_SCALAR_NODE) {
		e->ifaces = sg_grow(NULL, 0, sizeof(*e->ifaces));
		item_egress_iface(p, n, &e->ifaces[0]);
		e->nifaces = 1;
		return;
	}
	PARSE_LIST(p, n, e->ifaces, e->nifaces, item_egress_iface);
}

static void f_egress_snat(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;
	const char *s = scalar(p, n, "an IPv4 address or none");

	if (!s)
		return;
	if (!strcmp(s, "none")) {
		e->snat_mode = SG_SNAT_NONE;
		return;
	}
	if (parse_addr(p, n, &e->snat_addr))
		e->snat_mode = SG_SNAT_ADDRESS;
}

static void item_egress(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "destinations", f_egress_dests, true, false },
		{ "except", f_egress_except, false, false },
		{ "proto", f_egress_proto, false, false },
		{ "ports", f_egress_ports, false, false },
		{ "interface", f_egress_iface, true, false },
		{ "snat-address", f_egress_snat, false, false },
		{ NULL },
	};
	struct sg_egress_def *e = obj;

	e->pos = pos_here(p, n);
	parse_mapping(p, n, fields, obj);
	if (e->nports && e->proto == IPPROTO_ICMP)
		perr(p, n, "icmp has no ports");
}

static void f_sector_egress(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	PARSE_LIST(p, n, s->egress, s->negress, item_egress);
}

static void item_sector(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "name", f_sector_name, true, false },
		{ "id", f_sector_id, false, false },
		{ "cidrs", f_sector_cidrs, true, false },
		{ "interfaces", f_sector_ifaces, true, false },
		{ "internet", f_sector_internet, false, false },
		{ "imds", f_sector_imds, false, false },
		{ "allow-from", f_sector_allow_from, false, true },
		{ "allow", f_sector_allow, false, false },
		{ "forwards", f_sector_forwards, false, true },
		{ "egress", f_sector_egress, false, true },
		{ NULL },
	};
	struct sg_sector_def *s = obj;

	s->pos = pos_here(p, n);
	s->internet = true;
	parse_mapping(p, n, fields, obj);
}

static void f_sectors(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	PARSE_LIST(p, n, m->sectors, m->nsectors, item_sector);
	if (m->nsectors > SG_MAX_SECTORS)
		perr(p, n, "%d sectors; at most %d are supported", m->nsectors,
		     SG_MAX_SECTORS);
}

static void f_version(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	uint32_t v;

	if (parse_uint(p, n, 0, UINT32_MAX, &v)) {
		if (v != 1)
			perr(p, n, "version %u is not supported (only 1)", v);
		((struct sg_model *)obj)->version = v;
	}
}

static void parse_root(struct sg_parser *p, yaml_node_t *root)
{
	static const struct sg_field fields[] = {
		{ "version", f_version, true, false },
		{ "host", f_host, true, false },
		{ "sectors", f_sectors, true, false },
		{ NULL },
	};

	parse_mapping(p, root, fields, p->m);
}

/* ---- cross-checks ----------------------------------------------------- */

static int find_sector(const struct sg_model *m, const char *name)
{
	for (int i = 0; i < m->nsectors; i++)
		if (!strcmp(m->sectors[i].name, name))
			return i;
	return -1;
}

static bool is_trusted(const struct sg_model *m, const char *iface)
{
	for (int i = 0; i < m->ntrusted; i++)
		if (m->trusted[i].name && !strcmp(m->trusted[i].name, iface))
			return true;
	return false;
}

static bool sectors_overlap(const struct sg_sector_def *a,
			    const struct sg_sector_def *b)
{
	for (int i = 0; i < a->ncidrs; i++)
		for (int j = 0; j < b->ncidrs; j++)
			if (sg_cidr_overlap(&a->cidrs[i], &b->cidrs[j]))
				return true;
	return false;
}

/* Index of another sector whose CIDRs overlap sector i's, or -1. */
static int overlapping_sector(const struct sg_model *m, int i)
{
	for (int j = 0; j < m->nsectors; j++)
		if (j != i && sectors_overlap(&m->sectors[i], &m->sectors[j]))
			return j;
	return -1;
}

static bool sector_contains(const struct sg_sector_def *s, uint32_t addr)
{
	for (int i = 0; i < s->ncidrs; i++)
		if (sg_cidr_contains(&s->cidrs[i], addr))
			return true;
	return false;
}

/*
 * The length of the path of the list item that a field lies in:
 * host.trusted[0] for host.trusted[0].interface. Messages name another
 * element by its item.
 */
static int item_len(const char *path)
{
	const char *end = strrchr(path, ']');

	return end ? end + 1 - path : (int)strlen(path);
}

/* Where a device name is listed before self, for "listed twice". */
static const struct sg_pos *device_owner(const struct sg_model *m,
					 const char *name,
					 const struct sg_name *self)
{
	for (int i = 0; i < m->nuplinks; i++)
		if (m->uplinks[i].iface && !strcmp(m->uplinks[i].iface, name))
			return &m->uplinks[i].pos;
	for (int i = 0; i < m->ntrusted; i++)
		if (m->trusted[i].name && !strcmp(m->trusted[i].name, name))
			return &m->trusted[i].pos;
	for (int i = 0; i < m->nsectors; i++) {
		for (int j = 0; j < m->sectors[i].nifaces; j++) {
			const struct sg_name *n = &m->sectors[i].ifaces[j];

			if (n == self)
				return NULL;	/* only earlier ones count */
			if (n->name && !strcmp(n->name, name))
				return &n->pos;
		}
	}
	return NULL;
}

static void check_host(struct sg_parser *p)
{
	struct sg_model *m = p->m;

	for (int i = 0; i < m->nuplinks; i++) {
		const struct sg_uplink_def *u = &m->uplinks[i];

		for (int j = 0; j < i; j++) {
			if (u->iface && m->uplinks[j].iface &&
			    !strcmp(u->iface, m->uplinks[j].iface))
				verr(p, u->pos, "interface",
				     "\"%s\" is already %s", u->iface,
				     m->uplinks[j].pos.path);
		}
	}
	for (int i = 0; i < m->ntrusted; i++) {
		const struct sg_name *t = &m->trusted[i];

		if (!t->name)
			continue;
		for (int j = 0; j < m->nuplinks; j++) {
			if (m->uplinks[j].iface &&
			    !strcmp(m->uplinks[j].iface, t->name))
				verr(p, t->pos, NULL,
				     "\"%s\" is already an uplink", t->name);
		}
		for (int j = 0; j < i; j++) {
			const struct sg_name *o = &m->trusted[j];

			if (o->name && !strcmp(o->name, t->name))
				verr(p, t->pos, NULL, "\"%s\" is already %.*s",
				     o->name, item_len(o->pos.path),
				     o->pos.path);
		}
	}
	for (int s = 0; s < m->nsectors; s++) {
		char a[16];

		if (!sector_contains(&m->sectors[s], m->imds_addr))
			continue;
		verr(p, m->imds_pos, NULL, "%s lies in the CIDRs of sector "
		     "\"%s\"", sg_ipv4_str(m->imds_addr, a),
		     m->sectors[s].name);
	}
	for (int i = 0; i < m->nprotected; i++) {
		for (int s = 0; s < m->nsectors; s++) {
			const struct sg_sector_def *sec = &m->sectors[s];

			for (int c = 0; c < sec->ncidrs; c++) {
				if (!sg_cidr_overlap(&m->protected_nets[i],
						     &sec->cidrs[c]))
					continue;
				verr(p, m->protected_nets[i].pos, NULL,
				     "overlaps %s of sector \"%s\"",
				     sec->cidrs[c].pos.path, sec->name);
			}
		}
	}
}

static void check_sector_identity(struct sg_parser *p, int i)
{
	struct sg_sector_def *s = &p->m->sectors[i];

	if (!s->id_given)
		s->id = i + 1;
	for (int j = 0; j < i; j++) {
		const struct sg_sector_def *o = &p->m->sectors[j];

		if (s->name[0] && !strcmp(s->name, o->name))
			verr(p, s->name_pos, NULL,
			     "\"%s\" is already the name of %s", s->name,
			     o->pos.path);
		/* A default id is reported at the sector, as its id. */
		if (s->id == o->id)
			verr(p, s->id_given ? s->id_pos : s->pos,
			     s->id_given ? NULL : "id",
			     "%u is already the id of %s (\"%s\")%s", s->id,
			     o->pos.path, o->name,
			     s->id_given ? "" : "; ids default to the position");
	}
	for (int k = 0; k < s->nifaces; k++) {
		const struct sg_name *n = &s->ifaces[k];
		const struct sg_pos *owner;

		if (!n->name)
			continue;
		owner = device_owner(p->m, n->name, n);
		if (owner)
			verr(p, n->pos, NULL,
			     "\"%s\" is already listed as %.*s", n->name,
			     item_len(owner->path), owner->path);
	}
}

static void check_sector_refs(struct sg_parser *p, int i)
{
	struct sg_model *m = p->m;
	struct sg_sector_def *s = &m->sectors[i];

	for (int k = 0; k < s->nallow; k++) {
		struct sg_allow_def *a = &s->allow[k];
		int nrules = 0, overlap;

		if (!a->sector)
			continue;
		a->target = find_sector(m, a->sector);
		if (a->target < 0) {
			verr(p, a->sector_pos, NULL,
			     "there is no sector \"%s\"", a->sector);
			continue;
		}
		if (a->target == i) {
			verr(p, a->sector_pos, NULL,
			     "\"%s\" is this sector itself", a->sector);
			continue;
		}
		overlap = overlapping_sector(m, a->target);
		if (overlap >= 0)
			verr(p, a->sector_pos, NULL,
			     "the CIDRs of \"%s\" overlap those of \"%s\", so "
			     "its addresses are ambiguous", a->sector,
			     m->sectors[overlap].name);
		for (int r = 0; r < s->nallow; r++)
			if (s->allow[r].target == a->target)
				nrules += s->allow[r].nports ?
					  s->allow[r].nports : 1;
		if (nrules > SG_MAX_ALLOW_RULES)
			verr(p, a->pos, NULL, "more than %d rules (ports) "
			     "towards sector \"%s\"", SG_MAX_ALLOW_RULES,
			     a->sector);
	}
	for (int k = 0; k < s->nallow_from; k++) {
		struct sg_source_def *src = &s->allow_from[k];

		if (src->iface && !is_trusted(m, src->iface))
			verr(p, src->pos, NULL, "\"%s\" is neither a "
			     "host.trusted interface nor a CIDR", src->iface);
	}
	for (int k = 0; k < s->nforwards; k++) {
		struct sg_forward_def *f = &s->forwards[k];

		if (f->to_addr && !sector_contains(s, f->to_addr)) {
			char a[16];

			verr(p, f->to_pos, NULL, "%s is not inside the CIDRs "
			     "of sector \"%s\"", sg_ipv4_str(f->to_addr, a),
			     s->name);
		}
		for (int o = 0; o <= i; o++) {
			const struct sg_sector_def *os = &m->sectors[o];

			for (int j = 0; j < (o == i ? k : os->nforwards); j++) {
				if (os->forwards[j].proto != f->proto ||
				    os->forwards[j].port != f->port)
					continue;
				verr(p, f->pos, "port", "port %u is already "
				     "forwarded by %s", f->port,
				     os->forwards[j].pos.path);
			}
		}
	}
}

/* Two sectors that one trusted device may open connections into must not
 * overlap: the destination address would not say which one is meant. */
static void check_trusted_overlap(struct sg_parser *p)
{
	struct sg_model *m = p->m;

	for (int i = 0; i < m->nsectors; i++) {
		struct sg_sector_def *s = &m->sectors[i];

		for (int k = 0; k < s->nallow_from; k++) {
			const char *dev = s->allow_from[k].iface;

			/* Enough said: the rest would only be counted. */
			if (sg_diags_full(p->diags))
				return;
			if (!dev)
				continue;
			for (int j = 0; j < i; j++) {
				const struct sg_sector_def *o = &m->sectors[j];
				bool shares = false;

				for (int l = 0; l < o->nallow_from; l++)
					if (o->allow_from[l].iface &&
					    !strcmp(o->allow_from[l].iface, dev))
						shares = true;
				if (!shares || !sectors_overlap(s, o))
					continue;
				verr(p, s->allow_from[k].pos, NULL,
				     "\"%s\" also reaches sector \"%s\", whose "
				     "CIDRs overlap these", dev, o->name);
			}
		}
	}
}

/*
 * What the maps can hold (each holds two slots of these). Checked before
 * the cross-checks, which are quadratic: a file that YAML aliases blow up
 * to a million CIDRs is refused here, by `check` as by `apply`.
 */
static bool check_capacity(struct sg_parser *p)
{
	struct sg_model *m = p->m;
	int nets = 0, pairs = 0, devices = m->nuplinks + m->ntrusted;
	bool ok = true;

	for (int i = 0; i < m->nsectors; i++) {
		const struct sg_sector_def *s = &m->sectors[i];

		for (int k = 0; k < s->ncidrs; k++) {
			if (++nets != SG_MAX_NETS + 1)
				continue;
			verr(p, s->cidrs[k].pos, NULL, "more than %d sector "
			     "CIDRs in all; sg_sector_nets holds %d",
			     SG_MAX_NETS, SG_MAX_NETS);
			ok = false;
		}
		for (int k = 0; k < s->nifaces; k++) {
			if (++devices != SG_MAX_DEVICES + 1)
				continue;
			verr(p, s->ifaces[k].pos, NULL, "more than %d "
			     "devices in all; sg_devices holds %d",
			     SG_MAX_DEVICES, SG_MAX_DEVICES);
			ok = false;
		}
		/* Allow pairs: one per sector this one names (upper bound). */
		pairs += s->nallow;
	}
	/*
	 * These two are about a whole key, not one element of it: reported
	 * at its first element, if there is one, else at the file's start.
	 */
	if (nets + m->nprotected + 1 > SG_MAX_NETS) {
		struct sg_pos at = m->nprotected ? m->protected_nets[0].pos :
				   (struct sg_pos){ .line = 1, .col = 1 };

		at.path = "host.protected";
		verr(p, at, NULL, "%d destination networks (sector CIDRs, "
		     "protected, the metadata address); sg_dest_nets holds %d",
		     nets + m->nprotected + 1, SG_MAX_NETS);
		ok = false;
	}
	if (pairs > SG_MAX_ALLOW_PAIRS) {
		struct sg_pos at = { .line = 1, .col = 1, .path = "sectors" };

		verr(p, at, NULL, "%d allow entries in all; sg_allow holds %d "
		     "sector pairs", pairs, SG_MAX_ALLOW_PAIRS);
		ok = false;
	}
	return ok;
}

static void validate(struct sg_parser *p)
{
	if (!check_capacity(p))
		return;
	check_host(p);
	for (int i = 0; i < p->m->nsectors && !sg_diags_full(p->diags); i++)
		check_sector_identity(p, i);
	for (int i = 0; i < p->m->nsectors && !sg_diags_full(p->diags); i++)
		check_sector_refs(p, i);
	check_trusted_overlap(p);
}

/* ---- entry points ----------------------------------------------------- */

static void model_defaults(struct sg_model *m)
{
	/* Below Linux's ip_local_port_range (32768-60999), so the host's own
	 * connections and the masqueraded ones do not compete for ports. */
	m->nat_port_lo = 20000;
	m->nat_port_hi = 32767;
	m->imds_addr = 0xa9fea9fe;	/* 169.254.169.254 */
	m->imds_pos = (struct sg_pos){
		.line = 1, .col = 1, .path = "host.imds.address",
	};
	m->imds_port = 80;
	m->imds_target_addr = m->imds_addr;
	m->imds_target_port = m->imds_port;
	m->max_flows = SG_DEFAULT_MAX_FLOWS;
	m->timeout_tcp_established = 7440;
	m->timeout_tcp_transitory = 240;
	m->timeout_udp = 300;
	m->timeout_icmp = 60;
}

int sg_config_parse(const char *file, const char *text, size_t len,
		    struct sg_model *m, struct sg_diags *d)
{
	struct sg_parser p = { .file = file, .diags = d, .m = m };
	yaml_parser_t yp;
	yaml_node_t *root;
	int before = sg_diags_count(d);

	memset(m, 0, sizeof(*m));
	model_defaults(m);
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
		parse_root(&p, root);
	if (sg_diags_count(d) == before)
		validate(&p);
	for (int i = 0; i < p.unsupported.n; i++)
		sg_diag_add(d, "%s", p.unsupported.msgs[i]);
	d->dropped += p.unsupported.dropped;
	sg_diags_free(&p.unsupported);
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&yp);
	return sg_diags_count(d) == before ? 0 : -1;
}

int sg_config_load(const char *path, struct sg_model *m, struct sg_diags *d)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0, got;
	int ret;

	if (!f) {
		sg_diag_add(d, "%s: cannot open: %s", path, strerror(errno));
		memset(m, 0, sizeof(*m));
		return -1;
	}
	do {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			text = realloc(text, cap);
			if (!text)
				sg_oom();
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
	} while (got);
	fclose(f);
	ret = sg_config_parse(path, text, len, m, d);
	free(text);
	return ret;
}
