#!/bin/bash
# SPEC 2 `run`: devices that appear later are attached, SIGHUP reloads the
# definitions (and an invalid file changes nothing; only SIGHUP reads the
# file), expired flows are removed, and SIGTERM leaves the programs
# attached.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

DEFS=$(mktemp /tmp/sectorgate-e2e.XXXXXX.yaml)
work=$(mktemp -d)
runner=
trap 'stop_run; sg unload >/dev/null 2>&1; topo_down; rm -rf "$DEFS" "$work"' EXIT
topo_up
# vm1 also owns devices "x1-*" that do not exist yet; UDP flows expire
# after 2 seconds.
topo_definitions | sed 's/^    interfaces: \[v1\]$/    interfaces: [v1, "x1-*"]/' |
	sed 's/^  protected: \[198.51.100.0\/24\]$/&\n  conntrack: {timeouts: {udp: 2}}/' >"$DEFS"
(in_ns inet socat UDP4-RECVFROM:53,bind=192.0.2.2,fork SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null

generation() { sg status --json | jq .generation; }
hooks_of() { sg status --json | jq -c --arg d "$1" '[.devices[] | select(.name==$d) | .hooks][0]'; }

# nsenter execs sectorgate, so $! is its pid.
nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" run -c "$DEFS" \
	>"$work/log" 2>&1 &
runner=$!
expect_ok "run applies at start" poll 10 '[ "$(generation)" = 1 ]'

# One run per pin directory, and no unload under it: the maps would go
# from under it, and its next device change would build them again empty.
rc=0
timeout 10 nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" run -c "$DEFS" \
	>"$work/run2.log" 2>&1 || rc=$?
expect_eq "a second run on the same pin directory is refused (3)" "$rc" 3
expect_ok "it says another run keeps it" grep -q "another \`sectorgate run\` keeps $PIN" "$work/run2.log"
expect_eq "and applied nothing" "$(generation)" 1
rc=0
sg unload >"$work/unload.log" 2>&1 || rc=$?
expect_eq "unload under run is refused (3)" "$rc" 3
expect_ok "it says to stop run first" grep -q "stop it first" "$work/unload.log"
expect_eq "the programs stay attached" "$(hooks_of v1)" '["xdp","tc-egress"]'
expect_eq "and the pins" "$(generation)" 1
# Run's mark is not a monitor's: one watches beside it (until timeout).
rc=0
timeout 2 nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" monitor \
	>/dev/null 2>&1 || rc=$?
expect_eq "a monitor runs beside run" "$rc" 124

in_gw ip link add x1-a type veth peer name x1-b
in_gw ip link set x1-a up
expect_ok "a device matching x1-* is attached when it appears" \
	poll 10 '[ "$(hooks_of x1-a)" = "[\"xdp\",\"tc-egress\"]" ]'

echo x | in_ns vm1 socat -T 2 - UDP4:192.0.2.2:53 >/dev/null
expect_eq "a UDP flow is tracked" "$(sg dump conntrack --json | jq '[.[] | select(.proto=="udp")] | length')" 1
expect_ok "and removed once expired" \
	poll 15 '[ "$(sg status --json | jq .maps.sg_flows.entries)" = 0 ]'

# Whether a device takes XDP frames follows its peer: vm5 turns GRO on.
xdp_xmit() { sg status --json | jq --arg d "$1" '[.devices[] | select(.name==$d) | .xdp_xmit][0]'; }
expect_eq "v5 takes no XDP frames while vm5 has no GRO" "$(xdp_xmit v5)" false
in_ns vm5 ethtool -K eth0 gro on >/dev/null
expect_ok "run notices vm5 turning GRO on: v5 takes XDP frames" \
	poll 15 '[ "$(xdp_xmit v5)" = true ]'

gen=$(generation)
sed -i 's/^    internet: false$/    internet: true/' "$DEFS"
kill -HUP "$runner"
expect_ok "SIGHUP reloads the definitions" poll 10 '[ "$(generation)" = $((gen + 1)) ]'
expect_ok "vm3 reaches the internet after the reload" \
	in_ns vm3 ping -c 1 -W 1 192.0.2.2

cp "$DEFS" "$work/good.yaml"
echo "bogus: 1" >>"$DEFS"
kill -HUP "$runner"
sleep 1
expect_ok "an invalid file on SIGHUP is reported" grep -q 'unknown key "bogus"' "$work/log"
expect_eq "and changes nothing" "$(generation)" $((gen + 1))
expect_ok "run is still running" kill -0 "$runner"

# A device change applies the definitions last read, not the file as it
# is now: while it is invalid, a new x1-* device is attached all the
# same; an edit not HUPed yet does not go live with a device change.
in_gw ip link add x1-c type veth peer name x1-d
in_gw ip link set x1-c up
expect_ok "the file invalid, a new x1-* device is attached all the same" \
	poll 10 '[ "$(hooks_of x1-c)" = "[\"xdp\",\"tc-egress\"]" ]'
sed 's/^    internet: true$/    internet: false/' "$work/good.yaml" >"$DEFS"
g=$(generation)
in_gw ip link del x1-c
expect_ok "a device going applies the running definitions" \
	poll 10 '[ "$(generation)" -gt "$g" ]'
expect_ok "not the edit not yet HUPed: vm3 still reaches the internet" \
	in_ns vm3 ping -c 1 -W 1 192.0.2.2
expect_eq "status names the definitions in force, not the edited file" \
	"$(sg status --json | jq -r .applied.sha256)" \
	"$(sha256sum "$work/good.yaml" | cut -d' ' -f1)"
g=$(generation)
kill -HUP "$runner"
expect_ok "SIGHUP applies the edit" poll 10 '[ "$(generation)" -gt "$g" ]'
expect_fail "vm3 no longer reaches the internet" in_ns vm3 ping -c 1 -W 1 192.0.2.2

# An apply that fails after switching to the new definitions (a program
# pin it cannot replace: a directory in its place) leaves them in force:
# status names them, and they are what a device change applies again.
broken=$PIN/prog_tc_trusted_out
g=$(generation)
rm "$broken" && mkdir "$broken"
sed -i 's/^    internet: false$/    internet: true/' "$DEFS"
kill -HUP "$runner"
expect_ok "a SIGHUP failing after the switch says the edit is in force" \
	poll 10 'grep -q "generation $((g + 1)) is in force all the same" "$work/log"'
expect_ok "vm3 reaches the internet again" in_ns vm3 ping -c 1 -W 1 192.0.2.2
expect_eq "status names the definitions in force" \
	"$(sg status --json | jq -r .applied.sha256)" \
	"$(sha256sum "$DEFS" | cut -d' ' -f1)"
rmdir "$broken"
cp "$DEFS" "$work/good.yaml"
sed -i 's/^    internet: true$/    internet: false/' "$DEFS"
g=$(generation)
in_gw ip link add x1-e type veth peer name x1-f
in_gw ip link set x1-e up
expect_ok "a device change then applies them" \
	poll 10 '[ "$(generation)" -gt "$g" ]'
expect_ok "vm3 still reaches the internet: not the definitions before" \
	in_ns vm3 ping -c 1 -W 1 192.0.2.2
expect_ok "and the program's pin is back" [ -e "$broken" ]

kill -TERM "$runner"
rc=0; wait "$runner" || rc=$?
runner=
expect_eq "SIGTERM ends run with status 0" "$rc" 0
expect_eq "the programs stay attached" "$(hooks_of v1)" '["xdp","tc-egress"]'
expect_fail "isolation still holds" in_ns vm3 ping -c 1 -W 1 10.1.0.2
expect_ok "vm3 still reaches the internet" in_ns vm3 ping -c 1 -W 1 192.0.2.2
expect_ok "with run stopped, unload works" sg unload
expect_eq "and detached v1's XDP program" "$(in_gw ip link show v1 | grep -c 'prog/xdp')" 0

e2e_summary
