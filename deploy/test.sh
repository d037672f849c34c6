#!/bin/sh
# test.sh: install what is missing, build, and run every test twice: a normal
# build (unit tests also under valgrind) and an ASan+UBSan build.
# Safe to run again; builds are incremental in build/ and build-asan/.
set -eu
cd "$(dirname "$0")/.."
deploy/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DMEMCHECK=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cmake --build build --target format-check
(cd build && ctest --output-on-failure -j "$jobs" --timeout 900) | tee build/ctest.log
grep -q '100% tests passed' build/ctest.log || { echo "test.sh: normal build: tests failed" >&2; exit 1; }

cmake -S . -B build-asan -DSANITIZE=ON -DWITH_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j "$jobs" --timeout 900) | tee build-asan/ctest.log
grep -q '100% tests passed' build-asan/ctest.log || { echo "test.sh: sanitizer build: tests failed" >&2; exit 1; }
echo "test.sh: all tests passed (normal + valgrind + ASan/UBSan)"
