#!/usr/bin/env bash
# Install what building and testing hosa needs on a fresh Debian 12 machine.
# Idempotent: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ca-certificates git make gcc pkg-config dpkg-dev
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev
  iproute2 kmod cpio busybox-static procps util-linux
  stress-ng fio
  prometheus prometheus-alertmanager prometheus-node-exporter earlyoom nohang
  qemu-system-x86 linux-image-amd64
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Services from these packages must not start on install (a chroot or a
  # container has no init to run them anyway); tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- arm64 (issue 16, docs/edge.md): the cross toolchain for dist/hosa-arm64,
# the arm64 zlib and glibc from Debian's arm64 multiarch archive, and QEMU for
# the arm64 guest. Debian's arm64 kernel and busybox are unpacked, not
# installed, by scripts/arm64-parts.sh.
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
# --- end arm64

# Source packages (libbpf, elfutils) are built with -fPIC for libhosa.
if ! grep -qs 'deb-src' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
  else
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/hosa-src.list
  fi
  apt-get update -qq
fi

# Bun and the TypeScript packages, pinned in package.json / package-lock.json.
if [ ! -x node_modules/.bin/bun ] || ! node_modules/.bin/bun --version >/dev/null 2>&1 || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "deps: ready (bun $(node_modules/.bin/bun --version))"
