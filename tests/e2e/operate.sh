#!/bin/bash
# SPEC 2, operating it: every subcommand's --help (exit 0) and the bash
# completion agree with the one option table; `apply --dry-run` lists
# what would change and changes nothing (maps and attachments compared
# before and after); status shows the definitions' SHA-256, when they
# were applied, each device's attach mode and program ids; /metrics,
# fetched with curl, parses with the reference Prometheus parser, and a
# provoked drop moves its counter; `stats --prometheus` is the same text.
set -u
. "$(dirname "$0")/lib.sh"
. "$ROOT/scripts/topology.sh"
e2e_private_mounts "$@"

runner=
e2e_topology
trap 'stop_run; sg unload >/dev/null 2>&1; topo_down; rm -rf "$DEFS" "$work"' EXIT
COMMANDS="check apply run status stats dump monitor unload"

# --- --help, from the option table ----------------------------------------
for c in $COMMANDS; do
	expect_ok "sectorgate $c --help exits 0" "$SECTORGATE" "$c" --help
done
expect_ok "sectorgate --help exits 0" "$SECTORGATE" --help
for c in "" check; do
	expect_ok "sectorgate $c --version prints the version" \
		bash -c "\"$SECTORGATE\" $c --version | grep -q '^sectorgate [0-9][0-9.]* (libbpf '"
done
expect_ok "dump nat --json parses (options after the argument)" \
	bash -c "\"$SECTORGATE\" --pin-dir /nonexistent dump nat --json; [ \$? -eq 3 ]"
rc=0; "$SECTORGATE" apply --bogus >/dev/null 2>&1 || rc=$?
expect_eq "an unknown option is a usage error (2)" "$rc" 2
rc=0; "$SECTORGATE" status --dry-run >/dev/null 2>&1 || rc=$?
expect_eq "an option of another command is a usage error (2)" "$rc" 2

