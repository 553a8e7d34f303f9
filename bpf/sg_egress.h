/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Egress steering (SPEC 3.10): a sector's ordered egress policies, first
 * match wins, compiled by the loader into longest-prefix entries
 * (sg_egress_nets) and the device list of each policy
 * (sg_egress_policies); sg_egress_policy_of() looks them up.
 *
 * Where. The kernel's routes lead to the uplink, and a steered packet
 * must never take them: the sector device's tc ingress decides and sends
 * it itself. It finds or opens the flow, which records the device it
 * leaves by (out_ifindex), and redirects the packet there: straight to
 * an L3 device (tun, WireGuard: no MAC, no neighbour), or to an Ethernet
 * device (a veth, ZeroTier's tap) through the next hop that the kernel's
 * FIB names for that device (BPF_FIB_LOOKUP_OUTPUT), resolved by its
 * neighbour table. A MAC is never guessed: a device with no route
 * through it takes no new flow, and its flows are dropped (egress-down)
 * while it has none. The device's tc egress
 * translates it (sg_steered_out), as an uplink's translates masquerade,
 * and its tc ingress translates the replies back and delivers them to
 * the VM (sg_steered_in).
 *
 * The devices of a steered sector run tc ingress, not XDP (cmd_apply.c):
 * XDP cannot hand a packet to the stack of a device it chooses, and
 * tunnels take no XDP frames. An XDP program that meets a steered packet
 * (while an apply moves the device to tc) passes it up to tc ingress;
 * were there none, the kernel would route it to an uplink, whose tc
 * egress drops it (sg_uplink_refuses: egress-down).
 *
 * Failover. New flows take the first device of the policy that is
 * usable (up, with carrier and an address, as compiled: `run` applies
 * again at every link and address notification; without it, a device
 * down since the apply drops what reaches its tc egress, sg_dev_running)
 * and, for an Ethernet
 * one, has a route for the packet. A flow stays on its device (the
 * policy's slot, SG_FLOW_EGRESS_SLOT_MASK): while that one is gone or not
 * usable its packets are dropped (egress-down), never moved to another
 * source address. Replies are taken only on the device the policy names
 * for the flow now (sg_egress_holds).
 */
#ifndef SG_EGRESS_H
#define SG_EGRESS_H

#include "sg_nat.h"

/*
 * Can p leave by device i of pol, and how? Its entry in *out, and for an
 * Ethernet device the next hop of the kernel's route through that device
 * in *nh (BPF_FIB_LOOKUP_OUTPUT: the device's own routes, which need not
 * win over the uplink's). An L3 device takes the packet as it is. false:
 * not usable (down, or without an address), not present, not an egress
 * device, or no route through it.
 */
static __always_inline bool sg_egress_via(const struct sg_ctx *c,
					  const struct sg_pkt *p,
					  const struct sg_egress_policy *pol,
					  int i, struct sg_device **out,
					  struct bpf_redir_neigh *nh)
{
	__u32 ifindex = pol->devs[i & (SG_MAX_EGRESS_DEVS - 1)].ifindex;
	struct bpf_fib_lookup fib;
	long rc;

	*out = NULL;
	if (!(pol->usable & (1U << i)))
		return false;
	*out = ifindex ? sg_device_of(c->slot, ifindex) : NULL;
	if (!*out || !((*out)->flags & SG_DEV_EGRESS))
		return false;
	if ((*out)->flags & SG_DEV_L3)
		return true;
	sg_fib_of(&fib, c, p, 0);
	fib.ifindex = ifindex;
	rc = sg_fib_route(c->ctx, &fib, BPF_FIB_LOOKUP_OUTPUT |
					BPF_FIB_LOOKUP_SKIP_NEIGH);
	/* A next hop of 0 would read as an L3 device's (sg_steer_keep). */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != ifindex ||
	    !fib.ipv4_dst)
		return false;
	nh->nh_family = AF_INET;
	nh->ipv4_nh = fib.ipv4_dst;	/* the gateway, or p's destination */
	return true;
}

/*
 * A TCP SYN of a steered flow announces no more than the egress device
 * ifindex carries: its MSS option is cut to the device's MTU less 40
 * bytes of IP and TCP header, as iptables' TCPMSS --clamp-mss-to-pmtu
 * does on tunnels, so that neither end sends segments the tunnel would
 * drop (a redirect past the MTU gets no "fragmentation needed" back).
 * Only an MSS that is the first option, where Linux, Windows and the
 * BSDs put it. 0, or -1 if the packet could not be changed.
 */
static __always_inline int sg_clamp_mss(const struct sg_ctx *c,
					const struct sg_pkt *p, __u32 ifindex)
{
	__u32 mtu = 0;
	__be16 old, new;
	__u8 opt[4], doff;

	if (p->proto != IPPROTO_TCP || !(p->tcp_flags & TCP_FLAG_SYN) ||
	    sg_ctx_load(c, p->l4_off + 12, &doff, 1) || (doff >> 4) < 6 ||
	    sg_ctx_load(c, p->l4_off + 20, opt, sizeof(opt)) ||
	    opt[0] != 2 || opt[1] != 4)
		return 0;
	if (bpf_check_mtu(c->ctx, ifindex, &mtu, 0, 0) < 0 || mtu <= 40 + 536)
		return 0;
	__builtin_memcpy(&old, opt + 2, sizeof(old));
	if (bpf_ntohs(old) <= mtu - 40)
		return 0;
	new = bpf_htons(mtu - 40);
	if (sg_ctx_l4_csum_replace(c, p->l4_off + TCP_CSUM_OFF, old, new,
				   sizeof(new)) ||
	    sg_ctx_store(c, p->l4_off + 22, &new, sizeof(new)))
		return -1;
	return 0;
}

/*
 * Steered packet p does not fit the MTU of its egress device, mtu, and
 * may not be fragmented (DF): as a router forwarding into the tunnel
 * would (RFC 1191), its VM is sent "fragmentation needed" with that MTU,
 * from the gateway's address on the device p came in by, out of that
 * device; p goes no further. Built in place (tc): the frame cut to p's
 * IP header and the start of its L4 header (8 bytes, a TCP header's 20:
 * a checksum left to the device must stay in the frame), an IP and an
 * ICMP header put in front, the MACs swapped. SG_PASS_STEER (sent);
 * SG_PASS when it could not be built and nothing was changed (p is then
 * sent as it is, as without the check); or the reason to drop it. An
 * answered packet is counted on its sector (sg_counters index counters)
 * as dropped `too-big`, as Linux counts what it answers so.
 */
static __always_inline int sg_steer_too_big(const struct sg_ctx *c,
					    const struct sg_pkt *p, __u32 mtu,
					    __u32 counters)
{
	struct {
		struct iphdr ip;
		struct icmphdr icmp;
	} h = {};
	__u32 hlen = (p->l4_off - p->l3_off) & 0x3c, keep, zero = 0;
	struct sg_csum_scratch *s;
	struct bpf_fib_lookup fib;
	struct ethhdr eth;
	__u8 mac[sizeof(eth.h_dest)], tos;
	__s64 sum;

	if (c->xdp || p->l3_off != sizeof(eth) || hlen < sizeof(h.ip))
		return SG_PASS;
	keep = hlen + (p->proto == IPPROTO_TCP ? 20 : 8);
	/* The gateway's address toward the VM, on this device. */
	sg_fib_of(&fib, c, p, 0);
	fib.ipv4_src = 0;
	fib.ipv4_dst = p->saddr;
	s = bpf_map_lookup_elem(&sg_csum_scratch, &zero);
	if (!s || sg_fib_route(c->ctx, &fib, BPF_FIB_LOOKUP_SRC |
			       BPF_FIB_LOOKUP_SKIP_NEIGH) !=
		  BPF_FIB_LKUP_RET_SUCCESS ||
	    !fib.ipv4_src || fib.ifindex != c->ifindex ||
	    sg_ctx_load(c, p->l3_off, s->b, keep) ||
	    sg_ctx_load(c, 0, &eth, sizeof(eth)) ||
	    sg_ctx_load(c, p->l3_off + 1, &tos, sizeof(tos)))
		return SG_PASS;

	h.icmp.type = ICMP_DEST_UNREACH;
	h.icmp.code = 4;	/* fragmentation needed and DF set */
	h.icmp.un.frag.mtu = bpf_htons(mtu);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)s->b, keep, 0);
	if (sum < 0)
		return SG_PASS;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&h.icmp, sizeof(h.icmp), sum);
	if (sum < 0)
		return SG_PASS;
	h.icmp.checksum = sg_csum_fold(sum);
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tos = (tos & 0x1c) | 0xc0;	/* internetwork control, as Linux */
	h.ip.tot_len = bpf_htons(sizeof(h) + keep);
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_ICMP;
	h.ip.saddr = fib.ipv4_src;
	h.ip.daddr = p->saddr;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&h.ip, sizeof(h.ip), 0);
	if (sum < 0)
		return SG_PASS;
	h.ip.check = sg_csum_fold(sum);
	__builtin_memcpy(mac, eth.h_dest, sizeof(mac));
	__builtin_memcpy(eth.h_dest, eth.h_source, sizeof(mac));
	__builtin_memcpy(eth.h_source, mac, sizeof(mac));

	/* Refused before it changes anything: p goes on as it is. */
	if (bpf_skb_change_tail(c->ctx, p->l3_off + keep, 0))
		return SG_PASS;
	if (bpf_skb_adjust_room(c->ctx, sizeof(h), BPF_ADJ_ROOM_MAC, 0) ||
	    bpf_skb_store_bytes(c->ctx, 0, &eth, sizeof(eth),
				BPF_F_RECOMPUTE_CSUM) ||
	    bpf_skb_store_bytes(c->ctx, sizeof(eth), &h, sizeof(h),
				BPF_F_RECOMPUTE_CSUM))
		return SG_DROP_MALFORMED;
	if (bpf_redirect(c->ifindex, 0) != TC_ACT_REDIRECT)
		return SG_DROP_MALFORMED;
	sg_drop(c, p, counters, 0, SG_DROP_TOO_BIG);
	return SG_PASS_STEER;
}

