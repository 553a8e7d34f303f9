#!/bin/bash
# Benchmark, not a test: nothing here asserts a rate. TCP throughput of
# masquerade, vm1 -> inet (scripts/topology.sh), with iperf3, 1 and 8
# streams, the VMs' devices doing TSO, GSO and GRO as real ones do;
# side by side in one run:
#
#   sectorgate     after `sectorgate apply`
#   nftables       the kernel's forwarding with a forward chain (ct state
#                  established accept) and masquerade, as masquerade.sh
#   forwarding     the kernel's forwarding with no rules and no NAT (inet
#                  routes vm1's network back): the limit of this path
#
# Medians of ROUNDS rounds of SECS seconds in Gbit/s (what iperf3's
# receiver counted), and per packet (bpf_stats run_time_ns / run_cnt) the
# cost of sectorgate's programs on the way out and back.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
stats0=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sg unload >/dev/null 2>&1; in_gw nft delete table ip sgbench 2>/dev/null || :
	sysctl -qw kernel.bpf_stats_enabled="$stats0" || :; topo_down; rm -f "$DEFS"' EXIT
topo_up
topo_definitions >"$DEFS"
for h in vm1 inet; do
	in_ns "$h" ethtool -K eth0 tx on tso on gso on gro on >/dev/null
done
in_gw ethtool -K v1 gro on >/dev/null
in_gw ethtool -K wan0 gro on >/dev/null
(in_ns inet iperf3 -s -B 192.0.2.2 -D >/dev/null 2>&1)
poll 5 'in_ns inet ss -ltn | grep -q 192.0.2.2:5201'
sysctl -qw kernel.bpf_stats_enabled=1

gbps() {	# streams
	in_ns vm1 iperf3 -c 192.0.2.2 -t "$SECS" -P "$1" -J |
		jq '.end.sum_received.bits_per_second / 1e9 * 1000 | round / 1000'
}

declare -A results
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	for p in 1 8; do
		sg apply -c "$DEFS" >/dev/null
		declare -A t0 c0
		for prog in prog_xdp_sector prog_xdp_uplink prog_tc_uplink_out prog_tc_uplink_in; do
			read -r t0[$prog] c0[$prog] < <(prog_stats "$prog")
		done
		g=$(gbps "$p")
		costs=
		for prog in prog_xdp_sector prog_xdp_uplink prog_tc_uplink_out prog_tc_uplink_in; do
			read -r t1 c1 < <(prog_stats "$prog")
			costs+="${prog#prog_}=$(awk -v t=$((t1 - t0[$prog])) -v c=$((c1 - c0[$prog])) \
				'BEGIN {printf "%.0fns/%d", c ? t / c : 0, c}') "
		done
		sg unload >/dev/null
		echo "  sectorgate, $p stream(s): $g Gbit/s; $costs" >&2
		results[sg-$p]+="$g "

		nft_masquerade | in_gw nft -f -
		g=$(gbps "$p")
		in_gw nft delete table ip sgbench
		echo "  nftables, $p stream(s): $g Gbit/s" >&2
		results[nft-$p]+="$g "

		in_ns inet ip route add 10.1.0.0/24 via 192.0.2.1
		g=$(gbps "$p")
		in_ns inet ip route del 10.1.0.0/24 via 192.0.2.1
		echo "  forwarding, $p stream(s): $g Gbit/s" >&2
		results[fwd-$p]+="$g "
	done
done

echo
echo "TCP vm1 -> inet through masquerade, TSO/GRO on: Gbit/s, median of $ROUNDS rounds of $SECS s"
printf '  %-10s %12s %12s %12s %14s\n' streams sectorgate nftables forwarding "× nftables"
for p in 1 8; do
	s=$(echo "${results[sg-$p]}" | median)
	n=$(echo "${results[nft-$p]}" | median)
	printf '  %-10s %12s %12s %12s %13.2fx\n' "$p" "$s" "$n" \
		"$(echo "${results[fwd-$p]}" | median)" \
		"$(awk -v s="$s" -v n="$n" 'BEGIN {print n ? s / n : 0}')"
done
