#!/bin/bash
# hero-migrate verify: the reference panel passes on a freshly restored sample
# instance served by the sample service under the zinit simulator, and every
# probe kind fails with one clear line when its target is broken.
. "$(dirname "$0")/lib.sh"
SIM=$HERO_BUILD/tests/zinit-sim
JGET=$HERO_BUILD/tests/jget
US=$HERO_BUILD/tests/usock
SVC=$HERO_BUILD/tests/hero-sample-service
PANEL=$HERO_TOP/examples/probes/hero-panel.yaml
R=$T/restored
SOCK=$R/var/sockets/hero_sample/rpc.sock
verify() { expect_code "$1" hero-migrate verify --probes "$PANEL" --set HERO_ROOT="$R" --set ZINIT_SOCKET="$T/z.sock" "${@:2}"; }
# the one output line of probe NAME
line() { grep "^[a-zA-Z]* *$1 " "$T/out" || fail "no line for probe $1"; }

echo "== a sample instance, snapshotted and restored into a fresh root"
expect_code 0 "$SAMPLE" --root "$T/src" --size 4M --contexts root,geomind --seed 11
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/a.hsnap" --root "$T/src" -q
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$R" "$T/a.hsnap"

echo "== the sample service, declared in examples/desired, reconciled onto the zinit simulator"
mkdir "$T/cfg"
PATH="$HERO_BUILD/tests:$PATH" "$SIM" --socket "$T/z.sock" --config "$T/cfg" --restart-delay-ms 100 \
	--test-interval-ms 50 --state "$T/state.json" &
sim=$!
at_exit "kill $sim 2>/dev/null; wait $sim 2>/dev/null"
wait_for 10 '[ -S "$T/z.sock" ]'
expect_code 0 hero-migrate reconcile --desired "$HERO_TOP/examples/desired" --supervisor "unix:$T/z.sock" \
	--set HERO_ROOT="$R"
expect_grep '^add  *hero_sockets$' "$T/out"
expect_grep '^add  *hero_sample$' "$T/out"
wait_for 10 '[ "$("$JGET" "$T/state.json" services.hero_sample.state)" = Running ]'
[ -S "$SOCK" ] || fail "the sample service socket is missing"

echo "== the reference panel passes: one line per probe, with its duration"
verify 0
eq "probe lines" "$(grep -c '^ok  ' "$T/out")" 7
expect_no_grep '^FAIL' "$T/out"
expect_grep '^ok  *photo-downloads-as-image  *[0-9]* ms  200 image/jpeg [0-9]* bytes$' "$T/out"
expect_grep '^ok  *contexts-route-apart .*root: 5 items; geomind: 5 items; results differ$' "$T/out"
expect_grep '^ok  *business-records .*root: [1-9][0-9]* items$' "$T/out"
expect_grep '^ok  *ui-navigation .*200 text/html' "$T/out"
expect_grep '^ok  *services-healthy .*2 services up, 1 health check passed$' "$T/out"
expect_grep '^ok  *objects-database .* [1-9][0-9]* rows$' "$T/out"
expect_grep '^ok  *photos-are-jpeg .*files match, all jpeg$' "$T/out"
[ ! -s "$T/err" ] || fail "a passing panel wrote to stderr: $(cat "$T/err")"
verify 0 --json
eq "json passed" "$("$JGET" "$T/out" passed)" 7
eq "json failed" "$("$JGET" "$T/out" failed)" 0
eq "json first probe" "$("$JGET" "$T/out" probes.0.name)" photo-downloads-as-image

echo "== http: a wrong status fails with a clear line, and --on-fail runs with the failures"
verify 1 --set PHOTO=IMG_9999.jpg --on-fail "printf '%s|%s|%s' \"\$HERO_VERIFY_FAILED\" \"\$HERO_VERIFY_FAILED_COUNT\" \"\$HERO_VERIFY_REPORT\" >'$T/onfail'"
expect_grep '^FAIL photo-downloads-as-image .*GET http://localhost/files/root/photos/IMG_9999.jpg: status 404, want 200$' "$T/out"
eq "only that probe fails" "$(grep -c '^FAIL' "$T/out")" 1
expect_grep 'verify: 1 of 7 probes failed' "$T/err"
expect_grep '^photo-downloads-as-image|1|photo-downloads-as-image: GET .*status 404' "$T/onfail"

echo "== jsonrpc: the same result for two contexts (a routing bug) fails"
"$SVC" --root "$R" --socket "$T/bug.sock" --ignore-context &
bug=$!
at_exit "kill $bug 2>/dev/null"
wait_for 10 '[ -S "$T/bug.sock" ]'
verify 1 --set HERO_SOCKET="$T/bug.sock" --only contexts-route-apart
eq "lines with --only" "$(wc -l <"$T/out")" 1
line contexts-route-apart >/dev/null
expect_grep "^FAIL contexts-route-apart .*objects.list: contexts 'root' and 'geomind' returned the same result$" "$T/out"

echo "== jsonrpc: an empty list fails"
sqlite3 "$R/var/hero_biz/biz.db" "DELETE FROM customers WHERE context = 'root'"
verify 1 --only business-records
expect_grep '^FAIL business-records .*biz.customers (context root): empty result$' "$T/out"

echo "== sqlite: a query without rows fails"
sqlite3 "$R/var/hero_osis/root/objects.db" "DELETE FROM objects"
verify 1 --only objects-database
expect_grep '^FAIL objects-database .*0 rows, want at least 1$' "$T/out"

