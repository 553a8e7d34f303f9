// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sectorgate run: apply, then stay in the foreground (the systemd
 * service), woken by the kernel rather than a timer:
 *
 *  - a netlink notification (a device appears, goes, is renamed, comes
 *    back with a new ifindex, is readdressed, or its xdp-features change)
 *    makes it list the devices again and apply when they differ from
 *    what the last apply saw: a device matching a glob is attached within
 *    milliseconds. Until then the tc egress of every sector device and
 *    uplink refuses what the kernel forwards from a device it does not
 *    know, so the window is closed, not merely short;
 *  - SIGHUP reloads the definitions (an invalid file is reported and the
 *    running definitions stay). Only then is the file read: a device
 *    change applies the definitions last read, never an edit not yet
 *    HUPed (half-written, or invalid: the new device is attached all
 *    the same);
 *  - every SG_GC_SECONDS expired flows are removed, and the flows never
 *    answered listed for the datapath's search for room; at once (within
 *    SG_ROOM_CHECK_MS, and at most a quarter of the time) when the
 *    datapath found no room since the last listing: a flood that filled
 *    the table after it is then within reach;
 *  - SIGTERM and SIGINT end it with status 0; the programs stay attached
 *    (fail closed: stopping the service lifts no isolation).
 *
 * With --metrics-listen, /metrics is served from a thread of its own.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "flows.h"
#include "http.h"
#include "netdev.h"
#include "netlink.h"
#include "util.h"

#define SG_GC_SECONDS	5
#define SG_GC_GRACE_NS	(2 * 1000000000ULL)
#define SG_ROOM_CHECK_MS	100

/* Changes when a device appears, goes, or is renamed or readdressed. */
static uint64_t devices_signature(void)
{
	struct sg_netdev *devs;
	int n = sg_netdevs_list(&devs);
	uint64_t h = SG_FNV_START;

	for (int i = 0; i < n; i++)
		h = sg_fnv1a(h, &devs[i], sizeof(devs[i]));
	free(devs);
	return h;
}

static void collect_garbage(const struct sg_opts *o)
{
	struct sg_flow_fds fds;
	struct sg_instance in;
	int removed;

	if (sg_open_applied(o, &in)) {
		sg_instance_close(&in);
		return;
	}
	fds = sg_flow_fds_of(&in.fds);
	removed = sg_flows_gc(&fds, sg_ktime_now(), SG_GC_GRACE_NS);
	if (removed > 0)
		pr_debug("removed %d expired flow entries\n", removed);
	/* The counts and the list for room are written after the walk:
	 * without them, room is made from each sector's last flows only. */
	if (removed < 0)
		pr_warn("flow collection: %s\n", strerror(-removed));
	sg_instance_close(&in);
}

/* sg_flows_room_wanted of the instance pinned at o's pin directory (the
 * pin is looked up each time: an apply may have replaced it). */
