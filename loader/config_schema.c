// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The schema of the definitions, SPEC section 1: one table of keys per
 * mapping, saying which are required and which the datapath does not
 * enforce yet, and what each key's value becomes in struct sg_model.
 * The defaults of the keys that may be left out are at the end, in
 * cfg_model_defaults().
 */
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>

#include "config_parse.h"
#include "util.h"

/* Elements of lists of one scalar each. */
static void item_cidr(struct sg_parser *p, yaml_node_t *n, void *out)
{
	cfg_cidr(p, n, out);
}

static void item_ifname(struct sg_parser *p, yaml_node_t *n, void *out)
{
	cfg_ifname(p, n, out);
}

static void item_port_range(struct sg_parser *p, yaml_node_t *n, void *out)
{
	cfg_port_range(p, n, out);
}

/* ---- host ------------------------------------------------------------- */

static void f_uplink_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_uplink_def *u = obj;
	struct sg_name name;

	u->iface_pos = cfg_pos(p, n);
	if (cfg_ifname(p, n, &name))
		u->iface = name.name;
}

static void f_uplink_snat(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_uplink_def *u = obj;

	u->snat_given = cfg_addr(p, n, &u->snat_addr);
}

static void f_uplink_xdp(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_xdp_mode(p, n, &((struct sg_uplink_def *)obj)->xdp);
}

static void item_uplink(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "interface", f_uplink_iface, true, false },
		{ "snat-address", f_uplink_snat, false, false },
		{ "xdp", f_uplink_xdp, false, false },
		{ NULL },
	};
	struct sg_uplink_def *u = obj;

	u->pos = cfg_pos(p, n);
	cfg_mapping(p, n, fields, obj);
}

static void f_uplinks(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	CFG_LIST(p, n, m->uplinks, m->nuplinks, item_uplink);
	if (n->type == YAML_SEQUENCE_NODE && !m->nuplinks)
		cfg_perr(p, n, "needs at least one uplink");
}

static void f_nat_ports(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;
	struct sg_port_range r;

	if (cfg_port_range(p, n, &r)) {
		m->nat_port_lo = r.lo;
		m->nat_port_hi = r.hi;
	}
}

static void f_protected(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	CFG_LIST(p, n, m->protected_nets, m->nprotected, item_cidr);
}

static void f_trusted_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_ifname(p, n, obj);
}

static void item_trusted(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "interface", f_trusted_iface, true, false },
		{ NULL },
	};

	cfg_mapping(p, n, fields, obj);
}

static void f_trusted(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	CFG_LIST(p, n, m->trusted, m->ntrusted, item_trusted);
}

struct sg_imds_parse {
	struct sg_model *m;
	bool target_given;
};

static void f_imds_address(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_imds_parse *ip = obj;

	ip->m->imds_pos = cfg_pos(p, n);
	cfg_addr(p, n, &ip->m->imds_addr);
}

static void f_imds_port(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_imds_parse *ip = obj;
	uint32_t v;

	if (cfg_uint(p, n, 1, 65535, &v))
		ip->m->imds_port = v;
}

static void f_imds_target(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_imds_parse *ip = obj;

	ip->m->imds_target_pos = cfg_pos(p, n);
	ip->target_given = cfg_endpoint(p, n, &ip->m->imds_target_addr,
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

	cfg_mapping(p, n, fields, &ip);
	if (!ip.target_given) {
		ip.m->imds_target_addr = ip.m->imds_addr;
		ip.m->imds_target_pos = ip.m->imds_pos;
		ip.m->imds_target_port = ip.m->imds_port;
	}
}

static void f_max_flows(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_uint(p, n, 16, 1U << 24, &((struct sg_model *)obj)->max_flows);
}

#define TIMEOUT_FIELD(fn, member)					\
static void fn(struct sg_parser *p, yaml_node_t *n, void *obj)		\
{									\
	cfg_uint(p, n, 1, 30 * 86400, &((struct sg_model *)obj)->member); \
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

	cfg_mapping(p, n, fields, obj);
}

static void f_max_flows_per_sector(struct sg_parser *p, yaml_node_t *n,
				   void *obj)
{
	cfg_uint(p, n, 1, 1U << 24,
		 &((struct sg_model *)obj)->max_flows_per_sector);
}

static void f_conntrack(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "max-flows", f_max_flows, false, false },
		{ "max-flows-per-sector", f_max_flows_per_sector, false, false },
		{ "timeouts", f_timeouts, false, false },
		{ NULL },
	};

	cfg_mapping(p, n, fields, obj);
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

	cfg_mapping(p, n, fields, obj);
}

