#!/bin/bash
# A whole instance survives snapshot and restore: archived classes byte-identical,
# databases equal row for row, skipped classes absent, secrets never in the archive.
. "$(dirname "$0")/lib.sh"
S=$T/src D=$T/dst A=$T/a.hsnap

dbdump() { sqlite3 -readonly "$1" .dump | grep -v '^PRAGMA'; }

echo "== generate and snapshot"
expect_code 0 "$SAMPLE" --root "$S" --size 6M --contexts root,geomind,alice --seed 3
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$S"
expect_grep '^hero-snap: archive [0-9a-f]\{32\}: [0-9]* entries' "$T/err"
id=$(sed -n 's/^hero-snap: archive \([0-9a-f]*\):.*/\1/p' "$T/err")
[ -s "$A" ] || fail "no archive written"
ls "$T" | matches '\.tmp\.' && fail "temporary output left behind"

echo "== inspect shows the manifest; --verify checks every byte"
expect_code 0 hero-inspect "$A"
expect_grep "archive    $id" "$T/out"
expect_grep 'not verified' "$T/out"
expect_grep 'hero_osis .*0.9.2 .*schema 3' "$T/out"
expect_grep 'OSIS_MASTER_KEY' "$T/out"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" "$A"
expect_grep 'signature and every entry verified' "$T/out"
expect_code 0 hero-inspect --json --list "$A"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["manifest"]["archive_id"]==sys.argv[2]; assert len(d["entries"])>50' "$T/out" "$id" 2>/dev/null \
	|| matches "\"archive_id\": \"$id\"" "$T/out" || fail "--json lacks the archive id"
expect_code 3 hero-inspect --verify -p "$KEYS/other.pub" "$A"
expect_grep 'untrusted key' "$T/err"

echo "== a bare root lacks the secrets: refused (6), nothing created"
expect_code 6 hero-restore -p "$KEYS/test.pub" --root "$D" "$A"
expect_grep 'lacks secrets the archive needs: .*OSIS_MASTER_KEY' "$T/err"
[ -e "$D" ] && fail "refused restore created the target"
ls -a "$T" | matches 'hero-staging' && fail "staging left behind"

