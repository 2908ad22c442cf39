#!/bin/bash
# symbols.sh LIB: every external symbol LIB defines is prefixed hero_ (or is static), so the
# library links into any program without a clash. Run by `make test` (the checks target).
set -u
lib=${1:?usage: symbols.sh LIBHERO.a}
[ -f "$lib" ] || { echo "symbols: '$lib' is not built" >&2; exit 1; }
# what a sanitizer's instrumentation adds (__odr_asan.NAME for each global, ...) is not ours
bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /[TDBRVWGSC]/ {print $3}' |
	grep -v -e '^hero_' -e '^__odr_asan[._]' -e '^__asan_' -e '^__ubsan_' -e '^__sancov_' -e '^__tsan_' | sort -u)
if [ -n "$bad" ]; then
	echo "symbols: FAIL: $lib defines external symbols without the hero_ prefix:" >&2
	printf '    %s\n' $bad >&2
	exit 1
fi
echo "symbols: ok ($lib: every external symbol is hero_*)"
