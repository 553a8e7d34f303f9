/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Port shadowing between the host and the sectors (SPEC 3.4, last
 * sentence). The uplink's snat-address is the host's own address too, and
 * a reply is delivered by its tuple alone: whoever holds U:P towards R:rp
 * gets what R:rp sends to U:P. Linux masquerade keeps the two apart
 * because the host's sockets and the NAT share one conntrack table; ours
 * are two tables that never see each other, so without this a VM could
 * choose (port preservation) a port a host socket uses and take its
 * replies, and a host socket opened after a VM's flow would lose its own.
 *
 * Both orders are closed where the later one starts:
 *
 *  - A sector flow never claims a port on which the host's stack would
 *    receive the replies: before the claim, the socket tables are asked
 *    with the tuple as the reply would arrive (sg_host_holds). Any TCP
 *    socket counts (listener, established, time-wait, request), and any
 *    UDP socket that would take the datagram (connected or bound).
 *
 *  - The host's own packets leaving the uplink (sg_host_egress): if a live
 *    sector flow already holds their reply tuple (or a forward their
 *    port), the host's connection is moved to another port of nat-ports
 *    (the sectors' allocator, host sockets skipped too) with a flow of its
 *    own (SG_NAT_HOST, zone 0), and its
 *    replies get their destination port restored at tc ingress before
 *    anything else looks at them (sg_host_reply_in). The host's socket
 *    never knows. The XDP fast path leaves these replies to tc. ICMP
 *    errors about them get the port back in the embedded header.
 *
 * The common case costs the host three hash lookups per packet out of the
 * uplink (its flow, a forward, the reply tuple), and a new sector flow one
 * socket lookup per port it tries.
 */
#ifndef SG_SHADOW_H
#define SG_SHADOW_H

#include "sg_flow.h"
#include "sg_defs.h"
#include "sg_drop.h"
#include "sg_icmp.h"
#include "sg_xlate.h"

/*
 * Defined in sg_nat.h, which includes this file for sg_host_holds: a
 * host connection is moved with the allocator of the sectors' flows.
 */
static __always_inline int sg_snat_flow(const struct sg_ctx *c,
					const struct sg_config *cfg,
					const struct sg_pkt *p,
					const struct sg_flow_key *key,
					struct sg_flow *t, bool keep_port,
					__u64 now, struct sg_flow **out);

/*
 * Would the host's stack receive the replies arriving under reply key
 * rkey (remote -> snat address:port, zone 0)? The lookup runs in the
 * netns of the device the program runs on: the gateway's.
 */
static __always_inline bool sg_host_holds(void *ctx,
					  const struct sg_flow_key *rkey)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;

	t.ipv4.saddr = rkey->saddr;
	t.ipv4.daddr = rkey->daddr;
	t.ipv4.sport = rkey->sport;
	t.ipv4.dport = rkey->dport;
	switch (rkey->proto) {
	case IPPROTO_TCP:
		/* skc: a time-wait or request socket holds the tuple too. */
		sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4),
					BPF_F_CURRENT_NETNS, 0);
		break;
	case IPPROTO_UDP:
		sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
		break;
	default:
		/* ICMP echo: no helper finds ping sockets by id. */
		return false;
	}
	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

/*
 * Would the replies of the host's packet p (its tuple key, zone 0, from
 * the snat address) reach something else than the host? A live flow
 * holds its reply tuple (a masqueraded or metadata flow's reply entry, a
 * forward's primary), or it leaves from a port a forward publishes, whose
 * packets are taken for new connections into the sector.
 */
static __always_inline bool sg_host_shadowed(const struct sg_ctx *c,
					     const struct sg_pkt *p,
					     const struct sg_flow_key *key,
					     __u64 now)
{
	struct sg_flow_key rkey, okey;
	struct sg_flow *e;

	if (p->proto != IPPROTO_ICMP &&
	    sg_forward_of(c->slot, p->saddr, p->proto, p->sport))
		return true;
	sg_flow_snat_reply_key(&rkey, key, p->saddr, p->sport);
	e = bpf_map_lookup_elem(&sg_flows, &rkey);
	if (!e || e->nat == SG_NAT_HOST)
		return false;
	if (e->dir == SG_FLOW_REPLY)
		return sg_flow_primary_of(&rkey, e, &okey, now);
	return sg_flow_live(e, now);
}

/*
 * tc egress of uplink `up`, for what did not come from a sector: the
 * host's own traffic (and what it forwards from devices not ours). It
 * leaves untouched unless it is the host's, from the snat address, and
 * either already moved (its SG_NAT_HOST flow) or shadowed: then it is
 * moved to a port of nat-ports that neither a flow, a forward nor a host
 * socket holds, its replies restored by the flow's reply entry. A
 * connection that cannot be moved is dropped: sent as it is, its replies
 * would reach a VM.
 */
