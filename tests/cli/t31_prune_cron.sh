#!/bin/bash
# Retention and unattended runs: prune keeps what the policy selects and every
# archive a kept increment needs, removes the rest, lists both in a dry run, and
# leaves unreadable files alone; the archive directory's lock keeps prune and
# snapshots apart; --metrics writes OpenMetrics text atomically and keeps the
# last success time across a failure; a failure is one line on stderr.
. "$(dirname "$0")/lib.sh"
S=$T/src A=$T/arch
mkdir "$A"
snap() { hero-snap -q -s "$KEYS/test.key" --root "$S" "$@"; }
metric() { sed -n "s/^$1 //p" "$2"; }
listing() { ls "$A" | LC_ALL=C sort | tr '\n' ' '; }

echo "== a directory of archives: a chain a-b-c-e, a newer full d, another instance's x"
expect_code 0 "$SAMPLE" --root "$S" --size 1M --contexts root,alice --seed 31
expect_code 0 "$SAMPLE" --root "$T/other" --size 1M --contexts root --seed 32
expect_code 0 snap -o "$A/a.hsnap"
echo change-1 >"$S/var/hero_foundry/files/alice/documents/note-0001.md"
expect_code 0 snap -o "$A/b.hsnap" --parent "$A/a.hsnap"
expect_code 0 snap -o "$A/d.hsnap"
echo change-2 >"$S/var/hero_foundry/files/alice/documents/note-0002.md"
expect_code 0 snap -o "$A/c.hsnap" --parent "$A/b.hsnap"
echo change-3 >"$S/var/hero_foundry/files/alice/documents/note-0003.md"
expect_code 0 snap -o "$A/e.hsnap" --parent "$A/c.hsnap"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$T/other" -o "$A/x.hsnap"
echo "not an archive" >"$A/junk.hsnap"
echo "notes" >"$A/notes.txt"
before=$(listing)

echo "== dry run: lists what it keeps and removes, changes nothing"
expect_code 0 hero-snap prune "$A" --keep-daily 1 --dry-run
expect_grep '^keep   e.hsnap .* incremental (daily)$' "$T/out"
expect_grep '^keep   c.hsnap .* incremental (needed by ' "$T/out"
expect_grep '^keep   b.hsnap .* incremental (needed by ' "$T/out"
expect_grep '^keep   a.hsnap .* full *(needed by ' "$T/out"
expect_grep '^remove d.hsnap ' "$T/out"
expect_grep '^keep   x.hsnap .* full *(daily)$' "$T/out"
expect_grep '^skip   junk.hsnap: .*(left alone)$' "$T/out"
expect_no_grep 'notes.txt' "$T/out"
[ "$(grep -c '^keep ' "$T/out")" = 5 ] && [ "$(grep -c '^remove ' "$T/out")" = 1 ] || fail "dry run decisions: $(cat "$T/out")"
[ "$(listing)" = "$before" ] || fail "a dry run removed something"

echo "== prune: removes what is not kept, the chain still restores"
expect_code 0 hero-snap prune "$A" --keep-daily 1 --json --metrics "$T/prune.prom"
expect_grep '"dry_run":false,"kept":5,"removed":1,"skipped":1' "$T/out"
expect_grep '^remove d.hsnap' "$T/err"
[ "$(listing)" = "a.hsnap b.hsnap c.hsnap e.hsnap junk.hsnap notes.txt x.hsnap " ] || fail "after prune: $(listing)"
[ "$(metric hero_snap_prune_removed_archives "$T/prune.prom")" = 1 ] || fail "prune metrics: $(cat "$T/prune.prom")"
[ "$(metric hero_snap_prune_exit_code "$T/prune.prom")" = 0 ] || fail "prune exit code metric"
rm "$A/x.hsnap"
# a restore from the directory refuses what it cannot read rather than skip it
expect_code 3 hero-restore -q --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/r" "$A"
expect_grep "unreadable archive (junk.hsnap" "$T/err"
mv "$A/junk.hsnap" "$T/junk.hsnap"
expect_code 0 hero-restore -q --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/r" "$A"
mv "$T/junk.hsnap" "$A/junk.hsnap"
cmp -s "$S/var/hero_foundry/files/alice/documents/note-0003.md" "$T/r/var/hero_foundry/files/alice/documents/note-0003.md" ||
	fail "the pruned directory does not restore the newest state"
expect_code 0 hero-snap prune "$A" --keep-daily 1 --quiet
[ ! -s "$T/out" ] || fail "--quiet printed: $(cat "$T/out")"
[ "$(listing)" = "a.hsnap b.hsnap c.hsnap e.hsnap junk.hsnap notes.txt " ] || fail "a second prune removed: $(listing)"

