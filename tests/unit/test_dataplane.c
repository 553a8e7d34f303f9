// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The dataplane through BPF_PROG_TEST_RUN (repeat = 1), XDP and tc entry
 * alike: packet in -> verdict, bytes out (never rewritten here), counter
 * deltas. The maps are filled by the loader's own compiler from
 * tests/fixtures/dataplane.yaml, in a private network namespace whose
 * veth devices give the programs real ingress ifindexes.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "flows.h"
#include "dp_lib.h"
#include "sectorgate.skel.h"
#include "sg_test.h"
#include "util.h"

#define MAX_FLOWS 64

struct dp_case {
	const char *name;
	const char *dev;
	struct pkt p;
	int drop;		/* enum sg_drop_reason; SG_PASS passes */
	/* The kernel's skb test run refuses IPv4 frames shorter than an IP
	 * header (-EINVAL), so these go through the XDP entry only; the tc
	 * entry runs the same parser. */
	bool xdp_only;
};

/* What the ICMP errors between sectors below are about. */
static const struct pkt udp_1_to_3 = UDP("10.1.0.2", 1000, "10.3.0.2", 9999);
static const struct pkt udp_1_to_3_no_flow =
	UDP("10.1.0.2", 1001, "10.3.0.2", 9999);
static const struct pkt synack_2_to_1 =
	TCP("10.2.0.2", 5432, "10.1.0.2", 40000, SYN | ACK);

static const struct dp_case cases[] = {
	/* The gateway itself (SPEC 3.3) and link-level traffic. */
	{ "ARP passes", "s1", { .kind = F_ARP }, SG_PASS },
	{ "DNS to the gateway passes", "s1",
	  UDP("10.1.0.2", 5353, "10.1.0.1", 53), SG_PASS },
	{ "ping of the gateway passes", "s1",
	  PING("10.1.0.2", "10.1.0.1", 1), SG_PASS },
	{ "DHCP discovery from 0.0.0.0 passes", "s1",
	  UDP("0.0.0.0", 68, "255.255.255.255", 67), SG_PASS },
	{ "multicast to the link passes", "s1",
	  UDP("10.1.0.2", 5353, "224.0.0.251", 5353), SG_PASS },
	/* Anti-spoofing (3.2). */
	{ "0.0.0.0 other than DHCP is spoofed", "s1",
	  TCP("0.0.0.0", 1000, "10.2.0.2", 5432, SYN), SG_DROP_SPOOFED_SOURCE },
	/* A client without an address broadcasts (RFC 2131 4.1): from
	 * 0.0.0.0 to port 67 of anything else is no discovery. */
	{ "0.0.0.0 to another sector's port 67 is spoofed", "s1",
	  UDP("0.0.0.0", 68, "10.2.0.2", 67), SG_DROP_SPOOFED_SOURCE },
	{ "0.0.0.0 to the internet's port 67 is spoofed", "s1",
	  UDP("0.0.0.0", 68, "192.0.2.2", 67), SG_DROP_SPOOFED_SOURCE },
	{ "0.0.0.0 to the gateway's port 67 is spoofed", "s1",
	  UDP("0.0.0.0", 68, "10.1.0.1", 67), SG_DROP_SPOOFED_SOURCE },
	{ "foreign source is spoofed", "s1",
	  UDP("10.9.9.9", 1000, "10.1.0.1", 53), SG_DROP_SPOOFED_SOURCE },
	{ "another sector's source is spoofed", "s1",
	  UDP("10.2.0.5", 1000, "10.2.0.2", 53), SG_DROP_SPOOFED_SOURCE },
	/* Isolation with allow exceptions (3.1). */
	{ "UDP to another sector is dropped", "s1",
	  UDP("10.1.0.2", 1000, "10.2.0.2", 53), SG_DROP_INTER_SECTOR },
	{ "allowed TCP port opens a flow", "s1",
	  TCP("10.1.0.2", 40000, "10.2.0.2", 5432, SYN), SG_PASS },
	{ "reply of the allowed flow passes", "s2",
	  TCP("10.2.0.2", 5432, "10.1.0.2", 40000, SYN | ACK), SG_PASS },
	{ "the flow goes on", "s1",
	  TCP("10.1.0.2", 40000, "10.2.0.2", 5432, ACK), SG_PASS },
	{ "the other way round is no reply", "s2",
	  TCP("10.2.0.2", 40001, "10.1.0.2", 22, SYN), SG_DROP_INTER_SECTOR },
	{ "a port that is not allowed", "s1",
	  TCP("10.1.0.2", 40002, "10.2.0.2", 22, SYN), SG_DROP_INTER_SECTOR },
	{ "inside an allowed range", "s1",
	  TCP("10.1.0.2", 40003, "10.2.0.2", 8050, SYN), SG_PASS },
	{ "just past an allowed range", "s1",
	  TCP("10.1.0.2", 40004, "10.2.0.2", 8101, SYN), SG_DROP_INTER_SECTOR },
	{ "allowed port, wrong protocol", "s1",
	  UDP("10.1.0.2", 40005, "10.2.0.2", 5432), SG_DROP_INTER_SECTOR },
	{ "allowed ping", "s1", PING("10.1.0.2", "10.3.0.2", 7), SG_PASS },
	{ "its echo reply passes", "s3", PONG("10.3.0.2", "10.1.0.2", 7),
	  SG_PASS },
	{ "a ping back is not allowed", "s3", PING("10.3.0.2", "10.1.0.2", 7),
	  SG_DROP_INTER_SECTOR },
	{ "UDP allowed on every port", "s1",
	  UDP("10.1.0.2", 1000, "10.3.0.2", 9999), SG_PASS },
	{ "port unreachable for the allowed UDP flow passes back", "s3",
	  { .src = "10.3.0.2", .dst = "10.1.0.2", .proto = 1, .icmp_type = 3,
	    .icmp_code = 3, .inner = &udp_1_to_3, .inner_l4 = 8 }, SG_PASS },
	{ "one about no flow is inter-sector", "s3",
	  { .src = "10.3.0.2", .dst = "10.1.0.2", .proto = 1, .icmp_type = 3,
	    .icmp_code = 3, .inner = &udp_1_to_3_no_flow, .inner_l4 = 8 },
	  SG_DROP_INTER_SECTOR },
	{ "an error about the allowed TCP flow's reply passes", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 1, .icmp_type = 3,
	    .icmp_code = 1, .inner = &synack_2_to_1, .inner_l4 = 8 }, SG_PASS },
	{ "no allow between vm3 and vm2", "s3",
	  UDP("10.3.0.2", 1000, "10.2.0.2", 53), SG_DROP_INTER_SECTOR },
	/* Protected destinations (3.3) and the internet (3.4). */
	{ "management LAN is protected", "s1",
	  TCP("10.1.0.2", 1000, "192.168.1.5", 22, SYN),
	  SG_DROP_PROTECTED_DEST },
	{ "internet from an internet sector passes", "s1",
	  TCP("10.1.0.2", 1000, "203.0.113.5", 443, SYN), SG_PASS },
	{ "internet: false drops", "s3",
	  TCP("10.3.0.2", 1000, "203.0.113.5", 443, SYN), SG_DROP_NO_INTERNET },
	/* The metadata service (3.7): no sector has imds: true. */
	{ "the metadata service is imds-denied", "s1",
	  TCP("10.1.0.2", 1000, "169.254.169.254", 80, SYN),
	  SG_DROP_IMDS_DENIED },
	{ "on every port and protocol", "s1",
	  UDP("10.1.0.2", 1000, "169.254.169.254", 53), SG_DROP_IMDS_DENIED },
	{ "also from a sector without internet", "s3",
	  TCP("10.3.0.2", 1000, "169.254.169.254", 80, SYN),
	  SG_DROP_IMDS_DENIED },
	{ "its neighbours are internet", "s1",
	  TCP("10.1.0.2", 1000, "169.254.169.253", 80, SYN), SG_PASS },
	/* Overlapping sectors (3.6). */
	{ "overlapping sector reaches its gateway", "s4",
	  UDP("10.4.0.2", 1000, "10.4.0.1", 53), SG_PASS },
	{ "overlapping sector reaches out", "s5",
	  UDP("10.4.0.2", 1000, "198.51.100.7", 53), SG_PASS },
	{ "overlapping sector is isolated", "s4",
	  UDP("10.4.0.2", 1000, "10.1.0.2", 53), SG_DROP_INTER_SECTOR },
	{ "a shared CIDR is another sector", "s1",
	  UDP("10.1.0.2", 1000, "10.4.0.2", 53), SG_DROP_INTER_SECTOR },
	/* IPv6 and L2 (3.12). */
	{ "IPv6 TCP is dropped", "s1", { .kind = F_IPV6_TCP }, SG_DROP_IPV6 },
	{ "IPv6 neighbour solicitation passes", "s1", { .kind = F_IPV6_NS },
	  SG_PASS },
	{ "VLAN-tagged frame is dropped", "s1", { .kind = F_VLAN },
	  SG_DROP_UNSUPPORTED_L2 },
	{ "unknown EtherType is dropped", "s1", { .kind = F_LLDP },
	  SG_DROP_UNSUPPORTED_L2 },
	/* Malformed input (3.12): dropped, never rewritten. */
	{ "Ethernet header only", "s1", { .cut = 14 }, SG_DROP_MALFORMED,
	  .xdp_only = true },
	{ "truncated IPv4 header", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .cut = 24 },
	  SG_DROP_MALFORMED, .xdp_only = true },
	{ "IHL below 5", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .ihl = 4 },
	  SG_DROP_MALFORMED },
	{ "IP version 6 in an IPv4 frame", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .version = 6 },
	  SG_DROP_MALFORMED },
	{ "total length beyond the frame", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
	    .tot_len_adj = 20 }, SG_DROP_MALFORMED },
	{ "total length below the header", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
	    .tot_len_adj = -13 }, SG_DROP_MALFORMED },
	{ "options beyond the frame", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .ihl = 15,
	    .cut = 50 }, SG_DROP_MALFORMED },
	{ "Ethernet padding after the packet is fine", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .dport = 53,
	    .pad = 20 }, SG_PASS },
	{ "IP options: ports read after them (allowed)", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .sport = 41000,
	    .dport = 5432, .tcp_flags = SYN, .ihl = 7 }, SG_PASS },
	{ "IP options: ports read after them (denied)", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .sport = 41001,
	    .dport = 22, .tcp_flags = SYN, .ihl = 7 }, SG_DROP_INTER_SECTOR },
	{ "truncated TCP header", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .dport = 5432,
	    .l4_len = 10 }, SG_DROP_MALFORMED },
	{ "truncated UDP header", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .l4_len = 6 },
	  SG_DROP_MALFORMED },
	{ "truncated ICMP header", "s1",
	  { .src = "10.1.0.2", .dst = "10.3.0.2", .proto = 1, .icmp_type = 8,
	    .l4_len = 4 }, SG_DROP_MALFORMED },
	/* Fragments: no ports after the first, so only the rest of a
	 * datagram whose first was let through can pass
	 * (test_fragments_between_sectors). */
	{ "later fragment between allowed sectors, without its first", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .frag = 100,
	    .l4_len = 20 }, SG_DROP_FRAGMENT },
	{ "first fragment between allowed sectors, to an allowed port", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .dport = 5432,
	    .tcp_flags = SYN, .frag = 0x2000 }, SG_PASS },
	{ "first fragment between allowed sectors, to another port", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .dport = 22,
	    .tcp_flags = SYN, .frag = 0x2000 }, SG_DROP_INTER_SECTOR },
	{ "fragment between isolated sectors", "s3",
	  { .src = "10.3.0.2", .dst = "10.2.0.2", .proto = 17, .frag = 100,
	    .l4_len = 8 }, SG_DROP_INTER_SECTOR },
	{ "fragment to the gateway passes", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .frag = 100,
	    .l4_len = 8 }, SG_PASS },
	/* 8189 * 8 + 24 bytes: one past 65,535 (an acceptance probe's). */
	{ "a fragment ending past 64 KiB is malformed", "s1",
	  { .src = "10.1.0.2", .dst = "203.0.113.5", .proto = 17,
	    .frag = 8189, .l4_len = 24 }, SG_DROP_MALFORMED },
	{ "one ending at 65,535 is a fragment", "s1",
	  { .src = "10.1.0.2", .dst = "203.0.113.5", .proto = 17,
	    .frag = 8189, .l4_len = 23 }, SG_PASS },
	/* Not a sector device of ours. */
	{ "unknown device is left alone", "s6",
	  UDP("10.9.0.2", 1000, "10.2.0.2", 53), SG_PASS },
};

