/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Room in the flow table, fairly (SPEC 3.11). Every sector may hold up to
 * conntrack.max-flows-per-sector flows; one at its quota makes room from
 * its own oldest flows that were never answered, and a full table from
 * those of the sector that holds the most unanswered ones; only then is a
 * new flow dropped (conntrack-full). A flow that has been answered is
 * never evicted, so one sector's flood of new flows neither refuses
 * another's connection nor breaks an established one.
 *
 * Bounded: each sector keeps the keys of the flows it opened last
 * (sg_sector_flows.recent, a ring), and room is made from up to
 * SG_EVICT_SCAN of them, oldest first; then from up to as many of the
 * unanswered flows `run`'s collection listed (sg_unanswered), which
 * reach past the ring. The datapath never walks the table. Counts are
 * kept with atomic adds as flows are opened, answered and evicted here
 * (a first answer is counted by the CPU that set SG_FLOW_ANSWERED, and
 * an eviction claims its flow first, so the two never both win), and set
 * to the exact number by `run`'s garbage collection, which sees every
 * removal.
 */
#ifndef SG_QUOTA_H
#define SG_QUOTA_H

#include "sg_counters.h"
#include "sg_flow_flags.h"

#define SG_E2BIG	7	/* a full hash map */

/* The sg_counters index of the sector that held the most unanswered
 * flows when it last opened one: where a full table makes room (the
 * sector holding the most may hold only answered ones). A hint, per
 * program object. */
volatile __u32 sg_heaviest;

static __always_inline struct sg_sector_flows *sg_sector_flows_of(__u32 idx)
{
	return bpf_map_lookup_elem(&sg_sector_flows, &idx);
}

#define SG_EVICTED_UNANSWERED	1	/* never answered */
#define SG_EVICTED_OVER		2	/* answered once, expired since */

/*
 * Evict the flow under key if it is the sector's of index idx and was
 * never answered (or is over), with its reply entry. SG_EVICTED_* if it
 * was, else 0.
 */
static __always_inline int sg_evict_flow(__u32 idx,
					 const struct sg_flow_key *key)
{
	struct sg_flow_key rkey;
	struct sg_flow *f, *r;
	int kind;
	__u8 flags;

	f = bpf_map_lookup_elem(&sg_flows, key);
	/* Answered and live: never. (The clock is read only for those, and
	 * before the expiry: nothing of the entry is then kept across the
	 * call, and the stack stays small.) A key from the collection's
	 * list may have been taken by another sector's flow since. */
	if (!f || f->dir != SG_FLOW_ORIG || f->counters != idx ||
	    ((f->flags & SG_FLOW_ANSWERED) && sg_now() < f->expires_ns))
		return 0;
	/* Claimed against a first answer on another CPU: whichever of the
	 * two sets its bit first wins (sg_flow_update). The claim is undone
	 * only by the CPU that made it (two may claim: the primary's
	 * delete tells which evicted it). */
	if (!(f->flags & SG_FLOW_ANSWERED)) {
		flags = sg_flow_flags_set(f, SG_FLOW_EVICTING);
		if (flags & SG_FLOW_ANSWERED) {
			if (!(flags & SG_FLOW_EVICTING))
				sg_flow_flags_clear(f, SG_FLOW_EVICTING);
			return 0;
		}
	}
	/* Its reply entry, if it is still its own: the key may have been
	 * taken over by a newer flow (of another sector too). */
	sg_flow_primary_key(&rkey, key, f);
	r = bpf_map_lookup_elem(&sg_flows, &rkey);
	if (r && r->dir == SG_FLOW_REPLY && sg_flow_reply_belongs(&rkey, r, f) &&
	    r->xlate.saddr == key->daddr && r->xlate.daddr == key->saddr &&
	    r->xlate.sport == key->dport && r->xlate.dport == key->sport &&
	    r->peer_zone == key->zone)
		bpf_map_delete_elem(&sg_flows, &rkey);
	/* Claimed, it goes unanswered, whatever answer came since. (Not
	 * told apart from a flow never answered that expired meanwhile:
	 * reading the clock for those too takes the stack, or the
	 * verifier's states, beyond their limits.) Read after the calls
	 * above: nothing of the entry is kept across them. */
	kind = f->flags & SG_FLOW_EVICTING ? SG_EVICTED_UNANSWERED :
					     SG_EVICTED_OVER;
	if (bpf_map_delete_elem(&sg_flows, key))
		return 0;
	return kind;
}

