// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>

#include "dest_strides.h"
#include "util.h"

static int by_plen(const void *a, const void *b)
{
	return ((const struct sg_dest_prefix *)a)->plen -
	       ((const struct sg_dest_prefix *)b)->plen;
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int distinct(uint32_t *v, int n)
{
	int d = 0;

	qsort(v, n, sizeof(*v), by_value);
	for (int i = 0; i < n; i++)
		d += !i || v[i] != v[i - 1];
	return d;
}

int sg_dest_chunks_of(const struct sg_dest_prefix *prefixes, int n)
{
	uint32_t *b16 = calloc(n + 1, sizeof(*b16));
	uint32_t *b24 = calloc(n + 1, sizeof(*b24));
	int n16 = 0, n24 = 0, chunks;

	if (!b16 || !b24)
		sg_oom();
	for (int i = 0; i < n; i++) {
		if (prefixes[i].plen > 16)
			b16[n16++] = prefixes[i].addr >> 16;
		if (prefixes[i].plen > 24)
			b24[n24++] = prefixes[i].addr >> 8;
	}
	chunks = distinct(b16, n16) + distinct(b24, n24);
	free(b16);
	free(b24);
	return chunks;
}

/* The chunk that splits entry e, made on first use and filled with the
 * answer e had: the longest of the shorter prefixes, all painted by
 * then. 0 when none is left. */
static uint32_t split(struct sg_dest_strides *s, struct sg_dest_stride *top,
		      uint32_t top_idx, uint32_t chunk, uint32_t idx)
{
	struct sg_dest_stride *e = chunk ? &s->chunks[chunk][idx] :
					   &top[top_idx];
	struct sg_dest_stride was = *e;

	if (e->chunk)
		return e->chunk;
	if (s->nchunks >= SG_MAX_DEST_CHUNKS)
		return 0;
	s->chunks = realloc(s->chunks, (s->nchunks + 1) * sizeof(*s->chunks));
	if (!s->chunks)
		sg_oom();
	for (int i = 0; i < 256; i++)
		s->chunks[s->nchunks][i] = was;
	/* realloc may have moved what e pointed into. */
	e = chunk ? &s->chunks[chunk][idx] : &top[top_idx];
	e->chunk = s->nchunks;
	return s->nchunks++;
}

/* Paint prefix x (sorted: shorter ones painted before) into the strides. */
static int paint(struct sg_dest_strides *s, const struct sg_dest_prefix *x)
{
	uint32_t first = x->plen ? x->addr & ~0U << (32 - x->plen) : 0;
	struct sg_dest_stride v = { .dest = x->v };
	uint32_t c16, c24, count;

	if (x->plen <= 16) {
		count = 1U << (16 - x->plen);
		for (uint32_t b = 0; b < count; b++)
			s->top[(first >> 16) + b] = v;
		return 0;
	}
	c16 = split(s, s->top, first >> 16, 0, 0);
	if (!c16)
		return -1;
	if (x->plen <= 24) {
		count = 1U << (24 - x->plen);
		for (uint32_t b = 0; b < count; b++)
			s->chunks[c16][(first >> 8 & 0xff) + b] = v;
		return 0;
	}
	c24 = split(s, NULL, 0, c16, first >> 8 & 0xff);
	if (!c24)
		return -1;
	count = 1U << (32 - x->plen);
	for (uint32_t b = 0; b < count; b++)
		s->chunks[c24][(first & 0xff) + b] = v;
	return 0;
}

int sg_dest_strides_build(struct sg_dest_strides *s,
			  const struct sg_dest_prefix *prefixes, int n)
{
	struct sg_dest_prefix *sorted;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	s->top = calloc(SG_DEST_TOP_ENTRIES, sizeof(*s->top));
	s->chunks = calloc(1, sizeof(*s->chunks));
	sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof(*sorted));
	if (!s->top || !s->chunks || !sorted)
		sg_oom();
	s->nchunks = 1;
	if (n > 0) {
		memcpy(sorted, prefixes, (size_t)n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), by_plen);
	}
	/* Shortest first: a longer prefix paints over what it lies in. */
	for (int i = 0; i < n && !ret; i++)
		ret = paint(s, &sorted[i]);
	free(sorted);
	return ret;
}

void sg_dest_strides_free(struct sg_dest_strides *s)
{
	free(s->top);
	free(s->chunks);
	memset(s, 0, sizeof(*s));
}

struct sg_dest sg_dest_strides_find(const struct sg_dest_strides *s,
				    uint32_t addr)
{
	const struct sg_dest_stride *e = &s->top[addr >> 16];

	if (e->chunk)
		e = &s->chunks[e->chunk][addr >> 8 & 0xff];
	if (e->chunk)
		e = &s->chunks[e->chunk][addr & 0xff];
	return e->chunk ? (struct sg_dest){} : e->dest;
}
