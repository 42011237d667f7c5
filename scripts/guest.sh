#!/usr/bin/env bash
# Boot a pure cgroup v2 guest (Debian's linux-image-amd64 under QEMU) whose
# initramfs holds busybox, dist/hosa and only the libraries `ldd dist/hosa`
# names, run a script in it and exit with that script's exit code.
#
#   scripts/guest.sh [--arch x86_64|arm64] [--timeout S] [--mem M] [--cpus N] \
#                    [--module NAME]... [--] <guest-script> [FILE[:/GUEST/PATH]]...
#
# --arch arm64 boots Debian's linux-image-arm64 under qemu-system-aarch64
# (-machine virt, TCG) with dist/hosa-arm64, an arm64 busybox and the arm64
# glibc files the executable names (scripts/arm64-parts.sh, docs/edge.md).
#
# Extra files land in /opt/<name> unless a guest path is given; the guest
# scripts' shared helpers, test/guest/lib.sh, land in /guest-lib.sh. The console
# (kernel, /init, the script) is printed as it comes; the script's exit code
# arrives as `HOSA-EXIT: <n>`. 124 means the guest ran out of time.
# Environment: HOSA_GUEST_EXE (default dist/hosa), HOSA_GUEST_KERNEL (default
# the newest /boot/vmlinuz-*), HOSA_GUEST_ACCEL (kvm|tcg, default: kvm where
# /dev/kvm is real KVM, else tcg), HOSA_GUEST_CACHE (initramfs cache dir),
# HOSA_GUEST_CPU (QEMU's -cpu under TCG; default max, and for arm64
# max,pauth-impdef=on,sve=off, which docs/edge.md justifies).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "guest: $1" >&2; exit "${2:-1}"; }
usage() { die "usage: scripts/guest.sh [--arch x86_64|arm64] [--timeout S] [--mem M] [--cpus N] [--module NAME]... [--] <guest-script> [FILE[:/GUEST/PATH]]..." 2; }

timeout_s=120
mem=3G
cpus=2
modules=()
arch=x86_64
while (($#)); do
  case "$1" in
    --arch) case "${2:-}" in x86_64 | amd64) arch=x86_64 ;; arm64 | aarch64) arch=arm64 ;; *) die "--arch needs x86_64 or arm64, got '${2:-}'" 2 ;; esac; shift 2 ;;
    --timeout) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--timeout needs whole seconds, got '${2:-}'" 2; timeout_s=$2; shift 2 ;;
    --mem) [[ "${2:-}" =~ ^[0-9]+[MG]?$ ]] || die "--mem needs a size like 3G or 2048M, got '${2:-}'" 2; mem=$2; shift 2 ;;
    --cpus) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--cpus needs a positive count, got '${2:-}'" 2; cpus=$2; shift 2 ;;
    --module) [ -n "${2:-}" ] || die "--module needs a module name" 2; modules+=("$2"); shift 2 ;;
    --) shift; break ;;
    -*) die "unknown option '$1'" 2 ;;
    *) break ;;
  esac
