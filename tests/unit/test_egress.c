// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Egress steering through BPF_PROG_TEST_RUN, repeat = 1: a sector's
 * packets that match an egress policy are redirected by its tc ingress to
 * the policy's device, translated at that device's tc egress (or left as
 * they are under `snat-address: none`), and their replies translated back
 * at its tc ingress and redirected to the VM; XDP passes them up to tc;
 * failover to the next device for new flows, existing ones dropped while
 * their device is down (egress-down), never falling back to the uplink.
 * Every frame is compared byte for byte with one built by hand.
 *
 * The egress devices e0 and e1 are Ethernet (veth) with a route through
 * each (default, metric 1000 and 1001: the main default route stays via
 * up0) to a permanent neighbour; e2 is named but never present. L3
 * devices (tun) cannot be fed by BPF_PROG_TEST_RUN, which builds every
 * skb from an Ethernet frame: tests/e2e/egress.sh covers them.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dp_lib.h"
#include "sectorgate.skel.h"
#include "sg_test.h"

#define VM		"10.1.0.2"
#define FAR		"203.0.113.5"
#define E0_ADDR		"10.201.0.1"
#define E1_ADDR		"10.202.0.1"
#define NAT_PORT	40500

/* The host of every definitions file here: one uplink, one NAT port. */
#define HOST	"version: 1\n"					\
		"host:\n"						\
		"  uplinks: [{interface: up0}]\n"			\
		"  nat-ports: 40500-40500\n"

static const char *const definitions =
	HOST
	"sectors:\n"
	"  - name: vm1\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [s1]\n"
	"    egress:\n"
	"      - {destinations: [203.0.113.0/24], proto: tcp, ports: [6333],\n"
	"         interface: e1, snat-address: none}\n"
	"      - {destinations: [203.0.113.0/24], except: [203.0.113.128/25],\n"
	"         interface: [e0, e1]}\n"
	"      - {destinations: [198.18.0.0/15], interface: e2}\n"
	"      - {destinations: [10.200.0.0/14], interface: e0}\n"
	"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";

/* CHECK, and on failure also run `also` (mark a helper's result bad). */
#define CHECK_OR(cond, also, fmt, ...)				\
	do {							\
		bool ok_ = (cond);				\
		CHECK(ok_, fmt, ##__VA_ARGS__);			\
		if (!ok_)					\
			also;					\
	} while (0)

static int ifindex(const char *name)
{
	return if_nametoindex(name);
}

/* Set a device up or down and compile the definitions again, as `run`
 * does at the link notification (which comes once the operstate is). */
static int link_set(const char *dev, bool up)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link set %s %s", dev,
		 up ? "up" : "down");
	if (system(cmd))
		return -1;
	for (int i = 0; i < 200 && dp_link_running(dev) != up; i++)
		usleep(10000);
	return dp_load_definitions(definitions);
}

/*
 * p leaves s1 steered to dev: tc ingress redirects it, TTL as a router
 * leaves it; dev's tc egress sends it as `sent` (TTL already lowered).
 */
static bool steered(const struct pkt *p, const char *dev,
		    const struct pkt *sent)
{
	uint8_t mid[2048], out[2048];
	uint32_t mlen, len, v;
	bool ok = true;

	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, p, mid, &mlen);
	CHECK_OR(v == TC_REDIRECT_V, ok = false, "tc ingress: verdict %u, "
		 "want the redirect", v);
	CHECK_OR(dp_sent_as(p, 1, mid, mlen), ok = false,
		 "tc ingress: more than the TTL changed");
	if (!ok)
		return false;
	CHECK_OR(dp_run(SG_PROG_TC_TRUSTED_OUT, dev, "s1", mid, mlen, out,
			&len, &v) == 0 && v == TC_OK_V, ok = false,
		 "%s's tc egress: verdict %u", dev, v);
	CHECK_OR(dp_sent_as(sent, 1, out, len), ok = false,
		 "%s's tc egress: not the translated frame", dev);
	return ok;
}

/* A reply arriving on dev goes to the VM as `delivered`. */
static bool replied(const char *dev, const struct pkt *reply,
		    const struct pkt *delivered)
{
	uint8_t out[2048];
	uint32_t len;
	int v = dp_run_pkt(SG_PROG_TC_TRUSTED_IN, dev, NULL, reply, out, &len);
	bool ok = true;

	CHECK_OR(v == TC_REDIRECT_V, ok = false, "reply on %s: verdict %d",
		 dev, v);
	CHECK_OR(dp_sent_as(delivered, 1, out, len), ok = false,
		 "reply on %s: not translated back", dev);
	return ok;
}

static void expect_down(const struct pkt *p, const char *why)
{
	__u64 before = dp_drops(1, SG_DROP_EGRESS_DOWN);
	uint8_t out[2048];
	uint32_t len;

	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, p, out,
			 &len) == TC_SHOT_V,
	      "%s: not dropped", why);
	CHECK(dp_drops(1, SG_DROP_EGRESS_DOWN) == before + 1,
	      "%s: not counted as egress-down", why);
}

/* e0's route through 10.201.0.2 removed or back. */
static bool e0_route(bool on)
{
	return !system(on ? "ip route add default via 10.201.0.2 dev e0 "
			    "metric 1000" :
			    "ip route del default via 10.201.0.2 dev e0");
}

static void test_snat(void)
{
	const struct pkt req = UDP(VM, 5000, FAR, 53);
	const struct pkt sent = UDP(E0_ADDR, NAT_PORT, FAR, 53);
	const struct pkt ans = UDP(FAR, 53, E0_ADDR, NAT_PORT);
	const struct pkt back = UDP(FAR, 53, VM, 5000);
	const struct pkt ping = PING(VM, FAR, 77);
	const struct pkt ping_sent = PING(E0_ADDR, FAR, NAT_PORT);
	const struct pkt pong = PONG(FAR, E0_ADDR, NAT_PORT);
	const struct pkt pong_back = PONG(FAR, VM, 77);
	struct sg_flow f;

	test_begin();
	dp_flush_flows();
	CHECK(steered(&req, "e0", &sent), "UDP out");
	CHECK(dp_flow_of(VM, 5000, FAR, 53, 17, 1, &f) &&
	      f.nat == SG_NAT_EGRESS && f.out_ifindex == (__u32)ifindex("e0") &&
	      f.in_ifindex == (__u32)ifindex("s1"),
	      "no steered flow on e0 under the VM's tuple");
	CHECK(replied("e0", &ans, &back), "UDP back");
	CHECK(dp_flow_of(VM, 5000, FAR, 53, 17, 1, &f) &&
	      (f.flags & SG_FLOW_ANSWERED), "the reply is not seen");
	CHECK(steered(&ping, "e0", &ping_sent), "ping out");
	CHECK(replied("e0", &pong, &pong_back), "ping back");
	test_end("steered into e0 with its address: UDP and ping out "
		 "translated at e0's tc egress, replies back to the VM, "
		 "byte-exact");
}

