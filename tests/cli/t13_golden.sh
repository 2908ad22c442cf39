#!/bin/bash
# Golden v1 archives stay readable forever; their damaged copies stay refused.
. "$(dirname "$0")/lib.sh"
G=$HERO_TOP/tests/golden/v1
id=$(sed -n 's/^  Archive id `\([0-9a-f]*\)`.*/\1/p' "$G/README.md")
[ ${#id} = 32 ] || fail "golden README lacks the archive id"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" "$G/instance-small.hsnap"
expect_grep "archive    $id" "$T/out"
expect_grep 'hero_foundry' "$T/out"
mkdir "$T/p"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/p/r" "$G/instance-small.hsnap"
[ "$(find "$T/p/r" -type f ! -path '*/.hero/*' | wc -l)" = 67 ] || fail "golden restore has the wrong file count"
h=$(tree_hash "$T/p/r")
n=0
while IFS=$'\t' read -r f want; do
	case "$f" in '#'*|'') continue ;; esac
	expect_code 3 hero-inspect --verify -p "$KEYS/test.pub" "$G/damaged/$f"
	expect_grep "$want" "$T/err"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "$f: more than one error line"
	expect_code 3 hero-restore -p "$KEYS/test.pub" --root "$T/p/r" "$G/damaged/$f"
	[ "$(tree_hash "$T/p/r")" = "$h" ] || fail "$f: target changed"
	[ "$(ls -a "$T/p" | wc -l)" = 3 ] || fail "$f: something left beside the target"
	n=$((n + 1))
done <"$G/damaged/EXPECT"
[ "$n" -ge 10 ] || fail "only $n damaged samples"
echo "refused $n damaged samples"
