#!/bin/bash
# hero-migrate with a local directory as the target: options refused before anything
# happens, plan, a move under a new name with reconcile and verify through the library,
# cleanup --delete-source removing exactly the moved context from the source, one
# unfinished job per context, the job lock, and a journal others could read refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

make_source 17
write_panel
D1=$T/dst1 D2=$T/dst2
base=(--root "$SRC" -s "$KEYS/test.key" -p "$KEYS/test.pub" --probes "$T/panel.yaml" --backoff-ms 20 --poll-ms 20)

echo "== bad options are refused (exit 2) before anything is created"
expect_code 2 hero-migrate run --context geomind "${base[@]}"
expect_grep "give exactly one target" "$T/err"
expect_code 2 hero-migrate run --context geomind "${base[@]}" --target-dir "$D1" --target-ssh nodeB
expect_code 2 hero-migrate run --context geomind --root "$SRC" -s "$KEYS/test.key" -p "$KEYS/test.pub" --target-dir "$D1"
expect_grep "probes FILE is required" "$T/err"
expect_code 2 hero-migrate run --context geomind "${base[@]}" --target-dir "$D1" --ssh-key "$T/id.pub"
expect_grep "need --compute" "$T/err"
expect_code 2 hero-migrate run --context geomind "${base[@]}" --compute "unix:$T/c.sock" --ssh-key "$T/id"
expect_grep "is a private key: give its .pub" "$T/err"
expect_code 2 hero-migrate run --context ../etc "${base[@]}" --target-dir "$D1"
expect_code 2 hero-migrate run --context geomind "${base[@]}" --target-dir relative/dir
expect_code 2 hero-migrate run --context geomind "${base[@]}" --target-dir "$SRC"
expect_code 2 hero-migrate run --context geomind "${base[@]}" --target-dir "$D1" --timeout nosuchstage=5
[ ! -e "$J" ] || fail "a refused run created the journal"

echo "== plan for a local directory: the VM stages are skipped, saying why"
expect_code 0 hero-migrate plan --context geomind --as dora "${base[@]}" --target-dir "$D1"
expect_grep "^provision  *skipped: the target is a local directory$" "$T/out"
expect_grep "^gateway  *skipped: the target is a local directory$" "$T/out"
expect_grep "^reconcile  *skipped: no --desired directory$" "$T/out"
expect_grep "^transfer  *hero-snap --context geomind -o - | hero-restore --context geomind --as dora - on the local directory $D1" "$T/out"
cp "$T/out" "$T/plan.txt"
expect_code 0 hero-migrate run --dry-run --context geomind --as dora "${base[@]}" --target-dir "$D1"
cmp -s "$T/out" "$T/plan.txt" || fail "run --dry-run differs from plan"
[ ! -e "$J" ] || fail "a dry run created the journal"
expect_code 0 hero-migrate plan --context geomind "${base[@]}" --target-dir "$D1" --json
eq "plan json" "$("$JGET" "$T/out" 0.skip)" true

echo "== a supervisor for the target (zinit simulator running the sample service)"
mkdir "$T/cfg"
PATH="$HERO_BUILD/tests:$PATH" "$HERO_BUILD/tests/zinit-sim" --socket "$T/z.sock" --config "$T/cfg" \
	--restart-delay-ms 100 --test-interval-ms 50 &
zs=$!
at_exit "kill $zs 2>/dev/null; wait $zs 2>/dev/null"
wait_for 15 '[ -S "$T/z.sock" ]'

echo "== geomind moves to a local directory as dora: reconcile and verify through the library"
expect_code 0 hero-migrate run --context geomind --as dora "${base[@]}" --target-dir "$D1" \
	--desired "$HERO_TOP/examples/desired" --target-supervisor "unix:$T/z.sock" --set HERO_SUPERVISOR="unix:$T/z.sock"
job1=$(job_of "$T/out")
expect_code 0 hero-migrate status "$job1"
expect_grep "^state    done$" "$T/out"
expect_grep "^context  geomind -> dora$" "$T/out"
expect_grep "^provision  *skipped  *0 " "$T/out"
expect_grep "^reconcile  *done  *1 .*drift=2 applied=2" "$T/out"
expect_grep "^verify  *done  *[1-3] .*passed=6 failed=0" "$T/out"
same_dump "objects of geomind differ from dora's" "$SRC/var/hero_osis/geomind/objects.db" "$D1/var/hero_osis/dora/objects.db"
[ -e "$D1/var/hero_osis/geomind" ] && fail "the context arrived under its old name"
eq "moved mark" "$("$JGET" "$SRC/.hero/moved/geomind" as)" dora
[ -d "$SRC/var/hero_osis/geomind" ] || fail "the source lost geomind without --delete-source"

