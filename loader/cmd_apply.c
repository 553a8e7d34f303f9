// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sectorgate apply: load, fill the inactive slot, attach, flip.
 *
 * The order keeps the running state intact until the kernel has accepted
 * everything: programs are verified first, the new definitions go into the
 * slot no packet reads, new devices are attached (they see the old slot,
 * in which they are unknown and pass, as before), and only then does one
 * map update make the new slot live. A refusal on the way undoes the
 * attachments made so far and leaves the old slot live.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "applied.h"
#include "apply_plan.h"
#include "attach.h"
#include "cli.h"
#include "netdev.h"
#include "util.h"

struct sg_apply {
	struct sg_instance *in;
	int use_fd[SG_NPROGS];		/* the programs to run from now on */
	uint32_t use_id[SG_NPROGS];
	bool progs_changed;
	/* Undo log: what each attachment replaced. */
	struct {
		int ifindex;
		enum sg_hook hook;
		enum sg_prog prog;
		uint32_t prev;
	} *undo;
	int nundo;
	int nxdp, ntc;
};

static bool same_program(int a, int b)
{
	struct bpf_prog_info ia = {}, ib = {};
	__u32 la = sizeof(ia), lb = sizeof(ib);

	if (bpf_obj_get_info_by_fd(a, &ia, &la) ||
	    bpf_obj_get_info_by_fd(b, &ib, &lb))
		return false;
	return !memcmp(ia.tag, ib.tag, sizeof(ia.tag));
}

/* Keep the running programs when the new build is the same code, and
 * uses the same maps (a map of a new layout needs the new programs: a
 * program's tag does not say which maps it uses). */
static void choose_programs(struct sg_apply *a)
{
	struct sg_instance *in = a->in;

	for (int i = 0; i < SG_NPROGS; i++) {
		if (in->pinned_fd[i] >= 0 && !sg_instance_replaces_maps(in) &&
		    same_program(in->pinned_fd[i], in->prog_fd[i])) {
			a->use_fd[i] = in->pinned_fd[i];
		} else {
			a->use_fd[i] = in->prog_fd[i];
			a->progs_changed = true;
		}
		a->use_id[i] = sg_prog_id(a->use_fd[i]);
	}
}

static bool is_ours(const struct sg_apply *a, uint32_t id)
{
	for (int i = 0; id && i < SG_NPROGS; i++)
		if (id == a->use_id[i] || id == a->in->pinned_id[i])
			return true;
	return false;
}

/*
 * The program id device t should carry at hook, 0 for none. A sector
 * device's ingress is XDP or tc, whichever it is on (XDP when neither),
 * and tc where the definitions keep it from XDP (t->xdp false). An
 * uplink's XDP is optional: wanted only where t->xdp and we could attach
 * it.
 */
static uint32_t wanted(const struct sg_apply *a,
		       const struct sg_attach_target *t, enum sg_hook hook)
{
	enum sg_prog p = t ? sg_role_prog(t->role, hook) : SG_PROG_NONE;
	bool on_xdp;

	if (p == SG_PROG_NONE)
		return 0;
	if (p == SG_PROG_XDP_UPLINK &&
	    (!t->xdp || !is_ours(a, sg_attached_id(t->ifindex, SG_HOOK_XDP))))
		return 0;
	if (t->role == SG_ROLE_SECTOR && hook != SG_HOOK_TC_EGRESS) {
		on_xdp = t->xdp &&
			 sg_attached_id(t->ifindex, SG_HOOK_XDP) ==
			 a->use_id[SG_PROG_XDP_SECTOR];
		if (on_xdp != (hook == SG_HOOK_XDP))
			return 0;
	}
	return a->use_id[p];
}

/* A device without our XDP that an apply would try to move onto it. */
static bool to_xdp(const struct sg_apply *a, const struct sg_attach_target *t)
{
	return t->xdp && !is_ours(a, sg_attached_id(t->ifindex, SG_HOOK_XDP));
}

/*
 * What hook of device t (NULL: a device left out) runs after an apply
 * that changes something: as now (wanted()), except that a sector device
 * moved onto XDP loses its tc ingress once XDP is on.
 */
static uint32_t wanted_after(const struct sg_apply *a,
			     const struct sg_attach_target *t,
			     enum sg_hook hook, bool changed)
{
	/* Not over another's XDP program: the move fails, tc stays. */
	if (t && changed && t->role == SG_ROLE_SECTOR &&
	    hook == SG_HOOK_TC_INGRESS && to_xdp(a, t) &&
	    !sg_attached_id(t->ifindex, SG_HOOK_XDP))
		return 0;
	return wanted(a, t, hook);
}

