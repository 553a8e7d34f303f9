#!/bin/bash
# SPEC 3.11: one sector's flood of new flows never refuses another
# sector's new connection and never breaks an established flow. vm1 sends
# thousands of UDP datagrams from new ports to a sink that never answers,
# into a flow table of 1024 flows with a quota of 128 per sector, while
# vm4 keeps a TCP session open and vm2a opens new connections; stats
# counts the flooder's flows evicted. Flooding a resolver instead,
# whose answered flows give no room, it is refused (conntrack-full).
# Real traffic, no nftables rules anywhere.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
sed 's/^  protected: .*$/&\n  conntrack: {max-flows: 1024, max-flows-per-sector: 128}/' \
	"$DEFS" >"$work/defs.yaml"

(in_ns inet socat TCP4-LISTEN:7,fork,reuseaddr PIPE &) 2>/dev/null
(in_ns inet socat -u UDP4-RECV:9999 /dev/null &) 2>/dev/null
expect_ok "the services listen" poll 5 'listening inet t 7 && listening inet u 9999'
expect_ok "apply" sg apply -c "$work/defs.yaml"

open_session vm4 192.0.2.2 7
expect_ok "vm4's TCP session echoes" echoed before

# sends N [PORT]: N datagrams from vm1 to the sink (or to PORT of inet),
# each from a new socket, so a new port, a new flow. vm1_flows: the flows
# vm1 holds. connections N: how many of N new TCP connections vm2a opens.
sends() {
	in_ns vm1 bash -c "for i in \$(seq $1); do
		echo x >/dev/udp/192.0.2.2/${2:-9999}; done" 2>/dev/null
}
flood() { sends 3000; }
vm1_flows() { sg status --json | jq '.sectors[] | select(.name=="vm1") | .flows'; }
connections() {
	local i opened=0
	for i in $(seq "$1"); do
		tcp vm2a 192.0.2.2 7 && opened=$((opened + 1))
	done
	echo "$opened"
}
flood &
flooding=$!
full=$(stat vm2 'drops["conntrack-full"]')
opened=$(connections 20)
wait "$flooding"
flood
expect_eq "vm2a opened all its 20 connections during the flood" "$opened" 20
expect_eq "none of them was conntrack-full" "$(moved vm2 conntrack-full "$full")" 0
expect_ok "vm2a opens one after it too" tcp vm2a 192.0.2.2 7
expect_ok "vm4's session still echoes" echoed after
flows=$(vm1_flows)
expect_ok "vm1 holds no more than its quota ($flows flows)" test "$flows" -le 130
expect_ok "the table holds no more than it can" \
	test "$(sg status --json | jq '.maps.sg_flows.entries')" -le 2048
sent=$(stat vm1 rx_packets)
expect_ok "vm1 did send its flood ($sent packets)" test "$sent" -ge 5000
# What an operator sees of it: the flooder's flows evicted for room, and
# none of the others'.
evicted=$(stat vm1 flows_evicted)
expect_ok "stats: vm1's flows evicted for room ($evicted)" test "$evicted" -ge 4000
expect_eq "stats: none of vm2's or vm4's" \
	"$(stat vm2 flows_evicted) $(stat vm4 flows_evicted)" "0 0"
expect_ok "metrics: sectorgate_flows_evicted_total of vm1" \
	grep -qx "sectorgate_flows_evicted_total{sector=\"vm1\"} [1-9][0-9]*" \
	<(sg stats --prometheus)

# conntrack.max-flows changed on a live apply: a table of the new size,
# its flows moved into it; one too small for the flows open is refused.
table() { sg status --json | jq -r ".maps.sg_flows.$1"; }
entries=$(table entries)
sed 's/max-flows: 1024,/max-flows: 4096,/' "$work/defs.yaml" >"$work/bigger.yaml"
expect_ok "dry run: the table grows" \
	grep -q '^  flow table: room for 1024 flows, now 4096 ' <(sg apply --dry-run -c "$work/bigger.yaml")
expect_ok "apply max-flows 4096" sg apply -c "$work/bigger.yaml"
expect_eq "the table has room for 4096 flows" "$(table max_entries)" 8192
expect_ok "the $entries entries moved with it ($(table entries) now)" \
	test "$(table entries)" -ge "$entries"
expect_ok "vm4's session still echoes" echoed resized
expect_ok "vm2a opens a connection" tcp vm2a 192.0.2.2 7
sed 's/max-flows: 1024, max-flows-per-sector: 128/max-flows: 64, max-flows-per-sector: 16/' \
	"$work/defs.yaml" >"$work/smaller.yaml"
rc=0
sg apply --dry-run -c "$work/smaller.yaml" >"$work/dry" 2>/dev/null || rc=$?
expect_eq "dry run: a table too small is refused (status 3)" "$rc" 3
expect_ok "and says so" grep -q '^  flow table: room for 4096 flows, now 64 (refused' "$work/dry"
rc=0
sg apply -c "$work/smaller.yaml" >/dev/null 2>"$work/err" || rc=$?
expect_eq "a table too small for the flows open is refused (status 3)" "$rc" 3
expect_ok "saying why" grep -q "the flow table holds [0-9]* entries, more than a table for 64 flows takes" "$work/err"
expect_eq "the table keeps its size" "$(table max_entries)" 8192
expect_ok "vm4's session still echoes" echoed refused
exec 3>&-

