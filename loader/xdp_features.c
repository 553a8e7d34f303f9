// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Which devices take frames that XDP redirects to them, and which run XDP
 * programs in their driver, as the kernel reports it: the "netdev"
 * generic netlink family (Linux 6.3+), attribute xdp-features, bits
 * NDO_XMIT and BASIC. For a veth the kernel derives NDO_XMIT from the
 * peer (GRO or an XDP program there), which the loader could not see
 * itself: the peer usually lives in another network namespace.
 *
 * The uAPI constants are spelled out because Debian 12's headers (6.1)
 * predate <linux/netdev.h>; they are stable ABI.
 */
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netdev.h"

#define NETDEV_FAMILY_NAME		"netdev"
#define NETDEV_CMD_DEV_GET		1
#define NETDEV_A_DEV_IFINDEX		1
#define NETDEV_A_DEV_XDP_FEATURES	3
#define NETDEV_XDP_ACT_BASIC		(1ULL << 0)
#define NETDEV_XDP_ACT_NDO_XMIT		(1ULL << 2)

struct genl_request {
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	char attrs[64];
};

static int genl_send(int fd, __u16 type, __u16 flags, __u8 cmd,
		     const struct nlattr *attr, const void *payload)
{
	struct genl_request req = {};
	struct nlattr *a = (struct nlattr *)req.attrs;
	size_t alen = 0;

	req.nh.nlmsg_type = type;
	req.nh.nlmsg_flags = NLM_F_REQUEST | flags;
	req.gh.cmd = cmd;
	req.gh.version = 1;
	if (attr) {
		*a = *attr;
		memcpy(a + 1, payload, attr->nla_len - NLA_HDRLEN);
		alen = NLA_ALIGN(attr->nla_len);
	}
	req.nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN + alen);
	return send(fd, &req, req.nh.nlmsg_len, 0) < 0 ? -errno : 0;
}

/* Call fn for each attribute of each message answering the request, and
 * with last set at the end of each message: until NLMSG_DONE for a dump
 * (whose messages do not all carry NLM_F_MULTI), else the one reply. */
static int genl_receive(int fd, bool dump,
			void (*fn)(const struct nlattr *a, void *arg,
				   bool last),
			void *arg)
{
	char buf[16384];

	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len < 0)
			return -errno;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			struct nlattr *a;
			int rest;

			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
			a = (struct nlattr *)((char *)NLMSG_DATA(nh) +
					      GENL_HDRLEN);
			rest = nh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
			while (rest >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
			       a->nla_len <= rest) {
				fn(a, arg, false);
				rest -= NLA_ALIGN(a->nla_len);
				a = (struct nlattr *)((char *)a +
						      NLA_ALIGN(a->nla_len));
			}
			fn(NULL, arg, true);
			if (!dump)
				return 0;
		}
	}
}

static void family_id_attr(const struct nlattr *a, void *arg, bool last)
{
	if (!last && (a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
		memcpy(arg, a + 1, sizeof(__u16));
}

struct dev_walk {
	struct sg_netdev *devs;
	int n;
	__u32 ifindex;
	__u64 features;
};

/* One device per message: remember its fields, store them at its end. */
static void dev_attr(const struct nlattr *a, void *arg, bool last)
{
	struct dev_walk *w = arg;

	if (last) {
		for (int i = 0; i < w->n; i++)
			if (w->devs[i].ifindex == (int)w->ifindex) {
				w->devs[i].xdp_xmit =
					!!(w->features & NETDEV_XDP_ACT_NDO_XMIT);
				w->devs[i].xdp_native =
					!!(w->features & NETDEV_XDP_ACT_BASIC);
			}
		w->ifindex = 0;
		w->features = 0;
		return;
	}
	if ((a->nla_type & NLA_TYPE_MASK) == NETDEV_A_DEV_IFINDEX)
		memcpy(&w->ifindex, a + 1, sizeof(w->ifindex));
	else if ((a->nla_type & NLA_TYPE_MASK) == NETDEV_A_DEV_XDP_FEATURES)
		memcpy(&w->features, a + 1, sizeof(w->features));
}

int sg_netdevs_xdp_features(struct sg_netdev *devs, int n)
{
	char name[] = NETDEV_FAMILY_NAME;
	struct nlattr fam = { .nla_len = NLA_HDRLEN + sizeof(name),
			      .nla_type = CTRL_ATTR_FAMILY_NAME };
	struct dev_walk w = { .devs = devs, .n = n };
	__u16 family = 0;
	int fd, ret;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	ret = genl_send(fd, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, &fam, name);
	if (!ret)
		ret = genl_receive(fd, false, family_id_attr, &family);
	if (!ret && !family)
		ret = -ENOENT;	/* a kernel without the family: none do */
	if (!ret)
		ret = genl_send(fd, family, NLM_F_DUMP, NETDEV_CMD_DEV_GET,
				NULL, NULL);
	if (!ret)
		ret = genl_receive(fd, true, dev_attr, &w);
	close(fd);
	return ret;
}
