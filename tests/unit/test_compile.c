// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The map compiler, without a kernel: definitions + devices -> entries. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include <bpf/bpf.h>
#include <unistd.h>

#include "compile.h"
#include "dest_strides.h"
#include "egress.h"
#include "flows_v1.h"
#include "map_table.h"
#include "sectorgate.skel.h"
#include "config.h"
#include "sg_test.h"
#include "util.h"

static const char defs[] =
	"version: 1\n"
	"host:\n"
	"  uplinks: [{interface: wan0}]\n"
	"  trusted: [{interface: ts0}]\n"
	"  protected: [192.168.1.0/24]\n"
	"  conntrack: {timeouts: {udp: 99}}\n"
	"sectors:\n"
	"  - name: vm1\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [br-vm1, \"vm1-*\"]\n"
	"    allow:\n"
	"      - {sector: vm2, proto: tcp, ports: [5432, \"8000-8100\"]}\n"
	"      - {sector: vm2, proto: icmp}\n"
	"  - name: vm2\n"
	"    id: 7\n"
	"    cidrs: [10.2.0.0/24]\n"
	"    interfaces: [tap2]\n"
	"    internet: false\n"
	"  - name: vm3\n"
	"    cidrs: [10.3.0.0/24]\n"
	"    interfaces: [tap3]\n"
	"  - name: vm4\n"
	"    cidrs: [10.3.0.0/24]\n"
	"    interfaces: [tap4]\n";

static const struct sg_netdev devs[] = {
	{ "lo", 1 }, { "wan0", 2, 0xc0000201 }, { "br-vm1", 3 }, { "vm1-a", 4 },
	{ "vm1-b", 5 }, { "tap2", 6 }, { "tap3", 7 }, { "other", 9 },
};

static int parse(const char *text, struct sg_model *m)
{
	struct sg_diags d = {};
	int ret = sg_config_parse("t.yaml", text, strlen(text), m, &d);

	sg_diags_print(stdout, &d);
	sg_diags_free(&d);
	return ret;
}

static const struct sg_device *device(const struct sg_compiled *c, int ifindex)
{
	for (int i = 0; i < c->ndevices; i++)
		if (c->devices[i].k.ifindex == (__u32)ifindex)
			return &c->devices[i].v;
	return NULL;
}

static const struct sg_dest *dest(const struct sg_compiled *c, const char *a,
				  int plen)
{
	uint32_t addr;

	sg_parse_ipv4(a, &addr);
	addr = htonl(addr);
	for (int i = 0; i < c->ndests; i++)
		if (!memcmp(c->dests[i].k.addr, &addr, 4) &&
		    c->dests[i].k.prefixlen == 32 + (unsigned)plen)
			return &c->dests[i].v;
	return NULL;
}

static void test_entries(void)
{
	struct sg_diags d = {};
	struct sg_compiled c;
	struct sg_model m;
	const struct sg_device *dv;
	const struct sg_dest *ds;

	test_begin();
	CHECK(parse(defs, &m) == 0, "definitions rejected");
	CHECK(sg_compile(&m, devs, ARRAY_SIZE(devs), 1, &c, &d) == 0,
	      "compile failed");

	dv = device(&c, 2);
	CHECK(dv && dv->role == SG_ROLE_UPLINK, "wan0 is the uplink");
	dv = device(&c, 3);
	CHECK(dv && dv->role == SG_ROLE_SECTOR && dv->sector == 1, "br-vm1");
	CHECK(device(&c, 4) && device(&c, 5) && device(&c, 4)->sector == 1,
	      "the glob vm1-* claims vm1-a and vm1-b");
	CHECK(device(&c, 6) && device(&c, 6)->sector == 7, "explicit id 7");
	/* vm1 allows into vm2: both sides look the pair up; vm3 never. */
	CHECK((device(&c, 3)->flags & SG_DEV_ALLOWS) &&
	      (device(&c, 6)->flags & SG_DEV_ALLOWS) &&
	      !(device(&c, 7)->flags & SG_DEV_ALLOWS),
	      "SG_DEV_ALLOWS on the devices of the sectors an allow names");
	CHECK(!device(&c, 1) && !device(&c, 9), "other devices are not ours");
	for (int i = 0; i < c.ndevices; i++)
		CHECK(c.devices[i].k.slot == 1, "slot stamped into every key");
	CHECK(c.nmissing == 2 && !strcmp(c.missing[0], "ts0") &&
	      !strcmp(c.missing[1], "tap4"), "missing devices: ts0, tap4");

	CHECK(c.nsectors == 4, "one sectors entry each");
	for (int i = 0; i < c.nsectors; i++) {
		if (c.sectors[i].k.id == 7)
			CHECK(!(c.sectors[i].v.flags & SG_SECTOR_INTERNET) &&
			      !strcmp(c.sectors[i].v.name, "vm2"), "vm2 entry");
		if (c.sectors[i].k.id == 1)
			CHECK(c.sectors[i].v.flags == SG_SECTOR_INTERNET,
			      "vm1 flags");
	}
	CHECK(c.nnets == 4 && c.nets[0].k.prefixlen == 56 &&
	      c.nets[0].k.sector == 1 && c.nets[0].k.addr[0] == 10 &&
	      c.nets[0].k.addr[1] == 1 && c.nets[0].k.addr[2] == 0,
	      "sector nets carry slot, sector and prefix");

	ds = dest(&c, "192.168.1.0", 24);
	CHECK(ds && ds->kind == SG_DEST_PROTECTED, "protected destination");
	ds = dest(&c, "10.2.0.0", 24);
	CHECK(ds && ds->kind == SG_DEST_SECTOR && ds->sector == 7, "vm2 dest");
	ds = dest(&c, "10.3.0.0", 24);
	CHECK(ds && ds->kind == SG_DEST_SHARED, "overlapping CIDR is shared");
	ds = dest(&c, "169.254.169.254", 32);
	CHECK(ds && ds->kind == SG_DEST_IMDS, "the metadata address");
	ds = dest(&c, "192.0.2.1", 32);
	CHECK(ds && ds->kind == SG_DEST_UPLINK, "the uplink's address");
	CHECK(c.ndests == 6, "identical overlapping CIDRs give one entry");
	CHECK(c.imds.addr[0] == 169 && c.imds.addr[3] == 254 &&
	      c.imds.port == htons(80) && c.imds.target_port == htons(80),
	      "sg_imds: the defaults");

	CHECK(c.nallows == 1, "one allow entry for the pair vm1->vm2");
	if (c.nallows == 1) {
		const struct sg_allow *a = &c.allows[0].v;

		CHECK(c.allows[0].k.from == 1 && c.allows[0].k.to == 7, "pair");
		CHECK(a->count == 3, "3 rules, got %u", a->count);
		CHECK(a->rules[0].proto == 6 && a->rules[0].port_lo == 5432 &&
		      a->rules[0].port_hi == 5432, "rule 0");
		CHECK(a->rules[1].port_lo == 8000 && a->rules[1].port_hi == 8100,
		      "rule 1");
		CHECK(a->rules[2].proto == 1 && a->rules[2].port_lo == 0 &&
		      a->rules[2].port_hi == 0xffff, "rule 2: icmp, any port");
	}
	CHECK(c.config.timeout_udp == 99 && c.config.timeout_icmp == 60,
	      "timeouts");
	sg_compiled_free(&c);
	sg_model_free(&m);
	test_end("definitions compile into the expected map entries");
}

