/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Lookups in the definition maps. Every lookup names the slot that the
 * program run read once from sg_state (sg_ctx.slot), so one packet sees
 * one definition set.
 */
#ifndef SG_DEFS_H
#define SG_DEFS_H

#include "sg_bpf.h"

/*
 * Added to the clock flows age by. Always 0 in service; unit tests move
 * time forward through the skeleton's .bss to test expiry.
 */
volatile __u64 sg_clock_offset_ns;

/*
 * The clock flows age by: CLOCK_MONOTONIC at tick resolution, plenty for
 * timeouts counted in seconds and cheaper per packet than the precise one.
 * The loader's garbage collection reads CLOCK_MONOTONIC too.
 */
static __always_inline __u64 sg_now(void)
{
	return bpf_ktime_get_coarse_ns() + sg_clock_offset_ns;
}

static __always_inline struct sg_device *sg_device_of(__u32 slot, __u32 ifindex)
{
	struct sg_device_key key = { .ifindex = ifindex, .slot = slot };

	return bpf_map_lookup_elem(&sg_devices, &key);
}

/*
 * The sector device entry, from the copy this CPU keeps of the one it
 * looked up last (sg_device_recent) when it is for this device and this
 * generation: NAPI hands XDP its frames device by device, in batches, so
 * most packets of the fast path need no hash lookup for it. XDP runs with
 * bottom halves off (NAPI, tun, live test runs): nothing else on this CPU
 * writes the copy while a program reads it.
 */
static __always_inline struct sg_device *
sg_device_cached(const struct sg_ctx *c)
{
	struct sg_device_recent *rc;
	struct sg_device *dev;
	__u32 zero = 0;

	rc = bpf_map_lookup_elem(&sg_device_recent, &zero);
	if (!rc)
		return NULL;
	if (rc->ifindex == c->ifindex && rc->generation == c->generation)
		return &rc->dev;
	dev = sg_device_of(c->slot, c->ifindex);
	if (!dev)
		return NULL;
	rc->ifindex = c->ifindex;
	rc->generation = c->generation;
	rc->dev = *dev;
	return &rc->dev;
}

static __always_inline struct sg_sector *sg_sector_of(__u32 slot, __u16 id)
{
	struct sg_sector_key key = { .slot = slot, .id = id };

	return bpf_map_lookup_elem(&sg_sectors, &key);
}

/* Does addr lie in a CIDR of `sector` in nets (an LPM of sg_net_keys)? */
static __always_inline bool sg_net_has(void *nets, __u32 slot, __u16 sector,
				       __be32 addr)
{
	struct sg_net_key key = {
		.prefixlen = 64, .slot = slot, .sector = sector,
	};

	__builtin_memcpy(key.addr, &addr, 4);
	return bpf_map_lookup_elem(nets, &key) != NULL;
}

static __always_inline bool sg_sector_owns(__u32 slot, __u16 sector,
					   __be32 addr)
{
	return sg_net_has(&sg_sector_nets, slot, sector, addr);
}

/*
 * What addr is: into *out the answer of the longest prefix of
 * sg_dest_nets holding it (kind 0: none, the internet), from at most
 * three array reads (sg_common.h), however many prefixes there are.
 * Returns out->kind.
 *
 * A global function: the verifier checks it once, and the maps its
 * answer may come from never multiply the states of its callers.
 */
__attribute__((noinline)) int sg_dest_find(__u32 slot, __be32 addr,
					   struct sg_dest *out)
{
	__u32 a = bpf_ntohl(addr), idx = slot << SG_DEST_TOP_BITS | a >> 16;
	struct sg_dest_stride *e;

	if (!out)
		return 0;
	e = bpf_map_lookup_elem(&sg_dest_top, &idx);
	if (e && e->chunk) {
		idx = (slot * SG_MAX_DEST_CHUNKS + e->chunk) << 8 | (a >> 8 & 0xff);
		e = bpf_map_lookup_elem(&sg_dest_chunks, &idx);
		if (e && e->chunk) {
			idx = (slot * SG_MAX_DEST_CHUNKS + e->chunk) << 8 |
			      (a & 0xff);
			e = bpf_map_lookup_elem(&sg_dest_chunks, &idx);
		}
	}
	/* A chunk index here would be the loader's mistake: nothing. */
	if (!e || e->chunk) {
		__builtin_memset(out, 0, sizeof(*out));
		return 0;
	}
	*out = e->dest;
	return out->kind;
}

/*
 * What addr is, in *buf: buf, or NULL when it is nothing the definitions
 * name (the internet). Its fields are read from memory where they are
 * used, as from a map value: the verifier keeps no bounds of them that
 * would tell its states apart.
 */
static __always_inline struct sg_dest *sg_dest_of(__u32 slot, __be32 addr,
						  struct sg_dest *buf)
{
	return sg_dest_find(slot, addr, buf) ? buf : NULL;
}

/* Is d (NULL: nothing) one sector's CIDR, or one that sectors share? */
static __always_inline bool sg_dest_is_sector(const struct sg_dest *d)
{
	return d && (d->kind == SG_DEST_SECTOR || d->kind == SG_DEST_SHARED);
}

static __always_inline struct sg_allow *sg_allow_of(__u32 slot, __u16 from,
						    __u16 to)
{
	struct sg_allow_key key = { .slot = slot, .from = from, .to = to };

	return bpf_map_lookup_elem(&sg_allow, &key);
}

