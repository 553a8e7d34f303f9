// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Masquerade through BPF_PROG_TEST_RUN (repeat = 1): the uplink's tc
 * egress (SNAT) and tc ingress (reverse NAT) programs. Translated packets
 * are compared byte for byte with packets built already translated, so
 * every incremental checksum update must land exactly where a full
 * recomputation does.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "dp_lib.h"
#include "flows.h"
#include "sectorgate.skel.h"
#include "sg_test.h"
#include "util.h"

#define MAX_FLOWS 256
#define UPLINK "up0"
#define SNAT "192.0.2.1"

static uint32_t out_len, retval;
static uint8_t out[2048];

/* Run the frame through prog; check the verdict and, if want is given,
 * that the output is exactly want. */
static void frame_check(enum sg_prog prog, const char *from,
			const uint8_t *in, int len, uint32_t want_retval,
			const uint8_t *want, int want_len)
{
	CHECK(dp_run(prog, UPLINK, from, in, len, out, &out_len,
		     &retval) == 0, "test run");
	CHECK(retval == want_retval, "verdict %u, want %u", retval,
	      want_retval);
	if (want)
		CHECK(dp_same_frame(want, want_len, out, out_len),
		      "output differs from the expected packet");
}

/* The same with the packets built from their descriptions. */
static void nat_check(enum sg_prog prog, const char *from,
		      const struct pkt *pkt, uint32_t want_retval,
		      const struct pkt *want)
{
	uint8_t in[2048], exp[2048];
	int len = dp_build(pkt, in), elen = want ? dp_build(want, exp) : 0;

	frame_check(prog, from, in, len, want_retval, want ? exp : NULL,
		    elen);
}

static void snat(const char *from, const struct pkt *p, uint32_t verdict,
		 const struct pkt *want)
{
	nat_check(SG_PROG_TC_UPLINK_OUT, from, p, verdict, want);
}

static void rnat(const struct pkt *p, uint32_t verdict, const struct pkt *want)
{
	nat_check(SG_PROG_TC_UPLINK_IN, NULL, p, verdict, want);
}

static uint16_t out_icmp_id(void)
{
	return out[14 + 24] << 8 | out[14 + 25];
}

static void test_tcp_flow(void)
{
	struct pkt syn = TCP("10.1.0.2", 40000, "203.0.113.5", 443, SYN);
	struct pkt syn_out = TCP(SNAT, 40000, "203.0.113.5", 443, SYN);
	struct pkt synack = TCP("203.0.113.5", 443, SNAT, 40000, SYN | ACK);
	struct pkt synack_in = TCP("203.0.113.5", 443, "10.1.0.2", 40000,
				   SYN | ACK);
	struct pkt ack = TCP("10.1.0.2", 40000, "203.0.113.5", 443, ACK);
	struct pkt fin = TCP("10.1.0.2", 40000, "203.0.113.5", 443, ACK | 1);
	struct sg_flow f;

	test_begin();
	synack_in.ttl = 63;
	snat("s1", &syn, TC_OK_V, &syn_out);
	CHECK(dp_flow_of("10.1.0.2", 40000, "203.0.113.5", 443, 6, 1, &f) &&
	      f.nat == SG_NAT_SNAT && f.state == SG_FLOW_NEW &&
	      f.in_ifindex == if_nametoindex("s1") && ntohs(f.xlate.sport) == 40000,
	      "primary entry");
	CHECK(dp_flow_of("203.0.113.5", 443, SNAT, 40000, 6, 0, &f) &&
	      f.dir == SG_FLOW_REPLY && f.peer_zone == 1, "reply entry");

	rnat(&synack, TC_REDIRECT_V, &synack_in);
	CHECK(dp_flow_of("10.1.0.2", 40000, "203.0.113.5", 443, 6, 1, &f) &&
	      f.state == SG_FLOW_ESTABLISHED, "established after SYN-ACK");
	snat("s1", &ack, TC_OK_V, NULL);
	CHECK(dp_checksums_ok(out, out_len) && dp_sport(out) == 40000,
	      "the flow keeps its mapping");
	snat("s1", &fin, TC_OK_V, NULL);
	CHECK(dp_flow_of("10.1.0.2", 40000, "203.0.113.5", 443, 6, 1, &f) &&
	      f.state == SG_FLOW_CLOSING, "closing after FIN");
	test_end("TCP: SNAT keeps the port, reply reverse-translated exactly");
}

static void test_udp(void)
{
	struct pkt q = UDP("10.1.0.2", 5000, "198.51.100.17", 53);
	struct pkt q_out = UDP(SNAT, 5000, "198.51.100.17", 53);
	struct pkt z = UDP("10.1.0.2", 5001, "198.51.100.17", 53);
	struct pkt z_out = UDP(SNAT, 5001, "198.51.100.17", 53);
	struct pkt a = UDP("198.51.100.17", 53, SNAT, 5000);
	struct pkt a_in = UDP("198.51.100.17", 53, "10.1.0.2", 5000);
	uint16_t port;

	test_begin();
	a_in.ttl = 63;
	/* 5000 lies outside nat-ports (32768-60999): a port is picked, at
	 * random. A remote of their own: toward 198.51.100.7, the port
	 * picked could be the one a later test's flow keeps (40011), which
	 * would then not be kept. */
	snat("s1", &q, TC_OK_V, NULL);
	port = dp_sport(out);
	CHECK(port >= 32768 && port <= 60999, "port %u outside nat-ports",
	      port);
	q_out.sport = port;
	snat("s1", &q, TC_OK_V, &q_out);
	a.dport = port;
	rnat(&a, TC_REDIRECT_V, &a_in);

	z.no_udp_csum = z_out.no_udp_csum = true;
	snat("s1", &z, TC_OK_V, NULL);
	z_out.sport = dp_sport(out);
	CHECK(out[14 + 26] == 0 && out[14 + 27] == 0, "checksum stays 0");
	snat("s1", &z, TC_OK_V, &z_out);
	test_end("UDP: mapped into nat-ports, zero checksum stays zero");
}

static void test_icmp_echo(void)
{
	struct pkt req = PING("10.1.0.2", "203.0.113.5", 777);
	struct pkt req_out = PING(SNAT, "203.0.113.5", 0);
	struct pkt rep = PONG("203.0.113.5", SNAT, 0);
	struct pkt rep_in = PONG("203.0.113.5", "10.1.0.2", 777);
	uint16_t id;

	test_begin();
	rep_in.ttl = 63;
	snat("s1", &req, TC_OK_V, NULL);
	id = out_icmp_id();
	CHECK(id >= 32768 && id <= 60999, "id %u outside nat-ports", id);
	req_out.sport = rep.sport = id;
	snat("s1", &req, TC_OK_V, &req_out);
	rnat(&rep, TC_REDIRECT_V, &rep_in);
	test_end("ICMP echo: the id is translated both ways");
}