echo "== root moves with --delete-source: exactly root is removed from the source"
geo_rows=$(sqlite3 "$SRC/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'geomind'")
root_rows=$(sqlite3 "$SRC/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'root'")
[ "$root_rows" -gt 0 ] || fail "the sample has no root customers"
cat >"$T/data-panel.yaml" <<'EOF'
probes:
  - {name: objects, kind: sqlite, path: "${HERO_ROOT}/var/hero_osis/${HERO_CONTEXT}/objects.db", query: SELECT id FROM objects}
  - {name: photos, kind: file, path: "${HERO_ROOT}/var/hero_foundry/files/${HERO_CONTEXT}/photos/*.jpg", magic: jpeg}
EOF
geo=$(tree_hash "$SRC/var/hero_foundry/files/geomind")
expect_code 0 hero-migrate run --context root "${base[@]}" --probes "$T/data-panel.yaml" --target-dir "$D2" --delete-source
job2=$(job_of "$T/out")
eq "root customers at the target" "$(sqlite3 "$D2/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'root'")" "$root_rows"
eq "root customers left at the source" "$(sqlite3 "$SRC/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'root'")" 0
eq "geomind customers at the source" "$(sqlite3 "$SRC/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'geomind'")" "$geo_rows"
for d in var/hero_osis/root var/hero_foundry/files/root var/hero_books/root; do
	[ -e "$SRC/$d" ] && fail "$d is still at the source"
done
eq "geomind's files at the source" "$(tree_hash "$SRC/var/hero_foundry/files/geomind")" "$geo"
expect_code 0 hero-migrate status "$job2"
expect_grep "^cleanup  *done .*deleted_paths=[1-9][0-9]* deleted_rows=[1-9][0-9]* source_deleted=yes" "$T/out"
expect_code 2 hero-migrate abort --force "$job2"
expect_grep "deleted the context at the source: its target holds the only copy" "$T/err"

echo "== one unfinished job per context: a failed job blocks a second one until aborted"
cp "$T/data-panel.yaml" "$T/bad.yaml"
printf '  - {name: must-fail, kind: file, path: "${HERO_ROOT}/nope"}\n' >>"$T/bad.yaml"
expect_code 1 hero-migrate run --context geomind "${base[@]}" --target-dir "$T/dst3" --probes "$T/bad.yaml" --attempts 1
job3=$(job_of "$T/out")
expect_grep "verify: failed: 1 of 3 probes failed: must-fail: " "$T/err"
expect_code 2 hero-migrate run --context geomind "${base[@]}" --target-dir "$T/dst4"
expect_grep "job '$job3' already moves context 'geomind'" "$T/err"
[ ! -e "$T/dst4" ] || fail "a refused job touched its target"

echo "== the job lock: a job another process holds is busy (exit 5)"
exec 9<>"$T/state/$job3/lock"
flock -n 9 || fail "cannot take the job lock"
expect_code 5 hero-migrate resume "$job3"
expect_grep "job '$job3' is busy" "$T/err"
expect_code 5 hero-migrate abort "$job3"
exec 9>&-
expect_code 0 hero-migrate abort "$job3"
expect_code 0 hero-migrate run --context geomind "${base[@]}" --target-dir "$T/dst4" --probes "$T/data-panel.yaml"

echo "== a stage is bounded by its timeout: a bootstrap script that hangs is killed, with its processes"
printf 'echo hanging\nsleep 31.5\n' >"$T/hang.sh"
start=$(date +%s%N)
expect_code 1 hero-migrate run --context geomind "${base[@]}" --probes "$T/data-panel.yaml" --target-dir "$T/dst5" \
	--bootstrap "$T/hang.sh" --timeout bootstrap=1 --attempts 1
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -lt 6000 ] || fail "the timeout was not enforced: $elapsed ms"
expect_grep "bootstrap: failed: bootstrap script: timed out" "$T/err"
pgrep -f "sleep 31.5" >/dev/null && fail "the timed out script's processes survive"
expect_code 0 hero-migrate abort "$(job_of "$T/out")"

echo "== run --json: the job record at the end, as status --json shows it"
expect_code 0 hero-migrate run --context geomind "${base[@]}" --probes "$T/data-panel.yaml" --target-dir "$T/dst6" --json --quiet
eq "json state" "$("$JGET" "$T/out" state)" done
eq "json stage" "$("$JGET" "$T/out" stages.9.name)" cutover
expect_no_grep "^job " "$T/out"
[ ! -s "$T/err" ] || fail "--quiet wrote to stderr: $(cat "$T/err")"

echo "== status: unknown jobs, and a journal others could read, are refused"
expect_code 2 hero-migrate status 000000000000
expect_grep "no job '000000000000'" "$T/err"
expect_code 0 hero-migrate status
eq "jobs listed" "$(wc -l <"$T/out")" 6
chmod 644 "$J"
expect_code 1 hero-migrate status
expect_grep "readable by others" "$T/err"
chmod 600 "$J"
echo ok