static bool attached_as_wanted(const struct sg_apply *a,
			       const struct sg_attach_target *t)
{
	for (enum sg_hook hook = 0; hook < SG_NHOOKS; hook++) {
		uint32_t want = wanted(a, t, hook);

		if (want && sg_attached_id(t->ifindex, hook) != want)
			return false;
	}
	return true;
}

/* What an attachment (or detach) at hook replaced: prev, 0 for none. */
static void log_undo(struct sg_apply *a, int ifindex, enum sg_hook hook,
		     enum sg_prog prog, uint32_t prev)
{
	a->undo = sg_grow(a->undo, a->nundo, sizeof(*a->undo));
	a->undo[a->nundo].ifindex = ifindex;
	a->undo[a->nundo].hook = hook;
	a->undo[a->nundo].prog = prog;
	a->undo[a->nundo].prev = prev;
	a->nundo++;
}

static int attach_logged(struct sg_apply *a, int ifindex, enum sg_hook hook,
			 enum sg_prog prog)
{
	uint32_t prev = sg_attached_id(ifindex, hook);
	int ret;

	if (prev == a->use_id[prog])
		return 0;
	ret = sg_attach(ifindex, hook, a->use_fd[prog],
			is_ours(a, prev) ? prev : 0);
	if (!ret)
		log_undo(a, ifindex, hook, prog, prev);
	return ret;
}

/* Detach our program id from hook, logged for undo like an attach. */
static int detach_logged(struct sg_apply *a, int ifindex, enum sg_hook hook,
			 enum sg_prog prog, uint32_t id)
{
	int ret = sg_detach(ifindex, hook, id);

	if (!ret)
		log_undo(a, ifindex, hook, prog, id);
	return ret;
}

/*
 * Sector ingress: XDP where the definitions want it (t->xdp) and the
 * driver takes it, else tc. A device on tc ingress moves to XDP when an
 * apply wants it there (the tc program goes after the flip, with the
 * stale attachments); one that must leave XDP (steered: only tc can send
 * a packet to the device its policy names, bpf/sg_egress.h; or `xdp`)
 * gets tc first and loses XDP before the flip.
 */
static int attach_sector_ingress(struct sg_apply *a,
				 const struct sg_attach_target *t)
{
	uint32_t xdp = sg_attached_id(t->ifindex, SG_HOOK_XDP);
	uint32_t tc_in = sg_attached_id(t->ifindex, SG_HOOK_TC_INGRESS);
	int ret;

	if (!t->xdp) {
		a->ntc++;
		ret = attach_logged(a, t->ifindex, SG_HOOK_TC_INGRESS,
				    SG_PROG_TC_SECTOR_IN);
		/* Before the flip, not after it: our XDP program of another
		 * build would not know the new definitions' steering. */
		if (!ret && is_ours(a, xdp))
			ret = detach_logged(a, t->ifindex, SG_HOOK_XDP,
					    SG_PROG_XDP_SECTOR, xdp);
		return ret;
	}
	ret = attach_logged(a, t->ifindex, SG_HOOK_XDP, SG_PROG_XDP_SECTOR);
	if (!ret) {
		a->nxdp++;
		return 0;
	}
	if (is_ours(a, xdp))
		return ret;	/* ours, and it could not be replaced */
	if (t->xdp_on && ret != -EBUSY)
		pr_warn("%s: xdp: on, but the kernel refused XDP (%s); using "
			"tc ingress\n", t->name, strerror(-ret));
	else
		pr_debug("%s: no native XDP (%s), using tc ingress\n",
			 t->name, strerror(-ret));
	if (ret == -EBUSY && !is_ours(a, tc_in))
		pr_warn("%s: another XDP program is attached; using "
			"tc ingress after it\n", t->name);
	a->ntc++;
	return attach_logged(a, t->ifindex, SG_HOOK_TC_INGRESS,
			     SG_PROG_TC_SECTOR_IN);
}