# A full table whose heaviest sector is under its quota: the flooder's
# unanswered flows make room for another sector's new ones, whatever
# that sector's own answered flows, however many the flooder holds (an
# operator found that only the first few did).
sg unload >/dev/null
sed 's/max-flows: 1024, max-flows-per-sector: 128/max-flows: 256, max-flows-per-sector: 240/' \
	"$work/defs.yaml" >"$work/full.yaml"
expect_ok "apply a table of 256 flows, 240 a sector" sg apply -c "$work/full.yaml"
for i in $(seq 40); do tcp vm2a 192.0.2.2 7; done
sends 400
held=$(sg status --json | jq '[.sectors[] | .flows] | add')
flood_held=$(vm1_flows)
expect_ok "the table is full ($held flows, $flood_held of them vm1's)" \
	test "$held" -ge 250 -a "$flood_held" -ge 200
full=$(stat vm2 'drops["conntrack-full"]')
expect_eq "vm2a opens all of 30 new connections" "$(connections 30)" 30
expect_eq "none of them was conntrack-full" "$(moved vm2 conntrack-full "$full")" 0

# A flood that stopped, far larger than the ring of the last 256 flows a
# sector opened: under `run`, whose collection lists each sector's older
# unanswered flows, all of them make room for another sector's
# connections (before, what the flooder opened before its last 256 was
# out of reach until it expired, 300 s for UDP). Right after the flood
# they are not listed yet: the first search that finds no room makes run
# list them at once (before, at its next collection, up to 5 s later:
# an acceptance probe's connections failed for 4 s), so a connection at
# most loses its first SYN, which TCP sends again a second later.
sg unload >/dev/null
sed 's/max-flows: 1024, max-flows-per-sector: 128/max-flows: 1000, max-flows-per-sector: 1000/' \
	"$work/defs.yaml" >"$work/stopped.yaml"
nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" run \
	-c "$work/stopped.yaml" >"$work/run.log" 2>&1 &
runner=$!
trap 'stop_run; sg unload >/dev/null 2>&1; topo_down; rm -rf "$DEFS" "$work"' EXIT
expect_ok "run applies a table of 1000 flows, 1000 a sector" \
	poll 10 'sg status --json >/dev/null'
sends 1200
flood_held=$(vm1_flows)
expect_ok "vm1's flood stopped with the table full ($flood_held flows)" \
	test "$flood_held" -ge 990
full=$(stat vm2 'drops["conntrack-full"]')
expect_eq "at once, vm2a opens all of 420 new connections" "$(connections 420)" 420
lost=$(moved vm2 conntrack-full "$full")
expect_ok "losing a SYN or two to conntrack-full ($lost), until run listed again" \
	test "$lost" -le 2
left=$(vm1_flows)
expect_ok "vm1 made room for them ($left flows left)" \
	test "$left" -le $((flood_held - 400))
kill "$runner" 2>/dev/null
wait "$runner" 2>/dev/null

# A flood whose flows are answered (DNS queries to a resolver): answered
# flows give no room, so with its quota full of them the flooder's new
# flows are dropped as conntrack-full, which stats shows; another sector
# still opens its connections. dnsmasq answers every query from one
# socket (socat's UDP forks lost datagrams, and once stalled for good, on
# a loaded machine); the client waits for each answer, retrying from the
# same port (the same flow), since a flow left unanswered would make room
# for each next one.
sg unload >/dev/null
cat >"$work/ask_all.py" <<'PY'
# ask_all.py ADDR FIRST N: from N sockets bound to ports FIRST on, each
# asks ADDR's resolver for an A record and waits for its answer, up to
# five times from the same port, within 60 s in all; prints how many
# were answered.
import socket, struct, sys, time

addr, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + 60
answered = 0
for p in range(first, first + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", p))
    s.settimeout(0.5)
    name = b"".join(bytes([len(l)]) + l for l in (b"q%d" % p, b"sg", b"test"))
    query = struct.pack("!6H", p, 0x0100, 1, 0, 0, 0) + name + b"\0\0\1\0\1"
    for _ in range(5):
        if time.monotonic() > deadline:
            break
        s.sendto(query, (addr, 53))
        try:
            if struct.unpack("!H", s.recv(512)[:2])[0] == p:
                answered += 1
                break
        except socket.timeout:
            pass
    s.close()
print(answered)
PY
(in_ns inet dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
	--no-hosts --pid-file= --listen-address=192.0.2.2 --bind-interfaces \
	--address=/sg.test/192.0.2.9 &) 2>/dev/null
expect_ok "a resolver listens" poll 5 'listening inet u 53'
expect_ok "apply a quota of 128" sg apply -c "$work/defs.yaml"
# Ports below vm1's ephemeral range: the flood's own never meet them.
answered=$(in_ns vm1 python3 "$work/ask_all.py" 192.0.2.2 20000 128)
expect_eq "vm1's quota is full of answered flows" "$answered" 128
# Short of it, what the gateway saw of them.
[ "$answered" = 128 ] ||
	sg stats --json | jq -c '.sectors.vm1' | sed 's/^/    vm1: /'
full=$(stat vm1 'drops["conntrack-full"]')
evicted=$(stat vm1 flows_evicted)
sends 50 53
expect_eq "stats: vm1's 50 flows more were refused (conntrack-full)" \
	"$(moved vm1 conntrack-full "$full")" 50
expect_eq "stats: none of its answered flows was evicted" \
	"$(($(stat vm1 flows_evicted) - evicted))" 0
full=$(stat vm2 'drops["conntrack-full"]')
expect_eq "vm2a opens all of 20 new connections" "$(connections 20)" 20
expect_eq "none of them was conntrack-full" "$(moved vm2 conntrack-full "$full")" 0

e2e_summary
