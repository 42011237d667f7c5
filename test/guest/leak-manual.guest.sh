#!/bin/sh
# Runs inside the guest (scripts/guest.sh): the leak scenario with memory.high
# applied by hand, to check the kernel side and the measurements alone.
set -u
cg=/sys/fs/cgroup
. /guest-lib.sh
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
mb() { echo $(($(cat "$1/memory.current") / 1048576)); }

echo "+memory +cpu" >$cg/cgroup.subtree_control || exit 10
mkdir $cg/leak $cg/neighbour || exit 11
echo 2G >$cg/leak/memory.max
result neighbour_before "$(cat $cg/neighbour/memory.high),$(cat $cg/neighbour/memory.max)"
result leak_high_before "$(cat $cg/leak/memory.high)"

sh -c "echo \$\$ >$cg/leak/cgroup.procs && exec /opt/leaker --rate-mb 50 --max-mb 1200" >/tmp/leaker.out 2>&1 &
pid=$!
t0=$(now_ms)
sleep 1
m1=$(mb $cg/leak); a=$(now_ms)
sleep 2
m2=$(mb $cg/leak); b=$(now_ms)
result rate_before_mb_s "$(((m2 - m1) * 1000 / (b - a)))"
echo $((($(cat $cg/leak/memory.current) + 16777216) / 4096 * 4096)) >$cg/leak/memory.high
result contained_after_ms "$(($(now_ms) - t0))"
sleep 1
m3=$(mb $cg/leak); c=$(now_ms)
sleep 3
m4=$(mb $cg/leak); d=$(now_ms)
result rate_after_mb_s "$(((m4 - m3) * 1000 / (d - c)))"
kill -0 $pid 2>/dev/null && result leaker_alive 1 || result leaker_alive 0
kill -TERM $pid; wait $pid
echo max >$cg/leak/memory.high
result leak_high_after "$(cat $cg/leak/memory.high)"
result neighbour_after "$(cat $cg/neighbour/memory.high),$(cat $cg/neighbour/memory.max)"
sed -n 's/^\(high\|max\|oom\|oom_kill\) \(.*\)/HOSA-RESULT: leak_event_\1=\2/p' $cg/leak/memory.events
cat /tmp/leaker.out
