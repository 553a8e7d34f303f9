/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking. A flow is two entries: the primary, keyed by the
 * originator's zone and tuple, holds state and expiry; the reply entry,
 * keyed by the responder's zone and the reversed tuple, points back at it.
 * Expiry is checked on every lookup, so a stale entry is never trusted even
 * before anything removes it. Room is made only from flows never answered
 * (sg_quota.h; plain hash, not LRU).
 */
#ifndef SG_FLOW_H
#define SG_FLOW_H

#include "sg_parse.h"
#include "sg_defs.h"
#include "sg_quota.h"

#define SG_EEXIST	17	/* the key is taken (BPF_NOEXIST) */

static __always_inline void sg_flow_key_of(struct sg_flow_key *k,
					   const struct sg_pkt *p, __u16 zone)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->pad = 0;
	k->zone = zone;
}

/*
 * Is the decision kept in flow entry e still good: made at this
 * generation of the definitions, within SG_FWD_RECHECK_MS?
 */
static __always_inline bool sg_kept_fresh(const struct sg_flow *e,
					  const struct sg_ctx *c, __u64 now)
{
	return e->kept.ifindex && e->kept.generation == c->generation &&
	       (__u32)(now >> 20) - e->kept.checked <= SG_FWD_RECHECK_MS;
}

/*
 * Is e, looked up under key, still that key's entry? Asked after what the
 * packet takes from e has been read (its translation, delivery, MACs):
 * another CPU may have deleted e and written another flow into its place
 * meanwhile (sg_flow_tag). An entry written before tags passes.
 */
static __always_inline bool sg_flow_is(const struct sg_flow *e,
				       const struct sg_flow_key *key)
{
	__u16 tag;

	asm volatile("" ::: "memory");
	tag = *(volatile const __u16 *)&e->kept.key_tag;
	return !tag || tag == sg_flow_tag(key);
}

/* The same for a reply entry e under key and f, its primary or e itself. */
static __always_inline bool sg_flows_are(const struct sg_flow *e,
					 const struct sg_flow *f,
					 const struct sg_flow_key *key)
{
	struct sg_flow_key okey;

	if (!sg_flow_is(e, key))
		return false;
	if (f == e)
		return true;
	sg_flow_primary_key(&okey, key, e);
	return sg_flow_is(f, &okey);
}

static __always_inline void sg_flow_key_reverse(struct sg_flow_key *r,
						const struct sg_flow_key *k,
						__u16 zone)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->pad = 0;
	r->zone = zone;
}

static __always_inline __u64 sg_flow_lifetime(const struct sg_config *cfg,
					      __u8 proto, __u8 state)
{
	__u32 secs;

	switch (proto) {
	case IPPROTO_TCP:
		secs = state == SG_FLOW_ESTABLISHED ?
			cfg->timeout_tcp_established :
			cfg->timeout_tcp_transitory;
		break;
	case IPPROTO_ICMP:
		secs = cfg->timeout_icmp;
		break;
	default:
		secs = cfg->timeout_udp;
		break;
	}
	return secs * NSEC_PER_SEC;
}

static __always_inline bool sg_flow_live(const struct sg_flow *f, __u64 now)
{
	return f->expires_ns > now;
}

/* Advance the primary entry's state for a packet in direction `dir`. */
static __always_inline void sg_flow_update(struct sg_flow *f,
					   const struct sg_config *cfg,
					   const struct sg_pkt *p, __u8 dir,
					   __u64 now)
{
	__u8 state = f->state;

	if (p->proto == IPPROTO_TCP) {
		if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			state = SG_FLOW_CLOSING;
		else if (dir == SG_FLOW_REPLY && state == SG_FLOW_NEW &&
			 (p->tcp_flags & TCP_FLAG_ACK))
			state = SG_FLOW_ESTABLISHED;
	} else if (dir == SG_FLOW_REPLY) {
		state = SG_FLOW_ESTABLISHED;
	}
	/* Counted by the one CPU that set it, unless an eviction claimed
	 * the flow first (sg_evict_flow): that counts it gone. */
	if (dir == SG_FLOW_REPLY && !(f->flags & SG_FLOW_ANSWERED) &&
	    !(sg_flow_flags_set(f, SG_FLOW_ANSWERED) &
	      (SG_FLOW_ANSWERED | SG_FLOW_EVICTING)))
		sg_flow_answered(f->counters);
	f->state = state;
	f->expires_ns = now + sg_flow_lifetime(cfg, p->proto, state);
}

/*
 * Record a new untranslated flow opened from `zone` (on device in_ifindex)
 * towards `peer_zone`, held by the sector of sg_counters index `counters`,
 * or refresh the existing one. Returns SG_PASS or SG_DROP_CONNTRACK_FULL.
 */
