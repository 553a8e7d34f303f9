#!/bin/bash
# SPEC 3.1-3.3: isolation with allow exceptions, anti-spoofing, protected
# destinations and the gateway's own services, with real traffic through
# a gateway namespace that has no nftables rules. Then unload, and the
# same traffic flows freely: it was sectorgate that dropped it.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

cleanup() { sg unload >/dev/null 2>&1; topo_down; }
trap cleanup EXIT
topo_up
DEFS=$(mktemp /tmp/sectorgate-e2e.XXXXXX.yaml)
trap 'cleanup; rm -f "$DEFS"' EXIT
topo_definitions > "$DEFS"


# Services: TCP and UDP echo on 8080, 9090, 5353 and 5354 in vm2a;
# TCP 8080 in vm1; TCP 53 on the gateway's own address in sector vm1.
# (Detached: topo_down kills them with their namespaces, quietly.)
for port in 8080 9090; do
	(in_ns vm2a socat TCP4-LISTEN:$port,bind=10.2.0.2,fork,reuseaddr EXEC:cat &) 2>/dev/null
done
for port in 5353 5354; do
	(in_ns vm2a socat UDP4-RECVFROM:$port,fork EXEC:cat &) 2>/dev/null
done
(in_ns vm1 nc -l -k 10.1.0.2 8080 &) 2>/dev/null
(in_gw nc -l -k 10.1.0.1 53 &) 2>/dev/null
sleep 0.5

# Without sectorgate, everything reaches everything.
expect_ok "before: vm1 reaches vm3" ping1 vm1 10.3.0.2
expect_ok "before: vm1 reaches the management LAN" ping1 vm1 198.51.100.2
expect_ok "before: vm2a reaches vm1 on tcp/8080" tcp vm2a 10.1.0.2 8080

expect_ok "apply" sg apply -c "$DEFS"
expect_eq "apply again is a no-op" "$(sg apply -c "$DEFS" | grep -c 'no changes')" 1
expect_eq "the bridge and v3 (xdp: auto) run tc, the veths with xdp: on XDP" \
	"$(sg status --json | jq -cS '[.devices[] | select(.role=="sector") | {(.name): .hooks}] | add')" \
	'{"br2":["tc-ingress","tc-egress"],"v1":["xdp","tc-egress"],"v3":["tc-ingress","tc-egress"],"v4":["xdp","tc-egress"],"v5":["xdp","tc-egress"]}'

# The gateway itself (3.3).
expect_ok "vm1 pings its gateway" ping1 vm1 10.1.0.1
expect_ok "vm1 reaches a service on its gateway" tcp vm1 10.1.0.1 53
expect_ok "vm2a pings its gateway on the bridge" ping1 vm2a 10.2.0.1
expect_ok "vm2a and vm2b share their bridge" ping1 vm2a 10.2.0.3

# Isolation and the allow exceptions (3.1).
expect_ok "vm1 -> vm2a tcp/8080 is allowed" tcp vm1 10.2.0.2 8080
expect_fail "vm1 -> vm2a tcp/9090 is not" tcp vm1 10.2.0.2 9090
expect_ok "vm1 -> vm2a udp/5353 is allowed, the reply returns" udp vm1 10.2.0.2 5353
expect_fail "vm1 -> vm2a udp/5354 is not" udp vm1 10.2.0.2 5354
expect_ok "vm1 -> vm2b icmp is allowed" ping1 vm1 10.2.0.3
# Bigger than the MTU: in fragments both ways, the rest of each datagram
# following its first; the gateway reassembles nothing.
reasm=$(reassembled vm2b)
frags=$(($(stat vm1 'drops["fragment"] // 0') + $(stat vm2 'drops["fragment"] // 0')))
expect_ok "vm1 -> vm2b a 4000-byte ping, in fragments both ways" \
	in_ns vm1 ping -c 2 -W 2 -s 4000 -M dont 10.2.0.3
expect_ok "vm2b put the fragments together" test "$(reassembled vm2b)" -ge $((reasm + 2))
expect_eq "none of them was dropped" \
	"$(($(stat vm1 'drops["fragment"] // 0') + $(stat vm2 'drops["fragment"] // 0')))" "$frags"
