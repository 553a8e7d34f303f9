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
#include "map_table.h"
#include "maps.h"
#include "sectorgate.skel.h"
#include "util.h"

const char *const sg_prog_pins[SG_NPROGS] = {
	[SG_PROG_XDP_SECTOR] = "prog_xdp_sector",
	[SG_PROG_TC_SECTOR_IN] = "prog_tc_sector_in",
	[SG_PROG_TC_SECTOR_OUT] = "prog_tc_sector_out",
	[SG_PROG_TC_UPLINK_IN] = "prog_tc_uplink_in",
	[SG_PROG_TC_UPLINK_OUT] = "prog_tc_uplink_out",
	[SG_PROG_XDP_UPLINK] = "prog_xdp_uplink",
	[SG_PROG_TC_TRUSTED_IN] = "prog_tc_trusted_in",
	[SG_PROG_TC_TRUSTED_OUT] = "prog_tc_trusted_out",
};

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

/*
 * Pins live on a BPF filesystem only: is pin_dir on one, or would it be
 * made on one (its nearest existing ancestor)? -ENOTSUP, said, if not.
 */
static int check_bpffs(const char *pin_dir)
{
	struct statfs st;
	char buf[256], *slash;

	snprintf(buf, sizeof(buf), "%s", pin_dir);
	while (statfs(buf, &st)) {
		if (errno != ENOENT)
			return 0;	/* the mkdir says what is wrong */
		slash = strrchr(buf, '/');
		if (!slash)
			snprintf(buf, sizeof(buf), ".");
		else
			slash[slash == buf] = '\0';	/* "/x": "/" */
	}
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	pr_warn("%s is not on a BPF filesystem, where pins live: choose one "
		"under /sys/fs/bpf, or mount one there (mount -t bpf bpf "
		"DIR)\n", pin_dir);
	return -ENOTSUP;
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
	memset(in->old_fd, -1, sizeof(in->old_fd));
	if (!pin_dir)
		return 0;	/* unpinned: tests load a private copy */
	snprintf(in->pin_dir, sizeof(in->pin_dir), "%s", pin_dir);

	if (create) {
		ret = ensure_bpffs(pin_dir);
		if (!ret)
			ret = check_bpffs(pin_dir);
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

		pin_path(in, sg_prog_pins[i], path, sizeof(path));
		in->pinned_fd[i] = bpf_obj_get(path);
		in->pinned_id[i] = sg_prog_id(in->pinned_fd[i]);
	}
	return 0;
}

static int mark_lock(int fd, int cmd, enum sg_mark mark, short type)
{
	struct flock lk = { .l_type = type, .l_whence = SEEK_SET,
			    .l_start = mark, .l_len = 1 };

	if (fcntl(fd, cmd, &lk))
		return -errno;
	return cmd == F_OFD_GETLK ? lk.l_type != F_UNLCK : 0;
}

int sg_mark_held(int fd, enum sg_mark mark)
{
	return fd < 0 ? -EBADF : mark_lock(fd, F_OFD_GETLK, mark, F_WRLCK);
}

int sg_mark_take(int fd, enum sg_mark mark)
{
	int ret = mark_lock(fd, F_OFD_GETLK, mark, F_WRLCK);

	if (ret)
		return ret > 0 ? -EBUSY : ret;
	return mark_lock(fd, F_OFD_SETLK, mark, F_RDLCK);
}

int sg_instance_claim_run(const char *pin_dir)
{
	struct sg_instance in;
	int ret, fd;

	ret = sg_instance_open(&in, pin_dir, true);
	if (ret) {
		sg_instance_close(&in);
		return ret;
	}
	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = fd < 0 ? -errno : sg_mark_take(fd, SG_MARK_RUN);
	sg_instance_close(&in);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd;
}

/*
 * The SG_LAYOUT of what is pinned: sg_build says it; pins without it are
 * layout 1 (sectorgate before sg_build); nothing pinned is this layout.
 */
