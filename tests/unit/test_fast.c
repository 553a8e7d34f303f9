// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP fast path through BPF_PROG_TEST_RUN (repeat = 1): the sector
 * device's XDP masquerades and redirects to the uplink, the uplink's XDP
 * reverse-translates and redirects to the VM. Output frames are compared
 * byte for byte with frames built already translated; every case where
 * the fast path must decline is checked to pass the frame up untouched,
 * and the tc path that then takes it (MTU check before the reverse
 * redirect) is checked too.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dp_lib.h"
#include "sectorgate.skel.h"
#include "sg_test.h"

#define XDP_REDIRECT_V 4
#define SNAT "192.0.2.1"
static const uint8_t remote_mac[6] = { 2, 0, 0, 0, 0xfe, 1 };
/* The MACs dp_build puts in every frame: to the gateway, from the VM. */
static const uint8_t gw_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t vm_mac[6] = { 2, 0, 0, 0, 0, 2 };
static uint8_t up0_mac[6];

static uint32_t out_len, retval;
static uint8_t out[2048];

static void run(enum sg_prog prog, const char *dev, const struct pkt *p,
		uint32_t want_retval)
{
	uint8_t in[2048] = { 0 };
	int len = dp_build(p, in);

	CHECK(dp_run(prog, dev, NULL, in, len, out, &out_len, &retval) == 0,
	      "test run");
	CHECK(retval == want_retval, "%s on %s: verdict %u, want %u",
	      p->src, dev, retval, want_retval);
}

/* The output is want, byte for byte, between these MACs. */
static void check_frame(const struct pkt *want, const uint8_t *dst,
			const uint8_t *src)
{
	uint8_t exp[2048] = { 0 };
	int elen = dp_build(want, exp);

	memcpy(exp, dst, 6);
	memcpy(exp + 6, src, 6);
	CHECK(dp_same_frame(exp, elen, out, out_len),
	      "output differs from the expected frame");
}

/* The frame went up unchanged. */
static void check_untouched(const struct pkt *p)
{
	uint8_t in[2048] = { 0 };
	int len = dp_build(p, in);

	CHECK(out_len == (uint32_t)len && !memcmp(out, in, len),
	      "a declined frame (%s:%u) was changed", p->src, p->sport);
}

static void out_fast(const char *dev, const struct pkt *p,
		     const struct pkt *want)
{
	run(SG_PROG_XDP_SECTOR, dev, p, XDP_REDIRECT_V);
	check_frame(want, remote_mac, up0_mac);
}

static void in_fast(const struct pkt *p, const struct pkt *want)
{
	run(SG_PROG_XDP_UPLINK, "up0", p, XDP_REDIRECT_V);
	check_frame(want, vm_mac, gw_mac);
}

static bool device_takes_xdp(const char *name)
{
	struct sg_device_key k = { .ifindex = if_nametoindex(name) };
	struct sg_state st;
	struct sg_device d;

	sg_maps_read_state(&dp_in.fds, &st);
	k.slot = st.slot;
	return !bpf_map_lookup_elem(dp_in.fds.devices, &k, &d) &&
	       (d.flags & SG_DEV_XDP_XMIT);
}

static void test_capabilities(void)
{
	test_begin();
	CHECK(device_takes_xdp("up0"), "up0: its peer has GRO");
	CHECK(device_takes_xdp("s1"), "s1: its peer has GRO");
	CHECK(!device_takes_xdp("s2"), "s2: its peer has neither GRO nor XDP");
	test_end("the loader marks the devices that take XDP frames, from "
		 "the kernel's xdp-features");
}

static void test_tcp(void)
{
	struct pkt syn = TCP("10.1.0.2", 40000, "203.0.113.5", 443, SYN);
	struct pkt syn_out = TCP(SNAT, 40000, "203.0.113.5", 443, SYN);
	struct pkt synack = TCP("203.0.113.5", 443, SNAT, 40000, SYN | ACK);
	struct pkt synack_in = TCP("203.0.113.5", 443, "10.1.0.2", 40000,
				   SYN | ACK);
	struct sg_counters before, after;
	struct sg_flow f;

	test_begin();
	syn_out.ttl = synack_in.ttl = 63;
	dp_counters(1, &before);
	out_fast("s1", &syn, &syn_out);
	CHECK(dp_flow_of("10.1.0.2", 40000, "203.0.113.5", 443, 6, 1, &f) &&
	      f.nat == SG_NAT_SNAT && f.state == SG_FLOW_NEW &&
	      f.in_ifindex == if_nametoindex("s1") &&
	      f.out_ifindex == if_nametoindex("up0"),
	      "the first packet creates the flow");
	CHECK(dp_flow_of("203.0.113.5", 443, SNAT, 40000, 6, 0, &f) &&
	      (f.flags & SG_FLOW_L2_KNOWN) && !f.kept.ifindex &&
	      !memcmp(f.kept.dmac, vm_mac, 6) && !memcmp(f.kept.smac, gw_mac, 6),
	      "and its reply entry the MACs it learnt, for the delivery");
	in_fast(&synack, &synack_in);
	CHECK(dp_flow_of("10.1.0.2", 40000, "203.0.113.5", 443, 6, 1, &f) &&
	      f.state == SG_FLOW_ESTABLISHED, "established by the SYN-ACK");
	dp_counters(1, &after);
	CHECK(after.fast_out_packets == before.fast_out_packets + 1 &&
	      after.fast_in_packets == before.fast_in_packets + 1 &&
	      after.tx_packets == before.tx_packets + 1 &&
	      after.rx_packets == before.rx_packets + 1,
	      "counters: fast out %llu->%llu, in %llu->%llu",
	      before.fast_out_packets, after.fast_out_packets,
	      before.fast_in_packets, after.fast_in_packets);
	test_end("fast path TCP: SNAT and redirect out, reverse NAT and "
		 "redirect to the VM, byte for byte");
}

