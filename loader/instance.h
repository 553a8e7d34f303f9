/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One sectorgate instance: its pin directory (maps and programs pinned by
 * name), the lock that keeps two commands from interleaving, and the
 * loaded BPF object.
 */
#ifndef SG_INSTANCE_H
#define SG_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "attach.h"
#include "map_table.h"

#define SG_DEFAULT_PIN_DIR "/sys/fs/bpf/sectorgate"

enum sg_prog {
	SG_PROG_NONE = -1,
	SG_PROG_XDP_SECTOR,
	SG_PROG_TC_SECTOR_IN,
	SG_PROG_TC_SECTOR_OUT,
	SG_PROG_TC_UPLINK_IN,
	SG_PROG_TC_UPLINK_OUT,
	SG_PROG_XDP_UPLINK,
	SG_PROG_TC_TRUSTED_IN,
	SG_PROG_TC_TRUSTED_OUT,
	SG_NPROGS,
};

struct sectorgate_bpf;

struct sg_instance {
	char pin_dir[256];
	int lock_fd;
	struct sectorgate_bpf *skel;	/* after sg_instance_load() */
	struct sg_map_fds fds;
	int prog_fd[SG_NPROGS];		/* the freshly loaded programs */
	int pinned_fd[SG_NPROGS];	/* the pinned (running) ones, or -1 */
	uint32_t pinned_id[SG_NPROGS];
	bool reused;			/* this build's, found pinned */
	unsigned int old_layout;	/* SG_LAYOUT of what is pinned */
	/* Maps found pinned with another layout (by sg_map_table index),
	 * replaced by sg_instance_commit(); -1 for the others. */
	int old_fd[SG_MAX_MAPS];
	uint32_t old_value_size[SG_MAX_MAPS];
};

/*
 * Lock the pin directory. With create, mount bpffs if needed and create
 * the directory; without, fail with -ENOENT when nothing was applied.
 * A NULL pin_dir gives an instance that pins nothing (unit tests).
 */
int sg_instance_open(struct sg_instance *in, const char *pin_dir, bool create);

/*
 * Load the BPF object, reusing (or creating and pinning) every map; or,
 * when the pinned programs are this build's, reuse them as they are
 * (in->reused) and load nothing. Maps pinned in an older layout get a
 * successor, their entries migrated if they keep state; so does a flow
 * table of another max_flows, unless it holds more flows than the new
 * size takes (-EEXIST, said).
 */
int sg_instance_load(struct sg_instance *in, uint32_t max_flows);

/* The conntrack.max-flows the pinned flow table was made for, or 0. */
uint32_t sg_instance_pinned_max_flows(struct sg_instance *in);

/* Do the pinned flows fit into a table for max_flows? Said when not. */
bool sg_instance_flows_fit(struct sg_instance *in, uint32_t max_flows);

/* Does this load replace maps pinned in an older layout? */
bool sg_instance_replaces_maps(const struct sg_instance *in);

/*
 * The map that holds the running definitions' entries of d: the pinned
 * one in an older layout while its successor waits for the apply (its
 * value size in *value_size), else this build's.
 */
int sg_instance_live_fd(const struct sg_instance *in,
			const struct sg_map_desc *d, uint32_t *value_size);

/* After a successful apply: the successors of maps of an older layout
 * take their pins (with what the old programs added meanwhile), and
 * sg_build records this build. */
int sg_instance_commit(struct sg_instance *in);

/* Are the pinned programs this build's (after sg_instance_open_pinned)? */
bool sg_instance_pinned_is_this_build(const struct sg_instance *in);

/* Open the pinned maps without loading anything. */
int sg_instance_open_pinned(struct sg_instance *in);

/* Pin fd as the running program `prog`, replacing the previous pin. */
int sg_instance_pin_prog(struct sg_instance *in, enum sg_prog prog, int fd);

/* Remove every pin (all, or only the programs) and the directory. */
int sg_instance_unpin(struct sg_instance *in, bool keep_maps);

void sg_instance_close(struct sg_instance *in);

/*
 * Marks on a pin directory: a read lock of an open file description
 * (F_OFD_SETLK) on one byte of it, held by a long-lived command for as
 * long as that fd stays open; the kernel drops it with the command,
 * however it ends. The commands' own flock is another lock: a mark
 * stops no other command but those that look for it.
 *   MONITOR: a monitor reads the event ring (one at a time: two readers
 *            would each get some of the events, without a word);
 *   RUN:     run keeps the instance (one at a time, and no unload under
 *            it: that would take the maps from under run, which would
 *            build them again empty at its next device change).
 */
enum sg_mark { SG_MARK_MONITOR, SG_MARK_RUN };

/* Take mark on directory fd: 0, -EBUSY when another holds it, -errno. */
int sg_mark_take(int fd, enum sg_mark mark);
/* Does another open file description hold mark on directory fd: 1, 0,
 * or -errno (not known). */
int sg_mark_held(int fd, enum sg_mark mark);
/*
 * Take SG_MARK_RUN on pin_dir, creating it as apply does; under the
 * commands' lock, so two runs starting together see each other. Returns
 * the fd that holds it, or -EBUSY / -errno.
 */
int sg_instance_claim_run(const char *pin_dir);

/* The program a device of `role` runs at `hook` (or SG_PROG_NONE). For
 * sector devices, XDP and tc ingress are alternatives; an uplink's XDP
 * (the fast path of replies) is used where its driver takes it. */
enum sg_prog sg_role_prog(int role, enum sg_hook hook);
#define SG_NHOOKS 3

/* The pin names of the programs ("prog_xdp_sector", ...). */
extern const char *const sg_prog_pins[SG_NPROGS];

/* Is id one of this instance's pinned programs? */
bool sg_instance_owns(const struct sg_instance *in, uint32_t id);
uint32_t sg_prog_id(int fd);

#endif /* SG_INSTANCE_H */
