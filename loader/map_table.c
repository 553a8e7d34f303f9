// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <string.h>

#include "flows_v1.h"
#include "map_table.h"
#include "util.h"

#define MAP(n, field, k, c, key, value)				\
	{ #n, offsetof(struct sg_map_fds, field), SG_KEEP_##k, c,	\
	  sizeof(key), sizeof(value), 1, NULL, false }

static void flow_from_v1(int old_fd, const void *key, const void *old,
			 void *new)
{
	sg_flow_from_v1(old_fd, key, old, new);
}

const struct sg_map_desc sg_map_table[] = {
	MAP(sg_state, state, MIGRATED, false, __u32, struct sg_state),
	MAP(sg_build, build, NOTHING, false, __u32, struct sg_build),
	MAP(sg_config, config, REBUILT, false, __u32, struct sg_config),
	MAP(sg_imds, imds, REBUILT, false, __u32, struct sg_imds),
	MAP(sg_devices, devices, REBUILT, true, struct sg_device_key,
	    struct sg_device),
	MAP(sg_sectors, sectors, REBUILT, true, struct sg_sector_key,
	    struct sg_sector),
	MAP(sg_sector_nets, sector_nets, REBUILT, true, struct sg_net_key,
	    __u32),
	MAP(sg_dest_nets, dest_nets, REBUILT, true, struct sg_dest_key,
	    struct sg_dest),
	MAP(sg_dest_top, dest_top, REBUILT, false, __u32,
	    struct sg_dest_stride),
	MAP(sg_dest_chunks, dest_chunks, REBUILT, false, __u32,
	    struct sg_dest_stride),
	MAP(sg_allow, allow, REBUILT, true, struct sg_allow_key,
	    struct sg_allow),
	MAP(sg_forwards, forwards, REBUILT, true, struct sg_forward_key,
	    struct sg_forward),
	MAP(sg_admit_devs, admit_devs, REBUILT, true, struct sg_admit_dev_key,
	    __u32),
	MAP(sg_admit_nets, admit_nets, REBUILT, true, struct sg_net_key,
	    __u32),
	MAP(sg_egress_nets, egress_nets, REBUILT, true, struct sg_net_key,
	    struct sg_egress_match),
	MAP(sg_egress_policies, egress_policies, REBUILT, true,
	    struct sg_egress_policy_key, struct sg_egress_policy),
	{ "sg_flows", offsetof(struct sg_map_fds, flows), SG_KEEP_MIGRATED,
	  true, sizeof(struct sg_flow_key), sizeof(struct sg_flow), 2,
	  flow_from_v1, false },
	{ "sg_counters", offsetof(struct sg_map_fds, counters),
	  SG_KEEP_MIGRATED, false, sizeof(__u32), sizeof(struct sg_counters),
	  1, NULL, true },
	MAP(sg_sector_flows, sector_flows, NOTHING, false, __u32,
	    struct sg_sector_flows),
	MAP(sg_unanswered, unanswered, NOTHING, false, __u32,
	    struct sg_flow_key),
	MAP(sg_unanswered_spans, unanswered_spans, NOTHING, false, __u32,
	    struct sg_unanswered_span),
	MAP(sg_frags, frags, NOTHING, true, struct sg_frag_key,
	    struct sg_frag),
	{ "sg_events", offsetof(struct sg_map_fds, events), SG_KEEP_NOTHING,
	  false, 0, 0, 1, NULL, false },
	MAP(sg_event_budget, event_budget, NOTHING, false, __u32,
	    struct sg_event_budget),
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
