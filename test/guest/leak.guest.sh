#!/bin/sh
# Runs inside the guest (scripts/guest.sh): issue 5's leak scenario on pure
# cgroup v2 with the real agent. A leaker writes 50 MB/s in /leak (memory.max
# 2G) beside an idle /neighbour; `hosa run` with actions enabled must contain
# it, keep it alive, leave the neighbour alone and restore everything.
# Measurements go back as HOSA-RESULT lines; test/guest/leak-v2.test.ts judges.
#
# The harness must not be what hosa sees: waits are `read -t` on a FIFO and
# clocks are read with builtins, so the script forks only where it means to.
set -u
cg=/sys/fs/cgroup
cfg=/tmp/hosa.toml
log=/tmp/hosa-decisions.log
series=/tmp/series.txt
result() { echo "HOSA-RESULT: $1=$2"; }
mkfifo /tmp/wait.fifo
exec 3<>/tmp/wait.fifo
pause() { read -t "$1" -u 3 _; }
# NOW: milliseconds since boot, without a fork (/proc/uptime has two
# decimals; a leading zero would read as octal).
now() {
  read -r up _ </proc/uptime
  cs=${up#*.}
  NOW=$((${up%.*} * 1000 + ${cs#0} * 10))
}
# LIMITS: a cgroup's memory.high,memory.max,cpu.max,cpu.weight.
limits() {
  read -r lh <$1/memory.high
  read -r lm <$1/memory.max
  read -r lc <$1/cpu.max
  read -r lw <$1/cpu.weight
  LIMITS="$lh,$lm,${lc% *}_${lc#* },$lw"
}
# KEY: the value of a "key value" line of a file (cgroup.events and the like).
key() {
  KEY=
  while read -r k v; do [ "$k" = "$2" ] && KEY=$v; done <$1
}
# LEVEL: the level of the decision log's last entry (0 before any).
level() {
  LEVEL=0
  [ -s $log ] || return
  last=
  while read -r line; do last=$line; done <$log
  LEVEL=${last#*\"level\":}
  LEVEL=${LEVEL%%,*}
}

echo "+memory +cpu" >$cg/cgroup.subtree_control || exit 10
mkdir $cg/leak $cg/neighbour || exit 11
echo 2G >$cg/leak/memory.max
limits $cg/leak
leak_before=$LIMITS
result leak_before "$leak_before"
limits $cg/neighbour
neighbour_before=$LIMITS
result neighbour_before "$LIMITS"

# The leaker's own pace on this guest, uncontained and unobserved: 100 MB
# in /leak before hosa runs (TCG may not reach 50 MB/s).
now; a=$NOW
sh -c "echo \$\$ >$cg/leak/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb 100" >/tmp/reference.out 2>&1
now
result reference_rate_mb_s "$((100 * 1000 / (NOW - a)))"

# Sampling for the whole run, from before the warm-up: the leak's
# memory.current and memory.high every 100 ms.
: >$series
(
  while [ ! -e /tmp/stop-sampler ]; do
    now
    read -r cur <$cg/leak/memory.current
    read -r high <$cg/leak/memory.high
    echo "$NOW $((cur / 1048576)) $high" >>$series
    pause 0.1
  done
) &
sampler_pid=$!
# A node is never as silent as this guest: memory that moves by a few MB at
# most and no process starts would make hosa's own footprint (its heap grows
# by ~10 MB once it ticks at 10 ms) an anomaly. Background life, in the root
# cgroup (which hosa never targets): a batch job that takes 40 MB and gives
# it back every second, and a process start every 300 ms.
(
  while [ ! -e /tmp/stop-sampler ]; do
    /opt/leaker --rate-mb 50 --max-mb 40 >/dev/null
    pause 0.2
  done
) &
life_pid=$!
(
  while [ ! -e /tmp/stop-sampler ]; do
    : "$(cat /proc/loadavg)"
    pause 0.3
  done
) &
ticker_pid=$!

cat >$cfg <<'TOML'
[paths]
state_dir = "/tmp/hosa-state"
log_file = "/tmp/hosa-decisions.log"

[engine]
# The agent learns its baseline itself (warm-up), so its own footprint is
# part of normal; short holds and relaxation so that the way down fits in
# the test.
calibration_s = 20
hold_s = [2, 2, 2, 2]

[respond]
mode = "act"
relax_s = 3

[sense]
# TCG runs the guest 5-20 times slower than hardware: a 10 ms tick there
# costs what a 1 ms tick would on a real node, and hosa's own CPU would be
# what it sees. 100 ms at every level keeps its share near a real node's.
vigilance_tick_ms = 100

[report]
metrics_listen = "127.0.0.1:9465"
TOML

hosa -c $cfg run >/tmp/run.out 2>&1 &
hosa_pid=$!
now; a=$NOW
# Start the leak once the warm-up is done and the agent has been at Level 0
# for 3 s (at most 90 s in all).
calm=0
warm=0
while :; do
  pause 1
  now
  if ! kill -0 $hosa_pid 2>/dev/null; then
    result hosa_started 0
    cat /tmp/run.out
    exit 20
  fi
  [ $((NOW - a)) -ge 90000 ] && break
  if [ $warm = 0 ]; then
    [ -e /tmp/hosa-state/baseline.json ] && warm=$NOW && result warmup_ms $((NOW - a))
    continue
  fi
  level
  [ "$LEVEL" = 0 ] && calm=$((calm + 1)) || calm=0
  [ $calm -ge 3 ] && break
done
result hosa_started 1
result settle_ms $((NOW - a))
result level_at_leak_start "$LEVEL"

sh -c "echo \$\$ >$cg/leak/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb 1500" >/tmp/leaker.out 2>&1 &
leaker_pid=$!
now; t0=$NOW
result leak_start_ms "$t0"

# Until 8 s after hosa first writes memory.high on the leak, at most 30 s.
contained=0
while [ $((NOW - t0)) -lt 30000 ]; do
  pause 0.1
  now
  read -r high <$cg/leak/memory.high
  if [ $contained = 0 ] && [ "$high" != max ]; then
    contained=$NOW
    result contained_ms "$((contained - t0))"
  fi
  [ $contained != 0 ] && [ $((NOW - contained)) -ge 8000 ] && break
done
kill -0 $leaker_pid 2>/dev/null && result leaker_alive 1 || result leaker_alive 0
key /proc/$leaker_pid/status State:
result leaker_state "$KEY"
key $cg/leak/cgroup.events frozen
result leak_frozen "$KEY"
limits $cg/leak
result leak_during "$LIMITS"
limits $cg/neighbour
result neighbour_during "$LIMITS"
key $cg/leak/memory.events oom
result leak_event_oom "$KEY"
key $cg/leak/memory.events oom_kill
result leak_event_oom_kill "$KEY"

# The leak stops; hosa relaxes step by step once the node is calm again.
kill -TERM $leaker_pid
now; t1=$NOW
while kill -0 $leaker_pid 2>/dev/null && [ $((NOW - t1)) -lt 5000 ]; do pause 0.1; now; done
if kill -0 $leaker_pid 2>/dev/null; then
  # Frozen or stopped by hosa, so SIGTERM waits: a failure, but the test
  # still has to end.
  result leaker_stuck 1
  echo 0 >$cg/leak/cgroup.freeze
  kill -CONT $leaker_pid
fi
wait $leaker_pid
now; t1=$NOW
result leak_stop_ms "$t1"
while [ $((NOW - t1)) -lt 60000 ]; do
  pause 0.5
  now
  limits $cg/leak
  [ "$LIMITS" = "$leak_before" ] && break
done
result leak_relaxed "$LIMITS"
result relaxed_ms "$((NOW - t1))"
level
result level_relaxed "$LEVEL"

kill -TERM $hosa_pid
now; t2=$NOW
while kill -0 $hosa_pid 2>/dev/null && [ $((NOW - t2)) -lt 20000 ]; do pause 0.1; now; done
if kill -0 $hosa_pid 2>/dev/null; then
  result hosa_exit timeout
  kill -KILL $hosa_pid
else
  wait $hosa_pid
  result hosa_exit $?
fi
result stop_ms "$((NOW - t2))"
limits $cg/leak
result leak_after "$LIMITS"
limits $cg/neighbour
result neighbour_after "$LIMITS"
touch /tmp/stop-sampler
wait $sampler_pid $life_pid $ticker_pid

result series_b64 "$(base64 -w 0 $series)"
result decisions_b64 "$(base64 -w 0 $log 2>/dev/null)"
result run_out_b64 "$(tail -c 20000 /tmp/run.out | base64 -w 0)"
tail -20 /tmp/run.out
tail -5 /tmp/leaker.out
exit 0
