// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sectorgate check: validate, and show what the definitions mean here. */
#include <stdlib.h>

#include "cli.h"
#include "util.h"

static void print_ports(const struct sg_port_range *ports, int n)
{
	for (int p = 0; p < n; p++)
		printf(p ? ",%u-%u" : " %u-%u", ports[p].lo, ports[p].hi);
}

static void print_sector(const struct sg_sector_def *s,
			 const struct sg_compiled *c)
{
	char a[16];

	printf("  %-15s id %-5u %s%s\n", s->name, s->id,
	       s->internet ? "internet" : "no-internet",
	       s->imds ? " imds" : "");
	printf("    cidrs:");
	for (int i = 0; i < s->ncidrs; i++)
		printf(" %s/%u", sg_ipv4_str(s->cidrs[i].addr, a),
		       s->cidrs[i].plen);
	printf("\n    devices:");
	for (int i = 0; i < c->ntargets; i++)
		if (c->targets[i].role == SG_ROLE_SECTOR &&
		    c->targets[i].sector == s->id)
			printf(" %s", c->targets[i].name);
	printf("\n");
	for (int i = 0; i < s->nallow; i++) {
		const struct sg_allow_def *al = &s->allow[i];

		printf("    allow: %s %s", al->sector, sg_proto_name(al->proto));
		print_ports(al->ports, al->nports);
		printf("\n");
	}
	for (int i = 0; i < s->nforwards; i++) {
		const struct sg_forward_def *f = &s->forwards[i];

		printf("    forward: %s %u -> %s:%u\n",
		       f->proto == 6 ? "tcp" : "udp", f->port,
		       sg_ipv4_str(f->to_addr, a), f->to_port);
	}
	for (int i = 0; i < s->nallow_from; i++) {
		const struct sg_source_def *src = &s->allow_from[i];

		if (src->iface)
			printf("    allow-from: %s\n", src->iface);
		else
			printf("    allow-from: %s/%u\n",
			       sg_ipv4_str(src->cidr.addr, a), src->cidr.plen);
	}
	for (int i = 0; i < s->negress; i++) {
		const struct sg_egress_def *e = &s->egress[i];

		printf("    egress[%d]:", i);
		for (int k = 0; k < e->ndests; k++)
			printf(" %s/%u", sg_ipv4_str(e->dests[k].addr, a),
			       e->dests[k].plen);
		for (int k = 0; k < e->nexcept; k++)
			printf(" -%s/%u", sg_ipv4_str(e->except[k].addr, a),
			       e->except[k].plen);
		printf(" %s", sg_proto_name(e->proto));
		print_ports(e->ports, e->nports);
		printf(" via");
		for (int k = 0; k < e->nifaces; k++)
			printf("%s%s", k ? "," : " ", e->ifaces[k]);
		if (e->snat_mode == SG_SNAT_NONE)
			printf(" untranslated\n");
		else if (e->snat_mode == SG_SNAT_ADDRESS)
			printf(" from %s\n", sg_ipv4_str(e->snat_addr, a));
		else
			printf(" from the device's address\n");
	}
}

int cmd_check(const struct sg_opts *o)
{
	struct sg_diags d = {};
	struct sg_netdev *devs;
	struct sg_compiled c;
	struct sg_model m;
	int ndevs, ret = SG_EXIT_OK;

	if (sg_load_definitions(o, &m, &devs, &ndevs)) {
		ret = SG_EXIT_INVALID;
		goto out;
	}
	if (sg_compile(&m, devs, ndevs, 0, &c, &d)) {
		sg_report_invalid(o->config, &d);
		ret = SG_EXIT_INVALID;
		goto out_compiled;
	}
	printf("%s: valid: %d sectors, %d uplinks, %d trusted, %d protected\n",
	       o->config, m.nsectors, m.nuplinks, m.ntrusted, m.nprotected);
	for (int i = 0; i < m.nsectors; i++)
		print_sector(&m.sectors[i], &c);
	for (int i = 0; i < c.nmissing; i++)
		printf("  not present yet: %s\n", c.missing[i]);
out_compiled:
	sg_compiled_free(&c);
out:
	free(devs);
	sg_model_free(&m);
	return ret;
}