static __u32 sector_of_dev(const char *dev)
{
	/* The fixture's sectors vm1..vm5 sit on s1..s5. */
	return dev[1] >= '1' && dev[1] <= '5' ? dev[1] - '0' : 0;
}

/* One packet through one hook: verdict, bytes, counter deltas. */
static void check_packet(enum sg_prog prog, const char *dev,
			 const uint8_t *data, int len, int want_drop)
{
	bool xdp = prog == SG_PROG_XDP_SECTOR;
	__u32 sector = sector_of_dev(dev), out_len, retval;
	struct sg_counters before, after;
	uint8_t out[2048];
	__u64 drops = 0;
	int ret;

	dp_counters(sector, &before);
	ret = dp_run(prog, dev, NULL, data, len, out, &out_len, &retval);
	dp_counters(sector, &after);

	CHECK(ret == 0, "%s: test run failed: %s", xdp ? "xdp" : "tc",
	      strerror(errno));
	if (want_drop)
		CHECK(retval == (xdp ? XDP_DROP_V : TC_SHOT_V),
		      "%s: verdict %u, want drop (%s)", xdp ? "xdp" : "tc",
		      retval, sg_drop_name(want_drop));
	else
		CHECK(retval == (xdp ? XDP_PASS_V : TC_OK_V),
		      "%s: verdict %u, want pass", xdp ? "xdp" : "tc", retval);
	CHECK(out_len == (__u32)len && !memcmp(out, data, len),
	      "%s: the packet was changed", xdp ? "xdp" : "tc");
	if (sector) {
		CHECK(after.rx_packets == before.rx_packets + 1 &&
		      after.rx_bytes == before.rx_bytes + len,
		      "%s: rx counters %llu -> %llu", xdp ? "xdp" : "tc",
		      before.rx_packets, after.rx_packets);
		for (int r = 1; r < SG_DROP_MAX; r++)
			drops += after.drops[r] - before.drops[r];
		CHECK(drops == (want_drop ? 1 : 0), "%s: %llu drops counted",
		      xdp ? "xdp" : "tc", drops);
		if (want_drop)
			CHECK(after.drops[want_drop] ==
			      before.drops[want_drop] + 1,
			      "%s: not counted as %s", xdp ? "xdp" : "tc",
			      sg_drop_name(want_drop));
	} else {
		CHECK(!memcmp(&before, &after, sizeof(before)),
		      "counters moved for a device that is not ours");
	}
	if (sg_t_bad)
		dp_dump_packet(data, len);
}

