#!/bin/bash
# SPEC 3.4, last sentence: the host's own connections and the sectors'
# masqueraded flows share the uplink address 192.0.2.1 and never take each
# other's replies, whichever opened its port first (bpf/sg_shadow.h).
#  (a) a VM holds NAT port P towards inet's server (port preservation),
#      then the host connects from P to the same server: the host's
#      connection is moved to another port and its replies restored;
#  (b) the host holds P first, then a VM asks for P: it gets another port.
# TCP (live sessions, both ways through the fast path's vm1 and the tc
# path's vm2a) and UDP. The gateway namespace has no nftables rules.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology

# inet: a TCP echo that first says which port it sees, a UDP one that
# answers with the port it sees.
(in_ns inet socat TCP4-LISTEN:7,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'echo seen $SOCAT_PEERADDR $SOCAT_PEERPORT; exec cat' &) 2>/dev/null
# One process answers every datagram (a socat fork child would keep its
# peer's next ones).
cat >"$work/udp_port.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 5353))
while True:
    _, peer = s.recvfrom(2048)
    s.sendto(b"%d\n" % peer[1], peer)
PY
(in_ns inet python3 "$work/udp_port.py" &) 2>/dev/null
sleep 0.5
expect_ok "apply" sg apply -c "$DEFS"

