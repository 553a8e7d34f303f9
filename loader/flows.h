/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow table upkeep from user space. */
#ifndef SG_FLOWS_H
#define SG_FLOWS_H

#include <stdint.h>

#include "sg_common.h"

/*
 * Remove flows that expired more than grace_ns before now (on the
 * bpf_ktime_get_ns() clock): primary entries with their reply entry, and
 * reply entries whose primary is gone. With sector_flows_fd (not -1), in
 * the same walk, set each sector's count in sg_sector_flows to the
 * primaries it still holds: the datapath counts what it opens and
 * evicts, this whatever else removed them. Returns the number of entries
 * removed, or -errno.
 */
int sg_flows_gc(int flows_fd, int sector_flows_fd, uint64_t now,
		uint64_t grace_ns);

/* Only the counts (nothing removed): after a flush, say. 0 or -errno. */
int sg_flows_recount(int flows_fd, int sector_flows_fd);

/* Now, on the clock of bpf_ktime_get_ns(). */
uint64_t sg_ktime_now(void);

#endif /* SG_FLOWS_H */
