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
#include <errno.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "compile.h"
#include "config.h"
#include "instance.h"
#include "netdev.h"
#include "sg_test.h"
#include "util.h"

#define FIXTURE "tests/fixtures/dataplane.yaml"
#define MAX_FLOWS 64

#define XDP_DROP_V 1
#define XDP_PASS_V 2
#define TC_OK_V 0
#define TC_SHOT_V 2

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
	int tot_len_adj;	/* added to the true total length */
	uint16_t frag;		/* frag_off field, host order */
	int l4_len;		/* > 0: the L4 part is only this long */
	int pad;		/* bytes after the IP packet (Ethernet padding) */
	int cut;		/* > 0: the frame ends after this many bytes */
};

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
	/* Fragments: no ports, so nothing that needs them can match. */
	{ "later fragment between allowed sectors", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .frag = 100,
	    .l4_len = 20 }, SG_DROP_FRAGMENT },
	{ "first fragment between allowed sectors", "s1",
	  { .src = "10.1.0.2", .dst = "10.2.0.2", .proto = 6, .dport = 5432,
	    .tcp_flags = SYN, .frag = 0x2000 }, SG_DROP_FRAGMENT },
	{ "fragment between isolated sectors", "s3",
	  { .src = "10.3.0.2", .dst = "10.2.0.2", .proto = 17, .frag = 100,
	    .l4_len = 8 }, SG_DROP_INTER_SECTOR },
	{ "fragment to the gateway passes", "s1",
	  { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17, .frag = 100,
	    .l4_len = 8 }, SG_PASS },
	/* Not a sector device of ours. */
	{ "unknown device is left alone", "s6",
	  UDP("10.9.0.2", 1000, "10.2.0.2", 53), SG_PASS },
};

static struct sg_instance in;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint16_t ip_csum(const uint8_t *p, int len)
{
	uint32_t sum = 0;

	for (int i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static int eth_header(uint8_t *b, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };

	memcpy(b, macs, 12);
	put16(b + 12, type);
	return 14;
}

static void addr(uint8_t *p, const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s ? s : "0.0.0.0", &a);
	memcpy(p, &a, 4);
}

static int ipv4_packet(const struct pkt *p, uint8_t *b)
{
	int ihl = p->ihl ? p->ihl : 5, hlen = ihl * 4, l4 = 0, tot;
	uint8_t *ip = b, *l = b + hlen;

	memset(b, 0, 60 + 64);
	switch (p->proto) {
	case 6:
		l4 = 20;
		put16(l, p->sport);
		put16(l + 2, p->dport);
		l[12] = 5 << 4;
		l[13] = p->tcp_flags;
		break;
	case 17:
		l4 = 12;
		put16(l, p->sport);
		put16(l + 2, p->dport);
		put16(l + 4, 12);
		break;
	case 1:
		l4 = 12;
		l[0] = p->icmp_type;
		put16(l + 4, p->sport);
		break;
	}
	if (p->l4_len)
		l4 = p->l4_len;
	tot = hlen + l4 + p->tot_len_adj;
	ip[0] = (p->version ? p->version : 4) << 4 | ihl;
	put16(ip + 2, tot);
	put16(ip + 6, p->frag);
	ip[8] = 64;
	ip[9] = p->proto;
	addr(ip + 12, p->src);
	addr(ip + 16, p->dst);
	for (int i = 20; i < hlen; i++)
		ip[i] = 1;	/* NOP options */
	put16(ip + 10, ip_csum(ip, hlen));
	return hlen + l4 + p->pad;
}

static int build(const struct pkt *p, uint8_t *b)
{
	int n;

	switch (p->kind) {
	case F_ARP:
		n = eth_header(b, 0x0806);
		memset(b + n, 0, 28);
		put16(b + n, 1);
		put16(b + n + 2, 0x0800);
		return n + 28;
	case F_IPV6_TCP:
	case F_IPV6_NS:
		n = eth_header(b, 0x86dd);
		memset(b + n, 0, 40 + 24);
		b[n] = 0x60;
		put16(b + n + 4, 24);
		b[n + 6] = p->kind == F_IPV6_NS ? 58 : 6;
		b[n + 7] = 255;
		b[n + 8] = 0xfe;
		b[n + 9] = 0x80;
		b[n + 24] = 0xff;
		b[n + 25] = 0x02;
		b[n + 40] = p->kind == F_IPV6_NS ? 135 : 0;
		return n + 64;
	case F_VLAN: {
		struct pkt inner = UDP("10.1.0.2", 1000, "10.1.0.1", 53);

		n = eth_header(b, 0x8100);
		put16(b + n, 100);
		put16(b + n + 2, 0x0800);
		return n + 4 + ipv4_packet(&inner, b + n + 4);
	}
	case F_LLDP:
		n = eth_header(b, 0x88cc);
		memset(b + n, 0, 46);
		return n + 46;
	default:
		n = eth_header(b, 0x0800);
		n += ipv4_packet(p, b + n);
		return p->cut ? p->cut : n;
	}
}

