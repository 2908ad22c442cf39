#!/bin/bash
# The zinit simulator speaks zinit's wire protocols with zinit's shapes (read
# from threefoldtech/zinit src/app/rpc.rs, src/zinit/lifecycle.rs, state.rs):
# framing, states with payloads, restarts, tests, and the error codes.
. "$(dirname "$0")/lib.sh"
SIM=$HERO_BUILD/tests/zinit-sim
JGET=$HERO_BUILD/tests/jget
US=$HERO_BUILD/tests/usock
S=$T/z.sock
mkdir -p "$T/cfg"
# call METHOD PARAMS: one JSON-RPC exchange, the reply in $T/r
call() {
	"$US" --lines 1 "$S" "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"$1\",\"params\":$2}\n" >"$T/r"
	[ -s "$T/r" ] || fail "no reply to $1"
}
code() { "$JGET" "$T/r" error.code; }

cat >"$T/cfg/up.yaml" <<'EOF'
exec: sleep 600
EOF
cat >"$T/cfg/fails.yaml" <<'EOF'
exec: sh -c 'echo to-stdout; echo to-stderr >&2; exit 3'
oneshot: true
EOF
cat >"$T/cfg/flaps.yaml" <<'EOF'
exec: sh -c 'exit 1'
EOF
cat >"$T/cfg/waits.yaml" <<'EOF'
exec: sleep 600
after: [missing]
EOF
cat >"$T/cfg/untested.yaml" <<'EOF'
exec: sleep 600
test: "false"
EOF
cat >"$T/cfg/notest.yaml" <<'EOF'
exec: sleep 600
test: /nonexistent/probe
EOF
cat >"$T/cfg/noprog.yaml" <<'EOF'
exec: /nonexistent/daemon --flag
EOF
"$SIM" --socket "$S" --config "$T/cfg" --state "$T/state.json" --restart-delay-ms 100 --test-interval-ms 50 &
pid=$!
at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for 5 '[ -S "$S" ]'

echo "== states, by prefix, with their payloads"
wait_state up '^Running$'
wait_state fails '^Error\(Exited\(Pid\([0-9]+\), 3\)\)$'
wait_state waits '^Blocked$'
wait_state untested '^Spawned$'
wait_state notest '^TestFailure$'
wait_state noprog '^Failure$'
wait_state flaps '^Error\(Exited\(Pid\([0-9]+\), 1\)\)$'
wait_for 5 '[ "$(st flaps spawns)" -ge 3 ] 2>/dev/null' # a non-oneshot service is restarted after it exits
eq "oneshot is not restarted" "$(st fails spawns)" 1

echo "== service_status shape"
call service_status '["up"]'
eq jsonrpc "$("$JGET" "$T/r" jsonrpc)" 2.0
eq id "$("$JGET" "$T/r" id)" 7
eq keys "$(grep -o '"result":{"name":"up","pid":[0-9]*,"state":"Running","target":"Up","after":{}}' "$T/r" | wc -l)" 1
call service_status '{"name":"waits"}'
eq "after map" "$("$JGET" "$T/r" result.after.missing)" Unknown
call service_list '[]'
eq "list" "$("$JGET" "$T/r" result.up)" Running

echo "== framing: concatenated requests on one connection, newline-terminated compact replies, batches"
"$US" --lines 2 "$S" '{"jsonrpc":"2.0","id":1,"method":"service_list"}  {"jsonrpc":"2.0","id":2,"method":"service_status","params":["up"]}' >"$T/r2"
eq "two replies" "$(wc -l <"$T/r2")" 2
eq "first id" "$(sed -n 1p "$T/r2" | "$JGET" - id)" 1
eq "second id" "$(sed -n 2p "$T/r2" | "$JGET" - id)" 2
"$US" --lines 1 "$S" '[{"jsonrpc":"2.0","id":3,"method":"service_list"},{"jsonrpc":"2.0","id":4,"method":"nope"}]\n' >"$T/r3"
eq "batch size" "$("$JGET" "$T/r3" length)" 2
eq "batch error" "$("$JGET" "$T/r3" 1.error.code)" -32601
"$US" --lines 1 "$S" 'list\n' >"$T/r4"
eq "a raw line gets a parse error" "$("$JGET" "$T/r4" error.code)" -32700
eq "with a null id" "$("$JGET" "$T/r4" id)" null
call rpc.discover '[]'
"$JGET" "$T/r" result | "$JGET" - info.title >"$T/title"
eq "rpc.discover returns the document as a string" "$(cat "$T/title")" "Zinit JSON-RPC API"