static void test_digest(void)
{
	struct sg_compiled a, b, other;
	struct sg_diags d = {};
	struct sg_model m, m2;
	char *changed = strdup(defs);

	test_begin();
	/* 5432 -> 5433: one port of one rule. */
	memcpy(strstr(changed, "5432"), "5433", 4);
	CHECK(parse(defs, &m) == 0 && parse(changed, &m2) == 0, "parse");
	sg_compile(&m, devs, ARRAY_SIZE(devs), 0, &a, &d);
	sg_compile(&m, devs, ARRAY_SIZE(devs), 1, &b, &d);
	sg_compile(&m2, devs, ARRAY_SIZE(devs), 0, &other, &d);
	CHECK(a.digest == b.digest, "the digest does not depend on the slot");
	CHECK(a.digest != other.digest, "one changed port changes the digest");
	sg_compiled_free(&b);
	/* A sector device appearing changes it too (it must be attached);
	 * a device that is none of ours does not. */
	sg_compile(&m, devs, 4, 0, &b, &d);	/* before vm1-b appeared */
	CHECK(a.digest != b.digest, "a new sector device changes the digest");
	sg_compiled_free(&b);
	sg_compile(&m, devs, ARRAY_SIZE(devs) - 1, 0, &b, &d);
	CHECK(a.digest == b.digest, "an unrelated device does not");
	sg_compiled_free(&a);
	sg_compiled_free(&b);
	sg_compiled_free(&other);
	sg_model_free(&m);
	sg_model_free(&m2);
	free(changed);
	test_end("the digest tells whether apply has anything to do");
}