static void test_overlap(void)
{
	struct pkt a = TCP("10.4.0.2", 45000, "203.0.113.15", 443, SYN);
	struct pkt back = TCP("203.0.113.15", 443, SNAT, 45000, SYN | ACK);
	struct pkt back_in = TCP("203.0.113.15", 443, "10.4.0.2", 45000,
				 SYN | ACK);
	struct sg_flow f4, f5, r;
	uint16_t p4, p5;

	test_begin();
	back_in.ttl = 63;
	/* A remote of their own: vm5's port is picked at random, and
	 * toward 203.0.113.5:443 it could be one a later test keeps. */
	snat("s4", &a, TC_OK_V, NULL);
	p4 = dp_sport(out);
	snat("s5", &a, TC_OK_V, NULL);
	p5 = dp_sport(out);
	CHECK(p4 == 45000 && p5 != 45000, "ports %u and %u", p4, p5);
	CHECK(dp_flow_of("10.4.0.2", 45000, "203.0.113.15", 443, 6, 4, &f4) &&
	      dp_flow_of("10.4.0.2", 45000, "203.0.113.15", 443, 6, 5, &f5),
	      "one flow per sector");
	CHECK(f4.in_ifindex == if_nametoindex("s4") &&
	      f5.in_ifindex == if_nametoindex("s5"), "each back to its device");
	CHECK(dp_flow_of("203.0.113.15", 443, SNAT, p5, 6, 0, &r) &&
	      r.peer_zone == 5, "the second port leads to sector vm5");

	rnat(&back, TC_REDIRECT_V, &back_in);
	back.dport = p5;
	rnat(&back, TC_REDIRECT_V, &back_in);
	test_end("overlapping sectors with identical tuples get own mappings");
}

static void test_unsolicited(void)
{
	struct pkt in = TCP("203.0.113.5", 443, "10.1.0.2", 40999, SYN);
	struct pkt host = TCP("203.0.113.5", 5555, SNAT, 22, SYN);
	struct pkt shared = UDP("203.0.113.5", 53, "10.4.0.9", 53);
	__u64 before = dp_drops(1, SG_DROP_UNSOLICITED);
	__u64 before0 = dp_drops(0, SG_DROP_UNSOLICITED);

	test_begin();
	rnat(&in, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_UNSOLICITED) == before + 1,
		       "counted for vm1");
	rnat(&shared, TC_SHOT_V, NULL);
	CHECK(dp_drops(0, SG_DROP_UNSOLICITED) == before0 + 1,
	      "a shared CIDR counts for the host");
	rnat(&host, TC_OK_V, &host);
	test_end("unsolicited inbound to a sector is dropped; the host's own "
		 "traffic passes untouched");
}

static void test_not_mapped(void)
{
	struct pkt own = TCP(SNAT, 50000, "203.0.113.5", 443, SYN);
	struct pkt tstamp = { .src = "10.1.0.2", .dst = "203.0.113.5",
			      .proto = 1, .icmp_type = 13 };
	struct pkt frag = { .src = "10.1.0.2", .dst = "203.0.113.5",
			    .proto = 17, .frag = 100, .l4_len = 8 };
	struct pkt late = TCP("203.0.113.5", 443, SNAT, 40000, ACK);
	__u64 u = dp_drops(1, SG_DROP_UNTRANSLATABLE);
	__u64 fr = dp_drops(1, SG_DROP_FRAGMENT);

	test_begin();
	late.ttl = 1;
	snat(NULL, &own, TC_OK_V, &own);
	snat("s1", &tstamp, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_UNTRANSLATABLE) == u + 1, "untranslatable");
	snat("s1", &frag, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_FRAGMENT) == fr + 1, "fragment");
	rnat(&late, TC_OK_V, &late);
	test_end("host traffic, other ICMP, fragments and TTL 1 stay "
		 "untranslated");
}

/* Run both fragments through prog; put what came out back together. */
static int both_halves(enum sg_prog prog, const char *from,
		       const uint8_t *f1, int l1, const uint8_t *f2, int l2,
		       uint32_t verdict, uint8_t *whole)
{
	uint8_t o1[2048];
	int n1;

	frame_check(prog, from, f1, l1, verdict, NULL, 0);
	memcpy(o1, out, out_len);
	n1 = out_len;
	frame_check(prog, from, f2, l2, verdict, NULL, 0);
	CHECK(out_len == (uint32_t)l2 &&
	      !memcmp(out + 14 + 20, f2 + 14 + 20, l2 - 14 - 20) &&
	      !memcmp(out + 14 + 4, f2 + 14 + 4, 4),
	      "the later fragment's id, offset or payload changed");
	CHECK(dp_csum(out + 14, 20) == 0, "later fragment's IP checksum");
	return dp_reassemble(o1, n1, out, out_len, whole);
}

/*
 * A datagram in two fragments, out and back. The first is translated as
 * the flow's packets are; the second follows it (its addresses only); put
 * back together, each is the datagram translated, with its UDP checksum
 * right over the whole. One the last overtook still follows; a second
 * after the last, none does: once more it is a fragment without its
 * first. So is one that another sector's device brings, with the same
 * addresses and id; and the host's datagram that reuses vm1's id is the
 * host's.
 */
static void test_fragments(void)
{
	struct pkt q = UDP("10.1.0.2", 41000, "198.51.100.9", 53);
	struct pkt a = UDP("198.51.100.9", 53, SNAT, 41000);
	struct pkt o = UDP("10.4.0.2", 41001, "198.51.100.9", 53);
	struct pkt host = UDP("198.51.100.9", 53, SNAT, 22);
	uint8_t dgram[2048], f1[2048], f2[2048], h1[2048], h2[2048],
		whole[2048], mid[2048];
	int len, l1, l2, n, hl1, hl2;
	__u64 fr = dp_drops(1, SG_DROP_FRAGMENT);
	__u64 fr5 = dp_drops(5, SG_DROP_FRAGMENT);

	test_begin();
	len = dp_big_udp(&q, 1208, dgram);
	dp_fragment(dgram, len, 800, 0x1234, f1, &l1, f2, &l2);
	n = both_halves(SG_PROG_TC_UPLINK_OUT, "s1", f1, l1, f2, l2, TC_OK_V,
			whole);
	CHECK(n == len && dp_checksums_ok(whole, n) &&
	      !memcmp(whole + 14 + 12, (uint8_t[]){ 192, 0, 2, 1 }, 4) &&
	      dp_sport(whole) == 41000,
	      "out: the datagram reassembled is not the one translated");
	/* One before the last may come after it, within a second. */
	memcpy(mid, f2, l2);
	dp_ip_header_set(mid, l2 - 14, 0x2000 | 100);	/* MF, at 100 * 8 */
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", mid, l2, TC_OK_V, NULL, 0);
	CHECK(!memcmp(out + 14 + 12, (uint8_t[]){ 192, 0, 2, 1 }, 4),
	      "a fragment overtaken by the last is not translated");
	dp_in.skel->bss->sg_clock_offset_ns += 1100 * 1000000ULL;
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", f2, l2, TC_SHOT_V, NULL, 0);
	CHECK(dp_drops(1, SG_DROP_FRAGMENT) == fr + 1,
	      "a second after the last: counted as a fragment");

	len = dp_big_udp(&a, 1208, dgram);
	dp_fragment(dgram, len, 1000, 0x4321, f1, &l1, f2, &l2);
	n = both_halves(SG_PROG_TC_UPLINK_IN, NULL, f1, l1, f2, l2,
			TC_REDIRECT_V, whole);
	CHECK(n == len && dp_checksums_ok(whole, n) &&
	      !memcmp(whole + 14 + 16, (uint8_t[]){ 10, 1, 0, 2 }, 4) &&
	      (whole[14 + 20 + 2] << 8 | whole[14 + 20 + 3]) == 41000 &&
	      whole[14 + 8] == 63,
	      "in: the datagram reassembled is not the reply translated");

	/* The host's datagram with the same id after vm1's, which lost its
	 * last fragment: its rest is the host's, untouched. */
	len = dp_big_udp(&a, 1208, dgram);
	dp_fragment(dgram, len, 1000, 0x4444, f1, &l1, f2, &l2);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f1, l1, TC_REDIRECT_V, NULL, 0);
	len = dp_big_udp(&host, 1208, dgram);
	dp_fragment(dgram, len, 1000, 0x4444, h1, &hl1, h2, &hl2);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, h1, hl1, TC_OK_V, h1, hl1);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, h2, hl2, TC_OK_V, h2, hl2);

	/* Overlapping sectors: the note is vm4's, not vm5's. */
	len = dp_big_udp(&o, 1208, dgram);
	dp_fragment(dgram, len, 800, 0x5555, f1, &l1, f2, &l2);
	frame_check(SG_PROG_TC_UPLINK_OUT, "s4", f1, l1, TC_OK_V, NULL, 0);
	frame_check(SG_PROG_TC_UPLINK_OUT, "s5", f2, l2, TC_SHOT_V, NULL, 0);
	CHECK(dp_drops(5, SG_DROP_FRAGMENT) == fr5 + 1,
	      "vm5's fragment did not follow vm4's first");
	frame_check(SG_PROG_TC_UPLINK_OUT, "s4", f2, l2, TC_OK_V, NULL, 0);
	test_end("fragments: the rest of a datagram follows its first fragment "
		 "through the NAT both ways (one overtaken by the last too), in "
		 "its sector's zone only, never into the host's datagram");
}

