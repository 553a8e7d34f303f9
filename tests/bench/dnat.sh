#!/bin/bash
# Benchmark, not a test: nothing here asserts a time. The single-core
# capacity of the two paths that rewrite a destination, 64-byte UDP of one
# flow, side by side in one run:
#
#   imds      vm1 (imds: true) -> 169.254.169.254:80, the metadata service
#             behind the uplink, which must see the host's own address:
#             sectorgate's XDP fast path; nftables with `snat to` the host
#             for that address and port (and ct established accept); bare
#             XDP rewrite and redirect
#   forward   inet -> the uplink's 192.0.2.1:5301, forwarded to vm1's
#             10.1.0.2:53: sectorgate's XDP fast path on the uplink (vm1
#             answers once first: the path learns its MACs from that);
#             nftables with `dnat to` (and ct established accept); bare
#             XDP rewrite and redirect
#
# Frames from tests/bench/bench_xdp (live frames), counted by an XDP sink
# on the receiving host. Medians of ROUNDS rounds of SECS seconds in Mpps,
# and sectorgate's ratio to each.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}

DEFS=$(mktemp /tmp/sectorgate-bench.XXXXXX.yaml)
trap 'sg unload >/dev/null 2>&1; in_gw nft delete table ip sgbench 2>/dev/null || :
	topo_down; rm -f "$DEFS"' EXIT
topo_up
topo_definitions |
	sed 's/^    interfaces: \[v1\]$/&\n    imds: true\n    forwards: [{proto: udp, port: 5301, to: "10.1.0.2:53"}]/' >"$DEFS"
# The metadata service lives behind the uplink, as on a cloud host.
in_ns inet ip addr add 169.254.169.254/32 dev lo
in_gw ip route add 169.254.169.254/32 via 192.0.2.2
bench_path_ready

# imds|forward [bench_xdp options]: one measurement in Mpps.
rate() {
	local path=$1
	shift
	if [ "$path" = imds ]; then
		bench_mpps imds vm1 inet "$v1_mac" 10.1.0.2 169.254.169.254 \
			20000:80 "$@"
	else
		bench_mpps forward inet vm1 "$wan0_mac" 192.0.2.2 192.0.2.1 \
			40000:5301 "$@"
	fi
}

udp_from() {	# NS SRC SPORT DST DPORT: one datagram
	in_ns "$1" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.sendto(b"x", (sys.argv[3], int(sys.argv[4])))' "$2" "$3" "$4" "$5"
	sleep 0.1
}

nft_ruleset() {
	echo "table ip sgbench {"
	echo "chain prerouting { type nat hook prerouting priority -100;"
	echo "iifname \"wan0\" ip daddr 192.0.2.1 udp dport 5301 dnat to 10.1.0.2:53"
	echo "}"
	echo "chain forward { type filter hook forward priority 0; policy drop;"
	echo "ct state established,related accept"
	echo "iifname \"v1\" ip daddr 169.254.169.254 udp dport 80 accept"
	echo "iifname \"wan0\" oifname \"v1\" ct status dnat accept"
	echo "}"
	echo "chain postrouting { type nat hook postrouting priority 100;"
	echo "oifname \"wan0\" ip daddr 169.254.169.254 snat to 192.0.2.1"
	echo "}"
	echo "}"
}

declare -A results
for r in $(seq "$ROUNDS"); do
	echo "round $r" >&2
	sg apply -c "$DEFS" >/dev/null
	results[sg-imds]+="$(rate imds) "
	# The forward's flow opened, and one answer of the VM's: the fast
	# path delivers with the MACs it learns from the VM's own frames
	# (as a service that answers gives it at once).
	udp_from inet 192.0.2.2 40000 192.0.2.1 5301
	udp_from vm1 10.1.0.2 53 192.0.2.2 40000
	results[sg-forward]+="$(rate forward) "
	sg unload >/dev/null
	nft_ruleset | in_gw nft -f -
	results[nft-imds]+="$(rate imds) "
	results[nft-forward]+="$(rate forward) "
	in_gw nft delete table ip sgbench
	results[bare-imds]+="$(rate imds -b "$GW:v1:wan0:$inet_mac:192.0.2.1") "
	results[bare-forward]+="$(rate forward -r -b "$GW:wan0:v1:$vm1_mac:10.1.0.2") "
done

echo
echo "destination rewrites, 64-byte UDP, 1 flow, one core: Mpps, median of $ROUNDS rounds of ${SECS} s"
ratio_table imds forward
