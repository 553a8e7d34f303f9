#!/bin/bash
# SPEC 3.13 under churn: two definitions files, A and B, are applied in
# turn 500 times while traffic runs. A packet sees either A or B, never a
# mix: what both forbid never passes (a UDP stream vm3 -> vm1, a UDP
# stream vm1 -> vm2a udp/5354 next to B's extra udp/5353, and TCP connects
# vm1 -> vm2a tcp/9090), and a TCP session both allow (vm1 -> vm2a
# tcp/8080) echoes a line every 0.1 s throughout without a stall.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

APPLIES=${SG_CHURN_APPLIES:-500}
work=$(mktemp -d)
cleanup() {
	touch "$work/stop" 2>/dev/null
	sg unload >/dev/null 2>&1
	topo_down
	rm -rf "$work"
}
trap cleanup EXIT
# This build as it is now: a rebuild while the scenario runs changes nothing.
cp "$SECTORGATE" "$work/sectorgate" || exit 1
SECTORGATE=$work/sectorgate
topo_up

# A: vm1 may open tcp/8080 to vm2; vm3 has no internet. B: also udp/5353
# to vm2; vm3 has internet.
topo_definitions | grep -v 'proto: udp, ports: \[5353\]\|proto: icmp}' >"$work/A.yaml"
topo_definitions | grep -v 'proto: icmp}' |
	sed 's/^    internet: false$/    internet: true/' >"$work/B.yaml"
if cmp -s "$work/A.yaml" "$work/B.yaml" || ! grep -q 'ports: \[8080\]' "$work/A.yaml"; then
	fail "definitions A and B differ, both allow tcp/8080"
	e2e_summary
	exit 1
fi