/* ---- sectors ---------------------------------------------------------- */

static void f_sector_name(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;
	const char *v = cfg_scalar(p, n, "a sector name");
	size_t len;

	if (!v)
		return;
	len = strlen(v);
	s->name_pos = cfg_pos(p, n);
	if (!len || len >= SG_NAME_LEN || strspn(v, "abcdefghijklmnopqrstuvwxyz"
						   "0123456789-") != len) {
		cfg_perr(p, n, "\"%s\" is not a sector name "
			 "([a-z0-9-]{1,15})", v);
		return;
	}
	memcpy(s->name, v, len + 1);
}

static void f_sector_id(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;
	uint32_t v;

	s->id_pos = cfg_pos(p, n);
	if (cfg_uint(p, n, 1, 65535, &v)) {
		s->id = v;
		s->id_given = true;
	}
}

static void f_sector_cidrs(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	CFG_LIST(p, n, s->cidrs, s->ncidrs, item_cidr);
	if (n->type == YAML_SEQUENCE_NODE && !s->ncidrs)
		cfg_perr(p, n, "needs at least one CIDR");
}

static void f_sector_ifaces(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	CFG_LIST(p, n, s->ifaces, s->nifaces, item_ifname);
	if (n->type == YAML_SEQUENCE_NODE && !s->nifaces)
		cfg_perr(p, n, "needs at least one interface");
}

static void f_sector_internet(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_bool(p, n, &((struct sg_sector_def *)obj)->internet);
}

static void f_sector_imds(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_bool(p, n, &((struct sg_sector_def *)obj)->imds);
}

static void f_sector_xdp(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	s->xdp_pos = cfg_pos(p, n);
	cfg_xdp_mode(p, n, &s->xdp);
}

static void item_source(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_source_def *src = obj;
	const char *s = cfg_scalar(p, n, "a trusted interface or a CIDR");

	if (!s)
		return;
	src->pos = cfg_pos(p, n);
	if (isdigit((unsigned char)s[0])) {
		cfg_cidr(p, n, &src->cidr);
		return;
	}
	/* Checked against host.trusted once everything is parsed. */
	src->iface = sg_strdup(s);
}

static void f_sector_allow_from(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	CFG_LIST(p, n, s->allow_from, s->nallow_from, item_source);
}

static void f_allow_sector(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_allow_def *a = obj;
	const char *s = cfg_scalar(p, n, "a sector name");

	if (s) {
		a->sector = sg_strdup(s);
		a->sector_pos = cfg_pos(p, n);
	}
}

static void f_allow_proto(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_proto(p, n, &((struct sg_allow_def *)obj)->proto);
}

static void f_allow_ports(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_allow_def *a = obj;

	CFG_LIST(p, n, a->ports, a->nports, item_port_range);
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

	a->pos = cfg_pos(p, n);
	a->target = -1;
	cfg_mapping(p, n, fields, obj);
	if (a->nports && a->proto == IPPROTO_ICMP)
		cfg_perr(p, n, "icmp has no ports");
}

static void f_sector_allow(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	CFG_LIST(p, n, s->allow, s->nallow, item_allow);
}

static void f_forward_proto(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_forward_def *f = obj;

	if (cfg_proto(p, n, &f->proto) &&
	    f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		cfg_perr(p, n, "a forward is tcp or udp");
}

static void f_forward_port(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	uint32_t v;

	if (cfg_uint(p, n, 1, 65535, &v))
		((struct sg_forward_def *)obj)->port = v;
}

static void f_forward_to(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_forward_def *f = obj;

	f->to_pos = cfg_pos(p, n);
	cfg_endpoint(p, n, &f->to_addr, &f->to_port);
}

static void item_forward(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	static const struct sg_field fields[] = {
		{ "proto", f_forward_proto, true, false },
		{ "port", f_forward_port, true, false },
		{ "to", f_forward_to, true, false },
		{ NULL },
	};

	((struct sg_forward_def *)obj)->pos = cfg_pos(p, n);
	cfg_mapping(p, n, fields, obj);
}

static void f_sector_forwards(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	CFG_LIST(p, n, s->forwards, s->nforwards, item_forward);
}

static void f_egress_dests(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	CFG_LIST(p, n, e->dests, e->ndests, item_cidr);
	if (n->type == YAML_SEQUENCE_NODE && !e->ndests)
		cfg_perr(p, n, "needs at least one CIDR");
}

static void f_egress_except(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	CFG_LIST(p, n, e->except, e->nexcept, item_cidr);
}

static void f_egress_proto(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	cfg_proto(p, n, &((struct sg_egress_def *)obj)->proto);
}

static void f_egress_ports(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	CFG_LIST(p, n, e->ports, e->nports, item_port_range);
}

static void item_egress_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_name name;

	if (!cfg_ifname(p, n, &name))
		return;
	*(char **)obj = name.name;
	/* One device, named: a steered flow stays on it. */
	if (sg_is_glob(name.name))
		cfg_perr(p, n, "\"%s\" is a pattern; egress names devices",
			 name.name);
}