static void test_udp_icmp(void)
{
	struct pkt q = UDP("10.1.0.2", 5000, "203.0.113.9", 53);
	struct pkt a = UDP("203.0.113.9", 53, SNAT, 0);
	struct pkt a_in = UDP("203.0.113.9", 53, "10.1.0.2", 5000);
	struct pkt q_out, ping_out;
	struct pkt ping = PING("10.1.0.2", "203.0.113.9", 33000);
	struct pkt pong = PONG("203.0.113.9", SNAT, 33000);
	struct pkt pong_in = PONG("203.0.113.9", "10.1.0.2", 33000);
	uint16_t port;

	test_begin();
	a_in.ttl = pong_in.ttl = 63;
	/* 5000 is outside nat-ports: a port is picked, whatever it is. */
	run(SG_PROG_XDP_SECTOR, "s1", &q, XDP_REDIRECT_V);
	port = dp_sport(out);
	q_out = (struct pkt)UDP(SNAT, port, "203.0.113.9", 53);
	q_out.ttl = 63;
	check_frame(&q_out, remote_mac, up0_mac);
	CHECK(port >= 32768 && port <= 60999, "port %u from nat-ports", port);
	a.dport = port;
	in_fast(&a, &a_in);

	/* Zero UDP checksum: none, and it stays none. */
	q.sport = 5001;
	q.no_udp_csum = true;
	run(SG_PROG_XDP_SECTOR, "s1", &q, XDP_REDIRECT_V);
	CHECK(!out[14 + 26] && !out[14 + 27], "zero UDP checksum kept");

	/* IP options move the L4 header. Toward another remote: toward
	 * 203.0.113.9:53, the ports picked above could be 33001. */
	q = (struct pkt)UDP("10.1.0.2", 33001, "203.0.113.29", 53);
	q.ihl = 7;
	q_out = (struct pkt)UDP(SNAT, 33001, "203.0.113.29", 53);
	q_out.ihl = 7;
	q_out.ttl = 63;
	out_fast("s1", &q, &q_out);

	ping_out = (struct pkt)PING(SNAT, "203.0.113.9", 33000);
	ping_out.ttl = 63;
	out_fast("s1", &ping, &ping_out);
	in_fast(&pong, &pong_in);
	test_end("fast path UDP (zero checksum kept, IP options) and ICMP "
		 "echo, both directions, byte for byte");
}

static void advance_ms(unsigned int ms)
{
	dp_in.skel->bss->sg_clock_offset_ns += ms * 1000000ULL;
}

/* vm1 loses internet access; the rest is the fixture. */
static const char *const no_internet_vm1 =
	"version: 1\n"
	"host: {uplinks: [{interface: up0}], protected: [192.168.1.0/24]}\n"
	"sectors:\n"
	"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1], internet: false}\n"
	"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";

/*
 * The flow keeps the decision of its first packet: a route removed after
 * it is not noticed until the decision is SG_FWD_RECHECK_MS old, new
 * definitions are noticed at once.
 */
