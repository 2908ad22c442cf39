# Helpers for CLI scenarios. Source it first; it creates $T (scratch dir, removed on exit).
set -u
T=$(mktemp -d /tmp/hero-t.XXXXXX)
_cleanup_hooks=()
at_exit() { _cleanup_hooks+=("$1"); }
_run_cleanup() { local h; for h in "${_cleanup_hooks[@]:+${_cleanup_hooks[@]}}"; do eval "$h" || true; done; rm -rf "$T"; }
trap _run_cleanup EXIT
KEYS=$HERO_TOP/tests/golden/keys
SAMPLE=$HERO_BUILD/tests/hero-sample
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_code CODE CMD... : run CMD, capture stdout/stderr in $T/out $T/err, require exit CODE
expect_code() {
	local want=$1; shift
	"$@" >"$T/out" 2>"$T/err"; local got=$?
	if [ "$got" != "$want" ]; then
		echo "command: $*" >&2; echo "stdout:" >&2; head -c 2000 "$T/out" >&2; echo "stderr:" >&2; head -c 2000 "$T/err" >&2
		fail "expected exit $want, got $got"
	fi
}
expect_grep() { grep -q -- "$1" "$2" || { echo "--- $2:" >&2; head -c 2000 "$2" >&2; fail "'$1' not found in $2"; }; }
expect_no_grep() { ! grep -q -- "$1" "$2" || fail "'$1' unexpectedly found in $2"; }
# tree_hash DIR: a hash of every path, type, mode, size and content beneath DIR
tree_hash() { (cd "$1" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1; }