static void counters_of(__u32 sector, struct sg_counters *sum)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sg_counters percpu[ncpus];

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(in.fds.counters, &sector, percpu))
		return;
	for (int c = 0; c < ncpus; c++) {
		sum->rx_packets += percpu[c].rx_packets;
		sum->rx_bytes += percpu[c].rx_bytes;
		sum->tx_packets += percpu[c].tx_packets;
		sum->tx_bytes += percpu[c].tx_bytes;
		for (int r = 0; r < SG_DROP_MAX; r++)
			sum->drops[r] += percpu[c].drops[r];
	}
}

static __u32 sector_of_dev(const char *dev)
{
	/* The fixture's sectors vm1..vm5 sit on s1..s5. */
	return dev[1] >= '1' && dev[1] <= '5' ? dev[1] - '0' : 0;
}

static int run_prog(enum sg_prog prog, const char *dev, const uint8_t *data,
		    int len, uint8_t *out, __u32 *out_len, __u32 *retval)
{
	struct xdp_md xctx = { .data_end = len };
	struct __sk_buff sctx = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = len,
		    .data_out = out, .data_size_out = 2048, .repeat = 1);
	int ifindex = if_nametoindex(dev), ret;

	if (prog == SG_PROG_XDP_SECTOR) {
		xctx.ingress_ifindex = ifindex;
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	} else {
		sctx.ifindex = ifindex;
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	}
	ret = bpf_prog_test_run_opts(in.prog_fd[prog], &o);
	*out_len = o.data_size_out;
	*retval = o.retval;
	return ret;
}

static void dump_packet(const uint8_t *b, int len)
{
	printf("    packet (%d bytes):", len);
	for (int i = 0; i < len; i++)
		printf("%s%02x", i % 16 ? " " : "\n      ", b[i]);
	printf("\n");
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

	counters_of(sector, &before);
	ret = run_prog(prog, dev, data, len, out, &out_len, &retval);
	counters_of(sector, &after);

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
		dump_packet(data, len);
}

static void test_case(const struct dp_case *c)
{
	uint8_t pkt[2048];
	int len = build(&c->p, pkt);

	test_begin();
	check_packet(SG_PROG_XDP_SECTOR, c->dev, pkt, len, c->drop);
	if (!c->xdp_only)
		check_packet(SG_PROG_TC_SECTOR_IN, c->dev, pkt, len, c->drop);
	test_end(c->name);
}

static int load_definitions(const char *text, uint32_t slot)
{
	struct sg_diags d = {};
	struct sg_netdev *devs;
	struct sg_compiled c;
	struct sg_model m;
	struct sg_state st;
	int ndevs, ret;

	ret = text ? sg_config_parse("inline", text, strlen(text), &m, &d) :
		     sg_config_load(FIXTURE, &m, &d);
	sg_diags_print(stdout, &d);
	ndevs = sg_netdevs_list(&devs);
	if (!ret)
		ret = sg_compile(&m, devs, ndevs, slot, &c, &d);
	if (!ret) {
		sg_maps_read_state(&in.fds, &st);
		ret = sg_maps_fill_slot(&in.fds, &c) ?:
		      sg_maps_flip(&in.fds, &c, &st);
		sg_compiled_free(&c);
	}
	free(devs);
	sg_model_free(&m);
	sg_diags_free(&d);
	return ret;
}

