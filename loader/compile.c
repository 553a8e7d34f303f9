// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "egress.h"
#include "util.h"

static void digest_add(uint64_t *h, const void *data, size_t len)
{
	*h = sg_fnv1a(*h, data, len);
}

/*
 * Each add_* builds the entry with slot 0, hashes it (so the digest does
 * not depend on the slot), then stamps the real slot into the key.
 */
#define ADD_ENTRY(c, arr, n, key, val)					\
	do {								\
		digest_add(&(c)->digest, &(key), sizeof(key));		\
		digest_add(&(c)->digest, &(val), sizeof(val));		\
		(arr) = sg_grow((arr), (n), sizeof(*(arr)));		\
		(arr)[(n)].k = (key);					\
		(arr)[(n)].v = (val);					\
		(n)++;							\
	} while (0)

/* Network byte order, as the packet carries it. */
static void put_addr(__u8 out[4], uint32_t addr)
{
	uint32_t be = htonl(addr);

	memcpy(out, &be, 4);
}

static void add_device(struct sg_compiled *c, const struct sg_netdev *dev,
		       uint8_t role, uint16_t sector, uint32_t snat,
		       uint8_t flags)
{
	struct sg_device_key k = { .ifindex = dev->ifindex };
	struct sg_device v = { .sector = sector, .role = role,
			       .flags = flags |
					(dev->xdp_xmit ? SG_DEV_XDP_XMIT : 0) |
					(dev->l3 ? SG_DEV_L3 : 0) };
	struct sg_attach_target *t;

	put_addr(v.snat_addr, snat);
	k.slot = 0;
	ADD_ENTRY(c, c->devices, c->ndevices, k, v);
	c->devices[c->ndevices - 1].k.slot = c->slot;

	c->targets = sg_grow(c->targets, c->ntargets, sizeof(*c->targets));
	t = &c->targets[c->ntargets++];
	memcpy(t->name, dev->name, sizeof(t->name));
	t->ifindex = dev->ifindex;
	t->addr = dev->addr;
	t->role = role;
	t->sector = sector;
}

const struct sg_attach_target *sg_compiled_target(const struct sg_compiled *c,
						  int ifindex)
{
	for (int i = 0; i < c->ntargets; i++)
		if (c->targets[i].ifindex == ifindex)
			return &c->targets[i];
	return NULL;
}

static void add_missing(struct sg_compiled *c, const char *name)
{
	c->missing = sg_grow(c->missing, c->nmissing, sizeof(*c->missing));
	c->missing[c->nmissing++] = name;
}

static const struct sg_netdev *find_dev(const struct sg_netdev *devs,
					int ndevs, const char *name)
{
	for (int i = 0; i < ndevs; i++)
		if (!strcmp(devs[i].name, name))
			return &devs[i];
	return NULL;
}

/*
 * Whether a device's ingress takes XDP (where its driver has it) or tc.
 * XDP costs a veth the most: while a program is attached the kernel
 * takes GSO and TSO from its peer (veth_fix_features), so a container's
 * bulk TCP crosses the gateway as 1,448-byte frames, each copied into a
 * page for XDP, at 0.4 times the rate of tc (docs/PERFORMANCE.md); what
 * a container sends from a socket crosses at the same rate either way.
 * So "auto" leaves a veth to tc, and "on" is for sectors whose traffic
 * arrives as XDP frames. A tap keeps its offloads under XDP. A driver
 * without XDP of its own (a bridge; by the kernel's xdp-features) has tc.
 */
static bool sg_xdp_wanted(enum sg_xdp_mode mode, const struct sg_netdev *dev)
{
	return dev->xdp_native &&
	       (mode == SG_XDP_ON || (mode == SG_XDP_AUTO && !dev->veth));
}

/* The hook of the target just added, in the digest too: changing `xdp:`
 * alone is a change to apply. */
static void set_xdp(struct sg_compiled *c, bool xdp, enum sg_xdp_mode mode)
{
	struct sg_attach_target *t = &c->targets[c->ntargets - 1];

	t->xdp = xdp;
	t->xdp_on = xdp && mode == SG_XDP_ON;
	digest_add(&c->digest, &t->xdp, sizeof(t->xdp));
}

