/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `apply --dry-run`: what the compiled definitions would change in the
 * maps, compared with the live slot, printed and nothing written. The
 * attachments are cmd_apply.c's to judge (it knows what it would do).
 */
#ifndef SG_APPLY_PLAN_H
#define SG_APPLY_PLAN_H

#include <stdio.h>

#include "compile.h"
#include "instance.h"

/*
 * Print the sectors added, removed and changed, and for every
 * definition map the entries added, removed and changed. in may have no
 * maps open (nothing applied yet): then everything is added. Returns
 * the number of differences.
 */
int sg_plan_print(FILE *out, const struct sg_instance *in, __u32 live_slot,
		  const struct sg_compiled *c);

#endif /* SG_APPLY_PLAN_H */
