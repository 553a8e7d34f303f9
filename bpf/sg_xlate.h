/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The translation engine: every rewrite of a packet's addresses, ports
 * and TTL, written once over the ctx operations (sg_ctx.h) and run by tc
 * and by the XDP fast path alike. SNAT and its reverse use it today; DNAT,
 * the metadata rewrite and egress SNAT are the same calls with other
 * addresses.
 */
#ifndef SG_XLATE_H
#define SG_XLATE_H

#include "sg_parse.h"

/*
 * Where protocol `proto` keeps its checksum (from the L4 header) and how
 * an address or port change updates it: BPF_F_PSEUDO_HDR when the
 * addresses are in it (TCP, UDP), BPF_F_MARK_MANGLED_0 for UDP's "zero
 * means no checksum". The one table of it. -1 for other protocols.
 */
static __always_inline int sg_l4_csum_of(__u8 proto, __u32 *off,
					 __u64 *flags)
{
	switch (proto) {
	case IPPROTO_TCP:
		*off = TCP_CSUM_OFF;
		*flags = BPF_F_PSEUDO_HDR;
		return 0;
	case IPPROTO_UDP:
		*off = UDP_CSUM_OFF;
		*flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
		return 0;
	case IPPROTO_ICMP:
		*off = ICMP_CSUM_OFF;
		*flags = 0;
		return 0;
	default:
		return -1;
	}
}

/* Where the port (ICMP echo: the id) of one side sits in the L4 header. */
static __always_inline __u32 sg_l4_port_off(__u8 proto, bool dst)
{
	if (proto == IPPROTO_ICMP)
		return ICMP_ID_OFF;
	return dst ? 2 : 0;
}

/*
 * Rewrite the source (dst false) or destination address and port of the
 * IPv4 packet p, with the IP and L4 checksums updated incrementally. A
 * fragment after the first gets the address only: the ports and the L4
 * checksum, which covers the whole datagram, are in the first.
 */
static __always_inline int sg_rewrite(const struct sg_ctx *c,
				      const struct sg_pkt *p, bool dst,
				      __be32 addr, __be16 port)
{
	__be32 old_addr = dst ? p->daddr : p->saddr;
	__be16 old_port = dst ? p->dport : p->sport;
	__u32 csum_off;
	__u64 flags;

	if (p->frag == SG_FRAG_LATER)
		goto l3;
	if (sg_l4_csum_of(p->proto, &csum_off, &flags))
		return -1;
	csum_off += p->l4_off;
	if ((flags & BPF_F_PSEUDO_HDR) &&
	    sg_ctx_l4_csum_replace(c, csum_off, old_addr, addr,
				   flags | sizeof(addr)))
		return -1;
	if (old_port != port &&
	    (sg_ctx_l4_csum_replace(c, csum_off, old_port, port,
				    (flags & BPF_F_MARK_MANGLED_0) |
				    sizeof(port)) ||
	     sg_ctx_store(c, p->l4_off + sg_l4_port_off(p->proto, dst),
			  &port, sizeof(port))))
		return -1;
l3:
	if (sg_ctx_l3_csum_replace(c, p->l3_off + IP_CSUM_OFF, old_addr, addr,
				   sizeof(addr)))
		return -1;
	return sg_ctx_store(c, p->l3_off + (dst ? IP_DADDR_OFF : IP_SADDR_OFF),
			    &addr, sizeof(addr));
}

/*
 * Make packet p what its flow direction becomes (x): the source and the
 * destination, each only where it changes.
 */
static __always_inline int sg_xlate_apply(const struct sg_ctx *c,
					  const struct sg_pkt *p,
					  const struct sg_flow_xlate *x)
{
	if ((x->saddr != p->saddr || x->sport != p->sport) &&
	    sg_rewrite(c, p, false, x->saddr, x->sport))
		return -1;
	if ((x->daddr != p->daddr || x->dport != p->dport) &&
	    sg_rewrite(c, p, true, x->daddr, x->dport))
		return -1;
	return 0;
}

/* What a router does to the TTL of what it forwards (p->ttl > 1). */
static __always_inline int sg_ttl_dec(const struct sg_ctx *c,
				      const struct sg_pkt *p)
{
	/* TTL and protocol share a 16-bit word of the header checksum. */
	__be16 old = bpf_htons((__u16)p->ttl << 8 | p->proto);
	__be16 new = bpf_htons((__u16)(p->ttl - 1) << 8 | p->proto);

	if (sg_ctx_l3_csum_replace(c, p->l3_off + IP_CSUM_OFF, old, new,
				   sizeof(new)))
		return -1;
	return sg_ctx_store(c, p->l3_off + IP_TTL_OFF, &new, sizeof(new));
}

#endif /* SG_XLATE_H */
