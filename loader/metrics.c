// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Names and labels follow Prometheus's conventions: a `sectorgate_`
 * prefix, base units, `_total` on counters; a label for each dimension
 * (sector, reason, direction, uplink, map) rather than a name for each.
 * Every family has its HELP and TYPE, also when it has no sample yet.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "metrics.h"
#include "sector_stats.h"
#include "util.h"

static void family(FILE *out, const char *name, const char *type,
		   const char *help)
{
	fprintf(out, "# HELP sectorgate_%s %s\n# TYPE sectorgate_%s %s\n",
		name, help, name, type);
}

/* A label value: backslash, double quote and newline are escaped. */
static void label(FILE *out, const char *name, const char *value, bool first)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fputc('\\', out);
		if (*value == '\n')
			fputs("\\n", out);
		else
			fputc(*value, out);
	}
	fputc('"', out);
}

static void counters(FILE *out, const struct sg_sector_stats *s, int n)
{
	static const struct {
		const char *family, *type, *help, *dir;
		size_t offset;
	} m[] = {
#define C(f) offsetof(struct sg_counters, f)
		{ "packets_total", "counter", "Packets of each sector, "
		  "received from its devices (rx) and sent to them (tx).",
		  "rx", C(rx_packets) },
		{ NULL, NULL, NULL, "tx", C(tx_packets) },
		{ "bytes_total", "counter", "Bytes of each sector, received "
		  "from its devices (rx) and sent to them (tx).",
		  "rx", C(rx_bytes) },
		{ NULL, NULL, NULL, "tx", C(tx_bytes) },
		{ "fast_path_packets_total", "counter", "Packets the XDP fast "
		  "path forwarded without the kernel's stack: out of the "
		  "sector (out) and replies into it (in).",
		  "out", C(fast_out_packets) },
		{ NULL, NULL, NULL, "in", C(fast_in_packets) },
#undef C
	};

	for (size_t k = 0; k < ARRAY_SIZE(m); k++) {
		if (m[k].family)
			family(out, m[k].family, m[k].type, m[k].help);
		for (int i = 0; i < n; i++) {
			__u64 v;

			memcpy(&v, (const char *)&s[i].c + m[k].offset,
			       sizeof(v));
			fprintf(out, "sectorgate_%s{",
				m[k].family ? m[k].family : m[k - 1].family);
			label(out, "sector", s[i].name, true);
			label(out, "direction", m[k].dir, false);
			fprintf(out, "} %llu\n", v);
		}
	}
	family(out, "flows_evicted_total", "counter",
	       "Flows of each sector evicted before any answer, to make "
	       "room for a new flow (its quota reached, or the table full).");
	for (int i = 0; i < n; i++) {
		if (!s[i].id)
			continue;	/* "host" holds no flows */
		fprintf(out, "sectorgate_flows_evicted_total{");
		label(out, "sector", s[i].name, true);
		fprintf(out, "} %llu\n", s[i].c.flows_evicted);
	}
	family(out, "drops_total", "counter",
	       "Packets dropped, per sector and reason (sector=\"host\": "
	       "none could be named).");
	for (int i = 0; i < n; i++)
		for (int r = 1; r < SG_DROP_MAX; r++) {
			fprintf(out, "sectorgate_drops_total{");
			label(out, "sector", s[i].name, true);
			label(out, "reason", sg_drop_name(r), false);
			fprintf(out, "} %llu\n", s[i].c.drops[r]);
		}
}

static void events_lost(FILE *out, const struct sg_instance *in)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sg_event_budget *b;
	__u32 zero = 0;
	__u64 lost = 0;

	family(out, "events_lost_total", "counter", "Drop events that the "
	       "rate limit or a full ring kept from `sectorgate monitor`.");
	if (ncpus <= 0)
		return;
	b = calloc(ncpus, sizeof(*b));
	if (!b)
		sg_oom();
	if (!bpf_map_lookup_elem(in->fds.event_budget, &zero, b))
		for (int i = 0; i < ncpus; i++)
			lost += b[i].lost;
	free(b);
	fprintf(out, "sectorgate_events_lost_total %llu\n", lost);
}

/* One SNAT reply entry: the address and port it holds toward a remote
 * endpoint. */
struct nat_use {
	__be32 addr;		/* the uplink's masquerade address */
	__be32 remote;
	__be16 remote_port;
	__u8 proto;
	__u8 pad;
};

