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

#include "applied.h"
#include "cli.h"
#include "netdev.h"
#include "util.h"

struct dump_ctx {
	const struct sg_instance *in;
	/* The applied definitions, when the file still holds them (for
	 * names the maps do not keep); else empty. */
	struct sg_model model;
	__u32 slot;
	__u32 generation;
	bool json;
	bool first;
};


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

static const char *nat_kind(__u8 nat)
{
	static const char *const names[] = {
		[SG_NAT_SNAT] = "snat", [SG_NAT_IMDS] = "imds",
		[SG_NAT_DNAT] = "dnat", [SG_NAT_HOST] = "host",
		[SG_NAT_EGRESS] = "egress",
	};

	return nat < ARRAY_SIZE(names) ? names[nat] : "?";
}

/*
 * Do the packets of flow f (primary, key k) go by the XDP fast path, out
 * of the sector (*out) and into it (*in)? A forward's primary delivers
 * into the sector, the others' leave it; the reply entry does the rest.
 */
static void flow_kept(const struct dump_ctx *d, const struct sg_flow_key *k,
		      const struct sg_flow *f, bool *out, bool *in)
{
	struct sg_flow_key rk;
	struct sg_flow r;
	bool rkept;

	*out = *in = false;
	if (f->nat == SG_NAT_NONE)
		return;
	sg_flow_primary_key(&rk, k, f);
	rkept = !bpf_map_lookup_elem(d->in->fds.flows, &rk, &r) &&
		r.dir == SG_FLOW_REPLY && kept(d, &r);
	/* A steered flow's kept decision is tc's, not XDP's. */
	*out = f->nat == SG_NAT_DNAT ? rkept :
	       f->nat != SG_NAT_EGRESS && kept(d, f);
	*in = f->nat == SG_NAT_DNAT ? kept(d, f) : rkept;
}

/*
 * One line per flow, by its primary: `sector` is the sector it belongs
 * to (for what was let in from outside, `inbound`, the one it entered),
 * `dst` the destination as sent, `nat` what is translated (the source,
 * or for a forward the destination), `to` where a rewritten destination
 * goes.
 */