echo "== a policy that keeps nothing is refused"
expect_code 2 hero-snap prune "$A"
expect_grep 'keeps nothing' "$T/err"
expect_code 2 hero-snap prune "$A" --keep-daily -1
expect_code 2 hero-snap prune "$A" "$T" --keep-daily 1

echo "== the archive directory's lock: prune and snapshots do not overlap"
exec 9<"$A"
flock -n 9 || fail "cannot lock the directory for the test"
expect_code 5 hero-snap prune "$A" --keep-daily 1
expect_grep "archive directory '$A' is busy" "$T/err"
[ "$(wc -l <"$T/err")" = 1 ] || fail "busy is more than one line: $(cat "$T/err")"
expect_code 5 snap -o "$A/f.hsnap"
ls "$A" | matches '^f\.hsnap' && fail "a busy snapshot left a file"
flock -u 9
flock -s -n 9 || fail "cannot take a shared lock for the test"
expect_code 0 snap -o "$A/f.hsnap" --parent "$A/e.hsnap"
expect_code 5 hero-snap prune "$A" --keep-daily 1
exec 9<&-

echo "== --parent DIR: the newest archive of this instance and scope; a full one when none, or when the chain is long"
N=$T/nightly
mkdir "$N"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$T/other" -o "$N/other.hsnap"
ids=()
for night in 1 2 3 4 5; do
	echo "night $night" >"$S/var/hero_foundry/files/alice/documents/note-0004.md"
	expect_code 0 snap --parent "$N" --max-chain 3 -o "$N/night-$night.hsnap" --json
	ids+=("$(sed -n 's/.*"archive_id":"\([0-9a-f]*\)".*/\1/p' "$T/out")")
	parents+=("$(sed -n 's/.*"parent":"\{0,1\}\([0-9a-fnul]*\)"\{0,1\},.*/\1/p' "$T/out")")
done
[ "${parents[*]}" = "null ${ids[0]} ${ids[1]} null ${ids[3]}" ] || fail "parents chosen: ${parents[*]} for ${ids[*]}"
expect_code 0 hero-inspect --chain "$N"
[ "$(grep -c '^ *[0-9]  ' "$T/out")" = 2 ] || fail "the newest chain is not night 4 and 5: $(cat "$T/out")"
# a second run the same night replaces that night's archive, as an increment of the night before
expect_code 0 snap --parent "$N" --max-chain 3 -o "$N/night-5.hsnap" --json
[ "$(sed -n 's/.*"parent":"\([0-9a-f]*\)".*/\1/p' "$T/out")" = "${ids[3]}" ] || fail "a rerun is not an increment of the night before: $(cat "$T/out")"
expect_code 0 hero-inspect --chain "$N"
# a directory shared with another instance: a restore into a root follows that root's own chain
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$T/other" -o "$N/zz-other-newest.hsnap"
cp -a "$S" "$T/own"
echo "stale" >"$T/own/var/hero_foundry/files/alice/documents/note-0004.md"
expect_code 0 hero-restore -q --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/own" "$N"
cmp -s "$S/var/hero_foundry/files/alice/documents/note-0004.md" "$T/own/var/hero_foundry/files/alice/documents/note-0004.md" ||
	fail "a restore from a shared directory did not follow the root's own chain"
rm "$N/zz-other-newest.hsnap"
expect_code 2 snap --parent "$N/night-5.hsnap" -o "$N/night-5.hsnap"
expect_grep 'is the output file' "$T/err"
expect_code 2 snap --max-chain 3 -o "$T/y.hsnap"
expect_code 2 snap --parent "$N/night-5.hsnap" --max-chain 3 -o "$T/y.hsnap"

echo "== metrics: written atomically, the last success kept across a failure"
start=$(date +%s)
expect_code 0 snap -o "$A/g.hsnap" --parent "$A/f.hsnap" --metrics "$T/snap.prom"
[ ! -s "$T/err" ] || fail "a quiet successful run printed: $(cat "$T/err")"
ok_at=$(metric hero_snap_last_success_timestamp_seconds "$T/snap.prom")
[ "${ok_at%.*}" -ge "$start" ] || fail "last success time $ok_at before the run ($start)"
[ "$(metric hero_snap_exit_code "$T/snap.prom")" = 0 ] || fail "exit code metric"
[ "$(metric hero_snap_incremental "$T/snap.prom")" = 1 ] || fail "incremental metric"
[ "$(metric hero_snap_archive_bytes "$T/snap.prom")" = "$(stat -c %s "$A/g.hsnap")" ] || fail "archive bytes metric"
[ "$(metric hero_snap_entries "$T/snap.prom")" -ge 0 ] || fail "entries metric"
awk '$1 == "#" && $2 == "TYPE" { typed[$3] = 1; next }
     $1 != "#" { if (!typed[$1]) { print "untyped " $1; bad = 1 } ; if ($2 !~ /^-?[0-9.e+]+$/) { print "bad value " $0; bad = 1 } }
     END { exit bad }' "$T/snap.prom" || fail "malformed metrics"
