# bench/lib.sh - measuring helpers for bench/run.sh. Source it; it expects $W (scratch
# directory) and $DATA (one line per measurement: "LABEL WALL_SECONDS PEAK_KIB CPU_SECONDS").

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# need CMD...: every command must be on PATH
need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed (scripts/install-deps.sh installs it)"
	done
}

# bytes SIZE: 256M, 1G, 4G, 100K or plain bytes -> bytes
bytes() {
	local s=$1 n=${1%[KkMmGg]}
	case $s in
	*[Kk]) echo $((n * 1024)) ;;
	*[Mm]) echo $((n * 1024 * 1024)) ;;
	*[Gg]) echo $((n * 1024 * 1024 * 1024)) ;;
	*) echo "$s" ;;
	esac
}

now() { date +%s.%N; }

# quiesce: flush what earlier steps left dirty, so no command pays for another's writeback
quiesce() { sync; }

# timed LABEL CMD...: run CMD once; record wall time (date +%s.%N), peak RSS (/usr/bin/time -f %M)
# and CPU time (user + system). For a pipeline (bash -c '... | ...') the peak is that of its largest
# process and the CPU time the sum of all.
timed() {
	local label=$1 t0 t1 rc=0
	shift
	t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$W/time.out" "$@" >"$W/cmd.out" 2>"$W/cmd.err" || rc=$?
	t1=$(now)
	if [ "$rc" -ne 0 ]; then
		echo "bench: '$label' failed with exit $rc: $*" >&2
		head -c 4000 "$W/cmd.err" >&2
		exit 1
	fi
	tail -n 1 "$W/time.out" | awk -v l="$label" -v a="$t0" -v b="$t1" \
		'{ printf "%s %.4f %s %.2f\n", l, b - a, $1, $2 + $3 }' >>"$DATA"
}

# stat_of LABEL FIELD WHAT: WHAT is median, min, max or n over field 2 (wall), 3 (peak KiB) or 4 (CPU)
stat_of() {
	awk -v l="$1" '$1 == l { print $'"$2"' }' "$DATA" | LC_ALL=C sort -g | awk -v what="$3" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			if (what == "n") { print NR; exit }
			if (what == "min") { print v[1]; exit }
			if (what == "max") { print v[NR]; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print m
		}'
}
median() { stat_of "$1" 2 median; }
peak_mib() {
	local k
	k=$(stat_of "$1" 3 max)
	[ "$k" = - ] && { echo -; return; }
	awk -v k="$k" 'BEGIN { printf "%.1f", k / 1024 }'
}
have() { [ "$(stat_of "$1" 2 n)" != - ]; }

# ratio A B: median(A) / median(B), or "-"
ratio() {
	have "$1" && have "$2" || { echo -; return; }
	awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'
}

# row LABEL TEXT RATIO TARGET: one line of the results table
row() {
	have "$1" || return 0
	printf '%-42s %8.3f %7.3f %7.3f %7.2f %8s  %-6s %s\n' "$2" "$(median "$1")" "$(stat_of "$1" 2 min)" \
		"$(stat_of "$1" 2 max)" "$(stat_of "$1" 4 median)" "$(peak_mib "$1")" "$3" "$4"
}

header() {
	printf '%-42s %8s %7s %7s %7s %8s  %-6s %s\n' operation "median s" "min s" "max s" "cpu s" "peak MiB" ratio target
}

# verdict OK_EXPR: "met" or "MISSED" from an awk condition over a (ratio) and b
verdict() {
	awk -v a="$1" -v b="$2" 'BEGIN { a += 0; print (a <= b) ? "met" : "MISSED" }'
}

machine() {
	local cpu mem fs
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
	fs=$(stat -f -c %T "$W" 2>/dev/null || echo '?')
	echo "machine: ${cpu:-unknown cpu}, $(nproc) cores, $mem RAM, kernel $(uname -r), scratch on $fs"
	echo "tools:   $(zstd --version 2>&1 | sed -n 's/.*\(v[0-9.]*\).*/zstd \1/p'), $(tar --version | head -n 1)$(
		command -v restic >/dev/null && printf ', %s' "$(restic version | cut -d' ' -f1-2)")$(
		command -v borg >/dev/null && printf ', %s' "$(borg --version)")"
}