static __always_inline bool sg_rule_matches(const struct sg_allow_rule *r,
					    __u8 proto, __u16 dport)
{
	if (r->proto && r->proto != proto)
		return false;
	/* Port rules match only protocols that have ports. */
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return r->port_lo == 0 && r->port_hi == 0xffff;
	return dport >= r->port_lo && dport <= r->port_hi;
}

/* Does an `allow` of sector `from` admit this connection to sector `to`? */
static __always_inline bool sg_allowed(__u32 slot, __u16 from, __u16 to,
				       __u8 proto, __be16 dport)
{
	struct sg_allow *allow = sg_allow_of(slot, from, to);
	__u16 port = bpf_ntohs(dport);
	__u32 i;

	if (!allow)
		return false;
	for (i = 0; i < SG_MAX_ALLOW_RULES; i++) {
		if (i >= allow->count)
			break;
		if (sg_rule_matches(&allow->rules[i], proto, port))
			return true;
	}
	return false;
}

static __always_inline struct sg_config *sg_config_of(__u32 slot)
{
	return bpf_map_lookup_elem(&sg_config, &slot);
}

static __always_inline struct sg_imds *sg_imds_of(__u32 slot)
{
	return bpf_map_lookup_elem(&sg_imds, &slot);
}

/* The forward published on addr:port for proto, or NULL. */
static __always_inline struct sg_forward *sg_forward_of(__u32 slot,
							__be32 addr,
							__u8 proto,
							__be16 port)
{
	struct sg_forward_key key = { .slot = slot, .port = port,
				      .proto = proto };

	__builtin_memcpy(key.addr, &addr, 4);
	return bpf_map_lookup_elem(&sg_forwards, &key);
}

/* The sector that trusted device ifindex may open connections to daddr
 * in (allow-from), or 0. */
static __always_inline __u16 sg_admitted_from_dev(__u32 slot, __u32 ifindex,
						  __be32 daddr)
{
	struct sg_admit_dev_key key = { .prefixlen = 96, .slot = slot,
					.ifindex = ifindex };
	__u32 *sector;

	__builtin_memcpy(key.addr, &daddr, 4);
	sector = bpf_map_lookup_elem(&sg_admit_devs, &key);
	return sector ? *sector : 0;
}

/* Does sector admit connections from saddr (allow-from a CIDR)? */
static __always_inline bool sg_admits_source(__u32 slot, __u16 sector,
					     __be32 saddr)
{
	return sg_net_has(&sg_admit_nets, slot, sector, saddr);
}

/*
 * The egress policy (sg_egress_policies) that a packet from `sector` to
 * daddr (proto, dport) meets first in the sector's list: 1 with *pol
 * set; 0 when none applies (the uplink's masquerade); -1 when the
 * compiled entries disagree (a match naming no policy), which must drop:
 * steered traffic never falls back to the uplink.
 */
static __always_inline int sg_egress_policy_of(__u32 slot, __u16 sector,
					       __be32 daddr, __u8 proto,
					       __be16 dport,
					       struct sg_egress_policy **pol)
{
	struct sg_net_key key = {
		.prefixlen = 64, .slot = slot, .sector = sector,
	};
	struct sg_egress_policy_key pk = { .slot = slot, .sector = sector };
	struct sg_egress_match *m;
	__u16 port = bpf_ntohs(dport);
	__u32 i;

	__builtin_memcpy(key.addr, &daddr, 4);
	m = bpf_map_lookup_elem(&sg_egress_nets, &key);
	if (!m)
		return 0;
	for (i = 0; i < SG_MAX_EGRESS_RULES; i++) {
		if (i >= m->count)
			return 0;
		if (!sg_rule_matches(&m->rules[i], proto, port))
			continue;
		pk.policy = m->policy[i];
		*pol = bpf_map_lookup_elem(&sg_egress_policies, &pk);
		return *pol ? 1 : -1;
	}
	return 0;
}

/* The source a flow from saddr leaves device i of pol with. */
static __always_inline __be32 sg_egress_source(const struct sg_egress_policy *pol,
					       __u32 i, __be32 saddr)
{
	__be32 snat;

	if (pol->flags & SG_EGRESS_ROUTED)
		return saddr;
	__builtin_memcpy(&snat, pol->devs[i & (SG_MAX_EGRESS_DEVS - 1)].snat,
			 sizeof(snat));
	return snat;
}

/* Which device of its policy steered flow f (a primary) stays on. */
static __always_inline __u32 sg_egress_slot(const struct sg_flow *f)
{
	return (f->flags & SG_FLOW_EGRESS_SLOT_MASK) >>
	       SG_FLOW_EGRESS_SLOT_SHIFT;
}

/*
 * Does the policy that steered flow f (primary key okey) meets now still
 * send it by device ifindex, from the source it took? That policy, or
 * NULL. Definitions change under live flows: a device dropped from the
 * list, another source, a policy gone; then its packets are no longer
 * this flow's, either way.
 */
static __always_inline struct sg_egress_policy *
sg_egress_holds(__u32 slot, const struct sg_flow_key *okey,
		const struct sg_flow *f, __u32 ifindex)
{
	struct sg_egress_policy *pol = NULL;
	__u32 i = sg_egress_slot(f);

	if (sg_egress_policy_of(slot, okey->zone, okey->daddr, okey->proto,
				okey->dport, &pol) != 1 || !pol ||
	    i >= pol->ndevs)
		return NULL;
	return pol->devs[i & (SG_MAX_EGRESS_DEVS - 1)].ifindex == ifindex &&
	       sg_egress_source(pol, i, okey->saddr) == f->xlate.saddr ?
	       pol : NULL;
}

#endif /* SG_DEFS_H */
