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
 * towards that remote endpoint, else up to SG_NAT_PROBES consecutive ports
 * are probed from a random start: a range that small is tried whole, as
 * Linux's allocator tries one of up to 128.
 * The reply entry, inserted with BPF_NOEXIST, is the collision check;
 * a port on which a host socket would take the replies is never claimed
 * (sg_shadow.h).
 */
#ifndef SG_NAT_H
#define SG_NAT_H

#include "sg_flow.h"
#include "sg_drop.h"
#include "sg_dnat.h"
#include "sg_icmp.h"
#include "sg_shadow.h"
#include "sg_frag.h"

#define SG_NAT_PROBES	128	/* ports tried after the original one */

static __always_inline bool sg_nat_port_in_range(const struct sg_config *cfg,
						 __u16 port)
{
	return port >= cfg->nat_port_lo && port <= cfg->nat_port_hi;
}

/*
 * Claim port (host order) towards the reply key's remote: 0 or -errno.
 * A port that a forward publishes on this address is never handed out,
 * nor one the host's stack would take the replies of: the host and the
 * sectors share the address. ctx is the program's, rval the reply entry
 * to insert.
 */
static __always_inline int sg_nat_claim_port(void *ctx,
					     struct sg_flow_key *rkey,
					     struct sg_flow *rval, __u32 slot,
					     __u32 port)
{
	if (!rkey || !rval)
		return -SG_EEXIST;
	rkey->dport = bpf_htons(port);
	rval->kept.key_tag = sg_flow_tag(rkey);
	if (rkey->proto != IPPROTO_ICMP &&
	    sg_forward_of(slot, rkey->daddr, rkey->proto, rkey->dport))
		return -SG_EEXIST;
	if (sg_host_holds(ctx, rkey))
		return -SG_EEXIST;
	return sg_reply_take_stale(rkey, rval,
				   bpf_map_update_elem(&sg_flows, rkey, rval,
						       BPF_NOEXIST), sg_now());
}

/*
 * The same as global functions, one per type of program (a global
 * function's context has the program's type): the verifier checks each
 * once, where SG_NAT_PROBES claims inlined would be beyond its limits.
 */
__attribute__((noinline)) int sg_nat_claim_xdp(struct xdp_md *ctx,
					      struct sg_flow_key *rkey,
					      struct sg_flow *rval,
					      __u32 slot, __u32 port)
{
	return sg_nat_claim_port(ctx, rkey, rval, slot, port);
}

__attribute__((noinline)) int sg_nat_claim_skb(struct __sk_buff *ctx,
					      struct sg_flow_key *rkey,
					      struct sg_flow *rval,
					      __u32 slot, __u32 port)
{
	return sg_nat_claim_port(ctx, rkey, rval, slot, port);
}

static __always_inline int sg_nat_claim(const struct sg_ctx *c,
					struct sg_flow_key *rkey,
					struct sg_flow *rval, __u16 port)
{
	/* c->xdp is a constant of the program: the other call is never
	 * verified. */
	if (c->xdp)
		return sg_nat_claim_xdp(c->ctx, rkey, rval, c->slot, port);
	return sg_nat_claim_skb(c->ctx, rkey, rval, c->slot, port);
}

/*
 * What a new flow leaving a sector becomes, for sg_snat_flow: its kind,
 * the source address it takes (snat), its counters and devices. The port
 * is chosen there.
 */
static __always_inline void sg_snat_template(struct sg_flow *t, __u8 nat,
					     __be32 snat,
					     const struct sg_pkt *p,
					     __u16 counters, __u32 in_ifindex,
					     __u32 out_ifindex)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->nat = nat;
	t->counters = counters;
	t->in_ifindex = in_ifindex;
	t->out_ifindex = out_ifindex;
	t->xlate.saddr = snat;
	t->xlate.daddr = p->daddr;
	t->xlate.dport = p->dport;
}

/* Is f the live primary of a flow of kind nat leaving from saddr? */
static __always_inline bool sg_snat_live(const struct sg_flow *f, __u8 nat,
					 __be32 saddr, __u64 now)
{
	return f && f->dir == SG_FLOW_ORIG && f->nat == nat &&
	       f->xlate.saddr == saddr && sg_flow_live(f, now);
}

/*
 * Primary o under key is being replaced by another mapping whose reply
 * entry is now: o's own reply entry goes, so that nothing kept in it
 * (the XDP fast path's delivery to the VM) outlives the mapping. Only
 * if it still is o's: its tuple may have gone to another flow since.
 */
