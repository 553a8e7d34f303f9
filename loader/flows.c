// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The datapath never trusts an expired entry, and reuses one when the same
 * key comes back; this removes the rest so the table does not fill with
 * the dead. A flow refreshed between our read and our delete would lose
 * its entry: the grace period makes that a flow idle for its whole
 * timeout plus grace, which is as good as expired.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flows.h"
#include "util.h"

uint64_t sg_ktime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool expired(const struct sg_flow *f, uint64_t now, uint64_t grace)
{
	return f->expires_ns + grace < now;
}

/*
 * Every key of the flow table, collected before anything is done with
 * them: the datapath and the collection delete while we walk, and a walk
 * whose previous key is gone starts over (visiting keys twice).
 */
static struct sg_flow_key *flow_keys(int fd, int *n)
{
	struct sg_flow_key *keys = NULL, cur, next;
	void *prev = NULL;

	*n = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		keys = sg_grow(keys, *n, sizeof(*keys));
		keys[(*n)++] = next;
		cur = next;
		prev = &cur;
	}
	return keys;
}

/* Write the counts where they differ: the datapath writes these too. */
static int write_counts(int sector_flows_fd, const __u32 *counts)
{
	struct sg_sector_flows sf;

	for (__u32 i = 0; i < SG_COUNTER_ENTRIES; i++) {
		if (bpf_map_lookup_elem(sector_flows_fd, &i, &sf))
			return -errno;
		if (sf.count == counts[i])
			continue;
		sf.count = counts[i];
		if (bpf_map_update_elem(sector_flows_fd, &i, &sf, BPF_ANY))
			return -errno;
	}
	return 0;
}

int sg_flows_gc(int fd, int sector_flows_fd, uint64_t now, uint64_t grace)
{
	static __u32 counts[SG_COUNTER_ENTRIES];
	struct sg_flow_key *keys, okey;
	struct sg_flow f, o;
	int n, removed = 0, ret;

	keys = flow_keys(fd, &n);
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &f))
			continue;	/* already gone */
		if (f.dir == SG_FLOW_ORIG) {
			if (expired(&f, now, grace) &&
			    !bpf_map_delete_elem(fd, &keys[i]))
				removed++;
			else if (f.counters < SG_COUNTER_ENTRIES)
				counts[f.counters]++;
			continue;
		}
		/* A reply entry lives as long as its primary (once it is
		 * past the short life that covers its primary's creation). */
		if (!expired(&f, now, grace))
			continue;
		sg_flow_primary_key(&okey, &keys[i], &f);
		if ((bpf_map_lookup_elem(fd, &okey, &o) ||
		     !sg_flow_reply_belongs(&keys[i], &f, &o) ||
		     expired(&o, now, grace)) &&
		    !bpf_map_delete_elem(fd, &keys[i]))
			removed++;
	}
	free(keys);
	if (sector_flows_fd >= 0 &&
	    (ret = write_counts(sector_flows_fd, counts)))
		return ret;
	return removed;
}

int sg_flows_recount(int flows_fd, int sector_flows_fd)
{
	/* At time 0 nothing has expired. */
	int ret = sg_flows_gc(flows_fd, sector_flows_fd, 0, 0);

	return ret < 0 ? ret : 0;
}
