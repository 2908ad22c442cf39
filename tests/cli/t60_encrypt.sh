#!/bin/bash
# Sovereignty export: a context encrypted to its owner (X25519 identity) or to a
# passphrase, still signed; restorable only with the key; truncation, reordering,
# duplication and the wrong key refused; without a key inspect still verifies.
. "$(dirname "$0")/lib.sh"
FR=$HERO_BUILD/tests/hero-frames
I1=$T/i1 I2=$T/i2 A=$T/alice.hsnap
q() { sqlite3 -readonly "$1" "$2"; }
# dump DB OUT: the database's SQL dump into OUT, which must not be empty
dump() { q "$1" .dump >"$2"; grep -q 'CREATE TABLE' "$2" || fail "no tables in $1"; }
# files_sums DIR OUT: the sha256 of every file of DIR (none of the snapshot's skipped ones) into OUT, not empty
files_sums() {
	(cd "$1" && find . -type f ! -name '*.tmp' ! -path '*/.cache/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) >"$2"
	[ -s "$2" ] || fail "no files in $1"
}
# readable FILE TEXT: TEXT is in FILE, raw or once the zstd frames it holds are decompressed
readable() { grep -qaF -- "$2" "$1" || { zstd -dcq "$1" 2>/dev/null || true; } | grep -aF -- "$2" >/dev/null; }
# contexts_hash ROOT CONTEXT: every file and directory of CONTEXT's own directories under ROOT/var
contexts_hash() { (cd "$1/var" && for d in */"$2" */files/"$2"; do [ ! -e "$d" ] || echo "$d $(tree_hash "$d")"; done); }

echo "== keys: the instance signs, alice and bob own X25519 identities"
expect_code 0 hero-snap keygen --encryption -s "$T/alice.key" -p "$T/alice.pub" --no-passphrase
expect_grep "identity '$T/alice.key' (unprotected), recipient key '$T/alice.pub'" "$T/err"
[ "$(stat -c %a "$T/alice.key")" = 600 ] || fail "identity not 0600"
grep -q 'hero-snap recipient key' "$T/alice.pub" || fail "recipient key file comment"
expect_code 0 hero-snap keygen --encryption -s "$T/bob.key" -p "$T/bob.pub" --no-passphrase
# an encryption key is not a signing key, and the reverse
expect_code 1 hero-snap -s "$T/alice.key" -o "$T/x.hsnap" --root "$T" --context x
expect_grep "secret key '$T/alice.key': unknown signature algorithm 'XC' (expected 'ED')" "$T/err"

echo "== export alice, encrypted to her"
expect_code 0 "$SAMPLE" --root "$I1" --size 8M --contexts alice,bravo --seed 21
expect_code 0 "$SAMPLE" --root "$I2" --size 2M --contexts carol --seed 22
# a distinct instance has its own key space in the shared databases
sqlite3 "$I2/var/hero_biz/biz.db" "UPDATE customers SET id = id + 1000000; UPDATE invoices SET id = id + 1000000, customer_id = customer_id + 1000000;"
sqlite3 "$I2/var/hero_foundry/foundry.db" "UPDATE files SET id = id + 1000000"
sqlite3 "$I2/var/hero_voice/voice.db" "UPDATE recordings SET id = id + 1000000"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$I1" --context alice --encrypt-to "$T/alice.pub"
expect_code 1 hero-restore --identity "$KEYS/test.key" -p "$KEYS/test.pub" --root "$T/nope" "$A"
expect_grep "secret key '$KEYS/test.key': not an encryption key: algorithm 'ED' (expected 'XC')" "$T/err"
# the same context unencrypted shows its data and its manifest to anyone; the encrypted archive neither
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/open.hsnap" --root "$I1" --context alice
readable "$T/open.hsnap" SENTINEL-alice || fail "the plaintext check cannot see plaintext"
readable "$T/open.hsnap" OSIS_MASTER_KEY || fail "the manifest check cannot see a manifest"
! readable "$A" SENTINEL-alice || fail "plaintext in the encrypted archive"
! readable "$A" OSIS_MASTER_KEY || fail "manifest readable without the key"

echo "== without the key: inspect shows signer, recipients and size, and verifies the signature"
expect_code 0 hero-inspect "$A"
expect_grep 'encrypted  yes, to 1 recipient' "$T/out"
expect_grep 'signed by  2cd288805a534108' "$T/out"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" "$A"
expect_grep 'signature verified' "$T/out"
expect_code 0 hero-inspect --json "$A"
expect_grep '"encrypted":true' "$T/out"
expect_grep '"recipients":1' "$T/out"

echo "== without the key a restore fails clearly and writes nothing"
h=$(tree_hash "$I2")
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" "$A"
expect_grep 'archive is encrypted: give --identity FILE or a passphrase' "$T/err"
[ "$(tree_hash "$I2")" = "$h" ] || fail "target changed"
[ -z "$(find "$T" -maxdepth 1 -name '*hero-staging*')" ] || fail "staging left behind"

echo "== the wrong identity is refused"
expect_code 3 hero-restore --identity "$T/bob.key" -p "$KEYS/test.pub" --root "$I2" "$A"
expect_grep 'not encrypted to this identity' "$T/err"
[ "$(tree_hash "$I2")" = "$h" ] || fail "target changed"

echo "== with the identity: inspect shows the manifest, restore imports alice"
expect_code 0 hero-inspect --verify --identity "$T/alice.key" -p "$KEYS/test.pub" "$A"
expect_grep 'encrypted  yes' "$T/out"
expect_grep 'hero_osis' "$T/out"
carol=$(contexts_hash "$I2" carol)
[ "$(echo "$carol" | wc -l)" -ge 3 ] || fail "carol's directories not found: $carol"
expect_code 0 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$I2" --allow-missing-secrets "$A"
dump "$I1/var/hero_osis/alice/objects.db" "$T/want.sql"; dump "$I2/var/hero_osis/alice/objects.db" "$T/got.sql"
cmp -s "$T/want.sql" "$T/got.sql" || fail "objects differ"
files_sums "$I1/var/hero_foundry/files/alice" "$T/want.sums"; files_sums "$I2/var/hero_foundry/files/alice" "$T/got.sums"
cmp -s "$T/want.sums" "$T/got.sums" || fail "files differ"
[ "$(contexts_hash "$I2" carol)" = "$carol" ] || fail "the target's own context was touched"

echo "== a passphrase instead of a recipient"
printf 'correct horse battery staple\n' >"$T/pw"; printf 'wrong horse\n' >"$T/bad"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/pw.hsnap" --root "$I1" --context alice --encrypt-passphrase-file "$T/pw"
expect_code 0 hero-inspect "$T/pw.hsnap"
expect_grep 'to a passphrase' "$T/out"
expect_code 3 hero-restore --passphrase-file "$T/bad" -p "$KEYS/test.pub" --root "$T/i3" --allow-missing-secrets "$T/pw.hsnap"
expect_grep 'wrong passphrase' "$T/err"
[ ! -e "$T/i3" ] || fail "refused restore created the target"
expect_code 0 hero-restore --passphrase-file "$T/pw" -p "$KEYS/test.pub" --root "$T/i3" --allow-missing-secrets "$T/pw.hsnap"
dump "$T/i3/var/hero_osis/alice/objects.db" "$T/got.sql"
cmp -s "$T/want.sql" "$T/got.sql" || fail "objects differ"
expect_code 2 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$I1" --encrypt-to "$T/alice.pub" --encrypt-passphrase-file "$T/pw"
[ ! -e "$T/x.hsnap" ] || fail "an archive was written"

echo "== chunks dropped, swapped or repeated are refused"
"$FR" list "$A" >"$T/frames"
n=$(wc -l <"$T/frames")
chunks=$(grep -c ' 0x184d2a51 ' "$T/frames")
[ "$chunks" -ge 3 ] || fail "want at least 3 chunks to reorder, got $chunks"
last=$((n - 2))   # the final chunk; frame n-1 is the signature
rm -rf "$T/i4"
damaged='archive \(truncated: no final chunk\|damaged: chunk [0-9]* fails authentication\|damaged: no signature frame after\)'
for op in "drop $last" "drop 1" "drop 2" "swap 1 2" "swap 2 $last" "dup 1" "dup $last"; do
	"$FR" $op "$A" "$T/bad.hsnap" || fail "hero-frames $op"
	! cmp -s "$A" "$T/bad.hsnap" || fail "hero-frames $op changed nothing"
	expect_code 3 hero-inspect --identity "$T/alice.key" --list "$T/bad.hsnap"
	expect_grep "$damaged" "$T/err"
	expect_code 3 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$T/i4" --allow-missing-secrets "$T/bad.hsnap"
	expect_grep "$damaged" "$T/err"
	[ ! -e "$T/i4" ] || fail "$op: refused restore created the target"
	echo "refused: $op ($(grep "$damaged" "$T/err"))"
done
# the final chunk cut off, signature kept: detected as truncation even before the signature
"$FR" drop "$last" "$A" "$T/bad.hsnap"
expect_code 3 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$T/i4" --allow-missing-secrets "$T/bad.hsnap"
expect_grep 'no final chunk' "$T/err"
# without the key, the signature still catches every change
expect_code 3 hero-inspect --verify -p "$KEYS/test.pub" "$T/bad.hsnap"
expect_grep 'archive damaged or forged: bad signature' "$T/err"
echo "== secret values travel only inside the encryption layer"
expect_code 2 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root "$I1" --include-secrets
expect_grep 'needs --encrypt-to' "$T/err"
[ ! -e "$T/x.hsnap" ] || fail "an archive was written"
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/s.hsnap" --root "$I1" --context alice --encrypt-to "$T/alice.pub" --include-secrets
sed -n "s/^export [A-Z_]*=\(secret-.*\)$/\1/p" "$I1/cfg/env/env.sh" >"$T/values"
[ "$(wc -l <"$T/values")" = 4 ] || fail "want the 4 secret values of the sample, got: $(cat "$T/values")"
while read -r v; do ! readable "$T/s.hsnap" "$v" || fail "a secret value readable in the encrypted archive"; done <"$T/values"
expect_code 0 hero-inspect --list --identity "$T/alice.key" "$T/s.hsnap"
expect_grep '.hero/secrets/cfg/env/env.sh' "$T/out"
# into a bare root: no --allow-missing-secrets needed, the values arrive (only the names alice's services use)
expect_code 0 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$T/i5" "$T/s.hsnap"
expect_grep 'secrets added to cfg/env/env.sh: ' "$T/err"
[ "$(stat -c %a "$T/i5/cfg/env/env.sh")" = 600 ] || fail "secrets file not 0600"
# the values as sh reads them (the toolkit writes each line itself: export NAME='value')
val() { env -i /bin/sh -c ". \"\$1\"; printf %s \"\${$2-unset}\"" sh "$1"; }
for n in OSIS_MASTER_KEY HERO_DB_KEY; do
	[[ "$(val "$I1/cfg/env/env.sh" $n)" = secret-* ]] || fail "$n: the source has no value"
	[ "$(val "$T/i5/cfg/env/env.sh" $n)" = "$(val "$I1/cfg/env/env.sh" $n)" ] || fail "$n not carried"
	grep -q "^export $n='secret-" "$T/i5/cfg/env/env.sh" || fail "$n not written as export NAME='value'"
done
# into a target with its own secrets: its values win, only missing names are added
cp -a "$T/i5" "$T/i6"
printf 'export OSIS_MASTER_KEY=the-targets-own\n' >"$T/i6/cfg/env/env.sh"
expect_code 0 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$T/i6" "$T/s.hsnap"
grep -q '^export OSIS_MASTER_KEY=the-targets-own$' "$T/i6/cfg/env/env.sh" || fail "the target's own value was overwritten"
[ "$(grep -c '^export OSIS_MASTER_KEY=' "$T/i6/cfg/env/env.sh")" = 1 ] || fail "name duplicated"
grep -q '^export HERO_DB_KEY=' "$T/i6/cfg/env/env.sh" || fail "missing name not added"
grep -q 'secrets added to cfg/env/env.sh' "$T/i6/.hero/restore.log" || fail "secrets merge not logged"
# a restore of one service takes that service's secret names only
expect_code 0 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$T/i7" --service hero_osis "$T/s.hsnap"
grep -q '^export OSIS_MASTER_KEY=' "$T/i7/cfg/env/env.sh" || fail "the restored service's secret not carried"
! grep -q 'HERO_DB_KEY' "$T/i7/cfg/env/env.sh" || fail "an unselected service's secret was added"
# a secrets file that is a symbolic link is never replaced by a copy
cp -a "$T/i5" "$T/i8"; mkdir -p "$T/elsewhere"
printf 'export OSIS_MASTER_KEY=kept\n' >"$T/elsewhere/env.sh"
rm "$T/i8/cfg/env/env.sh"; ln -s "$T/elsewhere/env.sh" "$T/i8/cfg/env/env.sh"
h=$(tree_hash "$T/i8")
expect_code 1 hero-restore --identity "$T/alice.key" -p "$KEYS/test.pub" --root "$T/i8" "$T/s.hsnap"
expect_grep "secrets file 'cfg/env/env.sh' is a symbolic link: add HERO_DB_KEY" "$T/err"
[ "$(tree_hash "$T/i8")" = "$h" ] && [ -L "$T/i8/cfg/env/env.sh" ] || fail "the target changed"
# (an unencrypted archive carrying secret values is refused by the reader: hostile corpus item secrets_unencrypted, t40)
echo ok
