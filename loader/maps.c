// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"
#include "util.h"

int sg_maps_read_state(const struct sg_map_fds *fds, struct sg_state *st)
{
	__u32 zero = 0;

	memset(st, 0, sizeof(*st));
	return bpf_map_lookup_elem(fds->state, &zero, st) ? -errno : 0;
}

const struct sg_slot_field sg_slot_devices = {
	sizeof(struct sg_device_key), offsetof(struct sg_device_key, slot), 4 };
const struct sg_slot_field sg_slot_sectors = {
	sizeof(struct sg_sector_key), offsetof(struct sg_sector_key, slot), 2 };
const struct sg_slot_field sg_slot_nets = {
	sizeof(struct sg_net_key), offsetof(struct sg_net_key, slot), 2 };
const struct sg_slot_field sg_slot_dests = {
	sizeof(struct sg_dest_key), offsetof(struct sg_dest_key, slot), 4 };
const struct sg_slot_field sg_slot_allow = {
	sizeof(struct sg_allow_key), offsetof(struct sg_allow_key, slot), 2 };
const struct sg_slot_field sg_slot_forwards = {
	sizeof(struct sg_forward_key), offsetof(struct sg_forward_key, slot), 4 };
const struct sg_slot_field sg_slot_admit_devs = {
	sizeof(struct sg_admit_dev_key),
	offsetof(struct sg_admit_dev_key, slot), 4 };
const struct sg_slot_field sg_slot_egress_policies = {
	sizeof(struct sg_egress_policy_key),
	offsetof(struct sg_egress_policy_key, slot), 2 };

__u32 sg_key_slot(const void *key, const struct sg_slot_field *f)
{
	__u32 v32;
	__u16 v16;

	if (f->width == 4) {
		memcpy(&v32, (const char *)key + f->offset, 4);
		return v32;
	}
	memcpy(&v16, (const char *)key + f->offset, 2);
	return v16;
}

/* Delete every entry of `slot`. Keys are collected first, because deleting
 * while walking with get_next_key can restart the walk. */
static int clear_slot(int fd, const struct sg_slot_field *f, __u32 slot)
{
	char *keys = NULL, cur[64], next[64];
	void *prev = NULL;
	int n = 0, ret = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (sg_key_slot(next, f) == slot) {
			keys = sg_grow(keys, n, f->key_size);
			memcpy(keys + n * f->key_size, next, f->key_size);
			n++;
		}
		memcpy(cur, next, f->key_size);
		prev = cur;
	}
	for (int i = 0; i < n; i++) {
		if (bpf_map_delete_elem(fd, keys + i * f->key_size) &&
		    errno != ENOENT) {
			ret = -errno;
			break;
		}
	}
	free(keys);
	return ret;
}

#define FILL(fd, arr, n)						\
	do {								\
		for (int i = 0; i < (n); i++)				\
			if (bpf_map_update_elem((fd), &(arr)[i].k,	\
						&(arr)[i].v, BPF_ANY))	\
				return -errno;				\
	} while (0)

/* Start the sg_counters entries given to new sectors from zero. */
static int zero_counters(int fd, const __u32 *idx, int n)
{
	int ncpus = libbpf_num_possible_cpus(), ret = 0;
	struct sg_counters *zero;

	if (!n)
		return 0;
	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	zero = calloc(ncpus, sizeof(*zero));
	if (!zero)
		sg_oom();
	for (int i = 0; i < n && !ret; i++)
		if (bpf_map_update_elem(fd, &idx[i], zero, BPF_ANY))
			ret = -errno;
	free(zero);
	return ret;
}

/* n consecutive entries of an array from index first, in one batch. */
static int fill_array(int fd, __u32 first, const void *values, __u32 n)
{
	__u32 *keys = malloc(n * sizeof(*keys)), count = n;
	int ret = 0;

	if (!keys)
		sg_oom();
	for (__u32 i = 0; i < n; i++)
		keys[i] = first + i;
	if (bpf_map_update_batch(fd, keys, values, &count, NULL))
		ret = -errno;
	else if (count != n)
		ret = -EIO;
	free(keys);
	return ret;
}

/* The slot's half of sg_dest_top, whole, and the chunks it uses (the
 * others are never read). */
