#!/bin/bash
# The target governs: validly signed archives whose manifests, index labels,
# databases and secret lines lie (tests/tools/hero-liar.c) are refused in every
# kind of restore (whole, --context, --context --as, --service, --dry-run,
# encrypted with secrets) with the integrity code and one escaped line; the
# target, a live sample instance with WAL-mode databases, stays byte-identical,
# nothing is created beside or outside it, no staging is left.
. "$(dirname "$0")/lib.sh"
LIAR=$HERO_BUILD/tests/hero-liar
C=$T/corpus W=$T/w P=$T/w/parent R=$T/w/parent/inst O=$T/w/outside
ESCAPES="/tmp/hero-liar-pwned /tmp/hero-liar-evil.so /tmp/hero-liar"
for e in $ESCAPES; do [ ! -e "$e" ] || fail "$e exists before the test"; done
# a dry run checks databases in a scratch directory under $TMPDIR, removed at the end
mkdir "$T/tmp" && export TMPDIR=$T/tmp
expect_code 0 "$LIAR" -s "$KEYS/test.key" -r "$KEYS/test-x25519.pub" -o "$C"

# The target: a sample instance (databases in WAL mode, their last transaction
# still in the -wal file), and one WAL-mode database at rest without sidecars,
# which a careless read would give new -wal and -shm files.
mkdir -p "$P" "$O"
expect_code 0 "$SAMPLE" --root "$R" --size 2M --contexts root,geomind
books=$R/var/hero_books/root/books.db
sqlite3 "$books" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
[ "$(sqlite3 "$books" 'PRAGMA journal_mode')" = wal ] || fail "books.db is not in WAL mode"
[ ! -e "$books-wal" ] && [ ! -e "$books-shm" ] || fail "books.db still has sidecars"
[ -e "$R/var/hero_osis/root/objects.db-wal" ] || fail "the sample has no live -wal file"
echo beside >"$P/sentinel"
echo outside >"$O/sentinel"
before=$(tree_hash "$W")

# run NAME CODE WANT ARGS...: one restore, and the oracle
runs=0
run() {
	local name=$1 code=$2 want=$3; shift 3
	local rc; timeout 60 hero-restore -p "$KEYS/test.pub" --root "$R" "$@" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
	local what="$name ($*)"
	[ "$rc" = "$code" ] || { cat "$T/err" >&2; fail "$what: exit $rc, want $code"; }
	[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; fail "$what: want exactly one error line"; }
	grep -qF -- "$want" "$T/err" || { cat "$T/err" >&2; fail "$what: error line does not say '$want'"; }
	! grep -q $'\x1b' "$T/err" || fail "$what: a raw escape byte reached the terminal"
	[ -s "$T/out" ] && [ -z "${DRY:-}" ] && fail "$what: unexpected output on stdout"
	[ "$(tree_hash "$W")" = "$before" ] || { (cd "$W" && find . -newer "$C/EXPECT" | sort) >&2; fail "$what: the target, its parent or the outside changed"; }
	[ -z "$(ls -A "$P" | grep -v '^inst$\|^sentinel$')" ] || fail "$what: something left beside the target: $(ls -A "$P")"
	[ -z "$(ls -A "$TMPDIR")" ] || fail "$what: left in \$TMPDIR: $(ls -A "$TMPDIR")"
	for e in $ESCAPES; do [ ! -e "$e" ] || fail "$what: created $e"; done
	runs=$((runs + 1))
}

ID=(--identity "$KEYS/test-x25519.key")
n=0
while IFS=$'\t' read -r name code want svc modes; do
	case $name in '#'*) continue ;; esac
	plain=$C/$name.hsnap enc=$C/$name.enc.hsnap
	case $modes in
	ctx)
		run "$name" "$code" "$want" "$plain"
		run "$name" "$code" "$want" --context root "$plain"
		run "$name" "$code" "$want" --context root --as root2 "$plain"
		run "$name" "$code" "$want" --service "$svc" "$plain"
		DRY=1 run "$name" "$code" "$want" --dry-run "$plain"
		run "$name" "$code" "$want" "${ID[@]}" "$enc"
		run "$name" "$code" "$want" "${ID[@]}" --context root --as root2 "$enc" ;;
	noctx)
		run "$name" "$code" "$want" "$plain"
		run "$name" "$code" "$want" --service "$svc" "$plain"
		DRY=1 run "$name" "$code" "$want" --dry-run "$plain"
		run "$name" "$code" "$want" "${ID[@]}" "$enc" ;;
	enc)
		run "$name" "$code" "$want" "${ID[@]}" "$enc"
		DRY=1 run "$name" "$code" "$want" "${ID[@]}" --dry-run "$enc"
		run "$name" "$code" "$want" "${ID[@]}" --context root "$enc"
		run "$name" "$code" "$want" "${ID[@]}" --service "$svc" "$enc" ;;
	*) fail "$name: unknown modes '$modes'" ;;
	esac
	printf '%-26s %-5s %s\n' "$name" "$modes" "$(cut -c1-120 "$T/err")"
	n=$((n + 1))
