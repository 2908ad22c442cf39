#!/bin/bash
# Hostile archives, validly signed with the test key (tests/tools/hero-hostile.c):
# each is refused with its documented exit code and one error line naming the
# fault; nothing beside or outside the target changes, the target stays
# byte-identical, no staging is left behind, and memory and time stay bounded.
. "$(dirname "$0")/lib.sh"
HOSTILE=$HERO_BUILD/tests/hero-hostile
C=$T/corpus W=$T/w P=$T/w/parent R=$T/w/parent/inst O=$T/w/outside
MAX_RSS_KB=${MAX_RSS_KB:-262144} MILLION_RSS_KB=524288
# AddressSanitizer (the CI's second pass) costs memory of its own
[ -n "${ASAN_OPTIONS:-}" ] && MAX_RSS_KB=$((MAX_RSS_KB * 4)) MILLION_RSS_KB=$((MILLION_RSS_KB * 4))
expect_code 0 "$HOSTILE" -s "$KEYS/test.key" -S "$KEYS/other.key" -o "$C"

# A small live instance, a sentinel beside it and one outside it.
make_target() {
	rm -rf "$W"
	mkdir -p "$R/var/hero_foundry/files/root" "$R/var/hero_osis/root" "$R/.hero" "$R/cfg/env" "$O"
	echo keep >"$R/var/hero_foundry/files/root/doc.md"
	sqlite3 "$R/var/hero_osis/root/objects.db" "CREATE TABLE o(v); INSERT INTO o VALUES ('live');"
	echo 'export FOUNDRY_WEBDAV_TOKEN=x' >"$R/cfg/env/env.sh"
	: >"$R/.hero/lock"
	echo beside >"$P/sentinel"
	echo outside >"$O/sentinel"
}
# Paths some archives aim at outside the scratch directory.
ESCAPES="/tmp/hero-hostile-moo /etc/hero-hostile /hero-hostile /tmp/hero-hostile-evil.so"
for e in $ESCAPES; do [ ! -e "$e" ] || fail "$e exists before the test"; done

# run_timed ARGS...: hero-restore under /usr/bin/time (when present) into $T/out, $T/err, $T/rss
run_timed() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -o "$T/rss" -f '%M' timeout 60 hero-restore "$@" >"$T/out" 2>"$T/err"
	else
		echo 0 >"$T/rss"; timeout 60 hero-restore "$@" >"$T/out" 2>"$T/err"
	fi
}

make_target
before=$(tree_hash "$W")
n=0
while IFS=$'\t' read -r name code want; do
	case $name in '#'*|benign) continue ;; esac
	start=$(date +%s%N)
	run_timed -p "$KEYS/test.pub" --root "$R" "$C/$name.hsnap" && rc=0 || rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$rc" = "$code" ] || { cat "$T/err" >&2; fail "$name: exit $rc, want $code"; }
	[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "$name: want exactly one error line"; }
	grep -qF -- "$want" "$T/err" || { cat "$T/err" >&2; fail "$name: error line does not say '$want'"; }
	[ -s "$T/out" ] && fail "$name: unexpected output on stdout"
	[ "$(tree_hash "$W")" = "$before" ] || { (cd "$W" && find . | sort) >&2; fail "$name: the target, its parent or the outside changed"; }
	[ -z "$(ls -A "$P" | grep -v '^inst$\|^sentinel$')" ] || fail "$name: something left beside the target: $(ls -A "$P")"
	for e in $ESCAPES; do [ ! -e "$e" ] || fail "$name: created $e"; done
	rss=$(tail -n1 "$T/rss")
	[ "${rss:-0}" -le "$MAX_RSS_KB" ] || fail "$name: used $rss KiB of memory"
	[ "$ms" -le 20000 ] || fail "$name: took $ms ms"
	printf '%-28s exit %s  %5d ms %7s KiB  %s\n' "$name" "$rc" "$ms" "$rss" "$(cut -c1-110 "$T/err")"
	n=$((n + 1))
done <"$C/EXPECT"
echo "== $n hostile archives refused, target and surroundings unchanged"
[ "$n" -ge 90 ] || fail "only $n corpus items ran"

