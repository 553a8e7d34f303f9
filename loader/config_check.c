// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The cross-checks of the definitions: what no single key can say wrong
 * (a name given twice, an allow towards no sector, overlaps, what the
 * maps can hold). They run on a model parsed without errors, and name
 * each field by the path the parser recorded with its position.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"
#include "dest_strides.h"
#include "egress.h"
#include "util.h"

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


static bool sectors_overlap_cidr(const struct sg_sector_def *s,
				 const struct sg_cidr *c)
{
	for (int i = 0; i < s->ncidrs; i++)
		if (sg_cidr_overlap(&s->cidrs[i], c))
			return true;
	return false;
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
				cfg_verr(p, u->iface_pos, NULL,
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
				cfg_verr(p, t->pos, NULL, "\"%s\" is already "
					 "an uplink", t->name);
		}
		for (int j = 0; j < i; j++) {
			const struct sg_name *o = &m->trusted[j];

			if (o->name && !strcmp(o->name, t->name))
				cfg_verr(p, t->pos, NULL,
					 "\"%s\" is already %.*s", o->name,
					 item_len(o->pos.path), o->pos.path);
		}
	}
	for (int s = 0; s < m->nsectors; s++) {
		char a[16];

		if (sector_contains(&m->sectors[s], m->imds_addr))
			cfg_verr(p, m->imds_pos, NULL, "%s lies in the CIDRs of "
				 "sector \"%s\"", sg_ipv4_str(m->imds_addr, a),
				 m->sectors[s].name);
		/* It would be the metadata service's, not the VM's. */
		if (m->imds_target_addr != m->imds_addr &&
		    sector_contains(&m->sectors[s], m->imds_target_addr))
			cfg_verr(p, m->imds_target_pos, NULL, "%s lies in the "
				 "CIDRs of sector \"%s\"",
				 sg_ipv4_str(m->imds_target_addr, a),
				 m->sectors[s].name);
	}
	for (int i = 0; i < m->nprotected; i++) {
		for (int s = 0; s < m->nsectors; s++) {
			const struct sg_sector_def *sec = &m->sectors[s];

			for (int c = 0; c < sec->ncidrs; c++) {
				if (!sg_cidr_overlap(&m->protected_nets[i],
						     &sec->cidrs[c]))
					continue;
				cfg_verr(p, m->protected_nets[i].pos, NULL,
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
			cfg_verr(p, s->name_pos, NULL,
				 "\"%s\" is already the name of %s", s->name,
				 o->pos.path);
		/* A default id is reported at the sector, as its id. */
		if (s->id == o->id)
			cfg_verr(p, s->id_given ? s->id_pos : s->pos,
				 s->id_given ? NULL : "id",
				 "%u is already the id of %s (\"%s\")%s", s->id,
				 o->pos.path, o->name, s->id_given ? "" :
				 "; ids default to the position");
	}
	for (int k = 0; k < s->nifaces; k++) {
		const struct sg_name *n = &s->ifaces[k];
		const struct sg_pos *owner;

		if (!n->name)
			continue;
		owner = device_owner(p->m, n->name, n);
		if (owner)
			cfg_verr(p, n->pos, NULL,
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
			cfg_verr(p, a->sector_pos, NULL,
				 "there is no sector \"%s\"", a->sector);
			continue;
		}
		if (a->target == i) {
			cfg_verr(p, a->sector_pos, NULL,
				 "\"%s\" is this sector itself", a->sector);
			continue;
		}
		overlap = m->sectors[a->target].overlaps;
		if (overlap >= 0)
			cfg_verr(p, a->sector_pos, NULL, "the CIDRs of \"%s\" "
				 "overlap those of \"%s\", so its addresses "
				 "are ambiguous", a->sector,
				 m->sectors[overlap].name);
		for (int r = 0; r < s->nallow; r++)
			if (s->allow[r].target == a->target)
				nrules += s->allow[r].nports ?
					  s->allow[r].nports : 1;
		if (nrules > SG_MAX_ALLOW_RULES)
			cfg_verr(p, a->pos, NULL, "more than %d rules (ports) "
				 "towards sector \"%s\"", SG_MAX_ALLOW_RULES,
				 a->sector);
	}
	for (int k = 0; k < s->nallow_from; k++) {
		struct sg_source_def *src = &s->allow_from[k];

		if (src->iface && !is_trusted(m, src->iface))
			cfg_verr(p, src->pos, NULL, "\"%s\" is neither a "
				 "host.trusted interface nor a CIDR",
				 src->iface);
		/* A source in a sector is a forgery from outside: the
		 * VM's answers would be sent into that sector. */
		for (int o = 0; !src->iface && o < m->nsectors; o++) {
			char a[16];

			if (!sectors_overlap_cidr(&m->sectors[o], &src->cidr))
				continue;
			cfg_verr(p, src->pos, NULL, "%s/%u overlaps the CIDRs "
				 "of sector \"%s\": only addresses outside the "
				 "sectors may be admitted",
				 sg_ipv4_str(src->cidr.addr, a), src->cidr.plen,
				 m->sectors[o].name);
			break;
		}
		/* What arrives on an uplink is told apart by its
		 * destination alone. */
		if (!src->iface && s->overlaps >= 0) {
			char a[16];

			cfg_verr(p, src->pos, NULL, "the CIDRs of this sector "
				 "overlap those of \"%s\": a connection from "
				 "%s/%u could be meant for either",
				 m->sectors[s->overlaps].name,
				 sg_ipv4_str(src->cidr.addr, a), src->cidr.plen);
		}
	}
	for (int k = 0; k < s->nforwards; k++) {
		struct sg_forward_def *f = &s->forwards[k];

		if (f->to_addr && !sector_contains(s, f->to_addr)) {
			char a[16];

			cfg_verr(p, f->to_pos, NULL, "%s is not inside the "
				 "CIDRs of sector \"%s\"",
				 sg_ipv4_str(f->to_addr, a), s->name);
		}
		for (int o = 0; o <= i; o++) {
			const struct sg_sector_def *os = &m->sectors[o];

			for (int j = 0; j < (o == i ? k : os->nforwards); j++) {
				if (os->forwards[j].proto != f->proto ||
				    os->forwards[j].port != f->port)
					continue;
				cfg_verr(p, f->pos, "port", "port %u is "
					 "already forwarded by %s", f->port,
					 os->forwards[j].pos.path);
			}
		}
	}
}

/*
 * What a destination of an egress policy can never be steered to,
 * because an earlier step of the decision always takes it (docs/
 * ARCHITECTURE.md): a sector's CIDR (isolation, or the sector's own
 * subnet), host.protected, the metadata service. NULL, or what it is.
 */
static const char *never_steered(const struct sg_model *m,
				 const struct sg_cidr *d, char *buf,
				 size_t len)
{
	struct sg_cidr imds = { .addr = m->imds_addr, .plen = 32 };
	struct sg_cidr target = { .addr = m->imds_target_addr, .plen = 32 };

	for (int o = 0; o < m->nsectors; o++)
		for (int k = 0; k < m->sectors[o].ncidrs; k++)
			if (sg_cidr_within(d->addr, d->plen,
					   &m->sectors[o].cidrs[k])) {
				snprintf(buf, len, "in the CIDRs of sector "
					 "\"%s\"", m->sectors[o].name);
				return buf;
			}
	for (int k = 0; k < m->nprotected; k++)
		if (sg_cidr_within(d->addr, d->plen, &m->protected_nets[k]))
			return "in host.protected";
	if (sg_cidr_within(d->addr, d->plen, &imds) ||
	    sg_cidr_within(d->addr, d->plen, &target))
		return "the metadata service";
	return NULL;
}

/* Policy e of sector s: its devices, its source, its destinations. */
static void check_egress_policy(struct sg_parser *p,
				const struct sg_sector_def *s,
				const struct sg_egress_def *e)
{
	const struct sg_model *m = p->m;
	const struct sg_pos *at;
	const struct sg_name *g;
	char buf[64], a[16];
	const char *why;

	if (e->nifaces > SG_MAX_EGRESS_DEVS)
		cfg_verr(p, e->iface_pos, NULL, "%d devices; a policy may list "
			 "at most %d", e->nifaces, SG_MAX_EGRESS_DEVS);
	for (int d = 0; d < e->nifaces; d++) {
		const char *dev = e->ifaces[d];

		if (!dev)
			continue;
		if (sg_model_is_uplink(m, dev))
			cfg_verr(p, e->iface_pos, NULL, "not supported yet: "
				 "steering into an uplink (\"%s\"); what matches "
				 "no policy leaves by the uplinks anyway", dev);
		else if ((at = device_owner(m, dev, NULL)) &&
			 !is_trusted(m, dev))
			cfg_verr(p, e->iface_pos, NULL, "\"%s\" is already "
				 "listed as %.*s", dev, item_len(at->path),
				 at->path);
		else if ((g = sg_model_glob_for(m, dev, -1, NULL)))
			cfg_verr(p, e->iface_pos, NULL, "\"%s\" matches %s "
				 "(\"%s\"): it would be a sector's device", dev,
				 g->pos.path, g->name);
	}
	/* Untranslated replies are told apart by their destination alone. */
	if (e->snat_mode == SG_SNAT_NONE && s->overlaps >= 0)
		cfg_verr(p, e->snat_pos, NULL, "none: the CIDRs of this sector "
			 "overlap those of \"%s\", so the replies would not say "
			 "which sector they are for",
			 m->sectors[s->overlaps].name);
	if (e->snat_mode == SG_SNAT_ADDRESS) {
		struct sg_cidr src = { .addr = e->snat_addr, .plen = 32 };

		/* A tunnel's peer would take it for that tenant, the LAN or
		 * the service. */
		why = never_steered(m, &src, buf, sizeof(buf));
		if (why)
			cfg_verr(p, e->snat_pos, NULL, "%s is %s",
				 sg_ipv4_str(e->snat_addr, a), why);
	}
	for (int k = 0; k < e->ndests; k++) {
		why = never_steered(m, &e->dests[k], buf, sizeof(buf));
		if (why)
			cfg_verr(p, e->dests[k].pos, NULL, "%s/%u is %s: an "
				 "earlier step decides it, never steering",
				 sg_ipv4_str(e->dests[k].addr, a),
				 e->dests[k].plen, why);
	}
}

/*
 * The egress list of sector i: devices that are neither an uplink nor a
 * sector's, replies that say which sector they are for, destinations it
 * can steer, and a list the compiler can turn into lookups
 * (loader/egress.h).
 */
static void check_sector_egress(struct sg_parser *p, int i)
{
	struct sg_model *m = p->m;
	struct sg_sector_def *s = &m->sectors[i];
	struct sg_egress_prefix *t;
	const struct sg_pos *at;
	int n;

	if (s->negress > SG_MAX_EGRESS_POLICIES)
		cfg_verr(p, s->egress[SG_MAX_EGRESS_POLICIES].pos, NULL,
			 "more than %d egress policies in one sector",
			 SG_MAX_EGRESS_POLICIES);
	for (int k = 0; k < s->negress; k++)
		check_egress_policy(p, s, &s->egress[k]);
	if (!s->negress)
		return;
	if (s->xdp == SG_XDP_ON)
		cfg_verr(p, s->xdp_pos, NULL, "on: a sector with egress "
			 "policies is judged at tc ingress, which alone can "
			 "steer; leave xdp out, or set it to auto or off");
	if (sg_egress_compile(s, &t, &n, &at)) {
		cfg_verr(p, *at, NULL, "more than %d rules (port ranges of "
			 "the policies before and including this one) apply to "
			 "some destination; split the list or merge ports",
			 SG_MAX_EGRESS_RULES);
		return;
	}
	free(t);
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
				/* Most sectors overlap none: no pair to check. */
				if (!shares || s->overlaps < 0 || o->overlaps < 0 ||
				    !sectors_overlap(s, o))
					continue;
				cfg_verr(p, s->allow_from[k].pos, NULL,
					 "\"%s\" also reaches sector \"%s\", "
					 "whose CIDRs overlap these", dev,
					 o->name);
			}
		}
	}
}

