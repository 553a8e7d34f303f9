/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Route lookups: where the kernel would send a packet, asked before
 * sectorgate lets it go there or sends it there itself.
 */
#ifndef SG_ROUTE_H
#define SG_ROUTE_H

#include "sg_parse.h"
#include "sg_defs.h"

/*
 * A route lookup result after which the kernel does not forward the packet
 * anywhere: its own address, no route, a blackhole or prohibit route,
 * forwarding off. It answers or drops the packet itself. (An LWT encap
 * route, say, does forward: that is not one of these.)
 */
static __always_inline bool sg_route_nowhere(long rc)
{
	return rc == BPF_FIB_LKUP_RET_NOT_FWDED ||
	       rc == BPF_FIB_LKUP_RET_BLACKHOLE ||
	       rc == BPF_FIB_LKUP_RET_UNREACHABLE ||
	       rc == BPF_FIB_LKUP_RET_PROHIBIT ||
	       rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/*
 * A route lookup without an MTU check (tot_len 0). At tc the kernel
 * still checks the skb's length against the MTU of the device it found
 * and says FRAG_NEEDED, with that device filled in, for a packet it
 * forwards all the same (fragmenting it, or answering "fragmentation
 * needed"): for the route, that is success.
 */
static __always_inline long sg_fib_route(void *ctx,
					 struct bpf_fib_lookup *fib,
					 __u32 flags)
{
	bool route_only = !fib->tot_len;	/* then the MTU found */
	long rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), flags);

	return rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && route_only ?
	       BPF_FIB_LKUP_RET_SUCCESS : rc;
}

/*
 * The route lookup of packet p from the device it came in on, tot_len
 * bytes long (0: no MTU check, sg_fib_route). Field by field: clang 14
 * lost a designated initializer of this struct (the kernel saw family 0).
 */
static __always_inline void sg_fib_of(struct bpf_fib_lookup *fib,
				      const struct sg_ctx *c,
				      const struct sg_pkt *p, __u16 tot_len)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->l4_protocol = p->proto;
	fib->sport = p->sport;
	fib->dport = p->dport;
	fib->tot_len = tot_len;
	fib->ipv4_src = p->saddr;
	fib->ipv4_dst = p->daddr;
	fib->ifindex = c->ifindex;
}

/*
 * The device of `sector` that the route of p (as translated: to daddr)
 * leads into, or 0: elsewhere, which for addresses that overlapping
 * sectors share can be the other sector's device.
 */
static __always_inline __u32 sg_route_into(const struct sg_ctx *c,
					   const struct sg_pkt *p,
					   __be32 daddr, __u16 sector)
{
	struct bpf_fib_lookup fib;
	struct sg_device *dev;
	long rc;

	sg_fib_of(&fib, c, p, 0);
	fib.ipv4_dst = daddr;
	rc = sg_fib_route(c->ctx, &fib, BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	dev = sg_device_of(c->slot, fib.ifindex);
	return dev && dev->role == SG_ROLE_SECTOR && dev->sector == sector ?
	       fib.ifindex : 0;
}

#endif /* SG_ROUTE_H */
