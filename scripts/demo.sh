#!/bin/bash
# sectorgate on a throwaway topology: three sectors (one a bridge with two
# VMs), an uplink and a protected management LAN, all in network
# namespaces (see scripts/topology.sh). It builds sectorgate, applies the
# definitions in a gateway namespace without a single nftables rule, sends
# real traffic, shows what passed and what was dropped and why, unloads,
# and removes everything. The host's own networking is not touched.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (BPF, network namespaces)" >&2
	exit 2
fi
if [ -z "${SG_DEMO_PRIVATE:-}" ]; then
	scripts/deps.sh && make -s || exit 1
	# Own mount namespace and bpffs: the demo's pins vanish with it.
	SG_DEMO_PRIVATE=1 exec unshare -m --propagation private "$0" "$@"
fi
mount -t bpf bpf /sys/fs/bpf

SG_PREFIX=sgdemo
. scripts/topology.sh
PIN=/sys/fs/bpf/sectorgate
DEFS=$(mktemp /tmp/sectorgate-demo.XXXXXX.yaml)
MON=$DEFS.monitor
sg() { in_gw "$ROOT/sectorgate" --pin-dir "$PIN" "$@"; }
trap 'sg unload >/dev/null 2>&1; topo_down; rm -f "$DEFS" "$MON"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# try "what" expected(pass|drop) command...
try() {
	local what=$1 want=$2 got=drop mark
	shift 2
	"$@" >/dev/null 2>&1 && got=pass
	[ "$got" = "$want" ] && mark="ok " || mark="!! "
	printf '  %s %-48s %s\n' "$mark" "$what" "$got"
}
ping1() { in_ns "$1" ping -c 1 -W 1 "$2"; }
tcp() { in_ns "$1" nc -z -w 2 "$2" "$3"; }