# TCP segments NS retransmitted (its own netns counters).
retrans() {
	in_ns "$1" awk '/^Tcp:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RetransSegs") c = i; h = 1 } else print $c }' /proc/net/snmp
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# Listeners: each datagram or connection that arrives adds a line.
(in_ns vm1 socat -u UDP4-RECV:9999,bind=10.1.0.2 OPEN:"$work/got-vm1-9999",creat,append &) 2>/dev/null
(in_ns vm2a socat -u UDP4-RECV:5354,bind=10.2.0.2 OPEN:"$work/got-vm2a-5354",creat,append &) 2>/dev/null
(in_ns vm2a socat -u TCP4-LISTEN:9090,bind=10.2.0.2,fork,reuseaddr \
	OPEN:"$work/got-vm2a-9090",creat,append &) 2>/dev/null
(in_ns vm2a socat TCP4-LISTEN:8080,bind=10.2.0.2,fork,reuseaddr EXEC:cat &) 2>/dev/null
(in_ns vm2a socat UDP4-RECVFROM:5353,bind=10.2.0.2,fork EXEC:cat &) 2>/dev/null

# The traffic, in python: each stops at $work/stop or after its deadline.
cat >"$work/udp_send.py" <<'PY'
import os, socket, sys, time
dst, port, deadline, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end, n = time.monotonic() + deadline, 0
while time.monotonic() < end and n < 1000000 and not os.path.exists(stop):
    for _ in range(40):
        s.sendto(b"x\n", (dst, port))
        n += 1
    time.sleep(0.004)
print(n)
PY
cat >"$work/tcp_probe.py" <<'PY'
import os, socket, sys, time
dst, port, deadline, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
end, tries, ok = time.monotonic() + deadline, 0, 0
while time.monotonic() < end and not os.path.exists(stop):
    tries += 1
    try:
        c = socket.create_connection((dst, port), timeout=0.3)
        c.sendall(b"c\n")
        c.close()
        ok += 1
    except OSError:
        pass
    time.sleep(0.1)
print(tries, ok)
PY
cat >"$work/stream.py" <<'PY'
# A line every 0.1 s over one TCP connection; each must come back within
# 2 s. Prints: sent echoed late max_ms error
import os, socket, sys, time
dst, port, deadline, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sent = echoed = late = 0
worst, err, buf = 0.0, "-", b""
try:
    c = socket.create_connection((dst, port), timeout=3)
    end = time.monotonic() + deadline
    while time.monotonic() < end and not os.path.exists(stop):
        line = b"line %d\n" % sent
        t0 = time.monotonic()
        c.sendall(line)
        sent += 1
        while line not in buf:
            left = t0 + 10 - time.monotonic()
            if left <= 0:
                raise TimeoutError("line %d not echoed in 10 s" % (sent - 1))
            c.settimeout(left)
            d = c.recv(4096)
            if not d:
                raise ConnectionError("closed by the peer")
            buf += d
        buf = buf.split(line, 1)[1]
        echoed += 1
        dt = time.monotonic() - t0
        worst = max(worst, dt)
        if dt > 2:
            late += 1
        time.sleep(max(0, 0.1 - dt))
except Exception as e:
    err = type(e).__name__ + ":" + str(e).replace(" ", "_")
print(sent, echoed, late, int(worst * 1000), err)
PY

# Without sectorgate every listener is reached: they do count.
in_ns vm3 python3 "$work/udp_send.py" 10.1.0.2 9999 0.05 "$work/none" >/dev/null
in_ns vm1 python3 "$work/udp_send.py" 10.2.0.2 5354 0.05 "$work/none" >/dev/null
echo c | in_ns vm1 socat -u - TCP4:10.2.0.2:9090,connect-timeout=2
expect_ok "before: vm3 -> vm1 udp/9999 arrives" poll 3 '[ "$(lines "$work/got-vm1-9999")" -gt 0 ]'
expect_ok "before: vm1 -> vm2a udp/5354 arrives" poll 3 '[ "$(lines "$work/got-vm2a-5354")" -gt 0 ]'
expect_ok "before: vm1 -> vm2a tcp/9090 connects" poll 3 '[ "$(lines "$work/got-vm2a-9090")" -gt 0 ]'

expect_ok "apply A" sg apply -c "$work/A.yaml"
expect_fail "A: vm1 -> vm2a udp/5353 is not allowed" udp vm1 10.2.0.2 5353
expect_fail "A: vm3 has no internet" ping1 vm3 192.0.2.2
expect_ok "apply B" sg apply -c "$work/B.yaml"
expect_ok "B: vm1 -> vm2a udp/5353 is allowed" udp vm1 10.2.0.2 5353
expect_ok "B: vm3 has internet" ping1 vm3 192.0.2.2
expect_fail "B: vm3 -> vm1 still isolated" ping1 vm3 10.1.0.2
expect_ok "apply A" sg apply -c "$work/A.yaml"

sleep 0.3
base1=$(lines "$work/got-vm1-9999")
base2=$(lines "$work/got-vm2a-5354")
base3=$(lines "$work/got-vm2a-9090")
drops3=$(stat vm3 'drops["inter-sector"]')
drops1=$(stat vm1 'drops["inter-sector"]')
gen=$(sg status --json | jq .generation)
re1=$(retrans vm1)
re2=$(retrans vm2a)

# The traffic runs for the whole churn (at most 170 s).
DEADLINE=170
in_ns vm3 python3 "$work/udp_send.py" 10.1.0.2 9999 $DEADLINE "$work/stop" >"$work/sent-vm3" &
p1=$!
in_ns vm1 python3 "$work/udp_send.py" 10.2.0.2 5354 $DEADLINE "$work/stop" >"$work/sent-vm1" &
p2=$!
in_ns vm1 python3 "$work/tcp_probe.py" 10.2.0.2 9090 $DEADLINE "$work/stop" >"$work/probe" &
p3=$!
in_ns vm1 python3 "$work/stream.py" 10.2.0.2 8080 $DEADLINE "$work/stop" >"$work/stream" &
p4=$!
sleep 1

failed=0
t0=$(ms)
for i in $(seq "$APPLIES"); do
	if [ $((i % 2)) = 1 ]; then f=B; else f=A; fi
	if ! sg apply -c "$work/$f.yaml" >"$work/apply.out" 2>&1 ||
		! grep -q 'applied generation' "$work/apply.out"; then
		failed=$((failed + 1))
		[ "$failed" -le 3 ] && sed "s/^/    apply $i ($f): /" "$work/apply.out"
	fi
	# A bound on the whole churn, should applies get slow.
	[ $(($(ms) - t0)) -lt $(((DEADLINE - 20) * 1000)) ] || break
done
t=$(($(ms) - t0))
echo "# $i applies in $((t / 1000)).$(printf %03d $((t % 1000))) s: $((t / i)) ms each"
sleep 1
touch "$work/stop"
for p in $p1 $p2 $p3 $p4; do wait "$p"; done

expect_eq "all $APPLIES applies ran" "$i" "$APPLIES"
expect_eq "no apply failed" "$failed" 0
expect_eq "the generation advanced by $i" "$(sg status --json | jq .generation)" $((gen + i))

sent=$(cat "$work/sent-vm3")
expect_ok "vm3 sent datagrams to vm1 throughout ($sent)" test "${sent:-0}" -gt 1000
expect_eq "none of them reached vm1" $(($(lines "$work/got-vm1-9999") - base1)) 0
expect_eq "every one counted as an inter-sector drop of vm3" \
	$(($(stat vm3 'drops["inter-sector"]') - drops3)) "$sent"
sent=$(cat "$work/sent-vm1")
expect_ok "vm1 sent datagrams to vm2a udp/5354 throughout ($sent)" test "${sent:-0}" -gt 1000
expect_eq "none of them reached vm2a" $(($(lines "$work/got-vm2a-5354") - base2)) 0
read -r tries ok <"$work/probe"
expect_ok "vm1 tried tcp/9090 to vm2a throughout ($tries times)" \
	test "${tries:-0}" -ge $((t / 1000 + 5))
expect_eq "it never connected" "${ok:-x}" 0
expect_eq "nothing arrived at vm2a tcp/9090" $(($(lines "$work/got-vm2a-9090") - base3)) 0
expect_ok "vm1's inter-sector drops count them" \
	test $(($(stat vm1 'drops["inter-sector"]') - drops1)) -ge $((sent + tries))

read -r sent echoed late worst err <"$work/stream"
echo "# the stream: $sent lines sent, $echoed echoed, the slowest in $worst ms"
expect_eq "the TCP stream vm1 -> vm2a tcp/8080 never broke" "$err" -
expect_ok "it ran throughout ($sent lines)" test "${sent:-0}" -ge $((t / 1000 * 5))
expect_eq "every line was echoed" "$echoed" "$sent"
expect_eq "each within 2 s" "$late" 0
re1=$(($(retrans vm1) - re1))
re2=$(($(retrans vm2a) - re2))
# A segment lost at a flip would have been sent again (after 200 ms at
# least: far above the slowest echo of a healthy run).
expect_eq "no segment of the stream was lost: vm1 retransmitted none" "$re1" 0
expect_eq "nor did vm2a" "$re2" 0

# The last apply was A (they alternate B, A, ..., from A); and the two
# files do differ in effect.
last=A; [ $((i % 2)) = 1 ] && last=B
other=B; [ "$last" = B ] && other=A
expect_eq "after the churn $last is what runs: applying it again changes nothing" \
	"$(sg apply -c "$work/$last.yaml" | grep -c 'no changes')" 1
works_as() {	# A|B: vm1 -> vm2a udp/5353 and vm3 -> inet ping work under B only
	if [ "$1" = B ]; then
		udp vm1 10.2.0.2 5353 && ping1 vm3 192.0.2.2
	else
		! udp vm1 10.2.0.2 5353 && ! ping1 vm3 192.0.2.2
	fi
}
expect_ok "$last holds: udp/5353 and vm3's internet as $last says" works_as "$last"
expect_ok "apply $other" sg apply -c "$work/$other.yaml"
expect_ok "$other holds: udp/5353 and vm3's internet as $other says" works_as "$other"
expect_fail "vm3 -> vm1 is still isolated" ping1 vm3 10.1.0.2

e2e_summary
