/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel's notifications of what `run` must react to: devices that
 * appear, go, are renamed or readdressed (rtnetlink's link and IPv4
 * address groups), and a device's xdp-features changing (the "netdev"
 * generic netlink family's "mgmt" group: a veth whose peer turns GRO on).
 */
#ifndef SG_NETLINK_H
#define SG_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;

struct sg_nl {
	struct mnl_socket *route;
	struct mnl_socket *netdev;	/* NULL where the kernel has no such
					 * family (before Linux 6.3) */
};

/* Subscribe. 0 or -errno (nothing is left open then). */
int sg_nl_open(struct sg_nl *nl);

/* The file descriptors to poll: 1 or 2 of them, into fds[2]. */
int sg_nl_fds(const struct sg_nl *nl, int fds[2]);

/*
 * Read whatever is pending on fd without blocking. Returns how many
 * notifications concern devices or addresses; a lost notification
 * (ENOBUFS: the socket's buffer overflowed) counts as one, since then
 * anything may have changed.
 */
int sg_nl_drain(const struct sg_nl *nl, int fd);

void sg_nl_close(struct sg_nl *nl);

/*
 * The kernel's route to daddr (host order) in this network namespace: the
 * device it leaves by (*oif, 0 for none) and its type (*type, RTN_*).
 * 0, or -errno (-ENETUNREACH: no route).
 */
int sg_nl_route_to(uint32_t daddr, int *oif, unsigned char *type);

#endif /* SG_NETLINK_H */
