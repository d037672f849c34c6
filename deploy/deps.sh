#!/bin/sh
# deps.sh: install every build and test dependency of meterd (Debian 12).
# Idempotent: installs only what is missing, and is a no-op the second time.
# Usage: deploy/deps.sh [--build-only | --cluster | --bench]
set -eu

# clang + its runtimes (libclang-rt-14-dev): the warnings build and the libFuzzer targets
BUILD_PKGS="build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  libzookeeper-mt-dev libyaml-dev libnng-dev libpfm4-dev libipmimonitoring-dev
  libjansson-dev libinih-dev libcurl4-openssl-dev libssl-dev libcmocka-dev curl jq"
# lintian, man-db, systemd (systemd-analyze), python3-kubernetes (typed models
# of the manifests): the packaging checks (tests/packaging)
TEST_PKGS="zookeeper openipmi ipmitool freeipmi-tools prometheus prometheus-blackbox-exporter faketime
  prometheus-node-exporter valgrind lintian man-db systemd
  python3-kubernetes python3-yaml"
# benchmarks only (bench/, never CI): peers measured beside meterd. vmagent
# (victoria-metrics) for bench/pollsters/bench_scrape.py; installed by --bench
BENCH_PKGS="victoria-metrics"

# --build-only: what building needs; --cluster: plus ZooKeeper for the local
# cluster (deploy/run.sh); no flag: everything the tests need too; --bench:
# that and the benchmarks' peers.
pkgs="$BUILD_PKGS"
case "${1:-}" in
--build-only) ;;
--cluster) pkgs="$pkgs zookeeper" ;;
--bench) pkgs="$pkgs $TEST_PKGS $BENCH_PKGS" ;;
*) pkgs="$pkgs $TEST_PKGS" ;;
esac

missing=""
for p in $pkgs; do
  # dpkg -s, not apt's exit code: unrelated post-install failures must not hide a missing package
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$missing $p"
done

if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "deps: installing:$missing"
  # a fresh machine has no package lists; refresh them when any are absent or the install fails
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    $SUDO apt-get update -q
  fi
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing || {
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends $missing || true
  }
  # prometheus and zookeeper start services on install; we only want their binaries
  for p in $missing; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || {
      echo "deps: $p failed to install (apt-get install $p)" >&2; exit 1; }
  done
fi

if [ -z "${1:-}" ] || [ "$1" = --bench ]; then
  # nodejs + npm for the Etsy statsd daemon used by integration tests
  if ! command -v npm >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
  fi
  # Etsy's statsd daemon, pinned, in a cache folder the test harness knows
  cache=${METERD_CACHE:-${HOME:-/root}/.cache/meterd}
  if [ ! -f "$cache/statsd/node_modules/statsd/stats.js" ]; then
    mkdir -p "$cache/statsd"
    npm install --silent --no-audit --no-fund --prefix "$cache/statsd" statsd@0.9.0 >/dev/null
    [ -f "$cache/statsd/node_modules/statsd/stats.js" ] || { echo "deps: npm statsd@0.9.0 failed" >&2; exit 1; }
  fi
fi
echo "deps: ok"