/* Uplinks masquerade behind snat-address or the device's own address. */
static int compile_uplinks(const struct sg_model *m, struct sg_compiled *c,
			   const struct sg_netdev *devs, int ndevs,
			   struct sg_diags *d)
{
	int ret = 0;

	for (int i = 0; i < m->nuplinks; i++) {
		const struct sg_uplink_def *u = &m->uplinks[i];
		const struct sg_netdev *dev = find_dev(devs, ndevs, u->iface);
		uint32_t snat;

		if (!dev) {
			add_missing(c, u->iface);
			continue;
		}
		snat = u->snat_given ? u->snat_addr : dev->addr;
		if (!snat) {
			sg_diag_at(d, m->file, u->pos, NULL, "%s has no IPv4 "
				   "address to masquerade behind; give it one "
				   "or set snat-address", u->iface);
			ret = -1;
			continue;
		}
		add_device(c, dev, SG_ROLE_UPLINK, 0, snat, 0);
		set_xdp(c, sg_xdp_wanted(u->xdp, dev), u->xdp);
	}
	return ret;
}

/* Is device `name` one an egress policy steers into? */
static bool egress_names(const struct sg_model *m, const char *name)
{
	for (int s = 0; s < m->nsectors; s++)
		for (int i = 0; i < m->sectors[s].negress; i++)
			for (int k = 0; k < m->sectors[s].egress[i].nifaces; k++)
				if (!strcmp(m->sectors[s].egress[i].ifaces[k],
					    name))
					return true;
	return false;
}

/*
 * Trusted devices, and the devices egress policies steer into: both are
 * tunnels and meshes, with the same programs (sg_trusted.h).
 */
static void compile_trusted(const struct sg_model *m, struct sg_compiled *c,
			    const struct sg_netdev *devs, int ndevs)
{
	for (int i = 0; i < m->ntrusted; i++) {
		const char *name = m->trusted[i].name;
		const struct sg_netdev *dev = find_dev(devs, ndevs, name);

		if (dev)
			add_device(c, dev, SG_ROLE_TRUSTED, 0, 0,
				   egress_names(m, name) ? SG_DEV_EGRESS : 0);
		else
			add_missing(c, name);
	}
	for (int s = 0; s < m->nsectors; s++) {
		for (int i = 0; i < m->sectors[s].negress; i++) {
			const struct sg_egress_def *e = &m->sectors[s].egress[i];

			for (int k = 0; k < e->nifaces; k++) {
				const char *name = e->ifaces[k];
				const struct sg_netdev *dev =
					find_dev(devs, ndevs, name);
				bool seen = false;

				for (int j = 0; j < c->nmissing; j++)
					seen |= !strcmp(c->missing[j], name);
				if (!dev && !seen)
					add_missing(c, name);
				if (dev && !sg_compiled_target(c, dev->ifindex))
					add_device(c, dev, SG_ROLE_TRUSTED, 0,
						   0, SG_DEV_EGRESS);
			}
		}
	}
}

/* Does an `allow` name sector s, or s one? */
static bool in_allow(const struct sg_model *m, int s)
{
	if (m->sectors[s].nallow)
		return true;
	for (int o = 0; o < m->nsectors; o++)
		for (int a = 0; a < m->sectors[o].nallow; a++)
			if (m->sectors[o].allow[a].target == s)
				return true;
	return false;
}

static void add_sector_device(const struct sg_model *m, int s,
			      struct sg_compiled *c,
			      const struct sg_netdev *dev)
{
	const struct sg_sector_def *sec = &m->sectors[s];
	struct sg_attach_target *t;

	add_device(c, dev, SG_ROLE_SECTOR, sec->id, 0,
		   (in_allow(m, s) ? SG_DEV_ALLOWS : 0) |
		   (sec->negress ? SG_DEV_STEERED : 0));
	t = &c->targets[c->ntargets - 1];
	t->steered = sec->negress > 0;
	/* Steering needs tc (sg_egress.h). */
	set_xdp(c, !t->steered && sg_xdp_wanted(sec->xdp, dev), sec->xdp);
}

