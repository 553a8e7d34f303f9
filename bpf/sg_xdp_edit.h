/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What only XDP frames need: MACs, and finishing a checksum the sender
 * left unfinished. (Address, port and TTL rewrites are sg_xlate.h's, for
 * both hooks.)
 */
#ifndef SG_XDP_EDIT_H
#define SG_XDP_EDIT_H

#include "sg_parse.h"
#include "sg_csum.h"

/* bpf_csum_diff() sums at most this much at once. */
#define SG_CSUM_CHUNK	512

static __always_inline __u16 sg_csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return sg_csum_fold(sum);
}

/* What an unfinished TCP/UDP checksum field of p holds, len bytes of L4
 * covered: the complement of its pseudo-header sum, as CHECKSUM_PARTIAL
 * leaves it. */
static __always_inline __u16 sg_csum_unfinished(const struct sg_pkt *p,
						__u32 len)
{
	__u32 pseudo = (p->saddr & 0xffff) + (p->saddr >> 16) +
		       (p->daddr & 0xffff) + (p->daddr >> 16) +
		       bpf_htons(p->proto) + bpf_htons(len);

	return ~sg_csum_fold(pseudo);
}

/* How much of p's L4 part its TCP/UDP checksum covers: a UDP datagram
 * its own length, which may stop short of the IP packet's end (the
 * parser takes that); TCP all of it. 0 if it cannot be read. */
static __always_inline __u32 sg_csum_len(const struct sg_ctx *c,
					 const struct sg_pkt *p)
{
	__be16 ulen;

	if (p->proto != IPPROTO_UDP)
		return p->l4_len;
	if (sg_ctx_load(c, p->l4_off + 4, &ulen, sizeof(ulen)))
		return 0;
	return bpf_ntohs(ulen);
}

/*
 * A TCP or UDP checksum the sender left for the device to finish
 * (CHECKSUM_PARTIAL from a local socket over veth, virtio's NEEDS_CSUM)
 * holds just the pseudo-header sum. An XDP frame has lost the note that
 * says so, and would leave with it unfinished: finish it here as the
 * device would, the complement of the sum of the L4 bytes (that field
 * included). A complete checksum that happens to equal the pseudo-header
 * sum (once in 65536 packets) comes out unchanged: the packet sums right
 * either way. Only for frames the caller is about to send on: the stack
 * still expects the unfinished value. 0, or -1 to leave it to the stack.
 */
static __always_inline int sg_csum_finish(struct xdp_md *x,
					  const struct sg_ctx *c,
					  const struct sg_pkt *p)
{
	__u8 *l4 = c->data + (p->l4_off & 0x7f);
	__u32 len = sg_csum_len(c, p), zero = 0, whole, i;
	struct sg_csum_scratch *s;
	__u16 *check, csum;
	__u64 sum = 0;

	switch (p->proto) {
	case IPPROTO_TCP:
		check = (__u16 *)(l4 + TCP_CSUM_OFF);
		break;
	case IPPROTO_UDP:
		check = (__u16 *)(l4 + UDP_CSUM_OFF);
		break;
	default:
		return 0;	/* ICMP is always summed in full */
	}
	if ((void *)(check + 1) > c->data_end)
		return -1;
	if (*check != sg_csum_unfinished(p, len))
		return 0;

	/* Copied out, so that the verifier sees bounded sizes only; the
	 * mask restates 1 <= len <= SG_CSUM_MAX_LEN in a form it keeps. */
	s = bpf_map_lookup_elem(&sg_csum_scratch, &zero);
	if (!s || len > SG_CSUM_MAX_LEN || !len)
		return -1;
	len = ((len - 1) & (SG_CSUM_MAX_LEN - 1)) + 1;
	if (bpf_xdp_load_bytes(x, p->l4_off, s->b, len))
		return -1;
	whole = len & ~3U;
	for (i = 0; i < SG_CSUM_MAX_LEN / SG_CSUM_CHUNK; i++) {
		__u32 off = i * SG_CSUM_CHUNK, n;

		if (off >= whole)
			break;
		n = whole - off < SG_CSUM_CHUNK ? whole - off : SG_CSUM_CHUNK;
		sum += (__u32)bpf_csum_diff(NULL, 0, (__be32 *)(s->b + off),
					    n, 0);
	}
	/* The last 1-3 bytes, zero-padded to a 16-bit word boundary. */
	for (i = 0; i < 3 && whole + i < len; i++) {
		__u16 byte = s->b[(whole + i) & (SG_CSUM_MAX_LEN - 1)];

		/* Its place in a 16-bit word as memory holds it. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		sum += i & 1 ? byte << 8 : byte;
#else
		sum += i & 1 ? byte : byte << 8;
#endif
	}
	csum = sg_csum_fold64(sum);
	if (p->proto == IPPROTO_UDP && !csum)
		csum = 0xffff;
	*check = csum;
	return 0;
}

/* MACs sit 2-byte aligned in frames and in sg_flow: three 16-bit words. */
static __always_inline bool sg_mac_equal(const void *a, const void *b)
{
	const __u16 *x = a, *y = b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}

static __always_inline void sg_mac_copy(void *to, const void *from)
{
	__u16 *d = to;
	const __u16 *s = from;

	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
}

#endif /* SG_XDP_EDIT_H */
