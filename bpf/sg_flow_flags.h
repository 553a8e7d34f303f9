/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SG_FLOW_FLAGS_H
#define SG_FLOW_FLAGS_H

#include "sg_bpf.h"

/*
 * The flags of an entry in the table change by atomic operations on the
 * aligned word they share with dir, state and nat: two CPUs may change
 * them at once (a flow's first answer on one, a decision kept or an
 * eviction's claim on the other), and a plain read-modify-write of the
 * byte could lose the other CPU's bit: an answered flow taken for
 * unanswered, evictable. Set returns the flags as they were.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SG_FLOW_FLAGS_SHIFT	24
#else
#define SG_FLOW_FLAGS_SHIFT	0
#endif
static __always_inline __u8 sg_flow_flags_set(struct sg_flow *f, __u8 bits)
{
	return __sync_fetch_and_or((__u32 *)&f->dir,
				   (__u32)bits << SG_FLOW_FLAGS_SHIFT) >>
	       SG_FLOW_FLAGS_SHIFT;
}

static __always_inline void sg_flow_flags_clear(struct sg_flow *f, __u8 bits)
{
	__sync_fetch_and_and((__u32 *)&f->dir,
			     ~((__u32)bits << SG_FLOW_FLAGS_SHIFT));
}

#endif /* SG_FLOW_FLAGS_H */