static bool room_wanted(const struct sg_opts *o)
{
	char path[PATH_MAX];
	bool wanted;
	int fd;

	snprintf(path, sizeof(path), "%s/sg_unanswered_spans", o->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	wanted = sg_flows_room_wanted(fd);
	close(fd);
	return wanted;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Apply again if the devices are not what the last apply saw. The
 * signature is taken before the apply: a device that appears while it
 * runs then differs from it at the next notification. */
static void devices_changed(const struct sg_opts *o, uint64_t *devices,
			    uint64_t since_ms)
{
	struct sg_opts change = *o;
	uint64_t now = devices_signature();
	bool in_force;

	if (now == *devices)
		return;
	*devices = now;
	pr_info("network devices changed: applying again\n");
	/* The definitions were accepted as they stand: a device that comes
	 * with a conflict is left out, and every other one applied. */
	change.device_change = true;
	if (sg_apply_definitions(&change, &in_force))
		pr_warn("apply failed%s\n", in_force ? "" :
			"; the running definitions stay");
	else
		pr_debug("applied %llu ms after the notification\n",
			 (unsigned long long)(mono_ms() - since_ms));
}

/*
 * Read the definitions file and apply it: once they are in force (even
 * if the apply failed after switching to them) its text becomes run's
 * (o->config_text), what device changes apply again; otherwise
 * (reported) the running definitions stay, and their text. cmd_apply's
 * status; *in_force as sg_apply_definitions says.
 */
static int load_and_apply(struct sg_opts *o, bool *in_force)
{
	struct sg_opts next = *o;
	struct sg_diags d = {};
	char *text;
	size_t len;
	int ret;

	*in_force = false;
	if (sg_config_read(o->config, &text, &len, &d)) {
		sg_report_invalid(o->config, &d);
		return SG_EXIT_INVALID;
	}
	next.config_text = text;
	next.config_len = len;
	ret = sg_apply_definitions(&next, in_force);
	if (!*in_force) {
		free(text);
		return ret;
	}
	free((char *)o->config_text);
	o->config_text = text;
	o->config_len = len;
	return ret;
}

static int signals_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The signal waiting on fd (0 for none). */
static int next_signal(int fd)
{
	struct signalfd_siginfo si;

	return read(fd, &si, sizeof(si)) == sizeof(si) ? (int)si.ssi_signo : 0;
}

int cmd_run(const struct sg_opts *opts)
{
	struct sg_opts run = *opts, *o = &run;
	struct MHD_Daemon *http = NULL;
	struct pollfd pfd[3];
	uint64_t devices, next_gc, room_at = 0, took;
	struct sg_nl nl;
	int sfd, nfds, ret, claim;
	bool in_force, created, applied = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A usage error before anything else. */
	if (o->metrics_listen) {
		struct sockaddr_in6 sa;
		unsigned int len;

		if (sg_http_parse_listen(o->metrics_listen, &sa, &len)) {
			pr_warn("--metrics-listen %s: not ADDR:PORT\n",
				o->metrics_listen);
			return SG_EXIT_USAGE;
		}
	}
	/* Before anything is served or applied: a second run changes
	 * nothing. The claim creates the directory, which a run that ends
	 * before its first apply leaves as it found it. */
	created = access(o->pin_dir, F_OK) != 0;
	claim = sg_instance_claim_run(o->pin_dir);
	if (claim == -EBUSY) {
		pr_warn("another `sectorgate run` keeps %s: one run per pin "
			"directory; nothing was applied\n", o->pin_dir);
		return SG_EXIT_KERNEL;
	}
	if (claim < 0) {
		pr_warn("cannot use %s: %s\n", o->pin_dir, strerror(-claim));
		return SG_EXIT_KERNEL;
	}
	sfd = signals_fd();
	if (sfd < 0) {
		pr_warn("cannot wait for signals: %s\n", strerror(errno));
		close(claim);
		return SG_EXIT_KERNEL;
	}
	/* Subscribed before the first apply: nothing falls between. */
	ret = sg_nl_open(&nl);
	if (ret) {
		pr_warn("cannot subscribe to netlink notifications: %s\n",
			strerror(-ret));
		close(sfd);
		close(claim);
		return SG_EXIT_KERNEL;
	}
	/* Listening before the first apply: an address that cannot be
	 * bound changes nothing. */
	if (o->metrics_listen) {
		http = sg_http_start(o->metrics_listen, o->pin_dir);
		if (!http) {
			ret = SG_EXIT_KERNEL;
			goto out;
		}
	}
	devices = devices_signature();
	ret = load_and_apply(o, &in_force);
	applied = in_force;
	if (ret)
		goto out;

	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	nfds = 1;
	for (int i = 0, fds[2], n = sg_nl_fds(&nl, fds); i < n; i++)
		pfd[nfds++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	pr_info("running: SIGHUP reloads %s\n", o->config);
	next_gc = mono_ms() + SG_GC_SECONDS * 1000;
	for (;;) {
		uint64_t now = mono_ms();
		int timeout = now >= next_gc ? 0 : (int)(next_gc - now);
		int sig, events = 0;

		if (timeout > SG_ROOM_CHECK_MS)
			timeout = SG_ROOM_CHECK_MS;

		if (poll(pfd, nfds, timeout) < 0 && errno != EINTR) {
			pr_warn("poll: %s\n", strerror(errno));
			ret = SG_EXIT_KERNEL;
			break;
		}
		now = mono_ms();
		while ((sig = next_signal(sfd))) {
			if (sig == SIGTERM || sig == SIGINT)
				goto stop;
			pr_info("SIGHUP: reloading %s\n", o->config);
			devices = devices_signature();
			if (load_and_apply(o, &in_force) && !in_force)
				pr_warn("reload failed; the running "
					"definitions stay\n");
		}
		for (int i = 1; i < nfds; i++)
			if (pfd[i].revents)
				events += sg_nl_drain(&nl, pfd[i].fd);
		if (events)
			devices_changed(o, &devices, now);
		now = mono_ms();
		if (now >= next_gc ||
		    (now >= room_at && room_wanted(o))) {
			collect_garbage(o);
			took = mono_ms() - now;
			/* A walk of a big table takes its time: those asked
			 * for take at most a quarter of it. */
			room_at = now + took + (3 * took > SG_ROOM_CHECK_MS ?
						3 * took : SG_ROOM_CHECK_MS);
			next_gc = now + took + SG_GC_SECONDS * 1000;
		}
	}
	goto out;
stop:
	pr_info("stopping; the programs stay attached\n");
	ret = SG_EXIT_OK;
out:
	sg_http_stop(http);
	sg_nl_close(&nl);
	close(sfd);
	close(claim);
	/* Empty, or rmdir fails and it stays. */
	if (created && !applied)
		rmdir(o->pin_dir);
	free((char *)run.config_text);
	return ret;
}
