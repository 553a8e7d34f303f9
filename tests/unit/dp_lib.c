// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "compile.h"
#include "config.h"
#include "dp_lib.h"
#include "flows.h"
#include "netdev.h"
#include "util.h"

struct sg_instance dp_in;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, int len)
{
	for (int i = 0; i < len; i += 2)
		sum += (p[i] << 8) | (i + 1 < len ? p[i + 1] : 0);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

uint16_t dp_csum(const uint8_t *p, int len)
{
	return fold(sum16(0, p, len));
}

/* TCP/UDP checksum over the pseudo header and the L4 bytes. */
static uint16_t l4_csum(const uint8_t *ip, const uint8_t *l4, int len)
{
	uint8_t pseudo[12];

	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = ip[9];
	put16(pseudo + 10, len);
	return fold(sum16(sum16(0, pseudo, 12), l4, len));
}

bool dp_checksums_ok(const uint8_t *frame, int len)
{
	const uint8_t *ip = frame + 14, *l4;
	int hlen = (ip[0] & 15) * 4, tot = (ip[2] << 8) | ip[3], l4len;

	if (len < 14 + hlen || dp_csum(ip, hlen) != 0)
		return false;
	l4 = ip + hlen;
	l4len = tot - hlen;
	switch (ip[9]) {
	case 6:
		return l4_csum(ip, l4, l4len) == 0;
	case 17:	/* zero: no checksum */
		return (!l4[6] && !l4[7]) || l4_csum(ip, l4, l4len) == 0;
	case 1:
		return dp_csum(l4, l4len) == 0;
	}
	return true;
}

void dp_ip_header_set(uint8_t *frame, int tot, uint16_t frag_off)
{
	uint8_t *ip = frame + 14;

	put16(ip + 2, tot);
	put16(ip + 6, frag_off);
	ip[10] = ip[11] = 0;
	put16(ip + 10, dp_csum(ip, (ip[0] & 15) * 4));
}

int dp_big_udp(struct pkt *p, int l4, uint8_t *frame)
{
	int len;

	p->l4_len = l4;
	len = dp_build(p, frame);
	put16(frame + 14 + (frame[14] & 15) * 4 + 4, l4);
	dp_fill_payload(frame, 8, 5);
	return len;
}

void dp_fragment(const uint8_t *frame, int len, int first_l4, uint16_t id,
		 uint8_t *first, int *first_len, uint8_t *later,
		 int *later_len)
{
	int hdrs = 14 + (frame[14] & 15) * 4, rest = len - hdrs - first_l4;

	memcpy(first, frame, hdrs + first_l4);
	put16(first + 14 + 4, id);
	dp_ip_header_set(first, hdrs - 14 + first_l4, 0x2000);	/* MF */
	*first_len = hdrs + first_l4;

	memcpy(later, frame, hdrs);
	memcpy(later + hdrs, frame + hdrs + first_l4, rest);
	put16(later + 14 + 4, id);
	dp_ip_header_set(later, hdrs - 14 + rest, first_l4 / 8);
	*later_len = hdrs + rest;
}

int dp_reassemble(const uint8_t *first, int first_len, const uint8_t *later,
		  int later_len, uint8_t *frame)
{
	int hdrs = 14 + (later[14] & 15) * 4, len;

	memcpy(frame, first, first_len);
	memcpy(frame + first_len, later + hdrs, later_len - hdrs);
	len = first_len + later_len - hdrs;
	dp_ip_header_set(frame, len - 14, 0);
	return len;
}

/* Offset of the L4 checksum in an IPv4 frame, or 0 (not TCP/UDP). */
static int l4_csum_off(const uint8_t *frame)
{
	const uint8_t *ip = frame + 14;
	int l4 = 14 + (ip[0] & 15) * 4;

	return ip[9] == 6 ? l4 + 16 : ip[9] == 17 ? l4 + 6 : 0;
}

void dp_fill_payload(uint8_t *frame, int hdrs, uint8_t seed)
{
	const uint8_t *ip = frame + 14;
	int hlen = (ip[0] & 15) * 4, tot = (ip[2] << 8) | ip[3];
	int off = l4_csum_off(frame);

	for (int i = 14 + hlen + hdrs; i < 14 + tot; i++)
		frame[i] = seed + i * 7;
	if (!off)
		return;
	frame[off] = frame[off + 1] = 0;
	put16(frame + off, l4_csum(ip, ip + hlen, tot - hlen) ?: 0xffff);
}

void dp_unfinish_checksum(uint8_t *frame)
{
	const uint8_t *ip = frame + 14;
	int hlen = (ip[0] & 15) * 4, tot = (ip[2] << 8) | ip[3];
	int off = l4_csum_off(frame);
	uint8_t pseudo[12] = { 0 };

	memcpy(pseudo, ip + 12, 8);
	pseudo[9] = ip[9];
	put16(pseudo + 10, tot - hlen);
	put16(frame + off, ~dp_csum(pseudo, 12));
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

	memset(b, 0, 60 + 160);
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
		l[1] = p->icmp_code;
		put16(l + 4, p->sport);
		if (p->inner) {
			uint8_t emb[256];
			int elen = ipv4_packet(p->inner, emb);
			int keep = (emb[0] & 15) * 4 + p->inner_l4;

			memset(l + 4, 0, 4);
			memcpy(l + 8, emb, keep < elen ? keep : elen);
			l4 = 8 + (keep < elen ? keep : elen);
		}
		break;
	}
	if (p->l4_len)
		l4 = p->l4_len;
	/* A bigger UDP datagram says its length (shorter ones keep 12: cut
	 * below it, they are malformed on purpose). */
	if (p->proto == 17 && l4 > 12)
		put16(l + 4, l4);
	tot = hlen + l4 + p->tot_len_adj;
	ip[0] = (p->version ? p->version : 4) << 4 | ihl;
	put16(ip + 2, tot);
	put16(ip + 6, p->frag);
	ip[8] = p->ttl ? p->ttl : 64;
	ip[9] = p->proto;
	addr(ip + 12, p->src);
	addr(ip + 16, p->dst);
	for (int i = 20; i < hlen; i++)
		ip[i] = 1;	/* NOP options */
	put16(ip + 10, dp_csum(ip, hlen));
	/* Correct L4 checksums, when the header is whole. */
	if (p->proto == 6 && l4 >= 20 && !p->frag)
		put16(l + 16, l4_csum(ip, l, l4));
	else if (p->proto == 17 && l4 >= 8 && !p->frag && !p->no_udp_csum)
		put16(l + 6, l4_csum(ip, l, l4) ?: 0xffff);
	else if (p->proto == 1 && l4 >= 8)
		put16(l + 2, dp_csum(l, l4));
	return hlen + l4 + p->pad;
}