# An ICMP error about an allowed flow is one of its replies: vm2b's port
# unreachable for udp/5353, where nothing listens, reaches vm1.
expect_fail "vm2b has no UDP service on 5353" listening vm2b u 5353
before=$(stat vm2 'drops["inter-sector"]')
refused=$(echo x | in_ns vm1 socat -T 3 - UDP4:10.2.0.3:5353 2>&1 >/dev/null)
expect_ok "vm1 -> vm2b udp/5353 (allowed, closed): connection refused" \
	grep -q "Connection refused" <<<"$refused"
expect_eq "vm2b's port unreachable was not dropped" \
	"$(($(stat vm2 'drops["inter-sector"]') - before))" 0
expect_fail "vm2a -> vm1 tcp/8080: allow is one way" tcp vm2a 10.1.0.2 8080
expect_fail "vm3 -> vm1 is isolated" ping1 vm3 10.1.0.2
expect_fail "vm3 -> the gateway of vm1 is isolated" ping1 vm3 10.1.0.1

before=$(stat vm1 'drops["inter-sector"]')
in_ns vm1 ping -c 3 -i 0.2 -W 1 10.3.0.2 >/dev/null 2>&1
expect_eq "3 pings vm1 -> vm3 count 3 inter-sector drops" \
	"$(($(stat vm1 'drops["inter-sector"]') - before))" 3

# VLAN-tagged frames (3.12), which this kernel has no VLAN devices to
# make: three raw 802.1Q frames (VLAN 100, an IPv4 header after the tag)
# from vm1 to the gateway's v1, each dropped and counted unsupported-l2.
v1_mac=$(in_gw ip -j link show v1 | jq -r ".[0].address" | tr -d :)
vm1_mac=$(in_ns vm1 cat /sys/class/net/eth0/address | tr -d ':')
expect_eq "the raw frames' MACs are known" "${#v1_mac}${#vm1_mac}" 1212
# raw_from_vm1 HEX...: each a frame from vm1 to v1, from its EtherType on
# (hex), sent as it is.
raw_from_vm1() {
	in_ns vm1 python3 -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for body in sys.argv[3:]:
    s.send(bytes.fromhex(sys.argv[1] + sys.argv[2] + body))
' "$v1_mac" "$vm1_mac" "$@"
}
zeros() { printf '%0*d' $((2 * $1)) 0; }	# N bytes of 0, in hex
before=$(stat vm1 'drops["unsupported-l2"]')
vlan="8100""0064""0800""45000054000040004001""0000""0a010002""0a010001$(zeros 64)"
raw_from_vm1 "$vlan" "$vlan" "$vlan"
expect_ok "three VLAN-tagged frames from vm1 are dropped as unsupported-l2" \
	poll 3 '[ $(($(stat vm1 "drops[\"unsupported-l2\"]") - before)) -eq 3 ]'

# Anti-spoofing (3.2): a source outside the sector's CIDRs.
in_ns vm1 ip addr add 10.9.9.9/32 dev eth0
before=$(stat vm1 'drops["spoofed-source"]')
expect_fail "vm1 with a spoofed source is dropped" \
	in_ns vm1 ping -c 2 -i 0.2 -W 1 -I 10.9.9.9 10.1.0.1
expect_eq "2 spoofed pings count 2 spoofed-source drops" \
	"$(($(stat vm1 'drops["spoofed-source"]') - before))" 2

# Protected destinations and internet access.
before=$(stat vm1 'drops["protected-destination"]')
expect_fail "vm1 -> management LAN is protected" ping1 vm1 198.51.100.2
expect_eq "counted as protected-destination" \
	"$(($(stat vm1 'drops["protected-destination"]') - before))" 1
before=$(stat vm3 'drops["no-internet"]')
expect_fail "vm3 (internet: false) -> 192.0.2.2 is dropped" ping1 vm3 192.0.2.2
expect_eq "counted as no-internet" \
	"$(($(stat vm3 'drops["no-internet"]') - before))" 1

