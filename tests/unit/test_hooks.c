// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One translation engine, two hooks: every case of one table goes through
 * the XDP fast path and through the tc path, and both must give the same
 * bytes, the same flow state and the same counts of drops.
 *
 * Out, the fast path gets the VM's frame on s1 and redirects it, routed
 * and translated, to up0. The tc path gets what the kernel would make of
 * the same frame, routed to up0 (TTL - 1, the next hop's MACs), at up0's
 * egress. In, both get the same reply on up0; XDP sets the MACs itself,
 * tc leaves them to the neighbour layer, so the frames are compared from
 * the IP header on. nat-ports is a single port, so that a port the NAT
 * changes is the same port at both hooks.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <net/if.h>
#include <string.h>

#include "dp_lib.h"
#include "sg_test.h"

#define XDP_REDIRECT_V	4
#define SNAT		"192.0.2.1"
#define NAT_PORT	40500

static const char *const definitions =
	"version: 1\n"
	"host:\n"
	"  uplinks: [{interface: up0}]\n"
	"  nat-ports: 40500-40500\n"
	"sectors:\n"
	"  - {name: vm1, cidrs: [10.1.0.0/24, 10.71.0.0/16], interfaces: [s1]}\n";

static const uint8_t remote_mac[6] = { 2, 0, 0, 0, 0xfe, 1 };
static uint8_t up0_mac[6];

struct hook_case {
	const char *name;
	struct pkt out;		/* from the VM */
	struct pkt reply;	/* its reply, to the NAT address and port */
};

#define TCP_CASE(name, src, sport, dst, dport)				\
	{ name, TCP(src, sport, dst, dport, SYN),			\
	  TCP(dst, dport, SNAT, NAT_PORT, SYN | ACK) }
#define UDP_CASE(name, src, sport, dst, dport)				\
	{ name, UDP(src, sport, dst, dport), UDP(dst, dport, SNAT, NAT_PORT) }

static const struct hook_case cases[] = {
	TCP_CASE("TCP, port kept out of range -> remapped", "10.1.0.2", 5000,
		 "203.0.113.5", 443),
	TCP_CASE("TCP from the sector's second CIDR", "10.71.4.2", 5001,
		 "203.0.113.6", 443),
	UDP_CASE("UDP", "10.1.0.2", 5002, "203.0.113.7", 53),
	{ "UDP without a checksum",
	  { .src = "10.1.0.2", .dst = "203.0.113.8", .proto = 17,
	    .sport = 5003, .dport = 53, .no_udp_csum = true },
	  { .src = "203.0.113.8", .dst = SNAT, .proto = 17, .sport = 53,
	    .dport = NAT_PORT, .no_udp_csum = true } },
	{ "UDP with IP options",
	  { .src = "10.1.0.2", .dst = "203.0.113.9", .proto = 17,
	    .sport = 5004, .dport = 53, .ihl = 7 },
	  { .src = "203.0.113.9", .dst = SNAT, .proto = 17, .sport = 53,
	    .dport = NAT_PORT, .ihl = 7 } },
	{ "ICMP echo, id remapped",
	  PING("10.1.0.2", "203.0.113.10", 77),
	  PONG("203.0.113.10", SNAT, NAT_PORT) },
	{ "TTL 2: one hop left",
	  { .src = "10.1.0.2", .dst = "203.0.113.11", .proto = 17,
	    .sport = 5005, .dport = 53, .ttl = 2 },
	  { .src = "203.0.113.11", .dst = SNAT, .proto = 17, .sport = 53,
	    .dport = NAT_PORT, .ttl = 2 } },
};

static __u16 dport_of(const struct pkt *p)
{
	return p->proto == IPPROTO_ICMP ? 0 : p->dport;
}

/* The flow's primary and reply entries, and remove them (for the other
 * hook to start from nothing). */
static bool take_flow(const struct hook_case *c, struct sg_flow *f,
		      struct sg_flow *r)
{
	const struct pkt *p = &c->out;
	struct sg_flow_key k = { .sport = htons(p->sport),
				 .dport = htons(dport_of(p)),
				 .proto = p->proto, .zone = 1 }, rk;
	bool ok;

	inet_pton(AF_INET, p->src, &k.saddr);
	inet_pton(AF_INET, p->dst, &k.daddr);
	ok = !bpf_map_lookup_elem(dp_in.fds.flows, &k, f);
	if (!ok)
		return false;
	sg_flow_snat_reply_key(&rk, &k, f->xlate.saddr, f->xlate.sport);
	ok = !bpf_map_lookup_elem(dp_in.fds.flows, &rk, r);
	bpf_map_delete_elem(dp_in.fds.flows, &k);
	bpf_map_delete_elem(dp_in.fds.flows, &rk);
	return ok;
}

/* What both hooks must agree on; the fast path's kept decision and the
 * MACs it learns are its own. */
static bool same_flow(const struct sg_flow *a, const struct sg_flow *b)
{
	return a->dir == b->dir && a->state == b->state && a->nat == b->nat &&
	       a->peer_zone == b->peer_zone && a->counters == b->counters &&
	       !memcmp(&a->xlate, &b->xlate, sizeof(a->xlate)) &&
	       a->in_ifindex == b->in_ifindex &&
	       a->out_ifindex == b->out_ifindex;
}

static int run(enum sg_prog prog, const char *dev, const char *in_dev,
	       const uint8_t *frame, int len, uint8_t *out, uint32_t *out_len)
{
	uint32_t retval;

	if (dp_run(prog, dev, in_dev, frame, len, out, out_len, &retval))
		return -1;
	return retval;
}

static __u64 drops_of(const struct sg_counters *c)
{
	__u64 n = 0;

	for (int r = 1; r < SG_DROP_MAX; r++)
		n += c->drops[r];
	return n;
}

static void test_case(const struct hook_case *c)
{
	uint8_t frame[2048], routed[2048], xdp_out[2048], tc_out[2048];
	uint32_t xdp_len, tc_len;
	struct sg_flow fx, rx, ft, rt;
	struct sg_counters before, after;
	struct pkt fwd = c->out;
	int len, rlen;

	test_begin();
	dp_counters(1, &before);

	/* Out. */
	len = dp_build(&c->out, frame);
	fwd.ttl = (c->out.ttl ? c->out.ttl : 64) - 1;
	rlen = dp_build(&fwd, routed);
	memcpy(routed, remote_mac, 6);
	memcpy(routed + 6, up0_mac, 6);
	CHECK(run(SG_PROG_XDP_SECTOR, "s1", NULL, frame, len, xdp_out,
		  &xdp_len) == XDP_REDIRECT_V, "out: XDP does not redirect");
	CHECK(take_flow(c, &fx, &rx), "out: XDP made no flow");
	CHECK(run(SG_PROG_TC_UPLINK_OUT, "up0", "s1", routed, rlen, tc_out,
		  &tc_len) == TC_OK_V, "out: tc does not pass it");
	CHECK(dp_same_frame(xdp_out, xdp_len, tc_out, tc_len),
	      "out: XDP (expected) and tc (got) differ");
	CHECK(take_flow(c, &ft, &rt), "out: tc made no flow");
	CHECK(same_flow(&fx, &ft) && same_flow(&rx, &rt),
	      "out: the flows differ: XDP nat %x:%u state %u, tc %x:%u %u",
	      fx.xlate.saddr, ntohs(fx.xlate.sport), fx.state,
	      ft.xlate.saddr, ntohs(ft.xlate.sport), ft.state);
	CHECK(ntohs(fx.xlate.sport) == NAT_PORT, "out: NAT port %u",
	      ntohs(fx.xlate.sport));

	/* In: the flow again, made by XDP so that it knows the MACs. */
	run(SG_PROG_XDP_SECTOR, "s1", NULL, frame, len, xdp_out, &xdp_len);
	len = dp_build(&c->reply, frame);
	CHECK(run(SG_PROG_XDP_UPLINK, "up0", NULL, frame, len, xdp_out,
		  &xdp_len) == XDP_REDIRECT_V, "in: XDP does not redirect");
	CHECK(run(SG_PROG_TC_UPLINK_IN, "up0", NULL, frame, len, tc_out,
		  &tc_len) == TC_REDIRECT_V, "in: tc does not redirect");
	CHECK(xdp_len == tc_len && xdp_len > 14 &&
	      dp_same_frame(xdp_out + 14, xdp_len - 14, tc_out + 14,
			    tc_len - 14),
	      "in: XDP (expected) and tc (got) differ after the MACs");
	CHECK(take_flow(c, &fx, &rx), "in: the flow is gone");

	dp_counters(1, &after);
	CHECK(drops_of(&after) == drops_of(&before), "drops were counted");
	test_end(c->name);
}

int main(void)
{
	int ret = dp_setup(1024);

	if (ret) {
		if (ret > 0)
			test_skip("hooks", "needs root to create a network "
				  "namespace and load BPF");
		return ret > 0 ? test_summary("test_hooks") : 1;
	}
	if (dp_setup_gateway(up0_mac) || dp_load_definitions(definitions)) {
		printf("cannot set up the gateway\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		test_case(&cases[i]);
	sg_instance_close(&dp_in);
	return test_summary("test_hooks");
}