/* May p be fragmented on the way (its DF clear, read)? */
static __always_inline bool sg_may_fragment(const struct sg_ctx *c,
					    const struct sg_pkt *p)
{
	__be16 frag_off;

	return !sg_ctx_load(c, p->l3_off + 6, &frag_off, sizeof(frag_off)) &&
	       !(frag_off & bpf_htons(IP_DF));
}

/*
 * Does p (of the sector whose sg_counters index is counters) fit egress
 * device ifindex? Its MTU in *mtu (0 when not known).
 * SG_PASS: send it; a packet that does not fit and may not be
 * fragmented is answered (sg_steer_too_big). One that may be is sent as
 * it is: BPF cannot fragment, a tun or WireGuard device takes it, an
 * Ethernet one drops it. A GSO packet is judged by its segments.
 */
static __always_inline int sg_steer_fits(const struct sg_ctx *c,
					 const struct sg_pkt *p, __u32 counters,
					 __u32 ifindex, __u32 *mtu)
{
	struct __sk_buff *skb = c->ctx;
	long rc;

	if (skb->gso_size) {
		*mtu = 0;
		rc = bpf_check_mtu(skb, ifindex, mtu, 0, BPF_MTU_CHK_SEGS);
		rc = rc == BPF_MTU_CHK_RET_SEGS_TOOBIG ?
		     BPF_MTU_CHK_RET_FRAG_NEEDED : rc;
	} else {
		*mtu = p->l4_off - p->l3_off + p->l4_len;
		rc = bpf_check_mtu(skb, ifindex, mtu, 0, 0);
	}
	if (rc < 0)
		*mtu = 0;
	if (rc != BPF_MTU_CHK_RET_FRAG_NEEDED || sg_may_fragment(c, p))
		return SG_PASS;
	return sg_steer_too_big(c, p, *mtu, counters);
}

