#!/bin/bash
# SPEC 3.10: egress steering. vm1's policies, first match wins: TCP to
# the container network 10.50.0.0/24 on port 6333 goes into the mesh
# tunnel mesh0 untranslated (snat-address: none), and no other port of
# that network goes anywhere, although the gateway routes it to mesh0;
# everything else but 192.0.2.0/24 (left to the uplink's masquerade)
# goes into the first of tA, tB that is up, from that device's address.
# tA is a real L3 tunnel (socat TUN, no MAC, as WireGuard), tB an
# Ethernet link (a veth, as ZeroTier's tap); behind each an egress node
# routes on, without NAT, to the same far host. Failover: with tA down
# new flows take tB and a flow that started on tA is dropped, not moved;
# with both down nothing leaves (egress-down) and nothing falls back to
# the uplink, behind which a decoy holds the far host's very address; up
# again, traffic flows under `run` with no apply. The delays are printed,
# never asserted. Real traffic, no nftables rules anywhere; each path is
# first shown to work (or to leak) with plain kernel routing, so that
# each check can fail.
#
#                             100.64.1.1 100.64.1.2   .41  .42
#   vm1 10.1.0.2 --- v1 [gw] tA ===tun=== egA --------------+  far
#                             100.64.2.1 100.64.2.2   .45  .46  203.0.113.10
#                            tB ---veth--- egB --------------+
#                             100.64.3.1 100.64.3.2
#                            mesh0 ==tun== remote 10.50.0.2
#                             192.0.2.1  192.0.2.2
#                            wan0 ---veth--- inet, and the decoy 203.0.113.10
#
# The tunnels' own UDP runs over veths of their own, ul-tA (203.0.113.33
# to egA's .34) and ul-mesh0 (.37 to remote's .38); far's links are
# 203.0.113.40/30 and .44/30.

# poll and awk take their programs unexpanded, on purpose.
# shellcheck disable=SC2016 source-path=SCRIPTDIR
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../../scripts/topology.sh
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

runner=
mon=
e2e_topology
trap '[ -n "$mon" ] && kill "$mon" 2>/dev/null; stop_run
	sg unload >/dev/null 2>&1; topo_down; rm -rf "$DEFS" "$work"' EXIT

# --- The topology ------------------------------------------------------------
# on NODE COMMAND...: in the gateway ("gw") or in that node's namespace.
on() {
	local n=$1
	shift
	if [ "$n" = gw ]; then in_gw "$@"; else in_ns "$n" "$@"; fi
}

