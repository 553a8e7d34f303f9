// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sectorgate unload: detach from every device, then remove the pins. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "cli.h"
#include "netdev.h"
#include "util.h"

int cmd_unload(const struct sg_opts *o)
{
	struct sg_instance in;
	struct sg_netdev *devs;
	int ndevs, ret, detached = 0;

	ret = sg_instance_open(&in, o->pin_dir, false);
	if (ret == -ENOENT) {
		printf("nothing is applied at %s\n", o->pin_dir);
		return SG_EXIT_OK;
	}
	if (ret) {
		pr_warn("cannot open %s: %s\n", o->pin_dir, strerror(-ret));
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	/* Under run, its next device change would attach everything again
	 * (and with the maps gone, build them empty). */
	ret = sg_mark_held(in.lock_fd, SG_MARK_RUN);
	if (ret) {
		if (ret > 0)
			pr_warn("`sectorgate run` keeps %s: stop it first "
				"(SIGTERM; it leaves the programs attached), "
				"then unload; nothing was unloaded\n",
				o->pin_dir);
		else
			pr_warn("cannot tell whether `sectorgate run` keeps "
				"%s: %s; nothing was unloaded\n", o->pin_dir,
				strerror(-ret));
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	/* Every device of this network namespace, also those that left the
	 * definitions: our programs are recognised by their pinned ids. */
	ndevs = sg_netdevs_list(&devs);
	for (int i = 0; i < ndevs; i++) {
		for (enum sg_hook hook = 0; hook < SG_NHOOKS; hook++) {
			uint32_t id = sg_attached_id(devs[i].ifindex, hook);

			if (!sg_instance_owns(&in, id))
				continue;
			ret = sg_detach(devs[i].ifindex, hook, id);
			if (ret) {
				pr_warn("%s: cannot detach %s: %s\n",
					devs[i].name, sg_hook_name(hook),
					strerror(-ret));
				free(devs);
				sg_instance_close(&in);
				return SG_EXIT_KERNEL;
			}
			detached++;
		}
	}
	free(devs);
	ret = sg_instance_unpin(&in, o->keep_maps);
	sg_instance_close(&in);
	if (ret) {
		pr_warn("cannot remove the pins in %s: %s\n", o->pin_dir,
			strerror(-ret));
		return SG_EXIT_KERNEL;
	}
	printf("unloaded: %d attachments removed, %s\n", detached,
	       o->keep_maps ? "maps kept" : "pins removed");
	return SG_EXIT_OK;
}