/* Which devices take XDP: sg_xdp_wanted, by `xdp:` and the driver. */
static void test_xdp_hook(void)
{
	static const char text[] =
		"version: 1\nhost:\n  uplinks:\n"
		"    - {interface: wan0}\n"
		"    - {interface: wan1, xdp: on}\n"
		"    - {interface: nic0}\n"
		"    - {interface: nic1, xdp: off}\n"
		"sectors:\n"
		"  - {name: a, cidrs: [10.1.0.0/24], interfaces: [va, tapa]}\n"
		"  - {name: b, cidrs: [10.2.0.0/24], interfaces: [vb, tapb, brb], "
		"xdp: on}\n"
		"  - {name: c, cidrs: [10.3.0.0/24], interfaces: [tapc], "
		"xdp: off}\n"
		"  - {name: d, cidrs: [10.4.0.0/24], interfaces: [tapd], "
		"egress: [{destinations: [0.0.0.0/0], interface: zt0}]}\n";
#define NATIVE .xdp_native = true
	static const struct sg_netdev hdevs[] = {
		{ "wan0", 2, 0xc0000201, .veth = true, NATIVE },
		{ "wan1", 3, 0xc0000301, .veth = true, NATIVE },
		{ "nic0", 4, 0xc0000401, NATIVE }, { "nic1", 5, 0xc0000501, NATIVE },
		{ "va", 6, .veth = true, NATIVE }, { "tapa", 7, NATIVE },
		{ "vb", 8, .veth = true, NATIVE }, { "tapb", 9, NATIVE },
		{ "brb", 10 }, { "tapc", 11, NATIVE }, { "tapd", 12, NATIVE },
		{ "zt0", 13, 0x0a000001 },
	};
#undef NATIVE
	static const struct { const char *name; bool xdp, on; } want[] = {
		{ "wan0", false }, { "wan1", true, true }, { "nic0", true },
		{ "nic1", false }, { "va", false }, { "tapa", true },
		{ "vb", true, true }, { "tapb", true, true }, { "brb", false },
		{ "tapc", false }, { "tapd", false },
	};
	/* `xdp:` alone changes nothing in the maps, yet is a change: an
	 * uplink's, and a sector's. */
	static const char *const changes[][2] = {
		{ "{interface: nic1, xdp: off}", "{interface: nic1, xdp: on} " },
		{ "[tapc], xdp: off}", "[tapc], xdp: on} " },
	};
	struct sg_compiled c, c2;
	struct sg_diags d = {};
	struct sg_model m, m2;

	test_begin();
	CHECK(parse(text, &m) == 0, "parse");
	CHECK(sg_compile(&m, hdevs, ARRAY_SIZE(hdevs), 0, &c, &d) == 0,
	      "compile");
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct sg_attach_target *t = NULL;

		for (int k = 0; k < c.ntargets; k++)
			if (!strcmp(c.targets[k].name, want[i].name))
				t = &c.targets[k];
		CHECK(t && t->xdp == want[i].xdp, "%s: %s, want %s",
		      want[i].name, !t ? "no target" : t->xdp ? "XDP" : "tc",
		      want[i].xdp ? "XDP" : "tc");
		CHECK(t && t->xdp_on == want[i].on,
		      "%s: XDP asked for by `xdp: on`: %d, want %d",
		      want[i].name, t && t->xdp_on, want[i].on);
	}
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++) {
		char *changed = strdup(text);

		memcpy(strstr(changed, changes[i][0]), changes[i][1],
		       strlen(changes[i][1]));
		CHECK(parse(changed, &m2) == 0, "parse the changed file");
		CHECK(sg_compile(&m2, hdevs, ARRAY_SIZE(hdevs), 0, &c2, &d) == 0,
		      "compile the changed file");
		CHECK(c.digest != c2.digest, "%s -> %s leaves the digest",
		      changes[i][0], changes[i][1]);
		sg_compiled_free(&c2);
		sg_model_free(&m2);
		free(changed);
	}
	sg_diags_print(stdout, &d);
	sg_diags_free(&d);
	sg_compiled_free(&c);
	sg_model_free(&m);
	test_end("XDP where the driver has it and it keeps the device's "
		 "offloads, tc on a veth");
}

static void test_glob_conflict(void)
{
	static const char two_globs[] =
		"version: 1\nhost: {uplinks: [{interface: wan0}]}\nsectors:\n"
		"  - {name: a, cidrs: [10.1.0.0/24], interfaces: [\"vm*\"]}\n"
		"  - {name: b, cidrs: [10.2.0.0/24], interfaces: [\"vm1-*\"]}\n";
	struct sg_diags d = {};
	struct sg_compiled c;
	struct sg_model m;

	test_begin();
	CHECK(parse(two_globs, &m) == 0, "parse");
	CHECK(sg_compile(&m, devs, ARRAY_SIZE(devs), 0, &c, &d) == -1,
	      "a device claimed by two sectors' globs is refused");
	CHECK(d.n >= 1 && strstr(d.msgs[0], "t.yaml:5:") &&
	      strstr(d.msgs[0], "sectors[1].interfaces[0]") &&
	      strstr(d.msgs[0], "vm1-a"), "message: %s", d.n ? d.msgs[0] : "");
	sg_diags_free(&d);
	sg_compiled_free(&c);
	sg_model_free(&m);
	test_end("two globs claiming one device are an error");
}

/*
 * The same for an apply a device change starts under `run`: the
 * contested devices are left unattached and said, every other one is
 * attached, and a glob matching the uplink leaves it the uplink.
 */
static void test_glob_conflict_left(void)
{
	static const char defs[] =
		"version: 1\nhost: {uplinks: [{interface: wan0}]}\nsectors:\n"
		"  - {name: a, cidrs: [10.1.0.0/24], interfaces: [\"vm*\"]}\n"
		"  - {name: b, cidrs: [10.2.0.0/24], interfaces: [\"vm1-*\"]}\n"
		"  - {name: c, cidrs: [10.3.0.0/24], "
		"interfaces: [\"tap*\", \"wan*\"]}\n";
	const struct sg_attach_target *t;
	struct sg_diags d = {};
	struct sg_compiled c;
	struct sg_model m;

	test_begin();
	CHECK(parse(defs, &m) == 0, "parse");
	CHECK(sg_compile_flags(&m, devs, ARRAY_SIZE(devs), 0,
			       SG_COMPILE_LEAVE_CONTESTED, &c, &d) == 0,
	      "refused: %s", d.n ? d.msgs[0] : "");
	CHECK(!sg_compiled_target(&c, 4) && !sg_compiled_target(&c, 5),
	      "vm1-a or vm1-b attached");
	t = sg_compiled_target(&c, 6);
	CHECK(t && t->role == SG_ROLE_SECTOR && t->sector == 3,
	      "tap2 not attached to c");
	t = sg_compiled_target(&c, 2);
	CHECK(t && t->role == SG_ROLE_UPLINK, "wan0 is no longer the uplink");
	CHECK(c.contested.n == 3, "%d contested, want 3", c.contested.n);
	CHECK(c.contested.n == 3 &&
	      strstr(c.contested.msgs[0], "t.yaml:4:") &&
	      strstr(c.contested.msgs[0], "sectors[0].interfaces[0]") &&
	      strstr(c.contested.msgs[0], "device vm1-a") &&
	      strstr(c.contested.msgs[0], "sector b: attached to neither") &&
	      strstr(c.contested.msgs[1], "device vm1-b") &&
	      strstr(c.contested.msgs[2], "\"wan*\" matches device wan0, "
		     "which is already claimed: the glob leaves it"),
	      "messages: %s | %s | %s", c.contested.n > 0 ? c.contested.msgs[0] : "",
	      c.contested.n > 1 ? c.contested.msgs[1] : "",
	      c.contested.n > 2 ? c.contested.msgs[2] : "");
	sg_diags_print(stdout, &d);
	sg_diags_free(&d);
	sg_compiled_free(&c);
	sg_model_free(&m);
	test_end("under run, a device two globs claim is left unattached, "
		 "the rest attached");
}

