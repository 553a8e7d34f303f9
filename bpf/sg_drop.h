/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The drop funnel: every packet the datapath drops goes through sg_drop(),
 * which counts it per sector and reason and reports it to `sectorgate
 * monitor` through a ring buffer, like the kernel log line of an
 * nftables "log prefix FORWARD DROP" rule. Helpers return reasons and
 * never count.
 *
 * Events are rate-limited per CPU with a token bucket, so a flood of drops
 * costs a ring-buffer write only SG_EVENTS_PER_SEC times a second; what the
 * bucket or a full ring keeps out is counted in sg_event_budget.lost and
 * reported by monitor.
 */
#ifndef SG_DROP_H
#define SG_DROP_H

#include "sg_counters.h"
#include "sg_parse.h"

#define SG_EVENT_INTERVAL_NS	(NSEC_PER_SEC / SG_EVENTS_PER_SEC)

static __always_inline bool sg_event_take(struct sg_event_budget *b,
					  __u64 now)
{
	__u64 elapsed = now - b->refilled_ns, add;

	/* Divided only when a token is due: under a flood, most drops
	 * come within the same tick of the coarse clock. */
	if (elapsed >= SG_EVENT_INTERVAL_NS) {
		add = elapsed / SG_EVENT_INTERVAL_NS;
		b->tokens = b->tokens + add < SG_EVENTS_BURST ?
			    b->tokens + add : SG_EVENTS_BURST;
		b->refilled_ns = now;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

static __always_inline void sg_event_emit(const struct sg_ctx *c,
					  const struct sg_pkt *p,
					  __u32 counters, __u16 to_sector,
					  int reason)
{
	struct sg_event_budget *b;
	struct sg_event *e;
	__u32 zero = 0;
	__u64 now;

	b = bpf_map_lookup_elem(&sg_event_budget, &zero);
	if (!b)
		return;
	now = bpf_ktime_get_coarse_ns();
	if (!sg_event_take(b, now)) {
		b->lost++;
		return;
	}
	e = bpf_ringbuf_reserve(&sg_events, sizeof(*e), 0);
	if (!e) {
		b->lost++;
		return;
	}
	e->time_ns = now;
	e->ifindex = c->in_ifindex;
	e->out_ifindex = c->in_ifindex != c->ifindex ? c->ifindex : 0;
	e->len = c->len;
	e->counters = counters;
	e->to_sector = to_sector;
	e->reason = reason;
	e->kind = p ? p->kind : 0;
	e->later_fragment = p && p->frag == SG_FRAG_LATER;
	if (p && p->kind == SG_PKT_IPV4) {
		e->proto = p->proto;
		e->saddr = p->saddr;
		e->daddr = p->daddr;
		e->sport = p->sport;
		e->dport = p->dport;
	} else {
		e->proto = 0;
		e->saddr = e->daddr = 0;
		e->sport = e->dport = 0;
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * Drop the packet of c (parsed into p, or NULL) for `reason`: counted on
 * the sector whose sg_counters index is `counters` (0: none), reported
 * with the sector it was addressed to (0: none). Returns reason.
 */
static __always_inline int sg_drop(const struct sg_ctx *c,
				   const struct sg_pkt *p, __u32 counters,
				   __u16 to_sector, int reason)
{
	sg_count_drop(counters, reason);
	sg_event_emit(c, p, counters, to_sector, reason);
	return reason;
}

/*
 * Drop p for `reason`, counted on the sector that owns addr (none for a
 * CIDR that overlapping sectors share), reported as addressed to it when
 * into. False when addr is no sector's: then it is not ours to drop.
 */
static __always_inline bool sg_drop_for_sector(const struct sg_ctx *c,
					       const struct sg_pkt *p,
					       __be32 addr, bool into,
					       int reason)
{
	struct sg_dest buf, *d = sg_dest_of(c->slot, addr, &buf);

	if (!sg_dest_is_sector(d))
		return false;
	sg_drop(c, p, d->kind == SG_DEST_SECTOR ?
		sg_sector_counters(c->slot, d->sector) : 0,
		into ? d->sector : 0, reason);
	return true;
}

/* A packet from outside (an uplink, a trusted device, a foreign device)
 * for a sector address. */
static __always_inline bool sg_drop_into_sector(const struct sg_ctx *c,
						const struct sg_pkt *p,
						int reason)
{
	return sg_drop_for_sector(c, p, p->daddr, true, reason);
}

/*
 * A packet the kernel forwarded from a device that is no sector's (one
 * the definitions do not know, such as a tap matching a glob that `run`
 * has not attached yet; a trusted device; an uplink) that carries a
 * sector's source address would leave with it untranslated, and speak
 * for a VM. False for any other source: the host may route other
 * networks.
 */
static __always_inline bool sg_drop_from_sector(const struct sg_ctx *c,
						const struct sg_pkt *p,
						int reason)
{
	return sg_drop_for_sector(c, p, p->saddr, false, reason);
}

/*
 * What the kernel forwarded from device `from` (its sg_devices entry, or
 * NULL: a device the definitions do not name) out of an uplink or a
 * trusted device, parsed into p: from a device none of ours, nothing may
 * leave (it has no policy: a sector removed from the definitions while
 * its device stays, a tap that no glob of `run` has attached yet, a
 * network the definitions never declared); from one of ours that is no
 * sector's (a trusted device, an uplink), nothing with a sector's source
 * (it would speak for a VM). Dropped as untranslatable (malformed, for a
 * packet parsed so), on the sector that owns the source or on none. True
 * when dropped.
 */
static __always_inline bool sg_drop_not_sector(const struct sg_ctx *c,
					       const struct sg_pkt *p,
					       int parsed, const void *from)
{
	/* The addresses are known once kind says IPv4, even when what
	 * follows them is malformed. */
	if (p->kind == SG_PKT_IPV4 &&
	    sg_drop_from_sector(c, p, parsed == SG_PASS ?
				SG_DROP_UNTRANSLATABLE : parsed))
		return true;
	if (from)
		return false;
	sg_drop(c, p, 0, 0, SG_DROP_UNTRANSLATABLE);
	return true;
}

#endif /* SG_DROP_H */
