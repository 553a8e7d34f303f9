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

/* -1: key not in e; else 0 when the value is the same, 1 when not. */
static int find(const struct entries *e, const char *kv)
{
	for (int i = 0; i < e->n; i++) {
		const char *at = e->kv + i * (e->ksz + e->vsz);

		if (!memcmp(at, kv, e->ksz))
			return memcmp(at + e->ksz, kv + e->ksz, e->vsz) != 0;
	}
	return -1;
}

static int diff_map(FILE *out, const char *name, int fd,
		    const struct sg_slot_field *f, __u32 live_slot,
		    const void *arr, int n, size_t stride, size_t voff,
		    size_t vsz)
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
		int r = find(&live, next.kv + i * (next.ksz + next.vsz));

		added += r < 0;
		changed += r > 0;
	}
	for (int i = 0; i < live.n; i++)
		removed += find(&next, live.kv + i * (live.ksz + live.vsz)) < 0;
	if (added || removed || changed)
		fprintf(out, "  %-15s +%d -%d ~%d entries\n", name, added,
			removed, changed);
	free(live.kv);
	free(next.kv);
	return added + removed + changed;
}

#define DIFF(out, name, fd, f, live_slot, arr, n)			\
	diff_map(out, name, fd, f, live_slot, arr, n, sizeof(*(arr)),	\
		 offsetof(typeof(*(arr)), v), sizeof((arr)->v))

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

static int diff_sectors(FILE *out, const struct sg_instance *in,
			__u32 live_slot, const struct sg_compiled *c)
{
	struct sg_live_sector *live = NULL;
	int nlive = in->fds.sectors >= 0 ?
		    sg_live_sectors(in, live_slot, &live) : 0, n = 0;

	for (int i = 0; i < c->nsectors; i++) {
		const struct sg_sector *want = &c->sectors[i].v;
		int j;

		for (j = 0; j < nlive && live[j].id != c->sectors[i].k.id; j++)
			;
		if (j < nlive && !memcmp(&live[j].s, want, sizeof(*want)))
			continue;
		fprintf(out, "  sector %c %.*s (id %u)\n", j < nlive ? '~' : '+',
			SG_NAME_LEN, want->name, c->sectors[i].k.id);
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
	int n = diff_sectors(out, in, live_slot, c);

	n += DIFF(out, "sg_devices", fds->devices, &sg_slot_devices, live_slot,
		  c->devices, c->ndevices);
	n += DIFF(out, "sg_sectors", fds->sectors, &sg_slot_sectors, live_slot,
		  c->sectors, c->nsectors);
	n += DIFF(out, "sg_sector_nets", fds->sector_nets, &sg_slot_nets,
		  live_slot, c->nets, c->nnets);
	n += DIFF(out, "sg_dest_nets", fds->dest_nets, &sg_slot_dests,
		  live_slot, c->dests, c->ndests);
	n += DIFF(out, "sg_allow", fds->allow, &sg_slot_allow, live_slot,
		  c->allows, c->nallows);
	n += DIFF(out, "sg_forwards", fds->forwards, &sg_slot_forwards,
		  live_slot, c->forwards, c->nforwards);
	n += DIFF(out, "sg_admit_devs", fds->admit_devs, &sg_slot_admit_devs,
		  live_slot, c->admit_devs, c->nadmit_devs);
	n += DIFF(out, "sg_admit_nets", fds->admit_nets, &sg_slot_nets,
		  live_slot, c->admit_nets, c->nadmit_nets);
	n += DIFF(out, "sg_egress_nets", fds->egress_nets, &sg_slot_nets,
		  live_slot, c->egress_nets, c->negress_nets);
	n += DIFF(out, "sg_egress_policies", fds->egress_policies,
		  &sg_slot_egress_policies, live_slot, c->egress_policies,
		  c->negress_policies);
	n += diff_value(out, "sg_config", fds->config, live_slot, &c->config,
			sizeof(c->config));
	n += diff_value(out, "sg_imds", fds->imds, live_slot, &c->imds,
			sizeof(c->imds));
	return n;
}
