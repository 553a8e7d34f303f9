// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sectorgate monitor: the drop events of the datapath (bpf/sg_drop.h), one
 * line each, as they happen; what the datapath's rate limit or a full ring
 * kept out is reported as a count of events lost, never silently.
 *
 * The pin directory's lock is released once the maps are open, so that
 * apply and run go on while a monitor is watching. One monitor at a time:
 * two readers of one ring would each get some of the events, without a
 * word (SG_MARK_MONITOR on the pin directory says a monitor is reading;
 * the kernel drops it with the monitor, however it ends).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

struct monitor {
	struct sg_instance in;
	bool json;
	__u64 started_ns;	/* events older than this are stale */
	__u64 lost;		/* what sg_event_budget said last */
	/* The live definitions, to name what events carry by number. */
	__u32 generation;
	struct sg_live_sector *sectors;
	int nsectors;
	/* sectors[i]'s device when it has exactly one, else 0 (as the
	 * nftables log line's oifname, for "-> DEVICE"). */
	__u32 *only_device;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* bpf_ktime_get_coarse_ns() is CLOCK_MONOTONIC_COARSE. */
static __u64 coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The index of sector id in mo->sectors, or -1. */
static int sector_index(const struct monitor *mo, __u32 id)
{
	for (int i = 0; id && i < mo->nsectors; i++)
		if (mo->sectors[i].id == id)
			return i;
	return -1;
}

/* The live sectors and their only devices, read again when the
 * definitions change: not for every event. */
static void refresh_definitions(struct monitor *mo)
{
	struct sg_device_key key, *prev = NULL;
	struct sg_device dev;
	struct sg_state st;
	int i;

	if (sg_maps_read_state(&mo->in.fds, &st) ||
	    (mo->sectors && st.generation == mo->generation))
		return;
	free(mo->sectors);
	free(mo->only_device);
	mo->generation = st.generation;
	mo->nsectors = sg_live_sectors(&mo->in, st.slot, &mo->sectors);
	mo->only_device = calloc(mo->nsectors + 1, sizeof(*mo->only_device));
	if (!mo->only_device)
		sg_oom();
	while (!bpf_map_get_next_key(mo->in.fds.devices, prev, &key)) {
		prev = &key;
		if (key.slot != st.slot ||
		    bpf_map_lookup_elem(mo->in.fds.devices, &key, &dev) ||
		    dev.role != SG_ROLE_SECTOR ||
		    (i = sector_index(mo, dev.sector)) < 0)
			continue;
		/* A second device: none is the sector's only one. */
		mo->only_device[i] = mo->only_device[i] ? (__u32)-1 :
							   key.ifindex;
	}
}

static const char *sector_by_counters(const struct monitor *mo, __u32 idx)
{
	for (int i = 0; idx && i < mo->nsectors; i++)
		if (mo->sectors[i].s.counters == idx)
			return mo->sectors[i].s.name;
	return NULL;
}

static const char *sector_by_id(const struct monitor *mo, __u32 id)
{
	int i = sector_index(mo, id);

	return i < 0 ? NULL : mo->sectors[i].s.name;
}

/* The device of sector id when it has exactly one, else NULL. */
static const char *sector_device(const struct monitor *mo, __u32 id,
				 char *buf)
{
	int i = sector_index(mo, id);
	__u32 ifindex = i < 0 ? 0 : mo->only_device[i];

	return ifindex && ifindex != (__u32)-1 ? if_indextoname(ifindex, buf) :
						  NULL;
}

/* For an event with no IPv4 addresses: what the frame was. */
static const char *kind_name(__u8 kind)
{
	switch (kind) {
	case SG_PKT_IPV4:
		return "ipv4";
	case SG_PKT_ARP:
		return "arp";
	case SG_PKT_VLAN:
		return "vlan";
	case SG_PKT_IPV6:
	case SG_PKT_IPV6_ND:
		return "ipv6";
	default:	/* not parsed, or not even its IPv4 header trusted */
		return "frame";
	}
}

/* A device by index, into buf: "host" for 0 (what the host sent). */
static const char *device_name(__u32 ifindex, char *buf)
{
	if (!ifindex)
		return "host";
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "if%u", ifindex);
	return buf;
}

static const char *proto_name(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	default:
		return NULL;
	}
}

/* "a.b.c.d" or, for TCP and UDP with ports, "a.b.c.d:port". */
static void endpoint(char *buf, size_t len, __be32 addr, __be16 port,
		     __u8 proto, bool ports)
{
	char a[16];

	sg_ipv4_str(ntohl(addr), a);
	if (ports && (proto == IPPROTO_TCP || proto == IPPROTO_UDP))
		snprintf(buf, len, "%s:%u", a, ntohs(port));
	else
		snprintf(buf, len, "%s", a);
}

/* When the event happened, in UTC (its time is CLOCK_MONOTONIC_COARSE). */
static void utc_time(char *buf, size_t len, __u64 event_ns)
{
	struct timespec rt;
	__u64 wall;
	time_t secs;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &rt);
	wall = rt.tv_sec * 1000000000ULL + rt.tv_nsec -
	       (coarse_now() - event_ns);
	secs = wall / 1000000000ULL;
	gmtime_r(&secs, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03lluZ",
		 wall % 1000000000ULL / 1000000);
}

static void json_str_or_null(const char *s)
{
	if (s)
		sg_json_str(stdout, s);
	else
		fputs("null", stdout);
}

