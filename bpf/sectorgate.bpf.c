// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Entry points. Each is a thin wrapper that builds an sg_ctx (which reads
 * the definitions' generation once for the whole run) and calls the shared
 * pipeline; XDP runs on devices whose driver takes it and whose `xdp:`
 * wants it (a tap; a veth only with `xdp: on`), tc ingress on the others
 * (bridges, veths), with identical decisions. Only XDP
 * adds the fast path (sg_fast.h); tc leaves forwarding to the kernel.
 */
#include "sg_policy.h"
#include "sg_fast.h"
#include "sg_trusted.h"

SEC("xdp")
int sg_xdp_sector(struct xdp_md *xdp)
{
	struct sg_device *dev = NULL;
	struct sg_pkt p = {};
	struct sg_ctx c;
	int verdict, parsed = -1;

	sg_ctx_from_xdp(&c, xdp);
	verdict = sg_fast_again(xdp, &c, &p, &parsed);
	if (verdict >= 0)
		return verdict;
	verdict = sg_sector_ingress(&c, &p, &dev, parsed);
	/* tc ingress steers it (sg_egress.h). */
	if (verdict == SG_PASS_STEER)
		return XDP_PASS;
	if (verdict < SG_PASS && dev)
		return sg_fast_out(xdp, &c, &p, dev, verdict);
	return verdict == SG_PASS ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int sg_tc_sector_in(struct __sk_buff *skb)
{
	struct sg_device *dev = NULL;
	struct sg_pkt p = {};
	struct sg_ctx c;
	int verdict, parsed;

	sg_ctx_from_skb(&c, skb);
	/* Parsed once, for both (one path for the verifier). */
	parsed = sg_parse(&c, &p);
	verdict = sg_steer_again(&c, &p, parsed);
	if (verdict >= 0)
		return verdict;
	verdict = sg_sector_ingress(&c, &p, &dev, parsed);
	if (verdict == SG_PASS_STEER)
		return TC_ACT_REDIRECT;	/* set by sg_steer */
	return verdict <= SG_PASS ? TC_ACT_OK : TC_ACT_SHOT;
}

/* Mostly counting: the headers are pulled only for what it drops. */
SEC("tc")
int sg_tc_sector_out(struct __sk_buff *skb)
{
	struct sg_ctx c = { .ctx = skb, .ifindex = skb->ifindex,
			    .in_ifindex = skb->ingress_ifindex,
			    .len = skb->len };

	sg_ctx_defs(&c);
	return sg_sector_egress(&c, skb);
}

SEC("xdp")
int sg_xdp_uplink(struct xdp_md *xdp)
{
	struct sg_ctx c;

	sg_ctx_from_xdp(&c, xdp);
	return sg_fast_in(xdp, &c);
}

SEC("tc")
int sg_tc_uplink_in(struct __sk_buff *skb)
{
	struct sg_ctx c;

	sg_ctx_from_skb(&c, skb);
	return sg_uplink_ingress(&c, skb);
}

SEC("tc")
int sg_tc_uplink_out(struct __sk_buff *skb)
{
	struct sg_ctx c;

	sg_ctx_from_skb(&c, skb);
	sg_ctx_at_egress(&c, skb);
	return sg_uplink_egress(&c, skb);
}

SEC("tc")
int sg_tc_trusted_in(struct __sk_buff *skb)
{
	struct sg_ctx c;

	sg_ctx_from_skb(&c, skb);
	return sg_trusted_ingress(&c, skb);
}

SEC("tc")
int sg_tc_trusted_out(struct __sk_buff *skb)
{
	struct sg_ctx c;

	sg_ctx_from_skb(&c, skb);
	sg_ctx_at_egress(&c, skb);
	return sg_trusted_egress(&c, skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
