#!/bin/bash
# SPEC 3.4-3.6: masquerade with connection tracking. The "internet" host
# has no route to the sectors, so only sectorgate's translation brings
# replies back; it reports the address it sees. Two overlapping sectors
# (same CIDR, same VM address, same source port) connect at once. The
# gateway namespace has no nftables rules.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology

# inet: who-am-I over TCP and UDP, and a TCP echo.
(in_ns inet socat TCP4-LISTEN:80,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR $SOCAT_PEERPORT' &) 2>/dev/null
(in_ns inet socat UDP4-RECVFROM:53,bind=192.0.2.2,fork \
	SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
(in_ns inet socat TCP4-LISTEN:7,bind=192.0.2.2,fork,reuseaddr EXEC:cat &) 2>/dev/null
sleep 0.5

# whoami VM [socat client options]: the "address port" inet sees
whoami() {
	in_ns "$1" socat -t 3 -T 3 - "TCP4:192.0.2.2:80,connect-timeout=3${2:-}" </dev/null
}
seen_as_uplink() { whoami "$@" | grep -q '^192\.0\.2\.1 '; }

expect_fail "before: no reply without masquerade" whoami vm1
expect_ok "apply" sg apply -c "$DEFS"

expect_ok "TCP from vm1 arrives as the uplink address" seen_as_uplink vm1
expect_ok "TCP from vm2a behind the bridge too" seen_as_uplink vm2a
got=$(udp_ask vm1 192.0.2.2 53)
expect_eq "UDP from vm1 arrives as the uplink address" "$got" 192.0.2.1
[ "$got" = 192.0.2.1 ] || {
	echo "    vm1's drops: $(sg stats --json | jq -c '.sectors.vm1.drops // {}')"
	sg dump conntrack --json | jq -c '.[] | select(.proto == "udp")' | sed 's/^/    /'
}
expect_ok "ping from vm1" ping1 vm1 192.0.2.2
expect_ok "ping from vm2b" ping1 vm2b 192.0.2.2
expect_fail "vm3 (internet: false) gets nothing" whoami vm3

# 3.6: vm4 and vm5 are both 10.4.0.2 and use source port 30000 at once.
whoami vm4 ",sourceport=30000,reuseaddr" >"$work/vm4" 2>&1 &
whoami vm5 ",sourceport=30000,reuseaddr" >"$work/vm5" 2>&1 &
wait
expect_ok "overlapping vm4 gets its reply" grep -q '^192\.0\.2\.1 ' "$work/vm4"
expect_ok "overlapping vm5 gets its reply" grep -q '^192\.0\.2\.1 ' "$work/vm5"
expect_ok "they were given different ports" \
	test "$(cat "$work/vm4")" != "$(cat "$work/vm5")"
expect_ok "one of them kept port 30000" \
	grep -q ' 30000$' "$work/vm4" "$work/vm5"

# 3.5: inbound to a sector address without a flow.
in_ns inet ip route add 10.1.0.0/24 via 192.0.2.1
before=$(stat vm1 'drops["unsolicited"]')
expect_fail "inet -> vm1 unsolicited is dropped" ping1 inet 10.1.0.2
expect_eq "counted as unsolicited" \
	"$(($(stat vm1 'drops["unsolicited"]') - before))" 1

# 3.13: a long TCP connection survives apply and a restart of the loader
# (unload --keep-maps, apply: the flow table outlives the programs).
open_session vm1 192.0.2.2 7
expect_ok "a long TCP session through the NAT echoes" echoed one
sed 's/^    internet: false$/    internet: true/' "$DEFS" >"$work/more.yaml"
rx=$(stat vm1 rx_packets)
expect_ok "apply a changed definition" sg apply -c "$work/more.yaml"
expect_ok "vm1's counters go on through the apply" \
	test "$(stat vm1 rx_packets)" -ge "$rx" -a "$rx" -gt 0
expect_ok "the session survived the apply" echoed two
expect_ok "vm3 now reaches the internet" seen_as_uplink vm3
expect_ok "loader restart: unload --keep-maps" sg unload --keep-maps
expect_ok "loader restart: apply" sg apply -c "$work/more.yaml"
expect_ok "the session survived the restart" echoed three

# The flow as an operator sees it.
sg dump conntrack --json >"$work/ct.json"
expect_eq "dump conntrack shows the session" \
	"$(jq -r '[.[] | select(.sector=="vm1" and .proto=="tcp" and .dst=="192.0.2.2:7")][0] | [.state, (.nat | startswith("192.0.2.1:")), (.expires_in > 7000)] | @tsv' "$work/ct.json")" \
	"$(printf 'established\ttrue\ttrue')"
expect_ok "dump nat maps 192.0.2.1 back to vm1" \
	test "$(sg dump nat --json | jq '[.[] | select(.sector=="vm1" and (.external | startswith("192.0.2.1:")) and (.internal | startswith("10.1.0.2:")))] | length')" -gt 0
expect_eq "dump sectors lists them all" \
	"$(sg dump sectors --json | jq -c '[.[] | .name]')" '["vm1","vm2","vm3","vm4","vm5"]'
exec 3>&-

# Path MTU: "far" (203.0.113.10, interface MTU 1500) sits behind inet on
# a link inet can only send 1280 bytes over. vm1's full-size DF segments
# make inet answer "fragmentation needed" to the uplink address; only
# its translation back to vm1 lets the upload finish.
ip netns add "$(ns far)"
ip link add eth0 netns "$(ns far)" type veth peer name far0 netns "$(ns inet)"
in_ns far ip link set lo up
in_ns far ip link set eth0 up
in_ns far ip addr add 203.0.113.10/24 dev eth0
in_ns far ip route add default via 203.0.113.1
in_ns inet ip link set far0 mtu 1280 up
in_ns inet ip addr add 203.0.113.1/24 dev far0
in_ns inet sysctl -qw net.ipv4.ip_forward=1
in_gw ip route add 203.0.113.0/24 via 192.0.2.2
(in_ns far socat TCP4-LISTEN:9000,bind=203.0.113.10,fork,reuseaddr \
	SYSTEM:'wc -c' &) 2>/dev/null
sleep 0.3
upload() {
	head -c 300000 /dev/zero |
		in_ns vm1 socat -t 10 -T 10 - TCP4:203.0.113.10:9000,connect-timeout=3
}
expect_eq "a 300 kB DF upload over a 1280-byte link completes" \
	"$(upload | tr -d ' ')" 300000
expect_ok "vm1 learnt the path MTU from the translated ICMP error" \
	sh -c "ip netns exec $(ns vm1) ip route get 203.0.113.10 | grep -q 'mtu 1280'"

# Fragments (3.12: only those the dataplane cannot map are `fragment`).
# A 4000-byte ping and UDP datagram leave vm1 in fragments (MTU 1500) and
# their answers come back in fragments. The gateway reassembles nothing
# (no conntrack in it): each fragment after the first follows its first
# through the NAT, both ways.
in_fragments vm1 inet 192.0.2.2 "through the NAT"

# Time exceeded (3.4). TTL 1: the gateway's own stack answers (the fast
# path leaves it the packet). TTL 2: it expires at inet, the router after
# the gateway, whose error to the uplink's address reaches vm1 translated
# back (test_nat has TCP and UDP byte for byte).
ttl_exceeded() {	# TTL FROM
	ip netns exec "$(ns vm1)" ping -c 1 -W 2 -t "$1" 203.0.113.10 |
		grep -q "^From $2 .*Time to live exceeded"
}
expect_ok "a TTL-1 ping: time exceeded from the gateway" ttl_exceeded 1 10.1.0.1
expect_ok "a TTL-2 ping: time exceeded from inet, translated back to vm1" \
	ttl_exceeded 2 192.0.2.2

# The XDP fast path. vm1 and inet are NIC-like (scripts/topology.sh): once
# a flow is established its packets never enter the gateway's stack, which
# therefore forwards almost nothing while megabytes go through; vm5 is not,
# and its replies take tc.
head -c 3000000 /dev/urandom >"$work/blob"
sum=$(sha256sum <"$work/blob" | cut -d' ' -f1)
(in_ns inet socat TCP4-LISTEN:8000,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:"cat $work/blob" &) 2>/dev/null
(in_ns inet socat TCP4-LISTEN:8001,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:sha256sum &) 2>/dev/null
sleep 0.3
forwarded() { in_gw awk '/^Ip: [0-9]/ {print $7}' /proc/net/snmp; }
fast_out=$(stat vm1 fast_out_packets)
fast_in=$(stat vm1 fast_in_packets)
fwd=$(forwarded)
expect_eq "a 3 MB download over the fast path arrives intact" \
	"$(in_ns vm1 socat -t 10 -T 10 -u TCP4:192.0.2.2:8000,connect-timeout=3 - | sha256sum | cut -d' ' -f1)" "$sum"
expect_eq "a 3 MB upload over the fast path arrives intact" \
	"$(in_ns vm1 socat -t 10 -T 10 - TCP4:192.0.2.2:8001,connect-timeout=3 <"$work/blob" | cut -d' ' -f1)" "$sum"
fast_out=$(($(stat vm1 fast_out_packets) - fast_out))
fast_in=$(($(stat vm1 fast_in_packets) - fast_in))
fwd=$(($(forwarded) - fwd))
[ "$fast_in" -ge 1500 ] && [ "$fast_out" -ge 1500 ] &&
	pass "the transfers took the fast path ($fast_out out, $fast_in in)" ||
	fail "the transfers took the fast path ($fast_out out, $fast_in in)"
[ "$fwd" -lt 100 ] &&
	pass "the gateway's stack forwarded only $fwd of their packets" ||
	fail "the gateway's stack forwarded $fwd of their packets"
# vm5 keeps veth's defaults: it leaves its checksums to the "device",
# which XDP finishes for it, so its ACKs go out fast; the data it gets
# takes tc (v5 cannot take XDP frames: vm5 has no GRO).
acks=$(stat vm5 fast_out_packets)
expect_eq "a 3 MB download to vm5 arrives intact" \
	"$(in_ns vm5 socat -t 10 -T 10 -u TCP4:192.0.2.2:8000,connect-timeout=3 - | sha256sum | cut -d' ' -f1)" "$sum"
acks=$(($(stat vm5 fast_out_packets) - acks))
[ "$acks" -ge 20 ] &&
	pass "vm5's ACKs, checksums finished in XDP, took the fast path ($acks)" ||
	fail "vm5's ACKs, checksums finished in XDP, took the fast path ($acks)"
expect_eq "vm5's replies took tc (its VM has no GRO)" \
	"$(stat vm5 fast_in_packets)" 0
fast_paths() {	# SECTOR: xdp_out,xdp_in of its flow to inet's port 8000
	sg dump conntrack --json | jq -r --arg s "$1" \
		'[.[] | select(.sector==$s and .dst=="192.0.2.2:8000")][0] | "\(.xdp_out),\(.xdp_in)"'
}
expect_eq "dump conntrack: vm1's download went by XDP both ways" \
	"$(fast_paths vm1)" "true,true"
expect_eq "dump conntrack: vm5's only out" "$(fast_paths vm5)" "true,false"

# A flow the definitions no longer allow stops both ways (3.4, 3.13):
# inet sends vm1 a datagram every 0.1 s on vm1's UDP flow, and an apply
# takes vm1's internet away; from then on nothing of it reaches vm1, and
# what inet sends is counted no-internet on vm1.
(in_ns inet python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 5400))
_, peer = s.recvfrom(100)
for i in range(80):
    s.sendto(b"tick %d" % i, peer)
    time.sleep(0.1)' &) 2>/dev/null
expect_ok "inet's ticker listens" poll 5 'listening inet u 5400'
(in_ns vm1 python3 -u -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(b"go", ("192.0.2.2", 5400))
try:
    while True:
        print(s.recv(100).decode())
except OSError:
    pass' >"$work/ticks" &) 2>/dev/null
expect_ok "the ticks reach vm1" poll 5 '[ "$(wc -l <"$work/ticks")" -ge 3 ]'
sed '/^  - name: vm1$/,/^    xdp: on$/ s/^    xdp: on$/&\n    internet: false/' \
	"$DEFS" >"$work/vm1-offline.yaml"
before=$(stat vm1 'drops["no-internet"]')
expect_ok "apply: vm1 internet: false" sg apply -c "$work/vm1-offline.yaml"
sleep 0.3
ticks=$(wc -l <"$work/ticks")
sleep 1
expect_eq "no tick reaches vm1 after the apply" "$(wc -l <"$work/ticks")" "$ticks"
expect_ok "inet's ticks are counted no-internet on vm1" \
	test "$(moved vm1 no-internet "$before")" -ge 5
expect_ok "apply the definitions back" sg apply -c "$DEFS"

flows=$(sg status --json | jq '.maps.sg_flows.entries')
[ "$flows" -ge 10 ] && pass "flows are tracked ($flows entries)" ||
	fail "flows are tracked ($flows entries)"
expect_ok "vm4 and vm5 count their own traffic" \
	test "$(stat vm4 tx_packets)" -gt 0 -a "$(stat vm5 tx_packets)" -gt 0

e2e_summary
