#!/usr/bin/env bash
# Leave the node as it was before scripts/install.sh: stop the agent (a clean
# stop restores every journaled value and ends its alerts), lift a
# quarantine, put back what a crashed agent left in the journal, remove the
# service, the executable, the configuration, the state and the logs, and
# unmount what install.sh mounted.
# Usage: scripts/uninstall.sh [--keep-logs]   (HOSA_ROOT=DIR as for install.sh)
set -euo pipefail
say() { echo "uninstall: $*"; }
die() { echo "uninstall: $1" >&2; exit "${2:-1}"; }
keep_logs=0
for a in "$@"; do
  case $a in
    --keep-logs) keep_logs=1 ;;
    *) die "unknown argument \"$a\": expected --keep-logs" 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root: stopping hosa and restoring cgroup values needs it" 5
root=${HOSA_ROOT:-}
bin=$root/usr/local/bin/hosa
conf=$root/etc/hosa/hosa.toml
state=$root/var/lib/hosa
logdir=$root/var/log/hosa
unitdir=$root/etc/systemd/system
# The configuration may have moved the state directory.
if [ -f "$conf" ]; then
  s=$(sed -n 's/^[[:space:]]*state_dir[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$conf" | tail -1)
  [ -n "$s" ] && state=$s
fi

init=background
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then init=systemd; fi
init=${HOSA_INIT:-$init}
if [ -f "$unitdir/hosa.service" ]; then
  # A clean stop: the agent restores every journaled value before it exits.
  if [ "$init" = systemd ]; then systemctl disable --now --quiet hosa.service 2>/dev/null || true; fi
  rm -rf "$unitdir/hosa.service" "$unitdir/hosa.service.d"
  if [ "$init" = systemd ]; then systemctl daemon-reload; fi
  say "removed hosa.service"
fi
for f in supervisor.pid hosa.pid; do
  pid=$(cat "$state/$f" 2>/dev/null) || continue
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
  say "stopping the agent (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && die "the agent (pid $pid) did not stop within 30 s; nothing removed"
done

if [ -x "$bin" ] && [ -f "$conf" ]; then
  # A quarantine stays in force across restarts by design: lift it by hand.
  if "$bin" -c "$conf" quarantine status --json 2>/dev/null | grep -q '"active": *true'; then
    "$bin" -c "$conf" quarantine release --yes
  fi
  # A journal with entries is what a crashed agent left: the next start puts
  # the values back, and its clean stop restores the rest.
  if [ -s "$state/actions.journal" ]; then
    say "restoring the values a previous agent left in the journal"
    "$bin" -c "$conf" run --duration 1 >/dev/null 2>&1 || true
  fi
fi

if [ -f "$state/mounted-tracefs" ] && [ -z "$root" ]; then umount /sys/kernel/tracing 2>/dev/null || true; fi
rm -f "$bin"
rm -rf "$root/etc/hosa" "$state" "$root/usr/share/doc/hosa"
if [ "$keep_logs" = 1 ]; then say "kept $logdir"; else rm -rf "$logdir"; fi
say "hosa removed"
