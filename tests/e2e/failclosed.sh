#!/bin/bash
# SPEC 2 and 3.5, 3.7: sectorgate fails closed. The metadata address is
# unreachable from sectors that did not opt in (imds-denied), a trusted L3
# tunnel that no sector admits lets nothing into a sector (unsolicited)
# and takes nothing out of one (untranslatable), and definitions that ask
# for what the datapath does not enforce yet are refused and change
# nothing. (dnat.sh has what imds: true, forwards and allow-from open.) Real traffic, no
# nftables rules anywhere; each check is first shown to pass without
# sectorgate, so that it can fail.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
# The same with the tunnel ts0 as a trusted device.
sed 's/^  protected: \[198.51.100.0\/24\]$/&\n  trusted: [{interface: ts0}]/' \
	"$DEFS" >"$work/trusted.yaml"


# --- The metadata service behind the uplink -------------------------------
# inet holds 169.254.169.254 and serves credentials on port 80, logging
# each client; the gateway routes the address to inet, as a cloud host's
# default route would. inet also runs a who-am-I on 192.0.2.2:80.
in_ns inet ip addr add 169.254.169.254/32 dev lo
in_gw ip route add 169.254.169.254/32 via 192.0.2.2 dev wan0
(in_ns inet socat TCP4-LISTEN:80,bind=169.254.169.254,fork,reuseaddr \
	SYSTEM:"echo credentials; echo \$SOCAT_PEERADDR >>$work/imds.log" &) 2>/dev/null
