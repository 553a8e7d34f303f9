/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow table upkeep from user space. */
#ifndef SG_FLOWS_H
#define SG_FLOWS_H

#include <stdbool.h>
#include <stdint.h>

#include "sg_common.h"
#include "maps.h"

/* The maps the upkeep touches; -1 for one it is to leave alone. */
struct sg_flow_fds {
	int flows;
	int sector_flows;	/* the counts */
	int unanswered;		/* with unanswered_spans: the list */
	int unanswered_spans;
};

/* All of them, as `run` keeps them up. */
static inline struct sg_flow_fds sg_flow_fds_of(const struct sg_map_fds *m)
{
	return (struct sg_flow_fds){ .flows = m->flows,
		.sector_flows = m->sector_flows, .unanswered = m->unanswered,
		.unanswered_spans = m->unanswered_spans };
}

/*
 * Remove flows that expired more than grace_ns before now (on the
 * bpf_ktime_get_ns() clock): primary entries with their reply entry, and
 * reply entries whose primary is gone. In the same walk, with
 * sector_flows, set each sector's count in sg_sector_flows to the
 * primaries it still holds: the datapath counts what it opens and
 * evicts, this whatever else removed them (and how many of them were
 * never answered); with unanswered, list the flows that were never
 * answered (or are over), each sector's oldest first, for the datapath's
 * search for room beyond the ones it opened last (sg_unanswered).
 * Returns the number of entries removed, or -errno.
 */
int sg_flows_gc(const struct sg_flow_fds *fds, uint64_t now,
		uint64_t grace_ns);

/*
 * Has the datapath found no room for a new flow since the list was last
 * written (entry 0 of sg_unanswered_spans, spans_fd, counts its
 * searches)? Then a collection is due now.
 */
bool sg_flows_room_wanted(int spans_fd);

/* Now, on the clock of bpf_ktime_get_ns(). */
uint64_t sg_ktime_now(void);

#endif /* SG_FLOWS_H */
