#!/bin/bash
# Trees deeper than an archive may hold, inside a context's files state.
# hero-snap refuses a tree of more than 1024 levels (and a path of more than
# 4096 bytes) with one line naming it, leaving nothing behind; exactly 1024
# levels archive and restore. A restore of another context carries a tree
# 10,000 levels deep over, intact, and a restore that replaces its context
# removes it, both with 64 descriptors and 1 MiB of stack (the walks are
# iterative). A tree moved while the carry-over is inside it stops the
# restore cleanly.
. "$(dirname "$0")/lib.sh"
P=$T/p I=$T/p/inst DEPTH=10000
CTX=var/hero_foundry/files/alice
q() { sqlite3 -readonly "$1" "$2"; }

# mkdeep DIR N [FILE]: N levels of directories named 'a' under DIR (created
# 500 levels at a time from the bottom reached so far), FILE at the bottom
mkdeep() {
	mkdir -p "$1" && (cd "$1" && n=$2 && while [ "$n" -gt 0 ]; do
		c=$((n > 500 ? 500 : n)); p=$(printf 'a/%.0s' $(seq "$c"))
		mkdir -p "$p" && cd "$p" || exit 1; n=$((n - c))
	done && if [ -n "${3:-}" ]; then echo "bottom of $2 levels" >"$3"; fi) || fail "cannot build a tree of $2 levels"
}
# deep_sum DIR: levels, names, types, modes and sizes of the tree, and the
# content of its files (find walks any depth; paths are never spelled out)
deep_sum() {
	(cd "$1" && find . -printf '%d %f %y %m %s\n' | LC_ALL=C sort && find . -type f -execdir sha256sum {} +) | sha256sum | cut -d' ' -f1
}
max_depth() { find "$1" -type d -printf '%d\n' | sort -n | tail -n 1; }
# limited CMD...: run CMD with 64 descriptors and 1 MiB of stack, timed into
# $T/time when /usr/bin/time is there
limited() {
	local t=()
	rm -f "$T/time"
	[ -x /usr/bin/time ] && t=(/usr/bin/time -f '%e s, peak RSS %M KiB' -o "$T/time")
	"${t[@]}" bash -c 'ulimit -n 64 && ulimit -s 1024 && exec "$@"' limited "$@"
}
beside() { ls -A "$P" | grep -v '^inst$'; }
restore() { hero-restore -p "$KEYS/test.pub" --root "$I" "$@"; }

mkdir -p "$P"
expect_code 0 "$SAMPLE" --root "$I" --size 1M --contexts alice,bravo --seed 43
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/alice0.hsnap" --root "$I" --context alice
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/bravo.hsnap" --root "$I" --context bravo

echo "== exactly 1024 levels archive and restore; 1025 are refused"
# $CTX is 4 components, cap 1, then 1018 levels and the file: 1024
mkdeep "$I/$CTX/cap" 1018 f
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/cap.hsnap" --root "$I" --context alice
h=$(deep_sum "$I/$CTX/cap")
rm -rf "$I/$CTX/cap"
expect_code 0 restore --context alice "$T/cap.hsnap"
[ -d "$I/$CTX/cap" ] && [ "$(deep_sum "$I/$CTX/cap")" = "$h" ] || fail "the tree of 1024 levels did not come back intact"
mkdir -p "$I/$CTX/cap/$(printf 'a/%.0s' $(seq 1018))b/c" || fail "cannot add a 1025th level"
expect_code 1 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$I" --context alice
expect_grep "^hero-snap: directory '$CTX/cap/a/a/a/.*\.\.\.' is more than 1024 levels deep: the archive format caps depth at 1024 (move or flatten it, or exclude it in the service's manifest)$" "$T/err"
[ "$(wc -l <"$T/err")" = 1 ] || fail "depth: want one error line"
rm -rf "$I/$CTX/cap"

echo "== a path of more than 4096 bytes is refused, unless the manifest excludes it"
n=$(printf 'n%.0s' $(seq 200))
# 20 levels of 200 bytes under $CTX/long: a directory of 4053 bytes, a file in it beyond 4096
(mkdir -p "$I/$CTX/long" && cd "$I/$CTX/long" && for i in $(seq 20); do mkdir "$n" && cd "$n" || exit 1; done && echo x >"$n.tmp") ||
	fail "cannot build the long path"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$I" --context alice
rm -f "$T/x.hsnap"
(cd "$I/$CTX/long" && for i in $(seq 20); do cd "$n" || exit 1; done && mv "$n.tmp" "$n.dat") || fail "cannot rename the long file"
expect_code 1 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$I" --context alice
expect_grep "^hero-snap: path '$CTX/long/nnnn.*\.\.\.' is longer than 4096 bytes: the archive format caps paths at 4096 bytes (move or rename it, or exclude it in the service's manifest)$" "$T/err"
[ "$(wc -l <"$T/err")" = 1 ] || fail "length: want one error line"
[ -z "$(ls "$T" | grep '^x\.hsnap')" ] || fail "a refused snapshot left $(ls "$T" | grep '^x\.hsnap')"
rm -rf "$I/$CTX/long"

