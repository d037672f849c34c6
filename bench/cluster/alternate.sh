#!/bin/sh
# alternate.sh OLD NEW [RUNS] -- runs two builds of a bench one after the
# other, RUNS times each (default 3), old first, so that both see the same
# machine and load; each run's JSON goes to $OUT (default ./alternate-out)
# as <old|new>-<i>.json, with the 1-minute load average before it.
# Example (issue 19, docs/BENCHMARKS.md):
#   bench/cluster/alternate.sh /tmp/main/build/bench/cluster/bench_cluster_many \
#       build/bench/cluster/bench_cluster_many 3
set -eu
old=$1 new=$2 runs=${3:-3} out=${OUT:-./alternate-out}
mkdir -p "$out"
i=1
while [ "$i" -le "$runs" ]; do
    for which in old new; do
        eval bin=\$$which
        printf '%s run %d, load %s\n' "$which" "$i" "$(cut -d' ' -f1 /proc/loadavg)" >&2
        "$bin" > "$out/$which-$i.json" 2> "$out/$which-$i.err" || echo "$which run $i failed" >&2
    done
    i=$((i + 1))
done
