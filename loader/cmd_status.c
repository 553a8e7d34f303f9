// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sectorgate status: what is attached where, sectors, map fill levels. */
#include <bpf/bpf.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applied.h"
#include "attach.h"
#include "cli.h"
#include "util.h"

/* The hooks of a device that run one of our pinned programs, and
 * which program (by id, as `bpftool prog` lists it). */
static void device_hooks(const struct sg_instance *in, int ifindex,
			 const char *hooks[SG_NHOOKS], uint32_t ids[SG_NHOOKS],
			 int *n)
{
	*n = 0;
	for (enum sg_hook hook = 0; hook < SG_NHOOKS; hook++) {
		uint32_t id = sg_attached_id(ifindex, hook);

		if (!sg_instance_owns(in, id))
			continue;
		ids[*n] = id;
		hooks[(*n)++] = sg_hook_name(hook);
	}
}

/* How the device's ingress program runs: "xdp-native" (in the driver),
 * "xdp-generic", or "tc"; NULL when none of ours does. */
static const char *attach_mode(int ifindex, const char *hooks[], int n)
{
	static char buf[24];

	for (int i = 0; i < n; i++) {
		if (!strcmp(hooks[i], "xdp")) {
			snprintf(buf, sizeof(buf), "xdp-%s",
				 sg_xdp_mode(ifindex) ?: "?");
			return buf;
		}
	}
	for (int i = 0; i < n; i++)
		if (!strcmp(hooks[i], "tc-ingress"))
			return "tc";
	/* tc egress alone: an uplink with no XDP, its replies on tc. */
	return n ? "tc" : NULL;
}

static int by_ifindex(const void *a, const void *b)
{
	const struct sg_device_key *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

/* The live slot's device keys, in ifindex order. */
static int live_devices(const struct sg_instance *in, __u32 slot,
			struct sg_device_key **out)
{
	struct sg_device_key key, *prev = NULL;
	int n = 0;

	*out = NULL;
	while (!bpf_map_get_next_key(in->fds.devices, prev, &key)) {
		prev = &key;
		if (key.slot != slot)
			continue;
		*out = sg_grow(*out, n, sizeof(**out));
		(*out)[n++] = key;
	}
	if (n)
		qsort(*out, n, sizeof(**out), by_ifindex);
	return n;
}

static void print_devices(const struct sg_instance *in, __u32 slot, bool json)
{
	struct sg_device_key *keys;
	int n = live_devices(in, slot, &keys);
	struct sg_device dev;
	bool first = true;

	printf(json ? "\"devices\":[" : "devices:\n");
	for (int k = 0; k < n; k++) {
		const char *hooks[SG_NHOOKS], *mode;
		char ifname[IF_NAMESIZE] = "?", sector[32];
		uint32_t ids[SG_NHOOKS];
		int nhooks;

		if (bpf_map_lookup_elem(in->fds.devices, &keys[k], &dev))
			continue;
		if_indextoname(keys[k].ifindex, ifname);
		sg_sector_name(in, slot, dev.sector, sector, sizeof(sector));
		device_hooks(in, keys[k].ifindex, hooks, ids, &nhooks);
		mode = attach_mode(keys[k].ifindex, hooks, nhooks);
		if (json) {
			printf("%s{\"name\":", first ? "" : ",");
			sg_json_str(stdout, ifname);
			printf(",\"ifindex\":%u,\"role\":\"%s\"",
			       keys[k].ifindex, sg_role_name(dev.role));
			if (dev.role == SG_ROLE_SECTOR) {
				printf(",\"sector\":");
				sg_json_str(stdout, sector);
			}
			printf(",\"xdp_xmit\":%s,\"egress\":%s,\"hooks\":[",
			       dev.flags & SG_DEV_XDP_XMIT ? "true" : "false",
			       dev.flags & SG_DEV_EGRESS ? "true" : "false");
			for (int i = 0; i < nhooks; i++)
				printf("%s\"%s\"", i ? "," : "", hooks[i]);
			printf("],\"mode\":");
			if (mode)
				sg_json_str(stdout, mode);
			else
				printf("null");
			printf(",\"program_ids\":{");
			for (int i = 0; i < nhooks; i++)
				printf("%s\"%s\":%u", i ? "," : "", hooks[i],
				       ids[i]);
			printf("}}");
		} else {
			printf("  %-15s %-8s %-15s", ifname,
			       dev.flags & SG_DEV_EGRESS ? "egress" :
			       sg_role_name(dev.role),
			       dev.role == SG_ROLE_SECTOR ? sector : "-");
			if (mode)
				printf(" %-11s", mode);
			for (int i = 0; i < nhooks; i++)
				printf(" %s=%u", hooks[i], ids[i]);
			printf("%s%s\n", nhooks || dev.role == SG_ROLE_TRUSTED ?
				       "" : " (not attached)",
			       dev.flags & SG_DEV_XDP_XMIT ? " xdp-xmit" : "");
		}
		first = false;
	}
	printf(json ? "]" : "");
	free(keys);
}

static void print_sectors(const struct sg_instance *in, __u32 slot, bool json)
{
	struct sg_live_sector *live;
	int n = sg_live_sectors(in, slot, &live);

	printf(json ? ",\"sectors\":[" : "sectors:\n");
	for (int i = 0; i < n; i++) {
		const struct sg_sector *s = &live[i].s;
		struct sg_sector_flows sf = {};
		char name[SG_NAME_LEN + 1];

		snprintf(name, sizeof(name), "%.*s", SG_NAME_LEN, s->name);
		/* The flows it holds (conntrack.max-flows-per-sector). */
		if (in->fds.sector_flows >= 0)
			bpf_map_lookup_elem(in->fds.sector_flows, &s->counters,
					    &sf);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			sg_json_str(stdout, name);
			printf(",\"id\":%u,\"internet\":%s,\"imds\":%s,"
			       "\"flows\":%u}", live[i].id,
			       s->flags & SG_SECTOR_INTERNET ? "true" : "false",
			       s->flags & SG_SECTOR_IMDS ? "true" : "false",
			       sf.count);
		} else {
			printf("  %-15s id %-5u %s%s flows %u\n", name,
			       live[i].id,
			       s->flags & SG_SECTOR_INTERNET ? "internet" :
							       "no-internet",
			       s->flags & SG_SECTOR_IMDS ? " imds" : "",
			       sf.count);
		}
	}
	printf(json ? "]" : "");
	free(live);
}

