// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Netlink notifications through libmnl. The messages only say *that*
 * something changed: `run` then lists the devices again and compares,
 * so the only thing that must never happen here is a change that goes
 * unnoticed (a full buffer is reported as a change). And one question,
 * the route to an address (sg_nl_route_to).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netlink.h"
#include "util.h"

/* <linux/netdev.h> is newer than Debian 12's headers; stable ABI. */
#define NETDEV_FAMILY_NAME	"netdev"
#define NETDEV_MCGRP_MGMT	"mgmt"

/* Big enough that a burst of taps coming up does not overflow it. */
#define SG_NL_RCVBUF		(1 << 20)

static struct mnl_socket *nl_socket(int bus, unsigned int groups)
{
	struct mnl_socket *s = mnl_socket_open2(bus, SOCK_CLOEXEC);
	int size = SG_NL_RCVBUF;

	if (!s)
		return NULL;
	if (mnl_socket_bind(s, groups, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(s);
		return NULL;
	}
	setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVBUF, &size,
		   sizeof(size));
	return s;
}

struct mcast_lookup {
	const char *name;
	int id;
};

static int mcast_group_cb(const struct nlattr *grp, void *data)
{
	struct mcast_lookup *l = data;
	const struct nlattr *a;
	const char *name = NULL;
	int id = -1;

	mnl_attr_for_each_nested(a, grp) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME &&
		    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID &&
			 !mnl_attr_validate(a, MNL_TYPE_U32))
			id = mnl_attr_get_u32(a);
	}
	if (name && !strcmp(name, l->name))
		l->id = id;
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nh, void *data)
{
	const struct nlattr *a, *g;

	mnl_attr_for_each(a, nh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != CTRL_ATTR_MCAST_GROUPS)
			continue;
		mnl_attr_for_each_nested(g, a)
			mcast_group_cb(g, data);
	}
	return MNL_CB_OK;
}

/* The id of a generic netlink family's multicast group, or -errno. */
static int genl_group(struct mnl_socket *s, const char *family,
		      const char *group)
{
	char buf[8192];
	struct mcast_lookup l = { .name = group, .id = -ENOENT };
	struct nlmsghdr *nh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *gh;
	unsigned int seq = time(NULL);
	ssize_t len;
	int ret;

	nh->nlmsg_type = GENL_ID_CTRL;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = seq;
	gh = mnl_nlmsg_put_extra_header(nh, sizeof(*gh));
	gh->cmd = CTRL_CMD_GETFAMILY;
	gh->version = 1;
	mnl_attr_put_strz(nh, CTRL_ATTR_FAMILY_NAME, family);
	if (mnl_socket_sendto(s, nh, nh->nlmsg_len) < 0)
		return -errno;
	do {
		len = mnl_socket_recvfrom(s, buf, sizeof(buf));
		if (len < 0)
			return -errno;
		ret = mnl_cb_run(buf, len, seq, mnl_socket_get_portid(s),
				 family_cb, &l);
	} while (ret > 0);
	if (ret < 0)
		return -errno;
	return l.id;
}

static struct mnl_socket *netdev_socket(void)
{
	struct mnl_socket *s = nl_socket(NETLINK_GENERIC, 0);
	int group;

	if (!s)
		return NULL;
	group = genl_group(s, NETDEV_FAMILY_NAME, NETDEV_MCGRP_MGMT);
	if (group < 0 || mnl_socket_setsockopt(s, NETLINK_ADD_MEMBERSHIP,
					       &group, sizeof(group))) {
		pr_debug("no netdev netlink notifications (%s): xdp-features "
			 "are read at each apply only\n",
			 strerror(group < 0 ? -group : errno));
		mnl_socket_close(s);
		return NULL;
	}
	return s;
}

int sg_nl_open(struct sg_nl *nl)
{
	nl->netdev = NULL;
	nl->route = nl_socket(NETLINK_ROUTE, RTMGRP_LINK | RTMGRP_IPV4_IFADDR);
	if (!nl->route)
		return -errno;
	nl->netdev = netdev_socket();
	/* Both are drained until EAGAIN: a burst is one apply. */
	fcntl(mnl_socket_get_fd(nl->route), F_SETFL, O_NONBLOCK);
	if (nl->netdev)
		fcntl(mnl_socket_get_fd(nl->netdev), F_SETFL, O_NONBLOCK);
	return 0;
}