/*
 * Sector interfaces: exact names first, so a glob never steals them. A
 * glob matching a device another definition claims makes the
 * definitions invalid, or (leave) is reported in c->contested and the
 * device left to its claimant: two sectors' globs, to neither.
 */
static int compile_sector_devices(const struct sg_model *m,
				  struct sg_compiled *c,
				  const struct sg_netdev *devs, int ndevs,
				  bool globs, bool leave, struct sg_diags *d)
{
	/* Only a glob's conflict is left: names were checked in the file. */
	bool lenient = globs && leave;
	int ret = 0;

	for (int s = 0; s < m->nsectors; s++) {
		const struct sg_sector_def *sec = &m->sectors[s];

		for (int k = 0; k < sec->nifaces; k++) {
			const char *pat = sec->ifaces[k].name;
			struct sg_pos pos = sec->ifaces[k].pos;
			int matched = 0, rival;

			if (sg_is_glob(pat) != globs)
				continue;
			for (int i = 0; i < ndevs; i++) {
				const char *name = devs[i].name;
				const struct sg_attach_target *t;

				if (fnmatch(pat, name, 0))
					continue;
				matched++;
				t = sg_compiled_target(c, devs[i].ifindex);
				rival = -1;
				if (!t && lenient)
					sg_model_glob_for(m, name, s, &rival);
				if (rival >= 0) {
					/* Said once, by the first of them. */
					if (rival > s)
						sg_diag_at(&c->contested,
							   m->file, pos, NULL,
							   "\"%s\" matches "
							   "device %s, and so "
							   "does a glob of "
							   "sector %s: "
							   "attached to "
							   "neither", pat,
							   name,
							   m->sectors[rival]
								   .name);
				} else if (!t) {
					add_sector_device(m, s, c, &devs[i]);
				} else if (!globs || t->role != SG_ROLE_SECTOR ||
					   t->sector != sec->id) {
					sg_diag_at(lenient ? &c->contested : d,
						   m->file, pos, NULL,
						   "\"%s\" matches device %s, "
						   "which is already claimed%s",
						   pat, name,
						   lenient ?
						   ": the glob leaves it" : "");
					ret = lenient ? ret : -1;
				}
			}
			if (!matched)
				add_missing(c, pat);
		}
	}
	return ret;
}

static void compile_sector(const struct sg_model *m, int s,
			   struct sg_compiled *c)
{
	const struct sg_sector_def *sec = &m->sectors[s];
	struct sg_sector_key k = { .id = sec->id };
	struct sg_sector v = {};

	memcpy(v.name, sec->name, sizeof(v.name));
	v.flags = (sec->internet ? SG_SECTOR_INTERNET : 0) |
		  (sec->imds ? SG_SECTOR_IMDS : 0) |
		  (sec->nforwards || sec->nallow_from ? SG_SECTOR_INBOUND : 0) |
		  (sec->negress ? SG_SECTOR_EGRESS : 0);
	ADD_ENTRY(c, c->sectors, c->nsectors, k, v);
	c->sectors[c->nsectors - 1].k.slot = c->slot;

	for (int i = 0; i < sec->ncidrs; i++) {
		struct sg_net_key nk = {
			.prefixlen = 32 + sec->cidrs[i].plen,
			.sector = sec->id,
		};
		__u32 nv = sec->id;

		put_addr(nk.addr, sec->cidrs[i].addr);
		ADD_ENTRY(c, c->nets, c->nnets, nk, nv);
		c->nets[c->nnets - 1].k.slot = c->slot;
	}
}

