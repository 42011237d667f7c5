#!/usr/bin/env bash
# Build everything from nothing: generated code, eBPF objects, libhosa, and
# finally dist/hosa, one self-contained executable.
#
#   scripts/build.sh [--arch x86_64|arm64]
#
# --arch arm64 cross-builds dist/hosa-arm64 instead (docs/edge.md): libhosa and
# its static libraries with aarch64-linux-gnu-gcc, the eBPF objects against an
# arm64 vmlinux.h, and the arm64 Bun runtime that `bun build --compile` embeds,
# taken from the npm registry at the version and integrity package-lock.json
# pins for Bun's own optional dependency @oven/bun-linux-aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

arch=x86_64
while (($#)); do
  case "$1" in
    --arch) arch=${2:-}; shift 2 || { echo "build: --arch needs x86_64 or arm64" >&2; exit 2; } ;;
    *) echo "build: unknown argument '$1' (usage: scripts/build.sh [--arch x86_64|arm64])" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64 | amd64 | x64) arch=x86_64 ;;
  arm64 | aarch64) arch=arm64 ;;
  *) echo "build: unknown architecture '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac

[ "${HOSA_SKIP_DEPS:-}" = 1 ] || bash scripts/deps.sh build $([ "$arch" = arm64 ] && echo arm64)

echo "build: protobuf code"
bash scripts/gen-proto.sh

if [ "$arch" = arm64 ]; then
  echo "build: eBPF objects and libhosa for arm64"
  bash scripts/build-native.sh --arch arm64

  # The runtime `bun build --compile --target=bun-linux-arm64` would download
  # by itself; fetched here through npm instead, checked against the lock.
  pkg=@oven/bun-linux-aarch64
  read -r version integrity < <(bun -e '
    const p = require("./package-lock.json").packages["node_modules/" + process.argv[1]];
    if (!p) { console.error("build: package-lock.json pins no " + process.argv[1]); process.exit(1); }
    console.log(p.version, p.integrity);' "$pkg")
  runtime=.deps/bun-runtime/bun-linux-aarch64-$version
  if [ ! -x "$runtime/bun" ]; then
    echo "build: $pkg@$version from the npm registry"
    rm -rf "$runtime.tmp" && mkdir -p "$runtime.tmp"
    got=$(cd "$runtime.tmp" && npm pack "$pkg@$version" --json --loglevel=error |
      bun -e 'console.log(JSON.parse(await Bun.stdin.text())[0].integrity)')
    [ "$got" = "$integrity" ] || { echo "build: $pkg@$version: integrity $got, package-lock.json says $integrity" >&2; exit 1; }
    tar -xzf "$runtime.tmp"/*.tgz -C "$runtime.tmp" package/bin/bun
    mv "$runtime.tmp/package/bin/bun" "$runtime.tmp/bun"
    rm -rf "$runtime.tmp/package" "$runtime.tmp"/*.tgz
    rm -rf "$runtime" && mv "$runtime.tmp" "$runtime"
  fi

  echo "build: dist/hosa-arm64"
  mkdir -p dist
  # The "hosa-arm64" condition points package.json's #native/* imports at build/arm64/.
  bun build --compile --minify-whitespace --target=bun-linux-arm64 --compile-executable-path="$runtime/bun" \
    --conditions=hosa-arm64 src/cli/main.ts --outfile dist/hosa-arm64 >/dev/null
  echo "build: $(du -h dist/hosa-arm64 | cut -f1) dist/hosa-arm64 ($(file -b dist/hosa-arm64 | cut -d, -f1-2))"
  exit 0
fi

if [ -x scripts/build-native.sh ]; then
  echo "build: eBPF objects and libhosa"
  bash scripts/build-native.sh
fi

echo "build: dist/hosa"
mkdir -p dist
# --smol: the smaller, more often collected heap (docs/footprint.md).
bun build --compile --minify-whitespace --compile-exec-argv=--smol --target=bun-linux-x64 src/cli/main.ts --outfile dist/hosa >/dev/null
echo "build: $(du -h dist/hosa | cut -f1) dist/hosa ($(dist/hosa --version))"
