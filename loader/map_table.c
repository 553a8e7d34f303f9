// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <string.h>

#include "map_table.h"
#include "util.h"

#define MAP(n, field, k, c) \
	{ #n, offsetof(struct sg_map_fds, field), SG_KEEP_##k, c }

const struct sg_map_desc sg_map_table[] = {
	MAP(sg_state, state, MIGRATED, false),
	MAP(sg_build, build, NOTHING, false),
	MAP(sg_config, config, REBUILT, false),
	MAP(sg_imds, imds, REBUILT, false),
	MAP(sg_devices, devices, REBUILT, true),
	MAP(sg_sectors, sectors, REBUILT, true),
	MAP(sg_sector_nets, sector_nets, REBUILT, true),
	MAP(sg_dest_nets, dest_nets, REBUILT, true),
	MAP(sg_allow, allow, REBUILT, true),
	MAP(sg_flows, flows, MIGRATED, true),
	MAP(sg_counters, counters, MIGRATED, false),
	MAP(sg_events, events, NOTHING, false),
	MAP(sg_event_budget, event_budget, NOTHING, false),
};

const int sg_nmaps = ARRAY_SIZE(sg_map_table);

_Static_assert(ARRAY_SIZE(sg_map_table) <= SG_MAX_MAPS, "SG_MAX_MAPS");
_Static_assert(ARRAY_SIZE(sg_map_table) * sizeof(int) ==
	       sizeof(struct sg_map_fds), "every fd of sg_map_fds is a map");

const struct sg_map_desc *sg_map_desc_of(const char *name)
{
	for (int i = 0; i < sg_nmaps; i++)
		if (!strcmp(sg_map_table[i].name, name))
			return &sg_map_table[i];
	return NULL;
}
