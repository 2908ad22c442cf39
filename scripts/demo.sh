#!/bin/bash
# make demo: the whole job on a built-in sample instance, end to end.
#   sample instance -> keygen -> snapshot -> inspect -> verify -> restore elsewhere -> compare
#   -> the same over a pipe -> one context exported and imported under a new name
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
: "${HERO_BUILD:=$top/build}"
export PATH="$HERO_BUILD/bin:$PATH" HERO_MANIFESTS="$top/manifests"
W=${DEMO_DIR:-$(mktemp -d /tmp/hero-demo.XXXXXX)}
SIZE=${DEMO_SIZE:-32M}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "a sample Hero instance ($SIZE, contexts root geomind alice bob)"
run "$HERO_BUILD/tests/hero-sample" --root "$W/nodeA" --size "$SIZE" --seed 42
echo "secrets live in $W/nodeA/cfg/env/env.sh; databases are in WAL mode"

step "a signing key (unprotected, as for cron)"
run hero-snap keygen -s "$W/demo.key" -p "$W/demo.pub" --no-passphrase

step "snapshot the whole instance"
run hero-snap -s "$W/demo.key" -o "$W/nodeA.hsnap" --root "$W/nodeA"

step "inspect the manifest (read from the first kilobytes)"
run hero-inspect "$W/nodeA.hsnap"

step "verify the signature and every entry"
run hero-inspect --verify -p "$W/demo.pub" "$W/nodeA.hsnap" | grep '^signed by'

step "provision secrets on the target: the archive holds their names, never their values"
run mkdir -p "$W/nodeB/cfg/env"
run install -m 0600 "$W/nodeA/cfg/env/env.sh" "$W/nodeB/cfg/env/env.sh"

step "what a restore would do (--dry-run)"
run hero-restore --dry-run -p "$W/demo.pub" --root "$W/nodeB" "$W/nodeA.hsnap"

step "restore into another root"
run hero-restore -p "$W/demo.pub" --root "$W/nodeB" "$W/nodeA.hsnap"

step "compare: files byte for byte, databases row for row"
files=0 dbs=0
while IFS= read -r -d '' f; do
	rel=${f#"$W/nodeA/"}
	case "$rel" in *.db) continue ;; esac
	cmp -s "$f" "$W/nodeB/$rel" || { echo "DIFFERENT: $rel"; exit 1; }
	files=$((files + 1))
done < <(find "$W/nodeA/var/hero_foundry/files" "$W/nodeA/var/hero_books" "$W/nodeA/var/hero_voice" "$W/nodeA/cfg/actions" \
	-type f ! -name '*.tmp' ! -path '*/.cache/*' ! -name '*.db-*' -print0)
for db in $(cd "$W/nodeA" && find . -name '*.db'); do
	cmp -s <(sqlite3 -readonly "$W/nodeA/$db" .dump) <(sqlite3 -readonly "$W/nodeB/$db" .dump) \
		|| { echo "DIFFERENT: $db"; exit 1; }
	dbs=$((dbs + 1))
done
echo "identical: $files files, $dbs databases"
for p in var/hero_indexer/root var/sockets; do
	[ -e "$W/nodeB/$p" ] && echo "present in restore (unexpected): $p" || echo "not restored, as declared: $p"
done

step "the same over a pipe, no temporary file"
echo "\$ hero-snap -s demo.key -o - --root nodeA | hero-restore --allow-missing-secrets -p demo.pub --root nodeC -"
hero-snap -s "$W/demo.key" -o - --root "$W/nodeA" -q | hero-restore --allow-missing-secrets -p "$W/demo.pub" --root "$W/nodeC" -

step "a person's export: context alice, encrypted to her own key, still signed by the instance"
run hero-snap keygen --encryption -s "$W/alice.id" -p "$W/alice.rcpt" --no-passphrase
run hero-snap -s "$W/demo.key" -o "$W/alice.hsnap" --root "$W/nodeA" --context alice --encrypt-to "$W/alice.rcpt"
echo "without her key: who signed it, for how many recipients, and whether it is intact"
run hero-inspect --verify -p "$W/demo.pub" "$W/alice.hsnap"
echo "with it, into nodeB as alice2: refused, because her rows would collide with nodeB's alice (exit 7);"
echo "nothing in nodeB changes"
run hero-restore --identity "$W/alice.id" -p "$W/demo.pub" --root "$W/nodeB" --context alice --as alice2 "$W/alice.hsnap" \
	&& exit 1 || echo "exit code $?"
echo "into a new instance of her own: restored, with the secret names she will need listed"
run hero-restore --identity "$W/alice.id" -p "$W/demo.pub" --root "$W/alice-home" --allow-missing-secrets "$W/alice.hsnap"
ls "$W/alice-home/var/hero_osis" "$W/alice-home/var/hero_foundry/files"

if [ -f "$top/scripts/demo-more.sh" ]; then
	. "$top/scripts/demo-more.sh"
fi

step "done"
echo "everything is in $W (remove it with: rm -rf $W)"
