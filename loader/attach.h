/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Attaching programs to devices: XDP in driver mode where the driver has
 * it, tc (clsact, netlink) otherwise and for egress. Attachments are
 * netlink ones, so they stay after the loader exits. Every call returns 0
 * or -errno.
 */
#ifndef SG_ATTACH_H
#define SG_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

enum sg_hook {
	SG_HOOK_XDP,
	SG_HOOK_TC_INGRESS,
	SG_HOOK_TC_EGRESS,
};

/*
 * Attach prog_fd at hook. Our tc spot (handle, priority) is replaced
 * atomically; an XDP program is replaced only if its id is old_id (our
 * previous program), and another's makes this fail with -EBUSY.
 */
int sg_attach(int ifindex, enum sg_hook hook, int prog_fd, uint32_t old_id);
/* Id of the program at our spot of hook (0 if none). */
uint32_t sg_attached_id(int ifindex, enum sg_hook hook);
/* Detach the program at our spot of hook if its id is prog_id. */
int sg_detach(int ifindex, enum sg_hook hook, uint32_t prog_id);

const char *sg_hook_name(enum sg_hook hook);

/* How the device's XDP program runs: "native" (in the driver), "generic"
 * (on the skb, slower), "offload" or "multi"; NULL without one. */
const char *sg_xdp_mode(int ifindex);

#endif /* SG_ATTACH_H */