static void test_cached_decision(void)
{
	struct pkt syn = TCP("10.1.0.2", 40400, "203.0.113.5", 443, SYN);
	struct pkt ack = TCP("10.1.0.2", 40400, "203.0.113.5", 443, ACK);
	struct pkt ack_out = TCP(SNAT, 40400, "203.0.113.5", 443, ACK);
	struct pkt big = TCP("10.1.0.2", 40400, "203.0.113.5", 443, ACK);
	struct sg_counters before, after;
	struct sg_flow f;

	test_begin();
	ack_out.ttl = 63;
	big.l4_len = 1600;	/* beyond the route's MTU of 1500 */
	run(SG_PROG_XDP_SECTOR, "s1", &syn, XDP_REDIRECT_V);
	CHECK(dp_flow_of("10.1.0.2", 40400, "203.0.113.5", 443, 6, 1, &f) &&
	      f.kept.ifindex == if_nametoindex("up0") && f.kept.mtu == 1500 &&
	      !memcmp(f.kept.dmac, remote_mac, 6), "decision kept in the flow");
	run(SG_PROG_XDP_SECTOR, "s1", &big, XDP_PASS_V);
	check_untouched(&big);

	system("ip route del default");
	dp_counters(1, &before);
	out_fast("s1", &ack, &ack_out);
	dp_counters(1, &after);
	CHECK(after.rx_packets == before.rx_packets + 1 &&
	      after.fast_out_packets == before.fast_out_packets + 1,
	      "the kept decision counts like the full one");
	advance_ms(SG_FWD_RECHECK_MS + 50);
	run(SG_PROG_XDP_SECTOR, "s1", &ack, XDP_PASS_V);
	check_untouched(&ack);
	system("ip route add default via 192.0.2.254");
	out_fast("s1", &ack, &ack_out);

	dp_load_definitions(no_internet_vm1);
	run(SG_PROG_XDP_SECTOR, "s1", &ack, XDP_DROP_V);
	dp_load_definitions(NULL);
	out_fast("s1", &ack, &ack_out);
	test_end("a flow reuses its forwarding decision (not for packets "
		 "beyond its MTU) until the route is due a recheck; new "
		 "definitions apply at its next packet");
}

/* vm1 as the fixture has it, its remote now protected. */
static const char *const protected_remote =
	"version: 1\n"
	"host: {uplinks: [{interface: up0}], protected: [203.0.113.0/24]}\n"
	"sectors:\n"
	"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n"
	"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";

/*
 * A flow the definitions no longer allow stops both ways: after an apply
 * that takes vm1's internet away, or makes its remote protected, the
 * remote's next packets are not delivered (XDP passes them to tc, which
 * drops them with the reason the sector's ingress gives its own: no-
 * internet, protected-destination). Back under the fixture, they flow.
 */
static void test_reply_refused(void)
{
	struct pkt q = UDP("10.1.0.2", 33010, "203.0.113.40", 53);
	struct pkt q_out = UDP(SNAT, 33010, "203.0.113.40", 53);
	struct pkt a = UDP("203.0.113.40", 53, SNAT, 33010);
	struct pkt a_in = UDP("203.0.113.40", 53, "10.1.0.2", 33010);
	__u64 ni = dp_drops(1, SG_DROP_NO_INTERNET);
	__u64 pd = dp_drops(1, SG_DROP_PROTECTED_DEST);

	test_begin();
	q_out.ttl = a_in.ttl = 63;
	out_fast("s1", &q, &q_out);
	in_fast(&a, &a_in);
	dp_load_definitions(no_internet_vm1);
	run(SG_PROG_XDP_UPLINK, "up0", &a, XDP_PASS_V);
	check_untouched(&a);
	run(SG_PROG_TC_UPLINK_IN, "up0", &a, TC_SHOT_V);
	CHECK(dp_drops(1, SG_DROP_NO_INTERNET) == ni + 1,
	      "internet: false: the reply not counted as no-internet");
	dp_load_definitions(protected_remote);
	run(SG_PROG_XDP_UPLINK, "up0", &a, XDP_PASS_V);
	run(SG_PROG_TC_UPLINK_IN, "up0", &a, TC_SHOT_V);
	CHECK(dp_drops(1, SG_DROP_PROTECTED_DEST) == pd + 1,
	      "protected: the reply not counted as protected-destination");
	dp_load_definitions(NULL);
	in_fast(&a, &a_in);
	test_end("a masquerade flow an apply no longer allows stops both ways; "
		 "allowed again, it flows");
}

/*
 * Replies keep their delivery in the reply entry: shown by removing the
 * primary, which replies then do without until the recheck is due, or
 * until one carries a FIN.
 */
