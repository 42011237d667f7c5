// Kernel file names, written once. Paths are relative to their root
// (procRoot, cgroupRoot, sysRoot) so tests can point the root at a fixture
// directory holding the same files in the kernel's format.

export const PROC = {
  stat: "stat",
  meminfo: "meminfo",
  vmstat: "vmstat",
  diskstats: "diskstats",
  netDev: "net/dev",
  netSnmp: "net/snmp",
  netRoute: "net/route",
  netIpv6Route: "net/ipv6_route",
  pressureCpu: "pressure/cpu",
  pressureMemory: "pressure/memory",
  pressureIo: "pressure/io",
  cpuinfo: "cpuinfo",
  osrelease: "sys/kernel/osrelease",
  selfStatus: "self/status",
  selfCgroup: "self/cgroup",
  initCgroup: "1/cgroup",
  filesystems: "filesystems",
  cgroups: "cgroups",
} as const;

export const SYS = {
  btfVmlinux: "kernel/btf/vmlinux",
  cpuOnline: "devices/system/cpu/online",
  cpu0Cache: "devices/system/cpu/cpu0/cache",
  nodeDir: "devices/system/node",
  dmiSysVendor: "class/dmi/id/sys_vendor",
  dmiProductName: "class/dmi/id/product_name",
  classNet: "class/net",
} as const;

/** cgroup v2 interface files (Documentation/admin-guide/cgroup-v2.rst). */
export const CGROUP_V2 = {
  controllers: "cgroup.controllers",
  stat: "cgroup.stat",
  subtreeControl: "cgroup.subtree_control",
  procs: "cgroup.procs",
  memoryCurrent: "memory.current",
  memoryMax: "memory.max",
  memoryHigh: "memory.high",
  cpuStat: "cpu.stat",
  ioStat: "io.stat",
  pidsCurrent: "pids.current",
} as const;

/** cgroup v1 controller directories and files (Documentation/admin-guide/cgroup-v1/). */
export const CGROUP_V1 = {
  memoryDir: "memory",
  cpuDir: "cpu",
  cpuacctDir: "cpuacct",
  blkioDir: "blkio",
  pidsDir: "pids",
  freezerDir: "freezer",
  unifiedDir: "unified",
  procs: "cgroup.procs",
  memoryUsage: "memory.usage_in_bytes",
  memoryLimit: "memory.limit_in_bytes",
  cpuacctUsage: "cpuacct.usage",
  blkioServiceBytesRecursive: "blkio.throttle.io_service_bytes_recursive",
  blkioServiceBytes: "blkio.throttle.io_service_bytes",
  pidsCurrent: "pids.current",
} as const;

/** Files outside /proc and /sys that say what kind of node this is. */
export const MARKERS = {
  dockerenv: "/.dockerenv",
  containerenv: "/run/.containerenv",
  k8sSecrets: "/var/run/secrets/kubernetes.io",
  ipmi: "/dev/ipmi0",
  watchdog: "/dev/watchdog",
} as const;

/** Files the danger watch reads per cgroup at the tick (src/sense/cgroup-watch.ts). */
export const CGROUP_WATCH = {
  // both: the non-reclaimable memory is in memory.stat (v1 total_rss + total_shmem, v2 anon + shmem)
  memoryStat: "memory.stat",
  pidsCurrent: "pids.current",
  pidsMax: "pids.max",
  // v1
  memoryFailcnt: "memory.failcnt",
  memoryOomControl: "memory.oom_control",
  // v2
  memoryEvents: "memory.events",
  // CPU harm: cgroup2 pressure (pure v2, or the hybrid unified tree), the quota files hosa may hold
  cpuPressure: "cpu.pressure",
  cfsQuotaUs: "cpu.cfs_quota_us",
  cpuMax: "cpu.max",
} as const;
