// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark helpers, never part of sectorgate: a packet source run with
 * BPF_PROG_RUN in live-frames mode, a sink that counts what arrives, and
 * the bare XDP redirect that sectorgate's fast path is measured against.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sg_csum.h"

#define FRAME_LEN	64
#define ETH_HLEN	14
#define IP_TTL_OFF	(ETH_HLEN + 8)
#define IP_CSUM_OFF	(ETH_HLEN + 10)
#define IP_SADDR_OFF	(ETH_HLEN + 12)
#define IP_DADDR_OFF	(ETH_HLEN + 16)
#define UDP_CSUM_OFF	(ETH_HLEN + 20 + 6)

/* Set by bench_xdp before load. */
const volatile __u8 frame[FRAME_LEN];	/* what the source sends */
const volatile __u32 source_ifindex;	/* ... out of this device */
const volatile __u32 source_flows = 1;	/* ... cycling through this many
					 * ports (source or, -r, destination) */
const volatile bool source_vary_dst;
const volatile bool source_unique;	/* never the same ports twice */
const volatile __u8 bare_macs[12];	/* bare: new destination, source */
const volatile __u32 bare_addr;	/* bare: new address (network order) */
const volatile __u32 bare_dst;		/* bare: ... for the destination */
const volatile __u32 bare_ifindex;	/* bare: redirect here */

__u64 sink_packets;
__u32 source_sent;

/*
 * Every run writes the whole frame again: live-frames pages are recycled,
 * and whatever the path rewrote in place (NAT, TTL, MACs) would stay.
 * With several flows, the port moves on by one a frame, and the UDP
 * checksum with it.
 */
SEC("xdp")
int bench_source(struct xdp_md *x)
{
	__u64 *data = (void *)(long)x->data;
	const volatile __u64 *tmpl = (const volatile __u64 *)frame;
	__u16 *port, *sum, old, new;

	if ((void *)(data + FRAME_LEN / 8) > (void *)(long)x->data_end)
		return XDP_ABORTED;
	for (int i = 0; i < FRAME_LEN / 8; i++)
		data[i] = tmpl[i];
	if (source_flows > 1) {
		port = (__u16 *)((__u8 *)data + ETH_HLEN + 20 +
				 (source_vary_dst ? 2 : 0));
		sum = (__u16 *)((__u8 *)data + UDP_CSUM_OFF);
		old = *port;
		new = bpf_htons(bpf_ntohs(old) + source_sent++ % source_flows);
		*port = new;
		*sum = sg_csum_replace2(*sum, old, new);
	}
	/* Every frame a new flow: frame n has destination port
	 * 1 + n % 65535 and source port 1024 + n / 65535 (4.2e9 flows before
	 * one comes again). The destination port first: a masquerade shares
	 * its ports among the flows to one remote address and port, and a
	 * flood of flows to one would measure the port search. */
	if (source_unique) {
		__u32 n = source_sent++;

		port = (__u16 *)((__u8 *)data + ETH_HLEN + 20);
		sum = (__u16 *)((__u8 *)data + UDP_CSUM_OFF);
		old = port[0];
		new = bpf_htons(1024 + n / 65535);
		port[0] = new;
		*sum = sg_csum_replace2(*sum, old, new);
		old = port[1];
		new = bpf_htons(1 + n % 65535);
		port[1] = new;
		*sum = sg_csum_replace2(*sum, old, new);
	}
	return bpf_redirect(source_ifindex, 0);
}

/* Counts and drops the IPv4 UDP frames; ARP and the rest go on to the
 * stack, so the gateway can resolve this host's MAC. */
SEC("xdp")
int bench_sink(struct xdp_md *x)
{
	__u8 *data = (void *)(long)x->data;

	if (data + ETH_HLEN + 20 > (__u8 *)(long)x->data_end ||
	    data[12] != 0x08 || data[13] != 0x00 || data[ETH_HLEN + 9] != 17)
		return XDP_PASS;
	__sync_fetch_and_add(&sink_packets, 1);
	return XDP_DROP;
}

/*
 * The least a masquerading XDP forwarder does, with nothing looked up:
 * new source address, or destination for replies (IP and UDP checksums),
 * TTL, MACs, redirect.
 */
SEC("xdp")
int bench_bare(struct xdp_md *x)
{
	__u8 *data = (void *)(long)x->data;
	__u16 *ip_csum, *udp_csum, *ttl_word, ttl_before;
	__u32 *addr, old;

	if (data + ETH_HLEN + 28 > (__u8 *)(long)x->data_end)
		return XDP_PASS;
	ip_csum = (__u16 *)(data + IP_CSUM_OFF);
	udp_csum = (__u16 *)(data + UDP_CSUM_OFF);
	addr = (__u32 *)(data + (bare_dst ? IP_DADDR_OFF : IP_SADDR_OFF));
	old = *addr;
	*ip_csum = sg_csum_replace4(*ip_csum, old, bare_addr);
	if (*udp_csum)
		*udp_csum = sg_csum_replace4(*udp_csum, old, bare_addr);
	*addr = bare_addr;
	ttl_word = (__u16 *)(data + IP_TTL_OFF);
	ttl_before = *ttl_word;
	data[IP_TTL_OFF]--;
	*ip_csum = sg_csum_replace2(*ip_csum, ttl_before, *ttl_word);
	for (int i = 0; i < 12; i++)
		data[i] = bare_macs[i];
	return bpf_redirect(bare_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