# session NAME WHERE PORT: a TCP session to inet's echo from source port
# PORT, WHERE a VM or "host"; fd 3 of it is $work/NAME.in, its output
# $work/NAME.out.
sessions=()
session() {
	local name=$1 where=$2 port=$3
	mkfifo "$work/$name.in"
	if [ "$where" = host ]; then
		(in_gw socat STDIO TCP4:192.0.2.2:7,bind=192.0.2.1,sourceport="$port",reuseaddr,connect-timeout=3 \
			<"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &) 2>/dev/null
	else
		(in_ns "$where" socat STDIO TCP4:192.0.2.2:7,sourceport="$port",reuseaddr,connect-timeout=3 \
			<"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &) 2>/dev/null
	fi
	eval "exec {fd}>\"$work/$name.in\""
	sessions+=("$name:$fd")
	poll 3 "grep -q '^seen ' '$work/$name.out'"
}
fd_of() { local s; for s in "${sessions[@]}"; do [ "${s%%:*}" = "$1" ] && echo "${s#*:}"; done; }
# say NAME LINE: sent over the session, it must come back within 3 s.
say() {
	echo "$2" >&"$(fd_of "$1")"
	poll 3 "grep -qx '$2' '$work/$1.out'"
}
# seen NAME: the port inet saw the session come from.
seen() { awk '/^seen / {print $3; exit}' "$work/$1.out"; }
# only_own NAME: its output holds its first line and its own lines only.
only_own() { ! grep -v -e '^seen ' -e "^$1 " "$work/$1.out" | grep -q .; }
# exchange A B: each sends lines in turn; each gets exactly its own back.
exchange() {
	local i ok=0
	for i in 1 2 3; do
		say "$1" "$1 line $i" || ok=1
		say "$2" "$2 line $i" || ok=1
	done
	[ "$ok" -eq 0 ] && only_own "$1" && only_own "$2"
}
ct_host() {	# the host's moved flows: "src nat state"
	sg dump conntrack --json | jq -r '.[] | select(.sector=="host") | "\(.src) \(.nat) \(.state)"'
}

# (a) TCP: vm1 (XDP fast path) holds 30001, then the host connects from it.
session vm1a vm1 30001
expect_eq "(a) vm1 keeps its port 30001" "$(seen vm1a)" 30001
session hosta host 30001
expect_ok "(a) the host's connection from 30001 completes" grep -q '^seen ' "$work/hosta.out"
hp=$(seen hosta)
[ -n "$hp" ] && [ "$hp" != 30001 ] && [ "$hp" -ge 20000 ] && [ "$hp" -le 32767 ] &&
	pass "(a) inet sees the host on another port of nat-ports ($hp)" ||
	fail "(a) inet sees the host on another port of nat-ports ($hp)"
expect_ok "(a) each session gets its own echoes, nothing of the other's" exchange vm1a hosta
expect_eq "(a) dump conntrack: the host's connection, moved" \
	"$(ct_host | grep '^192.0.2.1:30001 ')" "192.0.2.1:30001 192.0.2.1:$hp established"
expect_eq "(a) dump conntrack: vm1's flow kept its port" \
	"$(sg dump conntrack --json | jq -r '.[] | select(.sector=="vm1" and .dst=="192.0.2.2:7") | .nat')" \
	192.0.2.1:30001

# (b) TCP: the host holds a port (30002), then vm1 (fast path) and vm2a
# (tc) ask for it; the same for 30003. Not the port (a)'s connection was
# moved to, if chance made it one of these: the same tuple twice would be
# one connection to inet.
pb=30002; [ "$hp" = "$pb" ] && pb=30004
pc=30003; [ "$hp" = "$pc" ] && pc=30005
session hostb host $pb
expect_eq "(b) the host connects from $pb" "$(seen hostb)" $pb
session vm1b vm1 $pb
vp=$(seen vm1b)
[ -n "$vp" ] && [ "$vp" != $pb ] &&
	pass "(b) vm1 does not get the host's port $pb ($vp)" ||
	fail "(b) vm1 does not get the host's port $pb ($vp)"
session hostc host $pc
session vm2c vm2a $pc
vp2=$(seen vm2c)
[ -n "$vp2" ] && [ "$vp2" != $pc ] &&
	pass "(b) nor does vm2a, over tc, get the host's $pc ($vp2)" ||
	fail "(b) nor does vm2a, over tc, get the host's $pc ($vp2)"
expect_ok "(b) the host's session and vm1's get their own echoes" exchange hostb vm1b
expect_ok "(b) the host's session and vm2a's too" exchange hostc vm2c
expect_eq "(b) the host's connections were not moved" \
	"$(ct_host | grep -Ec "^192\.0\.2\.1:($pb|$pc) ")" 0
# The earlier sessions go on too.
expect_ok "(a) both sessions still echo" exchange hosta vm1a

# UDP. (a) vm1 holds 30011 towards the UDP service, then the host sends
# from it; (b) a host socket holds 30012, then vm1 sends from it.
vm_udp() { echo x | in_ns vm1 socat -T 2 - UDP4:192.0.2.2:5353,sourceport="$1"; }
host_udp() { echo x | in_gw socat -T 2 - UDP4:192.0.2.2:5353,bind=192.0.2.1,sourceport="$1"; }
expect_eq "(a) UDP: vm1 keeps 30011" "$(vm_udp 30011)" 30011
up=$(host_udp 30011)
[ -n "$up" ] && [ "$up" != 30011 ] &&
	pass "(a) UDP: the host from 30011 gets its answer, moved to $up" ||
	fail "(a) UDP: the host from 30011 gets its answer, moved to '$up'"
expect_eq "(a) UDP: vm1 still gets its own" "$(vm_udp 30011)" 30011
up2=$(host_udp 30011)
[ -n "$up" ] && [ "$up2" = "$up" ] &&
	pass "(a) UDP: the host again, on the same moved port" ||
	fail "(a) UDP: the host again, on the same moved port ('$up2')"

# Not the port (a)'s datagrams were moved to.
pu=30012; [ "$up" = "$pu" ] && pu=30014
mkfifo "$work/hu.in"
(in_gw socat -T 20 - UDP4:192.0.2.2:5353,bind=192.0.2.1,sourceport=$pu \
	<"$work/hu.in" >"$work/hu.out" 2>/dev/null &) 2>/dev/null
exec 4>"$work/hu.in"
poll 3 "in_gw ss -Hun 'sport = :$pu' | grep -q ."
echo h1 >&4
poll 3 "grep -qx $pu '$work/hu.out'"
expect_eq "(b) UDP: the host's socket on $pu is answered" "$(cat "$work/hu.out")" $pu
vu=$(vm_udp $pu)
[ -n "$vu" ] && [ "$vu" != $pu ] &&
	pass "(b) UDP: vm1 does not get the host's port $pu ($vu)" ||
	fail "(b) UDP: vm1 does not get the host's port $pu ('$vu')"
echo h2 >&4
poll 3 "[ \$(grep -cx $pu '$work/hu.out') -eq 2 ]"
expect_eq "(b) UDP: the host's socket still gets its answers, only its own" \
	"$(tr '\n' ' ' <"$work/hu.out")" "$pu $pu "
exec 4>&-

# (The VMs' IPv6 router solicitations are dropped as ipv6.)
expect_eq "nothing of vm1's was dropped" \
	"$(sg stats --json | jq '[.sectors.vm1.drops | to_entries[] | select(.key != "ipv6") | .value] | add')" 0
expect_eq "no host connection was dropped" \
	"$(sg stats --json | jq '.drops["nat-ports-exhausted"] + .drops["conntrack-full"] + .drops["malformed"]')" 0
for s in "${sessions[@]}"; do eval "exec ${s#*:}>&-"; done

e2e_summary