static void test_kept_reply(void)
{
	struct pkt syn = TCP("10.1.0.2", 40700, "203.0.113.5", 443, SYN);
	struct pkt synack = TCP("203.0.113.5", 443, SNAT, 40700, SYN | ACK);
	struct pkt data = TCP("203.0.113.5", 443, SNAT, 40700, ACK);
	struct pkt data_in = TCP("203.0.113.5", 443, "10.1.0.2", 40700, ACK);
	struct pkt fin = TCP("203.0.113.5", 443, SNAT, 40700, ACK | 1);
	struct pkt big;
	struct sg_flow_key k = { .sport = htons(40700), .dport = htons(443),
				 .proto = 6, .zone = 1 };
	struct sg_flow f;

	test_begin();
	data_in.ttl = 63;
	run(SG_PROG_XDP_SECTOR, "s1", &syn, XDP_REDIRECT_V);
	run(SG_PROG_XDP_UPLINK, "up0", &synack, XDP_REDIRECT_V);
	CHECK(dp_flow_of("203.0.113.5", 443, SNAT, 40700, 6, 0, &f) &&
	      f.kept.ifindex == if_nametoindex("s1") &&
	      !memcmp(f.kept.dmac, vm_mac, 6), "delivery kept in the reply entry");
	inet_pton(AF_INET, "10.1.0.2", &k.saddr);
	inet_pton(AF_INET, "203.0.113.5", &k.daddr);
	CHECK(!bpf_map_delete_elem(dp_in.fds.flows, &k), "primary removed");
	in_fast(&data, &data_in);
	big = data;
	big.l4_len = 1600;	/* beyond s1's MTU, kept with the delivery */
	run(SG_PROG_XDP_UPLINK, "up0", &big, XDP_PASS_V);
	check_untouched(&big);
	run(SG_PROG_XDP_UPLINK, "up0", &fin, XDP_PASS_V);
	check_untouched(&fin);
	advance_ms(SG_FWD_RECHECK_MS + 50);
	run(SG_PROG_XDP_UPLINK, "up0", &data, XDP_PASS_V);
	check_untouched(&data);
	test_end("replies reuse the delivery kept in their reply entry (not "
		 "beyond its MTU) until the recheck; FIN, SYN and RST go "
		 "through the flow");
}

/* Is the entry under k still exactly *was? */
static bool unchanged(const struct sg_flow_key *k, const struct sg_flow *was)
{
	struct sg_flow now;

	return !bpf_map_lookup_elem(dp_in.fds.flows, k, &now) &&
	       !memcmp(&now, was, sizeof(now));
}

/*
 * An entry another CPU deleted and wrote another flow into while a
 * program read it: the program finds the tag of another key in it
 * (sg_flow_is), writes nothing into it and uses nothing it read. The
 * fast paths leave the packet to tc, which drops it (conntrack-full).
 * Every entry the datapath writes carries its key's tag; one written
 * before tags (0) is used as it is.
 */
static void test_taken_entry(void)
{
	struct pkt syn = TCP("10.1.0.2", 40900, "203.0.113.5", 443, SYN);
	struct pkt synack = TCP("203.0.113.5", 443, SNAT, 40900, SYN | ACK);
	struct pkt ack = TCP("10.1.0.2", 40900, "203.0.113.5", 443, ACK);
	struct pkt ack_out = TCP(SNAT, 40900, "203.0.113.5", 443, ACK);
	struct pkt data = TCP("203.0.113.5", 443, SNAT, 40900, ACK);
	struct pkt data_in = TCP("203.0.113.5", 443, "10.1.0.2", 40900, ACK);
	struct sg_flow_key k = dp_flow_key("10.1.0.2", 40900, "203.0.113.5",
					   443, 6, 1);
	struct sg_flow_key rk = dp_flow_key("203.0.113.5", 443, SNAT, 40900,
					    6, 0);
	struct sg_flow f, was;
	uint8_t in[2048];
	__u64 full;
	int len;

	test_begin();
	ack_out.ttl = data_in.ttl = 63;
	run(SG_PROG_XDP_SECTOR, "s1", &syn, XDP_REDIRECT_V);
	run(SG_PROG_XDP_UPLINK, "up0", &synack, XDP_REDIRECT_V);
	CHECK(dp_flow_of("10.1.0.2", 40900, "203.0.113.5", 443, 6, 1, &f) &&
	      f.kept.key_tag == sg_flow_tag(&k) && f.kept.key_tag,
	      "the primary carries its key's tag (%u)", f.kept.key_tag);
	CHECK(dp_flow_of("203.0.113.5", 443, SNAT, 40900, 6, 0, &f) &&
	      f.kept.key_tag == sg_flow_tag(&rk),
	      "and the reply entry its own (%u)", f.kept.key_tag);

	/* Out: the primary taken. */
	out_fast("s1", &ack, &ack_out);
	full = dp_drops(1, SG_DROP_CONNTRACK_FULL);
	CHECK(dp_flow_taken(&k) &&
	      !bpf_map_lookup_elem(dp_in.fds.flows, &k, &was), "primary taken");
	run(SG_PROG_XDP_SECTOR, "s1", &ack, XDP_PASS_V);
	check_untouched(&ack);
	CHECK(unchanged(&k, &was), "XDP wrote into the taken primary");
	len = dp_build(&ack, in);
	CHECK(dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", in, len, out,
		     &out_len, &retval) == 0 && retval == TC_SHOT_V,
	      "tc egress of the uplink: verdict %u, want SHOT", retval);
	CHECK(dp_drops(1, SG_DROP_CONNTRACK_FULL) == full + 1,
	      "counted conntrack-full on vm1 (%llu -> %llu)", full,
	      dp_drops(1, SG_DROP_CONNTRACK_FULL));
	CHECK(dp_flow_set_tag(&k, 0), "primary untagged");
	out_fast("s1", &ack, &ack_out);

	/* In: the reply entry taken, then the primary behind it. */
	in_fast(&data, &data_in);
	full = dp_drops(0, SG_DROP_CONNTRACK_FULL);
	CHECK(dp_flow_taken(&rk) &&
	      !bpf_map_lookup_elem(dp_in.fds.flows, &rk, &was),
	      "reply entry taken");
	run(SG_PROG_XDP_UPLINK, "up0", &data, XDP_PASS_V);
	check_untouched(&data);
	CHECK(unchanged(&rk, &was), "XDP wrote into the taken reply entry");
	CHECK(dp_flow_set_tag(&rk, sg_flow_tag(&rk)) && dp_flow_taken(&k) &&
	      !bpf_map_lookup_elem(dp_in.fds.flows, &k, &was),
	      "reply entry back, primary taken");
	advance_ms(SG_FWD_RECHECK_MS + 50);	/* through the primary */
	run(SG_PROG_XDP_UPLINK, "up0", &data, XDP_PASS_V);
	check_untouched(&data);
	len = dp_build(&data, in);
	CHECK(dp_run(SG_PROG_TC_UPLINK_IN, "up0", NULL, in, len, out,
		     &out_len, &retval) == 0 && retval == TC_SHOT_V,
	      "tc ingress of the uplink: verdict %u, want SHOT", retval);
	CHECK(unchanged(&k, &was), "a program wrote into the taken primary");
	CHECK(dp_drops(0, SG_DROP_CONNTRACK_FULL) == full + 1,
	      "counted conntrack-full on no sector (%llu -> %llu)", full,
	      dp_drops(0, SG_DROP_CONNTRACK_FULL));
	CHECK(dp_flow_set_tag(&k, sg_flow_tag(&k)), "primary back");
	in_fast(&data, &data_in);
	test_end("an entry written over by another flow while a program read "
		 "it is neither used nor written: the fast paths leave the "
		 "packet to tc, which drops it conntrack-full");
}

