/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Trusted devices (host.trusted: tailscale0, wg0, a mesh), and the
 * devices egress policies steer into (sg_egress.h), which run these same
 * programs: what was steered out of one leaves translated by it and its
 * replies come back through it. A connection
 * from one into a sector that lists it in allow-from enters untranslated,
 * and its replies go back out of it; nothing else from a trusted device
 * may open a connection into a sector (unsolicited), and nothing else
 * from a sector leaves through one (untranslatable: it would carry the
 * VM's own address out, where only an uplink's masquerade may take it).
 *
 * tc, not XDP: these are often L3 devices (tun, WireGuard) with no
 * Ethernet header and no native XDP. SG_DEV_L3 tells the parser so.
 */
#ifndef SG_TRUSTED_H
#define SG_TRUSTED_H

#include "sg_drop.h"
#include "sg_dnat.h"
#include "sg_egress.h"

/*
 * A trusted device's ICMP error about a VM's answer on a connection
 * allow-from let in through it (sg_admitted_error_in, which counts what
 * it drops). SG_PASS, SG_NOT_MINE when it is about no such connection,
 * or the reason it was dropped for.
 */
static __always_inline int sg_trusted_error_in(const struct sg_ctx *c,
					       const struct sg_pkt *p)
{
	struct sg_icmp_inner in;
	struct sg_flow_key key;
	struct sg_flow *f;

	if (sg_icmp_error_key(c, p, 0, &in, &key) != SG_PASS)
		return SG_NOT_MINE;
	f = bpf_map_lookup_elem(&sg_flows, &key);
	if (!sg_admitted_flow(f))
		return SG_NOT_MINE;
	return sg_admitted_error_in(c, p, &in, &key, f, false, sg_now());
}

static __always_inline int sg_trusted_ingress(struct sg_ctx *c,
					      struct __sk_buff *skb)
{
	struct sg_device *dev = sg_device_of(c->slot, c->ifindex);
	struct sg_config *cfg = sg_config_of(c->slot);
	struct sg_pkt p = {};
	__u16 sector;
	int verdict;

	if (!dev || dev->role != SG_ROLE_TRUSTED || !cfg)
		return TC_ACT_OK;
	if (dev->flags & SG_DEV_L3)
		sg_ctx_no_l2(c, skb);
	verdict = sg_parse(c, &p);
	/* The IPv4 header is known once kind says so, even when what
	 * follows it is malformed: that never reaches a sector either. */
	if (p.kind != SG_PKT_IPV4)
		return TC_ACT_OK;
	/* Replies of what was steered out of it. */
	if (verdict == SG_PASS && (dev->flags & SG_DEV_EGRESS)) {
		int tc = sg_steered_in(c, skb, &p, cfg);

		if (tc >= 0)
			return tc;
	}
	if (verdict == SG_PASS && sg_icmp_is_error(&p)) {
		int error = sg_trusted_error_in(c, &p);

		if (error != SG_NOT_MINE)
			return error == SG_PASS ? TC_ACT_OK : TC_ACT_SHOT;
	}
	sector = verdict == SG_PASS ?
		 sg_admitted_from_dev(c->slot, c->ifindex, p.daddr) : 0;
	/* sg_admit_in notes it anew if it lets it in. */
	if (p.frag == SG_FRAG_FIRST)
		sg_frag_forget(c, &p, 0, SG_FRAG_AT_TRUSTED_IN);
	if (sector) {
		verdict = sg_admit_in(c, &p, cfg, sector,
				      SG_FRAG_AT_TRUSTED_IN, sg_now());
		if (verdict == SG_PASS)
			return TC_ACT_OK;
		sg_drop(c, &p, sg_sector_counters(c->slot, sector), sector,
			verdict);
		return TC_ACT_SHOT;
	}
	/* Not a sector's: the host's, or routed elsewhere. */
	return sg_drop_into_sector(c, &p, verdict == SG_PASS ?
				   SG_DROP_UNSOLICITED : verdict) ?
	       TC_ACT_SHOT : TC_ACT_OK;
}

/* The kernel's view of the packet (Linux 6.2): its device's state. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define SG_IFF_UP	0x1

/*
 * Is the device skb is being sent out of up, with carrier? `apply`
 * compiles a device's state into its policies and `run` applies again
 * when it changes; without `run` a device that went down since is still
 * named, and the kernel would drop what is redirected to it unseen. So
 * its own tc egress, which runs before the kernel looks at the state,
 * drops it as egress-down.
 */
static __always_inline bool sg_dev_running(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = k->dev;

	return dev && (dev->flags & SG_IFF_UP) &&
	       !(dev->state & (1UL << __LINK_STATE_NOCARRIER));
}

static __always_inline int sg_trusted_egress(struct sg_ctx *c,
					     struct __sk_buff *skb)
{
	struct sg_device *dev = sg_device_of(c->slot, c->ifindex), *from;
	struct sg_flow *r, *f = NULL;
	struct sg_flow_key key;
	struct sg_pkt p = {};
	int verdict;
	__u64 now;

	if (!dev || dev->role != SG_ROLE_TRUSTED)
		return TC_ACT_OK;
	/* Forwarded from a sector device; the host's own traffic passes. */
	from = sg_device_of(c->slot, skb->ingress_ifindex);
	if (dev->flags & SG_DEV_L3)
		sg_ctx_no_l2(c, skb);
	/* From any device but a sector's, as at the uplink's egress. */
	if ((!from || from->role != SG_ROLE_SECTOR) && skb->ingress_ifindex &&
	    sg_drop_not_sector(c, &p, sg_parse(c, &p), from))
		return TC_ACT_SHOT;
	if (!from || from->role != SG_ROLE_SECTOR)
		return TC_ACT_OK;
	if ((dev->flags & SG_DEV_EGRESS) && !sg_dev_running(skb)) {
		sg_parse(c, &p);
		sg_drop(c, &p, from->counters, 0, SG_DROP_EGRESS_DOWN);
		return TC_ACT_SHOT;
	}
	if (sg_parse(c, &p) == SG_PASS && p.kind == SG_PKT_IPV4) {
		/* What a sector's tc ingress steered here. */
		verdict = sg_steered_out(c, &p, from->sector);
		if (verdict == SG_PASS)
			return TC_ACT_OK;
		if (verdict != SG_NOT_MINE) {
			sg_drop(c, &p, from->counters, 0, verdict);
			return TC_ACT_SHOT;
		}
		/* Replies of what this device opened into the sector; the
		 * rest of one in fragments as the sector's ingress let its
		 * first pass (sg_inbound_reply noted it). */
		now = sg_now();
		if (p.frag == SG_FRAG_LATER) {
			r = sg_frag_entry(c, &p, from->sector,
					  SG_FRAG_AT_SECTOR, now, &key);
			r = sg_inbound_entry(c, &key, r, &f, now);
		} else {
			r = sg_inbound_of(c, &p, from->sector, &f, now);
		}
		if (r && f && r->nat == SG_NAT_NONE &&
		    f->in_ifindex == c->ifindex)
			return TC_ACT_OK;
	}
	sg_drop(c, &p, from->counters, 0, SG_DROP_UNTRANSLATABLE);
	return TC_ACT_SHOT;
}

#endif /* SG_TRUSTED_H */
