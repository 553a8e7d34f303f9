#!/bin/bash
# SPEC 3.7-3.9: what enters with its destination in mind. The metadata
# rewrite (imds: true) reaches a stub that answers only the host, also
# when it answers with TTL 1; port forwards from the internet reach their
# VM with the client's address kept, over TCP and UDP, at both hooks and
# into one of two overlapping sectors; hairpin is refused; a real L3
# tunnel (socat TUN, like tailscale0) and a management LAN behind an
# uplink open connections into the sector that lists them and nowhere
# else. Real traffic, no nftables rules anywhere.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
# Masquerade takes 192.0.2.10; the host's own address stays 192.0.2.1,
# which is what the metadata service must see.
in_gw ip addr add 192.0.2.10/24 dev wan0
cat >"$DEFS" <<'YAML'
version: 1
host:
  uplinks:
    - interface: wan0
      snat-address: 192.0.2.10
      xdp: on
    - interface: mgmt0
  protected: [198.51.100.0/24]
  trusted: [{interface: ts0}]
sectors:
  - name: vm1
    cidrs: [10.1.0.0/24]
    interfaces: [v1]
    xdp: on
    imds: true
    allow-from: [ts0, 198.51.100.0/24]
    forwards:
      - {proto: tcp, port: 2201, to: "10.1.0.2:22"}
      - {proto: udp, port: 5301, to: "10.1.0.2:53"}
      - {proto: tcp, port: 2202, to: "10.1.0.2:2202"}
  - name: vm2
    cidrs: [10.2.0.0/24]
    interfaces: [br2]
    imds: true
    forwards:
      - {proto: tcp, port: 8022, to: "10.2.0.2:22"}
  - name: vm3
    cidrs: [10.3.0.0/24]
    interfaces: [v3]
    internet: false
    forwards:
      - {proto: tcp, port: 3022, to: "10.3.0.2:22"}
      - {proto: udp, port: 3053, to: "10.3.0.2:53"}
  - name: vm4
    cidrs: [10.4.0.0/24]
    interfaces: [v4]
  - name: vm5
    cidrs: [10.4.0.0/24]
    interfaces: [v5]
    forwards:
      - {proto: tcp, port: 4022, to: "10.4.0.2:22"}
YAML

