/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The map compiler: sector definitions plus the host's current devices in,
 * map entries for one slot out. Pure code, no kernel: unit-tested alone.
 */
#ifndef SG_COMPILE_H
#define SG_COMPILE_H

#include <stdbool.h>
#include <stdint.h>

#include "dest_strides.h"
#include "diag.h"
#include "model.h"

/* A network device present on the host (in this network namespace). */
struct sg_netdev {
	char name[16];
	int ifindex;
	uint32_t addr;		/* its first IPv4 address (host order), or 0 */
	uint32_t xdp_xmit;	/* 1: takes XDP-redirected frames */
	bool xdp_native;	/* its driver runs XDP programs */
	bool l3;		/* no link-layer header (tun, WireGuard) */
	bool up;		/* IFF_UP with carrier (IFF_RUNNING) */
	bool veth;		/* its peer loses TSO while XDP is attached */
};

/* A device the programs attach to, and why. */
struct sg_attach_target {
	char name[16];
	int ifindex;
	uint32_t addr;		/* its first IPv4 address (host order), or 0 */
	uint8_t role;		/* enum sg_role */
	uint16_t sector;
	bool steered;		/* a sector device whose sector has egress
				 * policies */
	bool xdp;		/* its ingress takes XDP where the driver
				 * has it (sg_xdp_wanted) */
	bool xdp_on;		/* ... because `xdp: on` asks for it: a
				 * kernel refusing it is worth a warning */
};

struct sg_compiled {
	uint32_t slot;
	uint64_t digest;	/* of every entry, independent of the slot */
	struct sg_config config;
	struct sg_imds imds;
	struct { struct sg_device_key k; struct sg_device v; } *devices;
	int ndevices;
	struct { struct sg_sector_key k; struct sg_sector v; } *sectors;
	int nsectors;
	struct { struct sg_net_key k; __u32 v; } *nets;
	int nnets;
	struct { struct sg_dest_key k; struct sg_dest v; } *dests;
	int ndests;
	struct sg_dest_strides dest_strides;	/* dests, for the datapath */
	struct { struct sg_allow_key k; struct sg_allow v; } *allows;
	int nallows;
	struct { struct sg_forward_key k; struct sg_forward v; } *forwards;
	int nforwards;
	struct { struct sg_admit_dev_key k; __u32 v; } *admit_devs;
	int nadmit_devs;
	struct { struct sg_net_key k; __u32 v; } *admit_nets;
	int nadmit_nets;
	struct { struct sg_net_key k; struct sg_egress_match v; } *egress_nets;
	int negress_nets;
	struct { struct sg_egress_policy_key k; struct sg_egress_policy v; }
		*egress_policies;
	int negress_policies;
	struct sg_attach_target *targets;
	int ntargets;
	/* Interfaces (or globs) of the definitions that match no device. */
	const char **missing;
	int nmissing;
	/* SG_COMPILE_LEAVE_CONTESTED: the devices left unattached, why. */
	struct sg_diags contested;
	/* sg_counters entries given to sectors that did not have them: to
	 * be zeroed before the flip (sg_compile_counters). */
	__u32 *fresh_counters;
	int nfresh;
};

/* A sector's index in sg_counters, as the running definitions have it. */
struct sg_counter_slot {
	uint16_t id;
	uint32_t counters;
};

/*
 * Compile *m for `slot` against the devices in devs. Returns 0, or -1 with
 * the reason in *d (a device claimed twice, e.g. by two globs).
 */
int sg_compile(const struct sg_model *m, const struct sg_netdev *devs,
	       int ndevs, uint32_t slot, struct sg_compiled *c,
	       struct sg_diags *d);

/*
 * sg_compile's flags. LEAVE_CONTESTED: a device that a sector's glob
 * matches but another definition claims (another sector's glob, or a
 * name) is left unattached, each listed in c->contested, instead of
 * making the definitions invalid: for the applies a device change starts
 * under `run`, where the definitions were accepted as they stand and the
 * conflict is the new device's, which must not stop every other device
 * from being attached.
 */
#define SG_COMPILE_LEAVE_CONTESTED	(1U << 0)

int sg_compile_flags(const struct sg_model *m, const struct sg_netdev *devs,
		     int ndevs, uint32_t slot, unsigned int flags,
		     struct sg_compiled *c, struct sg_diags *d);
void sg_compiled_free(struct sg_compiled *c);

/*
 * Give every sector of c its index in sg_counters, and sector devices
 * their sector's: the index the sector has in `live` (the running
 * definitions), so its counts go on, else the lowest one free, listed in
 * c->fresh_counters to be zeroed (it may hold a removed sector's counts).
 */
void sg_compile_counters(struct sg_compiled *c,
			 const struct sg_counter_slot *live, int nlive);

/* The device of c with this ifindex, or NULL. */
const struct sg_attach_target *sg_compiled_target(const struct sg_compiled *c,
						  int ifindex);

#endif /* SG_COMPILE_H */
