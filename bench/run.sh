#!/bin/bash
# bench/run.sh - `make bench`: hero-snap and hero-restore against tar | zstd on a sample
# instance, with restic and borg as references when they are installed. See docs/performance.md.
#
# Knobs (environment):
#   BENCH_SIZE=1G          size of the sample instance (hero-sample --size)
#   BENCH_RUNS=5           runs of every command; the table shows medians
#   BENCH_CONTEXT=alice    the context of `hero-snap --context` (one of four)
#   BENCH_REFS=1           0 skips restic and borg even when installed
#   BENCH_SCALING=0        1 adds the scaling table: BENCH_SCALING_SIZES and many small files
#   BENCH_SCALING_SIZES="256M 1G 4G"
#   BENCH_SMALL_FILES=100000
#   BENCH_DIR=$TMPDIR      where the scratch directory goes (removed at the end)
#   BENCH_OUT=bench/results/DATE.txt   the table is also written there
#   BENCH_KEEP=0           1 keeps the scratch directory
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${HERO_BUILD:=$SRC/build}"
BENCH_SIZE=${BENCH_SIZE:-1G}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_CONTEXT=${BENCH_CONTEXT:-alice}
BENCH_REFS=${BENCH_REFS:-1}
BENCH_SCALING=${BENCH_SCALING:-0}
BENCH_SCALING_SIZES=${BENCH_SCALING_SIZES:-256M 1G 4G}
BENCH_SMALL_FILES=${BENCH_SMALL_FILES:-100000}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_OUT=${BENCH_OUT:-$SRC/bench/results/$(date +%Y%m%d-%H%M%S).txt}

. "$SRC/bench/lib.sh"

BIN=$HERO_BUILD/bin
SAMPLE=$HERO_BUILD/tests/hero-sample
KEY=$SRC/tests/golden/keys/test.key
PUB=$SRC/tests/golden/keys/test.pub
export HERO_MANIFESTS=$SRC/manifests
export LC_ALL=C

need zstd tar awk sync nproc mktemp
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (scripts/install-deps.sh installs 'time')"
for t in "$BIN/hero-snap" "$BIN/hero-restore" "$BIN/hero-inspect" "$SAMPLE"; do
	[ -x "$t" ] || die "'$t' is not built (run make first)"
done
case $BENCH_RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive number" ;; esac