static void dump_conntrack(struct dump_ctx *d)
{
	struct sg_flow_key key, *prev = NULL;
	__u64 now = now_ns();
	struct sg_flow f;

	while (!bpf_map_get_next_key(d->in->fds.flows, prev, &key)) {
		char sector[32], peer[32], src[24], dst[24], nat[24], to[24];
		char exp[24], egress[IF_NAMESIZE] = "?";
		bool out, in, inbound, dnat, same;

		prev = &key;
		if (bpf_map_lookup_elem(d->in->fds.flows, &key, &f) ||
		    f.dir != SG_FLOW_ORIG || f.expires_ns <= now)
			continue;
		inbound = key.zone == 0 && f.nat != SG_NAT_HOST;
		dnat = f.nat == SG_NAT_DNAT;
		/* Steered untranslated (snat-address: none). */
		same = f.xlate.saddr == key.saddr && f.xlate.sport == key.sport &&
		       !dnat;
		sg_sector_name(d->in, d->slot, inbound ? f.peer_zone : key.zone,
			       sector, sizeof(sector));
		item_start(d);
		field(d, "sector", sector, true);
		field(d, "proto", sg_proto_name(key.proto), false);
		field(d, "src", endpoint(key.saddr, key.sport, src, sizeof(src)),
		      false);
		field(d, "dst", endpoint(key.daddr, key.dport, dst, sizeof(dst)),
		      false);
		field(d, "nat", f.nat == SG_NAT_NONE || same ? NULL : dnat ?
		      endpoint(f.xlate.daddr, f.xlate.dport, nat, sizeof(nat)) :
		      endpoint(f.xlate.saddr, f.xlate.sport, nat, sizeof(nat)),
		      false);
		field(d, "nat_kind", f.nat == SG_NAT_NONE ? NULL :
		      nat_kind(f.nat), false);
		field(d, "to", f.xlate.daddr != key.daddr ||
			       f.xlate.dport != key.dport ?
		      endpoint(f.xlate.daddr, f.xlate.dport, to, sizeof(to)) :
		      NULL, false);
		field(d, "to_sector", f.nat == SG_NAT_NONE && !inbound ?
		      sg_sector_name(d->in, d->slot, f.peer_zone, peer,
				     sizeof(peer)) : NULL, false);
		/* The device a steered flow stays on. */
		if (f.nat == SG_NAT_EGRESS)
			if_indextoname(f.out_ifindex, egress);
		field(d, "egress", f.nat == SG_NAT_EGRESS ? egress : NULL,
		      false);
		field(d, "state", state_name(f.state), false);
		snprintf(exp, sizeof(exp), "%llu",
			 (f.expires_ns - now) / 1000000000ULL);
		flow_kept(d, &key, &f, &out, &in);
		if (d->json) {
			printf(",\"inbound\":%s,\"expires_in\":%s,"
			       "\"xdp_out\":%s,\"xdp_in\":%s",
			       inbound ? "true" : "false", exp,
			       out ? "true" : "false", in ? "true" : "false");
		} else {
			field(d, "inbound", inbound ? "yes" : NULL, false);
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
		    (r.nat != SG_NAT_SNAT && r.nat != SG_NAT_IMDS &&
		     r.nat != SG_NAT_HOST && r.nat != SG_NAT_EGRESS) ||
		    (r.xlate.daddr == key.daddr && r.xlate.dport == key.dport))
			continue;
		sg_sector_name(d->in, d->slot, r.peer_zone, sector,
			       sizeof(sector));
		item_start(d);
		field(d, "sector", sector, true);
		field(d, "proto", sg_proto_name(key.proto), false);
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

/*
 * Policy lines start with the sector's name (text) or are one member of
 * the sector's object (JSON): "allow", "forwards", "imds", "allow_from",
 * "egress" and "egress_except".
 */
static void policy_allow(struct dump_ctx *d, const char *name, __u16 id)
{
	struct sg_allow_key key, *prev = NULL;
	bool first = true;
	struct sg_allow a;

	printf(d->json ? ",\"allow\":[" : "");
	while (!bpf_map_get_next_key(d->in->fds.allow, prev, &key)) {
		char to[32];

		prev = &key;
		if (key.slot != d->slot || key.from != id ||
		    bpf_map_lookup_elem(d->in->fds.allow, &key, &a))
			continue;
		sg_sector_name(d->in, d->slot, key.to, to, sizeof(to));
		if (d->json) {
			printf("%s{\"to\":", first ? "" : ",");
			sg_json_str(stdout, to);
			printf(",\"rules\":[");
		} else {
			printf("%s allow %s ", name, to);
		}
		for (__u32 i = 0; i < a.count && i < SG_MAX_ALLOW_RULES; i++) {
			const struct sg_allow_rule *r = &a.rules[i];

			printf(d->json ? "%s{\"proto\":\"%s\",\"ports\":\"%u-%u\"}" :
					 "%s%s/%u-%u", i ? "," : "",
			       sg_proto_name(r->proto), r->port_lo, r->port_hi);
		}
		printf(d->json ? "]}" : "\n");
		first = false;
	}
	printf(d->json ? "]" : "");
}

static void policy_forwards(struct dump_ctx *d, const char *name, __u16 id)
{
	struct sg_forward_key key, *prev = NULL;
	struct sg_forward f;
	bool first = true;

	printf(d->json ? ",\"forwards\":[" : "");
	while (!bpf_map_get_next_key(d->in->fds.forwards, prev, &key)) {
		char on[24], to[24];
		__be32 addr, to_addr;

		prev = &key;
		if (key.slot != d->slot ||
		    bpf_map_lookup_elem(d->in->fds.forwards, &key, &f) ||
		    f.sector != id)
			continue;
		memcpy(&addr, key.addr, 4);
		memcpy(&to_addr, f.to_addr, 4);
		endpoint(addr, key.port, on, sizeof(on));
		endpoint(to_addr, f.to_port, to, sizeof(to));
		if (d->json)
			printf("%s{\"proto\":\"%s\",\"on\":\"%s\",\"to\":\"%s\"}",
			       first ? "" : ",", sg_proto_name(key.proto), on, to);
		else
			printf("%s forward %s %s -> %s\n", name,
			       sg_proto_name(key.proto), on, to);
		first = false;
	}
	printf(d->json ? "]" : "");
}

static void policy_imds(struct dump_ctx *d, const char *name,
			const struct sg_sector *s)
{
	char addr[24] = "", target[24] = "";
	struct sg_imds m;
	__be32 a, t;

	if ((s->flags & SG_SECTOR_IMDS) &&
	    !bpf_map_lookup_elem(d->in->fds.imds, &d->slot, &m)) {
		memcpy(&a, m.addr, 4);
		memcpy(&t, m.target_addr, 4);
		endpoint(a, m.port, addr, sizeof(addr));
		endpoint(t, m.target_port, target, sizeof(target));
	}
	if (d->json && *addr)
		printf(",\"imds\":{\"address\":\"%s\",\"target\":\"%s\"}", addr,
		       target);
	else if (d->json)
		printf(",\"imds\":null");
	else if (*addr)
		printf("%s imds %s -> %s (from the host's address)\n", name,
		       addr, target);
}

static void policy_source(struct dump_ctx *d, const char *name, bool *first,
			  const char *src)
{
	if (d->json)
		list_item(d, first, src);
	else
		printf("%s allow-from %s\n", name, src);
	*first = false;
}

static void policy_allow_from(struct dump_ctx *d, const char *name, __u16 id)
{
	struct sg_admit_dev_key dk, *dprev = NULL;
	struct sg_net_key nk, *nprev = NULL;
	__u32 seen[64], nseen = 0, v;
	bool first = true;

	printf(d->json ? ",\"allow_from\":[" : "");
	/* One entry per CIDR of the sector: each device once. */
	while (!bpf_map_get_next_key(d->in->fds.admit_devs, dprev, &dk)) {
		char ifname[IF_NAMESIZE] = "?";
		__u32 i;

		dprev = &dk;
		if (dk.slot != d->slot ||
		    bpf_map_lookup_elem(d->in->fds.admit_devs, &dk, &v) ||
		    v != id)
			continue;
		for (i = 0; i < nseen && seen[i] != dk.ifindex; i++)
			;
		if (i < nseen)
			continue;
		if (nseen < ARRAY_SIZE(seen))
			seen[nseen++] = dk.ifindex;
		if_indextoname(dk.ifindex, ifname);
		policy_source(d, name, &first, ifname);
	}
	while (!bpf_map_get_next_key(d->in->fds.admit_nets, nprev, &nk)) {
		char a[16], cidr[24];

		nprev = &nk;
		if (nk.slot != d->slot || nk.sector != id)
			continue;
		inet_ntop(AF_INET, nk.addr, a, sizeof(a));
		snprintf(cidr, sizeof(cidr), "%s/%u", a, nk.prefixlen - 32);
		policy_source(d, name, &first, cidr);
	}
	printf(d->json ? "]" : "");
}

/* The compiled prefixes of sector id's egress list (sg_egress_nets). */
struct egress_net {
	char cidr[24];
	struct sg_egress_match m;
};

static int egress_nets(struct dump_ctx *d, __u16 id, struct egress_net **out)
{
	struct sg_net_key k, *prev = NULL;
	struct egress_net *t = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(d->in->fds.egress_nets, prev, &k)) {
		char a[16];

		prev = &k;
		if (k.slot != d->slot || k.sector != id)
			continue;
		t = sg_grow(t, n, sizeof(*t));
		if (bpf_map_lookup_elem(d->in->fds.egress_nets, &k, &t[n].m))
			continue;
		inet_ntop(AF_INET, k.addr, a, sizeof(a));
		snprintf(t[n].cidr, sizeof(t[n].cidr), "%s/%u", a,
			 k.prefixlen - 32);
		n++;
	}
	*out = t;
	return n;
}

/*
 * How a device of an egress policy stands: usable for new flows in the
 * datapath (as of the last apply), and up with carrier now. Without
 * `run`, which applies again at every link change, the two can differ:
 * a device gone down since still reads usable in the map, and one come
 * up since still unusable; the datapath acts on the map. A device that
 * gives its own address and had none at the last apply (sourced false)
 * was unusable for that, up or not.
 */
static const char *egress_dev_state(bool usable, bool link_up, bool sourced)
{
	if (!usable && !sourced)
		return "unusable, no address at the last apply";
	if (!usable)
		return link_up ? "unusable, up since the last apply" :
				 "unusable";
	return link_up ? "up" : "down since the last apply";
}

/*
 * The name the definitions give device k of sector's egress policy i
 * (the maps keep its ifindex, 0 for one not present), or NULL when the
 * applied definitions are not at hand.
 */
static const char *egress_dev_named(const struct dump_ctx *d,
				    const char *sector, int i, int k)
{
	for (int s = 0; s < d->model.nsectors; s++) {
		const struct sg_sector_def *sec = &d->model.sectors[s];

		if (!strcmp(sec->name, sector) && i < sec->negress &&
		    k < sec->egress[i].nifaces)
			return sec->egress[i].ifaces[k];
	}
	return NULL;
}

/* Policy i's devices: name, the source it gives, usable for new flows. */
static void egress_devices(struct dump_ctx *d, const char *name, int i,
			   const struct sg_egress_policy *p)
{
	bool routed = p->flags & SG_EGRESS_ROUTED;

	if (!d->json)
		printf("%s egress[%d] via", name, i);
	for (int k = 0; k < p->ndevs && k < SG_MAX_EGRESS_DEVS; k++) {
		char ifname[IF_NAMESIZE] = "", snat[16];
		static const __u8 none[4];
		bool usable = p->usable & (1U << k), link_up = false;
		bool sourced = routed || memcmp(p->devs[k].snat, none, 4);
		bool present = p->devs[k].ifindex &&
			       if_indextoname(p->devs[k].ifindex, ifname);
		const char *named = present ? ifname :
				    egress_dev_named(d, name, i, k);

		if (present)
			link_up = sg_netdev_up(ifname);
		inet_ntop(AF_INET, p->devs[k].snat, snat, sizeof(snat));
		if (d->json) {
			printf("%s{\"interface\":", k ? "," : "");
			if (named)
				sg_json_str(stdout, named);
			else
				printf("null");
			printf(",\"present\":%s", present ? "true" : "false");
			printf(",\"snat\":%s%s%s,\"usable\":%s,\"link_up\":%s}",
			       routed ? "" : "\"", routed ? "null" : snat,
			       routed ? "" : "\"", usable ? "true" : "false",
			       link_up ? "true" : "false");
		} else if (!present) {
			printf("%s %s%s(not present)", k ? "," : "",
			       named ? named : "", named ? " " : "");
		} else {
			printf("%s %s (%s, %s)", k ? "," : "", ifname,
			       routed ? "untranslated" : snat,
			       egress_dev_state(usable, link_up, sourced));
		}
	}
	if (!d->json)
		printf("\n");
}

/* What the compiled prefixes hold for policy i: CIDR and rule. */
static void egress_compiled(struct dump_ctx *d, const char *name, int i,
			    const struct egress_net *t, int n)
{
	bool first = true;

	for (int e = 0; e < n; e++) {
		for (__u32 r = 0; r < t[e].m.count && r < SG_MAX_EGRESS_RULES;
		     r++) {
			const struct sg_allow_rule *ru = &t[e].m.rules[r];

			if (t[e].m.policy[r] != i)
				continue;
			if (d->json)
				printf("%s{\"prefix\":\"%s\",\"proto\":\"%s\","
				       "\"ports\":\"%u-%u\"}",
				       first ? "" : ",", t[e].cidr,
				       sg_proto_name(ru->proto), ru->port_lo,
				       ru->port_hi);
			else
				printf("%s egress[%d]   %s %s/%u-%u\n", name, i,
				       t[e].cidr, sg_proto_name(ru->proto),
				       ru->port_lo, ru->port_hi);
			first = false;
		}
	}
}

/*
 * The egress list in file order, each policy with its devices and what
 * it compiled to (the longest prefix of a destination lists the rules
 * tried in order); prefixes with no rule are `except` holes.
 */
static void policy_egress(struct dump_ctx *d, const char *name, __u16 id)
{
	struct egress_net *t;
	int n = egress_nets(d, id, &t);
	bool first = true;

	printf(d->json ? ",\"egress\":[" : "");
	for (int i = 0; i < SG_MAX_EGRESS_POLICIES; i++) {
		struct sg_egress_policy_key k = { .slot = d->slot,
						  .sector = id, .policy = i };
		struct sg_egress_policy p;

		if (bpf_map_lookup_elem(d->in->fds.egress_policies, &k, &p))
			break;
		if (d->json)
			printf("%s{\"policy\":%d,\"routed\":%s,\"devices\":[",
			       first ? "" : ",", i,
			       p.flags & SG_EGRESS_ROUTED ? "true" : "false");
		egress_devices(d, name, i, &p);
		printf(d->json ? "],\"compiled\":[" : "");
		egress_compiled(d, name, i, t, n);
		printf(d->json ? "]}" : "");
		first = false;
	}
	printf(d->json ? "],\"egress_except\":[" : "");
	first = true;
	for (int e = 0; e < n; e++) {
		if (t[e].m.count)
			continue;
		if (d->json)
			list_item(d, &first, t[e].cidr);
		else
			printf("%s egress except %s (no policy: the uplink)\n",
			       name, t[e].cidr);
	}
	printf(d->json ? "]" : "");
	free(t);
}

/* Per sector: what it may open (allow), and what may reach it. */
static void dump_policy(struct dump_ctx *d)
{
	struct sg_live_sector *live;
	int n = sg_live_sectors(d->in, d->slot, &live);

	for (int i = 0; i < n; i++) {
		char name[SG_NAME_LEN + 1];

		snprintf(name, sizeof(name), "%.*s", SG_NAME_LEN,
			 live[i].s.name);
		if (d->json) {
			item_start(d);
			field(d, "sector", name, true);
		}
		policy_allow(d, name, live[i].id);
		policy_forwards(d, name, live[i].id);
		policy_imds(d, name, &live[i].s);
		policy_allow_from(d, name, live[i].id);
		policy_egress(d, name, live[i].id);
		if (d->json)
			item_end(d);
	}
	free(live);
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
	if (!strcmp(o->what, "policy"))
		sg_applied_model(o->pin_dir, st.generation, &d.model);
	d.in = &in;
	d.slot = st.slot;
	d.generation = st.generation;
	if (d.json)
		printf("[");
	tables[i].dump(&d);
	if (d.json)
		printf("]\n");
	sg_model_free(&d.model);
	sg_instance_close(&in);
	return SG_EXIT_OK;
}
