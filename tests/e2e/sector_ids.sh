#!/bin/bash
# SPEC 1 (`id` defaults to the position) and 3.13 (flows the new
# definitions still allow keep working through apply): the topology's
# sectors leave their ids to the default. Deleting vm3, the third, from
# the file, then moving the others around, changes no running sector's
# id: vm4's TCP session and vm5's UDP flow (vm4 and vm5 overlap, the same
# VM address) go on with their NAT ports, under their own sectors. A new
# sector takes an id above every one given before. Before, vm4 took id 3 and vm5 id
# 4: vm4's flows became vm5's and broke. Real traffic, no nftables rules.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
(in_ns inet socat TCP4-LISTEN:7,fork,reuseaddr PIPE &) 2>/dev/null
(in_ns inet socat -u UDP4-RECV:9999 /dev/null &) 2>/dev/null
expect_ok "the services listen" poll 5 'listening inet t 7 && listening inet u 9999'
expect_ok "apply" sg apply -c "$DEFS"

open_session vm4 192.0.2.2 7
expect_ok "vm4's TCP session echoes" echoed before

# ids: "name=id ..." as dump sectors shows them.
ids() { sg dump sectors --json | jq -r 'sort_by(.name) | map("\(.name)=\(.id)") | join(" ")'; }
# vm5_udp: a datagram of vm5's UDP flow (always from port 40005), then
# the NAT of the flows from there, as dump conntrack shows them.
vm5_udp() {
	in_ns vm5 socat -u - UDP4:192.0.2.2:9999,sourceport=40005,reuseaddr <<<q
	sg dump conntrack --json | jq -r '[.[] | select(.proto == "udp" and
		.src == "10.4.0.2:40005") | "\(.sector) \(.nat)"] | join(",")'
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
udp0=$(vm5_udp)
expect_ok "vm5's UDP flow is masqueraded ($udp0)" grep -q '^vm5 192\.0\.2\.1:[0-9]*$' <<<"$udp0"
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
expect_eq "vm5's UDP flow is one flow still, with its NAT port" "$(vm5_udp)" "$udp0"

# The list reordered, vm3 back in it and a new sector vm6: the running
# sectors keep their ids; vm3 and vm6 take ids above every one given so
# far (5), none a removed sector's whose flows may still be in the table.
block() { awk -v n="  - name: $1" '/^  - name: / { keep = ($0 == n) } keep' "$DEFS"; }
{ sed '/^sectors:$/q' "$DEFS"
  for s in vm5 vm3 vm1 vm4; do block "$s"; done
  printf '  - name: vm6\n    cidrs: [10.6.0.0/24]\n    interfaces: [v6]\n'
  block vm2; } >"$work/reordered.yaml"
expect_ok "apply them reordered" sg apply -c "$work/reordered.yaml"
expect_eq "the running sectors keep their ids, vm3 and vm6 take new ones" \
	"$(ids)" "vm1=1 vm2=2 vm3=6 vm4=4 vm5=5 vm6=7"
expect_ok "vm4's session still echoes" echoed reordered
expect_eq "it is still vm4's flow, with its NAT port" "$(vm4_nat)" "$nat0"
expect_eq "vm5's UDP flow is one flow still, with its NAT port" "$(vm5_udp)" "$udp0"
expect_fail "vm3 -> vm1 is still isolated" ping1 vm3 10.1.0.2

# An id the file gives one sector while another it lists runs with it
# would hand that one's flows over: refused, nothing changed.
sed 's/^  - name: vm6$/&\n    id: 5/' "$work/reordered.yaml" >"$work/taken.yaml"
rc=0
sg apply -c "$work/taken.yaml" >/dev/null 2>"$work/err" || rc=$?
expect_eq "giving vm6 the id vm5 runs with is refused (status 1)" "$rc" 1
expect_ok "saying where and why" grep -q \
	'taken.yaml:[0-9]*:9: sectors\[4\]\.id: 5 is the id sector "vm5" runs with' "$work/err"
expect_eq "the ids are unchanged" "$(ids)" "vm1=1 vm2=2 vm3=6 vm4=4 vm5=5 vm6=7"
expect_ok "vm4's session still echoes" echoed refused
exec 3>&-

e2e_summary
