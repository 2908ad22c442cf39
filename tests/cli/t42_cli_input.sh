#!/bin/bash
# Hostile command-line input: bad targets and context names are usage errors
# (exit 2) found before the archive is opened; bad archive streams (a pipe that
# closes early, /dev/zero, a FIFO) are refused; --dry-run writes nothing. In
# every case nothing beside the target changes.
. "$(dirname "$0")/lib.sh"
S=$T/src A=$T/a.hsnap P=$T/p R=$T/p/inst
expect_code 0 "$SAMPLE" --root "$S" --size 256K --contexts root,geomind --seed 3
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$S"
mkdir -p "$P" && cp -a "$S" "$R" && echo beside >"$P/sentinel"
ln -s "$R" "$P/link"
before=$(tree_hash "$P")
unchanged() { [ "$(tree_hash "$P")" = "$before" ] || fail "$1: something beside or in the target changed"; }
restore() { hero-restore -p "$KEYS/test.pub" "$@"; }

echo "== bad targets: exit 2 before the archive is read (the archive path does not even exist)"
NOPE=$T/no-such-archive.hsnap
for root in "" / // relative -x "$P/../p/inst" "$P/./inst" "$R/.." "$(printf '%s/in\nst' "$P")"; do
	expect_code 2 restore --root "$root" "$NOPE"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "root '$root': want one error line"
	unchanged "root '$root'"
done
echo "== a root that is a symlink: exit 2, nothing changes on either side of the link"
expect_code 2 restore --root "$P/link" "$A"
expect_grep 'not a directory' "$T/err"
unchanged "root is a symlink"
expect_code 2 hero-snap -s "$KEYS/test.key" -o "$T/x.hsnap" --root ""
echo "== bad context names: exit 2 before the archive is read"
long=$(printf 'c%.0s' $(seq 1 300))
for ctx in ../x a/b . .. "" "$long" "a b" "$(printf 'a\nb')" -x; do
	expect_code 2 restore --root "$R" --context "$ctx" "$NOPE"
	expect_grep 'context' "$T/err"
	unchanged "context '$ctx'"
	expect_code 2 restore --root "$R" --context root --as "$ctx" "$NOPE"
	unchanged "--as '$ctx'"
	expect_code 2 hero-snap -s "$KEYS/test.key" -o "$T/ctx.hsnap" --root "$S" --context "$ctx"
	[ ! -e "$T/ctx.hsnap" ] || fail "hero-snap --context '$ctx' wrote an archive"
done
echo "== unknown and conflicting options"
expect_code 2 restore --root "$R" --no-such-option "$A"
expect_code 2 restore --root "$R" --as x "$A"
expect_code 2 restore --root "$R" --max-entries -1 "$A"
expect_code 2 restore --root "$R" --max-ratio 0 "$A"
unchanged "options"

echo "== bad streams"
size=$(stat -c %s "$A")
head -c $((size / 2)) "$A" | restore --root "$R" - >"$T/out" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 3 ] || fail "a pipe that closes half way: want exit 3"
expect_grep 'truncated' "$T/err"
unchanged "truncated pipe"
expect_code 3 restore --root "$R" /dev/zero
expect_grep 'not a hero-snap archive' "$T/err"
unchanged "/dev/zero"
expect_code 3 restore --root "$R" /dev/null
unchanged "/dev/null"
mkfifo "$T/fifo"
(head -c 4096 "$A" >"$T/fifo") &
expect_code 3 restore --root "$R" "$T/fifo"
wait
unchanged "fifo"
cat "$A" "$A" | restore --root "$R" - >"$T/out" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 3 ] || fail "two archives back to back: want exit 3"
expect_grep 'after the signature frame' "$T/err"
unchanged "two archives"

echo "== --dry-run writes nothing"
expect_code 0 restore --root "$R" --dry-run "$A"
unchanged "--dry-run"
expect_code 0 restore --root "$R" --dry-run - <"$A"
unchanged "--dry-run from stdin"
echo "t42: ok"
