#!/bin/bash
# SPEC 3.13: an upgrade under traffic. The previous release (built from git
# history) applies the topology's definitions; long TCP sessions run
# through it; the current build applies the same definitions over its pins
# and takes over: the sessions go on echoing, the flows keep their NAT
# ports, the counters go on, the new maps and programs are pinned. Then
# state maps pinned in an older layout (smaller values, as a sectorgate
# with fewer drop reasons and a shorter flow entry would have left them)
# are migrated by an apply, entries and all, never flushed.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"

PREVIOUS=3c07a0d	# the release before the map table and sg_build
if ! git -C "$ROOT" rev-parse -q --verify "$PREVIOUS^{commit}" >/dev/null 2>&1; then
	echo "SKIP upgrade: no git history"
	exit 0
fi
e2e_private_mounts "$@"

DEFS=$(mktemp /tmp/sectorgate-e2e.XXXXXX.yaml)
work=$(mktemp -d)
old=$(mktemp -d /tmp/sectorgate-previous.XXXXXX)
cleanup() {
	exec 3>&- 4>&- 5>&-
	sg unload >/dev/null 2>&1
	topo_down
	rm -rf "$DEFS" "$work" "$old"
}
trap cleanup EXIT
# This build as it is now: a rebuild while the scenario runs changes nothing.
cp "$SECTORGATE" "$work/sectorgate" || exit 1
SECTORGATE=$work/sectorgate


# The previous release, from git history.
t0=$(ms)
if ! git -C "$ROOT" archive "$PREVIOUS" | tar -x -C "$old" ||
	! make -C "$old" -s -j2 sectorgate >"$work/build.log" 2>&1; then
	fail "build the previous release ($PREVIOUS)"
	sed 's/^/    /' "$work/build.log"
	e2e_summary
	exit 1
fi
t=$(($(ms) - t0))
pass "build the previous release ($PREVIOUS) in $((t / 1000)).$(printf %03d $((t % 1000))) s"
[ "$t" -lt 120000 ] || fail "building the previous release takes over 2 minutes"
sg_old() { in_gw "$old/sectorgate" --pin-dir "$PIN" "$@"; }

topo_up
topo_definitions >"$DEFS"
# The previous release knew no `xdp:` (it ran XDP on every veth); this
# build then moves v3, which the definitions leave to auto, to tc.
grep -v '^ *xdp: ' "$DEFS" >"$work/previous.yaml"

pinned() { [ -e "$PIN/$1" ]; }
prog_id() { bpftool -j prog show pinned "$PIN/$1" 2>/dev/null | jq -r .id; }
xdp_id() { in_gw ip -j -d link show "$1" | jq -r '.[0].xdp.prog.id // empty'; }
# The NAT port of SECTOR's TCP flow to DST (address:port), as BINARY
# (sg, or sg_old for the previous release) dumps it.
nat_of() {
	"${3:-sg}" dump conntrack --json | jq -r --arg s "$1" --arg d "$2" \
		'[.[] | select(.sector==$s and .proto=="tcp" and .dst==$d)][0].nat'
}
whoami() {	# VM: the "address port" inet sees
	in_ns "$1" socat -t 3 -T 3 - TCP4:192.0.2.2:80,connect-timeout=3 </dev/null
}