static __u32 counters_of(const struct sg_compiled *c, uint16_t id)
{
	for (int i = 0; i < c->nsectors; i++)
		if (c->sectors[i].k.id == id)
			return c->sectors[i].v.counters;
	return 0;
}

static void test_counters(void)
{
	/* Running: vm1 (id 1) at entry 5, id 9 (gone now) at 1, vm3 (id 8)
	 * claims an entry out of range. */
	static const struct sg_counter_slot live[] = {
		{ 1, 5 }, { 9, 1 }, { 8, SG_COUNTER_ENTRIES },
	};
	struct sg_diags d = {};
	struct sg_compiled c;
	struct sg_model m;

	test_begin();
	CHECK(parse(defs, &m) == 0, "parse");
	sg_compile(&m, devs, ARRAY_SIZE(devs), 0, &c, &d);
	sg_compile_counters(&c, live, ARRAY_SIZE(live));
	CHECK(counters_of(&c, 1) == 5, "vm1 keeps entry 5: %u",
	      counters_of(&c, 1));
	/* vm2 (id 7), vm3 (id 3), vm4 (id 4) take 1, 2, 3 in order. */
	CHECK(counters_of(&c, 7) == 1 && counters_of(&c, 3) == 2 &&
	      counters_of(&c, 4) == 3, "new sectors take the lowest free "
	      "entries: %u %u %u", counters_of(&c, 7), counters_of(&c, 3),
	      counters_of(&c, 4));
	CHECK(c.nfresh == 3 && c.fresh_counters[0] == 1 &&
	      c.fresh_counters[1] == 2 && c.fresh_counters[2] == 3,
	      "and only those are listed to be zeroed (%d)", c.nfresh);
	CHECK(device(&c, 4)->counters == 5 && device(&c, 6)->counters == 1 &&
	      device(&c, 2)->counters == 0,
	      "devices carry their sector's entry, uplinks none");
	sg_compiled_free(&c);
	sg_model_free(&m);
	test_end("counter entries: kept by sectors that go on, new ones take "
		 "the lowest free and are zeroed");
}

/* The ids of m's sectors, "name=id ..." */
static const char *ids_of(const struct sg_model *m)
{
	static char buf[256];
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < m->nsectors && n < sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s=%u", i ? " " : "",
			      m->sectors[i].name, m->sectors[i].id);
	return buf;
}

/* ids_after(file, live, nlive, above): the ids the file's sectors take,
 * running beside live, above ids earlier applies gave. */
static const char *ids_after(const char *sectors,
			     const struct sg_sector_id *live, int nlive,
			     uint32_t above)
{
	static char buf[512];
	struct sg_diags d = {};
	char text[1024];
	struct sg_model m;

	snprintf(text, sizeof(text), "version: 1\nhost: {uplinks: "
		 "[{interface: wan0}]}\nsectors:\n%s", sectors);
	if (parse(text, &m)) {
		sg_model_free(&m);
		return "(invalid)";
	}
	if (sg_model_keep_ids(&m, live, nlive, above, &d))
		snprintf(buf, sizeof(buf), "%s", d.n ? d.msgs[0] : "(refused)");
	else
		snprintf(buf, sizeof(buf), "%s", ids_of(&m));
	sg_diags_free(&d);
	sg_model_free(&m);
	return buf;
}

#define SECTOR(name, net) \
	"  - {name: " name ", cidrs: [" net "], interfaces: [t-" name "]}\n"
#define SECTOR_ID(name, id, net) \
	"  - {name: " name ", id: " id ", cidrs: [" net "], " \
	"interfaces: [t-" name "]}\n"