# Overlapping sectors (3.1, 3.6): vm4 and vm5 share 10.4.0.0/24 and the
# gateway's address on v4 and v5, and the host's connected route for the
# CIDR names v4. vm5's packet for another address of it, 10.4.0.3, which
# vm4 holds too, would be routed into vm4: inter-sector, counted on vm5.
# (After unload, below, it arrives: the host alone would carry it.) vm5
# sends it to the gateway, as a host route (or a hand-made frame) does,
# from 10.4.0.5 (vm4 would take its own 10.4.0.2 for a martian source).
in_ns vm4 ip addr add 10.4.0.3/24 dev eth0
in_ns vm5 ip addr add 10.4.0.5/24 dev eth0
in_ns vm5 ip route add 10.4.0.3/32 via 10.4.0.1 src 10.4.0.5
(in_ns vm4 socat -u UDP4-RECV:7000,bind=10.4.0.3 OPEN:"$DEFS.vm4",creat,append &) 2>/dev/null
to_vm4() {
	echo "from vm5" | in_ns vm5 socat -u - UDP4:10.4.0.3:7000,bind=10.4.0.5
	sleep 0.3
}
expect_ok "vm4 listens on 10.4.0.3" poll 5 'listening vm4 u 7000'
expect_eq "the host's route for 10.4.0.3 is v4, vm4's" \
	"$(in_gw ip -j route get 10.4.0.3 | jq -r '.[0].dev')" v4
before=$(stat vm5 'drops["inter-sector"]')
to_vm4
expect_eq "vm5's datagram to 10.4.0.3 does not reach vm4" "$(cat "$DEFS.vm4" 2>/dev/null)" ""
expect_eq "counted as inter-sector on vm5" "$(moved vm5 inter-sector "$before")" 1

# Apply is atomic and keeps live flows (3.13). A TCP session vm1 -> vm2a
# stays open across applies; each line sent must come back.
work=$(mktemp -d)
open_session vm1 10.2.0.2 8080
expect_ok "a TCP session vm1 -> vm2a echoes" echoed one

sed 's/^    internet: false$/    internet: false\n    allow: [{sector: vm1, proto: icmp}]/' \
	"$DEFS" > "$work/more.yaml"
gen=$(sg status --json | jq .generation)
expect_ok "apply a changed definition" sg apply -c "$work/more.yaml"
expect_eq "the generation moves on" "$(sg status --json | jq .generation)" $((gen + 1))
expect_ok "the new allow vm3 -> vm1 icmp works at once" ping1 vm3 10.1.0.2
expect_ok "the TCP session survived the apply" echoed two

printf 'version: 1\nhost: {uplinks: [{interface: wan0}]}\nsectors:\n  - {name: vm1, cidrs: [10.1.0.0/33], interfaces: [v1]}\n' > "$work/bad.yaml"
rc=0; sg apply -c "$work/bad.yaml" 2>"$work/err" || rc=$?
expect_eq "invalid definitions exit 1" "$rc" 1
expect_ok "and say where" grep -q 'bad.yaml:4:25: sectors\[0\].cidrs\[0\]: "10.1.0.0/33" is not an IPv4 CIDR' "$work/err"
expect_eq "and change nothing" "$(sg status --json | jq .generation)" $((gen + 1))
expect_ok "the previous definitions still run" ping1 vm3 10.1.0.2

grep -v 'sector: vm2, proto: tcp' "$DEFS" > "$work/no-tcp.yaml"
expect_ok "apply without the tcp allow" sg apply -c "$work/no-tcp.yaml"
expect_fail "the TCP session stops with its allow" echoed three
expect_fail "vm3 -> vm1 is isolated again" ping1 vm3 10.1.0.2
exec 3>&-
# A second uplink whose driver has no native XDP (a bridge): its replies
# take tc, and apply does not fail for it.
in_gw ip link add up-br type bridge
in_gw ip addr add 203.0.113.1/24 dev up-br
in_gw ip link set up-br up
sed 's/^  protected:/    - interface: up-br\n&/' "$DEFS" \
	>"$work/two-uplinks.yaml"
expect_ok "apply with an uplink that has no native XDP" \
	sg apply -c "$work/two-uplinks.yaml"
expect_eq "it runs tc only" \
	"$(sg status --json | jq -c '[.devices[] | select(.name=="up-br") | .hooks][0]')" \
	'["tc-ingress","tc-egress"]'
expect_eq "while wan0 has XDP too" \
	"$(sg status --json | jq -c '[.devices[] | select(.name=="wan0") | .hooks][0]')" \
	'["xdp","tc-ingress","tc-egress"]'
expect_ok "apply the original definitions" sg apply -c "$DEFS"
expect_eq "which leaves nothing on up-br" \
	"$(in_gw tc filter show dev up-br ingress 2>/dev/null | grep -c bpf)" 0