# Services: a TCP echo and a who-am-I on inet, a TCP echo on vm2a.
(in_ns inet socat TCP4-LISTEN:7,bind=192.0.2.2,fork,reuseaddr EXEC:cat &) 2>/dev/null
(in_ns inet socat TCP4-LISTEN:80,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR $SOCAT_PEERPORT' &) 2>/dev/null
(in_ns vm2a socat TCP4-LISTEN:8080,bind=10.2.0.2,fork,reuseaddr EXEC:cat &) 2>/dev/null
sleep 0.5

expect_ok "the previous release applies" sg_old apply -c "$work/previous.yaml"
expect_fail "its pins are the previous layout (no sg_build)" pinned sg_build
expect_fail "and isolation holds under it" ping1 vm3 10.1.0.2

# Long TCP sessions, fd N writing into the connection, replies in
# $work/outN: 3 masqueraded from vm1 (XDP fast path), 4 masqueraded from
# vm2a behind the bridge (tc), 5 vm1 -> vm2a:8080 (an allow).
session() {	# N VM ADDRESS:PORT
	mkfifo "$work/in$1"
	(in_ns "$2" socat STDIO "TCP4:$3,connect-timeout=3" <"$work/in$1" >"$work/out$1" &) 2>/dev/null
	eval "exec $1>\"\$work/in$1\""
}
# echoed_on N LINE: it comes back over session N within 3 s.
echoed_on() {
	echo "$2" >&"$1"
	for _ in $(seq 15); do grep -qx "$2" "$work/out$1" && return 0; sleep 0.2; done
	return 1
}
all_echo() {	# LINE: every session echoes it
	local n
	for n in 3 4 5; do echoed_on $n "$1 $n" || return 1; done
}
session 3 vm1 192.0.2.2:7
session 4 vm2a 192.0.2.2:7
session 5 vm1 10.2.0.2:8080
expect_ok "vm1 -> inet through the NAT echoes" echoed_on 3 one
expect_ok "vm2a (bridge) -> inet through the NAT echoes" echoed_on 4 one
expect_ok "vm1 -> vm2a tcp/8080 echoes" echoed_on 5 one

# The previous release's flows, as it dumps them. The new binary does not
# read them with its own structs (the flow entry's layout changed): it
# says so, and leaves them to apply, which converts them.
nat=$(nat_of vm1 192.0.2.2:7 sg_old)
nat2=$(nat_of vm2 192.0.2.2:7 sg_old)
expect_ok "the previous release dumps its flows ($nat, $nat2)" \
	test -n "$nat" -a "$nat" != null -a -n "$nat2" -a "$nat2" != null
expect_eq "the new binary does not misread them before the upgrade" \
	"$(nat_of vm1 192.0.2.2:7 2>/dev/null)" null
says_apply_migrates() { sg dump conntrack 2>&1 | grep -q 'apply. migrates it'; }
expect_ok "and says that apply migrates them" says_apply_migrates
rx=$(stat vm1 rx_packets)
expect_ok "and reads its counters (vm1 rx_packets $rx)" test "$rx" -gt 0
old_progs=$(cd "$PIN" && ls -d prog_*)
declare -A old_ids
for p in $old_progs; do old_ids[$p]=$(prog_id "$p"); done
expect_eq "the previous release pinned its 6 programs" "$(echo $old_progs | wc -w)" 6
gen=$(sg status --json | jq .generation)
map_id() { bpftool -j map show pinned "$PIN/$1" 2>/dev/null | jq -r .id; }
flows_id=$(map_id sg_flows)
counters_id=$(map_id sg_counters)

# The upgrade.
rc=0
sg apply -c "$DEFS" >"$work/upgrade.log" 2>&1 || rc=$?
expect_eq "the new release applies over the previous one's pins" "$rc" 0
[ "$rc" = 0 ] || sed 's/^/    /' "$work/upgrade.log"
expect_ok "right after it every session echoes" all_echo upgraded
if [ "$E2E_FAILED" -gt 0 ]; then	# what to look at
	sed 's/^/    apply: /' "$work/upgrade.log"
	for n in 3 4 5; do sed "s/^/    session $n: /" "$work/out$n"; done
	sg status | sed 's/^/    /'
	sg dump conntrack | sed 's/^/    /'
fi
expect_eq "vm1's masqueraded flow keeps its NAT port" "$(nat_of vm1 192.0.2.2:7)" "$nat"
expect_eq "and vm2a's" "$(nat_of vm2 192.0.2.2:7)" "$nat2"
expect_ok "the flow table is a new map, the entries converted to layout 2" \
	test "$(map_id sg_flows)" != "$flows_id"
expect_ok "and apply said so" grep -q 'sg_flows: [0-9]* entries migrated' "$work/upgrade.log"
# The counters gained a drop reason (hairpin) at their end: a new map,
# into which the old counts were copied.
expect_ok "so are the counters, grown by a drop reason" \
	test "$(map_id sg_counters)" != "$counters_id"
expect_ok "and apply said so" grep -q 'sg_counters: [0-9]* entries migrated' "$work/upgrade.log"
rx2=$(stat vm1 rx_packets)
expect_ok "vm1's counters went on ($rx -> $rx2)" test "$rx2" -ge "$rx"
expect_eq "the generation moved on by one" "$(sg status --json | jq .generation)" $((gen + 1))
for m in sg_imds sg_build sg_events sg_event_budget sg_forwards \
	sg_admit_devs sg_admit_nets; do
	expect_ok "$m is pinned" pinned "$m"
	expect_eq "bpftool sees the map $m" \
		"$(bpftool -j map show pinned "$PIN/$m" 2>/dev/null | jq -r .name)" "$m"
done
expect_ok "status --json reads the upgraded pins" sg status --json
for p in prog_tc_trusted_in prog_tc_trusted_out; do
	expect_ok "the new program $p is pinned" pinned "$p"
done
for p in $old_progs; do
	id=$(prog_id "$p")
	expect_ok "$p is a new program (${old_ids[$p]} -> $id)" \
		test -n "$id" -a "$id" != "${old_ids[$p]}"
done
new_xdp=$(prog_id prog_xdp_sector)
expect_eq "and v1 runs it" "$(xdp_id v1)" "$new_xdp"
expect_eq "every device runs the new pinned programs" \
	"$(sg status --json | jq -cS '[.devices[] | {(.name): .hooks}] | add')" \
	'{"br2":["tc-ingress","tc-egress"],"v1":["xdp","tc-egress"],"v3":["tc-ingress","tc-egress"],"v4":["xdp","tc-egress"],"v5":["xdp","tc-egress"],"wan0":["xdp","tc-ingress","tc-egress"]}'
expect_fail "isolation holds: vm3 cannot ping vm1" ping1 vm3 10.1.0.2
# The previous release's default nat-ports were 32768-60999; today's are
# 20000-32767: the old flows keep their ports, new ones take today's.
seen=$(whoami vm1)
expect_ok "a new connection from vm1 is masqueraded into today's nat-ports ($seen)" \
	test "${seen% *}" = 192.0.2.1 -a "${seen#* }" -ge 20000 -a "${seen#* }" -le 32767
sg -v apply -c "$DEFS" >"$work/again.log" 2>&1
expect_ok "a second apply of the new release: no changes" grep -q 'no changes' "$work/again.log"
expect_ok "and the pinned programs are reused" \
	grep -q 'the pinned programs are this build.s: reused' "$work/again.log"
grep -q 'no changes' "$work/again.log" || sed 's/^/    apply: /' "$work/again.log"
expect_eq "the generation stays" "$(sg status --json | jq .generation)" $((gen + 1))
expect_ok "the sessions still echo" all_echo again

# State maps of an older layout. The loader restarts (unload --keep-maps:
# the flows and the sector table stay pinned); meanwhile sg_counters and
# sg_flows are put back as an older sectorgate would have left them:
# 13 drop reasons (drops[14], 160-byte counters) and 56-byte flow
# entries. The flows are the live ones, cut to 56 bytes, and one more
# made up; vm1's counters hold known values.
expect_ok "loader restart: unload --keep-maps" sg unload --keep-maps
ncpus=$(($(cut -d- -f2 /sys/devices/system/cpu/possible) + 1))
size=$(bpftool -j map show pinned "$PIN/sg_counters" | jq .bytes_value)
# struct sg_counters: 6 __u64, then drops[SG_DROP_MAX] (the reasons and 0).
reasons=$(sed -n '/^#define SG_DROP_REASONS/,/^$/p' "$ROOT/include/sg_common.h" | grep -c 'R(')
expect_eq "sg_counters is 6 + $reasons + 1 u64 today" "$size" $(((6 + reasons + 1) * 8))
older=$(((6 + 13 + 1) * 8))
cidx=$(bpftool -j map dump pinned "$PIN/sg_sectors" | jq -r \
	--argjson s "$(bpftool -j map lookup pinned "$PIN/sg_state" key 0 0 0 0 | jq '.formatted.value.slot')" \
	'[.[] | .formatted | select(.key.slot == $s and .key.id == 1)][0].value.counters')
expect_ok "vm1 (id 1) has counters index $cidx" test "$cidx" -ge 1
le64() {	# N: 8 little-endian bytes
	local n=$1 i
	for i in 0 1 2 3 4 5 6 7; do printf '%d ' $(((n >> (8 * i)) & 255)); done
}
le32() { le64 "$1" | cut -d' ' -f1-4; }
zeros() { local i; for ((i = 0; i < $1; i++)); do printf '0 '; done; }
# rx_packets 1000, rx_bytes 1000000, drops[inter-sector] 7, and
# drops[unsupported-l2] (the 13th reason, the older layout's last) 3.
value="$(le64 1000) $(le64 1000000) $(zeros 32) $(zeros 8) $(le64 7) $(zeros $((11 * 8))) $(le64 3)"
expect_eq "the older counters value is $older bytes" "$(echo $value | wc -w)" $older

flows_max=$(bpftool -j map show pinned "$PIN/sg_flows" | jq .max_entries)
bpftool -j map dump pinned "$PIN/sg_flows" | jq -c '.[] | [.key, .value[0:56]]' >"$work/flows"
nflows=$(wc -l <"$work/flows")
expect_ok "the live flows to carry over ($nflows entries)" test "$nflows" -ge 6
counters_max=$(bpftool -j map show pinned "$PIN/sg_counters" | jq .max_entries)
rm "$PIN/sg_counters" "$PIN/sg_flows"
bpftool map create "$PIN/sg_counters" type percpu_array key 4 value $older \
	entries "$counters_max" name sg_counters
bpftool map update pinned "$PIN/sg_counters" key $(le32 "$cidx") value $value
bpftool map create "$PIN/sg_flows" type hash key 16 value 56 entries "$flows_max" name sg_flows
while read -r kv; do
	bpftool map update pinned "$PIN/sg_flows" \
		key hex $(echo "$kv" | jq -r '.[0][]' | sed 's/^0x//') \
		value hex $(echo "$kv" | jq -r '.[1][]' | sed 's/^0x//')
done <"$work/flows"
# The made-up flow: 10.1.0.2:4242 -> 192.0.2.2:4343 udp, zone 1.
mkey="10 1 0 2 192 0 2 2 0x10 0x92 0x10 0xf7 17 0 1 0"
mval="$(le64 123456789) 1 0 0 0 0 0 1 0 192 0 2 1 0x10 0x92 $(zeros 34)"
bpftool map update pinned "$PIN/sg_flows" key $mkey value $mval
expect_eq "the older sg_counters is pinned" \
	"$(bpftool -j map show pinned "$PIN/sg_counters" | jq .bytes_value)" $older
expect_eq "the older sg_flows holds the flows" \
	"$(bpftool -j map dump pinned "$PIN/sg_flows" | jq length)" $((nflows + 1))

rc=0
sg apply -c "$DEFS" >"$work/migrate.log" 2>&1 || rc=$?
expect_eq "apply over maps of an older layout" "$rc" 0
[ "$rc" = 0 ] || sed 's/^/    /' "$work/migrate.log"
expect_ok "it says it migrated sg_counters" grep -q 'sg_counters: [0-9]* entries migrated' "$work/migrate.log"
expect_ok "and sg_flows" grep -q 'sg_flows: [0-9]* entries migrated' "$work/migrate.log"
expect_ok "the sessions survived the migration" all_echo migrated
expect_eq "sg_counters has the new layout" \
	"$(bpftool -j map show pinned "$PIN/sg_counters" | jq .bytes_value)" "$size"
expect_eq "sg_flows too" "$(bpftool -j map show pinned "$PIN/sg_flows" | jq .bytes_value)" 64
expect_eq "and keeps its size" "$(bpftool -j map show pinned "$PIN/sg_flows" | jq .max_entries)" "$flows_max"
rx=$(stat vm1 rx_packets)
expect_ok "vm1's rx_packets go on from the migrated count ($rx >= 1000 x $ncpus)" \
	test "$rx" -ge $((1000 * ncpus)) -a "$rx" -lt $((1000 * ncpus + 1000))
expect_ok "its rx_bytes too" test "$(stat vm1 rx_bytes)" -ge $((1000000 * ncpus))
expect_eq "its inter-sector drops are the migrated ones" \
	"$(stat vm1 'drops["inter-sector"]')" $((7 * ncpus))
expect_eq "its unsupported-l2 drops too" \
	"$(stat vm1 'drops["unsupported-l2"]')" $((3 * ncpus))
expect_eq "untranslatable, past the older layout's end, starts at 0" \
	"$(stat vm1 'drops["untranslatable"]')" 0
hexes() { local b; for b in "$@"; do printf '"0x%02x"\n' "$b"; done | jq -sc .; }
got=$(bpftool -j map lookup pinned "$PIN/sg_flows" key $mkey 2>/dev/null | jq -c .value)
want=$(hexes $mval $(zeros 8))
expect_eq "the made-up flow is there, its value grown to 64 bytes" "$got" "$want"
expect_eq "every flow is still there" \
	"$(bpftool -j map dump pinned "$PIN/sg_flows" | jq length)" $((nflows + 1))
expect_eq "vm1's masqueraded flow keeps its NAT port" "$(nat_of vm1 192.0.2.2:7)" "$nat"
expect_fail "isolation holds" ping1 vm3 10.1.0.2
expect_ok "the sessions still echo" all_echo finally

e2e_summary
