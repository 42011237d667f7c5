#!/bin/sh
# Runs inside the arm64 guest for scripts/cross-arch-golden.sh: every
# /opt/*.rec replayed with an empty configuration, as
# test/recording/cross-arch.test.ts replays them on x86-64, and the SHA-256 of
# each replay's output reported. Bun's JIT under TCG with emulated SVE died
# of SIGSEGV (docs/edge.md; the guest now runs without SVE): a crash is still
# retried, at most 3 tries, and reported; any other exit code is final.
set -u
: >/tmp/empty.toml
echo "HOSA-RESULT: machine=$(uname -m)"
for rec in /opt/*.rec; do
  name=$(basename $rec .rec | tr -c 'A-Za-z0-9_\n' _)
  tries=0
  while :; do
    tries=$((tries + 1))
    hosa -c /tmp/empty.toml replay $rec --calibrate 30s --json >/tmp/replay.out 2>/tmp/replay.err
    code=$?
    [ $code = 139 ] && [ $tries -lt 3 ] || break
  done
  echo "HOSA-RESULT: replay_${name}_exit=$code"
  echo "HOSA-RESULT: replay_${name}_segv_retries=$((tries - 1))"
  echo "HOSA-RESULT: replay_${name}_sha256=$(sha256sum </tmp/replay.out | cut -d' ' -f1)"
  echo "HOSA-RESULT: replay_${name}_lines=$(wc -l </tmp/replay.out)"
  echo "HOSA-RESULT: replay_${name}_err=$(tail -c 2500 /tmp/replay.err | tr '\n' ' ')"
done
exit 0
