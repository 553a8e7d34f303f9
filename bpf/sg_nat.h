/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Masquerade: source NAT for what sectors send out of an uplink, and the
 * reverse for the replies.
 *
 * SNAT happens at tc egress of the uplink, which every packet the kernel
 * routes out of it crosses: nothing from a sector leaves untranslated. The
 * sector is the one of the device the packet came in on (skb_iif), which is
 * what keeps overlapping sectors apart. Replies are translated at tc ingress
 * of the uplink and redirected straight to the sector device the flow came
 * from, with the kernel's neighbour table of that device resolving the VM:
 * no route lookup, so identical addresses of overlapping sectors never meet.
 *
 * Mapping: address- and port-dependent, as Linux masquerade: a flow keeps
 * its source port (ICMP echo id) when it lies in nat-ports and is free
 * towards that remote endpoint, else a port is probed from a random start.
 * The reply entry, inserted with BPF_NOEXIST, is the collision check.
 */
#ifndef SG_NAT_H
#define SG_NAT_H

#include "sg_flow.h"
#include "sg_drop.h"
#include "sg_icmp.h"

#define SG_EEXIST	17
#define SG_NAT_PROBES	32	/* ports tried after the original one */
/* A new reply entry is never stale for this long: its primary is written
 * just after it, and another CPU must not take the port in between. */
#define SG_REPLY_MIN_LIFE_NS	(2 * NSEC_PER_SEC)

static __always_inline bool sg_nat_port_in_range(const struct sg_config *cfg,
						 __u16 port)
{
	return port >= cfg->nat_port_lo && port <= cfg->nat_port_hi;
}

/* A reply entry whose flow is over may be taken by a new flow. */
static __always_inline bool sg_reply_stale(const struct sg_flow_key *rkey,
					   const struct sg_flow *r, __u64 now)
{
	struct sg_flow_key okey;

	if (r->dir != SG_FLOW_REPLY || r->expires_ns > now)
		return false;
	return !sg_flow_primary_of(rkey, r, &okey, now);
}

/* Claim port (host order) towards the reply key's remote: 0 or -errno. */
static __always_inline int sg_nat_claim(struct sg_flow_key *rkey,
					const struct sg_flow *rval, __u16 port,
					__u64 now)
{
	struct sg_flow *old;
	int err;

	rkey->dport = bpf_htons(port);
	err = bpf_map_update_elem(&sg_flows, rkey, rval, BPF_NOEXIST);
	if (err != -SG_EEXIST)
		return err;
	old = bpf_map_lookup_elem(&sg_flows, rkey);
	if (old && sg_reply_stale(rkey, old, now))
		return bpf_map_update_elem(&sg_flows, rkey, rval, BPF_EXIST);
	return err;
}

/*
 * The masquerade flow of this packet from `zone`, which came in on device
 * in_ifindex and leaves by out_ifindex behind snat, created if need be.
 * Returns SG_PASS with *out set, or the drop reason.
 */
