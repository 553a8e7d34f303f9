#!/bin/bash
# Benchmark, not a test: nothing here asserts a time. The single-core
# capacity of the masquerade path vm1 -> gateway -> inet, side by side in
# one run on the same topology (scripts/topology.sh):
#
#   sectorgate   its XDP fast path, after `sectorgate apply`
#   nftables     the kernel's forwarding with an nftables forward chain
#                (ct state established accept) and masquerade, as the
#                hosts sectorgate replaces run it
#   bare XDP     rewrite and redirect with nothing looked up: the limit
#
# 64-byte UDP frames from one flow, sent by tests/bench/bench_xdp (live
# frames) and counted by an XDP sink on inet. Prints delivered Mpps and
# the ratios sectorgate is held to: >= 5x nftables, >= 70% of bare XDP.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
"$ROOT/scripts/deps.sh" bench
. "$ROOT/tests/e2e/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"
BENCH=$ROOT/build/bench_xdp
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
trap 'sg unload >/dev/null 2>&1; topo_down; rm -f "$DEFS"' EXIT
topo_up
topo_definitions >"$DEFS"
mac() { in_gw ip -j link show "$1" | jq -r '.[0].address'; }
gw_mac=$(mac v1)
inet_mac=$(in_ns inet ip -j link show eth0 | jq -r '.[0].address')
# v1 takes the source's XDP frames even with no XDP program of its own.
in_gw ethtool -K v1 gro on >/dev/null
in_gw ping -c 1 -W 1 192.0.2.2 >/dev/null

# rate LABEL [bench_xdp options]: one measurement, in Mpps
rate() {
	local label=$1 out
	shift
	out=$("$BENCH" -s "$(ns vm1):eth0" -k "$(ns inet):eth0" -m "$gw_mac" \
		-a 10.1.0.2 -d 192.0.2.2 -t "$SECS" "$@")
	echo "  $label: $out" >&2
	echo "$out" | sed -n 's/.*: \([0-9.]*\) Mpps delivered$/\1/p'
}

sectorgate() {
	sg apply -c "$DEFS" >/dev/null
	rate sectorgate
	sg unload >/dev/null
}

nftables() {
	in_gw nft -f - <<'NFT'
table ip sgbench {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "v1" oifname "wan0" accept
	}
	chain postrouting {
		type nat hook postrouting priority 100;
		oifname "wan0" masquerade
	}
}
NFT
	rate nftables
	in_gw nft delete table ip sgbench
}

bare() {
	rate "bare XDP" -b "$GW:v1:wan0:$inet_mac:192.0.2.1"
}

# Interleaved rounds, so drift of the machine hits every path alike; the
# median of each is reported.
declare -A all
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	all[sg]+="$(sectorgate) "
	all[nft]+="$(nftables) "
	all[bare]+="$(bare) "
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
sg_m=$(echo "${all[sg]}" | median)
nft_m=$(echo "${all[nft]}" | median)
bare_m=$(echo "${all[bare]}" | median)

echo
echo "masquerade, 64-byte UDP, one core, median of $ROUNDS rounds of ${SECS} s:"
printf '  %-12s %8s Mpps\n' sectorgate "$sg_m" nftables "$nft_m" "bare XDP" "$bare_m"
awk -v s="$sg_m" -v n="$nft_m" -v b="$bare_m" 'BEGIN {
	printf "  sectorgate / nftables  = %.1fx   (target >= 5x)\n", s / n
	printf "  sectorgate / bare XDP  = %.0f%%   (target >= 70%%)\n", 100 * s / b
}'
