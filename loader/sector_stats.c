// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdlib.h>

#include "cli.h"
#include "sector_stats.h"
#include "util.h"

/* A new row for sector id (0: no sector), named. */
static struct sg_sector_stats *add_row(struct sg_sector_stats **arr, int *n,
				       const struct sg_instance *in,
				       __u32 slot, __u32 id)
{
	struct sg_sector_stats *s;

	*arr = sg_grow(*arr, *n, sizeof(**arr));
	s = &(*arr)[(*n)++];
	s->id = id;
	sg_sector_name(in, slot, id, s->name, sizeof(s->name));
	return s;
}

static bool any_counts(const struct sg_counters *c)
{
	const __u64 *w = (const __u64 *)c;

	for (size_t i = 0; i < sizeof(*c) / sizeof(*w); i++)
		if (w[i])
			return true;
	return false;
}

int sg_sector_stats_collect(const struct sg_instance *in, __u32 slot,
			    struct sg_sector_stats **out)
{
	struct sg_live_sector *live;
	struct sg_counters host;
	int n = 0, nlive;

	*out = NULL;
	nlive = sg_live_sectors(in, slot, &live);
	for (int i = 0; i < nlive; i++)
		sg_counters_read(in->fds.counters, live[i].s.counters,
				 &add_row(out, &n, in, slot, live[i].id)->c);
	free(live);
	if (!sg_counters_read(in->fds.counters, 0, &host) && any_counts(&host))
		add_row(out, &n, in, slot, 0)->c = host;
	return n;
}