static unsigned int pinned_layout(const struct sg_instance *in)
{
	struct sg_build b;
	char path[320];
	__u32 zero = 0;
	int fd;

	pin_path(in, "sg_build", path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		b.layout = 0;
		bpf_map_lookup_elem(fd, &zero, &b);
		close(fd);
		return b.layout ? b.layout : SG_LAYOUT;
	}
	pin_path(in, "sg_state", path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return SG_LAYOUT;
	close(fd);
	return 1;
}

/* Does the pinned map behind fd have this build's layout? */
static bool pinned_as_built(int fd, const struct sg_map_desc *d)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	       info.key_size == d->key_size && info.value_size == d->value_size;
}

/* Can this build read the pinned map behind fd: its layout, or (a map
 * that grows) an older prefix of it? */
static bool pinned_readable(int fd, const struct sg_map_desc *d,
			    unsigned int layout)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (layout < d->since)
		return false;
	if (pinned_as_built(fd, d))
		return true;
	return d->grows && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	       info.key_size == d->key_size && info.value_size < d->value_size;
}

/*
 * Every pinned map of this build's layout. One that is not pinned (a map
 * a newer sectorgate added, before its first apply) or pinned in another
 * layout (by another version, until an apply migrates it) is left at -1:
 * read with this build's structs it would be misread. Only sg_state must
 * be there: it is what makes an instance applied.
 */
static int open_pinned(struct sg_instance *in, bool warn)
{
	unsigned int layout = pinned_layout(in);

	for (int i = 0; i < sg_nmaps; i++) {
		const struct sg_map_desc *d = &sg_map_table[i];
		char path[320];
		int fd;

		pin_path(in, d->name, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0 && !pinned_readable(fd, d, layout)) {
			if (warn)
				pr_warn("%s has the layout of another "
					"sectorgate; `sectorgate apply` "
					"migrates it\n", path);
			close(fd);
			fd = -1;
			errno = EEXIST;
		}
		if (fd < 0 && d->fd_off == offsetof(struct sg_map_fds, state))
			return -errno;
		*sg_map_fd(&in->fds, d) = fd;
	}
	return 0;
}

int sg_instance_open_pinned(struct sg_instance *in)
{
	return open_pinned(in, true);
}