done
(($#)) || usage
script=$1
shift
[ -f "$script" ] || die "cannot read guest script: $script: no such file" 2

host_busybox=$(command -v busybox || true)
# A static busybox: ldd refuses it.
[ -n "$host_busybox" ] && ! ldd "$host_busybox" >/dev/null 2>&1 ||
  die "cannot build the initramfs: busybox is missing or not static (scripts/deps.sh installs busybox-static)" 3
command -v cpio >/dev/null || die "cannot build the initramfs: cpio is not installed" 3
if [ "$arch" = arm64 ]; then
  exe=${HOSA_GUEST_EXE:-dist/hosa-arm64}
  [ -x "$exe" ] || die "cannot put hosa in the guest: $exe is missing (run scripts/build.sh --arch arm64 first)" 3
  qemu=qemu-system-aarch64
  command -v $qemu >/dev/null || die "cannot boot the guest: $qemu is not installed (scripts/deps.sh installs qemu-system-arm)" 3
  command -v aarch64-linux-gnu-readelf >/dev/null || die "cannot list the libraries of $exe: aarch64-linux-gnu-readelf is missing (scripts/deps.sh installs binutils-aarch64-linux-gnu)" 3
  ((${#modules[@]} == 0)) || die "--module is not supported with --arch arm64 (the arm64 guest carries no modules)" 2
  parts=$(bash scripts/arm64-parts.sh) || die "cannot unpack Debian's arm64 kernel and busybox (scripts/arm64-parts.sh)" 3
  kernel=${HOSA_GUEST_KERNEL:-$parts/vmlinuz}
  [ -r "$kernel" ] || die "cannot boot the guest: $kernel is not readable" 3
  busybox=$parts/busybox
  kernel_release=
else
  exe=${HOSA_GUEST_EXE:-dist/hosa}
  [ -x "$exe" ] || die "cannot put hosa in the guest: $exe is missing (run scripts/build.sh first)" 3
  qemu=qemu-system-x86_64
  command -v $qemu >/dev/null || die "cannot boot the guest: qemu-system-x86_64 is not installed (scripts/deps.sh installs qemu-system-x86)" 3
  busybox=$host_busybox
  kernel=${HOSA_GUEST_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
  [ -n "$kernel" ] && [ -r "$kernel" ] || die "cannot boot the guest: no readable kernel in /boot (scripts/deps.sh installs linux-image-amd64)" 3
  kernel_release=${kernel##*/vmlinuz-}
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hosa-guest.XXXXXX")
qpid=
tailpid=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The base archive (busybox, hosa, its libraries, /init) is cached by content:
# it is large (the executable) and the same from one run to the next.
cache=${HOSA_GUEST_CACHE:-${TMPDIR:-/tmp}/hosa-guest-cache}
mkdir -p "$cache"
# An arm64 executable cannot run here, so no ldd: its NEEDED entries (and
# theirs) are looked up in the arm64 multiarch directories, plus the loader.
arm64_libs() {
  local todo=("$1") seen=" " f name path
  aarch64-linux-gnu-readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p'
  while ((${#todo[@]})); do
    f=${todo[0]}
    todo=("${todo[@]:1}")
    for name in $(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ "$seen" == *" $name "* ]] && continue
      seen+="$name "
      path=
      for d in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu; do [ -e "$d/$name" ] && { path=$d/$name; break; }; done
      [ -n "$path" ] || die "cannot find $name for $exe in the arm64 multiarch directories (scripts/deps.sh installs libc6:arm64)" 3
      echo "$path"
      todo+=("$path")
    done
  done
}
if [ "$arch" = arm64 ]; then
  libs=$(arm64_libs "$exe" | sort -u)
else
  libs=$(ldd "$exe" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' | sort -u)
fi
key=$( {
  sha256sum "$exe" scripts/guest-init.sh "$busybox"
  echo "$libs"
} | sha256sum | cut -c1-24)
base="$cache/base-$key.cpio"
if [ ! -f "$base" ]; then
  echo "guest: building the initramfs ($exe, busybox, $(echo "$libs" | wc -l) libraries)" >&2
  root="$work/base"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys,tmp,run,root,etc,var/lib,var/log,opt}
  cp "$busybox" "$root/bin/busybox"
  # The applet list of the host's busybox: Debian builds both from one configuration.
  for applet in $("$host_busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  cp "$exe" "$root/usr/local/bin/hosa"
  # Only what ldd names: the guest must show that hosa needs no libbpf,
  # libelf, zlib, clang or bun of the node's.
  for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  install -m 0755 scripts/guest-init.sh "$root/init"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet) >"$base.tmp.$$"
  mv "$base.tmp.$$" "$base"
  ls -1t "$cache"/base-*.cpio | tail -n +4 | xargs -r rm -f
fi

# The per-run archive: the script, the extra files, the modules. Appended
# archives are unpacked over the base one by the kernel.
extra="$work/extra"
mkdir -p "$extra/opt" "$extra/dev"
install -m 0755 "$script" "$extra/guest-test.sh"
# The helpers every guest script sources (`. /guest-lib.sh`).
install -m 0644 test/guest/lib.sh "$extra/guest-lib.sh"
for spec in "$@"; do
  src=${spec%%:/*}
  dest=/opt/$(basename "$src")
  [ "$src" != "$spec" ] && dest=/${spec#*:/}
  [ -f "$src" ] || die "cannot put a file in the guest: $src: no such file" 2
  mkdir -p "$extra$(dirname "$dest")"
  cp -L "$src" "$extra$dest"
done
if ((${#modules[@]})); then
  : >"$extra/modules.list"
  for m in "${modules[@]}"; do
    deps=$(modprobe -S "$kernel_release" --show-depends "$m" 2>&1) || die "cannot find kernel module $m for $kernel_release: $deps" 2
    while read -r verb ko _; do
      [ "$verb" = insmod ] || continue
      grep -qxF "$ko" "$extra/modules.list" && continue
      mkdir -p "$extra$(dirname "$ko")"
      cp "$ko" "$extra$ko"
      echo "$ko" >>"$extra/modules.list"
    done <<<"$deps"
  done
fi
# The kernel opens /dev/console before /init runs; cpio -H newc records
# device nodes, so create it here when we may, else rely on the node the
# kernel's built-in initramfs carries.
mknod -m 600 "$extra/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$extra/dev/null" c 1 3 2>/dev/null || true
(cd "$extra" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet) >"$work/extra.cpio"
cat "$base" "$work/extra.cpio" >"$work/initramfs.cpio"

# KVM only where /dev/kvm is the real thing: PVM's kvm_pvm cannot boot a
# stock kernel, and a guest that never reaches /init falls back to TCG.
accels=(tcg)
case "${HOSA_GUEST_ACCEL:-}" in
  kvm) accels=(kvm) ;;
  tcg) accels=(tcg) ;;
  "") if [ "$arch" = x86_64 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then accels=(kvm tcg); fi ;;
  *) die "HOSA_GUEST_ACCEL must be kvm or tcg, got '$HOSA_GUEST_ACCEL'" 2 ;;
esac
kvm_boot_s=30

console="$work/console.log"
for accel in "${accels[@]}"; do
  cpu=max
  [ "$accel" = kvm ] && cpu=host
  machine=()
  tty=ttyS0
  if [ "$arch" = arm64 ]; then
    # virt's PL011 is ttyAMA0. Pointer authentication with QEMU's cheap
    # implementation-defined algorithm: the architected one (QARMA) costs
    # much of TCG's time in every function of Bun's runtime. No SVE: with it,
    # Bun's JIT-compiled code under this QEMU (7.2, TCG) computes wrong
    # decisions and dies of SIGSEGV at the same point of a replay, run after
    # run; without it, or with the JIT off, every replay is right
    # (bench/arm64-segv.ts, docs/edge.md "SIGSEGV under TCG").
    machine=(-machine virt,gic-version=3)
    cpu=max,pauth-impdef=on,sve=off
    tty=ttyAMA0
  fi
  [ "$accel" = tcg ] && [ -n "${HOSA_GUEST_CPU:-}" ] && cpu=$HOSA_GUEST_CPU
  : >"$console"
  start=$SECONDS
  timeout -k 5 "$timeout_s" $qemu "${machine[@]}" \
    -accel "$accel" -cpu "$cpu" -smp "$cpus" -m "$mem" \
    -nodefaults -no-user-config -display none -no-reboot \
    -serial "file:$console" \
    -kernel "$kernel" -initrd "$work/initramfs.cpio" \
    -append "console=$tty cgroup_no_v1=all panic=-1 quiet loglevel=4 random.trust_cpu=on" \
    </dev/null >"$work/qemu.log" 2>&1 &
  qpid=$!
  tail -n +1 -f --pid="$qpid" "$console" | sed -u 's/\r$//' &
  tailpid=$!
  fell_back=0
  while kill -0 "$qpid" 2>/dev/null; do
    if [ "$accel" = kvm ] && ((${#accels[@]} > 1)) && ((SECONDS - start > kvm_boot_s)) && ! grep -q "HOSA-INIT: up" "$console"; then
      echo "guest: no /init after ${kvm_boot_s}s under KVM; retrying under TCG" >&2
      kill "$qpid" 2>/dev/null
      fell_back=1
      break
    fi
    sleep 0.2
  done
  set +e
  wait "$qpid"
  qrc=$?
  set -e
  qpid=
  wait "$tailpid" 2>/dev/null || true
  tailpid=
  ((fell_back)) && continue
  if [ "$accel" = kvm ] && ((${#accels[@]} > 1)) && ! grep -q "HOSA-INIT: up" "$console"; then
    echo "guest: KVM boot failed ($(tail -c 300 "$work/qemu.log" | tr '\n' ' ')); retrying under TCG" >&2
    continue
  fi
  rc=$(tr -d '\r' <"$console" | sed -n 's/^HOSA-EXIT: \([0-9]*\)$/\1/p' | tail -1)
  if [ -n "$rc" ]; then
    echo "guest: $accel guest exited $rc after $((SECONDS - start))s" >&2
    exit "$rc"
  fi
  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "guest: timed out after ${timeout_s}s without HOSA-EXIT ($accel); raise --timeout or look at the console above" >&2
    exit 124
  fi
  die "the guest stopped without HOSA-EXIT (qemu exit $qrc, $accel): $(tail -c 300 "$work/qemu.log" | tr '\n' ' ')" 125
done
die "could not boot the guest" 125
