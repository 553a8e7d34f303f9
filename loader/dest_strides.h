/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sg_dest_nets compiled into fixed strides (sg_common.h): for every /16
 * the answer of the longest prefix holding all of it (sg_dest_top), and
 * for the /24s and addresses that longer prefixes split, theirs
 * (sg_dest_cells). The datapath then knows what an address is after at
 * most three lookups, at 5 sectors as at 1,000.
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
	struct sg_dest *top;	/* SG_DEST_TOP_ENTRIES of them */
	struct { struct sg_dest_cell_key k; struct sg_dest v; } *cells;
	int ncells;
};

/* How many sg_dest_cells entries a prefix of length plen may take. */
int sg_dest_cells_of(int plen);

/*
 * Fill *s from the n prefixes (no two alike) for `slot`. Returns 0, or
 * -1 when they take more than SG_MAX_DEST_CELLS cells (validation keeps
 * definitions below that).
 */
int sg_dest_strides_build(struct sg_dest_strides *s, uint32_t slot,
			  const struct sg_dest_prefix *prefixes, int n);
void sg_dest_strides_free(struct sg_dest_strides *s);

/* What the datapath's sg_dest_find answers for addr (host order). */
struct sg_dest sg_dest_strides_find(const struct sg_dest_strides *s,
				    uint32_t addr);

#endif /* SG_DEST_STRIDES_H */