/*
 * The decision kept in a steered flow (sg_steer_again): its next packets
 * leave by the device and next hop its first one found, without the
 * route lookup (shown by removing the route: they still leave, the same
 * bytes, counted as received from the sector), until the recheck is due
 * or the definitions are applied again; TCP SYN, FIN and RST are decided
 * afresh.
 */
static void test_kept_decision(void)
{
	const struct pkt a = UDP(VM, 5030, FAR, 1030);
	const struct pkt a_sent = UDP(E0_ADDR, NAT_PORT, FAR, 1030);
	const struct pkt syn = TCP(VM, 5031, FAR, 443, SYN);
	const struct pkt tcp[] = { TCP(VM, 5031, FAR, 443, SYN),
				   TCP(VM, 5031, FAR, 443, ACK | 1),
				   TCP(VM, 5031, FAR, 443, 4) };
	__u64 *clock = &dp_in.skel->bss->sg_clock_offset_ns, clock0 = *clock;
	struct sg_counters before, after;
	uint8_t mid[2048], gw[4];
	uint32_t mlen, v;
	struct sg_flow f;

	test_begin();
	CHECK(!dp_load_definitions(definitions), "definitions");
	dp_flush_flows();
	inet_pton(AF_INET, "10.201.0.2", gw);
	CHECK(steered(&a, "e0", &a_sent), "the first packet steered");
	CHECK(dp_flow_of(VM, 5030, FAR, 1030, 17, 1, &f) &&
	      f.kept.ifindex == (__u32)ifindex("e0") &&
	      !memcmp(f.kept.next_hop, gw, 4),
	      "its decision kept: out of e0 (%u), through 10.201.0.2",
	      f.kept.ifindex);
	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &syn, mid, &mlen);
	CHECK(v == TC_REDIRECT_V, "a TCP flow opened (%u)", v);
	CHECK(e0_route(false), "route of e0 removed");
	dp_counters(1, &before);
	CHECK(steered(&a, "e0", &a_sent), "the next packet leaves as kept");
	dp_counters(1, &after);
	CHECK(after.rx_packets == before.rx_packets + 1,
	      "and is counted as received (%llu -> %llu)", before.rx_packets,
	      after.rx_packets);
	for (int i = 0; i < 3; i++) {
		v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &tcp[i], mid,
			       &mlen);
		CHECK(v == TC_SHOT_V, "TCP flags %#x decided afresh: no route "
		      "(%u)", tcp[i].tcp_flags, v);
	}
	/* An apply: decided afresh at once. */
	CHECK(!dp_load_definitions(definitions), "applied again");
	expect_down(&a, "after an apply, decided afresh");
	CHECK(e0_route(true), "route of e0 back");
	/* The recheck: decided afresh a second later. */
	CHECK(steered(&a, "e0", &a_sent), "steered again, kept again");
	CHECK(e0_route(false), "route of e0 removed again");
	*clock += (SG_FWD_RECHECK_MS + 50) * 1000000ULL;
	expect_down(&a, "after the recheck, decided afresh");
	CHECK(e0_route(true), "route of e0 back");
	*clock = clock0;
	CHECK(steered(&a, "e0", &a_sent), "and steered");
	test_end("a steered flow's next packets use the decision kept in it "
		 "until the recheck or an apply; TCP SYN, FIN and RST are "
		 "decided afresh");
}

/*
 * A steered flow's entry written over by another flow while a program
 * read it (test_fast has the masquerade paths): e0's tc egress and
 * ingress use nothing they read from it.
 */
/*
 * A device that went down after the apply (no `run` to compile it again)
 * is still named by the policies: its own tc egress finds it down and
 * drops what was steered to it, egress-down, and passes it again once up.
 */
static void test_down_since_apply(void)
{
	const struct pkt req = UDP(VM, 5002, FAR, 53);
	uint8_t mid[2048], out[2048];
	uint32_t mlen, len, v;
	__u64 before;

	test_begin();
	CHECK(!dp_load_definitions(definitions), "definitions");
	dp_flush_flows();
	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &req, mid, &mlen);
	CHECK(v == TC_REDIRECT_V, "steered: verdict %u", v);
	CHECK(!system("ip link set e0 down"), "e0 down");
	for (int i = 0; i < 200 && dp_link_running("e0"); i++)
		usleep(10000);
	before = dp_drops(1, SG_DROP_EGRESS_DOWN);
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "e0", "s1", mid, mlen, out, &len,
		     &v) == 0 && v == TC_SHOT_V,
	      "e0 down: its tc egress: verdict %u, want SHOT", v);
	CHECK(dp_drops(1, SG_DROP_EGRESS_DOWN) == before + 1,
	      "counted as egress-down on vm1");
	CHECK(!system("ip link set e0 up") && e0_route(true), "e0 up");
	for (int i = 0; i < 200 && !dp_link_running("e0"); i++)
		usleep(10000);
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "e0", "s1", mid, mlen, out, &len,
		     &v) == 0 && v == TC_OK_V,
	      "e0 up again: verdict %u, want OK", v);
	test_end("a device down since the apply drops what was steered to it "
		 "at its tc egress, egress-down");
}

static void test_taken_entry(void)
{
	const struct pkt req = UDP(VM, 5001, FAR, 53);
	const struct pkt back = UDP(FAR, 53, VM, 5001);
	struct sg_flow_key k = dp_flow_key(VM, 5001, FAR, 53, 17, 1), rk;
	uint8_t mid[2048], out[2048];
	uint32_t mlen, len, v;
	struct pkt ans;
	struct sg_flow f;
	uint16_t port;

	test_begin();
	CHECK(!dp_load_definitions(definitions), "definitions");
	dp_flush_flows();
	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &req, mid, &mlen);
	CHECK(v == TC_REDIRECT_V &&
	      dp_run(SG_PROG_TC_TRUSTED_OUT, "e0", "s1", mid, mlen, out, &len,
		     &v) == 0 && v == TC_OK_V, "steered out of e0");
	CHECK(dp_flow_of(VM, 5001, FAR, 53, 17, 1, &f) &&
	      f.kept.key_tag == sg_flow_tag(&k), "the primary's tag");
	port = ntohs(f.xlate.sport);
	ans = (struct pkt)UDP(FAR, 53, E0_ADDR, port);
	rk = dp_flow_key(FAR, 53, E0_ADDR, port, 17, 0);
	CHECK(replied("e0", &ans, &back), "and back");
	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &req, mid, &mlen);
	CHECK(v == TC_REDIRECT_V && dp_flow_taken(&k), "steered, then taken");
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "e0", "s1", mid, mlen, out,
		     &len, &v) == 0 && v == TC_SHOT_V,
	      "e0's tc egress: verdict %u, want SHOT", v);
	CHECK(dp_flow_taken(&rk), "reply entry taken");
	v = dp_run_pkt(SG_PROG_TC_TRUSTED_IN, "e0", NULL, &ans, out, &len);
	CHECK(v == TC_SHOT_V, "e0's tc ingress: verdict %u, want SHOT", v);
	test_end("a steered flow's entry written over by another flow is "
		 "not used, out or back");
}

