#!/bin/sh
# check_exports.sh LIB PREFIX...: every symbol the static library LIB defines
# for other object files starts with one of the PREFIXes (followed by '_').
# Names the toolchain adds (__odr_asan.*, sanitizer and fuzzer hooks) start
# with "__" and are not ours.
# A module's exports carry its prefix so a reader knows where a name lives,
# and a helper that should be static shows up here as a stray name.
set -eu
lib=$1
shift
pattern=$(printf '%s_|' "$@")
pattern="^(${pattern%|})"
bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /[TDBRVW]/ { print $3 }' |
      grep -Ev "$pattern" | grep -v "^__" | sort -u || true)
if [ -n "$bad" ]; then
    echo "$(basename "$lib"): exported names outside the module's prefixes ($*):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    echo "make them static, or give them the module's prefix" >&2
    exit 1
fi
echo "$(basename "$lib"): every export starts with one of: $*"