/* One device, or a list: the first that is up takes new flows. */
static void f_egress_iface(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;

	e->iface_pos = cfg_pos(p, n);
	if (n->type == YAML_SCALAR_NODE) {
		e->ifaces = sg_grow(NULL, 0, sizeof(*e->ifaces));
		item_egress_iface(p, n, &e->ifaces[0]);
		e->nifaces = 1;
		return;
	}
	CFG_LIST(p, n, e->ifaces, e->nifaces, item_egress_iface);
	if (n->type == YAML_SEQUENCE_NODE && !e->nifaces)
		cfg_perr(p, n, "needs at least one interface");
}

static void f_egress_snat(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_egress_def *e = obj;
	const char *s = cfg_scalar(p, n, "an IPv4 address or none");

	e->snat_pos = cfg_pos(p, n);
	if (!s)
		return;
	if (!strcmp(s, "none")) {
		e->snat_mode = SG_SNAT_NONE;
		return;
	}
	if (!cfg_addr(p, n, &e->snat_addr))
		return;
	e->snat_mode = SG_SNAT_ADDRESS;
	if (!e->snat_addr)
		cfg_perr(p, n, "0.0.0.0 is no source address");
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

	e->pos = cfg_pos(p, n);
	cfg_mapping(p, n, fields, obj);
	if (e->nports && e->proto == IPPROTO_ICMP)
		cfg_perr(p, n, "icmp has no ports");
}

static void f_sector_egress(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_sector_def *s = obj;

	CFG_LIST(p, n, s->egress, s->negress, item_egress);
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
		{ "allow-from", f_sector_allow_from, false, false },
		{ "allow", f_sector_allow, false, false },
		{ "forwards", f_sector_forwards, false, false },
		{ "egress", f_sector_egress, false, false },
		{ "xdp", f_sector_xdp, false, false },
		{ NULL },
	};
	struct sg_sector_def *s = obj;

	s->pos = cfg_pos(p, n);
	s->internet = true;
	cfg_mapping(p, n, fields, obj);
}

static void f_sectors(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	struct sg_model *m = obj;

	CFG_LIST(p, n, m->sectors, m->nsectors, item_sector);
	if (m->nsectors > SG_MAX_SECTORS)
		cfg_perr(p, n, "%d sectors; at most %d are supported",
			 m->nsectors, SG_MAX_SECTORS);
}

static void f_version(struct sg_parser *p, yaml_node_t *n, void *obj)
{
	uint32_t v;

	if (cfg_uint(p, n, 0, UINT32_MAX, &v)) {
		if (v != 1)
			cfg_perr(p, n, "version %u is not supported "
				 "(only 1)", v);
		((struct sg_model *)obj)->version = v;
	}
}

void cfg_parse_root(struct sg_parser *p, yaml_node_t *root)
{
	static const struct sg_field fields[] = {
		{ "version", f_version, true, false },
		{ "host", f_host, true, false },
		{ "sectors", f_sectors, true, false },
		{ NULL },
	};

	cfg_mapping(p, root, fields, p->m);
}

void cfg_model_defaults(struct sg_model *m)
{
	/* Below Linux's ip_local_port_range (32768-60999), so the host's own
	 * connections and the masqueraded ones do not compete for ports. */
	m->nat_port_lo = 20000;
	m->nat_port_hi = 32767;
	m->imds_addr = 0xa9fea9fe;	/* 169.254.169.254 */
	/* A default address in a sector is the fault of the key left out. */
	m->imds_pos = (struct sg_pos){
		.line = 1, .col = 1, .path = "host.imds.address",
	};
	m->imds_port = 80;
	m->imds_target_addr = m->imds_addr;
	m->imds_target_port = m->imds_port;
	m->imds_target_pos = m->imds_pos;
	m->max_flows = SG_DEFAULT_MAX_FLOWS;
	m->timeout_tcp_established = 7440;
	m->timeout_tcp_transitory = 240;
	m->timeout_udp = 300;
	m->timeout_icmp = 60;
}