static void test_case(const struct dp_case *c)
{
	uint8_t pkt[2048];
	int len = dp_build(&c->p, pkt);

	test_begin();
	check_packet(SG_PROG_XDP_SECTOR, c->dev, pkt, len, c->drop);
	if (!c->xdp_only)
		check_packet(SG_PROG_TC_SECTOR_IN, c->dev, pkt, len, c->drop);
	test_end(c->name);
}


/*
 * A UDP datagram in two fragments between sectors that allow it, both
 * ways, at both hooks: the first is judged by its ports (the allow
 * rule, the reply of its flow), the second follows it. A second after the
 * last has passed, or when the first was refused (UDP to vm2, which vm1 may reach
 * over TCP only), the rest is a fragment without its first: `fragment`.
 */
static void test_fragments_between_sectors(void)
{
	struct pkt q = UDP("10.1.0.2", 1500, "10.3.0.2", 9999);
	struct pkt a = UDP("10.3.0.2", 9999, "10.1.0.2", 1500);
	struct pkt refused = UDP("10.1.0.2", 1500, "10.2.0.2", 5432);
	uint8_t d[2048], f1[2048], f2[2048];
	int len, l1, l2;

	dp_flush_flows();
	test_begin();
	for (int xdp = 0; xdp < 2; xdp++) {
		enum sg_prog prog = xdp ? SG_PROG_XDP_SECTOR :
					  SG_PROG_TC_SECTOR_IN;

		len = dp_big_udp(&q, 1208, d);
		dp_fragment(d, len, 800, 0x2222 + xdp, f1, &l1, f2, &l2);
		check_packet(prog, "s1", f1, l1, SG_PASS);
		check_packet(prog, "s1", f2, l2, SG_PASS);
		dp_in.skel->bss->sg_clock_offset_ns += 1100 * 1000000ULL;
		check_packet(prog, "s1", f2, l2, SG_DROP_FRAGMENT);
		/* The rest of one whose first was refused. */
		len = dp_big_udp(&refused, 1208, d);
		dp_fragment(d, len, 800, 0x2300 + xdp, f1, &l1, f2, &l2);
		check_packet(prog, "s1", f1, l1, SG_DROP_INTER_SECTOR);
		check_packet(prog, "s1", f2, l2, SG_DROP_FRAGMENT);

		len = dp_big_udp(&a, 1208, d);
		dp_fragment(d, len, 800, 0x2400 + xdp, f1, &l1, f2, &l2);
		check_packet(prog, "s3", f1, l1, SG_PASS);
		check_packet(prog, "s3", f2, l2, SG_PASS);
	}
	test_end("fragments between sectors: the rest of an allowed datagram "
		 "follows its first, both ways, at XDP and tc");
}

static void test_tx_counter(void)
{
	struct sg_counters before, after;
	uint8_t pkt[2048], out[2048];
	struct pkt p = UDP("10.1.0.1", 53, "10.2.0.2", 5353);
	__u32 out_len, retval;
	int len = dp_build(&p, pkt);

	test_begin();
	dp_counters(2, &before);
	CHECK(dp_run(SG_PROG_TC_SECTOR_OUT, "s2", NULL, pkt, len, out, &out_len,
		       &retval) == 0, "test run");
	dp_counters(2, &after);
	CHECK(retval == TC_OK_V, "egress never drops");
	CHECK(after.tx_packets == before.tx_packets + 1 &&
	      after.tx_bytes == before.tx_bytes + len, "tx counted");
	test_end("tc egress counts what the host sends into a sector");
}

/*
 * A sector's counters go on through applies; a sector that is new starts
 * from zero even where it takes the entry of one that was removed.
 */
static void test_counters_across_applies(void)
{
	static const char vm2_replaced[] =
		"version: 1\nhost: {uplinks: [{interface: up0}]}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n"
		"  - {name: vm9, id: 9, cidrs: [10.9.0.0/24], interfaces: [s2]}\n";
	struct pkt p = UDP("10.1.0.1", 53, "10.2.0.2", 5353);
	struct sg_counters vm1_before, vm1, vm9, vm2;
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval;
	int len = dp_build(&p, pkt);

	test_begin();
	/* vm2 has counts: the tx above and this one. */
	dp_run(SG_PROG_TC_SECTOR_OUT, "s2", NULL, pkt, len, out, &out_len,
	       &retval);
	dp_counters(1, &vm1_before);
	CHECK(dp_load_definitions(vm2_replaced) == 0, "apply without vm2");
	dp_counters(1, &vm1);
	dp_counters(9, &vm9);
	CHECK(!memcmp(&vm1, &vm1_before, sizeof(vm1)),
	      "vm1's counters go on through the apply");
	CHECK(vm9.tx_packets == 0 && vm9.rx_packets == 0,
	      "vm9, new, starts from zero (%llu tx)", vm9.tx_packets);
	CHECK(dp_load_definitions(NULL) == 0, "apply the fixture again");
	dp_counters(2, &vm2);
	CHECK(vm2.tx_packets == 0, "vm2, back, starts from zero (%llu tx)",
	      vm2.tx_packets);
	test_end("counters go on through applies; new sectors start from zero");
}

/*
 * SPEC 3.13: a new definition set replaces the old at once, and a flow the
 * new set no longer allows stops, its replies included.
 */
static void test_apply_flip(void)
{
	static const char no_allow[] =
		"version: 1\nhost: {uplinks: [{interface: up0}]}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n"
		"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";
	struct pkt syn = TCP("10.1.0.2", 42000, "10.2.0.2", 5432, SYN);
	struct pkt reply = TCP("10.2.0.2", 5432, "10.1.0.2", 42000, SYN | ACK);
	uint8_t a[2048], b[2048];
	int alen = dp_build(&syn, a), blen = dp_build(&reply, b);

	test_begin();
	check_packet(SG_PROG_XDP_SECTOR, "s1", a, alen, SG_PASS);
	check_packet(SG_PROG_XDP_SECTOR, "s2", b, blen, SG_PASS);

	CHECK(dp_load_definitions(no_allow) == 0, "apply without allow");
	check_packet(SG_PROG_XDP_SECTOR, "s1", a, alen, SG_DROP_INTER_SECTOR);
	check_packet(SG_PROG_TC_SECTOR_IN, "s2", b, blen,
		     SG_DROP_INTER_SECTOR);

	CHECK(dp_load_definitions(NULL) == 0, "apply the fixture again");
	check_packet(SG_PROG_TC_SECTOR_IN, "s2", b, blen, SG_PASS);
	test_end("apply switches definitions at once; disallowed flows stop");
}

