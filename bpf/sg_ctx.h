/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet as the pipeline sees it, whichever hook it came from, the
 * definitions it is judged by, and the few operations every translation
 * is written with: loads, stores and checksum updates at an offset of the
 * frame. XDP edits the frame in place (nothing there keeps checksums); tc
 * goes through the skb helpers, which also keep skb->csum and the
 * offload state (CHECKSUM_PARTIAL, COMPLETE) right. `xdp` is a constant
 * of each entry point, so the compiler keeps one branch in each program.
 */
#ifndef SG_CTX_H
#define SG_CTX_H

#include "sg_bpf.h"
#include "sg_csum.h"

struct sg_ctx {
	void *ctx;		/* struct xdp_md or struct __sk_buff */
	void *data;		/* XDP: valid throughout; tc: until a store */
	void *data_end;
	__u32 len;		/* whole frame, link-layer header included */
	__u32 ifindex;		/* device the program runs on */
	__u32 in_ifindex;	/* device the packet arrived on: ifindex but
				 * at tc egress, where 0 is the host's own */
	bool xdp;
	__u8 vlan_offloaded;	/* tc: the tag sits in skb metadata */
	__u8 l3_off;		/* ETH_HLEN, or 0 on a device without one */
	__be16 l3_proto;	/* l3_off 0: the EtherType the skb says */
	/*
	 * The definitions, read once per program run (sg_state): every
	 * lookup of this packet names this slot, every kept decision this
	 * generation, so a packet never mixes two applies. The slot is the
	 * generation's low bit (the loader keeps it so), which makes one
	 * 32-bit load read both at once.
	 */
	__u32 generation;
	__u32 slot;
};

/* Longest header chain the pipeline reads: Ethernet, IPv4 with options,
 * TCP without options. tc pulls this much into the linear area. */
#define SG_MAX_HEADERS	(ETH_HLEN + 60 + 20)

/* Offsets the XDP edits reach: the headers of an ICMP error included. */
#define SG_XDP_OFF_MAX	0x1ff

static __always_inline void sg_ctx_defs(struct sg_ctx *c)
{
	__u32 zero = 0;
	struct sg_state *st = bpf_map_lookup_elem(&sg_state, &zero);

	c->generation = st ? READ_ONCE(st->generation) : 0;
	c->slot = c->generation & 1;
}

static __always_inline void sg_ctx_from_xdp(struct sg_ctx *c, struct xdp_md *x)
{
	c->ctx = x;
	c->xdp = true;
	c->data = (void *)(long)x->data;
	c->data_end = (void *)(long)x->data_end;
	c->len = c->data_end - c->data;
	c->ifindex = x->ingress_ifindex;
	c->in_ifindex = c->ifindex;
	c->vlan_offloaded = 0;
	c->l3_off = ETH_HLEN;
	c->l3_proto = 0;
	sg_ctx_defs(c);
}

/* The headers of skb, made readable: everything of c but the
 * definitions. */
static __always_inline void sg_ctx_skb_headers(struct sg_ctx *c,
					       struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u32 want = len < SG_MAX_HEADERS ? len : SG_MAX_HEADERS;

	/* Headers of locally generated or GRO'd skbs may sit in fragments. */
	if ((void *)(long)skb->data + want > (void *)(long)skb->data_end)
		bpf_skb_pull_data(skb, want);
	/* Keep clang from merging the field loads above and below the pull
	 * into one load at a variable context offset (the verifier refuses). */
	asm volatile("" : "+r"(skb));
	c->ctx = skb;
	c->xdp = false;
	c->data = (void *)(long)skb->data;
	c->data_end = (void *)(long)skb->data_end;
	c->len = len;
	c->ifindex = skb->ifindex;
	c->in_ifindex = c->ifindex;	/* at ingress; sg_ctx_at_egress */
	c->vlan_offloaded = skb->vlan_present;
	c->l3_off = ETH_HLEN;
	c->l3_proto = 0;
}