static __always_inline int sg_host_egress(struct sg_ctx *c,
					  const struct sg_config *cfg,
					  const struct sg_device *up)
{
	struct sg_flow_key key;
	struct sg_flow t, *f;
	struct sg_pkt p = {};
	__be32 snat;
	__u64 now;
	int verdict;

	/* Fragments carry no ports after the first: left as they are. */
	if (sg_parse(c, &p) != SG_PASS || p.kind != SG_PKT_IPV4 || p.frag)
		return TC_ACT_OK;
	if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP &&
	    !(p.proto == IPPROTO_ICMP && p.icmp_type == ICMP_ECHO))
		return TC_ACT_OK;
	__builtin_memcpy(&snat, up->snat_addr, sizeof(snat));
	if (p.saddr != snat)
		return TC_ACT_OK;	/* its replies cannot meet ours */

	now = sg_now();
	sg_flow_key_of(&key, &p, 0);
	f = bpf_map_lookup_elem(&sg_flows, &key);
	if (!(f && f->dir == SG_FLOW_ORIG && f->nat == SG_NAT_HOST &&
	      sg_flow_live(f, now)) &&
	    !sg_host_shadowed(c, &p, &key, now))
		return TC_ACT_OK;

	/* Found again, or created: replies in zone 0, to the host. */
	t = (struct sg_flow){ .nat = SG_NAT_HOST, .out_ifindex = c->ifindex,
			      .xlate = { .saddr = snat, .daddr = p.daddr,
					 .dport = p.dport } };
	verdict = sg_snat_flow(c, cfg, &p, &key, &t, false, now, &f);
	if (verdict == SG_PASS && f && sg_xlate_apply(c, &p, &f->xlate))
		verdict = SG_DROP_MALFORMED;
	else if (verdict == SG_PASS && f && !sg_flow_is(f, &key))
		verdict = SG_DROP_CONNTRACK_FULL;	/* taken meanwhile */
	if (verdict == SG_PASS)
		return TC_ACT_OK;
	sg_drop(c, &p, 0, 0, verdict);
	return TC_ACT_SHOT;
}

/*
 * tc ingress of an uplink: a packet p whose zone-0 key (key) finds reply
 * entry r of kind SG_NAT_HOST, a reply of one of the host's moved
 * connections, gets the host's port back and goes to the host's stack.
 * Taken before the sector replies and the unsolicited check, so neither
 * can have it. Addressed to the snat address, whatever is not restored
 * (the mapping is over, a fragment) is the host's too. Returns the tc
 * verdict.
 */
static __always_inline int sg_host_reply_in(const struct sg_ctx *c,
					    const struct sg_config *cfg,
					    const struct sg_pkt *p,
					    const struct sg_flow_key *key,
					    const struct sg_flow *r, __u64 now)
{
	struct sg_flow_key okey;
	struct sg_flow *f = sg_flow_primary_of(key, r, &okey, now);

	if (!f || p->frag)
		return TC_ACT_OK;
	if (!sg_flows_are(r, f, key)) {		/* taken meanwhile */
		sg_drop(c, p, 0, 0, SG_DROP_CONNTRACK_FULL);
		return TC_ACT_SHOT;
	}
	sg_flow_update(f, cfg, p, SG_FLOW_REPLY, now);
	if (sg_xlate_apply(c, p, &r->xlate)) {
		sg_drop(c, p, 0, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	if (!sg_flows_are(r, f, key)) {		/* taken meanwhile */
		sg_drop(c, p, 0, 0, SG_DROP_CONNTRACK_FULL);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

/*
 * An inbound ICMP error whose embedded header (in) is a packet of one of
 * the host's moved connections, its reply entry r found under key: the
 * embedded source port is the moved one, which the host's socket does
 * not know. With the port restored, the error reaches that socket (path
 * MTU of its connection, port unreachable). Returns the tc verdict.
 */
static __always_inline int sg_host_icmp_error_in(const struct sg_ctx *c,
						 const struct sg_pkt *p,
						 struct sg_icmp_inner *in,
						 const struct sg_flow_key *key,
						 const struct sg_flow *r,
						 __u64 now)
{
	struct sg_flow_key okey;

	if (!sg_flow_primary_of(key, r, &okey, now))
		return TC_ACT_OK;	/* the mapping is over */
	if (sg_icmp_error_rewrite(c, p, in, true, true, r->xlate.daddr,
				  r->xlate.dport)) {
		sg_drop(c, p, 0, 0, SG_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	if (!sg_flow_is(r, key)) {		/* taken meanwhile */
		sg_drop(c, p, 0, 0, SG_DROP_CONNTRACK_FULL);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

#endif /* SG_SHADOW_H */
