/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What crosses the boundary with its destination in mind: the metadata
 * rewrite (imds: true), port forwards (DNAT from an uplink's address into
 * a sector) and allow-from (trusted devices and source CIDRs let in
 * untranslated), with their replies on the sector side.
 *
 * The metadata rewrite works as an nftables prerouting DNAT with a
 * postrouting masquerade: the destination is rewritten where the packet
 * enters from the sector, before the route lookup; its source becomes the
 * host's address on the device toward the target where it leaves (the
 * uplink's tc egress, or the XDP fast path), the same place and the same
 * port allocator as masquerade.
 *
 * Flows opened from outside have their primary entry in zone 0 (keyed as
 * the client's packets arrive) and their reply entry in the sector's zone
 * (keyed as the VM answers). A reply entry of the sector's zone whose peer
 * is zone 0 is therefore always the reply of something let in.
 */
#ifndef SG_DNAT_H
#define SG_DNAT_H

#include "sg_flow.h"
#include "sg_drop.h"
#include "sg_route.h"
#include "sg_xlate.h"
#include "sg_icmp.h"
#include "sg_xdp_edit.h"
#include "sg_frag.h"

/* Passed: what the XDP fast path may take on from a sector device. */
#define SG_PASS_OUT		(-1)	/* masquerade through an uplink */
#define SG_PASS_IMDS		(-2)	/* to the metadata service */
#define SG_PASS_FWD_REPLY	(-3)	/* the VM's reply of a forward */
/* Internal: "not this kind of packet, decide on". Never returned by an
 * entry point's pipeline. */
#define SG_NOT_MINE		(-4)
/* Steered by an egress policy (sg_egress.h): at tc redirected already,
 * at XDP to be passed up to tc. */
#define SG_PASS_STEER		(-5)

/* A new reply entry is never stale for this long: its primary is written
 * just after it, and another CPU must not take the tuple in between. */
#define SG_REPLY_MIN_LIFE_NS	(2 * NSEC_PER_SEC)

/* The device where flow f (a primary) enters its sector: the one it came
 * from, but for a forward, which came from outside. */
static __always_inline __u32 sg_flow_sector_dev(const struct sg_flow *f)
{
	return f->nat == SG_NAT_DNAT ? f->out_ifindex : f->in_ifindex;
}

/*
 * XDP: a TCP/UDP checksum the VM left for the device to finish holds the
 * pseudo-header sum (sg_csum_finish), which a rewrite's incremental update
 * does not keep: tc's bpf_l4_csum_replace() tells by the skb's
 * CHECKSUM_PARTIAL, which an XDP frame has lost. Finished here, it is
 * updated like any other; true if it was unfinished (a complete one that
 * equals the pseudo-header sum comes out of the finish unchanged), or
 * looks so and is too long to finish here.
 */
static __always_inline bool sg_xdp_finish_first(const struct sg_ctx *c,
						const struct sg_pkt *p,
						__u32 off)
{
	__u16 before, after;

	if (!c->xdp || sg_ctx_load(c, off, &before, sizeof(before)))
		return false;
	if (sg_csum_finish(c->ctx, c, p))
		return true;
	return !sg_ctx_load(c, off, &after, sizeof(after)) && after != before;
}

/* ... and left unfinished again for the rewritten header: the stack, if
 * the fast path declines the packet, still finishes it. */
static __always_inline int sg_xdp_unfinish(const struct sg_ctx *c,
					   const struct sg_pkt *p, __u32 off)
{
	__u16 v = sg_csum_unfinished(p, sg_csum_len(c, p));

	return sg_ctx_store(c, off, &v, sizeof(v));
}

/*
 * Is addr (port, proto) the metadata service's, at an SG_DEST_IMDS
 * address: anything at its address, and TCP or UDP at the target's
 * address:port? The target's other ports and protocols are not the
 * service: its host (a proxy, a host behind the uplink) is an ordinary
 * destination and source there. False too without the service (m).
 */
static __always_inline bool sg_imds_service(const struct sg_imds *m,
					    __be32 addr, __be16 port,
					    __u8 proto)
{
	__be32 service, target;

	if (!m)
		return false;
	__builtin_memcpy(&service, m->addr, 4);
	__builtin_memcpy(&target, m->target_addr, 4);
	return addr == service ||
	       (addr == target && port == m->target_port &&
		(proto == IPPROTO_TCP || proto == IPPROTO_UDP));
}

/*
 * The kind of p's source among the destinations (enum sg_dest_kind), 0
 * for a source that is none of them, nor the metadata service's: what
 * tells a forged source from outside.
 */
static __always_inline int sg_source_kind(const struct sg_ctx *c,
					  const struct sg_pkt *p)
{
	struct sg_dest buf, *src = sg_dest_of(c->slot, p->saddr, &buf);
	int kind = src ? src->kind : 0;

	if (kind == SG_DEST_IMDS &&
	    !sg_imds_service(sg_imds_of(c->slot), p->saddr, p->sport,
			     p->proto))
		return 0;
	return kind;
}

/*
 * A packet from sector info to an SG_DEST_IMDS address: SG_NOT_MINE when
 * it is not for the service (sg_imds_service). From an `imds: true`
 * sector, TCP or UDP to address:port goes to the target: the destination
 * is rewritten here, *p with it. Anything else for the service is
 * imds-denied; its target cannot be called directly, so what leaves for
 * the target's address:port is always the rewrite's.
 */
static __always_inline int sg_imds_request(const struct sg_ctx *c,
					   const struct sg_sector *info,
					   struct sg_pkt *p)
{
	struct sg_imds *m = sg_imds_of(c->slot);
	__be32 addr, target;
	bool unfinished;
	__u32 off;

	if (m && !sg_imds_service(m, p->daddr, p->dport, p->proto))
		return SG_NOT_MINE;
	if (!info || !(info->flags & SG_SECTOR_IMDS) || !m ||
	    (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP))
		return SG_DROP_IMDS_DENIED;
	__builtin_memcpy(&addr, m->addr, 4);
	__builtin_memcpy(&target, m->target_addr, 4);
	if (p->daddr != addr || p->dport != m->port)
		return SG_DROP_IMDS_DENIED;
	if (p->frag)
		return SG_DROP_FRAGMENT;
	if (target == addr && m->target_port == m->port)
		return SG_PASS_IMDS;
	off = p->l4_off + (p->proto == IPPROTO_TCP ? TCP_CSUM_OFF :
						     UDP_CSUM_OFF);
	unfinished = sg_xdp_finish_first(c, p, off);
	if (sg_rewrite(c, p, true, target, m->target_port))
		return SG_DROP_MALFORMED;
	p->daddr = target;
	p->dport = m->target_port;
	if (unfinished && sg_xdp_unfinish(c, p, off))
		return SG_DROP_MALFORMED;
	return SG_PASS_IMDS;
}

/*
 * Is p, leaving a sector device of `zone`, for the metadata target (the
 * rewrite of sg_imds_request done)? Then *key is its flow's primary key:
 * the tuple as the VM sent it, to the service's address:port.
 */
static __always_inline bool sg_imds_flow_key(const struct sg_ctx *c,
					     const struct sg_pkt *p,
					     __u16 zone, struct sg_flow_key *key)
{
	struct sg_imds *m = sg_imds_of(c->slot);
	__be32 target;

	if (!m || (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP))
		return false;
	__builtin_memcpy(&target, m->target_addr, 4);
	if (p->daddr != target || p->dport != m->target_port)
		return false;
	sg_flow_key_of(key, p, zone);
	__builtin_memcpy(&key->daddr, m->addr, 4);
	key->dport = m->port;
	return true;
}

/*
 * The host's own address toward p's destination, as its routing table
 * chooses it (the route's preferred source), for p having come in on
 * in_ifindex; 0 if there is none.
 */
static __always_inline __be32 sg_host_source(const struct sg_ctx *c,
					     const struct sg_pkt *p,
					     __u32 in_ifindex)
{
	struct bpf_fib_lookup fib;

	sg_fib_of(&fib, c, p, 0);
	fib.ifindex = in_ifindex;
	if (sg_fib_route(c->ctx, &fib,
			 BPF_FIB_LOOKUP_SRC | BPF_FIB_LOOKUP_SKIP_NEIGH) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	return fib.ipv4_src;
}

/*
 * Does the forward that opened flow f (primary key *okey, to the address
 * and port it is published on) still send there? An apply that removes or
 * moves it ends its connections.
 */
static __always_inline bool sg_forward_holds(const struct sg_ctx *c,
					     const struct sg_flow_key *okey,
					     const struct sg_flow *f)
{
	struct sg_forward *fwd = sg_forward_of(c->slot, okey->daddr,
					       okey->proto, okey->dport);
	__be32 to;

	if (!fwd)
		return false;
	__builtin_memcpy(&to, fwd->to_addr, 4);
	return fwd->sector == f->peer_zone && to == f->xlate.daddr &&
	       fwd->to_port == f->xlate.dport;
}

/*
 * The reply entry (r, found under key) of a live flow let in from outside
 * into a sector, p being the VM's answer; its primary in *fp. NULL for
 * anything else.
 */
static __always_inline struct sg_flow *
sg_inbound_entry(const struct sg_ctx *c, const struct sg_flow_key *key,
		 struct sg_flow *r, struct sg_flow **fp, __u64 now)
{
	struct sg_flow_key okey;

	if (!r || r->dir != SG_FLOW_REPLY || r->peer_zone)
		return NULL;
	*fp = sg_flow_primary_of(key, r, &okey, now);
	if (*fp && r->nat == SG_NAT_DNAT && !sg_forward_holds(c, &okey, *fp))
		return NULL;
	return *fp ? r : NULL;
}

/*
 * The same, looked up for p from `zone`. An ICMP error the VM sends back
 * to the sender of a packet of an allow-from connection is one of that
 * connection's answers (a forward's leaves translated instead, by
 * sg_icmp_error_out at the uplink).
 */
static __always_inline struct sg_flow *sg_inbound_of(const struct sg_ctx *c,
						     const struct sg_pkt *p,
						     __u16 zone,
						     struct sg_flow **fp,
						     __u64 now)
{
	struct sg_icmp_inner in;
	struct sg_flow_key key;
	struct sg_flow *r;

	if (!sg_icmp_is_error(p)) {
		sg_flow_key_of(&key, p, zone);
		return sg_inbound_entry(c, &key,
					bpf_map_lookup_elem(&sg_flows, &key),
					fp, now);
	}
	if (sg_icmp_error_key(c, p, zone, &in, &key) != SG_PASS ||
	    in.ip.saddr != p->daddr)
		return NULL;
	r = bpf_map_lookup_elem(&sg_flows, &key);
	return r && r->nat == SG_NAT_NONE ?
	       sg_inbound_entry(c, &key, r, fp, now) : NULL;
}

/*
 * Sector ingress: is p the VM's reply of a connection let in from outside?
 * Then it passes whatever the sector's policy says about its destination
 * (the management LAN it answers may be `protected`, the client of a
 * forward on the internet while `internet: false`): SG_PASS_FWD_REPLY for
 * a forward's (its source is translated where it leaves), SG_PASS for
 * allow-from's (untranslated). SG_NOT_MINE otherwise.
 */
static __always_inline int sg_inbound_reply(const struct sg_ctx *c,
					    __u16 sector,
					    const struct sg_pkt *p)
{
	struct sg_config *cfg = sg_config_of(c->slot);
	struct sg_flow *r, *f = NULL;
	struct sg_flow_key key;
	__u64 now = sg_now();

	if (p->frag == SG_FRAG_LATER) {
		/* The rest of an answer, as its first fragment. */
		r = cfg ? sg_frag_entry(c, p, sector, SG_FRAG_AT_SECTOR, now,
					&key) : NULL;
		if (!r || !sg_inbound_entry(c, &key, r, &f, now))
			return SG_NOT_MINE;
		return r->nat == SG_NAT_DNAT ? SG_PASS_FWD_REPLY : SG_PASS;
	}
	r = cfg ? sg_inbound_of(c, p, sector, &f, now) : NULL;
	if (!r || !f)
		return SG_NOT_MINE;
	if (p->frag) {
		/* An ICMP error is found by its embedded header, whose key
		 * its fragments could not be noted under: none follows. */
		if (p->proto == IPPROTO_ICMP && p->icmp_type != ICMP_ECHO &&
		    p->icmp_type != ICMP_ECHOREPLY)
			return SG_DROP_FRAGMENT;
		sg_flow_key_of(&key, p, sector);
		sg_frag_note(c, p, sector, SG_FRAG_AT_SECTOR, &key, now);
	}
	/* An error is no answer: the flow's state stays. */
	if (!sg_icmp_is_error(p))
		sg_flow_update(f, cfg, p, SG_FLOW_REPLY, now);
	return r->nat == SG_NAT_DNAT ? SG_PASS_FWD_REPLY : SG_PASS;
}

/*
 * A connection from outside whose source is a destination of the
 * definitions (src: its entry, or NULL) is a forgery: the VM's answers
 * would go to it. The metadata service's addresses (the rewritten
 * requests of an `imds: true` sector carry the target's tuple, which the
 * answers would carry too) are imds-denied; a sector's, unsolicited.
 * Only a protected LAN's may open connections, where admitted.
 */
static __always_inline int sg_forged_source(int kind)
{
	return kind == SG_DEST_IMDS ? SG_DROP_IMDS_DENIED :
				      SG_DROP_UNSOLICITED;
}

/* Is f the primary of a connection allow-from let in (zone 0, as is)? */
static __always_inline bool sg_admitted_flow(const struct sg_flow *f)
{
	return f && f->dir == SG_FLOW_ORIG && f->nat == SG_NAT_NONE;
}

/*
 * allow-from: a connection from outside (the device of c) into `sector`,
 * let in untranslated where the kernel's route for it leads into that
 * sector (an address that overlapping sectors share may route to the
 * other). Opens or refreshes its flow, for the VM's replies. A first
 * fragment is noted under hook (sg_frag.h); the rest of its datagram,
 * which has no ports, follows it into the same sector by the same
 * device, while the caller still finds that `sector` admits it.
 */
static __always_inline int sg_admit_in(const struct sg_ctx *c,
				       const struct sg_pkt *p,
				       const struct sg_config *cfg,
				       __u16 sector, enum sg_frag_hook hook,
				       __u64 now)
{
	int src = sg_source_kind(c, p), verdict;
	struct sg_flow_key key;
	struct sg_flow *f;

	if (p->frag == SG_FRAG_LATER) {
		f = sg_frag_entry(c, p, 0, hook, now, &key);
		if (!sg_admitted_flow(f) || f->peer_zone != sector ||
		    f->in_ifindex != c->ifindex || !sg_flow_live(f, now))
			return SG_DROP_FRAGMENT;
		return sg_route_into(c, p, p->daddr, sector) ? SG_PASS :
						SG_DROP_UNTRANSLATABLE;
	}
	/* An error is no connection: one about an admitted connection's
	 * answer was let in before (sg_admitted_error_in). */
	if (sg_icmp_is_error(p))
		return SG_DROP_UNSOLICITED;
	/* A management LAN behind an uplink may be `protected`: that is
	 * what allow-from admits. */
	if (src && src != SG_DEST_PROTECTED)
		return sg_forged_source(src);
	if (!sg_route_into(c, p, p->daddr, sector))
		return SG_DROP_UNTRANSLATABLE;
	verdict = sg_flow_open(cfg, p, 0, sector, c->ifindex,
			       sg_sector_counters(c->slot, sector), now);
	if (verdict == SG_PASS && p->frag) {
		sg_flow_key_of(&key, p, 0);
		sg_frag_note(c, p, 0, hook, &key, now);
	}
	return verdict;
}

/*
 * An ICMP error from outside (the device of c: an uplink, or a trusted
 * device) about a VM's answer on a connection allow-from let in: f, the
 * connection's primary, found under the embedded answer's tuple reversed
 * in zone 0 (key, in). While the sector still admits the connection, it
 * enters untranslated, as the connection's packets do (a router's
 * "fragmentation needed" on the way to a management host among them),
 * from wherever it comes, and opens or refreshes nothing: an error is no
 * answer. SG_PASS, or the reason it was dropped for (counted on the
 * sector).
 */
static __always_inline int sg_admitted_error_in(const struct sg_ctx *c,
					       const struct sg_pkt *p,
					       const struct sg_icmp_inner *in,
					       const struct sg_flow_key *key,
					       const struct sg_flow *f,
					       bool uplink, __u64 now)
{
	int verdict = SG_PASS;

	if (!sg_flow_live(f, now) || f->in_ifindex != c->ifindex ||
	    in->ip.saddr != p->daddr)
		verdict = SG_DROP_UNSOLICITED;
	/* An apply may have taken the allow-from away since. */
	else if (uplink ?
		 !sg_admits_source(c->slot, f->peer_zone, key->saddr) :
		 sg_admitted_from_dev(c->slot, c->ifindex, p->daddr) !=
		 f->peer_zone)
		verdict = SG_DROP_UNSOLICITED;
	else if (p->frag)
		verdict = SG_DROP_FRAGMENT;
	else if (!sg_route_into(c, p, p->daddr, f->peer_zone))
		verdict = SG_DROP_UNTRANSLATABLE;
	else if (!sg_flow_is(f, key))
		verdict = SG_DROP_UNSOLICITED;
	if (verdict != SG_PASS)
		sg_drop(c, p, f->counters, f->peer_zone, verdict);
	return verdict;
}

/*
 * Uplink ingress: a connection from a source CIDR that the sector owning
 * the destination lists in allow-from (a management LAN). SG_NOT_MINE
 * when no sector admits it.
 */
static __always_inline int sg_uplink_admit(const struct sg_ctx *c,
					   const struct sg_pkt *p,
					   const struct sg_config *cfg,
					   __u64 now)
{
	struct sg_dest buf, *dest = sg_dest_of(c->slot, p->daddr, &buf);

	if (!dest || dest->kind != SG_DEST_SECTOR ||
	    !sg_admits_source(c->slot, dest->sector, p->saddr))
		return SG_NOT_MINE;
	return sg_admit_in(c, p, cfg, dest->sector, SG_FRAG_AT_UPLINK_IN, now);
}

/*
 * Uplink ingress: a new connection to a port forward published on the
 * address it was sent to. Opens the flow: its primary in zone 0 turns the
 * destination into the forward's `to`, its reply entry in the sector's
 * zone turns the VM's source back into the uplink's address and port.
 * Returns SG_PASS with *out the primary, SG_NOT_MINE when p is for no
 * forward, or the drop reason (*sector: the forward's).
 */
static __always_inline int sg_forward_open(const struct sg_ctx *c,
					   const struct sg_pkt *p,
					   const struct sg_config *cfg,
					   __u64 now, struct sg_flow **out,
					   __u16 *sector)
{
	struct sg_flow_key key, rkey;
	struct sg_flow val = {}, rval = {};
	struct sg_forward *fwd;
	int src;
	__u32 dev, counters;
	__be32 to;
	int err;

	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return SG_NOT_MINE;
	fwd = sg_forward_of(c->slot, p->daddr, p->proto, p->dport);
	if (!fwd)
		return SG_NOT_MINE;
	*sector = fwd->sector;
	/* A first fragment opens the flow, and the rest follow it. */
	/* A forward's replies pass whatever their destination: a client in
	 * a protected LAN may use it only where the sector admits that LAN
	 * (allow-from). */
	src = sg_source_kind(c, p);
	if (src && !(src == SG_DEST_PROTECTED &&
		     sg_admits_source(c->slot, fwd->sector, p->saddr)))
		return sg_forged_source(src);
	__builtin_memcpy(&to, fwd->to_addr, 4);
	dev = fwd->ifindex ? fwd->ifindex :
			     sg_route_into(c, p, to, fwd->sector);
	if (!dev)
		return SG_DROP_UNTRANSLATABLE;
	counters = sg_sector_counters(c->slot, fwd->sector);

	sg_flow_key_of(&key, p, 0);
	rkey = (struct sg_flow_key){ .saddr = to, .daddr = p->saddr,
		.sport = fwd->to_port, .dport = p->sport, .proto = p->proto,
		.zone = fwd->sector };
	rval = (struct sg_flow){ .dir = SG_FLOW_REPLY, .nat = SG_NAT_DNAT,
		.counters = counters,
		.expires_ns = now + SG_REPLY_MIN_LIFE_NS,
		.xlate = { .saddr = p->daddr, .daddr = p->saddr,
			   .sport = p->dport, .dport = p->sport } };
	if (sg_flow_quota(cfg, counters, now))
		return SG_DROP_CONNTRACK_FULL;
	/* The VM may hold that tuple for a connection of its own. */
	err = sg_reply_take_stale(&rkey, &rval,
				  sg_flow_insert(&rkey, &rval, BPF_NOEXIST, now),
				  now);
	if (err)
		return err == -SG_EEXIST ? SG_DROP_UNTRANSLATABLE :
					   SG_DROP_CONNTRACK_FULL;

	val.dir = SG_FLOW_ORIG;
	val.nat = SG_NAT_DNAT;
	val.peer_zone = fwd->sector;
	val.counters = counters;
	val.in_ifindex = c->ifindex;
	val.out_ifindex = dev;
	val.state = SG_FLOW_NEW;
	val.xlate = (struct sg_flow_xlate){ .saddr = p->saddr, .daddr = to,
		.sport = p->sport, .dport = fwd->to_port };
	sg_flow_update(&val, cfg, p, SG_FLOW_ORIG, now);
	if (sg_flow_insert(&key, &val, BPF_ANY, now)) {
		bpf_map_delete_elem(&sg_flows, &rkey);
		return SG_DROP_CONNTRACK_FULL;
	}
	sg_flow_counted(counters, &key);
	*out = bpf_map_lookup_elem(&sg_flows, &key);
	return *out ? SG_PASS : SG_DROP_CONNTRACK_FULL;
}

/*
 * Is p, from a sector, for a port forward published on an uplink's
 * address (hairpin)? Refused: a published port is for the outside, and
 * translating it inside would let any sector into the forward's without
 * an `allow`.
 */
static __always_inline bool sg_is_hairpin(const struct sg_ctx *c,
					  const struct sg_pkt *p)
{
	return (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) &&
	       sg_forward_of(c->slot, p->daddr, p->proto, p->dport);
}

#endif /* SG_DNAT_H */