static void test_kept_ids(void)
{
	static const struct sg_sector_id live[] = {
		{ "sa", 1 }, { "sb", 2 }, { "s4", 3 }, { "s5", 4 },
	};
	static const struct sg_sector_id live_after[] = {	/* sb, s5 gone */
		{ "sa", 1 }, { "s4", 3 },
	};
	const char *got;

	test_begin();
	got = ids_after(SECTOR("sa", "10.1.0.0/24") SECTOR("sb", "10.2.0.0/24")
			SECTOR("s4", "10.4.0.0/24"), NULL, 0, 0);
	CHECK(!strcmp(got, "sa=1 sb=2 s4=3"), "nothing running: positions (%s)",
	      got);
	got = ids_after(SECTOR("sa", "10.1.0.0/24") SECTOR("s4", "10.4.0.0/24")
			SECTOR("s5", "10.4.0.0/24"), live, ARRAY_SIZE(live), 4);
	CHECK(!strcmp(got, "sa=1 s4=3 s5=4"),
	      "sb deleted: the others keep theirs (%s)", got);
	got = ids_after(SECTOR("s5", "10.4.0.0/24") SECTOR("s4", "10.4.0.0/24")
			SECTOR("sa", "10.1.0.0/24"), live, ARRAY_SIZE(live), 4);
	CHECK(!strcmp(got, "s5=4 s4=3 sa=1"), "reordered: the same (%s)", got);
	got = ids_after(SECTOR("sa", "10.1.0.0/24") SECTOR("new", "10.9.0.0/24")
			SECTOR("s4", "10.4.0.0/24"), live, ARRAY_SIZE(live), 4);
	CHECK(!strcmp(got, "sa=1 new=5 s4=3"),
	      "a new sector in sb's place takes none of the running ids (%s)",
	      got);
	got = ids_after(SECTOR_ID("sa", "3", "10.1.0.0/24")
			SECTOR("s4", "10.4.0.0/24"), live, ARRAY_SIZE(live), 4);
	CHECK(strstr(got, "t.yaml:4:") && strstr(got, "sectors[0].id: 3 is the "
		     "id sector \"s4\" runs with"),
	      "an id the file gives to sa while s4 runs with it is refused, "
	      "at sa's id (%s)", got);
	got = ids_after(SECTOR("s4", "10.4.0.0/24")
			SECTOR_ID("s7", "2", "10.7.0.0/24"), live, ARRAY_SIZE(live), 4);
	CHECK(!strcmp(got, "s4=3 s7=2"),
	      "a removed sector's id, given in the file, is the operator's "
	      "to give (%s)", got);
	/* sb (2) was removed by an earlier apply: its flows may still be
	 * in the table. */
	got = ids_after(SECTOR("sa", "10.1.0.0/24") SECTOR("new", "10.9.0.0/24")
			SECTOR("s4", "10.4.0.0/24"), live_after, 2, 4);
	CHECK(!strcmp(got, "sa=1 new=5 s4=3"),
	      "nor a sector removed earlier (%s)", got);
	got = ids_after(SECTOR("sa", "10.1.0.0/24") SECTOR("s4", "10.4.0.0/24")
			SECTOR("s5", "10.4.0.0/24") SECTOR("s6", "10.6.0.0/24"),
			live_after, 2, 4);
	CHECK(!strcmp(got, "sa=1 s4=3 s5=5 s6=6"),
	      "a new one at the end above the highest given (%s)", got);
	test_end("default ids: a sector keeps its running id, whatever its "
		 "position; new ones take none given before");
}

/*
 * The map table is the one list of maps: every map of the BPF object is in
 * it (or is one of the programs' own, unpinned), and docs/MAPS.md has a
 * row for each.
 */
static void test_map_table(void)
{
	static const char *const unpinned[] = {
		"sg_csum_scratch", "sg_device_recent", "sg_flow_scratch",
	};
	struct sectorgate_bpf *skel = sectorgate_bpf__open();
	char doc[32768] = "", row[64];
	struct bpf_map *map;
	FILE *f = fopen("docs/MAPS.md", "r");
	int n = 0;

	test_begin();
	CHECK(f && fread(doc, 1, sizeof(doc) - 1, f) > 0, "docs/MAPS.md");
	if (f)
		fclose(f);
	for (int i = 0; i < sg_nmaps; i++) {
		snprintf(row, sizeof(row), "| `%s` |", sg_map_table[i].name);
		CHECK(strstr(doc, row), "docs/MAPS.md has no row for %s",
		      sg_map_table[i].name);
	}
	CHECK(skel, "the BPF object opens");
	if (skel) {
		bpf_object__for_each_map(map, skel->obj) {
			const char *name = bpf_map__name(map);
			const struct sg_map_desc *d = sg_map_desc_of(name);
			bool known = d || strchr(name, '.');

			for (size_t i = 0; i < ARRAY_SIZE(unpinned); i++)
				known |= !strcmp(name, unpinned[i]);
			CHECK(known, "map %s is in no list", name);
			if (!d)
				continue;
			n++;
			CHECK(bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF ||
			      (bpf_map__key_size(map) == d->key_size &&
			       bpf_map__value_size(map) == d->value_size),
			      "%s: the table says %u/%u bytes, the object "
			      "%u/%u", name, d->key_size, d->value_size,
			      bpf_map__key_size(map), bpf_map__value_size(map));
		}
		sectorgate_bpf__destroy(skel);
	}
	CHECK(n == sg_nmaps, "%d of the table's %d maps are in the object", n,
	      sg_nmaps);
	test_end("one table of the maps: the BPF object's and docs/MAPS.md's");
}

/*
 * The sweep of sg_model_overlaps() against every pair compared, on random
 * sectors of random CIDRs (nested, identical, disjoint).
 */
