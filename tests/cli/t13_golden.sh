#!/bin/bash
# Golden v1 archives stay readable forever; their damaged copies stay refused.
. "$(dirname "$0")/lib.sh"
G=$HERO_TOP/tests/golden/v1
# state DIR: every path (outside .hero/) with its type and mode, then the SHA-256 of every file (directory
# sizes depend on the file system); tests/golden/v1/*.state hold the states the golden archives restore to
state() { (cd "$1" && find . -path ./.hero -prune -o -printf '%p %y %m\n' | LC_ALL=C sort &&
	find . -path ./.hero -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }
# pinned WHAT DIR STATE-FILE: DIR is in the state the file holds, and its hash is the one README.md gives
pinned() {
	state "$2" >"$T/state"
	cmp -s "$T/state" "$G/$3" || { diff "$G/$3" "$T/state" | head -n 20 >&2; fail "$1 restores to another state than $3"; }
	grep -q "$(sha256sum <"$G/$3" | cut -d' ' -f1)" "$G/README.md" || fail "$3: its hash is not the one in $G/README.md"
}
id=$(sed -n 's/^  Archive id `\([0-9a-f]*\)`.*/\1/p' "$G/README.md")
[ ${#id} = 32 ] || fail "golden README lacks the archive id"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" "$G/instance-small.hsnap"
expect_grep "archive    $id" "$T/out"
expect_grep 'hero_foundry' "$T/out"
mkdir "$T/p"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/p/r" "$G/instance-small.hsnap"
[ "$(find "$T/p/r" -type f ! -path '*/.hero/*' | wc -l)" = 67 ] || fail "golden restore has the wrong file count"
pinned "the golden instance archive" "$T/p/r" instance-small.state
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

echo "== the encrypted and the incremental kinds of 1.0"
want_enc=$(grep -A3 'context-encrypted.hsnap' "$G/README.md" | grep -o '[0-9a-f]\{64\}' | head -1)
want_chain=$(grep -A4 'chain-1-base.hsnap' "$G/README.md" | grep -o '[0-9a-f]\{64\}' | head -1)
[ ${#want_enc} = 64 ] && [ ${#want_chain} = 64 ] || fail "golden README lacks the state hashes"
expect_code 0 hero-inspect --verify -p "$KEYS/test.pub" "$G/context-encrypted.hsnap"
expect_grep 'encrypted  yes, to 1 recipient' "$T/out"
expect_code 0 hero-restore --allow-missing-secrets --identity "$KEYS/test-x25519.key" -p "$KEYS/test.pub" --root "$T/enc" \
	"$G/context-encrypted.hsnap"
[ "$(state "$T/enc" | sha256sum | cut -d' ' -f1)" = "$want_enc" ] || fail "golden encrypted archive restores to another state"
pinned "the golden encrypted archive" "$T/enc" context-encrypted.state
# encrypted archives are never links of a chain (decision 0025)
expect_code 2 hero-restore --allow-missing-secrets --identity "$KEYS/test-x25519.key" -p "$KEYS/test.pub" --root "$T/enc2" \
	"$G/context-encrypted.hsnap" "$G/chain-2-increment.hsnap"
expect_grep 'encrypted' "$T/err"
expect_code 0 hero-inspect --chain --verify -p "$KEYS/test.pub" "$G/chain-1-base.hsnap" "$G/chain-2-increment.hsnap"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/chain" "$G/chain-1-base.hsnap" \
	"$G/chain-2-increment.hsnap"
[ "$(state "$T/chain" | sha256sum | cut -d' ' -f1)" = "$want_chain" ] || fail "golden chain restores to another state"
pinned "the golden chain" "$T/chain" chain.state
expect_code 3 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$T/chain2" "$G/chain-2-increment.hsnap"