# The completion offers, for each command, exactly the long options its
# --help lists.
. "$ROOT/scripts/sectorgate.bash-completion"
completes() {	# the words offered after "sectorgate $1 --"
	COMP_WORDS=(sectorgate $1 --)
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	_sectorgate
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
for c in $COMMANDS; do
	expect_eq "completion of \"$c\" offers what its --help lists" \
		"$(completes "$c" | tr '\n' ' ')" \
		"$("$SECTORGATE" "$c" --help | grep -o -- '--[a-z-]*' | sort -u | tr '\n' ' ')"
done
expect_eq "completion of the command offers every command" \
	"$(COMP_WORDS=(sectorgate ''); COMP_CWORD=1; _sectorgate; printf '%s\n' "${COMPREPLY[@]}" | grep -v -- '^-' | tr '\n' ' ')" \
	"$(echo $COMMANDS | tr ' ' '\n' | tr '\n' ' ')"

# --- apply --dry-run -------------------------------------------------------
# Everything an apply could change: the pins, every map's entries, and
# every hook of every device in the gateway.
# (iproute2 6.1 names the peers' namespaces and complains on stderr of
# every /run/netns entry it cannot: other tests' namespaces.)
devices() { in_gw ip -o link 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//'; }
snapshot() {
	local m d
	ls "$PIN" 2>&1
	for m in sg_state sg_devices sg_sectors sg_sector_nets sg_dest_nets \
		 sg_allow sg_forwards sg_admit_devs sg_admit_nets sg_config \
		 sg_imds sg_applied; do
		echo "== $m"
		bpftool map dump pinned "$PIN/$m" 2>&1
	done
	for d in $(devices); do
		echo "== $d"
		in_gw ip link show dev "$d" 2>/dev/null | grep -o 'prog/xdp id [0-9]*'
		in_gw tc filter show dev "$d" ingress
		in_gw tc filter show dev "$d" egress
	done
}

snapshot >"$work/none.before"
sg apply --dry-run -c "$DEFS" >"$work/dry" 2>&1
expect_ok "with nothing applied, the dry run lists every sector as added" \
	grep -qx '  sector + vm1 (id 1)' "$work/dry"
expect_ok "and says which generation it would apply" \
	grep -qx 'would apply generation 1 (now 0)' "$work/dry"
snapshot >"$work/none.after"
expect_ok "and creates no pin, map or attachment" cmp -s "$work/none.before" "$work/none.after"

sg -v apply -c "$DEFS" >"$work/apply.log" 2>&1
expect_eq "apply -v" "$?" 0
expect_ok "-v logs the apply" grep -q "applied generation 1" "$work/apply.log"
# The kernel's words on the netlink answers the loader expects and
# handles (a tc hook that exists, a device without one) are for -vv.
expect_fail "-v shows no netlink message of an apply that succeeded" \
	grep "Kernel error message" "$work/apply.log"
# An uplink's NAT gauges are there before its first flow, at 0.
expect_eq "before any flow, sectorgate_nat_ports_in_use of wan0 is 0" \
	"$(sg stats --prometheus | "$ROOT/tests/e2e/promcheck.py" |
		grep -F 'sectorgate_nat_ports_in_use{address="192.0.2.1",uplink="wan0"} ')" \
	'sectorgate_nat_ports_in_use{address="192.0.2.1",uplink="wan0"} 0'
expect_eq "a dry run now: no changes" \
	"$(sg apply --dry-run -c "$DEFS" 2>&1 | tail -n 1)" "no changes (generation 1)"
# The edit: vm3 gets the internet; a sixth sector on a new device v6.
in_gw ip link add v6 type veth peer name v6p
in_gw ip link set v6 up
cp "$DEFS" "$work/v1.yaml"
sed -i 's/^    internet: false$/    internet: true/' "$DEFS"
printf '  - name: vm6\n    cidrs: [10.6.0.0/24]\n    interfaces: [v6]\n' >>"$DEFS"
snapshot >"$work/before"
sg apply --dry-run -c "$DEFS" >"$work/dry" 2>&1
sed 's/^/    | /' "$work/dry"
expect_ok "the dry run lists vm6 as added" grep -qx '  sector + vm6 (id 6)' "$work/dry"
expect_ok "and vm3 as changed" grep -qx '  sector ~ vm3 (id 3)' "$work/dry"
expect_ok "and v6 to be attached" grep -qx '  attach v6 (sector vm6)' "$work/dry"
expect_ok "and the entries of sg_sectors: one added, one changed" \
	grep -Eqx '  sg_sectors +\+1 -0 ~1 entries' "$work/dry"
expect_ok "and the generation" grep -qx 'would apply generation 2 (now 1)' "$work/dry"
snapshot >"$work/after"
if cmp -s "$work/before" "$work/after"; then
	pass "the dry run changed no map entry and no attachment"
else
	fail "the dry run changed no map entry and no attachment"
	diff "$work/before" "$work/after" | sed 's/^/    /'
fi
expect_ok "vm3 still has no internet" bash -c '! in_ns vm3 ping -c 1 -W 1 192.0.2.2' 
cp "$work/v1.yaml" "$DEFS"
sed -i '/^    cidrs: \[10.3.0.0\/24\]$/d' "$DEFS"	# vm3 without cidrs: invalid
rc=0; sg apply --dry-run -c "$DEFS" >/dev/null 2>&1 || rc=$?
expect_eq "a dry run of invalid definitions exits 1" "$rc" 1
cp "$work/v1.yaml" "$DEFS"
# A sector whose own entry stays but whose allow rules change is changed.
sed -i 's/ports: \[5353\]}/ports: [5354]}/' "$DEFS"
sg apply --dry-run -c "$DEFS" >"$work/dry" 2>&1
expect_ok "an edit of vm1's allow rules alone: vm1 is listed as changed" \
	grep -qx '  sector ~ vm1 (id 1)' "$work/dry"
expect_ok "with its sg_allow entry" grep -Eqx '  sg_allow +\+0 -0 ~1 entries' "$work/dry"
expect_fail "and no other sector" grep -v 'vm1' <(grep '^  sector ' "$work/dry")
cp "$work/v1.yaml" "$DEFS"
# Pins live on a BPF filesystem: a pin directory elsewhere is refused
# with that word, and not made.
rc=0; in_gw "$SECTORGATE" --pin-dir "$work/nobpffs/pins" apply -c "$DEFS" \
	>/dev/null 2>"$work/err" || rc=$?
expect_eq "apply with a pin directory off bpffs exits 3" "$rc" 3
expect_ok "and says it is not on a BPF filesystem" \
	grep -q "$work/nobpffs/pins is not on a BPF filesystem" "$work/err"
expect_fail "and makes no directory" test -e "$work/nobpffs"

# --- status ----------------------------------------------------------------
st=$(sg status --json)
expect_eq "status: the definitions' SHA-256 is the file's" \
	"$(jq -r .applied.sha256 <<<"$st")" "$(sha256sum "$DEFS" | cut -d' ' -f1)"
expect_eq "status: and its path" "$(jq -r .applied.file <<<"$st")" "$(realpath "$DEFS")"
applied=$(date -d "$(jq -r .applied.time <<<"$st")" +%s)
expect_ok "status: applied within the last five minutes ($(jq -r .applied.time <<<"$st"))" \
	test $(($(date +%s) - applied)) -lt 300 -a "$applied" -le "$(date +%s)"
expect_eq "status: v1 runs its XDP program in the driver" \
	"$(jq -r '.devices[] | select(.name=="v1") | .mode' <<<"$st")" xdp-native
expect_eq "status: br2 (a bridge) is on tc" \
	"$(jq -r '.devices[] | select(.name=="br2") | .mode' <<<"$st")" tc
expect_eq "status: v1's XDP program id is the one attached" \
	"$(jq -r '.devices[] | select(.name=="v1") | .program_ids.xdp' <<<"$st")" \
	"$(in_gw ip link show dev v1 2>/dev/null | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')"
txt=$(sg status)
expect_ok "status (text): the definitions line" grep -q "^definitions: $(realpath "$DEFS") sha256 $(sha256sum "$DEFS" | cut -d' ' -f1), applied " <<<"$txt"
expect_ok "status (text): v1 xdp-native with its program ids" \
	grep -Eq '^ +v1 +sector +vm1 +xdp-native +xdp=[0-9]+ tc-egress=[0-9]+' <<<"$txt"

# --- /metrics --------------------------------------------------------------
port=9469
nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" run -c "$DEFS" \
	--metrics-listen 127.0.0.1:$port >"$work/log" 2>&1 &
runner=$!
scrape() { in_gw curl -sf "http://127.0.0.1:$port/metrics"; }
expect_ok "run serves /metrics" poll 10 'scrape >/dev/null'
gen=$(sg status --json | jq .generation)
# Another instance's run (its own pin directory), on the same port.
rc=0; in_gw "$SECTORGATE" --pin-dir "$PIN-other" run -c "$DEFS" \
	--metrics-listen 127.0.0.1:$port >"$work/other.log" 2>&1 || rc=$?
expect_eq "a run on that port cannot bind it: status 3" "$rc" 3
expect_ok "it says so" grep -q "127.0.0.1:$port" "$work/other.log"
expect_fail "and applied nothing there" in_gw "$SECTORGATE" --pin-dir "$PIN-other" status
expect_fail "nor left the pin directory it made" test -e "$PIN-other"
rc=0; timeout 10 nsenter --net=/run/netns/"$GW" "$SECTORGATE" --pin-dir "$PIN" run -c "$DEFS" \
	--metrics-listen 127.0.0.1:$((port + 1)) >"$work/second.log" 2>&1 || rc=$?
expect_eq "a second run on the same pin directory: status 3" "$rc" 3
expect_ok "it says another run keeps it" grep -q "another \`sectorgate run\` keeps" "$work/second.log"
rc=0; sg run -c "$DEFS" --metrics-listen nowhere >/dev/null 2>&1 || rc=$?
expect_eq "--metrics-listen that is no ADDR:PORT is a usage error (2)" "$rc" 2
expect_eq "neither applied anything" "$(sg status --json | jq .generation)" "$gen"
expect_ok "the content type is the text format's" \
	bash -c "nsenter --net=/run/netns/$GW curl -sfI http://127.0.0.1:$port/metrics | grep -qi '^content-type: text/plain; version=0.0.4'"
rc=0; in_gw curl -sf -o /dev/null "http://127.0.0.1:$port/other" || rc=$?
expect_eq "anything but /metrics is not found (curl: 22)" "$rc" 22
scrape >"$work/m1"
if "$ROOT/tests/e2e/promcheck.py" <"$work/m1" >"$work/s1" 2>"$work/err"; then
	pass "/metrics parses with prometheus_client, HELP and TYPE on every family"
else
	fail "/metrics parses with prometheus_client, HELP and TYPE on every family"
	sed 's/^/    /' "$work/err"
fi
for f in drops_total packets_total bytes_total fast_path_packets_total \
	 flow_table_entries flow_table_capacity nat_ports_in_use \
	 nat_ports_endpoint_max nat_ports_capacity map_entries map_capacity \
	 events_lost_total; do
	expect_ok "/metrics has sectorgate_$f" grep -q "^# TYPE sectorgate_$f " "$work/m1"
done
sample() { grep -F "$1} " "$2" | awk '{print $2}'; }
key='sectorgate_drops_total{reason="inter-sector",sector="vm3"'
was=$(sample "$key" "$work/s1")
expect_fail "vm3 cannot ping vm1" ping1 vm3 10.1.0.2
scrape | "$ROOT/tests/e2e/promcheck.py" >"$work/s2"
expect_eq "the provoked drop moves sectorgate_drops_total{sector=\"vm3\",reason=\"inter-sector\"} by one" \
	"$(($(sample "$key" "$work/s2") - was))" 1
expect_ok "vm1 reaches inet (a NAT port in use)" ping1 vm1 192.0.2.2
scrape | "$ROOT/tests/e2e/promcheck.py" >"$work/s3"
expect_ok "a NAT port of wan0 is in use" \
	test "$(sample 'sectorgate_nat_ports_in_use{address="192.0.2.1",uplink="wan0"' "$work/s3")" -ge 1
expect_ok "the flow table holds its two entries" \
	test "$(sample 'sectorgate_flow_table_entries{' "$work/s3")" -ge 2
sg stats --prometheus >"$work/p"
"$ROOT/tests/e2e/promcheck.py" <"$work/p" >"$work/sp" 2>&1
families() { grep '^# ' "$1"; }
expect_eq "stats --prometheus is the same text (every HELP and TYPE line)" \
	"$(families "$work/p")" "$(scrape | grep '^# ')"
expect_eq "with the same samples" "$(sed 's/ [0-9]*$//' "$work/sp")" \
	"$(scrape | "$ROOT/tests/e2e/promcheck.py" | sed 's/ [0-9]*$//')"

kill -TERM "$runner"
rc=0; wait "$runner" || rc=$?
runner=
expect_eq "SIGTERM ends run (and its HTTP server) with status 0" "$rc" 0
expect_fail "and /metrics is gone" scrape

e2e_summary
