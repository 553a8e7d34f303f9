#!/bin/bash
# `xdp:` of a sector or an uplink (man sectorgate, XDP OR TC). By default
# a veth is judged at tc ingress, where its peer keeps TSO and GSO: the
# container hands the gateway 64 KB segments, which cross masqueraded, as
# large as they were sent. A tap takes XDP. `xdp: on` moves the veths to
# XDP, where the kernel takes TSO from their peers; `auto` moves them
# back; a TCP session goes on through both moves.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
# The definitions' defaults: no `xdp:` anywhere. vm6 is a microVM's tap.
sed -i '/^ *xdp: /d' "$DEFS"
printf '  - name: vm6\n    cidrs: [10.6.0.0/24]\n    interfaces: [tap6]\n' >>"$DEFS"
sed 's/^    - interface: wan0$/&\n      xdp: on/;
     s/^    interfaces: \[v1\]$/&\n    xdp: on/' "$DEFS" >"$work/on.yaml"
in_gw ip tuntap add dev tap6 mode tap
in_gw ip link set tap6 up
for h in vm1 inet; do
	in_ns "$h" ethtool -K eth0 tx on tso on gso on gro on >/dev/null
done
(in_ns inet socat TCP4-LISTEN:7,bind=192.0.2.2,fork,reuseaddr EXEC:cat &) 2>/dev/null
(in_ns inet socat -u TCP4-LISTEN:9000,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:"wc -c >>$work/received" &) 2>/dev/null
head -c 4000000 /dev/urandom >"$work/blob"
(in_ns inet socat -U TCP4-LISTEN:9001,bind=192.0.2.2,fork,reuseaddr \
	OPEN:"$work/blob",rdonly &) 2>/dev/null
poll 5 'listening inet t 9001'

hooks() { sg status --json | jq -c --arg d "$1" '[.devices[] | select(.name==$d) | .hooks][0]'; }
# tso NS: what the kernel lets eth0 do ("on", or "off [requested on]").
tso() { in_ns "$1" ethtool -k eth0 | sed -n 's/^tcp-segmentation-offload: //p'; }
# Bytes per packet NS sent on eth0 while CMD ran: a veth counts a GSO
# segment as one packet, so above 1514 means segments crossed whole.
sent_per_packet() {
	local ns=$1 b0 p0
	shift
	read -r b0 p0 < <(in_ns "$ns" ip -j -s link show eth0 |
		jq -r '.[0].stats64.tx | "\(.bytes) \(.packets)"')
	"$@" || return 1
	in_ns "$ns" ip -j -s link show eth0 |
		jq -r --argjson b "$b0" --argjson p "$p0" \
			'.[0].stats64.tx | (.bytes - $b) / (.packets - $p) | floor'
}
upload() {	# 4 MB vm1 -> inet: it must all arrive
	: >"$work/received"
	head -c 4000000 /dev/urandom |
		in_ns vm1 socat -u - TCP4:192.0.2.2:9000,connect-timeout=3 &&
		poll 5 '[ "$(cat "$work/received")" = 4000000 ]'
}
download() {	# 4 MB inet -> vm1, byte for byte
	in_ns vm1 socat -u TCP4:192.0.2.2:9001,connect-timeout=3 - |
		cmp -s - "$work/blob"
}
# The sizes, and a session that must go on through every move.
moves() {	# WHAT: tc on the veths, TSO on, transfers whole
	local up down
	up=$(sent_per_packet vm1 upload)
	expect_ok "$1: 4 MB from vm1 arrive at inet" test -n "$up"
	expect_ok "$1: vm1 sent them in segments larger than a frame ($up bytes a packet)" \
		test "${up:-0}" -gt 1514
	down=$(sent_per_packet inet download)
	expect_ok "$1: 4 MB from inet arrive at vm1, byte for byte" test -n "$down"
	expect_ok "$1: inet sent them in segments larger than a frame ($down bytes a packet)" \
		test "${down:-0}" -gt 1514
}