W=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/hero-bench.XXXXXX")
DATA=$W/data
: >"$DATA"
cleanup() {
	if [ "$BENCH_KEEP" = 1 ]; then note "scratch kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

REFS=()
if [ "$BENCH_REFS" = 1 ]; then
	command -v restic >/dev/null 2>&1 && REFS+=(restic)
	command -v borg >/dev/null 2>&1 && REFS+=(borg)
fi
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$W/restic-cache
export BORG_PASSPHRASE=bench BORG_BASE_DIR=$W/borg-base BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

# check_disk SIZE: the instance, two archives, two restored copies and the reference repositories
check_disk() {
	local want avail
	want=$(($(bytes "$1") * (5 + ${#REFS[@]} * 2) / 1024))
	avail=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
	[ "$avail" -gt "$want" ] || die "not enough space in $W for a $1 instance: $((avail / 1024)) MiB free, about $((want / 1024)) MiB needed"
}

# make_instance ROOT SIZE [SMALL_FILES]: a sample instance, optionally with many small documents
make_instance() {
	local root=$1 size=$2 small=${3:-0}
	rm -rf "$root"
	"$SAMPLE" --root "$root" --size "$size" --contexts 4 >/dev/null 2>"$W/sample.err" ||
		die "hero-sample failed: $(cat "$W/sample.err")"
	[ "$small" -gt 0 ] || return 0
	# 4 contexts x 100 directories; 512 to 4096 bytes of text each
	awk -v root="$root" -v n="$small" 'BEGIN {
		srand(7)
		split("root geomind alice bob", ctx, " ")
		line = "SENTINEL small document for the per-file overhead benchmark, quick brown fox\n"
		for (i = 0; i < n; i++) {
			c = ctx[i % 4 + 1]; d = int(i / 4) % 100
			dir = root "/var/hero_foundry/files/" c "/documents/bulk/" sprintf("d%03d", d)
			if (!(dir in made)) { system("mkdir -p \"" dir "\""); made[dir] = 1 }
			f = dir "/" sprintf("n%06d.md", i)
			len = 512 + int(rand() * 3584)
			s = ""
			while (length(s) < len) s = s line
			printf "%s", substr(s, 1, len) > f
			close(f)
		}
	}'
}

# file_lists ARCHIVE ROOT: $W/list (every entry of the archive, for tar) and $W/list.files
# (files only, plus the SQLite -wal files a file-level tool would copy: restic, borg)
file_lists() {
	zstd -dc "$1" 2>/dev/null | tar -tf - | grep -v '^\.hero/' >"$W/list"
	grep -v '/$' "$W/list" >"$W/list.files" || true
	grep '\.db$' "$W/list" | while read -r db; do
		[ -e "$2/$db-wal" ] && echo "$db-wal"
	done >>"$W/list.files" || true
}

state_summary() {
	awk '{ n++ } END { printf "%d entries", n }' "$W/list"
}

snap() { # LABEL ROOT OUT [hero-snap options]
	local label=$1 root=$2 out=$3
	shift 3
	rm -f "$out"
	quiesce
	timed "$label" "$BIN/hero-snap" -q -s "$KEY" -o "$out" --root "$root" "$@"
}

tarzstd() { # LABEL ROOT OUT
	rm -f "$3"
	quiesce
	timed "$1" bash -c 'set -o pipefail; tar -cf - -C "$1" --no-recursion -T "$2" | zstd -3 -T0 -q -f -o "$3"' \
		_ "$2" "$W/list" "$3"
}

# A fresh target has no secrets; the archive names the ones its services need.
RESTORE_OPTS=()
"$BIN/hero-restore" --help 2>&1 | grep -q -- --allow-missing-secrets && RESTORE_OPTS+=(--allow-missing-secrets)

# target NAME: $TARGET is an empty directory to restore into. With KEEP_TREES=1 every run gets a new one and
# they are removed together later: on ext4 without a journal, creating 100,000 files right after
# removing 100,000 is slowed by the allocator skipping recently freed inodes.
KEEP_TREES=0
TREE_N=0
TARGET=
target() {
	local d=$W/$1
	if [ "$KEEP_TREES" = 1 ]; then
		TREE_N=$((TREE_N + 1))
		d=$W/trees/$1.$TREE_N
	fi
	rm -rf "$d"
	mkdir -p "$d"
	TARGET=$d
}

# warm FILE: read FILE into the page cache. hero-snap writes its archive with O_DIRECT (the
# page cache of the instance is left alone), tar | zstd through the page cache; reading both
# once before they are restored compares the restores, not the cache states.
warm() { cat "$1" >/dev/null; }

restore() { # LABEL ARCHIVE
	target restored
	warm "$2"
	quiesce
	timed "$1" "$BIN/hero-restore" -q -p "$PUB" "${RESTORE_OPTS[@]:+${RESTORE_OPTS[@]}}" --root "$TARGET/inst" "$2"
}

untar() { # LABEL TARZST
	target untar
	warm "$2"
	quiesce
	timed "$1" bash -c 'set -o pipefail; zstd -dc "$1" | tar -xf - -C "$2" && sync' _ "$2" "$TARGET"
}

ref_backup() { # TOOL LABEL ROOT
	local repo=$W/repo-$1
	rm -rf "$repo" "$RESTIC_CACHE_DIR" "$BORG_BASE_DIR"
	case $1 in
	restic)
		restic init -q -r "$repo" >/dev/null
		quiesce
		timed "$2" bash -c 'cd "$1" && restic backup -q -r "$2" --files-from-verbatim "$3"' _ "$3" "$repo" "$W/list.files"
		;;
	borg)
		borg init -e authenticated-blake2 "$repo" >/dev/null 2>&1
		quiesce
		timed "$2" bash -c 'cd "$1" && borg create -C zstd,3 --paths-from-stdin "$2::a" <"$3"' _ "$3" "$repo" "$W/list.files"
		;;
	esac
}

ref_restore() { # TOOL LABEL
	local repo=$W/repo-$1
	target untar
	quiesce
	case $1 in
	restic) timed "$2" bash -c 'restic restore -q -r "$1" latest --target "$2" && sync' _ "$repo" "$TARGET" ;;
	borg) timed "$2" bash -c 'cd "$2" && borg extract "$1::a" && sync' _ "$repo" "$TARGET" ;;
	esac
}

