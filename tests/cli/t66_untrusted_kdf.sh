#!/bin/bash
# An encrypted archive signed by an untrusted key is refused before any
# passphrase key derivation: its stanza's Argon2id cost is whatever its
# (unauthenticated) header says, and 1000 passes over 64 MiB take seconds.
. "$(dirname "$0")/lib.sh"
I=$T/i A=$T/o.hsnap B=$T/costly.hsnap
echo pw >"$T/pass"
expect_code 0 "$SAMPLE" --root "$I" --size 1M --seed 5
expect_code 0 hero-snap -q -s "$KEYS/other.key" --encrypt-passphrase-file "$T/pass" -o "$A" --root "$I"
# header frame (56) + extension length (4) + commitment (32) + count (2) + stanza head (3) + salt (16)
off=113
[ "$(od -An -tu8 -j$off -N8 "$A" | tr -d ' ')" = 2 ] || fail "the passphrase stanza's opslimit is not at offset $off"
cp "$A" "$B"
printf '\xe8\x03\x00\x00\x00\x00\x00\x00' | dd of="$B" bs=1 seek=$off conv=notrunc status=none # opslimit 1000
for f in "$A" "$B"; do
	start=$(date +%s)
	expect_code 3 timeout 10 hero-restore --passphrase-file "$T/pass" -p "$KEYS/test.pub" --root "$T/t" "$f"
	expect_grep "untrusted key" "$T/err"
	[ $(( $(date +%s) - start )) -le 2 ] || fail "refusing $f took $(( $(date +%s) - start )) s"
	expect_code 3 timeout 10 hero-inspect --verify --passphrase-file "$T/pass" -p "$KEYS/test.pub" "$f"
	expect_grep "untrusted key" "$T/err"
done
[ ! -e "$T/t" ] || fail "a refused restore created the target"
echo "ok"
