#!/bin/bash
# kill -9 of hero-migrate in every stage in turn (just after the stage is journaled as
# running, and just after its work, before it is journaled as done), then `resume`:
# the job completes every time, finished stages are not run again, and the simulator
# holds exactly one VM and one gateway. Also: a deploy_vm whose reply is lost, and a
# restart of the simulator in the middle of a job.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

make_source 11
start_compute --slices 64 --provision-ms 50 --ip-ms 30 --gateway-ms 30 --delete-ms 30
write_bootstrap
write_panel

# check_one JOB: one VM, one gateway to it, every stage done, and only STAGE ($2) ran twice
check_one() {
	local job=$1 killed=$2 s n
	eq "VMs after resume ($killed)" "$(vms)" 1
	eq "gateways after resume ($killed)" "$(gws)" 1
	eq "gateway backend ($killed)" "$(gw_field backends.0)" "http://$(vm_field mycelium_ip):9988"
	eq "VM name ($killed)" "$(vm_field name)" hero-geomind
	hero-migrate status --json "$job" >"$T/st.json" || fail "status $job"
	eq "job state ($killed)" "$("$JGET" "$T/st.json" state)" done
	local after=0
	for s in "${STAGES[@]}"; do
		n=$("$JGET" "$T/st.json" "stages.$(stage_idx "$s").attempts")
		eq "$s state ($killed)" "$("$JGET" "$T/st.json" "stages.$(stage_idx "$s").state")" done
		if [ "$s" = "$killed" ]; then
			[ "$n" -ge 2 ] || fail "the killed stage $s was not run again ($n attempts)"
			[ "$s" = verify ] || eq "attempts of the killed stage $s" "$n" 2
			after=1
		elif [ $after = 0 ]; then
			eq "attempts of $s, finished before the kill in $killed" "$n" 1
		else
			[ "$n" -ge 1 ] || fail "$s never ran after the kill in $killed"
		fi
	done
}

trials=0
start=$(date +%s)
echo "== one job per stage: kill -9 in it, resume to completion, then abort"
for i in "${!STAGES[@]}"; do
	stage=${STAGES[$i]}
	when=$([ $((i % 2)) = 0 ] && echo before || echo after)
	echo "-- kill -9 at $stage:$when, then resume"
	HERO_MIGRATE_KILL_AT=$stage:$when expect_code 137 hero-migrate run $(vm_args)
	job=$(job_of "$T/out")
	[ -n "$job" ] || fail "no job id"
	eq "journal of $stage at the kill" "$(stage_field "$job" "$stage" state)" running
	[ "$(vms)" -le 1 ] || fail "more than one VM after the kill at $stage:$when"
	expect_code 0 hero-migrate resume "$job" --ssh-identity "$T/id"
	check_one "$job" "$stage"
	expect_code 0 hero-migrate abort --force "$job"
	eq "VMs after abort" "$(vms)" 0
	eq "gateways after abort" "$(gws)" 0
	trials=$((trials + 1))
done

echo "== one job killed at every point in turn (22 kills), resumed after each"
expect_code 137 env HERO_MIGRATE_KILL_AT=provision:before hero-migrate run $(vm_args)
job=$(job_of "$T/out")
for stage in "${STAGES[@]}"; do
	for when in before after; do
		[ "$stage:$when" = provision:before ] && continue
		HERO_MIGRATE_KILL_AT=$stage:$when expect_code 137 hero-migrate resume "$job" --ssh-identity "$T/id"
		eq "journal of $stage at the kill" "$(stage_field "$job" "$stage" state)" running
		[ "$(vms)" -le 1 ] && [ "$(gws)" -le 1 ] || fail "more than one VM or gateway after the kill at $stage:$when"
		trials=$((trials + 1))
	done
done
expect_code 0 hero-migrate resume "$job" --ssh-identity "$T/id"
eq "VMs" "$(vms)" 1
eq "gateways" "$(gws)" 1
eq "job state" "$(hero-migrate status --json "$job" | "$JGET" - state)" done
for s in "${STAGES[@]}"; do
	n=$(stage_field "$job" "$s" attempts)
	if [ "$s" = verify ]; then [ "$n" -ge 3 ] || fail "verify ran $n times"; else eq "attempts of $s (killed before and after)" "$n" 3; fi
done
expect_code 0 hero-migrate abort --force "$job"
eq "VMs after abort" "$(vms)" 0
echo "kill -9 trials: $((trials + 1)), all resumed to completion ($(( $(date +%s) - start )) s)"
eq "trials" "$((trials + 1))" 33

echo "== the reply of deploy_vm is lost (the VM was created): the retry adopts it"
eq "fault armed" "$(rpc sim.fault '{"drop":1,"drop_method":"ComputeService.deploy_vm"}' | "$JGET" - result.drop)" 1
expect_code 0 hero-migrate run $(vm_args)
job=$(job_of "$T/out")
expect_grep "provision: attempt 1 failed: ComputeService.deploy_vm: cannot reach" "$T/err"
eq "provision attempts" "$(stage_field "$job" provision attempts)" 2
eq "adopted" "$(stage_field "$job" provision outputs.adopted)" true
eq "VMs" "$(vms)" 1
eq "gateways" "$(gws)" 1
expect_code 0 hero-migrate abort --force "$job"
rpc sim.fault '{"drop_method":null}' >/dev/null

echo "== the simulator restarts (kill -9) while the job waits for the VM: nothing is lost"
stop_compute
start_compute --slices 64 --provision-ms 1500
hero-migrate run $(vm_args) >"$T/run.out" 2>"$T/run.err" &
run=$!
wait_for 15 '[ -n "$(job_of "$T/run.out")" ] && [ "$(stage_field "$(job_of "$T/run.out")" wait state)" = running ]'
stop_compute
sleep 0.3 # the simulator stays down a while: the outage is what the job must live through
start_compute --slices 64 --provision-ms 1500
wait "$run" || { cat "$T/run.err" >&2; fail "the job failed across the simulator restart"; }
job=$(job_of "$T/run.out")
eq "wait attempts across the restart" "$(stage_field "$job" wait attempts)" 1
eq "VMs" "$(vms)" 1
eq "gateways" "$(gws)" 1
expect_code 0 hero-migrate abort --force "$job"
eq "VMs after abort" "$(vms)" 0
echo ok