# ---- the main table ----

main_runs() {
	local root=$W/inst a=$W/a.hsnap t=$W/a.tar.zst c=$W/ctx.hsnap r tool
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		note "run $r of $BENCH_RUNS"
		if ((r % 2)); then
			snap snap "$root" "$a"
			tarzstd tar "$root" "$t"
		else
			tarzstd tar "$root" "$t"
			snap snap "$root" "$a"
		fi
		for tool in "${REFS[@]:+${REFS[@]}}"; do
			ref_backup "$tool" "$tool" "$root"
		done
		snap snapctx "$root" "$c" --context "$BENCH_CONTEXT"
		if ((r % 2)); then
			restore restore "$a"
			untar untar "$t"
		else
			untar untar "$t"
			restore restore "$a"
		fi
		for tool in "${REFS[@]:+${REFS[@]}}"; do
			ref_restore "$tool" "$tool-restore"
		done
		warm "$a"
		for _ in 1 2 3; do
			timed inspect "$BIN/hero-inspect" "$a"
		done
	done
}

main_table() {
	local a=$W/a.hsnap t=$W/a.tar.zst snapx restx ctxx insp
	snapx=$(ratio snap tar)
	restx=$(ratio restore untar)
	ctxx=$(ratio snapctx snap)
	insp=$(median inspect)
	echo "hero-snap benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $("$BIN/hero-snap" --version 2>/dev/null | head -n 1)" \
		"(commit $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown))"
	echo "instance: hero-sample --size $BENCH_SIZE --contexts 4 ($(state_summary)); $BENCH_RUNS runs, medians"
	machine
	echo "Warm page cache (it cannot be dropped reliably; archives are read once before they are"
	echo "restored); commands alternated within each run; outputs removed and sync run before every"
	echo "command; archives written to the scratch file system."
	echo
	header
	row snap "hero-snap (whole instance, signed)" "$snapx" "<= 1.00x tar|zstd: $(verdict "$snapx" 1.0)"
	row tar "tar -cf - | zstd -3 -T0 > file" 1.00x ""
	row restic "restic backup (first, default compression)" "$(ratio restic tar)" ""
	row borg "borg create (first, -C zstd,3)" "$(ratio borg tar)" ""
	row restore "hero-restore (verify, extract, swap)" "$restx" "<= 1.00x untar: $(verdict "$restx" 1.0)"
	row untar "zstd -dc | tar -xf - && sync" 1.00x ""
	row restic-restore "restic restore && sync" "$(ratio restic-restore untar)" ""
	row borg-restore "borg extract && sync" "$(ratio borg-restore untar)" ""
	row inspect "hero-inspect (manifest)" - "< 0.050 s: $(verdict "$insp" 0.050)"
	row snapctx "hero-snap --context $BENCH_CONTEXT (1 of 4)" "$ctxx" "<= 0.35x hero-snap: $(verdict "$ctxx" 0.35)"
	echo
	local ps pr
	ps=$(peak_mib snap)
	pr=$(peak_mib restore)
	echo "peak memory: hero-snap $ps MiB ($(verdict "$ps" 63.99 | sed 's/met/met, target < 64 MiB/')), hero-restore $pr MiB ($(verdict "$pr" 63.99 | sed 's/met/met, target < 64 MiB/'))"
	echo "archive: hero-snap $(du -m "$a" | cut -f1) MiB, tar.zst $(du -m "$t" | cut -f1) MiB"
}

# ---- the scaling table ----