static void add_dest(struct sg_compiled *c, const struct sg_cidr *cidr,
		     uint8_t kind, uint16_t sector)
{
	struct sg_dest_key k = { .prefixlen = 32 + cidr->plen };
	struct sg_dest v = { .sector = sector, .kind = kind };

	put_addr(k.addr, cidr->addr);
	/* Identical CIDRs of overlapping sectors: one SHARED entry. */
	for (int i = 0; i < c->ndests; i++)
		if (c->dests[i].k.prefixlen == k.prefixlen &&
		    !memcmp(c->dests[i].k.addr, k.addr, sizeof(k.addr)))
			return;
	ADD_ENTRY(c, c->dests, c->ndests, k, v);
	c->dests[c->ndests - 1].k.slot = c->slot;
}

static bool in_protected_or_sector(const struct sg_model *m, uint32_t addr)
{
	for (int i = 0; i < m->nprotected; i++)
		if (sg_cidr_contains(&m->protected_nets[i], addr))
			return true;
	for (int s = 0; s < m->nsectors; s++)
		for (int i = 0; i < m->sectors[s].ncidrs; i++)
			if (sg_cidr_contains(&m->sectors[s].cidrs[i], addr))
				return true;
	return false;
}

static void compile_dests(const struct sg_model *m, struct sg_compiled *c)
{
	struct sg_cidr imds = { .addr = m->imds_addr, .plen = 32 };
	struct sg_cidr target = { .addr = m->imds_target_addr, .plen = 32 };

	for (int i = 0; i < m->nprotected; i++)
		add_dest(c, &m->protected_nets[i], SG_DEST_PROTECTED, 0);
	/* The service is reached as address:port only: its target too is
	 * denied to sectors, so what leaves for it is the rewrite's. */
	add_dest(c, &imds, SG_DEST_IMDS, 0);
	add_dest(c, &target, SG_DEST_IMDS, 0);
	/* Where forwards are published: a sector calling one is hairpin,
	 * told by the lookup every packet makes anyway. */
	for (int d = 0; d < c->ndevices; d++) {
		struct sg_cidr up = { .plen = 32 };
		uint32_t be;

		if (c->devices[d].v.role != SG_ROLE_UPLINK)
			continue;
		memcpy(&be, c->devices[d].v.snat_addr, 4);
		up.addr = ntohl(be);
		add_dest(c, &up, SG_DEST_UPLINK, 0);
	}
	/* The host's own address on each egress device: a sector calling
	 * it reaches the host, as it would without steering; unless it is
	 * protected, or a sector's (the more specific /32 would undo
	 * that). */
	for (int t = 0; t < c->ntargets; t++) {
		struct sg_cidr host = { .plen = 32 };
		const struct sg_device *v = NULL;

		for (int d = 0; d < c->ndevices; d++)
			if (c->devices[d].k.ifindex ==
			    (__u32)c->targets[t].ifindex)
				v = &c->devices[d].v;
		host.addr = c->targets[t].addr;
		if (v && (v->flags & SG_DEV_EGRESS) && host.addr &&
		    !in_protected_or_sector(m, host.addr))
			add_dest(c, &host, SG_DEST_HOST, 0);
	}
	for (int s = 0; s < m->nsectors; s++) {
		const struct sg_sector_def *sec = &m->sectors[s];

		for (int i = 0; i < sec->ncidrs; i++) {
			bool shared = sec->cidrs[i].shared;

			add_dest(c, &sec->cidrs[i],
				 shared ? SG_DEST_SHARED : SG_DEST_SECTOR,
				 shared ? 0 : sec->id);
		}
	}
}

/* The destinations as the datapath looks them up (dest_strides.h). */
static int compile_dest_strides(struct sg_compiled *c, struct sg_diags *d)
{
	struct sg_dest_prefix *prefixes = NULL;
	int ret;

	for (int i = 0; i < c->ndests; i++) {
		uint32_t be;

		memcpy(&be, c->dests[i].k.addr, 4);
		prefixes = sg_grow(prefixes, i, sizeof(*prefixes));
		prefixes[i] = (struct sg_dest_prefix){
			.addr = ntohl(be),
			.plen = c->dests[i].k.prefixlen - 32,
			.v = c->dests[i].v,
		};
	}
	ret = sg_dest_strides_build(&c->dest_strides, prefixes, c->ndests);
	free(prefixes);
	if (ret)
		sg_diag_add(d, "the destination networks (with the host's "
			    "addresses) split more than the %d /16 and /24 "
			    "blocks sg_dest_chunks holds", SG_MAX_DEST_CHUNKS - 1);
	return ret;
}

