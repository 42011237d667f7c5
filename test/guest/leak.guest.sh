#!/bin/sh
# Runs inside the guest (scripts/guest.sh): issue 5's leak scenario on pure
# cgroup v2 with the real agent. A leaker writes 50 MB/s in /leak (memory.max
# 2G) beside an idle /neighbour; `hosa run` with actions enabled must contain
# it, keep it alive, leave the neighbour alone and restore everything.
# Measurements go back as HOSA-RESULT lines; test/guest/leak-v2.test.ts judges.
#
# The harness must not be what hosa sees: test/guest/lib.sh's waits and
# clocks fork nothing, so the script forks only where it means to.
set -u
cg=/sys/fs/cgroup
cfg=/tmp/hosa.toml
log=/tmp/hosa-decisions.log
series=/tmp/series.txt
. /guest-lib.sh

echo "+memory +cpu" >$cg/cgroup.subtree_control || exit 10
mkdir $cg/leak $cg/neighbour || exit 11
echo 2G >$cg/leak/memory.max
limits $cg/leak
leak_before=$LIMITS
result leak_before "$leak_before"
limits $cg/neighbour
neighbour_before=$LIMITS
result neighbour_before "$LIMITS"

reference_rate $cg/leak
# Sampling for the whole run, from before the warm-up.
sampler $cg/leak $series
# Background life: 40 MB taken and given back every 0.2 s (lib.sh says why).
life 40 0.2

act_config $cfg

hosa -c $cfg run >/tmp/run.out 2>&1 &
hosa_pid=$!
now; a=$NOW
# Start the leak once the warm-up is done and the agent has been at Level 0
# for 3 s (at most 90 s in all).
settle $hosa_pid /tmp/run.out $a 90
result settle_ms $((NOW - a))
result level_at_leak_start "$LEVEL"

# Until 8 s after hosa first writes memory.high on the leak, at most 30 s.
leak_until_contained $cg/leak 1500 8000
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

stop_hosa $hosa_pid
result stop_ms "$((NOW - t2))"
limits $cg/leak
result leak_after "$LIMITS"
limits $cg/neighbour
result neighbour_after "$LIMITS"
stop_background

result series_b64 "$(base64 -w 0 $series)"
result decisions_b64 "$(base64 -w 0 $log 2>/dev/null)"
result run_out_b64 "$(tail -c 20000 /tmp/run.out | base64 -w 0)"
tail -20 /tmp/run.out
tail -5 /tmp/leaker.out
exit 0
