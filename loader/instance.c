// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "instance.h"
#include "sectorgate.skel.h"
#include "util.h"

static const char *const prog_pins[SG_NPROGS] = {
	[SG_PROG_XDP_SECTOR] = "prog_xdp_sector",
	[SG_PROG_TC_SECTOR_IN] = "prog_tc_sector_in",
	[SG_PROG_TC_SECTOR_OUT] = "prog_tc_sector_out",
	[SG_PROG_TC_UPLINK_IN] = "prog_tc_uplink_in",
	[SG_PROG_TC_UPLINK_OUT] = "prog_tc_uplink_out",
	[SG_PROG_XDP_UPLINK] = "prog_xdp_uplink",
	[SG_PROG_TC_TRUSTED_IN] = "prog_tc_trusted_in",
	[SG_PROG_TC_TRUSTED_OUT] = "prog_tc_trusted_out",
};

/* Map pin names are the map names; fds are filled in this order. */
static const char *const map_pins[] = {
	"sg_state", "sg_config", "sg_imds", "sg_devices", "sg_sectors", "sg_sector_nets",
	"sg_dest_nets", "sg_allow", "sg_flows", "sg_counters", "sg_events",
	"sg_event_budget",
};

static bool is_pinned_map(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(map_pins); i++)
		if (!strcmp(map_pins[i], name))
			return true;
	return false;
}

static int *map_fd_slot(struct sg_map_fds *fds, int i)
{
	int *slots[] = {
		&fds->state, &fds->config, &fds->imds, &fds->devices, &fds->sectors,
		&fds->sector_nets, &fds->dest_nets, &fds->allow, &fds->flows,
		&fds->counters, &fds->events, &fds->event_budget,
	};

	_Static_assert(ARRAY_SIZE(slots) == ARRAY_SIZE(map_pins), "map list");
	return slots[i];
}

enum sg_prog sg_role_prog(int role, enum sg_hook hook)
{
	static const enum sg_prog progs[][SG_NHOOKS] = {
		[SG_ROLE_SECTOR] = {
			[SG_HOOK_XDP] = SG_PROG_XDP_SECTOR,
			[SG_HOOK_TC_INGRESS] = SG_PROG_TC_SECTOR_IN,
			[SG_HOOK_TC_EGRESS] = SG_PROG_TC_SECTOR_OUT,
		},
		[SG_ROLE_UPLINK] = {
			[SG_HOOK_XDP] = SG_PROG_XDP_UPLINK,
			[SG_HOOK_TC_INGRESS] = SG_PROG_TC_UPLINK_IN,
			[SG_HOOK_TC_EGRESS] = SG_PROG_TC_UPLINK_OUT,
		},
		[SG_ROLE_TRUSTED] = {
			[SG_HOOK_XDP] = SG_PROG_NONE,
			[SG_HOOK_TC_INGRESS] = SG_PROG_TC_TRUSTED_IN,
			[SG_HOOK_TC_EGRESS] = SG_PROG_TC_TRUSTED_OUT,
		},
	};

	if (role < SG_ROLE_SECTOR || role > SG_ROLE_TRUSTED)
		return SG_PROG_NONE;
	return progs[role][hook];
}

bool sg_instance_owns(const struct sg_instance *in, uint32_t id)
{
	for (int i = 0; id && i < SG_NPROGS; i++)
		if (in->pinned_id[i] == id)
			return true;
	return false;
}

uint32_t sg_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static void pin_path(const struct sg_instance *in, const char *name,
		     char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", in->pin_dir, name);
}

/* The loader runs at boot, before anything mounted bpffs. */
static int ensure_bpffs(const char *pin_dir)
{
	struct statfs st;

	if (strncmp(pin_dir, "/sys/fs/bpf/", 12))
		return 0;
	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int sg_instance_open(struct sg_instance *in, const char *pin_dir, bool create)
{
	int ret;

	memset(in, 0, sizeof(*in));
	in->lock_fd = -1;
	for (int i = 0; i < SG_NPROGS; i++)
		in->prog_fd[i] = in->pinned_fd[i] = -1;
	memset(&in->fds, -1, sizeof(in->fds));
	if (!pin_dir)
		return 0;	/* unpinned: tests load a private copy */
	snprintf(in->pin_dir, sizeof(in->pin_dir), "%s", pin_dir);

	if (create) {
		ret = ensure_bpffs(pin_dir);
		if (!ret)
			ret = mkdir_p(pin_dir);
		if (ret)
			return ret;
	}
	in->lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in->lock_fd < 0)
		return -errno;
	/* Two commands on one instance never interleave (as xdp-tools). */
	if (flock(in->lock_fd, LOCK_EX))
		return -errno;

	for (int i = 0; i < SG_NPROGS; i++) {
		char path[320];

		pin_path(in, prog_pins[i], path, sizeof(path));
		in->pinned_fd[i] = bpf_obj_get(path);
		in->pinned_id[i] = sg_prog_id(in->pinned_fd[i]);
	}
	return 0;
}

