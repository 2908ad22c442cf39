# Helpers for the migration scenarios (t6*.sh): a source instance, the ComputeService
# simulator with sshd-backed VMs, an ssh key pair, a bootstrap script and probe panels.
# Source lib.sh first.
SIM=$HERO_BUILD/tests/compute-sim
JGET=$HERO_BUILD/tests/jget
SRC=$T/src
J=$T/state/journal.db
CS=$T/compute.sock
CSTATE=$T/compute.json
# each run its own port: scenarios of concurrent test runs never share a VM address
SSH_PORT=$(shuf -i 20000-39999 -n 1)
export HERO_MIGRATE_JOURNAL=$J


# make_source [SEED]: a sample instance with contexts root and geomind, and an ssh key pair
make_source() {
	expect_code 0 "$SAMPLE" --root "$SRC" --size 1M --contexts root,geomind --seed "${1:-7}"
	ssh-keygen -q -t ed25519 -N '' -C hero-migrate-test -f "$T/id" || fail "ssh-keygen failed"
}

# start_compute [ARGS...]: the simulator until the scenario ends (VMs stopped at exit)
start_compute() {
	"$SIM" --socket "$CS" --state "$CSTATE" --dir "$T/vms" --ssh-port "$SSH_PORT" --slices 4 --provision-ms 100 --ip-ms 80 \
		--gateway-ms 80 --delete-ms 80 "$@" 2>>"$T/compute.err" &
	SIM_PID=$!
	at_exit "kill -9 \$SIM_PID 2>/dev/null; wait \$SIM_PID 2>/dev/null; \"$SIM\" --teardown --state \"$CSTATE\""
	wait_for 15 '[ -S "$CS" ]'
}
stop_compute() { kill -9 "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; rm -f "$CS"; }   # killed: status 137

# rpc METHOD JSON-PARAMS: one JSON-RPC call to the simulator; the reply on stdout
rpc() {
	curl -s --unix-socket "$CS" -H 'Content-Type: application/json' http://localhost/rpc \
		-d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}"
}
vms() { "$JGET" "$CSTATE" vms.length; }
gws() { "$JGET" "$CSTATE" gws.length; }
vm_field() { "$JGET" "$CSTATE" "vms.0.$1"; }
gw_field() { "$JGET" "$CSTATE" "gws.0.$1"; }

# The bootstrap script: installs the toolkit, the manifests and the test services into the
# VM's filesystem and starts its supervisor (zinit-sim) once. Idempotent, as bootstrap must be.
write_bootstrap() {
	cat >"$T/boot.sh" <<EOF
set -e
fs=\$HERO_VM_FS
for t in hero-snap hero-restore hero-inspect hero-migrate; do ln -sf "$HERO_PREFIX/bin/\$t" "\$fs/usr/local/bin/\$t"; done
for t in zinit-sim hero-sample-service; do ln -sf "$HERO_BUILD/tests/\$t" "\$fs/usr/local/bin/\$t"; done
cp -R "$HERO_MANIFESTS/." "\$HERO_MANIFESTS/"
if ! { [ -f "\$fs/run/zinit.pid" ] && kill -0 "\$(cat "\$fs/run/zinit.pid")" 2>/dev/null; }; then
	setsid zinit-sim --socket "\$fs/run/zinit.sock" --config "\$fs/etc/zinit" --restart-delay-ms 100 \
		--test-interval-ms 50 </dev/null >"\$fs/run/zinit.log" 2>&1 &
	echo \$! >"\$fs/run/zinit.pid"
	for i in \$(seq 100); do [ -S "\$fs/run/zinit.sock" ] && break; sleep 0.05; done
fi
echo "bootstrapped for \$HERO_CONTEXT (job \$HERO_MIGRATE_JOB, gateway \$HERO_GATEWAY_FQDN)"
EOF
}

# The migration panel: the moved context's data and the services that serve it.
write_panel() { cp "$HERO_TOP/examples/probes/tenant-panel.yaml" "$T/panel.yaml"; }

# vm_args: the options of a move of geomind to a new simulated VM
vm_args() {
	echo --context geomind --root "$SRC" -s "$KEYS/test.key" -p "$KEYS/test.pub" --probes "$T/panel.yaml" \
		--compute "unix:$CS" --ssh-key "$T/id.pub" --ssh-identity "$T/id" --ssh-port "$SSH_PORT" \
		--gateway geomind --source-backend http://10.1.1.1:9988 --bootstrap "$T/boot.sh" \
		--desired "$HERO_TOP/examples/desired" --attempts 3 --backoff-ms 50 --poll-ms 20 --timeout 30
}

# job_of FILE: the job id printed on the first line of a run's stdout
job_of() { sed -n 's/^job \([0-9a-f]*\)$/\1/p' "$1" | head -1; }
STAGES=(provision wait gateway bootstrap snapshot transfer restore reconcile verify cutover cleanup)
stage_idx() { local i; for i in "${!STAGES[@]}"; do [ "${STAGES[$i]}" = "$1" ] && { echo "$i"; return; }; done; fail "no stage $1"; }
# stage_field JOB STAGE FIELD: a field of a stage in `status --json`
stage_field() {
	hero-migrate status --json "$1" >"$T/st.json" || fail "status $1 failed"
	"$JGET" "$T/st.json" "stages.$(stage_idx "$2").$3" 2>/dev/null || true
}
# the root of the simulated VM
vm_root() { echo "$(vm_field dir)/fs/root/hero"; }