static __always_inline void sg_reply_forget(const struct sg_flow_key *key,
					    const struct sg_flow *o,
					    const struct sg_flow_key *now_key)
{
	struct sg_flow_key old = {
		.saddr = o->xlate.daddr, .daddr = o->xlate.saddr,
		.sport = o->xlate.dport, .dport = o->xlate.sport,
		.proto = key->proto,
	};
	struct sg_flow *r;

	if (old.saddr == now_key->saddr && old.daddr == now_key->daddr &&
	    old.sport == now_key->sport && old.dport == now_key->dport)
		return;
	r = bpf_map_lookup_elem(&sg_flows, &old);
	if (r && r->dir == SG_FLOW_REPLY && r->peer_zone == key->zone &&
	    r->xlate.daddr == key->saddr && r->xlate.dport == key->sport &&
	    sg_flow_reply_belongs(&old, r, o))
		bpf_map_delete_elem(&sg_flows, &old);
}

/*
 * The source-translated flow of packet p (masquerade, the metadata
 * rewrite, egress steering) under primary key *key, created from
 * template *t if need be; keep_port: with the packet's own source port
 * or none (steering untranslated). Returns SG_PASS with *out set, or the
 * drop reason.
 */
static __always_inline int sg_snat_flow(const struct sg_ctx *c,
					const struct sg_config *cfg,
					const struct sg_pkt *p,
					const struct sg_flow_key *key,
					struct sg_flow *t, bool keep_port,
					__u64 now, struct sg_flow **out)
{
	struct sg_flow_key rkey, okey;
	struct sg_flow *rval, *f;
	__u16 orig = bpf_ntohs(p->sport), range, start, port = 0;
	int err = -SG_EEXIST, i;
	__u32 zero = 0;

	f = bpf_map_lookup_elem(&sg_flows, key);
	/* A steered flow is the same flow only on the same device. */
	if (sg_snat_live(f, t->nat, t->xlate.saddr, now) &&
	    (t->nat != SG_NAT_EGRESS || f->out_ifindex == t->out_ifindex)) {
		sg_flow_update(f, cfg, p, SG_FLOW_ORIG, now);
		*out = f;
		return SG_PASS;
	}
	/* The VM's answer on a live connection a forward let in, which
	 * would pass as the forward's had an apply not removed or moved
	 * it since: it opens no flow of its own, whose entry would take the
	 * answer's key (and, the forward back, send its answers out from
	 * another port). The connection has ended, both ways. */
	if (f && f->dir == SG_FLOW_REPLY && f->nat == SG_NAT_DNAT &&
	    !f->peer_zone && sg_flow_primary_of(key, f, &okey, now))
		return SG_DROP_UNTRANSLATABLE;

	if (sg_flow_quota(cfg, t->counters, now))
		return SG_DROP_CONNTRACK_FULL;
	/* The remote's replies, in zone 0 (port: claimed below), go back
	 * to the VM's own address and port, from the address it called. */
	rkey = (struct sg_flow_key){ .saddr = t->xlate.daddr,
		.daddr = t->xlate.saddr, .sport = t->xlate.dport,
		.proto = key->proto };
	rval = bpf_map_lookup_elem(&sg_flow_scratch, &zero);
	if (!rval)
		return SG_DROP_CONNTRACK_FULL;
	*rval = (struct sg_flow){ .peer_zone = key->zone, .dir = SG_FLOW_REPLY,
		.nat = t->nat, .counters = t->counters,
		.expires_ns = now + SG_REPLY_MIN_LIFE_NS,
		.xlate = { .saddr = key->daddr, .daddr = key->saddr,
			   .sport = key->dport, .dport = key->sport } };
	if (keep_port || sg_nat_port_in_range(cfg, orig)) {
		err = sg_nat_claim(c, &rkey, rval, orig);
		port = orig;
	}
	range = keep_port ? 0 : cfg->nat_port_hi - cfg->nat_port_lo + 1;
	start = range ? bpf_get_prandom_u32() % range : 0;
	for (i = 0; i < SG_NAT_PROBES && err == -SG_EEXIST; i++) {
		if (i >= range)
			break;
		port = cfg->nat_port_lo + (start + i) % range;
		err = sg_nat_claim(c, &rkey, rval, port);
	}
	/* A full table: room from the sector that holds the most
	 * unanswered flows, then the last port tried again (once: the
	 * probes are many). */
	if (err == -SG_E2BIG && sg_make_room_in_table())
		err = sg_nat_claim(c, &rkey, rval, port);
	if (err == -SG_EEXIST)
		return keep_port ? SG_DROP_UNTRANSLATABLE :
				   SG_DROP_NAT_PORTS_EXHAUSTED;
	if (err)
		return SG_DROP_CONNTRACK_FULL;

	if (f && f->dir == SG_FLOW_ORIG && f->nat != SG_NAT_NONE &&
	    f->nat != SG_NAT_DNAT)
		sg_reply_forget(key, f, &rkey);
	t->dir = SG_FLOW_ORIG;
	t->state = SG_FLOW_NEW;
	t->xlate.sport = bpf_htons(port);
	sg_flow_update(t, cfg, p, SG_FLOW_ORIG, now);
	if (sg_flow_insert(key, t, BPF_ANY, now)) {
		bpf_map_delete_elem(&sg_flows, &rkey);
		return SG_DROP_CONNTRACK_FULL;
	}
	sg_flow_counted(t->counters, key);
	*out = bpf_map_lookup_elem(&sg_flows, key);
	return *out ? SG_PASS : SG_DROP_CONNTRACK_FULL;
}

