#!/bin/bash
# Run every CLI scenario (tests/cli/t*.sh) against the tools installed into a scratch prefix.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${HERO_BUILD:=$top/build}"
prefix=$(mktemp -d /tmp/hero-cli-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
make -s -C "$top" install PREFIX="$prefix" BUILD="$HERO_BUILD" >/dev/null || { echo "install failed"; exit 1; }
export HERO_PREFIX=$prefix HERO_BUILD HERO_TOP=$top PATH="$prefix/bin:$PATH"
export HERO_MANIFESTS="$prefix/share/hero/manifests"
pass=0; fail=0; failed=()
for t in "$here"/t*.sh; do
	[ -n "${HERO_CLI_ONLY:-}" ] && [[ "$(basename "$t")" != *"$HERO_CLI_ONLY"* ]] && continue
	start=$(date +%s)
	if bash "$t" >"/tmp/hero-cli-$(basename "$t").log" 2>&1; then
		pass=$((pass + 1)); echo "ok   $(basename "$t") ($(( $(date +%s) - start ))s)"
	else
		fail=$((fail + 1)); failed+=("$(basename "$t")")
		echo "FAIL $(basename "$t") ($(( $(date +%s) - start ))s)"; tail -n 30 "/tmp/hero-cli-$(basename "$t").log" | sed 's/^/    /'
	fi
done
echo "cli: $pass passed, $fail failed ${failed[*]:-}"
[ "$fail" = 0 ]
