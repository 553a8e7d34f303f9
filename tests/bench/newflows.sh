#!/bin/bash
# Benchmark, not a test: nothing here asserts a time. New flows per second
# through masquerade, vm1 -> inet (scripts/topology.sh): every 64-byte UDP
# frame a new 5-tuple (tests/bench/bench_xdp -u: a new source and
# destination port pair each frame), until the flow table is half full
# (MAX_FLOWS / 2 new flows), side by side in one run:
#
#   sectorgate     after `sectorgate apply`, conntrack.max-flows (and the
#                  sector's quota) MAX_FLOWS: the flows it opened from
#                  `status` (the sector's flow count), the ns per packet
#                  of its XDP from bpf_stats (one more run: the clock
#                  reads slow the rates down)
#   nftables       the kernel's forwarding, a forward chain (ct state
#                  established accept) and masquerade, as masquerade.sh;
#                  nf_conntrack_max and the hash MAX_FLOWS for the run:
#                  the connections it opened from `conntrack -C`
#   bare XDP       rewrite and redirect, nothing looked up: the limit
#
# Each rate is the flows opened (for bare XDP, the frames delivered) over
# the time the source took to send them. Medians of ROUNDS interleaved
# rounds, and the ratio issue 10 holds sectorgate to: >= 3x nftables.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
ROUNDS=${ROUNDS:-3}
MAX_FLOWS=${MAX_FLOWS:-1048576}
FRAMES=$((MAX_FLOWS / 2))
WARM=1000	# bench_xdp's warm-up frames: new flows too, not timed

CT_MAX=/proc/sys/net/netfilter/nf_conntrack_max
CT_HASH=/sys/module/nf_conntrack/parameters/hashsize
ct_max0=
ct_hash0=
stats0=$(sysctl -n kernel.bpf_stats_enabled)
DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
cleanup() {
	sg unload >/dev/null 2>&1 || :
	in_gw nft delete table ip sgbench 2>/dev/null || :
	[ -z "$ct_hash0" ] || echo "$ct_hash0" >"$CT_HASH" 2>/dev/null || :
	[ -z "$ct_max0" ] || echo "$ct_max0" >"$CT_MAX" 2>/dev/null || :
	sysctl -qw kernel.bpf_stats_enabled="$stats0" || :
	topo_down || :
	rm -f "$DEFS" || :
}
trap cleanup EXIT
topo_up
topo_definitions |
	sed "s/^  protected: .*\$/&\n  conntrack: {max-flows: $MAX_FLOWS, max-flows-per-sector: $MAX_FLOWS}/" \
	>"$DEFS"
bench_path_ready

# send [bench_xdp options]: FRAMES new flows vm1 -> inet; prints
# "delivered seconds".
send() {
	local out
	out=$("$BENCH" -s "$(ns vm1):eth0" -k "$(ns inet):eth0" -m "$v1_mac" \
		-a 10.1.0.2 -d 192.0.2.2 -u -c $((FRAMES + WARM)) "$@")
	echo "    $out" >&2
	echo "$out" | sed -n 's/^sent [0-9]* delivered \([0-9]*\) in \([0-9.]*\) s.*/\1 \2/p'
}
flows_vm1() { sg status --json | jq -r '.sectors[] | select(.name == "vm1") | .flows'; }
per_s() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.1f", (s > 0 ? n / s / 1e3 : 0)}'; }

# conntrack sized as sectorgate's table: restored on exit. The module is
# there once a ruleset with ct has been loaded.
nft_masquerade | in_gw nft -f -
in_gw nft delete table ip sgbench
ct_max0=$(cat "$CT_MAX")
ct_hash0=$(cat "$CT_HASH")
echo "$MAX_FLOWS" >"$CT_HASH"
echo "$MAX_FLOWS" >"$CT_MAX"

# sg_round: one round through sectorgate, freshly applied (an empty
# table); adds its rate to results[sg], and with bpf_stats on its cost
# per packet to results[sg-ns].
declare -A results
sg_round() {
	local t0 c0 t1 c1 got secs n

	sg apply -c "$DEFS" >/dev/null
	read -r t0 c0 < <(prog_stats prog_xdp_sector)
	read -r got secs < <(send)
	read -r t1 c1 < <(prog_stats prog_xdp_sector)
	n=$(($(flows_vm1) - WARM))
	echo "  sectorgate's drops: $(sg stats --json | jq -c '.sectors.vm1.drops | with_entries(select(.value > 0))')" >&2
	sg unload >/dev/null
	if [ "$(sysctl -n kernel.bpf_stats_enabled)" = 1 ]; then
		results[sg-ns]+="$(awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) 'BEGIN {printf "%.0f", c ? t / c : 0}') "
	else
		results[sg]+="$(per_s "$n" "$secs") "
	fi
	echo "  sectorgate: $n new flows ($got delivered) in $secs s" >&2
}

# The rates with bpf_stats off: it reads the clock twice around every
# program run, which slows sectorgate's side alone.
sysctl -qw kernel.bpf_stats_enabled=0
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	sg_round

	nft_masquerade | in_gw nft -f -
	in_gw conntrack -F >/dev/null 2>&1 || :
	read -r got secs < <(send)
	n=$(($(in_gw conntrack -C) - WARM))
	in_gw nft delete table ip sgbench
	in_gw conntrack -F >/dev/null 2>&1 || :
	results[nft]+="$(per_s "$n" "$secs") "
	echo "  nftables: $n new connections ($got delivered) in $secs s" >&2

	read -r got secs < <(send -b "$GW:v1:wan0:$inet_mac:192.0.2.1")
	results[bare]+="$(per_s "$got" "$secs") "
	echo "  bare XDP: $got delivered in $secs s" >&2
done
echo "cost (bpf_stats on)" >&2
sysctl -qw kernel.bpf_stats_enabled=1
sg_round
sysctl -qw kernel.bpf_stats_enabled=0

s=$(echo "${results[sg]}" | median)
n=$(echo "${results[nft]}" | median)
b=$(echo "${results[bare]}" | median)
echo
echo "new flows, 64-byte UDP, every frame a new 5-tuple, $FRAMES flows into a $MAX_FLOWS-flow table, one core: thousands per second, median of $ROUNDS rounds"
printf '  %-12s %12s\n' "" "kflows/s"
printf '  %-12s %12s   (%s ns per packet, bpf_stats, one more run)\n' sectorgate "$s" "$(echo "${results[sg-ns]}" | median)"
printf '  %-12s %12s\n' nftables "$n" "bare XDP" "$b"
awk -v s="$s" -v n="$n" -v b="$b" 'BEGIN {
	printf "  sectorgate = %.1fx nftables (target >= 3x), %.0f%% of bare XDP\n", (n ? s / n : 0), (b ? 100 * s / b : 0)
}'