/*
 * May `sector` masquerade to remote (proto, port: 0 for ICMP) under the
 * definitions of slot? Not when an egress policy (or a broken entry)
 * claims it, nor from an `internet: false` sector; with dests, not to
 * what is a destination of the definitions either (protected, a sector,
 * the metadata service: its address, its target's address:port): what
 * the sector's ingress decides for its packets, asked again of a flow's
 * reply after an apply. SG_PASS, or the reason.
 */
static __always_inline int sg_masq_refused(__u32 slot, __u16 sector,
					   __be32 remote, __u8 proto,
					   __be16 port, bool dests)
{
	struct sg_egress_policy *pol;
	struct sg_sector *info = sg_sector_of(slot, sector);
	struct sg_dest buf, *dest;

	if (!info)
		return SG_DROP_NO_INTERNET;
	if (dests) {
		dest = sg_dest_of(slot, remote, &buf);
		if (sg_dest_is_sector(dest))
			return SG_DROP_INTER_SECTOR;
		if (dest && dest->kind == SG_DEST_PROTECTED)
			return SG_DROP_PROTECTED_DEST;
		if (dest && dest->kind == SG_DEST_IMDS &&
		    sg_imds_service(sg_imds_of(slot), remote, port, proto))
			return SG_DROP_IMDS_DENIED;
	}
	if ((info->flags & SG_SECTOR_EGRESS) &&
	    sg_egress_policy_of(slot, sector, remote, proto, port, &pol))
		return SG_DROP_EGRESS_DOWN;
	return info->flags & SG_SECTOR_INTERNET ? SG_PASS :
						  SG_DROP_NO_INTERNET;
}

/*
 * Does `sector` still send where its translated flow (nat: SG_NAT_SNAT or
 * SG_NAT_IMDS) goes, to remote (proto_port: the protocol << 16 | the
 * port, in network order as the packet has it; 0 for ICMP)? An apply that
 * takes the internet away (or `imds`), makes the remote protected or
 * another sector's, or steers it, ends the flow both ways: the sector's
 * ingress refuses its packets out, and this its replies in. SG_PASS, or
 * the reason. A global function, for the stack: the uplink's ingress has
 * none to spare for the lookups inlined (and BPF, five arguments).
 */
__attribute__((noinline)) int sg_masq_reply_refused(__u32 slot, __u32 sector,
						    __u32 nat, __be32 remote,
						    __u32 proto_port)
{
	__u8 proto = proto_port >> 16;
	__be16 port = proto_port & 0xffff;
	struct sg_sector *info;

	if (nat == SG_NAT_IMDS) {
		info = sg_sector_of(slot, sector);
		return info && (info->flags & SG_SECTOR_IMDS) ? SG_PASS :
		       SG_DROP_IMDS_DENIED;
	}
	return sg_masq_refused(slot, sector, remote, proto, port, true);
}

/* The same for reply entry e of such a flow and p, its packet from
 * outside; SG_PASS for every other entry. */
static __always_inline int sg_reply_refused(__u32 slot,
					    const struct sg_flow *e,
					    const struct sg_pkt *p)
{
	if (e->dir != SG_FLOW_REPLY ||
	    (e->nat != SG_NAT_SNAT && e->nat != SG_NAT_IMDS))
		return SG_PASS;
	return sg_masq_reply_refused(slot, e->peer_zone, e->nat, p->saddr,
				     (__u32)p->proto << 16 |
				     (p->proto == IPPROTO_ICMP ? 0 : p->sport));
}

/*
 * May p from `sector` be masqueraded behind an uplink? Not when an egress
 * policy (or a broken entry) claims it, nor from an `internet: false`
 * sector. The sector's ingress decided so already, but a steered
 * sector's XDP passes everything up to its tc (sg_egress_decide), and
 * what tc may not have judged (an apply moving the device) must not
 * leave here. SG_PASS, or the reason.
 */