/*
 * What the kernel forwards to the uplink from a device the definitions do
 * not know (p-s1 stands for a tap matching a glob that `run` has not
 * attached yet, or a sector's device left when the sector was removed):
 * nothing leaves, whatever its source: with a sector's it is counted on
 * that sector, any other on none.
 */
static void test_foreign_ingress(void)
{
	struct pkt vm = TCP("10.1.0.2", 40000, "203.0.113.5", 443, SYN);
	struct pkt shared = TCP("10.4.0.2", 40000, "203.0.113.5", 443, SYN);
	struct pkt other = TCP("198.51.100.7", 40000, "203.0.113.5", 443, SYN);
	__u64 u = dp_drops(1, SG_DROP_UNTRANSLATABLE);
	__u64 u0 = dp_drops(0, SG_DROP_UNTRANSLATABLE);
	uint8_t in[2048];
	int len;

	test_begin();
	snat("p-s1", &vm, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_UNTRANSLATABLE) == u + 1,
	      "untranslatable, counted for vm1");
	snat("p-s1", &shared, TC_SHOT_V, NULL);
	CHECK(dp_drops(0, SG_DROP_UNTRANSLATABLE) == u0 + 1,
	      "a shared CIDR counts for the host");
	snat("p-s1", &other, TC_SHOT_V, NULL);
	CHECK(dp_drops(0, SG_DROP_UNTRANSLATABLE) == u0 + 2,
	      "another network's not dropped untranslatable for the host");
	len = dp_build(&other, in);
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "t0", "p-s1", in, len, out,
		     &out_len, &retval) == 0 && retval == TC_SHOT_V &&
	      dp_drops(0, SG_DROP_UNTRANSLATABLE) == u0 + 3,
	      "t0 passed what an unknown device sent: %u", retval);
	test_end("forwarded from an unknown device: nothing leaves the uplink "
		 "or a trusted device, a sector's source or another");

	/* The same from the devices of ours that are no sector's: a trusted
	 * device's network, or what came in on the uplink itself, with a
	 * VM's address would speak for the VM (the frame fuzzer's (h)). */
	test_begin();
	u = dp_drops(1, SG_DROP_UNTRANSLATABLE);
	snat("t0", &vm, TC_SHOT_V, NULL);
	snat("up0", &vm, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_UNTRANSLATABLE) == u + 2,
	      "untranslatable, counted for vm1");
	snat("t0", &other, TC_OK_V, &other);
	snat("up0", &other, TC_OK_V, &other);
	/* Out of the trusted device t0, from the uplink. */
	len = dp_build(&vm, in);
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "t0", "up0", in, len, out,
		     &out_len, &retval) == 0 && retval == TC_SHOT_V,
	      "t0 passed vm1's address from the uplink: %u", retval);
	CHECK(dp_drops(1, SG_DROP_UNTRANSLATABLE) == u + 3,
	      "untranslatable at t0, counted for vm1");
	len = dp_build(&other, in);
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "t0", "up0", in, len, out,
		     &out_len, &retval) == 0 && retval == TC_OK_V,
	      "t0 dropped another network's: %u", retval);
	test_end("forwarded from a trusted device or the uplink: a sector's "
		 "source never leaves untranslated (out of the uplink or a "
		 "trusted device), another network's passes");
}

/* An ICMP error from router R about `about`, embedding inner_l4 bytes. */
static struct pkt icmp_error(const char *from, const char *to, uint8_t type,
			     uint8_t code, const struct pkt *about,
			     int inner_l4)
{
	return (struct pkt)ICMP_ERR(from, to, type, code, about, inner_l4);
}

static void test_icmp_errors_in(void)
{
	struct pkt syn = TCP("10.1.0.2", 40010, "203.0.113.5", 443, SYN);
	struct pkt sent = TCP(SNAT, 40010, "203.0.113.5", 443, ACK);
	struct pkt vm_sent = TCP("10.1.0.2", 40010, "203.0.113.5", 443, ACK);
	struct pkt udp = UDP("10.1.0.2", 40011, "198.51.100.7", 53);
	struct pkt udp_sent = UDP(SNAT, 40011, "198.51.100.7", 53);
	struct pkt udp_vm = UDP("10.1.0.2", 40011, "198.51.100.7", 53);
	struct pkt ping = PING("10.1.0.2", "203.0.113.9", 40012);
	struct pkt ping_sent = PING(SNAT, "203.0.113.9", 40012);
	struct pkt ping_vm = PING("10.1.0.2", "203.0.113.9", 40012);
	struct pkt e, want;

	test_begin();
	snat("s1", &syn, TC_OK_V, NULL);
	snat("s1", &udp, TC_OK_V, NULL);
	snat("s1", &ping, TC_OK_V, NULL);
	CHECK(out_icmp_id() == 40012, "echo id kept");

	/* Fragmentation needed for the TCP flow, with 28 bytes of TCP (its
	 * checksum included). */
	e = icmp_error("198.51.100.1", SNAT, 3, 4, &sent, 28);
	want = icmp_error("198.51.100.1", "10.1.0.2", 3, 4, &vm_sent, 28);
	want.ttl = 63;
	rnat(&e, TC_REDIRECT_V, &want);
	/* Port unreachable for the UDP flow: the minimal 8 bytes. */
	e = icmp_error("198.51.100.7", SNAT, 3, 3, &udp_sent, 8);
	want = icmp_error("198.51.100.7", "10.1.0.2", 3, 3, &udp_vm, 8);
	want.ttl = 63;
	rnat(&e, TC_REDIRECT_V, &want);
	/* Time exceeded for the echo request. */
	e = icmp_error("198.51.100.1", SNAT, 11, 0, &ping_sent, 8);
	want = icmp_error("198.51.100.1", "10.1.0.2", 11, 0, &ping_vm, 8);
	want.ttl = 63;
	rnat(&e, TC_REDIRECT_V, &want);
	test_end("ICMP errors for TCP, UDP and echo flows are translated "
		 "inside and out, checksums exact");
}

