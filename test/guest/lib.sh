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
# decimals; a leading zero would read as octal).
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

# LEVEL: the level of the decision log's ($log) last entry (0 before any).
level() {
  LEVEL=0
  [ -s "$log" ] || return
  last=
  while read -r line; do last=$line; done <"$log"
  LEVEL=${last#*\"level\":}
  LEVEL=${LEVEL%%,*}
}

# running FILE [S]: wait until the agent writing to FILE says "running on"
# (at most S seconds, default 90); false when it did not.
running() {
  now
  rw=$NOW
  while ! grep -q "running on" "$1" 2>/dev/null; do
    pause 0.2
    now
    [ $((NOW - rw)) -ge $((${2:-90} * 1000)) ] && return 1
  done
  return 0
}
