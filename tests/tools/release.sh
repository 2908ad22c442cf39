#!/bin/bash
# release.sh BUILD: the release build holds no fault switch. Its tools and library must not
# name HERO_FAULT, HERO_MIGRATE_KILL_AT or HERO_MIGRATE_FAULT, nor define hero_fault: those
# exist only in the test build (-DHERO_TESTING; docs/security.md 5.1). Run by `make test`.
set -u
build=${1:?usage: release.sh BUILD-DIRECTORY}
switches='HERO_FAULT|HERO_MIGRATE_KILL_AT|HERO_MIGRATE_FAULT'
files=("$build"/bin/hero-* "$build/libhero.a")
fail=0
for f in "${files[@]}"; do
	[ -f "$f" ] || { echo "release: '$f' is not built" >&2; fail=1; continue; }
	hits=$(strings -a "$f" | grep -oE "$switches" | sort -u | tr '\n' ' ')
	if [ -n "$hits" ]; then
		echo "release: FAIL: $f names fault switches: $hits" >&2
		fail=1
	fi
	if nm "$f" 2>/dev/null | grep -qE ' hero_fault$'; then
		echo "release: FAIL: $f defines hero_fault" >&2
		fail=1
	fi
done
[ "$fail" = 0 ] && echo "release: ok (${#files[@]} files in $build hold no fault switch)"
[ "$fail" = 0 ]