int sg_instance_open_pinned(struct sg_instance *in)
{
	for (size_t i = 0; i < ARRAY_SIZE(map_pins); i++) {
		char path[320];
		int fd;

		pin_path(in, map_pins[i], path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -errno;
		*map_fd_slot(&in->fds, i) = fd;
	}
	return 0;
}

/* A pinned flow table keeps its size: resizing would drop every flow. */
static uint32_t pinned_max_entries(struct sg_instance *in, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[320];
	int fd;

	pin_path(in, name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

static int collect_fds(struct sg_instance *in)
{
	struct bpf_program *progs[SG_NPROGS];
	struct bpf_map *map;
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(map_pins); i++) {
		map = bpf_object__find_map_by_name(in->skel->obj, map_pins[i]);
		*map_fd_slot(&in->fds, i) = bpf_map__fd(map);
	}
	progs[SG_PROG_XDP_SECTOR] = in->skel->progs.sg_xdp_sector;
	progs[SG_PROG_TC_SECTOR_IN] = in->skel->progs.sg_tc_sector_in;
	progs[SG_PROG_TC_SECTOR_OUT] = in->skel->progs.sg_tc_sector_out;
	progs[SG_PROG_TC_UPLINK_IN] = in->skel->progs.sg_tc_uplink_in;
	progs[SG_PROG_TC_UPLINK_OUT] = in->skel->progs.sg_tc_uplink_out;
	progs[SG_PROG_XDP_UPLINK] = in->skel->progs.sg_xdp_uplink;
	progs[SG_PROG_TC_TRUSTED_IN] = in->skel->progs.sg_tc_trusted_in;
	progs[SG_PROG_TC_TRUSTED_OUT] = in->skel->progs.sg_tc_trusted_out;
	for (i = 0; i < SG_NPROGS; i++)
		in->prog_fd[i] = bpf_program__fd(progs[i]);
	return 0;
}

/*
 * A pinned map from another version of sectorgate, with another layout,
 * cannot be reused: say which, rather than a bare refusal from libbpf.
 */
static int check_pinned_layouts(struct sg_instance *in)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, in->skel->obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		char path[320];
		int fd;

		if (!is_pinned_map(bpf_map__name(map)))
			continue;
		pin_path(in, bpf_map__name(map), path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    (info.type != bpf_map__type(map) ||
		     info.key_size != bpf_map__key_size(map) ||
		     info.value_size != bpf_map__value_size(map))) {
			pr_warn("%s has another layout (from another version "
				"of sectorgate?); `sectorgate unload` removes "
				"it, and its flows and counters\n", path);
			close(fd);
			return -EEXIST;
		}
		close(fd);
	}
	return 0;
}

int sg_instance_load(struct sg_instance *in, uint32_t max_flows)
{
	uint32_t want = 2 * max_flows, have;
	struct bpf_map *map;
	int ret;

	in->skel = sectorgate_bpf__open();
	if (!in->skel)
		return -errno;
	if (!in->pin_dir[0]) {
		bpf_map__set_max_entries(in->skel->maps.sg_flows, want);
		return sectorgate_bpf__load(in->skel) ?: collect_fds(in);
	}
	ret = check_pinned_layouts(in);
	if (ret)
		return ret;
	have = pinned_max_entries(in, "sg_flows");
	if (have && have != want) {
		pr_warn("conntrack.max-flows %u takes effect after `sectorgate "
			"unload`; the flow table keeps %u flows until then\n",
			max_flows, have / 2);
		want = have;
	}
	bpf_map__set_max_entries(in->skel->maps.sg_flows, want);
	bpf_object__for_each_map(map, in->skel->obj) {
		char path[320];

		/* .rodata and scratch space belong to the program. */
		if (!is_pinned_map(bpf_map__name(map)))
			continue;
		pin_path(in, bpf_map__name(map), path, sizeof(path));
		ret = bpf_map__set_pin_path(map, path);
		if (ret)
			return ret;
	}
	ret = sectorgate_bpf__load(in->skel);
	if (ret)
		return ret;
	return collect_fds(in);
}

int sg_instance_pin_prog(struct sg_instance *in, enum sg_prog prog, int fd)
{
	char path[320];

	pin_path(in, prog_pins[prog], path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int sg_instance_unpin(struct sg_instance *in, bool keep_maps)
{
	char path[320];
	int ret = 0;

	for (int i = 0; i < SG_NPROGS; i++) {
		pin_path(in, prog_pins[i], path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			ret = -errno;
	}
	if (keep_maps)
		return ret;
	for (size_t i = 0; i < ARRAY_SIZE(map_pins); i++) {
		pin_path(in, map_pins[i], path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			ret = -errno;
	}
	if (rmdir(in->pin_dir) && errno != ENOENT)
		ret = -errno;
	return ret;
}

void sg_instance_close(struct sg_instance *in)
{
	if (in->skel) {
		sectorgate_bpf__destroy(in->skel);
	} else {
		int *fds = (int *)&in->fds;

		for (size_t i = 0; i < sizeof(in->fds) / sizeof(int); i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	for (int i = 0; i < SG_NPROGS; i++)
		if (in->pinned_fd[i] >= 0)
			close(in->pinned_fd[i]);
	if (in->lock_fd >= 0)
		close(in->lock_fd);
	in->skel = NULL;
	in->lock_fd = -1;
}