static void test_icmp_errors_out(void)
{
	struct pkt q = UDP("10.1.0.2", 40020, "198.51.100.7", 53);
	struct pkt reply_vm = UDP("198.51.100.7", 53, "10.1.0.2", 40020);
	struct pkt reply_wire = UDP("198.51.100.7", 53, SNAT, 40020);
	struct pkt stranger = UDP("198.51.100.8", 53, "10.1.0.2", 40021);
	struct pkt e, want;
	__u64 u = dp_drops(1, SG_DROP_UNTRANSLATABLE);
	__u64 m = dp_drops(1, SG_DROP_MALFORMED);

	test_begin();
	snat("s1", &q, TC_OK_V, NULL);
	/* The VM answers a reply with port unreachable. */
	e = icmp_error("10.1.0.2", "198.51.100.7", 3, 3, &reply_vm, 8);
	want = icmp_error(SNAT, "198.51.100.7", 3, 3, &reply_wire, 8);
	snat("s1", &e, TC_OK_V, &want);
	/* About no flow: it would show the VM's address. */
	e = icmp_error("10.1.0.2", "198.51.100.8", 3, 3, &stranger, 8);
	snat("s1", &e, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_UNTRANSLATABLE) == u + 1, "untranslatable");
	/* Truncated embedded header. */
	e = icmp_error("10.1.0.2", "198.51.100.7", 3, 3, &reply_vm, 4);
	snat("s1", &e, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_MALFORMED) == m + 1, "malformed");
	test_end("ICMP errors from a VM are translated, or dropped when they "
		 "cannot be");
}

static void test_icmp_errors_refused(void)
{
	struct pkt gone = TCP(SNAT, 40999, "203.0.113.5", 443, ACK);
	struct pkt sent = UDP(SNAT, 40011, "198.51.100.7", 53);
	struct pkt e;
	struct sg_flow before, after;
	__u64 m = dp_drops(0, SG_DROP_MALFORMED);

	test_begin();
	CHECK(dp_flow_of("10.1.0.2", 40011, "198.51.100.7", 53, 17, 1, &before),
	      "the UDP flow exists");
	/* No mapping: the host's own traffic shares the address. */
	e = icmp_error("198.51.100.1", SNAT, 3, 4, &gone, 8);
	rnat(&e, TC_OK_V, &e);
	/* Embedded header cut short. */
	e = icmp_error("198.51.100.1", SNAT, 3, 4, &sent, 6);
	rnat(&e, TC_SHOT_V, NULL);
	CHECK(dp_drops(0, SG_DROP_MALFORMED) == m + 1, "counted as malformed");
	CHECK(dp_flow_of("10.1.0.2", 40011, "198.51.100.7", 53, 17, 1, &after) &&
	      !memcmp(&before, &after, sizeof(before)), "the flow is unchanged");
	test_end("inbound ICMP errors without a mapping pass untouched, "
		 "truncated ones are dropped");
}

/*
 * A reply of a live flow whose IPv4 header checksum is wrong is not
 * translated: the host's stack drops it. Nor is a sector's packet whose
 * header is wrong sent out masqueraded (test_fuzz_frames).
 */
static void test_bad_header_checksum(void)
{
	struct pkt ans = UDP("198.51.100.7", 53, SNAT, 40011);
	struct pkt q = UDP("10.1.0.2", 40011, "198.51.100.7", 53);
	struct sg_flow fl;
	uint8_t f[2048];
	int len;
	__u64 m = dp_drops(1, SG_DROP_MALFORMED);

	test_begin();
	CHECK(dp_flow_of("10.1.0.2", 40011, "198.51.100.7", 53, 17, 1, &fl),
	      "the UDP flow of test_icmp_errors_in is there");
	len = dp_build(&ans, f);
	f[14 + 11] ^= 0x10;
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_OK_V, f, len);
	len = dp_build(&q, f);
	f[14 + 11] ^= 0x10;
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", f, len, TC_SHOT_V, f, len);
	CHECK(dp_drops(1, SG_DROP_MALFORMED) == m + 1, "counted as malformed");
	test_end("a wrong IPv4 header checksum is never translated");
}

/* Bytes from hex text; returns their number. */
static int from_hex(const char *hex, uint8_t *b)
{
	int n = 0;
	unsigned int v;

	for (; hex[0] && hex[1] && sscanf(hex, "%2x", &v) == 1; hex += 2)
		b[n++] = v;
	return n;
}

/* Fill bytes from..to-1 of a frame with a pattern: padding that no
 * program may touch. */
static void fill_pad(uint8_t *f, int from, int to)
{
	for (int i = from; i < to; i++)
		f[i] = 0xa5 ^ i;
}

/* Make the outer IP packet of an ICMP frame end after tot bytes, leaving
 * the rest of the frame as Ethernet padding; IP and ICMP checksums stay
 * right for the shorter packet. */
static void set_tot_len(uint8_t *f, int tot)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;
	uint16_t sum;

	ip[2] = tot >> 8;
	ip[3] = tot;
	ip[10] = ip[11] = 0;
	sum = dp_csum(ip, 20);
	ip[10] = sum >> 8;
	ip[11] = sum;
	icmp[2] = icmp[3] = 0;
	sum = dp_csum(icmp, tot - 20);
	icmp[2] = sum >> 8;
	icmp[3] = sum;
}

/* Outer IP, ICMP (over the IP packet only, not the padding) and embedded
 * IP checksums of an ICMP error frame, and the embedded TCP/UDP checksum
 * where the error carries the embedded packet whole. */
static bool error_sums_ok(const uint8_t *f, int len)
{
	const uint8_t *emb = f + 14 + 20 + 8;
	int tot = f[16] << 8 | f[17], etot = emb[2] << 8 | emb[3];
	uint8_t whole[2048] = { 0 };

	if (!dp_checksums_ok(f, len) || dp_csum(emb, (emb[0] & 15) * 4))
		return false;
	if (20 + 8 + etot > tot)
		return true;
	memcpy(whole + 14, emb, etot);
	return dp_checksums_ok(whole, 14 + etot);
}

/* An error frame with `pad` bytes of patterned padding after it. */
static int padded(const struct pkt *p, int pad, uint8_t *f)
{
	struct pkt q = *p;
	int len;

	q.pad = pad;
	len = dp_build(&q, f);
	fill_pad(f, len - pad, len);
	return len;
}

/*
 * Inbound errors and Ethernet padding: only the outer IP packet (its
 * tot_len) is the error. An embedded header that lies, wholly or in part,
 * in the padding is no embedded header; an embedded TCP checksum in the
 * padding is not there to update.
 */