static __always_inline void sg_ctx_from_skb(struct sg_ctx *c,
					    struct __sk_buff *skb)
{
	sg_ctx_skb_headers(c, skb);
	sg_ctx_defs(c);
}

/* At tc egress the packet came in on another device (0: the host's own). */
static __always_inline void sg_ctx_at_egress(struct sg_ctx *c,
					     struct __sk_buff *skb)
{
	c->in_ifindex = skb->ingress_ifindex;
}

/* A device without a link-layer header (SG_DEV_L3): tun, WireGuard. The
 * skb's protocol says what the packet is. */
static __always_inline void sg_ctx_no_l2(struct sg_ctx *c,
					 struct __sk_buff *skb)
{
	c->l3_off = 0;
	c->l3_proto = skb->protocol;
}

/* XDP: len bytes at off of the frame, or NULL. len is a constant. */
static __always_inline void *sg_xdp_at(const struct sg_ctx *c, __u32 off,
				       __u32 len)
{
	__u8 *at;

	if (off > SG_XDP_OFF_MAX)
		return NULL;
	at = (__u8 *)c->data + (off & SG_XDP_OFF_MAX);
	if (at + len > (__u8 *)c->data_end)
		return NULL;
	return at;
}

/* Copy len bytes at off out of the frame. 0 or -1. */
static __always_inline int sg_ctx_load(const struct sg_ctx *c, __u32 off,
				       void *to, __u32 len)
{
	if (c->xdp)
		return bpf_xdp_load_bytes(c->ctx, off, to, len) ? -1 : 0;
	return bpf_skb_load_bytes(c->ctx, off, to, len) ? -1 : 0;
}

/* Write len (2 or 4) bytes at off. 0 or -1. */
static __always_inline int sg_ctx_store(const struct sg_ctx *c, __u32 off,
					const void *from, __u32 len)
{
	void *at;

	if (!c->xdp)
		return bpf_skb_store_bytes(c->ctx, off, from, len, 0) ? -1 : 0;
	at = sg_xdp_at(c, off, len);
	if (!at)
		return -1;
	if (len == 4)
		*(__u32 *)at = *(const __u32 *)from;
	else
		*(__u16 *)at = *(const __u16 *)from;
	return 0;
}

/* The IPv4 header checksum at off, for a 2- or 4-byte field from -> to. */
static __always_inline int sg_ctx_l3_csum_replace(const struct sg_ctx *c,
						  __u32 off, __u32 from,
						  __u32 to, __u32 size)
{
	__u16 *sum;

	if (!c->xdp)
		return bpf_l3_csum_replace(c->ctx, off, from, to, size) ? -1 : 0;
	sum = sg_xdp_at(c, off, 2);
	if (!sum)
		return -1;
	*sum = size == 4 ? sg_csum_replace4(*sum, from, to) :
			   sg_csum_replace2(*sum, from, to);
	return 0;
}

/*
 * An L4 checksum at off, as bpf_l4_csum_replace() does it: flags carry
 * the field size, BPF_F_PSEUDO_HDR (the field is in the pseudo header;
 * only tc cares, for skb->csum) and BPF_F_MARK_MANGLED_0 (UDP: a zero
 * checksum means none and stays zero, a computed zero is sent as ones).
 */
static __always_inline int sg_ctx_l4_csum_replace(const struct sg_ctx *c,
						  __u32 off, __u32 from,
						  __u32 to, __u64 flags)
{
	__u16 *sum, v;

	if (!c->xdp)
		return bpf_l4_csum_replace(c->ctx, off, from, to, flags) ?
		       -1 : 0;
	sum = sg_xdp_at(c, off, 2);
	if (!sum)
		return -1;
	if ((flags & BPF_F_MARK_MANGLED_0) && !*sum)
		return 0;
	v = (flags & BPF_F_HDR_FIELD_MASK) == 4 ?
	    sg_csum_replace4(*sum, from, to) : sg_csum_replace2(*sum, from, to);
	if ((flags & BPF_F_MARK_MANGLED_0) && !v)
		v = 0xffff;
	*sum = v;
	return 0;
}

#endif /* SG_CTX_H */