static __always_inline int sg_flow_open(const struct sg_config *cfg,
					const struct sg_pkt *p, __u16 zone,
					__u16 peer_zone, __u32 in_ifindex,
					__u16 counters, __u64 now)
{
	struct sg_flow_key key, rkey;
	struct sg_flow val = {}, *f;

	sg_flow_key_of(&key, p, zone);
	f = bpf_map_lookup_elem(&sg_flows, &key);
	/* The same flow: from the same device into the same sector (a
	 * trusted device into either of two overlapping sectors has the
	 * same key in zone 0). */
	if (f && f->dir == SG_FLOW_ORIG && sg_flow_live(f, now) &&
	    f->nat == SG_NAT_NONE && f->peer_zone == peer_zone &&
	    f->in_ifindex == in_ifindex &&
	    !(p->proto == IPPROTO_TCP && f->state == SG_FLOW_CLOSING &&
	      (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)) {
		sg_flow_update(f, cfg, p, SG_FLOW_ORIG, now);
		return SG_PASS;
	}

	val.peer_zone = peer_zone;
	val.dir = SG_FLOW_ORIG;
	val.in_ifindex = in_ifindex;
	val.counters = counters;
	/* Between sectors nothing is translated. */
	val.xlate = (struct sg_flow_xlate){ .saddr = p->saddr,
		.daddr = p->daddr, .sport = p->sport, .dport = p->dport };
	val.state = SG_FLOW_NEW;
	val.expires_ns = now + sg_flow_lifetime(cfg, p->proto, SG_FLOW_NEW);
	if (p->proto == IPPROTO_TCP && !(p->tcp_flags & TCP_FLAG_SYN)) {
		/* Picked up mid-stream (e.g. after the table was emptied). */
		val.state = SG_FLOW_ESTABLISHED;
		val.expires_ns = now + sg_flow_lifetime(cfg, p->proto,
							SG_FLOW_ESTABLISHED);
	}
	/* An expired or foreign entry under this key is replaced; room for
	 * a new one is made from unanswered flows only (sg_quota.h). */
	if (sg_flow_quota(cfg, counters, now) ||
	    sg_flow_insert(&key, &val, BPF_ANY, now))
		return SG_DROP_CONNTRACK_FULL;

	sg_flow_key_reverse(&rkey, &key, peer_zone);
	val = (struct sg_flow){ .peer_zone = zone, .dir = SG_FLOW_REPLY,
		.counters = counters,
		.xlate = { .saddr = rkey.saddr, .daddr = rkey.daddr,
			   .sport = rkey.sport, .dport = rkey.dport } };
	if (sg_flow_insert(&rkey, &val, BPF_ANY, now)) {
		bpf_map_delete_elem(&sg_flows, &key);
		return SG_DROP_CONNTRACK_FULL;
	}
	sg_flow_counted(counters, &key);
	return SG_PASS;
}

/* The live primary entry a reply entry belongs to, or NULL. */
static __always_inline struct sg_flow *
sg_flow_primary_of(const struct sg_flow_key *rkey, const struct sg_flow *r,
		   struct sg_flow_key *okey, __u64 now)
{
	struct sg_flow *f;

	sg_flow_primary_key(okey, rkey, r);
	f = bpf_map_lookup_elem(&sg_flows, okey);
	if (!f || !sg_flow_reply_belongs(rkey, r, f) || !sg_flow_live(f, now))
		return NULL;
	return f;
}

/*
 * Is this packet, entering from `zone`, the reply of a live flow? Returns
 * the primary entry (its key in *okey) or NULL.
 */
static __always_inline struct sg_flow *
sg_flow_reply_of(const struct sg_pkt *p, __u16 zone, struct sg_flow_key *okey,
		 __u64 now)
{
	struct sg_flow_key key;
	struct sg_flow *r;

	sg_flow_key_of(&key, p, zone);
	r = bpf_map_lookup_elem(&sg_flows, &key);
	if (!r || r->dir != SG_FLOW_REPLY)
		return NULL;
	return sg_flow_primary_of(&key, r, okey, now);
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

/*
 * After err, a BPF_NOEXIST insert of the new reply entry rval under
 * rkey: where the key is held by a stale reply entry, take it over.
 * The insert's result then, or err.
 */
static __always_inline long sg_reply_take_stale(const struct sg_flow_key *rkey,
						const struct sg_flow *rval,
						long err, __u64 now)
{
	struct sg_flow *old;

	if (err != -SG_EEXIST)
		return err;
	old = bpf_map_lookup_elem(&sg_flows, rkey);
	if (old && sg_reply_stale(rkey, old, now))
		return bpf_map_update_elem(&sg_flows, rkey, rval, BPF_EXIST);
	return err;
}

#endif /* SG_FLOW_H */