echo "== a tree $DEPTH levels deep"
start=$(date +%s%N)
mkdeep "$I/$CTX/deep" "$DEPTH" f
echo "built in $((($(date +%s%N) - start) / 1000000)) ms"
[ "$(max_depth "$I/$CTX/deep")" = "$DEPTH" ] || fail "the tree is not $DEPTH levels deep"
H_DEEP=$(deep_sum "$I/$CTX/deep")

echo "== a snapshot of its context, or of the instance, is refused; nothing is left behind"
for scope in "--context alice" ""; do
	# shellcheck disable=SC2086
	expect_code 1 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$I" $scope
	expect_grep "^hero-snap: directory '$CTX/deep/a/a/a/.*\.\.\.' is more than 1024 levels deep: the archive format caps depth at 1024 (move or flatten it, or exclude it in the service's manifest)$" "$T/err"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "snapshot ${scope:-of the instance}: want one error line"
	[ -z "$(ls "$T" | grep '^x\.hsnap')" ] || fail "a refused snapshot left $(ls "$T" | grep '^x\.hsnap')"
done

echo "== a restore of another context carries the tree over (64 descriptors, 1 MiB of stack)"
expect_code 0 limited hero-restore -p "$KEYS/test.pub" --root "$I" --context bravo "$T/bravo.hsnap"
[ -f "$T/time" ] && echo "carry-over of $DEPTH levels: $(cat "$T/time")"
[ -z "$(beside)" ] || fail "left beside the root: $(beside)"
[ "$(max_depth "$I/$CTX/deep")" = "$DEPTH" ] || fail "the tree lost levels"
[ "$(deep_sum "$I/$CTX/deep")" = "$H_DEEP" ] || fail "the tree changed"
[ "$(q "$I/var/hero_biz/biz.db" 'PRAGMA integrity_check')" = ok ] || fail "biz.db integrity"

echo "== a restore that replaces the context removes the tree (64 descriptors, 1 MiB of stack)"
expect_code 0 limited hero-restore -p "$KEYS/test.pub" --root "$I" --context alice "$T/alice0.hsnap"
[ -f "$T/time" ] && echo "replace and remove $DEPTH levels: $(cat "$T/time")"
[ ! -e "$I/$CTX/deep" ] || fail "the deep tree survived the restore of its context"
[ -z "$(beside)" ] || fail "left beside the root: $(beside)"
[ "$(q "$I/var/hero_biz/biz.db" 'PRAGMA integrity_check')" = ok ] || fail "biz.db integrity"

echo "== a tree moved while the carry-over is inside it stops the restore"
# 40 levels with a file at the bottom; find K, the link of that file among the
# carry-over's links, then stop there (HERO_FAULT=carry-entry:K:stop), move
# level 3 under another parent, and let the restore go on: coming back up
# through ".." leads elsewhere than the way down
mkdeep "$I/$CTX/mv" 40 f
mkdir "$I/$CTX/mv/x"
STG=$P/.inst.hero-staging
bottom=$CTX/mv/$(printf 'a/%.0s' $(seq 40))
expect_code 0 restore --context bravo "$T/bravo.hsnap"
kept=$(sed -n 's/.* \([0-9]*\) paths kept$/\1/p' "$T/err")
[ -n "$kept" ] && [ "$kept" -gt 1 ] || fail "no paths kept count in: $(cat "$T/err")"
# stop_at K: restore, stopped before the K-th link; echo its pid
stop_at() {
	HERO_FAULT=carry-entry:$1:stop hero-restore -p "$KEYS/test.pub" --root "$I" --context bravo "$T/bravo.hsnap" >/dev/null 2>"$T/stopped.err" &
	STOPPED=$!
	wait_for 10 stopped "$STOPPED"
}
unstop() { kill -KILL "$STOPPED"; wait "$STOPPED" 2>/dev/null || true; }   # killed: its status is 137
lo=1 hi=$kept # the bottom file is linked by the K-th link, lo <= K <= hi
while [ "$lo" -lt "$hi" ]; do
	mid=$(((lo + hi + 1) / 2))
	stop_at "$mid"
	if [ -e "$STG/${bottom}f" ]; then hi=$((mid - 1)); else lo=$mid; fi
	unstop
done
stop_at "$lo"
[ -d "$STG/$bottom" ] && [ ! -e "$STG/${bottom}f" ] || { unstop; fail "carry-entry:$lo is not the bottom file's link"; }
mv "$I/$CTX/mv/a/a/a" "$I/$CTX/mv/x/" || { unstop; fail "cannot move level 3"; }
kill -CONT "$STOPPED"
wait "$STOPPED" && rc=0 || rc=$?
[ "$rc" = 1 ] || { cat "$T/stopped.err"; fail "moved tree: exit $rc, want 1"; }
expect_grep "^hero-restore: .*'$CTX/mv/a/a/a' was moved while it was carried over" "$T/stopped.err"
[ -z "$(beside)" ] || fail "left beside the root: $(beside)"
[ -f "$I/$CTX/mv/x/a/$(printf 'a/%.0s' $(seq 37))f" ] || fail "the moved tree is not where it was moved"
expect_code 0 restore --context bravo "$T/bravo.hsnap"
echo "t43: ok"
