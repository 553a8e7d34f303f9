// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netdev.h"
#include "netlink.h"
#include "util.h"

/* The first IPv4 address of each device: the default masquerade address
 * of an uplink (SPEC: "the interface's first IPv4 address"). */
static void first_addresses(struct sg_netdev *devs, int n)
{
	struct ifaddrs *ifa, *it;

	if (getifaddrs(&ifa))
		return;
	for (it = ifa; it; it = it->ifa_next) {
		if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET)
			continue;
		for (int i = 0; i < n; i++) {
			if (strcmp(devs[i].name, it->ifa_name) || devs[i].addr)
				continue;
			devs[i].addr = ntohl(((struct sockaddr_in *)
					      it->ifa_addr)->sin_addr.s_addr);
		}
	}
	freeifaddrs(ifa);
}

/* One ioctl on device name with ifr, through a socket of its own: 0 or
 * -errno. */
static int dev_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	ret = ioctl(fd, req, ifr) ? -errno : 0;
	close(fd);
	return ret;
}

/* The link type from the kernel, not from /sys: sysfs shows the network
 * namespace it was mounted in, which under `nsenter --net` is another. */
static int link_type(const char *name)
{
	struct ifreq ifr = {};
	int ret = dev_ioctl(name, SIOCGIFHWADDR, &ifr);

	return ret ? ret : ifr.ifr_hwaddr.sa_family;
}

/* A veth, by its driver's name as `ethtool -i` shows it. */
static bool is_veth(const char *name)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { .ifr_data = (void *)&info };

	return !dev_ioctl(name, SIOCETHTOOL, &ifr) &&
	       !strncmp(info.driver, "veth", sizeof(info.driver));
}

bool sg_netdev_up(const char *name)
{
	struct ifreq ifr = {};

	return !dev_ioctl(name, SIOCGIFFLAGS, &ifr) &&
	       (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING);
}

int sg_netdevs_list(struct sg_netdev **devs)
{
	struct if_nameindex *list = if_nameindex(), *it;
	int n = 0;

	*devs = NULL;
	if (!list)
		return -errno;
	for (it = list; it->if_index; it++) {
		int type = link_type(it->if_name);

		*devs = sg_grow(*devs, n, sizeof(**devs));
		/* Whole, padding too: run hashes these bytes. */
		memset(&(*devs)[n], 0, sizeof(**devs));
		snprintf((*devs)[n].name, sizeof((*devs)[n].name), "%s",
			 it->if_name);
		(*devs)[n].ifindex = it->if_index;
		(*devs)[n].addr = 0;
		(*devs)[n].xdp_xmit = 0;
		/* tun, WireGuard: packets start at the IP header. */
		(*devs)[n].l3 = type != ARPHRD_ETHER && type != ARPHRD_LOOPBACK;
		(*devs)[n].up = sg_netdev_up(it->if_name);
		(*devs)[n].veth = is_veth(it->if_name);
		n++;
	}
	if_freenameindex(list);
	first_addresses(*devs, n);
	/* Without xdp-features (Linux < 6.3) every Ethernet device is
	 * tried: apply falls back to tc where the attach fails. */
	if (sg_netdevs_xdp_features(*devs, n))
		for (int i = 0; i < n; i++)
			(*devs)[i].xdp_native = !(*devs)[i].l3;
	return n;
}

/* The host's ephemeral ports (net.ipv4.ip_local_port_range). */
static bool local_port_range(unsigned int *lo, unsigned int *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%u %u", lo, hi) == 2;
	fclose(f);
	return ok;
}

/* The name of the device of ifindex, or NULL. */
static const char *name_of(const struct sg_netdev *devs, int ndevs,
			   int ifindex)
{
	for (int j = 0; j < ndevs; j++)
		if (devs[j].ifindex == ifindex)
			return devs[j].name;
	return NULL;
}

/*
 * The metadata rewrite leaves by an uplink: its tc egress translates the
 * source. A target the host routes elsewhere (another device, the host
 * itself) would see every request dropped as untranslatable, so while a
 * sector asks for it, that is refused as not supported yet. No route at
 * all is not an error: like a device that does not exist yet.
 */
static void check_imds_route(const struct sg_model *m,
			     const struct sg_netdev *devs, int ndevs,
			     struct sg_diags *d)
{
	unsigned char type;
	const char *dev;
	bool wanted = false;
	char a[16];
	int oif;

	for (int s = 0; s < m->nsectors; s++)
		wanted |= m->sectors[s].imds;
	if (!wanted || sg_nl_route_to(m->imds_target_addr, &oif, &type))
		return;
	sg_ipv4_str(m->imds_target_addr, a);
	if (type == RTN_LOCAL) {
		sg_diag_at(d, m->file, m->imds_target_pos, NULL,
			   "not supported yet: %s is this host's own address "
			   "(the metadata rewrite sends it out of an uplink)", a);
		return;
	}
	dev = name_of(devs, ndevs, oif);
	if (type == RTN_UNICAST && !(dev && sg_model_is_uplink(m, dev)))
		sg_diag_at(d, m->file, m->imds_target_pos, NULL,
			   "not supported yet: %s is reached through %s, which "
			   "is not an uplink (the metadata rewrite leaves by "
			   "an uplink)", a, dev ? dev : "a device of no name");
}

void sg_netdevs_check(const struct sg_model *m, const struct sg_netdev *devs,
		      int ndevs, struct sg_diags *d)
{
	unsigned int lo, hi;

	/* Not an error: SPEC 3.4 keeps the host's replies apart anyway;
	 * but shared ports make the NAT pick another port more often. */
	if (local_port_range(&lo, &hi) && m->nat_port_lo <= hi &&
	    m->nat_port_hi >= lo)
		pr_warn("%s: host.nat-ports %u-%u overlaps the host's "
			"ip_local_port_range %u-%u; keep them apart\n",
			m->file, m->nat_port_lo, m->nat_port_hi, lo, hi);

	check_imds_route(m, devs, ndevs, d);
	for (int i = 0; i < m->nuplinks; i++) {
		const struct sg_uplink_def *u = &m->uplinks[i];
		int type;

		for (int j = 0; j < ndevs; j++) {
			if (strcmp(devs[j].name, u->iface))
				continue;
			type = link_type(u->iface);
			if (type >= 0 && type != ARPHRD_ETHER)
				sg_diag_at(d, m->file, u->iface_pos, NULL,
					   "\"%s\" is not an Ethernet device",
					   u->iface);
		}
	}
}
