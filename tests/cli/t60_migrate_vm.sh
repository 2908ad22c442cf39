#!/bin/bash
# hero-migrate run: a context moves from a local source instance to a new VM of the
# ComputeService simulator (a real sshd on loopback), provision to cutover; the
# verify panel passes on the target; credentials stay where they belong; the
# simulator survives a restart; the stub methods are refused as on TFGrid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

echo "== a source instance, the simulator, a key pair, a bootstrap script and a panel"
make_source 7
start_compute
write_bootstrap
write_panel

echo "== plan: every stage and what it will do, nothing created"
expect_code 0 hero-migrate plan $(vm_args)
eq "plan lines" "$(wc -l <"$T/out")" 11
for s in provision wait gateway bootstrap snapshot transfer restore reconcile verify cutover cleanup; do
	expect_grep "^$s " "$T/out"
done
expect_grep "^provision  *deploy_vm 'hero-geomind' (1 slice(s), https://hub.grid.tf/" "$T/out"
expect_grep "^transfer  *hero-snap --context geomind -o - | hero-restore --context geomind - on the new VM" "$T/out"
expect_no_grep skipped "$T/out"
eq "VMs after plan" "$(vms)" 0
[ ! -e "$J" ] || fail "plan created a journal"

echo "== run: provision to cleanup"
expect_code 0 hero-migrate run $(vm_args)
job=$(job_of "$T/out")
[ -n "$job" ] || fail "no job id printed"
expect_grep "provision: done" "$T/err"
expect_grep "cutover: done" "$T/err"
expect_grep "job: done" "$T/err"

echo "== exactly one VM and one gateway; the gateway now points at the VM"
eq "VMs" "$(vms)" 1
eq "gateways" "$(gws)" 1
ip=$(vm_field mycelium_ip)
eq "VM state" "$(vm_field state)" running
eq "gateway name" "$(gw_field name)" geomind
eq "gateway backend" "$(gw_field backends.0)" "http://$ip:9988"
eq "gateway FQDN" "$(gw_field fqdn)" geomind.gw1.sim.grid.tf

echo "== status: every stage done, outputs journaled, no secret"
expect_code 0 hero-migrate status "$job"
expect_grep "^state    done$" "$T/out"
for s in provision wait gateway bootstrap snapshot transfer restore reconcile cutover cleanup; do
	expect_grep "^$s  *done  *1 " "$T/out"
