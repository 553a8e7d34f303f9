# shellcheck shell=bash
# Helpers of the end-to-end scenarios: PASS/FAIL lines for tests/run.sh,
# a private bpffs, and cleanup that runs however the scenario ends.

E2E_PASSED=0
E2E_FAILED=0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECTORGATE=$ROOT/sectorgate
PIN=/sys/fs/bpf/sectorgate-e2e

pass() { echo "PASS $1"; E2E_PASSED=$((E2E_PASSED + 1)); }
fail() { echo "FAIL $1"; E2E_FAILED=$((E2E_FAILED + 1)); }

# expect_ok "what" command...: the command must succeed.
expect_ok() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$what"; else fail "$what"; echo "$out" | sed 's/^/    /'; fi
}

# expect_fail "what" command...: the command must fail.
expect_fail() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then fail "$what"; else pass "$what"; fi
}

# expect_eq "what" got want
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1"; echo "    got '$2', want '$3'"; fi
}

# Re-run this script in a private mount namespace with its own bpffs, so
# the pins of the test never meet the host's.
e2e_private_mounts() {
	if [ -z "${SG_E2E_PRIVATE:-}" ]; then
		SG_E2E_PRIVATE=1 exec unshare -m --propagation private "$0" "$@"
	fi
	mount -t bpf bpf /sys/fs/bpf
}

sg() { in_gw "$SECTORGATE" --pin-dir "$PIN" "$@"; }

# stat SECTOR FIELD, e.g. stat vm1 rx_packets or stat vm1 'drops["inter-sector"]'
stat() { sg stats --json | jq -r ".sectors[\"$1\"].$2"; }

# A long TCP session: fd 3 writes into the connection, the replies
# arrive in $work/out. open_session NS ADDR PORT opens it (from NS, to an
# echo service at ADDR:PORT) in the calling shell; exec 3>&- ends it.
open_session() {
	mkfifo "$work/in"
	(in_ns "$1" socat STDIO TCP4:"$2:$3" <"$work/in" >"$work/out" &) 2>/dev/null
	exec 3>"$work/in"
}
# echoed LINE: send it over the session; it must come back within 3 s.
echoed() {
	echo "$1" >&3
	for _ in $(seq 15); do grep -qx "$1" "$work/out" && return 0; sleep 0.2; done
	return 1
}

# stop_run: end the `sectorgate run` whose pid is $runner (if any) and
# wait for it, so that an unload after it is not refused as under run.
stop_run() {
	[ -n "${runner:-}" ] && kill "$runner" 2>/dev/null && wait "$runner" 2>/dev/null
}

# The usual start of a scenario, after e2e_private_mounts: the topology of
# scripts/topology.sh up, its definitions in $DEFS, a scratch directory
# $work, all removed however the scenario ends.
e2e_topology() {
	DEFS=$(mktemp /tmp/sectorgate-e2e.XXXXXX.yaml)
	work=$(mktemp -d)
	trap 'sg unload >/dev/null 2>&1; topo_down; rm -rf "$DEFS" "$work"' EXIT
	topo_up
	topo_definitions >"$DEFS"
}

# The probes the scenarios share. ping1 NS ADDR, tcp NS ADDR PORT and
# udp NS ADDR PORT (an echo service answers) succeed when it gets through.
ping1() { in_ns "$1" ping -c 1 -W 1 "$2"; }
tcp() { in_ns "$1" nc -z -w 2 "$2" "$3"; }
# udp_ask NS ADDR PORT [WORD]: what a UDP service there answers to WORD
# (default x), empty if nothing. Asked up to three times, as a UDP client
# does: a datagram through socat's forks is lost now and then on a loaded
# machine (seen in full runs, never in a test by itself).
udp_ask() {
	local a try
	for try in 1 2 3; do
		a=$(echo "${4:-x}" | in_ns "$1" timeout 4 socat -T 2 - "UDP4:$2:$3" 2>/dev/null)
		[ -n "$a" ] && break
	done
	# Said, so that the logs show how often a retry is needed.
	[ -z "$a" ] || [ "$try" = 1 ] ||
		echo "    ($1 -> $2:$3 over UDP answered at try $try)" >&2
	echo "$a"
}
# udp NS ADDR PORT: an echo service there answers.
udp() { [ "$(udp_ask "$1" "$2" "$3" ping)" = ping ]; }
# listening NS t|u PORT: a socket listens there.
listening() { in_ns "$1" ss -Hln"$2" "sport = :$3" | grep -q .; }
# moved SECTOR REASON BEFORE: how far that drop counter moved since BEFORE.
moved() { echo $(($(stat "$1" "drops[\"$2\"]") - $3)); }
# poll SECONDS 'shell condition': until it holds (evaluated each time).
poll() {
	local n=$(($1 * 10))
	while [ "$n" -gt 0 ]; do eval "$2" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}
ms() { echo $(($(date +%s%N) / 1000000)); }
# reassembled NS: the datagrams NS has put together from fragments
# (ReasmOKs of its /proc/net/snmp).
reassembled() {
	in_ns "$1" awk '/^Ip:/ { if (!n++) { for (i = 2; i <= NF; i++) col[$i] = i }
		else print $col["ReasmOKs"] }' /proc/net/snmp
}
# udp_echo NS ADDR PORT FILE: what a UDP echo service there sends back of
# FILE, sent as one datagram (it may be bigger than the MTU).
udp_echo() {
	in_ns "$1" socat -b 65536 -t 3 -T 3 - "UDP4:$2:$3" <"$4"
}

# in_fragments VM HOST ADDR HOW: a 4000-byte ping from VM to HOST's ADDR
# and a 4000-byte UDP datagram to the echo service on ADDR:5300 (which
# this starts in HOST) leave VM in fragments (MTU 1500), and their
# answers come back in fragments: both ends put them together, nothing
# of them is `fragment` on VM's sector (named VM too). HOW says which way
# they went, for the checks' names.
in_fragments() {
	local vm=$1 host=$2 addr=$3 how=$4 frags reasm_host reasm_vm
	(in_ns "$host" socat -b 65536 UDP4-RECVFROM:5300,bind="$addr",fork \
		SYSTEM:cat &) 2>/dev/null
	head -c 4000 /dev/urandom >"$work/dgram"
	expect_ok "$host's UDP echo listens" poll 5 "listening $host u 5300"
	frags=$(stat "$vm" 'drops["fragment"] // 0')
	reasm_host=$(reassembled "$host")
	reasm_vm=$(reassembled "$vm")
	expect_ok "a 4000-byte ping from $vm goes out and back in fragments, $how" \
		in_ns "$vm" ping -c 2 -W 2 -s 4000 -M dont "$addr"
	expect_eq "a 4000-byte UDP datagram comes back whole, $how" \
		"$(udp_echo "$vm" "$addr" 5300 "$work/dgram" | sha256sum)" \
		"$(sha256sum <"$work/dgram")"
	expect_ok "$host and $vm each put fragmented datagrams together" \
		test "$(reassembled "$host")" -ge $((reasm_host + 3)) -a \
		     "$(reassembled "$vm")" -ge $((reasm_vm + 3))
	expect_eq "no fragment of theirs was dropped" \
		"$(stat "$vm" 'drops["fragment"] // 0')" "$frags"
}

e2e_summary() {
	echo "# $(basename "$0"): $E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" -eq 0 ]
}
