#!/bin/sh
# test.sh: install what is missing, then
#   1. a normal build (gcc) and every test, unit tests also under valgrind,
#      the chaos suite (tests/chaos, label chaos) in this build only;
#   2. an ASan+UBSan build and every test but the chaos suite;
#   3. a clang build of everything with the fuzz targets (-Werror; tests not re-run);
#   4. the package: a Release build as a packager makes it (deploy/package.sh:
#      Debian's hardening flags, -Werror, tests compiled not run), the .deb,
#      and `ctest -L packaging` (package, systemd units, man pages, manifests);
#   5. a short smoke run of every fuzz target over its seed corpus.
# Each step fails the script. Tests whose real peer cannot run are reported
# by ctest as skipped ("Not Run"), never passed; their list is printed.
# Safe to run again; builds are incremental in build/, build-asan/, build-clang/.
set -eu
cd "$(dirname "$0")/.."
deploy/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
t0=$(date +%s)
step() { echo "test.sh: $1 done in $(($(date +%s) - t0)) s"; t0=$(date +%s); }

# ctest_run DIR LABEL [ctest args]: runs ctest, fails unless all passed, lists skips
ctest_run() {
  dir=$1 what=$2
  shift 2
  (cd "$dir" && rc=0 && { ctest --output-on-failure -j "$jobs" --timeout 900 "$@" || rc=$?; } &&
    echo "ctest exit $rc") 2>&1 | tee "$dir/ctest.log"
  echo "test.sh: $what: skipped tests (peer missing):"
  skipped=$(grep -E '\*\*\*Skipped|\*\*\*Not Run' "$dir/ctest.log" || true)
  echo "${skipped:-none}" | sed 's/^/  /'
  if ! grep -q '^ctest exit 0$' "$dir/ctest.log" || ! grep -q 'tests passed, 0 tests failed' "$dir/ctest.log"; then
    echo "test.sh: $what: tests failed" >&2
    exit 1
  fi
}

cmake -S . -B build -DMETERD_WERROR=ON -DMEMCHECK=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cmake --build build --target format-check
ctest_run build "normal build"
step "normal build + tests"

cmake -S . -B build-asan -DMETERD_WERROR=ON -DSANITIZE=ON -DWITH_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
ctest_run build-asan "sanitizer build" -LE chaos # the chaos suite: normal build only
step "ASan build + tests"

CC=clang cmake -S . -B build-clang -DMETERD_WERROR=ON -DWITH_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-clang -j "$jobs"
step "clang build"
deploy/package.sh build-pkg
ctest_run build-pkg "packaging" -L packaging
step "release build + package"
ctest_run build-clang "fuzz smoke" -L fuzz
step "fuzz smoke"
echo "test.sh: all passed (normal + valgrind + ASan/UBSan + clang + package + fuzz smoke)"