echo "== benign archive over a live symlink and stale sidecars: replaced, never followed"
make_target
F=$R/var/hero_foundry/files/root
ln -s ../../../../../../outside "$F/photos"
echo linked >"$O/linked" && rm -f "$F/ok.txt" && ln "$O/linked" "$F/ok.txt" # a planted hard link to outside
echo garbage >"$R/var/hero_osis/root/objects.db-wal"
echo garbage >"$R/var/hero_osis/root/objects.db-shm"
outside=$(tree_hash "$O")
expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$R" "$C/benign.hsnap"
[ "$(tree_hash "$O")" = "$outside" ] || fail "the outside changed through the live symlink"
[ -d "$F/photos" ] && [ ! -L "$F/photos" ] || fail "photos is not a real directory now"
[ "$(cat "$F/photos/p.jpg")" = jpeg ] || fail "photos/p.jpg has the wrong content"
[ "$(cat "$F/ok.txt")" = fine ] && [ "$(stat -c %h "$F/ok.txt")" = 1 ] || fail "ok.txt was not recreated as a file of its own"
[ ! -e "$R/var/hero_osis/root/objects.db-wal" ] && [ ! -e "$R/var/hero_osis/root/objects.db-shm" ] ||
	fail "stale -wal/-shm files survived the restore"
[ "$(sqlite3 "$R/var/hero_osis/root/objects.db" 'PRAGMA integrity_check')" = ok ] || fail "restored database is damaged"
[ "$(sqlite3 "$R/var/hero_osis/root/objects.db" 'SELECT group_concat(v) FROM o')" = a,b ] || fail "restored database has the wrong rows"
[ -z "$(ls -A "$P" | grep -v '^inst$\|^sentinel$')" ] || fail "staging left behind: $(ls -A "$P")"

echo "== the entry cap fires: 1,000,001 empty files"
expect_code 0 "$HOSTILE" -s "$KEYS/test.key" -S "$KEYS/other.key" -o "$T/m" --million --only none
make_target
before=$(tree_hash "$W")
start=$(date +%s)
/usr/bin/time -o "$T/rss" -f '%M' timeout 60 hero-inspect --verify -p "$KEYS/test.pub" "$T/m/million_empty.hsnap" >/dev/null 2>"$T/err" &&
	rc=0 || rc=$?
[ "$rc" = 3 ] || { cat "$T/err"; fail "million entries: hero-inspect exit $rc, want 3"; }
grep -q 'more than 1000000 entries' "$T/err" || fail "million entries: wrong message: $(cat "$T/err")"
rss=$(tail -n1 "$T/rss")
echo "million entries refused by the default cap in $(( $(date +%s) - start )) s, $rss KiB"
[ "$rss" -le "$MILLION_RSS_KB" ] || fail "million entries: used $rss KiB"
# restore extracts (and fsyncs) each entry before the cap is reached: a lowered cap shows it fires there too
run_timed --max-entries 1000 -p "$KEYS/test.pub" --root "$R" "$T/m/million_empty.hsnap" && rc=0 || rc=$?
[ "$rc" = 3 ] && grep -q 'more than 1000 entries' "$T/err" || fail "million entries, --max-entries 1000: exit $rc: $(cat "$T/err")"
[ "$(tree_hash "$W")" = "$before" ] || fail "million entries: target changed"
[ -z "$(ls -A "$P" | grep -v '^inst$\|^sentinel$')" ] || fail "staging left behind: $(ls -A "$P")"
echo "== a lowered cap fires on a small archive"
expect_code 3 hero-restore --max-entries 1 -p "$KEYS/test.pub" --root "$R" "$C/benign.hsnap"
expect_grep 'more than 1 entries' "$T/err"
expect_code 3 hero-restore --max-file-size 3 -p "$KEYS/test.pub" --root "$R" "$C/benign.hsnap"
expect_grep 'file size cap' "$T/err"
expect_code 3 hero-restore --max-total-size 6 -p "$KEYS/test.pub" --root "$R" "$C/benign.hsnap"
expect_grep 'total size cap' "$T/err"
[ "$(tree_hash "$W")" = "$before" ] || fail "lowered caps: target changed"
echo "t40: ok"