static void test_icmp_errors_padded_in(void)
{
	/* What a frame fuzzer sent: fragmentation needed about the flow
	 * of test_icmp_errors_in, 8 bytes of TCP, then 12 of padding where
	 * the embedded TCP checksum would be. */
	static const char fuzzed[] =
		"0200000000010200000000020800450000380000000040018e8fc633"
		"6401c000020103045ef600000000450000280000000040067cc9c000"
		"0201cb0071059c4a01bb00000000000000000000000000000000";
	struct pkt sent = TCP(SNAT, 40010, "203.0.113.5", 443, ACK);
	struct pkt vm_sent = TCP("10.1.0.2", 40010, "203.0.113.5", 443, ACK);
	struct pkt sent6 = sent, e, want;
	uint8_t f[2048], w[2048];
	struct sg_flow fl;
	int len, wlen;
	__u64 m = dp_drops(0, SG_DROP_MALFORMED);

	test_begin();
	CHECK(dp_flow_of("10.1.0.2", 40010, "203.0.113.5", 443, 6, 1, &fl),
	      "the TCP flow of test_icmp_errors_in is there");
	e = icmp_error("198.51.100.1", SNAT, 3, 4, &sent, 8);
	want = icmp_error("198.51.100.1", "10.1.0.2", 3, 4, &vm_sent, 8);
	want.ttl = 63;

	/* The fuzzer's frame: translated, the padding left alone. */
	len = from_hex(fuzzed, f);
	e.pad = want.pad = 12;
	wlen = dp_build(&e, w);
	CHECK(wlen == len && !memcmp(w, f, len), "the fuzzer's frame is "
	      "the error built with 12 bytes of padding");
	wlen = dp_build(&want, w);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_REDIRECT_V, w,
		    wlen);
	CHECK(error_sums_ok(out, out_len), "checksums");

	/* The same with patterned padding, and with the whole TCP header
	 * (its checksum in the packet) followed by padding. */
	len = padded(&e, 12, f);
	wlen = padded(&want, 12, w);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_REDIRECT_V, w,
		    wlen);
	CHECK(error_sums_ok(out, out_len), "checksums, 8 bytes");
	e.inner_l4 = want.inner_l4 = 28;
	len = padded(&e, 16, f);
	wlen = padded(&want, 16, w);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_REDIRECT_V, w,
		    wlen);
	CHECK(error_sums_ok(out, out_len), "checksums, whole TCP header");

	/* Embedded header wholly in the padding (tot_len 28), cut in its
	 * first 20 bytes, cut in its 8 L4 bytes: dropped, unchanged. */
	len = dp_build(&e, f);
	set_tot_len(f, 28);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_SHOT_V, f, len);
	len = dp_build(&e, f);
	set_tot_len(f, 28 + 10);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_SHOT_V, f, len);
	len = dp_build(&e, f);
	set_tot_len(f, 28 + 20 + 4);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_SHOT_V, f, len);
	/* Embedded options cut short. */
	sent6.ihl = 6;
	e.inner = &sent6;
	len = dp_build(&e, f);
	set_tot_len(f, 28 + 22);
	frame_check(SG_PROG_TC_UPLINK_IN, NULL, f, len, TC_SHOT_V, f, len);
	CHECK(dp_drops(0, SG_DROP_MALFORMED) == m + 4, "%llu malformed, want 4",
	      (unsigned long long)(dp_drops(0, SG_DROP_MALFORMED) - m));
	test_end("inbound ICMP errors are read within the IP packet only, "
		 "never in the Ethernet padding after it");
}

/* The same for the errors a VM sends about a reply it received. */
static void test_icmp_errors_padded_out(void)
{
	struct pkt rep_vm = TCP("203.0.113.5", 443, "10.1.0.2", 40010,
				SYN | ACK);
	struct pkt rep_wire = TCP("203.0.113.5", 443, SNAT, 40010, SYN | ACK);
	struct pkt e, want;
	uint8_t f[2048], w[2048];
	int len, wlen;
	__u64 m = dp_drops(1, SG_DROP_MALFORMED);

	test_begin();
	e = icmp_error("10.1.0.2", "203.0.113.5", 3, 13, &rep_vm, 8);
	want = icmp_error(SNAT, "203.0.113.5", 3, 13, &rep_wire, 8);
	len = padded(&e, 12, f);
	wlen = padded(&want, 12, w);
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", f, len, TC_OK_V, w, wlen);
	CHECK(error_sums_ok(out, out_len), "checksums, 8 bytes");
	e.inner_l4 = want.inner_l4 = 28;
	len = padded(&e, 16, f);
	wlen = padded(&want, 16, w);
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", f, len, TC_OK_V, w, wlen);
	CHECK(error_sums_ok(out, out_len), "checksums, whole TCP header");

	len = dp_build(&e, f);
	set_tot_len(f, 28);
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", f, len, TC_SHOT_V, f, len);
	len = dp_build(&e, f);
	set_tot_len(f, 28 + 20 + 4);
	frame_check(SG_PROG_TC_UPLINK_OUT, "s1", f, len, TC_SHOT_V, f, len);
	CHECK(dp_drops(1, SG_DROP_MALFORMED) == m + 2, "%llu malformed, want 2",
	      (unsigned long long)(dp_drops(1, SG_DROP_MALFORMED) - m));
	test_end("outbound ICMP errors are read within the IP packet only, "
		 "never in the Ethernet padding after it");
}

/*
 * ICMP errors about flows whose port the NAT changed: the VM's ports lie
 * outside nat-ports lo..hi. The embedded port is translated with the
 * address, both ways, checksums exact.
 */
static void icmp_errors_remapped(const char *vm, uint16_t lo, uint16_t hi)
{
	struct pkt syn = TCP(vm, 5010, "203.0.113.20", 443, SYN);
	struct pkt q = UDP(vm, 5011, "198.51.100.20", 53);
	struct pkt tcp_vm = TCP(vm, 5010, "203.0.113.20", 443, ACK);
	struct pkt tcp_wire = TCP(SNAT, 0, "203.0.113.20", 443, ACK);
	struct pkt udp_vm = UDP(vm, 5011, "198.51.100.20", 53);
	struct pkt udp_wire = UDP(SNAT, 0, "198.51.100.20", 53);
	struct pkt rep_vm = TCP("203.0.113.20", 443, vm, 5010, SYN | ACK);
	struct pkt rep_wire = TCP("203.0.113.20", 443, SNAT, 0, SYN | ACK);
	struct pkt ans_vm = UDP("198.51.100.20", 53, vm, 5011);
	struct pkt ans_wire = UDP("198.51.100.20", 53, SNAT, 0);
	struct pkt e, want;
	struct sg_flow f;
	uint16_t tp, up;

	snat("s1", &syn, TC_OK_V, NULL);
	tp = dp_sport(out);
	snat("s1", &q, TC_OK_V, NULL);
	up = dp_sport(out);
	CHECK(tp >= lo && tp <= hi && up >= lo && up <= hi,
	      "ports %u and %u, want %u-%u", tp, up, lo, hi);
	CHECK(dp_flow_of(vm, 5010, "203.0.113.20", 443, 6, 1, &f) &&
	      ntohs(f.xlate.sport) == tp, "the TCP flow has port %u", tp);
	CHECK(dp_flow_of(vm, 5011, "198.51.100.20", 53, 17, 1, &f) &&
	      ntohs(f.xlate.sport) == up, "the UDP flow has port %u", up);
	tcp_wire.sport = rep_wire.dport = tp;
	udp_wire.sport = ans_wire.dport = up;

	/* Inbound: fragmentation needed with the whole TCP header (its
	 * checksum included), port unreachable with 8 bytes of UDP. */
	e = icmp_error("198.51.100.1", SNAT, 3, 4, &tcp_wire, 28);
	want = icmp_error("198.51.100.1", vm, 3, 4, &tcp_vm, 28);
	want.ttl = 63;
	rnat(&e, TC_REDIRECT_V, &want);
	e = icmp_error("198.51.100.20", SNAT, 3, 3, &udp_wire, 8);
	want = icmp_error("198.51.100.20", vm, 3, 3, &udp_vm, 8);
	want.ttl = 63;
	rnat(&e, TC_REDIRECT_V, &want);

	/* Outbound: the VM's errors about the replies it received. */
	e = icmp_error(vm, "203.0.113.20", 3, 13, &rep_vm, 28);
	want = icmp_error(SNAT, "203.0.113.20", 3, 13, &rep_wire, 28);
	snat("s1", &e, TC_OK_V, &want);
	e = icmp_error(vm, "198.51.100.20", 3, 3, &ans_vm, 8);
	want = icmp_error(SNAT, "198.51.100.20", 3, 3, &ans_wire, 8);
	snat("s1", &e, TC_OK_V, &want);
}

static void test_icmp_errors_remapped(void)
{
	/* A sector of several CIDRs, its VM in the second. */
	static const char multi[] =
		"version: 1\nhost: {uplinks: [{interface: up0}], "
		"nat-ports: 40300-40399}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24, 10.71.0.0/16], "
		"interfaces: [s1]}\n";

	test_begin();
	/* The fixture's nat-ports: the default, 32768-60999. */
	icmp_errors_remapped("10.1.0.2", 32768, 60999);
	CHECK(dp_load_definitions(multi) == 0, "apply vm1 with two CIDRs");
	icmp_errors_remapped("10.71.4.2", 40300, 40399);
	CHECK(dp_load_definitions(NULL) == 0, "restore the fixture");
	test_end("ICMP errors about flows whose port the NAT changed carry "
		 "the translated port, both ways");
}

