/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The decision for a packet that entered from a sector device: the
 * isolation matrix of an nftables forward chain, as a few map lookups.
 */
#ifndef SG_POLICY_H
#define SG_POLICY_H

#include "sg_flow.h"
#include "sg_drop.h"
#include "sg_dnat.h"
#include "sg_egress.h"

/*
 * What p's destination is, or NULL for nothing the definitions name:
 * looked up once for the packet and kept in it, for XDP asks before the
 * decision does (sg_fast_again).
 */
static __always_inline struct sg_dest *sg_dest_known(__u32 slot,
						     struct sg_pkt *p)
{
	if (!p->dest_known) {
		sg_dest_find(slot, p->daddr, &p->dest);
		p->dest_known = 1;
	}
	return p->dest.kind ? &p->dest : NULL;
}

/*
 * A DHCP client's message before it has an address: from 0.0.0.0 to the
 * limited broadcast, port 67 (RFC 2131 4.1: a client without an address
 * broadcasts; once bound it renews from its own). From 0.0.0.0 to
 * anywhere else is spoofed: the kernel would drop it as a martian, but
 * unseen and uncounted, and isolation is not the kernel's to keep.
 */
static __always_inline bool sg_is_dhcp_discovery(const struct sg_pkt *p)
{
	return p->saddr == 0 && p->daddr == 0xffffffff &&
	       p->proto == IPPROTO_UDP && !p->frag &&
	       p->dport == bpf_htons(67);
}

/* Link-local to the gateway: limited broadcast and multicast. */
static __always_inline bool sg_is_local_only(__be32 daddr)
{
	return daddr == 0xffffffff ||
	       (bpf_ntohl(daddr) & 0xf0000000) == 0xe0000000;
}

/*
 * Is there an `allow` between dev's sector and sector `to`, either way?
 * A device whose sector is in none at all says so (SG_DEV_ALLOWS): no
 * lookup.
 */
static __always_inline bool sg_pair_allows(__u32 slot,
					   const struct sg_device *dev,
					   __u16 to)
{
	return (dev->flags & SG_DEV_ALLOWS) &&
	       (sg_allow_of(slot, dev->sector, to) ||
		sg_allow_of(slot, to, dev->sector));
}

/*
 * Is ICMP error p, from sector `from` to sector `to`, about a packet of a
 * flow between the two that is still allowed, either way (port
 * unreachable for a connection the other sector opened; time exceeded
 * from a router inside `from` for one the other end answers)? Then it
 * is a reply of that flow, as conntrack has it RELATED. The embedded
 * header is the packet as the error's destination sent it: reversed, in
 * the zone of `from` which received it (sg_icmp_error_key), it is the
 * key of the flow's other entry, its primary or its reply entry.
 */
static __always_inline bool sg_cross_error_of_flow(const struct sg_ctx *c,
						   const struct sg_pkt *p,
						   __u16 from, __u16 to,
						   __u64 now)
{
	struct sg_flow_key key, okey;
	struct sg_icmp_inner in;
	struct sg_flow *e, *f;

	if (sg_icmp_error_key(c, p, from, &in, &key) != SG_PASS ||
	    in.ip.saddr != p->daddr)
		return false;
	e = bpf_map_lookup_elem(&sg_flows, &key);
	if (!e || e->nat != SG_NAT_NONE)
		return false;
	if (e->dir == SG_FLOW_ORIG) {
		f = sg_flow_live(e, now) ? e : NULL;
		okey = key;
	} else {
		f = sg_flow_primary_of(&key, e, &okey, now);
	}
	return f && f->nat == SG_NAT_NONE &&
	       ((okey.zone == to && f->peer_zone == from) ||
		(okey.zone == from && f->peer_zone == to)) &&
	       sg_allowed(c->slot, okey.zone, f->peer_zone, okey.proto,
			  okey.dport);
}