static void test_xdp_passes(void)
{
	const struct pkt req = UDP(VM, 5002, FAR, 53);
	uint8_t frame[2048], out[2048];
	uint32_t len, v;
	int flen = dp_build(&req, frame);
	struct sg_flow f;

	test_begin();
	dp_flush_flows();
	CHECK(dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, frame, flen, out, &len,
		     &v) == 0 && v == XDP_PASS_V, "XDP: verdict %u", v);
	CHECK(dp_same_frame(frame, flen, out, len), "XDP changed the frame");
	CHECK(!dp_flow_of(VM, 5002, FAR, 53, 17, 1, &f),
	      "XDP opened a flow: tc decides steered packets");
	test_end("XDP passes a steered sector's packet up to tc untouched");
}

static void test_routed(void)
{
	const struct pkt syn = TCP(VM, 5001, FAR, 6333, SYN);
	const struct pkt synack = TCP(FAR, 6333, VM, 5001, SYN | ACK);
	const struct pkt other = TCP(VM, 5003, FAR, 22, SYN);
	const struct pkt other_sent = TCP(E0_ADDR, NAT_PORT, FAR, 22, SYN);
	struct sg_flow f;

	test_begin();
	dp_flush_flows();
	CHECK(steered(&syn, "e1", &syn), "out");
	CHECK(dp_flow_of(VM, 5001, FAR, 6333, 6, 1, &f) &&
	      f.nat == SG_NAT_EGRESS && f.out_ifindex == (__u32)ifindex("e1") &&
	      f.xlate.saddr == inet_addr(VM), "no untranslated flow on e1");
	CHECK(replied("e1", &synack, &synack), "back");
	/* Another port of the same destination: the next policy. */
	CHECK(steered(&other, "e0", &other_sent), "port 22 not steered by "
	      "the next policy");
	test_end("snat-address none: TCP to the steered port leaves e1 as "
		 "the VM sent it and its reply comes back; another port takes "
		 "the next policy");

	/* Its reply arriving on another device is not its reply. */
	test_begin();
	{
		__u64 before = dp_drops(1, SG_DROP_UNSOLICITED);
		uint8_t out[2048];
		uint32_t len;

		CHECK(dp_run_pkt(SG_PROG_TC_TRUSTED_IN, "e0", NULL, &synack,
				 out,
			  &len) == TC_SHOT_V, "delivered from e0");
		CHECK(dp_drops(1, SG_DROP_UNSOLICITED) == before + 1,
		      "not counted as unsolicited");
	}
	test_end("a routed flow's reply on another device is unsolicited");
}

static void test_except(void)
{
	const struct pkt req = UDP(VM, 5004, "203.0.113.200", 53);
	const struct pkt sent = UDP("192.0.2.1", NAT_PORT, "203.0.113.200", 53);
	uint8_t mid[2048], out[2048];
	uint32_t mlen, len, v;

	test_begin();
	dp_flush_flows();
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &req, mid, &mlen) ==
	      TC_OK_V, "tc ingress does not leave it to the kernel's route");
	CHECK(dp_sent_as(&req, 0, mid, mlen), "tc ingress changed it");
	CHECK(dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", mid, mlen, out, &len,
		     &v) == 0 && v == TC_OK_V, "up0's tc egress: verdict %u",
	      v);
	CHECK(dp_sent_as(&sent, 0, out, len), "not masqueraded behind up0");
	test_end("a destination in except leaves by the uplink, masqueraded");
}

/* The host's own address on an egress device is the host's to answer. */
static void test_host_address(void)
{
	const struct pkt ping = PING(VM, E0_ADDR, 9);
	const struct pkt other = PING(VM, "10.203.0.9", 9);
	const struct pkt other_sent = PING(E0_ADDR, "10.203.0.9", NAT_PORT);
	uint8_t out[2048];
	uint32_t len;

	test_begin();
	dp_flush_flows();
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &ping, out, &len) ==
	      TC_OK_V, "not left to the host");
	CHECK(dp_sent_as(&ping, 0, out, len), "changed");
	/* The same policy steers its other addresses. */
	CHECK(steered(&other, "e0", &other_sent), "10.203.0.9 not steered");
	test_end("the host's address on an egress device is not steered: "
		 "the host answers it");
}

/* What the kernel would route to the uplink is never masqueraded there. */
static void test_no_fallback(void)
{
	const struct pkt req = UDP(VM, 5005, FAR, 53);
	uint8_t frame[2048], out[2048];
	uint32_t len, v;
	int flen = dp_build(&req, frame);
	__u64 before = dp_drops(1, SG_DROP_EGRESS_DOWN);

	test_begin();
	dp_flush_flows();
	CHECK(dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", frame, flen, out, &len,
		     &v) == 0 && v == TC_SHOT_V, "up0's tc egress: verdict %u",
	      v);
	CHECK(dp_drops(1, SG_DROP_EGRESS_DOWN) == before + 1,
	      "not counted as egress-down");
	test_end("a steered packet that reaches the uplink is dropped "
		 "(egress-down), never masqueraded");
}

static void test_failover(void)
{
	/* One remote port per flow: each may take the one NAT port. */
	const struct pkt a = UDP(VM, 5010, FAR, 1001);
	const struct pkt a_sent = UDP(E0_ADDR, NAT_PORT, FAR, 1001);
	const struct pkt b = UDP(VM, 5011, FAR, 1002);
	const struct pkt b_sent = UDP(E1_ADDR, NAT_PORT, FAR, 1002);
	const struct pkt c = UDP(VM, 5012, FAR, 1003);
	const struct pkt d = UDP(VM, 5013, FAR, 1004);
	const struct pkt d_sent = UDP(E0_ADDR, NAT_PORT, FAR, 1004);
	const struct pkt gone = UDP(VM, 5014, "198.18.0.5", 53);

	test_begin();
	dp_flush_flows();
	CHECK(steered(&a, "e0", &a_sent), "first flow");
	CHECK(link_set("e0", false) == 0, "e0 down");
	expect_down(&a, "the flow on e0 while e0 is down");
	CHECK(steered(&b, "e1", &b_sent), "a new flow while e0 is down");
	CHECK(link_set("e1", false) == 0, "e1 down");
	expect_down(&c, "a new flow with both down");
	expect_down(&b, "the flow on e1 with e1 down");
	/* The kernel drops the routes through a device that goes down:
	 * whoever manages the device adds them again. */
	CHECK(link_set("e0", true) == 0 && link_set("e1", true) == 0 &&
	      !system("ip route add default via 10.201.0.2 dev e0 metric 1000 "
		      "&& ip route add default via 10.202.0.2 dev e1 "
		      "metric 1001"), "both up again");
	CHECK(steered(&a, "e0", &a_sent), "the first flow, e0 back");
	CHECK(steered(&b, "e1", &b_sent), "the flow on e1 stays on e1");
	CHECK(steered(&d, "e0", &d_sent), "a new flow takes e0 again");
	expect_down(&gone, "a policy whose device is not present");
	test_end("failover: new flows take the first device up, a flow "
		 "stays on its device and is egress-down while it is down; "
		 "up again, traffic flows");
}