in_gw ip link del up-br
rm -rf "$work"

rx=$(stat vm1 rx_packets)
tx=$(stat vm2 tx_packets)
[ "$rx" -gt 0 ] && [ "$tx" -gt 0 ] && pass "rx and tx counters move ($rx, $tx)" ||
	fail "rx and tx counters move ($rx, $tx)"
# docs/MAPS.md has a row for each pinned map (test_compile checks).
expect_eq "pins hold every map" "$(ls "$PIN" | grep -c '^sg_')" \
	"$(grep -c '^| `sg_' "$ROOT/docs/MAPS.md")"
reapply_reuses() { sg -v apply -c "$DEFS" 2>&1 | grep -q 'programs are this build.s: reused'; }
expect_ok "an apply of the same build loads nothing: the pinned programs are reused" \
	reapply_reuses

# monitor (SPEC 2): the drops as they happen, one line each; under a
# flood it reports what its rate limit kept out instead of stalling.
flood() {	# NS DST: 5000 UDP datagrams, as fast as a socket sends them
	in_ns "$1" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5000):
    s.sendto(b"x", (sys.argv[1], 9))' "$2"
}
wait_for() {	# FILE PATTERN
	for _ in $(seq 25); do grep -q "$2" "$1" && return 0; sleep 0.2; done
	return 1
}
monitor() {	# [--json]: in the background, $mon its pid (nsenter execs it)
	nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" \
		monitor "$@" >"$DEFS.mon" 2>/dev/null &
	mon=$!
}
monitor
sleep 0.5
ping1 vm3 10.1.0.2 >/dev/null
expect_ok "monitor shows the drop as it happens" \
	wait_for "$DEFS.mon" "^vm3 DROP inter-sector v3 -> v1 icmp 10.3.0.2 -> 10.1.0.2$"
# One monitor at a time: a second would take some of the first's events.
rc=0; in_gw timeout 5 "$SECTORGATE" --pin-dir "$PIN" monitor >/dev/null 2>"$DEFS.err" || rc=$?
expect_eq "a second monitor is refused (exit 3)" "$rc" 3
expect_ok "and says why" grep -q "another monitor is reading the drop events" "$DEFS.err"
# A drop on the way out (at the uplink's tc egress) names the device the
# packet came in on and the one it was leaving by: a fragment after the
# first, whose first never came, passes vm1's ingress (to the internet)
# and has no note to follow at the uplink; it has no ports to show.
# udp_header_hex TOT_LEN ID FRAG: the IPv4 header, in hex, of a UDP
# packet vm1 -> 192.0.2.2 with that total length, id and fragment field.
udp_header_hex() {
	python3 -c 'import socket, struct, sys
tot, ident, frag = (int(a) for a in sys.argv[1:4])
h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, ident, frag, 64, 17,
    0, socket.inet_aton("10.1.0.2"), socket.inet_aton("192.0.2.2")))
s = sum(struct.unpack("!10H", h))
s = (s >> 16) + (s & 0xffff)
h[10:12] = struct.pack("!H", ~(s + (s >> 16)) & 0xffff)
print(h.hex())' "$@"
}
later="$(udp_header_hex 48 16962 16)$(zeros 28)"
raw_from_vm1 "0800$later"
expect_ok "a fragment without its first, dropped leaving the uplink: came in on v1, leaving by wan0, no ports" \
	wait_for "$DEFS.mon" "^vm1 DROP fragment v1 -> wan0 udp 10.1.0.2 -> 192.0.2.2$"
# A UDP datagram whose header the IP length cuts to 4 bytes: malformed,
# with no ports to show (none could be read).
cut="$(udp_header_hex 24 17219 0)9c400035$(zeros 28)"
raw_from_vm1 "0800$cut"
expect_ok "a UDP header cut short: malformed, no ports" \
	wait_for "$DEFS.mon" "^vm1 DROP malformed v1 udp 10.1.0.2 -> 192.0.2.2$"
flood vm3 10.1.0.2
expect_ok "under a flood it reports the events lost" \
	wait_for "$DEFS.mon" "^[0-9]* events lost"
ping1 vm3 10.1.0.2 >/dev/null
sleep 1
ping1 vm3 10.1.0.2 >/dev/null
expect_ok "and goes on reporting after it" \
	wait_for "$DEFS.mon" "^vm3 DROP inter-sector v3 -> v1 icmp 10.3.0.2 -> 10.1.0.2$"