static __always_inline int sg_uplink_refuses(const struct sg_ctx *c,
					     __u16 sector,
					     const struct sg_pkt *p)
{
	if (c->xdp)	/* the fast path: after the whole decision */
		return SG_PASS;
	return sg_masq_refused(c->slot, sector, p->daddr, p->proto, p->dport,
			       false);
}

/*
 * The flow of a packet leaving sector device `from` (ifindex in_ifindex)
 * through uplink `up` (out_ifindex), created if need be: the metadata
 * rewrite's, from the host's address host (0: look it up), when p is for
 * the metadata target; else masquerade. *key gets its primary key.
 */
static __always_inline int sg_out_flow(const struct sg_ctx *c,
				       const struct sg_config *cfg,
				       const struct sg_pkt *p,
				       const struct sg_device *from,
				       __u32 in_ifindex,
				       const struct sg_device *up,
				       __u32 out_ifindex, __be32 host,
				       struct sg_flow_key *key, __u64 now,
				       struct sg_flow **out)
{
	struct sg_flow t;
	__be32 snat;
	int refused;

	if (sg_imds_flow_key(c, p, from->sector, key)) {
		if (!host)
			host = sg_host_source(c, p, in_ifindex);
		if (!host)
			return SG_DROP_UNTRANSLATABLE;
		sg_snat_template(&t, SG_NAT_IMDS, host, p, from->counters,
				 in_ifindex, out_ifindex);
	} else {
		refused = sg_uplink_refuses(c, from->sector, p);
		if (refused != SG_PASS)
			return refused;
		sg_flow_key_of(key, p, from->sector);
		__builtin_memcpy(&snat, up->snat_addr, sizeof(snat));
		sg_snat_template(&t, SG_NAT_SNAT, snat, p, from->counters,
				 in_ifindex, out_ifindex);
	}
	return sg_snat_flow(c, cfg, p, key, &t, false, now, out);
}

