// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sectorgate run: apply, then stay in the foreground (the systemd
 * service). Each second it looks at the network devices and applies again
 * when they changed, so devices matching a glob are attached when they
 * appear; SIGHUP reloads the definitions (an invalid file is reported and
 * the running definitions stay); every SG_GC_SECONDS expired flows are
 * removed. SIGTERM and SIGINT end it; the programs stay attached.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flows.h"
#include "netdev.h"
#include "util.h"

#define SG_GC_SECONDS	5
#define SG_GC_GRACE_NS	(2 * 1000000000ULL)

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
	struct sg_instance in;
	int removed;

	if (sg_open_applied(o, &in)) {
		sg_instance_close(&in);
		return;
	}
	removed = sg_flows_gc(in.fds.flows, sg_ktime_now(), SG_GC_GRACE_NS);
	if (in.fds.sector_flows >= 0)
		sg_flows_recount(in.fds.flows, in.fds.sector_flows);
	if (removed > 0)
		pr_debug("removed %d expired flow entries\n", removed);
	sg_instance_close(&in);
}

int cmd_run(const struct sg_opts *o)
{
	uint64_t devices;
	unsigned int tick = 0;
	sigset_t set;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	ret = cmd_apply(o);
	if (ret)
		return ret;
	devices = devices_signature();
	pr_info("running: SIGHUP reloads %s\n", o->config);
	for (;;) {
		struct timespec second = { .tv_sec = 1 };
		int sig = sigtimedwait(&set, NULL, &second);
		uint64_t now_devices;

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			pr_info("SIGHUP: reloading %s\n", o->config);
			if (cmd_apply(o))
				pr_warn("reload failed; the running "
					"definitions stay\n");
			devices = devices_signature();
			continue;
		}
		now_devices = devices_signature();
		if (now_devices != devices) {
			devices = now_devices;
			pr_info("network devices changed: applying again\n");
			cmd_apply(o);
		}
		if (++tick % SG_GC_SECONDS == 0)
			collect_garbage(o);
	}
	pr_info("stopping; the programs stay attached\n");
	return SG_EXIT_OK;
}