/* A packet from sector `from` to an address of sector dest->sector. */
static __always_inline int sg_decide_cross(const struct sg_ctx *c,
					   const struct sg_device *dev,
					   const struct sg_dest *dest,
					   const struct sg_pkt *p)
{
	__u16 from = dev->sector, counters = dev->counters;
	__u32 slot = c->slot;
	struct sg_config *cfg;
	struct sg_flow *f;
	struct sg_flow_key okey;
	__u64 now;
	int verdict;

	/* Most pairs have no exception either way: plain isolation, with
	 * no flow to look for. Nor are fragments followed into a CIDR that
	 * sectors share. */
	if ((dest->kind == SG_DEST_SECTOR &&
	     !sg_pair_allows(slot, dev, dest->sector)) ||
	    (dest->kind != SG_DEST_SECTOR && p->frag))
		return SG_DROP_INTER_SECTOR;
	cfg = sg_config_of(slot);
	if (!cfg)
		return SG_DROP_INTER_SECTOR;
	now = sg_now();
	/* No ports: the rest of a datagram whose first was let through
	 * follows it, while its flow (the primary noted) lasts. */
	if (p->frag == SG_FRAG_LATER) {
		f = sg_frag_entry(c, p, from, SG_FRAG_AT_SECTOR, now, &okey);
		return f && f->dir == SG_FLOW_ORIG && f->nat == SG_NAT_NONE &&
		       sg_flow_live(f, now) ? SG_PASS : SG_DROP_FRAGMENT;
	}

	/* A reply of a connection the other sector opened, while the
	 * current definitions still allow that connection. */
	f = sg_flow_reply_of(p, from, &okey, now);
	if (f && f->nat == SG_NAT_NONE &&
	    sg_allowed(slot, okey.zone, from, okey.proto, okey.dport)) {
		sg_flow_update(f, cfg, p, SG_FLOW_REPLY, now);
		sg_frag_note(c, p, from, SG_FRAG_AT_SECTOR, &okey, now);
		return SG_PASS;
	}
	if (sg_icmp_is_error(p) && dest->kind == SG_DEST_SECTOR &&
	    sg_cross_error_of_flow(c, p, from, dest->sector, now))
		return SG_PASS;

	/* Overlapping CIDRs cannot be named by `allow` (validation). */
	if (dest->kind != SG_DEST_SECTOR ||
	    !sg_allowed(slot, from, dest->sector, p->proto, p->dport))
		return SG_DROP_INTER_SECTOR;
	verdict = sg_flow_open(cfg, p, from, dest->sector, 0, counters, now);
	if (verdict == SG_PASS && p->frag) {
		sg_flow_key_of(&okey, p, from);
		sg_frag_note(c, p, from, SG_FRAG_AT_SECTOR, &okey, now);
	}
	return verdict;
}

/*
 * A packet for the internet leaves masqueraded through an uplink or not at
 * all: a route that points at any other device (one sectorgate was not
 * told about, a trusted device) would carry the VM's own address out.
 * The uplink the route leads out of, or NULL.
 */
static __always_inline struct sg_device *
sg_route_uplink(const struct sg_ctx *c, __u32 ifindex)
{
	struct sg_device *out = sg_device_of(c->slot, ifindex);

	return out && out->role == SG_ROLE_UPLINK ? out : NULL;
}

/*
 * `pass` (an SG_PASS_* for what leaves through an uplink) where the route
 * of p leads out of an uplink, else untranslatable. What the kernel does
 * not forward (its own addresses, no route, a TTL about to expire) it
 * answers itself.
 */