int sg_nl_fds(const struct sg_nl *nl, int fds[2])
{
	int n = 0;

	fds[n++] = mnl_socket_get_fd(nl->route);
	if (nl->netdev)
		fds[n++] = mnl_socket_get_fd(nl->netdev);
	return n;
}

static int route_cb(const struct nlmsghdr *nh, void *data)
{
	int *n = data;
	const struct nlattr *a;
	const char *name = "?";
	struct ifinfomsg *ifi;

	switch (nh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		ifi = mnl_nlmsg_get_payload(nh);
		mnl_attr_for_each(a, nh, sizeof(*ifi))
			if (mnl_attr_get_type(a) == IFLA_IFNAME &&
			    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				name = mnl_attr_get_str(a);
		pr_debug("netlink: %s %s (ifindex %d)\n",
			 nh->nlmsg_type == RTM_NEWLINK ? "link" : "gone", name,
			 ifi->ifi_index);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		pr_debug("netlink: address %s on ifindex %u\n",
			 nh->nlmsg_type == RTM_NEWADDR ? "added" : "removed",
			 ((struct ifaddrmsg *)mnl_nlmsg_get_payload(nh))->ifa_index);
		break;
	default:
		return MNL_CB_OK;
	}
	(*n)++;
	return MNL_CB_OK;
}

static int netdev_cb(const struct nlmsghdr *nh, void *data)
{
	int *n = data;

	pr_debug("netlink: xdp-features of a device changed\n");
	(*n)++;
	return MNL_CB_OK;
}

int sg_nl_drain(const struct sg_nl *nl, int fd)
{
	bool route = fd == mnl_socket_get_fd(nl->route);
	struct mnl_socket *s = route ? nl->route : nl->netdev;
	static char buf[32768];	/* MNL_SOCKET_BUFFER_SIZE is not constant */
	int n = 0;

	for (;;) {
		ssize_t len = mnl_socket_recvfrom(s, buf, sizeof(buf));

		if (len < 0) {
			if (errno == ENOBUFS) {
				pr_info("netlink: notifications were lost; "
					"looking at every device again\n");
				n++;
				continue;
			}
			break;	/* EAGAIN: all read */
		}
		/* Notifications carry sequence 0 and port 0: no checks. */
		mnl_cb_run(buf, len, 0, 0, route ? route_cb : netdev_cb, &n);
	}
	return n;
}

void sg_nl_close(struct sg_nl *nl)
{
	if (nl->route)
		mnl_socket_close(nl->route);
	if (nl->netdev)
		mnl_socket_close(nl->netdev);
	nl->route = nl->netdev = NULL;
}

struct route_reply {
	int oif;
	unsigned char type;
};

static int route_reply_cb(const struct nlmsghdr *nh, void *data)
{
	struct route_reply *r = data;
	struct rtmsg *rtm = mnl_nlmsg_get_payload(nh);
	const struct nlattr *a;

	if (nh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	r->type = rtm->rtm_type;
	mnl_attr_for_each(a, nh, sizeof(*rtm))
		if (mnl_attr_get_type(a) == RTA_OIF &&
		    !mnl_attr_validate(a, MNL_TYPE_U32))
			r->oif = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

int sg_nl_route_to(uint32_t daddr, int *oif, unsigned char *type)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct route_reply r = { 0 };
	struct mnl_socket *s;
	struct nlmsghdr *nh;
	struct rtmsg *rtm;
	unsigned int seq = time(NULL);
	int ret, len;

	s = nl_socket(NETLINK_ROUTE, 0);
	if (!s)
		return -EIO;
	nh = mnl_nlmsg_put_header(buf);
	nh->nlmsg_type = RTM_GETROUTE;
	nh->nlmsg_flags = NLM_F_REQUEST;
	nh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 32;
	mnl_attr_put_u32(nh, RTA_DST, htonl(daddr));
	ret = 0;
	if (mnl_socket_sendto(s, nh, nh->nlmsg_len) < 0) {
		ret = -errno;
	} else {
		len = mnl_socket_recvfrom(s, buf, sizeof(buf));
		if (len < 0 || mnl_cb_run(buf, len, seq, mnl_socket_get_portid(s),
					  route_reply_cb, &r) < 0)
			ret = -errno;
	}
	mnl_socket_close(s);
	if (!ret) {
		*oif = r.oif;
		*type = r.type;
	}
	return ret;
}