static void print_event(struct monitor *mo, const struct sg_event *e)
{
	char in_buf[IF_NAMESIZE], out_buf[IF_NAMESIZE], proto_buf[8];
	char src[24], dst[24], when[64];
	const char *sector = sector_by_counters(mo, e->counters);
	const char *to = sector_by_id(mo, e->to_sector);
	const char *in_dev = device_name(e->ifindex, in_buf);
	/* The device it was leaving by, or the one of the sector it was
	 * for: the nftables log line's oifname. */
	const char *out_dev = e->out_ifindex ?
			      device_name(e->out_ifindex, out_buf) :
			      sector_device(mo, e->to_sector, out_buf);
	const char *proto = proto_name(e->proto);

	if (!proto && e->saddr) {
		snprintf(proto_buf, sizeof(proto_buf), "%u", e->proto);
		proto = proto_buf;
	}
	/* A later fragment has no ports to show, nor a malformed packet
	 * whose TCP or UDP header could not be read (both left 0). */
	bool ports = !e->later_fragment &&
		     !(e->reason == SG_DROP_MALFORMED && !e->sport && !e->dport);

	endpoint(src, sizeof(src), e->saddr, e->sport, e->proto, ports);
	endpoint(dst, sizeof(dst), e->daddr, e->dport, e->proto, ports);
	if (!mo->json) {
		printf("%s DROP %s %s", sector ?: "-", sg_drop_name(e->reason),
		       in_dev);
		if (out_dev || to)
			printf(" -> %s", out_dev ?: to);
		if (proto)
			printf(" %s %s -> %s\n", proto, src, dst);
		else
			printf(" %s %u bytes\n", kind_name(e->kind), e->len);
		return;
	}
	utc_time(when, sizeof(when), e->time_ns);
	printf("{\"time\": \"%s\", \"sector\": ", when);
	json_str_or_null(sector);
	printf(", \"reason\": \"%s\", \"in\": ", sg_drop_name(e->reason));
	sg_json_str(stdout, in_dev);
	printf(", \"out\": ");
	json_str_or_null(out_dev);
	printf(", \"to_sector\": ");
	json_str_or_null(to);
	printf(", \"proto\": ");
	json_str_or_null(proto);
	printf(", \"src\": ");
	json_str_or_null(proto ? src : NULL);
	printf(", \"dst\": ");
	json_str_or_null(proto ? dst : NULL);
	printf(", \"frame\": \"%s\", \"len\": %u}\n",
	       kind_name(e->kind), e->len);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct monitor *mo = ctx;
	const struct sg_event *e = data;

	if (size < sizeof(*e) || e->time_ns < mo->started_ns)
		return 0;	/* from before we started */
	refresh_definitions(mo);
	print_event(mo, e);
	return 0;
}

/* What the rate limit and a full ring kept out, all CPUs together. */
static __u64 events_lost(const struct monitor *mo)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sg_event_budget *b;
	__u32 zero = 0;
	__u64 lost = 0;

	if (ncpus <= 0)
		return 0;
	b = calloc(ncpus, sizeof(*b));
	if (!b)
		sg_oom();
	if (!bpf_map_lookup_elem(mo->in.fds.event_budget, &zero, b))
		for (int i = 0; i < ncpus; i++)
			lost += b[i].lost;
	free(b);
	return lost;
}

static void report_lost(struct monitor *mo)
{
	__u64 lost = events_lost(mo);

	if (lost <= mo->lost)
		return;
	if (mo->json)
		printf("{\"lost\": %llu}\n", lost - mo->lost);
	else
		printf("%llu events lost (over the datapath's rate limit of "
		       "%u a second per CPU, or the ring was full)\n",
		       lost - mo->lost, SG_EVENTS_PER_SEC);
	mo->lost = lost;
}

int cmd_monitor(const struct sg_opts *o)
{
	struct monitor mo = { .json = o->json };
	struct ring_buffer *rb;
	int ret;

	if (sg_open_applied(o, &mo.in))
		return SG_EXIT_KERNEL;
	/* Under the pin directory's lock: no other monitor comes between
	 * the test and the mark. */
	ret = sg_mark_take(mo.in.lock_fd, SG_MARK_MONITOR);
	if (ret) {
		if (ret == -EBUSY)
			pr_warn("another monitor is reading the drop events "
				"of %s: a second would take some of its "
				"events away; one at a time\n", o->pin_dir);
		else
			pr_warn("cannot mark %s as watched: %s\n",
				o->pin_dir, strerror(-ret));
		sg_instance_close(&mo.in);
		return SG_EXIT_KERNEL;
	}
	/* The maps stay open; the lock is not needed to read them. The
	 * directory stays open: it holds the mark. */
	flock(mo.in.lock_fd, LOCK_UN);

	rb = ring_buffer__new(mo.in.fds.events, on_event, &mo, NULL);
	if (!rb) {
		pr_warn("cannot read the drop events: %s\n", strerror(errno));
		sg_instance_close(&mo.in);
		return SG_EXIT_KERNEL;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, on_signal);
	mo.started_ns = coarse_now();
	mo.lost = events_lost(&mo);
	refresh_definitions(&mo);
	if (!mo.json)
		fprintf(stderr, "watching drops at %s (Ctrl-C stops)\n",
			o->pin_dir);

	while (!stop) {
		ret = ring_buffer__poll(rb, 500);
		if (ret < 0 && ret != -EINTR) {
			pr_warn("reading the drop events: %s\n", strerror(-ret));
			break;
		}
		report_lost(&mo);
	}
	ring_buffer__free(rb);
	free(mo.sectors);
	free(mo.only_device);
	sg_instance_close(&mo.in);
	return SG_EXIT_OK;
}
