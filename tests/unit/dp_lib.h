/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The harness of the BPF_PROG_TEST_RUN tests: a private network namespace
 * with veth devices s1..s6, up0 and t0 (trusted), the programs loaded unpinned, their
 * maps filled by the loader's own compiler, and a packet builder.
 */
#ifndef DP_LIB_H
#define DP_LIB_H

#include <stdbool.h>
#include <stdint.h>

#include "instance.h"

#define DP_FIXTURE "tests/fixtures/dataplane.yaml"

#define XDP_DROP_V 1
#define XDP_PASS_V 2
#define TC_OK_V 0
#define TC_SHOT_V 2
#define TC_REDIRECT_V 7

enum frame_kind { F_IPV4 = 0, F_ARP, F_IPV6_TCP, F_IPV6_NS, F_VLAN, F_LLDP };

struct pkt {
	enum frame_kind kind;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;	/* ICMP: sport is the echo id */
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t ihl;		/* 0: 5 */
	uint8_t version;	/* 0: 4 */
	uint8_t ttl;		/* 0: 64 */
	bool no_udp_csum;	/* UDP checksum 0 ("none") */
	int tot_len_adj;	/* added to the true total length */
	uint16_t frag;		/* frag_off field, host order */
	int l4_len;		/* > 0: the L4 part is only this long */
	int pad;		/* bytes after the IP packet (Ethernet padding) */
	int cut;		/* > 0: the frame ends after this many bytes */
	/* ICMP errors (icmp_type 3, 11, 12): the offending packet, of
	 * which the IP header and inner_l4 bytes are embedded. */
	const struct pkt *inner;
	int inner_l4;
	uint8_t icmp_code;
};

#define SYN 0x02
#define ACK 0x10
#define TCP(s, sp, d, dp, fl) \
	{ .src = s, .dst = d, .proto = 6, .sport = sp, .dport = dp, .tcp_flags = fl }
#define UDP(s, sp, d, dp) \
	{ .src = s, .dst = d, .proto = 17, .sport = sp, .dport = dp }
#define PING(s, d, id) \
	{ .src = s, .dst = d, .proto = 1, .icmp_type = 8, .sport = id }
#define PONG(s, d, id) \
	{ .src = s, .dst = d, .proto = 1, .icmp_type = 0, .sport = id }
/* An ICMP error from s to d about packet *about, embedding l4 bytes of
 * its L4 header. */
#define ICMP_ERR(s, d, type, code, about, l4) \
	{ .src = s, .dst = d, .proto = 1, .icmp_type = type, \
	  .icmp_code = code, .inner = about, .inner_l4 = l4 }

extern struct sg_instance dp_in;

/* Namespace, devices, programs (flow table of max_flows), DP_FIXTURE.
 * Returns 0, 1 when the tests must be skipped (not root), -1 on error. */
int dp_setup(uint32_t max_flows);
/*
 * Give the namespace what a gateway has, for the XDP fast path: forwarding
 * on, addresses on s1, s2 and s4, a default route via 192.0.2.254 whose
 * MAC (DP_REMOTE_MAC) is a permanent neighbour, a route to 198.51.100.0/24
 * via a neighbour never resolved, and GRO on the far ends of up0 and s1
 * (so the kernel says they take XDP frames; s2's does not). Reloads the
 * fixture. Fills in up0's MAC.
 */
#define DP_REMOTE_MAC "02:00:00:00:fe:01"
int dp_setup_gateway(uint8_t *up0_mac);

/* Apply definitions (inline text, or DP_FIXTURE for NULL) into the
 * inactive slot and flip to it. */
int dp_load_definitions(const char *text);

/* Build the frame; returns its length. Checksums are correct. */
int dp_build(const struct pkt *p, uint8_t *b);
uint16_t dp_csum(const uint8_t *p, int len);
/* Fill the L4 payload of a built IPv4 frame (after `hdrs` bytes of L4
 * header) with a pattern from seed, and sum the L4 checksum again. */
void dp_fill_payload(uint8_t *frame, int hdrs, uint8_t seed);
/* What a sender that offloads its checksum puts in a TCP/UDP frame: the
 * pseudo-header sum, for the device to finish. */
void dp_unfinish_checksum(uint8_t *frame);
/* Do the IP and L4 checksums of this frame verify? */
bool dp_checksums_ok(const uint8_t *frame, int len);
/* Give the IPv4 header of frame total length tot, frag_off (host order)
 * and a right checksum. */