static int attach_device(struct sg_apply *a, const struct sg_attach_target *t)
{
	int ret = 0;

	if (t->role == SG_ROLE_SECTOR)
		ret = attach_sector_ingress(a, t);
	for (enum sg_hook hook = 0; hook < SG_NHOOKS && !ret; hook++) {
		enum sg_prog prog = sg_role_prog(t->role, hook);

		if (prog == SG_PROG_NONE ||
		    (t->role == SG_ROLE_SECTOR && hook != SG_HOOK_TC_EGRESS) ||
		    (prog == SG_PROG_XDP_UPLINK && !t->xdp))
			continue;
		ret = attach_logged(a, t->ifindex, hook, prog);
		if (ret && prog == SG_PROG_XDP_UPLINK) {
			/* Replies then take the tc path: slower, not wrong. */
			if (t->xdp_on)
				pr_warn("%s: xdp: on, but the kernel refused "
					"XDP (%s); replies take tc\n", t->name,
					strerror(-ret));
			else
				pr_debug("%s: no native XDP (%s): replies "
					 "take tc\n", t->name, strerror(-ret));
			ret = 0;
		}
	}
	if (ret)
		pr_warn("%s: cannot attach: %s\n", t->name, strerror(-ret));
	return ret;
}

static void undo_attachments(struct sg_apply *a)
{
	for (int i = a->nundo - 1; i >= 0; i--) {
		int ifindex = a->undo[i].ifindex;
		enum sg_hook hook = a->undo[i].hook;
		uint32_t now = a->use_id[a->undo[i].prog];
		int fd;

		if (!a->undo[i].prev) {
			sg_detach(ifindex, hook, now);
			continue;
		}
		fd = bpf_prog_get_fd_by_id(a->undo[i].prev);
		if (fd >= 0) {
			sg_attach(ifindex, hook, fd, now);
			close(fd);
		}
	}
}

/*
 * Our programs where they no longer belong: on devices that left the
 * definitions, and tc ingress left under XDP. Detached, or with detach
 * false only counted.
 */
static int stale_attachments(const struct sg_apply *a,
			     const struct sg_compiled *c,
			     const struct sg_netdev *devs, int ndevs,
			     bool detach)
{
	int n = 0;

	for (int i = 0; i < ndevs; i++) {
		const struct sg_attach_target *t = sg_compiled_target(c, devs[i].ifindex);

		for (enum sg_hook hook = 0; hook < SG_NHOOKS; hook++) {
			uint32_t id = sg_attached_id(devs[i].ifindex, hook);

			if (!is_ours(a, id) || id == wanted(a, t, hook))
				continue;
			n++;
			if (detach)
				sg_detach(devs[i].ifindex, hook, id);
		}
	}
	return n;
}