scaling_case() { # TAG SIZE [SMALL_FILES]
	local tag=$1 root=$W/inst a=$W/a.hsnap t=$W/a.tar.zst r
	if [ "${3:-0}" -gt 0 ]; then check_disk 1G; else check_disk "$2"; fi
	note "scaling: $tag"
	make_instance "$root" "$2" "${3:-0}"
	"$BIN/hero-snap" -q -s "$KEY" -o "$a" --root "$root" # warm-up, and the file list
	file_lists "$a" "$root"
	echo "$tag $(wc -l <"$W/list") $(du -sk --apparent-size "$root" | cut -f1)" >>"$W/cases"
	[ "${3:-0}" -gt 0 ] && KEEP_TREES=1
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		snap "$tag.snap" "$root" "$a"
		tarzstd "$tag.tar" "$root" "$t"
		restore "$tag.restore" "$a"
		untar "$tag.untar" "$t"
	done
	KEEP_TREES=0
	rm -rf "$root" "$a" "$t" "$W/restored" "$W/untar" "$W/trees"
}

scaling_table() {
	echo
	echo "Scaling ($BENCH_RUNS runs each, medians; per-GiB and per-file costs from hero-snap's and hero-restore's medians)"
	printf '%-18s %8s %8s %7s %7s %6s %8s %7s %6s %8s %8s %10s %10s\n' case entries "GiB" "snap s" "tar s" ratio \
		"rest. s" "untar s" ratio "snap MiB" "rest MiB" "snap s/GiB" "rest s/GiB"
	local tag n kib g
	while read -r tag n kib; do
		g=$(awk -v k="$kib" 'BEGIN { printf "%.2f", k / 1048576 }')
		printf '%-18s %8s %8s %7.2f %7.2f %6s %8.2f %7.2f %6s %8s %8s %10s %10s\n' "$tag" "$n" "$g" \
			"$(median "$tag.snap")" "$(median "$tag.tar")" "$(ratio "$tag.snap" "$tag.tar")" \
			"$(median "$tag.restore")" "$(median "$tag.untar")" "$(ratio "$tag.restore" "$tag.untar")" \
			"$(peak_mib "$tag.snap")" "$(peak_mib "$tag.restore")" \
			"$(awk -v s="$(median "$tag.snap")" -v g="$g" 'BEGIN { printf "%.2f", s / g }')" \
			"$(awk -v s="$(median "$tag.restore")" -v g="$g" 'BEGIN { printf "%.2f", s / g }')"
	done <"$W/cases"
	if grep -q '^small ' "$W/cases"; then
		n=$(awk '$1 == "small" { print $2 }' "$W/cases")
		echo "per entry, small-file case: hero-snap $(awk -v s="$(median small.snap)" -v n="$n" 'BEGIN { printf "%.0f", s / n * 1e6 }') us," \
			"tar|zstd $(awk -v s="$(median small.tar)" -v n="$n" 'BEGIN { printf "%.0f", s / n * 1e6 }') us," \
			"hero-restore $(awk -v s="$(median small.restore)" -v n="$n" 'BEGIN { printf "%.0f", s / n * 1e6 }') us," \
			"untar $(awk -v s="$(median small.untar)" -v n="$n" 'BEGIN { printf "%.0f", s / n * 1e6 }') us"
	fi
}

# ---- main ----

check_disk "$BENCH_SIZE"
note "scratch $W; generating a $BENCH_SIZE instance"
make_instance "$W/inst" "$BENCH_SIZE"
"$BIN/hero-snap" -q -s "$KEY" -o "$W/a.hsnap" --root "$W/inst" # warm-up, and the file list
file_lists "$W/a.hsnap" "$W/inst"
main_runs
mkdir -p "$(dirname "$BENCH_OUT")"
main_table | tee "$BENCH_OUT"
if [ "$BENCH_SCALING" = 1 ]; then
	rm -rf "$W/inst" "$W/a.hsnap" "$W/a.tar.zst" "$W/ctx.hsnap" "$W/restored" "$W/untar" "$W"/repo-*
	: >"$W/cases"
	for s in $BENCH_SCALING_SIZES; do
		scaling_case "$s" "$s"
	done
	scaling_case small 64M "$BENCH_SMALL_FILES"
	scaling_table | tee -a "$BENCH_OUT"
fi
note "results written to $BENCH_OUT"
