// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

/*
 * The field paths are copied into chunks that are only freed with the
 * model: one allocation for thousands of them, and no element has a
 * string of its own to free.
 */
#define SG_PATH_CHUNK	65536

struct sg_path_chunk {
	struct sg_path_chunk *next;
	size_t used;
	size_t size;
	char text[];
};

uint32_t sg_cidr_mask(uint8_t plen)
{
	return plen ? ~0U << (32 - plen) : 0;
}

bool sg_cidr_contains(const struct sg_cidr *c, uint32_t addr)
{
	return ((addr ^ c->addr) & sg_cidr_mask(c->plen)) == 0;
}

bool sg_cidr_within(uint32_t addr, uint8_t plen, const struct sg_cidr *b)
{
	return plen >= b->plen && sg_cidr_contains(b, addr);
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

const char *sg_model_path(struct sg_model *m, const char *path)
{
	size_t len = strlen(path) + 1;
	struct sg_path_chunk *c = m->paths;
	char *copy;

	if (!c || c->size - c->used < len) {
		size_t size = len > SG_PATH_CHUNK ? len : SG_PATH_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			sg_oom();
		c->next = m->paths;
		c->used = 0;
		c->size = size;
		m->paths = c;
	}
	copy = memcpy(c->text + c->used, path, len);
	c->used += len;
	return copy;
}

bool sg_model_is_uplink(const struct sg_model *m, const char *iface)
{
	for (int i = 0; i < m->nuplinks; i++)
		if (m->uplinks[i].iface && !strcmp(m->uplinks[i].iface, iface))
			return true;
	return false;
}

bool sg_is_glob(const char *name)
{
	return strpbrk(name, "*?[") != NULL;
}

const struct sg_name *sg_model_glob_for(const struct sg_model *m,
					const char *name, int except,
					int *sector)
{
	for (int o = 0; o < m->nsectors; o++) {
		for (int k = 0; o != except && k < m->sectors[o].nifaces; k++) {
			const struct sg_name *n = &m->sectors[o].ifaces[k];

			if (n->name && sg_is_glob(n->name) &&
			    !fnmatch(n->name, name, 0)) {
				if (sector)
					*sector = o;
				return n;
			}
		}
	}
	return NULL;
}

void sg_model_free(struct sg_model *m)
{
	while (m->paths) {
		struct sg_path_chunk *next = m->paths->next;

		free(m->paths);
		m->paths = next;
	}
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

void sg_diag_vat(struct sg_diags *d, const char *file, struct sg_pos pos,
		 const char *suffix, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (pos.path && *pos.path)
		sg_diag_add(d, "%s:%d:%d: %s%s%s: %s", file, pos.line, pos.col,
			    pos.path, suffix ? "." : "", suffix ? suffix : "",
			    msg);
	else
		sg_diag_add(d, "%s:%d:%d: %s", file, pos.line, pos.col, msg);
}

void sg_diag_at(struct sg_diags *d, const char *file, struct sg_pos pos,
		const char *suffix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_diag_vat(d, file, pos, suffix, fmt, ap);
	va_end(ap);
}

struct cidr_ref {
	uint32_t first, last;	/* the addresses of the CIDR, inclusive */
	int sector;
	struct sg_cidr *cidr;
};

/* In address order; of CIDRs that start together, the larger first. */
static int by_range(const void *a, const void *b)
{
	const struct cidr_ref *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return (x->last < y->last) - (x->last > y->last);
}

static void mark_overlap(struct sg_model *m, const struct cidr_ref *a,
			 const struct cidr_ref *b)
{
	a->cidr->shared = b->cidr->shared = true;
	if (m->sectors[a->sector].overlaps < 0)
		m->sectors[a->sector].overlaps = b->sector;
	if (m->sectors[b->sector].overlaps < 0)
		m->sectors[b->sector].overlaps = a->sector;
}

/*
 * Two CIDRs overlap only when one contains the other. In address order
 * (the larger of two that start together first), the CIDRs that contain
 * the current one are exactly those still open: a stack. A sweep finds
 * every overlap between sectors in n log n plus the depth of nesting,
 * where comparing every pair took seconds for a file at full capacity.
 */
void sg_model_overlaps(struct sg_model *m)
{
	struct cidr_ref *refs = NULL, **open = NULL;
	int n = 0, depth = 0;

	for (int s = 0; s < m->nsectors; s++) {
		m->sectors[s].overlaps = -1;
		for (int i = 0; i < m->sectors[s].ncidrs; i++) {
			struct sg_cidr *c = &m->sectors[s].cidrs[i];

			c->shared = false;
			refs = sg_grow(refs, n, sizeof(*refs));
			refs[n++] = (struct cidr_ref){
				.first = c->addr,
				.last = c->addr | ~sg_cidr_mask(c->plen),
				.sector = s, .cidr = c,
			};
		}
	}
	if (n)
		qsort(refs, n, sizeof(*refs), by_range);
	for (int i = 0; i < n; i++) {
		while (depth && open[depth - 1]->last < refs[i].first)
			depth--;
		for (int j = 0; j < depth; j++)
			if (open[j]->sector != refs[i].sector)
				mark_overlap(m, open[j], &refs[i]);
		open = sg_grow(open, depth, sizeof(*open));
		open[depth++] = &refs[i];
	}
	free(open);
	free(refs);
}

#define SG_IDS (UINT16_MAX + 1)

static bool id_taken(const uint8_t *taken, uint16_t id)
{
	return taken[id / 8] & (1U << (id % 8));
}

static void take_id(uint8_t *taken, uint16_t id)
{
	taken[id / 8] |= 1U << (id % 8);
}

/* The lowest id taken in neither (reserved may be NULL), or 0. */
static uint16_t free_id(const uint8_t *taken, const uint8_t *reserved)
{
	for (uint32_t id = 1; id < SG_IDS; id++)
		if (!id_taken(taken, id) && !(reserved && id_taken(reserved, id)))
			return id;
	return 0;
}

/* The sector of m the file gives id, or NULL. */
static const struct sg_sector_def *given_id(const struct sg_model *m,
					    uint32_t id)
{
	for (int s = 0; s < m->nsectors; s++)
		if (m->sectors[s].id_given && m->sectors[s].id == id)
			return &m->sectors[s];
	return NULL;
}

int sg_model_keep_ids(struct sg_model *m, const struct sg_sector_id *live,
		      int nlive, uint32_t above, struct sg_diags *d)
{
	int errors = 0;

	/* Taken: ids the file gives, then the ones kept. Reserved too,
	 * should the ids above run out: every running sector's. */
	uint8_t *taken = calloc(SG_IDS / 8, 1), *live_ids = calloc(SG_IDS / 8, 1);

	if (!taken || !live_ids)
		sg_oom();
	take_id(taken, 0);
	for (int i = 0; i < nlive; i++)
		take_id(live_ids, live[i].id);
	/* A default id is 0 (none) until it is kept or given below. */
	for (int s = 0; s < m->nsectors; s++) {
		if (m->sectors[s].id_given)
			take_id(taken, m->sectors[s].id);
		else
			m->sectors[s].id = 0;
	}
	for (int s = 0; s < m->nsectors; s++) {
		struct sg_sector_def *sec = &m->sectors[s];

		for (int i = 0; !sec->id_given && i < nlive; i++) {
			const struct sg_sector_def *o;

			if (strncmp(live[i].name, sec->name, SG_NAME_LEN))
				continue;
			/* Given to another while this one runs with it: that
			 * one would take this one's flows. */
			o = given_id(m, live[i].id);
			if (o) {
				sg_diag_at(d, m->file, o->id_pos, NULL,
					   "%u is the id sector \"%s\" runs "
					   "with; give \"%s\" its own id, or "
					   "\"%s\" another", live[i].id,
					   sec->name, sec->name, o->name);
				errors++;
				break;
			}
			sec->id = live[i].id;
			take_id(taken, sec->id);
			break;
		}
	}
	for (int s = 0; s < m->nsectors; s++) {
		struct sg_sector_def *sec = &m->sectors[s];
		uint32_t id = s + 1;

		if (sec->id)
			continue;	/* given, or kept */
		/* Above every id given so far: no removed sector's, whose
		 * flows may still be in the table. */
		if (id <= above || id_taken(taken, id))
			for (id = above + 1; id < SG_IDS && id_taken(taken, id);)
				id++;
		/* None left above (65,535 ids): one no sector holds, running
		 * or in the file (one is free: 0 is none's). */
		if (id >= SG_IDS)
			id = free_id(taken, live_ids);
		if (!id)
			id = free_id(taken, NULL);
		sec->id = id;
		take_id(taken, id);
	}
	free(live_ids);
	free(taken);
	return errors ? -1 : 0;
}
