// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>

#include "egress.h"
#include "util.h"

/* As the datapath matches `allow` rules: ports narrow TCP and UDP only,
 * and a rule with ports never matches another protocol. */
static bool rule_matches(const struct sg_egress_rule *r, uint8_t proto,
			 uint16_t dport)
{
	if (r->proto && r->proto != proto)
		return false;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return r->port_lo == 0 && r->port_hi == 0xffff;
	return dport >= r->port_lo && dport <= r->port_hi;
}

/* Rule k of policy i (of e): one per port range, or one for every port. */
static struct sg_egress_rule policy_rule(const struct sg_egress_def *e,
					 int i, int k)
{
	if (!e->nports)
		return (struct sg_egress_rule){ i, e->proto, 0, 0xffff };
	return (struct sg_egress_rule){ i, e->proto, e->ports[k].lo,
					e->ports[k].hi };
}

static int policy_nrules(const struct sg_egress_def *e)
{
	return e->nports ? e->nports : 1;
}

static bool any_contains(const struct sg_cidr *c, int n, uint32_t addr)
{
	for (int i = 0; i < n; i++)
		if (sg_cidr_contains(&c[i], addr))
			return true;
	return false;
}

int sg_egress_eval(const struct sg_sector_def *s, uint32_t daddr,
		   uint8_t proto, uint16_t dport)
{
	for (int i = 0; i < s->negress; i++) {
		const struct sg_egress_def *e = &s->egress[i];

		if (!any_contains(e->dests, e->ndests, daddr) ||
		    any_contains(e->except, e->nexcept, daddr))
			continue;
		for (int k = 0; k < policy_nrules(e); k++) {
			struct sg_egress_rule r = policy_rule(e, i, k);

			if (rule_matches(&r, proto, dport))
				return i;
		}
	}
	return -1;
}

static bool any_within(uint32_t a, uint8_t alen, const struct sg_cidr *c,
		       int n)
{
	for (int i = 0; i < n; i++)
		if (sg_cidr_within(a, alen, &c[i]))
			return true;
	return false;
}

static void add_prefix(struct sg_egress_prefix **t, int *n,
		       const struct sg_cidr *c)
{
	uint32_t addr = c->addr & sg_cidr_mask(c->plen);

	for (int i = 0; i < *n; i++)
		if ((*t)[i].plen == c->plen && (*t)[i].addr == addr)
			return;
	*t = sg_grow(*t, *n, sizeof(**t));
	(*t)[*n] = (struct sg_egress_prefix){ .addr = addr, .plen = c->plen };
	(*n)++;
}

/*
 * Every address whose longest match among the prefixes of the list is P
 * lies in exactly the CIDRs that contain P: so P's rules are those of the
 * policies, in order, that hold P in their destinations and not in their
 * excepts, up to the first that matches whatever the packet is.
 */
int sg_egress_compile(const struct sg_sector_def *s,
		      struct sg_egress_prefix **out, int *n,
		      const struct sg_pos **pos)
{
	struct sg_egress_prefix *t = NULL;
	int nt = 0;

	for (int i = 0; i < s->negress; i++) {
		for (int k = 0; k < s->egress[i].ndests; k++)
			add_prefix(&t, &nt, &s->egress[i].dests[k]);
		for (int k = 0; k < s->egress[i].nexcept; k++)
			add_prefix(&t, &nt, &s->egress[i].except[k]);
	}
	for (int p = 0; p < nt; p++) {
		struct sg_egress_prefix *x = &t[p];

		for (int i = 0; i < s->negress; i++) {
			const struct sg_egress_def *e = &s->egress[i];
			int nr = policy_nrules(e);

			if (!any_within(x->addr, x->plen, e->dests, e->ndests) ||
			    any_within(x->addr, x->plen, e->except, e->nexcept))
				continue;
			if (x->nrules + nr > SG_MAX_EGRESS_RULES) {
				*pos = &e->pos;
				free(t);
				return -1;
			}
			for (int k = 0; k < nr; k++)
				x->rules[x->nrules++] = policy_rule(e, i, k);
			/* Every packet matches it: nothing after it counts. */
			if (!e->proto && !e->nports)
				break;
		}
	}
	*out = t;
	*n = nt;
	return 0;
}

int sg_egress_lookup(const struct sg_egress_prefix *t, int n, uint32_t daddr,
		     uint8_t proto, uint16_t dport)
{
	const struct sg_egress_prefix *best = NULL;

	for (int i = 0; i < n; i++) {
		struct sg_cidr c = { .addr = t[i].addr, .plen = t[i].plen };

		if (sg_cidr_contains(&c, daddr) &&
		    (!best || t[i].plen > best->plen))
			best = &t[i];
	}
	for (int k = 0; best && k < best->nrules; k++)
		if (rule_matches(&best->rules[k], proto, dport))
			return best->rules[k].policy;
	return -1;
}