# --- Services --------------------------------------------------------------
# whoami NS PORT [ADDR]: a TCP service that answers with its client's
# address (and, with a fourth word, that word too).
whoami_at() {
	(in_ns "$1" socat TCP4-LISTEN:"$2",fork,reuseaddr \
		SYSTEM:"echo \$SOCAT_PEERADDR ${3:-}" &) 2>/dev/null
}
whoami_at vm1 22
whoami_at vm2a 22
whoami_at vm3 22
whoami_at vm4 22 vm4
whoami_at vm5 22 vm5
(in_ns vm1 socat UDP4-RECVFROM:53,fork SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
(in_ns vm1 socat TCP4-LISTEN:2202,fork,reuseaddr SYSTEM:'head -c 2000000 /dev/zero' &) 2>/dev/null
(in_ns vm1 socat TCP4-LISTEN:8080,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
(in_ns vm3 socat TCP4-LISTEN:8080,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
(in_ns vm3 socat -b 65536 UDP4-RECVFROM:53,fork SYSTEM:cat &) 2>/dev/null
(in_ns vm1 socat -b 65536 UDP4-RECVFROM:5300,fork SYSTEM:cat &) 2>/dev/null
(in_ns mgmt socat TCP4-LISTEN:9000,fork,reuseaddr SYSTEM:'echo mgmt' &) 2>/dev/null

# The metadata service behind the uplink, as a cloud host has it: it
# answers the host's own address only ("IMDS only responds to local
# traffic"), on TCP 80 and UDP 80; on TCP 81 it answers with IP TTL 1, as
# AWS sends the IMDSv2 token.
in_ns inet ip addr add 169.254.169.254/32 dev lo
in_gw ip route add 169.254.169.254/32 via 192.0.2.2 dev wan0
answer='if [ "$SOCAT_PEERADDR" = 192.0.2.1 ]; then echo credentials; fi; echo $SOCAT_PEERADDR >>'"$work/imds.log"
(in_ns inet socat TCP4-LISTEN:80,bind=169.254.169.254,fork,reuseaddr SYSTEM:"$answer" &) 2>/dev/null
(in_ns inet socat TCP4-LISTEN:81,bind=169.254.169.254,fork,reuseaddr,ttl=1 SYSTEM:"$answer" &) 2>/dev/null
(in_ns inet socat UDP4-RECVFROM:80,bind=169.254.169.254,fork SYSTEM:"$answer" &) 2>/dev/null
touch "$work/imds.log"
imds() { in_ns "$1" timeout 4 socat -T 2 -u TCP4:169.254.169.254:80,connect-timeout=2 - 2>/dev/null; }
imds_udp() { udp_ask "$1" 169.254.169.254 80 q; }
# refused NODE ADDR PORT: a UDP datagram to a closed port gets the port
# unreachable back (the ICMP error about its flow translated on the way).
refused() {
	echo x | in_ns "$1" socat -T 3 - "UDP4:$2:$3" 2>&1 >/dev/null |
		grep -q "Connection refused"
}
get() {	# NS ADDR PORT: what a TCP service there answers
	in_ns "$1" timeout 4 socat -T 2 -u TCP4:"$2:$3",connect-timeout=2 - 2>/dev/null
}
whoami_inet() { in_ns "$1" timeout 3 nc -z -w 2 192.0.2.2 81; }
get_udp() { udp_ask "$1" "$2" "$3" q; }

# fast_share NAME COMMAND...: run it, then print how many of vm1's
# packets, each way, the XDP fast path carried; it must have carried some.
fast_share() {
	local what=$1 out0 in0 rx0 tx0 out in
	shift
	out0=$(stat vm1 fast_out_packets); in0=$(stat vm1 fast_in_packets)
	rx0=$(stat vm1 rx_packets); tx0=$(stat vm1 tx_packets)
	"$@"
	out=$(($(stat vm1 fast_out_packets) - out0))
	in=$(($(stat vm1 fast_in_packets) - in0))
	echo "    $what: XDP fast path took $out of $(($(stat vm1 rx_packets) - rx0)) packets out of vm1, $in of $(($(stat vm1 tx_packets) - tx0)) into it"
	expect_ok "$what took the XDP fast path both ways" test "$out" -gt 0 -a "$in" -gt 0
}
# A real L3 tunnel ts0 to "peer" (topology.sh), like tailscale0.
topo_tunnel
expect_ok "the tunnel ts0 comes up" poll 5 'in_gw ping -c 1 -W 1 100.64.0.2'
in_ns peer ip route add 10.1.0.0/24 via 100.64.0.1 dev ts0
in_ns peer ip route add 10.3.0.0/24 via 100.64.0.1 dev ts0
(in_ns peer socat TCP4-LISTEN:9000,fork,reuseaddr SYSTEM:'echo peer' &) 2>/dev/null

expect_ok "the services listen" poll 5 'listening vm1 t 22 && listening vm1 u 5300 && listening vm5 t 22 &&
	listening inet t 81 && listening peer t 9000 && listening mgmt t 9000'
expect_ok "apply" sg apply -c "$DEFS"

# --- The metadata rewrite (3.7) ------------------------------------------
fast_in0=$(stat vm1 fast_in_packets)
expect_eq "vm1 (imds: true) gets the credentials over TCP" "$(imds vm1)" credentials
expect_eq "the service saw the host's own address, not the masquerade one" \
	"$(tail -n 1 "$work/imds.log")" 192.0.2.1
expect_ok "the replies took the XDP fast path into vm1" \
	test "$(stat vm1 fast_in_packets)" -gt "$fast_in0"
expect_eq "vm1 gets them over UDP" "$(imds_udp vm1)" credentials
imds_many() { for _ in 1 2 3 4 5; do imds vm1 >/dev/null; done; }
fast_share "five metadata requests" imds_many
expect_eq "vm2 (a bridge: tc) gets them too" "$(imds vm2a)" credentials
before=$(stat vm3 'drops["imds-denied"]')
expect_fail "vm3 (imds: false) does not" imds vm3
expect_ok "counted as imds-denied on vm3" test "$(moved vm3 imds-denied "$before")" -ge 1
before=$(stat vm1 'drops["imds-denied"]')
expect_fail "vm1 cannot ping the service" ping1 vm1 169.254.169.254
expect_eq "imds-denied: only address:port is the service" \
	"$(moved vm1 imds-denied "$before")" 1
expect_eq "conntrack shows the flow with the address it was sent to" \
	"$(sg dump conntrack --json | jq -r '[.[] | select(.sector=="vm1" and .dst=="169.254.169.254:80" and .proto=="tcp")][0] | [.nat_kind, (.nat | startswith("192.0.2.1:"))] | @tsv')" \
	"$(printf 'imds\ttrue')"

# The token answer with TTL 1: delivered to the VM that opted in, as the
# host would receive it (without the rule, the gateway drops it as a
# router and the connection fails).
sed 's|^  trusted: .*|&\n  imds: {target: "169.254.169.254:81"}|' "$DEFS" >"$work/ttl1.yaml"
expect_ok "apply with the target on port 81 (TTL 1)" sg apply -c "$work/ttl1.yaml"
expect_eq "vm1 gets the TTL-1 answer, port 81 called as 80" "$(imds vm1)" credentials
expect_eq "vm2 gets it through tc as well" "$(imds vm2a)" credentials
# A target on a host of its own (a metadata proxy behind the uplink): the
# host's other ports stay an ordinary destination, masqueraded; only the
# target's port is the service's, and called directly it is denied.
(in_ns inet socat TCP4-LISTEN:8775,bind=192.0.2.2,fork,reuseaddr SYSTEM:"$answer" &) 2>/dev/null
whoami_at inet 8776
sed 's|^  trusted: .*|&\n  imds: {target: "192.0.2.2:8775"}|' "$DEFS" >"$work/proxy.yaml"
expect_ok "the proxy listens" poll 5 'listening inet t 8775 && listening inet t 8776'
expect_ok "apply with the target at inet's 192.0.2.2:8775" sg apply -c "$work/proxy.yaml"
expect_eq "vm1 gets the credentials through the proxy" "$(imds vm1)" credentials
expect_eq "vm1 still reaches another port of that host, masqueraded" \
	"$(get vm1 192.0.2.2 8776)" 192.0.2.10
expect_ok "and pings it" ping1 vm1 192.0.2.2
before=$(stat vm1 'drops["imds-denied"]')
expect_fail "but not the proxy's port directly" get vm1 192.0.2.2 8775
expect_ok "that is counted as imds-denied" test "$(moved vm1 imds-denied "$before")" -ge 1
# The proxy serves no UDP: its port unreachable, about the request as the
# host sent it, reaches vm1 as about the one vm1 sent (3.4, 3.7).
expect_ok "a UDP request the proxy does not serve: connection refused in vm1" \
	refused vm1 169.254.169.254 80
expect_ok "apply the definitions again" sg apply -c "$DEFS"

# --- Port forwards (3.8) ---------------------------------------------------
expect_eq "tcp 192.0.2.10:2201 reaches vm1:22, which sees the client" \
	"$(get inet 192.0.2.10 2201)" 192.0.2.2
expect_eq "udp 192.0.2.10:5301 reaches vm1:53 and answers from the forward" \
	"$(get_udp inet 192.0.2.10 5301)" 192.0.2.2
expect_eq "tcp 192.0.2.10:8022 reaches vm2 through tc" \
	"$(get inet 192.0.2.10 8022)" 192.0.2.2
expect_eq "tcp 192.0.2.10:4022 reaches vm5, not vm4 of the same address" \
	"$(get inet 192.0.2.10 4022)" "192.0.2.2 vm5"
expect_eq "a forward into vm3 (internet: false) works: its replies are answers" \
	"$(get inet 192.0.2.10 3022)" 192.0.2.2
# Bigger than the MTU, both ways in fragments: the client's and the
# answer's after the first follow it, past vm3's internet: false too.
head -c 3000 /dev/urandom >"$work/dgram"
reasm=$(reassembled vm3)
expect_eq "a 3000-byte UDP datagram through vm3's forward comes back whole" \
	"$(udp_echo inet 192.0.2.10 3053 "$work/dgram" | sha256sum)" \
	"$(sha256sum <"$work/dgram")"
expect_ok "it reached vm3 in fragments" test "$(reassembled vm3)" -gt "$reasm"
before=$(stat vm3 'drops["no-internet"]')
expect_fail "while vm3 itself still reaches nothing outside" whoami_inet vm3
expect_ok "counted as no-internet" test "$(moved vm3 no-internet "$before")" -ge 1
expect_eq "the forward is published on every uplink: 198.51.100.1:2201" \
	"$(get mgmt 198.51.100.1 2201)" 198.51.100.2
expect_eq "conntrack shows the forward's original and translated destination" \
	"$(sg dump conntrack --json | jq -r '[.[] | select(.nat_kind=="dnat" and .dst=="192.0.2.10:8022")][0] | [.sector, (.src | startswith("192.0.2.2:")), .nat, .inbound] | @tsv')" \
	"$(printf 'vm2\ttrue\t10.2.0.2:22\ttrue')"
expect_eq "vm2's replies made no masquerade flow" \
	"$(sg dump conntrack --json | jq '[.[] | select(.nat_kind=="snat" and .src=="10.2.0.2:22")] | length')" 0
before=$(stat vm1 'drops["unsolicited"]')
expect_fail "a port that is not forwarded does not reach vm1" get inet 192.0.2.10 22
download() { get inet 192.0.2.10 2202 | wc -c >"$work/bytes"; }
fast_share "a 2 MB download through the forward" download
expect_eq "it arrived whole" "$(cat "$work/bytes")" 2000000

before=$(stat vm4 'drops["hairpin"]')
expect_fail "hairpin: vm4 cannot call the published 192.0.2.10:2201" get vm4 192.0.2.10 2201
expect_ok "counted as hairpin on vm4" test "$(moved vm4 hairpin "$before")" -ge 1

# --- Trusted ingress (3.9) -----------------------------------------------
expect_eq "peer reaches vm1 through the tunnel, untranslated" \
	"$(get peer 10.1.0.2 8080)" 100.64.0.2
expect_ok "peer pings vm1" ping1 peer 10.1.0.2
expect_ok "peer -> vm1 udp/5999 (closed): connection refused" refused peer 10.1.0.2 5999
before=$(stat vm3 'drops["unsolicited"]')
expect_fail "peer does not reach vm3, which does not list ts0" get peer 10.3.0.2 8080
expect_ok "counted as unsolicited on vm3" test "$(moved vm3 unsolicited "$before")" -ge 1
before=$(stat vm1 'drops["untranslatable"]')
expect_fail "allow-from opens no way back: vm1 cannot open one to peer" get vm1 100.64.0.2 9000
expect_ok "counted as untranslatable on vm1" test "$(moved vm1 untranslatable "$before")" -ge 1

# The management LAN behind the uplink mgmt0.
expect_eq "the management host reaches vm1, untranslated" \
	"$(get mgmt 10.1.0.2 8080)" 198.51.100.2
expect_ok "mgmt -> vm1 udp/5999 (closed): connection refused" refused mgmt 10.1.0.2 5999
# A router's "fragmentation needed" about vm1's answer to the management
# host (path MTU discovery on the way back), from an address outside the
# management LAN: it reaches vm1 as sent, and opens no flow of its own.
echo x | in_ns mgmt timeout 3 socat -T 1 - UDP4:10.1.0.2:7777,sourceport=47777 >/dev/null 2>&1
in_ns vm1 timeout 5 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(4)
try:
    while True:
        d, a = s.recvfrom(2048)
        l4 = (d[0] & 15) * 4
        if d[l4] == 3 and d[l4 + 1] == 4:
            print(a[0])
            break
except socket.timeout:
    pass' >"$work/pmtu" &
listener=$!
sleep 0.5
in_ns mgmt python3 -c '
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ip(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64,
                    proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload
answer = ip("10.1.0.2", "198.51.100.2", 17, struct.pack("!HHHH", 7777, 47777, 9, 0))
icmp = struct.pack("!BBHHH", 3, 4, 0, 0, 1300) + answer[:28]
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip("203.0.113.99", "10.1.0.2", 1, icmp), ("10.1.0.2", 0))'
wait "$listener"
expect_eq "a router's fragmentation-needed about vm1's answer to the management host reaches vm1" \
	"$(cat "$work/pmtu")" 203.0.113.99
expect_eq "and opens no flow of its own" \
	"$(sg dump conntrack --json | jq '[.[] | select(.src | startswith("203.0.113.99"))] | length')" 0
# Bigger than the MTU: datagrams from the tunnel's peer and from the
# management host reach vm1 in fragments and its answers leave in
# fragments, each fragment after the first following it, untranslated.
reasm=$(reassembled vm1)
reasm_back=$(($(reassembled peer) + $(reassembled mgmt)))
frags=$(stat vm1 'drops["fragment"] // 0')
expect_eq "a 3000-byte UDP datagram from the peer through the tunnel comes back whole" \
	"$(udp_echo peer 10.1.0.2 5300 "$work/dgram" | sha256sum)" \
	"$(sha256sum <"$work/dgram")"
expect_eq "and one from the management host" \
	"$(udp_echo mgmt 10.1.0.2 5300 "$work/dgram" | sha256sum)" \
	"$(sha256sum <"$work/dgram")"
expect_ok "they reached vm1 in fragments" test "$(reassembled vm1)" -ge $((reasm + 2))
expect_ok "and vm1's answers the peer and the management host in fragments" \
	test $(($(reassembled peer) + $(reassembled mgmt))) -ge $((reasm_back + 2))
expect_eq "no fragment of theirs was dropped" \
	"$(stat vm1 'drops["fragment"] // 0')" "$frags"
before=$(stat vm3 'drops["unsolicited"]')
expect_fail "it does not reach vm3" get mgmt 10.3.0.2 8080
expect_ok "counted as unsolicited on vm3" test "$(moved vm3 unsolicited "$before")" -ge 1
before=$(stat vm1 'drops["protected-destination"]')
expect_fail "vm1 still cannot reach the management LAN" get vm1 198.51.100.2 9000
expect_ok "counted as protected-destination on vm1" \
	test "$(moved vm1 protected-destination "$before")" -ge 1

expect_ok "dump policy lists forwards, imds and allow-from" \
	grep -q 'vm1 forward tcp 192.0.2.10:2201 -> 10.1.0.2:22' <<<"$(sg dump policy)"

# Unload: the forward's port is closed without sectorgate.
expect_ok "unload" sg unload
expect_fail "after unload the forward is gone" get inet 192.0.2.10 2201

e2e_summary
