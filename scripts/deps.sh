#!/usr/bin/env bash
# Install what building and testing hosa needs on a fresh Debian 12 machine.
# Idempotent: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ca-certificates git make gcc pkg-config dpkg-dev
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev
  iproute2 kmod cpio busybox-static procps util-linux
  stress-ng fio wrk
  prometheus prometheus-alertmanager prometheus-node-exporter earlyoom nohang
  qemu-system-x86 linux-image-amd64
  chromium
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
