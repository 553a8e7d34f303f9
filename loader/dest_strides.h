/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sg_dest_nets compiled into fixed strides of arrays (sg_common.h): for
 * every /16 the answer of the longest prefix holding all of it
 * (sg_dest_top), and chunks of 256 entries for the /16s and /24s that
 * longer prefixes split (sg_dest_chunks). The datapath then knows what
 * an address is after at most three array reads, at 5 sectors as at
 * 1,000.
 */
#ifndef SG_DEST_STRIDES_H
#define SG_DEST_STRIDES_H

#include <stdint.h>

#include "sg_common.h"

struct sg_dest_prefix {
	uint32_t addr;		/* host order */
	int plen;
	struct sg_dest v;
};

struct sg_dest_strides {
	struct sg_dest_stride *top;	/* SG_DEST_TOP_ENTRIES of them */
	struct sg_dest_stride (*chunks)[256];	/* [0] is none, unused */
	int nchunks;			/* chunks[1..nchunks - 1] */
};

/*
 * The chunks the n prefixes take: one for every /16 that a longer
 * prefix lies in, one for every /24 that a prefix longer than /24 lies in.
 */
int sg_dest_chunks_of(const struct sg_dest_prefix *prefixes, int n);

/*
 * Fill *s from the n prefixes (no two alike). Returns 0, or -1 when they
 * take more than the SG_MAX_DEST_CHUNKS - 1 chunks a slot holds
 * (validation keeps definitions below that).
 */
int sg_dest_strides_build(struct sg_dest_strides *s,
			  const struct sg_dest_prefix *prefixes, int n);
void sg_dest_strides_free(struct sg_dest_strides *s);

/* What the datapath's sg_dest_find answers for addr (host order). */
struct sg_dest sg_dest_strides_find(const struct sg_dest_strides *s,
				    uint32_t addr);

#endif /* SG_DEST_STRIDES_H */
