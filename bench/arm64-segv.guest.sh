#!/bin/sh
# Runs inside the arm64 guest (bench/arm64-segv.ts): the same replay N times
# under each variant of Bun's JIT switches, each exit code reported, and for
# a crash what Bun and the kernel said. /opt/segv.env sets N, REC (a file in
# /opt) and VARIANTS: space-separated, "-" for none or NAME=VALUE for env.
set -u
. /opt/segv.env
echo 1 >/proc/sys/debug/exception-trace 2>/dev/null
: >/tmp/empty.toml
echo "HOSA-RESULT: machine=$(uname -m)"
echo "HOSA-RESULT: cpu_features=$(grep -m1 '^Features' /proc/cpuinfo | cut -d: -f2 | tr -s ' ' | tr ' ' ,)"
for v in $VARIANTS; do
  k=$(echo "$v" | tr -c 'A-Za-z0-9_\n' _)
  i=0
  while [ $i -lt "$N" ]; do
    i=$((i + 1))
    read -r a _ </proc/uptime
    if [ "$v" = - ]; then
      hosa -c /tmp/empty.toml replay /opt/$REC --calibrate 30s --json >/tmp/out 2>/tmp/err
    else
      env "$v" hosa -c /tmp/empty.toml replay /opt/$REC --calibrate 30s --json >/tmp/out 2>/tmp/err
    fi
    code=$?
    read -r b _ </proc/uptime
    echo "HOSA-RESULT: run_${k}_${i}_exit=$code"
    echo "HOSA-RESULT: run_${k}_${i}_s=$a-$b"
    echo "HOSA-RESULT: run_${k}_${i}_sha256=$(sha256sum </tmp/out | cut -c1-16)"
    echo "HOSA-RESULT: run_${k}_${i}_lines=$(wc -l </tmp/out)"
    if [ $code != 0 ]; then
      echo "HOSA-RESULT: run_${k}_${i}_err=$(tail -c 2500 /tmp/err | tr '\n' ' ')"
      echo "HOSA-RESULT: run_${k}_${i}_dmesg=$(dmesg | tail -n 4 | tr '\n' ' ')"
      dmesg -c >/dev/null
    fi
  done
done
exit 0
