/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The subcommands of sectorgate(8) and what they share. */
#ifndef SG_CLI_H
#define SG_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "compile.h"
#include "diag.h"
#include "instance.h"
#include "model.h"

/* Exit status, SPEC section 2. */
enum sg_exit {
	SG_EXIT_OK = 0,
	SG_EXIT_INVALID = 1,	/* the definitions are invalid; nothing changed */
	SG_EXIT_USAGE = 2,
	SG_EXIT_KERNEL = 3,	/* the kernel refused; the old state runs on */
};

struct sg_opts {
	const char *pin_dir;
	const char *config;
	const char *config_text;	/* run: the definitions as last read
					 * (at start or SIGHUP), applied for
					 * a device change instead of the file
					 * as it is now; NULL: read config */
	size_t config_len;
	bool json;
	bool prometheus;
	bool keep_maps;
	bool dry_run;		/* apply: say what would change, change nothing */
	bool device_change;	/* run: an apply for a device change, where a
				 * device two definitions claim is left
				 * unattached (SG_COMPILE_LEAVE_CONTESTED) */
	const char *metrics_listen;	/* run: ADDR:PORT of /metrics */
	const char *what;	/* dump: which table */
};

int cmd_check(const struct sg_opts *o);
int cmd_apply(const struct sg_opts *o);
/*
 * cmd_apply, telling in *in_force whether o's definitions are in force
 * afterwards: on success, and after a failure past the switch to them.
 */
int sg_apply_definitions(const struct sg_opts *o, bool *in_force);
int cmd_status(const struct sg_opts *o);
int cmd_stats(const struct sg_opts *o);
int cmd_unload(const struct sg_opts *o);
int cmd_dump(const struct sg_opts *o);
int cmd_run(const struct sg_opts *o);
int cmd_monitor(const struct sg_opts *o);

/* Parse and validate the definitions against this host's devices. */
int sg_load_definitions(const struct sg_opts *o, struct sg_model *m,
			struct sg_netdev **devs, int *ndevs);

/* Print d's errors (and warnings), then that config changed nothing;
 * frees d. */
void sg_report_invalid(const char *config, struct sg_diags *d);

/* Open an applied instance read-only (status, stats). */
int sg_open_applied(const struct sg_opts *o, struct sg_instance *in);

/* Sector id -> name from the live slot ("sector-<id>" if unknown). */
const char *sg_sector_name(const struct sg_instance *in, __u32 slot,
			   __u32 id, char *buf, size_t len);

/* The sectors of the live slot, sorted by id. Returns the count. */
struct sg_live_sector {
	__u32 id;
	struct sg_sector s;
};
int sg_live_sectors(const struct sg_instance *in, __u32 slot,
		    struct sg_live_sector **out);
/* sg_model_keep_ids() with the sectors of the definitions in live_slot
 * (read as sg_compile_live_counters() reads them), above the highest id
 * they or any earlier apply recorded in pin_dir gave. */
int sg_keep_live_ids(const struct sg_instance *in, const char *pin_dir,
		     __u32 live_slot, struct sg_model *m, struct sg_diags *diags);
/* sg_compile_counters() with what the definitions in live_slot have. */
void sg_compile_live_counters(const struct sg_instance *in, __u32 live_slot,
			      struct sg_compiled *c);

void sg_json_str(FILE *out, const char *s);
const char *sg_drop_name(int reason);
const char *sg_role_name(int role);
/* tcp, udp, icmp; any for 0 (a rule's wildcard), other for the rest. */
const char *sg_proto_name(__u8 proto);

#endif /* SG_CLI_H */