static __always_inline int sg_route_out(const struct sg_ctx *c,
					const struct sg_pkt *p, int pass)
{
	struct bpf_fib_lookup fib;
	long rc;

	if (p->ttl <= 1)
		return pass;
	sg_fib_of(&fib, c, p, 0);
	rc = sg_fib_route(c->ctx, &fib, BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (sg_route_nowhere(rc))
		return pass;
	return rc == BPF_FIB_LKUP_RET_SUCCESS &&
	       sg_route_uplink(c, fib.ifindex) ? pass : SG_DROP_UNTRANSLATABLE;
}

/* Out through an uplink: XDP's fast path looks the route up anyway, and
 * judges it there. */
static __always_inline int sg_leave(const struct sg_ctx *c,
				    const struct sg_pkt *p, int pass)
{
	return c->xdp ? pass : sg_route_out(c, p, pass);
}

/*
 * Does `sector` hold source address addr? What addr is tells, for one
 * sector's CIDR and for an address in none; only a CIDR that sectors
 * share (every CIDR that overlaps another sector's is marked so), or a
 * host /32 inside a sector's, asks the sector's own prefixes.
 *
 * A global function, for the verifier: one answer of unknown value
 * leaves it, not one state for each way to it.
 */
__attribute__((noinline)) int sg_sector_holds(__u32 slot, __u32 sector,
					      __be32 addr)
{
	struct sg_dest buf, *d = sg_dest_of(slot, addr, &buf);

	if (!d)
		return 0;
	if (d->kind == SG_DEST_SECTOR)
		return d->sector == sector;
	return sg_sector_owns(slot, sector, addr);
}

/*
 * p from `sector` for an address of its own (a CIDR it holds, or shares
 * with an overlapping sector) that is not the gateway's: the host routes
 * it, back into the sector. Where the host's route leads into another
 * sector's device instead (for a shared CIDR, the other owner's device,
 * whose connected route the host may well prefer), it would cross:
 * inter-sector, toward that sector. Everything else is the host's.
 */
static __always_inline int sg_own_dest(const struct sg_ctx *c,
				       const struct sg_pkt *p, __u16 sector,
				       __u16 *to_sector)
{
	struct bpf_fib_lookup fib;
	struct sg_device *out;

	sg_fib_of(&fib, c, p, 0);
	if (sg_fib_route(c->ctx, &fib, BPF_FIB_LOOKUP_SKIP_NEIGH) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return SG_PASS;
	out = sg_device_of(c->slot, fib.ifindex);
	if (!out || out->role != SG_ROLE_SECTOR || out->sector == sector)
		return SG_PASS;
	*to_sector = out->sector;
	return SG_DROP_INTER_SECTOR;
}

static __always_inline int sg_decide_ipv4(const struct sg_ctx *c,
					  const struct sg_device *dev,
					  struct sg_pkt *p, __u16 *to_sector)
{
	__u16 sector = dev->sector;
	__u32 slot = c->slot;
	struct sg_sector *info;
	struct sg_dest *dest;
	int verdict;

	if (!sg_sector_holds(slot, sector, p->saddr))
		return sg_is_dhcp_discovery(p) ? SG_PASS :
						  SG_DROP_SPOOFED_SOURCE;

	/* The gateway itself and the sector's own subnets: the host stack
	 * answers (DNS, DHCP, ping) or hands it back to the same sector.
	 * Every sector CIDR is a destination too: one lookup tells an own
	 * one from another sector's, but for CIDRs several sectors share. */
	if (sg_is_local_only(p->daddr))
		return SG_PASS;
	dest = sg_dest_known(slot, p);
	if ((dest && dest->kind == SG_DEST_SECTOR && dest->sector == sector) ||
	    (dest && dest->kind == SG_DEST_SHARED &&
	     sg_sector_owns(slot, sector, p->daddr)))
		return sg_own_dest(c, p, sector, to_sector);

	if (sg_dest_is_sector(dest)) {
		*to_sector = dest->sector;
		return sg_decide_cross(c, dev, dest, p);
	}

	/* Answers to what was let in from outside, wherever they go (the
	 * isolation above needs no lookup for them: they never go to a
	 * sector), in the sectors that let anything in. */
	info = sg_sector_of(slot, sector);
	if (!info)
		return SG_DROP_NO_INTERNET;
	verdict = info->flags & SG_SECTOR_INBOUND ?
		  sg_inbound_reply(c, sector, p) : SG_NOT_MINE;
	if (verdict == SG_PASS_FWD_REPLY)
		return sg_leave(c, p, verdict);
	if (verdict != SG_NOT_MINE)
		return verdict;

	if (dest && dest->kind == SG_DEST_PROTECTED)
		return SG_DROP_PROTECTED_DEST;
	/* The metadata service holds the host's credentials: only the
	 * sectors that opted in reach it, and only as address:port,
	 * whatever `internet` says. */
	if (dest && dest->kind == SG_DEST_IMDS) {
		verdict = sg_imds_request(c, info, p);
		if (verdict != SG_NOT_MINE)
			return verdict == SG_PASS_IMDS ?
			       sg_leave(c, p, verdict) : verdict;
	}
	/* Steering is a policy of its own, whatever `internet` says; the
	 * host's addresses on uplinks and egress devices stay the host's. */
	if ((info->flags & SG_SECTOR_EGRESS) &&
	    !(dest && (dest->kind == SG_DEST_UPLINK ||
		       dest->kind == SG_DEST_HOST))) {
		verdict = sg_egress_decide(c, dev, p);
		if (verdict != SG_NOT_MINE)
			return verdict;
	}
	if (!(info->flags & SG_SECTOR_INTERNET))
		return SG_DROP_NO_INTERNET;
	if (dest && dest->kind == SG_DEST_UPLINK && sg_is_hairpin(c, p))
		return SG_DROP_HAIRPIN;
	return sg_leave(c, p, SG_PASS_OUT);
}

/*
 * Returns SG_PASS, an SG_PASS_* for an uplink (with *p parsed, and as
 * translated so far, and *devp the device) or the reason it was dropped
 * for. Counts either way. parsed >= 0: *p is parsed already, with that
 * verdict.
 */
static __always_inline int sg_sector_ingress(struct sg_ctx *c,
					     struct sg_pkt *p,
					     struct sg_device **devp,
					     int parsed)
{
	/* Both hooks have just looked it up (sg_fast_again at XDP,
	 * sg_steer_again at tc): the per-CPU copy. */
	struct sg_device *dev = sg_device_cached(c);
	__u16 to_sector = 0;
	int verdict;

	/* Not (or no longer) a sector device of ours: leave it alone. */
	if (!dev || dev->role != SG_ROLE_SECTOR)
		return SG_PASS;

	*devp = dev;
	sg_count_rx(dev->counters, c->len);
	verdict = parsed >= 0 ? parsed : sg_parse(c, p);
	if (verdict == SG_PASS) {
		switch (p->kind) {
		case SG_PKT_IPV4:
			verdict = sg_decide_ipv4(c, dev, p, &to_sector);
			break;
		case SG_PKT_ARP:
		case SG_PKT_IPV6_ND:
			break;
		case SG_PKT_IPV6:
			verdict = SG_DROP_IPV6;
			break;
		default:
			verdict = SG_DROP_UNSUPPORTED_L2;
			break;
		}
	}
	if (verdict > SG_PASS)
		sg_drop(c, p, dev->counters, to_sector, verdict);
	return verdict;
}

/*
 * tc egress of a sector device: what the host sends into the sector, with
 * c built without the headers (counting needs none). What the kernel
 * forwarded here from a device that is none of ours is unsolicited: only
 * the programs of sector, uplink and trusted devices judge what may
 * enter a sector, and a device sectorgate was not told about has none.
 */
static __always_inline int sg_sector_egress(const struct sg_ctx *c,
					    struct __sk_buff *skb)
{
	struct sg_device *dev = sg_device_of(c->slot, c->ifindex);
	struct sg_pkt p = {};
	struct sg_ctx in = *c;

	int reason = SG_DROP_UNSOLICITED;

	if (!dev || dev->role != SG_ROLE_SECTOR)
		return TC_ACT_OK;
	/* The host's own, and IPv4 our programs judged where it came in:
	 * forwarded IPv6 (or anything else) none of them judges. */
	if (!skb->ingress_ifindex ||
	    (sg_device_of(c->slot, skb->ingress_ifindex) &&
	     skb->protocol == bpf_htons(ETH_P_IP))) {
		sg_count_tx(dev->counters, c->len);
		return TC_ACT_OK;
	}
	if (sg_device_of(c->slot, skb->ingress_ifindex))
		reason = skb->protocol == bpf_htons(ETH_P_IPV6) ?
			 SG_DROP_IPV6 : SG_DROP_UNSUPPORTED_L2;
	/* The headers, for the event (the definitions as read already); it
	 * came in on the foreign device. */
	sg_ctx_skb_headers(&in, skb);
	sg_ctx_at_egress(&in, skb);
	sg_parse(&in, &p);
	sg_drop(&in, &p, dev->counters, dev->sector, reason);
	return TC_ACT_SHOT;
}

#endif /* SG_POLICY_H */
