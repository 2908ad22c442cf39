#!/bin/bash
# Restoring an archive that carries secret values (--include-secrets) keeps the
# target's secrets file readable by whoever read it before: unchanged (the same
# file) when the target has every name, and with its mode and owner when names
# are added.
. "$(dirname "$0")/lib.sh"
I=$T/i E=cfg/env/env.sh A=$T/s.hsnap
restore() { hero-restore -q --identity "$KEYS/test-x25519.key" -p "$KEYS/test.pub" --root "$I" "$A"; }
expect_code 0 "$SAMPLE" --root "$I" --size 1M --seed 5
expect_code 0 hero-snap -q -s "$KEYS/test.key" --encrypt-to "$KEYS/test-x25519.pub" --include-secrets -o "$A" --root "$I"
chmod 0640 "$I/$E"
if [ "$(id -u)" = 0 ]; then chown 1000:1 "$I/$E"; fi
before=$(stat -c '%a %u %g %i' "$I/$E")

echo "== the target has every name: its file is kept as it is"
expect_code 0 restore
expect_grep "none (the target has them all)" "$T/err"
[ "$(stat -c '%a %u %g %i' "$I/$E")" = "$before" ] || fail "secrets file changed: $before -> $(stat -c '%a %u %g %i' "$I/$E")"

echo "== a name is added: mode and owner stay"
grep -v OSIS_MASTER_KEY "$I/$E" >"$T/env" && cat "$T/env" >"$I/$E"
expect_code 0 restore
expect_grep "secrets added to $E: OSIS_MASTER_KEY" "$T/err"
grep -q '^export OSIS_MASTER_KEY=' "$I/$E" || fail "OSIS_MASTER_KEY not added"
[ "$(stat -c '%a %u %g' "$I/$E")" = "${before% *}" ] || fail "mode or owner changed: ${before% *} -> $(stat -c '%a %u %g' "$I/$E")"
echo "ok"