/* The max_entries of pinned map `name`, or 0 if there is none. */
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

	for (i = 0; i < sg_nmaps; i++) {
		map = bpf_object__find_map_by_name(in->skel->obj,
						   sg_map_table[i].name);
		*sg_map_fd(&in->fds, &sg_map_table[i]) = bpf_map__fd(map);
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

/* The digest of the BPF object this loader carries: what sg_build
 * records. */
static uint64_t object_digest(void)
{
	size_t len;
	const void *elf = sectorgate_bpf__elf_bytes(&len);

	return sg_fnv1a(SG_FNV_START, elf, len);
}

static bool same_sizes(const struct bpf_map_info *info,
		       const struct bpf_map *map)
{
	return info->type == bpf_map__type(map) &&
	       info->key_size == bpf_map__key_size(map) &&
	       info->value_size == bpf_map__value_size(map);
}

/* The flags too: a flow table pinned by a build that did not preallocate
 * it is replaced by a preallocated one, its entries copied. */
static bool same_layout(const struct bpf_map_info *info,
			const struct bpf_map *map)
{
	return same_sizes(info, map) &&
	       info->map_flags == bpf_map__map_flags(map);
}

/*
 * Can the entries of a pinned map (info) be copied into the layout of
 * map? Layouts only ever grow at their end (include/sg_common.h): the same
 * type and key, a value no smaller; the new bytes start at zero.
 */
static bool migratable(const struct bpf_map_info *info,
		       const struct bpf_map *map)
{
	return info->type == bpf_map__type(map) &&
	       info->key_size == bpf_map__key_size(map) &&
	       info->value_size <= bpf_map__value_size(map);
}

/* Do the entries of d, pinned by an older layout, need converting? */
static bool converted(const struct sg_instance *in,
		      const struct sg_map_desc *d)
{
	return d->convert && in->old_layout < d->since;
}

/*
 * Compare every pinned map with the layout of this build. The same: it is
 * reused. Another: this build creates a new one at load, which replaces
 * the pin once the apply has succeeded (sg_instance_commit), with the
 * entries copied if the map keeps state. A state map that cannot be
 * migrated is refused, and nothing changes.
 */
static int plan_pins(struct sg_instance *in)
{
	in->old_layout = pinned_layout(in);
	for (int i = 0; i < sg_nmaps; i++) {
		const struct sg_map_desc *d = &sg_map_table[i];
		struct bpf_map *map =
			bpf_object__find_map_by_name(in->skel->obj, d->name);
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		char path[320];
		int fd;

		pin_path(in, d->name, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			return -errno;
		}
		if (fd < 0 || (same_layout(&info, map) &&
				in->old_layout >= d->since &&
				info.max_entries == bpf_map__max_entries(map))) {
			if (fd >= 0)
				close(fd);
			if (bpf_map__set_pin_path(map, path))
				return -errno;
			continue;
		}
		if (d->keep == SG_KEEP_MIGRATED &&
		    !(converted(in, d) ? same_sizes(&info, map) :
					 migratable(&info, map))) {
			pr_warn("%s has a layout this sectorgate cannot migrate "
				"(%u-byte values, now %u); what runs keeps "
				"running; `sectorgate unload` removes it, with "
				"its entries\n", path, info.value_size,
				bpf_map__value_size(map));
			close(fd);
			return -EEXIST;
		}
		if (same_sizes(&info, map) && in->old_layout >= d->since)
			pr_info("%s: %u entries, now %u: its entries move "
				"into a new map\n", path, info.max_entries,
				bpf_map__max_entries(map));
		else
			pr_info("%s: another layout (%u-byte values, now %u): "
				"%s\n", path, info.value_size,
				bpf_map__value_size(map),
				d->keep == SG_KEEP_MIGRATED ?
				"its entries move into a new map" :
				"a new map replaces it");
		in->old_fd[i] = fd;
		in->old_value_size[i] = info.value_size;
	}
	return 0;
}

/*
 * Copy every entry of a pinned map in an older layout (old_size-byte
 * values) into its successor, the bytes it did not have left zero. With
 * only_new, entries already there are left alone (the second pass, after
 * the programs switched, picks up what the old ones added meanwhile).
 */
static int migrate_entries(int from, int to, const struct bpf_map_info *info,
			   __u32 old_size, __u32 new_size,
			   const struct sg_map_desc *convert, bool only_new,
			   int *lost)
{
	bool percpu = info->type == BPF_MAP_TYPE_PERCPU_ARRAY ||
		      info->type == BPF_MAP_TYPE_PERCPU_HASH;
	int ncpus = percpu ? libbpf_num_possible_cpus() : 1;
	size_t old_stride = percpu ? (old_size + 7) & ~7U : old_size;
	size_t new_stride = percpu ? (new_size + 7) & ~7U : new_size;
	char key[64], next[64];
	void *prev = NULL;
	char *ov, *nv;
	int ret = 0, n = 0;

	if (ncpus <= 0 || info->key_size > sizeof(key))
		return -EINVAL;
	ov = calloc(ncpus, old_stride);
	nv = calloc(ncpus, new_stride);
	if (!ov || !nv)
		sg_oom();
	while (!bpf_map_get_next_key(from, prev, next)) {
		memcpy(key, next, info->key_size);
		prev = key;
		if (bpf_map_lookup_elem(from, key, ov))
			continue;	/* gone meanwhile */
		memset(nv, 0, ncpus * new_stride);
		if (convert)	/* a hash of plain values: one of each */
			convert->convert(from, key, ov, nv);
		for (int c = 0; !convert && c < ncpus; c++)
			memcpy(nv + c * new_stride, ov + c * old_stride,
			       old_size);
		if (!bpf_map_update_elem(to, key, nv,
					 only_new ? BPF_NOEXIST : BPF_ANY))
			n++;
		else if (errno == E2BIG && only_new)
			(*lost)++;	/* a smaller table, filled since */
		else if (errno != EEXIST) {
			ret = -errno;
			break;
		}
	}
	free(ov);
	free(nv);
	return ret ? ret : n;
}

static int migrate_all(struct sg_instance *in, bool only_new)
{
	for (int i = 0; i < sg_nmaps; i++) {
		const struct sg_map_desc *d = &sg_map_table[i];
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int to = *sg_map_fd(&in->fds, d), n, lost = 0;

		if (in->old_fd[i] < 0 || d->keep != SG_KEEP_MIGRATED)
			continue;
		if (bpf_obj_get_info_by_fd(to, &info, &len))
			return -errno;
		/*
		 * The second pass adds the flows the old programs opened
		 * since the first. What they counted or refreshed in those
		 * milliseconds (an array's values, a flow's expiry) stays
		 * behind: the next packet refreshes a flow again.
		 */
		if (only_new && info.type != BPF_MAP_TYPE_HASH)
			continue;
		n = migrate_entries(in->old_fd[i], to, &info,
				    in->old_value_size[i], info.value_size,
				    converted(in, d) ? d : NULL, only_new,
				    &lost);
		/* Before the switch: nothing changed yet, and it stays so. */
		if (n == -E2BIG) {
			pr_warn("%s: the entries do not fit into a map of %u; "
				"what runs keeps running\n", d->name,
				info.max_entries);
			return -EEXIST;
		}
		if (n < 0)
			return n;
		pr_info("%s: %d entries migrated\n", d->name, n);
		/* After it: the new programs run on the new map already. */
		if (lost)
			pr_warn("%s: %d entries added since the first copy did "
				"not fit into the map of %u and are gone\n",
				d->name, lost, info.max_entries);
	}
	return 0;
}

bool sg_instance_pinned_is_this_build(const struct sg_instance *in)
{
	struct sg_build b;
	__u32 zero = 0;

	return in->fds.build >= 0 &&
	       !bpf_map_lookup_elem(in->fds.build, &zero, &b) &&
	       b.object_digest == object_digest() && b.layout == SG_LAYOUT;
}

/*
 * The pinned programs and maps, as they are, when they are this build's:
 * an apply then only writes maps, and nothing is loaded or verified.
 */
static bool reuse_pinned(struct sg_instance *in)
{
	struct sg_build b;
	__u32 zero = 0;

	for (int i = 0; i < SG_NPROGS; i++)
		if (in->pinned_fd[i] < 0)
			return false;
	if (open_pinned(in, false))
		return false;
	for (int i = 0; i < sg_nmaps; i++)
		if (*sg_map_fd(&in->fds, &sg_map_table[i]) < 0)
			return false;
	if (bpf_map_lookup_elem(in->fds.build, &zero, &b) ||
	    b.object_digest != object_digest() || b.layout != SG_LAYOUT)
		return false;
	for (int i = 0; i < SG_NPROGS; i++)
		in->prog_fd[i] = in->pinned_fd[i];
	return true;
}

static void close_map_fds(struct sg_instance *in)
{
	for (int i = 0; i < sg_nmaps; i++) {
		int *fd = sg_map_fd(&in->fds, &sg_map_table[i]);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

/*
 * A flow table pinned with room for `have` entries (0: none), where the
 * definitions want `want`: may its entries move into a table of that
 * size? Not when it holds more than that (the definitions wait, what runs
 * keeps running).
 */
static bool flows_fit(struct sg_instance *in, uint32_t have, uint32_t want)
{
	char path[320];
	int fd, n;

	if (!have || want >= have)
		return true;
	pin_path(in, "sg_flows", path, sizeof(path));
	fd = bpf_obj_get(path);
	n = fd < 0 ? 0 : sg_map_count(fd, sizeof(struct sg_flow_key));
	if (fd >= 0)
		close(fd);
	if (n <= (int)want)
		return true;
	pr_warn("conntrack.max-flows %u: the flow table holds %d entries, "
		"more than a table for %u flows takes (%u); what runs keeps "
		"running until fewer flows are open\n", want / 2, n, want / 2,
		want);
	return false;
}

/* The entries the pinned flow table has room for; 0 for none. */
static uint32_t pinned_flow_entries(struct sg_instance *in)
{
	return in->pin_dir[0] ? pinned_max_entries(in, "sg_flows") : 0;
}

uint32_t sg_instance_pinned_max_flows(struct sg_instance *in)
{
	return pinned_flow_entries(in) / 2;
}

bool sg_instance_flows_fit(struct sg_instance *in, uint32_t max_flows)
{
	return flows_fit(in, pinned_flow_entries(in), 2 * max_flows);
}

int sg_instance_load(struct sg_instance *in, uint32_t max_flows)
{
	uint32_t want = 2 * max_flows, have;
	int ret;

	/* Another conntrack.max-flows: a table of the new size, the flows
	 * moved into it as in an upgrade (plan_pins, migrate_all). */
	have = pinned_flow_entries(in);
	if (!flows_fit(in, have, want))
		return -EEXIST;
	if (in->pin_dir[0] && (!have || have == want) && reuse_pinned(in)) {
		pr_debug("the pinned programs are this build's: reused\n");
		in->reused = true;
		return 0;
	}
	close_map_fds(in);
	in->skel = sectorgate_bpf__open();
	if (!in->skel)
		return -errno;
	bpf_map__set_max_entries(in->skel->maps.sg_flows, want);
	if (!in->pin_dir[0])
		return sectorgate_bpf__load(in->skel) ?: collect_fds(in);
	ret = plan_pins(in);
	if (ret)
		return ret;
	ret = sectorgate_bpf__load(in->skel);
	if (ret)
		return ret;
	collect_fds(in);
	return migrate_all(in, false);
}

int sg_instance_live_fd(const struct sg_instance *in,
			const struct sg_map_desc *d, uint32_t *value_size)
{
	int i = d - sg_map_table;

	if (in->old_fd[i] >= 0) {
		*value_size = in->old_value_size[i];
		return in->old_fd[i];
	}
	*value_size = d->value_size;
	return *sg_map_fd((struct sg_map_fds *)&in->fds, d);
}

bool sg_instance_replaces_maps(const struct sg_instance *in)
{
	for (int i = 0; i < sg_nmaps; i++)
		if (in->old_fd[i] >= 0)
			return true;
	return false;
}

int sg_instance_commit(struct sg_instance *in)
{
	struct sg_build b = { .object_digest = object_digest(),
			      .layout = SG_LAYOUT };
	__u32 zero = 0;
	int ret;

	if (in->reused || !in->pin_dir[0])
		return 0;
	/* What the old programs added until they were replaced. */
	ret = migrate_all(in, true);
	if (ret)
		return ret;
	for (int i = 0; i < sg_nmaps; i++) {
		const struct sg_map_desc *d = &sg_map_table[i];
		char path[320];

		if (in->old_fd[i] < 0)
			continue;
		pin_path(in, d->name, path, sizeof(path));
		if ((unlink(path) && errno != ENOENT) ||
		    bpf_obj_pin(*sg_map_fd(&in->fds, d), path))
			return -errno;
		close(in->old_fd[i]);
		in->old_fd[i] = -1;
	}
	return bpf_map_update_elem(in->fds.build, &zero, &b, BPF_ANY) ?
	       -errno : 0;
}

int sg_instance_pin_prog(struct sg_instance *in, enum sg_prog prog, int fd)
{
	char path[320];

	pin_path(in, sg_prog_pins[prog], path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int sg_instance_unpin(struct sg_instance *in, bool keep_maps)
{
	char path[320];
	int ret = 0;

	for (int i = 0; i < SG_NPROGS; i++) {
		pin_path(in, sg_prog_pins[i], path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			ret = -errno;
	}
	if (keep_maps)
		return ret;
	/* The loader's own record of the last apply (loader/applied.h). */
	pin_path(in, "sg_applied", path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		ret = -errno;
	for (int i = 0; i < sg_nmaps; i++) {
		pin_path(in, sg_map_table[i].name, path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			ret = -errno;
	}
	if (rmdir(in->pin_dir) && errno != ENOENT)
		ret = -errno;
	return ret;
}

void sg_instance_close(struct sg_instance *in)
{
	if (in->skel)
		sectorgate_bpf__destroy(in->skel);
	else
		close_map_fds(in);
	for (int i = 0; i < sg_nmaps; i++)
		if (in->old_fd[i] >= 0)
			close(in->old_fd[i]);
	for (int i = 0; i < SG_NPROGS; i++)
		if (in->pinned_fd[i] >= 0)
			close(in->pinned_fd[i]);
	if (in->lock_fd >= 0)
		close(in->lock_fd);
	in->skel = NULL;
	in->lock_fd = -1;
}
