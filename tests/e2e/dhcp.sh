#!/bin/bash
# SPEC 3.2 and 3.3: a VM gets its address from the gateway's DHCP server
# through sectorgate, as on the hosts it replaces: dnsmasq on the
# gateway's sector devices, busybox's udhcpc in the VMs. vm1's device runs
# XDP, vm2b sits behind the bridge br2 (tc). Its discovery comes from
# 0.0.0.0, which is no sector's source: only the limited broadcast to
# port 67 passes, and from 0.0.0.0 to anywhere else is spoofed-source.
# With its lease, the VM reaches the internet masqueraded. Real traffic,
# no nftables rules anywhere.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

e2e_topology
(in_ns inet socat TCP4-LISTEN:80,bind=192.0.2.2,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR' &) 2>/dev/null
(in_gw dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
	--pid-file= --bind-interfaces --interface=v1 --interface=br2 \
	--dhcp-range=10.1.0.100,10.1.0.109,10m \
	--dhcp-range=10.2.0.100,10.2.0.109,10m \
	--dhcp-leasefile="$work/leases" --dhcp-authoritative \
	--log-facility=- >"$work/dnsmasq.log" 2>&1 &)
expect_ok "the services listen" poll 5 'listening inet t 80 &&
	in_gw ss -Hlnu "sport = :67" | grep -q .'
expect_ok "apply" sg apply -c "$DEFS"

# What udhcpc runs with each state: the lease's address and router.
cat >"$work/udhcpc.sh" <<'SH'
#!/bin/sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -z "$router" ] || ip route replace default via "${router%% *}" ;;
esac
SH
chmod +x "$work/udhcpc.sh"

# lease VM [-q]: ask the gateway for an address (up to 15 discoveries,
# 2 s apart: on a loaded machine dnsmasq's check that an address is free
# takes seconds). With -q it quits once bound; else it stays, bound, to
# renew on SIGUSR1 (then started in the background, its address flushed
# first: forget VM; leased VM waits for the lease).
forget() { in_ns "$1" ip -4 addr flush dev eth0; }
lease() {
	in_ns "$1" busybox udhcpc -i eth0 -f -n -t 15 -T 2 ${2:-} \
		-s "$work/udhcpc.sh" >>"$work/udhcpc-$1.log" 2>&1
}
leased() { poll 35 "address $1 | grep -q '^10\.$2\.0\.10[0-9]/24\$'"; }
acks() { grep -c "DHCPACK($1)" "$work/dnsmasq.log"; }
address() { in_ns "$1" ip -4 -o addr show dev eth0 | awk '{print $4}'; }
# who VM: the address inet sees a TCP connection from VM come from.
who() { in_ns "$1" timeout 4 socat -T 2 -u TCP4:192.0.2.2:80,connect-timeout=2 - 2>/dev/null; }

# A frame from vm1's eth0 as a client without an address sends it:
# UDP from 0.0.0.0:68 to DST:67, whatever vm1's own address (a packet
# socket: the stack would put one in).
from_zero() {
	local mac
	mac=$(in_gw ip -j link show v1 | jq -r '.[0].address')
	in_ns vm1 python3 - "$mac" "$1" <<'PY'
import socket, struct, sys

dmac = bytes.fromhex(sys.argv[1].replace(":", ""))
dst = socket.inet_aton(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = s.getsockname()[4]
# A DHCPDISCOVER: op, htype, hlen, hops, xid; chaddr at 28; the magic
# cookie, option 53 (message type 1), end.
payload = (b"\x01\x01\x06\x00" + b"sgte" + bytes(20) + mac + bytes(202) +
           b"\x63\x82\x53\x63\x35\x01\x01\xff")
udp = struct.pack("!4H", 68, 67, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 bytes(4), dst)
csum = sum(struct.unpack("!10H", ip))
csum = (csum & 0xffff) + (csum >> 16)
csum = ~((csum & 0xffff) + (csum >> 16)) & 0xffff
ip = ip[:10] + struct.pack("!H", csum) + ip[12:]
s.send(dmac + mac + b"\x08\x00" + ip + udp)
PY
}

spoofed=$(stat vm1 'drops["spoofed-source"]')
forget vm1
lease vm1 &
expect_ok "vm1 (XDP) gets a lease from the range dnsmasq serves on v1" leased vm1 1
addr1=$(address vm1)
expect_ok "dnsmasq recorded it ($addr1)" grep -q " ${addr1%/*} " "$work/leases"
expect_eq "none of it was spoofed-source" "$(moved vm1 spoofed-source "$spoofed")" 0
expect_eq "with it, vm1 reaches the internet masqueraded" "$(who vm1)" 192.0.2.1
expect_ok "and pings the gateway" ping1 vm1 10.1.0.1

forget vm2b
lease vm2b -q
expect_ok "vm2b (behind the bridge, tc) gets one from br2's range" leased vm2b 2
expect_eq "with it, vm2b reaches the internet masqueraded" "$(who vm2b)" 192.0.2.1
expect_ok "vm2a, statically addressed, still reaches it" tcp vm2a 192.0.2.2 80

# A renewal is unicast, from the leased address to the server: the
# sector's own gateway (udhcpc renews on SIGUSR1).
# Only vm1's own udhcpc: the host's processes are not the test's.
renew_vm1() {
	local pid
	for pid in $(ip netns pids "$(ns vm1)"); do
		[ "$(cat /proc/"$pid"/comm 2>/dev/null)" = busybox ] &&
			kill -USR1 "$pid"
	done
}
n=$(acks v1)
spoofed=$(stat vm1 'drops["spoofed-source"]')
renew_vm1
expect_ok "vm1 renews its lease, unicast to the gateway" \
	poll 5 '[ $(acks v1) -gt $n ]'
expect_eq "vm1 keeps its address" "$(address vm1)" "$addr1"
expect_eq "no spoofed-source" "$(moved vm1 spoofed-source "$spoofed")" 0

# From 0.0.0.0, only the limited broadcast is a discovery.
for dst in 10.2.0.2 192.0.2.2 10.1.0.1; do
	spoofed=$(stat vm1 'drops["spoofed-source"]')
	from_zero "$dst"
	expect_ok "from 0.0.0.0 to $dst:67 is spoofed-source" \
		poll 3 '[ $(moved vm1 spoofed-source "$spoofed") -eq 1 ]'
done
spoofed=$(stat vm1 'drops["spoofed-source"]')
n=$(grep -c "DHCPDISCOVER(v1)" "$work/dnsmasq.log")
from_zero 255.255.255.255
expect_ok "to 255.255.255.255:67 it reaches dnsmasq, a discovery" \
	poll 3 '[ $(grep -c "DHCPDISCOVER(v1)" "$work/dnsmasq.log") -gt $n ]'
expect_eq "not spoofed-source" "$(moved vm1 spoofed-source "$spoofed")" 0

e2e_summary
