/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors (destination unreachable, fragmentation needed, time
 * exceeded, parameter problem) about a masqueraded flow. They carry the
 * offending packet's IP header and first 8 bytes; both the outer and the
 * embedded headers are translated, with the outer IP, the outer ICMP, the
 * embedded IP and (where it is present) the embedded TCP/UDP/ICMP
 * checksums updated. An error whose embedded header is truncated, or that
 * refers to no flow, is dropped and changes nothing. The error is the
 * outer IP packet (its total length), not the frame: Ethernet padding
 * after it is never read as embedded header, nor written.
 */
#ifndef SG_ICMP_H
#define SG_ICMP_H

#include "sg_xlate.h"

#define ICMP_DEST_UNREACH	3
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12

/* The embedded packet of an ICMP error. */
struct sg_icmp_inner {
	__u32 ip_off;		/* offsets from the start of the frame */
	__u32 l4_off;
	__u32 l4_csum_off;	/* 0: the embedded L4 checksum is not there */
	__u64 l4_csum_flags;	/* sg_l4_csum_of() of the embedded protocol */
	__u32 port_off[2];	/* source, destination (ICMP: both the id) */
	struct iphdr ip;
	__be16 port[2];		/* source, destination port (ICMP echo id) */
	__u16 l4_csum;
};

static __always_inline bool sg_icmp_is_error(const struct sg_pkt *p)
{
	return p->proto == IPPROTO_ICMP && !p->frag &&
	       (p->icmp_type == ICMP_DEST_UNREACH ||
		p->icmp_type == ICMP_TIME_EXCEEDED ||
		p->icmp_type == ICMP_PARAMETERPROB);
}

/* Read the embedded header, from within the outer IP packet only.
 * Returns SG_PASS or the drop reason. */
static __always_inline int sg_icmp_inner_load(const struct sg_ctx *c,
					      const struct sg_pkt *p,
					      struct sg_icmp_inner *in)
{
	/* The end of the outer IP packet: what follows is Ethernet padding,
	 * which the kernel trims and no checksum covers. */
	__u32 end = p->l4_off + p->l4_len;
	__u8 l4[8];
	__u32 csum_at;

	in->ip_off = p->l4_off + sizeof(struct icmphdr);
	if (in->ip_off + sizeof(in->ip) > end ||
	    sg_ctx_load(c, in->ip_off, &in->ip, sizeof(in->ip)))
		return SG_DROP_MALFORMED;
	if (in->ip.version != 4 || in->ip.ihl < 5)
		return SG_DROP_MALFORMED;
	/* Only a first fragment names ports. */
	if (in->ip.frag_off & bpf_htons(IP_OFFSET))
		return SG_DROP_UNTRANSLATABLE;
	/* The options in full and the 8 bytes every error must carry. */
	in->l4_off = in->ip_off + in->ip.ihl * 4;
	if (in->l4_off + sizeof(l4) > end ||
	    sg_ctx_load(c, in->l4_off, l4, sizeof(l4)))
		return SG_DROP_MALFORMED;

	switch (in->ip.protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		__builtin_memcpy(in->port, l4, sizeof(in->port));
		break;
	case IPPROTO_ICMP:
		/* An echo request carries its id as the source "port". */
		if (l4[0] != ICMP_ECHO && l4[0] != ICMP_ECHOREPLY)
			return SG_DROP_UNTRANSLATABLE;
		in->port[0] = in->port[1] = 0;
		if (l4[0] == ICMP_ECHO)
			__builtin_memcpy(&in->port[0], l4 + ICMP_ID_OFF, 2);
		else
			__builtin_memcpy(&in->port[1], l4 + ICMP_ID_OFF, 2);
		break;
	default:
		return SG_DROP_UNTRANSLATABLE;
	}
	in->port_off[0] = in->l4_off + sg_l4_port_off(in->ip.protocol, false);
	in->port_off[1] = in->l4_off + sg_l4_port_off(in->ip.protocol, true);
	sg_l4_csum_of(in->ip.protocol, &csum_at, &in->l4_csum_flags);
	/* The embedded TCP checksum lies beyond the 8 bytes an error must
	 * carry; update it only where the error carries it, never in the
	 * padding after it (the ICMP checksum does not cover that). */
	in->l4_csum_off = 0;
	if (in->l4_off + csum_at + 2 <= end &&
	    !sg_ctx_load(c, in->l4_off + csum_at, &in->l4_csum, 2))
		in->l4_csum_off = in->l4_off + csum_at;
	return SG_PASS;
}

