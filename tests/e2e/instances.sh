#!/bin/bash
# SPEC 2: several instances on one host, each with its own --pin-dir, one
# per gateway namespace (a gateway container per sector group). A second
# gateway, gw2, holds devices with the same names as the first's (v1, v3,
# wan0) and VMs with the same addresses; each instance judges only its
# own namespace's devices, counts only its own drops, and unloading one
# leaves the other working. Real traffic, no nftables rules anywhere.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
PIN2=$PIN-2
GW2=$(ns gw2)
trap 'sg2 unload >/dev/null 2>&1; sg unload >/dev/null 2>&1; topo_down; rm -rf "$DEFS" "$work"' EXIT

in_gw2() { nsenter --net=/run/netns/"$GW2" "$@"; }
sg2() { in_gw2 "$SECTORGATE" --pin-dir "$PIN2" "$@"; }
stat2() { sg2 stats --json | jq -r ".sectors[\"$1\"].$2"; }

# gw2: c1 (10.1.0.2) on v1, c3 (10.3.0.2) on v3, its uplink wan0
# (192.0.2.1) to its own internet host inet2 (192.0.2.2).
ip netns add "$GW2"
in_gw2 ip link set lo up
in_gw2 sysctl -qw net.ipv4.ip_forward=1
host2() {	# NODE DEV ADDR/LEN [GATEWAY]
	ip netns add "$(ns "$1")"
	ip link add eth0 netns "$(ns "$1")" type veth peer name "$2" netns "$GW2"
	in_ns "$1" ip link set lo up
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip addr add "$3" dev eth0
	[ -z "${4:-}" ] || in_ns "$1" ip route add default via "$4"
	in_gw2 ip link set "$2" up
}
host2 c1 v1 10.1.0.2/24 10.1.0.1
host2 c3 v3 10.3.0.2/24 10.3.0.1
host2 inet2 wan0 192.0.2.2/24
in_gw2 ip addr add 10.1.0.1/24 dev v1
in_gw2 ip addr add 10.3.0.1/24 dev v3
in_gw2 ip addr add 192.0.2.1/24 dev wan0
cat >"$work/gw2.yaml" <<'YAML'
version: 1
host:
  uplinks:
    - interface: wan0
sectors:
  - name: c1
    cidrs: [10.1.0.0/24]
    interfaces: [v1]
  - name: c3
    cidrs: [10.3.0.0/24]
    interfaces: [v3]
YAML
# Who asks: each internet host answers with the address it saw.
(in_ns inet socat UDP4-RECVFROM:53,bind=192.0.2.2,fork SYSTEM:'echo inet $SOCAT_PEERADDR' &) 2>/dev/null
(in_ns inet2 socat UDP4-RECVFROM:53,bind=192.0.2.2,fork SYSTEM:'echo inet2 $SOCAT_PEERADDR' &) 2>/dev/null
expect_ok "the internet hosts listen" poll 5 'listening inet u 53 && listening inet2 u 53'
ask() { udp_ask "$1" 192.0.2.2 53; }

# Before: plain forwarding in gw2 lets c3 reach c1, so the check can fail.
expect_ok "before: c3 pings c1 through gw2" ping1 c3 10.1.0.2

expect_ok "instance 1 applies in gw" sg apply -c "$DEFS"
expect_ok "instance 2 applies in gw2, its own pin directory" sg2 apply -c "$work/gw2.yaml"
expect_eq "instance 1 lists gw's sectors" \
	"$(sg dump sectors --json | jq -c '[.[] | .name]')" '["vm1","vm2","vm3","vm4","vm5"]'
expect_eq "instance 2 lists gw2's" \
	"$(sg2 dump sectors --json | jq -c '[.[] | .name]')" '["c1","c3"]'
expect_eq "each attaches only in its own namespace: gw2's v1 runs instance 2's program" \
	"$(sg2 status --json | jq -r '.devices[] | select(.name=="v1") | .program_ids."tc-egress"')" \
	"$(in_gw2 tc filter show dev v1 egress | sed -n 's/.* id \([0-9]*\) .*/\1/p' | head -1)"
expect_ok "and gw's v1 instance 1's" test \
	"$(sg status --json | jq -r '.devices[] | select(.name=="v1") | .program_ids."tc-egress"')" != \
	"$(sg2 status --json | jq -r '.devices[] | select(.name=="v1") | .program_ids."tc-egress"')"

expect_eq "vm1 (gw) reaches its internet, masqueraded" "$(ask vm1)" "inet 192.0.2.1"
got=$(ask c1)
expect_eq "c1 (gw2, the same address) reaches its own, masqueraded" "$got" "inet2 192.0.2.1"
# What to look at when it does not (seen once in a full run, three asks
# in a row unanswered; never by itself).
[ "$got" = "inet2 192.0.2.1" ] || {
	echo "    c1's counters: $(sg2 stats --json | jq -c '.sectors.c1')"
	sg2 dump conntrack --json | jq -c '.[] | select(.proto == "udp")' | sed 's/^/    /'
	in_gw2 ip neigh | sed 's/^/    gw2 neigh: /'
}
d1=$(stat vm1 'drops["inter-sector"]')
d2=$(stat2 c3 'drops["inter-sector"]')
expect_fail "c3 -> c1 is isolated by instance 2" ping1 c3 10.1.0.2
expect_eq "counted on c3 by instance 2" "$(($(stat2 c3 'drops["inter-sector"]') - d2))" 1
expect_eq "and nothing on instance 1's vm1" "$(($(stat vm1 'drops["inter-sector"]') - d1))" 0
expect_fail "vm3 -> vm1 is isolated by instance 1" ping1 vm3 10.1.0.2

expect_ok "instance 1 unloads" sg unload
expect_eq "gw keeps no program of ours" \
	"$(in_gw tc filter show dev v1 egress | grep -c sg_tc)" 0
expect_ok "without it, vm3 reaches vm1 (plain forwarding)" ping1 vm3 10.1.0.2
expect_fail "instance 2 still isolates c3 from c1" ping1 c3 10.1.0.2
expect_eq "and still masquerades c1" "$(ask c1)" "inet2 192.0.2.1"
expect_eq "instance 2's status is whole" \
	"$(sg2 status --json | jq -c '[.devices[] | .name] | sort')" '["v1","v3","wan0"]'

e2e_summary