/* Move the flows' clock forward (the fixture keeps default timeouts:
 * tcp-established 7440 s, tcp-transitory 240 s, udp 300 s, icmp 60 s). */
static void advance(unsigned int secs)
{
	dp_in.skel->bss->sg_clock_offset_ns += secs * 1000000000ULL;
}

static void test_timeouts(void)
{
	struct pkt syn = TCP("10.1.0.2", 41000, "203.0.113.7", 80, SYN);
	struct pkt synack = TCP("203.0.113.7", 80, SNAT, 41000, SYN | ACK);
	struct pkt ack = TCP("10.1.0.2", 41000, "203.0.113.7", 80, ACK);
	struct pkt data = TCP("203.0.113.7", 80, SNAT, 41000, ACK);
	struct pkt fin = TCP("10.1.0.2", 41000, "203.0.113.7", 80, ACK | 1);
	struct pkt q = UDP("10.1.0.2", 41001, "203.0.113.7", 53);
	struct pkt a = UDP("203.0.113.7", 53, SNAT, 41001);
	struct pkt ping = PING("10.1.0.2", "203.0.113.7", 41002);
	struct pkt pong = PONG("203.0.113.7", SNAT, 41002);
	struct sg_flow f;

	test_begin();
	/* A SYN nobody answers lives tcp-transitory. */
	syn.sport = 41003;
	snat("s1", &syn, TC_OK_V, NULL);
	advance(241);
	synack.dport = 41003;
	rnat(&synack, TC_OK_V, &synack);
	syn.sport = synack.dport = 41000;
	snat("s1", &syn, TC_OK_V, NULL);
	advance(239);
	rnat(&synack, TC_REDIRECT_V, NULL);
	CHECK(dp_flow_of("10.1.0.2", 41000, "203.0.113.7", 80, 6, 1, &f) &&
	      f.state == SG_FLOW_ESTABLISHED, "established by the SYN-ACK");
	/* Established: tcp-established, refreshed by every packet. */
	advance(7000);
	snat("s1", &ack, TC_OK_V, NULL);
	advance(7000);
	rnat(&data, TC_REDIRECT_V, NULL);
	advance(7441);
	rnat(&data, TC_OK_V, &data);	/* expired: the host's, untouched */

	/* A new SYN reopens it; the stale reply entry is taken over and the
	 * port is kept again. FIN makes it transitory. */
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 41000, "port kept on reopening");
	rnat(&synack, TC_REDIRECT_V, NULL);
	snat("s1", &fin, TC_OK_V, NULL);
	CHECK(dp_flow_of("10.1.0.2", 41000, "203.0.113.7", 80, 6, 1, &f) &&
	      f.state == SG_FLOW_CLOSING, "closing after FIN");
	advance(241);
	rnat(&data, TC_OK_V, &data);

	/* UDP: 300 s after the last packet. ICMP echo: 60 s. */
	snat("s1", &q, TC_OK_V, NULL);
	advance(299);
	rnat(&a, TC_REDIRECT_V, NULL);
	advance(299);
	rnat(&a, TC_REDIRECT_V, NULL);
	advance(301);
	rnat(&a, TC_OK_V, &a);
	snat("s1", &ping, TC_OK_V, NULL);
	pong.sport = out_icmp_id();
	advance(59);
	rnat(&pong, TC_REDIRECT_V, NULL);
	advance(61);
	rnat(&pong, TC_OK_V, &pong);
	test_end("TCP state and the timeouts of every protocol, on an "
		 "injected clock");
}

/*
 * A reply entry whose primary is not (yet) there: another CPU is between
 * claiming the port and writing its primary. The port must not be taken
 * from it until its short minimum life is over.
 */
static void test_claim_race(void)
{
	struct sg_flow_key k = { .sport = htons(80), .dport = htons(43000),
				 .proto = 6 };
	struct sg_flow r = { .dir = SG_FLOW_REPLY, .nat = SG_NAT_SNAT,
			     .peer_zone = 1, .xlate.dport = htons(43000),
			     .xlate.sport = htons(80) };
	struct pkt p = TCP("10.1.0.2", 43000, "203.0.113.11", 80, SYN);
	uint64_t now = sg_ktime_now() + dp_in.skel->bss->sg_clock_offset_ns;

	test_begin();
	inet_pton(AF_INET, "203.0.113.11", &k.saddr);
	inet_pton(AF_INET, SNAT, &k.daddr);
	inet_pton(AF_INET, "10.1.0.77", &r.xlate.daddr);
	r.xlate.saddr = k.saddr;
	r.expires_ns = now + 1000000000ULL;
	CHECK(!bpf_map_update_elem(dp_in.fds.flows, &k, &r, BPF_NOEXIST),
	      "plant the half-made flow");
	snat("s1", &p, TC_OK_V, NULL);
	CHECK(dp_sport(out) != 43000, "port taken from a flow being made");
	advance(3);
	p.sport = 43000;
	p.src = "10.1.0.3";
	snat("s1", &p, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 43000, "an abandoned claim is reclaimed");
	test_end("a port being claimed on another CPU is not stolen");
}

/*
 * A flow reopened on another port leaves its old reply entry behind: it
 * must translate nothing any more, and garbage collection removes it.
 */
static void test_remapped(void)
{
	struct pkt syn = TCP("10.1.0.2", 44000, "203.0.113.12", 80, SYN);
	struct pkt old = TCP("203.0.113.12", 80, SNAT, 44000, SYN | ACK);
	uint64_t now = sg_ktime_now() + dp_in.skel->bss->sg_clock_offset_ns;
	struct sg_flow_key k = { .sport = htons(44000), .dport = htons(80),
				 .proto = 6, .zone = 1 };
	struct sg_flow f, r;

	test_begin();
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 44000, "port kept");
	/* As if the flow had been reopened on port 44001. */
	inet_pton(AF_INET, "10.1.0.2", &k.saddr);
	inet_pton(AF_INET, "203.0.113.12", &k.daddr);
	CHECK(!bpf_map_lookup_elem(dp_in.fds.flows, &k, &f), "primary");
	f.xlate.sport = htons(44001);
	CHECK(!bpf_map_update_elem(dp_in.fds.flows, &k, &f, BPF_EXIST),
	      "remap");
	rnat(&old, TC_OK_V, &old);	/* the host's: nothing maps it */
	advance(3);			/* past the reply entry's own life */
	CHECK(dp_collect(now + 3000000000ULL, 0) >= 1,
	      "collected");
	CHECK(!dp_flow_of("203.0.113.12", 80, SNAT, 44000, 6, 0, &r),
	      "the old mapping is gone");
	CHECK(dp_flow_of("10.1.0.2", 44000, "203.0.113.12", 80, 6, 1, &f),
	      "the flow itself stays");
	test_end("a reply entry left by a remapped flow maps nothing and is "
		 "collected");
}

