#!/bin/sh
# The dependency rule of the layout: recorder and analyzer each build on
# format and never on each other; format depends on nothing but libc and zstd.
# Checked in the sources (#include lines) and in the binaries (NEEDED entries
# and defined symbols).
# usage: layering.sh SOURCE_ROOT LIBMALLOCREC MALLOCREC MALLOCAN
set -u
root=$1 lib=$2 launcher=$3 an=$4
status=0
bad() { echo "layering: $*" >&2; status=1; }

# Header names that live in a folder, e.g. " rec.h mallocan.h ".
headers() {
    list=" "
    for h in "$root/$1"/*.h; do [ -e "$h" ] && list="$list${h##*/} "; done
    echo "$list"
}

# includes FILE: prints the target of every #include in FILE.
includes() {
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$1"
}

# check_dir DIR FORBIDDEN_DIRS...: no file of DIR includes a header of, or a
# path into, one of the forbidden folders.
check_dir() {
    dir=$1
    shift
    own=$(headers "$dir")
    found=0
    for f in "$root/$dir"/*.c "$root/$dir"/*.h "$root/$dir"/*/*.c "$root/$dir"/*/*.h; do
        [ -e "$f" ] || continue
        found=1
        for inc in $(includes "$f"); do
            for other in "$@"; do
                case "$inc" in
                    *"$other"/*) bad "${f#"$root"/} includes $inc (from $other/)" ;;
                esac
                case "$(headers "$other")" in
                    *" ${inc##*/} "*)
                        case "$own" in
                            *" ${inc##*/} "*) ;;
                            *) bad "${f#"$root"/} includes $inc, a header of $other/" ;;
                        esac ;;
                esac
            done
        done
    done
    [ $found = 1 ] || bad "no sources found in $root/$dir"
}

check_dir recorder analyzer
check_dir analyzer recorder
check_dir format recorder analyzer include

# format/ builds on libc and zstd only
for f in "$root"/format/*.[ch] "$root"/format/*/*.[ch]; do
    [ -e "$f" ] || continue
    for inc in $(includes "$f"); do
        case "$inc" in
            libunwind*|elfutils/*|dwarf.h|libelf.h|gelf.h|capstone/*|cuda*|dlfcn.h)
                bad "${f#"$root"/} includes <$inc>: format/ depends on zstd only" ;;
        esac
    done
done

# the binaries: NEEDED entries
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
for n in $(needed "$lib"); do
    case "$n" in *mallocan*|libdw*|libelf*) bad "libmallocrec.so needs $n" ;; esac
done
for n in $(needed "$an"); do
    case "$n" in *mallocrec*|libunwind*) bad "mallocan needs $n" ;; esac
done
for n in $(needed "$launcher"); do
    case "$n" in *mallocrec*|*mallocan*|libdw*|libunwind*) bad "the mallocrec launcher needs $n" ;; esac
done
[ -n "$(needed "$lib")" ] || bad "readelf found no NEEDED entries in $lib"

# the binaries: no code of the other half defined in them
defined() { nm --defined-only "$1" 2>/dev/null | awk '{print $NF}'; }
for s in $(defined "$lib" | grep -E '^(an|rp)_'); do bad "libmallocrec.so defines analyzer symbol $s"; done
for s in $(defined "$an" | grep -E '^rec_'); do bad "mallocan defines recorder symbol $s"; done
defined "$lib" | grep -q '^rec_' || bad "nm found no rec_ symbols in $lib (stripped?)"
defined "$an" | grep -q '^an_' || bad "nm found no an_ symbols in $an (stripped?)"

[ $status = 0 ] && echo "ok: recorder, analyzer and format keep to their layers"
exit $status