static int pin_programs(struct sg_apply *a)
{
	struct sg_instance *in = a->in;
	int ret;

	for (int i = 0; i < SG_NPROGS; i++) {
		if (a->use_fd[i] == in->pinned_fd[i])
			continue;
		ret = sg_instance_pin_prog(in, i, a->use_fd[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static void report_missing(const struct sg_compiled *c)
{
	for (int i = 0; i < c->nmissing; i++)
		pr_warn("device %s is not present; it is attached when it "
			"appears (under `run`, or by the next apply)\n",
			c->missing[i]);
}

/* For status; what it says is no part of the apply's success. */
static void record_applied(const struct sg_opts *o, uint32_t generation,
			   const struct sg_model *m)
{
	uint32_t max_id = 0;
	int ret;

	for (int i = 0; i < m->nsectors; i++)
		if (m->sectors[i].id > max_id)
			max_id = m->sectors[i].id;
	ret = sg_applied_record(o->pin_dir, o->config, o->config_text,
				o->config_len, generation, max_id);

	if (ret)
		pr_debug("cannot record the apply in %s: %s\n", o->pin_dir,
			 strerror(-ret));
}

/*
 * Fill the next slot, attach, flip, then pin what changed. *in_force is
 * set at the flip: a failure after it (pinning) leaves the new
 * definitions running, not the old ones.
 */
static int apply_compiled(struct sg_apply *a, struct sg_compiled *c,
			  const struct sg_state *st,
			  const struct sg_netdev *devs, int ndevs,
			  bool *in_force)
{
	struct sg_instance *in = a->in;
	int ret;

	ret = sg_maps_fill_slot(&in->fds, c);
	if (ret) {
		pr_warn("cannot fill the maps: %s\n", strerror(-ret));
		return ret;
	}
	for (int i = 0; i < c->ntargets; i++) {
		ret = attach_device(a, &c->targets[i]);
		if (ret) {
			undo_attachments(a);
			return ret;
		}
	}
	ret = sg_maps_flip(&in->fds, c, st);
	if (ret) {
		pr_warn("cannot switch to the new definitions: %s\n",
			strerror(-ret));
		undo_attachments(a);
		return ret;
	}
	*in_force = true;
	stale_attachments(a, c, devs, ndevs, true);
	ret = sg_instance_commit(in);
	if (ret) {
		pr_warn("cannot pin the migrated maps in %s: %s\n",
			in->pin_dir, strerror(-ret));
		return ret;
	}
	ret = pin_programs(a);
	if (ret)
		pr_warn("cannot pin the programs in %s: %s\n", in->pin_dir,
			strerror(-ret));
	return ret;
}

/*
 * Compile the definitions for the slot after st's, with the ids and the
 * counters the running ones give their sectors; -1 (reported) when the
 * devices make them invalid.
 */
static int compile_next(const struct sg_opts *o, struct sg_instance *in,
			struct sg_model *m, const struct sg_netdev *devs,
			int ndevs, const struct sg_state *st,
			struct sg_compiled *c)
{
	struct sg_diags d = {};

	if (sg_keep_live_ids(in, o->pin_dir, st->slot, m, &d) ||
	    sg_compile_flags(m, devs, ndevs, sg_next_slot(st),
			     o->device_change ? SG_COMPILE_LEAVE_CONTESTED : 0,
			     c, &d)) {
		sg_report_invalid(o->config, &d);
		return -1;
	}
	sg_compile_live_counters(in, st->slot, c);
	report_missing(c);
	for (int i = 0; i < c->contested.n; i++)
		pr_warn("%s\n", c->contested.msgs[i]);
	return 0;
}

/*
 * --dry-run: what this apply would do, judged from the pinned state
 * opened read-only (as status does): nothing is loaded, pinned, written
 * or attached. Programs of another build would replace the pinned ones
 * and be attached everywhere again, which is all it can say of them
 * without loading them.
 */
static int dry_run(const struct sg_opts *o, struct sg_model *m,
		   const struct sg_netdev *devs, int ndevs)
{
	struct sg_instance in;
	struct sg_apply a = { .in = &in };
	struct sg_compiled c = {};
	struct sg_state st = {};
	bool applied, same_build, changed;
	int ret, n = 0, status = SG_EXIT_OK;
	uint32_t cap;

	ret = sg_instance_open(&in, o->pin_dir, false);
	if (ret && ret != -ENOENT) {
		pr_warn("cannot use %s: %s\n", o->pin_dir, strerror(-ret));
		sg_instance_close(&in);
		return SG_EXIT_KERNEL;
	}
	applied = !ret && !sg_instance_open_pinned(&in);
	if (applied)
		sg_maps_read_state(&in.fds, &st);
	same_build = applied && sg_instance_pinned_is_this_build(&in);
	for (int i = 0; i < SG_NPROGS; i++)
		a.use_id[i] = same_build ? in.pinned_id[i] : 0;
	if (compile_next(o, &in, m, devs, ndevs, &st, &c)) {
		status = SG_EXIT_INVALID;
		goto out;
	}

	printf("%s: dry run, nothing is changed\n", o->config);
	changed = !applied || c.digest != st.digest || !st.generation;
	if (changed)
		n += sg_plan_print(stdout, &in, st.slot, &c);
	if (!same_build) {
		printf("  programs: this build's %s\n", applied ?
		       "replace the pinned ones" : "are loaded and pinned");
		n++;
	}
	cap = applied ? sg_instance_pinned_max_flows(&in) : 0;
	if (cap && cap != m->max_flows) {
		if (!sg_instance_flows_fit(&in, m->max_flows))
			status = SG_EXIT_KERNEL;	/* apply would refuse */
		printf("  flow table: room for %u flows, now %u (%s)\n", cap,
		       m->max_flows, status ? "refused: the flows open do "
		       "not fit" : "its flows move into a new table, the "
		       "programs are loaded anew");
		n++;
	}
	for (int i = 0; i < c.ntargets; i++) {
		const struct sg_attach_target *t = &c.targets[i];
		char sector[40] = "";

		if (same_build && attached_as_wanted(&a, t) &&
		    !(changed && to_xdp(&a, t)))
			continue;
		for (int j = 0; t->role == SG_ROLE_SECTOR && j < c.nsectors; j++)
			if (c.sectors[j].k.id == t->sector)
				snprintf(sector, sizeof(sector), " %.*s",
					 SG_NAME_LEN, c.sectors[j].v.name);
		printf("  attach %s (%s%s)\n", t->name, sg_role_name(t->role),
		       sector);
		n++;
	}
	/* Ours where they would not stay: devices left out of the
	 * definitions (and, same build, a tc ingress left under XDP, or
	 * that a move onto XDP replaces if the kernel takes it). */
	for (int i = 0; applied && i < ndevs; i++) {
		const struct sg_attach_target *t =
			sg_compiled_target(&c, devs[i].ifindex);

		if (!same_build && t)
			continue;
		for (enum sg_hook hook = 0; hook < SG_NHOOKS; hook++) {
			uint32_t id = sg_attached_id(devs[i].ifindex, hook);

			if (!sg_instance_owns(&in, id) ||
			    id == wanted_after(&a, t, hook, changed))
				continue;
			printf("  detach %s %s (program %u)\n", devs[i].name,
			       sg_hook_name(hook), id);
			n++;
		}
	}
	if (n)
		printf("would apply generation %u (now %u)\n",
		       st.generation + 1, st.generation);
	else
		printf("no changes (generation %u)\n", st.generation);
out:
	sg_compiled_free(&c);
	sg_instance_close(&in);
	return status;
}

int sg_apply_definitions(const struct sg_opts *o, bool *in_force)
{
	struct sg_instance in;
	struct sg_apply a = { .in = &in };
	struct sg_netdev *devs;
	struct sg_compiled c = {};
	struct sg_state st;
	struct sg_model m;
	int ndevs, ret, status = SG_EXIT_OK, nuplinks = 0, ntunnels = 0;
	bool attached = true;

	*in_force = false;
	if (sg_load_definitions(o, &m, &devs, &ndevs)) {
		sg_model_free(&m);
		free(devs);
		return SG_EXIT_INVALID;
	}
	if (o->dry_run) {
		status = dry_run(o, &m, devs, ndevs);
		free(devs);
		sg_model_free(&m);
		return status;
	}
	ret = sg_instance_open(&in, o->pin_dir, true);
	if (ret) {
		pr_warn("cannot use %s: %s\n", o->pin_dir, strerror(-ret));
		status = SG_EXIT_KERNEL;
		goto out;
	}
	ret = sg_instance_load(&in, m.max_flows);
	if (ret) {
		if (ret != -EEXIST)	/* a foreign map layout, said already */
			pr_warn("the kernel refused the programs or maps: %s "
				"(run with -v for the verifier log)\n",
				strerror(-ret));
		status = SG_EXIT_KERNEL;
		goto out;
	}
	choose_programs(&a);
	sg_maps_read_state(&in.fds, &st);
	if (compile_next(o, &in, &m, devs, ndevs, &st, &c)) {
		status = SG_EXIT_INVALID;
		goto out;
	}

	for (int i = 0; i < c.ntargets; i++)
		if (!attached_as_wanted(&a, &c.targets[i]))
			attached = false;
	if (c.digest == st.digest && st.generation && !a.progs_changed &&
	    attached && !stale_attachments(&a, &c, devs, ndevs, false)) {
		printf("%s: no changes (generation %u)\n", o->config,
		       st.generation);
		*in_force = true;
		if (sg_instance_commit(&in))	/* records this build */
			status = SG_EXIT_KERNEL;
		record_applied(o, st.generation, &m);
		goto out;
	}

	if (apply_compiled(&a, &c, &st, devs, ndevs, in_force)) {
		status = SG_EXIT_KERNEL;
		if (*in_force) {
			record_applied(o, st.generation + 1, &m);
			pr_warn("%s: generation %u is in force all the same "
				"(the switch was made); apply again\n",
				o->config, st.generation + 1);
		}
		goto out;
	}
	record_applied(o, st.generation + 1, &m);
	for (int i = 0; i < c.ntargets; i++) {
		nuplinks += c.targets[i].role == SG_ROLE_UPLINK;
		ntunnels += c.targets[i].role == SG_ROLE_TRUSTED;
	}
	printf("%s: applied generation %u: %d sectors on %d devices "
	       "(%d xdp, %d tc), %d uplinks, %d trusted or egress devices\n",
	       o->config, st.generation + 1, m.nsectors, a.nxdp + a.ntc,
	       a.nxdp, a.ntc, nuplinks, ntunnels);
out:
	free(a.undo);
	sg_compiled_free(&c);
	sg_instance_close(&in);
	free(devs);
	sg_model_free(&m);
	return status;
}

int cmd_apply(const struct sg_opts *o)
{
	bool in_force;

	return sg_apply_definitions(o, &in_force);
}