int dp_build(const struct pkt *p, uint8_t *b)
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


struct sg_flow_key dp_flow_key(const char *src, uint16_t sport,
			       const char *dst, uint16_t dport, uint8_t proto,
			       uint16_t zone)
{
	struct sg_flow_key k = { .sport = htons(sport), .dport = htons(dport),
				 .proto = proto, .zone = zone };

	inet_pton(AF_INET, src, &k.saddr);
	inet_pton(AF_INET, dst, &k.daddr);
	return k;
}

bool dp_flow_of(const char *src, uint16_t sport, const char *dst,
		uint16_t dport, uint8_t proto, uint16_t zone, struct sg_flow *f)
{
	struct sg_flow_key k = dp_flow_key(src, sport, dst, dport, proto, zone);

	return !bpf_map_lookup_elem(dp_in.fds.flows, &k, f);
}

bool dp_flow_set_tag(const struct sg_flow_key *k, __u16 tag)
{
	struct sg_flow f;

	if (bpf_map_lookup_elem(dp_in.fds.flows, k, &f))
		return false;
	f.kept.key_tag = tag;
	return !bpf_map_update_elem(dp_in.fds.flows, k, &f, BPF_EXIST);
}

bool dp_flow_taken(const struct sg_flow_key *k)
{
	struct sg_flow_key other = *k;

	other.sport ^= htons(1);
	return dp_flow_set_tag(k, sg_flow_tag(&other));
}

