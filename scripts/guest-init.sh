#!/bin/sh
# /init of the hosa test guest (busybox sh, PID 1): mount a pure cgroup v2
# node, run /guest-test.sh, report its exit code on the console, power off.
# scripts/guest.sh builds the initramfs and reads the console.
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
export HOME=/root

# The kernel opens /dev/console from the archive before /init runs; devtmpfs
# then brings the other nodes (null, zero, urandom, kmsg).
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# cgroup_no_v1=all on the command line: every controller is on the v2 tree.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
hostname hosa-guest
ip link set lo up

# Modules in `modprobe --show-depends` order, listed by scripts/guest.sh.
if [ -f /modules.list ]; then
  while read -r ko; do
    insmod "$ko" || echo "HOSA-INIT: insmod $ko failed"
  done </modules.list
fi

echo "HOSA-INIT: up kernel=$(uname -r) cpus=$(nproc) mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo) cgroup=$(awk '$2 == "/sys/fs/cgroup" {print $3}' /proc/mounts)"
cd /
sh /guest-test.sh
rc=$?
echo "HOSA-EXIT: $rc"
sync
poweroff -f
