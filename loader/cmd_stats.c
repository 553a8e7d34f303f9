// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sectorgate stats: the per-CPU counters, summed, per sector and reason. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "metrics.h"
#include "sector_stats.h"
#include "util.h"

static void print_json(const struct sg_sector_stats *s, int n)
{
	__u64 total[SG_DROP_MAX] = {};
	bool first = true;

	printf("{\"sectors\":{");
	for (int i = 0; i < n; i++) {
		for (int r = 1; r < SG_DROP_MAX; r++)
			total[r] += s[i].c.drops[r];
		if (!s[i].id)
			continue;	/* "host": only in the totals */
		printf("%s", first ? "" : ",");
		sg_json_str(stdout, s[i].name);
		printf(":{\"id\":%u,\"rx_packets\":%llu,\"rx_bytes\":%llu,"
		       "\"tx_packets\":%llu,\"tx_bytes\":%llu,"
		       "\"fast_out_packets\":%llu,\"fast_in_packets\":%llu,"
		       "\"flows_evicted\":%llu,\"drops\":{",
		       s[i].id, s[i].c.rx_packets, s[i].c.rx_bytes,
		       s[i].c.tx_packets, s[i].c.tx_bytes,
		       s[i].c.fast_out_packets, s[i].c.fast_in_packets,
		       s[i].c.flows_evicted);
		for (int r = 1; r < SG_DROP_MAX; r++)
			printf("%s\"%s\":%llu", r > 1 ? "," : "",
			       sg_drop_name(r), s[i].c.drops[r]);
		printf("}}");
		first = false;
	}
	printf("},\"drops\":{");
	for (int r = 1; r < SG_DROP_MAX; r++)
		printf("%s\"%s\":%llu", r > 1 ? "," : "", sg_drop_name(r),
		       total[r]);
	printf("}}\n");
}

static void print_text(const struct sg_sector_stats *s, int n)
{
	printf("%-15s %12s %14s %12s %14s %10s %10s %8s  drops\n", "sector",
	       "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "fast_out",
	       "fast_in", "evicted");
	for (int i = 0; i < n; i++) {
		printf("%-15s %12llu %14llu %12llu %14llu %10llu %10llu %8llu ",
		       s[i].name, s[i].c.rx_packets, s[i].c.rx_bytes,
		       s[i].c.tx_packets, s[i].c.tx_bytes,
		       s[i].c.fast_out_packets, s[i].c.fast_in_packets,
		       s[i].c.flows_evicted);
		for (int r = 1; r < SG_DROP_MAX; r++)
			if (s[i].c.drops[r])
				printf(" %s=%llu", sg_drop_name(r),
				       s[i].c.drops[r]);
		printf("\n");
	}
}

int cmd_stats(const struct sg_opts *o)
{
	struct sg_sector_stats *s = NULL;
	struct sg_instance in;
	struct sg_state st;
	int n;

	if (sg_open_applied(o, &in)) {
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	if (o->prometheus) {
		sg_metrics_write(stdout, &in);
		sg_instance_close(&in);
		return SG_EXIT_OK;
	}
	sg_maps_read_state(&in.fds, &st);
	n = sg_sector_stats_collect(&in, st.slot, &s);
	if (n < 0) {
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	if (o->json)
		print_json(s, n);
	else
		print_text(s, n);
	free(s);
	sg_instance_close(&in);
	return SG_EXIT_OK;
}
