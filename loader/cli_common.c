// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "cli.h"
#include "config.h"
#include "netdev.h"
#include "util.h"

static const char *const drop_names[SG_DROP_MAX] = {
	[SG_PASS] = "pass",
#define SG_REASON_NAME(id, name) [SG_DROP_##id] = name,
	SG_DROP_REASONS(SG_REASON_NAME)
#undef SG_REASON_NAME
};

const char *sg_drop_name(int reason)
{
	return reason >= 0 && reason < SG_DROP_MAX ? drop_names[reason] : "?";
}

const char *sg_proto_name(__u8 proto)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 0:
		return "any";
	default:
		return "other";
	}
}

const char *sg_role_name(int role)
{
	switch (role) {
	case SG_ROLE_SECTOR:
		return "sector";
	case SG_ROLE_UPLINK:
		return "uplink";
	case SG_ROLE_TRUSTED:
		return "trusted";
	default:
		return "?";
	}
}

void sg_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

int sg_load_definitions(const struct sg_opts *o, struct sg_model *m,
			struct sg_netdev **devs, int *ndevs)
{
	struct sg_diags d = {};

	*devs = NULL;
	*ndevs = 0;
	if (!(o->config_text ?
	      sg_config_parse(o->config, o->config_text, o->config_len, m, &d) :
	      sg_config_load(o->config, m, &d))) {
		*ndevs = sg_netdevs_list(devs);
		if (*ndevs < 0) {
			sg_diag_add(&d, "cannot list network devices: %s",
				    strerror(-*ndevs));
			*ndevs = 0;
		}
		sg_netdevs_check(m, *devs, *ndevs, &d);
	}
	if (!d.n) {
		sg_diags_print(stderr, &d);	/* the warnings */
		sg_diags_free(&d);
		return 0;
	}
	sg_report_invalid(o->config, &d);
	return -1;
}

void sg_report_invalid(const char *config, struct sg_diags *d)
{
	sg_diags_print(stderr, d);
	fprintf(stderr, "%s: invalid, nothing was changed\n", config);
	sg_diags_free(d);
}

int sg_open_applied(const struct sg_opts *o, struct sg_instance *in)
{
	int ret = sg_instance_open(in, o->pin_dir, false);

	if (!ret)
		ret = sg_instance_open_pinned(in);
	if (ret == -ENOENT)
		pr_warn("nothing is applied at %s\n", o->pin_dir);
	else if (ret)
		pr_warn("cannot open %s: %s\n", o->pin_dir, strerror(-ret));
	return ret;
}

const char *sg_sector_name(const struct sg_instance *in, __u32 slot,
			   __u32 id, char *buf, size_t len)
{
	struct sg_sector_key k = { .slot = slot, .id = id };
	struct sg_sector v;

	if (!bpf_map_lookup_elem(in->fds.sectors, &k, &v)) {
		snprintf(buf, len, "%.*s", SG_NAME_LEN, v.name);
		return buf;
	}
	snprintf(buf, len, id ? "sector-%u" : "host", id);
	return buf;
}

static int by_id(const void *a, const void *b)
{
	const struct sg_live_sector *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/*
 * The sectors of slot in the sg_sectors map fd, whose values are
 * value_size bytes: another layout's (being migrated) are read as far as
 * they go, layouts only ever growing at their end.
 */
static int live_sectors_of(int fd, __u32 value_size, __u32 slot,
			   struct sg_live_sector **out)
{
	struct sg_sector_key key, *prev = NULL;
	char *value = calloc(1, value_size + sizeof(struct sg_sector));
	int n = 0;

	*out = NULL;
	if (!value)
		sg_oom();
	while (!bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (key.slot != slot || bpf_map_lookup_elem(fd, &key, value))
			continue;
		*out = sg_grow(*out, n, sizeof(**out));
		memcpy(&(*out)[n].s, value, sizeof((*out)[n].s));
		(*out)[n++].id = key.id;
	}
	free(value);
	if (n)
		qsort(*out, n, sizeof(**out), by_id);
	return n;
}

int sg_live_sectors(const struct sg_instance *in, __u32 slot,
		    struct sg_live_sector **out)
{
	return live_sectors_of(in->fds.sectors, sizeof(struct sg_sector),
			       slot, out);
}

int sg_keep_live_ids(const struct sg_instance *in, const char *pin_dir,
		     __u32 live_slot, struct sg_model *m, struct sg_diags *diags)
{
	const struct sg_map_desc *d = sg_map_desc_of("sg_sectors");
	struct sg_sector_id *ids = NULL;
	struct sg_live_sector *live;
	struct sg_applied a;
	__u32 size;
	int fd = sg_instance_live_fd(in, d, &size);
	int n = live_sectors_of(fd, size, live_slot, &live);
	uint32_t above = 0;
	int ret;

	if (!sg_applied_read(pin_dir, &a))
		above = a.max_sector_id;
	for (int i = 0; i < n; i++) {
		if (live[i].id > above)
			above = live[i].id;
		ids = sg_grow(ids, i, sizeof(*ids));
		ids[i].id = live[i].id;
		memcpy(ids[i].name, live[i].s.name, SG_NAME_LEN);
	}
	ret = sg_model_keep_ids(m, ids, n, above, diags);
	free(ids);
	free(live);
	return ret;
}

/* Read from the running sg_sectors: the one pinned in an older layout
 * while apply replaces it, so that sectors keep their counters. */
void sg_compile_live_counters(const struct sg_instance *in, __u32 live_slot,
			      struct sg_compiled *c)
{
	const struct sg_map_desc *d = sg_map_desc_of("sg_sectors");
	struct sg_counter_slot *slots = NULL;
	struct sg_live_sector *live;
	__u32 size;
	int fd = sg_instance_live_fd(in, d, &size);
	int n = live_sectors_of(fd, size, live_slot, &live);

	for (int i = 0; i < n; i++) {
		slots = sg_grow(slots, i, sizeof(*slots));
		slots[i] = (struct sg_counter_slot){ .id = live[i].id,
				.counters = live[i].s.counters };
	}
	sg_compile_counters(c, slots, n);
	free(slots);
	free(live);
}
