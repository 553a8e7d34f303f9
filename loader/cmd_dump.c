// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sectorgate dump sectors|conntrack|nat|policy: the maps decoded. Flows
 * and mappings are printed as "address:port" (for ICMP echo the port is
 * the echo id); `expires_in` is in seconds; `xdp_out` / `xdp_in` say
 * whether the flow's packets, its replies, go by the XDP fast path.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util.h"

struct dump_ctx {
	const struct sg_instance *in;
	__u32 slot;
	__u32 generation;
	bool json;
	bool first;
};

static const char *proto_name(__u8 proto)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 0:
		return "any";
	default:
		return "other";
	}
}

static const char *state_name(__u8 state)
{
	static const char *const names[] = { "new", "established", "closing" };

	return state < ARRAY_SIZE(names) ? names[state] : "?";
}

static const char *endpoint(__be32 addr, __be16 port, char *buf, size_t len)
{
	char a[16];

	snprintf(buf, len, "%s:%u", sg_ipv4_str(ntohl(addr), a), ntohs(port));
	return buf;
}

/* The clock of bpf_ktime_get_ns(). */
static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void item_start(struct dump_ctx *d)
{
	if (d->json)
		printf("%s{", d->first ? "" : ",");
	d->first = false;
}

/* One "key": "value" (JSON) or "key=value " (text) pair. */
static void field(const struct dump_ctx *d, const char *key, const char *val,
		  bool first)
{
	if (!d->json) {
		printf("%s%s=%s", first ? "" : " ", key, val ? val : "-");
		return;
	}
	printf("%s\"%s\":", first ? "" : ",", key);
	if (val)
		sg_json_str(stdout, val);
	else
		printf("null");
}

/* One element of a list: "a","b" (JSON) or a,b (text). */
static void list_item(const struct dump_ctx *d, bool *first, const char *s)
{
	if (d->json)
		printf("%s\"%s\"", *first ? "" : ",", s);
	else
		printf("%s%s", *first ? "" : ",", s);
	*first = false;
}

static void item_end(const struct dump_ctx *d)
{
	printf(d->json ? "}" : "\n");
}

/* Does entry f hold a fast-path decision for the running definitions? */
static bool kept(const struct dump_ctx *d, const struct sg_flow *f)
{
	return f->kept.ifindex && f->kept.generation == d->generation;
}

/* Are the replies of masqueraded flow f (key k) delivered in XDP? */
static bool replies_kept(const struct dump_ctx *d, const struct sg_flow_key *k,
			 const struct sg_flow *f)
{
	struct sg_flow_key rk;
	struct sg_flow r;

	sg_flow_snat_reply_key(&rk, k, f->xlate.saddr, f->xlate.sport);
	return f->nat == SG_NAT_SNAT &&
	       !bpf_map_lookup_elem(d->in->fds.flows, &rk, &r) &&
	       r.dir == SG_FLOW_REPLY && kept(d, &r);
}

static void dump_conntrack(struct dump_ctx *d)
{
	struct sg_flow_key key, *prev = NULL;
	__u64 now = now_ns();
	struct sg_flow f;

	while (!bpf_map_get_next_key(d->in->fds.flows, prev, &key)) {
		char sector[32], peer[32], src[24], dst[24], nat[24], exp[24];
		bool out, in;

		prev = &key;
		if (bpf_map_lookup_elem(d->in->fds.flows, &key, &f) ||
		    f.dir != SG_FLOW_ORIG || f.expires_ns <= now)
			continue;
		sg_sector_name(d->in, d->slot, key.zone, sector, sizeof(sector));
		item_start(d);
		field(d, "sector", sector, true);
		field(d, "proto", proto_name(key.proto), false);
		field(d, "src", endpoint(key.saddr, key.sport, src, sizeof(src)),
		      false);
		field(d, "dst", endpoint(key.daddr, key.dport, dst, sizeof(dst)),
		      false);
		/* The host's moved connections (zone 0: "host") show
		 * the port they were moved to. */
		field(d, "nat", f.nat == SG_NAT_SNAT || f.nat == SG_NAT_HOST ?
		      endpoint(f.xlate.saddr, f.xlate.sport, nat,
			       sizeof(nat)) : NULL, false);
		field(d, "to_sector", f.nat == SG_NAT_NONE ?
		      sg_sector_name(d->in, d->slot, f.peer_zone, peer,
				     sizeof(peer)) : NULL, false);
		field(d, "state", state_name(f.state), false);
		snprintf(exp, sizeof(exp), "%llu",
			 (f.expires_ns - now) / 1000000000ULL);
		out = f.nat == SG_NAT_SNAT && kept(d, &f);
		in = replies_kept(d, &key, &f);
		if (d->json) {
			printf(",\"expires_in\":%s,\"xdp_out\":%s,"
			       "\"xdp_in\":%s", exp, out ? "true" : "false",
			       in ? "true" : "false");
		} else {
			field(d, "expires_in", exp, false);
			field(d, "xdp", out && in ? "out,in" : out ? "out" :
				  in ? "in" : NULL, false);
		}
		item_end(d);
	}
}

