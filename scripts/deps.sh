#!/bin/bash
# Install what building and testing sectorgate needs (Debian 12), once:
# packages already present are not touched. `deps.sh bench` adds what the
# benchmarks compare against and draw with (nftables, conntrack,
# matplotlib, iperf3), `deps.sh fuzz` libFuzzer and the
# sanitizers' runtime for clang (`make fuzz`).
set -euo pipefail

PACKAGES=(
	make gcc clang llvm pkg-config
	libbpf-dev libxdp-dev libelf-dev zlib1g-dev libyaml-dev linux-libc-dev
	libmnl-dev libmicrohttpd-dev libmd-dev
	bpftool iproute2 ethtool iputils-ping netcat-openbsd socat jq tcpdump
	curl python3-prometheus-client procps dnsmasq-base busybox
	dpkg-dev debhelper lintian
)
[ "${1:-}" != bench ] || PACKAGES+=(nftables conntrack python3-matplotlib iperf3)
if [ "${1:-}" = fuzz ]; then
	# The runtime of the clang that builds (14 on Debian 12).
	v=$(${CLANG:-clang} --version 2>/dev/null |
	    sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
	PACKAGES+=("libclang-rt-${v:-14}-dev")
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
