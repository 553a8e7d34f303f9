/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU, per-sector counters; `sectorgate stats` sums the CPUs. Each
 * function takes the sector's index in sg_counters (sg_device.counters,
 * sg_sector.counters), 0 for no sector.
 */
#ifndef SG_COUNTERS_H
#define SG_COUNTERS_H

#include "sg_defs.h"

static __always_inline struct sg_counters *sg_counters_at(__u32 idx)
{
	return bpf_map_lookup_elem(&sg_counters, &idx);
}

/* The index of sector `id`, for paths that know only the id (a
 * destination's owner): one lookup in the packet's definitions slot. */
static __always_inline __u32 sg_sector_counters(__u32 slot, __u16 id)
{
	struct sg_sector *s = id ? sg_sector_of(slot, id) : NULL;

	return s ? s->counters : 0;
}

static __always_inline void sg_count_rx(__u32 idx, __u32 len)
{
	struct sg_counters *cnt = sg_counters_at(idx);

	if (cnt) {
		cnt->rx_packets++;
		cnt->rx_bytes += len;
	}
}

static __always_inline void sg_count_tx(__u32 idx, __u32 len)
{
	struct sg_counters *cnt = sg_counters_at(idx);

	if (cnt) {
		cnt->tx_packets++;
		cnt->tx_bytes += len;
	}
}

/*
 * A packet the XDP fast path sent on: out to an uplink, or in (a reply
 * delivered into the sector). With traffic set, it is also counted as
 * received from (out) or sent to (in) the sector, in the same lookup.
 */
static __always_inline void sg_count_fast(__u32 idx, bool out, bool traffic,
					  __u32 len)
{
	struct sg_counters *cnt = sg_counters_at(idx);

	if (!cnt)
		return;
	if (out)
		cnt->fast_out_packets++;
	else
		cnt->fast_in_packets++;
	if (!traffic)
		return;
	if (out) {
		cnt->rx_packets++;
		cnt->rx_bytes += len;
	} else {
		cnt->tx_packets++;
		cnt->tx_bytes += len;
	}
}

static __always_inline void sg_count_drop(__u32 idx, __u32 reason)
{
	struct sg_counters *cnt = sg_counters_at(idx);

	/* drops[0] is flows_evicted. */
	if (cnt && reason && reason < SG_DROP_MAX)
		cnt->drops[reason]++;
}

/* A flow of the sector, never answered, was evicted for room. */
static __always_inline void sg_count_evicted(__u32 idx)
{
	struct sg_counters *cnt = sg_counters_at(idx);

	if (cnt)
		cnt->flows_evicted++;
}

#endif /* SG_COUNTERS_H */
