// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dest_strides.h"
#include "util.h"

#define TOP_SHIFT	(32 - SG_DEST_TOP_BITS)

/* One prefix's part of a block of a stride: its answer there, or only
 * the news that something longer lies inside (finer). */
struct part {
	uint32_t block;
	int plen;
	bool finer;
	struct sg_dest v;
};

struct parts {
	struct part *p;
	int n;
};

static void add_part(struct parts *ps, uint32_t block, int plen, bool finer,
		     struct sg_dest v)
{
	ps->p = sg_grow(ps->p, ps->n, sizeof(*ps->p));
	ps->p[ps->n++] = (struct part){ block, plen, finer, v };
}

/* By block; within one, shortest prefix first, so the longest comes last. */
static int by_block(const void *a, const void *b)
{
	const struct part *x = a, *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->plen - y->plen;
}

static int by_plen(const void *a, const void *b)
{
	return ((const struct sg_dest_prefix *)a)->plen -
	       ((const struct sg_dest_prefix *)b)->plen;
}

int sg_dest_cells_of(int plen)
{
	if (plen <= SG_DEST_TOP_BITS)
		return 0;
	if (plen <= 24)
		return 1 << (24 - plen);
	return 1 + (1 << (32 - plen));
}

static void add_cell(struct sg_dest_strides *s, uint32_t slot, int plen,
		     uint32_t block, struct sg_dest v)
{
	uint32_t be = htonl(block);

	s->cells = sg_grow(s->cells, s->ncells, sizeof(*s->cells));
	s->cells[s->ncells].k = (struct sg_dest_cell_key){
		.slot = slot, .plen = plen,
	};
	memcpy(s->cells[s->ncells].k.addr, &be, 4);
	s->cells[s->ncells].v = v;
	s->ncells++;
}

/*
 * The cells of one stride (24 or 32) from parts sorted by block: each
 * block's answer is the longest part's that has one, over what the
 * coarser strides, built already, answer there; FINER where a part says
 * so. (The cells of this stride come in address order, so the lookup of
 * the coarser answer never finds one of them.)
 */
static void fold(struct sg_dest_strides *s, uint32_t slot, int stride,
		 const struct parts *ps)
{
	for (int i = 0; i < ps->n;) {
		uint32_t block = ps->p[i].block;
		struct sg_dest v = sg_dest_strides_find(s, block);

		v.flags = 0;
		for (; i < ps->n && ps->p[i].block == block; i++) {
			if (ps->p[i].finer)
				v.flags |= SG_DEST_FINER;
			else
				v = (struct sg_dest){
					.sector = ps->p[i].v.sector,
					.kind = ps->p[i].v.kind,
					.flags = v.flags,
				};
		}
		add_cell(s, slot, stride, block, v);
	}
}

int sg_dest_strides_build(struct sg_dest_strides *s, uint32_t slot,
			  const struct sg_dest_prefix *prefixes, int n)
{
	struct sg_dest_prefix *sorted = NULL;
	struct parts p24 = {}, p32 = {};
	long cells = 0;
	int i;

	memset(s, 0, sizeof(*s));
	s->top = calloc(SG_DEST_TOP_ENTRIES, sizeof(*s->top));
	if (!s->top)
		sg_oom();
	for (i = 0; i < n; i++)
		cells += sg_dest_cells_of(prefixes[i].plen);
	if (cells > SG_MAX_DEST_CELLS)
		return -1;
	if (n > 0) {
		sorted = malloc((size_t)n * sizeof(*sorted));
		if (!sorted)
			sg_oom();
		memcpy(sorted, prefixes, (size_t)n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), by_plen);
	}

	/* Shortest first: a longer prefix paints over what it lies in. */
	for (i = 0; i < n; i++) {
		const struct sg_dest_prefix *x = &sorted[i];
		uint32_t first = x->plen ? x->addr & ~0U << (32 - x->plen) : 0;
		struct sg_dest v = x->v;

		v.flags = 0;
		if (x->plen <= SG_DEST_TOP_BITS) {
			uint32_t count = 1U << (SG_DEST_TOP_BITS - x->plen);

			for (uint32_t b = 0; b < count; b++)
				s->top[(first >> TOP_SHIFT) + b] = v;
			continue;
		}
		s->top[first >> TOP_SHIFT].flags |= SG_DEST_FINER;
		if (x->plen <= 24) {
			for (uint32_t b = 0; b < 1U << (24 - x->plen); b++)
				add_part(&p24, (first >> 8) + b, x->plen,
					 false, v);
			continue;
		}
		add_part(&p24, first >> 8, x->plen, true, v);
		for (uint32_t a = 0; a < 1U << (32 - x->plen); a++)
			add_part(&p32, first + a, x->plen, false, v);
	}
	free(sorted);

	/* /24 blocks are keyed by their first address. */
	for (i = 0; i < p24.n; i++)
		p24.p[i].block <<= 8;
	if (p24.n)
		qsort(p24.p, p24.n, sizeof(*p24.p), by_block);
	fold(s, slot, 24, &p24);
	if (p32.n)
		qsort(p32.p, p32.n, sizeof(*p32.p), by_block);
	fold(s, slot, 32, &p32);
	free(p24.p);
	free(p32.p);
	return 0;
}

void sg_dest_strides_free(struct sg_dest_strides *s)
{
	free(s->top);
	free(s->cells);
	memset(s, 0, sizeof(*s));
}

static const struct sg_dest *find_cell(const struct sg_dest_strides *s,
				       int plen, uint32_t block)
{
	/* Cells are in stride order, each stride by address. */
	for (int lo = 0, hi = s->ncells; lo < hi;) {
		int mid = (lo + hi) / 2;
		const struct sg_dest_cell_key *k = &s->cells[mid].k;
		uint32_t at;
		int cmp;

		memcpy(&at, k->addr, 4);
		at = ntohl(at);
		cmp = k->plen != plen ? k->plen - plen :
		      at != block ? (at < block ? -1 : 1) : 0;
		if (!cmp)
			return &s->cells[mid].v;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct sg_dest sg_dest_strides_find(const struct sg_dest_strides *s,
				    uint32_t addr)
{
	struct sg_dest d = s->top[addr >> TOP_SHIFT];
	const struct sg_dest *finer;

	if (!(d.flags & SG_DEST_FINER))
		return d;
	finer = find_cell(s, 24, addr & ~0xffU);
	if (!finer)
		return d;
	d = *finer;
	if (!(d.flags & SG_DEST_FINER))
		return d;
	finer = find_cell(s, 32, addr);
	return finer ? *finer : d;
}
