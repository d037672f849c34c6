#!/bin/sh
# soak.sh: the chaos suite's soak run (issue 13; not in CI): five agents on a
# real ZooKeeper for an hour, a revision pushed every 10 s, ZooKeeper killed
# and restarted every 10 minutes; each agent's RSS and open descriptors
# sampled every 10 s, and asserted flat after the warm-up
# (tests/chaos/test_chaos_soak.c says exactly how).
#
# Usage: tests/chaos/soak.sh [BUILD_DIR [SECONDS]]   (default: build, 3600)
# The samples are kept in BUILD_DIR/soak.csv (seconds,node,rss_kib,fds).
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-3600}
[ -x "$build/tests/chaos/test_chaos" ] || cmake --build "$build" --target test_chaos meterd
csv=$(cd "$build" && pwd)/soak.csv
echo "soak.sh: ${seconds} s, samples in $csv"
CHAOS_SOAK_S=$seconds CHAOS_SOAK_CSV=$csv "$build/tests/chaos/test_chaos" soak
