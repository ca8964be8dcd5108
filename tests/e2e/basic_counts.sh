#!/bin/sh
# Records samples/basic and checks the exact counts of its own calls.
# usage: basic_counts.sh MALLOCREC MALLOCAN BASIC
set -eu
rec=$1 an=$2 prog=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$rec" run -q -o "$dir/basic.mrz" -- "$prog" >/dev/null
"$an" info --format json "$dir/basic.mrz" > "$dir/info.json"
python3 - "$dir/info.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["counts"]
# basic.c: make() x3 (malloc) + printf's stdout buffer (malloc), calloc 1,
# realloc 1 (its old block released), free x3; one 32-byte block leaked.
assert c["malloc"] == 4, c
assert c["calloc"] == 1, c
assert c["realloc"] == 1 and c["realloc_free"] == 1, c
assert c["free"] == 3, c
assert j["end"]["how"] == "exit" and j["end"]["value"] == 0, j["end"]
assert j["threads"] == 1, j
print("ok", c)
PY