/*
 * A flow of the sector of index idx (its sg_sector_flows s) was evicted,
 * as sg_evict_flow said: one never answered is counted evicted.
 */
static __always_inline void sg_flow_uncounted(__u32 idx,
					      struct sg_sector_flows *s,
					      int evicted)
{
	__sync_fetch_and_add(&s->count, -1);
	if (evicted != SG_EVICTED_UNANSWERED)
		return;
	__sync_fetch_and_add(&s->unanswered, -1);
	sg_count_evicted(idx);
}

/*
 * Remove the oldest flow of the sector of index idx that was never
 * answered (or is over) among its recent ones (the last SG_RECENT_FLOWS
 * it opened), with its reply entry: SG_EVICT_SCAN of them looked at from
 * its tail on. 1 if one was, else 0. The tail moves past what is no
 * longer to be evicted: gone (evicted, collected), answered and live.
 *
 * A global function: the verifier checks it once, not at each of the many
 * places (every port probe of the NAT among them) that may need room.
 */
__attribute__((noinline)) int sg_evict_unanswered(__u32 idx)
{
	struct sg_sector_flows *s = sg_sector_flows_of(idx);
	__u32 next, tail, held, n, i;
	int evicted;

	if (!s)
		return 0;
	next = READ_ONCE(s->next);
	tail = READ_ONCE(s->tail);
	held = READ_ONCE(s->count);
	/* It holds `held` flows: none of those it opened before the last
	 * `held` is likely to be among them (the ring holds fewer still). */
	if (held > SG_RECENT_FLOWS)
		held = SG_RECENT_FLOWS;
	if ((__s32)(next - tail) > (__s32)held || (__s32)(next - tail) < 0)
		tail = next - held;
	n = next - tail < SG_EVICT_SCAN ? next - tail : SG_EVICT_SCAN;

	/* Keys are looked up where they are, and few values are kept
	 * across the loop: the stack is shared with the programs that call
	 * this, and theirs is nearly all of it. */
	for (i = 0; i < SG_EVICT_SCAN && i < n; i++) {
		evicted = sg_evict_flow(idx, &s->recent[(tail + i) &
							(SG_RECENT_FLOWS - 1)]);
		if (!evicted)
			continue;
		s->tail = tail + i + 1;
		sg_flow_uncounted(idx, s, evicted);
		return 1;
	}
	/* What it looked at is passed over from now on. */
	s->tail = tail + i;
	return 0;
}

#define SG_LISTED_WALK	8	/* sectors of the list looked at for room */

/*
 * The same among the sector's unanswered flows as `run`'s collection
 * listed them (sg_unanswered), which reach past its recent ones: up to
 * SG_EVICT_SCAN of them from where the last search stopped, each looked
 * at once a listing. idx 0: the first sector of the list (the most
 * unanswered first) that has some left, of the first SG_LISTED_WALK;
 * it becomes the full table's hint. A function of its own, called after
 * sg_evict_unanswered: the stack of both together would be beyond what
 * their callers leave.
 */
__attribute__((noinline)) int sg_evict_listed(__u32 idx)
{
	struct sg_unanswered_span *span;
	struct sg_sector_flows *s;
	struct sg_flow_key *key;
	bool walk = !idx;
	int evicted = 0;
	__u32 at, i;

	span = bpf_map_lookup_elem(&sg_unanswered_spans, &idx);
	for (i = 0; walk && span && i < SG_LISTED_WALK; i++) {
		idx = READ_ONCE(span->after);
		span = idx ? bpf_map_lookup_elem(&sg_unanswered_spans, &idx) :
			     NULL;
		if (span && READ_ONCE(span->next) < READ_ONCE(span->len))
			break;
	}
	if (!span || !idx)
		return 0;
	for (i = 0; i < SG_EVICT_SCAN && !evicted; i++) {
		at = READ_ONCE(span->next);
		if (at >= READ_ONCE(span->len))
			return 0;
		span->next = at + 1;
		at += READ_ONCE(span->start);
		key = bpf_map_lookup_elem(&sg_unanswered, &at);
		if (key)
			evicted = sg_evict_flow(idx, key);
	}
	s = sg_sector_flows_of(idx);
	if (!evicted || !s)
		return evicted;
	sg_flow_uncounted(idx, s, evicted);
	if (walk)
		sg_heaviest = idx;
	return 1;
}

