#!/bin/sh
# Runs inside the guest (scripts/guest.sh): hosa's executable alone on a pure
# cgroup v2 node that has no libbpf, libelf, zlib, clang or bun.
set -u
. /guest-lib.sh

# What the archive holds, before hosa extracts anything of its own.
result forbidden_files "$(find / -xdev \( -name 'libbpf*' -o -name 'libelf*' -o -name 'libz.so*' -o -name 'clang*' -o -name 'bun' -o -name 'node' \) 2>/dev/null | tr '\n' ' ')"
result shared_libraries "$(find / -xdev -name '*.so*' 2>/dev/null | sort | tr '\n' ' ')"
result machine "$(uname -m)"
result cgroup_fs "$(awk '$2 == "/sys/fs/cgroup" {print $3}' /proc/mounts)"

hosa --version >/tmp/version.out 2>&1
result version_exit $?
result version "$(head -1 /tmp/version.out)"

hosa doctor --json >/tmp/doctor.json 2>/tmp/doctor.err
result doctor_exit $?
result doctor_json_b64 "$(base64 -w 0 /tmp/doctor.json)"
result doctor_stderr_b64 "$(base64 -w 0 /tmp/doctor.err)"
cat /tmp/doctor.err
