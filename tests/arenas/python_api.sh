#!/bin/sh
# The Python bindings' test, skipped where there is no python3.
# usage: python_api.sh MALLOCREC MALLOCAN CHECKS INCLUDE_DIR PY_API
if ! command -v python3 >/dev/null 2>&1; then
    echo "skipped: python3 not found, so the Python bindings (include/mallocrec.py) are not tested"
    exit 77
fi
exec python3 "$3" "$1" "$2" python "$4" "$5"
