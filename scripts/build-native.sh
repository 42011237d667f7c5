#!/usr/bin/env bash
# Build the native half of hosa: a PIC static libbpf and libelf (from Debian's
# source packages), vmlinux.h from the running kernel's BTF, the CO-RE eBPF
# objects build/bpf/*.bpf.o, and build/libhosa.so with libbpf, libelf and zlib
# linked in, so the executable needs nothing but glibc on the node.
# Idempotent: sources and static libraries are cached under .deps/native/.
#
#   scripts/build-native.sh [--arch x86_64|arm64]
#
# --arch arm64 cross-builds the same with Debian's aarch64-linux-gnu toolchain
# into build/arm64/ (cache .deps/native-arm64/): vmlinux.h then comes from the
# BTF of Debian's arm64 kernel (scripts/arm64-parts.sh), not the running one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
arch=x86_64
while (($#)); do
  case "$1" in
    --arch) arch=${2:-}; shift 2 || { echo "build-native: --arch needs x86_64 or arm64" >&2; exit 2; } ;;
    *) echo "build-native: unknown argument '$1' (usage: scripts/build-native.sh [--arch x86_64|arm64])" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64 | amd64 | x64)
    deps=$root/.deps/native out=$root/build
    cc=gcc host= target_arch=x86 zlib=/usr/lib/x86_64-linux-gnu/libz.a btf=/sys/kernel/btf/vmlinux ;;
  arm64 | aarch64)
    command -v aarch64-linux-gnu-gcc >/dev/null ||
      { echo "build-native: aarch64-linux-gnu-gcc is missing (scripts/deps.sh installs gcc-aarch64-linux-gnu)" >&2; exit 1; }
    deps=$root/.deps/native-arm64 out=$root/build/arm64
    cc=aarch64-linux-gnu-gcc host=aarch64-linux-gnu target_arch=arm64 zlib=/usr/lib/aarch64-linux-gnu/libz.a
    parts=$(bash scripts/arm64-parts.sh)
    btf=$parts/vmlinux.btf ;;
  *) echo "build-native: unknown architecture '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
jobs=$(nproc)
mkdir -p "$deps/src" "$deps/lib" "$deps/include" "$out/bpf"

fetch_source() { # $1 = Debian source package; prints the unpacked directory
  local dir
  dir=$(find "$deps/src" -maxdepth 1 -type d -name "$1-[0-9]*" | head -1)
  if [ -z "$dir" ]; then
    bash "$root/scripts/apt-source.sh" "$1" "$deps/src" ||
      { echo "build-native: cannot fetch the source of $1" >&2; exit 1; }
    dir=$(find "$deps/src" -maxdepth 1 -type d -name "$1-[0-9]*" | head -1)
  fi
  echo "$dir"
}

# Debian's libbpf.a is not built with -fPIC, so it cannot go into a shared
# object; rebuild it from the same source with EXTRA_CFLAGS=-fPIC.
if [ ! -f "$deps/lib/libbpf.a" ] || [ ! -f "$deps/include/bpf/libbpf.h" ]; then
  echo "build-native: libbpf (static, PIC)"
  src=$(fetch_source libbpf)
  mkdir -p "$deps/obj/libbpf"
  make -s -C "$src/src" -j"$jobs" CC="$cc" BUILD_STATIC_ONLY=1 EXTRA_CFLAGS="-fPIC -O2" \
    OBJDIR="$deps/obj/libbpf" DESTDIR="$deps/stage" PREFIX= LIBDIR=/lib INCLUDEDIR=/include \
    install install_uapi_headers >/dev/null
  cp "$deps/stage/lib/libbpf.a" "$deps/lib/"
  rm -rf "$deps/include/bpf" && cp -r "$deps/stage/include/bpf" "$deps/include/"
fi

# Debian's libelf.a uses initial-exec TLS relocations that a shared object
# cannot carry; elfutils' own libelf_pic.a is built with -fPIC. Only libelf is
# built, without zstd/bzip2/lzma (libbpf never reads compressed sections).
if [ ! -f "$deps/lib/libelf.a" ]; then
  echo "build-native: libelf (static, PIC)"
  src=$(fetch_source elfutils)
  if [ ! -f "$src/config.h" ]; then
    (cd "$src" && ./configure -q ${host:+--host=$host} --disable-debuginfod --disable-libdebuginfod \
      --without-zstd --without-bzlib --without-lzma --disable-nls \
      CFLAGS="-O2 -fPIC -Wno-error" >/dev/null)
  fi
  make -s -C "$src/lib" -j"$jobs" >/dev/null
  make -s -C "$src/libelf" -j"$jobs" libelf_pic.a >/dev/null
  cp "$src/libelf/libelf_pic.a" "$deps/lib/libelf.a"
fi

# Debian's libz.a is position-independent already.
[ -f "$zlib" ] || { echo "build-native: $zlib missing (install zlib1g-dev, zlib1g-dev:arm64 for arm64)" >&2; exit 1; }

[ -r "$btf" ] || { echo "build-native: $btf is missing: the kernel has no BTF, CO-RE objects cannot be built" >&2; exit 1; }
if [ ! -s "$out/vmlinux.h" ] || [ "$btf" -nt "$out/vmlinux.h" ]; then
  echo "build-native: vmlinux.h from $btf"
  bpftool btf dump file "$btf" format c > "$out/vmlinux.h.tmp"
  mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
fi

for c in bpf/*.bpf.c; do
  [ -e "$c" ] || continue
  name=$(basename "$c" .c)
  obj=$out/bpf/$name.o
  if [ ! -f "$obj" ] || [ -n "$(find "$c" bpf/*.h "$out/vmlinux.h" scripts/build-native.sh -newer "$obj" 2>/dev/null)" ]; then
    echo "build-native: $obj"
    clang -g -O2 -target bpf -D__TARGET_ARCH_$target_arch -Wall -Wno-unused-function \
      -I"$out" -I"$deps/include" -Ibpf -c "$c" -o "$obj.tmp"
    # Drop DWARF but keep BTF/BTF.ext: CO-RE needs only BTF, and it halves the object.
    llvm-strip -g "$obj.tmp" 2>/dev/null || true
    mv "$obj.tmp" "$obj"
  fi
done

so=$out/libhosa.so
if [ ! -f "$so" ] || [ -n "$(find libhosa "$deps/lib" scripts/build-native.sh -newer "$so" 2>/dev/null)" ]; then
  echo "build-native: $so"
  "$cc" -shared -fPIC -O2 -Wall -Wextra -fvisibility=hidden \
    -I"$deps/include" -Ilibhosa libhosa/*.c -pthread \
    "$deps/lib/libbpf.a" "$deps/lib/libelf.a" "$zlib" \
    -Wl,--exclude-libs,ALL -Wl,-z,defs -Wl,-soname,libhosa.so \
    -o "$so.tmp"
  mv "$so.tmp" "$so"
fi