static void test_tx_counter(void)
{
	struct sg_counters before, after;
	uint8_t pkt[2048], out[2048];
	struct pkt p = UDP("10.1.0.1", 53, "10.2.0.2", 5353);
	__u32 out_len, retval;
	int len = build(&p, pkt);

	test_begin();
	counters_of(2, &before);
	CHECK(run_prog(SG_PROG_TC_SECTOR_OUT, "s2", pkt, len, out, &out_len,
		       &retval) == 0, "test run");
	counters_of(2, &after);
	CHECK(retval == TC_OK_V, "egress never drops");
	CHECK(after.tx_packets == before.tx_packets + 1 &&
	      after.tx_bytes == before.tx_bytes + len, "tx counted");
	test_end("tc egress counts what the host sends into a sector");
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
	int alen = build(&syn, a), blen = build(&reply, b);
	struct sg_state st;

	test_begin();
	check_packet(SG_PROG_XDP_SECTOR, "s1", a, alen, SG_PASS);
	check_packet(SG_PROG_XDP_SECTOR, "s2", b, blen, SG_PASS);

	sg_maps_read_state(&in.fds, &st);
	CHECK(load_definitions(no_allow, !st.slot) == 0, "apply without allow");
	check_packet(SG_PROG_XDP_SECTOR, "s1", a, alen, SG_DROP_INTER_SECTOR);
	check_packet(SG_PROG_TC_SECTOR_IN, "s2", b, blen,
		     SG_DROP_INTER_SECTOR);

	sg_maps_read_state(&in.fds, &st);
	CHECK(load_definitions(NULL, !st.slot) == 0, "apply the fixture again");
	check_packet(SG_PROG_TC_SECTOR_IN, "s2", b, blen, SG_PASS);
	test_end("apply switches definitions at once; disallowed flows stop");
}

/* A full flow table refuses new flows and keeps the established ones. */
static void test_conntrack_full(void)
{
	struct pkt first = TCP("10.1.0.2", 30000, "10.2.0.2", 5432, SYN);
	uint8_t pkt[2048], out[2048];
	__u32 out_len, retval;
	int len, opened = 0, refused = 0;

	test_begin();
	len = build(&first, pkt);
	check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len, SG_PASS);
	for (int port = 30001; port < 30001 + 2 * MAX_FLOWS && !refused;
	     port++) {
		struct pkt p = TCP("10.1.0.2", port, "10.2.0.2", 5432, SYN);

		len = build(&p, pkt);
		run_prog(SG_PROG_XDP_SECTOR, "s1", pkt, len, out, &out_len,
			 &retval);
		if (retval == XDP_PASS_V)
			opened++;
		else
			refused = port;
	}
	CHECK(refused, "the table never filled");
	CHECK(opened < MAX_FLOWS, "opened %d flows in a table of %d", opened,
	      MAX_FLOWS);
	CHECK(sg_map_count(in.fds.flows, sizeof(struct sg_flow_key)) <=
	      2 * MAX_FLOWS, "entries beyond capacity");
	if (refused) {
		struct pkt again = TCP("10.1.0.2", refused, "10.2.0.2", 5432,
				       SYN);

		len = build(&again, pkt);
		check_packet(SG_PROG_XDP_SECTOR, "s1", pkt, len,
			     SG_DROP_CONNTRACK_FULL);
	}
	len = build(&first, pkt);
	check_packet(SG_PROG_TC_SECTOR_IN, "s1", pkt, len, SG_PASS);
	test_end("a full flow table drops new flows, not established ones");
}

static int make_devices(void)
{
	static const char *const cmds =
		"ip link set lo up && "
		"for d in s1 s2 s3 s4 s5 s6 up0; do "
		"ip link add $d type veth peer name p-$d && "
		"ip link set $d up && ip link set p-$d up || exit 1; done";

	return system(cmds);
}

int main(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET)) {
		test_skip("dataplane", "needs root to create a network "
			  "namespace and load BPF");
		return test_summary("test_dataplane");
	}
	if (make_devices()) {
		printf("cannot create the test devices\n");
		return 1;
	}
	sg_instance_open(&in, NULL, false);
	if (sg_instance_load(&in, MAX_FLOWS)) {
		printf("cannot load the BPF programs: %s\n", strerror(errno));
		return 1;
	}
	if (load_definitions(NULL, 1)) {
		printf("cannot load %s\n", FIXTURE);
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		test_case(&cases[i]);
	test_tx_counter();
	test_apply_flip();
	test_conntrack_full();
	sg_instance_close(&in);
	return test_summary("test_dataplane");
}
