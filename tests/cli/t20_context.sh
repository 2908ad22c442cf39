#!/bin/bash
# Per-context and per-service restore into a live instance, and the compatibility
# contract: only the target context changes; conflicts, newer schemas and missing
# secrets are refused with their own codes and change nothing; older schemas migrate.
. "$(dirname "$0")/lib.sh"
M=$HERO_MANIFESTS
I1=$T/i1 I2=$T/i2 A=$T/alice.hsnap
q() { sqlite3 -readonly "$1" "$2"; }

# files of context C under ROOT (paths with C replaced by X), with content hashes
ctx_files() {
	(cd "$1" && find var -path "*/$2/*" -type f ! -name '*.db' ! -name '*.db-*' ! -path 'var/hero_indexer/*' ! -path 'var/hero_foundry/thumbs/*' \
		! -name '*.tmp' ! -path '*/.cache/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sed "s|/$2/|/X/|g"
}
# rows of context C of every context-column table, with the context column blanked
ctx_rows() {
	local db cols
	for db in var/hero_biz/biz.db var/hero_foundry/foundry.db var/hero_voice/voice.db; do
		for t in $(q "$1/$db" "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"); do
			q "$1/$db" "SELECT count(*) FROM pragma_table_info('$t') WHERE name='context'" | matches 1 || continue
			q "$1/$db" "SELECT * FROM $t WHERE context='$2' ORDER BY 1" | sed "s/|$2|/|X|/; s/^$2|/X|/; s/|$2\$/|X/"
		done
	done
}
# everything of ROOT except context C (files, then rows of the other contexts and global tables)
others() {
	(cd "$1" && find . -type f ! -path "*/$2/*" ! -name '*.db' ! -name '*.db-*' ! -path './.hero/*' -print0 \
		| LC_ALL=C sort -z | xargs -0 -r sha256sum)
	for c in $3; do ctx_rows "$1" "$c"; done
	q "$1/var/hero_biz/biz.db" "SELECT * FROM settings ORDER BY 1"
	for db in $(cd "$1" && find var -name '*.db' ! -path "*/$2/*" ! -path 'var/hero_biz/*' ! -path 'var/hero_foundry/foundry.db' ! -path 'var/hero_voice/voice.db' | LC_ALL=C sort); do
		echo "$db"; q "$1/$db" .dump
	done
}
# give instance 2 its own key space in the shared databases, as a distinct instance has
shift_ids() {
	sqlite3 "$1/var/hero_biz/biz.db" "UPDATE customers SET id = id + 1000000; UPDATE invoices SET id = id + 1000000, customer_id = customer_id + 1000000;"
	sqlite3 "$1/var/hero_foundry/foundry.db" "UPDATE files SET id = id + 1000000"
	sqlite3 "$1/var/hero_voice/voice.db" "UPDATE recordings SET id = id + 1000000"
}

echo "== two instances holding alice, bravo, charlie"
expect_code 0 "$SAMPLE" --root "$I1" --size 3M --contexts alice,bravo,charlie --seed 11
expect_code 0 "$SAMPLE" --root "$I2" --size 3M --contexts alice,bravo,charlie --seed 12
shift_ids "$I2"
cp -a "$I2" "$T/i2-pristine"

echo "== a per-context archive holds no byte of another context"
start=$(date +%s%N)
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$T/whole.hsnap" --root "$I1"
whole_ns=$(( $(date +%s%N) - start )); start=$(date +%s%N)
expect_code 0 hero-snap -s "$KEYS/test.key" -o "$A" --root "$I1" --context alice
ctx_ns=$(( $(date +%s%N) - start ))
echo "per-context snapshot took $((ctx_ns / 1000000)) ms, whole instance $((whole_ns / 1000000)) ms"
zstd -dcq "$A" >"$T/alice.tar"
for s in SENTINEL-bravo SENTINEL-charlie; do
	grep -qaF "$s" "$A" && fail "$s in the compressed archive"
	grep -qaF "$s" "$T/alice.tar" && fail "$s in the decompressed archive"
done
grep -qaF SENTINEL-alice "$T/alice.tar" || fail "alice's own data missing"
mkdir "$T/x" && tar -xf "$T/alice.tar" -C "$T/x"
[ "$(q "$T/x/var/hero_biz/biz.db" "SELECT count(*) FROM invoices WHERE context != 'alice'")" = 0 ] || fail "other contexts' invoices archived"
[ "$(q "$T/x/var/hero_biz/biz.db" "SELECT count(*) FROM customers WHERE context = 'alice'")" -gt 0 ] || fail "alice's customers missing"
[ "$(q "$T/x/var/hero_biz/biz.db" "SELECT count(*) FROM settings")" = 0 ] || fail "instance-wide rows in a context archive"
[ -e "$T/x/cfg" ] && fail "instance-wide config in a context archive"
expect_code 0 hero-inspect "$A"
expect_grep 'scope      contexts contexts: alice' "$T/out"

for target in alice dora; do
	echo "== restore alice into instance 2 as $target"
	rm -rf "$I2" && cp -a "$T/i2-pristine" "$I2"
	keep=$(others "$I2" "$target" "alice bravo charlie" | sha256sum)
	[ "$target" = dora ] && keep=$(others "$I2" dora "alice bravo charlie" | sha256sum)
	expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$I2" --context alice --as "$target" "$A"
	# the target context equals instance 1's alice, file for file and row for row
	same_out "$target files differ from the source's alice" 'ctx_files "$I1" alice' 'ctx_files "$I2" "$target"'
	same_out "$target rows differ from the source's alice" 'ctx_rows "$I1" alice' 'ctx_rows "$I2" "$target"'
	for db in var/hero_osis/$target/objects.db var/hero_db/$target/data.db var/hero_books/$target/books.db var/hero_collab/$target/collab.db; do
		same_dump "$db differs" "$I1/${db/$target/alice}" "$I2/$db"
	done
	# every other context, file and row of instance 2 is unchanged
	if [ "$target" = alice ]; then
		got=$(others "$I2" alice "bravo charlie" | sha256sum); want=$(others "$T/i2-pristine" alice "bravo charlie" | sha256sum)
	else
		got=$(others "$I2" dora "alice bravo charlie" | sha256sum); want=$(others "$T/i2-pristine" dora "alice bravo charlie" | sha256sum)
	fi
	[ "$got" = "$want" ] || fail "restoring $target changed other contexts"
	[ "$(q "$I2/var/hero_biz/biz.db" 'PRAGMA integrity_check')" = ok ] || fail "biz.db integrity"
	grep -q "rows of context $target in var/hero_biz/biz.db" "$I2/.hero/restore.log" || fail "restore log lacks the merge"
done

echo "== a key conflict with another context is refused (7); nothing changes"
h=$(tree_hash "$I1")
expect_code 7 hero-restore -p "$KEYS/test.pub" --root "$I1" --context alice --as dora "$A"
expect_grep "key conflict in table '[a-z]*': .* already belongs to context 'alice'" "$T/err"
[ "$(tree_hash "$I1")" = "$h" ] || fail "refused restore changed the target"

echo "== an archive schema newer than the target's is refused (4)"
cp -r "$M" "$T/m-old"
sed -i 's/^schema: 3/schema: 2/' "$T/m-old/hero_osis.yaml"
rm -rf "$I2" && cp -a "$T/i2-pristine" "$I2"; h=$(tree_hash "$I2")
expect_code 4 hero-restore --manifests "$T/m-old" -p "$KEYS/test.pub" --root "$I2" --context alice "$A"
expect_grep "service 'hero_osis': archive schema 3 is newer than the target's schema 2" "$T/err"
[ "$(tree_hash "$I2")" = "$h" ] || fail "refused restore changed the target"

echo "== missing secret names are refused (6) unless allowed"
sed -i '/OSIS_MASTER_KEY/d' "$I2/cfg/env/env.sh"; h=$(tree_hash "$I2")
expect_code 6 hero-restore -p "$KEYS/test.pub" --root "$I2" --context alice "$A"
expect_grep 'lacks secrets the archive needs: OSIS_MASTER_KEY' "$T/err"
[ "$(tree_hash "$I2")" = "$h" ] || fail "refused restore changed the target"
expect_code 0 hero-restore --secrets-command "printf 'OSIS_MASTER_KEY\nHERO_DB_KEY\nFOUNDRY_WEBDAV_TOKEN\nBIZ_SMTP_PASSWORD\n'" \
	-p "$KEYS/test.pub" --root "$I2" --context alice "$A"
expect_code 0 hero-restore --allow-missing-secrets -p "$KEYS/test.pub" --root "$I2" --context alice "$A"
expect_grep 'warning: the target lacks secrets OSIS_MASTER_KEY (allowed)' "$T/err"

echo "== older state is migrated forward, and the migration recorded"
cp -r "$M" "$T/m1"
sed -i 's/^schema: 2/schema: 1/; /^migrations:/d' "$T/m1/hero_biz.yaml"
expect_code 0 "$SAMPLE" --root "$T/i3" --size 1M --contexts alice,bravo --seed 13 --schema-biz 1
expect_code 0 hero-snap --manifests "$T/m1" -s "$KEYS/test.key" -o "$T/biz1.hsnap" --root "$T/i3" --service hero_biz
rm -rf "$I2" && cp -a "$T/i2-pristine" "$I2"
expect_code 0 hero-restore --dry-run -p "$KEYS/test.pub" --root "$I2" "$T/biz1.hsnap"
expect_grep 'schema 1 -> 2' "$T/out"
expect_grep 'migrate hero_biz schema 1 -> 2: .*0002_invoice_due.sql' "$T/out"
expect_code 0 hero-restore -p "$KEYS/test.pub" --root "$I2" "$T/biz1.hsnap"
[ "$(q "$I2/var/hero_biz/biz.db" 'PRAGMA user_version')" = 2 ] || fail "schema not raised"
q "$I2/var/hero_biz/biz.db" "SELECT due FROM invoices LIMIT 1" >/dev/null || fail "migration did not run"
grep -q 'hero_biz migration .*0002_invoice_due.sql' "$I2/.hero/restore.log" || fail "migration not recorded"
same_out "a one-service restore touched another service" \
	'cd "$I2" && find var/hero_osis -type f | sort | xargs sha256sum' 'cd "$T/i2-pristine" && find var/hero_osis -type f | sort | xargs sha256sum'

echo "== hooks: quiesce, resume (also after a failure), health"
cp -r "$M" "$T/mh"
cat >>"$T/mh/hero_biz.yaml" <<YAML
hooks:
  quiesce: "echo quiesce >> $T/hooks.log"
  resume: "echo resume >> $T/hooks.log; (sleep 1; touch $T/healthy) &"
  timeout: 10
health:
  command: "test -e $T/healthy && echo healthy >> $T/hooks.log"
  timeout: 10
YAML
rm -rf "$I2" && cp -a "$T/i2-pristine" "$I2"
start=$(date +%s%N)
expect_code 0 hero-restore --hooks --service hero_biz --manifests "$T/mh" -p "$KEYS/test.pub" --root "$I2" --context alice "$A"
[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 900 ] || fail "the restore did not wait for health"
[ "$(cat "$T/hooks.log" | tr '\n' ' ')" = "quiesce resume healthy " ] || fail "hooks out of order: $(cat "$T/hooks.log")"
rm -f "$T/hooks.log" "$T/healthy"
expect_code 0 hero-snap --hooks --manifests "$T/mh" -s "$KEYS/test.key" -o "$T/q.hsnap" --root "$I1" --service hero_biz
[ "$(cat "$T/hooks.log" | tr '\n' ' ')" = "quiesce resume healthy " ] || fail "snapshot hooks: $(cat "$T/hooks.log")"
rm -f "$T/hooks.log" "$T/healthy"; h=$(tree_hash "$I1")
expect_code 7 hero-restore --hooks --service hero_biz --manifests "$T/mh" -p "$KEYS/test.pub" --root "$I1" --context alice --as dora "$A"
[ "$(head -n 2 "$T/hooks.log" | tr '\n' ' ')" = "quiesce resume " ] || fail "resume did not run after a failed restore"
[ "$(tree_hash "$I1")" = "$h" ] || fail "failed restore changed the target"
sed -i "s|command: \"test -e $T/healthy.*|command: \"false\"|; s/^  timeout: 10$/  timeout: 1/" "$T/mh/hero_biz.yaml"
expect_code 1 hero-restore --hooks --service hero_biz --manifests "$T/mh" -p "$KEYS/test.pub" --root "$I2" --context alice "$A"
expect_grep 'service hero_biz not healthy after 1 s' "$T/err"

echo "== usage: bad names, --as without --context, unknown service"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" --context ../x "$A"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" --context a/b "$A"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" --context "$(printf 'c%.0s' $(seq 300))" "$A"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" --as x "$A"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" --service nosuch "$A"
expect_grep "archive holds no service 'nosuch'" "$T/err"
expect_code 2 hero-restore -p "$KEYS/test.pub" --root "$I2" --context zulu "$A"
expect_grep "archive holds no context 'zulu'" "$T/err"
echo ok
