/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP fast path of masquerade. A sector's packet for the internet
 * whose route, next hop and flow are all known is translated in XDP and
 * sent straight out of the uplink; a reply of such a flow is translated in
 * the uplink's XDP and sent straight to the VM. Neither touches the
 * kernel's stack.
 *
 * Whatever the fast path is not sure of goes up to the stack untouched
 * (XDP_PASS), where tc does the same translation (sg_nat.h): the fast path
 * only ever saves work. It declines TTLs about to expire and frames bigger
 * than the egress MTU (the kernel answers both with ICMP), fragments, ICMP
 * errors, unresolved neighbours, devices that do not take XDP frames
 * (SG_DEV_XDP_XMIT) and flows whose MACs it has not learnt yet. Checksums
 * the sender left for the device to finish, it finishes (sg_xdp_edit.h).
 */
#ifndef SG_FAST_H
#define SG_FAST_H

#include "sg_nat.h"
#include "sg_policy.h"
#include "sg_xdp_edit.h"

/*
 * Remember in reply entry r who sent this frame of its flow, and to which
 * MAC, so replies can be delivered without a neighbour lookup: the
 * delivery's MACs (r->kept). Done with every decision made afresh (at
 * least once per SG_FWD_RECHECK_MS of traffic), written only when they
 * change (a VM that came back with another MAC), which also drops a
 * delivery kept with the old ones; a reply racing that write sees
 * SG_FLOW_L2_KNOWN clear and takes the slow path.
 */
static __always_inline void sg_flow_learn_l2(struct sg_flow *r,
					     const struct ethhdr *eth)
{
	if ((r->flags & SG_FLOW_L2_KNOWN) &&
	    sg_mac_equal(r->kept.dmac, eth->h_source) &&
	    sg_mac_equal(r->kept.smac, eth->h_dest))
		return;
	sg_flow_flags_clear(r, SG_FLOW_L2_KNOWN);
	r->kept.ifindex = 0;
	asm volatile("" ::: "memory");
	sg_mac_copy(r->kept.dmac, eth->h_source);
	sg_mac_copy(r->kept.smac, eth->h_dest);
	asm volatile("" ::: "memory");
	sg_flow_flags_set(r, SG_FLOW_L2_KNOWN);
}

/*
 * May packets of a flow of sector `zone` be delivered in XDP to its
 * sector device ifindex? Only if the device is still that sector's and
 * takes XDP frames: facts of the definitions' slot, so they hold for a
 * generation.
 */
static __always_inline bool sg_reply_dev_ok(__u32 slot, __u32 ifindex,
					    __u16 zone)
{
	struct sg_device *dev = sg_device_of(slot, ifindex);

	return dev && dev->role == SG_ROLE_SECTOR && dev->sector == zone &&
	       (dev->flags & SG_DEV_XDP_XMIT);
}

/*
 * Keep in flow entry e a decision: send out of ifindex, to dmac from
 * smac, frames of up to mtu bytes. Another CPU may be reading e:
 * kept.ifindex, which makes the decision usable, goes last.
 */
static __always_inline void sg_keep(struct sg_flow *e,
				    const struct sg_ctx *c, __u64 now,
				    __u32 ifindex, __u16 mtu,
				    const __u8 *dmac, const __u8 *smac)
{
	e->kept.ifindex = 0;
	asm volatile("" ::: "memory");
	e->kept.generation = c->generation;
	e->kept.checked = now >> 20;
	e->kept.mtu = mtu;
	if (dmac != e->kept.dmac) {
		sg_mac_copy(e->kept.dmac, dmac);
		sg_mac_copy(e->kept.smac, smac);
	}
	asm volatile("" ::: "memory");
	e->kept.ifindex = ifindex;
}

/*
 * Translate the frame as its flow entry e says and address it to e's kept
 * next hop.
 */
