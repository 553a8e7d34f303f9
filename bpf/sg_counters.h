/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU, per-sector counters; `sectorgate stats` sums the CPUs. */
#ifndef SG_COUNTERS_H
#define SG_COUNTERS_H

#include "sg_bpf.h"

static __always_inline struct sg_counters *sg_counters_get(__u32 sector)
{
	static const struct sg_counters zero;
	struct sg_counters *cnt;

	cnt = bpf_map_lookup_elem(&sg_counters, &sector);
	if (cnt)
		return cnt;
	/* First packet of this sector on any CPU: NOEXIST loses no race. */
	bpf_map_update_elem(&sg_counters, &sector, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&sg_counters, &sector);
}

static __always_inline void sg_count_rx(__u32 sector, __u32 len)
{
	struct sg_counters *cnt = sg_counters_get(sector);

	if (cnt) {
		cnt->rx_packets++;
		cnt->rx_bytes += len;
	}
}

static __always_inline void sg_count_tx(__u32 sector, __u32 len)
{
	struct sg_counters *cnt = sg_counters_get(sector);

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
static __always_inline void sg_count_fast(__u32 sector, bool out,
					  bool traffic, __u32 len)
{
	struct sg_counters *cnt = sg_counters_get(sector);

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

static __always_inline void sg_count_drop(__u32 sector, __u32 reason)
{
	struct sg_counters *cnt = sg_counters_get(sector);

	if (cnt && reason < SG_DROP_MAX)
		cnt->drops[reason]++;
}

#endif /* SG_COUNTERS_H */
