#!/usr/bin/env bash
# Regenerates test/golden/cross-arch.sha256 (issue 16): every recording in
# test/recordings/*.rec replayed with `hosa replay FILE --calibrate 30s --json`
# and an empty configuration on this x86-64 machine (dist/hosa) and on arm64
# (dist/hosa-arm64 in the qemu-system-aarch64 guest, test/guest/cross-arch.guest.sh);
# the SHA-256s of the outputs are written only if both architectures agree on
# every recording. Builds both executables first (HOSA_SKIP_DEPS=1 is passed
# on to scripts/build.sh). Run it after any change to the engine's decisions:
#
#   bash scripts/cross-arch-golden.sh [--timeout S]    # S bounds the guest, default 1200
#
# Exit 0: written; 1: the architectures differ (nothing written); 2: usage;
# 3: a build, the guest or a replay failed.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
timeout_s=1200
while (($#)); do
  case "$1" in
    --timeout) [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "cross-arch-golden: --timeout needs whole seconds, got '${2:-}'" >&2; exit 2; }; timeout_s=$2; shift 2 ;;
    *) echo "usage: scripts/cross-arch-golden.sh [--timeout S]" >&2; exit 2 ;;
  esac
done
took() { echo "cross-arch-golden: took $((SECONDS - started)) s" >&2; }
fail() { echo "cross-arch-golden: $1" >&2; took; exit "${2:-3}"; }

golden=test/golden/cross-arch.sha256
recs=(test/recordings/*.rec)
((${#recs[@]})) && [ -f "${recs[0]}" ] || fail "no test/recordings/*.rec to replay"
work=$(mktemp -d "${TMPDIR:-/tmp}/hosa-cross-arch.XXXXXX")
trap 'rm -rf "$work"' EXIT

timeout -k 10 1800 bash scripts/build.sh >"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; fail "scripts/build.sh failed"; }
timeout -k 10 1800 bash scripts/build.sh --arch arm64 >>"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; fail "scripts/build.sh --arch arm64 failed"; }
echo "cross-arch-golden: built dist/hosa and dist/hosa-arm64 ($((SECONDS - started)) s)" >&2

: >"$work/empty.toml"
declare -A here
for rec in "${recs[@]}"; do
  name=$(basename "$rec")
  timeout -k 5 300 dist/hosa -c "$work/empty.toml" replay "$rec" --calibrate 30s --json >"$work/out" 2>"$work/err" ||
    fail "x86-64 replay of $name failed: $(head -c 300 "$work/err")"
  here[$name]=$(sha256sum <"$work/out" | cut -d' ' -f1)
  echo "cross-arch-golden: x86-64 $name ${here[$name]} ($(wc -l <"$work/out") lines)" >&2
done

echo "cross-arch-golden: replaying on the arm64 guest (TCG: minutes)" >&2
HOSA_GUEST_EXE=dist/hosa-arm64 HOSA_GUEST_ACCEL=tcg \
  bash scripts/guest.sh --arch arm64 --mem 1G --timeout "$timeout_s" -- test/guest/cross-arch.guest.sh "${recs[@]}" \
  >"$work/console" 2>"$work/guest.err" || { tail -30 "$work/console" "$work/guest.err" >&2; fail "the arm64 guest failed"; }
result() { sed -n "s/^HOSA-RESULT: $1=//p" "$work/console" | tr -d '\r' | tail -1; }
[ "$(result machine)" = aarch64 ] || fail "the guest did not report aarch64"

differ=0
out="# hosa replay FILE --calibrate 30s --json, the same bytes on x86-64 and on arm64: scripts/cross-arch-golden.sh"$'\n'
for rec in "${recs[@]}"; do
  name=$(basename "$rec")
  key=$(basename "$rec" .rec | tr -c 'A-Za-z0-9_\n' _)
  code=$(result "replay_${key}_exit")
  [ "$code" = 0 ] || fail "arm64 replay of $name exited ${code:-nothing}: $(result "replay_${key}_err")"
  arm=$(result "replay_${key}_sha256")
  retries=$(result "replay_${key}_segv_retries")
  if [ "$arm" = "${here[$name]}" ]; then
    echo "cross-arch-golden: same     $name $arm (arm64 SIGSEGV retries: $retries)" >&2
  else
    echo "cross-arch-golden: DIFFERS  $name x86-64 ${here[$name]} arm64 $arm (arm64 SIGSEGV retries: $retries)" >&2
    differ=1
  fi
  out+="$arm  $name"$'\n'
done
if ((differ)); then
  fail "the architectures disagree: $golden left as it was" 1
fi
printf '%s' "$out" >"$golden.tmp.$$"
mv "$golden.tmp.$$" "$golden"
echo "cross-arch-golden: wrote $golden" >&2
took
