#!/bin/bash
# hero-sample builds the reference layout every other scenario relies on, and
# hero-dbwriter's checker tells a consistent database from a torn one.
. "$(dirname "$0")/lib.sh"
DBW=$HERO_BUILD/tests/hero-dbwriter
R=$T/inst
CTXS="root geomind alice"

# q DB SQL: query a database of the instance without checkpointing its WAL
q() { sqlite3 -readonly "$R/$1" "$2"; }
# between WHAT VALUE LO HI
between() { [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || fail "$1: $2 not within [$3, $4]"; }
bytes() { find "$@" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
magic() { od -An -tx1 -N"$2" "$1" | tr -d ' \n'; }

echo "== generate 3 contexts at 8M"
expect_code 0 "$SAMPLE" --root "$R" --size 8M --contexts root,geomind,alice --seed 7
expect_grep '^hero-sample: 3 contexts, [0-9]* files, 15 databases, [0-9]* bytes in ' "$T/out"
reported=$(sed -n 's/.* databases, \([0-9]*\) bytes in .*/\1/p' "$T/out")
eq "summary bytes" "$reported" "$(bytes "$R")"

echo "== the latest transaction of every database is only in its -wal file"
dbs=$(cd "$R" && find . -name '*.db' | LC_ALL=C sort)
eq "database count" "$(echo "$dbs" | wc -l)" 15
for db in $dbs; do
	[ -s "$R/$db-wal" ] || fail "$db-wal is missing or empty"
done
cp "$R/var/hero_db/alice/data.db" "$T/nowal.db"
eq "sentinel row in a copy without the WAL" "$(sqlite3 "$T/nowal.db" "SELECT count(*) FROM kv WHERE k = 'sentinel'")" 0
eq "user_version of a copy without the WAL" "$(sqlite3 "$T/nowal.db" 'PRAGMA user_version')" 0
eq "sentinel row with the WAL" "$(q var/hero_db/alice/data.db "SELECT count(*) FROM kv WHERE k = 'sentinel'")" 1
for db in $dbs; do
	[ -s "$R/$db-wal" ] || fail "a read-only query checkpointed $db"
	eq "journal mode of $db" "$(q "$db" 'PRAGMA journal_mode')" wal
done

echo "== layout"
for c in $CTXS; do
	for f in var/hero_db/$c/data.db var/hero_osis/$c/objects.db var/hero_collab/$c/collab.db \
		var/hero_books/$c/books.db var/hero_indexer/$c/index.bin \
		var/hero_foundry/files/$c/upload-0001.tmp var/hero_foundry/files/$c/.cache/preview-0001.bin; do
		[ -f "$R/$f" ] || fail "missing $f"
	done
	F=$R/var/hero_foundry/files/$c
	between "photos of $c" "$(ls "$F"/photos/*.jpg | wc -l)" 2 100
	between "documents of $c" "$(ls "$F"/documents/*.md | wc -l)" 2 100
	eq "thumbnails of $c" "$(ls "$R/var/hero_foundry/thumbs/$c" | wc -l)" "$(ls "$F"/photos/*.jpg | wc -l)"
	between "recordings of $c" "$(ls "$R/var/hero_voice/$c/recordings/"*.opus | wc -l)" 2 100
	eq "attachments of $c" "$(ls "$R/var/hero_books/$c/attachments/"*.pdf | wc -l)" 3
	eq "jpeg magic" "$(magic "$F/photos/IMG_0001.jpg" 4)" ffd8ffe0
	eq "opus magic" "$(head -c 4 "$R/var/hero_voice/$c/recordings/rec-0001.opus")" OggS
	eq "pdf header" "$(head -c 8 "$R/var/hero_books/$c/attachments/receipt-0001.pdf")" %PDF-1.4
done
for f in var/hero_foundry/foundry.db var/hero_voice/voice.db var/hero_biz/biz.db \
	var/hero_embedder/embeddings.bin cfg/hero_osis/config.toml cfg/env/env.sh; do
	[ -f "$R/$f" ] || fail "missing $f"
done
for s in hero_db hero_osis hero_foundry hero_collab hero_biz hero_books hero_indexer hero_embedder hero_voice; do
	expect_grep '^exec: ' "$R/cfg/actions/$s.yaml"
	expect_grep '^after: \[' "$R/cfg/actions/$s.yaml"
done
expect_grep '^after: \[hero_db\]' "$R/cfg/actions/hero_osis.yaml"
for s in hero_proc hero_db hero_osis hero_foundry hero_biz hero_voice; do
	[ -S "$R/var/sockets/$s/rpc.sock" ] || fail "var/sockets/$s/rpc.sock is not a socket"
	[ -s "$R/var/log/$s.log" ] || fail "missing var/log/$s.log"
	grep -qx '[0-9][0-9]*' "$R/var/run/$s.pid" || fail "bad var/run/$s.pid"
done
expect_grep 'contexts = \["root", "geomind", "alice"\]' "$R/cfg/hero_osis/config.toml"

echo "== schema versions"
for c in $CTXS; do
	eq "hero_db $c" "$(q var/hero_db/$c/data.db 'PRAGMA user_version')" 2
	eq "hero_osis $c" "$(q var/hero_osis/$c/objects.db 'PRAGMA user_version')" 3
	eq "hero_collab $c" "$(q var/hero_collab/$c/collab.db 'PRAGMA user_version')" 1
	eq "hero_books $c" "$(q var/hero_books/$c/books.db 'PRAGMA user_version')" 1
done
eq "foundry.db" "$(q var/hero_foundry/foundry.db 'PRAGMA user_version')" 1
eq "voice.db" "$(q var/hero_voice/voice.db 'PRAGMA user_version')" 1
eq "biz.db" "$(q var/hero_biz/biz.db 'PRAGMA user_version')" 2
eq "invoices.due" "$(q var/hero_biz/biz.db "SELECT count(*) FROM pragma_table_info('invoices') WHERE name = 'due'")" 1

echo "== secrets"
eq "env.sh mode" "$(stat -c %a "$R/cfg/env/env.sh")" 600
for n in HERO_DB_KEY OSIS_MASTER_KEY FOUNDRY_WEBDAV_TOKEN BIZ_SMTP_PASSWORD; do
	grep -Eqx "export $n=secret-$n-[0-9a-f]{32}" "$R/cfg/env/env.sh" || fail "no $n line in env.sh"
done
eq "export lines" "$(grep -c '^export ' "$R/cfg/env/env.sh")" 4

echo "== sentinels: every context's files and rows carry its own, never another's"
for c in $CTXS; do
	F=$R/var/hero_foundry/files/$c
	missing=$(grep -L -a "SENTINEL-$c" "$F"/photos/*.jpg "$F"/documents/*.md \
		"$R/var/hero_voice/$c/recordings/"*.opus "$R/var/hero_books/$c/attachments/"*.pdf)
	[ -z "$missing" ] || fail "files of $c without SENTINEL-$c: $missing"
	dirs="$F $R/var/hero_foundry/thumbs/$c $R/var/hero_db/$c $R/var/hero_osis/$c $R/var/hero_collab/$c
		$R/var/hero_books/$c $R/var/hero_voice/$c $R/var/hero_indexer/$c"
	for o in $CTXS; do
		[ "$o" = "$c" ] && continue
		leak=$(grep -r -l -a "SENTINEL-$o" $dirs || true)
		[ -z "$leak" ] || fail "SENTINEL-$o found in $c: $leak"
	done
	eq "kv sentinel of $c" "$(q var/hero_db/$c/data.db "SELECT CAST(v AS TEXT) FROM kv WHERE k = 'sentinel'")" "SENTINEL-$c"
	for t in "hero_osis/$c/objects.db objects body" "hero_collab/$c/collab.db docs body" \
		"hero_books/$c/books.db entries memo"; do
		set -- $t
		eq "$2 rows of $c without the sentinel" \
			"$(q "var/$1" "SELECT count(*) FROM $2 WHERE instr($3, 'SENTINEL-$c') = 0")" 0
		between "$2 rows of $c" "$(q "var/$1" "SELECT count(*) FROM $2")" 3 1000000
	done
	between "customers of $c" "$(q var/hero_biz/biz.db "SELECT count(*) FROM customers WHERE context = '$c'")" 2 1000000
	between "invoices of $c" "$(q var/hero_biz/biz.db "SELECT count(*) FROM invoices WHERE context = '$c'")" 2 1000000
	eq "foundry rows of $c" "$(q var/hero_foundry/foundry.db "SELECT count(*) FROM files WHERE context = '$c'")" \
		"$(ls "$F"/photos/*.jpg "$F"/documents/*.md | wc -l)"
	eq "voice rows of $c" "$(q var/hero_voice/voice.db "SELECT count(*) FROM recordings WHERE context = '$c'")" \
		"$(ls "$R/var/hero_voice/$c/recordings/"*.opus | wc -l)"
done
eq "customers without their context's sentinel" \
	"$(q var/hero_biz/biz.db "SELECT count(*) FROM customers WHERE instr(name, 'SENTINEL-' || context || ')') = 0")" 0
eq "invoices pointing at another context's customer" \
	"$(q var/hero_biz/biz.db 'SELECT count(*) FROM invoices i LEFT JOIN customers c ON c.id = i.customer_id
		WHERE c.id IS NULL OR c.context != i.context')" 0
q var/hero_foundry/foundry.db "SELECT context || '/' || path || ' ' || size FROM files" >"$T/rows"
while read -r p size; do
	eq "size of $p" "$(stat -c %s "$R/var/hero_foundry/files/$p")" "$size"
done <"$T/rows"
between "settings rows" "$(q var/hero_biz/biz.db 'SELECT count(*) FROM settings')" 1 100
eq "settings has no context column" \
	"$(q var/hero_biz/biz.db "SELECT count(*) FROM pragma_table_info('settings') WHERE name = 'context'")" 0

echo "== sizes: 60% incompressible, 20% text, 20% rows, even across contexts"
M=$((1024 * 1024))
inc=$(bytes "$R"/var/hero_foundry/files/*/photos "$R"/var/hero_voice/*/recordings)
txt=$(bytes "$R"/var/hero_foundry/files/*/documents "$R"/var/hero_books/*/attachments)
rows=$(find "$R" \( -name '*.db' -o -name '*.db-wal' \) -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
between "incompressible bytes" "$inc" $((8 * M * 50 / 100)) $((8 * M * 70 / 100))
between "text bytes" "$txt" $((8 * M * 15 / 100)) $((8 * M * 25 / 100))
between "database bytes" "$rows" $((8 * M * 15 / 100)) $((8 * M * 40 / 100))
between "total bytes" "$reported" $((8 * M)) $((8 * M * 135 / 100))
a=$(bytes "$R/var/hero_foundry/files/alice"); b=$(bytes "$R/var/hero_foundry/files/root")
between "alice's files against root's (percent)" $((a * 100 / b)) 85 115
p=$R/var/hero_foundry/files/alice/photos/IMG_0001.jpg
between "gzip of a photo (percent)" $(( $(gzip -c "$p" | wc -c) * 100 / $(stat -c %s "$p") )) 99 110
d=$R/var/hero_foundry/files/alice/documents/note-0001.md
between "gzip of a document (percent)" $(( $(gzip -c "$d" | wc -c) * 100 / $(stat -c %s "$d") )) 1 50

echo "== deterministic given --seed, except the secrets"
expect_code 0 "$SAMPLE" --root "$T/again" --size 8M --contexts root,geomind,alice --seed 7
eq "files of the same seed" "$(tree_hash "$T/again/var/hero_foundry/files")" "$(tree_hash "$R/var/hero_foundry/files")"
eq "biz rows of the same seed" "$(sqlite3 -readonly "$T/again/var/hero_biz/biz.db" .dump | sha256sum)" \
	"$(q var/hero_biz/biz.db .dump | sha256sum)"
! cmp -s "$T/again/cfg/env/env.sh" "$R/cfg/env/env.sh" || fail "secrets repeat between runs"
expect_code 0 "$SAMPLE" --root "$T/other" --size 8M --contexts root,geomind,alice --seed 8
! cmp -s "$T/other/var/hero_foundry/files/root/photos/IMG_0001.jpg" "$R/var/hero_foundry/files/root/photos/IMG_0001.jpg" \
	|| fail "another seed gave the same photo"

echo "== refusals and options"
before=$(tree_hash "$R")
expect_code 1 "$SAMPLE" --root "$R" --size 1M
expect_grep 'not empty' "$T/err"
eq "tree after a refusal" "$(tree_hash "$R")" "$before"
expect_code 2 "$SAMPLE" --root "$T/x" --size lots
expect_code 2 "$SAMPLE" --root "$T/x" --contexts al,alice
expect_grep "overlap" "$T/err"
expect_code 2 "$SAMPLE" --root "$T/x" --contexts 'Bad/Name'
expect_code 2 "$SAMPLE" --size 1M
[ ! -e "$T/x" ] || fail "a refused run created its root"
expect_code 0 "$SAMPLE" --root "$R" --size 1M --contexts 2 --force
expect_code 0 "$SAMPLE" --root "$T/five" --size 2M --contexts 5 --schema-biz 1
eq "contexts 5" "$(ls "$T/five/var/hero_db" | LC_ALL=C sort | tr '\n' ' ')" "alice bob ctx005 geomind root "
eq "biz schema 1" "$(sqlite3 -readonly "$T/five/var/hero_biz/biz.db" 'PRAGMA user_version')" 1
eq "schema 1 invoices have no due" "$(sqlite3 -readonly "$T/five/var/hero_biz/biz.db" \
	"SELECT count(*) FROM pragma_table_info('invoices') WHERE name = 'due'")" 0

echo "== hero-dbwriter"
W=$T/w/ledger.db
mkdir -p "$T/w"
"$DBW" "$W" --seconds 2 --ready "$T/w/ready" >"$T/w/out" 2>"$T/w/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null"
wait_for 10 '[ -e "$T/w/ready" ] || { ! kill -0 $wpid 2>/dev/null && fail "hero-dbwriter ended before it was ready: $(cat "$T/w/err")"; }'
expect_code 0 "$DBW" --check "$W"
expect_grep '^consistent: [1-9][0-9]* batches' "$T/out"
wait "$wpid" || fail "hero-dbwriter failed: $(cat "$T/w/err")"
expect_grep '^hero-dbwriter: [1-9][0-9]* batches' "$T/w/out"
written=$(sed -n 's/.*: [0-9]* batches, \([0-9]*\) rows.*/\1/p' "$T/w/out")
expect_code 0 "$DBW" --check "$W"
expect_grep "^consistent: [0-9]* batches, $written rows" "$T/out"
cp "$W" "$T/w/torn.db"
sqlite3 "$T/w/torn.db" 'DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger)'
expect_code 1 "$DBW" --check "$T/w/torn.db"
expect_grep 'inconsistent' "$T/err"
cp "$W" "$T/w/gap.db"
sqlite3 "$T/w/gap.db" "DELETE FROM ledger WHERE batch = 1; UPDATE counter SET v = v - 100 WHERE k = 'rows'"
expect_code 1 "$DBW" --check "$T/w/gap.db"
expect_grep 'not contiguous' "$T/err"
expect_code 1 "$DBW" --check "$T/w/absent.db"
expect_code 2 "$DBW" --check "$W" --seconds 1
echo "ok"
