#!/bin/bash
# Benchmark, not a test: nothing here asserts a time. The single-core
# capacity of masquerade between vm1 and inet (scripts/topology.sh), out
# (vm1 -> inet) and in (the replies), side by side in one run:
#
#   sectorgate     its XDP fast path, after `sectorgate apply`
#   nftables       the kernel's forwarding with an nftables forward chain
#                  (ct state established accept) and masquerade: the
#                  cheapest ruleset that does the job
#   nft + matrix   the same after the N x N iifname/oifname drop matrix of
#                  the topology's five sectors, as the hosts sectorgate
#                  replaces write it
#   bare XDP       rewrite and redirect with nothing looked up: the limit
#
# FILL=N also measures sectorgate again with N other flows in its table
# (new UDP flows vm1 -> inet, opened right before; the table sized for
# them), beside the same flows measured with the table empty.
#
# 64-byte UDP frames of one flow (FLOWS=N: of N flows), sent by
# tests/bench/bench_xdp (live frames) and counted by an XDP sink on the
# receiving host. Prints the
# medians of interleaved rounds in Mpps, and the ratios sectorgate is held
# to (issue 10): >= 5x nftables, >= 85% of bare XDP.
# PERF=PREFIX: a profile of each sectorgate measurement, PREFIX.out.R
# and PREFIX.in.R with their .lines (tests/bench/lib.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}
FLOWS=${FLOWS:-1}	# FLOWS=1024: as many flows, from source ports 20000 up (at most 12768)
FILL=${FILL:-0}		# FILL=1048576: a million other flows in the table too

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
stats0=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sg unload >/dev/null 2>&1; sysctl -qw kernel.bpf_stats_enabled="$stats0" || :
	topo_down; rm -f "$DEFS"' EXIT
topo_up
if [ "$FILL" -gt 0 ]; then
	max=$((2 * (FILL + FLOWS + 4096)))
	topo_definitions |
		sed "s/^  protected: .*\$/&\n  conntrack: {max-flows: $max, max-flows-per-sector: $max}/" >"$DEFS"
else
	topo_definitions >"$DEFS"
fi
bench_path_ready

# out|in [bench_xdp options]: one measurement in Mpps. "in" are the replies
# of the flow "out" opened (sectorgate keeps the port, 20000 up: they lie in
# the default nat-ports).
rate() {
	local dir=$1
	shift
	if [ "$dir" = out ]; then
		bench_mpps out vm1 inet "$v1_mac" 10.1.0.2 192.0.2.2 20000:9 \
			-n "$FLOWS" "$@"
	else
		bench_mpps in inet vm1 "$wan0_mac" 192.0.2.2 192.0.2.1 9:20000 \
			-r -n "$FLOWS" "$@"
	fi
}

add() {	# key out|in [bench_xdp options]
	local key=$1
	shift
	results[$key-$1]+="$(rate "$@") "
}

# add_sg out|in: add sectorgate, and the ns per packet (bpf_stats) of the
# XDP program that took the frames: the sector's out, the uplink's in.
add_sg() {
	local prog=prog_xdp_sector t0 c0 t1 c1
	[ "$1" = out ] || prog=prog_xdp_uplink
	read -r t0 c0 < <(prog_stats "$prog")
	add "${2:-sectorgate}" "$1"
	read -r t1 c1 < <(prog_stats "$prog")
	results[ns-${2:-sectorgate}-$1]+="$(awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) \
		'BEGIN {printf "%.0f", c ? t / c : 0}') "
}

declare -A results
sysctl -qw kernel.bpf_stats_enabled=0
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	sg apply -c "$DEFS" >/dev/null
	perf_start "out.$r"
	add sectorgate out
	perf_lines "out.$r" prog_xdp_sector
	perf_start "in.$r"
	add sectorgate in
	perf_lines "in.$r" prog_xdp_uplink
	if [ "$FILL" -gt 0 ]; then
		# Source ports 1024 up, destination ports 1 up: no flow of
		# the measured ones (source ports 20000 up).
		"$BENCH" -s "$(ns vm1):eth0" -k "$(ns inet):eth0" -m "$v1_mac" \
			-a 10.1.0.2 -d 192.0.2.2 -u -c "$FILL" >/dev/null
		echo "  filled: $(sg status --json | jq '.maps.sg_flows.entries') flow table entries" >&2
		add filled out
		add filled in
	fi
	sg unload >/dev/null
	for k in nftables matrix; do
		nft_masquerade "$k" | in_gw nft -f -
		add "$k" out
		add "$k" in
		in_gw nft delete table ip sgbench
	done
	add bare out -b "$GW:v1:wan0:$inet_mac:192.0.2.1"
	add bare in -b "$GW:wan0:v1:$vm1_mac:10.1.0.2"
done

# The cost per packet, apart: bpf_stats makes every program run (the
# bare one's, the source's and the sink's too) read the clock twice, which
# would change the rates above.
echo "cost (bpf_stats on)" >&2
sysctl -qw kernel.bpf_stats_enabled=1
sg apply -c "$DEFS" >/dev/null
add_sg out cost
add_sg in cost
sg unload >/dev/null
sysctl -qw kernel.bpf_stats_enabled=0

echo
echo "masquerade, 64-byte UDP, $FLOWS flow(s), one core: Mpps, median of $ROUNDS rounds of ${SECS} s"
printf '  %-24s %8s %8s\n' "" out in
keys="sectorgate nftables matrix bare"
[ "$FILL" -eq 0 ] || keys="sectorgate filled nftables matrix bare"
for k in $keys; do
	label=${k/matrix/nft + matrix}
	label=${label/filled/sg, $FILL more flows}
	printf "  %-24s %8s %8s\n" "${label/bare/bare XDP}" \
		"$(echo "${results[$k-out]}" | median)" \
		"$(echo "${results[$k-in]}" | median)"
done
for d in out in; do
	awk -v d="$d" -v s="$(echo "${results[sectorgate-$d]}" | median)" \
		-v n="$(echo "${results[nftables-$d]}" | median)" \
		-v m="$(echo "${results[matrix-$d]}" | median)" \
		-v b="$(echo "${results[bare-$d]}" | median)" 'BEGIN {
		printf "  %-3s sectorgate = %.1fx nftables (target >= 5x), %.1fx nft + matrix, %.0f%% of bare XDP (target >= 85%%)\n", d, s / n, s / m, 100 * s / b
	}'
done
if [ "$FILL" -gt 0 ]; then
	for d in out in; do
		awk -v d="$d" -v f="$FILL" -v s="$(echo "${results[sectorgate-$d]}" | median)" \
			-v x="$(echo "${results[filled-$d]}" | median)" 'BEGIN {
			printf "  %-3s with %d more flows in the table, a packet costs %.2fx what it does in the empty one (target <= 1.5x)\n", d, f, x ? s / x : 0
		}'
	done
fi
echo "  per packet under this traffic (bpf_stats, one more run): out $(echo "${results[ns-cost-out]}" | median) ns (sector XDP), in $(echo "${results[ns-cost-in]}" | median) ns (uplink XDP)"
