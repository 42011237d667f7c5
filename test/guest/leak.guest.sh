#!/bin/sh
# Runs inside the guest (scripts/guest.sh): issue 5's leak scenario on pure
# cgroup v2 with the real agent. A leaker writes 50 MB/s in /leak (memory.max
# 2G) beside an idle /neighbour; `hosa run` with actions enabled must contain
# it, keep it alive, leave the neighbour alone and restore everything.
# Measurements go back as HOSA-RESULT lines; test/guest/leak-v2.test.ts judges.
set -u
cg=/sys/fs/cgroup
cfg=/tmp/hosa.toml
series=/tmp/series.txt
result() { echo "HOSA-RESULT: $1=$2"; }
# Milliseconds since boot without a fork: /proc/uptime has two decimals.
now_ms() {
  read -r up _ </proc/uptime
  echo $((${up%.*} * 1000 + ${up#*.} * 10))
}
# One sample: time, the leak's memory.current in MB, its memory.high.
sample() {
  read -r cur <$cg/leak/memory.current
  read -r high <$cg/leak/memory.high
  echo "$(now_ms) $((cur / 1048576)) $high" >>$series
}
limits() { echo "$(cat $1/memory.high),$(cat $1/memory.max),$(cat $1/cpu.max | tr ' ' _),$(cat $1/cpu.weight)"; }

echo "+memory +cpu" >$cg/cgroup.subtree_control || exit 10
mkdir $cg/leak $cg/neighbour || exit 11
echo 2G >$cg/leak/memory.max
leak_before=$(limits $cg/leak)
result leak_before "$leak_before"
result neighbour_before "$(limits $cg/neighbour)"

cat >$cfg <<'TOML'
[paths]
state_dir = "/tmp/hosa-state"
log_file = "/tmp/hosa-decisions.log"

[engine]
# Short holds and relaxation so that the whole way down fits in the test.
hold_s = [2, 2, 2, 2]

[respond]
mode = "act"
relax_s = 3

[report]
metrics_listen = "127.0.0.1:9465"
TOML

t=$(now_ms)
hosa -c $cfg calibrate --duration 20s >/tmp/calibrate.out 2>&1
result calibrate_exit $?
result calibrate_ms $(($(now_ms) - t))
tail -3 /tmp/calibrate.out

hosa -c $cfg run >/tmp/run.out 2>&1 &
hosa_pid=$!
sleep 5
if ! kill -0 $hosa_pid 2>/dev/null; then
  result hosa_started 0
  cat /tmp/run.out
  exit 20
fi
result hosa_started 1

: >$series
sh -c "echo \$\$ >$cg/leak/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb 1500" >/tmp/leaker.out 2>&1 &
leaker_pid=$!
t0=$(now_ms)
result leak_start_ms "$t0"

# Until 8 s after the first memory.high hosa writes, at most 30 s.
contained=0
while [ $(($(now_ms) - t0)) -lt 30000 ]; do
  sample
  if [ $contained = 0 ] && [ "$high" != max ]; then
    contained=$(now_ms)
    result contained_ms "$((contained - t0))"
  fi
  [ $contained != 0 ] && [ $(($(now_ms) - contained)) -ge 8000 ] && break
  sleep 0.1
done
kill -0 $leaker_pid 2>/dev/null && result leaker_alive 1 || result leaker_alive 0
result leak_during "$(limits $cg/leak)"
result neighbour_during "$(limits $cg/neighbour)"
sed -n 's/^\(oom\|oom_kill\) \(.*\)/HOSA-RESULT: leak_event_\1=\2/p' $cg/leak/memory.events

kill -TERM $leaker_pid
wait $leaker_pid
t1=$(now_ms)
result leak_stop_ms "$t1"
# The way down: hosa relaxes step by step once the node is calm again.
while [ $(($(now_ms) - t1)) -lt 60000 ]; do
  sample
  [ "$(limits $cg/leak)" = "$leak_before" ] && break
  sleep 0.2
done
result leak_relaxed "$(limits $cg/leak)"
result relaxed_ms "$(($(now_ms) - t1))"

kill -TERM $hosa_pid
t2=$(now_ms)
while kill -0 $hosa_pid 2>/dev/null && [ $(($(now_ms) - t2)) -lt 20000 ]; do sleep 0.1; done
if kill -0 $hosa_pid 2>/dev/null; then
  result hosa_exit timeout
  kill -KILL $hosa_pid
else
  wait $hosa_pid
  result hosa_exit $?
fi
result stop_ms "$(($(now_ms) - t2))"
result leak_after "$(limits $cg/leak)"
result neighbour_after "$(limits $cg/neighbour)"

result series_b64 "$(base64 -w 0 $series)"
result decisions_b64 "$(base64 -w 0 /tmp/hosa-decisions.log 2>/dev/null)"
result run_out_b64 "$(tail -c 20000 /tmp/run.out | base64 -w 0)"
tail -20 /tmp/run.out
cat /tmp/leaker.out | tail -5
exit 0
