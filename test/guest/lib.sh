# Shared helpers of the guest scripts (test/guest/*.guest.sh). scripts/guest.sh
# ships this file into every guest as /guest-lib.sh; a script sources it with
# `. /guest-lib.sh` after setting `log` (the decision log) when it uses level.
#
# The harness must not be what hosa sees: waits are `read -t` on a FIFO and
# clocks are read with builtins, so a script forks only where it means to.

# A measurement for the host: `HOSA-RESULT: name=value` on the console.
result() { echo "HOSA-RESULT: $1=$2"; }

# pause S: sleep S seconds (fractions allowed) without a fork.
mkfifo /tmp/wait.fifo
exec 3<>/tmp/wait.fifo
pause() { read -t "$1" -u 3 _; }

# NOW: milliseconds since boot, without a fork (/proc/uptime has two
# decimals; a leading zero would read as octal). Sets up and cs too: the
# helpers share the script's variables (busybox sh has no `local` in POSIX mode).
now() {
  read -r up _ </proc/uptime
  cs=${up#*.}
  NOW=$((${up%.*} * 1000 + ${cs#0} * 10))
}

# LIMITS: what hosa may change on a v2 cgroup: memory.high,memory.max,cpu.max,cpu.weight.
limits() {
  read -r lh <$1/memory.high
  read -r lm <$1/memory.max
  read -r lc <$1/cpu.max
  read -r lw <$1/cpu.weight
  LIMITS="$lh,$lm,${lc% *}_${lc#* },$lw"
}

# KEY: the value of a "key value" line of a file (cgroup.events, /proc/PID/status and the like).
key() {
  KEY=
  while read -r k v; do [ "$k" = "$2" ] && KEY=$v; done <$1
}

# CPU: user + system clock ticks (USER_HZ = 100) of process $1, /proc/PID/stat fields 14 and 15.
cpu_ticks() {
  read -r line </proc/$1/stat
  set -- ${line#*) }
  CPU=$((${12} + ${13}))
}

# LEVEL: the level of the decision log's ($log) last entry (0 before any).
level() {
  LEVEL=0
  [ -s "$log" ] || return
  last=
  while read -r line; do last=$line; done <"$log"
  LEVEL=${last#*\"level\":}
  LEVEL=${LEVEL%%,*}
}

# running FILE [S [PID]]: wait until the agent writing to FILE says "running
# on" (at most S seconds, default 90); false when it did not, or when the
# agent PID is gone.
running() {
  now
  rw=$NOW
  while ! grep -q "running on" "$1" 2>/dev/null; do
    [ -n "${3:-}" ] && ! kill -0 $3 2>/dev/null && return 1
    pause 0.2
    now
    [ $((NOW - rw)) -ge $((${2:-90} * 1000)) ] && return 1
  done
  return 0
}

# Background work for a scenario, each in a subshell until `touch /tmp/stop-background`.
# reference_rate DIR: the leaker's own pace in cgroup DIR, uncontained and
# unobserved, before hosa runs (100 MB; TCG may not reach 50 MB/s).
reference_rate() {
  now
  rr=$NOW
  sh -c "echo \$\$ >$1/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb 100" >/tmp/reference.out 2>&1
  now
  result reference_rate_mb_s "$((100 * 1000 / (NOW - rr)))"
}
# sampler DIR FILE: DIR's memory.current (MB) and memory.high every 100 ms,
# as "ms MB high" lines in FILE; SAMPLER_PID.
sampler() {
  : >$2
  (
    while [ ! -e /tmp/stop-background ]; do
      now
      read -r cur <$1/memory.current
      read -r high <$1/memory.high
      echo "$NOW $((cur / 1048576)) $high" >>$2
      pause 0.1
    done
  ) &
  SAMPLER_PID=$!
}
# life MB PAUSE: a node is never as silent as a guest, and memory that moves by
# a few MB at most and no process starts would make hosa's own footprint (its
# heap grows by ~10 MB once it ticks at 10 ms) an anomaly. A batch job in the
# root cgroup (which hosa never targets) takes MB and gives it back, every
# PAUSE s, and a process starts every 300 ms; LIFE_PID, TICKER_PID.
life() {
  (
    while [ ! -e /tmp/stop-background ]; do
      /opt/leaker --rate-mb 50 --max-mb $1 >/dev/null
      pause $2
    done
  ) &
  LIFE_PID=$!
  (
    while [ ! -e /tmp/stop-background ]; do
      : "$(cat /proc/loadavg)"
      pause 0.3
    done
  ) &
  TICKER_PID=$!
}
stop_background() {
  touch /tmp/stop-background
  wait ${SAMPLER_PID:-} ${LIFE_PID:-} ${TICKER_PID:-}
}

# settle PID OUT START LIMIT: wait until the agent PID (its output in OUT)
# has learned its baseline (warmup_ms, from START in ms) and has then been at
# Level 0 for 3 s, at most LIMIT s from START; hosa_started 1, or
# hosa_started 0, its output, and exit 20 when it died.
settle() {
  calm=0
  warm=0
  while :; do
    pause 1
    now
    if ! kill -0 $1 2>/dev/null; then
      result hosa_started 0
      cat $2
      exit 20
    fi
    [ $((NOW - $3)) -ge $(($4 * 1000)) ] && break
    if [ $warm = 0 ]; then
      [ -e /tmp/hosa-state/baseline.json ] && warm=$NOW && result warmup_ms $((NOW - $3))
      continue
    fi
    level
    [ "$LEVEL" = 0 ] && calm=$((calm + 1)) || calm=0
    [ $calm -ge 3 ] && break
  done
  result hosa_started 1
}

# calm_again PID LIMIT: after a measurement, wait again (at most LIMIT s)
# until the agent PID has been at Level 0 for 3 s, so that what follows
# starts from calm; a false alarm of a short calibration under TCG on a
# loaded host passes with its hold. calm_wait_ms is how long it took.
calm_again() {
  calm=0
  now; c0=$NOW
  while [ $calm -lt 3 ] && [ $((NOW - c0)) -lt $(($2 * 1000)) ]; do
    level
    [ "$LEVEL" = 0 ] && calm=$((calm + 1)) || calm=0
    [ $calm -ge 3 ] && break
    kill -0 $1 2>/dev/null || break
    pause 1
    now
  done
  result calm_wait_ms $((NOW - c0))
}

# The act-mode configuration of the v2 leak guests, written to $1. The agent
# learns its baseline itself (warm-up), so its own footprint is part of
# normal; short holds and relaxation so that the way down fits in a test.
# TCG runs the guest 5-20 times slower than hardware: a 10 ms tick there costs
# what a 1 ms tick would on a real node, and hosa's own CPU would be what it
# sees; 100 ms at every level keeps its share near a real node's.
act_config() {
  cat >"$1" <<'TOML'
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
}

# Starts /opt/leaker at 50 MB/s up to $2 MB in the cgroup $1 (sets
# leaker_pid and t0, reports leak_start_ms), then waits until $3 ms after hosa
# first writes its memory.high (reported as contained_ms), at most 30 s.
leak_until_contained() {
  sh -c "echo \$\$ >$1/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb $2" >/tmp/leaker.out 2>&1 &
  leaker_pid=$!
  now; t0=$NOW
  result leak_start_ms "$t0"
  local contained=0 high
  while [ $((NOW - t0)) -lt 30000 ]; do
    pause 0.1
    now
    read -r high <$1/memory.high
    if [ $contained = 0 ] && [ "$high" != max ]; then
      contained=$NOW
      result contained_ms "$((contained - t0))"
    fi
    [ $contained != 0 ] && [ $((NOW - contained)) -ge $3 ] && break
  done
}

# The machine's facts and the executable's start-up alone (`hosa --version`,
# three times): mem_total_kb, machine, version_ms_1..3.
startup_facts() {
  key /proc/meminfo MemTotal:
  result mem_total_kb "${KEY% kB}"
  result machine "$(uname -m)"
  local i a
  for i in 1 2 3; do
    now; a=$NOW
    hosa --version >/dev/null 2>&1
    now
    result version_ms_$i $((NOW - a))
  done
}

# Stops the agent $1 with SIGTERM, waits for it at most 20 s (then SIGKILL)
# and reports hosa_exit (its status, or "timeout"); leaves t2 at the signal.
stop_hosa() {
  kill -TERM $1
  now; t2=$NOW
  while kill -0 $1 2>/dev/null && [ $((NOW - t2)) -lt 20000 ]; do pause 0.1; now; done
  if kill -0 $1 2>/dev/null; then
    result hosa_exit timeout
    kill -KILL $1
  else
    wait $1
    result hosa_exit $?
  fi
}