/*
 * Run frame `p` (payload filled from seed, checksum left unfinished as by
 * a sender that offloads it) through prog; the output must be `want`
 * (same payload) with a complete checksum, between these MACs.
 */
static void unfinished(enum sg_prog prog, const char *dev,
		       const struct pkt *p, int hdrs, const struct pkt *want,
		       const uint8_t *dst_mac, const uint8_t *src_mac)
{
	uint8_t in[2048] = { 0 }, exp[2048] = { 0 };
	int len = dp_build(p, in), elen = dp_build(want, exp);

	dp_fill_payload(in, hdrs, 0x5a);
	dp_unfinish_checksum(in);
	dp_fill_payload(exp, hdrs, 0x5a);
	memcpy(exp, dst_mac, 6);
	memcpy(exp + 6, src_mac, 6);
	CHECK(dp_run(prog, dev, NULL, in, len, out, &out_len, &retval) == 0 &&
	      retval == XDP_REDIRECT_V, "%s: verdict %u", p->src, retval);
	CHECK(dp_same_frame(exp, elen, out, out_len),
	      "%s:%u (%d bytes of L4): not the frame with its checksum "
	      "finished", p->src, p->sport, p->l4_len);
}

static void test_unfinished_checksums(void)
{
	/* L4 lengths that end on every byte of a word and span the
	 * 512-byte chunks the sum is taken in. */
	static const int lens[] = { 20, 21, 22, 23, 533, 1100, 1480 };
	struct pkt p, want, reply, reply_in;

	test_begin();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		p = (struct pkt)TCP("10.1.0.2", 40500 + i, "203.0.113.5",
				    443, SYN);
		want = (struct pkt)TCP(SNAT, 40500 + i, "203.0.113.5", 443,
				       SYN);
		p.l4_len = want.l4_len = lens[i];
		want.ttl = 63;
		unfinished(SG_PROG_XDP_SECTOR, "s1", &p, 20, &want,
			   remote_mac, up0_mac);
		/* Again, on the flow's kept decision. */
		p.tcp_flags = want.tcp_flags = ACK;
		unfinished(SG_PROG_XDP_SECTOR, "s1", &p, 20, &want,
			   remote_mac, up0_mac);
	}
	p = (struct pkt)UDP("10.1.0.2", 40600, "203.0.113.5", 53);
	p.l4_len = 301;
	run(SG_PROG_XDP_SECTOR, "s1", &p, XDP_REDIRECT_V);
	/* The reply, from a remote host that offloads too. */
	reply = (struct pkt)UDP("203.0.113.5", 53, SNAT,
				dp_sport(out));
	reply_in = (struct pkt)UDP("203.0.113.5", 53, "10.1.0.2", 40600);
	reply.l4_len = reply_in.l4_len = 999;
	reply_in.ttl = 63;
	unfinished(SG_PROG_XDP_UPLINK, "up0", &reply, 8, &reply_in, vm_mac,
		   gw_mac);
	test_end("checksums left unfinished by the sender are finished in XDP, "
		 "both ways, any length");

	/* A UDP datagram shorter than its IP packet (bytes after it, which
	 * the receiver trims): its checksum covers its own length, and so
	 * does the finish (a frame fuzzer's seed found it summed to the
	 * IP packet's end). */
	test_begin();
	{
		uint8_t in[2048], chk[12 + 100];
		uint32_t pseudo;
		int len;

		p = (struct pkt)UDP("10.1.0.2", 40601, "203.0.113.5", 53);
		p.l4_len = 120;
		len = dp_build(&p, in);
		in[14 + 20 + 4] = 0;
		in[14 + 20 + 5] = 100;
		pseudo = (in[26] << 8 | in[27]) + (in[28] << 8 | in[29]) +
			 (in[30] << 8 | in[31]) + (in[32] << 8 | in[33]) +
			 17 + 100;
		while (pseudo >> 16)
			pseudo = (pseudo & 0xffff) + (pseudo >> 16);
		/* What CHECKSUM_PARTIAL leaves: the pseudo-header's sum. */
		in[14 + 20 + 6] = pseudo >> 8;
		in[14 + 20 + 7] = pseudo;
		CHECK(dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, in, len, out,
			     &out_len, &retval) == 0 &&
		      retval == XDP_REDIRECT_V, "not redirected: %u", retval);
		memcpy(chk, out + 26, 8);
		chk[8] = 0;
		chk[9] = 17;
		chk[10] = 0;
		chk[11] = 100;
		memcpy(chk + 12, out + 14 + 20, 100);
		CHECK(dp_csum(chk, sizeof(chk)) == 0,
		      "the checksum is not finished over the datagram's 100 "
		      "bytes");
	}
	test_end("an unfinished UDP checksum is finished over the datagram's "
		 "own length, short of its IP packet's end");
}