/* An Ethernet device whose route is gone cannot take new flows. */
static void test_no_route(void)
{
	const struct pkt a = UDP(VM, 5020, FAR, 1010);
	const struct pkt a_sent = UDP(E1_ADDR, NAT_PORT, FAR, 1010);

	test_begin();
	dp_flush_flows();
	CHECK(e0_route(false), "route of e0 removed");
	CHECK(steered(&a, "e1", &a_sent), "not steered into e1");
	CHECK(e0_route(true), "route of e0 back");
	test_end("a new flow skips an Ethernet device with no route for it");
}

/* An ICMP error from beyond the device about a steered packet. */
static void test_icmp_error(void)
{
	const struct pkt req = UDP(VM, 5030, FAR, 1020);
	const struct pkt sent = UDP(E0_ADDR, NAT_PORT, FAR, 1020);
	const struct pkt inner_sent = { .src = E0_ADDR, .dst = FAR,
		.proto = 17, .sport = NAT_PORT, .dport = 1020, .ttl = 63 };
	const struct pkt inner_back = { .src = VM, .dst = FAR, .proto = 17,
		.sport = 5030, .dport = 1020, .ttl = 63 };
	const struct pkt err = { .src = "10.201.0.2", .dst = E0_ADDR,
		.proto = 1, .icmp_type = 3, .icmp_code = 4,
		.inner = &inner_sent, .inner_l4 = 8 };
	const struct pkt err_back = { .src = "10.201.0.2", .dst = VM,
		.proto = 1, .icmp_type = 3, .icmp_code = 4,
		.inner = &inner_back, .inner_l4 = 8 };

	test_begin();
	dp_flush_flows();
	CHECK(steered(&req, "e0", &sent), "out");
	CHECK(replied("e0", &err, &err_back), "the error");
	test_end("an ICMP error about a steered flow reaches the VM, both "
		 "headers translated back");
}

/* An ICMP error the VM sends about a steered flow's reply. */
static void test_icmp_error_out(void)
{
	const struct pkt req = UDP(VM, 5040, FAR, 1040);
	const struct pkt sent = UDP(E0_ADDR, NAT_PORT, FAR, 1040);
	const struct pkt got = { .src = FAR, .dst = VM, .proto = 17,
		.sport = 1040, .dport = 5040, .ttl = 63 };
	const struct pkt wire = { .src = FAR, .dst = E0_ADDR, .proto = 17,
		.sport = 1040, .dport = NAT_PORT, .ttl = 63 };
	const struct pkt err = { .src = VM, .dst = FAR, .proto = 1,
		.icmp_type = 3, .icmp_code = 3, .inner = &got, .inner_l4 = 8 };
	const struct pkt err_sent = { .src = E0_ADDR, .dst = FAR, .proto = 1,
		.icmp_type = 3, .icmp_code = 3, .inner = &wire, .inner_l4 = 8 };
	const struct pkt elsewhere = { .src = VM, .dst = "203.0.113.6",
		.proto = 1, .icmp_type = 3, .icmp_code = 3, .inner = &got,
		.inner_l4 = 8 };
	uint8_t mid[2048], out[2048];
	uint32_t mlen, len, v;
	__u64 before;

	test_begin();
	dp_flush_flows();
	CHECK(steered(&req, "e0", &sent), "out");
	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &err, mid, &mlen);
	CHECK(v == TC_REDIRECT_V, "the error is not steered: verdict %u", v);
	CHECK(dp_sent_as(&err_sent, 1, mid, mlen),
	      "not translated as the flow's packets are");
	CHECK(dp_run(SG_PROG_TC_TRUSTED_OUT, "e0", "s1", mid, mlen, out, &len,
		     &v) == 0 && v == TC_OK_V, "e0's tc egress: verdict %u", v);
	CHECK(dp_sent_as(&err_sent, 1, out, len), "e0's tc egress changed it");
	/* To another host than the one that sent the packet it is about:
	 * it would leave by the flow's device, whatever the policies give
	 * that host. */
	before = dp_drops(1, SG_DROP_UNTRANSLATABLE);
	v = dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &elsewhere, mid, &mlen);
	CHECK(v == TC_SHOT_V && dp_drops(1, SG_DROP_UNTRANSLATABLE) == before + 1,
	      "an error to another host is not dropped as untranslatable: %u",
	      v);
	test_end("an ICMP error the VM sends about a steered flow leaves by "
		 "its device, both headers translated; to another host it "
		 "is untranslatable");
}

/* The TCP frame of p with an MSS option (its only one). */
static int tcp_with_mss(const struct pkt *p, uint16_t mss, uint8_t *b)
{
	int len = dp_build(p, b), tot;
	uint16_t sum;

	b[len] = 2;
	b[len + 1] = 4;
	b[len + 2] = mss >> 8;
	b[len + 3] = mss & 0xff;
	len += 4;
	tot = len - 14;
	b[14 + 2] = tot >> 8;
	b[14 + 3] = tot & 0xff;
	b[14 + 10] = b[14 + 11] = 0;
	sum = dp_csum(b + 14, 20);
	b[14 + 10] = sum >> 8;
	b[14 + 11] = sum & 0xff;
	b[14 + 20 + 12] = 6 << 4;
	dp_fill_payload(b, 24, 0);	/* no payload: the checksum again */
	return len;
}