/* Which protocols the NAT can map at all. */
static __always_inline int sg_nat_mappable_proto(const struct sg_pkt *p)
{
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

/* Which packets from a sector the paths that follow no fragments (the
 * fast path, steering) can map. */
static __always_inline int sg_nat_mappable(const struct sg_pkt *p)
{
	return p->frag ? SG_DROP_FRAGMENT : sg_nat_mappable_proto(p);
}

/*
 * Uplink egress: a fragment after the first leaves as the first did,
 * with the addresses of the flow entry it was translated by, while that
 * is still a masquerade flow from this uplink's address (snat) or a
 * forward's answer: what took its key since (a steered flow, untranslated)
 * never lends it its addresses. The answer to a connection allow-from let
 * in through this uplink leaves as it is, as its first did.
 */
static __always_inline int sg_frag_out(const struct sg_ctx *c,
				       const struct sg_pkt *p, __u16 zone,
				       __be32 snat, __u64 now)
{
	struct sg_flow_key key;
	struct sg_flow *f = NULL, *e = sg_frag_entry(c, p, zone,
						     SG_FRAG_AT_UPLINK_OUT,
						     now, &key);

	if (!e || (e->dir == SG_FLOW_ORIG ?
		   !sg_snat_live(e, SG_NAT_SNAT, snat, now) :
		   !sg_inbound_entry(c, &key, e, &f, now)))
		return SG_DROP_FRAGMENT;
	if (e->nat == SG_NAT_NONE && f) {
		if (f->in_ifindex != c->ifindex)
			return SG_DROP_UNTRANSLATABLE;
		return sg_flows_are(e, f, &key) ? SG_PASS :
						  SG_DROP_CONNTRACK_FULL;
	}
	return sg_xlate_apply(c, p, &e->xlate) ? SG_DROP_MALFORMED : SG_PASS;
}

/*
 * An ICMP error a VM sends about a packet it received of a masqueraded
 * or forwarded flow: found from the embedded header, whose destination
 * (the VM) becomes what the flow's packets leave with, as the outer
 * source does. One about a connection allow-from let in through this
 * uplink leaves untranslated, as that connection's answers do.
 */
static __always_inline int sg_icmp_error_out(const struct sg_ctx *c,
					     const struct sg_pkt *p,
					     __u16 zone, __u64 now)
{
	struct sg_flow_key key, okey;
	struct sg_icmp_inner in;
	struct sg_flow *e, *f;
	bool ours;
	int verdict = sg_icmp_error_key(c, p, zone, &in, &key);

	if (verdict != SG_PASS)
		return verdict;
	e = bpf_map_lookup_elem(&sg_flows, &key);
	if (!e)
		return SG_DROP_UNTRANSLATABLE;
	if (e->dir == SG_FLOW_REPLY && e->nat == SG_NAT_NONE)
		return sg_inbound_entry(c, &key, e, &f, now) &&
		       f->in_ifindex == c->ifindex &&
		       in.ip.saddr == p->daddr && sg_flows_are(e, f, &key) ?
		       SG_PASS : SG_DROP_UNTRANSLATABLE;
	if (e->dir == SG_FLOW_ORIG)
		ours = e->nat == SG_NAT_SNAT && sg_flow_live(e, now);
	else
		ours = e->nat == SG_NAT_DNAT &&
		       sg_flow_primary_of(&key, e, &okey, now);
	if (!ours)
		return SG_DROP_UNTRANSLATABLE;	/* would show the VM's address */
	if (sg_icmp_error_rewrite(c, p, &in, false, true, e->xlate.saddr,
				  e->xlate.sport))
		return SG_DROP_MALFORMED;
	return sg_flow_is(e, &key) ? SG_PASS : SG_DROP_CONNTRACK_FULL;
}

/*
 * Uplink egress: the VM's answer to a connection let in from outside. A
 * forward's leaves from the uplink's address and port; allow-from's only
 * untranslated through the device it came in on. SG_NOT_MINE for
 * anything else.
 */
static __always_inline int sg_inbound_out(const struct sg_ctx *c,
					  const struct sg_pkt *p,
					  const struct sg_flow_key *key,
					  struct sg_flow *e, __u64 now)
{
	struct sg_flow *r, *f = NULL;

	r = sg_inbound_entry(c, key, e, &f, now);
	if (!r || !f)
		return SG_NOT_MINE;
	if (r->nat == SG_NAT_DNAT) {
		if (sg_xlate_apply(c, p, &r->xlate))
			return SG_DROP_MALFORMED;
		return sg_flows_are(r, f, key) ? SG_PASS :
						 SG_DROP_CONNTRACK_FULL;
	}
	if (f->in_ifindex != c->ifindex)
		return SG_DROP_UNTRANSLATABLE;
	return sg_flows_are(r, f, key) ? SG_PASS : SG_DROP_CONNTRACK_FULL;
}

/* tc egress of an uplink: masquerade what sectors send out. */
static __always_inline int sg_uplink_egress(struct sg_ctx *c,
					    struct __sk_buff *skb)
{
	struct sg_device *up = sg_device_of(c->slot, c->ifindex), *from;
	struct sg_config *cfg = sg_config_of(c->slot);
	struct sg_flow_key key;
	struct sg_flow *f = NULL, *e;
	struct sg_pkt p = {};
	__be32 snat;
	__u64 now;
	int verdict, mappable;

	if (!up || up->role != SG_ROLE_UPLINK || !cfg)
		return TC_ACT_OK;
	/* Only what the kernel forwarded from a sector device is
	 * translated: the host's own traffic keeps its addresses, and its
	 * port unless a sector's flow holds it. What it forwarded from any
	 * other device (one the definitions do not know, a trusted or
	 * egress device, an uplink) never leaves with a sector's address:
	 * it is no VM's, and would speak for one. */
	from = sg_device_of(c->slot, skb->ingress_ifindex);
	if ((!from || from->role != SG_ROLE_SECTOR) && skb->ingress_ifindex &&
	    sg_drop_not_sector(c, &p, sg_parse(c, &p), from))
		return TC_ACT_SHOT;
	if (!from || from->role != SG_ROLE_SECTOR)
		return sg_host_egress(c, cfg, up);

	now = sg_now();
	verdict = sg_parse(c, &p);
	if (verdict == SG_PASS && p.kind != SG_PKT_IPV4)
		return TC_ACT_OK;	/* ARP, and IPv6 was judged at ingress */
	if (verdict == SG_PASS && sg_icmp_is_error(&p)) {
		verdict = sg_icmp_error_out(c, &p, from->sector, now);
		goto out;
	}
	__builtin_memcpy(&snat, up->snat_addr, sizeof(snat));
	if (verdict == SG_PASS && p.frag == SG_FRAG_LATER) {
		verdict = sg_frag_out(c, &p, from->sector, snat, now);
		goto out;
	}
	if (verdict == SG_PASS) {
		/* One lookup for the common cases: an established
		 * masquerade flow, and the answer to one let in. */
		sg_flow_key_of(&key, &p, from->sector);
		e = bpf_map_lookup_elem(&sg_flows, &key);
		mappable = sg_nat_mappable_proto(&p);
		if (mappable == SG_PASS &&
		    sg_snat_live(e, SG_NAT_SNAT, snat, now) &&
		    sg_flow_is(e, &key)) {
			sg_flow_update(e, cfg, &p, SG_FLOW_ORIG, now);
			f = e;
			goto translate;
		}
		verdict = sg_inbound_out(c, &p, &key, e, now);
		if (verdict != SG_NOT_MINE)
			goto noted;
		verdict = mappable;
	}
	if (verdict == SG_PASS)
		verdict = sg_out_flow(c, cfg, &p, from, skb->ingress_ifindex,
				      up, c->ifindex, 0, &key, now, &f);
translate:
	if (verdict == SG_PASS && f && sg_xlate_apply(c, &p, &f->xlate))
		verdict = SG_DROP_MALFORMED;
	else if (verdict == SG_PASS && f && !sg_flow_is(f, &key))
		verdict = SG_DROP_CONNTRACK_FULL;	/* taken meanwhile */
noted:
	if (verdict == SG_PASS)
		sg_frag_note(c, &p, from->sector, SG_FRAG_AT_UPLINK_OUT, &key,
			     now);
out:
	if (verdict == SG_PASS)
		return TC_ACT_OK;
	sg_drop(c, &p, from->counters, 0, verdict);
	return TC_ACT_SHOT;
}

/*
 * A translated packet too big for its sector device: the kernel forwards
 * it as it would without us, fragmenting it or answering "fragmentation
 * needed". It routes by the VM's address, which overlapping sectors share,
 * so this is done only where its route reaches the flow's own device; else
 * the packet is dropped rather than sent into another sector.
 */
static __always_inline int sg_deliver_by_route(const struct sg_ctx *c,
					       struct __sk_buff *skb,
					       const struct sg_pkt *p,
					       __u32 ifindex, __u16 counters,
					       __be32 vm)
{
	struct bpf_fib_lookup fib = {
		.family = AF_INET, .ipv4_src = p->saddr, .ipv4_dst = vm,
		.ifindex = skb->ifindex,
	};
	int rc = bpf_fib_lookup(skb, &fib, sizeof(fib),
				BPF_FIB_LOOKUP_SKIP_NEIGH);

	if ((rc == BPF_FIB_LKUP_RET_SUCCESS ||
	     rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) && fib.ifindex == ifindex)
		return TC_ACT_OK;
	sg_drop(c, p, counters, 0, SG_DROP_UNTRANSLATABLE);
	return TC_ACT_SHOT;
}

/*
 * Deliver a translated packet to the VM vm behind sector device ifindex,
 * which must still be sector zone's: TTL as a router does (unless hop is
 * false), then straight to the device, its neighbour table finding the
 * VM.
 */
static __always_inline int sg_deliver(const struct sg_ctx *c,
				      struct __sk_buff *skb,
				      const struct sg_pkt *p, __u32 ifindex,
				      __u16 zone, __u16 counters, __be32 vm,
				      bool hop)
{
	struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = vm };
	struct sg_device *dev = sg_device_of(c->slot, ifindex);
	__u32 mtu_len = 0;

	/* The flow's device may have gone to another sector since. */
	if (!dev || dev->role != SG_ROLE_SECTOR || dev->sector != zone) {
		sg_drop(c, p, counters, 0, SG_DROP_UNTRANSLATABLE);
		return TC_ACT_SHOT;
	}

	/* GRO'd packets count by their segments. */
	if (bpf_check_mtu(skb, ifindex, &mtu_len, 0, BPF_MTU_CHK_SEGS))
		return sg_deliver_by_route(c, skb, p, ifindex, counters, vm);
	if (hop && sg_ttl_dec(c, p)) {
		sg_drop(c, p, counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	/* From a device without a link-layer header (a tunnel): the
	 * redirect takes the packet to start with one, which the neighbour
	 * output then fills in. Offsets into the packet move: last. */
	if (!c->l3_off && bpf_skb_change_head(skb, ETH_HLEN, 0)) {
		sg_drop(c, p, counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	return bpf_redirect_neigh(ifindex, &nh, sizeof(nh), 0);
}

/*
 * Deliver p, translated back by reply entry e (looked up under key) of
 * flow f, to its VM: the delivery read from the entries, then used only
 * if they were not taken for another flow meanwhile (sg_flow_is).
 */
static __always_inline int sg_deliver_flow(const struct sg_ctx *c,
					   struct __sk_buff *skb,
					   const struct sg_pkt *p,
					   const struct sg_flow_key *key,
					   const struct sg_flow *e,
					   const struct sg_flow *f, bool hop)
{
	__u32 ifindex = sg_flow_sector_dev(f);
	__u16 zone = e->peer_zone, counters = f->counters;
	__be32 vm = e->xlate.daddr;

	if (!sg_flows_are(e, f, key)) {
		sg_drop(c, p, 0, 0, SG_DROP_CONNTRACK_FULL);
		return TC_ACT_SHOT;
	}
	return sg_deliver(c, skb, p, ifindex, zone, counters, vm, hop);
}

/*
 * The entry e (zone 0, under key) of a packet arriving on an uplink (or,
 * uplink false, an egress device) for a translated flow, and the flow's
 * live primary: a masquerade or metadata reply, or a forward's next
 * packet (e is the primary); a steered flow's reply, on the device that
 * flow left by. NULL for anything else.
 */
static __always_inline struct sg_flow *
sg_inbound_flow(const struct sg_ctx *c, const struct sg_flow_key *key,
		struct sg_flow *e, bool uplink, __u64 now)
{
	struct sg_flow_key okey;
	struct sg_flow *f;

	if (!e)
		return NULL;
	if (e->nat == SG_NAT_EGRESS) {
		f = e->dir == SG_FLOW_REPLY ?
		    sg_flow_primary_of(key, e, &okey, now) : NULL;
		return f && sg_egress_holds(c->slot, &okey, f, c->ifindex) ?
		       f : NULL;
	}
	if (!uplink)
		return NULL;
	if (e->dir == SG_FLOW_ORIG)
		return e->nat == SG_NAT_DNAT && sg_flow_live(e, now) &&
		       sg_forward_holds(c, key, e) ? e : NULL;
	if (e->nat != SG_NAT_SNAT && e->nat != SG_NAT_IMDS)
		return NULL;
	return sg_flow_primary_of(key, e, &okey, now);
}

/*
 * An ICMP error about a packet a translated flow sent out: found from
 * the embedded header. Returns the tc verdict, or -1 when it is about no
 * flow of ours: then it may be about the host's own traffic, which shares
 * the address, and the host's stack judges it. A truncated one is dropped.
 */
static __always_inline int sg_icmp_error_in(const struct sg_ctx *c,
					    struct __sk_buff *skb,
					    const struct sg_pkt *p, bool uplink,
					    __u64 now)
{
	struct sg_flow_key key;
	struct sg_icmp_inner in;
	struct sg_flow *e, *f;
	int verdict = sg_icmp_inner_load(c, p, &in);
	bool target;

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
	e = bpf_map_lookup_elem(&sg_flows, &key);
	if (uplink && e && e->dir == SG_FLOW_REPLY && e->nat == SG_NAT_HOST &&
	    in.ip.saddr == p->daddr)
		return sg_host_icmp_error_in(c, p, &in, &key, e, now);
	if (sg_admitted_flow(e))
		return sg_admitted_error_in(c, p, &in, &key, e, uplink, now) ==
		       SG_PASS ? TC_ACT_OK : TC_ACT_SHOT;
	f = sg_inbound_flow(c, &key, e, uplink, now);
	if (!e || !f || in.ip.saddr != p->daddr)
		return -1;
	/* A metadata flow whose target is not the address the VM called
	 * has both sides of the embedded header put back: the VM sees the
	 * error about the packet it sent, and one the target itself sent
	 * as from the address it called (a router's keeps its own). */
	target = e->nat == SG_NAT_IMDS &&
		 (e->xlate.saddr != key.saddr || e->xlate.sport != key.sport);
	if (p->ttl <= 1)
		return TC_ACT_OK;
	if (sg_icmp_error_rewrite(c, p, &in, true, true, e->xlate.daddr,
				  e->xlate.dport) ||
	    (target &&
	     sg_icmp_error_rewrite(c, p, &in, false, p->saddr == key.saddr,
				   e->xlate.saddr, e->xlate.sport))) {
		sg_drop(c, p, f->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	return sg_deliver_flow(c, skb, p, &key, e, f, true);
}

/*
 * Packet p of translated flow f (its entry e, as sg_inbound_flow found
 * them) arriving from outside: translated back and delivered to its VM.
 */
static __always_inline int sg_reply_in(const struct sg_ctx *c,
				       struct __sk_buff *skb,
				       const struct sg_pkt *p,
				       const struct sg_config *cfg,
				       const struct sg_flow_key *key,
				       struct sg_flow *e, struct sg_flow *f,
				       __u64 now)
{
	int refused;
	bool hop;

	/*
	 * Expiring on the way: the kernel answers with time exceeded. Not
	 * so the metadata service's replies: addressed to the host, they
	 * arrive with what the service meant for the host (AWS sends its
	 * IMDSv2 token with TTL 1), and the VM that opted in gets them as
	 * the host would.
	 */
	hop = e->nat != SG_NAT_IMDS;
	if (hop && p->ttl <= 1)
		return TC_ACT_OK;
	refused = sg_reply_refused(c->slot, e, p);
	if (refused != SG_PASS) {
		sg_drop(c, p, f->counters, 0, refused);
		return TC_ACT_SHOT;
	}

	if (!sg_flows_are(e, f, key)) {		/* taken meanwhile */
		sg_drop(c, p, 0, 0, SG_DROP_CONNTRACK_FULL);
		return TC_ACT_SHOT;
	}
	sg_flow_update(f, cfg, p, e->dir, now);
	if (sg_xlate_apply(c, p, &e->xlate)) {
		sg_drop(c, p, f->counters, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	/* A steered flow's replies come in on its egress device. */
	sg_frag_note(c, p, 0, e->nat == SG_NAT_EGRESS ? SG_FRAG_AT_EGRESS_IN :
						       SG_FRAG_AT_UPLINK_IN,
		     key, now);
	return sg_deliver_flow(c, skb, p, key, e, f, hop);
}

/*
 * What arrives on an uplink that no flow expects: a new connection to a
 * forward (-1: its flow in *out, to deliver), or from a source CIDR a
 * sector admits; anything else for a sector address is unsolicited, and
 * the rest the host's. Returns the tc verdict, or -1.
 */
static __always_inline int sg_uplink_new(const struct sg_ctx *c,
					 struct sg_pkt *p,
					 const struct sg_config *cfg,
					 __u64 now, struct sg_flow **out)
{
	__u16 sector = 0;
	int verdict = sg_forward_open(c, p, cfg, now, out, &sector);

	if (verdict == SG_PASS)
		return -1;
	if (verdict != SG_NOT_MINE) {
		sg_drop(c, p, sg_sector_counters(c->slot, sector), sector,
			verdict);
		return TC_ACT_SHOT;
	}
	verdict = sg_uplink_admit(c, p, cfg, now);
	if (verdict == SG_PASS)
		return TC_ACT_OK;
	if (verdict == SG_NOT_MINE)
		verdict = SG_DROP_UNSOLICITED;
	return sg_drop_into_sector(c, p, verdict) ? TC_ACT_SHOT : TC_ACT_OK;
}

/*
 * tc ingress of an uplink: replies of masqueraded flows go back to their
 * VM, connections to a forward to theirs; what allow-from admits enters
 * untranslated; anything else addressed to a sector is unsolicited.
 */
static __always_inline int sg_uplink_ingress(struct sg_ctx *c,
					     struct __sk_buff *skb)
{
	struct sg_device *up = sg_device_of(c->slot, c->ifindex);
	struct sg_config *cfg = sg_config_of(c->slot);
	struct sg_flow_key key;
	struct sg_flow *e, *f;
	struct sg_pkt p = {};
	__u64 now;
	int verdict;

	if (!up || up->role != SG_ROLE_UPLINK || !cfg)
		return TC_ACT_OK;
	verdict = sg_parse(c, &p);
	if (p.kind != SG_PKT_IPV4)
		return TC_ACT_OK;	/* the host's business */
	/* The IPv4 header is known once kind says so, even when what
	 * follows it is malformed: that never reaches a sector. */
	if (verdict != SG_PASS)
		return sg_drop_into_sector(c, &p, verdict) ? TC_ACT_SHOT :
							     TC_ACT_OK;

	now = sg_now();
	/* The rest of a datagram whose first went to a VM follows it; the
	 * rest of the host's is the host's. */
	e = sg_frag_entry_in(c, &p, SG_FRAG_AT_UPLINK_IN, now, &key);
	f = e ? sg_inbound_flow(c, &key, e, true, now) : NULL;
	if (!f) {
		sg_flow_key_of(&key, &p, 0);
		e = bpf_map_lookup_elem(&sg_flows, &key);
		if (e && e->dir == SG_FLOW_REPLY && e->nat == SG_NAT_HOST)
			return sg_host_reply_in(c, cfg, &p, &key, e, now);
		f = sg_inbound_flow(c, &key, e, true, now);
	}
	if (!f && sg_icmp_is_error(&p)) {
		verdict = sg_icmp_error_in(c, skb, &p, true, now);
		if (verdict >= 0)
			return verdict;
	}
	if (!f) {
		verdict = sg_uplink_new(c, &p, cfg, now, &f);
		if (verdict >= 0)
			return verdict;
		e = f;
	}
	if (!e || !f)
		return TC_ACT_SHOT;
	return sg_reply_in(c, skb, &p, cfg, &key, e, f, now);
}

#endif /* SG_NAT_H */