/* Send p (as a router: TTL - 1) out of egress device out (ifindex): as it
 * is to an L3 device, through next hop nh to an Ethernet one. */
static __always_inline int sg_egress_send(const struct sg_ctx *c,
					  const struct sg_pkt *p,
					  const struct sg_device *out,
					  __u32 ifindex,
					  struct bpf_redir_neigh *nh)
{
	long rc;

	if (sg_ttl_dec(c, p))
		return SG_DROP_MALFORMED;
	if (out->flags & SG_DEV_L3)
		rc = bpf_redirect(ifindex, 0);
	else
		rc = bpf_redirect_neigh(ifindex, nh, sizeof(*nh), 0);
	return rc == TC_ACT_REDIRECT ? SG_PASS_STEER : SG_DROP_EGRESS_DOWN;
}

/*
 * Keep in steered flow f the decision just made: out of ifindex, through
 * next hop nh (0: an L3 device), packets of up to mtu bytes (IP), for
 * its next packets (sg_steer_again).
 * Another CPU may be reading f: kept.ifindex, which makes the decision
 * usable, goes last.
 */
static __always_inline void sg_steer_keep(struct sg_flow *f,
					  const struct sg_ctx *c, __u64 now,
					  __u32 ifindex, __be32 nh, __u32 mtu)
{
	f->kept.ifindex = 0;
	asm volatile("" ::: "memory");
	f->kept.generation = c->generation;
	f->kept.checked = now >> 20;
	f->kept.mtu = mtu > 0xffff ? 0xffff : mtu;
	__builtin_memcpy(f->kept.next_hop, &nh, sizeof(nh));
	asm volatile("" ::: "memory");
	f->kept.ifindex = ifindex;
}

