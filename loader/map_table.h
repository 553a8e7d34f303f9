/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one table of sectorgate's maps: pin name, where its fd is kept, how
 * its content survives a new layout, and what it holds. Pinning, the
 * layout check and migration (instance.c), `status` and `unload` follow
 * it; docs/MAPS.md has a row for each (a unit test checks).
 */
#ifndef SG_MAP_TABLE_H
#define SG_MAP_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

/* What an apply that finds the map pinned with another layout does. */
enum sg_map_keep {
	SG_KEEP_REBUILT,	/* definitions: apply fills a new map anyway */
	SG_KEEP_MIGRATED,	/* state (flows, counters): every entry is
				 * copied into the new layout */
	SG_KEEP_NOTHING,	/* events: nothing worth keeping */
};

struct sg_map_desc {
	const char *name;	/* the map's name and its pin's */
	size_t fd_off;		/* offsetof(struct sg_map_fds, ...) */
	enum sg_map_keep keep;
	bool counted;		/* status shows entries / capacity */
	__u32 key_size;		/* this build's layout (0: a ring buffer) */
	__u32 value_size;
	/*
	 * The SG_LAYOUT that last changed what its bytes mean. Pinned by an
	 * older layout, the map is another layout even at the same size:
	 * its entries go through convert (from layout since - 1), or are
	 * not kept if there is none.
	 */
	unsigned int since;
	void (*convert)(int old_fd, const void *key, const void *old,
			void *new);
	/* Its values only ever grow at their end (new counters): pinned
	 * with smaller ones, it is still read, as a prefix, before an apply
	 * migrates it. */
	bool grows;
};

#define SG_MAX_MAPS	24	/* room for sg_map_table in sg_instance */

extern const struct sg_map_desc sg_map_table[];
extern const int sg_nmaps;

static inline int *sg_map_fd(struct sg_map_fds *fds,
			     const struct sg_map_desc *d)
{
	return (int *)((char *)fds + d->fd_off);
}

const struct sg_map_desc *sg_map_desc_of(const char *name);

#endif /* SG_MAP_TABLE_H */
