#!/bin/bash
# Benchmark, not a test: nothing here asserts a rate. TCP throughput of
# masquerade between vm1 and inet (scripts/topology.sh), with iperf3, 1
# and 8 streams, up (vm1 -> inet) and down (inet -> vm1, iperf3 -R), the
# VMs' devices doing TSO, GSO and GRO as real ones do; side by side in
# one run:
#
#   sectorgate     after `sectorgate apply` of the definitions without
#                  `xdp:` (auto: v1 and wan0, veths, run tc)
#   xdp: on        the same with v1 and wan0 on XDP, as the topology's
#                  definitions have them (the kernel takes the peers' TSO)
#   nftables       the kernel's forwarding with a forward chain (ct state
#                  established accept) and masquerade, as masquerade.sh
#   forwarding     the kernel's forwarding with no rules and no NAT (inet
#                  routes vm1's network back): the limit of this path
#
# Medians of ROUNDS rounds of SECS seconds in Gbit/s (what iperf3's
# receiver counted), and per packet (bpf_stats run_time_ns / run_cnt) the
# cost of sectorgate's programs.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
AUTO=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
stats0=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sg unload >/dev/null 2>&1; in_gw nft delete table ip sgbench 2>/dev/null || :
	sysctl -qw kernel.bpf_stats_enabled="$stats0" || :; topo_down; rm -f "$DEFS" "$AUTO"' EXIT
topo_up
topo_definitions >"$DEFS"
grep -v '^ *xdp: ' "$DEFS" >"$AUTO"
for h in vm1 inet; do
	in_ns "$h" ethtool -K eth0 tx on tso on gso on gro on >/dev/null
done
in_gw ethtool -K v1 gro on >/dev/null
in_gw ethtool -K wan0 gro on >/dev/null
(in_ns inet iperf3 -s -B 192.0.2.2 -D >/dev/null 2>&1)
poll 5 'in_ns inet ss -ltn | grep -q 192.0.2.2:5201'
sysctl -qw kernel.bpf_stats_enabled=1

gbps() {	# STREAMS [-R]
	in_ns vm1 iperf3 -c 192.0.2.2 -t "$SECS" -P "$1" ${2:-} -J |
		jq '.end.sum_received.bits_per_second / 1e9 * 1000 | round / 1000'
}
PROGS="prog_xdp_sector prog_tc_sector_in prog_xdp_uplink prog_tc_uplink_out prog_tc_uplink_in"
sectorgate() {	# DEFINITIONS STREAMS [-R]: Gbit/s; the costs on stderr
	local prog t1 c1 g costs=
	declare -A t0 c0
	sg apply -c "$1" >/dev/null
	for prog in $PROGS; do
		read -r t0[$prog] c0[$prog] < <(prog_stats "$prog")
	done
	g=$(gbps "$2" "${3:-}")
	for prog in $PROGS; do
		read -r t1 c1 < <(prog_stats "$prog")
		[ $((c1 - c0[$prog])) -gt 0 ] || continue
		costs+="${prog#prog_}=$(awk -v t=$((t1 - t0[$prog])) -v c=$((c1 - c0[$prog])) \
			'BEGIN {printf "%.0fns/%d", t / c, c}') "
	done
	sg unload >/dev/null
	echo "$g"
	echo "    $costs" >&2
}

declare -A results
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	for dir in up down; do
		rev=; [ "$dir" = down ] && rev=-R
		for p in 1 8; do
			k=$dir-$p
			g=$(sectorgate "$AUTO" "$p" $rev)
			echo "  sectorgate, $dir, $p stream(s): $g Gbit/s" >&2
			results[sg-$k]+="$g "
			g=$(sectorgate "$DEFS" "$p" $rev)
			echo "  xdp: on, $dir, $p stream(s): $g Gbit/s" >&2
			results[xdp-$k]+="$g "

			nft_masquerade | in_gw nft -f -
			g=$(gbps "$p" $rev)
			in_gw nft delete table ip sgbench
			echo "  nftables, $dir, $p stream(s): $g Gbit/s" >&2
			results[nft-$k]+="$g "

			in_ns inet ip route add 10.1.0.0/24 via 192.0.2.1
			g=$(gbps "$p" $rev)
			in_ns inet ip route del 10.1.0.0/24 via 192.0.2.1
			echo "  forwarding, $dir, $p stream(s): $g Gbit/s" >&2
			results[fwd-$k]+="$g "
		done
	done
done

echo
echo "TCP through masquerade, TSO/GRO on: Gbit/s, median of $ROUNDS rounds of $SECS s"
printf '  %-12s %11s %11s %11s %11s %12s %12s\n' case sectorgate "xdp: on" \
	nftables forwarding "× nftables" "xdp: on ×"
for dir in up down; do
	for p in 1 8; do
		k=$dir-$p
		s=$(echo "${results[sg-$k]}" | median)
		x=$(echo "${results[xdp-$k]}" | median)
		n=$(echo "${results[nft-$k]}" | median)
		printf '  %-12s %11s %11s %11s %11s %11.2fx %11.2fx\n' \
			"$dir, $p" "$s" "$x" "$n" \
			"$(echo "${results[fwd-$k]}" | median)" \
			"$(awk -v s="$s" -v n="$n" 'BEGIN {print n ? s / n : 0}')" \
			"$(awk -v s="$x" -v n="$n" 'BEGIN {print n ? s / n : 0}')"
	done
done
