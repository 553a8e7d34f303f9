/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The network devices of the current network namespace. */
#ifndef SG_NETDEV_H
#define SG_NETDEV_H

#include "compile.h"

/* All devices, in ifindex order. Returns the count or -errno. */
int sg_netdevs_list(struct sg_netdev **devs);

/* Up and with carrier now: what can carry a steered flow (egress). */
bool sg_netdev_up(const char *name);

/*
 * Fill in xdp_xmit and xdp_native of each device from the kernel's
 * xdp-features. 0, or -errno (then every device keeps both 0: the fast
 * path stays off).
 */
int sg_netdevs_xdp_features(struct sg_netdev *devs, int n);

/* Checks that need the host: an existing uplink must be Ethernet. */
void sg_netdevs_check(const struct sg_model *m, const struct sg_netdev *devs,
		      int ndevs, struct sg_diags *d);

#endif /* SG_NETDEV_H */