static __always_inline int sg_snat_flow(const struct sg_config *cfg,
					const struct sg_pkt *p, __u16 zone,
					__u16 counters, __be32 snat,
					__u32 in_ifindex, __u32 out_ifindex,
					__u64 now, struct sg_flow **out)
{
	struct sg_flow_key key, rkey;
	struct sg_flow val = {}, rval = {}, *f;
	__u16 orig = bpf_ntohs(p->sport), range, start, port = 0;
	int err = -SG_EEXIST, i;

	sg_flow_key_of(&key, p, zone);
	f = bpf_map_lookup_elem(&sg_flows, &key);
	if (f && f->dir == SG_FLOW_ORIG && f->nat == SG_NAT_SNAT &&
	    f->xlate.saddr == snat && sg_flow_live(f, now)) {
		sg_flow_update(f, cfg, p, SG_FLOW_ORIG, now);
		*out = f;
		return SG_PASS;
	}

	sg_flow_snat_reply_key(&rkey, &key, snat, 0);	/* port: claimed below */
	/* Replies go back to the VM's own address and port. */
	rval = (struct sg_flow){ .peer_zone = zone, .dir = SG_FLOW_REPLY,
				 .nat = SG_NAT_SNAT, .counters = counters,
				 .expires_ns = now + SG_REPLY_MIN_LIFE_NS,
				 .xlate = { .saddr = p->daddr,
					    .daddr = p->saddr,
					    .sport = p->dport,
					    .dport = p->sport } };
	if (sg_nat_port_in_range(cfg, orig)) {
		err = sg_nat_claim(&rkey, &rval, orig, now);
		port = orig;
	}
	range = cfg->nat_port_hi - cfg->nat_port_lo + 1;
	start = range ? bpf_get_prandom_u32() % range : 0;
	for (i = 0; i < SG_NAT_PROBES && err == -SG_EEXIST; i++) {
		if (i >= range)
			break;
		port = cfg->nat_port_lo + (start + i) % range;
		err = sg_nat_claim(&rkey, &rval, port, now);
	}
	if (err == -SG_EEXIST)
		return SG_DROP_NAT_PORTS_EXHAUSTED;
	if (err)
		return SG_DROP_CONNTRACK_FULL;

	val.dir = SG_FLOW_ORIG;
	val.nat = SG_NAT_SNAT;
	val.xlate = (struct sg_flow_xlate){ .saddr = snat,
		.daddr = p->daddr, .sport = bpf_htons(port),
		.dport = p->dport };
	val.in_ifindex = in_ifindex;
	val.out_ifindex = out_ifindex;
	val.counters = counters;
	val.state = SG_FLOW_NEW;
	sg_flow_update(&val, cfg, p, SG_FLOW_ORIG, now);
	if (bpf_map_update_elem(&sg_flows, &key, &val, BPF_ANY)) {
		bpf_map_delete_elem(&sg_flows, &rkey);
		return SG_DROP_CONNTRACK_FULL;
	}
	*out = bpf_map_lookup_elem(&sg_flows, &key);
	return *out ? SG_PASS : SG_DROP_CONNTRACK_FULL;
}

/* Which packets from a sector the NAT can map at all. */
static __always_inline int sg_nat_mappable(const struct sg_pkt *p)
{
	if (p->frag)
		return SG_DROP_FRAGMENT;
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return SG_PASS;
	case IPPROTO_ICMP:
		return p->icmp_type == ICMP_ECHO ? SG_PASS :
						   SG_DROP_UNTRANSLATABLE;
	default:
		return SG_DROP_UNTRANSLATABLE;
	}
}

/* An ICMP error a VM sends about a packet of a masqueraded flow it
 * received: the flow is found from the embedded (reply) header. */
static __always_inline int sg_icmp_error_out(const struct sg_ctx *c,
					     const struct sg_pkt *p,
					     __u16 zone, __u64 now)
{
	struct sg_icmp_inner in;
	struct sg_flow_key key;
	struct sg_flow *f;
	int verdict = sg_icmp_inner_load(c, p, &in);

	if (verdict != SG_PASS)
		return verdict;
	key = (struct sg_flow_key){
		.saddr = in.ip.daddr, .daddr = in.ip.saddr,
		.sport = in.port[1], .dport = in.port[0],
		.proto = in.ip.protocol, .zone = zone,
	};
	f = bpf_map_lookup_elem(&sg_flows, &key);
	if (!f || f->dir != SG_FLOW_ORIG || f->nat != SG_NAT_SNAT ||
	    !sg_flow_live(f, now))
		return SG_DROP_UNTRANSLATABLE;	/* would show the VM's address */
	if (sg_icmp_error_rewrite(c, p, &in, false, f->xlate.saddr,
				  f->xlate.sport))
		return SG_DROP_MALFORMED;
	return SG_PASS;
}