[ "$(tail -n 1 "$T/snap.prom")" = "# EOF" ] || fail "metrics do not end with # EOF"
grep -q '^hero_snap_duration_seconds [0-9]' "$T/snap.prom" || fail "no duration"
wait_for 3 '[ "$(date +%s)" -gt "${ok_at%.*}" ]' # the next run's time is a later second than the success
exec 9<"$S"
flock -n 9 || fail "cannot lock the instance for the test"
expect_code 5 snap -o "$A/h.hsnap" --parent "$A/g.hsnap" --metrics "$T/snap.prom"
exec 9<&-
[ "$(wc -l <"$T/err")" = 1 ] || fail "a failed run printed more than one line: $(cat "$T/err")"
expect_grep '^hero-snap: instance .* is busy' "$T/err"
[ "$(metric hero_snap_exit_code "$T/snap.prom")" = 5 ] || fail "exit code metric after busy"
[ "$(metric hero_snap_last_success_timestamp_seconds "$T/snap.prom")" = "$ok_at" ] || fail "failure overwrote the last success time"
run_at=$(metric hero_snap_last_run_timestamp_seconds "$T/snap.prom")
[ "${run_at%.*}" -gt "${ok_at%.*}" ] || fail "last run time not updated"
expect_code 2 hero-snap -q -s "$KEYS/test.key" --root "$S" --metrics "$T/snap.prom"
[ "$(metric hero_snap_exit_code "$T/snap.prom")" = 2 ] || fail "a usage error is not in the metrics"
[ -z "$(find "$T" -maxdepth 1 -name '*prom.tmp*')" ] || fail "a temporary metrics file was left"
echo "== the crontab line and the systemd units of docs/cron.md work as written"
DOC=$HERO_TOP/docs/cron.md
mkdir "$T/cronarch" "$T/prom"
subst() { sed -e "s|/root/hero|$S|g" -e "s|/backup/hero|$T/cronarch|g" -e "s|/etc/hero/snap.key|$KEYS/test.key|g" \
	-e "s|/var/lib/prometheus/node-exporter|$T/prom|g"; }
line=$(grep -m1 '^30 2 \* \* \* root ' "$DOC") || fail "no crontab line in docs/cron.md"
cmd=$(printf '%s\n' "${line#30 2 \* \* \* root }" | sed 's/\\%/%/g' | subst)
sh -c "$cmd" >"$T/out" 2>"$T/err" || fail "the crontab line failed: $(cat "$T/err")"
[ ! -s "$T/out" ] && [ ! -s "$T/err" ] || fail "the crontab line printed: $(cat "$T/out" "$T/err")"
[ -f "$T/cronarch/hero-$(date +%F).hsnap" ] || fail "the crontab line wrote no archive"
[ "$(metric hero_snap_exit_code "$T/prom/hero_snap.prom")" = 0 ] || fail "crontab: snapshot metrics"
[ "$(metric hero_snap_prune_exit_code "$T/prom/hero_snap_prune.prom")" = 0 ] || fail "crontab: prune metrics"
# the ```ini block that follows the heading line naming UNIT
unit() { awk -v name="$1" '/^`\/etc\/systemd/ && index($0, name) { want = 1; next }
	want && /^```ini/ { on = 1; next } on && /^```/ { exit } on { print }' "$DOC"; }
hs=$(command -v hero-snap)
unit hero-snap.service | subst | sed "s|=hero-snap |=$hs |; s|exec hero-snap |exec $hs |" >"$T/hero-snap.service"
unit hero-snap.timer >"$T/hero-snap.timer"
grep -q '^ExecStart=' "$T/hero-snap.service" && grep -q '^OnCalendar=' "$T/hero-snap.timer" || fail "units not found in docs/cron.md"
verified=0
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$T/hero-snap.service" "$T/hero-snap.timer" >"$T/out" 2>"$T/err" ||
		fail "systemd-analyze: $(cat "$T/err")"
	[ ! -s "$T/err" ] || fail "systemd-analyze warns: $(cat "$T/err")"
	verified=1
fi
rm "$T/cronarch"/*.hsnap
for key in ExecStart ExecStartPost; do # as systemd runs them: %% is %
	c=$(sed -n "s/^$key=//p" "$T/hero-snap.service" | sed 's/%%/%/g')
	eval "$c" >"$T/out" 2>"$T/err" || fail "$key of the service failed: $(cat "$T/err")"
done
[ -f "$T/cronarch/hero-$(date +%F).hsnap" ] || fail "the service wrote no archive"
[ "$verified" = 1 ] || skip "systemd-analyze is not installed: the unit files were not verified (scripts/install-deps.sh)"
echo ok