void dp_flush_flows(void)
{
	static struct sg_flow_key keys[1024];
	static struct sg_flow vals[1024];
	struct sg_sector_flows none = {};
	struct sg_flow_key k;
	__u32 batch, count;
	int ret;

	/* In batches where the kernel has them; one by one what is left. */
	do {
		count = 1024;
		ret = bpf_map_lookup_and_delete_batch(dp_in.fds.flows, NULL,
						      &batch, keys, vals,
						      &count, NULL);
	} while (!ret);
	while (!bpf_map_get_next_key(dp_in.fds.flows, NULL, &k))
		bpf_map_delete_elem(dp_in.fds.flows, &k);
	for (__u32 i = 0; i < DP_SECTORS; i++)
		bpf_map_update_elem(dp_in.fds.sector_flows, &i, &none, BPF_ANY);
}

int dp_collect(uint64_t now_ns, uint64_t grace_ns)
{
	struct sg_flow_fds fds = sg_flow_fds_of(&dp_in.fds);

	return sg_flows_gc(&fds, now_ns, grace_ns);
}

__u32 dp_sector_counters(__u32 sector)
{
	struct sg_state st;
	struct sg_sector_key k = { .id = sector };
	struct sg_sector s = {};

	sg_maps_read_state(&dp_in.fds, &st);
	k.slot = st.slot;
	if (sector)
		bpf_map_lookup_elem(dp_in.fds.sectors, &k, &s);
	return s.counters;
}

void dp_counters(__u32 sector, struct sg_counters *sum)
{
	sg_counters_read(dp_in.fds.counters, dp_sector_counters(sector), sum);
}


int dp_load_definitions(const char *text)
{
	struct sg_diags d = {};
	struct sg_netdev *devs;
	struct sg_compiled c;
	struct sg_model m;
	struct sg_state st;
	int ndevs, ret;

	ret = text ? sg_config_parse("inline", text, strlen(text), &m, &d) :
		     sg_config_load(DP_FIXTURE, &m, &d);
	sg_diags_print(stdout, &d);
	ndevs = sg_netdevs_list(&devs);
	sg_maps_read_state(&dp_in.fds, &st);
	if (!ret)
		ret = sg_compile(&m, devs, ndevs, sg_next_slot(&st), &c, &d);
	if (!ret)
		sg_compile_live_counters(&dp_in, st.slot, &c);
	sg_diags_print(stdout, &d);
	if (!ret) {
		ret = sg_maps_fill_slot(&dp_in.fds, &c) ?:
		      sg_maps_flip(&dp_in.fds, &c, &st);
		sg_compiled_free(&c);
	}
	free(devs);
	sg_model_free(&m);
	sg_diags_free(&d);
	return ret;
}

int dp_run_timed(enum sg_prog prog, const char *dev, const char *ingress_dev,
		 const uint8_t *data, int len, uint8_t *out,
		 uint32_t *out_len, uint32_t *retval, uint32_t *ns)
{
	struct xdp_md xctx = { .data_end = len };
	struct __sk_buff sctx = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = len,
		    .data_out = out, .data_size_out = 2048, .repeat = 1);
	int ret;

	if (prog == SG_PROG_XDP_SECTOR || prog == SG_PROG_XDP_UPLINK) {
		xctx.ingress_ifindex = if_nametoindex(dev);
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	} else {
		sctx.ifindex = if_nametoindex(dev);
		sctx.ingress_ifindex = ingress_dev ?
				       if_nametoindex(ingress_dev) : 0;
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	}
	ret = bpf_prog_test_run_opts(dp_in.prog_fd[prog], &o);
	*out_len = o.data_size_out;
	*retval = o.retval;
	if (ns)
		*ns = o.duration;
	return ret;
}

int dp_run(enum sg_prog prog, const char *dev, const char *ingress_dev,
	   const uint8_t *data, int len, uint8_t *out, uint32_t *out_len,
	   uint32_t *retval)
{
	return dp_run_timed(prog, dev, ingress_dev, data, len, out, out_len,
			    retval, NULL);
}

uint16_t dp_sport(const uint8_t *frame)
{
	const uint8_t *l4 = frame + 14 + (frame[14] & 15) * 4;

	return l4[0] << 8 | l4[1];
}

bool dp_same_frame(const uint8_t *want, int want_len, const uint8_t *got,
		   uint32_t got_len)
{
	if (got_len == (uint32_t)want_len && !memcmp(got, want, want_len))
		return true;
	printf("    expected:\n");
	dp_dump_packet(want, want_len);
	printf("    got:\n");
	dp_dump_packet(got, got_len);
	return false;
}

