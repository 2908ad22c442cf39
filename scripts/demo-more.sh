#!/bin/bash
# Sourced by scripts/demo.sh (W, step, run, HERO_BUILD and top are set there):
# a tenant moves from nodeA to a new VM of the ComputeService simulator, whose VMs are
# real sshd servers on loopback, with a zinit simulator on the VM running the services.
M=$W/migrate
mkdir -p "$M"
export HERO_MIGRATE_JOURNAL=$M/journal.db

demo_migrate_stop() {
	[ -n "${demo_sim:-}" ] && kill "$demo_sim" 2>/dev/null && wait "$demo_sim" 2>/dev/null
	"$HERO_BUILD/tests/compute-sim" --teardown --state "$M/compute.json" 2>/dev/null || true
	demo_sim=
}
trap demo_migrate_stop EXIT

step "a tenant moves to a new VM: the ComputeService simulator (each VM a real sshd on 127.0.0.N)"
ssh-keygen -q -t ed25519 -N '' -C demo-migrate -f "$M/id"
"$HERO_BUILD/tests/compute-sim" --socket "$M/compute.sock" --state "$M/compute.json" --dir "$M/vms" \
	--provision-ms 400 --ip-ms 200 --gateway-ms 200 --delete-ms 200 2>"$M/compute.err" &
demo_sim=$!
for _ in $(seq 100); do [ -S "$M/compute.sock" ] && break; sleep 0.05; done

# what the new VM needs: the toolkit, the manifests and a supervisor (zinit simulator)
cat >"$M/bootstrap.sh" <<EOF
set -e
fs=\$HERO_VM_FS
for t in hero-snap hero-restore hero-inspect hero-migrate; do ln -sf "$HERO_BUILD/bin/\$t" "\$fs/usr/local/bin/\$t"; done
for t in zinit-sim hero-sample-service; do ln -sf "$HERO_BUILD/tests/\$t" "\$fs/usr/local/bin/\$t"; done
cp -R "$top/manifests/." "\$HERO_MANIFESTS/"
if ! { [ -f "\$fs/run/zinit.pid" ] && kill -0 "\$(cat "\$fs/run/zinit.pid")" 2>/dev/null; }; then
	setsid zinit-sim --socket "\$fs/run/zinit.sock" --config "\$fs/etc/zinit" --restart-delay-ms 200 \
		--test-interval-ms 50 </dev/null >"\$fs/run/zinit.log" 2>&1 &
	echo \$! >"\$fs/run/zinit.pid"
	for i in \$(seq 100); do [ -S "\$fs/run/zinit.sock" ] && break; sleep 0.05; done
fi
echo "toolkit and supervisor ready for \$HERO_CONTEXT"
EOF

args=(--context geomind --root "$W/nodeA" -s "$W/demo.key" -p "$W/demo.pub"
	--compute "unix:$M/compute.sock" --ssh-key "$M/id.pub" --ssh-port 2222
	--gateway geomind --source-backend http://10.0.0.1:9988 --bootstrap "$M/bootstrap.sh"
	--desired "$top/examples/desired" --probes "$top/examples/probes/tenant-panel.yaml"
	--poll-ms 50 --backoff-ms 200)

step "plan: every stage and what it will do (nothing is created)"
run hero-migrate plan "${args[@]}"

step "run: provision, wait, gateway, bootstrap, snapshot, transfer, restore, reconcile, verify, cutover, cleanup"
run hero-migrate run "${args[@]}" --ssh-identity "$M/id" | tee "$M/run.out"
job=$(sed -n 's/^job //p' "$M/run.out")

step "status: each stage's attempts, outputs and errors (the VM secret is never shown)"
run hero-migrate status "$job"
echo "gateway now: $("$HERO_BUILD/tests/jget" "$M/compute.json" gws.0.fqdn) -> $("$HERO_BUILD/tests/jget" "$M/compute.json" gws.0.backends.0)"
echo "moved mark at the source: $(tr -d '\n ' <"$W/nodeA/.hero/moved/geomind")"
echo "journal $(stat -c '%a %n' "$M/journal.db"); job log in $M/$job/log"

step "abort --force: the simulated VM and the gateway are deleted, and the secret wiped"
run hero-migrate abort --force "$job"
echo "VMs left: $("$HERO_BUILD/tests/jget" "$M/compute.json" vms.length), gateways left: $("$HERO_BUILD/tests/jget" "$M/compute.json" gws.length)"
demo_migrate_stop
trap - EXIT