static int by_endpoint(const void *a, const void *b)
{
	const struct nat_use *x = a, *y = b;

	return memcmp(x, y, sizeof(*x));
}

/*
 * The next uplink of the live slot after prev (NULL: the first), into
 * *key and *dev. key may be prev.
 */
static bool next_uplink(const struct sg_instance *in, __u32 slot,
			const struct sg_device_key *prev,
			struct sg_device_key *key, struct sg_device *dev)
{
	while (!bpf_map_get_next_key(in->fds.devices, prev, key)) {
		prev = key;
		if (key->slot == slot &&
		    !bpf_map_lookup_elem(in->fds.devices, key, dev) &&
		    dev->role == SG_ROLE_UPLINK)
			return true;
	}
	return false;
}

/* The uplink that masquerades behind addr in the live slot, by name. */
static void uplink_of(const struct sg_instance *in, __u32 slot, __be32 addr,
		      char *name)
{
	struct sg_device_key key;
	struct sg_device dev;
	bool more;

	strcpy(name, "?");
	for (more = next_uplink(in, slot, NULL, &key, &dev); more;
	     more = next_uplink(in, slot, &key, &key, &dev)) {
		if (memcmp(dev.snat_addr, &addr, sizeof(addr)))
			continue;
		if (if_indextoname(key.ifindex, name))
			return;
		strcpy(name, "?");
	}
}

/* Samples of 0 for the uplinks of the live slot whose address holds no
 * port (none in u): a gauge's series is there before its first flow. */
static void idle_uplinks(FILE *out, const struct sg_instance *in, __u32 slot,
			 const struct nat_use *u, int n, const char *name)
{
	struct sg_device_key key;
	struct sg_device dev;
	char ifname[IF_NAMESIZE], addr[16];
	__be32 snat;
	bool more;
	int i;

	for (more = next_uplink(in, slot, NULL, &key, &dev); more;
	     more = next_uplink(in, slot, &key, &key, &dev)) {
		memcpy(&snat, dev.snat_addr, sizeof(snat));
		for (i = 0; i < n && u[i].addr != snat; i++)
			;
		if (i < n || !if_indextoname(key.ifindex, ifname))
			continue;
		sg_ipv4_str(ntohl(snat), addr);
		fprintf(out, "sectorgate_%s{", name);
		label(out, "uplink", ifname, true);
		label(out, "address", addr, false);
		fprintf(out, "} 0\n");
	}
}

/* Ports in use per masquerade address, and the most that one remote
 * endpoint holds: a port is exhausted toward one endpoint at a time. */
static void nat_ports(FILE *out, const struct sg_instance *in, __u32 slot,
		      const struct nat_use *u, int n)
{
	struct sg_config cfg = {};
	int start = 0;

	family(out, "nat_ports_capacity", "gauge", "Ports of host.nat-ports: "
	       "what each masquerade address has toward each remote "
	       "endpoint.");
	if (!bpf_map_lookup_elem(in->fds.config, &slot, &cfg) && cfg.nat_port_hi)
		fprintf(out, "sectorgate_nat_ports_capacity %u\n",
			cfg.nat_port_hi - cfg.nat_port_lo + 1);
	family(out, "nat_ports_in_use", "gauge", "Masquerade ports in use, "
	       "per uplink address (one per flow and remote endpoint).");
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			family(out, "nat_ports_endpoint_max", "gauge",
			       "Masquerade ports in use toward the remote "
			       "endpoint holding the most, per uplink address: "
			       "at sectorgate_nat_ports_capacity new flows to it "
			       "are dropped (nat-ports-exhausted).");
		for (start = 0; start < n;) {
			char dev[IF_NAMESIZE], addr[16];
			int end = start, total = 0, run = 0, most = 0;

			for (; end < n && u[end].addr == u[start].addr; end++) {
				total++;
				run = end > start && !by_endpoint(&u[end],
						&u[end - 1]) ? run + 1 : 1;
				most = run > most ? run : most;
			}
			uplink_of(in, slot, u[start].addr, dev);
			sg_ipv4_str(ntohl(u[start].addr), addr);
			fprintf(out, "sectorgate_%s{",
				pass ? "nat_ports_endpoint_max" :
				       "nat_ports_in_use");
			label(out, "uplink", dev, true);
			label(out, "address", addr, false);
			fprintf(out, "} %d\n", pass ? most : total);
			start = end;
		}
		idle_uplinks(out, in, slot, u, n, pass ?
			     "nat_ports_endpoint_max" : "nat_ports_in_use");
	}
}

