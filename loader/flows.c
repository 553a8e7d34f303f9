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
static int write_counts(int sector_flows_fd, const __u32 *counts,
			const __u32 *unanswered)
{
	struct sg_sector_flows sf;

	for (__u32 i = 0; i < SG_COUNTER_ENTRIES; i++) {
		if (bpf_map_lookup_elem(sector_flows_fd, &i, &sf))
			return -errno;
		if (sf.count == counts[i] && sf.unanswered == unanswered[i])
			continue;
		sf.count = counts[i];
		sf.unanswered = unanswered[i];
		if (bpf_map_update_elem(sector_flows_fd, &i, &sf, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* A flow that was never answered (or is over): where room may be made. */
struct listed_flow {
	__u32 counters;
	__u64 expires_ns;
	struct sg_flow_key key;
};

static const __u32 *sort_counts;	/* for by_holder_then_age */

/* The sectors that hold the most unanswered flows first, then each
 * one's oldest first. */
static int by_holder_then_age(const void *a, const void *b)
{
	const struct listed_flow *x = a, *y = b;

	if (x->counters != y->counters) {
		if (sort_counts[x->counters] != sort_counts[y->counters])
			return sort_counts[x->counters] >
			       sort_counts[y->counters] ? -1 : 1;
		return x->counters < y->counters ? -1 : 1;
	}
	if (x->expires_ns != y->expires_ns)
		return x->expires_ns < y->expires_ns ? -1 : 1;
	return 0;
}

/*
 * List the unanswered flows for the datapath's search for room
 * (sg_unanswered, sg_unanswered_spans): each sector's in a span of its
 * own, the sectors holding the most unanswered flows first (counts),
 * chained in that order from entry 0, as many as the list holds. Every
 * span is written, empty ones too, and each search starts over.
 */
static int write_unanswered(int keys_fd, int spans_fd,
			    struct listed_flow *u, int n, const __u32 *counts)
{
	static struct sg_unanswered_span spans[SG_COUNTER_ENTRIES];
	static __u32 idx[SG_COUNTER_ENTRIES];
	struct sg_flow_key *keys;
	__u32 *at, count, used, last = 0;
	int ret = 0;

	sort_counts = counts;
	if (n)
		qsort(u, n, sizeof(*u), by_holder_then_age);
	used = n < SG_UNANSWERED_KEYS ? n : SG_UNANSWERED_KEYS;
	keys = calloc(used ? used : 1, sizeof(*keys));
	at = calloc(used ? used : 1, sizeof(*at));
	if (!keys || !at)
		sg_oom();
	memset(spans, 0, sizeof(spans));
	for (__u32 i = 0; i < used; i++) {
		struct sg_unanswered_span *sp = &spans[u[i].counters];

		if (!sp->len) {
			sp->start = i;
			spans[last].after = u[i].counters;
			last = u[i].counters;
		}
		sp->len++;
		keys[i] = u[i].key;
		at[i] = i;
	}
	count = used;
	if (used && bpf_map_update_batch(keys_fd, at, keys, &count, NULL))
		ret = -errno;
	for (__u32 i = 0; i < SG_COUNTER_ENTRIES; i++)
		idx[i] = i;
	count = SG_COUNTER_ENTRIES;
	if (!ret && bpf_map_update_batch(spans_fd, idx, spans, &count, NULL))
		ret = -errno;
	free(keys);
	free(at);
	return ret;
}

int sg_flows_gc(const struct sg_flow_fds *fds, uint64_t now, uint64_t grace)
{
	static __u32 counts[SG_COUNTER_ENTRIES];
	static __u32 unanswered_counts[SG_COUNTER_ENTRIES];
	struct listed_flow *unanswered = NULL;
	struct sg_flow_key *keys, okey;
	int fd = fds->flows, n, nu = 0, removed = 0, ret;
	bool list = fds->unanswered >= 0 && fds->unanswered_spans >= 0;
	struct sg_flow f, o;

	keys = flow_keys(fd, &n);
	memset(counts, 0, sizeof(counts));
	memset(unanswered_counts, 0, sizeof(unanswered_counts));
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &f))
			continue;	/* already gone */
		if (f.dir == SG_FLOW_ORIG) {
			if (expired(&f, now, grace) &&
			    !bpf_map_delete_elem(fd, &keys[i])) {
				removed++;
				continue;
			}
			if (f.counters >= SG_COUNTER_ENTRIES)
				continue;
			counts[f.counters]++;
			if (!(f.flags & SG_FLOW_ANSWERED))
				unanswered_counts[f.counters]++;
			/* Room is made from a sector's flows: entry 0 is
			 * no sector's, and heads the list. */
			if (list && f.counters &&
			    (!(f.flags & SG_FLOW_ANSWERED) ||
			     expired(&f, now, 0))) {
				unanswered = sg_grow(unanswered, nu,
						     sizeof(*unanswered));
				unanswered[nu++] = (struct listed_flow){
					.counters = f.counters,
					.expires_ns = f.expires_ns,
					.key = keys[i] };
			}
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
	ret = 0;
	if (fds->sector_flows >= 0)
		ret = write_counts(fds->sector_flows, counts,
				   unanswered_counts);
	if (!ret && list)
		ret = write_unanswered(fds->unanswered, fds->unanswered_spans,
				       unanswered, nu, unanswered_counts);
	free(unanswered);
	return ret ? ret : removed;
}

bool sg_flows_room_wanted(int spans_fd)
{
	struct sg_unanswered_span head;
	__u32 zero = 0;

	return !bpf_map_lookup_elem(spans_fd, &zero, &head) && head.next;
}
