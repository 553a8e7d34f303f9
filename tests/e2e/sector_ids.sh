#!/bin/bash
# SPEC 1 (`id` defaults to the position) and 3.13 (flows the new
# definitions still allow keep working through apply): the topology's
# sectors leave their ids to the default. Deleting vm3, the third, from
# the file, then moving the others around, changes no running sector's
# id: vm4's TCP session and vm5's UDP flow (vm4 and vm5 overlap, the same
# VM address) go on with their NAT ports, under their own sectors. A new
# sector takes no running sector's id. Before, vm4 took id 3 and vm5 id
# 4: vm4's flows became vm5's and broke. Real traffic, no nftables rules.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
(in_ns inet socat TCP4-LISTEN:7,fork,reuseaddr PIPE &) 2>/dev/null
(in_ns inet socat UDP4-RECVFROM:53,bind=192.0.2.2,fork \
	SYSTEM:'echo $SOCAT_PEERADDR $SOCAT_PEERPORT' &) 2>/dev/null
expect_ok "the services listen" poll 5 'listening inet t 7 && listening inet u 53'
expect_ok "apply" sg apply -c "$DEFS"

mkfifo "$work/in"
(in_ns vm4 socat STDIO TCP4:192.0.2.2:7 <"$work/in" >"$work/out" &) 2>/dev/null
exec 3>"$work/in"
expect_ok "vm4's TCP session echoes" echoed before

# ids: "name=id ..." as dump sectors shows them.
ids() { sg dump sectors --json | jq -r 'sort_by(.name) | map("\(.name)=\(.id)") | join(" ")'; }
# vm5's UDP flow, always from port 40005: the address and port inet sees.
seen_by_inet() {
	local a try
	for try in 1 2 3; do
		a=$(echo q | in_ns vm5 timeout 4 socat -T 2 - \
			UDP4:192.0.2.2:53,sourceport=40005,reuseaddr 2>/dev/null)
		[ -z "$a" ] || break
	done
	echo "$a"
}
# The NAT of vm4's TCP session, under its sector's name.
vm4_nat() {
	sg dump conntrack --json | jq -r '.[] | select(.proto == "tcp" and
		.dst == "192.0.2.2:7" and (.src | startswith("10.4.0.2:"))) |
		"\(.sector) \(.nat)"'
}
# defs_without NAME [FILE]: the definitions without sector NAME.
defs_without() {
	awk -v n="  - name: $1" '/^  - name: / { skip = ($0 == n) } !skip' "${2:-$DEFS}"
}

expect_eq "the default ids are the positions" "$(ids)" \
	"vm1=1 vm2=2 vm3=3 vm4=4 vm5=5"
udp0=$(seen_by_inet)
expect_ok "vm5's UDP flow is masqueraded ($udp0)" grep -q '^192\.0\.2\.1 [0-9][0-9]*$' <<<"$udp0"
nat0=$(vm4_nat)
expect_ok "vm4's session is vm4's flow ($nat0)" grep -q '^vm4 192\.0\.2\.1:' <<<"$nat0"

# vm3 deleted: the file's positions of vm4 and vm5 move up.
defs_without vm3 >"$work/no-vm3.yaml"
sg apply --dry-run -c "$work/no-vm3.yaml" >"$work/dry"
expect_ok "dry run: vm3 is removed" grep -q '^  sector - vm3 (id 3)$' "$work/dry"
expect_ok "and nothing else of the sectors changes" \
	test "$(grep -c '^  sector ' "$work/dry")" -eq 1
expect_ok "apply without vm3" sg apply -c "$work/no-vm3.yaml"
expect_eq "vm4 and vm5 keep their ids" "$(ids)" "vm1=1 vm2=2 vm4=4 vm5=5"
expect_ok "vm4's session still echoes" echoed "without vm3"
expect_eq "it is still vm4's flow, with its NAT port" "$(vm4_nat)" "$nat0"
expect_eq "vm5's UDP flow keeps its NAT port" "$(seen_by_inet)" "$udp0"

# The list reordered, vm3 back in it and a new sector vm6: the running
# sectors keep their ids; vm3's position (2) and vm6's (5) are running
# sectors' ids, so they take the lowest no sector holds, and vm6 none
# that a running sector has.
block() { awk -v n="  - name: $1" '/^  - name: / { keep = ($0 == n) } keep' "$DEFS"; }
{ sed '/^sectors:$/q' "$DEFS"
  for s in vm5 vm3 vm1 vm4; do block "$s"; done
  printf '  - name: vm6\n    cidrs: [10.6.0.0/24]\n    interfaces: [v6]\n'
  block vm2; } >"$work/reordered.yaml"
expect_ok "apply them reordered" sg apply -c "$work/reordered.yaml"
expect_eq "the running sectors keep their ids, vm3 and vm6 take free ones" \
	"$(ids)" "vm1=1 vm2=2 vm3=3 vm4=4 vm5=5 vm6=6"
expect_ok "vm4's session still echoes" echoed reordered
expect_eq "it is still vm4's flow, with its NAT port" "$(vm4_nat)" "$nat0"
expect_eq "vm5's UDP flow keeps its NAT port" "$(seen_by_inet)" "$udp0"
expect_fail "vm3 -> vm1 is still isolated" ping1 vm3 10.1.0.2
exec 3>&-

e2e_summary
