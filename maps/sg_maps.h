/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of sectorgate, declared with BTF types so that
 * `bpftool map dump pinned /sys/fs/bpf/sectorgate/<name>` prints named
 * fields. The loader pins each one as <pin-dir>/<map name>; docs/MAPS.md
 * describes what each holds. Maps keyed by `slot` hold two complete sets of
 * definitions, of which sg_state[0].slot is the live one.
 */
#ifndef SG_MAPS_H
#define SG_MAPS_H

#include "sg_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_state);
} sg_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_build);
} sg_build SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sg_config);
} sg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sg_imds);
} sg_imds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SG_MAX_DEVICES);
	__type(key, struct sg_device_key);
	__type(value, struct sg_device);
} sg_devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SG_MAX_SECTORS);
	__type(key, struct sg_sector_key);
	__type(value, struct sg_sector);
} sg_sectors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * SG_MAX_NETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_net_key);
	__type(value, __u32);		/* the sector id again, for dumps */
} sg_sector_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * SG_MAX_NETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_dest_key);
	__type(value, struct sg_dest);
} sg_dest_nets SEC(".maps");

/* sg_dest_nets in strides (sg_common.h), what the programs look up. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SG_DEST_TOP_ENTRIES);
	__type(key, __u32);
	__type(value, struct sg_dest_stride);
} sg_dest_top SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SG_MAX_DEST_CHUNKS * 256);
	__type(key, __u32);
	__type(value, struct sg_dest_stride);
} sg_dest_chunks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SG_MAX_ALLOW_PAIRS);
	__type(key, struct sg_allow_key);
	__type(value, struct sg_allow);
} sg_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SG_MAX_FORWARDS);
	__type(key, struct sg_forward_key);
	__type(value, struct sg_forward);
} sg_forwards SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * SG_MAX_NETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_admit_dev_key);
	__type(value, __u32);		/* the sector id */
} sg_admit_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * SG_MAX_NETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_net_key);
	__type(value, __u32);		/* the sector id again, for dumps */
} sg_admit_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * SG_MAX_NETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_net_key);
	__type(value, struct sg_egress_match);
} sg_egress_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SG_MAX_SECTORS);
	__type(key, struct sg_egress_policy_key);
	__type(value, struct sg_egress_policy);
} sg_egress_policies SEC(".maps");

/*
 * Sized from conntrack.max-flows by the loader (two entries per flow).
 * Preallocated: a new flow's two inserts then take entries from a free
 * list, where a table that allocates as it grows spends most of a new
 * flow's time allocating (docs/PERFORMANCE.md). Either way a deleted
 * entry may be reused at once (since Linux 6.1 the allocating table frees
 * into a per-CPU cache too): a program checks the entry's key tag before
 * it writes into it and after it has read it (sg_flow_is;
 * docs/ARCHITECTURE.md, "Room, fairly").
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SG_DEFAULT_MAX_FLOWS);
	__type(key, struct sg_flow_key);
	__type(value, struct sg_flow);
} sg_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_COUNTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct sg_counters);
} sg_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_COUNTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct sg_sector_flows);
} sg_sector_flows SEC(".maps");

/* Each sector's unanswered flows beyond recent[], from `run` (sg_quota.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_UNANSWERED_KEYS);
	__type(key, __u32);
	__type(value, struct sg_flow_key);
} sg_unanswered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_COUNTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct sg_unanswered_span);
} sg_unanswered_spans SEC(".maps");

/* The fragments after a datagram's first follow it (bpf/sg_frag.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SG_FRAG_ENTRIES);
	__type(key, struct sg_frag_key);
	__type(value, struct sg_frag);
} sg_frags SEC(".maps");

/* Drop events for `sectorgate monitor`, and their rate limit. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SG_EVENTS_RING);
} sg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_event_budget);
} sg_event_budget SEC(".maps");

/* The sg_devices entry this CPU looked up last, for the fast path (not
 * pinned: it belongs to the running programs). */
struct sg_device_recent {
	__u32 ifindex;
	__u32 generation;	/* sg_state.generation it holds for */
	struct sg_device dev;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_device_recent);
} sg_device_recent SEC(".maps");

/*
 * Scratch space, per CPU, for the reply entry a new translated flow
 * claims its port with: the programs' stacks are nearly full. Not pinned.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_flow);
} sg_flow_scratch SEC(".maps");

/*
 * Scratch space, per CPU, where the XDP fast path copies an L4 part to
 * finish a checksum the sender left unfinished (bpf/sg_xdp_edit.h). Not
 * pinned: it holds nothing between packets. Its length bounds what can be
 * finished, beyond any Ethernet MTU.
 */
#define SG_CSUM_MAX_LEN	2048

struct sg_csum_scratch {
	__u8 b[SG_CSUM_MAX_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_csum_scratch);
} sg_csum_scratch SEC(".maps");

#endif /* SG_MAPS_H */