# One end of an L3 tunnel: DEV with ADDR/24, its packets carried by socat
# as UDP from LOCAL to PEER. Unlike topo_tunnel's, the tun device is made
# persistent and socat only attaches to it: socat exits on the first
# packet it cannot write into a tun that is down, which the failover
# below does on purpose, and the loop attaches a new one. The device and
# its ifindex stay the ones sectorgate saw, down or up, as a WireGuard
# device's do. (The pause before each new socat also keeps topo_down's
# kill from racing a respawn.)
tun_end() {	# NODE DEV ADDR LOCAL PEER
	local n=$1 dev=$2 addr=$3 me=$4 peer=$5
	on "$n" ip tuntap add dev "$dev" mode tun
	on "$n" ip addr add "$addr/24" dev "$dev"
	on "$n" ip link set "$dev" up
	(on "$n" bash -c "while :; do
		socat UDP-DATAGRAM:$peer:7000,bind=$me:7000 TUN,tun-name=$dev,tun-type=tun,iff-no-pi
		sleep 0.1
	done" >/dev/null 2>&1 &)
}

# l3_tunnel NODE DEV GW_ADDR NODE_ADDR GW_UNDER NODE_UNDER: a new
# namespace NODE, an underlay veth ul-DEV (a /30) to it, and the tunnel
# DEV on both ends. It is up once the gateway pings NODE_ADDR.
l3_tunnel() {
	local n=$1 dev=$2
	ip netns add "$(ns "$n")"
	in_ns "$n" ip link set lo up
	ip link add eth0 netns "$(ns "$n")" type veth peer name "ul-$dev" netns "$GW"
	in_ns "$n" ip addr add "$6/30" dev eth0
	in_ns "$n" ip link set eth0 up
	in_gw ip addr add "$5/30" dev "ul-$dev"
	in_gw ip link set "ul-$dev" up
	tun_end gw "$dev" "$3" "$5" "$6"
	tun_end "$n" "$dev" "$4" "$6" "$5"
}

# far_link NODE FAR_DEV NODE_ADDR FAR_ADDR: a /30 from egress node NODE
# (far0) to the far host (FAR_DEV), which NODE routes the far address
# over, forwarding as a router does, addresses untouched.
far_link() {
	ip link add far0 netns "$(ns "$1")" type veth peer name "$2" netns "$(ns far)"
	in_ns "$1" ip addr add "$3/30" dev far0
	in_ns far ip addr add "$4/30" dev "$2"
	in_ns "$1" ip link set far0 up
	in_ns far ip link set "$2" up
	in_ns "$1" ip route add 203.0.113.10/32 via "$4"
	in_ns "$1" sysctl -qw net.ipv4.ip_forward=1
}

# The gateway's main table sends everything it has no better route for
# to the uplink, the far address too: only steering keeps it from there.
in_gw ip route add default via 192.0.2.2 dev wan0

l3_tunnel egA tA 100.64.1.1 100.64.1.2 203.0.113.33 203.0.113.34
l3_tunnel remote mesh0 100.64.3.1 100.64.3.2 203.0.113.37 203.0.113.38

# tB: an Ethernet device. For it sectorgate asks the FIB for the next hop
# out of tB (the lookup bound to that device), so the gateway has a
# route through tB that never wins over the uplink's default. egB takes
# frames as a NIC does (GRO on), so XDP may redirect into tB.
_veth_host egB tB 100.64.2.2/24
in_ns egB ethtool -K eth0 gro on >/dev/null
in_gw ip addr add 100.64.2.1/24 dev tB
in_gw ip link set tB up
in_gw ip route add default via 100.64.2.2 dev tB metric 1000

# The far host, behind both egress nodes; it routes each tunnel's
# addresses back through the node that carries it.
ip netns add "$(ns far)"
in_ns far ip link set lo up
in_ns far ip addr add 203.0.113.10/32 dev lo
far_link egA eth-a 203.0.113.41 203.0.113.42
far_link egB eth-b 203.0.113.45 203.0.113.46
in_ns far ip route add 100.64.1.0/24 via 203.0.113.41
in_ns far ip route add 100.64.2.0/24 via 203.0.113.45

# The remote node of the mesh holds the container address 10.50.0.2; it
# routes the sector back through mesh0, as the mesh's other end of a
# route without NAT does. The gateway routes 10.50.0.0/24 into mesh0: the
# kernel alone would forward any port there.
in_ns remote ip addr add 10.50.0.2/32 dev lo
in_ns remote ip route add 10.1.0.0/24 dev mesh0
in_gw ip route add 10.50.0.0/24 via 100.64.3.2 dev mesh0

# The decoy: inet, behind the uplink, holds the far address as well.
in_ns inet ip addr add 203.0.113.10/32 dev eth0

cat >"$DEFS" <<'YAML'
version: 1
host:
  uplinks:
    - interface: wan0
  protected: [198.51.100.0/24]
sectors:
  - name: vm1
    cidrs: [10.1.0.0/24]
    interfaces: [v1]
    egress:
      - destinations: [10.50.0.0/24]
        proto: tcp
        ports: [6333]
        interface: mesh0
        snat-address: none
      - destinations: [0.0.0.0/0]
        except: [192.0.2.0/24, 10.50.0.0/24]
        interface: [tA, tB]
YAML

# --- Services, captures and probes ------------------------------------------
# who NS NAME ADDR PROTO PORT: a service on ADDR:PORT that answers "NAME
# <client address>" and logs the client in $work/NAME-PROTO-PORT.log.
who() {
	local log=$work/$2-$4-$5.log lsn
	touch "$log"
	case $4 in
	tcp) lsn=TCP4-LISTEN:$5,bind=$3,fork,reuseaddr ;;
	udp) lsn=UDP4-RECVFROM:$5,bind=$3,fork ;;
	esac
	(in_ns "$1" socat "$lsn" SYSTEM:"echo $2 \$SOCAT_PEERADDR; echo \$SOCAT_PEERADDR >>$log" &) 2>/dev/null
}
lines() { wc -l <"$work/$1.log"; }
who far far 203.0.113.10 tcp 80
who far far 203.0.113.10 udp 53
who inet decoy 203.0.113.10 tcp 80
who inet decoy 203.0.113.10 udp 53
who inet inet 192.0.2.2 tcp 80
who remote remote 10.50.0.2 tcp 6333
who remote remote 10.50.0.2 udp 6333
who remote ssh 10.50.0.2 tcp 22
who vm1 vm1 10.1.0.2 tcp 8080

