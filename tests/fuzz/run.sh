#!/bin/bash
# Run the libFuzzer targets for SECONDS each, seeded from the repository's
# golden archives, keys, manifests and the hostile corpus; print the
# executions of each; fail on any crash, leak, timeout or oracle abort.
#   tests/fuzz/run.sh BUILD SECONDS TARGET...
set -u
build=$1 seconds=$2
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
export HERO_SRCDIR=$top
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
corpus=$build/corpus art=$build/artifacts
mkdir -p "$art"

seed() { # seed TARGET FILES...: copy seeds into the target's corpus
	local d=$corpus/$1; shift
	mkdir -p "$d"
	local f
	for f in "$@"; do [ -f "$f" ] && cp "$f" "$d/seed-$(basename "$f")"; done
}
hostile=$build/hostile
if [ ! -d "$hostile" ] && [ -x "$build/tests/hero-hostile" ]; then
	HERO_FAULT= "$build/tests/hero-hostile" -s "$top/tests/golden/keys/test.key" -S "$top/tests/golden/keys/other.key" \
		-o "$hostile" >/dev/null || exit 1
fi
seed fuzz_archive "$top"/tests/golden/v1/*.hsnap "$top"/tests/golden/v1/damaged/*.hsnap "$hostile"/*.hsnap
seed fuzz_manifest "$top"/manifests/*.yaml "$top"/tests/unit/data/manifests/*/*.yaml
seed fuzz_keys "$top"/tests/golden/keys/*.pub "$top"/tests/golden/keys/*.key
mkdir -p "$corpus/fuzz_tar" "$corpus/fuzz_signature"
if command -v zstd >/dev/null; then
	for f in "$hostile"/*.hsnap "$top"/tests/golden/v1/*.hsnap; do
		[ -f "$f" ] || continue
		out=$corpus/fuzz_tar/seed-$(basename "$f" .hsnap).tar
		[ -s "$out" ] && continue
		tail -c +57 "$f" | head -c -82 | zstd -dcq 2>/dev/null | head -c 65536 >"$out"
		[ -s "$out" ] || rm -f "$out"
	done
fi
mkdir -p "$corpus/fuzz_tar_diff" # the same tar streams, for the two parsers side by side
for f in "$corpus"/fuzz_tar/seed-*; do [ -f "$f" ] && cp -n "$f" "$corpus/fuzz_tar_diff/"; done

total=0 failed=0
for t in "$@"; do
	bin=$build/fuzz/$t
	maxlen=8192
	[ "$t" = fuzz_tar ] || [ "$t" = fuzz_tar_diff ] || [ "$t" = fuzz_archive ] && maxlen=65536
	log=$build/$t.log
	"$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -max_len=$maxlen -print_final_stats=1 \
		-artifact_prefix="$art/$t-" "$corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	if [ "$rc" != 0 ]; then
		failed=$((failed + 1))
		echo "FAIL $t after ${runs:-?} executions (exit $rc); log $log, artifacts in $art"
		grep -E 'ERROR|SUMMARY|oracle|runtime error' "$log" | head -n 10 | sed 's/^/    /'
	else
		echo "ok   $t: ${runs:-0} executions in ${seconds}s, no crash"
		total=$((total + ${runs:-0}))
	fi
done
echo "fuzz: $total executions without a crash; $failed target(s) failed"
[ "$failed" = 0 ]
