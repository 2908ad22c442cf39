#!/bin/bash
# Incremental archives: a full archive and three increments (files changed, added,
# deleted, a mode changed, a file replaced by a directory; database rows changed;
# a context added and one removed) restore to exactly the state a fresh full
# snapshot of the last point restores; broken, reordered and foreign chains and
# parents are refused and change nothing.
. "$(dirname "$0")/lib.sh"
S=$T/src A=$T/arch
mkdir "$A"
F=var/hero_foundry/files
snap() { hero-snap -q -s "$KEYS/test.key" --root "$S" "$@"; }
restore() { hero-restore -q --allow-missing-secrets -p "$KEYS/test.pub" "$@"; }
# the tar entries of an archive, sorted, without the manifest and the index
entries() { zstd -dcq "$1" | tar -tf - | grep -v '^\.hero/' | LC_ALL=C sort | tr '\n' ' '; }
json_field() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" "$2" | tr -d '"'; }
# a tree's state as a restore leaves it, without the restore's own log
state_hash() { (cd "$1" && find . ! -path './.hero' ! -path './.hero/*' -printf '%p %y %m %s\n' | LC_ALL=C sort &&
	find . -type f ! -path './.hero/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1; }
# tick: the next changes get later times than the archive just written
tick() { clock_past "$(ls -t "$A"/*.hsnap | head -n 1)"; }
# flip FILE OFFSET: invert one byte (never a no-op, unlike writing a fixed value)
flip() { local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '); printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

echo "== full archive"
expect_code 0 "$SAMPLE" --root "$S" --size 3M --contexts root,alice,bob --seed 21
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$A/0-full.hsnap" --json
id0=$(json_field archive_id "$T/out")
[ "$(json_field parent "$T/out")" = null ] || fail "a full archive has a parent"
tick

echo "== increment 1: files changed, added, deleted, a mode changed"
printf 'XXXX' | dd of="$S/$F/alice/documents/note-0001.md" bs=1 seek=10 conv=notrunc status=none # same size
echo "appended" >>"$S/$F/bob/documents/note-0002.md"
echo "a new note" >"$S/$F/alice/documents/new-note.md"
rm "$S/var/hero_voice/bob/recordings/rec-0001.opus"
chmod 0600 "$S/$F/alice/photos/IMG_0002.jpg"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$A/1-inc.hsnap" --parent "$A/0-full.hsnap" --json
id1=$(json_field archive_id "$T/out")
[ "$(json_field parent "$T/out")" = "$id0" ] || fail "increment 1 does not name its parent"
[ "$(json_field parent_verified "$T/out")" = false ] || fail "the index of the archive just written was not remembered"
[ "$(json_field deleted "$T/out")" = 1 ] || fail "increment 1: expected 1 deleted path: $(cat "$T/out")"
[ "$(json_field unchanged "$T/out")" -gt 100 ] || fail "increment 1 lists too few unchanged entries"
want="$F/alice/documents/new-note.md $F/alice/documents/note-0001.md $F/alice/photos/IMG_0002.jpg $F/bob/documents/note-0002.md "
[ "$(entries "$A/1-inc.hsnap")" = "$want" ] || fail "increment 1 holds: $(entries "$A/1-inc.hsnap")"
tick

echo "== increment 2: database rows changed"
sqlite3 "$S/var/hero_biz/biz.db" "UPDATE customers SET name = 'changed' WHERE id = 1"
sqlite3 "$S/var/hero_osis/alice/objects.db" "INSERT INTO objects(kind, key, body, updated) VALUES ('note', 'inc-2', '{}', 2)"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$A/2-inc.hsnap" --parent "$A/1-inc.hsnap" --json
id2=$(json_field archive_id "$T/out")
[ "$(json_field deleted "$T/out")" = 0 ] || fail "increment 2 deletes something"
[ "$(entries "$A/2-inc.hsnap")" = "var/hero_biz/biz.db var/hero_osis/alice/objects.db " ] ||
	fail "increment 2 holds: $(entries "$A/2-inc.hsnap")"
tick

echo "== increment 3: a context gone, one added, a file replaced by a directory"
rm -rf "$S/var/hero_books/bob"
mkdir -p "$S/var/hero_collab/carol" &&
	sqlite3 "$S/var/hero_collab/alice/collab.db" ".backup '$S/var/hero_collab/carol/collab.db'"
rm "$S/$F/alice/documents/note-0003.md" && mkdir "$S/$F/alice/documents/note-0003.md" &&
	echo inside >"$S/$F/alice/documents/note-0003.md/part.md"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$A/3-inc.hsnap" --parent "$A/2-inc.hsnap" --json
id3=$(json_field archive_id "$T/out")
[ "$(json_field deleted "$T/out")" -ge 5 ] || fail "increment 3 lists too few deleted paths: $(cat "$T/out")"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$T/fresh.hsnap"
echo "increments: $(stat -c %s "$A/1-inc.hsnap") $(stat -c %s "$A/2-inc.hsnap") $(stat -c %s "$A/3-inc.hsnap") bytes; full $(stat -c %s "$T/fresh.hsnap")"

echo "== inspect shows the parent, the unchanged entries and the chain"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" --list "$A/2-inc.hsnap"
expect_grep "^parent     $id1" "$T/out"
expect_grep 'var/hero_biz/biz.db$' "$T/out"
expect_grep 'var/hero_db/alice/data.db  (unchanged)$' "$T/out"
expect_code 0 hero-inspect --chain --verify -p "$KEYS/test.pub" "$A"
[ "$(grep -c ' ok, verified' "$T/out")" = 4 ] || { cat "$T/out"; fail "chain not shown as four verified links"; }
expect_grep "^   1  $id0 .* full " "$T/out"
expect_grep "^   4  $id3 .* incremental .*parent ${id2:0:8}" "$T/out"

echo "== the chain restores exactly the state of a fresh full snapshot"
expect_code 0 restore --root "$T/fresh-r" "$T/fresh.hsnap"
expect_code 0 restore --root "$T/chain-r" "$A/0-full.hsnap" "$A/1-inc.hsnap" "$A/2-inc.hsnap" "$A/3-inc.hsnap"
want=$(state_hash "$T/fresh-r")
[ "$(state_hash "$T/chain-r")" = "$want" ] || { diff <(cd "$T/fresh-r" && find . | sort) <(cd "$T/chain-r" && find . | sort) | head; fail "chain restore differs from the fresh one"; }
[ -d "$T/chain-r/$F/alice/documents/note-0003.md" ] || fail "file replaced by a directory not restored"
[ -e "$T/chain-r/var/hero_books/bob" ] && fail "deleted context restored"
[ "$(stat -c %a "$T/chain-r/$F/alice/photos/IMG_0002.jpg")" = 600 ] || fail "mode change lost"
[ "$(sqlite3 "$T/chain-r/var/hero_biz/biz.db" "SELECT name FROM customers WHERE id = 1")" = changed ] || fail "row change lost"
grep -q "chain link 4: $id3" "$T/chain-r/.hero/restore.log" || fail "the restore log lacks the chain"
echo "== a directory resolves to the chain ending at its newest archive; over a live root"
cp -a "$S" "$T/live" && echo mine >"$T/live/notes.txt"
expect_code 0 hero-restore --dry-run --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/live" "$A"
expect_grep "^link 4: $id3 increment" "$T/out"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/live" "$A" --json
expect_grep '"links":4' "$T/out"
[ "$(cat "$T/live/notes.txt")" = mine ] || fail "unmanaged file lost"
same_out "live restore of the directory differs" \
	"cd '$T/live/var' && find hero_books hero_collab hero_foundry/files hero_voice -type f ! -name '*-wal' ! -name '*-shm' ! -name '*.tmp' ! -path '*/.cache/*' | sort | xargs sha256sum" \
	"cd '$T/fresh-r/var' && find hero_books hero_collab hero_foundry/files hero_voice -type f | sort | xargs sha256sum"
echo "== one service of a chain"
cp -a "$T/fresh-r" "$T/svc" && sqlite3 "$T/svc/var/hero_biz/biz.db" "DELETE FROM invoices"
expect_code 0 restore --root "$T/svc" --service hero_biz "$A"
[ "$(state_hash "$T/svc")" = "$want" ] || fail "per-service chain restore differs"

echo "== refused: a missing link, a wrong order, an increment alone or first"
h=$(tree_hash "$T/chain-r")
expect_code 3 restore --root "$T/chain-r" "$A/0-full.hsnap" "$A/2-inc.hsnap" "$A/3-inc.hsnap"
expect_grep "'$A/2-inc.hsnap' is an increment of $id1, not of '$A/0-full.hsnap'.*missing or out of order" "$T/err"
expect_code 3 restore --root "$T/chain-r" "$A/0-full.hsnap" "$A/2-inc.hsnap" "$A/1-inc.hsnap" "$A/3-inc.hsnap"
expect_grep 'missing or out of order' "$T/err"
expect_code 3 restore --root "$T/chain-r" "$A/3-inc.hsnap"
expect_grep "archive chain refused: archive $id3 is an increment of $id2" "$T/err"
expect_code 3 restore --root "$T/chain-r" "$A/1-inc.hsnap" "$A/2-inc.hsnap"
expect_grep 'a chain starts with a full archive' "$T/err"
expect_code 3 restore --root "$T/chain-r" "$A/0-full.hsnap" "$T/fresh.hsnap"
expect_grep 'is a full archive, not an increment of' "$T/err"
expect_code 3 hero-inspect --chain "$A/0-full.hsnap" "$A/2-inc.hsnap"
expect_grep 'missing or out of order' "$T/err"
mv "$A/1-inc.hsnap" "$T/"
expect_code 3 restore --root "$T/chain-r" "$A"
expect_grep "parent $id1 of '$A/2-inc.hsnap' is missing" "$T/err"
expect_code 3 hero-inspect --chain "$A"
mv "$T/1-inc.hsnap" "$A/"
[ "$(tree_hash "$T/chain-r")" = "$h" ] || fail "a refused restore changed the target"
ls -a "$T" | matches 'hero-staging' && fail "staging left behind"

echo "== a damaged link is reported as damaged, wherever it is"
cp "$A/2-inc.hsnap" "$T/bad.hsnap"
flip "$T/bad.hsnap" $(( $(stat -c %s "$T/bad.hsnap") / 2 ))
expect_code 3 restore --root "$T/chain-r" "$A/0-full.hsnap" "$A/1-inc.hsnap" "$T/bad.hsnap" "$A/3-inc.hsnap"
expect_grep "bad.hsnap.*damaged" "$T/err"
expect_code 3 restore --root "$T/chain-r" "$A/0-full.hsnap" "$T/bad.hsnap"
expect_grep "bad.hsnap.*damaged" "$T/err"
[ "$(tree_hash "$T/chain-r")" = "$h" ] || fail "a damaged chain changed the target"

echo "== a chain is not restored per context"
expect_code 2 restore --root "$T/chain-r" --context alice "$A"
expect_grep 'cannot be restored per context' "$T/err"

echo "== the parent must verify, and be of this instance and scope"
expect_code 3 snap -o "$T/x.hsnap" --parent "$T/bad.hsnap"
expect_grep "parent.*bad.hsnap.*damaged" "$T/err"
[ -e "$T/x.hsnap" ] && fail "an output was left after a refused parent"
ls "$T" | matches 'x.hsnap.tmp' && fail "a temporary output was left"
expect_code 3 hero-snap -q -s "$KEYS/other.key" --root "$S" -o "$T/x.hsnap" --parent "$A/3-inc.hsnap"
expect_grep 'untrusted key' "$T/err"
expect_code 0 hero-snap -q -s "$KEYS/other.key" --root "$S" -o "$T/x.hsnap" --parent "$A/3-inc.hsnap" -p "$KEYS/test.pub"
expect_code 2 snap -o "$T/y.hsnap" --service hero_biz --parent "$A/3-inc.hsnap"
expect_grep "has scope 'instance', this snapshot 'services services=hero_biz'" "$T/err"
expect_code 0 "$SAMPLE" --root "$T/other" --size 1M --contexts root --seed 5
expect_code 2 hero-snap -q -s "$KEYS/test.key" --root "$T/other" -o "$T/y.hsnap" --parent "$A/3-inc.hsnap"
expect_grep "is an archive of instance .*, not of this one" "$T/err"
expect_code 2 snap -o "$T/y.hsnap" -p "$KEYS/test.pub"
expect_grep 'need --parent' "$T/err"

echo "== the index of the last archive is remembered; --verify-parent reads the parent anyway; a damaged memory is not used"
expect_code 0 snap -o "$T/m1.hsnap"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$T/m2.hsnap" --parent "$T/m1.hsnap" --json
[ "$(json_field parent_verified "$T/out")" = false ] || fail "remembered index not used"
cp "$T/m2.hsnap" "$T/m2-bad.hsnap"
flip "$T/m2-bad.hsnap" $(( $(stat -c %s "$T/m2.hsnap") / 2 ))
expect_code 3 snap -o "$T/m3.hsnap" --parent "$T/m2-bad.hsnap" --verify-parent
expect_grep 'parent.*m2-bad.hsnap.*damaged' "$T/err"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$T/m3.hsnap" --parent "$T/m2.hsnap" --verify-parent --json
[ "$(json_field parent_verified "$T/out")" = true ] || fail "--verify-parent did not read the parent"
flip "$S/.hero/last-index" $(( $(stat -c %s "$S/.hero/last-index") - 10 ))
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$T/m4.hsnap" --parent "$T/m3.hsnap" --json
[ "$(json_field parent_verified "$T/out")" = true ] || fail "a damaged remembered index was used"
rm "$S/.hero/last-index"
expect_code 0 hero-snap -s "$KEYS/test.key" --root "$S" -o "$T/m5.hsnap" --parent "$T/m4.hsnap" --json
[ "$(json_field parent_verified "$T/out")" = true ] || fail "no remembered index, yet the parent was not read"
expect_code 0 restore --root "$T/m-r" "$T/m1.hsnap" "$T/m2.hsnap" "$T/m3.hsnap" "$T/m4.hsnap" "$T/m5.hsnap"
[ "$(state_hash "$T/m-r")" = "$want" ] || fail "a chain written from remembered and read parents differs"

echo "== an increment of nothing changed holds no entry"
expect_code 0 snap -o "$A/4-inc.hsnap" --parent "$A/3-inc.hsnap"
[ -z "$(entries "$A/4-inc.hsnap")" ] || fail "an increment of an unchanged instance holds: $(entries "$A/4-inc.hsnap")"
expect_code 0 restore --root "$T/chain5-r" "$A"
[ "$(state_hash "$T/chain5-r")" = "$want" ] || fail "a five-link chain restore differs"

echo "== a damaged archive in the directory is refused by name, never skipped"
head -c 300 "$A/4-inc.hsnap" >"$A/5-damaged.hsnap"
expect_code 3 restore --root "$T/chain6-r" "$A"
expect_grep "holds an unreadable archive (5-damaged.hsnap" "$T/err"
[ -e "$T/chain6-r" ] && fail "a refused restore created the target"
expect_code 3 snap -o "$T/next.hsnap" --parent "$A"
expect_grep "5-damaged.hsnap" "$T/err"
[ -e "$T/next.hsnap" ] && fail "a refused snapshot wrote an archive"
rm "$A/5-damaged.hsnap"
echo ok
