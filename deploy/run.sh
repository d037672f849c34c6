#!/bin/bash
# run.sh: the main job. Installs what is missing and builds, then
#   deploy/run.sh [start]     a local cluster: ZooKeeper (Debian's package) on a
#                             loopback port, 3 meterd agents in group "central",
#                             the example pipeline pushed once with meterctl,
#                             and the assignment printed; a meterproxy beside
#                             it (docs/PROXY.md), with one curl of it. It keeps
#                             running.
#                             Secure as a real one (docs/SECURITY.md): meterctl
#                             init-credentials makes the signing key, trusted
#                             keys, a ZooKeeper credential per role and the
#                             pub-sub TLS certificates.
#   deploy/run.sh stop        stops everything `start` started (by PID) and
#                             removes its folder.
#   deploy/run.sh standalone  one agent, no ZooKeeper: validates the example
#                             pipeline, polls a few seconds, reloads, stops.
# Safe to run again: `start` first stops a previous run.
set -eu
cd "$(dirname "$0")/.."
top=$PWD
run=$top/build/run
mode=${1:-start}

stop_all() {
  [ -d "$run" ] || return 0
  for f in "$run"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
    i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

free_port() { # a free loopback TCP port, from the kernel's ephemeral range
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
    shuf -i 20000-29999 -n 1
}

case "$mode" in
stop) stop_all; rm -rf "$run"; echo "stopped"; exit 0 ;;
start | standalone) ;;
*) echo "usage: deploy/run.sh [start|stop|standalone]" >&2; exit 2 ;;
esac

if [ "$mode" = start ]; then deploy/deps.sh --cluster; else deploy/deps.sh --build-only; fi
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
meterd=$top/build/agent/meterd meterctl=$top/build/cli/meterctl
meterproxy=$top/build/proxy/meterproxy
echo "== built: $($meterd --version)"
echo "== meterctl validate deploy/pipeline.yaml"
$meterctl validate deploy/pipeline.yaml

stop_all
rm -rf "$run"; mkdir -p "$run"

