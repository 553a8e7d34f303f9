#!/bin/bash
# The Debian package: `dpkg-buildpackage -us -uc -b` builds it from a
# copy of the tree (its clean step must not remove what the other tests
# built), `dpkg -c` lists what an operator needs, and lintian finds no
# error. PASS/FAIL lines for tests/run.sh.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/sectorgate"
tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude=./sectorgate \
	--exclude=./vmlinux/vmlinux.h -cf - . | tar -C "$tmp/sectorgate" -xf -

start=$(date +%s)
if (cd "$tmp/sectorgate" && DEB_BUILD_OPTIONS="parallel=2" \
	dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b builds the package ($(($(date +%s) - start)) s)"
else
	fail "dpkg-buildpackage -us -uc -b builds the package"
	tail -n 30 "$tmp/build.log" | sed 's/^/    /'
fi
deb=$(ls "$tmp"/sectorgate_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || { fail "a .deb was made"; echo "$passed passed, $failed failed"; exit 1; }

dpkg -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/files"
for f in /usr/sbin/sectorgate /usr/share/man/man8/sectorgate.8.gz \
	 /lib/systemd/system/sectorgate.service /etc/sectorgate/sectors.yaml \
	 /usr/share/bash-completion/completions/sectorgate \
	 /usr/share/doc/sectorgate/copyright; do
	if grep -qx "$f" "$tmp/files"; then pass "dpkg -c lists $f"; else fail "dpkg -c lists $f"; fi
done
dpkg-deb -e "$deb" "$tmp/control"
if grep -qx /etc/sectorgate/sectors.yaml "$tmp/control/conffiles"; then
	pass "/etc/sectorgate/sectors.yaml is a conffile"
else
	fail "/etc/sectorgate/sectors.yaml is a conffile"
fi
if grep -q 'deb-systemd-helper' "$tmp/control/postinst" &&
   grep -q 'sectorgate.service' "$tmp/control/postinst"; then
	pass "the postinst enables sectorgate.service (deb-systemd-helper)"
else
	fail "the postinst enables sectorgate.service (deb-systemd-helper)"
fi
dpkg-deb -x "$deb" "$tmp/root"
if grep -qx 'ExecStart=/usr/sbin/sectorgate run -c /etc/sectorgate/sectors.yaml' \
	"$tmp/root/lib/systemd/system/sectorgate.service"; then
	pass "the unit runs /usr/sbin/sectorgate"
else
	fail "the unit runs /usr/sbin/sectorgate"
fi
if "$tmp/root/usr/sbin/sectorgate" check -c "$tmp/root/etc/sectorgate/sectors.yaml" >/dev/null; then
	pass "the packaged binary accepts the example definitions"
else
	fail "the packaged binary accepts the example definitions"
fi

lintian --no-tag-display-limit "$deb" >"$tmp/lintian" 2>&1
if grep -q '^E: ' "$tmp/lintian"; then
	fail "lintian reports no error"
	grep '^E: ' "$tmp/lintian" | sed 's/^/    /'
else
	pass "lintian reports no error ($(grep -c '^W: ' "$tmp/lintian") warnings)"
fi
grep '^W: ' "$tmp/lintian" | sed 's/^/    lintian: /'

echo "# package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
