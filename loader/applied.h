/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What was applied, for `status`: the definitions file, its SHA-256 (to
 * compare with `sha256sum` of the file on disk), the generation and when.
 * Kept in a one-entry array map the loader creates and pins as
 * "sg_applied" (bpffs holds no plain files); the datapath never reads it.
 */
#ifndef SG_APPLIED_H
#define SG_APPLIED_H

#include <stddef.h>
#include <stdint.h>

struct sg_applied {
	uint64_t time;		/* seconds since the epoch */
	uint32_t generation;
	uint32_t max_sector_id;	/* the highest id an apply gave a sector:
				 * a new one takes an id above it, never a
				 * removed one's (sg_model_keep_ids) */
	char sha256[72];	/* hex, NUL-terminated */
	char path[256];
};

#define SG_APPLIED_PIN "sg_applied"

/*
 * Record that config is in force at generation (after an apply): its
 * path, and the SHA-256 of text (len bytes: what was applied, which `run`
 * read at its start or SIGHUP) or, when text is NULL, of the file; and
 * the highest sector id given so far (max_sector_id or the recorded one).
 */
int sg_applied_record(const char *pin_dir, const char *config,
		      const char *text, size_t len, uint32_t generation,
		      uint32_t max_sector_id);

/* What the last apply recorded. 0, or -ENOENT when nothing did. */
int sg_applied_read(const char *pin_dir, struct sg_applied *a);

struct sg_model;
/*
 * The definitions the last apply recorded, parsed into m, when they are
 * the ones in force (generation) and the file still holds them (the same
 * SHA-256): what the maps do not keep, such as the names of devices not
 * present. 0, or -1 (m is then empty).
 */
int sg_applied_model(const char *pin_dir, uint32_t generation,
		     struct sg_model *m);

#endif /* SG_APPLIED_H */
