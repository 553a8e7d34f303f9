// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_xdp: drive 64-byte UDP frames through a forwarding path between
 * network namespaces at the rate it can take, and count what comes out.
 *
 *   bench_xdp -s NS:DEV -k NS:DEV -m MAC -a SRC -d DST [-p SPORT:DPORT]
 *             [-n FLOWS] [-t SECONDS] [-b NS:IN:OUT:NEXTHOP_MAC:ADDR] [-r]
 *             [-u -c FRAMES]
 *
 * The source (BPF_PROG_RUN in live-frames mode) sends out of -s to the
 * gateway MAC -m; an XDP sink on -k counts what arrives. With -b, the bare
 * XDP redirect (rewrite the address to ADDR and redirect, no lookups) is
 * attached on IN of the gateway
 * namespace for the duration. -r says the frames are replies: -b then
 * rewrites their destination, not their source. With -n, the frames cycle
 * through FLOWS flows: source ports from SPORT up, or for replies
 * destination ports from DPORT up. Frames a path cannot take push back
 * on the sender, and what the stack drops never reaches the sink: the
 * delivered rate is the path's capacity on the sending core.
 *
 * With -u, every frame is a new flow (a new destination and source port
 * pair, never repeated within the run), and -c FRAMES sends that many
 * in all, warm-up included, then stops (-t is then ignored): new flows
 * per second until a table holds FRAMES flows.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "bench_xdp.skel.h"

#define FRAME_LEN 64

struct dev_ref {
	char ns[64];
	char dev[IFNAMSIZ];
	int ifindex;
	unsigned char mac[6];
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void enter_ns(const char *ns)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		die(path);
	close(fd);
}

/* ifindex and MAC of r->dev, seen from inside r->ns. */
static void resolve(struct dev_ref *r)
{
	struct ifreq ifr = {};
	int fd;

	enter_ns(r->ns);
	r->ifindex = if_nametoindex(r->dev);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", r->dev);
	if (!r->ifindex || fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr))
		die(r->dev);
	memcpy(r->mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

static void parse_ref(struct dev_ref *r, char *arg)
{
	char *colon = strchr(arg, ':');

	if (!colon)
		die("NS:DEV expected");
	*colon = 0;
	snprintf(r->ns, sizeof(r->ns), "%s", arg);
	snprintf(r->dev, sizeof(r->dev), "%s", colon + 1);
}

static void parse_mac(unsigned char *mac, const char *s)
{
	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
		   &mac[2], &mac[3], &mac[4], &mac[5]) != 6)
		die("MAC expected");
}

