#!/bin/bash
# Benchmark, not a test: nothing here asserts a time. The single-core cost
# of an inter-sector drop as the number of sectors grows: vm1 sends
# 64-byte UDP frames to vm3 (another sector), which sectorgate drops in
# v1's XDP; side by side in one run:
#
#   sectorgate     with SECTORS=5,100,1000 sectors defined (vm1 and vm3 on
#                  their devices, the others with CIDRs and devices not
#                  present): drops per second from its inter-sector
#                  counter, and ns per packet from bpf_stats (in a run
#                  of its own: the clock reads cost the rate)
#   nft matrix     the kernel's forwarding through the seeds' N x N
#                  iifname/oifname drop matrix (up to NFT_MAX sectors: a
#                  thousand sectors would be a million rules), vm1 -> vm3's
#                  rule last
#   bare XDP_DROP  a program on v1 that counts and drops: the limit
#
# Frames come from tests/bench/bench_xdp (live frames). Medians of ROUNDS
# rounds of SECS seconds, and the ratios issue 10 holds sectorgate to:
# the same cost at 5, 100 and 1000 sectors (within 10%), >= 90% of bare
# (each run against the bare drop measured right after it: this
# machine's speed moves by 20% within minutes).
# CSV=FILE also writes the medians there, one line a number of sectors
# (scripts/plot_isolation.py draws them). PERF=PREFIX records a profile
# of each sectorgate run into PREFIX.N.ROUND and its .lines (lib.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}
SECTORS=${SECTORS:-5 100 1000}
NFT_MAX=${NFT_MAX:-100}
CSV=${CSV:-}

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
stats0=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sg unload >/dev/null 2>&1; in_gw nft delete table ip sgbench 2>/dev/null || :
	sysctl -qw kernel.bpf_stats_enabled="$stats0" || :; topo_down; rm -f "$DEFS"' EXIT
topo_up
in_gw ethtool -K v1 gro on >/dev/null
v1_mac=$(in_gw ip -j link show v1 | jq -r '.[0].address')
in_gw ping -c 1 -W 1 10.3.0.2 >/dev/null

# definitions N: vm1, vm3 and N - 2 sectors of their own /24 each.
definitions() {
	echo "version: 1"
	echo "host: {uplinks: [{interface: wan0}]}"
	echo "sectors:"
	# vm1 on XDP, as a microVM's tap would be (on a veth, `xdp: auto`
	# is tc ingress: not the path this measures).
	echo "  - {name: vm1, cidrs: [10.1.0.0/24], interfaces: [v1], xdp: on}"
	echo "  - {name: vm3, cidrs: [10.3.0.0/24], interfaces: [v3]}"
	for i in $(seq 3 "$1"); do
		echo "  - {name: s$i, cidrs: [10.$((100 + i / 256)).$((i % 256)).0/24], interfaces: [sb$i]}"
	done
}

# The seeds' matrix for N sectors, vm1 -> vm3 the last pair of rules.
nft_matrix() {
	local n=$1 devs=() a b
	for i in $(seq 3 "$n"); do devs+=("sb$i"); done
	devs+=(v3 v1)
	echo "table ip sgbench {"
	echo "chain forward { type filter hook forward priority 0; policy accept;"
	for a in "${devs[@]}"; do
		for b in "${devs[@]}"; do
			[ "$a" = "$b" ] || echo "iifname \"$a\" oifname \"$b\" counter drop"
		done
	done
	echo "}"
	echo "}"
}

send() {	# bench_xdp options: vm1 -> vm3, 64-byte UDP
	"$BENCH" -s "$(ns vm1):eth0" -m "$v1_mac" -a 10.1.0.2 -d 10.3.0.2 \
		-p 9:9 -t "$SECS" "$@"
}
drops() { stat vm1 'drops["inter-sector"]'; }
# The seconds bench_xdp took ("... in 2.04 s: ..."), SECS if it says none.
secs_of() { echo "$1" | sed -n 's/.* in \([0-9.]*\) s.*/\1/p' | grep . || echo "$SECS"; }

