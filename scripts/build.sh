#!/usr/bin/env bash
# Build everything from nothing: generated code, eBPF objects, libhosa, and
# finally dist/hosa, one self-contained executable.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

[ "${HOSA_SKIP_DEPS:-}" = 1 ] || bash scripts/deps.sh build

echo "build: protobuf code"
bash scripts/gen-proto.sh

if [ -x scripts/build-native.sh ]; then
  echo "build: eBPF objects and libhosa"
  bash scripts/build-native.sh
fi

echo "build: dist/hosa"
mkdir -p dist
# --smol: the smaller, more often collected heap (docs/footprint.md).
bun build --compile --minify-whitespace --compile-exec-argv=--smol --target=bun-linux-x64 src/cli/main.ts --outfile dist/hosa >/dev/null
echo "build: $(du -h dist/hosa | cut -f1) dist/hosa ($(dist/hosa --version))"
