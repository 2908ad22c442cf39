#!/bin/bash
# Crash and fault safety of hero-restore: kill -9 at every named point of the
# swap and at many fsync, write, entry and carry-over points (HERO_FAULT, a
# test-only knob, docs/security.md), and at random times; then a rerun. Right
# after each kill the target is entirely the old or entirely the new state;
# the rerun always ends in the new state with every database intact. fsync
# EIO is fatal and never retried into success; a full disk and a read-only
# target leave the old state; two restores at once: one is busy.
. "$(dirname "$0")/lib.sh"
SHIM=$HERO_BUILD/tests/hero-faultfs.so
OLD=$T/old NEW=$T/newsrc A=$T/a.hsnap P=$T/p R=$T/p/inst
expect_code 0 "$SAMPLE" --root "$OLD" --size 1M --contexts root,geomind --seed 11
expect_code 0 "$SAMPLE" --root "$NEW" --size 1M --contexts root,geomind --seed 12
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$NEW"

# state_hash DIR: tree_hash, but blind to the restore marker (checked on its own)
# and to the restore log (it holds the time of the restore)
state_hash() {
	(cd "$1" && find . ! -path ./.hero/restore-new ! -path ./.hero/restore.log -printf '%p %y %m\n' | LC_ALL=C sort &&
		find . -type f ! -path ./.hero/restore-new ! -path ./.hero/restore.log -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}
reset() { rm -rf "$P" && mkdir -p "$P" && cp -a "$OLD" "$R" && echo beside >"$P/sentinel"; }
restore() { hero-restore -p "$KEYS/test.pub" --root "$R" "$A"; }
beside() { ls -A "$P" | grep -v '^inst$\|^sentinel$'; }
dbs_ok() { # one sqlite3 process checks every database of the tree
	local sql="" n=0 db
	for db in $(find "$1" -name '*.db'); do
		sql+="ATTACH '$db' AS d; PRAGMA d.integrity_check; DETACH d;"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "$2: no databases found"
	[ "$(sqlite3 :memory: "$sql" | grep -c '^ok$')" = "$n" ] || fail "$2: a database fails integrity_check"
}

reset
H_OLD=$(state_hash "$R")
expect_code 0 restore
H_NEW=$(state_hash "$R")
[ "$H_OLD" != "$H_NEW" ] || fail "old and new states are the same: the test would prove nothing"
dbs_ok "$R" "reference restore"
[ -z "$(beside)" ] || fail "reference restore left $(beside)"

n_old=0 n_new=0 n_trials=0
# check_after LABEL: classify the state left by a dead restore, rerun, check the end state
check_after() {
	local h; h=$(state_hash "$R")
	if [ "$h" = "$H_OLD" ]; then
		[ ! -e "$R/.hero/restore-new" ] || fail "$1: old state carries the restore marker"
		n_old=$((n_old + 1))
	elif [ "$h" = "$H_NEW" ]; then
		n_new=$((n_new + 1))
	else
		fail "$1: the target is neither the old nor the new state"
	fi
	[ "$(cat "$P/sentinel")" = beside ] || fail "$1: sentinel changed"
	restore >/dev/null 2>"$T/err" || { cat "$T/err"; fail "$1: rerun failed"; }
	[ "$(state_hash "$R")" = "$H_NEW" ] || fail "$1: rerun did not end in the new state"
	[ ! -e "$R/.hero/restore-new" ] && [ -z "$(beside)" ] || fail "$1: rerun left a marker or $(beside)"
	dbs_ok "$R" "$1"
	n_trials=$((n_trials + 1))
}
# kill_at POINT[:N]: the restore kills itself there; returns 1 if the point was never reached
kill_at() {
	reset
	local rc
	(HERO_FAULT=$1 hero-restore -p "$KEYS/test.pub" --root "$R" "$A" >/dev/null 2>"$T/err"; exit $?) 2>/dev/null && rc=0 || rc=$?
	[ "$rc" = 0 ] && return 1
	[ "$rc" = 137 ] || { cat "$T/err"; fail "HERO_FAULT=$1: exit $rc, want death by SIGKILL"; }
	check_after "kill at $1"
}

echo "== kill -9 at each named point of the swap"
for p in swap-staged swap-carry swap-synced swap-marked swap-exchanged swap-parent-synced swap-old-removed swap-unmarked; do
	kill_at "$p" || fail "point $p was never reached"
done
echo "== kill -9 during the recovery of an interrupted swap"
for first in swap-marked swap-exchanged; do
	reset
	(HERO_FAULT=$first hero-restore -p "$KEYS/test.pub" --root "$R" "$A" >/dev/null 2>&1; exit $?) 2>/dev/null && rc=0 || rc=$?
	[ "$rc" = 137 ] || fail "$first not reached"
	for victim in recover-removed swap-exchanged; do
		(HERO_FAULT=$victim hero-restore -p "$KEYS/test.pub" --root "$R" "$A" >/dev/null 2>&1; exit $?) 2>/dev/null && rc=0 || rc=$?
		[ "$rc" = 137 ] || fail "recovery after $first: $victim not reached"
	done
	check_after "kill during recovery after $first"
done
echo "== kill -9 at every 3rd fsync, every 30th write, every 25th entry, every 20th carried file and removal"
sweep() { # sweep POINT STEP
	local i=1 hit=0
	while kill_at "$1:$i"; do hit=$((hit + 1)); i=$((i + $2)); done
	[ "$hit" -gt 0 ] || fail "no $1 point reached"
	echo "  $1: $hit kill points"
}
sweep fsync 3
sweep write 30
sweep read-entry 25
sweep carry-entry 20
sweep rmtree 20
echo "== kill -9 from outside at random times"
for i in $(seq 1 15); do
	reset
	hero-restore -p "$KEYS/test.pub" --root "$R" "$A" >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 90 + 10))"
	kill -9 "$pid" 2>/dev/null || true   # (it may have finished)
	{ wait "$pid"; } 2>/dev/null || true  # killed or finished: check_after tells which state it left
	check_after "random kill $i"