static void compile_allows(const struct sg_model *m, int s,
			   struct sg_compiled *c)
{
	const struct sg_sector_def *sec = &m->sectors[s];

	/* One entry per target sector, holding the rules of every `allow`
	 * that names it (validation capped them at SG_MAX_ALLOW_RULES). */
	for (int t = 0; t < m->nsectors; t++) {
		struct sg_allow_key k = { .from = sec->id,
					  .to = m->sectors[t].id };
		struct sg_allow v = {};

		for (int a = 0; a < sec->nallow; a++) {
			const struct sg_allow_def *def = &sec->allow[a];
			int nrules = def->nports ? def->nports : 1;

			if (def->target != t)
				continue;
			for (int r = 0; r < nrules; r++) {
				struct sg_allow_rule *rule = &v.rules[v.count++];

				rule->proto = def->proto;
				rule->port_lo = def->nports ? def->ports[r].lo : 0;
				rule->port_hi = def->nports ? def->ports[r].hi :
							      0xffff;
			}
		}
		if (!v.count)
			continue;
		ADD_ENTRY(c, c->allows, c->nallows, k, v);
		c->allows[c->nallows - 1].k.slot = c->slot;
	}
}

/* The one device of sector `id` present on the host, or 0. */
static uint32_t only_device(const struct sg_compiled *c, uint16_t id)
{
	uint32_t found = 0;

	for (int i = 0; i < c->ntargets; i++) {
		if (c->targets[i].role != SG_ROLE_SECTOR ||
		    c->targets[i].sector != id)
			continue;
		if (found)
			return 0;
		found = c->targets[i].ifindex;
	}
	return found;
}

/* Each forward is published on the address of every uplink present. */
static void compile_forwards(const struct sg_model *m, int s,
			     struct sg_compiled *c)
{
	const struct sg_sector_def *sec = &m->sectors[s];
	int ndevices = c->ndevices;

	for (int k = 0; k < sec->nforwards; k++) {
		const struct sg_forward_def *f = &sec->forwards[k];
		struct sg_forward v = {
			.sector = sec->id, .to_port = htons(f->to_port),
			.ifindex = only_device(c, sec->id),
		};

		put_addr(v.to_addr, f->to_addr);
		for (int d = 0; d < ndevices; d++) {
			struct sg_forward_key key = {
				.port = htons(f->port), .proto = f->proto,
			};

			if (c->devices[d].v.role != SG_ROLE_UPLINK)
				continue;
			memcpy(key.addr, c->devices[d].v.snat_addr, 4);
			ADD_ENTRY(c, c->forwards, c->nforwards, key, v);
			c->forwards[c->nforwards - 1].k.slot = c->slot;
		}
	}
}

/* allow-from: trusted devices by the CIDRs they may reach, source CIDRs
 * by the sector that admits them. */
static void compile_admits(const struct sg_model *m, int s,
			   struct sg_compiled *c, const struct sg_netdev *devs,
			   int ndevs)
{
	const struct sg_sector_def *sec = &m->sectors[s];

	for (int k = 0; k < sec->nallow_from; k++) {
		const struct sg_source_def *src = &sec->allow_from[k];
		const struct sg_netdev *dev;
		__u32 v = sec->id;

		if (!src->iface) {
			struct sg_net_key nk = {
				.prefixlen = 32 + src->cidr.plen,
				.sector = sec->id,
			};

			put_addr(nk.addr, src->cidr.addr);
			ADD_ENTRY(c, c->admit_nets, c->nadmit_nets, nk, v);
			c->admit_nets[c->nadmit_nets - 1].k.slot = c->slot;
			continue;
		}
		dev = find_dev(devs, ndevs, src->iface);
		if (!dev)
			continue;	/* host.trusted reports it missing */
		for (int i = 0; i < sec->ncidrs; i++) {
			struct sg_admit_dev_key dk = {
				.prefixlen = 64 + sec->cidrs[i].plen,
				.ifindex = dev->ifindex,
			};

			put_addr(dk.addr, sec->cidrs[i].addr);
			ADD_ENTRY(c, c->admit_devs, c->nadmit_devs, dk, v);
			c->admit_devs[c->nadmit_devs - 1].k.slot = c->slot;
		}
	}
}