static int fill_dest_strides(const struct sg_map_fds *fds,
			     const struct sg_compiled *c)
{
	const struct sg_dest_strides *s = &c->dest_strides;
	int ret;

	ret = fill_array(fds->dest_top, c->slot * SG_DEST_TOP_ENTRIES, s->top,
			 SG_DEST_TOP_ENTRIES);
	if (!ret && s->nchunks > 1)
		ret = fill_array(fds->dest_chunks,
				 (c->slot * SG_MAX_DEST_CHUNKS + 1) * 256,
				 s->chunks[1], (s->nchunks - 1) * 256);
	return ret;
}

int sg_maps_fill_slot(const struct sg_map_fds *fds, const struct sg_compiled *c)
{
	__u32 slot = c->slot;
	int ret;

	if ((ret = clear_slot(fds->devices, &sg_slot_devices, slot)) ||
	    (ret = clear_slot(fds->sectors, &sg_slot_sectors, slot)) ||
	    (ret = clear_slot(fds->sector_nets, &sg_slot_nets, slot)) ||
	    (ret = clear_slot(fds->dest_nets, &sg_slot_dests, slot)) ||
	    (ret = clear_slot(fds->allow, &sg_slot_allow, slot)) ||
	    (ret = clear_slot(fds->forwards, &sg_slot_forwards, slot)) ||
	    (ret = clear_slot(fds->admit_devs, &sg_slot_admit_devs, slot)) ||
	    (ret = clear_slot(fds->admit_nets, &sg_slot_nets, slot)) ||
	    (ret = clear_slot(fds->egress_nets, &sg_slot_nets, slot)) ||
	    (ret = clear_slot(fds->egress_policies, &sg_slot_egress_policies,
			      slot)))
		return ret;

	if (bpf_map_update_elem(fds->config, &slot, &c->config, BPF_ANY) ||
	    bpf_map_update_elem(fds->imds, &slot, &c->imds, BPF_ANY))
		return -errno;
	FILL(fds->devices, c->devices, c->ndevices);
	FILL(fds->sectors, c->sectors, c->nsectors);
	FILL(fds->sector_nets, c->nets, c->nnets);
	FILL(fds->dest_nets, c->dests, c->ndests);
	if ((ret = fill_dest_strides(fds, c)))
		return ret;
	FILL(fds->allow, c->allows, c->nallows);
	FILL(fds->forwards, c->forwards, c->nforwards);
	FILL(fds->admit_devs, c->admit_devs, c->nadmit_devs);
	FILL(fds->admit_nets, c->admit_nets, c->nadmit_nets);
	FILL(fds->egress_nets, c->egress_nets, c->negress_nets);
	FILL(fds->egress_policies, c->egress_policies, c->negress_policies);
	return zero_counters(fds->counters, c->fresh_counters, c->nfresh);
}

int sg_maps_flip(const struct sg_map_fds *fds, const struct sg_compiled *c,
		 const struct sg_state *old)
{
	struct sg_state st = {
		.slot = c->slot,
		.generation = old->generation + 1,
		.digest = c->digest,
	};
	__u32 zero = 0;

	if (c->slot != sg_next_slot(old))
		return -EINVAL;
	/* The previous slot stays intact until the next apply empties it,
	 * so packets that read the old slot just before this finish on it. */
	return bpf_map_update_elem(fds->state, &zero, &st, BPF_ANY) ? -errno : 0;
}

int sg_map_count(int fd, size_t key_size)
{
	char cur[64], next[64];
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		n++;
		memcpy(cur, next, key_size);
		prev = cur;
	}
	return n;
}

int sg_counters_read(int fd, __u32 key, struct sg_counters *sum)
{
	int ncpus = libbpf_num_possible_cpus();
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	size_t stride, words;
	__u64 *percpu, *to = (__u64 *)sum;
	int ret = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	/* An older sectorgate's counters are a prefix of these (fewer drop
	 * reasons); per CPU, the kernel rounds values up to 8 bytes. */
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	stride = (info.value_size + 7) / 8;
	words = stride < sizeof(*sum) / 8 ? stride : sizeof(*sum) / 8;
	percpu = calloc(ncpus, stride * 8);
	if (!percpu)
		sg_oom();
	if (bpf_map_lookup_elem(fd, &key, percpu))
		ret = -errno;
	/* Every field is a __u64 count: add them word by word. */
	for (int cpu = 0; !ret && cpu < ncpus; cpu++)
		for (size_t w = 0; w < words; w++)
			to[w] += percpu[cpu * stride + w];
	free(percpu);
	return ret;
}
