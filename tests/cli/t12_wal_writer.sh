#!/bin/bash
# A database written to throughout the snapshot is restored as one consistent instant.
. "$(dirname "$0")/lib.sh"
S=$T/src D=$T/dst A=$T/a.hsnap DBW=$HERO_BUILD/tests/hero-dbwriter
expect_code 0 "$SAMPLE" --root "$S" --size 2M --contexts root,geomind --seed 9
DB=$S/var/hero_osis/root/ledger.db
sqlite3 "$DB" 'PRAGMA user_version=3' # the schema hero_osis declares
"$DBW" "$DB" --seconds 30 --ready "$T/ready" --interval 0 &
pid=$!
at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for 5 '[ -e "$T/ready" ]' # the writer started
for i in 1 2 3; do
	before=$(sqlite3 -readonly "$DB" 'SELECT v FROM counter WHERE k="rows"')
	expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$S"
	after=$(sqlite3 -readonly "$DB" 'SELECT v FROM counter WHERE k="rows"')
	rm -rf "$D"
	expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$D" "$A"
	got=$(sqlite3 "$D/var/hero_osis/root/ledger.db" 'SELECT v FROM counter WHERE k="rows"')
	echo "run $i: rows before $before, in archive $got, after $after"
	"$DBW" --check "$D/var/hero_osis/root/ledger.db" || fail "restored ledger is not one instant"
	[ "$got" -ge "$before" ] && [ "$got" -le "$after" ] || fail "archived state not between before and after"
	[ "$(sqlite3 "$D/var/hero_osis/root/ledger.db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
done
kill -0 $pid || fail "writer died during the snapshots"
echo ok
