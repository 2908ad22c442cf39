#!/bin/bash
# Hostile names: the service names, contexts, paths and other strings of an
# archive's manifest (shown before anything is verified), and the names of the
# files of a backup directory, reach the terminal with every control byte, DEL,
# C1, invalid UTF-8 and bidi character escaped as \xNN; --json keeps them exact.
# A FIFO, a socket, a directory, or a symlink to a FIFO named *.hsnap in a backup
# directory is skipped with a warning and never opened (a FIFO would block every
# tool that lists the directory); a symlink to an archive of the directory counts
# once; a FIFO named on the command line is still read as the pipe it is.
. "$(dirname "$0")/lib.sh"
RAW=$HERO_BUILD/tests/hero-rawmanifest
S=$T/src A=$T/arch
ESC=$'\x1b'
mkdir "$A"
RESTORE=(hero-restore -q --allow-missing-secrets -p "$KEYS/test.pub")
restore() { "${RESTORE[@]}" "$@"; }
# no_raw FILE...: not one ESC, BEL or C1/bidi byte sequence in FILE
no_raw() {
	local f
	for f in "$@"; do
		[ "$(grep -c "$ESC" "$f")" = 0 ] || { cat -A "$f" | head -20 >&2; fail "a raw ESC reached $f"; }
		[ "$(grep -c $'\x07' "$f")" = 0 ] || fail "a raw BEL reached $f"
		! LC_ALL=C grep -q $'\xe2\x80\xae' "$f" || fail "a raw RIGHT-TO-LEFT OVERRIDE reached $f"
	done
}

echo "== an archive whose manifest holds control bytes, signed by a trusted key"
expect_code 0 "$SAMPLE" --root "$S" --size 1M --contexts root,alice --seed 45
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$S" -o "$T/good.hsnap"
expect_code 0 hero-inspect --json "$T/good.hsnap"
python3 - "$T/out" "$T/m.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["manifest"]
m["services"][0]["name"] = "evil\x1b]0;pwned\x07\nname\u202e"
m["services"][0]["contexts"] = ["ctx\x1b[31m"]
m["tool"] = "tool\x1b[2J"
m["created"] = "2026\x9b1m"
m["scope"] = {"kind": "services", "services": ["evil\x1b[1m"], "contexts": []}
m["skipped"] = [{"service": "s\x1b[5m", "path": "p\nq", "why": "why\x1b[0m it's"}]
json.dump(m, open(sys.argv[2], "w"))
EOF
[ -s "$T/m.json" ] || fail "no hostile manifest"
expect_code 0 "$RAW" -s "$KEYS/test.key" -m "$T/m.json" -o "$T/evil.hsnap" -d var/x

echo "== hero-inspect shows it escaped, on one line per service"
expect_code 0 hero-inspect "$T/evil.hsnap"
no_raw "$T/out" "$T/err"
expect_grep '^  evil\\x1b]0;pwned\\x07\\x0aname\\xe2\\x80\\xae .* contexts: ctx\\x1b\[31m ' "$T/out"
expect_grep '^format .*(tool\\x1b\[2J)$' "$T/out"
expect_grep '^created    2026\\xc2\\x9b1m$' "$T/out"
expect_grep '^scope      services services: evil\\x1b\[1m$' "$T/out"
expect_grep "^  s\\\\x1b\[5m  *p\\\\x0aq  *why\\\\x1b\[0m it's$" "$T/out"
expect_code 0 hero-inspect --verify --list -p "$KEYS/test.pub" "$T/evil.hsnap"
no_raw "$T/out" "$T/err"
expect_grep '^dir .* evil\\x1b]0;pwned\\x07\\x0aname\\xe2\\x80\\xae var/x$' "$T/out"
echo "== --json keeps the exact strings (jansson escapes them)"
expect_code 0 hero-inspect --json "$T/evil.hsnap"
[ "$(grep -c "$ESC" "$T/out")" = 0 ] || fail "a raw ESC in the JSON output"
expect_grep '"name": "evil\\u001[bB]\]0;pwned\\u0007\\nname' "$T/out"

echo "== hero-restore refuses it, naming the service escaped"
restore --root "$T/r-evil" "$T/evil.hsnap" >"$T/out" 2>"$T/err" && fail "a restore of an unknown service succeeded"
no_raw "$T/out" "$T/err"
# the refusal may or may not name the service; when it does, escaped
! grep -q evil "$T/err" || expect_grep "evil\\\\x1b\]0;pwned\\\\x07\\\\x0aname" "$T/err"
[ "$(wc -l <"$T/err")" = 1 ] || { cat -A "$T/err"; fail "the refusal is not one line"; }
restore --dry-run --root "$T/r-evil" "$T/evil.hsnap" >"$T/out" 2>"$T/err" && fail "a dry run of an unknown service succeeded"
no_raw "$T/out" "$T/err"