/*
 * An ICMP error about an allowed flow passes only while the definitions
 * still allow that flow: vm1 -> vm2 tcp/5432, then an apply that leaves
 * the pair an allow of another port.
 */
static void test_error_after_flip(void)
{
	static const char narrower[] =
		"version: 1\nhost: {uplinks: [{interface: up0}]}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1], "
		"allow: [{sector: vm2, proto: tcp, ports: [8080]}]}\n"
		"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";
	static const struct pkt syn =
		TCP("10.1.0.2", 42100, "10.2.0.2", 5432, SYN);
	const struct pkt err = { .src = "10.2.0.2", .dst = "10.1.0.2",
		.proto = 1, .icmp_type = 3, .icmp_code = 1, .inner = &syn,
		.inner_l4 = 8 };
	uint8_t a[2048], b[2048];
	int alen = dp_build(&syn, a), blen = dp_build(&err, b);

	test_begin();
	check_packet(SG_PROG_XDP_SECTOR, "s1", a, alen, SG_PASS);
	check_packet(SG_PROG_TC_SECTOR_IN, "s2", b, blen, SG_PASS);
	CHECK(dp_load_definitions(narrower) == 0, "apply tcp/8080 only");
	check_packet(SG_PROG_TC_SECTOR_IN, "s2", b, blen,
		     SG_DROP_INTER_SECTOR);
	CHECK(dp_load_definitions(NULL) == 0, "apply the fixture again");
	check_packet(SG_PROG_XDP_SECTOR, "s2", b, blen, SG_PASS);
	test_end("an ICMP error about an allowed flow stops with its allow");
}

/* vm1 opens a TCP connection to vm2:5432 from port; answered: vm2's
 * SYN-ACK too. The XDP verdict of vm1's SYN. */
static __u32 open_flow(int port, bool answered)
{
	struct pkt syn = TCP("10.1.0.2", port, "10.2.0.2", 5432, SYN);
	struct pkt ack = TCP("10.2.0.2", 5432, "10.1.0.2", port, SYN | ACK);
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval = 0, r;
	int len = dp_build(&syn, pkt);

	dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, pkt, len, out, &out_len,
	       &retval);
	if (answered && retval == XDP_PASS_V) {
		len = dp_build(&ack, pkt);
		dp_run(SG_PROG_TC_SECTOR_IN, "s2", NULL, pkt, len, out,
		       &out_len, &r);
	}
	return retval;
}

static bool has_flow(int port)
{
	struct sg_flow f;

	return dp_flow_of("10.1.0.2", port, "10.2.0.2", 5432, 6, 1, &f);
}

/* The flows of sector id's evicted unanswered for room (stats'
 * flows_evicted). */
static __u64 flows_evicted(__u32 sector)
{
	struct sg_counters c;

	dp_counters(sector, &c);
	return c.flows_evicted;
}

/* Empty the flow table, leaving the counts to `run`'s recount. */
static void flush_flows(void)
{
	struct sg_flow_key k;

	while (!bpf_map_get_next_key(dp_in.fds.flows, NULL, &k))
		bpf_map_delete_elem(dp_in.fds.flows, &k);
	CHECK(!dp_collect(0, 0), "recount");
}

/*
 * A full flow table (SPEC 3.11) makes room from the unanswered flows of
 * the sector that holds the most, never from answered ones; full of
 * answered flows, it drops new ones (conntrack-full).
 */
static void test_conntrack_full(void)
{
	uint8_t pkt[2048], out_buf[2048];
	int opened = 0, refused = 0, len;

	test_begin();
	flush_flows();
	CHECK(open_flow(30000, true) == XDP_PASS_V, "the first flow");
	for (int port = 30001; port < 30001 + 4 * MAX_FLOWS; port++)
		opened += open_flow(port, false) == XDP_PASS_V;
	CHECK(opened == 4 * MAX_FLOWS, "a flood of %d unanswered flows: %d "
	      "opened", 4 * MAX_FLOWS, opened);
	CHECK(sg_map_count(dp_in.fds.flows, sizeof(struct sg_flow_key)) <=
	      2 * MAX_FLOWS, "entries beyond capacity");
	CHECK(has_flow(30000), "the answered flow was evicted");
	CHECK(!has_flow(30001), "the oldest unanswered flow is still there");
	CHECK(has_flow(30000 + 4 * MAX_FLOWS), "the newest flow is not there");
	test_end("a full flow table makes room from unanswered flows, not "
		 "answered ones");

	test_begin();
	flush_flows();
	for (int port = 31000; port < 31000 + 2 * MAX_FLOWS && !refused; port++)
		if (open_flow(port, true) != XDP_PASS_V)
			refused = port;
	CHECK(refused, "the table never filled");
	CHECK(has_flow(31000), "an answered flow was evicted");
	if (refused) {
		struct pkt again = TCP("10.1.0.2", refused, "10.2.0.2", 5432,
				       SYN);

		len = dp_build(&again, pkt);
		check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len,
			     SG_DROP_CONNTRACK_FULL);
	}
	test_end("a table full of answered flows drops new ones "
		 "(conntrack-full)");

	/* The flows a sector opened first were answered (half the table:
	 * more than the search looked at before it had a tail), its later
	 * ones were not, and they fill the table: each of the later ones
	 * makes room for another sector's. */
	test_begin();
	flush_flows();
	for (int port = 34000; port < 34000 + MAX_FLOWS; port++)
		CHECK(open_flow(port, port < 34000 + MAX_FLOWS / 2) ==
		      XDP_PASS_V, "vm1's flow %d", port);
	{
		__u64 full = dp_drops(2, SG_DROP_CONNTRACK_FULL);
		int passed = 0;

		for (int port = 35000;
		     port < 35000 + MAX_FLOWS / 2; port++) {
			struct pkt out = UDP("10.2.0.2", port, "203.0.113.5",
					     53);
			__u32 out_len, retval = 0;

			len = dp_build(&out, pkt);
			dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s2", pkt, len,
			       out_buf, &out_len, &retval);
			passed += retval == TC_OK_V;
		}
		CHECK(passed == MAX_FLOWS / 2 &&
		      dp_drops(2, SG_DROP_CONNTRACK_FULL) == full,
		      "%d of vm2's %d new flows passed, %llu conntrack-full",
		      passed, MAX_FLOWS / 2,
		      dp_drops(2, SG_DROP_CONNTRACK_FULL) - full);
		CHECK(has_flow(34000) && has_flow(34000 + MAX_FLOWS / 2 - 1),
		      "an answered flow of vm1's was evicted");
	}
	test_end("a full table makes room from all of the heaviest sector's "
		 "unanswered flows, past its answered ones");

	/* vm1 holds the most, all of them answered; vm4 fills the rest of
	 * the table with flows never answered: they make room for vm2's. */
	test_begin();
	flush_flows();
	for (int port = 39000; port < 39000 + MAX_FLOWS / 2 + 8; port++)
		CHECK(open_flow(port, true) == XDP_PASS_V, "vm1's flow %d",
		      port);
	for (int port = 39000; port < 39000 + MAX_FLOWS; port++) {
		struct pkt out = UDP("10.4.0.2", port, "203.0.113.9", 53);
		__u32 out_len, retval = 0;

		len = dp_build(&out, pkt);
		dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s4", pkt, len, out_buf,
		       &out_len, &retval);
	}
	{
		struct pkt out = UDP("10.2.0.2", 39000, "203.0.113.5", 53);
		struct sg_sector_flows one, four;
		__u32 out_len, retval = 0, i1 = dp_sector_counters(1),
		      i4 = dp_sector_counters(4);
		__u64 evicted1 = flows_evicted(1), evicted4 = flows_evicted(4);

		CHECK(!bpf_map_lookup_elem(dp_in.fds.sector_flows, &i1, &one) &&
		      !bpf_map_lookup_elem(dp_in.fds.sector_flows, &i4, &four) &&
		      one.count > four.count && four.unanswered == four.count &&
		      !one.unanswered, "vm1 holds %u flows (%u unanswered), "
		      "vm4 %u (%u)", one.count, one.unanswered, four.count,
		      four.unanswered);
		len = dp_build(&out, pkt);
		dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s2", pkt, len, out_buf,
		       &out_len, &retval);
		CHECK(retval == TC_OK_V, "vm2's new flow refused");
		for (int port = 39000; port < 39000 + MAX_FLOWS / 2 + 8; port++)
			CHECK(has_flow(port), "vm1's answered flow %d evicted",
			      port);
		CHECK(flows_evicted(4) - evicted4 == 1 &&
		      flows_evicted(1) == evicted1,
		      "evicted: vm4's %llu more, want 1; vm1's %llu more",
		      flows_evicted(4) - evicted4,
		      flows_evicted(1) - evicted1);
	}
	test_end("a full table makes room from the sector with unanswered "
		 "flows, not the one holding the most if all of its are "
		 "answered");
	flush_flows();
}

