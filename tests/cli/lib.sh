# Helpers for CLI scenarios. Source it first; it creates $T (scratch dir, removed on exit).
# Every scenario runs under `set -euo pipefail`: a failed step ends it. A command whose failure
# is expected is run through expect_code (or written `cmd && got=0 || got=$?`), never bare.
# Exit status: 0 passed, 77 skipped (skip), anything else failed.
set -euo pipefail
T=$(mktemp -d /tmp/hero-t.XXXXXX)
_cleanup_hooks=()
at_exit() { _cleanup_hooks+=("$1"); }
_run_cleanup() { local h; for h in "${_cleanup_hooks[@]:+${_cleanup_hooks[@]}}"; do eval "$h" || true; done; rm -rf "$T"; }
trap _run_cleanup EXIT
KEYS=$HERO_TOP/tests/golden/keys
SAMPLE=$HERO_BUILD/tests/hero-sample
JGET=$HERO_BUILD/tests/jget
fail() { echo "FAIL: $*" >&2; exit 1; }
# skip WHY: the scenario cannot run here; run.sh counts it as skipped (and fails unless HERO_ALLOW_SKIP=1)
skip() { echo "SKIP: $*" >&2; exit 77; }
# need CMD...: skip unless every command is installed (scripts/install-deps.sh installs them all)
need() { local c; for c in "$@"; do command -v "$c" >/dev/null || skip "$c is not installed (run scripts/install-deps.sh)"; done; }
# expect_code CODE CMD... : run CMD, capture stdout/stderr in $T/out $T/err, require exit CODE
expect_code() {
	local want=$1 got; shift
	"$@" >"$T/out" 2>"$T/err" && got=0 || got=$?
	if [ "$got" != "$want" ]; then
		echo "command: $*" >&2; echo "stdout:" >&2; head -c 2000 "$T/out" >&2; echo "stderr:" >&2; head -c 2000 "$T/err" >&2
		fail "expected exit $want, got $got"
	fi
}
expect_grep() { grep -q -- "$1" "$2" || { echo "--- $2:" >&2; head -c 2000 "$2" >&2; fail "'$1' not found in $2"; }; }
expect_no_grep() { ! grep -q -- "$1" "$2" || fail "'$1' unexpectedly found in $2"; }
# eq WHAT GOT WANT
eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
# wait_for SECS CMD...: poll CMD every 50 ms until it succeeds; fail after SECS seconds.
# With a single word after SECS, that word is a shell condition, evaluated: wait_for 5 '[ -S "$sock" ]'
wait_for() { poll "$@" || fail "timed out after ${1}s waiting for: ${*:2}"; }
# poll SECS CMD...: wait_for, but return 1 at the timeout (the caller names what it waited for)
poll() {
	local _p_end=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
	while :; do
		if [ $# = 1 ]; then eval "$1" && return 0; else "$@" && return 0; fi
		[ "$(( $(date +%s%N) / 1000000 ))" -lt "$_p_end" ] || return 1
		sleep 0.05
	done
}
# tree_hash DIR: a hash of every path, type, mode, size and content beneath DIR
tree_hash() { (cd "$1" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1; }
# st SERVICE FIELD: a field of a service in the zinit simulator's $T/state.json ('' if absent)
st() { "$JGET" "$T/state.json" "services.$1.$2" 2>/dev/null || true; }
# wait_state SERVICE REGEX: poll until the service's state in $T/state.json matches
wait_state() {
	local _ws_service=$1 _ws_re=$2
	poll 5 '[[ "$(st "$_ws_service" state)" =~ $_ws_re ]]' ||
		fail "$_ws_service: state '$(st "$_ws_service" state)' never matched '$_ws_re'"
}
# stopped PID: the process is stopped (by SIGSTOP, or a HERO_FAULT=POINT:N:stop)
stopped() { [ "$(ps -o stat= -p "$1" | cut -c1)" = T ]; }
# same_out WHAT CMD_A CMD_B: the shell commands CMD_A and CMD_B (each run with eval, so a failure
# of either ends the scenario) print the same, and not nothing
same_out() {
	eval "$2" >"$T/same.a"; eval "$3" >"$T/same.b"
	[ -s "$T/same.a" ] || fail "$1: nothing to compare ($2 printed nothing)"
	cmp -s "$T/same.a" "$T/same.b" || { diff "$T/same.a" "$T/same.b" | head -n 10 >&2; fail "$1"; }
}
# same_dump WHAT DB_A DB_B: the two databases hold the same schema and rows (their SQL dumps)
same_dump() { same_out "$1" "sqlite3 -readonly $(printf %q "$2") .dump" "sqlite3 -readonly $(printf %q "$3") .dump"; }
# clock_past FILE: wait until a file written now gets a later mtime than FILE: the file system's
# clock has moved on, so what changes from now on is told apart from FILE by its time
clock_past() { wait_for 5 "touch '$T/.clock' && [ '$T/.clock' -nt $(printf %q "$1") ]"; }
# matches GREP-ARGS...: grep -q for the end of a pipeline, but reading all of its input, so the
# command writing into it never dies of SIGPIPE (which pipefail would make the pipeline's status)
matches() { grep -c "$@" >/dev/null; }