echo "== restore into a fresh root"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$D" "$A"
expect_grep "archive $id restored" "$T/err"
# files of archived classes are byte-identical
for d in var/hero_foundry/files var/hero_books var/hero_voice cfg/actions cfg/hero_osis; do
	(cd "$S/$d" && find . -type f ! -name '*.db' ! -name '*.db-*' ! -name '*.tmp' ! -path '*/.cache/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$T/a.sum"
	(cd "$D/$d" && find . -type f ! -name '*.db' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$T/b.sum"
	cmp -s "$T/a.sum" "$T/b.sum" || { diff "$T/a.sum" "$T/b.sum" | head; fail "files differ under $d"; }
done
# databases equal row for row (the source read through its WAL)
n=0
for db in $(cd "$S" && find . -name '*.db' | LC_ALL=C sort); do
	[ -f "$D/$db" ] || fail "database $db not restored"
	[ -e "$D/$db-wal" ] && fail "restored $db came with a -wal"
	same_out "database $db differs" 'dbdump "$S/$db"' 'dbdump "$D/$db"'
	[ "$(sqlite3 "$D/$db" 'PRAGMA integrity_check')" = ok ] || fail "$db fails integrity_check"
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n databases compared"
# skipped classes are absent
for p in var/hero_indexer var/hero_embedder var/hero_foundry/thumbs var/sockets var/log var/run cfg/env; do
	[ -e "$D/$p" ] && fail "skipped state $p was restored"
done
find "$D" -name '*.tmp' -o -name .cache | matches . && fail "excluded files restored"
ls -a "$T" | matches 'hero-staging' && fail "staging left behind"

echo "== no secret value in the archive, compressed or not"
grep -o '=.*' "$S/cfg/env/env.sh" | cut -c2- | tr -d "'\"" >"$T/secrets"
[ "$(wc -l <"$T/secrets")" -ge 4 ] || fail "sample has too few secrets"
zstd -dcq "$A" >"$T/plain.tar"
while read -r v; do
	grep -qF "$v" "$A" && fail "secret value found in the archive"
	grep -qF "$v" "$T/plain.tar" && fail "secret value found in the decompressed archive"
done <"$T/secrets"
grep -q 'OSIS_MASTER_KEY' "$T/plain.tar" || fail "secret names not recorded"

echo "== non-ASCII names survive under the C locale (cron, ssh without a locale)"
echo umlaut >"$S/var/hero_foundry/files/root/documents/café-ümlaut.md"
expect_code 0 env LC_ALL=C hero-snap -s "$KEYS/test.key" -o "$T/u.hsnap" --root "$S"
expect_code 0 env LC_ALL=C hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/u" "$T/u.hsnap"
cmp -s "$S/var/hero_foundry/files/root/documents/café-ümlaut.md" "$T/u/var/hero_foundry/files/root/documents/café-ümlaut.md" \
	|| fail "non-ASCII file name not restored"
rm "$S/var/hero_foundry/files/root/documents/café-ümlaut.md"

echo "== pipe: hero-snap -o - | hero-restore - with no temporary file"
rm -rf "$D"
hero-snap -s "$KEYS/test.key" -o - --root "$S" -q | hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$D" - 2>"$T/err" \
	|| { cat "$T/err"; fail "pipe restore failed"; }
[ -f "$D/var/hero_biz/biz.db" ] || fail "pipe restore produced nothing"

echo "== restore over a live root keeps what the archive does not own"
cp -a "$S" "$T/live"
echo stale >"$T/live/var/hero_osis/root/stale.db"
echo mine >"$T/live/notes.txt"
expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$T/live" "$A"
[ -e "$T/live/var/hero_osis/root/stale.db" ] && fail "file in a restored directory survived"
[ "$(cat "$T/live/notes.txt")" = mine ] || fail "unmanaged file lost"
cmp -s "$S/cfg/env/env.sh" "$T/live/cfg/env/env.sh" || fail "secrets file lost"
[ -S "$T/live/var/sockets/hero_osis/rpc.sock" ] || fail "socket lost"
find "$T/live/var/hero_indexer" "$T/live/var/hero_foundry/thumbs" -type f 2>/dev/null | matches . && fail "stale derived state of a restored service kept"

echo "== --dry-run verifies and describes, changes nothing"
h=$(tree_hash "$T/live")
expect_code 0 hero-restore --dry-run -p "$KEYS/test.pub" --root "$T/live" "$A"
expect_grep '^service hero_osis: version 0.9.2 -> 0.9.2, schema 3 -> 3' "$T/out"
expect_grep '^  replace var/hero_osis/{context}/' "$T/out"
[ "$(tree_hash "$T/live")" = "$h" ] || fail "dry run changed the target"

echo "== a second operation on a locked instance is busy"
exec 9<"$T/live"
flock -n 9 || fail "cannot take the lock for the test"
expect_code 5 hero-snap -s "$KEYS/test.key" -o "$T/b.hsnap" --root "$T/live"
expect_grep 'busy' "$T/err"
expect_code 5 hero-restore -p "$KEYS/test.pub" --root "$T/live" "$A"
exec 9>&-
[ "$(tree_hash "$T/live")" = "$h" ] || fail "busy restore changed the target"

echo "== outputs that are not regular files are written, never replaced"
expect_code 0 hero-snap -s "$KEYS/test.key" -o /dev/null --root "$S"
[ -c /dev/null ] || { rm -f /dev/null; mknod -m 666 /dev/null c 1 3; fail "hero-snap replaced /dev/null"; }
ls /dev/null.tmp.* 2>/dev/null && fail "a temporary file beside /dev/null"
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/from-fifo.hsnap" &
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/fifo" --root "$S"
wait
[ -p "$T/fifo" ] || fail "the FIFO was replaced"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" "$T/from-fifo.hsnap"
echo old >"$T/real.hsnap"; ln -s "$T/real.hsnap" "$T/link.hsnap"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/link.hsnap" --root "$S"
[ -L "$T/link.hsnap" ] && [ "$(stat -c %s "$T/real.hsnap")" -gt 100 ] || fail "a symlinked output was replaced instead of its target"
expect_code 2 hero-snap -s "$KEYS/test.key" -o "$T" --root "$S"
expect_grep 'is a directory' "$T/err"

echo "== usage errors"
expect_code 2 hero-snap -o "$T/x.hsnap" --root "$S"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root relative/path "$A"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root / "$A"
expect_code 2 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$S" --service nosuch
expect_grep "unknown service 'nosuch'" "$T/err"
echo ok