static __always_inline int sg_fast_emit(struct sg_ctx *c,
					const struct sg_pkt *p,
					struct sg_flow *e)
{
	struct ethhdr *eth = c->data;

	if ((void *)(eth + 1) > c->data_end)
		return -1;
	if (sg_xlate_apply(c, p, &e->xlate) || sg_ttl_dec(c, p))
		return -1;
	sg_mac_copy(eth->h_dest, e->kept.dmac);
	sg_mac_copy(eth->h_source, e->kept.smac);
	return 0;
}

/*
 * Remember, in the entry of the other direction of flow entry e (key
 * *key), who sent this frame and to which MAC: what delivers that
 * direction's packets to the VM.
 */
static __always_inline void sg_learn_other(const struct sg_flow_key *key,
					   const struct sg_flow *e,
					   const struct ethhdr *eth)
{
	struct sg_flow_key okey;
	struct sg_flow *o;

	sg_flow_primary_key(&okey, key, e);
	o = bpf_map_lookup_elem(&sg_flows, &okey);
	if (!o || o->dir == e->dir || !sg_flow_is(o, &okey))
		return;
	sg_flow_learn_l2(o, eth);
	/* Taken for another flow meanwhile: that one learns afresh. */
	if (!sg_flow_is(o, &okey))
		sg_flow_flags_clear(o, SG_FLOW_L2_KNOWN);
}

/*
 * XDP on a sector device, for a packet the policy let out through an
 * uplink (`what`: masquerade, the metadata service, a forward's reply):
 * translate it and send it out of the uplink the kernel's route names.
 * The decision is kept in the flow for its next packets (sg_fast_again).
 */