wait_port() { # port name: until something accepts TCP on 127.0.0.1:port
  i=0; until (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
    i=$((i+1)); [ $i -lt 200 ] || { echo "$2 did not start; see $run" >&2; exit 1; }; sleep 0.05
  done
}

if [ "$mode" = standalone ]; then
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
    publishers: ["prometheus://", "file://$run/samples.jsonl"]
YAML
  port=$(free_port)
  printf '[DEFAULT]\nlog_file = %s/meterd.log\n[polling]\ncfg_file = %s/pipeline.yaml\n[api]\nport = %s\n' \
    "$run" "$run" "$port" > "$run/meterd.conf"
  echo "== meterd -c $run/meterd.conf (API http://127.0.0.1:$port)"
  $meterd -c "$run/meterd.conf" >"$run/meterd.out" 2>&1 </dev/null & echo $! > "$run/meterd.pid"
  wait_port "$port" meterd
  sleep "${METERD_RUN_SECONDS:-5}"
  get() { curl -fsS "http://127.0.0.1:$port$1"; }
  echo "== GET /health"; get /health
  echo "== GET /v1/status"
  get /v1/status | jq -c '.groups[0] | (.pipeline | {revision, sha256}), (.sources[] | {name, interval, tasks, polls, errors})'
  echo "== GET /metrics (first samples)"; get /metrics | grep -v '^#' | head -6
  echo "== $(wc -l < "$run/samples.jsonl") samples in $run/samples.jsonl"
  echo "== reload: host_load every 2 s instead of 1 (inotify applies it at once)"
  sed -i 's/interval: 1/interval: 2/' "$run/pipeline.yaml"
  i=0; until get /v1/status | grep -q '"revision":2'; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.05; done
  get /v1/status | jq -c '.groups[0].pipeline | {revision, last_apply_us}'
  echo "== SIGTERM: polls finish, publishers flush"
  stop_all
  tail -n 1 "$run/meterd.log"
  exit 0
fi

# ---- the local cluster ----
zkport=$(free_port)
mkdir -p "$run/zk/data"
cat > "$run/zk/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$run/zk/data
clientPort=$zkport
clientPortAddress=127.0.0.1
admin.enableServer=false
minSessionTimeout=1000
maxSessionTimeout=60000
4lw.commands.whitelist=*
CFG
cp=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar:/etc/zookeeper/conf
echo "== ZooKeeper on 127.0.0.1:$zkport"
java -Xmx128m -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$run/zk/zoo.cfg" \
  > "$run/zk/zk.log" 2>&1 </dev/null & echo $! > "$run/zk.pid"
wait_port "$zkport" ZooKeeper
zk="zookeeper://127.0.0.1:$zkport/meterd"

creds=$run/credentials
echo "== meterctl init-credentials $creds"
$meterctl init-credentials "$creds"
operator=(--auth-file "$creds/zk-operator.auth" --acl-file "$creds/zk-acl.txt")
reader=(--auth-file "$creds/zk-reader.auth")

for i in 1 2 3; do
  port=$(free_port)
  cat > "$run/agent$i.conf" <<CONF
[DEFAULT]
host = agent$i
namespaces = central
log_file = $run/agent$i.log
[api]
port = $port
[coordination]
backend_url = $zk
session_timeout_ms = 4000
auth_file = $creds/zk-member.auth
acl_file = $creds/zk-acl.txt
trusted_keys_file = $creds/trusted_keys
table_key_file = $creds/member.key
pubsub_tls_cert_file = $creds/pubsub.crt
pubsub_tls_key_file = $creds/pubsub.key
pubsub_tls_ca_file = $creds/pubsub-ca.crt
CONF
  $meterd -c "$run/agent$i.conf" >"$run/agent$i.out" 2>&1 </dev/null & echo $! > "$run/agent$i.pid"
  echo "== agent$i: meterd -c $run/agent$i.conf (API http://127.0.0.1:$port)"
done

# The demo pipeline: TCP probes of 24 loopback endpoints (ZooKeeper's port is
# up, the others refuse), partitioned across the group, to one shared file.
{
  echo "sources:"
  echo "  - name: probes"
  echo "    interval: 5"
  echo "    meters: ['tcp.connect.*']"
  echo "    resources:"
  echo "      - tcp://127.0.0.1:$zkport"
  for p in $(seq 1 23); do echo "      - tcp://127.0.0.1:$p"; done
  echo "sinks:"
  echo "  - name: default"
  echo "    publishers: ['prometheus://', 'file://$run/samples.jsonl']"
} > "$run/pipeline.yaml"

echo "== meterctl push --group central --wait"
$meterctl push "$run/pipeline.yaml" --group central --zk "$zk" --wait --timeout 30 --author run.sh \
  "${operator[@]}" --sign-key "$creds/revision.key"
echo "== meterctl assignment --group central"
i=0; until $meterctl status --group central --zk "$zk" "${reader[@]}" >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
$meterctl assignment --group central --zk "$zk" "${reader[@]}"
echo "== meterctl whohas tcp://127.0.0.1:$zkport --group central"
$meterctl whohas "tcp://127.0.0.1:$zkport" --group central --zk "$zk" "${reader[@]}"
echo "== meterctl status --group central"
$meterctl status --group central --zk "$zk" "${reader[@]}" || true
# meterproxy beside the cluster: the reader's credentials are all it needs
pxport=$(free_port)
cat > "$run/meterproxy.conf" <<CONF
[coordination]
backend_url = $zk
groups = central
auth_file = $creds/zk-reader.auth
session_timeout_ms = 4000
CONF
echo "== meterproxy -f -c $run/meterproxy.conf -p $pxport"
$meterproxy -f -c "$run/meterproxy.conf" -p "$pxport" -l "$run/meterproxy.log" \
  >"$run/meterproxy.out" 2>&1 </dev/null & echo $! > "$run/meterproxy.pid"
wait_port "$pxport" meterproxy
i=0; until curl -fsS "http://127.0.0.1:$pxport/v1/groups/central" 2>/dev/null | grep -q '"consistent":true'; do
  i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
echo "== curl -s http://127.0.0.1:$pxport/v1/groups/central/assignment?target=tcp://127.0.0.1:$zkport"
curl -s -G "http://127.0.0.1:$pxport/v1/groups/central/assignment" \
  --data-urlencode "target=tcp://127.0.0.1:$zkport" | jq -c '.target | {id, slot, owner: .owner.id}'
cat <<EOF2

The cluster keeps running (logs and samples in $run). Try:
  $meterctl members --group central --zk $zk --auth-file $creds/zk-reader.auth
  kill -9 \$(cat $run/agent2.pid); sleep 5; $meterctl assignment --group central --zk $zk --auth-file $creds/zk-reader.auth
  Pushes need the operator's credentials and key (not on the agents' hosts):
  $meterctl push FILE --group central --zk $zk --auth-file $creds/zk-operator.auth \\
      --acl-file $creds/zk-acl.txt --sign-key $creds/revision.key
  curl -s http://127.0.0.1:$pxport/v1/groups/central | jq .consistent      # meterproxy (docs/PROXY.md)
  curl -s http://127.0.0.1:$pxport/metrics | grep 'member=' | head
Stop everything with: deploy/run.sh stop
EOF2