/*
 * Policy i of sector s: its devices in the order new flows try them, each
 * with the source it gives them, usable when present, up (with carrier)
 * and, unless the policy routes untranslated, with a source to give.
 */
static void compile_egress_policy(const struct sg_sector_def *sec, int i,
				  struct sg_compiled *c,
				  const struct sg_netdev *devs, int ndevs)
{
	const struct sg_egress_def *e = &sec->egress[i];
	struct sg_egress_policy_key k = { .sector = sec->id, .policy = i };
	struct sg_egress_policy v = {
		.flags = e->snat_mode == SG_SNAT_NONE ? SG_EGRESS_ROUTED : 0,
		.ndevs = e->nifaces,
	};

	for (int d = 0; d < e->nifaces && d < SG_MAX_EGRESS_DEVS; d++) {
		const struct sg_netdev *dev = find_dev(devs, ndevs, e->ifaces[d]);
		uint32_t snat = 0;

		if (!dev)
			continue;
		if (e->snat_mode == SG_SNAT_ADDRESS)
			snat = e->snat_addr;
		else if (e->snat_mode == SG_SNAT_DEFAULT)
			snat = dev->addr;
		v.devs[d].ifindex = dev->ifindex;
		put_addr(v.devs[d].snat, snat);
		if (dev->up && (snat || e->snat_mode == SG_SNAT_NONE))
			v.usable |= 1U << d;
	}
	ADD_ENTRY(c, c->egress_policies, c->negress_policies, k, v);
	c->egress_policies[c->negress_policies - 1].k.slot = c->slot;
}

/* A sector's egress list as longest-prefix entries (loader/egress.h). */
static int compile_egress(const struct sg_model *m, int s,
			  struct sg_compiled *c, const struct sg_netdev *devs,
			  int ndevs, struct sg_diags *d)
{
	const struct sg_sector_def *sec = &m->sectors[s];
	struct sg_egress_prefix *t;
	const struct sg_pos *pos;
	int n;

	if (!sec->negress)
		return 0;
	if (sg_egress_compile(sec, &t, &n, &pos)) {
		sg_diag_at(d, m->file, *pos, NULL, "more than %d rules apply "
			   "to some destination", SG_MAX_EGRESS_RULES);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct sg_net_key k = { .prefixlen = 32 + t[i].plen,
					.sector = sec->id };
		struct sg_egress_match v = { .count = t[i].nrules };

		put_addr(k.addr, t[i].addr);
		for (int r = 0; r < t[i].nrules; r++) {
			v.policy[r] = t[i].rules[r].policy;
			v.rules[r].proto = t[i].rules[r].proto;
			v.rules[r].port_lo = t[i].rules[r].port_lo;
			v.rules[r].port_hi = t[i].rules[r].port_hi;
		}
		ADD_ENTRY(c, c->egress_nets, c->negress_nets, k, v);
		c->egress_nets[c->negress_nets - 1].k.slot = c->slot;
	}
	free(t);
	for (int i = 0; i < sec->negress; i++)
		compile_egress_policy(sec, i, c, devs, ndevs);
	return 0;
}

int sg_compile(const struct sg_model *m, const struct sg_netdev *devs,
	       int ndevs, uint32_t slot, struct sg_compiled *c,
	       struct sg_diags *d)
{
	return sg_compile_flags(m, devs, ndevs, slot, 0, c, d);
}