/* tc egress of an uplink: masquerade what sectors send out. */
static __always_inline int sg_uplink_egress(struct sg_ctx *c,
					    struct __sk_buff *skb)
{
	struct sg_device *up = sg_device_of(c->slot, c->ifindex), *from;
	struct sg_config *cfg = sg_config_of(c->slot);
	struct sg_flow *f = NULL;
	struct sg_pkt p = {};
	__be32 snat;
	int verdict;

	if (!up || up->role != SG_ROLE_UPLINK || !cfg)
		return TC_ACT_OK;
	/* Only what the kernel forwarded from a sector device: the host's
	 * own traffic keeps its addresses. */
	from = sg_device_of(c->slot, skb->ingress_ifindex);
	if (!from && skb->ingress_ifindex && sg_parse(c, &p) == SG_PASS &&
	    p.kind == SG_PKT_IPV4 &&
	    sg_drop_from_sector(c, &p, SG_DROP_UNTRANSLATABLE))
		return TC_ACT_SHOT;
	if (!from || from->role != SG_ROLE_SECTOR)
		return TC_ACT_OK;

	verdict = sg_parse(c, &p);
	if (verdict == SG_PASS && p.kind != SG_PKT_IPV4)
		return TC_ACT_OK;	/* ARP, and IPv6 was judged at ingress */
	if (verdict == SG_PASS && sg_icmp_is_error(&p)) {
		verdict = sg_icmp_error_out(c, &p, from->sector, sg_now());
		goto out;
	}
	if (verdict == SG_PASS)
		verdict = sg_nat_mappable(&p);
	if (verdict == SG_PASS) {
		__builtin_memcpy(&snat, up->snat_addr, sizeof(snat));
		verdict = sg_snat_flow(cfg, &p, from->sector, from->counters,
				       snat, skb->ingress_ifindex, c->ifindex,
				       sg_now(), &f);
	}
	if (verdict == SG_PASS && f &&
	    sg_rewrite(c, &p, false, f->xlate.saddr, f->xlate.sport))
		verdict = SG_DROP_MALFORMED;
out:
	if (verdict == SG_PASS)
		return TC_ACT_OK;
	sg_drop(c, &p, from->counters, 0, verdict);
	return TC_ACT_SHOT;
}

/*
 * A translated reply too big for its sector device: the kernel forwards it
 * as it would without us, fragmenting it or answering "fragmentation
 * needed". It routes by the VM's address, which overlapping sectors share,
 * so this is done only where its route reaches the flow's own device; else
 * the packet is dropped rather than sent into another sector.
 */
static __always_inline int sg_deliver_by_route(const struct sg_ctx *c,
					       struct __sk_buff *skb,
					       const struct sg_pkt *p,
					       const struct sg_flow *f,
					       __be32 vm)
{
	struct bpf_fib_lookup fib = {
		.family = AF_INET, .ipv4_src = p->saddr, .ipv4_dst = vm,
		.ifindex = skb->ifindex,
	};
	int rc = bpf_fib_lookup(skb, &fib, sizeof(fib),
				BPF_FIB_LOOKUP_SKIP_NEIGH);

	if ((rc == BPF_FIB_LKUP_RET_SUCCESS ||
	     rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) && fib.ifindex == f->in_ifindex)
		return TC_ACT_OK;
	sg_drop(c, p, f->counters, 0, SG_DROP_UNTRANSLATABLE);
	return TC_ACT_SHOT;
}

/* Deliver a translated reply to the VM of flow f: TTL as a router does,
 * then straight to the sector device, its neighbour table finding the VM. */
