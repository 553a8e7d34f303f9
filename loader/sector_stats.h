/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The counters of every live sector, summed over the CPUs: what `stats`
 * prints and /metrics serves. */
#ifndef SG_SECTOR_STATS_H
#define SG_SECTOR_STATS_H

#include "instance.h"
#include "sg_common.h"

struct sg_sector_stats {
	__u32 id;		/* 0: what belongs to no sector ("host") */
	char name[32];
	struct sg_counters c;
};

/* Every sector of the live slot (zeros until its first packet), then the
 * "host" row if it counted anything. Returns the count. */
int sg_sector_stats_collect(const struct sg_instance *in, __u32 slot,
			    struct sg_sector_stats **out);

#endif /* SG_SECTOR_STATS_H */
