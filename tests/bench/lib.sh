# Sourced by the benchmarks (after `set -eu`, with ROOT set): what they
# install, the namespace topology in a private mount namespace (the
# script's own arguments pass on), and the helpers they share.
"$ROOT/scripts/deps.sh" bench
. "$ROOT/tests/e2e/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"
BENCH=$ROOT/build/bench_xdp

# The median of the numbers on stdin (words or lines).
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# run_time_ns run_cnt of sectorgate's pinned program NAME (bpf_stats).
prog_stats() {
	bpftool -j prog show pinned "$PIN/$1" |
		jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

# cost PROG COMMAND...: ns per run of pinned program PROG over COMMAND
# (bpf_stats on; its output dropped), 0 if PROG did not run.
cost() {
	local prog=$1 t0 c0 t1 c1
	shift
	read -r t0 c0 < <(prog_stats "$prog")
	"$@" >/dev/null
	read -r t1 c1 < <(prog_stats "$prog")
	awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) 'BEGIN {printf "%.0f", c ? t / c : 0}'
}

# PERF=PREFIX: where the time goes. perf_start NAME records the whole
# machine for a second, half a second into the measurement that follows
# (in the background); perf_lines NAME PROG then writes PREFIX.NAME
# (perf report -i) and PREFIX.NAME.lines: the samples that fell inside
# pinned program PROG, by source line (build/bpf_lines: the call graph
# left out, so a helper's time is not its caller's), while it is
# loaded. Neither does anything without PERF.
if [ -n "${PERF:-}" ]; then
	command -v perf >/dev/null || { echo "PERF: no perf (linux-perf)" >&2; exit 1; }
	[ -x "$ROOT/build/bpf_lines" ] || { echo "PERF: make build/bpf_lines first" >&2; exit 1; }
fi
perf_start() {
	[ -n "${PERF:-}" ] || return 0
	(sleep 0.5; perf record -a -g -o "$PERF.$1" -- sleep 1 >/dev/null 2>&1) &
	perf_pid=$!
}
perf_lines() {
	[ -n "${PERF:-}" ] || return 0
	wait "$perf_pid" || { echo "  perf record failed: no $PERF.$1" >&2; return 0; }
	perf script -i "$PERF.$1" -G -F ip 2>/dev/null |
		"$ROOT/build/bpf_lines" "$PIN/$2" >"$PERF.$1.lines"
}

# One measurement in Mpps, logged as LABEL: SECS seconds of 64-byte UDP
# from host SRC's eth0 to MAC (the gateway's device), SADDR -> DADDR,
# ports SPORT:DPORT, counted on host SINK's eth0.
bench_mpps() {	# LABEL SRC SINK MAC SADDR DADDR SPORT:DPORT [bench_xdp options]
	local label=$1 src=$2 sink=$3 mac=$4 saddr=$5 daddr=$6 ports=$7 out
	shift 7
	out=$("$BENCH" -s "$(ns "$src"):eth0" -k "$(ns "$sink"):eth0" \
		-m "$mac" -a "$saddr" -d "$daddr" -p "$ports" -t "$SECS" "$@")
	echo "  $label: $out" >&2
	echo "$out" | sed -n 's/.*: \([0-9.]*\) Mpps delivered$/\1/p'
}

# The table of a side-by-side run: for each case NAME, the medians of
# the caller's results[sg-NAME], results[nft-NAME] and results[bare-NAME]
# (Mpps), and sectorgate's ratio to the other two.
ratio_table() {	# NAME...
	local k s n b
	printf '  %-10s %12s %12s %12s %14s %12s\n' "" sectorgate nftables \
		"bare XDP" "× nftables" "% of bare"
	for k; do
		s=$(echo "${results[sg-$k]}" | median)
		n=$(echo "${results[nft-$k]}" | median)
		b=$(echo "${results[bare-$k]}" | median)
		printf '  %-10s %12s %12s %12s %13.1fx %11.0f%%\n' "$k" "$s" "$n" "$b" \
			"$(awk -v s="$s" -v n="$n" 'BEGIN {print n ? s / n : 0}')" \
			"$(awk -v s="$s" -v b="$b" 'BEGIN {print b ? 100 * s / b : 0}')"
	done
}

# The MAC of a gateway device, or of a host's eth0.
mac() { in_gw ip -j link show "$1" | jq -r '.[0].address'; }
host_mac() { in_ns "$1" ip -j link show eth0 | jq -r '.[0].address'; }

# vm1 <-> inet through the gateway, ready to measure: the MACs the frame
# sources address (v1_mac, wan0_mac, vm1_mac, inet_mac); the gateway's
# devices taking the sources' XDP frames even without an XDP program of
# their own (nftables runs: GRO on); the neighbours resolved.
bench_path_ready() {
	v1_mac=$(mac v1)
	wan0_mac=$(mac wan0)
	vm1_mac=$(host_mac vm1)
	inet_mac=$(host_mac inet)
	in_gw ethtool -K v1 gro on >/dev/null
	in_gw ethtool -K wan0 gro on >/dev/null
	in_gw ping -c 1 -W 1 192.0.2.2 >/dev/null
	in_gw ping -c 1 -W 1 10.1.0.2 >/dev/null
}

# The cheapest nftables ruleset that does masquerade's job, vm1 -> wan0:
# a forward chain with ct state established accept, and masquerade. With
# "matrix": behind the N x N iifname/oifname drop matrix of the
# topology's five sectors, as the hosts sectorgate replaces write it.
nft_masquerade() {
	local devs=(v1 br2 v3 v4 v5) a b
	echo "table ip sgbench {"
	echo "chain forward { type filter hook forward priority 0; policy drop;"
	if [ "${1:-}" = matrix ]; then
		for a in "${devs[@]}"; do
			for b in "${devs[@]}"; do
				[ "$a" = "$b" ] ||
					echo "iifname \"$a\" oifname \"$b\" drop"
			done
		done
	fi
	echo "ct state established,related accept"
	echo "iifname \"v1\" oifname \"wan0\" accept"
	echo "}"
	echo "chain postrouting { type nat hook postrouting priority 100;"
	echo "oifname \"wan0\" masquerade"
	echo "}"
	echo "}"
}
