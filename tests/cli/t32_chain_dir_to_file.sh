#!/bin/bash
# A chain whose increment replaces a directory by a file of the same name: the
# increment lists the files that were beneath it as deleted, and the restore
# must not trip over them once their parent is a file.
. "$(dirname "$0")/lib.sh"
S=$T/src A=$T/arch D=$T/dst
mkdir "$A"
F=var/hero_foundry/files/alice
expect_code 0 "$SAMPLE" --root "$S" --size 1M --contexts alice --seed 31
expect_code 0 "$SAMPLE" --root "$D" --size 1M --contexts alice --seed 32
[ -d "$S/$F/photos" ] && [ -n "$(ls "$S/$F/photos")" ] || fail "the sample has no photos directory to replace"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$S" -o "$A/0-full.hsnap"
rm -r "$S/$F/photos"
echo "photos are a file now" >"$S/$F/photos"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$S" -o "$A/1-inc.hsnap" --parent "$A/0-full.hsnap"
expect_code 0 hero-restore -q --allow-missing-secrets -p "$KEYS/test.pub" --root "$D" "$A/0-full.hsnap" "$A/1-inc.hsnap"
[ -f "$D/$F/photos" ] || fail "photos is not a file after the restore"
[ "$(cat "$D/$F/photos")" = "photos are a file now" ] || fail "photos has the wrong content"
echo "ok"