echo "== file: missing files fail"
rm "$R"/var/hero_foundry/files/root/photos/*.jpg
verify 1 --only photos-are-jpeg
expect_grep "^FAIL photos-are-jpeg .*0 files match '$R/var/hero_foundry/files/root/photos/\*.jpg', want at least 1$" "$T/out"

echo "== http and services: a service that is down fails"
"$US" --lines 1 "$T/z.sock" '{"jsonrpc":"2.0","id":1,"method":"service_stop","params":["hero_sample"]}\n' >/dev/null
wait_for 10 '[ "$("$JGET" "$T/state.json" services.hero_sample.pid)" = 0 ]'
verify 1 --only services-healthy --only ui-navigation
expect_grep '^FAIL services-healthy .*1 of 2 services failing: hero_sample Error(Signaled(Pid([0-9]*), SIGTERM, false))$' "$T/out"
expect_grep "^FAIL ui-navigation .*cannot reach $SOCK: " "$T/out"

echo "== started again, then hung (SIGSTOP): probes time out, the health check fails"
"$US" --lines 1 "$T/z.sock" '{"jsonrpc":"2.0","id":1,"method":"service_start","params":["hero_sample"]}\n' >/dev/null
wait_for 10 '[ "$("$JGET" "$T/state.json" services.hero_sample.state)" = Running ]'
verify 0 --only services-healthy --only ui-navigation
cat >"$T/panel.yaml" <<EOF
defaults: {timeout: 2s}
probes:
  - name: three-lines
    kind: command
    run: test -S $SOCK
  - name: exits-3
    kind: command
    run: echo checking; exit 3
  - name: hangs
    kind: command
    run: sleep 30
    timeout: 300ms
  - name: stalled-service
    kind: http
    socket: $SOCK
    path: /health
    timeout: 300ms
  - name: hung-health
    kind: services
    supervisor: unix:$T/z.sock
    timeout: 500ms
EOF
spid=$("$JGET" "$T/state.json" services.hero_sample.pid)
kill -STOP -- "-$spid"
at_exit "kill -CONT -- -$spid 2>/dev/null"
start=$(date +%s%N)
expect_code 1 hero-migrate verify --probes "$T/panel.yaml"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
kill -CONT -- "-$spid"
expect_grep '^ok  *three-lines .*exit 0$' "$T/out"
expect_grep '^FAIL exits-3 .*exit 3, want 0: checking$' "$T/out"
expect_grep '^FAIL hangs  *[0-9]* ms  timed out after 300 ms$' "$T/out"
expect_grep "^FAIL stalled-service .*cannot reach $SOCK: .*timed out" "$T/out"
expect_grep '^FAIL hung-health .*1 of 2 services failing: hero_sample health unreachable: .*timed out' "$T/out"
[ "$elapsed" -lt 5000 ] || fail "timeouts were not enforced: the panel took $elapsed ms"

echo "== services: a declared JSON-RPC health check (hero_proc's health: {rpc: ...}) is called"
mkdir "$T/cfg3"
printf 'exec: %s --root %s --socket %s\nhealth: {rpc: server.health, socket: %s}\n' \
	"$SVC" "$R" "$T/h.sock" "$T/h.sock" >"$T/cfg3/good.yaml"
printf 'exec: sleep 600\nhealth: {rpc: no.such.method, socket: %s}\n' "$T/h.sock" >"$T/cfg3/bad.yaml"
"$SIM" --socket "$T/z3.sock" --config "$T/cfg3" --state "$T/state3.json" &
sim3=$!
at_exit "kill $sim3 2>/dev/null; wait $sim3 2>/dev/null"
wait_for 10 '[ -S "$T/h.sock" ] && [ "$("$JGET" "$T/state3.json" services.bad.state)" = Running ]'
printf 'probes:\n  - {name: rpc-health, kind: services, supervisor: "unix:%s"}\n' "$T/z3.sock" >"$T/p3.yaml"
expect_code 1 hero-migrate verify --probes "$T/p3.yaml"
expect_grep '^FAIL rpc-health .*1 of 2 services failing: bad health no.such.method returned an error$' "$T/out"
rm "$T/cfg3/bad.yaml"
"$US" --lines 1 "$T/z3.sock" '{"jsonrpc":"2.0","id":1,"method":"service_stop","params":["bad"]}\n' >/dev/null
wait_for 10 '[ "$("$JGET" "$T/state3.json" services.bad.pid)" = 0 ]'
"$US" --lines 1 "$T/z3.sock" '{"jsonrpc":"2.0","id":1,"method":"service_forget","params":["bad"]}\n' >/dev/null
expect_code 0 hero-migrate verify --probes "$T/p3.yaml"
expect_grep '^ok  *rpc-health .*1 service up, 1 health check passed$' "$T/out"

echo "== a malformed panel is refused (exit 2) naming the probe"
printf 'probes:\n  - name: p1\n    kind: telnet\n' >"$T/bad1.yaml"
expect_code 2 hero-migrate verify --probes "$T/bad1.yaml"
expect_grep "probe 'p1': kind must be one of" "$T/err"
printf 'probes:\n  - name: p2\n    kind: file\n    path: ${NOT_SET_ANYWHERE}/x\n' >"$T/bad2.yaml"
expect_code 2 hero-migrate verify --probes "$T/bad2.yaml"
expect_grep "probe 'p2'.*undefined variable 'NOT_SET_ANYWHERE'" "$T/err"
printf 'probes:\n  - name: p3\n    kind: sqlite\n    path: /x.db\n    querry: SELECT 1\n' >"$T/bad3.yaml"
expect_code 2 hero-migrate verify --probes "$T/bad3.yaml"
expect_grep "probe 'p3': unknown key 'querry' for kind sqlite" "$T/err"
expect_code 2 hero-migrate verify --probes "$PANEL" --only no-such-probe
expect_code 2 hero-migrate verify
echo "ok"
