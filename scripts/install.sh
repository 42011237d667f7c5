#!/usr/bin/env bash
# From a clone to a running agent, detection-only: installs what building
# needs (only that: no service, no kernel, no load generator; apt sources
# left as they were), builds dist/hosa, installs it as /usr/local/bin/hosa
# with /etc/hosa/hosa.toml (every key commented; kept if present) and
# starts it: as the systemd service hosa.service where systemd is PID 1,
# else (a container, a chroot) as a background process that a small
# supervisor restarts on failure. Run it again to upgrade: the agent is
# restarted on the new executable. scripts/uninstall.sh undoes all of it.
#
# HOSA_ROOT=DIR installs under DIR instead of / (tests); HOSA_SKIP_BUILD=1
# installs the dist/hosa already built; HOSA_INIT=background|systemd forces
# the choice that PID 1 makes otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "install: $*"; }
die() { echo "install: $1" >&2; exit "${2:-1}"; }

[ "$(id -u)" = 0 ] || die "run as root: hosa loads eBPF probes and reads every cgroup" 5
root=${HOSA_ROOT:-}
bin=$root/usr/local/bin/hosa
etc=$root/etc/hosa
conf=$etc/hosa.toml
state=$root/var/lib/hosa
logdir=$root/var/log/hosa
unitdir=$root/etc/systemd/system

[ "${HOSA_SKIP_BUILD:-}" = 1 ] || bash scripts/build.sh
[ -x dist/hosa ] || die "dist/hosa is missing: the build did not produce it"

# The executable is replaced by a rename, never rewritten in place under a running agent.
install -d "$(dirname "$bin")" "$etc" "$state" "$logdir" "$root/usr/share/doc/hosa"
install -m 0755 dist/hosa "$bin.new"
mv -f "$bin.new" "$bin"
install -m 0644 docs/operations.md "$root/usr/share/doc/hosa/operations.md"
if [ ! -f "$conf" ]; then
  install -m 0644 deploy/hosa.toml "$conf"
  say "wrote $conf (detection-only; every key commented with its default)"
fi
mode=$(sed -n 's/^[[:space:]]*mode[[:space:]]*=[[:space:]]*"\([a-z]*\)".*/\1/p' "$conf" | tail -1)
mode=${mode:-detect}

init=background
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then init=systemd; fi
init=${HOSA_INIT:-$init}

# A background agent from an earlier install (this script's supervisor, or the
# plain nohup of older versions) is stopped first: SIGTERM, bounded wait.
stop_pid() { # $1 = pid file
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  say "stopping the running agent (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  die "the agent (pid $pid) did not stop within 10 s"
}
stop_pid "$state/supervisor.pid"
stop_pid "$state/hosa.pid"

if [ "$init" = systemd ]; then
  install -d "$unitdir/hosa.service.d"
  install -m 0644 deploy/systemd/hosa.service "$unitdir/hosa.service"
  if [ "$mode" = act ]; then
    install -m 0644 deploy/systemd/act.conf "$unitdir/hosa.service.d/act.conf"
  else
    rm -f "$unitdir/hosa.service.d/act.conf"
  fi
  rmdir "$unitdir/hosa.service.d" 2>/dev/null || true
  systemctl daemon-reload
  systemctl enable --quiet hosa.service
  # restart: a first install starts it, an upgrade restarts it on the new executable.
  systemctl restart hosa.service
  for _ in $(seq 50); do systemctl is-active --quiet hosa.service && break; sleep 0.1; done
  systemctl is-active --quiet hosa.service || die "hosa.service did not start: journalctl -u hosa"
  say "hosa $("$bin" --version) running as hosa.service ($mode); logs: journalctl -u hosa"
else
  # What systemd would do, kept small: restart on failure after 2 s (at most
  # 5 starts a minute), agent.log rotated at each start beyond 16 MiB, and
  # SIGTERM passed on so the agent restores what it changed.
  supervise() { # $1 = executable, $2 = config, $3 = log, $4 = pid file
    local child=0 starts=()
    trap 'kill -TERM $child 2>/dev/null; wait $child; rm -f "$4"; exit 0' TERM INT
    echo $$ > "$4"
    while :; do
      if [ -f "$3" ] && [ "$(stat -c %s "$3")" -gt 16777216 ]; then mv -f "$3" "$3.1"; fi
      "$1" -c "$2" run >>"$3" 2>&1 </dev/null &
      child=$!
      wait $child && { rm -f "$4"; exit 0; }
      starts+=("$(date +%s)")
      if [ ${#starts[@]} -ge 5 ] && [ $(($(date +%s) - ${starts[-5]})) -lt 60 ]; then
        echo "hosa: exited with an error 5 times within a minute: not restarted" >>"$3"
        rm -f "$4"
        exit 1
      fi
      sleep 2
    done
  }
  if [ -z "$root" ] && ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
    mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null && : > "$state/mounted-tracefs" || true
  fi
  log=$logdir/agent.log
  lines=0
  [ -f "$log" ] && lines=$(wc -l < "$log")
  setsid nohup bash -c "$(declare -f supervise); supervise \"\$@\"" supervise "$bin" "$conf" "$log" "$state/supervisor.pid" >/dev/null 2>&1 </dev/null &
  for _ in $(seq 100); do
    tail -n +"$((lines + 1))" "$log" 2>/dev/null | grep -q "hosa: running on" && break
    sleep 0.1
  done
  if ! tail -n +"$((lines + 1))" "$log" 2>/dev/null | grep -q "hosa: running on"; then
    tail -n +"$((lines + 1))" "$log" >&2 2>/dev/null || true
    die "the agent did not start; see $log"
  fi
  say "hosa $("$bin" --version) running in the background as pid $(cat "$state/hosa.pid"), supervised by pid $(cat "$state/supervisor.pid") ($mode; no systemd here); log: $log"
fi
[ -f "$state/baseline.json" ] || say "it warms up for 5 minutes to learn this node; then try: hosa explain"