# capture NS DEV: every packet on DEV, as it comes, into $work/NS.pcap;
# captured NS FILTER: how many of them match FILTER. What is counted this
# way is what arrived, whether or not any service answered it.
capture() {
	(in_ns "$1" tcpdump -i "$2" -n -s 128 -U --immediate-mode -Z root \
		-w "$work/$1.pcap" 2>"$work/$1.tcpdump" &)
}
captured() { tcpdump -r "$work/$1.pcap" -n "$2" 2>/dev/null | wc -l; }
capture far any
capture inet eth0
capture remote mesh0
FAR='dst host 203.0.113.10'

# get NS ADDR PORT [SOURCE]: what a TCP service there answers.
get() {
	in_ns "$1" timeout 4 socat -T 2 -u TCP4:"$2:$3",connect-timeout=2${4:+,bind=$4} - 2>/dev/null
}
# ask WAIT [SPORT [ADDR PORT]]: one UDP question from vm1, by default to
# the far address's port 53; prints the answer, nothing if none came
# within WAIT seconds (0: send only). A new source port each time, so a
# new flow, unless SPORT pins it: then it is the same flow every time.
# A check (WAIT of a second or more) asks once more when no answer came,
# as lib.sh's udp() does: a datagram may be lost, or a fork of the
# answering socat slow on a loaded machine.
ask() {
	local a tries=1
	# A datagram through socat's userspace tunnels is lost now and then
	# on a loaded machine (both cores busy: a few a run): asks that wait
	# a second or more try three times. Those that must get no answer
	# are only the stricter for it.
	[ "${1%.*}" -lt 1 ] || tries=3
	while [ "$tries" -gt 0 ]; do
		a=$(ask_once "$@")
		[ -z "$a" ] || break
		tries=$((tries - 1))
	done
	echo "$a"
}
ask_once() {
	in_ns vm1 python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.1.0.2", int(sys.argv[2])))
s.settimeout(float(sys.argv[1]))
s.sendto(b"q", (sys.argv[3], int(sys.argv[4])))
try:
    print(s.recv(200).decode().strip())
except OSError:
    pass' "$1" "${2:-0}" "${3:-203.0.113.10}" "${4:-53}"
}
# Echo requests that reached NS (InEchos of its /proc/net/snmp).
echoes() {
	in_ns "$1" awk '/^Icmp:/ { if (!n++) { for (i = 2; i <= NF; i++) col[$i] = i }
		else print $col["InEchos"] }' /proc/net/snmp
}
egress_down() { stat vm1 'drops["egress-down"] // 0'; }
drops_of_vm1() { sg stats --json | jq -c '.sectors.vm1.drops // {}' | grep . || echo '{}'; }
# moved_since JSON: the reasons of vm1's drops that moved since JSON.
moved_since() {
	jq -rn --argjson a "$1" --argjson b "$(drops_of_vm1)" \
		'[$b | to_entries[] | select(.value > ($a[.key] // 0)) |
		  "\(.key) +\(.value - ($a[.key] // 0))"] | join(", ")'
}
# unanswered SPORT: what was seen of a pinned flow that got no answer:
# its conntrack entry, vm1's drops, and how many questions reached the
# far host's UDP service against how many it answered.
unanswered() {
	sg dump conntrack | grep -E "10.1.0.2:$1 " | sed 's/^/    /'
	echo "    vm1's drops: $(drops_of_vm1)"
	echo "    at the far host: $(captured far "$FAR and udp dst port 53") questions," \
		"$(lines far-udp-53) answered"
}
# since T0 WANT: "N ms" from T0 until a new UDP flow from vm1 is
# answered WANT, probing with short questions for at most 10 s.
since() {
	while [ "$(ms)" -lt $(($1 + 10000)) ]; do
		[ "$(ask 0.3)" = "$2" ] && { echo "$(($(ms) - $1)) ms"; return; }
	done
	echo "none within 10 s"
}
# usable_after T0 DEV WANT: "N ms" from T0 until the datapath's policy
# says DEV takes new flows (WANT true) or not (false): when run's apply
# after the netlink notification has flipped the maps. The precise
# delay; the probes' own, below, add their cadence.
usable_after() {
	local q='[.[] | select(.sector == "vm1") | .egress[].devices[] |
		select(.interface == $d) | .usable] | first'
	while [ "$(ms)" -lt $(($1 + 10000)) ]; do
		[ "$(sg dump policy --json | jq --arg d "$2" "$q")" = "$3" ] &&
			{ echo "$(($(ms) - $1)) ms"; return; }
	done
	echo "none within 10 s"
}
# delay MS: a delay measured by hand, "" when it was not seen.
delay() { if [ -n "$1" ]; then echo "$1 ms"; else echo "none within 10 s"; fi; }

expect_ok "the services listen" poll 5 'listening far t 80 && listening far u 53 &&
	listening inet t 80 && listening inet u 53 && listening remote t 6333 &&
	listening remote u 6333 && listening remote t 22 && listening vm1 t 8080'
