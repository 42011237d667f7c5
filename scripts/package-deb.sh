#!/usr/bin/env bash
# Build the Debian package dist/hosa_<version>_amd64.deb with dpkg-deb from
# the dist/hosa already built: the executable (/usr/bin/hosa), the systemd
# unit and its act drop-in, /etc/hosa/hosa.toml as a conffile with every key
# commented, and maintainer scripts that start and stop the service cleanly
# and, on removal, let the agent restore what it changed (docs/operations.md).
# Usage: scripts/package-deb.sh [--version V] [--out DIR] [--uncompressed]
# (--uncompressed: for tests, which install it at once; 110 MB instead of 50)
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "package-deb: $1" >&2; exit "${2:-1}"; }
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package.json | head -1)
out=dist
# gzip: xz of a 110 MB executable takes minutes on a small machine for a few MB less.
compress=(-Zgzip -z6)
while [ $# -gt 0 ]; do
  case $1 in
    --version) version=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --uncompressed) compress=(-Znone); shift ;;
    *) die "unknown argument \"$1\": expected --version V, --out DIR or --uncompressed" 2 ;;
  esac
done
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "bad version \"$version\": a Debian version starts with a digit" 2
[ -x dist/hosa ] || die "dist/hosa is missing: run scripts/build.sh first" 9
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing: apt-get install dpkg" 9

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 dist/hosa "$stage/usr/bin/hosa"
# The package's executable is /usr/bin/hosa (Debian packages stay out of /usr/local).
sed 's|/usr/local/bin/hosa|/usr/bin/hosa|' deploy/systemd/hosa.service > "$stage/hosa.service"
install -D -m 0644 "$stage/hosa.service" "$stage/lib/systemd/system/hosa.service"
rm "$stage/hosa.service"
install -D -m 0644 deploy/systemd/act.conf "$stage/usr/share/hosa/act.conf"
install -D -m 0644 deploy/hosa.toml "$stage/etc/hosa/hosa.toml"
install -D -m 0644 docs/operations.md "$stage/usr/share/doc/hosa/operations.md"
printf 'hosa\n\nCopyright: the hosa developers\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n' > "$stage/usr/share/doc/hosa/copyright"
install -d "$stage/DEBIAN"
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: hosa
Version: $version
Architecture: amd64
Maintainer: hosa developers <hosa@localhost>
Depends: libc6 (>= 2.34)
Section: admin
Priority: optional
Installed-Size: $installed_kb
Description: node agent that contains collapses before the OOM killer
 hosa senses the kernel through eBPF and /proc, learns what is normal for
 this node, sees it heading toward collapse and contains the damage with
 proportional, reversible cgroup and XDP actions. Detection-only until
 [respond] mode = "act" in /etc/hosa/hosa.toml.
CONTROL
echo /etc/hosa/hosa.toml > "$stage/DEBIAN/conffiles"

cat > "$stage/DEBIAN/postinst" <<'SH'
#!/bin/sh
# configure: state and log directories, the act drop-in when the
# configuration acts, the unit enabled; with systemd running, (re)started,
# so an upgrade runs the new executable.
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-remove ]; then
  install -d -m 0755 /var/lib/hosa /var/log/hosa
  dropin=/etc/systemd/system/hosa.service.d/act.conf
  if grep -Eq '^[[:space:]]*mode[[:space:]]*=[[:space:]]*"act"' /etc/hosa/hosa.toml 2>/dev/null; then
    install -D -m 0644 /usr/share/hosa/act.conf "$dropin"
  else
    rm -f "$dropin"
    rmdir /etc/systemd/system/hosa.service.d 2>/dev/null || true
  fi
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper unmask hosa.service >/dev/null || true
    deb-systemd-helper enable hosa.service >/dev/null || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if command -v deb-systemd-invoke >/dev/null; then deb-systemd-invoke restart hosa.service >/dev/null || true; else systemctl restart hosa.service || true; fi
  else
    echo "hosa: no systemd here: start the agent with 'hosa run' (detection-only until /etc/hosa/hosa.toml says act)"
  fi
fi
exit 0
SH

cat > "$stage/DEBIAN/prerm" <<'SH'
#!/bin/sh
# Stop the agent before its executable goes: SIGTERM makes it restore every
# journaled value and end its alerts. On removal (not upgrade), a quarantine
# is lifted and a journal left by a crashed agent is restored too.
set -e
stop_agent() {
  if [ -d /run/systemd/system ]; then
    if command -v deb-systemd-invoke >/dev/null; then deb-systemd-invoke stop hosa.service >/dev/null || true; else systemctl stop hosa.service || true; fi
  fi
  # An agent started by hand (no systemd): the one holding the state directory.
  pid=$(cat /var/lib/hosa/hosa.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then echo "hosa: the agent (pid $pid) did not stop within 30 s" >&2; exit 1; fi
    echo "hosa: stopped the agent (pid $pid)"
  fi
}
case "$1" in
  remove | deconfigure)
    stop_agent
    if hosa quarantine status --json 2>/dev/null | grep -q '"active": *true'; then hosa quarantine release --yes || true; fi
    if [ -s /var/lib/hosa/actions.journal ]; then hosa run --duration 1 >/dev/null 2>&1 || true; fi
    ;;
  upgrade)
    # systemd restarts it in postinst; an agent started by hand keeps running the old inode until restarted.
    if [ -d /run/systemd/system ]; then stop_agent; fi
    ;;
esac
exit 0
SH

cat > "$stage/DEBIAN/postrm" <<'SH'
#!/bin/sh
# remove: the unit disabled and its drop-in gone; purge: the state, logs and
# configuration too, so the node is as it was.
set -e
case "$1" in
  remove | purge)
    rm -f /etc/systemd/system/hosa.service.d/act.conf
    rmdir /etc/systemd/system/hosa.service.d 2>/dev/null || true
    if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi
    if command -v deb-systemd-helper >/dev/null; then
      # As debhelper does: masked while removed, purged and unmasked on purge.
      if [ "$1" = purge ]; then
        deb-systemd-helper purge hosa.service >/dev/null || true
        deb-systemd-helper unmask hosa.service >/dev/null || true
      else
        deb-systemd-helper mask hosa.service >/dev/null || true
      fi
    fi
    ;;
esac
if [ "$1" = purge ]; then
  rm -rf /var/lib/hosa /var/log/hosa
  rm -f /etc/hosa/hosa.toml.dpkg-old /etc/hosa/hosa.toml.dpkg-new /etc/hosa/hosa.toml.dpkg-dist
  rmdir /etc/hosa 2>/dev/null || true
fi
exit 0
SH
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/hosa_${version}_amd64.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "package-deb: $deb ($(du -h "$deb" | cut -f1))"