/* A SYN's MSS is cut to what the egress device carries, both ways. */
static void test_mss_clamp(void)
{
	const struct pkt syn = TCP(VM, 5050, FAR, 443, SYN);
	struct pkt syn_mid = syn;
	const struct pkt synack = TCP(FAR, 443, E0_ADDR, NAT_PORT, SYN | ACK);
	struct pkt synack_back = TCP(FAR, 443, VM, 5050, SYN | ACK);
	uint8_t in[256], want[256], out[2048];
	uint32_t len, v;
	int ilen, wlen;

	test_begin();
	dp_flush_flows();
	CHECK(!system("ip link set e0 mtu 1400"), "mtu");
	syn_mid.ttl = 63;
	synack_back.ttl = 63;
	ilen = tcp_with_mss(&syn, 1460, in);
	wlen = tcp_with_mss(&syn_mid, 1360, want);
	CHECK(dp_run(SG_PROG_TC_SECTOR_IN, "s1", NULL, in, ilen, out, &len,
		     &v) == 0 && v == TC_REDIRECT_V, "SYN not steered: %u", v);
	CHECK(dp_same_frame(want, wlen, out, len), "the SYN's MSS is not "
	      "1360 (e0's MTU 1400)");
	ilen = tcp_with_mss(&synack, 1460, in);
	wlen = tcp_with_mss(&synack_back, 1360, want);
	CHECK(dp_run(SG_PROG_TC_TRUSTED_IN, "e0", NULL, in, ilen, out, &len,
		     &v) == 0 && v == TC_REDIRECT_V, "SYN-ACK not delivered: %u",
	      v);
	CHECK(dp_same_frame(want + 14, wlen - 14, out + 14, len - 14),
	      "the SYN-ACK's MSS is not 1360");
	/* Below the device's: left alone. */
	ilen = tcp_with_mss(&syn, 1200, in);
	wlen = tcp_with_mss(&syn_mid, 1200, want);
	dp_flush_flows();
	CHECK(dp_run(SG_PROG_TC_SECTOR_IN, "s1", NULL, in, ilen, out, &len,
		     &v) == 0 && v == TC_REDIRECT_V &&
	      dp_same_frame(want, wlen, out, len), "an MSS of 1200 changed");
	CHECK(!system("ip link set e0 mtu 1500"), "mtu back");
	test_end("a steered SYN's MSS, and the SYN-ACK's, is cut to the "
		 "egress device's MTU less 40");
}

/*
 * What "fragmentation needed" for frame `in` (a steered packet without
 * IP options, too big for mtu) is, from the gateway's 10.1.0.1: its IP
 * and ICMP headers, then the packet's IP header and 8 bytes (a TCP
 * header's 20). Returns its length from the IP header on.
 */
static int too_big_answer(const uint8_t *in, uint16_t mtu, uint8_t *want)
{
	static const uint8_t head[] = { 0x45, 0xc0, 0, 0, 0, 0, 0, 0, 64, 1,
					0, 0, 10, 1, 0, 1, 10, 1, 0, 2,
					3, 4, 0, 0, 0, 0 };
	int quote = 20 + (in[23] == 6 ? 20 : 8), len = 28 + quote;
	uint16_t c;

	memcpy(want, head, sizeof(head));
	want[3] = len;
	want[26] = mtu >> 8;
	want[27] = mtu & 0xff;
	memcpy(want + 28, in + 14, quote);
	c = dp_csum(want + 20, len - 20);
	want[22] = c >> 8;
	want[23] = c & 0xff;
	c = dp_csum(want, 20);
	want[10] = c >> 8;
	want[11] = c & 0xff;
	return len;
}

/* Is frame in[ilen] steered to e0 as it is (TTL less one)? */
static bool steered_as_is(const uint8_t *in, int ilen)
{
	uint8_t out[2048];
	uint32_t len, v;

	return dp_run(SG_PROG_TC_SECTOR_IN, "s1", NULL, in, ilen, out, &len,
		      &v) == 0 && v == TC_REDIRECT_V && len == (uint32_t)ilen &&
	       out[14 + 8] == in[14 + 8] - 1;
}

/* Is frame in[ilen] answered "fragmentation needed" with mtu? */
static bool answered_too_big(const uint8_t *in, int ilen, uint16_t mtu)
{
	uint8_t out[2048], want[128];
	uint32_t len, v;
	int wlen = too_big_answer(in, mtu, want);

	return dp_run(SG_PROG_TC_SECTOR_IN, "s1", NULL, in, ilen, out, &len,
		      &v) == 0 && v == TC_REDIRECT_V &&
	       len == (uint32_t)wlen + 14 &&
	       dp_same_frame(want, wlen, out + 14, len - 14) &&
	       !memcmp(out, in + 6, 6) && !memcmp(out + 6, in, 6);
}

/*
 * A steered packet too big for its device's MTU: with DF, the VM gets
 * "fragmentation needed" with that MTU from the gateway, out of the
 * device it sent from, and no flow is made; the same for a flow whose
 * decision is kept (its next packet over the MTU is decided afresh).
 * Without DF it leaves as it is (BPF cannot fragment).
 */
static void test_too_big(void)
{
	struct pkt big = UDP(VM, 5070, FAR, 53), kept = UDP(VM, 5071, FAR, 53);
	struct pkt edge = UDP(VM, 5072, FAR, 53);
	const struct pkt small = UDP(VM, 5071, FAR, 53);
	const struct pkt small_sent = UDP(E0_ADDR, NAT_PORT, FAR, 53);
	struct pkt syn = TCP(VM, 5073, FAR, 443, ACK);
	uint8_t in[2048];
	struct sg_flow f;
	__u64 too_big;
	int ilen;

	test_begin();
	dp_flush_flows();
	CHECK(!system("ip link set e0 mtu 1300"), "mtu");
	CHECK(!dp_load_definitions(definitions), "definitions");
	too_big = dp_drops(1, SG_DROP_TOO_BIG);
	ilen = dp_big_udp(&big, 1408, in);
	dp_ip_header_set(in, 20 + 1408, 0x4000);
	CHECK(answered_too_big(in, ilen, 1300),
	      "1428 bytes with DF: not fragmentation needed with mtu 1300");
	CHECK(!dp_flow_of(VM, 5070, FAR, 53, 17, 1, &f), "a flow was made");
	CHECK(dp_drops(1, SG_DROP_TOO_BIG) == too_big + 1,
	      "the answered packet is not counted as too-big");
	/* Without DF: as it is, TTL less one, not counted. */
	dp_ip_header_set(in, 20 + 1408, 0);
	CHECK(steered_as_is(in, ilen), "without DF not steered as it is");
	CHECK(dp_drops(1, SG_DROP_TOO_BIG) == too_big + 1,
	      "a packet sent as it is counted as too-big");

	/* The MTU exactly: steered; one byte more: answered. */
	dp_flush_flows();
	ilen = dp_big_udp(&edge, 1280, in);
	dp_ip_header_set(in, 1300, 0x4000);
	CHECK(steered_as_is(in, ilen), "1300 bytes with DF not steered");
	dp_flush_flows();
	ilen = dp_big_udp(&edge, 1281, in);
	dp_ip_header_set(in, 1301, 0x4000);
	CHECK(answered_too_big(in, ilen, 1300), "1301 bytes not answered");

	/* TCP: the answer quotes its whole header (20 bytes). */
	syn.l4_len = 1400;
	ilen = dp_build(&syn, in);
	dp_ip_header_set(in, 1420, 0x4000);
	CHECK(answered_too_big(in, ilen, 1300),
	      "a 1420-byte TCP segment with DF not answered, quoting 20 bytes");

	/* A kept decision keeps the MTU; its next packet over it is
	 * answered, and the flow goes on. */
	dp_flush_flows();
	CHECK(steered(&small, "e0", &small_sent), "the flow's first packet");
	CHECK(dp_flow_of(VM, 5071, FAR, 53, 17, 1, &f) && f.kept.mtu == 1300,
	      "the kept decision's MTU is %u, not 1300", f.kept.mtu);
	ilen = dp_big_udp(&kept, 1408, in);
	dp_ip_header_set(in, 20 + 1408, 0x4000);
	CHECK(answered_too_big(in, ilen, 1300),
	      "the kept flow's big packet is not answered");
	CHECK(steered(&small, "e0", &small_sent), "the flow goes on");
	CHECK(!system("ip link set e0 mtu 1500"), "mtu back");
	CHECK(!dp_load_definitions(definitions), "definitions back");
	test_end("a steered packet over the device's MTU with DF is answered "
		 "with fragmentation needed, byte-exact, and counted too-big; "
		 "without DF it leaves");
}

