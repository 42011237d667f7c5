#!/usr/bin/env bash
# Generate the TypeScript for proto/*.proto into src/gen/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out=src/gen
if [ -d "$out" ] && [ -z "$(find proto -newer "$out" -name '*.proto' 2>/dev/null)" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  exit 0
fi
rm -rf "$out"
buf generate proto --template buf.gen.yaml >/dev/null
touch "$out"