static void test_overlaps(void)
{
	struct sg_sector_def secs[40] = {};
	struct sg_cidr cidrs[40][4];
	struct sg_model m = { .sectors = secs, .nsectors = 40 };
	uint32_t seed = 12345;

	test_begin();
	for (int round = 0; round < 200 && !sg_t_bad; round++) {
		for (int s = 0; s < m.nsectors; s++) {
			secs[s].cidrs = cidrs[s];
			secs[s].ncidrs = 1 + (seed = seed * 1103515245 + 12345) % 4;
			for (int i = 0; i < secs[s].ncidrs; i++) {
				struct sg_cidr *c = &cidrs[s][i];

				seed = seed * 1103515245 + 12345;
				c->plen = 20 + (seed >> 8) % 9;
				c->addr = (0x0a000000 | ((seed >> 4) & 0xff) << 12) &
					  sg_cidr_mask(c->plen);
			}
		}
		sg_model_overlaps(&m);
		for (int s = 0; s < m.nsectors; s++) {
			bool any = false;

			for (int i = 0; i < secs[s].ncidrs; i++) {
				bool shared = false;

				for (int o = 0; o < m.nsectors; o++)
					for (int j = 0; o != s && j < secs[o].ncidrs; j++)
						shared |= sg_cidr_overlap(&cidrs[s][i],
									  &cidrs[o][j]);
				CHECK(cidrs[s][i].shared == shared,
				      "round %d: sector %d cidr %d", round, s, i);
				any |= shared;
			}
			CHECK(any == (secs[s].overlaps >= 0) &&
			      secs[s].overlaps != s, "round %d: sector %d", round,
			      s);
		}
	}
	test_end("which CIDRs overlap another sector's: the sweep agrees "
		 "with every pair compared");
}

/*
 * Flows of layout 1 (loader/flows_v1.h) converted to today's: a masqueraded
 * flow's two entries and one between sectors keep what they mean, and a
 * converted reply entry still leads to its primary.
 */
static void test_flow_v1(void)
{
	static const __u8 vm[6] = { 2, 0, 0, 0, 0, 2 }, gw[6] = { 2, 0, 0, 0, 0, 1 };
	struct sg_flow_key ok = { .saddr = htonl(0x0a010002),
				  .daddr = htonl(0xcb007105),
				  .sport = htons(5000), .dport = htons(443),
				  .proto = 6, .zone = 1 }, rk, back;
	struct sg_flow_v1 o = { .expires_ns = 77, .peer_zone = 0, .dir = 0,
				.state = SG_FLOW_ESTABLISHED,
				.nat = SG_NAT_SNAT, .flags = 3, .counters = 4,
				.nat_addr = htonl(0xc0000201),
				.nat_port = htons(40001), .fwd_mtu = 1500,
				.ifindex = 9, .fwd_generation = 5,
				.fwd_checked = 6, .fwd_ifindex = 12 };
	struct sg_flow_v1 r = { .expires_ns = 88, .peer_zone = 1,
				.dir = SG_FLOW_REPLY, .nat = SG_NAT_SNAT,
				.counters = 4, .nat_addr = ok.saddr,
				.nat_port = ok.sport };
	struct sg_flow n, m;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, sizeof(ok),
				sizeof(o), 4, NULL);

	test_begin();
	memcpy(o.vm_mac, vm, 6);
	memcpy(o.gw_mac, gw, 6);
	memcpy(o.fwd_dmac, gw, 6);
	CHECK(fd >= 0, "a map for the primary (root)");
	if (fd < 0)
		goto out;
	bpf_map_update_elem(fd, &ok, &o, BPF_ANY);
	sg_flow_from_v1(fd, &ok, &o, &n);
	CHECK(n.dir == SG_FLOW_ORIG && n.state == SG_FLOW_ESTABLISHED &&
	      n.nat == SG_NAT_SNAT && n.expires_ns == 77 && n.counters == 4 &&
	      n.in_ifindex == 9 && n.flags == SG_FLOW_REV_XDP &&
	      n.xlate.saddr == o.nat_addr && n.xlate.sport == o.nat_port &&
	      n.xlate.daddr == ok.daddr && n.xlate.dport == ok.dport &&
	      n.kept.ifindex == 12 && n.kept.mtu == 1500 &&
	      n.kept.generation == 5 && !memcmp(n.kept.dmac, gw, 6),
	      "the primary");
	sg_flow_snat_reply_key(&rk, &ok, o.nat_addr, o.nat_port);
	sg_flow_from_v1(fd, &rk, &r, &m);
	CHECK(m.dir == SG_FLOW_REPLY && m.expires_ns == 88 &&
	      m.peer_zone == 1 && m.xlate.daddr == ok.saddr &&
	      m.xlate.dport == ok.sport && (m.flags & SG_FLOW_L2_KNOWN) &&
	      !m.kept.ifindex && !memcmp(m.kept.dmac, vm, 6) &&
	      !memcmp(m.kept.smac, gw, 6),
	      "the reply entry, with the MACs its primary learnt");
	sg_flow_primary_key(&back, &rk, &m);
	CHECK(!memcmp(&back, &ok, sizeof(ok)) &&
	      sg_flow_reply_belongs(&rk, &m, &n), "which leads to the primary");
	o.nat = r.nat = SG_NAT_NONE;
	o.peer_zone = 2;
	sg_flow_from_v1(fd, &ok, &o, &n);
	CHECK(!memcmp(&n.xlate, &(struct sg_flow_xlate){ ok.saddr, ok.daddr,
		      ok.sport, ok.dport }, sizeof(n.xlate)),
	      "between sectors nothing is translated");
	close(fd);
out:
	test_end("flows of layout 1 convert to today's, each field meaning "
		 "one thing");
}

static uint32_t rnd32(uint32_t *seed)
{
	*seed = *seed * 1103515245 + 12345;
	return *seed >> 4;
}

/* A prefix of a small universe, so that prefixes nest and overlap. */
static struct sg_cidr random_cidr(uint32_t *seed)
{
	static const uint8_t plens[] = { 0, 8, 12, 16, 20, 24, 28, 32 };
	struct sg_cidr c = { .plen = plens[rnd32(seed) % 8] };

