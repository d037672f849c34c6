#!/bin/sh
# check_package.sh BUILD SOURCE VERSION: the Debian package of this build
# (cpack -G DEB, as deploy/package.sh makes it) unpacked with dpkg-deb -x into
# a temporary root: its meterd and meterctl run against the host's libraries
# (meterd --version, meterctl validate on the example pipeline), every file
# the install rules promise is there, the control data has shlibs
# dependencies, conffiles and the maintainer scripts that create the meterd
# user, and lintian finds nothing (not even --info --pedantic tags).
# Skips (77) when dpkg-deb, cpack or lintian is missing.
set -eu
build=$1 src=$2 version=$3
for tool in dpkg-deb lintian; do
  command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool is not installed (deploy/deps.sh)"; exit 77; }
done
cpack=$(dirname "$(command -v cmake)")/cpack
[ -x "$cpack" ] || { echo "SKIP: cpack is missing"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/meterd-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && "$cpack" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$tmp"/out/meterd_"$version"_*.deb) || fail "no meterd_${version}_*.deb made"
echo "package: $(basename "$deb")"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
for f in usr/sbin/meterd usr/bin/meterctl etc/meterd/meterd.conf \
  usr/share/doc/meterd/examples/pipeline.yaml usr/share/doc/meterd/copyright \
  usr/share/doc/meterd/changelog.gz usr/share/doc/meterd/OPERATIONS.md.gz \
  lib/systemd/system/meterd@.service \
  lib/systemd/system/meterd@compute.service.d/role.conf \
  lib/systemd/system/meterd@ipmi.service.d/role.conf \
  usr/share/bash-completion/completions/meterctl \
  usr/share/man/man8/meterd.8.gz usr/share/man/man1/meterctl.1.gz \
  usr/share/man/man5/meterd.conf.5.gz usr/share/man/man5/meterd-pipeline.5.gz; do
  [ -f "$root/$f" ] || fail "the package lacks /$f"
done

grep -q '^ExecStart=/usr/sbin/meterd ' "$root/lib/systemd/system/meterd@.service" ||
  fail "the packaged unit does not start /usr/sbin/meterd"

out=$("$root/usr/sbin/meterd" --version) || fail "unpacked meterd --version exited $?"
[ "$out" = "meterd $version" ] || fail "meterd --version says '$out', not 'meterd $version'"
out=$("$root/usr/bin/meterctl" validate "$root/usr/share/doc/meterd/examples/pipeline.yaml") ||
  fail "unpacked meterctl validate on the example pipeline: $out"
# warnings (meters no pollster of this build provides yet) are allowed; the verdict is the last line
echo "$out" | tail -n 1 | grep -q '^ok [0-9a-f]\{64\} ' || fail "meterctl validate printed '$out'"
echo "unpacked: meterd --version, meterctl validate: ok"


# The unpacked binaries resolve every library on this host.
for b in usr/sbin/meterd usr/bin/meterctl; do
  ! ldd "$root/$b" | grep -q "not found" || fail "$b: $(ldd "$root/$b" | grep 'not found')"
done

dpkg-deb -e "$deb" "$tmp/control"
depends=$(sed -n 's/^Depends: //p' "$tmp/control/control")
for lib in libc6 libzookeeper-mt2 libyaml-0-2 libjansson4 libnng1 adduser; do
  echo "$depends" | grep -q "$lib" || fail "Depends lacks $lib (shlibdeps): $depends"
done
grep -qx /etc/meterd/meterd.conf "$tmp/control/conffiles" || fail "meterd.conf is not a conffile"
grep -q 'adduser --system' "$tmp/control/postinst" || fail "postinst does not create the meterd user"

if ! lintian --info --pedantic "$deb" >"$tmp/lintian.log" 2>&1; then
  cat "$tmp/lintian.log"
  fail "lintian failed"
fi
# lintian warns when run as root; that line is about this machine, not the package
tags=$(grep -v 'running with root privileges' "$tmp/lintian.log" || true)
[ -z "$tags" ] || { echo "$tags"; fail "lintian tags (every tag must be fixed or explained here)"; }
echo "lintian --info --pedantic: clean"
