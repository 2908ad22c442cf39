#!/bin/bash
# The man pages of hero-snap, hero-inspect, hero-restore and hero-migrate document
# every long option the tools accept, the same long flags as their --help and
# exactly the exit codes their --help names; they render without groff warnings;
# --help exits 0.
. "$(dirname "$0")/lib.sh"
MAN=$HERO_TOP/docs/man
groff=0; ! command -v groff >/dev/null || groff=1 # the rendering check needs it (scripts/install-deps.sh)

# long_options FILE: every name in the `static const struct option` tables of FILE
long_options() {
	awk '/static const struct option/ { on = 1; next }
	     on && /^[[:space:]]*};/ { on = 0 }
	     on && match($0, /\{ *"[a-z0-9-]+"/) { s = substr($0, RSTART, RLENGTH); sub(/^\{ *"/, "", s); sub(/"$/, "", s); print s }' "$1" |
		LC_ALL=C sort -u
}
# documented PAGE OPT: OPT written as \-\-OPT (or --OPT) in PAGE, not as a prefix of a longer name
documented() { sed 's/\\-/-/g' "$1" | grep -E -- "--$2([^a-z0-9-]|\$)" >/dev/null; }
# exit_codes PAGE: the codes listed as `.TP` / `.B N` (or `.B N, M, ...`) items of the EXIT STATUS section
exit_codes() {
	awk '/^\.SH/ { on = ($0 ~ /EXIT STATUS/); next }
	     on && prev == ".TP" && $1 == ".B" { for (i = 2; i <= NF; i++) { f = $i; sub(/,$/, "", f); if (f ~ /^[0-9]+$/) print f } }
	     { prev = $1 }' "$1" | LC_ALL=C sort -u | tr '\n' ' '
}
# long_flags: the long flags (--name) of stdin, one a line, sorted
long_flags() { sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u || true; }
# page_flags PAGE: the long flags of the items (the lines after .TP) of the OPTIONS section
page_flags() { awk '/^\.SH/ { on = ($0 ~ /OPTIONS/); next } on && prev == ".TP" { print } { prev = $0 }' "$1" | long_flags; }
# help_text TOOL: the --help of TOOL (and of each of hero-migrate's commands)
help_text() {
	"$1" --help
	[ "$1" != hero-migrate ] || for c in plan run resume status abort reconcile verify; do "$1" "$c" --help; done
}
# same_flags WHAT A B: the flag lists A and B are equal, or the difference is named
same_flags() {
	[ "$2" = "$3" ] || fail "$1: only in the man page: $(comm -23 <(echo "$2") <(echo "$3") | tr '\n' ' ');" \
		"only in --help: $(comm -13 <(echo "$2") <(echo "$3") | tr '\n' ' ')"
}

for tool in hero-snap hero-inspect hero-restore hero-migrate; do
	echo "== $tool"
	page=$MAN/$tool.1 src=$HERO_TOP/cmd/$tool.c
	[ -f "$page" ] || fail "no man page $page"

	opts=$(long_options "$src")
	[ "$(echo "$opts" | wc -w)" -ge 5 ] || fail "$tool: could not parse the option table of $src ($opts)"
	for o in $opts; do
		documented "$page" "$o" || fail "$tool: option --$o is not in $page"
	done
	# the long flags the man page's OPTIONS items document are exactly those --help names
	help_text "$tool" >"$T/help"
	in_page=$(page_flags "$page") in_help=$(long_flags <"$T/help")
	[ "$(echo "$in_page" | wc -w)" -ge 5 ] || fail "$tool: could not parse the OPTIONS items of $page"
	same_flags "$tool" "$in_page" "$in_help"

	for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' ENVIRONMENT FILES EXAMPLES 'SEE ALSO'; do
		grep -qxE "\.SH (\"$s\"|$s)" "$page" || fail "$tool: section $s missing from $page"
	done
	grep -q "^\.TH ${tool^^} 1 " "$page" || fail "$tool: .TH line missing or wrong in $page"

	expect_code 0 "$tool" --help
	expect_grep "^usage: $tool" "$T/out"
	# the codes --help names ("Exit: 0 ok, 1 failure, ...") are exactly those of EXIT STATUS
	want=$(tr '\n' ' ' <"$T/out" | sed -n 's/.*Exit: \(.*\)/\1/p' | grep -oE '(^|[ ,])[0-9]+ [a-z]' | grep -oE '[0-9]+' |
		LC_ALL=C sort -u | tr '\n' ' ')
	[ -n "$want" ] || fail "$tool: --help names no exit codes"
	got=$(exit_codes "$page")
	[ "$got" = "$want" ] || fail "$tool: EXIT STATUS lists '$got', --help names '$want'"

	if [ "$groff" = 1 ]; then
		groff -man -Tutf8 -ww -z "$page" 2>"$T/groff" || fail "$tool: groff failed on $page"
		[ ! -s "$T/groff" ] || { cat "$T/groff" >&2; fail "$tool: groff warnings in $page"; }
	fi
	if [ -n "${HERO_PREFIX:-}" ]; then
		cmp -s "$page" "$HERO_PREFIX/share/man/man1/$tool.1" || fail "$tool: man page not installed by make install"
	fi
done

echo "== the checks can fail"
sed 's/\\-\\-hooks/\\-\\-hookz/g' "$MAN/hero-snap.1" >"$T/bad.1"
! documented "$T/bad.1" hooks || fail "an undocumented option was not noticed"
documented "$MAN/hero-restore.1" allow-missing-secrets || fail "a documented option was not found"
! documented "$MAN/hero-restore.1" allow-missing || fail "a prefix of a longer option counted as documented"
[ "$(exit_codes "$MAN/hero-restore.1")" = "0 1 2 3 4 5 6 7 " ] || fail "exit codes of hero-restore(1) not parsed"
[ "$(exit_codes "$MAN/hero-migrate.1")" = "0 1 2 3 4 5 6 7 " ] || fail "exit codes of hero-migrate(1) not parsed"
# a flag missing on either side is named
[ "$(page_flags "$T/bad.1" | grep -c hook)" = 1 ] || fail "page_flags did not read the OPTIONS items"
(same_flags x "$(page_flags "$T/bad.1")" "$(hero-snap --help | long_flags)") 2>"$T/err" && fail "a flag only in --help was not noticed"
expect_grep 'only in the man page: --hookz ; only in --help: --hooks' "$T/err"
[ "$groff" = 1 ] || skip "groff is not installed: the man pages were not rendered"
echo ok