done
echo "kill -9 trials: $n_trials (old state: $n_old, new state: $n_new), every rerun ended in the new state"
[ "$n_old" -gt 0 ] && [ "$n_new" -gt 0 ] || fail "the trials did not cover both sides of the swap"

echo "== fsync EIO (LD_PRELOAD shim) is fatal, never retried into success"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# the number of fsyncs of one restore: the largest N at which a kill still happens
lo=1 hi=4096
while [ $((hi - lo)) -gt 1 ]; do
	mid=$(((lo + hi) / 2))
	reset
	(HERO_FAULT=fsync:$mid hero-restore -p "$KEYS/test.pub" --root "$R" "$A" >/dev/null 2>&1; exit $?) 2>/dev/null && rc=0 || rc=$?
	if [ "$rc" = 137 ]; then lo=$mid; else hi=$mid; fi
done
K=$lo
echo "one restore makes $K fsyncs"
for n in 1 $((K / 2)) $((K - 2)); do
	reset
	expect_code 1 env LD_PRELOAD="$SHIM" HERO_SHIM_FSYNC_EIO=$n hero-restore -p "$KEYS/test.pub" --root "$R" "$A"
	expect_grep 'Input/output error' "$T/err"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "fsync $n: want one error line"
	[ "$(state_hash "$R")" = "$H_OLD" ] && [ -z "$(beside)" ] || fail "fsync $n failed before the swap: old state not intact"
done
for n in $((K - 1)) $K; do
	reset
	expect_code 1 env LD_PRELOAD="$SHIM" HERO_SHIM_FSYNC_EIO=$n hero-restore -p "$KEYS/test.pub" --root "$R" "$A"
	expect_grep 'did not finish' "$T/err"
	check_after "fsync $n fails after the exchange"
done

echo "== disk full: ENOSPC at the n-th write (shim), and a small tmpfs"
for n in 1 10 60; do
	reset
	expect_code 1 env LD_PRELOAD="$SHIM" HERO_SHIM_ENOSPC=$n hero-restore -p "$KEYS/test.pub" --root "$R" "$A"
	expect_grep 'No space left on device' "$T/err"
	[ "$(state_hash "$R")" = "$H_OLD" ] && [ -z "$(beside)" ] || fail "ENOSPC at write $n: old state not intact"
done
M=$T/mnt
mkdir -p "$M"
mounted=0
if mount -t tmpfs -o size=4m tmpfs "$M" 2>/dev/null; then
	at_exit "umount -l '$M' 2>/dev/null"
	kb=$(du -sk "$OLD" | cut -f1)
	umount "$M"
	mount -t tmpfs -o size=$((kb + kb / 3))k tmpfs "$M"
	cp -a "$OLD" "$M/inst"
	h=$(state_hash "$M/inst")
	expect_code 1 hero-restore -p "$KEYS/test.pub" --root "$M/inst" "$A"
	expect_grep 'No space left on device' "$T/err"
	[ "$(state_hash "$M/inst")" = "$h" ] && [ "$(ls -A "$M")" = inst ] || fail "full tmpfs: old state not intact"
	echo "== read-only target: refused before any change"
	mount -o remount,ro "$M"
	expect_code 1 hero-restore -p "$KEYS/test.pub" --root "$M/inst" "$A"
	expect_grep 'Read-only file system' "$T/err"
	[ "$(state_hash "$M/inst")" = "$h" ] || fail "read-only target changed"
	umount "$M"
	echo "== a root that is a mount point: refused before any change"
	reset
	mount --bind "$R" "$R"
	at_exit "umount -l '$R' 2>/dev/null"
	expect_code 1 restore
	expect_grep 'is a mount point' "$T/err"
	[ "$(state_hash "$R")" = "$H_OLD" ] && [ -z "$(beside)" ] || fail "mount point root changed"
	umount "$R"
	mounted=1
fi

echo "== two restores at once: the second is busy"
reset
HERO_FAULT=swap-carry:1:stop hero-restore -p "$KEYS/test.pub" --root "$R" "$A" >/dev/null 2>"$T/first.err" &
first=$!
wait_for 10 stopped "$first"
expect_code 5 restore
expect_grep 'busy' "$T/err"
[ "$(wc -l <"$T/err")" = 1 ] || fail "busy: want one error line"
kill -CONT "$first"
wait "$first" || { cat "$T/first.err"; fail "the first restore failed after it was resumed"; }
[ "$(state_hash "$R")" = "$H_NEW" ] && [ -z "$(beside)" ] || fail "after the busy refusal the first restore did not finish cleanly"
dbs_ok "$R" "busy"
[ "$mounted" = 1 ] || skip "mount is not permitted here: the full tmpfs, read-only and mount point cases did not run"
echo "t41: ok"