int sg_compile_flags(const struct sg_model *m, const struct sg_netdev *devs,
		     int ndevs, uint32_t slot, unsigned int flags,
		     struct sg_compiled *c, struct sg_diags *d)
{
	bool leave = flags & SG_COMPILE_LEAVE_CONTESTED;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->digest = SG_FNV_START;
	c->config = (struct sg_config){
		.timeout_tcp_established = m->timeout_tcp_established,
		.timeout_tcp_transitory = m->timeout_tcp_transitory,
		.timeout_udp = m->timeout_udp,
		.timeout_icmp = m->timeout_icmp,
		.nat_port_lo = m->nat_port_lo,
		.nat_port_hi = m->nat_port_hi,
		/* SPEC 1: by default a quarter of max-flows. */
		.max_flows_per_sector = m->max_flows_per_sector ?
					m->max_flows_per_sector :
					m->max_flows / 4,
	};
	digest_add(&c->digest, &c->config, sizeof(c->config));
	put_addr(c->imds.addr, m->imds_addr);
	put_addr(c->imds.target_addr, m->imds_target_addr);
	c->imds.port = htons(m->imds_port);
	c->imds.target_port = htons(m->imds_target_port);
	digest_add(&c->digest, &c->imds, sizeof(c->imds));

	if (compile_uplinks(m, c, devs, ndevs, d))
		ret = -1;
	compile_trusted(m, c, devs, ndevs);
	if (compile_sector_devices(m, c, devs, ndevs, false, leave, d) ||
	    compile_sector_devices(m, c, devs, ndevs, true, leave, d))
		ret = -1;
	for (int s = 0; s < m->nsectors; s++) {
		compile_sector(m, s, c);
		compile_allows(m, s, c);
		compile_forwards(m, s, c);
		compile_admits(m, s, c, devs, ndevs);
		if (compile_egress(m, s, c, devs, ndevs, d))
			ret = -1;
	}
	compile_dests(m, c);
	if (compile_dest_strides(c, d))
		ret = -1;
	return ret;
}

static uint32_t live_counters(const struct sg_counter_slot *live, int nlive,
			      uint16_t id)
{
	for (int i = 0; i < nlive; i++)
		if (live[i].id == id && live[i].counters &&
		    live[i].counters < SG_COUNTER_ENTRIES)
			return live[i].counters;
	return 0;
}

void sg_compile_counters(struct sg_compiled *c,
			 const struct sg_counter_slot *live, int nlive)
{
	bool used[SG_COUNTER_ENTRIES] = { [0] = true };
	uint32_t next = 1;

	/* Sectors that go on keep their entries; the others take free ones
	 * (validation allows no more sectors than there are entries). */
	for (int i = 0; i < c->nsectors; i++) {
		uint32_t idx = live_counters(live, nlive, c->sectors[i].k.id);

		if (idx && !used[idx]) {
			c->sectors[i].v.counters = idx;
			used[idx] = true;
		}
	}
	for (int i = 0; i < c->nsectors; i++) {
		if (c->sectors[i].v.counters)
			continue;
		while (next < SG_COUNTER_ENTRIES && used[next])
			next++;
		if (next == SG_COUNTER_ENTRIES)
			break;
		used[next] = true;
		c->sectors[i].v.counters = next;
		c->fresh_counters = sg_grow(c->fresh_counters, c->nfresh,
					    sizeof(*c->fresh_counters));
		c->fresh_counters[c->nfresh++] = next;
	}
	for (int d = 0; d < c->ndevices; d++) {
		struct sg_device *v = &c->devices[d].v;

		for (int i = 0; v->role == SG_ROLE_SECTOR && i < c->nsectors; i++)
			if (c->sectors[i].k.id == v->sector)
				v->counters = c->sectors[i].v.counters;
	}
}

void sg_compiled_free(struct sg_compiled *c)
{
	free(c->fresh_counters);
	free(c->devices);
	free(c->sectors);
	free(c->nets);
	free(c->dests);
	sg_dest_strides_free(&c->dest_strides);
	free(c->allows);
	free(c->forwards);
	free(c->admit_devs);
	free(c->admit_nets);
	free(c->egress_nets);
	free(c->egress_policies);
	free(c->targets);
	free(c->missing);
	sg_diags_free(&c->contested);
	memset(c, 0, sizeof(*c));
}