/*
 * p from sector device dev, of flow key (a fragment after the first: of
 * the flow its first was steered by), meets policy pol: its flow stays
 * on its device; a new flow takes the first usable device with a route
 * for it. Then it is redirected there, TTL as a router leaves it, and a
 * first fragment noted for the rest (SG_FRAG_AT_STEER). tc only (the XDP
 * caller passes it up).
 */
static __always_inline int sg_steer(const struct sg_ctx *c,
				    const struct sg_device *dev,
				    const struct sg_pkt *p,
				    const struct sg_flow_key *key,
				    const struct sg_egress_policy *pol)
{
	struct sg_config *cfg = sg_config_of(c->slot);
	struct bpf_redir_neigh nh = {};
	struct sg_device *out = NULL;
	struct sg_flow *f, t;
	bool found = false;
	__u32 ifindex, mtu;
	__u64 now;
	int i = -1, k, verdict;

	verdict = p->frag == SG_FRAG_LATER ? SG_PASS :
					     sg_nat_mappable_proto(p);
	if (verdict != SG_PASS)
		return verdict;
	if (!cfg)
		return SG_DROP_EGRESS_DOWN;
	/* Expiring on the way: the kernel answers with time exceeded. */
	if (p->ttl <= 1)
		return SG_PASS;
	now = sg_now();
	f = bpf_map_lookup_elem(&sg_flows, key);
	/*
	 * A live flow stays on its device, with the source it took: while
	 * the device is gone or down it is dropped, never moved; if it came
	 * back as another ifindex, the flow follows. A flow the policy no
	 * longer matches (another source for that device, fewer devices)
	 * is a new one.
	 */
	if (f && f->dir == SG_FLOW_ORIG && f->nat == SG_NAT_EGRESS &&
	    sg_flow_live(f, now) && sg_egress_slot(f) < pol->ndevs &&
	    sg_flow_is(f, key)) {
		i = sg_egress_slot(f);
		if (!pol->devs[i & (SG_MAX_EGRESS_DEVS - 1)].ifindex)
			return SG_DROP_EGRESS_DOWN;
		found = f->xlate.saddr == sg_egress_source(pol, i, p->saddr);
	}
	if (found) {
		if (!sg_egress_via(c, p, pol, i, &out, &nh))
			return SG_DROP_EGRESS_DOWN;
	} else if (p->frag == SG_FRAG_LATER) {
		/* Without ports it opens no flow, nor takes another one. */
		return SG_DROP_FRAGMENT;
	} else {
		i = -1;
		for (k = 0; k < SG_MAX_EGRESS_DEVS; k++) {
			if (k >= pol->ndevs)
				break;
			if (sg_egress_via(c, p, pol, k, &out, &nh)) {
				i = k;
				break;
			}
		}
		if (i < 0 || !out)
			return SG_DROP_EGRESS_DOWN;
	}
	ifindex = pol->devs[i & (SG_MAX_EGRESS_DEVS - 1)].ifindex;
	if (sg_clamp_mss(c, p, ifindex))
		return SG_DROP_MALFORMED;
	/* Too big, with DF: answered, and no flow is made or moved. */
	verdict = sg_steer_fits(c, p, dev->counters, ifindex, &mtu);
	if (verdict != SG_PASS)
		return verdict;

	if (found) {
		/* Taken for another flow since it was found: not written. */
		if (!sg_flow_is(f, key))
			return SG_DROP_CONNTRACK_FULL;
		f->out_ifindex = ifindex;
		sg_flow_update(f, cfg, p, SG_FLOW_ORIG, now);
	} else {
		sg_snat_template(&t, SG_NAT_EGRESS,
				 sg_egress_source(pol, i, p->saddr), p,
				 dev->counters, c->ifindex, ifindex);
		t.flags = (__u32)i << SG_FLOW_EGRESS_SLOT_SHIFT;
		verdict = sg_snat_flow(c, cfg, p, key, &t,
				       pol->flags & SG_EGRESS_ROUTED, now, &f);
		if (verdict != SG_PASS)
			return verdict;
	}
	if (f) {
		/* Taken for another flow meanwhile (sg_flow_is): nothing kept
		 * in it, or what was kept undone. */
		if (!sg_flow_is(f, key))
			return SG_DROP_CONNTRACK_FULL;
		sg_steer_keep(f, c, now, ifindex,
			      out->flags & SG_DEV_L3 ? 0 : nh.ipv4_nh, mtu);
		if (!sg_flow_is(f, key)) {
			f->kept.ifindex = 0;
			return SG_DROP_CONNTRACK_FULL;
		}
	}
	verdict = sg_egress_send(c, p, out, ifindex, &nh);
	if (verdict == SG_PASS_STEER)
		sg_frag_note(c, p, dev->sector, SG_FRAG_AT_STEER, key, now);
	return verdict;
}

