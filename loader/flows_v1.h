/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow entry of layout 1 (sectorgate before sg_build), frozen, and its
 * conversion to today's: an apply of this build over pins of that one
 * moves every flow across (loader/instance.c), never drops it.
 *
 * In layout 1 a field meant one thing in a primary and another in a reply
 * entry: nat_addr/nat_port were the source a primary leaves with, and the
 * originator's own address and port in a reply entry; the MACs learnt
 * from the VM sat in the primary.
 */
#ifndef SG_FLOWS_V1_H
#define SG_FLOWS_V1_H

#include "sg_common.h"

struct sg_flow_v1 {
	__u64 expires_ns;
	__u16 peer_zone;
	__u8 dir;
	__u8 state;
	__u8 nat;
	__u8 flags;		/* bit 0: vm_mac, gw_mac set; bit 1: REV_XDP */
	__u16 counters;
	__be32 nat_addr;
	__be16 nat_port;
	__u16 fwd_mtu;
	__u32 ifindex;
	__u8 vm_mac[6];
	__u8 gw_mac[6];
	__u32 fwd_generation;
	__u32 fwd_checked;
	__u32 fwd_ifindex;
	__u8 fwd_dmac[6];
	__u8 fwd_smac[6];
};

_Static_assert(sizeof(struct sg_flow_v1) == 64, "sg_flow layout 1");

#define SG_FLOW_V1_L2_KNOWN	(1U << 0)

/*
 * The layout-2 entry for the layout-1 entry o under key k of the map fd
 * (where a reply entry's primary is looked up for the MACs it learnt).
 */
void sg_flow_from_v1(int fd, const struct sg_flow_key *k,
		     const struct sg_flow_v1 *o, struct sg_flow *n);

#endif /* SG_FLOWS_V1_H */