/*
 * Fragment frame in[ilen] through prog on dev (tc egress: having come in
 * on from); the verdict must be want. What came out in out[*olen].
 */
static bool run_frame(enum sg_prog prog, const char *dev, const char *from,
		      const uint8_t *in, int ilen, uint32_t want,
		      uint8_t *out, int *olen)
{
	uint32_t len, v;

	if (dp_run(prog, dev, from, in, ilen, out, &len, &v) || v != want) {
		printf("  %s: verdict %u, want %u\n", dev, v, want);
		return false;
	}
	*olen = len;
	return true;
}

/* Fragment in[ilen] from the VM: steered at s1's tc ingress, then
 * translated at e0's tc egress, into out. */
static bool frag_steered(const uint8_t *in, int ilen, uint8_t *out,
			 int *olen)
{
	uint8_t mid[2048];
	int mlen;

	return run_frame(SG_PROG_TC_SECTOR_IN, "s1", NULL, in, ilen,
			 TC_REDIRECT_V, mid, &mlen) &&
	       run_frame(SG_PROG_TC_TRUSTED_OUT, "e0", "s1", mid, mlen,
			 TC_OK_V, out, olen);
}

/* Did a later fragment come out with its id, offset and payload as they
 * went in, the addresses src and dst, and a right header checksum? */
static bool later_kept(const uint8_t *in, int ilen, const uint8_t *out,
		       int olen, const char *src, const char *dst)
{
	struct in_addr s, d;

	inet_pton(AF_INET, src, &s);
	inet_pton(AF_INET, dst, &d);
	return olen == ilen && !memcmp(out + 14 + 20, in + 14 + 20,
				       ilen - 14 - 20) &&
	       !memcmp(out + 14 + 4, in + 14 + 4, 4) &&
	       !memcmp(out + 14 + 12, &s, 4) && !memcmp(out + 14 + 16, &d, 4) &&
	       dp_csum(out + 14, 20) == 0;
}

/*
 * A steered flow's datagrams in fragments, out and back (a DNS answer of
 * a few kilobytes through a tunnel): the first fragment is steered and
 * translated as the flow's packets are, the rest follow it (addresses
 * only); put back together, each is the datagram translated, its UDP
 * checksum right over the whole. A later fragment that follows no first
 * is `fragment` from the VM, and the host's from outside.
 */
static void test_fragments(void)
{
	struct pkt q = UDP(VM, 5080, FAR, 53), a = UDP(FAR, 53, E0_ADDR,
						       NAT_PORT);
	uint8_t dgram[2048], f1[2048], f2[2048], o1[2048], o2[2048],
		whole[2048];
	int len, l1, l2, n1, n2, n;
	__u64 fr;

	test_begin();
	dp_flush_flows();
	len = dp_big_udp(&q, 1208, dgram);
	dp_fragment(dgram, len, 800, 0x2345, f1, &l1, f2, &l2);
	CHECK(frag_steered(f1, l1, o1, &n1), "the first fragment out");
	CHECK(frag_steered(f2, l2, o2, &n2), "the later fragment out");
	CHECK(later_kept(f2, l2, o2, n2, E0_ADDR, FAR),
	      "out: the later fragment not from e0's address, or its id, "
	      "offset or payload changed");
	n = dp_reassemble(o1, n1, o2, n2, whole);
	CHECK(n == len && dp_checksums_ok(whole, n) &&
	      !memcmp(whole + 14 + 12, (uint8_t[]){ 10, 201, 0, 1 }, 4) &&
	      dp_sport(whole) == NAT_PORT && whole[14 + 8] == 63,
	      "out: the datagram reassembled is not the one translated");

	len = dp_big_udp(&a, 1208, dgram);
	dp_fragment(dgram, len, 1000, 0x5432, f1, &l1, f2, &l2);
	CHECK(run_frame(SG_PROG_TC_TRUSTED_IN, "e0", NULL, f1, l1,
			TC_REDIRECT_V, o1, &n1), "the first fragment back");
	CHECK(run_frame(SG_PROG_TC_TRUSTED_IN, "e0", NULL, f2, l2,
			TC_REDIRECT_V, o2, &n2), "the later fragment back");
	CHECK(later_kept(f2, l2, o2, n2, FAR, VM),
	      "in: the later fragment not to the VM, or its id, offset or "
	      "payload changed");
	n = dp_reassemble(o1, n1, o2, n2, whole);
	CHECK(n == len && dp_checksums_ok(whole, n) &&
	      !memcmp(whole + 14 + 16, (uint8_t[]){ 10, 1, 0, 2 }, 4) &&
	      (whole[14 + 20 + 2] << 8 | whole[14 + 20 + 3]) == 5080 &&
	      whole[14 + 8] == 63,
	      "in: the datagram reassembled is not the reply translated");

	/* Without its first: from the VM dropped, from outside the host's
	 * (the address is e0's), never delivered. */
	fr = dp_drops(1, SG_DROP_FRAGMENT);
	dp_fragment(dgram, len, 1000, 0x5433, f1, &l1, f2, &l2);
	CHECK(run_frame(SG_PROG_TC_TRUSTED_IN, "e0", NULL, f2, l2, TC_OK_V,
			o2, &n2), "a later fragment alone from outside");
	len = dp_big_udp(&q, 1208, dgram);
	dp_fragment(dgram, len, 800, 0x2346, f1, &l1, f2, &l2);
	CHECK(run_frame(SG_PROG_TC_SECTOR_IN, "s1", NULL, f2, l2, TC_SHOT_V,
			o2, &n2) && dp_drops(1, SG_DROP_FRAGMENT) == fr + 1,
	      "a later fragment alone from the VM is not dropped as fragment");
	/* A second after the last, the rest follows no more. */
	CHECK(frag_steered(f1, l1, o1, &n1), "another first fragment");
	CHECK(frag_steered(f2, l2, o2, &n2), "its last");
	dp_in.skel->bss->sg_clock_offset_ns += 1100 * 1000000ULL;
	CHECK(run_frame(SG_PROG_TC_SECTOR_IN, "s1", NULL, f2, l2, TC_SHOT_V,
			o2, &n2) && dp_drops(1, SG_DROP_FRAGMENT) == fr + 2,
	      "a second after the last: not dropped as fragment");
	test_end("a steered flow's datagrams in fragments: the rest follows "
		 "the first out and back, translated; none follows without it");
}

