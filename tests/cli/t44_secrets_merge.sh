#!/bin/bash
# Secret values carried by an encrypted archive (--include-secrets) arrive in
# the target's secrets file with their exact value, written by the toolkit as
# export NAME='value': sourcing the file runs nothing else, the target's own
# values win in whatever form it assigns them, and an assignment the snapshot
# cannot read as a plain value is not carried.
. "$(dirname "$0")/lib.sh"
I=$T/i E=cfg/env/env.sh A=$T/s.hsnap SB=$T/sandbox
mkdir -p "$SB"
# val FILE NAME: the value /bin/sh sees after sourcing FILE (in the sandbox)
val() { (cd "$SB" && env -i /bin/sh -c ". \"\$1\" >/dev/null 2>&1; printf %s \"\${$2-unset}\"" sh "$1"); }
# runs_nothing FILE: sourcing FILE runs only assignments and exports, and touches nothing
runs_nothing() {
	(cd "$SB" && env -i /bin/sh -xc '. "$1"' sh "$1") 2>"$T/trace" || fail "sourcing $1 failed"
	grep -Ev "^\+ (\. |export [A-Za-z_][A-Za-z0-9_]*(=|$)|[A-Za-z_][A-Za-z0-9_]*=)" "$T/trace" >"$T/other" &&
		{ cat "$T/other" >&2; fail "sourcing $1 ran something else"; }
	[ -z "$(ls -A "$SB")" ] || fail "sourcing $1 wrote $(ls -A "$SB")"
}
restore() { hero-restore --identity "$KEYS/test-x25519.key" -p "$KEYS/test.pub" "$@" "$A"; }

echo "== an instance whose secrets need quoting"
expect_code 0 "$SAMPLE" --root "$I" --size 1M --seed 44
cat >>"$I/$E" <<'EOF'
export OSIS_MASTER_KEY='it'\''s a "v@l" $(touch PWNED) `touch PWNED`; x=1 \ end'
HERO_DB_KEY="db key; with 'quotes' & | * ~ # {a,b}"
export FOUNDRY_WEBDAV_TOKEN="$(printf from-a-command)"
EOF
osis=$(val "$I/$E" OSIS_MASTER_KEY) db=$(val "$I/$E" HERO_DB_KEY) biz=$(val "$I/$E" BIZ_SMTP_PASSWORD)
[ "$osis" = "it's a \"v@l\" \$(touch PWNED) \`touch PWNED\`; x=1 \\ end" ] || fail "sample value: $osis"
[ -z "$(ls -A "$SB")" ] || fail "the instance's own file ran a command"
expect_code 0 hero-snap -q -s "$KEYS/test.key" --encrypt-to "$KEYS/test-x25519.pub" --include-secrets -o "$A" --root "$I"
expect_code 0 hero-inspect --json --identity "$KEYS/test-x25519.key" "$A"
"$HERO_BUILD/tests/jget" "$T/out" manifest.secrets_included >"$T/carried" || fail "no secrets_included"
expect_grep '"OSIS_MASTER_KEY"' "$T/carried"
# the command substitution's output is not a value the snapshot can know
expect_no_grep 'FOUNDRY_WEBDAV_TOKEN' "$T/carried"

echo "== a target lacking a declared secret gets it, exactly; its own values stay"
mkdir -p "$T/t1"; cp -a "$I/." "$T/t1/"
cat >"$T/t1/$E" <<'EOF'
# the target's own secrets
HERO_DB_KEY=the-targets-own; export HERO_DB_KEY
export BIZ_SMTP_PASSWORD=target-biz
export BIZ_SMTP_PASSWORD=target-biz-2
FOUNDRY_WEBDAV_TOKEN=target-foundry
EOF
cp "$T/t1/$E" "$T/before"
expect_code 0 restore --root "$T/t1"
expect_grep "secrets added to $E: OSIS_MASTER_KEY$" "$T/err"
f=$T/t1/$E
[ "$(val "$f" OSIS_MASTER_KEY)" = "$osis" ] || fail "OSIS_MASTER_KEY arrived as '$(val "$f" OSIS_MASTER_KEY)'"
[ "$(val "$f" HERO_DB_KEY)" = the-targets-own ] || fail "the target's HERO_DB_KEY was overridden"
[ "$(val "$f" BIZ_SMTP_PASSWORD)" = target-biz-2 ] || fail "the target's BIZ_SMTP_PASSWORD was overridden"
cmp -s <(head -n "$(wc -l <"$T/before")" "$f") "$T/before" || fail "the target's lines changed"
[ "$(wc -l <"$f")" = $(($(wc -l <"$T/before") + 1)) ] || fail "more than one line added: $(tail -n +6 "$f")"
[ "$(grep -c OSIS_MASTER_KEY "$f")" = 1 ] || fail "OSIS_MASTER_KEY assigned more than once"
tail -n 1 "$f" | matches "^export OSIS_MASTER_KEY='" || fail "added line not written as export NAME='value'"
runs_nothing "$f"

echo "== a bare target: every carried name, each line written by the toolkit"
expect_code 6 restore --root "$T/t2"
expect_grep 'FOUNDRY_WEBDAV_TOKEN' "$T/err"
expect_code 0 restore --root "$T/t2" --allow-missing-secrets
f=$T/t2/$E
[ "$(val "$f" OSIS_MASTER_KEY)" = "$osis" ] || fail "OSIS_MASTER_KEY arrived as '$(val "$f" OSIS_MASTER_KEY)'"
[ "$(val "$f" HERO_DB_KEY)" = "$db" ] || fail "HERO_DB_KEY arrived as '$(val "$f" HERO_DB_KEY)'"
[ "$(val "$f" BIZ_SMTP_PASSWORD)" = "$biz" ] || fail "BIZ_SMTP_PASSWORD arrived as '$(val "$f" BIZ_SMTP_PASSWORD)'"
grep -q FOUNDRY_WEBDAV_TOKEN "$f" && fail "an unreadable value was carried"
grep -v "^export [A-Z_]*='" "$f" && fail "a line not written by the toolkit"
[ "$(grep -c . "$f")" = 3 ] || fail "want 3 lines, got $(grep -c . "$f")"
runs_nothing "$f"

echo "== a name the target's manifests do not declare is refused, not added"
mkdir -p "$T/m"; cp "$HERO_MANIFESTS"/*.yaml "$T/m/"
sed -i 's/^secrets: \[OSIS_MASTER_KEY\]$/secrets: []/' "$T/m/hero_osis.yaml"
grep -q '^secrets: \[\]$' "$T/m/hero_osis.yaml" || fail "manifest not edited"
mkdir -p "$T/t3"; cp -a "$T/t1/." "$T/t3/"
sed -i '/OSIS_MASTER_KEY/d' "$T/t3/$E"
h=$(tree_hash "$T/t3")
expect_code 3 restore --root "$T/t3" --manifests "$T/m"
expect_grep "archive's secrets for '$E': line [0-9]*: archive carries secret 'OSIS_MASTER_KEY' that the target's manifests do not declare" "$T/err"
expect_no_grep 'touch PWNED' "$T/err"
[ "$(tree_hash "$T/t3")" = "$h" ] || fail "the target changed"
echo ok