/*
 * The MTU kept in the flow is its route's, which may be below the
 * uplink's (locked: forwarding ignores an unlocked route MTU, as the
 * kernel's does): a later packet too big for the route goes up to the
 * stack, which answers "fragmentation needed", never out in XDP.
 */
static void test_route_mtu(void)
{
	struct pkt first = UDP("10.1.0.2", 40500, "203.0.113.70", 53);
	struct pkt fits = UDP("10.1.0.2", 40500, "203.0.113.70", 53);
	struct pkt big = UDP("10.1.0.2", 40500, "203.0.113.70", 53);
	struct sg_flow f;

	test_begin();
	CHECK(system("ip route add 203.0.113.64/26 via 192.0.2.254 mtu lock 1400") == 0,
	      "a route with an MTU of its own");
	run(SG_PROG_XDP_SECTOR, "s1", &first, XDP_REDIRECT_V);
	CHECK(dp_flow_of("10.1.0.2", 40500, "203.0.113.70", 53, 17, 1, &f) &&
	      f.kept.ifindex == if_nametoindex("up0") && f.kept.mtu == 1400,
	      "the route's MTU kept: %u", f.kept.mtu);
	fits.l4_len = 1400 - 20;
	run(SG_PROG_XDP_SECTOR, "s1", &fits, XDP_REDIRECT_V);
	big.l4_len = 1400 - 20 + 1;
	run(SG_PROG_XDP_SECTOR, "s1", &big, XDP_PASS_V);
	check_untouched(&big);
	system("ip route del 203.0.113.64/26");
	test_end("the kept MTU is the route's");
}

static void test_declined_out(void)
{
	struct pkt old = TCP("10.1.0.2", 40100, "203.0.113.5", 443, ACK);
	struct pkt noneigh = TCP("10.1.0.2", 40101, "198.51.100.9", 80, SYN);
	struct pkt big = UDP("10.1.0.2", 40103, "203.0.113.5", 53);
	struct pkt frag = UDP("10.1.0.2", 40104, "203.0.113.5", 53);
	struct sg_flow f;

	test_begin();
	old.ttl = 1;
	run(SG_PROG_XDP_SECTOR, "s1", &old, XDP_PASS_V);
	check_untouched(&old);
	CHECK(!dp_flow_of("10.1.0.2", 40100, "203.0.113.5", 443, 6, 1, &f),
	      "TTL 1: no flow (the kernel answers time exceeded)");

	run(SG_PROG_XDP_SECTOR, "s1", &noneigh, XDP_PASS_V);
	check_untouched(&noneigh);

	system("ip link set up0 mtu 1000");
	big.l4_len = 1100;
	run(SG_PROG_XDP_SECTOR, "s1", &big, XDP_PASS_V);
	check_untouched(&big);
	system("ip link set up0 mtu 1500");

	/* Left to the one place that decides: tc drops it as `fragment`. */
	frag.frag = 0x2000;	/* MF: a first fragment */
	run(SG_PROG_XDP_SECTOR, "s1", &frag, XDP_PASS_V);
	check_untouched(&frag);
	CHECK(!dp_flow_of("10.1.0.2", 40100, "203.0.113.5", 443, 6, 1, &f),
	      "declined packets create no flow");
	test_end("fast path out declines TTL 1, unknown neighbours, too big, "
		 "fragments");
}

