#!/usr/bin/env bash
# Fetch and unpack a Debian source package into a directory without
# touching the system's apt configuration: the deb-src lines are derived
# from the configured deb sources into a private apt state under .deps/apt-src
# (its own source list, index lists and cache), so no deb-src line is ever
# added to /etc/apt, nothing has to be put back, and `apt-get update` on the
# node is left as it was.
# Usage: scripts/apt-source.sh PACKAGE DESTDIR
set -euo pipefail
[ $# = 2 ] || { echo "usage: scripts/apt-source.sh PACKAGE DESTDIR" >&2; exit 2; }
pkg=$1
dest=$2
cd "$(dirname "$0")/.."
state=$PWD/.deps/apt-src
mkdir -p "$state/sources.list.d" "$state/lists/partial" "$state/cache/archives/partial"
: > "$state/sources.list"
# One-line sources: every "deb" line becomes a "deb-src" line.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^deb\(\s\)/deb-src\1/p' "$f" >> "$state/sources.list"
done
# deb822 sources: each stanza's Types becomes deb-src.
rm -f "$state/sources.list.d/"*.sources
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$state/sources.list.d/$(basename "$f")"
done
opts=(
  -o "Dir::Etc::SourceList=$state/sources.list"
  -o "Dir::Etc::SourceParts=$state/sources.list.d"
  -o "Dir::State::Lists=$state/lists"
  -o "Dir::Cache=$state/cache"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
)
# The indices are refreshed once a day at most: a rebuild does not refetch them.
if [ -z "$(find "$state/lists" -maxdepth 1 -name '*Sources*' -mtime -1 2>/dev/null | head -1)" ]; then
  # A third-party source without deb-src fails its part of the update; the Debian ones are what counts.
  apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || true
fi
mkdir -p "$dest"
cd "$dest"
apt-get "${opts[@]}" source -qq "$pkg" >/dev/null 2>&1 || {
  echo "apt-source: apt-get source $pkg failed: no deb-src for it in the configured sources" >&2
  exit 1
}