done <"$C/EXPECT"
echo "== $n lying archives, $runs restores refused, target and surroundings unchanged"
[ "$n" -ge 29 ] || fail "only $n cases ran"

echo "== the same instance's own archive restores: the databases checked by content pass"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/own.hsnap" --root "$R" --context root
before=$(tree_hash "$W") # the snapshot leaves .hero/instance-id and the source's -wal files
expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$R" --dry-run "$T/own.hsnap"
[ -z "$(ls -A "$TMPDIR")" ] || fail "left in \$TMPDIR: $(ls -A "$TMPDIR")"
[ "$(tree_hash "$W")" = "$before" ] || fail "a dry run changed the target"
rows=$(sqlite3 "$R/var/hero_books/root/books.db" 'SELECT count(*) FROM entries')
sqlite3 "$R/var/hero_books/root/books.db" "INSERT INTO entries(date, account, amount_cents, memo) VALUES ('2026-12-01', 'later', 1, 'x')"
[ "$(sqlite3 "$R/var/hero_books/root/books.db" 'SELECT count(*) FROM entries')" = $((rows + 1)) ] || fail "the later row was not added"
# what the target's manifest excludes (hero_foundry: *.tmp files, .cache/ directories) is not
# part of the restored state: it stays, as it would after a restore of any other state
F=$R/var/hero_foundry/files/root
mkdir -p "$F/.cache/deep" && echo c >"$F/.cache/deep/c" && echo t >"$F/n.tmp"
expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$R" --context root "$T/own.hsnap"
[ "$(cat "$F/.cache/deep/c" "$F/n.tmp")" = "$(printf 'c\nt')" ] || fail "excluded files were not kept"
[ "$(sqlite3 "$R/var/hero_books/root/books.db" 'SELECT count(*) FROM entries')" = "$rows" ] || fail "root's books were not put back"
echo "== rows merge with the target's semantics: an archive table of COLLATE NOCASE brings only 'root'"
S=$T/src
cp -a "$R" "$S"
sqlite3 "$S/var/hero_biz/biz.db" "BEGIN;
CREATE TABLE c2(id INTEGER PRIMARY KEY, context TEXT NOT NULL COLLATE NOCASE, name TEXT, email TEXT, UNIQUE(context, email));
INSERT INTO c2 SELECT * FROM customers; DROP TABLE customers; ALTER TABLE c2 RENAME TO customers;
INSERT INTO customers VALUES (900001, 'ROOT', 'upper', 'u@x'), (900002, 'Root', 'mixed', 'm@x'); COMMIT;"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/nocase.hsnap" --root "$S"
sqlite3 "$R/var/hero_biz/biz.db" "INSERT INTO customers VALUES (900003, 'ROOT', 'the target''s own', 't@x')"
want_root=$(sqlite3 "$S/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'root' COLLATE BINARY")
expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$R" --context root "$T/nocase.hsnap"
q() { sqlite3 "$R/var/hero_biz/biz.db" "$1"; }
[ "$(q "SELECT name FROM customers WHERE id = 900003")" = "the target's own" ] || fail "the target's 'ROOT' row was taken for context root"
[ "$(q "SELECT count(*) FROM customers WHERE id IN (900001, 900002)")" = 0 ] || fail "the archive's 'ROOT'/'Root' rows were merged as root"
[ "$(q "SELECT count(*) FROM customers WHERE context = 'root'")" = "$want_root" ] || fail "root's rows differ from the archive's"
echo "== hero-snap never writes a database a restore would refuse: user_version must be the declared schema"
sqlite3 "$S/var/hero_books/root/books.db" 'PRAGMA user_version=5'
expect_code 1 hero-snap -s "$KEYS/test.key" -o "$T/uv.hsnap" --root "$S"
expect_grep "database 'var/hero_books/root/books.db': user_version 5 differs from the schema 1 service 'hero_books' declares" "$T/err"
[ ! -e "$T/uv.hsnap" ] && [ -z "$(ls "$T" | grep '^uv\.hsnap')" ] || fail "a refused snapshot left a file"
echo "t46: ok"