void dp_dump_packet(const uint8_t *b, int len)
{
	printf("    packet (%d bytes):", len);
	for (int i = 0; i < len; i++)
		printf("%s%02x", i % 16 ? " " : "\n      ", b[i]);
	printf("\n");
}

static int make_devices(void)
{
	static const char *const cmds =
		"ip link set lo up && "
		"for d in s1 s2 s3 s4 s5 s6 up0 t0; do "
		"ip link add $d type veth peer name p-$d && "
		"ip link set $d up && ip link set p-$d up || exit 1; done && "
		"ip addr add 192.0.2.1/24 dev up0";

	return system(cmds);
}

int dp_setup_gateway(uint8_t *up0_mac)
{
	static const char *const cmds =
		"sysctl -qw net.ipv4.ip_forward=1 && "
		"ip addr add 10.1.0.1/24 dev s1 && "
		"ip addr add 10.2.0.1/24 dev s2 && "
		"ip addr add 10.4.0.1/24 dev s4 && "
		"ip neigh add 192.0.2.254 lladdr " DP_REMOTE_MAC
		" dev up0 nud permanent && "
		"ip route add default via 192.0.2.254 && "
		"ip route add 198.51.100.0/24 via 192.0.2.253 && "
		"ethtool -K p-up0 gro on >/dev/null && "
		"ethtool -K p-s1 gro on >/dev/null";
	struct ifreq ifr = {};
	int fd, ret;

	if (system(cmds))
		return -1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "up0");
	ret = fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr);
	if (fd >= 0)
		close(fd);
	if (ret)
		return -1;
	memcpy(up0_mac, ifr.ifr_hwaddr.sa_data, 6);
	/* Compile again: device capabilities are read at compile time. */
	return dp_load_definitions(NULL);
}

int dp_setup(uint32_t max_flows)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET))
		return 1;
	if (make_devices()) {
		printf("cannot create the test devices\n");
		return -1;
	}
	sg_instance_open(&dp_in, NULL, false);
	if (sg_instance_load(&dp_in, max_flows)) {
		printf("cannot load the BPF programs\n");
		return -1;
	}
	if (dp_load_definitions(NULL)) {
		printf("cannot load %s\n", DP_FIXTURE);
		return -1;
	}
	return 0;
}

int dp_run_pkt(enum sg_prog prog, const char *dev, const char *ingress_dev,
	       const struct pkt *p, uint8_t *out, uint32_t *out_len)
{
	uint8_t frame[2048];
	uint32_t retval;
	int len = dp_build(p, frame);

	if (dp_run(prog, dev, ingress_dev, frame, len, out, out_len, &retval))
		return -1;
	return retval;
}

bool dp_sent_as(const struct pkt *p, int hops, const uint8_t *got,
		uint32_t got_len)
{
	uint8_t want[2048];
	struct pkt w = *p;
	int len;

	w.ttl = (p->ttl ? p->ttl : 64) - hops;
	len = dp_build(&w, want);
	return got_len > 14 &&
	       dp_same_frame(want + 14, len - 14, got + 14, got_len - 14);
}

__u64 dp_drops(__u32 sector, int reason)
{
	struct sg_counters c;

	dp_counters(sector, &c);
	return c.drops[reason];
}

bool dp_link_running(const char *dev)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	up = fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr) &&
	     (ifr.ifr_flags & IFF_RUNNING);
	if (fd >= 0)
		close(fd);
	return up;
}

int dp_add_egress_device(const char *dev, const char *addr, const char *gw,
			 const char *mac, int metric)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "set -e; ip link add %1$s type veth peer name p-%1$s; "
		 "ip link set %1$s up; ip link set p-%1$s up; "
		 "ip addr add %2$s/30 dev %1$s; "
		 "ip neigh add %3$s lladdr %4$s dev %1$s nud permanent; "
		 "ip route add default via %3$s dev %1$s metric %5$d",
		 dev, addr, gw, mac, metric);
	if (system(cmd))
		return -1;
	for (int i = 0; i < 200 && !dp_link_running(dev); i++)
		usleep(10000);
	return dp_link_running(dev) ? 0 : -1;
}