/* vm1 and vm2, each allowed TCP to the other, 8 flows a sector. */
static const char *const quota_defs =
	"version: 1\n"
	"host:\n"
	"  uplinks: [{interface: up0}]\n"
	"  conntrack: {max-flows-per-sector: 8}\n"
	"sectors:\n"
	"  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [s1]\n"
	"    allow: [{sector: vm2, proto: tcp}]\n"
	"  - name: vm2\n    cidrs: [10.2.0.0/24]\n    interfaces: [s2]\n"
	"    allow: [{sector: vm1, proto: tcp}]\n";

/*
 * vm1's flow from port ended and was collected: both of its entries gone
 * (what `run` does to a closed flow after its timeout), its count left.
 */
static void end_flow(int port)
{
	struct sg_flow_key k = dp_flow_key("10.1.0.2", port, "10.2.0.2",
					   5432, 6, 1);
	struct sg_flow_key r = dp_flow_key("10.2.0.2", 5432, "10.1.0.2",
					   port, 6, 2);

	bpf_map_delete_elem(dp_in.fds.flows, &k);
	bpf_map_delete_elem(dp_in.fds.flows, &r);
}

/*
 * vm1 opens n unanswered flows from port first on, each a step later on
 * the coarse clock (so that their age orders them), then as many short
 * connections as its ring of recent flows holds, from port churn on,
 * each answered and collected: the first n are older than the ring.
 */
static void open_before_ring(int first, int n, int churn)
{
	for (int port = first; port < first + n; port++) {
		dp_in.skel->bss->sg_clock_offset_ns += 10 * 1000000ULL;
		CHECK(open_flow(port, false) == XDP_PASS_V, "flow %d", port);
	}
	for (int port = churn; port < churn + SG_RECENT_FLOWS; port++) {
		CHECK(open_flow(port, true) == XDP_PASS_V, "flow %d", port);
		end_flow(port);
	}
}

/*
 * Room is made from unanswered flows that a sector opened before its last
 * SG_RECENT_FLOWS (sg_sector_flows.recent no longer holds them), once
 * `run`'s collection has listed them (sg_unanswered): at its quota, and in
 * a full table for another sector. Until then only the ring is searched,
 * and the new flow is refused.
 */
/* Has a search found no room since the last listing (what makes `run`
 * list again at once)? */
static bool room_asked(void)
{
	return sg_flows_room_wanted(dp_in.fds.unanswered_spans);
}

static void test_room_beyond_recent(void)
{
	struct pkt internet = UDP("10.2.0.2", 40100, "203.0.113.5", 53);
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval;
	int port, len, opened = 0;

	/* Four unanswered, then as many short connections as the ring
	 * holds, then four answered that stay: eight, vm1's quota. */
	test_begin();
	flush_flows();
	open_before_ring(36000, 4, 36100);
	for (port = 36004; port < 36008; port++)
		CHECK(open_flow(port, true) == XDP_PASS_V, "flow %d", port);
	CHECK(!dp_load_definitions(quota_defs), "definitions");
	len = dp_build(&(struct pkt)TCP("10.1.0.2", 36008, "10.2.0.2", 5432,
					SYN), pkt);
	/* Nothing listed yet (and the count still has the short ones):
	 * the ring alone has no room, and run is asked to list them now. */
	CHECK(!room_asked(), "room asked for before any search");
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len,
		     SG_DROP_CONNTRACK_FULL);
	CHECK(room_asked(), "a search that found no room did not ask run "
	      "to list the flows again");
	CHECK(dp_collect(0, 0) == 0, "collected");
	CHECK(!room_asked(), "the listing did not answer the ask");
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len, SG_PASS);
	CHECK(!has_flow(36000) && has_flow(36001) && has_flow(36003),
	      "not the oldest unanswered flow evicted");
	for (port = 36004; port < 36008; port++)
		CHECK(has_flow(port), "answered flow %d evicted", port);
	test_end("at its quota, a sector makes room from unanswered flows "
		 "older than the last it opened, once run has listed them");

	/* The table full: vm1's unanswered flows of before its ring make
	 * room for vm2's connection. */
	test_begin();
	CHECK(!dp_load_definitions(NULL), "the fixture again");
	flush_flows();
	open_before_ring(37000, 16, 37100);
	for (port = 38000; port < 38000 + 2 * MAX_FLOWS; port++) {
		if (open_flow(port, true) != XDP_PASS_V)
			break;
		opened++;
	}
	CHECK(opened < 2 * MAX_FLOWS, "the table never filled");
	CHECK(!dp_collect(0, 0), "collected");
	len = dp_build(&internet, pkt);
	dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s2", pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V, "vm2's new flow refused in a full table");
	CHECK(!has_flow(37000) && has_flow(37001),
	      "not vm1's oldest unanswered flow evicted");
	CHECK(has_flow(38000) && has_flow(38000 + opened - 1),
	      "an answered flow of vm1's evicted");
	test_end("a full table makes room from the heaviest sector's unanswered "
		 "flows older than the last it opened, once run has listed "
		 "them");

	/* The hint names a sector with no room left (it moves only as flows
	 * are opened): the first listed sector that has some gives it, and
	 * becomes the hint. */
	test_begin();
	dp_in.skel->bss->sg_heaviest = dp_sector_counters(3);	/* none */
	len = dp_build(&(struct pkt)UDP("10.2.0.2", 40101, "203.0.113.5", 53),
		       pkt);
	dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s2", pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V, "vm2's new flow refused in a full table");
	CHECK(!has_flow(37001), "not vm1's oldest unanswered flow evicted");
	CHECK(dp_in.skel->bss->sg_heaviest == dp_sector_counters(1),
	      "the hint is %u, not vm1's %u", dp_in.skel->bss->sg_heaviest,
	      dp_sector_counters(1));
	test_end("a full table whose hint has no room left takes it from the "
		 "listed sector with the most unanswered flows");

	/* A listed key whose entry is another sector's flow by now (the
	 * list is a walk's of up to 5 s before) is not evicted for room. */
	test_begin();
	CHECK(!dp_load_definitions(quota_defs), "definitions");
	flush_flows();
	for (port = 36500; port < 36508; port++)
		CHECK(open_flow(port, true) == XDP_PASS_V, "flow %d", port);
	len = dp_build(&(struct pkt)TCP("10.2.0.2", 36600, "10.1.0.2", 22,
					SYN), pkt);
	dp_run(SG_PROG_TC_SECTOR_IN, "s2", NULL, pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V, "vm2's flow");
	{
		struct sg_flow_key theirs = dp_flow_key("10.2.0.2", 36600,
							"10.1.0.2", 22, 6, 2);
		__u32 i1 = dp_sector_counters(1), zero = 0;
		struct sg_unanswered_span span = { .start = 0, .len = 1 };
		struct sg_flow f;

		CHECK(!bpf_map_update_elem(dp_in.fds.unanswered, &zero,
					   &theirs, BPF_ANY) &&
		      !bpf_map_update_elem(dp_in.fds.unanswered_spans, &i1,
					   &span, BPF_ANY), "the list");
		len = dp_build(&(struct pkt)TCP("10.1.0.2", 36508, "10.2.0.2",
						5432, SYN), pkt);
		check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len,
			     SG_DROP_CONNTRACK_FULL);
		CHECK(bpf_map_lookup_elem(dp_in.fds.flows, &theirs, &f) == 0,
		      "vm2's flow was evicted for vm1");
	}
	test_end("a listed key now another sector's flow is not evicted for "
		 "room");
	CHECK(!dp_load_definitions(NULL), "the fixture again");
	flush_flows();
}

