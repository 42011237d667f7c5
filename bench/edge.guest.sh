#!/bin/sh
# Runs inside a guest (bench/edge.ts boots it): the footprint of `hosa run`
# on a small node. /opt/bench.env sets PROFILE (edge or default) and
# MEASURE_S. Detection-only, quiet node; HOSA-RESULT lines carry the figures.
set -u
. /opt/bench.env
log=/tmp/hosa-decisions.log
. /guest-lib.sh

startup_facts

cat >/tmp/hosa.toml <<TOML
[profile]
name = "$PROFILE"
[paths]
state_dir = "/tmp/hosa-state"
log_file = "$log"
[engine]
calibration_s = 30
[report]
metrics_listen = "127.0.0.1:9465"
TOML

now; a=$NOW
hosa -c /tmp/hosa.toml run >/tmp/run.out 2>&1 &
pid=$!
while ! wget -q -O /dev/null http://127.0.0.1:9465/healthz 2>/dev/null; do
  now
  [ $((NOW - a)) -ge 90000 ] && break
  kill -0 $pid 2>/dev/null || break
  pause 0.05
done
now
result healthz_ms $((NOW - a))
key /proc/$pid/status VmRSS:
result rss_start_kb "${KEY% kB}"
while [ ! -e /tmp/hosa-state/baseline.json ]; do
  pause 0.5
  now
  [ $((NOW - a)) -ge 150000 ] && break
  kill -0 $pid 2>/dev/null || break
done
now
result warmup_ms $((NOW - a))
pause 5
if ! kill -0 $pid 2>/dev/null; then
  wait $pid
  result hosa_exit $?
  cat /tmp/run.out
  exit 20
fi
[ -e $log ] || : >>$log
lines0=$(wc -l <$log)
cpu_ticks $pid; c0=$CPU
now; m0=$NOW
pause "$MEASURE_S"
cpu_ticks $pid; c1=$CPU
now; m1=$NOW
result cpu_permille $(((c1 - c0) * 10 * 1000 / (m1 - m0)))
result level_entries $(($(wc -l <$log) - lines0))
key /proc/$pid/status VmRSS:
result rss_kb "${KEY% kB}"
key /proc/$pid/status VmHWM:
result rss_peak_kb "${KEY% kB}"
kill -TERM $pid
wait $pid
result hosa_exit $?
cat /tmp/run.out
exit 0