static void test_declined_in(void)
{
	struct pkt syn = TCP("10.1.0.2", 40200, "203.0.113.5", 443, SYN);
	struct pkt reply = TCP("203.0.113.5", 443, SNAT, 40200, SYN | ACK);
	struct pkt stranger = TCP("203.0.113.5", 443, SNAT, 40299, ACK);
	struct pkt syn2 = TCP("10.2.0.2", 40202, "203.0.113.5", 80, SYN);
	struct pkt reply2 = TCP("203.0.113.5", 80, SNAT, 40202, SYN | ACK);
	struct pkt big = UDP("203.0.113.5", 53, SNAT, 0);
	struct pkt q = UDP("10.1.0.2", 40201, "203.0.113.5", 53);
	uint8_t in[2048] = { 0 };
	int len;

	test_begin();
	/* A flow the tc path created: its MACs are not known. */
	len = dp_build(&syn, in);
	dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", in, len, out, &out_len,
	       &retval);
	run(SG_PROG_XDP_UPLINK, "up0", &reply, XDP_PASS_V);
	check_untouched(&reply);
	run(SG_PROG_TC_UPLINK_IN, "up0", &reply, TC_REDIRECT_V);

	/* vm2's device takes no XDP frames: out fast, back through tc. */
	run(SG_PROG_XDP_SECTOR, "s2", &syn2, XDP_REDIRECT_V);
	run(SG_PROG_XDP_UPLINK, "up0", &reply2, XDP_PASS_V);
	check_untouched(&reply2);
	run(SG_PROG_TC_UPLINK_IN, "up0", &reply2, TC_REDIRECT_V);

	run(SG_PROG_XDP_UPLINK, "up0", &stranger, XDP_PASS_V);
	check_untouched(&stranger);

	reply.ttl = 1;
	run(SG_PROG_XDP_UPLINK, "up0", &reply, XDP_PASS_V);
	check_untouched(&reply);

	/* Too big for the VM's device: up to tc. */
	run(SG_PROG_XDP_SECTOR, "s1", &q, XDP_REDIRECT_V);
	big.dport = dp_sport(out);
	big.l4_len = 1100;
	system("ip link set s1 mtu 1000");
	run(SG_PROG_XDP_UPLINK, "up0", &big, XDP_PASS_V);
	check_untouched(&big);
	system("ip link set s1 mtu 1500");
	test_end("fast path in declines flows without MACs, devices without "
		 "XDP transmit, unknown flows, TTL 1, too big for the device");
}

/*
 * tc, for a reply too big for the sector device: the kernel forwards it
 * (and fragments or answers) where its route reaches the flow's device;
 * with overlapping sectors it might not, and the packet is dropped.
 */
static void test_too_big_tc(void)
{
	struct pkt q1 = UDP("10.1.0.2", 40300, "203.0.113.5", 53);
	struct pkt q5 = UDP("10.4.0.2", 40301, "203.0.113.5", 53);
	struct pkt a = UDP("203.0.113.5", 53, SNAT, 0);
	struct pkt a_in = UDP("203.0.113.5", 53, "10.1.0.2", 40300);
	struct sg_counters before, after;
	uint8_t in[2048] = { 0 };
	int len;

	test_begin();
	len = dp_build(&q1, in);
	dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", in, len, out, &out_len,
	       &retval);
	a.dport = dp_sport(out);
	a.l4_len = a_in.l4_len = 1100;
	system("ip link set s1 mtu 1000 && ip link set s5 mtu 1000");
	run(SG_PROG_TC_UPLINK_IN, "up0", &a, TC_OK_V);
	a_in.dport = 40300;
	check_frame(&a_in, gw_mac, vm_mac);

	/* vm5 shares 10.4.0.0/24 with vm4, whose device the route names. */
	len = dp_build(&q5, in);
	dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s5", in, len, out, &out_len,
	       &retval);
	a.dport = dp_sport(out);
	dp_counters(5, &before);
	run(SG_PROG_TC_UPLINK_IN, "up0", &a, TC_SHOT_V);
	dp_counters(5, &after);
	CHECK(after.drops[SG_DROP_UNTRANSLATABLE] ==
	      before.drops[SG_DROP_UNTRANSLATABLE] + 1, "counted");
	system("ip link set s1 mtu 1500 && ip link set s5 mtu 1500");
	test_end("tc: a reply too big for the VM's device goes to the "
		 "kernel's forwarding only where its route reaches that device");
}