/* One pass over the flow table: its fill, flows per sector, NAT use. */
static void flows(FILE *out, const struct sg_instance *in, __u32 slot,
		  const struct sg_sector_stats *s, int nsectors)
{
	struct sg_flow_key key, *prev = NULL;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct nat_use *use = NULL;
	int entries = 0, nuse = 0, *per_sector;
	struct sg_flow f;

	per_sector = calloc(nsectors + 1, sizeof(*per_sector));
	if (!per_sector)
		sg_oom();
	while (!bpf_map_get_next_key(in->fds.flows, prev, &key)) {
		prev = &key;
		entries++;
		if (bpf_map_lookup_elem(in->fds.flows, &key, &f))
			continue;
		if (f.dir != SG_FLOW_REPLY) {
			for (int i = 0; i < nsectors; i++)
				if (s[i].id == key.zone)
					per_sector[i]++;
			continue;
		}
		if (f.nat != SG_NAT_SNAT)
			continue;
		use = sg_grow(use, nuse, sizeof(*use));
		use[nuse++] = (struct nat_use){ .addr = key.daddr,
			.remote = key.saddr, .remote_port = key.sport,
			.proto = key.proto };
	}
	family(out, "flow_table_entries", "gauge", "Entries of the flow "
	       "table (sg_flows): two for each flow, one per direction.");
	fprintf(out, "sectorgate_flow_table_entries %d\n", entries);
	family(out, "flow_table_capacity", "gauge",
	       "Entries the flow table (sg_flows) holds at most.");
	if (!bpf_obj_get_info_by_fd(in->fds.flows, &info, &len))
		fprintf(out, "sectorgate_flow_table_capacity %u\n",
			info.max_entries);
	family(out, "flows", "gauge", "Tracked connections, per sector "
	       "that opened them.");
	for (int i = 0; i < nsectors; i++) {
		if (!s[i].id)
			continue;
		fprintf(out, "sectorgate_flows{");
		label(out, "sector", s[i].name, true);
		fprintf(out, "} %d\n", per_sector[i]);
	}
	if (nuse)
		qsort(use, nuse, sizeof(*use), by_endpoint);
	nat_ports(out, in, slot, use, nuse);
	free(use);
	free(per_sector);
}

static void map_fill(FILE *out, struct sg_instance *in)
{
	for (int pass = 0; pass < 2; pass++) {
		if (!pass)
			family(out, "map_entries", "gauge", "Entries of each "
			       "pinned map (both definition slots).");
		else
			family(out, "map_capacity", "gauge",
			       "Entries each pinned map holds at most.");
		for (int i = 0; i < sg_nmaps; i++) {
			const struct sg_map_desc *d = &sg_map_table[i];
			int fd = *sg_map_fd(&in->fds, d);
			struct bpf_map_info info = {};
			__u32 len = sizeof(info);

			if (!d->counted ||
			    bpf_obj_get_info_by_fd(fd, &info, &len))
				continue;
			fprintf(out, "sectorgate_map_%s{",
				pass ? "capacity" : "entries");
			label(out, "map", d->name, true);
			fprintf(out, "} %d\n", pass ? (int)info.max_entries :
					       sg_map_count(fd, info.key_size));
		}
	}
}

void sg_metrics_write(FILE *out, struct sg_instance *in)
{
	struct sg_sector_stats *s;
	struct sg_state st;
	int n;

	sg_maps_read_state(&in->fds, &st);
	n = sg_sector_stats_collect(in, st.slot, &s);
	family(out, "generation", "gauge", "Applies that changed the "
	       "definitions in force.");
	fprintf(out, "sectorgate_generation %u\n", st.generation);
	counters(out, s, n);
	events_lost(out, in);
	flows(out, in, st.slot, s, n);
	map_fill(out, in);
	free(s);
}

int sg_metrics_text(const char *pin_dir, char **text, size_t *len)
{
	struct sg_opts o = { .pin_dir = pin_dir };
	struct sg_instance in;
	FILE *out;
	int ret;

	ret = sg_open_applied(&o, &in);
	if (ret) {
		sg_instance_close(&in);
		return ret;
	}
	out = open_memstream(text, len);
	if (!out) {
		ret = -errno;
		sg_instance_close(&in);
		return ret;
	}
	sg_metrics_write(out, &in);
	sg_instance_close(&in);
	return fclose(out) ? -errno : 0;
}