/* What run does every few seconds, on the same injected clock. */
static void test_gc(void)
{
	struct pkt live = TCP("10.1.0.2", 42000, "203.0.113.8", 80, SYN);
	struct pkt live_back = TCP("203.0.113.8", 80, SNAT, 42000, SYN | ACK);
	uint64_t now = sg_ktime_now() + dp_in.skel->bss->sg_clock_offset_ns;
	struct sg_flow_key key, *prev = NULL;
	int before, removed, stale = 0;
	struct sg_flow f;

	test_begin();
	snat("s1", &live, TC_OK_V, NULL);
	before = sg_map_count(dp_in.fds.flows, sizeof(struct sg_flow_key));
	removed = dp_collect(now, 0);
	CHECK(removed > 0, "nothing removed of %d entries", before);
	CHECK(sg_map_count(dp_in.fds.flows, sizeof(key)) == before - removed,
	      "count");
	while (!bpf_map_get_next_key(dp_in.fds.flows, prev, &key)) {
		prev = &key;
		if (!bpf_map_lookup_elem(dp_in.fds.flows, &key, &f) &&
		    f.dir == SG_FLOW_ORIG && f.expires_ns < now)
			stale++;
	}
	CHECK(!stale, "%d expired flows left", stale);
	rnat(&live_back, TC_REDIRECT_V, NULL);
	CHECK(dp_collect(now, 0) == 0, "a second pass "
	      "finds nothing");
	test_end("garbage collection removes expired flows, keeps live ones");
}

static void test_exhaustion(void)
{
	static const char tiny[] =
		"version: 1\nhost: {uplinks: [{interface: up0}], "
		"nat-ports: 40100-40101}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n";
	struct pkt p = TCP("10.1.0.2", 1001, "198.51.100.9", 80, SYN);
	__u64 before = dp_drops(1, SG_DROP_NAT_PORTS_EXHAUSTED);
	uint16_t first;

	test_begin();
	CHECK(dp_load_definitions(tiny) == 0, "apply nat-ports 40100-40101");
	snat("s1", &p, TC_OK_V, NULL);
	first = dp_sport(out);
	p.sport = 1002;
	snat("s1", &p, TC_OK_V, NULL);
	CHECK(first != dp_sport(out) && first >= 40100 && first <= 40101 &&
	      dp_sport(out) >= 40100 && dp_sport(out) <= 40101, "both ports used");
	p.sport = 1003;
	snat("s1", &p, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_NAT_PORTS_EXHAUSTED) == before + 1,
	      "counted as nat-ports-exhausted");
	p.sport = 1001;
	snat("s1", &p, TC_OK_V, NULL);
	CHECK(dp_sport(out) == first, "the existing flow is untouched");
	p = (struct pkt)TCP("10.1.0.2", 1003, "198.51.100.10", 80, SYN);
	snat("s1", &p, TC_OK_V, NULL);
	CHECK(dp_sport(out) >= 40100 && dp_sport(out) <= 40101,
	      "another remote endpoint reuses the ports");
	CHECK(dp_load_definitions(NULL) == 0, "restore the fixture");
	test_end("exhausted nat-ports drop new flows, not existing ones");
}


/*
 * Every port of a range of SG_NAT_PROBES is handed out before a new flow
 * is refused, whatever the random start: each new flow probes the range
 * from one, and 128 flows toward one remote endpoint take all 128 ports.
 */
static void test_exhaustion_whole_range(void)
{
	static const char range[] =
		"version: 1\nhost: {uplinks: [{interface: up0}], "
		"nat-ports: 40400-40527}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n";
	struct pkt p = UDP("10.1.0.2", 2000, "198.51.100.9", 53);
	__u64 before = dp_drops(1, SG_DROP_NAT_PORTS_EXHAUSTED);
	bool seen[128] = { false };
	int used = 0, refused = 0;

	test_begin();
	CHECK(dp_load_definitions(range) == 0, "apply nat-ports 40400-40527");
	for (int i = 0; i < 128; i++) {
		uint8_t in[2048];
		uint16_t port;
		int len;

		p.sport = 2000 + i;	/* outside the range: never kept */
		len = dp_build(&p, in);
		CHECK(dp_run(SG_PROG_TC_UPLINK_OUT, UPLINK, "s1", in, len, out,
			     &out_len, &retval) == 0, "test run");
		if (retval != TC_OK_V) {
			refused++;
			continue;
		}
		port = dp_sport(out);
		if (port >= 40400 && port <= 40527 && !seen[port - 40400]) {
			seen[port - 40400] = true;
			used++;
		}
	}
	CHECK(!refused && used == 128, "%d of 128 ports handed out, %d flows "
	      "refused", used, refused);
	p.sport = 2200;
	snat("s1", &p, TC_SHOT_V, NULL);
	CHECK(dp_drops(1, SG_DROP_NAT_PORTS_EXHAUSTED) == before + 1,
	      "the 129th: nat-ports-exhausted");
	CHECK(dp_load_definitions(NULL) == 0, "restore the fixture");
	test_end("a range of 128 ports is handed out whole before a flow is "
		 "refused");
}


/*
 * Port shadowing (bpf/sg_shadow.h). A VM holds port P towards R; the
 * host's own packets from the uplink address and P towards R (no ingress
 * device) are moved to another port, their replies get P back and go to
 * the host's stack, and the VM's replies still reach the VM.
 */
static void host_shadowed(const struct pkt *vm, const struct pkt *host,
			  const struct pkt *vm_reply,
			  const struct pkt *host_reply)
{
	struct pkt want = *host, reply = *host_reply, back = *host_reply;
	struct pkt vm_back = *vm_reply;
	uint8_t f[2048];
	struct sg_flow fl;
	uint16_t moved;
	bool echo = host->proto == 1;
	int len;

	/* The VM first: port preservation gives it P. */
	snat("s1", vm, TC_OK_V, NULL);
	CHECK((echo ? out_icmp_id() : dp_sport(out)) == vm->sport,
	      "the VM keeps its port %u", vm->sport);
	/* The host from the same P: moved into nat-ports. */
	snat(NULL, host, TC_OK_V, NULL);
	moved = echo ? out_icmp_id() : dp_sport(out);
	CHECK(moved != host->sport && moved >= 32768 && moved <= 60999,
	      "the host's port %u moved to %u", host->sport, moved);
	want.sport = moved;
	snat(NULL, host, TC_OK_V, &want);
	CHECK(dp_flow_of(host->src, host->sport, host->dst, host->dport,
			 host->proto, 0, &fl) && fl.dir == SG_FLOW_ORIG &&
	      fl.nat == SG_NAT_HOST && ntohs(fl.xlate.sport) == moved &&
	      fl.out_ifindex == if_nametoindex(UPLINK),
	      "the host's flow, zone 0");
	/* An echo reply's id is the builder's sport and the key's dport. */
	if (echo)
		reply.sport = moved;
	else
		reply.dport = moved;
	CHECK(dp_flow_of(reply.src, echo ? 0 : reply.sport, reply.dst,
			 moved, reply.proto, 0, &fl) &&
	      fl.dir == SG_FLOW_REPLY &&
	      fl.nat == SG_NAT_HOST && ntohs(fl.xlate.dport) == host->sport,
	      "its reply entry restores port %u", host->sport);

	/* Its reply: left to tc by XDP, port restored, to the host's stack
	 * with its TTL. */
	len = dp_build(&reply, f);
	CHECK(dp_run(SG_PROG_XDP_UPLINK, UPLINK, NULL, f, len, out, &out_len,
		     &retval) == 0 && retval == XDP_PASS_V &&
	      dp_same_frame(f, len, out, out_len), "XDP leaves it to tc");
	rnat(&reply, TC_OK_V, &back);
	/* The VM's replies are still the VM's. */
	vm_back.dst = vm->src;
	vm_back.ttl = 63;
	rnat(vm_reply, TC_REDIRECT_V, &vm_back);
	/* The host's next packets reuse the mapping. */
	snat(NULL, host, TC_OK_V, &want);
	rnat(&reply, TC_OK_V, &back);
}