static void dump_nat(struct dump_ctx *d)
{
	struct sg_flow_key key, *prev = NULL;
	struct sg_flow r;

	while (!bpf_map_get_next_key(d->in->fds.flows, prev, &key)) {
		char sector[32], ext[24], remote[24], inner[24];

		prev = &key;
		if (bpf_map_lookup_elem(d->in->fds.flows, &key, &r) ||
		    r.dir != SG_FLOW_REPLY ||
		    (r.nat != SG_NAT_SNAT && r.nat != SG_NAT_HOST))
			continue;
		sg_sector_name(d->in, d->slot, r.peer_zone, sector,
			       sizeof(sector));
		item_start(d);
		field(d, "sector", sector, true);
		field(d, "proto", proto_name(key.proto), false);
		field(d, "internal", endpoint(r.xlate.daddr, r.xlate.dport, inner,
					      sizeof(inner)), false);
		field(d, "external", endpoint(key.daddr, key.dport, ext,
					      sizeof(ext)), false);
		field(d, "remote", endpoint(key.saddr, key.sport, remote,
					    sizeof(remote)), false);
		item_end(d);
	}
}

static void dump_sectors(struct dump_ctx *d)
{
	struct sg_live_sector *live;
	int n = sg_live_sectors(d->in, d->slot, &live);

	for (int i = 0; i < n; i++) {
		struct sg_net_key key, *prev = NULL;
		struct sg_device_key dkey, *dprev = NULL;
		struct sg_device dev;
		char name[SG_NAME_LEN + 1], buf[32];
		bool first = true;

		snprintf(name, sizeof(name), "%.*s", SG_NAME_LEN,
			 live[i].s.name);
		item_start(d);
		field(d, "name", name, true);
		snprintf(buf, sizeof(buf), "%u", live[i].id);
		if (d->json)
			printf(",\"id\":%s,\"internet\":%s,\"imds\":%s,"
			       "\"cidrs\":[", buf,
			       live[i].s.flags & SG_SECTOR_INTERNET ? "true" :
								      "false",
			       live[i].s.flags & SG_SECTOR_IMDS ? "true" :
								  "false");
		else
			printf(" id=%s%s%s cidrs=", buf,
			       live[i].s.flags & SG_SECTOR_INTERNET ?
			       " internet" : "",
			       live[i].s.flags & SG_SECTOR_IMDS ? " imds" : "");
		while (!bpf_map_get_next_key(d->in->fds.sector_nets, prev,
					     &key)) {
			char a[16];

			prev = &key;
			if (key.slot != d->slot || key.sector != live[i].id)
				continue;
			inet_ntop(AF_INET, key.addr, a, sizeof(a));
			snprintf(buf, sizeof(buf), "%s/%u", a,
				 key.prefixlen - 32);
			list_item(d, &first, buf);
		}
		printf(d->json ? "],\"devices\":[" : " devices=");
		first = true;
		while (!bpf_map_get_next_key(d->in->fds.devices, dprev, &dkey)) {
			char ifname[IF_NAMESIZE] = "?";

			dprev = &dkey;
			if (dkey.slot != d->slot ||
			    bpf_map_lookup_elem(d->in->fds.devices, &dkey, &dev) ||
			    dev.role != SG_ROLE_SECTOR || dev.sector != live[i].id)
				continue;
			if_indextoname(dkey.ifindex, ifname);
			list_item(d, &first, ifname);
		}
		printf(d->json ? "]" : "");
		item_end(d);
	}
	free(live);
}

static void dump_policy(struct dump_ctx *d)
{
	struct sg_allow_key key, *prev = NULL;
	struct sg_allow a;

	while (!bpf_map_get_next_key(d->in->fds.allow, prev, &key)) {
		char from[32], to[32];

		prev = &key;
		if (key.slot != d->slot ||
		    bpf_map_lookup_elem(d->in->fds.allow, &key, &a))
			continue;
		item_start(d);
		field(d, "from", sg_sector_name(d->in, d->slot, key.from, from,
						sizeof(from)), true);
		field(d, "to", sg_sector_name(d->in, d->slot, key.to, to,
					      sizeof(to)), false);
		printf(d->json ? ",\"rules\":[" : " rules=");
		for (__u32 i = 0; i < a.count && i < SG_MAX_ALLOW_RULES; i++) {
			const struct sg_allow_rule *r = &a.rules[i];

			if (d->json)
				printf("%s{\"proto\":\"%s\",\"ports\":\"%u-%u\"}",
				       i ? "," : "", proto_name(r->proto),
				       r->port_lo, r->port_hi);
			else
				printf("%s%s/%u-%u", i ? "," : "",
				       proto_name(r->proto), r->port_lo,
				       r->port_hi);
		}
		printf(d->json ? "]" : "");
		item_end(d);
	}
}

int cmd_dump(const struct sg_opts *o)
{
	static const struct {
		const char *what;
		void (*dump)(struct dump_ctx *d);
	} tables[] = {
		{ "sectors", dump_sectors },
		{ "conntrack", dump_conntrack },
		{ "nat", dump_nat },
		{ "policy", dump_policy },
	};
	struct dump_ctx d = { .json = o->json, .first = true };
	struct sg_instance in;
	struct sg_state st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tables); i++)
		if (o->what && !strcmp(o->what, tables[i].what))
			break;
	if (i == ARRAY_SIZE(tables)) {
		fprintf(stderr, "usage: sectorgate dump "
			"sectors|conntrack|nat|policy [--json]\n");
		return SG_EXIT_USAGE;
	}
	if (sg_open_applied(o, &in)) {
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	sg_maps_read_state(&in.fds, &st);
	d.in = &in;
	d.slot = st.slot;
	d.generation = st.generation;
	if (d.json)
		printf("[");
	tables[i].dump(&d);
	if (d.json)
		printf("]\n");
	sg_instance_close(&in);
	return SG_EXIT_OK;
}
