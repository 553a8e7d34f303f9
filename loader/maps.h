/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Writing compiled definitions into the maps, and the slot flip. */
#ifndef SG_MAPS_USER_H
#define SG_MAPS_USER_H

#include "compile.h"

/* The fds of the maps, named; loader/map_table.c lists them all. */
struct sg_map_fds {
	int state;
	int build;
	int config;
	int imds;
	int devices;
	int sectors;
	int sector_nets;
	int dest_nets;
	int dest_top;
	int dest_chunks;
	int allow;
	int forwards;
	int admit_devs;
	int admit_nets;
	int egress_nets;
	int egress_policies;
	int flows;
	int counters;
	int sector_flows;
	int unanswered;
	int unanswered_spans;
	int frags;
	int events;
	int event_budget;
};

/* Where a definition map keeps the slot in its key (2 or 4 bytes). */
struct sg_slot_field {
	size_t key_size;
	size_t offset;
	size_t width;
};
extern const struct sg_slot_field sg_slot_devices, sg_slot_sectors,
	sg_slot_nets, sg_slot_dests, sg_slot_allow, sg_slot_forwards,
	sg_slot_admit_devs, sg_slot_egress_policies;
__u32 sg_key_slot(const void *key, const struct sg_slot_field *f);

int sg_maps_read_state(const struct sg_map_fds *fds, struct sg_state *st);

/* The slot the next apply fills: the datapath reads the slot as the
 * generation's low bit, so the two must always agree. */
static inline __u32 sg_next_slot(const struct sg_state *st)
{
	return (st->generation + 1) & 1;
}

/* Empty slot c->slot of every definition map, then fill it from *c. */
int sg_maps_fill_slot(const struct sg_map_fds *fds, const struct sg_compiled *c);

/* Make c->slot the live one: a single map update, seen by the next packet. */
int sg_maps_flip(const struct sg_map_fds *fds, const struct sg_compiled *c,
		 const struct sg_state *old);

/* The per-CPU counters of sg_counters[key], summed. 0 or -errno. */
int sg_counters_read(int fd, __u32 key, struct sg_counters *sum);

/* Count the entries of a map (iterating its keys). */
int sg_map_count(int fd, size_t key_size);

#endif /* SG_MAPS_USER_H */
