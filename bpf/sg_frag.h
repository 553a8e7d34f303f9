/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fragments. Only the first fragment of a datagram carries its ports, so
 * only it can find a flow. A hook that lets a first fragment through on a
 * flow's account notes the datagram (sg_frags: its reassembly key, in the
 * zone of its side, for that hook), and the fragments after it follow
 * that decision: the same flow entry, whose addresses they get (the ports
 * and the L4 checksum are in the first). Nothing is reassembled, and
 * nothing is held: a fragment that arrives before its first, or after
 * its expiry, or whose flow is no longer what the first went by, is
 * judged as a packet of its own (`fragment` where ports would be needed).
 * The last fragment (no "more fragments") leaves the note a second for
 * one that overtook it; an LRU bounds those whose last never came.
 */
#ifndef SG_FRAG_H
#define SG_FRAG_H

#include "sg_flow.h"

/* p's reassembly key at hook, in zone; *last: no fragment follows it. */
static __always_inline int sg_frag_key_of(const struct sg_ctx *c,
					  const struct sg_pkt *p, __u16 zone,
					  enum sg_frag_hook hook,
					  struct sg_frag_key *k, bool *last)
{
	__be16 id_frag[2];	/* the IPv4 header's id and frag_off */

	if (sg_ctx_load(c, p->l3_off + 4, id_frag, sizeof(id_frag)))
		return -1;
	*k = (struct sg_frag_key){
		.saddr = p->saddr, .daddr = p->daddr, .id = id_frag[0],
		.proto = p->proto, .hook = hook, .zone = zone,
	};
	/* A first fragment that comes in on one device takes away no
	 * note of a datagram that came in on another. */
	if (hook == SG_FRAG_AT_UPLINK_IN || hook == SG_FRAG_AT_EGRESS_IN ||
	    hook == SG_FRAG_AT_TRUSTED_IN)
		k->dev = c->ifindex;
	*last = !(id_frag[1] & bpf_htons(IP_MF));
	return 0;
}

/* A first fragment let through on the account of the entry at flow. */
static __always_inline void sg_frag_note(const struct sg_ctx *c,
					 const struct sg_pkt *p, __u16 zone,
					 enum sg_frag_hook hook,
					 const struct sg_flow_key *flow,
					 __u64 now)
{
	struct sg_frag_key k;
	struct sg_frag v = { .flow = *flow };
	bool last;

	if (p->frag != SG_FRAG_FIRST || sg_frag_key_of(c, p, zone, hook, &k,
						      &last))
		return;
	v.expires_ns = now + SG_FRAG_TIMEOUT_NS;
	bpf_map_update_elem(&sg_frags, &k, &v, BPF_ANY);
}

/* First fragment p is not let through on a flow's account here: what an
 * older datagram with its key noted is not this datagram's. */
static __always_inline void sg_frag_forget(const struct sg_ctx *c,
					   const struct sg_pkt *p, __u16 zone,
					   enum sg_frag_hook hook)
{
	struct sg_frag_key k;
	bool last;

	if (!sg_frag_key_of(c, p, zone, hook, &k, &last))
		bpf_map_delete_elem(&sg_frags, &k);
}

/* The note under k: the flow key (-1: none, or expired). After the last
 * fragment, it lasts only as long as one that overtook it may take. */
static __always_inline int sg_frag_lookup(const struct sg_frag_key *k,
					  bool last, __u64 now,
					  struct sg_flow_key *flow)
{
	struct sg_frag *v = bpf_map_lookup_elem(&sg_frags, k);

	if (!v || now > v->expires_ns)
		return -1;
	*flow = v->flow;
	if (last && v->expires_ns > now + SG_FRAG_LAST_NS)
		v->expires_ns = now + SG_FRAG_LAST_NS;
	return 0;
}

/* The flow entry under a noted key, if no other flow's took its place. */
static __always_inline struct sg_flow *
sg_frag_flow_entry(const struct sg_flow_key *key)
{
	struct sg_flow *e = bpf_map_lookup_elem(&sg_flows, key);

	return e && sg_flow_is(e, key) ? e : NULL;
}

/*
 * The flow entry a fragment after the first follows (NULL: none), with
 * its key in *key: the caller checks it is still what the first went by.
 */
static __always_inline struct sg_flow *
sg_frag_entry(const struct sg_ctx *c, const struct sg_pkt *p, __u16 zone,
	      enum sg_frag_hook hook, __u64 now, struct sg_flow_key *key)
{
	struct sg_frag_key k;
	bool last;

	if (p->frag != SG_FRAG_LATER ||
	    sg_frag_key_of(c, p, zone, hook, &k, &last) ||
	    sg_frag_lookup(&k, last, now, key))
		return NULL;
	return sg_frag_flow_entry(key);
}

/*
 * The same where replies come in from outside (hook: an uplink's ingress,
 * an egress device's), where a first fragment also takes away what an
 * older datagram with its key noted: sg_reply_in notes it anew if it goes
 * to a VM, and one for the host or dropped is not that datagram's. (One
 * function for both, one key on the stack: the uplink's ingress has none
 * to spare.)
 */
static __always_inline struct sg_flow *
sg_frag_entry_in(const struct sg_ctx *c, const struct sg_pkt *p,
		 enum sg_frag_hook hook, __u64 now, struct sg_flow_key *key)
{
	struct sg_frag_key k;
	bool last;

	if (!p->frag || sg_frag_key_of(c, p, 0, hook, &k, &last))
		return NULL;
	if (p->frag == SG_FRAG_FIRST) {
		bpf_map_delete_elem(&sg_frags, &k);
		return NULL;
	}
	if (sg_frag_lookup(&k, last, now, key))
		return NULL;
	return sg_frag_flow_entry(key);
}

#endif /* SG_FRAG_H */