expect_ok "the captures run" poll 5 'grep -q "listening on" "$work/far.tcpdump" &&
	grep -q "listening on" "$work/inet.tcpdump" && grep -q "listening on" "$work/remote.tcpdump"'

# --- Before sectorgate: the paths work, and the uplink would take it all ----
expect_ok "before: the tunnel tA carries the gateway's ping to egA" \
	poll 5 'in_gw ping -c 1 -W 1 100.64.1.2'
expect_ok "before: the link tB carries its ping to egB" in_gw ping -c 1 -W 1 100.64.2.2
expect_ok "before: the tunnel mesh0 carries its ping to remote" \
	poll 5 'in_gw ping -c 1 -W 1 100.64.3.2'
# What sectorgate will do, done by the gateway's own sockets bound to a
# device: out through it, from its address (the egress nodes do no NAT).
bound() { in_gw timeout 4 socat -T 2 -u TCP4:203.0.113.10:80,so-bindtodevice="$1",connect-timeout=2 - 2>/dev/null; }
expect_eq "before: bound to tA, the gateway reaches the far host, which sees tA's address" \
	"$(bound tA)" "far 100.64.1.1"
expect_eq "before: bound to tB (next hop: the FIB's route out of tB), it sees tB's address" \
	"$(bound tB)" "far 100.64.2.1"
expect_eq "before: the gateway's own route to 203.0.113.10 is the uplink" \
	"$(in_gw ip -j route get 203.0.113.10 | jq -r '.[0].dev')" wan0
# Only for this proof the decoy routes the sector back.
in_ns inet ip route add 10.1.0.0/24 via 192.0.2.1
expect_eq "before: plain forwarding takes vm1's TCP to 203.0.113.10 to the decoy" \
	"$(get vm1 203.0.113.10 80)" "decoy 10.1.0.2"
expect_eq "before: and its UDP" "$(ask 2)" "decoy 10.1.0.2"
in_ns inet ip route del 10.1.0.0/24 via 192.0.2.1
expect_ok "before: the decoy's capture saw them" test "$(captured inet "$FAR")" -gt 0
expect_eq "before: vm1 reaches 10.50.0.2:6333 through mesh0, untranslated" \
	"$(get vm1 10.50.0.2 6333)" "remote 10.1.0.2"
expect_eq "before: and 10.50.0.2:22 just as well: only sectorgate can refuse it" \
	"$(get vm1 10.50.0.2 22)" "ssh 10.1.0.2"
expect_eq "before: and UDP to 10.50.0.2:6333" "$(ask 2 0 10.50.0.2 6333)" "remote 10.1.0.2"
expect_ok "before: the remote's capture saw the connection to port 22" \
	test "$(captured remote 'tcp dst port 22')" -gt 0
expect_eq "before: the remote node (10.50.0.2) opens a connection to vm1" \
	"$(get remote 10.1.0.2 8080 10.50.0.2)" "vm1 10.50.0.2"

# What arrived so far is the proofs' own: from here on nothing may.
decoy0=$(captured inet "$FAR")
decoy_tcp0=$(lines decoy-tcp-80)
decoy_udp0=$(lines decoy-udp-53)
far_log0=$(lines far-udp-53)
ssh0="$(captured remote 'tcp dst port 22') $(lines ssh-tcp-22)"
rudp0=$(captured remote 'udp dst port 6333')

# --- From XDP to tc -----------------------------------------------------------
# vm1's device runs XDP while vm1 is not steered; steering moves it to tc
# ingress, which alone can send a packet to a device of its choice.
v1_hooks() { sg status --json | jq -c '[.devices[] | select(.name=="v1") | .hooks][0]'; }
{ sed '/^    egress:$/,$d' "$DEFS"; echo "    xdp: on"; } >"$work/plain.yaml"
expect_ok "vm1 without egress policies applies" sg apply -c "$work/plain.yaml"
expect_eq "v1 runs XDP" "$(v1_hooks)" '["xdp","tc-egress"]'

# --- Under run ----------------------------------------------------------------
expect_ok "check accepts the egress policies" sg check -c "$DEFS"
# run, not apply: it follows the devices going down and up through
# netlink, and nothing below applies again. nsenter execs sectorgate, so
# $! is its pid.
nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" -v run -c "$DEFS" \
	>"$work/run.log" 2>&1 &
runner=$!
# Applied by run, not the apply before it, whose pins status reads too.
if poll 10 'grep -q ": applied generation" "$work/run.log" || ! kill -0 "$runner"' &&
	kill -0 "$runner" 2>/dev/null; then
	pass "run applies the definitions at start"
	expect_eq "v1 runs tc ingress now, its XDP detached" "$(v1_hooks)" \
		'["tc-ingress","tc-egress"]'