/*
 * ICMP error p, sent from `zone` about a packet received there: the key
 * of the entry that packet's answers take (its embedded header reversed,
 * in that zone) in *key, the header in *in. SG_PASS, or the reason the
 * header cannot be read.
 */
static __always_inline int sg_icmp_error_key(const struct sg_ctx *c,
					     const struct sg_pkt *p,
					     __u16 zone,
					     struct sg_icmp_inner *in,
					     struct sg_flow_key *key)
{
	int verdict = sg_icmp_inner_load(c, p, in);

	if (verdict != SG_PASS)
		return verdict;
	*key = (struct sg_flow_key){
		.saddr = in->ip.daddr, .daddr = in->ip.saddr,
		.sport = in->port[1], .dport = in->port[0],
		.proto = in->ip.protocol, .zone = zone,
	};
	return SG_PASS;
}

/*
 * Translate an ICMP error. inbound: it arrived on the uplink about a
 * packet we sent, so the outer destination and the embedded source become
 * addr/port (the VM's). Otherwise it leaves the uplink about a packet the
 * VM received, so the outer source and embedded destination become the
 * masquerade address/port; or (outer false) the embedded destination
 * alone. *in follows the rewrite, so that the other side of the same
 * error can be rewritten next (sg_icmp_error_in: the metadata target).
 */
static __always_inline int sg_icmp_error_rewrite(const struct sg_ctx *c,
						 const struct sg_pkt *p,
						 struct sg_icmp_inner *in,
						 bool inbound, bool outer,
						 __be32 addr, __be16 port)
{
	int side = inbound ? 0 : 1;	/* embedded field: source or dest */
	__u32 icmp_csum_off = p->l4_off + ICMP_CSUM_OFF;
	__u32 in_addr_off = in->ip_off + (inbound ?
		IP_SADDR_OFF : IP_DADDR_OFF);
	__u32 out_addr_off = p->l3_off + (inbound ?
		IP_DADDR_OFF : IP_SADDR_OFF);
	__be32 old_addr = inbound ? in->ip.saddr : in->ip.daddr;
	__be32 old_outer = inbound ? p->daddr : p->saddr;
	__be16 old_port = in->port[side];
	__u16 icmp_csum, ip_csum, l4_csum = in->l4_csum;
	__u32 port_off = in->port_off[side];

	bool zero_is_none = in->l4_csum_flags & BPF_F_MARK_MANGLED_0;

	if (sg_ctx_load(c, icmp_csum_off, &icmp_csum, 2))
		return -1;

	/* Embedded IP header: address and its checksum. */
	ip_csum = sg_csum_replace4(in->ip.check, old_addr, addr);
	icmp_csum = sg_csum_replace4(icmp_csum, old_addr, addr);
	icmp_csum = sg_csum_replace2(icmp_csum, in->ip.check, ip_csum);

	/* Embedded L4: port (ICMP id) and its checksum, which covers the
	 * address too for TCP and UDP (pseudo header). A zero UDP checksum
	 * means "none" and stays so. */
	if (in->l4_csum_off && !(zero_is_none && !in->l4_csum)) {
		if (in->l4_csum_flags & BPF_F_PSEUDO_HDR)
			l4_csum = sg_csum_replace4(l4_csum, old_addr, addr);
		l4_csum = sg_csum_replace2(l4_csum, old_port, port);
		if (zero_is_none && !l4_csum)
			l4_csum = 0xffff;
		icmp_csum = sg_csum_replace2(icmp_csum, in->l4_csum, l4_csum);
	}
	icmp_csum = sg_csum_replace2(icmp_csum, old_port, port);

	if (sg_ctx_store(c, in_addr_off, &addr, 4) ||
	    sg_ctx_store(c, in->ip_off + IP_CSUM_OFF, &ip_csum, 2) ||
	    sg_ctx_store(c, port_off, &port, 2) ||
	    (in->l4_csum_off &&
	     sg_ctx_store(c, in->l4_csum_off, &l4_csum, 2)) ||
	    sg_ctx_store(c, icmp_csum_off, &icmp_csum, 2))
		return -1;
	in->ip.check = ip_csum;
	in->l4_csum = l4_csum;
	in->port[side] = port;
	if (inbound)
		in->ip.saddr = addr;
	else
		in->ip.daddr = addr;
	if (!outer)
		return 0;

	/* Outer IP header: the ICMP checksum has no pseudo header. */
	if (sg_ctx_l3_csum_replace(c, p->l3_off + IP_CSUM_OFF, old_outer,
				   addr, sizeof(addr)))
		return -1;
	return sg_ctx_store(c, out_addr_off, &addr, 4);
}

#endif /* SG_ICMP_H */