static __always_inline int sg_fast_out(struct xdp_md *x, struct sg_ctx *c,
				       const struct sg_pkt *p,
				       const struct sg_device *dev, int what)
{
	__u16 sector = dev->sector;
	struct ethhdr *eth = c->data;
	struct bpf_fib_lookup fib;
	struct sg_flow_key key, okey;
	struct sg_config *cfg;
	struct sg_device *up;
	struct sg_flow *e = NULL, *f = NULL;
	__u64 now;
	int verdict, rc;

	/* Expiring on the way: the kernel answers with time exceeded. */
	if (p->ttl <= 1)
		return XDP_PASS;
	sg_fib_of(&fib, c, p, p->l4_off - p->l3_off + p->l4_len);
	/* The metadata rewrite takes the host's source toward the target. */
	rc = bpf_fib_lookup(x, &fib, sizeof(fib),
			    what == SG_PASS_IMDS ? BPF_FIB_LOOKUP_SRC : 0);
	/* The route leads out of an uplink, or the packet goes nowhere
	 * (sg_route_out). Too big for it, the lookup does not say which
	 * device: a plain route lookup does. */
	up = NULL;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		verdict = sg_route_out(c, p, SG_PASS_OUT);
	} else if (rc == BPF_FIB_LKUP_RET_SUCCESS ||
		   rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		up = sg_route_uplink(c, fib.ifindex);
		verdict = up ? SG_PASS_OUT : SG_DROP_UNTRANSLATABLE;
	} else {
		verdict = sg_route_nowhere(rc) ? SG_PASS_OUT :
						 SG_DROP_UNTRANSLATABLE;
	}
	if (verdict != SG_PASS_OUT) {
		sg_drop(c, p, dev->counters, 0, verdict);
		return XDP_DROP;
	}
	/* No neighbour yet, or too big for the uplink: the stack resolves
	 * it, or answers "fragmentation needed"; tc translates. */
	cfg = sg_config_of(c->slot);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || !cfg || !up ||
	    !(up->flags & SG_DEV_XDP_XMIT) || sg_nat_mappable(p) != SG_PASS)
		return XDP_PASS;

	now = sg_now();
	if (what == SG_PASS_FWD_REPLY) {
		/* The policy found it: the reply entry of a live forward. */
		sg_flow_key_of(&key, p, sector);
		e = bpf_map_lookup_elem(&sg_flows, &key);
		f = e && e->dir == SG_FLOW_REPLY ?
		    sg_flow_primary_of(&key, e, &okey, now) : NULL;
		if (!e || !f)
			return XDP_PASS;
	} else {
		verdict = sg_out_flow(c, cfg, p, dev, c->ifindex, up,
				      fib.ifindex,
				      what == SG_PASS_IMDS ? fib.ipv4_src : 0,
				      &key, now, &e);
		if (verdict != SG_PASS || !e) {
			sg_drop(c, p, dev->counters, 0, verdict);
			return XDP_DROP;
		}
		f = e;
	}
	/* Taken for another flow meanwhile (sg_flow_is): nothing is
	 * written into it, and the stack decides the packet. */
	if (!sg_flows_are(e, f, &key))
		return XDP_PASS;
	/* Kept for the replies (a primary found by the policy: not a
	 * forward's reply entry). */
	if (f == e) {
		if (sg_reply_dev_ok(c->slot, f->in_ifindex, sector))
			sg_flow_flags_set(f, SG_FLOW_REV_XDP);
		else
			sg_flow_flags_clear(f, SG_FLOW_REV_XDP);
	}
	/* What goes the other way is delivered to the device the flow
	 * enters its sector by: learn from there. */
	if (sg_flow_sector_dev(f) == c->ifindex &&
	    (void *)(eth + 1) <= c->data_end)
		sg_learn_other(&key, e, eth);
	/* The route's MTU, kept for the flow's later packets: XDP's
	 * lookup checks the packet against it, and one that succeeds
	 * reports it in mtu_result (tot_len's place). */
	sg_keep(e, c, now, fib.ifindex, fib.mtu_result, fib.dmac, fib.smac);
	/* Not finished here: the stack, whose tc translation finds the
	 * flow. */
	if (sg_csum_finish(x, c, p))
		return XDP_PASS;
	if (sg_fast_emit(c, p, e)) {
		sg_drop(c, p, dev->counters, 0, SG_DROP_MALFORMED);
		return XDP_DROP;
	}
	/* Taken meanwhile: the decision just kept is not that flow's. */
	if (!sg_flows_are(e, f, &key)) {
		e->kept.ifindex = 0;
		sg_drop(c, p, dev->counters, 0, SG_DROP_CONNTRACK_FULL);
		return XDP_DROP;
	}
	sg_count_fast(dev->counters, true, false, 0);
	return bpf_redirect(fib.ifindex, 0);
}

/*
 * Does entry e carry a decision still good for this packet? Kept fresh;
 * TCP packets that move the state machine (SYN, FIN, RST) go through the
 * primary. A reply entry's decision was kept when its primary was live
 * and was refreshed.
 */
static __always_inline bool sg_reply_kept(const struct sg_flow *r,
					  const struct sg_ctx *c,
					  const struct sg_pkt *p, __u64 now)
{
	return sg_kept_fresh(r, c, now) &&
	       !(p->proto == IPPROTO_TCP &&
		 (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)));
}

/*
 * XDP on a sector device, before anything else: a packet of a flow whose
 * forwarding decision is still good (same definitions, route checked
 * within SG_FWD_RECHECK_MS) skips the policy lookups and the route lookup:
 * a masquerade or metadata flow's (its primary entry), or a forward's
 * reply (its reply entry, refreshed through the policy at least every
 * SG_FWD_RECHECK_MS). Returns the XDP verdict, or -1 to decide afresh,
 * with *p parsed (verdict *parsed) when the device is a sector's (else
 * *parsed is left alone).
 */
static __always_inline int sg_fast_again(struct xdp_md *x, struct sg_ctx *c,
					 struct sg_pkt *p, int *parsed)
{
	struct sg_device *dev;
	struct sg_config *cfg;
	struct sg_flow_key key;
	struct sg_flow *e;
	bool primary;
	__u32 out;
	__u64 now;