echo "== error codes and data"
call service_status '["ghost"]'
eq "not found" "$(code)" -32000
eq "message" "$("$JGET" "$T/r" error.message)" "getting status: service 'ghost' not found"
eq "code_name" "$("$JGET" "$T/r" error.data.code_name)" ServiceNotFound
call service_monitor '["up"]'
eq "already monitored" "$(code)" -32001
eq "retryable" "$("$JGET" "$T/r" error.data.retryable)" true
call service_forget '["up"]'
eq "forget while up" "$(code)" -32002
call service_kill '["up","SIGNOPE"]'
eq "invalid signal" "$(code)" -32004
printf 'exec: ""\n' >"$T/cfg/broken.yaml"
call service_monitor '["broken"]'
eq "config error" "$(code)" -32005
call service_create '["up",{"exec":"true"}]'
eq "already exists" "$(code)" -32007
for bad in 'a.b' 'a/b' 'a\\\\b'; do
	call service_get "[\"$bad\"]"
	eq "name '$bad'" "$(code)" -32602
done
call service_nonesuch '[]'
eq "unknown method" "$(code)" -32601

echo "== create, get, monitor, stop, kill, forget, delete"
call service_create '["made",{"exec":"sleep 600","env":{"PORT":"8080"},"oneshot":false}]'
eq "create result" "$("$JGET" "$T/r" result)" "Service 'made' created successfully"
call service_get '["made"]'
eq "get env" "$("$JGET" "$T/r" result.env.PORT)" 8080
call service_monitor '["made"]'
wait_state made '^Running$'
mpid=$(st made pid)
call service_stop '["made"]'
wait_state made '^Error\(Signaled\(Pid\('"$mpid"'\), SIGTERM, false\)\)$'
eq "target after stop" "$(st made target)" Down
eq "pid after stop" "$(st made pid)" 0
call service_kill '["made","SIGTERM"]'
eq "kill a stopped service" "$(code)" -32003
call service_forget '["made"]'
eq "forget" "$("$JGET" "$T/r" result)" null
call service_delete '["made"]'
eq "delete result" "$("$JGET" "$T/r" result)" "Service 'made' deleted successfully"
[ ! -e "$T/cfg/made.yaml" ] || fail "service_delete left the file"
call stream_currentLogs '["fails"]'
"$JGET" "$T/r" result >"$T/logs"
expect_grep '\[+\] fails: to-stdout' "$T/logs"
expect_grep '\[-\] fails: to-stderr' "$T/logs"

echo "== the line protocol of zinit v0.2.14"
kill "$pid"
wait "$pid" 2>/dev/null
"$SIM" --socket "$S" --config "$T/cfg" --line-protocol --restart-delay-ms 100 &
pid=$!
at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for 5 '[ -S "$S" ]'
"$US" "$S" 'status ghost\n' >"$T/l1"
eq "unknown service" "$(cat "$T/l1")" '{"state":"error","body":"service name \"ghost\" unknown"}'
"$US" "$S" 'list\n' >"$T/l2"
eq "list" "$("$JGET" "$T/l2" state)" ok
[ "$(tail -c 1 "$T/l2" | od -An -c | tr -d ' ')" = '}' ] || fail "a line-protocol reply must not end in a newline"
"$US" "$S" '{"jsonrpc":"2.0","id":1,"method":"service_list"}\n' >"$T/l3"
expect_grep '"state":"error","body":"unknown command' "$T/l3"
echo "ok"
