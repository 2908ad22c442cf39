#!/bin/bash
# Failures stop a migration before cutover with the source still serving and the error
# in `status`, and `abort` removes what the job created: a deploy that ends in error, an
# ssh connection that drops during the transfer, a probe that fails on the target. A
# transfer retried after a drop starts clean. A gateway that existed before the job is
# adopted, never deleted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

make_source 13
start_compute
write_bootstrap
write_panel

echo "== the source serves geomind (the sample service on its socket)"
SSOCK=$T/source.sock
"$HERO_BUILD/tests/hero-sample-service" --root "$SRC" --socket "$SSOCK" &
svc=$!
at_exit "kill $svc 2>/dev/null"
wait_for 15 '[ -S "$SSOCK" ]'
cat >"$T/source-panel.yaml" <<EOF
probes:
  - {name: source-objects, kind: jsonrpc, socket: "$SSOCK", call: objects.list, context: geomind, min_items: 1}
  - {name: source-database, kind: sqlite, path: "$SRC/var/hero_osis/geomind/objects.db", query: SELECT id FROM objects}
EOF
dump0=$(sqlite3 -readonly "$SRC/var/hero_osis/geomind/objects.db" .dump | sha256sum)
# source_serving: the source still answers for geomind, unchanged and not marked as moved
source_serving() {
	expect_code 0 hero-migrate verify --probes "$T/source-panel.yaml"
	eq "source data" "$(sqlite3 -readonly "$SRC/var/hero_osis/geomind/objects.db" .dump | sha256sum)" "$dump0"
	[ ! -e "$SRC/.hero/moved/geomind" ] || fail "the source was marked as moved before cutover"
}
# failed_before_cutover JOB STAGE: the job failed in STAGE, cutover never started
failed_before_cutover() {
	expect_code 0 hero-migrate status "$1"
	expect_grep "^state    failed$" "$T/out"
	expect_grep "^error    $2: " "$T/out"
	expect_grep "^$2  *failed " "$T/out"
	expect_grep "^cutover  *pending  *0 " "$T/out"
	cp "$T/out" "$T/status.txt"
}
abort_all() {
	expect_code 0 hero-migrate abort "$1"
	expect_grep "abort: job aborted" "$T/err"
	eq "VMs after abort" "$(vms)" 0
	eq "secrets after abort" "$(sqlite3 "$J" "SELECT count(*) FROM secrets WHERE job = '$1'")" 0
	expect_code 0 hero-migrate abort "$1" # again: nothing left to do
}

echo "== a deploy that ends in error: wait fails at once (not retried), before cutover"
eq "fault armed" "$(rpc sim.fault '{"deploy_error":1}' | "$JGET" - result.deploy_error)" 1
expect_code 1 hero-migrate run $(vm_args)
job=$(job_of "$T/out")
expect_grep "wait: VM 'vm-1' ended in state error: deployment failed" "$T/err"
failed_before_cutover "$job" wait
expect_grep "^wait  *failed  *1 .*ended in state error" "$T/status.txt"
grep -q "wait: vm_logs| .*error: deployment failed" "$T/state/$job/log" || fail "the VM's log (vm_logs) is not in the job's log"
eq "the VM in error" "$(vm_field state)" error
eq "gateways" "$(gws)" 0
source_serving
abort_all "$job"

echo "== an ssh drop during the transfer, on every attempt: the target keeps nothing"
HERO_MIGRATE_FAULT=transfer-drop:65536 expect_code 1 hero-migrate run $(vm_args) --attempts 2
job=$(job_of "$T/out")
expect_grep "transfer: attempt 1 failed: ssh to root@.* failed after" "$T/err"
failed_before_cutover "$job" transfer
expect_grep "^transfer  *failed  *2 .*error: ssh to root@127.0.0.[0-9]*:$SSH_PORT failed after [0-9]* bytes" "$T/status.txt"
eq "gateway still to the source" "$(gw_field backends.0)" http://10.1.1.1:9988
R=$(vm_root)
[ -e "$R/var/hero_osis/geomind" ] && fail "a dropped transfer left data on the target"
[ -e "$R/.hero/restore.log" ] && fail "a dropped transfer was recorded as a restore"
source_serving
expect_code 0 hero-migrate abort "$job"
eq "VMs after abort" "$(vms)" 0
eq "gateways after abort (created by the job)" "$(gws)" 0