	dev = sg_device_cached(c);
	if (!dev || dev->role != SG_ROLE_SECTOR)
		return -1;
	/* The decision afresh reuses the parse (and the header checksum's
	 * check): *p and its verdict. */
	*parsed = sg_parse(c, p);
	/* Only what the NAT maps: an ICMP message that is no echo request
	 * has the key of an echo flow of id 0 (no ports), and would leave
	 * translated as one, its bytes 4-5 overwritten. And no flow the
	 * fast path keeps goes to a sector: an inter-sector packet,
	 * dropped or allowed, is decided afresh with no flow lookup. */
	if (*parsed != SG_PASS || p->kind != SG_PKT_IPV4 ||
	    sg_nat_mappable(p) != SG_PASS || p->ttl <= 1 ||
	    sg_dest_is_sector(sg_dest_known(c->slot, p)))
		return -1;
	sg_flow_key_of(&key, p, dev->sector);
	e = bpf_map_lookup_elem(&sg_flows, &key);
	if (!e)
		return -1;
	primary = e->dir == SG_FLOW_ORIG;
	if (primary ? e->nat != SG_NAT_SNAT && e->nat != SG_NAT_IMDS :
		      e->nat != SG_NAT_DNAT)
		return -1;
	now = sg_now();
	if (primary ? !sg_kept_fresh(e, c, now) || !sg_flow_live(e, now) :
		      !sg_reply_kept(e, c, p, now))
		return -1;
	/* A TCP SYN reopening a closed flow takes the full path too. */
	if (primary && p->proto == IPPROTO_TCP && e->state == SG_FLOW_CLOSING)
		return -1;
	cfg = sg_config_of(c->slot);
	if (!cfg || p->l4_off - p->l3_off + p->l4_len > e->kept.mtu ||
	    sg_csum_finish(x, c, p))
		return -1;
	/* Taken for another flow meanwhile (sg_flow_is): decided afresh,
	 * nothing written into it. */
	if (!sg_flow_is(e, &key))
		return -1;

	if (primary)
		sg_flow_update(e, cfg, p, SG_FLOW_ORIG, now);
	if (sg_fast_emit(c, p, e)) {
		sg_drop(c, p, dev->counters, 0, SG_DROP_MALFORMED);
		return XDP_DROP;
	}
	out = e->kept.ifindex;
	/* Its entry was taken for another flow while this read it: the
	 * flow was evicted for room, or collected. */
	if (!sg_flow_is(e, &key)) {
		sg_drop(c, p, dev->counters, 0, SG_DROP_CONNTRACK_FULL);
		return XDP_DROP;
	}
	sg_count_fast(dev->counters, true, true, c->len);
	return bpf_redirect(out, 0);
}

/*
 * XDP on an uplink: a packet of a translated flow for a sector goes
 * straight to its VM: a reply of masquerade or of the metadata service,
 * the client's side of a forward. Everything else (unsolicited packets,
 * ICMP errors, new connections, the host's own traffic) is left to tc
 * ingress and the stack. The first packet, and one at least every
 * SG_FWD_RECHECK_MS, goes through the flow's primary entry (liveness,
 * state, expiry, the sector device) and keeps the delivery in the entry
 * for the next ones, which need no other lookup.
 */