	c.addr = (0x0a000000 | (rnd32(seed) & 0x3f) << 18 |
		  (rnd32(seed) & 0x3f) << 8 | (rnd32(seed) & 0x3)) &
		 sg_cidr_mask(c.plen);
	return c;
}

/* An address near those prefixes. */
static uint32_t random_addr(uint32_t *seed)
{
	if (rnd32(seed) % 8 == 0)
		return rnd32(seed) * 2654435761u;	/* anywhere */
	return 0x0a000000 | (rnd32(seed) & 0x3f) << 18 |
	       (rnd32(seed) & 0x3f) << 8 | (rnd32(seed) & 0x3);
}

/*
 * What the datapath (sg_egress_policy_of) finds in the map entries c
 * holds for sector id: the longest prefix of sg_egress_nets holding a,
 * its first rule that matches, and that policy's sg_egress_policies
 * entry. The policy's index, -1 for none, -2 for a rule naming no entry.
 */
static int map_lookup(const struct sg_compiled *c, uint16_t id, uint32_t a,
		      uint8_t proto, uint16_t dport)
{
	const struct sg_egress_match *best = NULL;
	uint32_t best_len = 0, be = htonl(a);

	for (int i = 0; i < c->negress_nets; i++) {
		const struct sg_net_key *k = &c->egress_nets[i].k;
		struct sg_cidr cidr = { .plen = k->prefixlen - 32 };
		uint32_t addr;

		memcpy(&addr, k->addr, 4);
		cidr.addr = ntohl(addr);
		if (k->sector != id || !sg_cidr_contains(&cidr, ntohl(be)))
			continue;
		if (!best || k->prefixlen > best_len) {
			best = &c->egress_nets[i].v;
			best_len = k->prefixlen;
		}
	}
	for (uint32_t r = 0; best && r < best->count; r++) {
		const struct sg_allow_rule *ru = &best->rules[r];
		bool any_port = ru->port_lo == 0 && ru->port_hi == 0xffff;

		if (ru->proto && ru->proto != proto)
			continue;
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP ? !any_port :
		    dport < ru->port_lo || dport > ru->port_hi)
			continue;
		for (int p = 0; p < c->negress_policies; p++)
			if (c->egress_policies[p].k.sector == id &&
			    c->egress_policies[p].k.policy == best->policy[r])
				return best->policy[r];
		return -2;
	}
	return -1;
}

/*
 * The egress compiler as a property: for random ordered policy lists
 * (nested and overlapping destinations, excepts, protocols, ports) and
 * random packets, the compiled table's longest-prefix answer is the
 * policy that evaluating the list in order finds first, and so is the
 * answer of the map entries sg_compile writes for the datapath.
 */
static void test_egress_property(void)
{
	static const uint8_t protos[] = { 0, IPPROTO_TCP, IPPROTO_UDP,
					  IPPROTO_ICMP };
	static const uint16_t dports[] = { 22, 53, 80, 443, 6333, 8000, 8080 };
	struct sg_egress_def pol[6];
	struct sg_cidr dests[6][3], except[6][2];
	struct sg_port_range ports[6][2];
	struct sg_sector_def s = { .name = "vm1", .id = 1, .egress = pol };
	struct sg_model m = { .file = "t.yaml", .sectors = &s, .nsectors = 1 };
	uint32_t seed = 777;
	int lists = 0, packets = 0, refused = 0, steered = 0;

	test_begin();
	for (int round = 0; round < 3000 && !sg_t_bad; round++) {
		struct sg_egress_prefix *t = NULL;
		const struct sg_pos *pos;
		int nt;

		memset(pol, 0, sizeof(pol));
		s.negress = 1 + rnd32(&seed) % 6;
		for (int i = 0; i < s.negress; i++) {
			struct sg_egress_def *e = &pol[i];

			e->dests = dests[i];
			e->ndests = 1 + rnd32(&seed) % 3;
			for (int k = 0; k < e->ndests; k++)
				dests[i][k] = random_cidr(&seed);
			e->except = except[i];
			e->nexcept = rnd32(&seed) % 3;
			for (int k = 0; k < e->nexcept; k++)
				except[i][k] = random_cidr(&seed);
			e->proto = protos[rnd32(&seed) % 4];
			e->ports = ports[i];
			e->nports = e->proto == IPPROTO_ICMP ? 0 :
				    rnd32(&seed) % 3;
			for (int k = 0; k < e->nports; k++) {
				uint16_t lo = dports[rnd32(&seed) % 7];

				ports[i][k] = (struct sg_port_range){
					lo, lo + rnd32(&seed) % 3 * 1000 };
			}
		}
		struct sg_compiled c;
		struct sg_diags d = {};

		if (sg_egress_compile(&s, &t, &nt, &pos)) {
			refused++;
			continue;
		}
		lists++;
		CHECK(sg_compile(&m, NULL, 0, 0, &c, &d) == 0,
		      "round %d: sg_compile refused the list", round);
		for (int k = 0; k < 300; k++) {
			uint32_t a = random_addr(&seed);
			uint8_t proto = protos[1 + rnd32(&seed) % 3];
			uint16_t dport = dports[rnd32(&seed) % 7] +
					 rnd32(&seed) % 2;
			int want = sg_egress_eval(&s, a, proto, dport);
			int got = sg_egress_lookup(t, nt, a, proto, dport);
			int in_maps = map_lookup(&c, 1, a, proto, dport);

			packets++;
			steered += want >= 0;
			CHECK(got == want, "round %d: %08x proto %u port %u: "
			      "table says %d, the list %d", round, a, proto,
			      dport, got, want);
			CHECK(in_maps == want, "round %d: %08x proto %u port "
			      "%u: the maps say %d, the list %d", round, a,
			      proto, dport, in_maps, want);
		}
		free(t);
		sg_compiled_free(&c);
		sg_diags_free(&d);
	}
	printf("    %d lists (%d over the rule limit), %d packets, %d of "
	       "them steered\n", lists, refused, packets, steered);
	CHECK(steered > packets / 10 && steered < packets - packets / 10,
	      "the packets hardly test anything: %d of %d steered", steered,
	      packets);
	test_end("egress: the compiled table and the map entries answer as "
		 "the ordered list (first match, excepts, proto, ports)");
}