# sg_cost N: ns per packet of the sector XDP dropping with N sectors
# defined (bpf_stats on), into results[ns-N].
sg_cost() {
	local ns

	definitions "$1" >"$DEFS"
	sg apply -c "$DEFS" >/dev/null 2>&1
	ns=$(cost prog_xdp_sector send -k "$(ns vm3):eth0")
	sg unload >/dev/null
	# The drops must be the sector XDP program's, not tc's.
	if [ "$ns" = 0 ]; then
		echo "isolation.sh: v1's XDP program did not run (is vm1 on tc?)" >&2
		exit 1
	fi
	results[ns-$1]+="$ns "
}

declare -A results
echo "cost (bpf_stats on)" >&2
sysctl -qw kernel.bpf_stats_enabled=1
for n in $SECTORS; do sg_cost "$n"; done
# The rates with bpf_stats off: it reads the clock twice around every
# program run, sectorgate's and the bare drop's alike.
sysctl -qw kernel.bpf_stats_enabled=0
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	for n in $SECTORS; do
		definitions "$n" >"$DEFS"
		sg apply -c "$DEFS" >/dev/null 2>&1
		d0=$(drops)
		perf_start "$n.$r"
		out=$(send -k "$(ns vm3):eth0")
		perf_lines "$n.$r" prog_xdp_sector
		d1=$(drops)
		sg unload >/dev/null
		# Over the time the frames took to send, not SECS: the source
		# sends whole batches and its last one ends past SECS.
		mpps=$(awk -v d=$((d1 - d0)) -v s="$(secs_of "$out")" 'BEGIN {printf "%.3f", d / s / 1e6}')
		# The limit right after, so that the ratio compares two runs
		# of the same minute (this machine's speed moves by 20%).
		bare_out=$(send -k "$GW:v1")
		bare=$(echo "$bare_out" | sed -n 's/.*: \([0-9.]*\) Mpps delivered$/\1/p')
		echo "  sectorgate, $n sectors: $mpps Mpps dropped; bare XDP_DROP $bare Mpps" >&2
		results[sg-$n]+="$mpps "
		results[bare]+="$bare "
		results[ratio-$n]+="$(awk -v s="$mpps" -v b="$bare" 'BEGIN {print b ? 100 * s / b : 0}') "
		if [ "$n" -le "$NFT_MAX" ]; then
			nft_matrix "$n" | in_gw nft -f -
			out=$(send -k "$(ns vm3):eth0")
			pk=$(in_gw nft -j list chain ip sgbench forward |
				jq '[.nftables[] | .rule? | select(.) | .expr[] | .counter? | select(.) | .packets] | add')
			in_gw nft delete table ip sgbench
			mpps=$(awk -v d="$pk" -v s="$(secs_of "$out")" 'BEGIN {printf "%.3f", d / s / 1e6}')
			echo "  nft matrix, $n sectors: $mpps Mpps dropped" >&2
			results[nft-$n]+="$mpps "
		fi
	done
done

bare=$(echo "${results[bare]}" | median)
echo
echo "inter-sector drop, 64-byte UDP, one core: Mpps, median of $ROUNDS rounds of ${SECS} s"
echo "(% of bare: the median of each run's ratio to the bare drop measured right after it)"
echo "(ns/packet: bpf_stats, in one more run of each)"
printf '  %-8s %12s %14s %12s %12s\n' sectors sectorgate "ns/packet" "% of bare" "nft matrix"
for n in $SECTORS; do
	printf '  %-8s %12s %14s %11.0f%% %12s\n' "$n" \
		"$(echo "${results[sg-$n]}" | median)" \
		"$(echo "${results[ns-$n]}" | median)" \
		"$(echo "${results[ratio-$n]}" | median)" \
		"$(echo "${results[nft-$n]:-}" | median)"
done
echo "  bare XDP_DROP: $bare Mpps (median of all its runs)"
if [ -n "$CSV" ]; then
	echo "sectors,sectorgate_mpps,sectorgate_ns_per_packet,nft_matrix_mpps,bare_xdp_drop_mpps" >"$CSV"
	for n in $SECTORS; do
		echo "$n,$(echo "${results[sg-$n]}" | median),$(echo "${results[ns-$n]}" | median),$(echo "${results[nft-$n]:-}" | median),$bare" >>"$CSV"
	done
fi
