// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <string.h>

#include "flows_v1.h"

static void kept_from_v1(struct sg_flow_kept *kept, const struct sg_flow_v1 *o)
{
	kept->ifindex = o->fwd_ifindex;
	kept->generation = o->fwd_generation;
	kept->checked = o->fwd_checked;
	kept->mtu = o->fwd_mtu;
	memcpy(kept->dmac, o->fwd_dmac, 6);
	memcpy(kept->smac, o->fwd_smac, 6);
}

void sg_flow_from_v1(int fd, const struct sg_flow_key *k,
		     const struct sg_flow_v1 *o, struct sg_flow *n)
{
	struct sg_flow_key okey;
	struct sg_flow_v1 prim;

	memset(n, 0, sizeof(*n));
	n->expires_ns = o->expires_ns;
	n->dir = o->dir;
	n->state = o->state;
	n->nat = o->nat;
	n->counters = o->counters;
	n->peer_zone = o->peer_zone;
	/* Untranslated fields hold the packet's own: the key's. */
	n->xlate = (struct sg_flow_xlate){ .saddr = k->saddr,
		.daddr = k->daddr, .sport = k->sport, .dport = k->dport };
	if (o->dir == SG_FLOW_ORIG) {
		if (o->nat == SG_NAT_SNAT) {
			n->xlate.saddr = o->nat_addr;
			n->xlate.sport = o->nat_port;
		}
		n->in_ifindex = o->ifindex;
		n->flags = o->flags & SG_FLOW_REV_XDP;
		kept_from_v1(&n->kept, o);
		return;
	}
	/* A reply entry: replies go back to the originator. */
	n->xlate.daddr = o->nat_addr;
	n->xlate.dport = o->nat_port;
	if (o->fwd_ifindex) {
		kept_from_v1(&n->kept, o);
		n->flags = SG_FLOW_L2_KNOWN;
		return;
	}
	/* The MACs its primary learnt, for the first delivery in XDP. */
	okey = (struct sg_flow_key){ .saddr = o->nat_addr, .daddr = k->saddr,
		.sport = o->nat_port, .dport = k->sport, .proto = k->proto,
		.zone = o->peer_zone };
	if (!bpf_map_lookup_elem(fd, &okey, &prim) &&
	    (prim.flags & SG_FLOW_V1_L2_KNOWN)) {
		memcpy(n->kept.dmac, prim.vm_mac, 6);
		memcpy(n->kept.smac, prim.gw_mac, 6);
		n->flags = SG_FLOW_L2_KNOWN;
	}
}
