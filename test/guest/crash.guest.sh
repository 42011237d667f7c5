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

# Background life in the root cgroup, as test/guest/leak.guest.sh explains.
(
  while [ ! -e /tmp/stop-life ]; do
    /opt/leaker --rate-mb 50 --max-mb 40 >/dev/null
    pause 0.2
  done
) &
life_pid=$!

cat >$cfg <<'TOML'
[paths]
state_dir = "/tmp/hosa-state"
log_file = "/tmp/hosa-decisions.log"
[engine]
calibration_s = 20
hold_s = [2, 2, 2, 2]
[respond]
mode = "act"
relax_s = 3
[sense]
vigilance_tick_ms = 100
[report]
metrics_listen = "127.0.0.1:9465"
TOML

hosa -c $cfg run >/tmp/run0.out 2>&1 &
hosa_pid=$!
# Warm-up (the agent learns its own baseline), then 3 s at Level 0; at most 120 s.
now; a=$NOW
calm=0
while :; do
  pause 1
  now
  kill -0 $hosa_pid 2>/dev/null || { result hosa_started 0; cat /tmp/run0.out; exit 20; }
  [ $((NOW - a)) -ge 120000 ] && break
  [ -e /tmp/hosa-state/baseline.json ] || continue
  level
  [ "$LEVEL" = 0 ] && calm=$((calm + 1)) || calm=0
  [ $calm -ge 3 ] && break
done
result hosa_started 1
result warmup_ms $((NOW - a))

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
  # the last agent's "running on" must never be taken for this one's.
  out=/tmp/restart$i.out
  rm -f /tmp/restart$((i - 1)).out
  hosa -c $cfg run >$out 2>&1 &
  hosa_pid=$!
  if running $out; then
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
  else
    result kill_${i}_restored 0
    tail -5 $out
    break
  fi
  i=$((i + 1))
done
kill -TERM $hosa_pid
wait $hosa_pid
touch /tmp/stop-life
wait $life_pid
result kills_done $((i - 1))
result log_kb $(($(wc -c <$log) / 1024))
hosa -c $cfg audit verify >/tmp/verify.out 2>&1
result log_verify $?
cat /tmp/verify.out
exit 0
