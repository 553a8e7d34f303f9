// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdlib.h>

#include "model.h"

uint32_t sg_cidr_mask(uint8_t plen)
{
	return plen ? ~0U << (32 - plen) : 0;
}

bool sg_cidr_contains(const struct sg_cidr *c, uint32_t addr)
{
	return ((addr ^ c->addr) & sg_cidr_mask(c->plen)) == 0;
}

bool sg_cidr_overlap(const struct sg_cidr *a, const struct sg_cidr *b)
{
	uint8_t plen = a->plen < b->plen ? a->plen : b->plen;

	return ((a->addr ^ b->addr) & sg_cidr_mask(plen)) == 0;
}

static void free_names(struct sg_name *names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i].name);
	free(names);
}

static void free_sector(struct sg_sector_def *s)
{
	free(s->cidrs);
	free_names(s->ifaces, s->nifaces);
	for (int i = 0; i < s->nallow_from; i++)
		free(s->allow_from[i].iface);
	free(s->allow_from);
	for (int i = 0; i < s->nallow; i++) {
		free(s->allow[i].sector);
		free(s->allow[i].ports);
	}
	free(s->allow);
	free(s->forwards);
	for (int i = 0; i < s->negress; i++) {
		struct sg_egress_def *e = &s->egress[i];

		free(e->dests);
		free(e->except);
		free(e->ports);
		for (int j = 0; j < e->nifaces; j++)
			free(e->ifaces[j]);
		free(e->ifaces);
	}
	free(s->egress);
}

void sg_model_free(struct sg_model *m)
{
	for (int i = 0; i < m->nuplinks; i++)
		free(m->uplinks[i].iface);
	free(m->uplinks);
	free(m->protected_nets);
	free_names(m->trusted, m->ntrusted);
	for (int i = 0; i < m->nsectors; i++)
		free_sector(&m->sectors[i]);
	free(m->sectors);
	free(m->file);
}