else
	# Nothing below could mean anything without it.
	fail "run applies the definitions at start"
	sed 's/^/    /' "$work/run.log"
	e2e_summary
	exit 1
fi

# --- Steering into the tunnel, and what is excepted (3.10) ---------------------
expect_eq "TCP to 203.0.113.10 leaves through tA: the far host sees tA's address" \
	"$(get vm1 203.0.113.10 80)" "far 100.64.1.1"
expect_eq "UDP too" "$(ask 2)" "far 100.64.1.1"
e=$(echoes far)
expect_ok "a ping of 203.0.113.10 is answered" ping1 vm1 203.0.113.10
expect_eq "by the far host" $(($(echoes far) - e)) 1
expect_ok "conntrack shows the TCP flow translated to tA's address" \
	grep -q '^100\.64\.1\.1:' <<<"$(sg dump conntrack --json | jq -r \
	'[.[] | select(.sector=="vm1" and .proto=="tcp" and .dst=="203.0.113.10:80")][0].nat')"
expect_eq "192.0.2.2, excepted, leaves by the uplink, masqueraded" \
	"$(get vm1 192.0.2.2 80)" "inet 192.0.2.1"
before=$(stat vm1 'drops["protected-destination"] // 0')
in_ns vm1 nc -z -w 1 198.51.100.2 22
expect_ok "0.0.0.0/0 steers nothing protected: 198.51.100.2 is protected-destination" \
	test "$(moved vm1 protected-destination "$before")" -ge 1
expect_eq "no egress-down so far" "$(egress_down)" 0
# A UDP flow from a fixed source port is the same flow all along (its
# twin from port 40002 starts on tB, below). CI lost its answer twice
# once: what the datapath saw, if it fails again.
a=$(ask 2 40001)
expect_eq "a UDP flow from port 40001 starts on tA" "$a" "far 100.64.1.1"
[ "$a" = "far 100.64.1.1" ] || unanswered 40001
# Too big for the tunnel, with DF: "fragmentation needed" with tA's MTU
# from the gateway, as a router forwarding into it answers, and vm1
# learns the path's MTU; nothing of it reaches the far host. What fits
# still goes through.
mtu0=$(in_gw ip -o link show tA | sed 's/.* mtu \([0-9]*\) .*/\1/')
in_gw ip link set tA mtu 1300
e=$(echoes far)
before=$(stat vm1 'drops["too-big"] // 0')
out=$(in_ns vm1 ping -M do -s 1400 -c 1 -W 1 203.0.113.10 2>&1)
expect_ok "a DF ping of 1428 bytes gets fragmentation needed, mtu 1300, from the gateway" \
	grep -q "From 10.1.0.1 .*Frag needed and DF set (mtu = 1300)" <<<"$out"
expect_eq "counted on vm1 as too-big" "$(moved vm1 too-big "$before")" 1
expect_ok "vm1 keeps 1300 as the path's MTU" \
	grep -q " mtu 1300" <(in_ns vm1 ip route get 203.0.113.10)
expect_eq "the far host got none of it" $(($(echoes far) - e)) 0
expect_ok "a DF ping of exactly 1300 bytes goes through" \
	in_ns vm1 ping -M do -s 1272 -c 1 -W 1 203.0.113.10
# A VM's UDP socket, as applications send (DF, their checksum left to
# the device): it learns the MTU from the answer.
in_ns vm1 ip route flush cache
expect_eq "a UDP socket with DF learns 1300 from its first big datagram" \
	"$(in_ns vm1 /usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)	# IP_MTU_DISCOVER: IP_PMTUDISC_DO
s.connect(("203.0.113.10", 53))
s.send(b"x" * 1400)
time.sleep(0.5)
print(s.getsockopt(socket.IPPROTO_IP, 14))	# IP_MTU
')" 1300
in_gw ip link set tA mtu "$mtu0"
in_ns vm1 ip route flush cache

# Fragments: a 4000-byte ping and UDP datagram leave vm1 in fragments
# (MTU 1500), steered, and their answers come back through tA in
# fragments (a DNS answer over EDNS does). The gateway reassembles
# nothing: each fragment after the first follows its first, both ways.
e=$(echoes far)
in_fragments vm1 far 203.0.113.10 "steered through tA"
expect_eq "the pings reached the far host, not the decoy" \
	"$(($(echoes far) - e)) $(captured inet "$FAR")" "2 $decoy0"

