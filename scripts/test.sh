#!/usr/bin/env bash
# The whole test suite: installs what the tests and the build need, builds dist/hosa, runs
# every test. On CI (root, BTF) nothing may skip: a skip fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# What the tests need (Prometheus, QEMU, debootstrap...), then what building needs.
[ "${HOSA_SKIP_DEPS:-}" = 1 ] || bash scripts/deps.sh test || { echo "test: cannot install what the tests need"; exit 1; }
bash scripts/build.sh || { echo "test: build failed"; exit 1; }
# dist/hosa-arm64 for the arm64 guest tests (test/guest/*-arm64.test.ts); deps are in place by now.
HOSA_SKIP_DEPS=1 bash scripts/build.sh --arch arm64 || { echo "test: arm64 build failed"; exit 1; }
echo "test: type check (tsc --noEmit, strict)"
tsc --noEmit -p . || { echo "test: type errors"; exit 1; }
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true

log=$(mktemp)
bun test --timeout 300000 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
skips=$(grep -Eo '^ *[0-9]+ skip' "$log" | grep -Eo '[0-9]+' | tail -1)
pass=$(grep -Eo '^ *[0-9]+ pass' "$log" | grep -Eo '[0-9]+' | tail -1)
fail=$(grep -Eo '^ *[0-9]+ fail' "$log" | grep -Eo '[0-9]+' | tail -1)
rm -f "$log"
echo "${pass:-0} passed, ${fail:-0} failed, ${skips:-0} skipped"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
if [ "${HOSA_ALLOW_SKIPS:-}" != 1 ] && [ "$(id -u)" = 0 ] && [ -e /sys/kernel/btf/vmlinux ] && [ "${skips:-0}" != 0 ]; then
  echo "test: ${skips} tests skipped on a root machine with BTF, where everything must run"
  exit 1
fi
exit 0
