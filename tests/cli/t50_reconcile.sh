#!/bin/bash
# hero-migrate reconcile against the zinit simulator: adds, changes and removes
# owned services in dependency order, restarts only what changed, never touches
# a service it does not own, is idempotent, and --check finds hand-made drift.
. "$(dirname "$0")/lib.sh"
SIM=$HERO_BUILD/tests/zinit-sim
JGET=$HERO_BUILD/tests/jget
D=$T/desired
Z=unix:$T/z.sock
mkdir -p "$T/cfg" "$D"

# start_sim SOCKET CONFIG [ARGS...]: run a simulator until the scenario ends
start_sim() {
	local sock=$1 cfg=$2; shift 2
	"$SIM" --socket "$sock" --config "$cfg" --restart-delay-ms 100 --test-interval-ms 50 "$@" &
	local pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	wait_for 5 '[ -S "$sock" ]'
}
rc() { expect_code "$1" hero-migrate reconcile --desired "$D" --supervisor "$Z" --set DATA_DIR=/srv/data "${@:2}"; }
# line_of REGEX: the line number of the first stdout line matching REGEX
line_of() { grep -n -- "$1" "$T/out" | head -1 | cut -d: -f1; }

echo "== a service nobody declared runs before reconcile"
printf 'exec: sleep 600\n' >"$T/cfg/foreign.yaml"
start_sim "$T/z.sock" "$T/cfg" --state "$T/state.json"
wait_state foreign '^Running$'
fpid=$(st foreign pid)
cp "$T/cfg/foreign.yaml" "$T/foreign.orig"

cat >"$D/store.yaml" <<'EOF'
exec: sleep 601
env:
  PORT: 5432
  DATA: ${DATA_DIR}/store
shutdown_timeout: 2
EOF
cat >"$D/app.yaml" <<'EOF'
exec: sleep 602
after: [store]
test: "true"
retry: {max_attempts: 5, delay_ms: 500, backoff: 2}
health: {http: /health, socket: /run/app.sock}
EOF
cat >"$D/job.yaml" <<'EOF'
exec: "true"
oneshot: true
after: [app]
EOF

echo "== --check on a supervisor without them: the adds, in dependency order, and no change"
rc 1 --check
expect_grep '^add  *store$' "$T/out"
[ "$(line_of '^add *store')" -lt "$(line_of '^add *app')" ] || fail "store must come before app"
[ "$(line_of '^add *app')" -lt "$(line_of '^add *job')" ] || fail "app must come before job"
expect_grep 'drift: 3 differences' "$T/err"
[ ! -e "$T/cfg/store.yaml" ] || fail "--check created a service file"
eq "services after --check" "$("$JGET" "$T/state.json" services.length)" 1

echo "== apply: created, monitored, running, marked as owned"
rc 0
expect_grep '^applied 3 of 3 actions' "$T/out"
wait_state store '^Running$'
wait_state app '^Running$'
wait_state job '^Success$'
expect_grep 'HERO_RECONCILE_OWNER: hero-reconcile' "$T/cfg/store.yaml"
expect_grep 'DATA: /srv/data/store' "$T/cfg/store.yaml"
expect_grep 'max_attempts: 5' "$T/cfg/app.yaml"
eq "foreign pid" "$(st foreign pid)" "$fpid"
cmp -s "$T/foreign.orig" "$T/cfg/foreign.yaml" || fail "foreign.yaml was rewritten"

echo "== a second run changes nothing"
spid=$(st store pid) apid=$(st app pid)
rc 0
expect_grep '^in sync: 3 services declared, 1 not owned left alone' "$T/out"
expect_no_grep '^\(add\|change\|remove\|start\) ' "$T/out"
eq "store pid" "$(st store pid)" "$spid"
eq "app pid" "$(st app pid)" "$apid"
eq "store spawns" "$(st store spawns)" 1

echo "== --check finds a hand-edited env value, names the key, not the value, and changes nothing"
sed -i 's/PORT: "5432"/PORT: "6543"/' "$T/cfg/store.yaml"
expect_grep 'PORT: "6543"' "$T/cfg/store.yaml"
rc 1 --check
expect_grep '^change  *store  *env.PORT$' "$T/out"
expect_no_grep '6543' "$T/out"
expect_grep 'drift: 1 difference from' "$T/err"
expect_grep 'PORT: "6543"' "$T/cfg/store.yaml"
eq "store pid after --check" "$(st store pid)" "$spid"
rc 1 --check --json
eq "json drift" "$("$JGET" "$T/out" drift)" 1
eq "json action" "$("$JGET" "$T/out" actions.0.action)" change
eq "json status" "$("$JGET" "$T/out" actions.0.status)" planned

echo "== apply restarts what changed (stop, pid 0 and target Down, start) and nothing else"
rc 0
expect_grep '^change  *store  *env.PORT$' "$T/out"
wait_state store '^Running$'
[ "$(st store pid)" != "$spid" ] || fail "store was not restarted"
! kill -0 "$spid" 2>/dev/null || fail "the old store process $spid still runs"
eq "app pid" "$(st app pid)" "$apid"
eq "foreign pid" "$(st foreign pid)" "$fpid"
expect_grep 'PORT: "5432"' "$T/cfg/store.yaml"
rc 0
expect_grep '^in sync' "$T/out"