# --- The mesh: one port, untranslated; nothing else (3.10) ---------------------
expect_eq "TCP to 10.50.0.2:6333 goes through mesh0 from vm1's own address, answered" \
	"$(get vm1 10.50.0.2 6333)" "remote 10.1.0.2"
expect_eq "conntrack shows it untranslated" \
	"$(sg dump conntrack --json | jq -c \
	'[.[] | select(.sector=="vm1" and .dst=="10.50.0.2:6333") | .nat] | unique')" '[null]'
d=$(drops_of_vm1)
expect_fail "TCP to 10.50.0.2:22 is refused, though the gateway routes it to mesh0" \
	get vm1 10.50.0.2 22
why=$(moved_since "$d")
expect_ok "dropped by sectorgate, counted on vm1 (${why:-nothing})" test -n "$why"
expect_eq "nothing of it reached the remote node (capture, listener)" \
	"$(captured remote 'tcp dst port 22') $(lines ssh-tcp-22)" "$ssh0"
d=$(drops_of_vm1)
expect_eq "UDP to 10.50.0.2:6333 is refused: the policy is TCP only" \
	"$(ask 1 0 10.50.0.2 6333)" ""
why=$(moved_since "$d")
expect_ok "dropped by sectorgate, counted on vm1 (${why:-nothing})" test -n "$why"
expect_eq "nothing of it reached the remote node" \
	"$(captured remote 'udp dst port 6333')" "$rudp0"
before=$(stat vm1 'drops["unsolicited"] // 0')
clients=$(lines vm1-tcp-8080)
expect_fail "the remote node cannot open a connection to vm1 (no allow-from mesh0)" \
	get remote 10.1.0.2 8080 10.50.0.2
expect_ok "counted as unsolicited on vm1" test "$(moved vm1 unsolicited "$before")" -ge 1
expect_eq "vm1's service saw no new client" "$(lines vm1-tcp-8080)" "$clients"

# --- Failover: tA down (3.10) -------------------------------------------------
# Each round asks as a new flow, and sends one datagram of the flow
# pinned on tA, until new flows are answered through tB and the pinned
# flow is counted egress-down.
e=$(egress_down)
t0=$(ms)
in_gw ip link set tA down
echo "    delay tA down -> the datapath's policy says tA is down: $(usable_after "$t0" tA false)"
t_new=
t_drop=
while [ "$(ms)" -lt $((t0 + 10000)) ] && { [ -z "$t_new" ] || [ -z "$t_drop" ]; }; do
	if [ -z "$t_new" ] && [ "$(ask 0.3)" = "far 100.64.2.1" ]; then
		t_new=$(($(ms) - t0))
	fi
	if [ -z "$t_drop" ]; then
		ask 0 40001
		[ "$(egress_down)" -gt "$e" ] 2>/dev/null && t_drop=$(($(ms) - t0))
	fi
done
echo "    delay tA down -> first drop (egress-down): $(delay "$t_drop")"
echo "    delay tA down -> new flows through tB: $(delay "$t_new")"
expect_eq "tA down: a new UDP flow leaves through tB, from tB's address" \
	"$(ask 2)" "far 100.64.2.1"
expect_eq "a new TCP connection too" "$(get vm1 203.0.113.10 80)" "far 100.64.2.1"
e=$(egress_down)
expect_eq "the flow that started on tA is not moved to tB" "$(ask 1 40001)" ""
expect_ok "it is dropped, egress-down" test "$(egress_down)" -gt "$e"
a=$(ask 2 40002)
expect_eq "a UDP flow from port 40002 starts on tB" "$a" "far 100.64.2.1"
[ "$a" = "far 100.64.2.1" ] || unanswered 40002

# --- Both down: fail closed (3.10) ----------------------------------------------
nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" monitor --json \
	>"$work/monitor" 2>/dev/null &
mon=$!
sleep 0.5
e=$(egress_down)
t0=$(ms)
in_gw ip link set tB down
echo "    delay tB down -> the datapath's policy says tB is down: $(usable_after "$t0" tB false)"
t_drop=
while [ "$(ms)" -lt $((t0 + 10000)) ]; do
	ask 0
	[ "$(egress_down)" -gt "$e" ] 2>/dev/null && { t_drop=$(($(ms) - t0)); break; }
done
echo "    delay tB down (both down) -> first drop of a new flow (egress-down): $(delay "$t_drop")"
far0=$(captured far "$FAR")
decoy=$(captured inet "$FAR")
e=$(egress_down)
expect_eq "both down: a new UDP flow gets no answer" "$(ask 1)" ""
expect_fail "a new TCP connection fails" get vm1 203.0.113.10 80
expect_fail "a ping fails" ping1 vm1 203.0.113.10
expect_eq "the flow pinned on tB gets no answer" "$(ask 1 40002)" ""
expect_ok "all of it counted egress-down on vm1 (stats --json)" \
	test $(($(egress_down) - e)) -ge 4
