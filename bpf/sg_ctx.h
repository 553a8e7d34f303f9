/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet as the pipeline sees it, whichever hook it came from, and the
 * definitions it is judged by. The XDP and tc entry points fill one of
 * these and call the same inline pipeline.
 */
#ifndef SG_CTX_H
#define SG_CTX_H

#include "sg_bpf.h"

struct sg_ctx {
	void *data;
	void *data_end;
	__u32 len;		/* whole frame, Ethernet header included */
	__u32 ifindex;		/* device the packet arrived on */
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

static __always_inline void sg_ctx_defs(struct sg_ctx *c)
{
	__u32 zero = 0;
	struct sg_state *st = bpf_map_lookup_elem(&sg_state, &zero);

	c->generation = st ? READ_ONCE(st->generation) : 0;
	c->slot = c->generation & 1;
}

/* Longest header chain the pipeline reads: Ethernet, IPv4 with options,
 * TCP without options. tc pulls this much into the linear area. */
#define SG_MAX_HEADERS	(ETH_HLEN + 60 + 20)

static __always_inline void sg_ctx_from_xdp(struct sg_ctx *c, struct xdp_md *x)
{
	c->data = (void *)(long)x->data;
	c->data_end = (void *)(long)x->data_end;
	c->len = c->data_end - c->data;
	c->ifindex = x->ingress_ifindex;
	c->vlan_offloaded = 0;
	c->l3_off = ETH_HLEN;
	c->l3_proto = 0;
	sg_ctx_defs(c);
}

static __always_inline void sg_ctx_from_skb(struct sg_ctx *c,
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
	c->data = (void *)(long)skb->data;
	c->data_end = (void *)(long)skb->data_end;
	c->len = len;
	c->ifindex = skb->ifindex;
	c->vlan_offloaded = skb->vlan_present;
	c->l3_off = ETH_HLEN;
	c->l3_proto = 0;
	sg_ctx_defs(c);
}

/* A device without a link-layer header (SG_DEV_L3): tun, WireGuard. The
 * skb's protocol says what the packet is. */
static __always_inline void sg_ctx_no_l2(struct sg_ctx *c,
					 struct __sk_buff *skb)
{
	c->l3_off = 0;
	c->l3_proto = skb->protocol;
}

#endif /* SG_CTX_H */