static void test_unsolicited(void)
{
	const struct pkt in = TCP(FAR, 7000, VM, 22, SYN);
	uint8_t out[2048];
	uint32_t len;
	__u64 before = dp_drops(1, SG_DROP_UNSOLICITED);

	test_begin();
	dp_flush_flows();
	CHECK(dp_run_pkt(SG_PROG_TC_TRUSTED_IN, "e0", NULL, &in, out, &len) ==
	      TC_SHOT_V, "let in");
	CHECK(dp_drops(1, SG_DROP_UNSOLICITED) == before + 1,
	      "not counted as unsolicited");
	test_end("what an egress device sends to a sector that no flow "
		 "expects is unsolicited");
}


/* ---- Regressions of the review of the first version ---------------- */

/* vm1 steers 203.0.113.0/24 into [e0, e1]; the host's address on e0
 * (10.201.0.1) lies in `protected`. */
static const char *const defs_a =
	HOST
	"  protected: [10.200.0.0/14]\n"
	"sectors:\n"
	"  - name: vm1\n"
	"    id: 1\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [s1]\n"
	"    egress:\n"
	"      - {destinations: [203.0.113.0/24], interface: [e0, e1]}\n"
	"  - {name: vm2, id: 2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";

/* The same without any egress policy. */
static const char *const defs_a_plain =
	HOST
	"  protected: [10.200.0.0/14]\n"
	"sectors:\n"
	"  - {name: vm1, id: 1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n"
	"  - {name: vm2, id: 2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";

/* s1 handed to a new tenant vm9 (same subnet, as every tenant gets);
 * vm1 lives on s3 now, still steered into e0/e1. */
static const char *const defs_b =
	HOST
	"  protected: [10.200.0.0/14]\n"
	"sectors:\n"
	"  - name: vm1\n"
	"    id: 1\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [s3]\n"
	"    egress:\n"
	"      - {destinations: [203.0.113.0/24], interface: [e0, e1]}\n"
	"  - {name: vm9, id: 9, cidrs: [10.1.0.0/24], interfaces: [s1]}\n"
	"  - {name: vm2, id: 2, cidrs: [10.2.0.0/24], interfaces: [s2]}\n";

/* vm1's steering removed; e0 stays an egress device (vm2's). */
static const char *const defs_d =
	HOST
	"sectors:\n"
	"  - {name: vm1, id: 1, cidrs: [10.1.0.0/24], interfaces: [s1]}\n"
	"  - name: vm2\n"
	"    id: 2\n"
	"    cidrs: [10.2.0.0/24]\n"
	"    interfaces: [s2]\n"
	"    egress:\n"
	"      - {destinations: [198.18.0.0/15], interface: e0}\n";

/* Untranslated steering over [e0, e1]. */
static const char *const defs_e =
	HOST
	"sectors:\n"
	"  - name: vm1\n"
	"    id: 1\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [s1]\n"
	"    egress:\n"
	"      - {destinations: [203.0.113.0/24], interface: [e0, e1],\n"
	"         snat-address: none}\n";

/* internet: false, steered only for 203.0.113.0/24. */
static const char *const defs_c =
	HOST
	"sectors:\n"
	"  - name: vm1\n"
	"    id: 1\n"
	"    internet: false\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [s1]\n"
	"    egress:\n"
	"      - {destinations: [203.0.113.0/24], interface: [e0, e1]}\n";

/* The host's address on e0 lies in `protected`: vm2's ping of it stays
 * dropped when vm1 steers into e0, as the rest of the CIDR does. */
static void test_protected_host_address(void)
{
	const struct pkt ping = PING("10.2.0.2", E0_ADDR, 9);
	const struct pkt ping_other = PING("10.2.0.2", "10.201.0.2", 9);
	uint8_t out[2048];
	uint32_t len;

	test_begin();
	dp_flush_flows();
	CHECK(dp_load_definitions(defs_a_plain) == 0, "load plain");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s2", NULL, &ping, out,
			 &len) == TC_SHOT_V, "without egress: not protected");
	CHECK(dp_load_definitions(defs_a) == 0, "load with egress");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s2", NULL, &ping, out,
			 &len) == TC_SHOT_V, "an egress policy of vm1 lifts "
	      "`protected` for the host's address on e0, for every sector");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s2", NULL, &ping_other, out,
			 &len) == TC_SHOT_V, "the rest of the CIDR is not "
	      "protected");
	test_end("protected holds for the host's address on an egress device");
}

static int add_e0(void)
{
	return dp_add_egress_device("e0", E0_ADDR, "10.201.0.2",
				    "02:00:00:00:fe:02", 1000);
}

/* The flow's device goes away (a wg-quick or tailscaled restart; `run`
 * applies again at the notification): the flow is dropped, not moved to
 * e1 with e1's source. */
static void test_missing_device_moves_flow(void)
{
	const struct pkt a = UDP(VM, 5100, FAR, 1100);
	uint8_t mid[2048];
	uint32_t mlen;
	__u64 before;
	struct sg_flow f;

	test_begin();
	dp_flush_flows();
	CHECK(dp_load_definitions(defs_a) == 0, "load");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &a, mid, &mlen) ==
	      TC_REDIRECT_V, "first packet not steered");
	CHECK(dp_flow_of(VM, 5100, FAR, 1100, 17, 1, &f) &&
	      f.out_ifindex == if_nametoindex("e0"), "not on e0");
	CHECK(!system("ip link del e0"), "del e0");
	CHECK(dp_load_definitions(defs_a) == 0, "reload without e0");
	before = dp_drops(1, SG_DROP_EGRESS_DOWN);
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &a, mid, &mlen) ==
	      TC_SHOT_V, "a flow was moved to another device and source "
	      "address (SPEC 3.10: dropped while its device is missing)");
	CHECK(dp_drops(1, SG_DROP_EGRESS_DOWN) == before + 1,
	      "not egress-down");
	CHECK(add_e0() == 0 && dp_load_definitions(defs_a) == 0,
	      "e0 back");
	test_end("a flow whose device is gone is egress-down, not moved");
}

/* vm1's req steered under defs_a, then defs applied: the verdict of ans
 * arriving on e0. */
static int reply_after_apply(const struct pkt *req, const char *defs,
			     const struct pkt *ans)
{
	uint8_t out[2048];
	uint32_t len;

	dp_flush_flows();
	CHECK(dp_load_definitions(defs_a) == 0, "load");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, req, out, &len) ==
	      TC_REDIRECT_V, "not steered");
	CHECK(dp_load_definitions(defs) == 0, "the new definitions");
	return dp_run_pkt(SG_PROG_TC_TRUSTED_IN, "e0", NULL, ans, out, &len);
}

