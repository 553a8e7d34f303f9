# shellcheck shell=bash
# The namespace topology of the demo and the end-to-end tests. Source it,
# then topo_up / topo_down. Nothing touches the host's own networking:
# every device lives in a namespace named "$SG_PREFIX-*".
#
#   vm1 (10.1.0.2) --veth-- [v1]                    [wan0] --veth-- inet
#   vm2a (10.2.0.2) --+                                      192.0.2.2
#   vm2b (10.2.0.3) --+-- [br2]    gw (forwarding,  [mgmt0] --veth-- mgmt
#   vm3 (10.3.0.2) --veth-- [v3]    no nftables)             198.51.100.2
#   vm4 (10.4.0.2) --veth-- [v4]
#   vm5 (10.4.0.2) --veth-- [v5]   (vm4 and vm5 overlap: same CIDR, same VM)
#
# Sector gateways: 10.1.0.1, 10.2.0.1 (on the bridge), 10.3.0.1, 10.4.0.1
# (on v4 and on v5). Uplink 192.0.2.1/24; management LAN 198.51.100.1/24
# (host.protected). "inet" has no route to the sectors: only masquerade
# lets replies back.
#
# vm1, vm4 and inet behave like hosts behind a NIC: GRO on (so the kernel
# lets the gateway's XDP redirect frames to them) and checksums complete on
# transmit. Their flows take sectorgate's XDP fast path both ways. The
# other VMs keep veth's defaults: what they are sent takes the tc path,
# and what they send is in part finished in XDP, in part (TSO) left to
# the kernel.
#
# The definitions (topo_definitions) put the uplink and the devices of
# vm1, vm4 and vm5 on XDP with `xdp: on`, as microVMs' taps would be; on
# a veth, `xdp: auto` (vm3, and br2, a bridge) means tc ingress, which
# keeps the peer's TSO (man sectorgate, XDP OR TC).

SG_PREFIX=${SG_PREFIX:-sg$$}
GW=$SG_PREFIX-gw

ns() { echo "$SG_PREFIX-$1"; }

# Run a command in a VM / host namespace.
in_ns() {
	local n=$1
	shift
	ip netns exec "$(ns "$n")" "$@"
}

# Run a command in the gateway's network namespace only: `ip netns exec`
# would remount /sys and hide the bpffs holding sectorgate's pins.
in_gw() {
	nsenter --net=/run/netns/"$GW" "$@"
}

_veth_host() {	# name in ns, peer name in gw, address/len[, gateway]
	local n=$1 dev=$2 addr=$3 via=${4:-}
	ip netns add "$(ns "$n")"
	ip link add eth0 netns "$(ns "$n")" type veth peer name "$dev" netns "$GW"
	in_ns "$n" ip link set lo up
	in_ns "$n" ip link set eth0 up
	in_ns "$n" ip addr add "$addr" dev eth0
	[ -z "$via" ] || in_ns "$n" ip route add default via "$via"
}

_like_nic() {	# host namespace
	in_ns "$1" ethtool -K eth0 gro on tx off >/dev/null
}

topo_up() {
	ip netns add "$GW"
	in_gw ip link set lo up
	in_gw sysctl -qw net.ipv4.ip_forward=1

	_veth_host vm1 v1 10.1.0.2/24 10.1.0.1
	_veth_host vm3 v3 10.3.0.2/24 10.3.0.1
	in_gw ip addr add 10.1.0.1/24 dev v1
	in_gw ip addr add 10.3.0.1/24 dev v3

	in_gw ip link add br2 type bridge
	_veth_host vm2a br2p1 10.2.0.2/24 10.2.0.1
	_veth_host vm2b br2p2 10.2.0.3/24 10.2.0.1
	in_gw ip link set br2p1 master br2
	in_gw ip link set br2p2 master br2
	in_gw ip addr add 10.2.0.1/24 dev br2

	_veth_host vm4 v4 10.4.0.2/24 10.4.0.1
	_veth_host vm5 v5 10.4.0.2/24 10.4.0.1
	in_gw ip addr add 10.4.0.1/24 dev v4
	in_gw ip addr add 10.4.0.1/24 dev v5

	_veth_host inet wan0 192.0.2.2/24
	_veth_host mgmt mgmt0 198.51.100.2/24 198.51.100.1
	in_gw ip addr add 192.0.2.1/24 dev wan0
	in_gw ip addr add 198.51.100.1/24 dev mgmt0

	for d in v1 v3 v4 v5 br2 br2p1 br2p2 wan0 mgmt0; do
		in_gw ip link set "$d" up
	done
	for n in vm1 vm4 inet; do
		_like_nic "$n"
	done
}

# A real L3 tunnel, as tailscale0 or a WireGuard device is: "peer"
# reaches the gateway over a veth carrying UDP (203.0.113.0/30), and
# socat turns that into a tun device ts0 on both ends, no Ethernet
# header: 100.64.0.1 on the gateway, 100.64.0.2 in peer. It is up once
# the gateway pings 100.64.0.2.
topo_tunnel() {
	ip netns add "$(ns peer)"
	ip link add eth0 netns "$(ns peer)" type veth peer name peer0 netns "$GW"
	in_ns peer ip link set lo up
	in_ns peer ip link set eth0 up
	in_ns peer ip addr add 203.0.113.2/30 dev eth0
	in_gw ip addr add 203.0.113.1/30 dev peer0
	in_gw ip link set peer0 up
	(in_gw socat UDP-DATAGRAM:203.0.113.2:7000,bind=203.0.113.1:7000 \
		TUN:100.64.0.1/24,tun-name=ts0,tun-type=tun,iff-no-pi,iff-up &) 2>/dev/null
	(in_ns peer socat UDP-DATAGRAM:203.0.113.1:7000,bind=203.0.113.2:7000 \
		TUN:100.64.0.2/24,tun-name=ts0,tun-type=tun,iff-no-pi,iff-up &) 2>/dev/null
}

# Every namespace of this run, also those a scenario added: their
# processes first (a namespace outlives its deletion while they run).
topo_down() {
	local n
	for n in $(ip netns list 2>/dev/null | awk -v p="$SG_PREFIX-" 'index($1, p) == 1 {print $1}'); do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	return 0
}

# The definitions that go with this topology.
topo_definitions() {
	cat <<'YAML'
version: 1
host:
  uplinks:
    - interface: wan0
      xdp: on
  protected: [198.51.100.0/24]
sectors:
  - name: vm1
    cidrs: [10.1.0.0/24]
    interfaces: [v1]
    xdp: on
    allow:
      - {sector: vm2, proto: tcp, ports: [8080]}
      - {sector: vm2, proto: udp, ports: [5353]}
      - {sector: vm2, proto: icmp}
  - name: vm2
    cidrs: [10.2.0.0/24]
    interfaces: [br2]
  - name: vm3
    cidrs: [10.3.0.0/24]
    interfaces: [v3]
    internet: false
  - name: vm4
    cidrs: [10.4.0.0/24]
    interfaces: [v4]
    xdp: on
  - name: vm5
    cidrs: [10.4.0.0/24]
    interfaces: [v5]
    xdp: on
YAML
}