/* The longest of the n prefixes holding a, or kind 0: what the LPM trie
 * sg_dest_nets answers. */
static struct sg_dest longest(const struct sg_dest_prefix *x, int n,
			      uint32_t a)
{
	struct sg_dest best = {};
	int plen = -1;

	for (int i = 0; i < n; i++)
		if (x[i].plen > plen &&
		    !((a ^ x[i].addr) & sg_cidr_mask(x[i].plen))) {
			plen = x[i].plen;
			best = x[i].v;
		}
	return best;
}

/*
 * The strides (sg_dest_top, sg_dest_chunks) answer for every address what
 * the longest prefix answers: random sets of nested and overlapping
 * prefixes of every length, addresses near them and on their edges.
 */
static void test_dest_strides(void)
{
	struct sg_dest_prefix x[64];
	struct sg_dest_strides s;
	uint32_t seed = 4242;

	test_begin();
	for (int round = 0; round < 2000 && !sg_t_bad; round++) {
		int n = 1 + rnd32(&seed) % 64;

		for (int i = 0; i < n; i++) {
			struct sg_cidr c = random_cidr(&seed);
			bool dup;

			/* Any length, the short ones rarer. */
			c.plen = rnd32(&seed) % 4 ? 16 + rnd32(&seed) % 17 :
						    rnd32(&seed) % 33;
			c.addr &= sg_cidr_mask(c.plen);
			x[i] = (struct sg_dest_prefix){
				.addr = c.addr, .plen = c.plen,
				.v = { .sector = rnd32(&seed) % 1000,
				       .kind = 1 + rnd32(&seed) % 6 },
			};
			dup = false;
			for (int j = 0; j < i; j++)
				dup |= x[j].plen == c.plen && x[j].addr == c.addr;
			if (dup)
				i--;
		}
		CHECK(!sg_dest_strides_build(&s, x, n),
		      "round %d: %d prefixes fit", round, n);
		CHECK(s.nchunks == 1 + sg_dest_chunks_of(x, n),
		      "round %d: %d chunks, %d counted", round, s.nchunks - 1,
		      sg_dest_chunks_of(x, n));
		for (int k = 0; k < 400 && !sg_t_bad; k++) {
			uint32_t a = random_addr(&seed);
			struct sg_dest want, got;

			/* The first and last address of a prefix, and
			 * their neighbours. */
			if (k % 4 == 0) {
				const struct sg_dest_prefix *p = &x[k / 4 % n];

				a = p->addr + (k & 8 ? ~sg_cidr_mask(p->plen) : 0) +
				    (int)(rnd32(&seed) % 3) - 1;
			}
			want = longest(x, n, a);
			got = sg_dest_strides_find(&s, a);
			CHECK(got.kind == want.kind &&
			      (!want.kind || got.sector == want.sector),
			      "round %d, %u.%u.%u.%u: kind %u sector %u, want "
			      "kind %u sector %u", round, a >> 24,
			      a >> 16 & 0xff, a >> 8 & 0xff, a & 0xff, got.kind,
			      got.sector, want.kind, want.sector);
		}
		sg_dest_strides_free(&s);
	}
	/* What validation keeps out: more chunks than the map holds. */
	{
		int most = SG_MAX_DEST_CHUNKS - 1;
		struct sg_dest_prefix *many = calloc(most + 1, sizeof(*many));

		for (int i = 0; i <= most; i++)
			many[i] = (struct sg_dest_prefix){
				.addr = 0x0a000000 + ((uint32_t)i << 16),
				.plen = 24, .v = { .kind = SG_DEST_SECTOR },
			};
		CHECK(!sg_dest_strides_build(&s, many, most) &&
		      s.nchunks == SG_MAX_DEST_CHUNKS, "%d /16s split", most);
		sg_dest_strides_free(&s);
		CHECK(sg_dest_strides_build(&s, many, most + 1),
		      "one more is not");
		sg_dest_strides_free(&s);
		free(many);
	}
	test_end("sg_dest_top and sg_dest_chunks answer what the longest prefix "
		 "of sg_dest_nets does (2000 random sets, 800000 addresses)");
}

int main(void)
{
	test_dest_strides();
	test_egress_property();
	test_map_table();
	test_flow_v1();
	test_overlaps();
	test_entries();
	test_counters();
	test_kept_ids();
	test_digest();
	test_glob_conflict();
	test_glob_conflict_left();
	test_xdp_hook();
	return test_summary("test_compile");
}
