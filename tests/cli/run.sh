#!/bin/bash
# Run every CLI scenario (tests/cli/t*.sh) against the tools installed into a scratch prefix.
#
# A scenario passes with exit 0, is skipped with exit 77 (it cannot run something here, and
# says what) and fails with anything else. Skips are counted and listed apart, and make this
# runner fail too: a skipped check is an unchecked one. HERO_ALLOW_SKIP=1 accepts skips
# (exit 0 when nothing failed); scripts/install-deps.sh installs what every scenario needs.
#
# Environment: HERO_BUILD (build directory, default ./build), HERO_CLI_ONLY (run only the
# scenarios whose file name contains it), HERO_CLI_DIR (the scenario directory, default this
# one; lib.sh is always this directory's), HERO_ALLOW_SKIP. Logs in /tmp/hero-cli-NAME.log.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${HERO_BUILD:=$top/build}"
dir=${HERO_CLI_DIR:-$here}
prefix=$(mktemp -d /tmp/hero-cli-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
make -s -C "$top" install PREFIX="$prefix" BUILD="$HERO_BUILD" >/dev/null || { echo "install failed"; exit 1; }
export HERO_PREFIX=$prefix HERO_BUILD HERO_TOP=$top HERO_CLI_LIB=$here PATH="$prefix/bin:$PATH"
export HERO_MANIFESTS="$prefix/share/hero/manifests"
pass=0; fail=0; skip=0; failed=(); skipped=()
for t in "$dir"/t*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t")
	[ -n "${HERO_CLI_ONLY:-}" ] && [[ "$name" != *"$HERO_CLI_ONLY"* ]] && continue
	log=/tmp/hero-cli-$name.log
	start=$(date +%s)
	bash "$t" >"$log" 2>&1 && rc=0 || rc=$?
	took="($(( $(date +%s) - start ))s)"
	if [ "$rc" = 0 ]; then
		pass=$((pass + 1)); echo "ok   $name $took"
	elif [ "$rc" = 77 ]; then
		skip=$((skip + 1)); skipped+=("$name")
		echo "SKIP $name $took: $(grep -m1 '^SKIP: ' "$log" | cut -c7-)"
	else
		fail=$((fail + 1)); failed+=("$name")
		echo "FAIL $name $took (exit $rc)"; tail -n 30 "$log" | sed 's/^/    /'
	fi
done
echo "cli: $pass passed, $fail failed${failed[*]:+ (${failed[*]})}, $skip skipped${skipped[*]:+ (${skipped[*]})}"
[ "$fail" = 0 ] || exit 1
if [ "$skip" != 0 ]; then
	[ "${HERO_ALLOW_SKIP:-0}" = 1 ] && { echo "cli: skips allowed (HERO_ALLOW_SKIP=1)"; exit 0; }
	echo "cli: $skip scenario(s) skipped: install what they need (scripts/install-deps.sh) or set HERO_ALLOW_SKIP=1"
	exit 1
fi
[ "$((pass + fail + skip))" != 0 ] || { echo "cli: no scenario ran"; exit 1; }
