#!/bin/sh
# run.sh: the main job. Installs what is missing, builds, validates the example
# pipeline with meterctl, then runs a standalone meterd (a group of one, no
# ZooKeeper) on a demo pipeline for a few polls, shows its API and output,
# reloads it with a changed pipeline, and stops it cleanly.
# Safe to run again. METERD_RUN_SECONDS (default 6) sets how long it polls.
set -eu
cd "$(dirname "$0")/.."
deploy/deps.sh --build-only
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "== built: $(build/agent/meterd --version)"

echo "== meterctl validate deploy/pipeline.yaml"
build/cli/meterctl validate deploy/pipeline.yaml

run=build/run
rm -rf "$run"; mkdir -p "$run"
cat > "$run/pipeline.yaml" <<YAML
sources:
  - name: host_pressure
    interval: 2
    meters: ["host.pressure.*"]
  - name: host_load
    interval: 1
    meters: ["host.load.*"]
sinks:
  - name: default
    publishers: ["prometheus://", "file://$PWD/$run/samples.jsonl"]
YAML
cat > "$run/meterd.conf" <<CONF
[DEFAULT]
log_file = $PWD/$run/meterd.log
[polling]
cfg_file = $PWD/$run/pipeline.yaml
[api]
host = 127.0.0.1
port = 0
CONF

echo "== starting meterd -c $run/meterd.conf"
build/agent/meterd -c "$run/meterd.conf" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT INT TERM
port=""; i=0
until [ -n "$port" ]; do
  port=$(sed -n 's|.*api: listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$run/meterd.log" 2>/dev/null | tail -n 1)
  i=$((i+1)); [ $i -lt 200 ] || { echo "meterd did not start:"; cat "$run/meterd.log"; exit 1; }
  [ -n "$port" ] || sleep 0.05
done
echo "== API on http://127.0.0.1:$port"
get() { curl -fsS "http://127.0.0.1:$port$1"; }
sleep "${METERD_RUN_SECONDS:-6}"

echo "== GET /health";   get /health
echo "== GET /v1/status (sources)"
get /v1/status | jq -c '.groups[0] | (.pipeline | {revision, sha256}), (.sources[] | {name, interval, tasks, polls, errors})' 2>/dev/null || get /v1/status
echo "== GET /metrics (first lines)"; get /metrics | grep -v '^#' | head -8
echo "== $run/samples.jsonl: $(wc -l < "$run/samples.jsonl") samples, last:"; tail -n 1 "$run/samples.jsonl"

echo "== reload: host_load every 2 s instead of 1 (inotify applies it at once)"
sed -i 's/interval: 1/interval: 2/' "$run/pipeline.yaml"
i=0; until get /v1/status | grep -q '"revision":2'; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.05; done
get /v1/status | jq -c '.groups[0].pipeline | {revision, last_apply_us}' 2>/dev/null || true
grep 'reload' "$run/meterd.log" | tail -n 2

echo "== stopping (SIGTERM: polls finish, publishers flush)"
kill -TERM $pid; wait $pid; trap - EXIT INT TERM
tail -n 1 "$run/meterd.log"