static void test_host_shadowed(void)
{
	struct pkt vm = TCP("10.1.0.2", 45500, "203.0.113.30", 80, SYN);
	struct pkt host = TCP(SNAT, 45500, "203.0.113.30", 80, SYN);
	struct pkt vm_rep = TCP("203.0.113.30", 80, SNAT, 45500, SYN | ACK);
	struct pkt host_rep = TCP("203.0.113.30", 80, SNAT, 45500, SYN | ACK);
	struct pkt ack = TCP(SNAT, 45500, "203.0.113.30", 80, ACK);
	struct pkt sent = ack, e, want;
	struct sg_flow fl;

	test_begin();
	host_shadowed(&vm, &host, &vm_rep, &host_rep);
	CHECK(dp_flow_of(SNAT, 45500, "203.0.113.30", 80, 6, 0, &fl) &&
	      fl.state == SG_FLOW_ESTABLISHED, "established by its SYN-ACK");
	snat(NULL, &ack, TC_OK_V, NULL);
	CHECK(dp_checksums_ok(out, out_len) && dp_sport(out) != 45500 &&
	      dp_sport(out) == ntohs(fl.xlate.sport), "the ACK keeps it");
	/* Fragmentation needed about it: the host's socket learns it. */
	sent.sport = ntohs(fl.xlate.sport);
	e = icmp_error("198.51.100.1", SNAT, 3, 4, &sent, 28);
	want = icmp_error("198.51.100.1", SNAT, 3, 4, &ack, 28);
	rnat(&e, TC_OK_V, &want);
	CHECK(error_sums_ok(out, out_len), "the error's checksums");

	vm = (struct pkt)UDP("10.1.0.2", 45501, "198.51.100.30", 53);
	host = (struct pkt)UDP(SNAT, 45501, "198.51.100.30", 53);
	vm_rep = host_rep = (struct pkt)UDP("198.51.100.30", 53, SNAT, 45501);
	host_shadowed(&vm, &host, &vm_rep, &host_rep);

	vm = (struct pkt)PING("10.1.0.2", "198.51.100.31", 45502);
	host = (struct pkt)PING(SNAT, "198.51.100.31", 45502);
	vm_rep = host_rep = (struct pkt)PONG("198.51.100.31", SNAT, 45502);
	host_shadowed(&vm, &host, &vm_rep, &host_rep);
	test_end("a host connection on a port a VM's flow holds is moved, "
		 "its replies and ICMP errors restored byte-exact (TCP, UDP, "
		 "ICMP echo)");
}

/* A socket of the test's namespace on 192.0.2.1:port (TCP: listening). */
static int host_socket(int type, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;

	inet_pton(AF_INET, SNAT, &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    (type == SOCK_STREAM && listen(fd, 1))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * The other order: a host socket holds P, and a VM's flow that would keep
 * P (port preservation) or probe it gets another port. The sockets are
 * the test namespace's, which the test runs' lookups see.
 */
static void test_host_socket_held(void)
{
	static const char few[] =
		"version: 1\nhost: {uplinks: [{interface: up0}], "
		"nat-ports: 40200-40202}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n";
	struct pkt syn = TCP("10.1.0.2", 45600, "203.0.113.40", 80, SYN);
	struct pkt q = UDP("10.1.0.2", 45601, "203.0.113.40", 53);
	struct pkt host = TCP(SNAT, 40200, "203.0.113.41", 80, SYN);
	struct pkt want = host;
	int t = host_socket(SOCK_STREAM, 45600);
	int u = host_socket(SOCK_DGRAM, 45601);
	int t2 = host_socket(SOCK_STREAM, 40201);
	__u64 ex = dp_drops(0, SG_DROP_NAT_PORTS_EXHAUSTED);

	test_begin();
	CHECK(t >= 0 && u >= 0 && t2 >= 0, "host sockets");
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) != 45600, "TCP: not the listener's port");
	snat("s1", &q, TC_OK_V, NULL);
	CHECK(dp_sport(out) != 45601, "UDP: not the bound socket's port");
	syn.sport = q.sport = 45610;
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 45610, "a free port is kept");

	/* nat-ports 40200-40202: the VM takes 40200 towards .41; the host
	 * from 40200 is moved, past the listener on 40201, to 40202. */
	CHECK(dp_load_definitions(few) == 0, "apply nat-ports 40200-40202");
	syn = (struct pkt)TCP("10.1.0.2", 40200, "203.0.113.41", 80, SYN);
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 40200, "the VM keeps 40200");
	want.sport = 40202;
	snat(NULL, &host, TC_OK_V, &want);
	/* Nothing left for a second host connection on 40200. */
	host.dst = want.dst = "203.0.113.42";
	syn.dst = "203.0.113.42";
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 40200, "the VM keeps 40200 towards .42");
	syn.sport = 1;
	snat("s1", &syn, TC_OK_V, NULL);
	CHECK(dp_sport(out) == 40202, "and gets 40202 too");
	snat(NULL, &host, TC_SHOT_V, NULL);
	CHECK(dp_drops(0, SG_DROP_NAT_PORTS_EXHAUSTED) == ex + 1,
	      "a host connection that cannot be moved is dropped, counted");
	CHECK(dp_load_definitions(NULL) == 0, "restore the fixture");
	close(t);
	close(u);
	close(t2);
	test_end("a port a host socket holds is never claimed for a VM, nor "
		 "for a moved host connection");
}

/*
 * A forward publishes its port on the uplink address: a host connection
 * from that port would have its replies taken for new connections to the
 * forward, into the sector. It is moved too, and its replies restored.
 */
static void test_host_forward_port(void)
{
	static const char fwd[] =
		"version: 1\nhost: {uplinks: [{interface: up0}], "
		"nat-ports: 40300-40301}\nsectors:\n"
		"  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [s1], "
		"forwards: [{proto: udp, port: 5300, to: '10.1.0.2:53'}]}\n";
	struct pkt q = UDP(SNAT, 5300, "198.51.100.40", 53);
	struct pkt a = UDP("198.51.100.40", 53, SNAT, 0);
	struct pkt want = q, back = a;
	uint16_t moved;

	test_begin();
	CHECK(dp_load_definitions(fwd) == 0, "apply a forward of udp 5300");
	snat(NULL, &q, TC_OK_V, NULL);
	moved = dp_sport(out);
	CHECK(moved == 40300 || moved == 40301, "moved to %u", moved);
	want.sport = a.dport = moved;
	snat(NULL, &q, TC_OK_V, &want);
	back.dport = 5300;
	rnat(&a, TC_OK_V, &back);
	CHECK(dp_load_definitions(NULL) == 0, "restore the fixture");
	test_end("a host connection from a forward's port is moved, its "
		 "replies restored, not taken for the forward");
}

int main(void)
{
	int ret = dp_setup(MAX_FLOWS);

	if (ret) {
		if (ret > 0)
			test_skip("nat", "needs root to create a network "
				  "namespace and load BPF");
		return ret > 0 ? test_summary("test_nat") : 1;
	}
	test_tcp_flow();
	test_udp();
	test_icmp_echo();
	test_overlap();
	test_unsolicited();
	test_not_mapped();
	test_fragments();
	test_foreign_ingress();
	test_icmp_errors_in();
	test_icmp_errors_out();
	test_icmp_errors_refused();
	test_bad_header_checksum();
	test_icmp_errors_padded_in();
	test_icmp_errors_padded_out();
	test_icmp_errors_remapped();
	test_timeouts();
	test_claim_race();
	test_gc();
	test_remapped();
	test_exhaustion();
	test_exhaustion_whole_range();
	test_host_shadowed();
	test_host_socket_held();
	test_host_forward_port();
	sg_instance_close(&dp_in);
	return test_summary("test_nat");
}
