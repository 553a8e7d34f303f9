// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <unistd.h>

#include "attach.h"
#include "sg_common.h"

static enum bpf_tc_attach_point tc_point(enum sg_hook hook)
{
	return hook == SG_HOOK_TC_EGRESS ? BPF_TC_EGRESS : BPF_TC_INGRESS;
}

static int tc_attach(int ifindex, enum sg_hook hook, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = ifindex,
			    .attach_point = tc_point(hook));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = SG_TC_HANDLE,
			    .priority = SG_TC_PRIORITY, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	int ret;

	/* The clsact qdisc carries both directions; it may already exist. */
	ret = bpf_tc_hook_create(&h);
	if (ret && ret != -EEXIST)
		return ret;
	return bpf_tc_attach(&h, &o);
}

static uint32_t tc_attached_id(int ifindex, enum sg_hook hook)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = ifindex,
			    .attach_point = tc_point(hook));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = SG_TC_HANDLE,
			    .priority = SG_TC_PRIORITY);

	return bpf_tc_query(&h, &o) ? 0 : o.prog_id;
}

static int tc_detach(int ifindex, enum sg_hook hook)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = ifindex,
			    .attach_point = tc_point(hook));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = SG_TC_HANDLE,
			    .priority = SG_TC_PRIORITY);

	return bpf_tc_detach(&h, &o);
}

static uint32_t xdp_attached_id(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, XDP_FLAGS_DRV_MODE, &q))
		return 0;
	return q.attach_mode == XDP_ATTACHED_DRV ? q.prog_id : 0;
}

/* Replace exactly the program we expect (or nothing), never another's. */
static int xdp_swap(int ifindex, int prog_fd, uint32_t old_id)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, o);
	__u32 flags = XDP_FLAGS_DRV_MODE;
	int old_fd = -1, ret;

	if (old_id) {
		old_fd = bpf_prog_get_fd_by_id(old_id);
		if (old_fd < 0)
			return -errno;
		o.old_prog_fd = old_fd;
		flags |= XDP_FLAGS_REPLACE;
	} else {
		flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
	}
	ret = bpf_xdp_attach(ifindex, prog_fd, flags, &o);
	if (old_fd >= 0)
		close(old_fd);
	return ret;
}

int sg_attach(int ifindex, enum sg_hook hook, int prog_fd, uint32_t old_id)
{
	uint32_t cur;

	if (hook != SG_HOOK_XDP)
		return tc_attach(ifindex, hook, prog_fd);
	cur = xdp_attached_id(ifindex);
	if (cur && cur != old_id)
		return -EBUSY;	/* somebody else's XDP program */
	return xdp_swap(ifindex, prog_fd, cur);
}

uint32_t sg_attached_id(int ifindex, enum sg_hook hook)
{
	if (hook == SG_HOOK_XDP)
		return xdp_attached_id(ifindex);
	return tc_attached_id(ifindex, hook);
}

int sg_detach(int ifindex, enum sg_hook hook, uint32_t prog_id)
{
	if (!prog_id || sg_attached_id(ifindex, hook) != prog_id)
		return 0;
	if (hook == SG_HOOK_XDP)
		return xdp_swap(ifindex, -1, prog_id);
	return tc_detach(ifindex, hook);
}

const char *sg_xdp_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return NULL;
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_MULTI:
		return "multi";
	default:
		return NULL;
	}
}

const char *sg_hook_name(enum sg_hook hook)
{
	switch (hook) {
	case SG_HOOK_XDP:
		return "xdp";
	case SG_HOOK_TC_INGRESS:
		return "tc-ingress";
	default:
		return "tc-egress";
	}
}