/*
 * A flow's first answer takes it off its sector's unanswered count once,
 * however many answers follow, and marks it answered for good.
 */
static void test_first_answer(void)
{
	struct pkt ack = TCP("10.2.0.2", 5432, "10.1.0.2", 36000, SYN | ACK);
	struct sg_sector_flows before, after;
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval, idx = dp_sector_counters(1);
	struct sg_flow f;
	int len;

	test_begin();
	flush_flows();
	CHECK(open_flow(36000, false) == XDP_PASS_V, "vm1's flow");
	CHECK(!bpf_map_lookup_elem(dp_in.fds.sector_flows, &idx, &before),
	      "vm1's counts");
	len = dp_build(&ack, pkt);
	for (int i = 0; i < 3; i++) {
		dp_run(SG_PROG_TC_SECTOR_IN, "s2", NULL, pkt, len, out,
		       &out_len, &retval);
		CHECK(retval == TC_OK_V, "answer %d refused", i);
	}
	CHECK(!bpf_map_lookup_elem(dp_in.fds.sector_flows, &idx, &after) &&
	      (__s32)(before.unanswered - after.unanswered) == 1 &&
	      after.count == before.count,
	      "unanswered went from %u to %u over three answers",
	      before.unanswered, after.unanswered);
	CHECK(dp_flow_of("10.1.0.2", 36000, "10.2.0.2", 5432, 6, 1, &f) &&
	      (f.flags & SG_FLOW_ANSWERED), "not marked answered");
	test_end("a flow's first answer is counted once, however many "
		 "follow");

	/* An eviction that claimed the flow first counts it gone: the
	 * answer that came too late takes nothing off. */
	test_begin();
	ack.dport = 36001;
	CHECK(open_flow(36001, false) == XDP_PASS_V, "vm1's flow");
	{
		struct sg_flow_key k = dp_flow_key("10.1.0.2", 36001,
						   "10.2.0.2", 5432, 6, 1);

		CHECK(!bpf_map_lookup_elem(dp_in.fds.flows, &k, &f), "flow");
		f.flags |= SG_FLOW_EVICTING;
		CHECK(!bpf_map_update_elem(dp_in.fds.flows, &k, &f, BPF_EXIST),
		      "claimed");
	}
	CHECK(!bpf_map_lookup_elem(dp_in.fds.sector_flows, &idx, &before),
	      "vm1's counts");
	len = dp_build(&ack, pkt);
	dp_run(SG_PROG_TC_SECTOR_IN, "s2", NULL, pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V && dp_flow_of("10.1.0.2", 36001, "10.2.0.2",
					     5432, 6, 1, &f) &&
	      (f.flags & SG_FLOW_ANSWERED), "the answer passed, marked");
	CHECK(!bpf_map_lookup_elem(dp_in.fds.sector_flows, &idx, &after) &&
	      after.unanswered == before.unanswered,
	      "unanswered went from %u to %u", before.unanswered,
	      after.unanswered);
	test_end("an answer to a flow an eviction claimed first takes "
		 "nothing off its sector's unanswered count");
	flush_flows();
}

/*
 * conntrack.max-flows-per-sector (SPEC 3.11): a sector at its quota makes
 * room from its own oldest unanswered flows; at its quota with answered
 * ones only, its new flow is dropped, and another sector's is not.
 */
static void test_flow_quota(void)
{
	struct pkt other = TCP("10.2.0.2", 40000, "10.1.0.2", 22, SYN);
	struct sg_sector_flows sf;
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval, idx;
	__u64 evicted, evicted2;
	int len;

	test_begin();
	flush_flows();
	CHECK(!dp_load_definitions(quota_defs), "definitions");
	evicted = flows_evicted(1);
	evicted2 = flows_evicted(2);
	for (int port = 32000; port < 32010; port++)
		CHECK(open_flow(port, false) == XDP_PASS_V, "flow %d", port);
	CHECK(!has_flow(32000) && !has_flow(32001) && has_flow(32002) &&
	      has_flow(32009), "not the two oldest evicted for the last two");
	idx = dp_sector_counters(1);
	CHECK(!bpf_map_lookup_elem(dp_in.fds.sector_flows, &idx, &sf) &&
	      sf.count == 8, "vm1 holds %u flows, want 8", sf.count);
	CHECK(flows_evicted(1) - evicted == 2 &&
	      flows_evicted(2) == evicted2,
	      "vm1's flows evicted: %llu, want 2; vm2's %llu",
	      flows_evicted(1) - evicted, flows_evicted(2) - evicted2);
	test_end("a sector at its quota makes room from its own oldest "
		 "unanswered flows, and counts them evicted");

	test_begin();
	flush_flows();
	for (int port = 33000; port < 33008; port++)
		CHECK(open_flow(port, true) == XDP_PASS_V, "flow %d", port);
	evicted = flows_evicted(1);
	{
		struct pkt ninth = TCP("10.1.0.2", 33008, "10.2.0.2", 5432,
				       SYN);

		len = dp_build(&ninth, pkt);
		check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len,
			     SG_DROP_CONNTRACK_FULL);
	}
	CHECK(has_flow(33000) && flows_evicted(1) == evicted,
	      "an answered flow was evicted");
	len = dp_build(&other, pkt);
	dp_run(SG_PROG_TC_SECTOR_IN, "s2", NULL, pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V, "vm2's new connection refused too");
	test_end("at its quota with answered flows, a sector's new flow is "
		 "dropped, not another sector's");
	flush_flows();
	CHECK(!dp_load_definitions(NULL), "the fixture again");
}

