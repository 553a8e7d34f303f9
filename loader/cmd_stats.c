// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sectorgate stats: the per-CPU counters, summed, per sector and reason. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

struct sector_stats {
	__u32 id;
	char name[32];
	struct sg_counters c;
};

/* A new row for sector id (0: no sector), named. */
static struct sector_stats *add_row(struct sector_stats **arr, int *n,
				    const struct sg_instance *in, __u32 slot,
				    __u32 id)
{
	struct sector_stats *s;

	*arr = sg_grow(*arr, *n, sizeof(**arr));
	s = &(*arr)[(*n)++];
	s->id = id;
	sg_sector_name(in, slot, id, s->name, sizeof(s->name));
	return s;
}

static bool any_counts(const struct sg_counters *c)
{
	const __u64 *w = (const __u64 *)c;

	for (size_t i = 0; i < sizeof(*c) / sizeof(*w); i++)
		if (w[i])
			return true;
	return false;
}

/* Every live sector (zeros until its first packet), then what belongs to
 * no sector if anything does, with every CPU's copy summed. */
static int collect(const struct sg_instance *in, __u32 slot,
		   struct sector_stats **out)
{
	struct sg_live_sector *live;
	struct sg_counters host;
	int n = 0, nlive;

	*out = NULL;
	nlive = sg_live_sectors(in, slot, &live);
	for (int i = 0; i < nlive; i++)
		sg_counters_read(in->fds.counters, live[i].s.counters,
				 &add_row(out, &n, in, slot, live[i].id)->c);
	free(live);
	if (!sg_counters_read(in->fds.counters, 0, &host) && any_counts(&host))
		add_row(out, &n, in, slot, 0)->c = host;
	return n;
}

static void print_json(const struct sector_stats *s, int n)
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
		       "\"drops\":{",
		       s[i].id, s[i].c.rx_packets, s[i].c.rx_bytes,
		       s[i].c.tx_packets, s[i].c.tx_bytes,
		       s[i].c.fast_out_packets, s[i].c.fast_in_packets);
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

static void print_prometheus(const struct sector_stats *s, int n)
{
	static const struct {
		const char *name;
		size_t offset;
	} metrics[] = {
		{ "rx_packets", offsetof(struct sg_counters, rx_packets) },
		{ "rx_bytes", offsetof(struct sg_counters, rx_bytes) },
		{ "tx_packets", offsetof(struct sg_counters, tx_packets) },
		{ "tx_bytes", offsetof(struct sg_counters, tx_bytes) },
		{ "fast_out_packets",
		  offsetof(struct sg_counters, fast_out_packets) },
		{ "fast_in_packets",
		  offsetof(struct sg_counters, fast_in_packets) },
	};

	for (size_t m = 0; m < ARRAY_SIZE(metrics); m++) {
		printf("# TYPE sectorgate_%s_total counter\n", metrics[m].name);
		for (int i = 0; i < n; i++) {
			__u64 v;

			memcpy(&v, (const char *)&s[i].c + metrics[m].offset,
			       sizeof(v));
			printf("sectorgate_%s_total{sector=\"%s\"} %llu\n",
			       metrics[m].name, s[i].name, v);
		}
	}
	printf("# TYPE sectorgate_drops_total counter\n");
	for (int i = 0; i < n; i++)
		for (int r = 1; r < SG_DROP_MAX; r++)
			printf("sectorgate_drops_total{sector=\"%s\","
			       "reason=\"%s\"} %llu\n", s[i].name,
			       sg_drop_name(r), s[i].c.drops[r]);
}

static void print_text(const struct sector_stats *s, int n)
{
	printf("%-15s %12s %14s %12s %14s %10s %10s  drops\n", "sector",
	       "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "fast_out",
	       "fast_in");
	for (int i = 0; i < n; i++) {
		printf("%-15s %12llu %14llu %12llu %14llu %10llu %10llu ",
		       s[i].name, s[i].c.rx_packets, s[i].c.rx_bytes,
		       s[i].c.tx_packets, s[i].c.tx_bytes,
		       s[i].c.fast_out_packets, s[i].c.fast_in_packets);
		for (int r = 1; r < SG_DROP_MAX; r++)
			if (s[i].c.drops[r])
				printf(" %s=%llu", sg_drop_name(r),
				       s[i].c.drops[r]);
		printf("\n");
	}
}

int cmd_stats(const struct sg_opts *o)
{
	struct sector_stats *s = NULL;
	struct sg_instance in;
	struct sg_state st;
	int n;

	if (sg_open_applied(o, &in)) {
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	sg_maps_read_state(&in.fds, &st);
	n = collect(&in, st.slot, &s);
	if (n < 0) {
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	if (o->json)
		print_json(s, n);
	else if (o->prometheus)
		print_prometheus(s, n);
	else
		print_text(s, n);
	free(s);
	sg_instance_close(&in);
	return SG_EXIT_OK;
}
