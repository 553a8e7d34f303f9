#!/bin/bash
# Benchmark, not a test: nothing here asserts a time. Egress steering,
# 64-byte UDP of one flow, side by side in one run: vm1's traffic to
# 203.0.113.0/24 is steered out of ex0 (an Ethernet egress device, as a
# ZeroTier tap: a veth to the host "ext", 203.0.113.2) and translated to
# ex0's address; replies come back in through ex0.
#
#   sectorgate   vm1 `egress: [{destinations: [203.0.113.0/24],
#                interface: ex0}]`: the sector device's tc ingress
#                redirects to ex0 (a steered sector runs tc, not XDP),
#                ex0's tc egress translates; ex0's tc ingress translates
#                a reply back and redirects it to v1
#   nftables     what a host does today: a policy route (ip rule from
#                vm1's CIDR to 203.0.113.0/24, a table of its own through
#                ex0), a forward chain (ct state established accept) and
#                masquerade out of ex0
#   bare XDP     rewrite and redirect, nothing looked up: the limit
#
# Frames from tests/bench/bench_xdp (live frames), counted by an XDP sink
# on the receiving host. Medians of ROUNDS rounds of SECS seconds in Mpps,
# sectorgate's ratio to each, and the per-packet cost of its programs
# from bpf_stats (in a run of its own: the clock reads cost the rate).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
stats0=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sg unload >/dev/null 2>&1; in_gw nft delete table ip sgbench 2>/dev/null || :
	sysctl -qw kernel.bpf_stats_enabled="$stats0" || :
	topo_down; rm -f "$DEFS"' EXIT
topo_up
ip netns add "$(ns ext)"
ip link add eth0 netns "$(ns ext)" type veth peer name ex0 netns "$GW"
in_ns ext ip link set lo up
in_ns ext ip link set eth0 up
in_ns ext ip addr add 203.0.113.2/24 dev eth0
in_ns ext ethtool -K eth0 gro on tx off >/dev/null
in_gw ip addr add 203.0.113.1/24 dev ex0
in_gw ip link set ex0 up
in_gw ethtool -K ex0 gro on >/dev/null
# vm1 steered, so at tc ingress (a steered sector is refused `xdp: on`).
topo_definitions |
	sed '/^    interfaces: \[v1\]$/{n;/^    xdp: on$/d}' |
	sed 's/^    interfaces: \[v1\]$/&\n    egress: [{destinations: [203.0.113.0\/24], interface: ex0}]/' >"$DEFS"
bench_path_ready
ex0_mac=$(mac ex0)
ext_mac=$(host_mac ext)
in_gw ping -c 1 -W 1 203.0.113.2 >/dev/null

# out|in [bench_xdp options]: one measurement in Mpps.
rate() {
	local dir=$1
	shift
	if [ "$dir" = out ]; then
		bench_mpps out vm1 ext "$v1_mac" 10.1.0.2 203.0.113.2 20000:9 "$@"
	else
		bench_mpps in ext vm1 "$ex0_mac" 203.0.113.2 203.0.113.1 9:20000 \
			-r "$@"
	fi
}

nft_ruleset() {
	echo "table ip sgbench {"
	echo "chain forward { type filter hook forward priority 0; policy drop;"
	echo "ct state established,related accept"
	echo "iifname \"v1\" oifname \"ex0\" accept"
	echo "}"
	echo "chain postrouting { type nat hook postrouting priority 100;"
	echo "oifname \"ex0\" masquerade"
	echo "}"
	echo "}"
}
nft_up() {
	nft_ruleset | in_gw nft -f -
	in_gw ip route add 203.0.113.0/24 dev ex0 table 100
	in_gw ip rule add from 10.1.0.0/24 to 203.0.113.0/24 lookup 100
}
nft_down() {
	in_gw ip rule del from 10.1.0.0/24 to 203.0.113.0/24 lookup 100
	in_gw ip route flush table 100
	in_gw nft delete table ip sgbench
}

declare -A results
sysctl -qw kernel.bpf_stats_enabled=0
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	sg apply -c "$DEFS" >/dev/null
	results[sg-out]+="$(rate out) "
	results[sg-in]+="$(rate in) "
	sg unload >/dev/null
	nft_up
	results[nft-out]+="$(rate out) "
	results[nft-in]+="$(rate in) "
	nft_down
	results[bare-out]+="$(rate out -b "$GW:v1:ex0:$ext_mac:203.0.113.1") "
	results[bare-in]+="$(rate in -b "$GW:ex0:v1:$vm1_mac:10.1.0.2") "
done

echo "cost (bpf_stats on)" >&2
sysctl -qw kernel.bpf_stats_enabled=1
sg apply -c "$DEFS" >/dev/null
rate out >/dev/null	# the flow opened
steer=$(cost prog_tc_sector_in rate out)
snat=$(cost prog_tc_trusted_out rate out)
back=$(cost prog_tc_trusted_in rate in)
sg unload >/dev/null
sysctl -qw kernel.bpf_stats_enabled=0

echo
echo "egress steering, 64-byte UDP, 1 flow, one core: Mpps, median of $ROUNDS rounds of ${SECS} s"
ratio_table out in
echo "  per packet under this traffic (bpf_stats, one more run): out $steer ns (v1 tc ingress, steer) + $snat ns (ex0 tc egress, SNAT), in $back ns (ex0 tc ingress, reverse NAT + redirect)"
