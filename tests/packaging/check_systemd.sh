#!/bin/sh
# check_systemd.sh SOURCE MeterdBinary [MeterproxyBinary]: the units of deploy/systemd/, one
# instance per role (the template plus that role's drop-in, as installed),
# pass `systemd-analyze verify` without a single message, and
# `systemd-analyze security --offline=yes` stays at or under each role's
# stated exposure threshold (the units' comments say the same numbers):
#   central 1.5 (no capability, no device), ipmi 2.0 (/dev/ipmi0),
#   compute 2.5 (CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, all of /proc);
#   and meterproxy.service at 1.5 (the network and its config only).
# Skips (77) without systemd-analyze.
set -eu
src=$1 meterd=$2 meterproxy=${3:-}
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/meterd-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rc=0
for role_threshold in central:1.5 ipmi:2.0 compute:2.5; do
  role=${role_threshold%%:*} threshold=${role_threshold#*:}
  d=$tmp/$role
  mkdir -p "$d"
  # verify checks that ExecStart's program exists: point it at this build's meterd
  sed "s#/usr/sbin/meterd#$meterd#" "$src/deploy/systemd/meterd@.service" >"$d/meterd@$role.service"
  if [ -d "$src/deploy/systemd/meterd@$role.service.d" ]; then
    cp -r "$src/deploy/systemd/meterd@$role.service.d" "$d/"
  fi
  out=$(systemd-analyze verify --man=no "$d/meterd@$role.service" 2>&1) || rc=1
  if [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify meterd@$role.service:"; echo "$out"; rc=1
  fi
  # --threshold takes tenths (0..100): exposure 1.5 is 15
  tenths=$(echo "$threshold" | tr -d .)
  sec=$(systemd-analyze security --offline=yes --threshold="$tenths" --no-pager \
    "$d/meterd@$role.service" 2>&1) || { echo "$sec"; echo "FAIL: meterd@$role exposure above $threshold"; rc=1; }
  echo "meterd@$role: verify clean, $(echo "$sec" | grep -o 'Overall exposure level.*') (threshold $threshold)"
done
if [ -n "$meterproxy" ]; then
  d=$tmp/proxy
  mkdir -p "$d"
  sed "s#/usr/sbin/meterproxy#$meterproxy#" "$src/deploy/systemd/meterproxy.service" >"$d/meterproxy.service"
  out=$(systemd-analyze verify --man=no "$d/meterproxy.service" 2>&1) || rc=1
  if [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify meterproxy.service:"; echo "$out"; rc=1
  fi
  sec=$(systemd-analyze security --offline=yes --threshold=15 --no-pager "$d/meterproxy.service" 2>&1) ||
    { echo "$sec"; echo "FAIL: meterproxy exposure above 1.5"; rc=1; }
  echo "meterproxy: verify clean, $(echo "$sec" | grep -o 'Overall exposure level.*') (threshold 1.5)"
fi
exit $rc