static uint16_t csum(uint32_t sum, const unsigned char *p, int len)
{
	for (int i = 0; i < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* Ethernet, IPv4 (TTL 64), UDP with a full checksum. */
static void build_frame(unsigned char *f, const unsigned char *dst_mac,
			const unsigned char *src_mac, const char *src,
			const char *dst, unsigned int sport, unsigned int dport)
{
	unsigned char *ip = f + 14, *udp = ip + 20, pseudo[12] = { 0 };
	uint16_t sum;

	memset(f, 0, FRAME_LEN);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = FRAME_LEN - 14;
	ip[8] = 64;
	ip[9] = 17;
	if (inet_pton(AF_INET, src, ip + 12) != 1 ||
	    inet_pton(AF_INET, dst, ip + 16) != 1)
		die("address expected");
	sum = csum(0, ip, 20);
	ip[10] = sum >> 8;
	ip[11] = sum;
	udp[0] = sport >> 8;
	udp[1] = sport;
	udp[2] = dport >> 8;
	udp[3] = dport;
	udp[5] = FRAME_LEN - 34;
	memcpy(pseudo, ip + 12, 8);
	pseudo[9] = 17;
	pseudo[11] = FRAME_LEN - 34;
	sum = csum(65535 - csum(0, pseudo, 12), udp, FRAME_LEN - 34);
	udp[6] = sum >> 8;
	udp[7] = sum;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double send_batch(int prog_fd, const unsigned char *frame,
			 unsigned int n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame,
		    .data_size_in = FRAME_LEN, .repeat = n,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	double t = now();

	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("live-frames test run");
	return now() - t;
}

static void attach(struct dev_ref *r, int prog_fd)
{
	enter_ns(r->ns);
	if (bpf_xdp_attach(r->ifindex, prog_fd, XDP_FLAGS_DRV_MODE, NULL))
		die("attach XDP");
}

static void detach(struct dev_ref *r)
{
	enter_ns(r->ns);
	bpf_xdp_detach(r->ifindex, XDP_FLAGS_DRV_MODE, NULL);
}

int main(int argc, char **argv)
{
	struct dev_ref src = {}, sink = {}, bare_in = {}, bare_out = {};
	unsigned char frame[FRAME_LEN], gw_mac[6], next_mac[6];
	const char *saddr = NULL, *daddr = NULL;
	char *bare = NULL, *f[5];
	struct bench_xdp_bpf *skel;
	double seconds = 2, spent = 0, t;
	unsigned long long sent = 0, got;
	unsigned int batch = 1 << 14;
	unsigned int sport = 40000, dport = 9;
	struct in_addr addr;
	bool rewrite_dst = false;
	int opt, prog;

	unsigned int flows = 1;
	unsigned long long count = 0;
	bool unique = false;

	while ((opt = getopt(argc, argv, "s:k:m:a:d:p:n:t:b:ruc:")) != -1) {
		switch (opt) {
		case 's': parse_ref(&src, optarg); break;
		case 'k': parse_ref(&sink, optarg); break;
		case 'm': parse_mac(gw_mac, optarg); break;
		case 'a': saddr = optarg; break;
		case 'd': daddr = optarg; break;
		case 't': seconds = atof(optarg); break;
		case 'p':
			if (sscanf(optarg, "%u:%u", &sport, &dport) != 2)
				die("-p SPORT:DPORT");
			break;
		case 'n': flows = atoi(optarg) ?: 1; break;
		case 'b': bare = optarg; break;
		case 'r': rewrite_dst = true; break;
		case 'u': unique = true; break;
		case 'c': count = strtoull(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (!src.ns[0] || !sink.ns[0] || !saddr || !daddr ||
	    (unique && count < 20000)) {
		fprintf(stderr, "usage: see the head of tests/bench/bench_xdp.c\n");
		return 2;
	}
	resolve(&src);
	resolve(&sink);
	build_frame(frame, gw_mac, src.mac, saddr, daddr, sport, dport);

	skel = bench_xdp_bpf__open();
	if (!skel)
		die("open the bench object");
	memcpy((void *)skel->rodata->frame, frame, FRAME_LEN);
	skel->rodata->source_ifindex = src.ifindex;
	skel->rodata->source_flows = flows;
	skel->rodata->source_vary_dst = rewrite_dst;
	skel->rodata->source_unique = unique;
	if (bare) {
		/* NS:IN:OUT:NEXTHOP_MAC:ADDR, the MAC itself with colons */
		f[0] = strtok(bare, ":");
		f[1] = strtok(NULL, ":");
		f[2] = strtok(NULL, ":");
		f[3] = strtok(NULL, "");
		if (!f[3] || strlen(f[3]) < 19)
			die("-b NS:IN:OUT:NEXTHOP_MAC:ADDR");
		f[4] = f[3] + 18;
		f[3][17] = 0;
		snprintf(bare_in.ns, sizeof(bare_in.ns), "%s", f[0]);
		snprintf(bare_in.dev, sizeof(bare_in.dev), "%s", f[1]);
		bare_out = bare_in;
		snprintf(bare_out.dev, sizeof(bare_out.dev), "%s", f[2]);
		resolve(&bare_in);
		resolve(&bare_out);
		parse_mac(next_mac, f[3]);
		if (inet_pton(AF_INET, f[4], &addr) != 1)
			die("address expected");
		memcpy((void *)skel->rodata->bare_macs, next_mac, 6);
		memcpy((void *)skel->rodata->bare_macs + 6, bare_out.mac, 6);
		skel->rodata->bare_addr = addr.s_addr;
		skel->rodata->bare_dst = rewrite_dst;
		skel->rodata->bare_ifindex = bare_out.ifindex;
	}
	if (bench_xdp_bpf__load(skel))
		die("load the bench object");
	attach(&sink, bpf_program__fd(skel->progs.bench_sink));
	if (bare)
		attach(&bare_in, bpf_program__fd(skel->progs.bench_bare));

	enter_ns(src.ns);
	prog = bpf_program__fd(skel->progs.bench_source);
	if (unique) {
		/* A few new flows to resolve the neighbours, then the rest
		 * in one call, timed: every call sets up a page pool of its
		 * own, which in calls of 2^16 frames took most of the time
		 * (the bare path ran at a fifth of its rate). */
		send_batch(prog, frame, 1000);
		usleep(100000);
		got = skel->bss->sink_packets;
		spent = send_batch(prog, frame, count - 1000);
		sent = count - 1000;
		usleep(100000);
		got = skel->bss->sink_packets - got;
		goto out;
	}
	/* Warm up (flows, neighbours), then grow the batch to ~0.1 s a
	 * call: every call sets up a page pool of its own. */
	send_batch(prog, frame, 1000 + 2 * flows);
	usleep(100000);
	while (send_batch(prog, frame, batch) < 0.1 && batch < (1U << 26))
		batch *= 2;
	got = skel->bss->sink_packets;
	while (spent < seconds) {
		t = send_batch(prog, frame, batch);
		spent += t;
		sent += batch;
	}
	usleep(100000);		/* let the last frames land */
	got = skel->bss->sink_packets - got;
out:
	if (bare)
		detach(&bare_in);
	detach(&sink);
	bench_xdp_bpf__destroy(skel);
	printf("sent %llu delivered %llu in %.2f s: %.3f Mpps delivered\n",
	       sent, got, spent, got / spent / 1e6);
	return 0;
}
