/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing. Every length the packet claims is checked against the
 * frame before it is trusted; anything that does not add up is reported as
 * SG_DROP_MALFORMED and the packet is never rewritten.
 */
#ifndef SG_PARSE_H
#define SG_PARSE_H

#include "sg_ctx.h"

/* sg_pkt.frag */
#define SG_FRAG_FIRST	1	/* offset 0, more fragments follow */
#define SG_FRAG_LATER	2	/* offset > 0: no L4 header */

struct sg_pkt {
	__u8 kind;		/* enum sg_pkt_kind */
	__u8 proto;		/* IPv4 protocol */
	__u8 frag;		/* SG_FRAG_* or 0 */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 ttl;
	__u16 l4_off;		/* from the start of the frame */
	__u16 l4_len;		/* IP total length minus the IP header */
	__u8 l3_off;		/* where the IP header starts */
	__u8 dest_known;	/* dest is what daddr is (sg_dest_find) */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;		/* ICMP echo request: its id */
	__be16 dport;		/* ICMP echo reply: its id */
	struct sg_dest dest;
};

static __always_inline int sg_parse_l4(struct sg_ctx *c, struct sg_pkt *p,
				       void *l4, __u32 l4_len)
{
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > c->data_end || l4_len < sizeof(*th))
			return SG_DROP_MALFORMED;
		if (th->doff < 5 || th->doff * 4 > l4_len)
			return SG_DROP_MALFORMED;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		return SG_PASS;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;
		__u16 ulen;

		if ((void *)(uh + 1) > c->data_end || l4_len < sizeof(*uh))
			return SG_DROP_MALFORMED;
		ulen = bpf_ntohs(uh->len);
		/* A first fragment carries only part of the datagram. */
		if (ulen < sizeof(*uh) || (!p->frag && ulen > l4_len))
			return SG_DROP_MALFORMED;
		p->sport = uh->source;
		p->dport = uh->dest;
		return SG_PASS;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ih = l4;

		if ((void *)(ih + 1) > c->data_end || l4_len < sizeof(*ih))
			return SG_DROP_MALFORMED;
		p->icmp_type = ih->type;
		if (ih->type == ICMP_ECHO)
			p->sport = ih->un.echo.id;
		else if (ih->type == ICMP_ECHOREPLY)
			p->dport = ih->un.echo.id;
		return SG_PASS;
	}
	default:
		return SG_PASS;
	}
}

/*
 * Does the IPv4 header (hlen bytes, 20..60, checked to lie within the
 * frame) sum right? A router drops one that does not (RFC 1812 5.2.2),
 * as the kernel's ip_rcv() does: NAT updates checksums incrementally, so
 * a translated packet would leave with its header still wrong, having
 * moved a flow on the way. Without options (most packets) it is summed
 * in place; with them it is copied out and summed whole, the zeros after
 * it included: no branch on the options' length, which would multiply
 * the verifier's states by the number of option lengths.
 */
static __always_inline bool sg_ipv4_csum_ok(const struct sg_ctx *c,
					    const struct iphdr *ip, __u32 hlen)
{
	const __u32 *h = (const __u32 *)ip;
	__u64 sum = 0;
	int i;

	hlen &= 0x3c;
	if (hlen == 20) {
		/* Most packets: no options, and the caller has checked
		 * these 20 bytes against the frame. No copy (and no
		 * zeroing of the copy's room). */
		sum = (__u64)h[0] + h[1] + h[2] + h[3] + h[4];
	} else {
		__u32 w[15] = {};

		if (hlen < 20 || sg_ctx_load(c, c->l3_off, w, hlen))
			return false;
#pragma unroll
		for (i = 0; i < 15; i++)
			sum += w[i];
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static __always_inline int sg_parse_ipv4(struct sg_ctx *c, struct sg_pkt *p,
					 struct iphdr *ip)
{
	__u32 hlen, tot_len, frag_off;

	if ((void *)(ip + 1) > c->data_end)
		return SG_DROP_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return SG_DROP_MALFORMED;
	hlen = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	/* Shorter than the frame is Ethernet padding; longer is a lie. */
	if (tot_len < hlen || tot_len > c->len - c->l3_off)
		return SG_DROP_MALFORMED;
	if ((void *)ip + hlen > c->data_end)
		return SG_DROP_MALFORMED;
	/* Not even the header is to be trusted: kind stays unknown. */
	if (!sg_ipv4_csum_ok(c, ip, hlen))
		return SG_DROP_MALFORMED;

	p->kind = SG_PKT_IPV4;
	p->l3_off = c->l3_off;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->l4_off = c->l3_off + hlen;
	p->l4_len = tot_len - hlen;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	frag_off = bpf_ntohs(ip->frag_off);
	if (frag_off & IP_OFFSET) {
		p->frag = SG_FRAG_LATER;
		/* Ending past the 65,535 bytes a datagram may have: no
		 * reassembly takes it (RFC 791; Linux's drops it). */
		if ((frag_off & IP_OFFSET) * 8 + tot_len - hlen > 0xffff)
			return SG_DROP_MALFORMED;
		return SG_PASS;
	}
	if (frag_off & IP_MF)
		p->frag = SG_FRAG_FIRST;
	return sg_parse_l4(c, p, (void *)ip + hlen, tot_len - hlen);
}

static __always_inline int sg_parse_ipv6(struct sg_ctx *c, struct sg_pkt *p,
					 struct ipv6hdr *ip6)
{
	struct icmp6hdr *icmp6 = (void *)(ip6 + 1);

	if ((void *)(ip6 + 1) > c->data_end)
		return SG_DROP_MALFORMED;
	p->kind = SG_PKT_IPV6;
	/* Router solicitation/advertisement, neighbour solicitation/
	 * advertisement and redirect: the gateway's own link-local business. */
	if (ip6->nexthdr == IPPROTO_ICMPV6 &&
	    (void *)(icmp6 + 1) <= c->data_end &&
	    icmp6->icmp6_type >= 133 && icmp6->icmp6_type <= 137)
		p->kind = SG_PKT_IPV6_ND;
	return SG_PASS;
}

static __always_inline int sg_parse_l3(struct sg_ctx *c, struct sg_pkt *p,
				       __u16 proto, void *l3)
{
	switch (proto) {
	case ETH_P_IP:
		return sg_parse_ipv4(c, p, l3);
	case ETH_P_IPV6:
		return sg_parse_ipv6(c, p, l3);
	case ETH_P_ARP:
		p->kind = SG_PKT_ARP;
		return SG_PASS;
	case ETH_P_8021Q:
	case ETH_P_8021AD:
		p->kind = SG_PKT_VLAN;
		return SG_PASS;
	default:
		p->kind = SG_PKT_OTHER;
		return SG_PASS;
	}
}

/* Returns SG_PASS with *p filled, or the drop reason. */
static __always_inline int sg_parse(struct sg_ctx *c, struct sg_pkt *p)
{
	struct ethhdr *eth = c->data;

	if (!c->l3_off)
		return sg_parse_l3(c, p, bpf_ntohs(c->l3_proto), c->data);
	if ((void *)(eth + 1) > c->data_end)
		return SG_DROP_MALFORMED;
	if (c->vlan_offloaded) {
		p->kind = SG_PKT_VLAN;
		return SG_PASS;
	}
	return sg_parse_l3(c, p, bpf_ntohs(eth->h_proto), eth + 1);
}

#endif /* SG_PARSE_H */