/* Which definitions file is in force, its SHA-256 and since when. */
static void print_applied(const struct sg_opts *o)
{
	struct sg_applied a;
	char when[32] = "?";
	time_t t;

	if (sg_applied_read(o->pin_dir, &a)) {
		printf(o->json ? "\"applied\":null," :
				 "definitions: not recorded\n");
		return;
	}
	t = a.time;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if (o->json) {
		printf("\"applied\":{\"file\":");
		sg_json_str(stdout, a.path);
		printf(",\"sha256\":\"%s\",\"generation\":%u,\"time\":\"%s\"},",
		       a.sha256, a.generation, when);
	} else {
		printf("definitions: %s sha256 %s, applied %s (generation %u)\n",
		       a.path, a.sha256, when, a.generation);
	}
}

/* The pinned programs: what runs, by id (as `bpftool prog` lists it). */
static void print_programs(const struct sg_instance *in, bool json)
{
	printf(json ? "\"programs\":{" : "programs:");
	for (int i = 0; i < SG_NPROGS; i++)
		printf(json ? "%s\"%s\":%u" : "%s%s=%u", i ? (json ? "," : " ") :
		       (json ? "" : " "), sg_prog_pins[i] + 5, in->pinned_id[i]);
	printf(json ? "}," : "\n");
}

/* The fill of every map that has entries to count (sg_map_table). */
static void print_maps(struct sg_instance *in, bool json)
{
	bool first = true;

	printf(json ? ",\"maps\":{" : "maps (entries / capacity, both slots):\n");
	for (int i = 0; i < sg_nmaps; i++) {
		const struct sg_map_desc *d = &sg_map_table[i];
		int fd = *sg_map_fd(&in->fds, d);
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int n;

		if (!d->counted || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		n = sg_map_count(fd, info.key_size);
		if (json)
			printf("%s\"%s\":{\"entries\":%d,\"max_entries\":%u}",
			       first ? "" : ",", d->name, n, info.max_entries);
		else
			printf("  %-15s %8d / %u\n", d->name, n,
			       info.max_entries);
		first = false;
	}
	printf(json ? "}" : "");
}

int cmd_status(const struct sg_opts *o)
{
	struct sg_instance in;
	struct sg_state st;

	if (sg_open_applied(o, &in)) {
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	sg_maps_read_state(&in.fds, &st);
	if (o->json) {
		printf("{\"pin_dir\":");
		sg_json_str(stdout, o->pin_dir);
		printf(",\"generation\":%u,\"slot\":%u,", st.generation,
		       st.slot);
	} else {
		printf("pin dir %s: generation %u (slot %u)\n", o->pin_dir,
		       st.generation, st.slot);
	}
	print_applied(o);
	print_programs(&in, o->json);
	print_devices(&in, st.slot, o->json);
	print_sectors(&in, st.slot, o->json);
	print_maps(&in, o->json);
	if (o->json)
		printf("}\n");
	sg_instance_close(&in);
	return SG_EXIT_OK;
}
