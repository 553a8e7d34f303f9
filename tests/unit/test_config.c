// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The definitions parser: a complete file parses into the model, and every
 * kind of mistake is reported at its line and column with its field.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "compile.h"
#include "config.h"
#include "netdev.h"
#include "sg_test.h"
#include "util.h"

#define BASE_HOST "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"

struct bad_case {
	const char *name;
	const char *yaml;
	const char *expect;	/* a substring of one message */
};

static const struct bad_case bad_cases[] = {
	{ "syntax error, named by its field",
	  "version: 1\nhost: [wan0\nsectors: []\n",
	  "t.yaml:3:8: host: did not find expected ',' or ']'" },
	{ "syntax error in a sector's list",
	  BASE_HOST "sectors:\n  - name: vm1\n    cidrs: [10.1.0.0/24\n"
	  "    interfaces: [v1]\n",
	  "t.yaml:8:15: sectors[0].cidrs: did not find expected ',' or ']'" },
	{ "syntax error in a flow mapping",
	  BASE_HOST "sectors:\n  - name: a\n  - name: b\n    allow:\n"
	  "      - {sector: a, proto: tcp\n    cidrs: [10.2.0.0/24]\n",
	  "sectors[1].allow[0]: did not find expected ',' or '}'" },
	{ "syntax error in a scalar",
	  BASE_HOST "sectors:\n  - name: \"vm1\n",
	  "sectors[0].name: found unexpected end of stream" },
	{ "syntax error at the top: no field",
	  "version: 1\n  host: x\n",
	  "t.yaml:2:7: mapping values are not allowed" },
	{ "empty file", "", "t.yaml:1:1: the file is empty" },
	{ "unknown top-level key",
	  BASE_HOST "sectors: []\ncolour: blue\n",
	  "t.yaml:6:1: colour: unknown key \"colour\"" },
	{ "unsupported version",
	  "version: 2\nhost:\n  uplinks:\n    - interface: wan0\nsectors: []\n",
	  "t.yaml:1:10: version: version 2 is not supported" },
	{ "missing uplinks",
	  "version: 1\nhost:\n  protected: []\nsectors: []\n",
	  "t.yaml:3:3: host.uplinks: is required" },
	{ "missing sectors", BASE_HOST, "t.yaml:1:1: sectors: is required" },
	{ "uplink listed twice",
	  BASE_HOST "    - interface: wan0\nsectors: []\n",
	  "t.yaml:5:18: host.uplinks[1].interface: \"wan0\" is already "
	  "host.uplinks[0]" },
	{ "CIDR prefix too long",
	  BASE_HOST "sectors:\n  - name: vm1\n    cidrs: [10.1.0.0/33]\n"
	  "    interfaces: [tap1]\n",
	  "t.yaml:7:13: sectors[0].cidrs[0]: \"10.1.0.0/33\" is not an IPv4 CIDR" },
	{ "CIDR with host bits",
	  BASE_HOST "sectors:\n  - name: vm1\n    cidrs: [10.1.0.5/24]\n"
	  "    interfaces: [tap1]\n",
	  "t.yaml:7:13: sectors[0].cidrs[0]: \"10.1.0.5/24\" has host bits set" },
	{ "cidrs not a list",
	  BASE_HOST "sectors:\n  - name: vm1\n    cidrs: 10.1.0.0/24\n"
	  "    interfaces: [tap1]\n",
	  "t.yaml:7:12: sectors[0].cidrs: expected a list" },
	{ "bad sector name",
	  BASE_HOST "sectors:\n  - name: VM_1\n    cidrs: [10.1.0.0/24]\n"
	  "    interfaces: [tap1]\n",
	  "t.yaml:6:11: sectors[0].name: \"VM_1\" is not a sector name" },
	{ "id out of range",
	  BASE_HOST "sectors:\n  - name: vm1\n    id: 70000\n"
	  "    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n",
	  "t.yaml:7:9: sectors[0].id: 70000 is out of range 1-65535" },
	{ "negative id",
	  BASE_HOST "sectors:\n  - name: vm1\n    id: -5\n"
	  "    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n",
	  "t.yaml:7:9: sectors[0].id: -5 is out of range 1-65535" },
	{ "duplicate name",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "  - name: vm1\n    cidrs: [10.2.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:9:11: sectors[1].name: \"vm1\" is already the name of sectors[0]" },
	{ "duplicate id",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "  - name: vm2\n    id: 1\n    cidrs: [10.2.0.0/24]\n"
	  "    interfaces: [tap2]\n",
	  "t.yaml:10:9: sectors[1].id: 1 is already the id of sectors[0]" },
	{ "interface listed twice",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "  - name: vm2\n    cidrs: [10.2.0.0/24]\n"
	  "    interfaces: [tap2, tap1]\n",
	  "t.yaml:11:24: sectors[1].interfaces[1]: \"tap1\" is already listed as "
	  "sectors[0].interfaces[0]" },
	{ "sector interface is the uplink",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [wan0]\n",
	  "t.yaml:8:18: sectors[0].interfaces[0]: \"wan0\" is already listed as "
	  "host.uplinks[0]" },
	{ "allow names an unknown sector",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm9\n",
	  "t.yaml:10:17: sectors[0].allow[0].sector: there is no sector \"vm9\"" },
	{ "allow names its own sector",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm1\n",
	  "sectors[0].allow[0].sector: \"vm1\" is this sector itself" },
	{ "allow names an overlapping sector",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm2\n"
	  "  - name: vm2\n    cidrs: [10.2.0.0/24]\n    interfaces: [tap2]\n"
	  "  - name: vm3\n    cidrs: [10.2.0.0/16]\n    interfaces: [tap3]\n",
	  "t.yaml:10:17: sectors[0].allow[0].sector: the CIDRs of \"vm2\" overlap "
	  "those of \"vm3\"" },
	{ "allow with a bad protocol",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm2\n        proto: sctp\n"
	  "  - name: vm2\n    cidrs: [10.2.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:11:16: sectors[0].allow[0].proto: \"sctp\" is not tcp, udp, "
	  "icmp or any" },
	{ "xdp neither auto, on nor off",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    xdp: native\n",
	  "t.yaml:9:10: sectors[0].xdp: \"native\" is not auto, on or off" },
	{ "xdp on for a steered sector",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    xdp: on\n    egress:\n      - destinations: [0.0.0.0/0]\n"
	  "        interface: zt0\n",
	  "t.yaml:9:10: sectors[0].xdp: on: a sector with egress policies is "
	  "judged at tc ingress" },
	{ "reversed port range",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm2\n        ports: [\"9000-8000\"]\n"
	  "  - name: vm2\n    cidrs: [10.2.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:11:17: sectors[0].allow[0].ports[0]: \"9000-8000\" is an empty "
	  "(reversed) port range" },
	{ "icmp with ports",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm2\n        proto: icmp\n"
	  "        ports: [1]\n"
	  "  - name: vm2\n    cidrs: [10.2.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:10:9: sectors[0].allow[0]: icmp has no ports" },
	{ "too many allow rules",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow:\n      - sector: vm2\n"
	  "        ports: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n"
	  "  - name: vm2\n    cidrs: [10.2.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:10:9: sectors[0].allow[0]: more than 16 rules" },
	{ "trusted device reaches overlapping sectors",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  trusted:\n    - interface: ts0\nsectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow-from: [ts0]\n"
	  "  - name: vm2\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap2]\n"
	  "    allow-from: [ts0]\n",
	  "t.yaml:15:18: sectors[1].allow-from[0]: \"ts0\" also reaches sector "
	  "\"vm1\"" },
	{ "allow-from names no trusted device",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow-from: [tailscale0]\n",
	  "t.yaml:9:18: sectors[0].allow-from[0]: \"tailscale0\" is neither a "
	  "host.trusted interface nor a CIDR" },
	{ "forward outside the sector",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    forwards:\n      - proto: tcp\n        port: 2201\n"
	  "        to: 10.9.0.2:22\n",
	  "t.yaml:12:13: sectors[0].forwards[0].to: 10.9.0.2 is not inside the "
	  "CIDRs of sector \"vm1\"" },
	{ "forward port taken twice",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    forwards:\n      - {proto: tcp, port: 2201, to: 10.1.0.2:22}\n"
	  "      - {proto: tcp, port: 2201, to: 10.1.0.3:22}\n",
	  "t.yaml:11:9: sectors[0].forwards[1].port: port 2201 is already "
	  "forwarded by sectors[0].forwards[0]" },
	{ "reversed nat-ports",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  nat-ports: 60999-32768\nsectors: []\n",
	  "t.yaml:5:14: host.nat-ports: \"60999-32768\" is an empty (reversed) "
	  "port range" },
	{ "not a boolean",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    internet: maybe\n",
	  "t.yaml:9:15: sectors[0].internet: \"maybe\" is not true or false" },
	{ "misspelt sector key",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interface: [tap1]\n",
	  "t.yaml:8:5: sectors[0].interface: unknown key \"interface\"" },
	{ "bad snat address",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "      snat-address: 192.0.2\nsectors: []\n",
	  "t.yaml:5:21: host.uplinks[0].snat-address: \"192.0.2\" is not an "
	  "IPv4 address" },
	{ "uplink xdp neither auto, on nor off",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "      xdp: yes\nsectors: []\n",
	  "t.yaml:5:12: host.uplinks[0].xdp: \"yes\" is not auto, on or off" },
	{ "protected overlaps a sector",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  protected: [10.0.0.0/8]\nsectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n",
	  "t.yaml:5:15: host.protected[0]: overlaps sectors[0].cidrs[0]" },
	{ "bad imds target",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  imds:\n    target: 169.254.169.254\nsectors: []\n",
	  "t.yaml:6:13: host.imds.target: \"169.254.169.254\" is not an IPv4 "
	  "address:port" },
	{ "NUL byte in a key",
	  BASE_HOST "  \"nat-ports\\0x\": 40000-40100\nsectors: []\n",
	  "t.yaml:5:3: host: expected a key; \"nat-ports\\0...\" holds a NUL "
	  "byte" },
	{ "NUL byte in a value",
	  BASE_HOST "sectors:\n  - name: \"vm1\\0x\"\n"
	  "    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n",
	  "t.yaml:6:11: sectors[0].name: expected a sector name; \"vm1\\0...\" "
	  "holds a NUL byte" },
	{ "key given twice",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    name: vm2\n    cidrs: [10.1.0.0/24]\n"
	  "    interfaces: [tap1]\n",
	  "t.yaml:7:5: sectors[0].name: \"name\" is given twice" },
	{ "allow-from a CIDR of a sector",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow-from: [10.0.0.0/8]\n",
	  "t.yaml:9:18: sectors[0].allow-from[0]: 10.0.0.0/8 overlaps the CIDRs "
	  "of sector \"vm1\": only addresses outside the sectors may be "
	  "admitted" },
	{ "the metadata target inside a sector",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  imds: {target: \"10.1.0.9:80\"}\nsectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n",
	  "t.yaml:5:18: host.imds.target: 10.1.0.9 lies in the CIDRs of sector "
	  "\"vm1\"" },
	{ "allow-from a CIDR into overlapping sectors",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    allow-from: [198.51.100.0/24]\n"
	  "  - name: vm2\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:9:18: sectors[0].allow-from[0]: the CIDRs of this sector "
	  "overlap those of \"vm2\": a connection from 198.51.100.0/24 could "
	  "be meant for either" },
	{ "egress into an uplink",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    egress:\n      - {destinations: [0.0.0.0/0], interface: wan0}\n",
	  "t.yaml:10:48: sectors[0].egress[0].interface: not supported yet: "
	  "steering into an uplink (\"wan0\")" },
	{ "egress into a sector's device",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    egress:\n      - {destinations: [0.0.0.0/0], interface: tap1}\n",
	  "t.yaml:10:48: sectors[0].egress[0].interface: \"tap1\" is already "
	  "listed as sectors[0].interfaces[0]" },
	{ "egress through too many devices",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    egress:\n      - {destinations: [0.0.0.0/0], "
	  "interface: [a, b, c, d, e]}\n",
	  "t.yaml:10:48: sectors[0].egress[0].interface: 5 devices; a policy "
	  "may list at most 4" },
	{ "untranslated egress from overlapping sectors",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    egress:\n      - {destinations: [0.0.0.0/0], interface: wg0, "
	  "snat-address: none}\n"
	  "  - name: vm2\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap2]\n",
	  "t.yaml:10:67: sectors[0].egress[0].snat-address: none: the CIDRs of "
	  "this sector overlap those of \"vm2\"" },
#define EGRESS_VM1(policy)						\
	BASE_HOST "sectors:\n"						\
	"  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n" \
	"    egress:\n      - " policy "\n"				\
	"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [\"vm2-*\"]}\n"
	{ "egress names a pattern",
	  EGRESS_VM1("{destinations: [0.0.0.0/0], interface: \"wg*\"}"),
	  "t.yaml:10:48: sectors[0].egress[0].interface: \"wg*\" is a "
	  "pattern; egress names devices" },
	{ "egress through no device",
	  EGRESS_VM1("{destinations: [0.0.0.0/0], interface: []}"),
	  "t.yaml:10:48: sectors[0].egress[0].interface: needs at least one "
	  "interface" },
	{ "egress to no destination",
	  EGRESS_VM1("{destinations: [], interface: wg0}"),
	  "t.yaml:10:24: sectors[0].egress[0].destinations: needs at least "
	  "one CIDR" },
	{ "egress into a device another sector's glob claims",
	  EGRESS_VM1("{destinations: [0.0.0.0/0], interface: vm2-tun}"),
	  "t.yaml:10:48: sectors[0].egress[0].interface: \"vm2-tun\" matches "
	  "sectors[1].interfaces[0] (\"vm2-*\")" },
	{ "egress from 0.0.0.0",
	  EGRESS_VM1("{destinations: [0.0.0.0/0], interface: wg0, "
		     "snat-address: 0.0.0.0}"),
	  "t.yaml:10:67: sectors[0].egress[0].snat-address: 0.0.0.0 is no "
	  "source address" },
	{ "egress from another sector's address",
	  EGRESS_VM1("{destinations: [0.0.0.0/0], interface: wg0, "
		     "snat-address: 10.2.0.9}"),
	  "t.yaml:10:67: sectors[0].egress[0].snat-address: 10.2.0.9 is in the "
	  "CIDRs of sector \"vm2\"" },
	{ "egress to another sector",
	  EGRESS_VM1("{destinations: [10.2.0.128/25], interface: wg0}"),
	  "t.yaml:10:25: sectors[0].egress[0].destinations[0]: 10.2.0.128/25 is "
	  "in the CIDRs of sector \"vm2\": an earlier step decides it" },
	{ "egress to the metadata service",
	  EGRESS_VM1("{destinations: [169.254.169.254/32], interface: wg0}"),
	  "t.yaml:10:25: sectors[0].egress[0].destinations[0]: "
	  "169.254.169.254/32 is the metadata service" },
	{ "egress rules past what one lookup holds",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n"
	  "    egress:\n"
	  "      - {destinations: [0.0.0.0/0], proto: tcp, interface: wg0,\n"
	  "         ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]}\n"
	  "      - {destinations: [0.0.0.0/0], proto: udp, ports: [1, 2, 3],"
	  " interface: wg0}\n",
	  "t.yaml:12:9: sectors[0].egress[1]: more than 16 rules" },
	{ "max-flows-per-sector of 0",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  conntrack:\n    max-flows-per-sector: 0\nsectors: []\n",
	  "t.yaml:6:27: host.conntrack.max-flows-per-sector:" },
	{ "the metadata address inside a sector",
	  "version: 1\nhost:\n  uplinks:\n    - interface: wan0\n"
	  "  imds: {address: 10.1.0.254}\nsectors:\n"
	  "  - name: vm1\n    cidrs: [10.1.0.0/24]\n    interfaces: [tap1]\n",
	  "t.yaml:5:19: host.imds.address: 10.1.0.254 lies in the CIDRs of "
	  "sector \"vm1\"" },
	{ "key without value",
	  BASE_HOST "sectors:\n"
	  "  - name: vm1\n    cidrs:\n    interfaces: [tap1]\n",
	  "sectors[0].cidrs: has no value" },
};

static bool has_message(const struct sg_diags *d, const char *expect)
{
	for (int i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], expect))
			return true;
	return false;
}

/* What was reported, under a test that failed. */
static void print_if_failed(const struct sg_diags *d)
{
	if (sg_t_bad)
		for (int i = 0; i < d->n; i++)
			printf("    got: %s\n", d->msgs[i]);
}

static void test_bad(const struct bad_case *c)
{
	struct sg_diags d = {};
	struct sg_model m;
	int ret;

	test_begin();
	ret = sg_config_parse("t.yaml", c->yaml, strlen(c->yaml), &m, &d);
	CHECK(ret == -1, "the file was accepted");
	CHECK(has_message(&d, c->expect), "no message contains '%s'",
	      c->expect);
	print_if_failed(&d);
	sg_diags_free(&d);
	sg_model_free(&m);
	test_end(c->name);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 16);

	*len = f ? fread(text, 1, (1 << 16) - 1, f) : 0;
	if (f)
		fclose(f);
	return text;
}

static void test_full_file(void)
{
	struct sg_diags d = {};
	struct sg_model m;
	const struct sg_sector_def *s1, *s2;
	size_t len;
	char *text = read_file("tests/fixtures/full.yaml", &len);

	test_begin();
	CHECK(sg_config_parse("t.yaml", text, len, &m, &d) == 0,
	      "every key of the full file is enforced, yet it was refused");
	CHECK(d.n == 0, "%d messages, want none", d.n);
	print_if_failed(&d);
	/* The model is what the file says. */
	CHECK(m.nuplinks == 2 && !strcmp(m.uplinks[0].iface, "wan0") &&
	      m.uplinks[0].snat_given && m.uplinks[0].snat_addr == 0xc0000201 &&
	      !m.uplinks[1].snat_given, "uplinks");
	CHECK(m.uplinks[0].xdp == SG_XDP_AUTO && m.uplinks[1].xdp == SG_XDP_OFF,
	      "uplinks' xdp");
	CHECK(m.nat_port_lo == 40000 && m.nat_port_hi == 49999, "nat-ports");
	CHECK(m.nprotected == 2 && m.protected_nets[1].addr == 0xc6336480 &&
	      m.protected_nets[1].plen == 25, "protected");
	CHECK(m.ntrusted == 1 && !strcmp(m.trusted[0].name, "ts0"), "trusted");
	CHECK(m.imds_addr == 0xa9fea9fe && m.imds_port == 80 &&
	      m.imds_target_addr == 0xa9fea9fe && m.imds_target_port == 8080,
	      "imds");
	CHECK(m.max_flows == 65536 && m.timeout_tcp_established == 7440 &&
	      m.timeout_tcp_transitory == 240 && m.timeout_udp == 300 &&
	      m.timeout_icmp == 60, "conntrack");
	CHECK(m.nsectors == 3, "sectors");
	if (m.nsectors != 3)
		goto out;
	CHECK(m.sectors[0].xdp == SG_XDP_AUTO && m.sectors[2].xdp == SG_XDP_ON,
	      "sectors' xdp");
	s1 = &m.sectors[0];
	s2 = &m.sectors[1];
	CHECK(!strcmp(s1->name, "vm1") && s1->id == 10 && s1->internet &&
	      s1->imds, "vm1 basics");
	CHECK(!s2->internet && !s2->imds, "vm2: imds off");
	CHECK(s1->nallow_from == 2 && !strcmp(s1->allow_from[0].iface, "ts0") &&
	      !s1->allow_from[1].iface && s1->allow_from[1].cidr.plen == 24,
	      "allow-from");
	CHECK(s1->nallow == 1 && s1->allow[0].proto == IPPROTO_TCP &&
	      s1->allow[0].nports == 2 && s1->allow[0].ports[0].lo == 5432 &&
	      s1->allow[0].ports[0].hi == 5432 &&
	      s1->allow[0].ports[1].lo == 8000 &&
	      s1->allow[0].ports[1].hi == 8100, "allow");
	CHECK(s1->nforwards == 1 && s1->forwards[0].port == 2201 &&
	      s1->forwards[0].to_addr == 0x0a010002 &&
	      s1->forwards[0].to_port == 22, "forwards");
	CHECK(s1->negress == 1 && s1->egress[0].nexcept == 1 &&
	      s1->egress[0].nifaces == 1 &&
	      s1->egress[0].snat_mode == SG_SNAT_ADDRESS, "egress vm1");
	CHECK(s2->negress == 1 && s2->egress[0].nifaces == 2 &&
	      !strcmp(s2->egress[0].ifaces[1], "wg1") &&
	      s2->egress[0].snat_mode == SG_SNAT_NONE, "egress vm2");
	CHECK(!strcmp(s2->ifaces[0].name, "vm2-*"), "glob kept verbatim");
out:
	free(text);
	sg_diags_free(&d);
	sg_model_free(&m);
	test_end("full definitions file: every key parsed and enforced");
}

/*
 * What a file means to the datapath: the map entries (digest) and the
 * flow table's size. Returns false if the file is refused.
 */
static bool compiled_meaning(const char *text, size_t len, uint64_t *digest,
			     uint32_t *max_flows)
{
	static const struct sg_netdev devs[] = {
		{ "wan0", 2, 0xc0000201, .xdp_native = true },
		{ "wan1", 3, 0xc0000301, .xdp_native = true },
		{ "ts0", 4 }, { "br-vm1", 5 }, { "vm2-a", 6 },
		{ "zt0", 7, 0x0a931105, .up = true },
		{ "wg0", 8, 0x0a000001, .l3 = true, .up = true },
		{ "wg1", 9, .l3 = true, .up = true },
		{ "veth-vm3", 10, .veth = true, .xdp_native = true },
	};
	struct sg_diags d = {};
	struct sg_compiled c;
	struct sg_model m;
	bool ok = sg_config_parse("t.yaml", text, len, &m, &d) == 0 &&
		  sg_compile(&m, devs, ARRAY_SIZE(devs), 0, &c, &d) == 0;

	if (ok) {
		*digest = c.digest;
		*max_flows = m.max_flows;
		sg_compiled_free(&c);
	}
	sg_diags_free(&d);
	sg_model_free(&m);
	return ok;
}

/* Another value of the same kind as scalar v (NULL if none comes to mind). */
static const char *mutate(const char *v, char *buf, size_t len)
{
	unsigned a, b, c, e, n;
	char tail;

	if (!strcmp(v, "true") || !strcmp(v, "false"))
		return v[0] == 't' ? "false" : "true";
	if (!strcmp(v, "tcp"))
		return "udp";
	if (!strcmp(v, "auto") || !strcmp(v, "on"))	/* xdp */
		return "off";
	if (!strcmp(v, "off"))
		return "on";
	if (sscanf(v, "%u.%u.%u.%u/%u%c", &a, &b, &c, &e, &n, &tail) == 5)
		snprintf(buf, len, "%u.%u.%u.%u/%u", a, b, c, e, n + 1);
	else if (sscanf(v, "%u.%u.%u.%u:%u%c", &a, &b, &c, &e, &n, &tail) == 5)
		snprintf(buf, len, "%u.%u.%u.%u:%u", a, b, c, e, n + 1);
	else if (sscanf(v, "%u.%u.%u.%u%c", &a, &b, &c, &e, &tail) == 4)
		snprintf(buf, len, "%u.%u.%u.%u", a, b, c, e ^ 1);
	else if (sscanf(v, "%u-%u%c", &a, &b, &tail) == 2)
		snprintf(buf, len, "%u-%u", a + 1, b);
	else if (sscanf(v, "%u%c", &a, &tail) == 1)
		snprintf(buf, len, "%u", a + 1);
	else if (strchr(v, '*'))
		snprintf(buf, len, "x%s", v);
	else
		snprintf(buf, len, "%sx", v);
	return buf;
}

/*
 * Every value of enforced.yaml, changed in turn: the file must be refused
 * (the new value is wrong or not enforced yet) or mean other maps. A key
 * that is accepted and changes nothing would be a policy ignored.
 */
static void test_every_key_changes_the_maps(void)
{
	uint64_t base_digest, digest;
	uint32_t base_flows, flows;
	yaml_parser_t yp;
	yaml_event_t ev;
	size_t len;
	char *text = read_file("tests/fixtures/enforced.yaml", &len);
	int values = 0, in_key[32] = { 0 }, depth = 0;
	bool done = false;

	test_begin();
	CHECK(compiled_meaning(text, len, &base_digest, &base_flows),
	      "enforced.yaml is refused");
	yaml_parser_initialize(&yp);
	yaml_parser_set_input_string(&yp, (unsigned char *)text, len);
	while (!done && !sg_t_bad && yaml_parser_parse(&yp, &ev)) {
		size_t from = ev.start_mark.index, to = ev.end_mark.index;
		char buf[64], *copy;
		const char *v;

		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
			in_key[++depth] = 1;
			break;
		case YAML_SEQUENCE_START_EVENT:
			in_key[++depth] = 0;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			if (depth > 0 && in_key[depth] == 2)
				in_key[depth] = 1;
			break;
		case YAML_SCALAR_EVENT:
			if (in_key[depth] == 1) {	/* a key: its value next */
				in_key[depth] = 2;
				break;
			}
			if (in_key[depth] == 2)
				in_key[depth] = 1;
			v = mutate((char *)ev.data.scalar.value, buf, sizeof(buf));
			copy = malloc(len + 80);
			snprintf(copy, len + 80, "%.*s%s%s%s%s", (int)from, text,
				 ev.data.scalar.style ==
				 YAML_DOUBLE_QUOTED_SCALAR_STYLE ? "\"" : "", v,
				 ev.data.scalar.style ==
				 YAML_DOUBLE_QUOTED_SCALAR_STYLE ? "\"" : "",
				 text + to);
			values++;
			if (compiled_meaning(copy, strlen(copy), &digest, &flows))
				CHECK(digest != base_digest || flows != base_flows,
				      "line %zu: \"%s\" -> \"%s\" is accepted and "
				      "changes no map", ev.start_mark.line + 1,
				      (char *)ev.data.scalar.value, v);
			free(copy);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	/* Every scalar value of the file, each walked once. */
	CHECK(values == 52, "%d values walked, the file has 52", values);
	free(text);
	test_end("every key of enforced.yaml changes the maps or is refused");
}

static void test_defaults_and_json(void)
{
	static const char json[] =
		"{\"version\": 1, \"host\": {\"uplinks\": [{\"interface\": "
		"\"wan0\"}]}, \"sectors\": [{\"name\": \"a\", \"cidrs\": "
		"[\"10.1.0.0/24\"], \"interfaces\": [\"tap1\"]}]}";
	struct sg_diags d = {};
	struct sg_model m;

	test_begin();
	CHECK(sg_config_parse("t.json", json, strlen(json), &m, &d) == 0,
	      "JSON rejected: %s", d.n ? d.msgs[0] : "");
	if (!sg_t_bad) {
		CHECK(m.nat_port_lo == 20000 && m.nat_port_hi == 32767,
		      "default nat-ports");
		CHECK(m.max_flows == SG_DEFAULT_MAX_FLOWS, "default max-flows");
		CHECK(m.imds_target_addr == 0xa9fea9fe &&
		      m.imds_target_port == 80, "default imds target");
		CHECK(m.sectors[0].internet && !m.sectors[0].imds &&
		      m.sectors[0].id == 1, "sector defaults");
	}
	sg_diags_free(&d);
	sg_model_free(&m);
	test_end("JSON input and defaults");
}

static void test_all_errors_reported(void)
{
	static const char yaml[] = BASE_HOST "sectors:\n"
		"  - name: vm1\n    cidrs: [10.1.0.0/33]\n"
		"    interfaces: [tap1]\n    internet: maybe\n";
	struct sg_diags d = {};
	struct sg_model m;

	test_begin();
	sg_config_parse("t.yaml", yaml, strlen(yaml), &m, &d);
	CHECK(d.n == 2, "expected 2 messages, got %d", d.n);
	sg_diags_free(&d);
	sg_model_free(&m);
	test_end("one check reports every error");
}

/*
 * A few kilobytes of nested YAML aliases stand for billions of entries
 * (1500 sectors, each 1500 allow rules, each 1500 ports): refused with one
 * message while parsing, in a fraction of a second, rather than after
 * gigabytes and many minutes (make fuzz). Aliases that stay small work.
 */
static void test_alias_bomb(void)
{
	static const char small[] = BASE_HOST "sectors:\n"
		"  - &s {name: vm1, cidrs: &c [10.1.0.0/24], interfaces: [tap1]}\n"
		"  - {name: vm2, cidrs: [10.2.0.0/24], interfaces: [tap2],\n"
		"     allow: [&r {sector: vm1, proto: tcp, ports: [22]}, *r]}\n";
	const int n = 1500;
	size_t cap = 64 * 1024, len;
	char *yaml = malloc(cap);
	struct sg_diags d = {};
	struct sg_model m;
	int ret;

	test_begin();
	len = snprintf(yaml, cap, BASE_HOST "sectors:\n  - &s\n"
		       "    name: a\n    cidrs: [10.1.0.0/24]\n"
		       "    interfaces: [tap1]\n"
		       "    allow: [&r {sector: b, proto: tcp, ports: [1");
	for (int i = 2; i <= n; i++)
		len += snprintf(yaml + len, cap - len, ", %d", i);
	len += snprintf(yaml + len, cap - len, "]}");
	for (int i = 1; i < n; i++)
		len += snprintf(yaml + len, cap - len, ", *r");
	len += snprintf(yaml + len, cap - len, "]\n");
	for (int i = 1; i < n; i++)
		len += snprintf(yaml + len, cap - len, "  - *s\n");
	CHECK(len < cap, "the file fits");
	ret = sg_config_parse("t.yaml", yaml, len, &m, &d);
	CHECK(ret == -1 && d.n == 1 && has_message(&d, "YAML aliases?"),
	      "%d messages: %s", d.n, d.n ? d.msgs[0] : "none");
	sg_diags_free(&d);
	sg_model_free(&m);
	free(yaml);

	d = (struct sg_diags){};
	CHECK(sg_config_parse("t.yaml", small, strlen(small), &m, &d) == 0 &&
	      m.nsectors == 2 && m.sectors[1].nallow == 2,
	      "small aliases: %s", d.n ? d.msgs[0] : "");
	sg_diags_free(&d);
	sg_model_free(&m);
	test_end("YAML aliases that blow up are refused while parsing");
}

/* Needs the host: "lo" exists everywhere and is not Ethernet. */
/*
 * More egress policies than sg_egress_policies holds for a slot (17
 * sectors of 64): check refuses them, or the second apply would fail
 * and with it every later one (run's at each link change).
 */
static void test_egress_capacity(void)
{
	size_t cap = 1 << 20, n = 0;
	char *y = malloc(cap);
	struct sg_diags d = {};
	struct sg_model m;

	test_begin();
	n += snprintf(y + n, cap - n, "version: 1\nhost:\n"
		      "  uplinks: [{interface: up0}]\nsectors:\n");
	for (int s = 0; s < 17; s++) {
		n += snprintf(y + n, cap - n, "  - name: t%d\n    cidrs: "
			      "[10.%d.0.0/24]\n    interfaces: [x%d]\n"
			      "    egress:\n", s, 100 + s, s);
		for (int k = 0; k < 64; k++)
			n += snprintf(y + n, cap - n, "      - {destinations: "
				      "[%d.%d.0.0/16], interface: e0}\n",
				      120 + s, k);
	}
	CHECK(sg_config_parse("t.yaml", y, n, &m, &d) == -1,
	      "1088 policies accepted");
	CHECK(has_message(&d, "more egress policies (1088)"),
	      "not refused for the egress policies");
	print_if_failed(&d);
	sg_diags_free(&d);
	sg_model_free(&m);
	free(y);
	test_end("more egress policies than the maps hold are refused");
}

/*
 * A sector CIDR longer than /16 splits its /16 into a chunk of
 * sg_dest_chunks (the metadata address splits one /16 and one /24): so
 * many sectors of a /24, each in a /16 of its own, fill it, with room
 * kept for the host's /32s. One more is refused.
 */
static char *many_24s(int count, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *y = malloc(cap);

	n += snprintf(y + n, cap - n, "version: 1\nhost:\n"
		      "  uplinks: [{interface: up0}]\nsectors:\n");
	for (int s = 0; s * 64 < count; s++) {
		n += snprintf(y + n, cap - n, "  - name: t%d\n    interfaces: "
			      "[x%d]\n    cidrs:\n", s, s);
		for (int k = s * 64; k < count && k < (s + 1) * 64; k++)
			n += snprintf(y + n, cap - n, "      - %d.%d.7.0/24\n",
				      10 + k / 256, k % 256);
	}
	*len = n;
	return y;
}

static void test_dest_chunks_capacity(void)
{
	int fit = SG_MAX_DEST_CHUNKS - 1 - SG_DEST_HOST_CHUNKS - 2;
	struct sg_diags d = {};
	struct sg_model m;
	size_t n;
	char *y;

	test_begin();
	y = many_24s(fit, &n);
	CHECK(sg_config_parse("t.yaml", y, n, &m, &d) == 0, "%d /24s refused",
	      fit);
	sg_diags_free(&d);
	sg_model_free(&m);
	free(y);
	y = many_24s(fit + 1, &n);
	CHECK(sg_config_parse("t.yaml", y, n, &m, &d) == -1,
	      "%d /24s accepted", fit + 1);
	CHECK(has_message(&d, "split 1984 /16 and /24 blocks"),
	      "not refused for sg_dest_chunks");
	print_if_failed(&d);
	sg_diags_free(&d);
	sg_model_free(&m);
	free(y);
	test_end("more split blocks than sg_dest_chunks holds are refused");
}

static void test_uplink_not_ethernet(void)
{
	static const char yaml[] =
		"version: 1\nhost:\n  uplinks:\n    - interface: lo\n"
		"sectors: []\n";
	struct sg_diags d = {};
	struct sg_netdev *devs;
	struct sg_model m;
	int ndevs;

	test_begin();
	CHECK(sg_config_parse("t.yaml", yaml, strlen(yaml), &m, &d) == 0,
	      "parse");
	ndevs = sg_netdevs_list(&devs);
	sg_netdevs_check(&m, devs, ndevs, &d);
	/* At the value, as every error of a field. */
	CHECK(has_message(&d, "t.yaml:4:18: host.uplinks[0].interface: \"lo\" "
			  "is not an Ethernet device"), "no message");
	free(devs);
	sg_diags_free(&d);
	sg_model_free(&m);
	test_end("an uplink that is not an Ethernet device");
}

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++)
		test_bad(&bad_cases[i]);
	test_full_file();
	test_every_key_changes_the_maps();
	test_defaults_and_json();
	test_all_errors_reported();
	test_alias_bomb();
	test_uplink_not_ethernet();
	test_egress_capacity();
	test_dest_chunks_capacity();
	return test_summary("test_config");
}
