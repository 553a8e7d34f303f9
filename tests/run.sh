#!/bin/bash
# Run every test: unit tests (config parser, map compiler, the dataplane
# through BPF_PROG_TEST_RUN) and the end-to-end scenarios in network
# namespaces. Installs what it needs; run as root. Ends with the line
# "N passed, N failed, N skipped" and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "tests/run.sh: run as root (BPF, network namespaces)" >&2
	exit 2
fi
scripts/deps.sh || exit 1
make -s -j2 test-bins || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
	local name=$1 rc
	shift
	echo "== $name"
	# A hung scenario must fail, not stall CI.
	timeout --kill-after=10 300 "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	passed=$((passed + $(grep -c '^PASS ' "$log")))
	failed=$((failed + $(grep -c '^FAIL ' "$log")))
	skipped=$((skipped + $(grep -c '^SKIP ' "$log")))
	# A program that fails without saying which test did still fails.
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
		echo "FAIL $name: exited with $rc"
		failed=$((failed + 1))
	fi
}

run test_config build/test_config
run test_compile build/test_compile
run test_dataplane build/test_dataplane
run test_nat build/test_nat
run test_fast build/test_fast
run test_hooks build/test_hooks
run test_dnat build/test_dnat
run test_egress build/test_egress
run test_fuzz_frames build/test_fuzz_frames
# The seed that found a reply entry's kept delivery outliving its mapping.
run test_fuzz_frames_seed7 build/test_fuzz_frames --seed 7
run package tests/package/build.sh
for t in tests/e2e/*.sh; do
	[ "$(basename "$t")" = lib.sh ] && continue
	run "$(basename "$t" .sh)" "$t"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