/*
 * A trusted device (3.5, 3.9): until allow-from is enforced, nothing from
 * it reaches a sector, and nothing from a sector leaves through it.
 */
static void trusted_run(enum sg_prog prog, const char *ingress,
			const struct pkt *p, __u32 sector, int want_drop,
			const char *what)
{
	struct sg_counters before, after;
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval;
	int len = dp_build(p, pkt);

	dp_counters(sector, &before);
	CHECK(!dp_run(prog, "t0", ingress, pkt, len, out, &out_len, &retval),
	      "%s: test run failed", what);
	dp_counters(sector, &after);
	CHECK(retval == (want_drop ? TC_SHOT_V : TC_OK_V), "%s: verdict %u",
	      what, retval);
	CHECK(out_len == (__u32)len && !memcmp(out, pkt, len),
	      "%s: the packet was changed", what);
	if (want_drop)
		CHECK(after.drops[want_drop] == before.drops[want_drop] + 1,
		      "%s: not counted as %s on sector %u", what,
		      sg_drop_name(want_drop), sector);
	else
		CHECK(!memcmp(&before, &after, sizeof(before)),
		      "%s: counters moved", what);
}

static void test_trusted_device(void)
{
	struct pkt syn = TCP("100.64.0.7", 40000, "10.1.0.2", 22, SYN);
	struct pkt shared = UDP("100.64.0.7", 40000, "10.4.0.2", 53);
	struct pkt host = TCP("100.64.0.7", 40000, "192.0.2.1", 22, SYN);
	struct pkt ping = PING("100.64.0.7", "10.2.0.9", 3);
	struct pkt cut = TCP("100.64.0.7", 40000, "10.1.0.2", 22, SYN);
	struct pkt out = TCP("10.1.0.2", 40000, "100.64.0.7", 22, SYN);
	struct pkt mine = TCP("192.0.2.1", 40000, "100.64.0.7", 22, SYN);

	test_begin();
	trusted_run(SG_PROG_TC_TRUSTED_IN, NULL, &syn, 1, SG_DROP_UNSOLICITED,
		    "a SYN into vm1");
	trusted_run(SG_PROG_TC_TRUSTED_IN, NULL, &ping, 2, SG_DROP_UNSOLICITED,
		    "a ping into vm2");
	/* vm4 and vm5 share 10.4.0.0/24: no sector to count it on. */
	trusted_run(SG_PROG_TC_TRUSTED_IN, NULL, &shared, 0,
		    SG_DROP_UNSOLICITED, "UDP into the overlapping CIDR");
	cut.l4_len = 12;
	trusted_run(SG_PROG_TC_TRUSTED_IN, NULL, &cut, 1, SG_DROP_MALFORMED,
		    "a truncated TCP header into vm1");
	trusted_run(SG_PROG_TC_TRUSTED_IN, NULL, &host, 0, SG_PASS,
		    "to the host itself");
	trusted_run(SG_PROG_TC_TRUSTED_OUT, "s1", &out, 1,
		    SG_DROP_UNTRANSLATABLE, "forwarded out from vm1");
	trusted_run(SG_PROG_TC_TRUSTED_OUT, NULL, &mine, 0, SG_PASS,
		    "the host's own traffic out");
	test_end("a trusted device: nothing in to a sector (unsolicited), "
		 "nothing out from one");
}

/*
 * Fail closed at the edges sectorgate was not told about: internet traffic
 * the kernel would route out of a device that is not an uplink is dropped
 * (untranslatable) rather than sent with the VM's own address, and what
 * the kernel forwards into a sector from such a device is unsolicited.
 */
static void test_unknown_devices(void)
{
	struct pkt to_s6 = UDP("10.1.0.2", 1000, "203.0.113.200", 53);
	struct pkt via_t0 = UDP("10.1.0.2", 1000, "100.64.0.9", 53);
	struct pkt to_up0 = UDP("10.1.0.2", 1000, "203.0.113.5", 53);
	struct pkt in = UDP("203.0.113.200", 53, "10.1.0.2", 1000);
	struct sg_counters before, after;
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval;
	int len;

	test_begin();
	CHECK(!system("sysctl -qw net.ipv4.ip_forward=1 && "
		      "ip route add 203.0.113.128/25 dev s6 && "
		      "ip route add 100.64.0.0/24 dev t0 && "
		      "ip route add 203.0.113.0/25 dev up0"), "routes");
	len = dp_build(&to_s6, pkt);
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len,
		     SG_DROP_UNTRANSLATABLE);
	check_packet(SG_PROG_TC_SECTOR_IN, "s1", pkt, len,
		     SG_DROP_UNTRANSLATABLE);
	len = dp_build(&via_t0, pkt);
	check_packet(SG_PROG_TC_SECTOR_IN, "s1", pkt, len,
		     SG_DROP_UNTRANSLATABLE);
	len = dp_build(&to_up0, pkt);
	check_packet(SG_PROG_TC_SECTOR_IN, "s1", pkt, len, SG_PASS);

	len = dp_build(&in, pkt);
	dp_counters(1, &before);
	dp_run(SG_PROG_TC_SECTOR_OUT, "s1", "s6", pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_SHOT_V, "forwarded in from s6: verdict %u", retval);
	dp_run(SG_PROG_TC_SECTOR_OUT, "s1", "up0", pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V, "forwarded in from up0: verdict %u", retval);
	dp_run(SG_PROG_TC_SECTOR_OUT, "s1", NULL, pkt, len, out, &out_len,
	       &retval);
	CHECK(retval == TC_OK_V, "sent by the host: verdict %u", retval);
	dp_counters(1, &after);
	CHECK(after.drops[SG_DROP_UNSOLICITED] ==
	      before.drops[SG_DROP_UNSOLICITED] + 1 &&
	      after.tx_packets == before.tx_packets + 2,
	      "one unsolicited, two sent");
	system("ip route del 203.0.113.128/25; ip route del 100.64.0.0/24; "
	       "ip route del 203.0.113.0/25");
	test_end("internet traffic routed to a device that is not an uplink "
		 "is dropped; what comes in from one is unsolicited");
}

struct seen_events {
	struct sg_event last;
	int n;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct seen_events *seen = ctx;

	if (size == sizeof(seen->last))
		memcpy(&seen->last, data, size);
	seen->n++;
	return 0;
}

