#!/bin/bash
# layers.sh - the library's layers depend one way (docs/architecture.md,
# docs/decisions/0031-layered-library.md):
#
#   base < pipeline < format < state < snapshot | restore | supervise < migrate < cmd
#
# A file may use its own layer and the layers below it; snapshot, restore and
# supervise sit side by side and use none of each other.
#
#   layers.sh [-C TOP] [--objects OBJDIR]
#       Check the includes of TOP (default: this repository):
#       - src/LAYER/*.[ch] include internal headers by their layer path
#         ("base/internal.h"), of their own layer or a lower one, and public
#         headers ("hero/x.h") of their own layer or a lower one;
#       - include/hero/*.h include only public headers of their layer or lower;
#       - cmd/ includes only include/hero/*.h and its own cmd/*.h.
#       With --objects (the build's objects, e.g. build/src), check the calls
#       too: every symbol a library object uses is defined in its own layer or
#       a lower one, and no two files use each other, directly or round a loop.
#   layers.sh --self-test
#       Plant each kind of violation in a scratch copy and expect it refused.
set -u

# R: the rank of layer $1 (siblings share one); -1 for an unknown folder.
rank() {
	case $1 in
	base) R=0 ;;
	pipeline) R=1 ;;
	format) R=2 ;;
	state) R=3 ;;
	snapshot | restore | supervise) R=4 ;;
	migrate) R=5 ;;
	*) R=-1 ;;
	esac
}

# P: the layer a public header include/hero/$1.h belongs to (the layer of the
# code behind it); empty for a header not listed here.
public_layer() {
	case $1 in
	atomic | error | metrics | quote | strlist) P=base ;;
	archive | incremental | keys) P=format ;;
	manifest) P=state ;;
	snapshot) P=snapshot ;;
	restore) P=restore ;;
	probe | reconcile | supervisor) P=supervise ;;
	journal | migrate) P=migrate ;;
	*) P= ;;
	esac
}

# may_use FROM TO: a file of layer FROM may depend on layer TO.
may_use() {
	[ "$1" = "$2" ] && return 0
	local a
	rank "$1"
	a=$R
	rank "$2"
	[ "$a" -ge 0 ] && [ "$R" -ge 0 ] && [ "$R" -lt "$a" ]
}

bad=0
refuse() {
	echo "layers: $*" >&2
	bad=1
}

# The "#include" lines of FILE as LINE<TAB>NAME.
quoted_includes() {
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$1" |
		sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1\t\2/'
}