/* A reply is never delivered into a device that an apply gave to
 * another sector, on an egress device as on the uplink. */
static void test_reassigned_device(void)
{
	const struct pkt req = UDP(VM, 5200, FAR, 1200);
	const struct pkt ans = UDP(FAR, 1200, E0_ADDR, NAT_PORT);
	const struct pkt m = UDP(VM, 5201, "198.51.100.9", 1201);
	const struct pkt mans = UDP("198.51.100.9", 1201, "192.0.2.1",
				    NAT_PORT);
	uint8_t out[2048];
	uint32_t len;

	test_begin();
	CHECK(reply_after_apply(&req, defs_b, &ans) != TC_REDIRECT_V,
	      "vm1's reply delivered into s1, now vm9's device (another "
	      "tenant)");
	test_end("replies never enter a device that is no longer their "
		 "sector's");

	test_begin();
	dp_flush_flows();
	CHECK(dp_load_definitions(defs_a) == 0, "load");
	CHECK(dp_run_pkt(SG_PROG_TC_UPLINK_OUT, "up0", "s1", &m, out, &len) ==
	      TC_OK_V, "not masqueraded");
	CHECK(dp_load_definitions(defs_b) == 0, "s1 to vm9");
	CHECK(dp_run_pkt(SG_PROG_TC_UPLINK_IN, "up0", NULL, &mans, out,
			 &len) != TC_REDIRECT_V, "vm1's masquerade reply "
	      "delivered into s1, now vm9's device");
	test_end("the uplink's tc path neither, after a reassignment");
}

/* A steered sector's XDP passes what no policy claims up too; were there
 * no tc under it, the uplink still masquerades nothing of an `internet:
 * false` sector. */
static void test_xdp_no_internet(void)
{
	const struct pkt req = UDP(VM, 5300, "198.51.100.7", 53);
	uint8_t frame[2048], out[2048];
	uint32_t len, v, vx;
	int flen = dp_build(&req, frame);

	test_begin();
	dp_flush_flows();
	CHECK(dp_load_definitions(defs_c) == 0, "load");
	CHECK(dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, frame, flen, out, &len,
		     &vx) == 0, "xdp run");
	CHECK(dp_run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", frame, flen, out,
		     &len, &v) == 0, "uplink run");
	CHECK(vx == XDP_DROP_V || v == TC_SHOT_V,
	      "no-internet is enforced neither by XDP nor by the uplink");
	test_end("XDP of a steered sector still enforces internet: false");
}

/* Replies of a steered flow come in only while its policy names the
 * device for it. */
static void test_policy_removed(void)
{
	const struct pkt req = UDP(VM, 5500, FAR, 1500);
	const struct pkt ans = UDP(FAR, 1500, E0_ADDR, NAT_PORT);

	test_begin();
	CHECK(reply_after_apply(&req, defs_d, &ans) != TC_REDIRECT_V,
	      "delivered: no policy of vm1 names e0");
	test_end("replies of a steered flow need its policy still to name "
		 "the device");
}

/* The same under snat-address: none: dropped (egress-down) while the
 * device is gone, flowing again once it is back as another ifindex. */
static void test_missing_device_none(void)
{
	const struct pkt a = UDP(VM, 5600, FAR, 1600);
	uint8_t mid[2048];
	uint32_t mlen;
	__u64 d0;

	test_begin();
	dp_flush_flows();
	CHECK(dp_load_definitions(defs_e) == 0, "load");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &a, mid, &mlen) ==
	      TC_REDIRECT_V, "not steered");
	CHECK(!system("ip link del e0") && dp_load_definitions(defs_e) == 0,
	      "e0 gone");
	d0 = dp_drops(1, SG_DROP_EGRESS_DOWN);
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &a, mid, &mlen) ==
	      TC_SHOT_V, "not dropped while e0 is gone");
	CHECK(dp_drops(1, SG_DROP_EGRESS_DOWN) - d0 >= 1, "dropped as "
	      "untranslatable, not egress-down");
	CHECK(add_e0() == 0 && dp_load_definitions(defs_e) == 0, "e0 back");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_IN, "s1", NULL, &a, mid, &mlen) ==
	      TC_REDIRECT_V, "the flow does not come back with its device");
	test_end("none: a flow whose device went and came back flows again");
}

/* Naming a device in egress makes it one of ours, whose tc ingress
 * passes what is not IPv4: a sector's tc egress drops that when it was
 * forwarded from there (IPv6 from a tunnel's peer), as it does from a
 * device that is none of ours. */
static void test_ipv6_in(void)
{
	const struct pkt v6 = { .kind = F_IPV6_TCP };
	uint8_t out[2048];
	uint32_t len;

	test_begin();
	CHECK(dp_load_definitions(defs_a_plain) == 0, "load plain");
	CHECK(dp_run_pkt(SG_PROG_TC_SECTOR_OUT, "s1", "e0", &v6, out, &len) ==
	      TC_SHOT_V, "IPv6 from a device of no role enters the sector");
	CHECK(dp_load_definitions(defs_a) == 0, "load");
	CHECK(dp_run_pkt(SG_PROG_TC_TRUSTED_IN, "e0", NULL, &v6, out,
			 &len) == TC_SHOT_V ||
	      dp_run_pkt(SG_PROG_TC_SECTOR_OUT, "s1", "e0", &v6, out,
			 &len) == TC_SHOT_V,
	      "IPv6 from an egress device enters the sector");
	test_end("naming a device in egress does not open sectors to it");
}

static int add_egress_devices(void)
{
	return add_e0() ||
	       dp_add_egress_device("e1", E1_ADDR, "10.202.0.2",
				    "02:00:00:00:fe:03", 1001);
}

int main(void)
{
	uint8_t up0_mac[6];
	int ret = dp_setup(1024);

	if (ret) {
		if (ret > 0)
			test_skip("egress", "needs root to create a network "
				  "namespace and load BPF");
		return ret > 0 ? test_summary("test_egress") : 1;
	}
	if (dp_setup_gateway(up0_mac) || add_egress_devices() ||
	    dp_load_definitions(definitions)) {
		printf("cannot set up the gateway\n");
		return 1;
	}
	test_snat();
	test_xdp_passes();
	test_routed();
	test_except();
	test_host_address();
	test_no_fallback();
	test_failover();
	test_no_route();
	test_icmp_error();
	test_icmp_error_out();
	test_mss_clamp();
	test_too_big();
	test_fragments();
	test_unsolicited();
	test_protected_host_address();
	test_reassigned_device();
	test_xdp_no_internet();
	test_policy_removed();
	test_ipv6_in();
	test_missing_device_moves_flow();
	test_missing_device_none();
	test_down_since_apply();
	test_taken_entry();
	test_kept_decision();
	dp_load_definitions(definitions);
	sg_instance_close(&dp_in);
	return test_summary("test_egress");
}