expect_eq "nothing of it reached the far host" "$(captured far "$FAR")" "$far0"
expect_eq "nor fell back to the uplink: the decoy got none of it" \
	"$(captured inet "$FAR")" "$decoy"
# The sectors of the egress-down events monitor printed so far (a line
# still being written is no event yet).
mon_egress_down() { jq -r 'select(.reason == "egress-down") | .sector' "$work/monitor" 2>/dev/null; }
expect_ok "monitor --json reports them as vm1's egress-down" \
	poll 3 'mon_egress_down | grep -qx vm1'
kill "$mon"
wait "$mon" 2>/dev/null
mon=
expect_eq "what is excepted still leaves by the uplink" \
	"$(get vm1 192.0.2.2 80)" "inet 192.0.2.1"
expect_eq "and the mesh still carries its port" "$(get vm1 10.50.0.2 6333)" "remote 10.1.0.2"

# --- Recovery, with no apply (3.10, SPEC 2 run) ----------------------------------
t0=$(ms)
in_gw ip link set tB up
echo "    delay tB up -> the datapath's policy says tB is up: $(usable_after "$t0" tB true)"
# Going down took tB's routes with them (the kernel's doing); the device's
# manager (zerotier-one, networkd) puts them back once it is up, and so
# does this script, as part of "up".
in_gw ip route add default via 100.64.2.2 dev tB metric 1000
echo "    delay tB up (tA still down) -> new flows through tB: $(since "$t0" "far 100.64.2.1")"
expect_eq "tB up: new flows leave through tB again" "$(ask 2)" "far 100.64.2.1"
expect_eq "the flow pinned on tB flows again" "$(ask 2 40002)" "far 100.64.2.1"
t0=$(ms)
in_gw ip link set tA up
echo "    delay tA up -> the datapath's policy says tA is up: $(usable_after "$t0" tA true)"
echo "    delay tA up -> new flows through tA: $(since "$t0" "far 100.64.1.1")"
expect_eq "tA up: new flows take tA again, the first of the list" "$(ask 2)" "far 100.64.1.1"
expect_eq "new TCP connections too" "$(get vm1 203.0.113.10 80)" "far 100.64.1.1"
expect_eq "the flow pinned on tA flows again, through tA" "$(ask 2 40001)" "far 100.64.1.1"
expect_eq "the flow pinned on tB stays on tB" "$(ask 2 40002)" "far 100.64.2.1"
expect_ok "the same run did it all" kill -0 "$runner"

# --- Nothing leaked (3.10) -----------------------------------------------------
expect_eq "the decoy behind the uplink never saw a packet for 203.0.113.10 under sectorgate" \
	"$(captured inet "$FAR")" "$decoy0"
expect_eq "its services never saw a client" \
	"$(lines decoy-tcp-80) $(lines decoy-udp-53)" "$decoy_tcp0 $decoy_udp0"
expect_eq "the far host saw no source but tA's and tB's (not vm1's, not the uplink's)" \
	"$(captured far "$FAR and not src host 100.64.1.1 and not src host 100.64.2.1")" 0
expect_eq "its UDP service saw both" \
	"$(tail -n +$((far_log0 + 1)) "$work/far-udp-53.log" | sort -u | tr '\n' ' ')" \
	"100.64.1.1 100.64.2.1 "

kill -TERM "$runner"
rc=0
wait "$runner" || rc=$?
runner=
expect_eq "SIGTERM ends run with status 0" "$rc" 0

# --- Without run (3.10) --------------------------------------------------------
# The programs stay attached and nothing applies again: a device that goes
# down now is still the one the policies name. Its own tc egress finds it
# down and drops what is steered to it as egress-down, counted, where the
# kernel would drop it unseen; nothing falls back to the uplink.
e=$(egress_down)
far0=$(captured far "$FAR")
decoy=$(captured inet "$FAR")
in_gw ip link set tA down
expect_eq "without run, tA down: a new UDP flow gets no answer" "$(ask 1)" ""
expect_eq "nor the flow pinned on tA" "$(ask 1 40001)" ""
expect_ok "counted egress-down on vm1" test "$(egress_down)" -gt "$e"
expect_eq "nothing of it reached the far host" "$(captured far "$FAR")" "$far0"
expect_eq "nor the decoy behind the uplink" "$(captured inet "$FAR")" "$decoy"
# What dump policy tells an operator of it: the datapath's policy still
# has tA usable (no apply since), and tA's link is down now.
expect_ok "dump policy: tA is down since the last apply" \
	grep -q 'vm1 egress\[1\] via tA ([0-9.]*, down since the last apply), tB ([0-9.]*, up)' \
	<(sg dump policy)