expect_ok "apply the defaults" sg apply -c "$DEFS"
expect_eq "v1, a veth, runs tc ingress" "$(hooks v1)" '["tc-ingress","tc-egress"]'
expect_eq "wan0, a veth, runs tc only" "$(hooks wan0)" '["tc-ingress","tc-egress"]'
expect_eq "tap6, a tap, runs XDP" "$(hooks tap6)" '["xdp","tc-egress"]'
expect_eq "vm1's eth0 keeps TSO" "$(tso vm1)" on
expect_eq "and inet's" "$(tso inet)" on
moves "xdp: auto"

open_session vm1 192.0.2.2 7
expect_ok "a TCP session through the NAT echoes" echoed one

sg apply --dry-run -c "$work/on.yaml" >"$work/dry.out"
expect_ok "dry run: xdp: on is a change" \
	grep -q '^  attach v1 (sector vm1)$' "$work/dry.out"
expect_ok "dry run: v1's tc ingress goes once XDP is on" \
	grep -q '^  detach v1 tc-ingress (program [0-9]*)$' "$work/dry.out"
expect_eq "dry run: nothing else of v1's is detached" \
	"$(grep -c '^  detach v1 ' "$work/dry.out")" 1
expect_ok "apply xdp: on for vm1 and wan0" sg apply -c "$work/on.yaml"
expect_eq "v1 runs XDP" "$(hooks v1)" '["xdp","tc-egress"]'
expect_eq "wan0 runs XDP too" "$(hooks wan0)" '["xdp","tc-ingress","tc-egress"]'
expect_eq "the kernel took TSO from vm1's eth0" "$(tso vm1)" off
expect_ok "the session goes on" echoed two
up=$(sent_per_packet vm1 upload)
expect_ok "4 MB from vm1 still arrive" test -n "$up"
expect_ok "in frames now ($up bytes a packet)" test "${up:-9999}" -le 1514
expect_eq "apply again: no changes" \
	"$(sg apply -c "$work/on.yaml" | grep -c 'no changes')" 1

expect_ok "apply the defaults again" sg apply -c "$DEFS"
expect_eq "v1 is back on tc ingress, its XDP detached" "$(hooks v1)" \
	'["tc-ingress","tc-egress"]'
expect_eq "wan0 too" "$(hooks wan0)" '["tc-ingress","tc-egress"]'
expect_eq "no XDP left on the veths" \
	"$(in_gw ip -j -d link show | jq '[.[] | select(.linkinfo.info_kind == "veth" and .xdp)] | length')" 0
expect_eq "vm1's eth0 has TSO back" "$(tso vm1)" on
expect_ok "the session goes on" echoed three
moves "back to auto"

# A kernel that refuses `xdp: on` (a veth whose peer's MTU is beyond
# what XDP without frags takes): tc instead, and the operator is told.
in_ns vm1 ip link set eth0 mtu 9000
in_ns inet ip link set eth0 mtu 9000
sg apply -c "$work/on.yaml" >"$work/apply.out" 2>&1 && ok=yes || ok=no
expect_eq "xdp: on that the kernel refuses still applies" "$ok" yes
expect_ok "and warns that v1 takes tc" \
	grep -q "^sectorgate: v1: xdp: on, but the kernel refused XDP (.*); using tc ingress$" "$work/apply.out"
expect_ok "and that wan0's replies take tc" \
	grep -q "^sectorgate: wan0: xdp: on, but the kernel refused XDP (.*); replies take tc$" "$work/apply.out"
expect_eq "v1 runs tc ingress" "$(hooks v1)" '["tc-ingress","tc-egress"]'
expect_eq "wan0 runs tc only" "$(hooks wan0)" '["tc-ingress","tc-egress"]'
expect_ok "the session goes on" echoed four
in_ns vm1 ip link set eth0 mtu 1500
in_ns inet ip link set eth0 mtu 1500
exec 3>&-

e2e_summary