kill $mon; wait $mon 2>/dev/null
monitor --json
sleep 0.5
in_ns vm1 nc -z -w 1 198.51.100.2 22
expect_ok "monitor --json, the first one gone: one object per drop" \
	wait_for "$DEFS.mon" '"reason": "protected-destination"'
expect_eq "with sector, devices, protocol and endpoints" \
	"$(grep -m1 protected-destination "$DEFS.mon" | jq -c '{sector, in, out, proto, dst}')" \
	'{"sector":"vm1","in":"v1","out":null,"proto":"tcp","dst":"198.51.100.2:22"}'
# What a frame without IPv4 addresses to report was: an IPv4 header with
# IHL 4 (not to be trusted), an IPv6 packet.
raw_from_vm1 "0800""44000054000040004011""0000""0a010002""c0000202$(zeros 64)" \
	"86dd""60000000""0000""3b""40$(zeros 32)"
expect_ok "monitor --json reports the IPv6 packet" wait_for "$DEFS.mon" '"reason": "ipv6"'
expect_eq "an IPv4 header not to be trusted: no protocol, no addresses" \
	"$(grep -m1 '"reason": "malformed"' "$DEFS.mon" | jq -c '{in, proto, src, frame}')" \
	'{"in":"v1","proto":null,"src":null,"frame":"frame"}'
expect_eq "IPv6 is named so" \
	"$(grep -m1 '"reason": "ipv6"' "$DEFS.mon" | jq -c '{in, proto, frame}')" \
	'{"in":"v1","proto":null,"frame":"ipv6"}'
kill $mon; wait $mon 2>/dev/null
rm -f "$DEFS.mon"

# Unload: no attachment, no pin, and the same traffic passes again.
expect_ok "unload" sg unload
expect_eq "no pins left" "$(ls "$PIN" 2>/dev/null | wc -l)" 0
expect_eq "no XDP left" "$(in_gw ip -d link show 2>/dev/null | grep -c 'prog/xdp')" 0
expect_eq "no tc filter left" \
	"$(for d in v1 v3 v4 v5 br2 wan0; do in_gw tc filter show dev $d ingress; in_gw tc filter show dev $d egress; done | wc -l)" 0
expect_ok "after unload: vm3 reaches vm1 again" ping1 vm3 10.1.0.2
expect_ok "after unload: vm1 reaches the management LAN again" ping1 vm1 198.51.100.2
expect_ok "after unload: vm1 -> vm2a tcp/9090 connects again" tcp vm1 10.2.0.2 9090
to_vm4
expect_eq "after unload: vm5's datagram to 10.4.0.3 reaches vm4" "$(cat "$DEFS.vm4")" "from vm5"
rm -f "$DEFS.vm4"

# Pins left by a version with another map layout. A definitions map is
# replaced (apply fills it anyway); a flow table whose entries cannot be
# migrated makes apply refuse with a clear word and change nothing;
# unload clears it.
mkdir -p "$PIN"
bpftool map create "$PIN/sg_config" type array key 4 value 8 entries 2 name sg_config
expect_ok "apply replaces a definitions map of another layout" sg apply -c "$DEFS"
expect_fail "and isolation works" ping1 vm3 10.1.0.2
expect_eq "its pin is the new layout" \
	"$(bpftool map show pinned "$PIN/sg_config" | grep -o 'value [0-9]*B')" "value 24B"
expect_ok "unload" sg unload
mkdir -p "$PIN"
bpftool map create "$PIN/sg_flows" type hash key 8 value 8 entries 16 name sg_flows
rc=0; sg apply -c "$DEFS" 2>"$DEFS.err" || rc=$?
expect_eq "apply over a flow table it cannot migrate exits 3" "$rc" 3
expect_ok "and names the map" grep -q "sg_flows has a layout this sectorgate cannot migrate" "$DEFS.err"
expect_ok "vm3 -> vm1 still unfiltered: nothing was attached" ping1 vm3 10.1.0.2
expect_ok "unload removes the foreign pins" sg unload
expect_ok "then apply works" sg apply -c "$DEFS"
expect_fail "and isolation is back" ping1 vm3 10.1.0.2
rm -f "$DEFS.err"

e2e_summary