static __always_inline int sg_fast_in(struct xdp_md *x, struct sg_ctx *c)
{
	struct sg_flow_key key, okey;
	struct sg_flow *e, *f = NULL;
	struct sg_config *cfg = NULL;
	struct sg_device *up;
	struct sg_pkt p = {};
	struct ethhdr *eth;
	__u32 ifindex, mtu_len = 0;
	__u16 zone, counters;
	bool hop;
	__u64 now;

	if (sg_parse(c, &p) != SG_PASS || p.kind != SG_PKT_IPV4 || p.frag ||
	    sg_icmp_is_error(&p))
		return XDP_PASS;

	now = sg_now();
	sg_flow_key_of(&key, &p, 0);
	e = bpf_map_lookup_elem(&sg_flows, &key);
	/* Not the replies of the host's moved connections (SG_NAT_HOST):
	 * they get their port back at tc ingress, for the host's stack. */
	if (!e || (e->dir == SG_FLOW_ORIG ? e->nat != SG_NAT_DNAT :
		   e->nat != SG_NAT_SNAT && e->nat != SG_NAT_IMDS))
		return XDP_PASS;
	/* The metadata service's replies keep their TTL (sg_uplink_ingress). */
	hop = e->nat != SG_NAT_IMDS;
	if (hop && p.ttl <= 1)
		return XDP_PASS;
	zone = e->peer_zone;
	ifindex = e->kept.ifindex;
	counters = e->counters;	/* the sector's, from the flow's start */
	mtu_len = e->kept.mtu;
	/* A kept delivery was made on an uplink at this generation; this
	 * program runs on uplinks only, and apply moves the generation. */
	if (!sg_reply_kept(e, c, &p, now)) {
		up = sg_device_of(c->slot, c->ifindex);
		cfg = sg_config_of(c->slot);
		if (!up || up->role != SG_ROLE_UPLINK || !cfg)
			return XDP_PASS;
		if (e->dir == SG_FLOW_ORIG)
			f = sg_flow_live(e, now) &&
			    sg_forward_holds(c, &key, e) ? e : NULL;
		else
			f = sg_flow_primary_of(&key, e, &okey, now);
		/* What the definitions no longer let through: tc drops it. */
		if (!f || !(e->flags & SG_FLOW_L2_KNOWN) ||
		    sg_reply_refused(c->slot, e, &p) != SG_PASS)
			return XDP_PASS;
		ifindex = sg_flow_sector_dev(f);
		if (!((f->flags & SG_FLOW_REV_XDP) &&
		      f->kept.generation == c->generation) &&
		    !sg_reply_dev_ok(c->slot, ifindex, zone))
			return XDP_PASS;
		/* The device's MTU, kept for the next packets. */
		mtu_len = 0;
		if (bpf_check_mtu(x, ifindex, &mtu_len, 0, 0))
			return XDP_PASS;
	}
	if (p.l4_off - p.l3_off + p.l4_len > mtu_len ||
	    sg_csum_finish(x, c, &p))
		return XDP_PASS;
	/* Taken for another flow meanwhile (sg_flow_is): nothing written
	 * into it, the stack decides. */
	if (!sg_flows_are(e, f ? f : e, &key))
		return XDP_PASS;
	if (f && cfg) {
		sg_flow_update(f, cfg, &p, e->dir, now);
		/* The MACs are the ones learnt: keep them. */
		sg_keep(e, c, now, ifindex, mtu_len, e->kept.dmac,
			e->kept.smac);
	}

	if (sg_xlate_apply(c, &p, &e->xlate) || (hop && sg_ttl_dec(c, &p))) {
		sg_drop(c, &p, counters, 0, SG_DROP_MALFORMED);
		return XDP_DROP;
	}
	eth = c->data;
	if ((void *)(eth + 1) > c->data_end)
		return XDP_DROP;
	sg_mac_copy(eth->h_dest, e->kept.dmac);
	sg_mac_copy(eth->h_source, e->kept.smac);
	/* Taken for another flow while this read it (sg_flow_is): what it
	 * read may be another sector's, and a delivery it kept is not
	 * that flow's. */
	if (!sg_flows_are(e, f ? f : e, &key)) {
		if (f && cfg)
			e->kept.ifindex = 0;
		sg_drop(c, &p, 0, 0, SG_DROP_CONNTRACK_FULL);
		return XDP_DROP;
	}
	sg_count_fast(counters, false, true, c->len);
	return bpf_redirect(ifindex, 0);
}

#endif /* SG_FAST_H */