/*
 * tc ingress of a steered sector's device, before anything else: a
 * packet of a steered flow whose decision is still good (kept at this
 * generation of the definitions, within SG_FWD_RECHECK_MS) leaves by the
 * device and next hop kept in its primary, as sg_steer would send it,
 * without the policy, the choice of device or the route lookup: what
 * changes those (an apply, a link or address that `run` applies again
 * for) moves the generation. TCP SYN, FIN and RST (the MSS clamp, the
 * state), ICMP errors and fragments are decided afresh. p is parsed
 * (verdict `parsed`). Returns the tc verdict, or -1 to decide afresh.
 */
static __always_inline int sg_steer_again(struct sg_ctx *c,
					  const struct sg_pkt *p, int parsed)
{
	struct bpf_redir_neigh nh = { .nh_family = AF_INET };
	struct sg_device *dev = sg_device_cached(c);
	struct sg_config *cfg;
	struct sg_flow_key key;
	struct sg_flow *f;
	__u32 ifindex, checked, mtu;
	__u64 now;
	long rc;

	if (!dev || dev->role != SG_ROLE_SECTOR ||
	    !(dev->flags & SG_DEV_STEERED) || parsed != SG_PASS ||
	    p->kind != SG_PKT_IPV4 || p->frag ||
	    p->ttl <= 1 || sg_nat_mappable(p) != SG_PASS ||
	    (p->proto == IPPROTO_TCP &&
	     (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST))))
		return -1;
	sg_flow_key_of(&key, p, dev->sector);
	f = bpf_map_lookup_elem(&sg_flows, &key);
	now = sg_now();
	cfg = sg_config_of(c->slot);
	if (!f || !cfg || f->dir != SG_FLOW_ORIG || f->nat != SG_NAT_EGRESS ||
	    !sg_kept_fresh(f, c, now) || !sg_flow_live(f, now))
		return -1;
	ifindex = f->kept.ifindex;
	checked = f->kept.checked;
	mtu = f->kept.mtu;
	__builtin_memcpy(&nh.ipv4_nh, f->kept.next_hop, sizeof(nh.ipv4_nh));
	/* Bigger than the device took when this was kept, with DF, or a
	 * GSO packet whose segments are: decided afresh, and answered
	 * (sg_steer_fits). */
	if (((struct __sk_buff *)c->ctx)->gso_size) {
		mtu = 0;
		if (bpf_check_mtu(c->ctx, ifindex, &mtu, 0, BPF_MTU_CHK_SEGS))
			return -1;
	} else if (p->l4_off - p->l3_off + p->l4_len > mtu &&
		   !sg_may_fragment(c, p)) {
		return -1;
	}
	/* Kept again meanwhile (sg_steer_keep clears ifindex first, and a
	 * new decision has a new time), or taken for another flow
	 * (sg_flow_is): decided afresh, nothing changed yet. */
	asm volatile("" ::: "memory");
	if (*(volatile __u32 *)&f->kept.ifindex != ifindex ||
	    *(volatile __u32 *)&f->kept.checked != checked ||
	    !sg_flow_is(f, &key))
		return -1;
	sg_count_rx(dev->counters, c->len);
	sg_flow_update(f, cfg, p, SG_FLOW_ORIG, now);
	if (sg_ttl_dec(c, p)) {
		sg_drop(c, p, dev->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	rc = nh.ipv4_nh ? bpf_redirect_neigh(ifindex, &nh, sizeof(nh), 0) :
			  bpf_redirect(ifindex, 0);
	if (rc == TC_ACT_REDIRECT)
		return TC_ACT_REDIRECT;
	sg_drop(c, p, dev->counters, 0, SG_DROP_EGRESS_DOWN);
	return TC_ACT_SHOT;
}

/*
 * An ICMP error a VM sends about a packet of a steered flow it received
 * (port unreachable for a late reply, fragmentation needed): found from
 * the embedded header, it leaves as the flow's packets do, by the flow's
 * device, its outer source and embedded destination translated (nothing
 * under `none`), to the host that sent the packet it is about: one for
 * another destination would leave by that flow's device, which the
 * policies may not give that destination. SG_NOT_MINE when it is about
 * no steered flow.
 */
static __always_inline int sg_steer_icmp_error(const struct sg_ctx *c,
					       const struct sg_device *dev,
					       const struct sg_pkt *p)
{
	struct sg_egress_policy *pol = NULL;
	struct bpf_redir_neigh nh = {};
	struct sg_device *out = NULL;
	struct sg_icmp_inner in;
	struct sg_flow_key key;
	struct sg_flow *f;
	__u32 i;
	int verdict = sg_icmp_inner_load(c, p, &in);

	if (verdict != SG_PASS)
		return verdict == SG_DROP_MALFORMED ? verdict : SG_NOT_MINE;
	key = (struct sg_flow_key){
		.saddr = in.ip.daddr, .daddr = in.ip.saddr,
		.sport = in.port[1], .dport = in.port[0],
		.proto = in.ip.protocol, .zone = dev->sector,
	};
	f = bpf_map_lookup_elem(&sg_flows, &key);
	if (!f || f->dir != SG_FLOW_ORIG || f->nat != SG_NAT_EGRESS ||
	    !sg_flow_live(f, sg_now()))
		return SG_NOT_MINE;
	i = sg_egress_slot(f);
	pol = sg_egress_holds(c->slot, &key, f, f->out_ifindex);
	if (!pol || p->daddr != in.ip.saddr)
		return SG_DROP_UNTRANSLATABLE;
	/* Untranslated, the error goes out as it was sent: from the VM the
	 * flow is for, no other (it would leave with its own address). */
	if ((pol->flags & SG_EGRESS_ROUTED) && p->saddr != key.saddr)
		return SG_DROP_UNTRANSLATABLE;
	if (p->ttl <= 1)
		return SG_PASS;
	if (!sg_egress_via(c, p, pol, i, &out, &nh) || !out)
		return SG_DROP_EGRESS_DOWN;
	if (sg_icmp_error_rewrite(c, p, &in, false, true, f->xlate.saddr,
				  f->xlate.sport))
		return SG_DROP_MALFORMED;
	i = f->out_ifindex;
	if (!sg_flow_is(f, &key))	/* taken meanwhile */
		return SG_DROP_CONNTRACK_FULL;
	return sg_egress_send(c, p, out, i, &nh);
}

/*
 * Does an egress policy of sector dev->sector take p? SG_NOT_MINE if
 * not; else it is sent on its way (SG_PASS_STEER) or dropped. At XDP
 * anything of a steered sector that gets this far is passed up to tc
 * (SG_PASS_STEER), which decides it afresh.
 */
static __always_inline int sg_egress_decide(const struct sg_ctx *c,
					    const struct sg_device *dev,
					    const struct sg_pkt *p)
{
	struct sg_egress_policy *pol = NULL;
	struct sg_flow_key key;
	bool follows;
	int found;

	/* Only while an apply moves the device to tc: tc decides all. */
	if (c->xdp)
		return SG_PASS_STEER;
	/* Whichever policy its own destination meets: the flow's. */
	if (sg_icmp_is_error(p)) {
		found = sg_steer_icmp_error(c, dev, p);
		if (found != SG_NOT_MINE)
			return found;
	}
	/* A fragment after the first meets the policy by the ports of the
	 * flow its first was steered by; one that follows none, by none,
	 * and no policy can steer it (nor a flow without ports take it). */
	follows = p->frag == SG_FRAG_LATER &&
		  sg_frag_entry(c, p, dev->sector, SG_FRAG_AT_STEER, sg_now(),
				&key);
	if (!follows)
		sg_flow_key_of(&key, p, dev->sector);
	found = sg_egress_policy_of(c->slot, dev->sector, p->daddr, key.proto,
				    key.dport, &pol);
	if (!found)
		return SG_NOT_MINE;
	if (found < 0 || !pol)
		return SG_DROP_EGRESS_DOWN;
	if (p->frag == SG_FRAG_LATER && !follows)
		return SG_DROP_FRAGMENT;
	return sg_steer(c, dev, p, &key, pol);
}

/*
 * tc egress of an egress device: an ICMP error that a sector's tc ingress
 * translated and steered here (sg_steer_icmp_error) is about a flow of
 * that sector whose replies this device takes: its embedded header, now
 * as the flow left, is the key of that flow's reply entry, and its outer
 * source the flow's.
 */
static __always_inline int sg_steered_error_out(const struct sg_ctx *c,
						const struct sg_pkt *p,
						__u16 sector)
{
	struct sg_icmp_inner in;
	struct sg_flow_key rkey;
	struct sg_flow *e, *f;

	if (sg_icmp_inner_load(c, p, &in) != SG_PASS)
		return SG_NOT_MINE;
	rkey = (struct sg_flow_key){
		.saddr = in.ip.saddr, .daddr = in.ip.daddr,
		.sport = in.port[0], .dport = in.port[1],
		.proto = in.ip.protocol,
	};
	e = bpf_map_lookup_elem(&sg_flows, &rkey);
	f = sg_inbound_flow(c, &rkey, e, false, sg_now());
	return f && e->peer_zone == sector && p->saddr == f->xlate.saddr ?
	       SG_PASS : SG_NOT_MINE;
}

/*
 * tc egress of an egress device: a packet that sector `sector`'s tc
 * ingress steered here leaves as its flow says. SG_NOT_MINE for anything
 * else. The policy is not asked again: the ingress decided this packet
 * by the definitions it read, and nothing the kernel routes here from a
 * sector is steered (sg_route_out refuses it at the sector's ingress).
 */
static __always_inline int sg_steered_out(const struct sg_ctx *c,
					  const struct sg_pkt *p, __u16 sector)
{
	struct sg_flow_key key;
	struct sg_flow *f;
	__u64 now = sg_now();

	if (sg_icmp_is_error(p))
		return sg_steered_error_out(c, p, sector);
	/* A fragment after the first: the flow the ingress noted it by
	 * (sg_steer), whose addresses it gets. */
	if (p->frag == SG_FRAG_LATER) {
		f = sg_frag_entry(c, p, sector, SG_FRAG_AT_STEER, now, &key);
	} else {
		if (sg_nat_mappable_proto(p) != SG_PASS)
			return SG_NOT_MINE;
		sg_flow_key_of(&key, p, sector);
		f = bpf_map_lookup_elem(&sg_flows, &key);
	}
	if (!f || f->dir != SG_FLOW_ORIG || f->nat != SG_NAT_EGRESS ||
	    f->out_ifindex != c->ifindex || !sg_flow_live(f, now))
		return SG_NOT_MINE;
	if (sg_xlate_apply(c, p, &f->xlate))
		return SG_DROP_MALFORMED;
	return sg_flow_is(f, &key) ? SG_PASS : SG_DROP_CONNTRACK_FULL;
}

/*
 * tc ingress of an egress device: a reply of a flow steered out of it,
 * or an ICMP error about one, goes back to its VM; the rest of a reply
 * datagram whose first fragment went to a VM follows it (sg_frag.h: a
 * DNS answer of a few kilobytes, fragmented on the way). Returns the tc
 * verdict, or -1 for anything else.
 */
static __always_inline int sg_steered_in(const struct sg_ctx *c,
					 struct __sk_buff *skb,
					 const struct sg_pkt *p,
					 const struct sg_config *cfg)
{
	struct sg_flow_key key;
	struct sg_flow *e, *f;
	__u64 now = sg_now();

	e = sg_frag_entry_in(c, p, SG_FRAG_AT_EGRESS_IN, now, &key);
	f = e ? sg_inbound_flow(c, &key, e, false, now) : NULL;
	if (f)
		return sg_reply_in(c, skb, p, cfg, &key, e, f, now);
	if (p->frag == SG_FRAG_LATER)
		return -1;

	sg_flow_key_of(&key, p, 0);
	e = bpf_map_lookup_elem(&sg_flows, &key);
	f = sg_inbound_flow(c, &key, e, false, now);
	/* The other end's SYN-ACK too: the VM sends by the same tunnel. */
	if (e && f && sg_clamp_mss(c, p, c->ifindex)) {
		sg_drop(c, p, f->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	if (e && f)
		return sg_reply_in(c, skb, p, cfg, &key, e, f, now);
	if (sg_icmp_is_error(p))
		return sg_icmp_error_in(c, skb, p, false, now);
	return -1;
}

#endif /* SG_EGRESS_H */