check_tree() {
	local top=$1 f layer line name l2 base base2
	[ -d "$top/src" ] || {
		refuse "no src/ under $top"
		return
	}
	for d in "$top"/src/*/; do
		layer=$(basename "$d")
		rank "$layer"
		[ "$R" -ge 0 ] || refuse "src/$layer/: not a layer of the order (tests/tools/layers.sh, docs/architecture.md)"
	done
	for f in "$top"/src/*.[ch]; do
		[ -e "$f" ] && refuse "${f#"$top"/}: the library's files live in a layer folder src/LAYER/"
	done
	for f in "$top"/src/*/*.[ch]; do
		layer=$(basename "$(dirname "$f")")
		while IFS=$'\t' read -r line name; do
			[ -n "$name" ] || continue
			case $name in
			hero/*.h)
				base=${name#hero/}
				base=${base%.h}
				public_layer "$base"
				l2=$P
				if [ ! -f "$top/include/$name" ]; then
					refuse "${f#"$top"/}:$line: includes \"$name\", not a public header"
				elif [ -z "$l2" ]; then
					refuse "include/$name: no layer given in tests/tools/layers.sh"
				elif ! may_use "$layer" "$l2"; then
					refuse "${f#"$top"/}:$line: $layer includes \"$name\" of layer $l2 (above or beside it)"
				fi
				;;
			*/*)
				l2=${name%%/*}
				rank "$l2"
				if [ "$R" -lt 0 ] || [ ! -f "$top/src/$name" ]; then
					refuse "${f#"$top"/}:$line: includes \"$name\", not a header of a layer (src/LAYER/FILE.h)"
				elif ! may_use "$layer" "$l2"; then
					refuse "${f#"$top"/}:$line: $layer includes \"$name\" of layer $l2 (above or beside it)"
				fi
				;;
			*)
				refuse "${f#"$top"/}:$line: includes \"$name\": name internal headers by their layer (\"LAYER/$name\")"
				;;
			esac
		done < <(quoted_includes "$f")
	done
	for f in "$top"/include/hero/*.h; do
		base=$(basename "$f" .h)
		public_layer "$base"
		layer=$P
		if [ -z "$layer" ]; then
			refuse "include/hero/$base.h: no layer given in tests/tools/layers.sh"
			continue
		fi
		while IFS=$'\t' read -r line name; do
			[ -n "$name" ] || continue
			case $name in
			hero/*.h)
				base2=${name#hero/}
				public_layer "${base2%.h}"
				l2=$P
				if [ -z "$l2" ] || [ ! -f "$top/include/$name" ]; then
					refuse "include/hero/$base.h:$line: includes \"$name\", not a public header"
				elif ! may_use "$layer" "$l2"; then
					refuse "include/hero/$base.h:$line: $layer includes \"$name\" of layer $l2 (above or beside it)"
				fi
				;;
			*) refuse "include/hero/$base.h:$line: a public header includes \"$name\", not a public header" ;;
			esac
		done < <(quoted_includes "$f")
	done
	for f in "$top"/cmd/*.[ch]; do
		while IFS=$'\t' read -r line name; do
			[ -n "$name" ] || continue
			case $name in
			hero/*.h) [ -f "$top/include/$name" ] || refuse "${f#"$top"/}:$line: includes \"$name\", not in include/hero/" ;;
			*/*) refuse "${f#"$top"/}:$line: includes \"$name\": the tools use include/hero/*.h and cmd/*.h only" ;;
			*) [ -f "$top/cmd/$name" ] || refuse "${f#"$top"/}:$line: includes \"$name\": the tools use include/hero/*.h and cmd/*.h only" ;;
			esac
		done < <(quoted_includes "$f")
	done
}