void dp_ip_header_set(uint8_t *frame, int tot, uint16_t frag_off);
/* A UDP datagram of l4 bytes (header and payload) as p says, built
 * whole with a payload and its checksum; returns its length. */
int dp_big_udp(struct pkt *p, int l4, uint8_t *frame);
/*
 * Split a built, unfragmented IPv4 frame in two, as a router would: the
 * first fragment carries `first_l4` bytes of what follows the IP header
 * (a multiple of 8) and says "more fragments", the second the rest at
 * that offset; both get IP id `id` and a right header checksum.
 */
void dp_fragment(const uint8_t *frame, int len, int first_l4, uint16_t id,
		 uint8_t *first, int *first_len, uint8_t *later,
		 int *later_len);
/* Put the two halves back into one unfragmented frame (the first's
 * Ethernet and IP headers); returns its length. */
int dp_reassemble(const uint8_t *first, int first_len, const uint8_t *later,
		  int later_len, uint8_t *frame);

/* One run (repeat = 1) of prog with the packet arriving on dev (and, for
 * tc egress, having come in on ingress_dev, NULL for none). */
int dp_run(enum sg_prog prog, const char *dev, const char *ingress_dev,
	   const uint8_t *data, int len, uint8_t *out, uint32_t *out_len,
	   uint32_t *retval);
/* The same, with the kernel's time for the run in *ns. */
int dp_run_timed(enum sg_prog prog, const char *dev, const char *ingress_dev,
		 const uint8_t *data, int len, uint8_t *out,
		 uint32_t *out_len, uint32_t *retval, uint32_t *ns);

/* One run of prog (as dp_run) over the frame dp_build makes of p: the
 * verdict, or -1 if the run failed. */
int dp_run_pkt(enum sg_prog prog, const char *dev, const char *ingress_dev,
	       const struct pkt *p, uint8_t *out, uint32_t *out_len);
/* Is the frame got, from the IP header on, exactly p's with its TTL
 * lowered by hops? */
bool dp_sent_as(const struct pkt *p, int hops, const uint8_t *got,
		uint32_t got_len);
/* sg_counters drops[reason] of the sector's entry, summed over CPUs. */
__u64 dp_drops(__u32 sector, int reason);
/* Is dev up with carrier (IFF_RUNNING, which the kernel sets a moment
 * after the link comes up: the compiler takes only such a device for an
 * egress policy's usable one)? */
bool dp_link_running(const char *dev);
/*
 * An egress device as a veth dev with addr/30, a permanent neighbour gw
 * (MAC mac) and a default route through it at metric, which loses to
 * up0's: the FIB lookup through the device finds it, the kernel's own
 * routing never takes it. Waits for its carrier. 0 or -1.
 */
int dp_add_egress_device(const char *dev, const char *addr, const char *gw,
			 const char *mac, int metric);

/* The TCP/UDP source port of an IPv4 frame. */
uint16_t dp_sport(const uint8_t *frame);
/* Is got exactly want? If not, both are printed. */
bool dp_same_frame(const uint8_t *want, int want_len, const uint8_t *got,
		   uint32_t got_len);

void dp_counters(__u32 sector, struct sg_counters *sum);
/*
 * Empty the flow table, and the sectors' flow counts with it (what `run`'s
 * recount would find), for the first DP_SECTORS indexes.
 */
#define DP_SECTORS 16
void dp_flush_flows(void);
/* The sector's index in sg_counters and sg_sector_flows (0: none). */
__u32 dp_sector_counters(__u32 sector);
/* What `run` does every few seconds (sg_flows_gc on all of its maps), at
 * now_ns with grace_ns: the entries removed, or -errno. */
int dp_collect(uint64_t now_ns, uint64_t grace_ns);
/* A flow key (addresses as text), and the entry under it if there is one. */
struct sg_flow_key dp_flow_key(const char *src, uint16_t sport,
			       const char *dst, uint16_t dport, uint8_t proto,
			       uint16_t zone);
bool dp_flow_of(const char *src, uint16_t sport, const char *dst,
		uint16_t dport, uint8_t proto, uint16_t zone, struct sg_flow *f);
/* Write tag into the entry under k (kept.key_tag; 0: as written before
 * tags); or, taken, another key's tag: as if another CPU had deleted it
 * and written another flow into its place. */
bool dp_flow_set_tag(const struct sg_flow_key *k, __u16 tag);
bool dp_flow_taken(const struct sg_flow_key *k);
void dp_dump_packet(const uint8_t *b, int len);

#endif /* DP_LIB_H */