static __always_inline int sg_deliver(const struct sg_ctx *c,
				      struct __sk_buff *skb,
				      const struct sg_pkt *p,
				      const struct sg_flow *f, __be32 vm)
{
	struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = vm };
	__u32 mtu_len = 0;

	/* GRO'd packets count by their segments. */
	if (bpf_check_mtu(skb, f->in_ifindex, &mtu_len, 0, BPF_MTU_CHK_SEGS))
		return sg_deliver_by_route(c, skb, p, f, vm);
	if (sg_ttl_dec(c, p)) {
		sg_drop(c, p, f->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	return bpf_redirect_neigh(f->in_ifindex, &nh, sizeof(nh), 0);
}

/*
 * An ICMP error about a packet a masqueraded flow sent: found from the
 * embedded header. Returns the tc verdict, or -1 when it is about no flow
 * of ours: then it may be about the host's own traffic, which shares the
 * address, and the host's stack judges it. A truncated one is dropped.
 */
static __always_inline int sg_icmp_error_in(const struct sg_ctx *c,
					    struct __sk_buff *skb,
					    const struct sg_pkt *p, __u64 now)
{
	struct sg_flow_key key, okey;
	struct sg_icmp_inner in;
	struct sg_flow *r, *f;
	int verdict = sg_icmp_inner_load(c, p, &in);

	if (verdict == SG_DROP_MALFORMED) {
		sg_drop(c, p, 0, 0, verdict);
		return TC_ACT_SHOT;
	}
	if (verdict != SG_PASS)
		return -1;
	key = (struct sg_flow_key){
		.saddr = in.ip.daddr, .daddr = in.ip.saddr,
		.sport = in.port[1], .dport = in.port[0],
		.proto = in.ip.protocol,
	};
	r = bpf_map_lookup_elem(&sg_flows, &key);
	if (!r || r->dir != SG_FLOW_REPLY || r->nat != SG_NAT_SNAT ||
	    in.ip.saddr != p->daddr)
		return -1;
	f = sg_flow_primary_of(&key, r, &okey, now);
	if (!f)
		return -1;
	if (p->ttl <= 1)
		return TC_ACT_OK;
	if (sg_icmp_error_rewrite(c, p, &in, true, r->xlate.daddr,
				  r->xlate.dport)) {
		sg_drop(c, p, f->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	return sg_deliver(c, skb, p, f, r->xlate.daddr);
}

/*
 * tc ingress of an uplink: replies of masqueraded flows go back to their
 * VM; anything else addressed to a sector is unsolicited.
 */
static __always_inline int sg_uplink_ingress(struct sg_ctx *c,
					     struct __sk_buff *skb)
{
	struct sg_device *up = sg_device_of(c->slot, c->ifindex);
	struct sg_config *cfg = sg_config_of(c->slot);
	struct sg_flow_key key, okey;
	struct sg_flow *r, *f;
	struct sg_pkt p = {};
	__u64 now;
	int verdict;

	if (!up || up->role != SG_ROLE_UPLINK || !cfg)
		return TC_ACT_OK;
	verdict = sg_parse(c, &p);
	if (verdict != SG_PASS || p.kind != SG_PKT_IPV4)
		return TC_ACT_OK;	/* the host's business */

	now = sg_now();
	sg_flow_key_of(&key, &p, 0);
	r = bpf_map_lookup_elem(&sg_flows, &key);
	f = r && r->dir == SG_FLOW_REPLY && r->nat == SG_NAT_SNAT ?
	    sg_flow_primary_of(&key, r, &okey, now) : NULL;
	if (!f && sg_icmp_is_error(&p)) {
		verdict = sg_icmp_error_in(c, skb, &p, now);
		if (verdict >= 0)
			return verdict;
	}
	if (!f)
		return sg_drop_into_sector(c, &p, SG_DROP_UNSOLICITED) ?
		       TC_ACT_SHOT : TC_ACT_OK;
	if (p.frag) {
		sg_drop(c, &p, f->counters, 0, SG_DROP_FRAGMENT);
		return TC_ACT_SHOT;
	}
	/* Expiring on the way: the kernel answers with time exceeded. */
	if (p.ttl <= 1)
		return TC_ACT_OK;

	sg_flow_update(f, cfg, &p, SG_FLOW_REPLY, now);
	if (sg_rewrite(c, &p, true, r->xlate.daddr, r->xlate.dport)) {
		sg_drop(c, &p, f->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	return sg_deliver(c, skb, &p, f, r->xlate.daddr);
}

#endif /* SG_NAT_H */