/*
 * No room was found: the flows a sector opened before its recent ones
 * may all be unlisted (they came after `run`'s last collection, a flood
 * that filled the table), so `run` is asked to list them again at once
 * rather than at its next collection, seconds away. 0.
 */
static __always_inline int sg_room_wanted(void)
{
	struct sg_unanswered_span *head;
	__u32 zero = 0;

	head = bpf_map_lookup_elem(&sg_unanswered_spans, &zero);
	if (head)
		__sync_fetch_and_add(&head->next, 1);
	return 0;
}

/* Room from the sector of index idx: 1 if a flow of its was evicted. */
static __always_inline int sg_make_room(__u32 idx)
{
	return sg_evict_unanswered(idx) || sg_evict_listed(idx);
}

/*
 * Room in a full table: from the hint, the sector with the most
 * unanswered flows when it last opened one; else from the list's (the
 * hint moves only as flows are opened, and may name a sector that has
 * none left).
 */
static __always_inline int sg_make_room_in_table(void)
{
	return sg_make_room(sg_heaviest) || sg_evict_listed(0) ||
	       sg_room_wanted();
}

/*
 * May the sector of sg_counters index idx open a new flow? At its quota,
 * only if it can make room from its own unanswered flows. 0 or
 * SG_DROP_CONNTRACK_FULL.
 */
static __always_inline int sg_flow_quota(const struct sg_config *cfg,
					 __u32 idx, __u64 now)
{
	struct sg_sector_flows *s = sg_sector_flows_of(idx);

	/* Signed: an eviction racing the recount may take it below 0. */
	if (!s || !cfg->max_flows_per_sector ||
	    (__s32)s->count < (__s32)cfg->max_flows_per_sector)
		return 0;
	return sg_make_room(idx) || sg_room_wanted() ? 0 :
						      SG_DROP_CONNTRACK_FULL;
}

/* A new flow (primary key *key) of the sector of index idx is in. */
static __always_inline void sg_flow_counted(__u32 idx,
					    const struct sg_flow_key *key)
{
	struct sg_sector_flows *s = sg_sector_flows_of(idx), *h;
	__u32 at;

	if (!s)
		return;
	at = __sync_fetch_and_add(&s->next, 1);
	s->recent[at & (SG_RECENT_FLOWS - 1)] = *key;
	__sync_fetch_and_add(&s->count, 1);
	__sync_fetch_and_add(&s->unanswered, 1);
	h = sg_sector_flows_of(sg_heaviest);
	/* Signed, as the count: a flow opened before this field was
	 * counted takes it below 0 when it is answered, until `run`'s
	 * recount. */
	if (!h || (__s32)s->unanswered > (__s32)h->unanswered)
		sg_heaviest = idx;
}

/* A flow of the sector of index idx saw its first answer. */
static __always_inline void sg_flow_answered(__u32 idx)
{
	struct sg_sector_flows *s = sg_sector_flows_of(idx);

	if (s)
		__sync_fetch_and_add(&s->unanswered, -1);
}

/*
 * Insert a flow entry, tagged with its key, making room in a full table
 * (sg_make_room_in_table). bpf_map_update_elem()'s result.
 */
static __always_inline long sg_flow_insert(const struct sg_flow_key *key,
					   struct sg_flow *val,
					   __u64 flags, __u64 now)
{
	long err;

	val->kept.key_tag = sg_flow_tag(key);
	err = bpf_map_update_elem(&sg_flows, key, val, flags);

	if (err != -SG_E2BIG || !sg_make_room_in_table())
		return err;
	return bpf_map_update_elem(&sg_flows, key, val, flags);
}

#endif /* SG_QUOTA_H */
