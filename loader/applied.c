// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "applied.h"
#include "config.h"

static int pinned(const char *pin_dir, bool create)
{
	char path[320];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SG_APPLIED_PIN);
	fd = bpf_obj_get(path);
	if (fd >= 0 || !create)
		return fd < 0 ? -errno : fd;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, SG_APPLIED_PIN, 4,
			    sizeof(struct sg_applied), 1, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

int sg_applied_record(const char *pin_dir, const char *config,
		      const char *text, size_t len, uint32_t generation,
		      uint32_t max_sector_id)
{
	struct sg_applied a = {}, old = {};
	char real[PATH_MAX];
	__u32 zero = 0;
	int fd, ret = 0;

	if (text)
		SHA256Data((const uint8_t *)text, len, a.sha256);
	else if (!SHA256File(config, a.sha256))
		return -errno;
	snprintf(a.path, sizeof(a.path), "%.255s",
		 realpath(config, real) ? real : config);
	a.generation = generation;
	fd = pinned(pin_dir, true);
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &old))
		memset(&old, 0, sizeof(old));
	a.max_sector_id = old.max_sector_id > max_sector_id ?
			  old.max_sector_id : max_sector_id;
	/* An apply that changed nothing keeps the time of the one that did,
	 * unless the file itself differs (a comment edited, say). */
	if (old.time && old.generation == generation &&
	    old.max_sector_id == a.max_sector_id &&
	    !strcmp(old.sha256, a.sha256) && !strcmp(old.path, a.path))
		goto out;
	a.time = time(NULL);
	if (bpf_map_update_elem(fd, &zero, &a, BPF_ANY))
		ret = -errno;
out:
	close(fd);
	return ret;
}

int sg_applied_read(const char *pin_dir, struct sg_applied *a)
{
	__u32 zero = 0;
	int fd = pinned(pin_dir, false), ret = 0;

	memset(a, 0, sizeof(*a));
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, a))
		ret = -errno;
	else if (!a->time)
		ret = -ENOENT;
	close(fd);
	a->sha256[sizeof(a->sha256) - 1] = a->path[sizeof(a->path) - 1] = '\0';
	return ret;
}

int sg_applied_model(const char *pin_dir, uint32_t generation,
		     struct sg_model *m)
{
	struct sg_diags diags = {};
	struct sg_applied a;
	char sha[sizeof(a.sha256)];
	char *text = NULL;
	size_t len;
	int ret = -1;

	memset(m, 0, sizeof(*m));
	if (sg_applied_read(pin_dir, &a) || a.generation != generation ||
	    sg_config_read(a.path, &text, &len, &diags))
		goto out;
	/* The bytes hashed are the ones parsed. */
	SHA256Data((const uint8_t *)text, len, sha);
	if (!strcmp(sha, a.sha256))
		ret = sg_config_parse(a.path, text, len, m, &diags);
out:
	free(text);
	sg_diags_free(&diags);
	if (ret) {
		sg_model_free(m);
		memset(m, 0, sizeof(*m));
	}
	return ret ? -1 : 0;
}
