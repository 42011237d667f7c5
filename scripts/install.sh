#!/usr/bin/env bash
# Fresh Debian 12 to a running agent: install what is missing, build
# dist/hosa, install it, write a safe default configuration (detection-only)
# and start `hosa run` in the background. Idempotent: run it again to upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "install: run as root (hosa loads eBPF probes and reads every cgroup)" >&2
  exit 5
fi

bash scripts/build.sh

install -m 0755 dist/hosa /usr/local/bin/hosa
mkdir -p /etc/hosa /var/lib/hosa /var/log/hosa
if [ ! -f /etc/hosa/hosa.toml ]; then
  cat > /etc/hosa/hosa.toml <<'TOML'
# hosa configuration: every key is optional and the defaults are safe.
# Detection-only until you set mode = "act": hosa decides and logs, and
# never touches the node.
[respond]
mode = "detect"

[report]
metrics_listen = "127.0.0.1:9465"
TOML
  echo "install: wrote /etc/hosa/hosa.toml (detection-only)"
fi

pidfile=/var/lib/hosa/hosa.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "install: stopping the running agent (pid $(cat "$pidfile"))"
  kill -TERM "$(cat "$pidfile")"
  for _ in $(seq 50); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
fi
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
nohup /usr/local/bin/hosa run >>/var/log/hosa/agent.log 2>&1 </dev/null &
sleep 1
if kill -0 $! 2>/dev/null; then
  echo "install: hosa $(/usr/local/bin/hosa --version) running as pid $! (detection-only); log: /var/log/hosa/agent.log"
  echo "install: it warms up for 5 minutes to learn this node; then try: hosa explain"
else
  echo "install: the agent did not start; see /var/log/hosa/agent.log" >&2
  tail -5 /var/log/hosa/agent.log >&2
  exit 1
fi