(in_ns inet socat TCP4-LISTEN:80,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
touch "$work/imds.log"
imds() {	# VM: what the metadata service answers it
	in_ns "$1" timeout 4 socat -T 2 -u TCP4:169.254.169.254:80,connect-timeout=2 - 2>/dev/null
}
whoami() { in_ns "$1" timeout 4 socat -T 2 -u TCP4:192.0.2.2:80,connect-timeout=2 - 2>/dev/null; }
imds_clients() { wc -l <"$work/imds.log"; }

# --- A trusted L3 tunnel -------------------------------------------------
# topology.sh's tunnel ts0 to "peer", like tailscale0 or a WireGuard
# device. peer routes the sector vm1 through the tunnel.
topo_tunnel
expect_ok "the tunnel ts0 comes up and carries the gateway's ping to peer" \
	poll 5 'in_gw ping -c 1 -W 1 100.64.0.2'
in_ns peer ip route add 10.1.0.0/24 via 100.64.0.1 dev ts0

# Services: TCP 8080 in vm1; a UDP sink on 100.64.0.2:9999 in peer.
(in_ns vm1 nc -l -k 10.1.0.2 8080 &) 2>/dev/null
(in_ns peer socat -u UDP4-RECV:9999,bind=100.64.0.2 OPEN:"$work/peer-udp",creat,append &) 2>/dev/null
expect_ok "the services listen" poll 5 \
	'listening inet t 80 && listening vm1 t 8080 && listening peer u 9999'
udp_to_peer() { echo "$1" | in_ns vm1 socat -u - UDP4-SENDTO:100.64.0.2:9999; }
peer_got() { grep -qx "$1" "$work/peer-udp" 2>/dev/null; }

# --- Before sectorgate: every path is open --------------------------------
# Only for this proof inet routes the sectors back through the gateway.
in_ns inet ip route add 10.1.0.0/24 via 192.0.2.1
expect_eq "before: vm1 gets the metadata credentials" "$(imds vm1)" credentials
expect_eq "before: the metadata service saw vm1 itself" "$(tail -n 1 "$work/imds.log")" 10.1.0.2
in_ns inet ip route del 10.1.0.0/24 via 192.0.2.1
expect_ok "before: peer pings vm1 through the tunnel" ping1 peer 10.1.0.2
expect_ok "before: peer connects to vm1's tcp/8080 through the tunnel" tcp peer 10.1.0.2 8080
udp_to_peer before
expect_ok "before: vm1's UDP reaches peer through the tunnel" poll 2 'peer_got before'

# --- The metadata address, whatever `internet` says (3.7) -----------------
expect_ok "apply" sg apply -c "$DEFS"
expect_eq "vm1 is masqueraded to the internet" "$(whoami vm1)" 192.0.2.1
clients=$(imds_clients)
before=$(stat vm1 'drops["imds-denied"]')
expect_fail "vm1 (internet: true) cannot connect to 169.254.169.254:80" imds vm1
expect_ok "counted as imds-denied on vm1" test "$(moved vm1 imds-denied "$before")" -ge 1
before=$(stat vm1 'drops["imds-denied"]')
expect_fail "vm1 cannot ping 169.254.169.254" ping1 vm1 169.254.169.254
expect_eq "one ping, one imds-denied" "$(moved vm1 imds-denied "$before")" 1
before=$(stat vm1 'drops["imds-denied"]')
echo x | in_ns vm1 socat -u - UDP4-SENDTO:169.254.169.254:53
expect_eq "UDP to 169.254.169.254:53 is imds-denied too" "$(moved vm1 imds-denied "$before")" 1
before=$(stat vm3 'drops["imds-denied"]')
nointernet=$(stat vm3 'drops["no-internet"]')
expect_fail "vm3 (internet: false) cannot connect to 169.254.169.254:80" imds vm3
expect_ok "counted as imds-denied on vm3" test "$(moved vm3 imds-denied "$before")" -ge 1
expect_eq "not as no-internet" "$(moved vm3 no-internet "$nointernet")" 0
expect_eq "the metadata service saw no client" "$(imds_clients)" "$clients"
expect_eq "vm1 is still masqueraded to the internet" "$(whoami vm1)" 192.0.2.1

# A device that the definitions do not name is no way around them: what
# the kernel forwards from it into a sector is unsolicited, and what it
# would route out of it from a sector is untranslatable (it would carry
# the VM's own address), both counted on the sector.
before=$(stat vm1 'drops["unsolicited"]')
expect_fail "ts0 not listed: peer cannot ping vm1 through it" ping1 peer 10.1.0.2
expect_eq "counted as unsolicited on vm1" "$(moved vm1 unsolicited "$before")" 1
before=$(stat vm1 'drops["untranslatable"]')
udp_to_peer unlisted
expect_eq "vm1's UDP to peer is untranslatable, not sent untranslated" \
	"$(moved vm1 untranslatable "$before")" 1
sleep 0.5
expect_fail "and peer got none of it" peer_got unlisted

# --- A trusted device lets nothing in and nothing out (3.5) ---------------
expect_ok "apply with ts0 trusted" sg apply -c "$work/trusted.yaml"
ts0_status() { sg status --json | jq -c '[.devices[] | select(.name=="ts0") | {role, hooks}][0]'; }
expect_eq "status lists ts0 as trusted, on tc (an L3 device)" "$(ts0_status)" \
	'{"role":"trusted","hooks":["tc-ingress","tc-egress"]}'
expect_ok "and so does sectorgate status" grep -Eq '^ +ts0 +trusted ' <<<"$(sg status)"
before=$(stat vm1 'drops["unsolicited"]')
expect_fail "peer no longer pings vm1 through the tunnel" ping1 peer 10.1.0.2
expect_eq "one ping, one unsolicited on vm1" "$(moved vm1 unsolicited "$before")" 1
before=$(stat vm1 'drops["unsolicited"]')
expect_fail "peer no longer connects to vm1's tcp/8080" tcp peer 10.1.0.2 8080
expect_ok "counted as unsolicited on vm1" test "$(moved vm1 unsolicited "$before")" -ge 1
before=$(stat vm1 'drops["untranslatable"]')
udp_to_peer after
expect_fail "vm1's UDP no longer reaches peer" poll 2 'peer_got after'
expect_eq "one datagram, one untranslatable on vm1" "$(moved vm1 untranslatable "$before")" 1
before=$(stat vm1 'drops["untranslatable"]')
expect_fail "vm1 cannot ping 100.64.0.2 out of the tunnel" ping1 vm1 100.64.0.2
expect_eq "one ping, one untranslatable on vm1" "$(moved vm1 untranslatable "$before")" 1
expect_ok "the gateway itself still pings peer through the tunnel" \
	in_gw ping -c 1 -W 1 100.64.0.2
expect_eq "vm1 is still masqueraded to the internet" "$(whoami vm1)" 192.0.2.1

# --- A sector removed from the file while its device stays -----------------
# v3 is no sector's any more: nothing decides for it, so nothing the
# kernel forwards from it may leave, neither by the uplink (to inet, a
# UDP sink that logs what arrives) nor by the trusted tunnel (to peer).
# After unload, below, both arrive: the host alone would carry them.
(in_ns inet socat -u UDP4-RECV:9998,bind=192.0.2.2 OPEN:"$work/inet-udp",creat,append &) 2>/dev/null
expect_ok "inet's UDP sink listens" poll 5 'listening inet u 9998'
inet_got() { grep -qx "$1" "$work/inet-udp" 2>/dev/null; }
from_vm3() {	# WORD: sent from vm3 to inet's sink and to peer's
	echo "$1" | in_ns vm3 socat -u - UDP4-SENDTO:192.0.2.2:9998
	echo "$1" | in_ns vm3 socat -u - UDP4-SENDTO:100.64.0.2:9999
	sleep 0.5
}
sed '/^  - name: vm3$/,/^    internet: false$/d' "$work/trusted.yaml" >"$work/no-vm3.yaml"
expect_ok "apply without vm3 (v3 stays)" sg apply -c "$work/no-vm3.yaml"
expect_eq "v3 is no device of ours" \
	"$(sg status --json | jq '[.devices[] | select(.name=="v3")] | length')" 0
untr=$(sg stats --json | jq '.drops.untranslatable // 0')
from_vm3 removed
expect_fail "vm3's UDP does not leave the uplink" inet_got removed
expect_fail "nor the trusted tunnel" peer_got removed
expect_eq "both counted as untranslatable" \
	$(($(sg stats --json | jq '.drops.untranslatable // 0') - untr)) 2
expect_eq "vm1 is still masqueraded to the internet" "$(whoami vm1)" 192.0.2.1
expect_ok "apply with vm3 again" sg apply -c "$work/trusted.yaml"

# --- What the datapath cannot enforce is refused and changes nothing (SPEC 2)
gen=$(sg status --json | jq .generation)
sg dump sectors --json >"$work/sectors.json"
# refused NAME FIELD LINE COL: the file $work/NAME.yaml is refused by check
# and by apply with status 1, as FILE:LINE:COL: FIELD: not supported yet,
# where LINE:COL is what is not supported.
refused() {
	local f=$work/$1.yaml cmd rc
	for cmd in check apply; do
		rc=0
		sg "$cmd" -c "$f" >"$work/out" 2>"$work/err" || rc=$?
		expect_eq "$cmd refuses $2 with status 1" "$rc" 1
		if grep -qF "$f:$3:$4: $2: not supported yet" "$work/err"; then
			pass "$cmd says $1.yaml:$3:$4: $2: not supported yet"
		else
			fail "$cmd says $1.yaml:$3:$4: $2: not supported yet"
			sed 's/^/    /' "$work/err"
		fi
		expect_ok "$cmd says nothing was changed" \
			grep -qxF "$f: invalid, nothing was changed" "$work/err"
	done
}
# Each goes after vm1's "interfaces: [v1]", line 10 of trusted.yaml once
# its `xdp:` lines are left out (xdp: on would be refused with egress).
with_vm1() {
	sed -e '/^ *xdp: /d' -e "s|^    interfaces: \[v1\]\$|&\n    $2|" \
		"$work/trusted.yaml" >"$work/$1.yaml"
}
# A glob that matches another sector's device is invalid, and says so
# like every other error.
sed -e '/^ *xdp: /d' -e 's|^    interfaces: \[v1\]$|    interfaces: [v1, "v3*"]|' \
	"$work/trusted.yaml" >"$work/glob.yaml"
for cmd in check apply; do
	rc=0
	sg "$cmd" -c "$work/glob.yaml" >"$work/out" 2>"$work/err" || rc=$?
	expect_eq "$cmd refuses a glob matching another sector's device (1)" "$rc" 1
	expect_ok "$cmd names it" grep -qF '"v3*" matches device v3, which is already claimed' "$work/err"
	expect_ok "$cmd says nothing was changed" \
		grep -qxF "$work/glob.yaml: invalid, nothing was changed" "$work/err"
done
# Steering into the uplink: what matches no policy leaves there anyway.
with_vm1 egress 'egress: [{destinations: [0.0.0.0/0], interface: wan0}]'
refused egress 'sectors[0].egress[0].interface' 11 53
# The metadata rewrite leaves by an uplink: a target the host routes
# through another device, or that is the host's own address, is refused
# while a sector asks for it (the default target: its key is the one
# left out, host.imds.address, at 1:1).
with_vm1 imds-true 'imds: true'
expect_ok "imds: true with the target behind the uplink is accepted" \
	sg check -c "$work/imds-true.yaml"
in_gw ip route replace 169.254.169.254/32 dev ts0
refused imds-true 'host.imds.address' 1 1
in_gw ip route replace 169.254.169.254/32 via 192.0.2.2 dev wan0
in_gw ip addr add 169.254.169.254/32 dev lo
refused imds-true 'host.imds.address' 1 1
in_gw ip addr del 169.254.169.254/32 dev lo
with_vm1 imds-false 'imds: false'
expect_ok "imds: false is the default, and accepted" sg check -c "$work/imds-false.yaml"

expect_eq "the generation did not move" "$(sg status --json | jq .generation)" "$gen"
expect_eq "dump sectors is unchanged" "$(sg dump sectors --json)" "$(cat "$work/sectors.json")"
expect_eq "ts0 is still trusted" "$(ts0_status)" \
	'{"role":"trusted","hooks":["tc-ingress","tc-egress"]}'
expect_eq "vm1 is still masqueraded to the internet" "$(whoami vm1)" 192.0.2.1
expect_fail "peer still cannot ping vm1" ping1 peer 10.1.0.2
expect_fail "vm1 still cannot reach the metadata service" imds vm1
expect_eq "which never saw a sector's client" "$(imds_clients)" "$clients"

# Unload: the tunnel is open again, so it was sectorgate that closed it.
expect_ok "unload" sg unload
expect_eq "nothing left on ts0" \
	"$(in_gw tc filter show dev ts0 ingress; in_gw tc filter show dev ts0 egress)" ""
expect_ok "after unload: peer pings vm1 again" ping1 peer 10.1.0.2
from_vm3 unloaded
expect_ok "after unload: vm3's UDP leaves the uplink untranslated" inet_got unloaded
expect_ok "and the tunnel" peer_got unloaded

e2e_summary