expect_eq "dump policy --json: tA usable in the datapath, its link down" \
	"$(sg dump policy --json | jq -c '[.[] | select(.sector == "vm1") |
		.egress[1].devices[] | [.interface, .usable, .link_up]]')" \
	'[["tA",true,false],["tB",true,true]]'
in_gw ip link set tA up
expect_eq "tA up again: new flows leave through it, with no apply" \
	"$(ask 2)" "far 100.64.1.1"
# The other way round: down at an apply, up since. The datapath holds tA
# unusable until the next apply, and dump policy says so.
in_gw ip link set tA down
expect_ok "apply with tA down" sg apply -c "$DEFS"
expect_ok "dump policy: tA unusable" \
	grep -q 'vm1 egress\[1\] via tA ([0-9.]*, unusable), tB ([0-9.]*, up)' \
	<(sg dump policy)
in_gw ip link set tA up
expect_ok "tA up again, no apply: dump policy says it is up since the last apply" \
	grep -q 'vm1 egress\[1\] via tA ([0-9.]*, unusable, up since the last apply), tB ([0-9.]*, up)' \
	<(sg dump policy)
expect_eq "dump policy --json: tA unusable in the datapath, its link up" \
	"$(sg dump policy --json | jq -c '[.[] | select(.sector == "vm1") |
		.egress[1].devices[] | [.interface, .usable, .link_up]]')" \
	'[["tA",false,true],["tB",true,true]]'
expect_eq "new flows take tB until an apply" "$(ask 2)" "far 100.64.2.1"
expect_ok "apply with tA up" sg apply -c "$DEFS"
expect_eq "then they take tA" "$(ask 2)" "far 100.64.1.1"

# --- A device that is not there (3.10) ------------------------------------------
# The first device of the list does not exist: new flows take the next;
# with it alone, they are egress-down, and nothing falls back to the
# uplink. dump policy names it from the definitions applied.
sed 's/interface: \[tA, tB\]/interface: [gone0, tB]/' "$DEFS" >"$work/gone.yaml"
expect_ok "apply a list whose first device is not present" sg apply -c "$work/gone.yaml"
expect_ok "dump policy names it, not present" \
	grep -q 'vm1 egress\[1\] via gone0 (not present), tB ([0-9.]*, up)' <(sg dump policy)
expect_eq "dump policy --json too" \
	"$(sg dump policy --json | jq -c '[.[] | select(.sector == "vm1") |
		.egress[1].devices[] | [.interface, .present, .usable]]')" \
	'[["gone0",false,false],["tB",true,true]]'
expect_eq "a new UDP flow leaves through tB" "$(ask 2)" "far 100.64.2.1"
sed 's/interface: \[tA, tB\]/interface: gone0/' "$DEFS" >"$work/gone1.yaml"
expect_ok "apply a policy whose only device is not present" sg apply -c "$work/gone1.yaml"
e=$(egress_down)
far0=$(captured far "$FAR")
decoy=$(captured inet "$FAR")
expect_eq "a new UDP flow gets no answer" "$(ask 1)" ""
expect_fail "a new TCP connection fails" get vm1 203.0.113.10 80
expect_ok "counted egress-down on vm1" test "$(egress_down)" -ge $((e + 2))
expect_eq "nothing of it reached the far host" "$(captured far "$FAR")" "$far0"
expect_eq "nor the decoy behind the uplink" "$(captured inet "$FAR")" "$decoy"
echo "# a comment: the file no longer holds what was applied" >>"$work/gone1.yaml"
expect_ok "edited since, the file no longer names it" \
	grep -q 'vm1 egress\[1\] via (not present)$' <(sg dump policy)
# A device that is up but has no address gives no source: unusable, and
# dump policy says why (not "up since the last apply").
in_gw ip link add tC up type veth peer name tCp
in_gw ip link set tCp up
sed 's/interface: \[tA, tB\]/interface: [tC, tB]/' "$DEFS" >"$work/noaddr.yaml"
expect_ok "apply a list whose first device has no address" sg apply -c "$work/noaddr.yaml"
expect_ok "dump policy: tC is unusable for want of an address" \
	grep -q 'vm1 egress\[1\] via tC (0.0.0.0, unusable, no address at the last apply), tB ([0-9.]*, up)' \
	<(sg dump policy)
expect_eq "a new UDP flow leaves through tB" "$(ask 2)" "far 100.64.2.1"
in_gw ip link del tC

e2e_summary
