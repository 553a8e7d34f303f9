// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <stdlib.h>
#include <string.h>

#include "apply_plan.h"
#include "cli.h"
#include "util.h"

/* One definition map's entries of one slot, the slot field zeroed so
 * that the two slots' entries compare. */
struct entries {
	char *kv;
	int n;
	size_t ksz, vsz;
};

static void add_entry(struct entries *e, const struct sg_slot_field *f,
		      const void *k, const void *v)
{
	char *at;

	e->kv = sg_grow(e->kv, e->n, e->ksz + e->vsz);
	at = e->kv + e->n++ * (e->ksz + e->vsz);
	memcpy(at, k, e->ksz);
	memset(at + f->offset, 0, f->width);
	memcpy(at + e->ksz, v, e->vsz);
}

/* The live slot's entries. An LPM trie answers a lookup with the longest
 * match, not the key, so the map is walked rather than probed. */
static void read_slot(int fd, const struct sg_slot_field *f, __u32 slot,
		      struct entries *e)
{
	char key[64], prev[64], value[512];
	bool first = true;

	if (fd < 0 || e->vsz > sizeof(value))
		return;
	while (!bpf_map_get_next_key(fd, first ? NULL : prev, key)) {
		first = false;
		memcpy(prev, key, f->key_size);
		if (sg_key_slot(key, f) == slot &&
		    !bpf_map_lookup_elem(fd, key, value))
			add_entry(e, f, key, value);
	}
}

/* The index of kv's key in e, or -1. */
static int find(const struct entries *e, const char *kv)
{
	for (int i = 0; i < e->n; i++)
		if (!memcmp(e->kv + i * (e->ksz + e->vsz), kv, e->ksz))
			return i;
	return -1;
}

/*
 * The sector an entry of a definition map belongs to (its id; 0: none),
 * so that a sector whose CIDRs, devices, allow rules, forwards, allow-from
 * or egress policies change is listed as changed.
 */
typedef __u32 (*sector_of_fn)(const void *k, const void *v);

static __u32 sector_of_device(const void *k, const void *v)
{
	const struct sg_device *d = v;

	return d->role == SG_ROLE_SECTOR ? d->sector : 0;
}

static __u32 sector_of_net(const void *k, const void *v)
{
	return ((const struct sg_net_key *)k)->sector;
}

static __u32 sector_of_allow(const void *k, const void *v)
{
	return ((const struct sg_allow_key *)k)->from;
}

static __u32 sector_of_forward(const void *k, const void *v)
{
	return ((const struct sg_forward *)v)->sector;
}

static __u32 sector_of_value(const void *k, const void *v)
{
	return *(const __u32 *)v;	/* sg_admit_devs: the sector's id */
}

static __u32 sector_of_policy(const void *k, const void *v)
{
	return ((const struct sg_egress_policy_key *)k)->sector;
}

#define SECTOR_IDS	65536	/* ids are 1..65535 */

/* What the comparison found: map lines, and the sectors they touch. */
struct plan {
	FILE *out;
	__u8 touched[SECTOR_IDS / 8];
};

static void touch(struct plan *pl, sector_of_fn of, const struct entries *e,
		  int i)
{
	const char *at = e->kv + i * (e->ksz + e->vsz);
	__u32 id = of ? of(at, at + e->ksz) : 0;

	if (id && id < SECTOR_IDS)
		pl->touched[id / 8] |= 1 << (id % 8);
}

static bool touched(const struct plan *pl, __u32 id)
{
	return id < SECTOR_IDS && (pl->touched[id / 8] & (1 << (id % 8)));
}

static int diff_map(struct plan *pl, const char *name, int fd,
		    const struct sg_slot_field *f, __u32 live_slot,
		    const void *arr, int n, size_t stride, size_t voff,
		    size_t vsz, sector_of_fn of)
{
	struct entries live = { .ksz = f->key_size, .vsz = vsz };
	struct entries next = { .ksz = f->key_size, .vsz = vsz };
	int added = 0, removed = 0, changed = 0;

	read_slot(fd, f, live_slot, &live);
	for (int i = 0; i < n; i++) {
		const char *el = (const char *)arr + i * stride;

		add_entry(&next, f, el, el + voff);
	}
	for (int i = 0; i < next.n; i++) {
		const char *kv = next.kv + i * (next.ksz + next.vsz);
		int j = find(&live, kv);

		if (j >= 0 && !memcmp(live.kv + j * (live.ksz + live.vsz) +
				      live.ksz, kv + next.ksz, next.vsz))
			continue;
		added += j < 0;
		changed += j >= 0;
		touch(pl, of, &next, i);
		if (j >= 0)	/* a device moving between sectors: both */
			touch(pl, of, &live, j);
	}
	for (int i = 0; i < live.n; i++) {
		if (find(&next, live.kv + i * (live.ksz + live.vsz)) >= 0)
			continue;
		removed++;
		touch(pl, of, &live, i);
	}
	if (added || removed || changed)
		fprintf(pl->out, "  %-15s +%d -%d ~%d entries\n", name, added,
			removed, changed);
	free(live.kv);
	free(next.kv);
	return added + removed + changed;
}

