#!/usr/bin/env bash
# The arm64 pieces that are not installed on the build machine but unpacked
# from Debian's arm64 packages (dpkg-deb -x, never installed): the kernel
# (linux-image-arm64: its Image boots the arm64 guest and its BTF gives the
# arm64 vmlinux.h) and a static busybox for the guest's initramfs.
# Prints the directory that holds vmlinuz, config, vmlinux.btf and busybox.
# Idempotent: cached under .deps/arm64/<kernel package>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
die() { echo "arm64-parts: $1" >&2; exit 1; }

dpkg --print-foreign-architectures | grep -qx arm64 ||
  die "dpkg has no arm64 architecture (scripts/deps.sh adds it)"
# linux-image-arm64 is a metapackage; the versioned image is what it depends on.
image=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -1)
[ -n "$image" ] || die "apt knows no linux-image-arm64:arm64 (run apt-get update after scripts/deps.sh)"
dir=$root/.deps/arm64/$image
if [ ! -s "$dir/vmlinux.btf" ] || [ ! -s "$dir/busybox" ] || [ ! -s "$dir/vmlinuz" ]; then
  echo "arm64-parts: $image and busybox-static:arm64 into ${dir#"$root"/}" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/debs"
  (cd "$dir.tmp/debs" && apt-get download -qq "$image:arm64" busybox-static:arm64 2>/dev/null) ||
    die "apt-get download $image:arm64 busybox-static:arm64 failed"
  # Only /boot and busybox: the 290 MB of modules are not needed.
  dpkg-deb --fsys-tarfile "$dir.tmp"/debs/linux-image-*.deb | tar -x -C "$dir.tmp" ./boot
  dpkg-deb --fsys-tarfile "$dir.tmp"/debs/busybox-static_*.deb | tar -x -C "$dir.tmp" ./bin/busybox
  mv "$dir.tmp"/boot/vmlinuz-* "$dir.tmp/vmlinuz"
  mv "$dir.tmp"/boot/config-* "$dir.tmp/config"
  mv "$dir.tmp/bin/busybox" "$dir.tmp/busybox"
  grep -qx CONFIG_DEBUG_INFO_BTF=y "$dir.tmp/config" || die "$image was built without BTF"
  "$root/node_modules/.bin/bun" scripts/btf-from-image.ts "$dir.tmp/vmlinuz" "$dir.tmp/vmlinux.btf" >&2
  rm -rf "$dir.tmp/debs" "$dir.tmp/boot" "$dir.tmp/bin"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir"
