#!/bin/sh
# Runs inside the guest (scripts/guest.sh): crash safety under fire on pure
# cgroup v2 (issue 14). `hosa run` in act mode contains a 50 MB/s leak in
# /leak; it is SIGKILLed at a random moment 0-2 s after it first writes to
# /leak, started again, and before it does anything else /leak's limits must
# read as before the trial. KILLS trials (first argument file: /opt/kills,
# default 5). Results as HOSA-RESULT lines; bench/crash.ts --guest judges.
set -u
cg=/sys/fs/cgroup
cfg=/tmp/hosa.toml
log=/tmp/hosa-decisions.log
kills=5
[ -r /opt/kills ] && read -r kills </opt/kills
. /guest-lib.sh
# STATE: /leak's limits and whether it is frozen.
state() {
  limits $cg/leak
  read -r lf <$cg/leak/cgroup.freeze
  STATE="$LIMITS,$lf"
}
unfreeze_kill() {
  echo 0 >$cg/leak/cgroup.freeze 2>/dev/null
  kill -CONT $1 2>/dev/null
  kill -KILL $1 2>/dev/null
  wait $1 2>/dev/null
}

echo "+memory +cpu" >$cg/cgroup.subtree_control || exit 10
mkdir $cg/leak || exit 11
echo 2G >$cg/leak/memory.max
state
before=$STATE
result leak_before "$before"

# Background life in the root cgroup (test/guest/lib.sh says why).
life 40 0.2

act_config $cfg

hosa -c $cfg run >/tmp/run0.out 2>&1 &
hosa_pid=$!
# Warm-up (the agent learns its own baseline), then 3 s at Level 0; at most 120 s.
now; a=$NOW
settle $hosa_pid /tmp/run0.out $a 120

# Each trial starts from the agent the last one restarted (it said "running
# on", so its recovery is over) after 3 s without the leak, as a fresh start
# would: one start per kill, not two.
i=1
while [ $i -le $kills ]; do
  [ $i -gt 1 ] && pause 3
  sh -c "echo \$\$ >$cg/leak/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb 1500" >/dev/null 2>&1 &
  leaker_pid=$!
  now; t0=$NOW
  # The first write to /leak, at most 30 s; then a random 0-2 s.
  acted=0
  while [ $((NOW - t0)) -lt 30000 ]; do
    state
    [ "$STATE" != "$before" ] && { acted=$NOW; break; }
    pause 0.05
    now
  done
  read -r u </proc/sys/kernel/random/uuid
  d=$((0x${u%%-*} % 2000))
  pause "$((d / 1000)).$(printf %03d $((d % 1000)))"
  now
  kill -KILL $hosa_pid
  wait $hosa_pid 2>/dev/null
  state
  result kill_${i}_at_ms "$((NOW - t0))"
  result kill_${i}_acted_ms "$([ $acted = 0 ] && echo none || echo $((acted - t0)))"
  result kill_${i}_during "$STATE"
  unfreeze_kill $leaker_pid
  # Started again: recovery runs before "running on". A new file each time:
  # the shell truncates it in the child, after `running` may have looked, and
  # the last agent's "running on" must never be taken for this one's. A start
  # that dies or says nothing in 90 s is counted, shown, and tried again (at
  # most 3 times): the restoration is judged on the start that comes up.
  tries=0
  started=0
  while [ $tries -lt 3 ] && [ $started = 0 ]; do
    tries=$((tries + 1))
    out=/tmp/restart$i.$tries.out
    hosa -c $cfg run >$out 2>&1 &
    hosa_pid=$!
    if running $out 90 $hosa_pid; then
      started=1
    else
      kill -KILL $hosa_pid 2>/dev/null
      wait $hosa_pid
      result kill_${i}_start_${tries}_failed "exit $?"
      tail -5 $out
      dmesg | tail -8
    fi
  done
  result kill_${i}_starts $tries
  [ $started = 1 ] || { result kill_${i}_restored 0; break; }
  state
  result kill_${i}_after "$STATE"
  if [ "$STATE" = "$before" ]; then
    result kill_${i}_restored 1
  else
    result kill_${i}_restored 0
    # What the restarted agent said (recovery, journal, quarantine), and its last actions.
    grep -e recovered -e journal -e quarantine -e skipped $out | head -5
    grep '"kind":"action"' $log | tail -6 | sed 's/.*"action":"\([^"]*\)".*"outcome":"\([^"]*\)".*/action: \1: \2/'
  fi
  rm -f /tmp/restart$i.*.out
  i=$((i + 1))
done
kill -TERM $hosa_pid
wait $hosa_pid
stop_background
result kills_done $((i - 1))
result log_kb $(($(wc -c <$log) / 1024))
hosa -c $cfg audit verify >/tmp/verify.out 2>&1
result log_verify $?
cat /tmp/verify.out
exit 0