/*
 * Overlapping sectors vm4 and vm5 share 10.4.0.0/24, and the host's route
 * for it names s4, vm4's device. vm5's packet for another address of it
 * would be routed into vm4: inter-sector at both hooks, counted on vm5;
 * vm4's own for it is the host's to route back, and passes.
 */
static void test_shared_route(void)
{
	const struct pkt from5 = UDP("10.4.0.5", 7000, "10.4.0.3", 7000);
	const struct pkt from4 = UDP("10.4.0.2", 7000, "10.4.0.3", 7000);
	__u64 before = dp_drops(5, SG_DROP_INTER_SECTOR);

	test_begin();
	run(SG_PROG_XDP_SECTOR, "s5", &from5, XDP_DROP_V);
	run(SG_PROG_TC_SECTOR_IN, "s5", &from5, TC_SHOT_V);
	CHECK(dp_drops(5, SG_DROP_INTER_SECTOR) == before + 2,
	      "not counted as inter-sector on vm5");
	run(SG_PROG_XDP_SECTOR, "s4", &from4, XDP_PASS_V);
	check_untouched(&from4);
	run(SG_PROG_TC_SECTOR_IN, "s4", &from4, TC_OK_V);
	test_end("overlapping sectors: what the host would route into the "
		 "other sector's device is inter-sector, its own passes");
}

/*
 * An echo flow of id 0 has the key any other ICMP message between the
 * same addresses has (no ports): only echo requests may take its kept
 * decision. test_fuzz_frames found a timestamp request and a source
 * quench sent out translated as echoes, their bytes 4-5 overwritten with
 * the NAT's id, where tc drops them as untranslatable.
 */
static void test_echo_id_zero(void)
{
	struct pkt ping = PING("10.1.0.2", "203.0.113.19", 0);
	struct pkt tstamp = { .src = "10.1.0.2", .dst = "203.0.113.19",
			      .proto = 1, .icmp_type = 13 };
	struct pkt quench = { .src = "10.1.0.2", .dst = "203.0.113.19",
			      .proto = 1, .icmp_type = 4 };
	struct pkt pong = PONG("10.1.0.2", "203.0.113.19", 0);

	test_begin();
	run(SG_PROG_XDP_SECTOR, "s1", &ping, XDP_REDIRECT_V);
	run(SG_PROG_XDP_SECTOR, "s1", &ping, XDP_REDIRECT_V);
	run(SG_PROG_XDP_SECTOR, "s1", &tstamp, XDP_PASS_V);
	check_untouched(&tstamp);
	run(SG_PROG_XDP_SECTOR, "s1", &quench, XDP_PASS_V);
	check_untouched(&quench);
	run(SG_PROG_XDP_SECTOR, "s1", &pong, XDP_PASS_V);
	check_untouched(&pong);
	test_end("the fast path takes echo requests only, even on a flow of "
		 "echo id 0");
}


/*
 * Port shadowing in the fast path: a flow created in XDP never keeps a
 * port on which a socket of the host (the test's namespace) would take
 * the replies; the lookup runs in XDP with the sector device's netns.
 */
static void test_host_socket_held(void)
{
	struct pkt syn = TCP("10.1.0.2", 45800, "203.0.113.50", 443, SYN);
	struct pkt syn_out = TCP(SNAT, 45800, "203.0.113.50", 443, SYN);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(45800) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port;

	test_begin();
	inet_pton(AF_INET, SNAT, &a.sin_addr);
	CHECK(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	      !listen(fd, 1), "a host listener on %s:45800", SNAT);
	run(SG_PROG_XDP_SECTOR, "s1", &syn, XDP_REDIRECT_V);
	port = out_len > 14 + 20 ? (out[34] << 8 | out[35]) : 0;
	CHECK(port != 45800 && port >= 32768 && port <= 60999,
	      "port %u, not the listener's", port);
	syn_out.sport = port;
	syn_out.ttl = 63;
	check_frame(&syn_out, remote_mac, up0_mac);
	close(fd);
	syn.sport = syn_out.sport = 45801;
	out_fast("s1", &syn, &syn_out);
	test_end("XDP: a flow never takes a port a host socket holds; a "
		 "free one is kept");
}

int main(void)
{
	int ret = dp_setup(256);

	if (ret == 1) {
		test_skip("fast path", "needs root");
		return test_summary("test_fast");
	}
	if (ret || dp_setup_gateway(up0_mac)) {
		printf("FAIL setting up the gateway namespace\n");
		return 1;
	}
	test_capabilities();
	test_tcp();
	test_udp_icmp();
	test_cached_decision();
	test_unfinished_checksums();
	test_kept_reply();
	test_route_mtu();
	test_declined_out();
	test_declined_in();
	test_too_big_tc();
	test_echo_id_zero();
	test_shared_route();
	test_reply_refused();
	test_host_socket_held();
	test_taken_entry();
	return test_summary("test_fast");
}