# check_objects OBJDIR: OBJDIR/LAYER/FILE.o, as the Makefile builds src/.
check_objects() {
	local dir=$1 o tmp
	tmp=$(mktemp -d /tmp/hero-layers.XXXXXX)
	for o in "$dir"/*/*.o; do
		[ -e "$o" ] || {
			refuse "no objects under $dir"
			rm -rf "$tmp"
			return
		}
		local id=${o#"$dir"/}
		id=${id%.o}
		nm -g --defined-only "$o" | awk -v f="$id" 'NF == 3 { print $3, f }' >>"$tmp/defs"
		nm -u "$o" | awk -v f="$id" '{ print $NF, f }' >>"$tmp/uses"
	done
	sort -o "$tmp/defs" "$tmp/defs"
	sort -o "$tmp/uses" "$tmp/uses"
	# "user definer symbol" for every call between two files
	join "$tmp/uses" "$tmp/defs" | awk '$2 != $3 { print $2, $3, $1 }' | sort >"$tmp/edges"
	local user def sym
	while read -r user def sym; do
		may_use "${user%%/*}" "${def%%/*}" ||
			refuse "src/$user.c uses $sym of src/$def.c: ${user%%/*} may not use ${def%%/*}"
	done <"$tmp/edges"
	# Files that use each other: a loop in the graph of files.
	awk '{ print $1, $2 }' "$tmp/edges" | sort -u >"$tmp/pairs"
	if ! tsort "$tmp/pairs" >/dev/null 2>"$tmp/loop"; then
		refuse "files use each other (break the loop: move the shared part down, or pass a function):"
		awk 'NR == FNR { e[$1 " " $2] = 1; next } $1 < $2 && ($2 " " $1) in e { print "    src/" $1 ".c <-> src/" $2 ".c" }' \
			"$tmp/pairs" "$tmp/pairs" >"$tmp/two"
		if [ -s "$tmp/two" ]; then
			cat "$tmp/two" >&2
		else # a longer loop: the files tsort found on it
			sed -n 's/^tsort: \([^:]*\)$/    in a loop: src\/\1.c/p' "$tmp/loop" >&2
		fi
	fi
	rm -rf "$tmp"
}

# expect_refused WHAT TOP [ARGS]: the check must fail on TOP.
expect_refused() {
	local what=$1
	shift
	if bash "$0" "$@" 2>"$scratch/err"; then
		echo "layers self-test: not refused: $what" >&2
		bad=1
	else
		echo "refused as it should: $what ($(head -n 1 "$scratch/err"))"
	fi
}

self_test() {
	local top scratch copy
	top=$(cd "$(dirname "$0")/../.." && pwd)
	scratch=$(mktemp -d /tmp/hero-layers-test.XXXXXX)
	trap 'rm -rf "$scratch"' EXIT
	fresh() {
		rm -rf "$scratch/tree"
		mkdir -p "$scratch/tree"
		cp -R "$top/src" "$top/include" "$top/cmd" "$scratch/tree/"
		copy=$scratch/tree
	}
	fresh
	bash "$0" -C "$copy" || {
		echo "layers self-test: the unchanged copy is refused" >&2
		exit 1
	}
	# an include of a higher layer
	sed -i '0,/^#include "base\/internal.h"/s//&\n#include "format\/tarck.h"/' "$copy/src/base/fsutil.c"
	expect_refused "src/base/fsutil.c includes format/tarck.h" -C "$copy"
	# an include of a sibling layer
	fresh
	sed -i '0,/^#include "base\/lock.h"/s//&\n#include "supervise\/svcyaml.h"/' "$copy/src/restore/swap.c"
	expect_refused "src/restore/swap.c includes supervise/svcyaml.h" -C "$copy"
	# a public header of a higher layer
	fresh
	sed -i '0,/^#include "hero\/keys.h"/s//&\n#include "hero\/manifest.h"/' "$copy/include/hero/archive.h"
	expect_refused "include/hero/archive.h includes hero/manifest.h" -C "$copy"
	# an internal header named without its layer
	fresh
	sed -i 's|^#include "base/blake2b.h"|#include "blake2b.h"|' "$copy/src/pipeline/hashq.c"
	expect_refused "src/pipeline/hashq.c includes blake2b.h without its layer" -C "$copy"
	# a tool including an internal header
	fresh
	sed -i '0,/^#include "hero\/quote.h"/s//&\n#include "base\/internal.h"/' "$copy/cmd/common.c"
	expect_refused "cmd/common.c includes base/internal.h" -C "$copy"
	# calls: a lower layer calling up, and two files calling each other
	local cc=${CC:-cc} o=$scratch/obj
	mkdir -p "$o/base" "$o/format"
	printf 'int up(void);\nint low(void);\nint low(void) { return up(); }\n' >"$scratch/low.c"
	printf 'int up(void);\nint up(void) { return 1; }\n' >"$scratch/up.c"
	"$cc" -c -o "$o/base/low.o" "$scratch/low.c" && "$cc" -c -o "$o/format/up.o" "$scratch/up.c" || exit 1
	expect_refused "src/base/low.c calls up() of src/format/up.c" -C "$top" --objects "$o"
	rm -f "$o/base/low.o"
	printf 'int a(int);\nint b(int);\nint a(int n) { return n ? b(n - 1) : 0; }\n' >"$scratch/a.c"
	printf 'int a(int);\nint b(int);\nint b(int n) { return n ? a(n - 1) : 1; }\n' >"$scratch/b.c"
	"$cc" -c -o "$o/format/a.o" "$scratch/a.c" && "$cc" -c -o "$o/format/b.o" "$scratch/b.c" || exit 1
	expect_refused "src/format/a.c and src/format/b.c call each other" -C "$top" --objects "$o"
	[ "$bad" = 0 ] && echo "layers self-test: every planted violation refused"
	exit "$bad"
}

top=$(cd "$(dirname "$0")/../.." && pwd)
objects=
while [ $# -gt 0 ]; do
	case $1 in
	-C) top=$2 && shift 2 ;;
	--objects) objects=$2 && shift 2 ;;
	--self-test) self_test ;;
	*)
		echo "usage: layers.sh [-C TOP] [--objects OBJDIR] | --self-test" >&2
		exit 2
		;;
	esac
done
check_tree "$top"
[ -n "$objects" ] && check_objects "$objects"
exit "$bad"