echo "== hero-restore --dry-run prints the archive's versions escaped"
python3 - "$T/m.json" "$T/m2.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["services"] = m["services"][1:]
m["scope"] = {"kind": "instance", "services": [], "contexts": []}
m["skipped"] = []
for s in m["services"]:
    s["version"] += "\x1b[31m"
json.dump(m, open(sys.argv[2], "w"))
EOF
expect_code 0 "$RAW" -s "$KEYS/test.key" -m "$T/m2.json" -o "$T/versions.hsnap"
expect_code 0 restore --dry-run --root "$T/r-versions" "$T/versions.hsnap"
no_raw "$T/out" "$T/err"
expect_grep '^service hero_books: version 0.5.0\\x1b\[31m -> 0.5.0, ' "$T/out"

echo "== a backup directory: archives under hostile file names, a FIFO, a socket, a directory"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$S" -o "$A/0-full.hsnap"
clock_past "$A/0-full.hsnap"
echo change >"$S/var/hero_foundry/files/alice/documents/note-0001.md"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --root "$S" -o "$A/1-inc$ESC[31m.hsnap" --parent "$A/0-full.hsnap"
mkfifo "$A/x.hsnap" "$A/fifo$ESC[1m.hsnap"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$A/s.hsnap"
mkdir "$A/d.hsnap"
ln -s x.hsnap "$A/to-fifo.hsnap"
# latest.hsnap sorts first: were it read as an archive of its own, prune would
# keep it as the parent of 1-inc and remove 0-full, the file it points to
ln -s 1-inc$ESC[31m.hsnap "$A/00-latest.hsnap"
[ -p "$A/x.hsnap" ] && [ -S "$A/s.hsnap" ] || fail "no FIFO or socket to test with"
# skipped_warned FILE: a warning for each special file, escaped
skipped_warned() {
	expect_grep "warning: skipping '$A/x.hsnap': not a regular file (fifo)$" "$1"
	expect_grep "warning: skipping '$A/fifo\\\\x1b\[1m.hsnap': not a regular file (fifo)$" "$1"
	expect_grep "warning: skipping '$A/s.hsnap': not a regular file (socket)$" "$1"
	expect_grep "warning: skipping '$A/d.hsnap': not a regular file (directory)$" "$1"
	expect_grep "warning: skipping '$A/to-fifo.hsnap': not a regular file (fifo)$" "$1"
	[ "$(grep -c 'warning: skipping' "$1")" = 5 ] || { cat "$1"; fail "each special file once: $1"; }
}

echo "== hero-inspect --chain DIR returns, warns, shows the chain escaped"
expect_code 0 timeout 20 hero-inspect --chain --verify -p "$KEYS/test.pub" "$A"
skipped_warned "$T/err"
no_raw "$T/out" "$T/err"
expect_grep '^chain      2 archives, ' "$T/out"
expect_grep "  $A/1-inc\\\\x1b\[31m.hsnap  ok, verified, parent " "$T/out"

echo "== hero-restore DIR returns, warns, restores the chain"
expect_code 0 timeout 20 "${RESTORE[@]}" --root "$T/r-dir" "$A"
skipped_warned "$T/err"
no_raw "$T/out" "$T/err"
[ "$(cat "$T/r-dir/var/hero_foundry/files/alice/documents/note-0001.md")" = change ] || fail "the chain was not restored"

echo "== hero-snap --parent DIR returns, warns"
expect_code 0 timeout 20 hero-snap -q -s "$KEYS/test.key" --root "$S" -o "$T/2-inc.hsnap" --parent "$A" --json
skipped_warned "$T/err"
expect_grep '"parent":"' "$T/out"

echo "== hero-snap prune DIR returns, warns, never touches the special files nor keeps the symlink for its file"
expect_code 0 timeout 20 hero-snap prune --keep-daily 1 --dry-run "$A"
skipped_warned "$T/err"
no_raw "$T/out" "$T/err"
expect_grep "^keep   1-inc\\\\x1b\[31m.hsnap .* incremental (daily)$" "$T/out"
expect_grep '^keep   0-full.hsnap .* full *(needed by ' "$T/out"
expect_no_grep 'latest' "$T/out"
expect_no_grep '^remove ' "$T/out"
expect_code 0 timeout 20 hero-snap prune --keep-daily 1 "$A"
[ -p "$A/x.hsnap" ] && [ -S "$A/s.hsnap" ] && [ -d "$A/d.hsnap" ] && [ -e "$A/0-full.hsnap" ] ||
	fail "prune removed what it must leave alone"

echo "== a FIFO named on the command line is a pipe: still read"
mkfifo "$T/pipe"
cat "$T/good.hsnap" >"$T/pipe" &
expect_code 0 timeout 20 hero-inspect --verify -p "$KEYS/test.pub" "$T/pipe"
expect_grep '^signed by .*(signature and every entry verified)$' "$T/out"
cat "$T/good.hsnap" >"$T/pipe" &
expect_code 0 timeout 20 "${RESTORE[@]}" --root "$T/r-pipe" "$T/pipe"
wait
echo "t45 ok"