#define DIFF(pl, name, fd, f, live_slot, arr, n, of)			\
	diff_map(pl, name, fd, f, live_slot, arr, n, sizeof(*(arr)),	\
		 offsetof(typeof(*(arr)), v), sizeof((arr)->v), of)

static int diff_value(FILE *out, const char *name, int fd, __u32 live_slot,
		      const void *want, size_t size)
{
	char have[64] = {};

	if (fd >= 0 && !bpf_map_lookup_elem(fd, &live_slot, have) &&
	    !memcmp(have, want, size))
		return 0;
	fprintf(out, "  %-15s changed\n", name);
	return 1;
}

/*
 * The sectors added (+), removed (-) and changed (~): their own entry,
 * or one of the entries of theirs that pl found changed.
 */
static int diff_sectors(FILE *out, const struct plan *pl,
			const struct sg_instance *in, __u32 live_slot,
			const struct sg_compiled *c)
{
	struct sg_live_sector *live = NULL;
	int nlive = in->fds.sectors >= 0 ?
		    sg_live_sectors(in, live_slot, &live) : 0, n = 0;

	for (int i = 0; i < c->nsectors; i++) {
		const struct sg_sector *want = &c->sectors[i].v;
		__u32 id = c->sectors[i].k.id;
		int j;

		for (j = 0; j < nlive && live[j].id != id; j++)
			;
		if (j < nlive && !memcmp(&live[j].s, want, sizeof(*want)) &&
		    !touched(pl, id))
			continue;
		fprintf(out, "  sector %c %.*s (id %u)\n", j < nlive ? '~' : '+',
			SG_NAME_LEN, want->name, id);
		n++;
	}
	for (int j = 0; j < nlive; j++) {
		int i;

		for (i = 0; i < c->nsectors && c->sectors[i].k.id != live[j].id; i++)
			;
		if (i < c->nsectors)
			continue;
		fprintf(out, "  sector - %.*s (id %u)\n", SG_NAME_LEN,
			live[j].s.name, live[j].id);
		n++;
	}
	free(live);
	return n;
}

int sg_plan_print(FILE *out, const struct sg_instance *in, __u32 live_slot,
		  const struct sg_compiled *c)
{
	const struct sg_map_fds *fds = &in->fds;
	struct plan *pl = calloc(1, sizeof(*pl));
	char *maps = NULL;
	size_t len = 0;
	int n = 0;

	/* The maps first, into a buffer: they say which sectors changed,
	 * which are listed before them. */
	if (!pl || !(pl->out = open_memstream(&maps, &len)))
		sg_oom();
	n += DIFF(pl, "sg_devices", fds->devices, &sg_slot_devices, live_slot,
		  c->devices, c->ndevices, sector_of_device);
	n += DIFF(pl, "sg_sectors", fds->sectors, &sg_slot_sectors, live_slot,
		  c->sectors, c->nsectors, NULL);
	n += DIFF(pl, "sg_sector_nets", fds->sector_nets, &sg_slot_nets,
		  live_slot, c->nets, c->nnets, sector_of_net);
	n += DIFF(pl, "sg_dest_nets", fds->dest_nets, &sg_slot_dests,
		  live_slot, c->dests, c->ndests, NULL);
	n += DIFF(pl, "sg_allow", fds->allow, &sg_slot_allow, live_slot,
		  c->allows, c->nallows, sector_of_allow);
	n += DIFF(pl, "sg_forwards", fds->forwards, &sg_slot_forwards,
		  live_slot, c->forwards, c->nforwards, sector_of_forward);
	n += DIFF(pl, "sg_admit_devs", fds->admit_devs, &sg_slot_admit_devs,
		  live_slot, c->admit_devs, c->nadmit_devs, sector_of_value);
	n += DIFF(pl, "sg_admit_nets", fds->admit_nets, &sg_slot_nets,
		  live_slot, c->admit_nets, c->nadmit_nets, sector_of_net);
	n += DIFF(pl, "sg_egress_nets", fds->egress_nets, &sg_slot_nets,
		  live_slot, c->egress_nets, c->negress_nets, sector_of_net);
	n += DIFF(pl, "sg_egress_policies", fds->egress_policies,
		  &sg_slot_egress_policies, live_slot, c->egress_policies,
		  c->negress_policies, sector_of_policy);
	n += diff_value(pl->out, "sg_config", fds->config, live_slot,
			&c->config, sizeof(c->config));
	n += diff_value(pl->out, "sg_imds", fds->imds, live_slot, &c->imds,
			sizeof(c->imds));
	fclose(pl->out);
	n += diff_sectors(out, pl, in, live_slot, c);
	fputs(maps, out);
	free(maps);
	free(pl);
	return n;
}
