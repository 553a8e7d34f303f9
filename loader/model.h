/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sector definitions as plain C: what config.c builds from the YAML
 * file and compile.c turns into map entries. Addresses are host order.
 * Every element remembers where it was written, line, column and field
 * path, for error messages.
 */
#ifndef SG_MODEL_H
#define SG_MODEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "sg_common.h"

struct sg_pos {
	int line;		/* 1-based */
	int col;		/* 1-based */
	const char *path;	/* "sectors[1].cidrs[0]"; kept by the model */
};

struct sg_cidr {
	uint32_t addr;
	uint8_t plen;
	bool shared;		/* a sector's: overlaps another sector's
				 * (sg_model_overlaps) */
	struct sg_pos pos;
};

struct sg_port_range {
	uint16_t lo;
	uint16_t hi;
};

/* proto values: IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 0 = any */

struct sg_allow_def {
	char *sector;			/* name of the sector it may reach */
	int target;			/* index into model.sectors */
	uint8_t proto;
	struct sg_port_range *ports;	/* none: every port */
	int nports;
	struct sg_pos pos;
	struct sg_pos sector_pos;
};

struct sg_forward_def {
	uint8_t proto;
	uint16_t port;
	uint32_t to_addr;
	uint16_t to_port;
	struct sg_pos pos;
	struct sg_pos to_pos;
};

/* `xdp:` of a sector or an uplink: whether its devices take XDP. */
enum sg_xdp_mode {
	SG_XDP_AUTO = 0,		/* where it costs the device nothing:
					 * not on a veth (sg_xdp_wanted) */
	SG_XDP_ON,			/* wherever the driver has it */
	SG_XDP_OFF,			/* tc only */
};

enum sg_snat_mode {
	SG_SNAT_DEFAULT = 0,		/* the device's own address */
	SG_SNAT_ADDRESS,
	SG_SNAT_NONE,			/* route without translation */
};

struct sg_egress_def {
	struct sg_cidr *dests;
	int ndests;
	struct sg_cidr *except;
	int nexcept;
	uint8_t proto;
	struct sg_port_range *ports;
	int nports;
	char **ifaces;
	int nifaces;
	enum sg_snat_mode snat_mode;
	uint32_t snat_addr;
	struct sg_pos pos;
	struct sg_pos iface_pos;	/* of interface: */
	struct sg_pos snat_pos;		/* of snat-address: */
};

/* An allow-from entry: a trusted device or a source CIDR. */
struct sg_source_def {
	char *iface;			/* NULL when it is a CIDR */
	struct sg_cidr cidr;
	struct sg_pos pos;
};

struct sg_name {
	char *name;
	struct sg_pos pos;
};

struct sg_sector_def {
	char name[SG_NAME_LEN];
	uint16_t id;
	bool id_given;
	struct sg_cidr *cidrs;
	int ncidrs;
	struct sg_name *ifaces;		/* names or shell globs */
	int nifaces;
	bool internet;
	bool imds;
	struct sg_source_def *allow_from;
	int nallow_from;
	struct sg_allow_def *allow;
	int nallow;
	struct sg_forward_def *forwards;
	int nforwards;
	struct sg_egress_def *egress;
	int negress;
	enum sg_xdp_mode xdp;
	struct sg_pos xdp_pos;
	struct sg_pos pos;
	struct sg_pos name_pos;
	struct sg_pos id_pos;
	int overlaps;			/* another sector whose CIDRs overlap
					 * these (index), or -1 */
};

struct sg_uplink_def {
	char *iface;
	bool snat_given;
	uint32_t snat_addr;
	enum sg_xdp_mode xdp;
	struct sg_pos pos;
	struct sg_pos iface_pos;	/* of interface:'s value */
};

/* Where the field paths of the positions are kept (model.c). */
struct sg_path_chunk;

struct sg_model {
	char *file;
	struct sg_path_chunk *paths;
	int version;
	struct sg_uplink_def *uplinks;
	int nuplinks;
	uint16_t nat_port_lo;
	uint16_t nat_port_hi;
	struct sg_cidr *protected_nets;
	int nprotected;
	struct sg_name *trusted;
	int ntrusted;
	uint32_t imds_addr;
	struct sg_pos imds_pos;		/* of host.imds.address; 1:1 if unset */
	uint16_t imds_port;
	uint32_t imds_target_addr;
	struct sg_pos imds_target_pos;	/* of host.imds.target; as address's
					 * when unset */
	uint16_t imds_target_port;
	uint32_t max_flows;
	uint32_t max_flows_per_sector;	/* 0: a quarter of max_flows */
	uint32_t timeout_tcp_established;
	uint32_t timeout_tcp_transitory;
	uint32_t timeout_udp;
	uint32_t timeout_icmp;
	struct sg_sector_def *sectors;
	int nsectors;
};

void sg_model_free(struct sg_model *m);
/* Is device iface one of the uplinks? */
bool sg_model_is_uplink(const struct sg_model *m, const char *iface);
/* Is an interface name a shell glob ("vm1-*")? */
bool sg_is_glob(const char *name);
/*
 * The first sector interface glob that matches device name, in a sector
 * other than `except` (-1: in any), its sector's index in *sector (when
 * not NULL); NULL when none does.
 */
const struct sg_name *sg_model_glob_for(const struct sg_model *m,
					const char *name, int except,
					int *sector);

/*
 * An error about what was written at pos of file: "FILE:LINE:COL: field:
 * message", the field being the path recorded at pos, with ".suffix"
 * when suffix is given.
 */
__attribute__((format(printf, 5, 0)))
void sg_diag_vat(struct sg_diags *d, const char *file, struct sg_pos pos,
		 const char *suffix, const char *fmt, va_list ap);
__attribute__((format(printf, 5, 6)))
void sg_diag_at(struct sg_diags *d, const char *file, struct sg_pos pos,
		const char *suffix, const char *fmt, ...);
/* A copy of path that lives as long as m, for a struct sg_pos. */
const char *sg_model_path(struct sg_model *m, const char *path);

/* A sector of the running definitions: its name and id. */
struct sg_sector_id {
	char name[SG_NAME_LEN];
	uint16_t id;
};

/*
 * Sectors whose id the file leaves to its default (the position) keep
 * the id the running definitions (live, nlive) give a sector of the same
 * name, unless the file gives that id to another: flows, counters and
 * the datapath know a sector by its id, and deleting or moving a sector
 * in the file must not hand its flows to a neighbour. The others take
 * their position when it is above every id given so far (`above`: the
 * running ones and those of earlier applies, removed sectors' included)
 * and free, else the next id above: a new sector inherits nothing of a
 * removed one, whose flows may outlive it in the table. An id the file
 * gives to one sector while another it lists runs with it is an error
 * (in d): -1, else 0.
 */
int sg_model_keep_ids(struct sg_model *m, const struct sg_sector_id *live,
		      int nlive, uint32_t above, struct sg_diags *d);

/*
 * Fill in which sector CIDRs overlap another sector's (sg_cidr.shared)
 * and, for each sector, one other sector it overlaps (overlaps).
 */
void sg_model_overlaps(struct sg_model *m);

/* Does any address of a lie in b, or of b in a? */
bool sg_cidr_overlap(const struct sg_cidr *a, const struct sg_cidr *b);
bool sg_cidr_contains(const struct sg_cidr *c, uint32_t addr);
/* Does the prefix addr/plen lie within b? */
bool sg_cidr_within(uint32_t addr, uint8_t plen, const struct sg_cidr *b);
uint32_t sg_cidr_mask(uint8_t plen);

#endif /* SG_MODEL_H */