echo "== an ssh drop on the first attempt only: the retry starts clean and the job completes"
HERO_MIGRATE_FAULT=transfer-drop:65536:1 expect_code 0 hero-migrate run $(vm_args)
job=$(job_of "$T/out")
expect_grep "transfer: attempt 1 failed: ssh to root@.* failed after" "$T/err"
eq "transfer attempts" "$(stage_field "$job" transfer attempts)" 2
eq "restores recorded on the target" "$(grep -c 'restore of archive' "$(vm_root)/.hero/restore.log")" 1
eq "the archive restored is the one of the retry" "$(sed -n 's/.*restore of archive //p' "$(vm_root)/.hero/restore.log")" \
	"$(stage_field "$job" transfer outputs.archive_id)"
eq "VMs" "$(vms)" 1
expect_code 0 hero-migrate abort --force "$job"
[ ! -e "$SRC/.hero/moved/geomind" ] || fail "abort --force left the moved mark"

echo "== a failing probe: verify fails after its attempts; an adopted gateway is left alone"
rpc ComputeService.deploy_webgateway '{"name":"tenant","kind":"name","backends":["http://10.9.9.9:9988"]}' >/dev/null
wait_for 15 '[ "$(gw_field state)" = ready ]'
cp "$T/panel.yaml" "$T/bad-panel.yaml"
cat >>"$T/bad-panel.yaml" <<'EOF'
  - name: must-fail
    kind: file
    path: ${HERO_ROOT}/var/hero_osis/${HERO_CONTEXT}/no-such.db
EOF
expect_code 1 hero-migrate run $(vm_args) --gateway tenant --probes "$T/bad-panel.yaml" --attempts 2
job=$(job_of "$T/out")
failed_before_cutover "$job" verify
expect_grep "^verify  *failed  *2 .*passed=6 failed=1 error: 1 of 7 probes failed: must-fail: '.*/no-such.db' does not exist" "$T/status.txt"
expect_grep "^gateway  *done .*created=no" "$T/status.txt"
eq "gateway still to the source" "$(gw_field backends.0)" http://10.9.9.9:9988
source_serving
abort_all "$job"
eq "the adopted gateway survives abort" "$(gws)" 1
eq "its backend" "$(gw_field backends.0)" http://10.9.9.9:9988

echo "== the adopted gateway follows the tenant at cutover, and abort --force puts it back"
expect_code 0 hero-migrate run $(vm_args) --gateway tenant
job=$(job_of "$T/out")
eq "gateway to the VM" "$(gw_field backends.0)" "http://$(vm_field mycelium_ip):9988"
eq "one gateway" "$(gws)" 1
expect_code 0 hero-migrate abort --force "$job"
expect_grep "abort: job aborted" "$T/err"
eq "VMs after abort" "$(vms)" 0
eq "the adopted gateway is back" "$(gws)" 1
eq "its backend, as before the job" "$(gw_field backends.0)" http://10.9.9.9:9988
eq "its name" "$(gw_field name)" tenant
echo "== a slow ComputeService: calls that outlast the stage's timeout fail it; resume once it is fast"
rpc sim.fault '{"slow_ms":1500}' >/dev/null
expect_code 1 hero-migrate run $(vm_args) --gateway slowgw --timeout provision=1 --attempts 1
job=$(job_of "$T/out")
expect_grep "provision: failed: ComputeService.list_vms: cannot reach .*[Tt]imeout" "$T/err"
expect_code 0 hero-migrate status "$job"
expect_grep "^provision  *failed  *1 " "$T/out"
rpc sim.fault '{"slow_ms":0}' >/dev/null
expect_code 0 hero-migrate resume "$job" --ssh-identity "$T/id"
eq "VMs" "$(vms)" 1
expect_code 0 hero-migrate abort --force "$job"
eq "VMs after abort" "$(vms)" 0
echo ok
