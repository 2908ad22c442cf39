#!/bin/bash
# The harness itself: a scenario whose setup step fails (a command, a pipeline, an unset
# variable) fails instead of going on; expect_code, wait_for and skip do what they say; and
# run.sh, given a directory of planted scenarios (HERO_CLI_DIR), fails on a failure and on a
# skip (unless HERO_ALLOW_SKIP=1), counts and names skips apart, and fails when nothing ran.
. "$(dirname "$0")/lib.sh"
export HERO_CLI_LIB=$(cd "$(dirname "$0")" && pwd)
P=$T/planted
mkdir "$P"
# plant NAME BODY: a scenario NAME.sh that sources lib.sh, then runs BODY
plant() { printf '#!/bin/bash\n. "$HERO_CLI_LIB/lib.sh"\n%s\n' "$2" >"$P/$1.sh"; }
# scenario NAME: run a planted scenario on its own; its exit code in $rc, its output in $T/sc.out
scenario() { bash "$P/$1.sh" >"$T/sc.out" 2>&1 && rc=0 || rc=$?; }

echo "== a failed step ends the scenario with a failure"
plant t91_cmd 'cp "$T/no-such-file" "$T/x"
echo REACHED'
plant t92_pipe 'false | cat
echo REACHED'
plant t93_unset 'echo "$NO_SUCH_VARIABLE_ANYWHERE"
echo REACHED'
plant t94_subst 'x=$(grep -c nothing /dev/null)
echo REACHED'
plant t95_expect 'expect_code 0 sh -c "exit 3"
echo REACHED'
plant t96_wait 'wait_for 1 false
echo REACHED'
plant t97_grep 'echo something >"$T/f"; expect_grep nothing "$T/f"
echo REACHED'
for s in t91_cmd t92_pipe t93_unset t94_subst t95_expect t96_wait t97_grep; do
	scenario "$s"
	[ "$rc" != 0 ] && [ "$rc" != 77 ] || fail "$s: exit $rc, want a failure: $(cat "$T/sc.out")"
	! grep -q REACHED "$T/sc.out" || fail "$s: went on after the failed step"
	echo "$s: exit $rc"
done

echo "== an expected failure is asserted, not fatal; the scratch directory goes at exit"
plant t81_expected 'expect_code 3 sh -c "echo out; echo err >&2; exit 3"
expect_grep "^out$" "$T/out"
expect_grep "^err$" "$T/err"
wait_for 5 true
wait_for 5 "[ -d \"\$T\" ]"
echo "$T" >"$HERO_HARNESS_SCRATCH"
echo REACHED'
HERO_HARNESS_SCRATCH=$T/scratch scenario t81_expected
[ "$rc" = 0 ] && grep -q REACHED "$T/sc.out" || fail "t81_expected: exit $rc: $(cat "$T/sc.out")"
[ ! -e "$(cat "$T/scratch")" ] || fail "the scratch directory of a scenario was left behind"

echo "== skip exits 77 and says why"
plant t82_skip 'skip "no frobnicator here"
echo REACHED'
scenario t82_skip
[ "$rc" = 77 ] || fail "skip: exit $rc, want 77"
expect_grep '^SKIP: no frobnicator here$' "$T/sc.out"
! grep -q REACHED "$T/sc.out" || fail "skip went on"
plant t83_need 'need no-such-command-anywhere
echo REACHED'
scenario t83_need
[ "$rc" = 77 ] || fail "need: exit $rc, want 77"
expect_grep '^SKIP: no-such-command-anywhere is not installed' "$T/sc.out"

echo "== run.sh over planted directories"
RUN=$HERO_CLI_LIB/run.sh
# runner DIR [VAR=VALUE...]: run.sh on DIR; its exit code in $rc, its output in $T/run.out
runner() {
	local dir=$1; shift
	env -u HERO_CLI_ONLY -u HERO_ALLOW_SKIP HERO_CLI_DIR="$dir" "$@" bash "$RUN" >"$T/run.out" 2>&1 && rc=0 || rc=$?
}
mkdir "$T/d-pass" "$T/d-fail" "$T/d-skip" "$T/d-none"
cp "$P/t81_expected.sh" "$T/d-pass/"; cp "$P/t81_expected.sh" "$T/d-fail/"; cp "$P/t81_expected.sh" "$T/d-skip/"
cp "$P/t91_cmd.sh" "$T/d-fail/"; cp "$P/t82_skip.sh" "$T/d-skip/"
export HERO_HARNESS_SCRATCH=/dev/null
runner "$T/d-pass"
[ "$rc" = 0 ] || fail "run.sh over a passing scenario: exit $rc: $(cat "$T/run.out")"
expect_grep '^cli: 1 passed, 0 failed, 0 skipped$' "$T/run.out"
runner "$T/d-fail"
[ "$rc" != 0 ] || fail "run.sh passed with a failing scenario: $(cat "$T/run.out")"
expect_grep '^FAIL t91_cmd.sh ' "$T/run.out"
expect_grep '^cli: 1 passed, 1 failed (t91_cmd.sh), 0 skipped$' "$T/run.out"
runner "$T/d-skip"
[ "$rc" != 0 ] || fail "run.sh passed with a skipped scenario: $(cat "$T/run.out")"
expect_grep '^SKIP t82_skip.sh (.*): no frobnicator here$' "$T/run.out"
expect_grep '^cli: 1 passed, 0 failed, 1 skipped (t82_skip.sh)$' "$T/run.out"
runner "$T/d-skip" HERO_ALLOW_SKIP=1
[ "$rc" = 0 ] || fail "run.sh with HERO_ALLOW_SKIP=1 failed on a skip: exit $rc: $(cat "$T/run.out")"
expect_grep '^SKIP t82_skip.sh ' "$T/run.out"
expect_grep 'skips allowed' "$T/run.out"
runner "$T/d-none"
[ "$rc" != 0 ] || fail "run.sh passed with no scenario at all: $(cat "$T/run.out")"
echo "t00: ok"
