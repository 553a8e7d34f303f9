/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The network devices of the current network namespace. */
#ifndef SG_NETDEV_H
#define SG_NETDEV_H

#include "compile.h"

/* All devices, in ifindex order. Returns the count or -errno. */
int sg_netdevs_list(struct sg_netdev **devs);

/* Checks that need the host: an existing uplink must be Ethernet. */
void sg_netdevs_check(const struct sg_model *m, const struct sg_netdev *devs,
		      int ndevs, struct sg_diags *d);

#endif /* SG_NETDEV_H */