static __u64 events_lost(void)
{
	struct sg_event_budget b[256] = {};
	__u64 lost = 0;
	__u32 zero = 0;
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus > 256 || bpf_map_lookup_elem(dp_in.fds.event_budget, &zero, b))
		return 0;
	for (int i = 0; i < ncpus; i++)
		lost += b[i].lost;
	return lost;
}

/*
 * Every drop goes through one funnel: counted (above) and reported as an
 * event with what `monitor` prints; events are rate-limited per CPU, and
 * what the limit keeps out is counted as lost.
 */
static void test_drop_events(void)
{
	struct pkt cross = PING("10.1.0.2", "10.2.0.7", 9);
	struct pkt spoof = UDP("10.9.0.2", 1000, "203.0.113.5", 53);
	struct pkt frag = { .src = "10.1.0.2", .dst = "203.0.113.5",
			    .proto = 17, .frag = 100, .l4_len = 8 };
	struct pkt short_ihl = { .src = "10.1.0.2", .dst = "203.0.113.5",
				 .proto = 17, .ihl = 4 };
	struct seen_events seen = {};
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval;
	struct ring_buffer *rb;
	struct sg_sector_key k = { .slot = 0, .id = 1 };
	struct sg_sector vm1;
	struct sg_state st;
	cpu_set_t one;
	__u64 lost;
	int len, flood = SG_EVENTS_BURST + 100;

	test_begin();
	/* One CPU, one bucket. */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	rb = ring_buffer__new(dp_in.fds.events, on_event, &seen, NULL);
	CHECK(rb, "cannot open the event ring");
	if (!rb)
		goto out;
	sg_maps_read_state(&dp_in.fds, &st);
	k.slot = st.slot;
	CHECK(!bpf_map_lookup_elem(dp_in.fds.sectors, &k, &vm1), "vm1");
	/* What earlier tests left in the ring, and a full bucket. */
	ring_buffer__consume(rb);
	usleep(300 * 1000);

	seen.n = 0;
	len = dp_build(&cross, pkt);
	dp_run(SG_PROG_TC_SECTOR_IN, "s1", NULL, pkt, len, out, &out_len,
	       &retval);
	ring_buffer__consume(rb);
	CHECK(seen.n == 1, "%d events for one drop", seen.n);
	CHECK(seen.last.reason == SG_DROP_INTER_SECTOR &&
	      seen.last.counters == vm1.counters && seen.last.to_sector == 2 &&
	      seen.last.ifindex == if_nametoindex("s1") &&
	      !seen.last.out_ifindex && seen.last.kind == SG_PKT_IPV4 &&
	      seen.last.proto == IPPROTO_ICMP &&
	      seen.last.saddr == inet_addr("10.1.0.2") &&
	      seen.last.daddr == inet_addr("10.2.0.7") &&
	      seen.last.len == (__u32)len,
	      "event: reason %u counters %u to %u proto %u len %u",
	      seen.last.reason, seen.last.counters, seen.last.to_sector,
	      seen.last.proto, seen.last.len);

	/* Dropped on its way out of an uplink: where it came in, and the
	 * device it was leaving by. */
	seen.n = 0;
	len = dp_build(&frag, pkt);
	dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", pkt, len, out, &out_len,
	       &retval);
	ring_buffer__consume(rb);
	CHECK(seen.n == 1 && seen.last.reason == SG_DROP_FRAGMENT &&
	      seen.last.ifindex == if_nametoindex("s1") &&
	      seen.last.out_ifindex == if_nametoindex("up0") &&
	      seen.last.later_fragment,
	      "%d events; reason %u in %u out %u", seen.n, seen.last.reason,
	      seen.last.ifindex, seen.last.out_ifindex);
	/* Not even its IPv4 header trusted: no kind, no addresses. */
	seen.n = 0;
	len = dp_build(&short_ihl, pkt);
	dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, pkt, len, out, &out_len,
	       &retval);
	ring_buffer__consume(rb);
	CHECK(seen.n == 1 && seen.last.reason == SG_DROP_MALFORMED &&
	      seen.last.kind == SG_PKT_OTHER && !seen.last.saddr,
	      "%d events; reason %u kind %u", seen.n, seen.last.reason,
	      seen.last.kind);

	usleep(300 * 1000);	/* the bucket full again */
	seen.n = 0;
	lost = events_lost();
	len = dp_build(&spoof, pkt);
	for (int i = 0; i < flood; i++)
		dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, pkt, len, out, &out_len,
		       &retval);
	ring_buffer__consume(rb);
	CHECK(seen.last.reason == SG_DROP_SPOOFED_SOURCE &&
	      !seen.last.to_sector, "the flood's events: reason %u",
	      seen.last.reason);
	/* The bucket refills 1000 a second: a few more may pass. */
	CHECK(seen.n >= SG_EVENTS_BURST - 1 && seen.n < flood - 50,
	      "%d events for %d drops", seen.n, flood);
	CHECK(events_lost() - lost == (__u64)(flood - seen.n),
	      "%llu lost, want %d", events_lost() - lost, flood - seen.n);
	ring_buffer__free(rb);
out:
	test_end("every drop is reported as an event; a flood is rate-limited "
		 "and what it loses is counted");
}

/*
 * A wrong IPv4 header checksum (RFC 1812 5.2.2: a router drops it): the
 * header is not to be trusted, whatever it says. test_fuzz_frames found
 * the fast path translating such packets and sending them on.
 */
static void test_bad_header_checksum(void)
{
	struct pkt web = TCP("10.1.0.2", 1000, "203.0.113.5", 443, SYN);
	struct pkt dns = UDP("10.1.0.2", 5353, "10.1.0.1", 53);
	uint8_t pkt[2048];
	int len;

	test_begin();
	len = dp_build(&web, pkt);
	pkt[14 + 10] ^= 0x01;		/* the checksum itself */
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len, SG_DROP_MALFORMED);
	check_packet(SG_PROG_TC_SECTOR_IN, "s1", pkt, len, SG_DROP_MALFORMED);
	web.ihl = 15;
	len = dp_build(&web, pkt);
	pkt[14 + 59] ^= 0x80;		/* the last byte of the options */
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len, SG_DROP_MALFORMED);
	check_packet(SG_PROG_TC_SECTOR_IN, "s1", pkt, len, SG_DROP_MALFORMED);
	len = dp_build(&dns, pkt);
	pkt[14 + 8]--;			/* TTL, the checksum not updated */
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len, SG_DROP_MALFORMED);
	test_end("a wrong IPv4 header checksum (options included) is "
		 "malformed");
}

int main(void)
{
	int ret = dp_setup(MAX_FLOWS);

	if (ret) {
		if (ret > 0)
			test_skip("dataplane", "needs root to create a network "
				  "namespace and load BPF");
		return ret > 0 ? test_summary("test_dataplane") : 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		test_case(&cases[i]);
	test_fragments_between_sectors();
	test_tx_counter();
	test_trusted_device();
	test_drop_events();
	test_unknown_devices();
	test_bad_header_checksum();
	test_counters_across_applies();
	test_apply_flip();
	test_error_after_flip();
	test_conntrack_full();
	test_first_answer();
	test_flow_quota();
	test_room_beyond_recent();
	sg_instance_close(&dp_in);
	return test_summary("test_dataplane");
}