done
expect_grep "^verify  *done  *[1-3] " "$T/out" # a retry while the services start is fine
expect_grep "vm_id=vm-1" "$T/out"
expect_grep "mycelium_ip=$ip" "$T/out"
expect_grep "fqdn=geomind.gw1.sim.grid.tf" "$T/out"
expect_grep "passed=6 failed=0" "$T/out"
secret=$(vm_field secret)
[ ${#secret} = 64 ] || fail "the VM secret is not 32 bytes of hex: '$secret'"
eq "secret in the journal" "$(sqlite3 "$J" "SELECT value FROM secrets WHERE job = '$job'")" "$secret"
expect_no_grep "$secret" "$T/out"
expect_code 0 hero-migrate status --json "$job"
expect_no_grep "$secret" "$T/out"
eq "json state" "$("$JGET" "$T/out" state)" done
eq "json archive" "$("$JGET" "$T/out" stages.5.outputs.archive_id)" "$("$JGET" "$T/out" stages.6.outputs.archive_id)"
expect_code 0 hero-migrate status
expect_grep "^$job  *done  *geomind  *vm hero-geomind" "$T/out"
expect_no_grep "$secret" "$T/out"
grep -q "$secret" "$T/state/$job/log" && fail "the secret is in the job log"

echo "== the journal is its owner's only; no private key is stored anywhere"
eq "journal mode" "$(stat -c %a "$J")" 600
eq "journal directory mode" "$(stat -c %a "$T/state")" 700
eq "job directory mode" "$(stat -c %a "$T/state/$job")" 700
priv=$(sed -n 2p "$T/id")
for f in "$J" "$T/state/$job/log" "$T/state/$job/known_hosts" "$CSTATE"; do
	grep -qF -- "$priv" "$f" && fail "private key material in $f"
done
sqlite3 "$J" "SELECT spec FROM jobs" | matches -- "$T/id\"" && fail "the identity path is stored in the spec"
cmp -s "$T/id.pub" "$(vm_field dir)/authorized_keys" || fail "the VM's authorized_keys are not exactly the given key"
ssh-keygen -F "[$ip]:$SSH_PORT" -f "$T/state/$job/known_hosts" | matches "ssh-ed25519 $(cut -d" " -f2 "$(vm_field dir)/ssh_host_ed25519_key.pub")" || fail "the VM's host key is not pinned in the job's known_hosts"

echo "== the context arrived whole on the VM, and the source still has it"
R=$(vm_root)
for db in var/hero_osis/geomind/objects.db var/hero_books/geomind/books.db; do
	same_dump "$db differs on the VM" "$SRC/$db" "$R/$db"
done
eq "customers of geomind on the VM" "$(sqlite3 "$R/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'geomind'")" \
	"$(sqlite3 "$SRC/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'geomind'")"
[ -e "$R/var/hero_osis/root" ] && fail "another context was moved"
[ -d "$SRC/var/hero_osis/geomind" ] || fail "the source lost the context without --delete-source"
eq "moved mark" "$("$JGET" "$SRC/.hero/moved/geomind" job)" "$job"
eq "trusted key on the VM" "$(ls "$(vm_field dir)/fs/etc/hero/trusted-keys.d")" "hero-migrate-$(sed -n '1s/.* //p' "$KEYS/test.pub").pub"
grep -q '^export OSIS_MASTER_KEY=' "$R/cfg/env/env.sh" || fail "secrets were not provisioned on the VM"
eq "secrets file mode" "$(stat -c %a "$R/cfg/env/env.sh")" 600
[ ! -e "$R/.hero/migrate/$job" ] || fail "cleanup left the work directory on the VM"

echo "== the verify panel passes on the target, run there over ssh"
ssh_vm() { ssh -T -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/id" -o UserKnownHostsFile="$T/state/$job/known_hosts" \
	-o StrictHostKeyChecking=yes -o LogLevel=ERROR -p "$SSH_PORT" "root@$ip" "$@"; }
ssh_vm "cat >/tmp/hero-t60-panel.$$.yaml && hero-migrate verify --probes /tmp/hero-t60-panel.$$.yaml --set HERO_CONTEXT=geomind; rc=\$?; rm -f /tmp/hero-t60-panel.$$.yaml; exit \$rc" \
	<"$T/panel.yaml" >"$T/verify.out" 2>&1 || { cat "$T/verify.out"; fail "the panel fails on the VM"; }
eq "probes passing on the VM" "$(grep -c '^ok ' "$T/verify.out")" 6

echo "== resume of a finished job does nothing; run of the same context again is a new job"
expect_code 0 hero-migrate resume "$job" --ssh-identity "$T/id"
eq "VMs after resume" "$(vms)" 1

echo "== an existing instance over ssh (the same VM): provision and gateway are skipped"
expect_code 0 hero-migrate run --context root --root "$SRC" -s "$KEYS/test.key" -p "$KEYS/test.pub" \
	--probes "$T/panel.yaml" --target-ssh "$ip" --ssh-port "$SSH_PORT" --ssh-identity "$T/id" --backoff-ms 50 --poll-ms 20
job2=$(job_of "$T/out")
expect_code 0 hero-migrate status "$job2"
expect_grep "^target   ssh $ip$" "$T/out"
expect_grep "^provision  *skipped " "$T/out"
expect_grep "^gateway  *skipped " "$T/out"
expect_grep "^wait  *done  *1 .*ssh_probes=1" "$T/out"
expect_grep "^verify  *done .*passed=6 failed=0" "$T/out"
eq "VMs" "$(vms)" 1
eq "gateways" "$(gws)" 1
same_dump "root differs on the VM" "$SRC/var/hero_osis/root/objects.db" "$R/var/hero_osis/root/objects.db"

echo "== the simulator restarts (kill -9) and loses nothing; a VM whose sshd died gets it back"
stop_compute
kill "$(vm_field sshd_pid)"
wait_for 15 '! kill -0 "$(vm_field sshd_pid)" 2>/dev/null'
start_compute
wait_for 15 '[ "$(rpc ComputeService.list_vms {} | "$JGET" - result.length)" = 1 ]'
eq "VM after restart" "$(rpc ComputeService.get_vm '{"id":"vm-1"}' | "$JGET" - result.mycelium_ip)" "$ip"
eq "gateway after restart" "$(rpc ComputeService.list_webgateways {} | "$JGET" - result.0.fqdn)" geomind.gw1.sim.grid.tf
ssh_vm true || fail "the VM's sshd did not come back after the restart"

echo "== the stub methods fail as on TFGrid"
for m in start_vm stop_vm restart_vm inject_ssh_keys vm_exec vm_stats; do
	rpc "ComputeService.$m" '{"id":"vm-1"}' >"$T/stub.json"
	eq "$m error" "$("$JGET" "$T/stub.json" error.code)" -32000
	grep -q 'not supported on TFGrid' "$T/stub.json" || fail "$m: $(cat "$T/stub.json")"
done

echo "== deleting with a wrong secret is refused; abort (--force after cutover) deletes VM and gateway"
rpc ComputeService.delete_vm '{"id":"vm-1","secret":"0000000000000000000000"}' >"$T/del.json"
grep -q 'secret does not match' "$T/del.json" || fail "a wrong secret deleted the VM: $(cat "$T/del.json")"
expect_code 2 hero-migrate abort "$job"
expect_grep "cutover of job '$job' has started" "$T/err"
expect_code 0 hero-migrate abort --force "$job"
eq "VMs after abort" "$(vms)" 0
eq "gateways after abort" "$(gws)" 0
[ ! -e "$SRC/.hero/moved/geomind" ] || fail "abort left the moved mark: the source serves geomind again"
eq "deleting a deleted VM again is not an error" \
	"$(rpc ComputeService.delete_vm '{"id":"vm-1","secret":"whatever-whatever-whatever"}' | "$JGET" - result.deleted)" true
eq "secrets after abort" "$(sqlite3 "$J" "SELECT count(*) FROM secrets")" 0
expect_code 0 hero-migrate status "$job"
expect_grep "^state    aborted$" "$T/out"
expect_code 2 hero-migrate resume "$job"
expect_grep "was aborted" "$T/err"
echo ok