topo_down
topo_up
for port in 8080 9090; do (in_ns vm2a nc -l -k 10.2.0.2 $port &) 2>/dev/null; done
(in_ns vm1 nc -l -k 10.1.0.2 8080 &) 2>/dev/null
(in_ns inet socat TCP4-LISTEN:80,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR port $SOCAT_PEERPORT' &) 2>/dev/null
whoami() { in_ns "$1" socat -t 3 -T 3 - TCP4:192.0.2.2:80,connect-timeout=3 </dev/null; }
# A real L3 tunnel ts0 to "peer", which holds 203.0.113.10 behind it.
topo_tunnel
in_ns peer ip addr add 203.0.113.10/32 dev lo
(in_ns peer socat TCP4-LISTEN:80,bind=203.0.113.10,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
far() { in_ns "$1" socat -t 3 -T 3 - TCP4:203.0.113.10:80,connect-timeout=3 </dev/null; }
# The topology's definitions, a port forward into vm1, and vm2's traffic
# to 203.0.113.10 steered into the tunnel.
topo_definitions |
	sed 's|^    interfaces: \[v1\]$|&\n    forwards: [{proto: tcp, port: 2201, to: "10.1.0.2:8080"}]|
	     s|^    interfaces: \[br2\]$|&\n    egress: [{destinations: [203.0.113.10/32], interface: ts0}]|' \
	>"$DEFS"

step "The sector definitions ($DEFS)"
cat "$DEFS"
step "sectorgate check"
sg check -c "$DEFS"

step "Before sectorgate: the gateway forwards everything"
try "vm3 -> vm1" pass ping1 vm3 10.1.0.2
try "vm1 -> management LAN 198.51.100.2" pass ping1 vm1 198.51.100.2
try "vm1 -> 192.0.2.2 (no route back: no NAT yet)" drop whoami vm1

step "sectorgate apply"
sg apply -c "$DEFS"
sg status

step "Traffic with sectorgate (expected outcome on the right)"
# The drops as they happen, shown after the traffic (nsenter execs it: $!
# is the monitor itself).
nsenter --net=/run/netns/"$GW" "$ROOT/sectorgate" --pin-dir "$PIN" monitor \
	>"$MON" 2>/dev/null &
mon=$!
sleep 0.3
try "vm1 -> its gateway 10.1.0.1" pass ping1 vm1 10.1.0.1
try "vm2a -> vm2b on the same bridge" pass ping1 vm2a 10.2.0.3
try "vm1 -> vm2a tcp/8080 (allowed)" pass tcp vm1 10.2.0.2 8080
try "vm1 -> vm2a tcp/9090 (not allowed)" drop tcp vm1 10.2.0.2 9090
try "vm2a -> vm1 tcp/8080 (allow is one way)" drop tcp vm2a 10.1.0.2 8080
try "vm3 -> vm1 (isolated)" drop ping1 vm3 10.1.0.2
try "vm1 -> management LAN (protected)" drop ping1 vm1 198.51.100.2
try "vm1 -> 192.0.2.2 beyond the uplink" pass ping1 vm1 192.0.2.2
try "vm3 -> 192.0.2.2 (internet: false)" drop ping1 vm3 192.0.2.2
in_ns vm1 ip addr add 10.9.9.9/32 dev eth0
try "vm1 with spoofed source 10.9.9.9" drop in_ns vm1 ping -c 1 -W 1 -I 10.9.9.9 10.1.0.1
try "vm1 -> metadata service 169.254.169.254:80" drop \
	in_ns vm1 nc -z -w 1 169.254.169.254 80
try "internet -> 192.0.2.1:2201 (forward to vm1:8080)" pass tcp inet 192.0.2.1 2201
try "internet -> vm1 10.1.0.2 directly (unsolicited)" drop \
	in_ns inet bash -c 'ip route add 10.1.0.0/24 via 192.0.2.1 &&
		nc -z -w 1 10.1.0.2 8080; r=$?; ip route del 10.1.0.0/24; exit $r'
try "vm4 -> 192.0.2.1:2201 from inside (hairpin)" drop tcp vm4 192.0.2.1 2201
try "vm2a -> 203.0.113.10 (steered into ts0)" pass far vm2a
try "vm1 -> 203.0.113.10 (no policy: no route)" drop far vm1
sleep 0.5
kill $mon 2>/dev/null; wait $mon 2>/dev/null

step "sectorgate monitor: each drop as it happened"
sed 's/^/  /' "$MON"

step "Masquerade: who the internet host 192.0.2.2 thinks is calling"
for vm in vm1 vm2a vm4 vm5; do
	printf '  %-5s (%s) is seen as %s\n' "$vm" \
		"$(in_ns $vm ip -4 -o addr show eth0 | awk 'NR == 1 {print $4}')" "$(whoami $vm)"
done
echo "  (vm4 and vm5 overlap: same sector CIDR, same address)"
printf '  vm2a (10.2.0.2/24) is seen by 203.0.113.10, through the tunnel ts0, as %s\n' \
	"$(far vm2a)"
sg dump conntrack
step "sectorgate dump policy: what each sector may open, and what may reach it"
sg dump policy

step "The XDP fast path: 20 MB from the internet host to vm1 and to vm5"
echo "  vm1 is NIC-like: GRO on, so v1 takes XDP frames (scripts/topology.sh)."
echo "  vm5 keeps veth's defaults: v5 takes no XDP frames, so the data for"
echo "  vm5 goes through tc; its ACKs, checksums finished in XDP, do not."
(in_ns inet socat TCP4-LISTEN:8000,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'head -c 20000000 /dev/zero' &) 2>/dev/null
sleep 0.3
forwarded() { in_gw awk '/^Ip: [0-9]/ {print $7}' /proc/net/snmp; }
counter() { sg stats --json | jq ".sectors.$1.$2"; }
for vm in vm1 vm5; do
	fwd=$(forwarded)
	tx=$(counter $vm tx_packets)
	fast=$(counter $vm fast_in_packets)
	got=$(in_ns $vm socat -u -T 10 TCP4:192.0.2.2:8000,connect-timeout=3 - | wc -c)
	tx=$(($(counter $vm tx_packets) - tx))
	fast=$(($(counter $vm fast_in_packets) - fast))
	printf '  %-4s got %s bytes in %d packets: %d by XDP, %d by tc; %d forwarded by the stack\n' \
		"$vm" "$got" "$tx" "$fast" $((tx - fast)) $(($(forwarded) - fwd))
done

step "sectorgate stats: every drop has its reason"
sg stats

step "The maps, as bpftool shows them (sg_dest_nets)"
bpftool map dump pinned "$PIN/sg_dest_nets" | head -24

step "sectorgate unload: the isolation goes with it"
sg unload
try "vm3 -> vm1" pass ping1 vm3 10.1.0.2
echo
echo "demo done; namespaces and pins are removed on exit"
