#!/usr/bin/env bash
# What hosa needs, split by purpose (docs/operations.md):
#   build   what building dist/hosa needs: compilers, libbpf/elfutils
#           headers, Node and npm for Bun. scripts/install.sh installs
#           only this, so a production node gets no service, no kernel,
#           no load generator.
#   test    what the test suite needs on top: load generators, Prometheus,
#           Alertmanager, the OOM daemons compared against, QEMU and a
#           guest kernel, debootstrap, kubectl, systemd-analyze, and
#           wasm-ld (lld-14) for bench/wasm-kernels.bench.ts.
#           scripts/test.sh installs it.
#   Running dist/hosa needs nothing but glibc.
# Usage: scripts/deps.sh [build|test] [arm64] [--print]   (default: build and test;
#   arm64 adds the cross toolchain of scripts/build.sh --arch arm64, which the tests always need)
# Idempotent: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PACKAGES=(
  ca-certificates git make gcc pkg-config dpkg-dev
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev
)
TEST_PACKAGES=(
  iproute2 kmod cpio busybox-static procps util-linux
  stress-ng fio wrk
  lld-14
  prometheus prometheus-alertmanager prometheus-node-exporter earlyoom nohang
  qemu-system-x86 linux-image-amd64
  chromium
  systemd debootstrap
)
# Services the test packages bring: the tests start their own copies, on
# loopback; enabled at boot they would be two more OOM killers and three
# servers on every interface.
TEST_SERVICES=(prometheus prometheus-alertmanager prometheus-node-exporter earlyoom nohang nohang-desktop)

purpose=all
print=0
arm64=0
for a in "$@"; do
  case $a in
    build | test | all) purpose=$a ;;
    arm64) arm64=1 ;;
    --print) print=1 ;;
    *) echo "deps: unknown argument \"$a\": expected build, test, arm64 or --print" >&2; exit 2 ;;
  esac
done

[ "$purpose" = build ] || arm64=1
wanted=()
[ "$purpose" = test ] || wanted+=("${BUILD_PACKAGES[@]}")
[ "$purpose" = build ] || wanted+=("${TEST_PACKAGES[@]}")
if [ "$purpose" != test ]; then
  command -v node >/dev/null || wanted+=(nodejs)
  command -v npm >/dev/null || wanted+=(npm)
fi
# Debian's kubectl; a kubectl already installed from elsewhere is used as it is.
if [ "$purpose" != build ] && ! command -v kubectl >/dev/null; then wanted+=(kubernetes-client); fi
if [ "$print" = 1 ]; then
  printf '%s\n' "${wanted[@]}"
  exit 0
fi

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps ($purpose): installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Services from these packages must not start on install (a chroot or a
  # container has no init to run them anyway); tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # What this run installed and the package enabled at boot, this run disables.
  for s in "${TEST_SERVICES[@]}"; do
    owner=$(dpkg-query -S "/lib/systemd/system/$s.service" 2>/dev/null | cut -d: -f1) || continue
    if [[ " ${missing[*]} " == *" $owner "* ]] && command -v deb-systemd-helper >/dev/null; then
      deb-systemd-helper disable "$s.service" >/dev/null 2>&1 || true
    fi
  done
fi

# --- arm64 (issue 16, docs/edge.md): the cross toolchain for dist/hosa-arm64,
# the arm64 zlib and glibc from Debian's arm64 multiarch archive, and QEMU for
# the arm64 guest. Debian's arm64 kernel and busybox are unpacked, not
# installed, by scripts/arm64-parts.sh.
if [ "$arm64" = 1 ]; then
ARM64_PACKAGES=(
  gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross
  zlib1g-dev:arm64 libc6:arm64
  qemu-system-arm
)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "deps: adding the arm64 architecture to dpkg"
  dpkg --add-architecture arm64
  apt-get update -qq
fi
missing=()
for p in "${ARM64_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
fi
# --- end arm64

# An earlier install.sh added deb-src to the apt sources; building now reads
# source packages through a private apt state (scripts/apt-source.sh), so
# that change is put back.
rm -f /etc/apt/sources.list.d/hosa-src.list

if [ "$purpose" != test ]; then
  # Bun and the TypeScript packages, pinned in package.json / package-lock.json.
  if [ ! -x node_modules/.bin/bun ] || ! node_modules/.bin/bun --version >/dev/null 2>&1 || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  echo "deps ($purpose): ready (bun $(node_modules/.bin/bun --version))"
else
  echo "deps (test): ready"
fi
