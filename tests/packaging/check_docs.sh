#!/bin/sh
# check_docs.sh SOURCE MeterdBinary MeterctlBinary [MeterproxyBinary]: the man
# pages and the example configurations say everything the programs accept.
#   - each page of docs/man renders with `man --warnings` and nothing on
#     stderr (man exits 0 even when groff warns);
#   - every option of `meterd --help-config` is in meterd.conf(5) and,
#     commented out, in deploy/meterd.conf (the example /etc/meterd/meterd.conf);
#   - every long option of `meterd --help` is in meterd(8); every meterctl
#     command and every long option of its --help is in meterctl(1).
# The man check skips (77) without man; the coverage checks always run.
set -eu
src=$1 meterd=$2 meterctl=$3 meterproxy=${4:-}
man_dir=$src/docs/man conf=$src/deploy/meterd.conf
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# roff escapes a hyphen as \-: compare with the page's text with those undone
page_text() { sed 's/\\-/-/g; s/\\(en/-/g' "$man_dir/$1"; }

opts=$("$meterd" --help-config | sed -n 's/^\([a-z_]*\) =.*/\1/p')
[ -n "$opts" ] || fail "meterd --help-config listed no option"
for o in $opts; do
  page_text meterd.conf.5 | grep -q "^\.BR $o " || fail "meterd.conf(5) lacks option $o"
  grep -q "^#$o =" "$conf" || fail "deploy/meterd.conf lacks '#$o =' (commented out, with its default)"
done
# and each default in the example is the program's, section by section (the
# example lists meterd's own sections and the plugin sections first, in --help-config's order)
"$meterd" --help-config | sed -n 's/^\([a-z_]*\) = *\(.*\)$/\1 = \2/p' >"${TMPDIR:-/tmp}/meterd-help.$$"
sed -n '/^\[coordination\]/q; s/^#\([a-z_]*\) = *\(.*\)$/\1 = \2/p' "$conf" >"${TMPDIR:-/tmp}/meterd-conf.$$"
diff -u "${TMPDIR:-/tmp}/meterd-help.$$" "${TMPDIR:-/tmp}/meterd-conf.$$" ||
  fail "deploy/meterd.conf's commented defaults differ from meterd --help-config (above)"
rm -f "${TMPDIR:-/tmp}/meterd-help.$$" "${TMPDIR:-/tmp}/meterd-conf.$$"

for o in $("$meterd" --help | grep -o -- '--[a-z-]*' | sort -u); do
  page_text meterd.8 | grep -q -- "$o" || fail "meterd(8) lacks $o"
done
cmds=$("$meterctl" --help | sed -n 's/^  \([a-z]*\)  .*/\1/p')
[ -n "$cmds" ] || fail "meterctl --help listed no command"
for c in $cmds; do
  page_text meterctl.1 | grep -q "^\.B $c\$\|^\.B meterctl $c" || fail "meterctl(1) lacks the command $c"
  for o in $("$meterctl" "$c" --help 2>&1 | grep -o -- '--[a-z-]*' | sort -u); do
    page_text meterctl.1 | grep -q -- "$o" || fail "meterctl(1) lacks $c's option $o"
  done
done

if [ -n "$meterproxy" ]; then
  pconf=$src/deploy/meterproxy.conf
  "$meterproxy" --help-config | sed -n 's/^\([a-z_]*\) = *\(.*\)$/\1 = \2/p' >"${TMPDIR:-/tmp}/mp-help.$$"
  [ -s "${TMPDIR:-/tmp}/mp-help.$$" ] || fail "meterproxy --help-config listed no option"
  for o in $(sed 's/ =.*//' "${TMPDIR:-/tmp}/mp-help.$$"); do
    page_text meterproxy.8 | grep -q "^\.BR $o " || fail "meterproxy(8) lacks option $o"
  done
  sed -n 's/^#\([a-z_]*\) = *\(.*\)$/\1 = \2/p' "$pconf" >"${TMPDIR:-/tmp}/mp-conf.$$"
  diff -u "${TMPDIR:-/tmp}/mp-help.$$" "${TMPDIR:-/tmp}/mp-conf.$$" ||
    fail "deploy/meterproxy.conf's commented defaults differ from meterproxy --help-config (above)"
  rm -f "${TMPDIR:-/tmp}/mp-help.$$" "${TMPDIR:-/tmp}/mp-conf.$$"
  for o in $("$meterproxy" --help | grep -o -- ' -[a-zA-Z] \|--[a-z-]*\|METERPROXY_[A-Z]*' | sort -u); do
    page_text meterproxy.8 | grep -q -- "$o" || fail "meterproxy(8) lacks $o"
  done
fi

if command -v man >/dev/null 2>&1; then
  for page in "$man_dir"/*.[0-9]; do
    err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$err" ] || fail "man --warnings $(basename "$page"): $err"
  done
  echo "man --warnings: $(ls "$man_dir"/*.[0-9] | wc -l) pages clean"
else
  echo "SKIP: man is not installed (the man pages were not rendered)"
  [ $rc -ne 0 ] || exit 77
fi
exit $rc