echo "== declaration edits: a change, a removal and an addition in one run"
sed -i 's/sleep 602/sleep 603/' "$D/app.yaml"
rm "$D/job.yaml"
printf 'exec: sleep 604\nlog: none\n' >"$D/cache.yaml"
spid=$(st store pid) apid=$(st app pid)
rc 0
expect_grep '^change  *app  *exec$' "$T/out"
expect_grep '^remove  *job$' "$T/out"
expect_grep '^add  *cache$' "$T/out"
[ "$(line_of '^remove')" -lt "$(line_of '^add')" ] || fail "removals must come first"
wait_state app '^Running$'
wait_state cache '^Running$'
eq "job in the supervisor" "$(st job state)" ""
[ ! -e "$T/cfg/job.yaml" ] || fail "job.yaml was not deleted"
[ "$(st app pid)" != "$apid" ] || fail "app was not restarted"
eq "store pid" "$(st store pid)" "$spid"
eq "foreign pid" "$(st foreign pid)" "$fpid"
rc 0
expect_grep '^in sync: 3 services declared' "$T/out"

echo "== a stopped owned service is started again"
"$HERO_BUILD/tests/usock" --lines 1 "$T/z.sock" '{"jsonrpc":"2.0","id":1,"method":"service_stop","params":["cache"]}\n' >/dev/null
wait_for 5 '[ "$(st cache target)" = Down ] && [ "$(st cache pid)" = 0 ]'
rc 1 --check
expect_grep '^start  *cache  *target Down$' "$T/out"
rc 0
wait_state cache '^Running$'
eq "cache target" "$(st cache target)" Up

echo "== a declared name held by a service it does not own: conflict, left alone; --adopt takes it"
printf 'exec: sleep 605\n' >"$D/foreign.yaml"
rc 1
expect_grep '^conflict  *foreign  *exists and is not owned$' "$T/out"
expect_grep "conflict: 'foreign' exists and is not owned by 'hero-reconcile'" "$T/err"
eq "foreign pid" "$(st foreign pid)" "$fpid"
cmp -s "$T/foreign.orig" "$T/cfg/foreign.yaml" || fail "foreign.yaml was touched"
rc 0 --adopt
expect_grep '^change  *foreign  *env.HERO_RECONCILE_OWNER, exec$' "$T/out"
wait_state foreign '^Running$'
expect_grep 'sleep 605' "$T/cfg/foreign.yaml"
rm "$D/foreign.yaml"
rc 0
expect_grep '^remove  *foreign$' "$T/out"

echo "== another owner sees these services as not its own"
mkdir "$T/empty"
expect_code 0 hero-migrate reconcile --desired "$T/empty" --supervisor "$Z" --owner other-team
expect_grep '^in sync: 0 services declared, 3 not owned left alone' "$T/out"
eq "services after another owner's run" "$("$JGET" "$T/state.json" services.length)" 3

echo "== invalid declarations are refused (exit 2) before anything changes"
mkdir "$T/bad1" "$T/bad2" "$T/bad3"
printf 'exec: sleep 1\nexce: typo\n' >"$T/bad1/svc.yaml"
expect_code 2 hero-migrate reconcile --desired "$T/bad1" --supervisor "$Z"
expect_grep "bad1/svc.yaml: service 'svc': unknown key 'exce'" "$T/err"
printf 'exec: sleep 1\nafter: [b]\n' >"$T/bad2/a.yaml"
printf 'exec: sleep 1\nafter: [a]\n' >"$T/bad2/b.yaml"
expect_code 2 hero-migrate reconcile --desired "$T/bad2" --supervisor "$Z"
expect_grep 'dependency cycle among services: a, b' "$T/err"
printf 'exec: sleep 1\nenv:\n  X: ${UNSET_VARIABLE_FOR_TEST}\n' >"$T/bad3/svc.yaml"
expect_code 2 hero-migrate reconcile --desired "$T/bad3" --supervisor "$Z"
expect_grep "undefined variable 'UNSET_VARIABLE_FOR_TEST'" "$T/err"
expect_code 2 hero-migrate reconcile --desired "$D" --supervisor "$Z" --owner 'bad owner'
expect_code 2 hero-migrate reconcile --supervisor "$Z"
eq "services after refused runs" "$("$JGET" "$T/state.json" services.length)" 3

echo "== zinit v0.2.14 (line protocol): detected; service files through --config-dir"
mkdir "$T/cfg2"
printf 'exec: sleep 606\n' >"$T/cfg2/legacy.yaml"
start_sim "$T/zl.sock" "$T/cfg2" --line-protocol
expect_code 1 hero-migrate reconcile --desired "$D" --supervisor "unix:$T/zl.sock" --set DATA_DIR=/d
expect_grep 'zinit v0.2.14 needs --config-dir' "$T/err"
expect_code 0 hero-migrate reconcile --desired "$D" --supervisor "unix:$T/zl.sock" --set DATA_DIR=/d \
	--config-dir "$T/cfg2" --json
eq "protocol" "$("$JGET" "$T/out" protocol)" zinit-line
eq "legacy left alone" "$("$JGET" "$T/out" unowned.0)" legacy
expect_grep 'HERO_RECONCILE_OWNER' "$T/cfg2/store.yaml"
expect_code 0 hero-migrate reconcile --desired "$D" --supervisor "unix:$T/zl.sock" --set DATA_DIR=/d \
	--config-dir "$T/cfg2"
expect_grep '^in sync: 3 services declared, 1 not owned' "$T/out"

echo "== anything that is not zinit fails clearly"
mkdir -p "$T/inst"
"$HERO_BUILD/tests/hero-sample-service" --root "$T/inst" --socket "$T/http.sock" &
hp=$!
at_exit "kill $hp 2>/dev/null"
wait_for 5 '[ -S "$T/http.sock" ]'
expect_code 1 hero-migrate reconcile --desired "$D" --supervisor "unix:$T/http.sock"
expect_grep "speaks neither zinit JSON-RPC nor the zinit line protocol" "$T/err"
expect_code 1 hero-migrate reconcile --desired "$D" --supervisor "unix:$T/nothing.sock"
expect_grep "cannot connect to supervisor '$T/nothing.sock'" "$T/err"
echo "ok"
