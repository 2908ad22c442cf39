#!/bin/bash
# Any changed byte of an archive is refused with the integrity code, and a refused
# restore leaves the target exactly as it was.
. "$(dirname "$0")/lib.sh"
S=$T/src A=$T/a.hsnap P=$T/parent L=$T/parent/live
mkdir "$P"
expect_code 0 "$SAMPLE" --root "$S" --size 256K --contexts root,geomind --seed 5
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$S"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$L" "$A"
h=$(tree_hash "$L"); parent=$(ls -a "$P")
size=$(stat -c %s "$A")
echo "archive of $size bytes"
# every byte of the header and signature frames, and a spread over the body
positions=$( { seq 0 55; seq $((size - 82)) $((size - 1)); seq 56 $(( (size - 138) / 97 + 1 )) $((size - 83)); } | sort -n -u)
count=0
flip() { # flip FILE POS: xor one byte with 0x5a
	local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
for p in $positions; do
	cp "$A" "$T/bad.hsnap"; flip "$T/bad.hsnap" "$p"
	hero-inspect --verify -p "$KEYS/test.pub" "$T/bad.hsnap" >/dev/null 2>"$T/err" && rc=0 || rc=$?
	[ "$rc" = 3 ] || { cat "$T/err"; fail "byte $p: hero-inspect --verify exited $rc, want 3"; }
	[ "$(wc -l <"$T/err")" = 1 ] || fail "byte $p: expected one error line"
	count=$((count + 1))
done
echo "hero-inspect refused $count flipped copies"
# hero-restore on a sample of them: exit 3, target untouched, no staging left
for p in $(echo "$positions" | awk 'NR % 7 == 1'); do
	cp "$A" "$T/bad.hsnap"; flip "$T/bad.hsnap" "$p"
	hero-restore -p "$KEYS/test.pub" --root "$L" "$T/bad.hsnap" >/dev/null 2>"$T/err" && rc=0 || rc=$?
	[ "$rc" = 3 ] || { cat "$T/err"; fail "byte $p: hero-restore exited $rc, want 3"; }
	[ "$(tree_hash "$L")" = "$h" ] || fail "byte $p: target changed"
	[ "$(ls -a "$P")" = "$parent" ] || fail "byte $p: something left beside the target"
done
echo "== truncation and trailing bytes"
head -c $((size - 1)) "$A" >"$T/bad.hsnap"
expect_code 3 hero-inspect --verify -p "$KEYS/test.pub" "$T/bad.hsnap"
head -c $((size / 2)) "$A" >"$T/bad.hsnap"
expect_code 3 hero-restore -p "$KEYS/test.pub" --root "$L" "$T/bad.hsnap"
expect_grep 'truncated' "$T/err"
{ cat "$A"; printf x; } >"$T/bad.hsnap"
expect_code 3 hero-inspect --verify -p "$KEYS/test.pub" "$T/bad.hsnap"
expect_grep 'after the signature' "$T/err"
[ "$(tree_hash "$L")" = "$h" ] || fail "target changed"
echo ok