/*
 * sg_dest_chunks: every /16 that a prefix longer than /16 lies in takes
 * a chunk, and every /24 that one longer than /24 lies in; room is kept
 * for the host's /32s (uplinks, egress devices), which apply adds.
 */
static bool check_dest_chunks(struct sg_parser *p)
{
	const struct sg_model *m = p->m;
	struct sg_dest_prefix *x = NULL;
	int n = 0, chunks;

	for (int i = 0; i < m->nprotected; i++) {
		x = sg_grow(x, n, sizeof(*x));
		x[n++] = (struct sg_dest_prefix){
			.addr = m->protected_nets[i].addr,
			.plen = m->protected_nets[i].plen,
		};
	}
	for (int i = 0; i < m->nsectors; i++)
		for (int k = 0; k < m->sectors[i].ncidrs; k++) {
			x = sg_grow(x, n, sizeof(*x));
			x[n++] = (struct sg_dest_prefix){
				.addr = m->sectors[i].cidrs[k].addr,
				.plen = m->sectors[i].cidrs[k].plen,
			};
		}
	/* The metadata address and its target. */
	for (int i = 0; i < 2; i++) {
		x = sg_grow(x, n, sizeof(*x));
		x[n++] = (struct sg_dest_prefix){
			.addr = i ? m->imds_target_addr : m->imds_addr,
			.plen = 32,
		};
	}
	chunks = sg_dest_chunks_of(x, n);
	free(x);
	if (chunks <= SG_MAX_DEST_CHUNKS - 1 - SG_DEST_HOST_CHUNKS)
		return true;
	cfg_verr(p, (struct sg_pos){ .line = 1, .col = 1, .path = "sectors" },
		 NULL, "the sector CIDRs and protected networks split %d /16 "
		 "and /24 blocks (every /16 a CIDR longer than /16 lies in, "
		 "every /24 one longer than /24 lies in); sg_dest_chunks "
		 "holds %d", chunks,
		 SG_MAX_DEST_CHUNKS - 1 - SG_DEST_HOST_CHUNKS);
	return false;
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
	int forwards = 0, admits = 0, policies = 0, egress_nets = 0;
	bool ok = true, forwards_full = false, admits_full = false;
	bool egress_full = false;

	for (int i = 0; i < m->nsectors; i++) {
		const struct sg_sector_def *s = &m->sectors[i];

		for (int k = 0; k < s->ncidrs; k++) {
			if (++nets != SG_MAX_NETS + 1)
				continue;
			cfg_verr(p, s->cidrs[k].pos, NULL, "more than %d "
				 "sector CIDRs in all; sg_sector_nets holds %d",
				 SG_MAX_NETS, SG_MAX_NETS);
			ok = false;
		}
		for (int k = 0; k < s->nifaces; k++) {
			if (++devices != SG_MAX_DEVICES + 1)
				continue;
			cfg_verr(p, s->ifaces[k].pos, NULL, "more than %d "
				 "devices in all; sg_devices holds %d",
				 SG_MAX_DEVICES, SG_MAX_DEVICES);
			ok = false;
		}
		/* Allow pairs: one per sector this one names (upper bound). */
		pairs += s->nallow;
		/* Forwards are published on every uplink; a trusted device
		 * of allow-from takes an entry per CIDR of the sector, a
		 * source CIDR one. */
		forwards += s->nforwards * m->nuplinks;
		for (int k = 0; k < s->nallow_from; k++)
			admits += s->allow_from[k].iface ? s->ncidrs : 1;
		if (!forwards_full && forwards > SG_MAX_FORWARDS) {
			cfg_verr(p, s->forwards[0].pos, NULL, "more forwards "
				 "than sg_forwards holds: %d, on each of %d "
				 "uplinks", SG_MAX_FORWARDS, m->nuplinks);
			forwards_full = true;
			ok = false;
		}
		/* Each policy an entry; each of its CIDRs a prefix at most;
		 * its devices, if no other key names them, devices. */
		policies += s->negress;
		for (int k = 0; k < s->negress; k++) {
			egress_nets += s->egress[k].ndests +
				       s->egress[k].nexcept;
			devices += s->egress[k].nifaces;
		}
		if (!egress_full && (policies > SG_MAX_SECTORS ||
				     egress_nets > SG_MAX_NETS)) {
			cfg_verr(p, s->egress[0].pos, NULL, "more egress "
				 "policies (%d) or their CIDRs (%d) in all than "
				 "the maps hold: %d and %d", policies,
				 egress_nets, SG_MAX_SECTORS, SG_MAX_NETS);
			egress_full = true;
			ok = false;
		}
		if (!admits_full && admits > SG_MAX_NETS) {
			cfg_verr(p, s->allow_from[0].pos, NULL, "more than %d "
				 "allow-from entries in all (a device counts "
				 "once per CIDR of the sector)", SG_MAX_NETS);
			admits_full = true;
			ok = false;
		}
	}
	/*
	 * These two are about a whole key, not one element of it: reported
	 * at its first element, if there is one, else at the file's start.
	 */
	/* The metadata service takes two: its address and its target. */
	if (nets + m->nprotected + 2 > SG_MAX_NETS) {
		struct sg_pos at = m->nprotected ? m->protected_nets[0].pos :
				   (struct sg_pos){ .line = 1, .col = 1 };

		at.path = "host.protected";
		cfg_verr(p, at, NULL, "%d destination networks (sector CIDRs, "
			 "protected, the metadata address); sg_dest_nets "
			 "holds %d", nets + m->nprotected + 2, SG_MAX_NETS);
		ok = false;
	}
	if (ok && !check_dest_chunks(p))
		ok = false;
	if (pairs > SG_MAX_ALLOW_PAIRS) {
		struct sg_pos at = { .line = 1, .col = 1, .path = "sectors" };

		cfg_verr(p, at, NULL, "%d allow entries in all; sg_allow "
			 "holds %d sector pairs", pairs, SG_MAX_ALLOW_PAIRS);
		ok = false;
	}
	return ok;
}

void cfg_validate(struct sg_parser *p)
{
	if (!check_capacity(p))
		return;
	sg_model_overlaps(p->m);
	check_host(p);
	for (int i = 0; i < p->m->nsectors && !sg_diags_full(p->diags); i++)
		check_sector_identity(p, i);
	for (int i = 0; i < p->m->nsectors && !sg_diags_full(p->diags); i++) {
		check_sector_refs(p, i);
		check_sector_egress(p, i);
	}
	check_trusted_overlap(p);
}
