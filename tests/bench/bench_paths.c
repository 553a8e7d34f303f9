// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Nanoseconds per packet of each datapath program, as the kernel measures
 * one BPF_PROG_TEST_RUN with repeat = 1 (many runs, median and 90th
 * percentile), and the flow table's memory per flow. Not a test: it
 * asserts nothing (these machines are noisy); `make bench` runs it.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_lib.h"
#include "util.h"

#define RUNS 20000

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Median and p90 of RUNS single runs of prog over pkt. */
static void bench(const char *what, enum sg_prog prog, const char *dev,
		  const char *ingress, const struct pkt *p)
{
	static uint32_t ns[RUNS];
	uint8_t in[256], out[2048];
	uint32_t out_len, retval;
	int len = dp_build(p, in);

	for (int i = 0; i < RUNS; i++) {
		if (dp_run_timed(prog, dev, ingress, in, len, out, &out_len,
				 &retval, &ns[i])) {
			printf("%-44s test run failed\n", what);
			return;
		}
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_u32);
	printf("%-44s %6u ns median %6u ns p90\n", what, ns[RUNS / 2],
	       ns[RUNS * 9 / 10]);
}

/* What the kernel says the flow table uses (fdinfo's memlock: the
 * map's real usage; the table is preallocated, so all of it at once). */
static unsigned long long flow_table_bytes(void)
{
	unsigned long long memlock = 0;
	char line[256], path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", dp_in.fds.flows);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "memlock: %llu", &memlock);
	if (f)
		fclose(f);
	return memlock;
}

/* Memory per flow: the whole table over the flows it can hold (two
 * entries each, with their buckets). */
static void flow_memory(void)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	unsigned long long bytes = flow_table_bytes();

	if (bpf_obj_get_info_by_fd(dp_in.fds.flows, &info, &len) ||
	    info.max_entries < 2)
		return;
	printf("flow table: %u entries (2 per flow), preallocated: %llu "
	       "bytes, %llu bytes per flow\n", info.max_entries, bytes,
	       bytes / (info.max_entries / 2));
}

/*
 * Egress steering, all at tc: the sector's ingress redirecting an
 * established steered flow into an Ethernet egress device e0, e0's tc
 * egress translating it, e0's tc ingress translating a reply back and
 * redirecting it to the VM.
 */
static int bench_egress(void)
{
	static const char *const defs =
		"version: 1\n"
		"host: {uplinks: [{interface: up0}]}\n"
		"sectors:\n"
		"  - name: vm1\n"
		"    cidrs: [10.1.0.0/24]\n"
		"    interfaces: [s1]\n"
		"    egress: [{destinations: [203.0.113.0/24], interface: e0}]\n";
	struct pkt out = UDP("10.1.0.2", 5000, "203.0.113.5", 53);
	struct pkt in = UDP("203.0.113.5", 53, "10.201.0.1", 0);
	uint8_t frame[256], mid[2048];
	uint32_t mid_len, retval;
	struct sg_flow f;

	if (dp_add_egress_device("e0", "10.201.0.1", "10.201.0.2",
				 "02:00:00:00:fe:02", 1000) ||
	    dp_load_definitions(defs)) {
		fprintf(stderr, "bench: cannot set up the egress device\n");
		return 1;
	}
	dp_flush_flows();
	if (dp_run(SG_PROG_TC_SECTOR_IN, "s1", NULL, frame,
		   dp_build(&out, frame), mid, &mid_len, &retval) ||
	    retval != TC_REDIRECT_V ||
	    !dp_flow_of("10.1.0.2", 5000, "203.0.113.5", 53, 17, 1, &f)) {
		fprintf(stderr, "bench: the flow is not steered\n");
		return 1;
	}
	in.dport = ntohs(f.xlate.sport);
	bench("sector tc ingress: steered flow, redirect", SG_PROG_TC_SECTOR_IN,
	      "s1", NULL, &out);
	out.ttl = 63;
	bench("egress tc egress: SNAT of a steered flow", SG_PROG_TC_TRUSTED_OUT,
	      "e0", "s1", &out);
	bench("egress tc ingress: reverse NAT + redirect", SG_PROG_TC_TRUSTED_IN,
	      "e0", NULL, &in);
	return 0;
}

int main(void)
{
	struct pkt out_syn = TCP("10.1.0.2", 40000, "203.0.113.5", 443, SYN);
	struct pkt out_ack = TCP("10.1.0.2", 40000, "203.0.113.5", 443, ACK);
	struct pkt in_ack = TCP("203.0.113.5", 443, "192.0.2.1", 40000, ACK);
	struct pkt cross = TCP("10.1.0.2", 40001, "10.2.0.2", 5432, ACK);
	struct pkt spoof = UDP("10.9.9.9", 1, "10.2.0.2", 53);
	struct pkt iso = UDP("10.3.0.2", 1, "10.2.0.2", 53);
	struct pkt fast_syn = TCP("10.1.0.2", 40100, "203.0.113.5", 443, SYN);
	struct pkt fast_out = TCP("10.1.0.2", 40100, "203.0.113.5", 443, ACK);
	struct pkt fast_in = TCP("203.0.113.5", 443, "192.0.2.1", 40100, ACK);
	uint8_t up0_mac[6], syn_frame[256], out[2048];
	uint32_t out_len, retval;

	if (dp_setup(SG_DEFAULT_MAX_FLOWS)) {
		fprintf(stderr, "bench: needs root\n");
		return 1;
	}
	printf("%d single runs each (BPF_PROG_TEST_RUN, repeat = 1)\n", RUNS);
	bench("sector XDP: internet, passed to the stack", SG_PROG_XDP_SECTOR,
	      "s1", NULL, &out_syn);
	bench("sector XDP: allowed flow to another sector", SG_PROG_XDP_SECTOR,
	      "s1", NULL, &cross);
	bench("sector XDP: isolation drop", SG_PROG_XDP_SECTOR, "s3", NULL,
	      &iso);
	bench("sector XDP: spoofed-source drop", SG_PROG_XDP_SECTOR, "s1",
	      NULL, &spoof);
	bench("uplink tc egress: SNAT, established flow", SG_PROG_TC_UPLINK_OUT,
	      "up0", "s1", &out_ack);
	bench("uplink tc ingress: reverse NAT + redirect", SG_PROG_TC_UPLINK_IN,
	      "up0", NULL, &in_ack);
	/* The XDP fast path needs a route, a neighbour, XDP-capable peers. */
	if (dp_setup_gateway(up0_mac)) {
		fprintf(stderr, "bench: cannot set up the gateway\n");
		return 1;
	}
	dp_run(SG_PROG_XDP_SECTOR, "s1", NULL, syn_frame,
	       dp_build(&fast_syn, syn_frame), out, &out_len, &retval);
	bench("sector XDP fast path: established flow", SG_PROG_XDP_SECTOR,
	      "s1", NULL, &fast_out);
	bench("uplink XDP fast path: reply to the VM", SG_PROG_XDP_UPLINK,
	      "up0", NULL, &fast_in);
	flow_memory();
	if (bench_egress())
		return 1;
	return 0;
}
