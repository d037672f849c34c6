#!/bin/sh
# package.sh: the Debian package, as a packager builds it. A Release build in
# build-pkg/ (prefix /usr, Debian's hardening flags from dpkg-buildflags,
# everything incl. the tests compiled with -DMETERD_WERROR=ON), then
# `cpack -G DEB` writes build-pkg/meterd_<version>_<arch>.deb.
# deploy/test.sh runs it, then `ctest -L packaging` in build-pkg/ checks the
# package (tests/packaging/).
# Usage: deploy/package.sh [build folder, default build-pkg]
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-pkg}
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DMETERD_WERROR=ON -DWITH_BENCH=OFF \
  -DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" >/dev/null
cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)"
(cd "$dir" && rm -f meterd_*.deb && cpack -G DEB >/dev/null)
ls "$dir"/meterd_*.deb
