// Kernel file names, written once. Paths are relative to their root
// (procRoot, cgroupRoot, sysRoot) so tests can point the root at a fixture
// directory holding the same files in the kernel's format.

/** Where the kernel's filesystems are mounted; every reader takes its root as a parameter defaulting to these. */
export const ROOTS = { proc: "/proc", sys: "/sys", cgroup: "/sys/fs/cgroup" } as const;

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

/**
 * cgroup interface files, v2 and v1, each name written once
 * (Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.rst).
 */
export const CG = {
  procs: "cgroup.procs",
  controllers: "cgroup.controllers",
  stat: "cgroup.stat",
  subtreeControl: "cgroup.subtree_control",
  // v2
  cpuWeight: "cpu.weight",
  cpuMax: "cpu.max",
  cpuStat: "cpu.stat",
  memoryCurrent: "memory.current",
  memoryHigh: "memory.high",
  memoryMax: "memory.max",
  memoryEvents: "memory.events",
  ioMax: "io.max",
  ioStat: "io.stat",
  freeze: "cgroup.freeze",
  // both
  memoryStat: "memory.stat",
  pidsCurrent: "pids.current",
  pidsMax: "pids.max",
  pidsEvents: "pids.events",
  // v1
  cpuShares: "cpu.shares",
  cfsQuotaUs: "cpu.cfs_quota_us",
  cfsPeriodUs: "cpu.cfs_period_us",
  cpuacctUsage: "cpuacct.usage",
  memoryUsage: "memory.usage_in_bytes",
  memoryLimit: "memory.limit_in_bytes",
  memoryFailcnt: "memory.failcnt",
  oomControl: "memory.oom_control",
  blkioReadBps: "blkio.throttle.read_bps_device",
  blkioWriteBps: "blkio.throttle.write_bps_device",
  blkioServiceBytes: "blkio.throttle.io_service_bytes",
  blkioServiceBytesRecursive: "blkio.throttle.io_service_bytes_recursive",
  freezerState: "freezer.state",
  tasks: "tasks",
  threads: "cgroup.threads",
} as const;

/** v1 hierarchy directory per controller, as mounted under the root on v1 and hybrid hosts. */
export const V1_DIR = { memory: "memory", cpu: "cpu", cpuacct: "cpuacct", blkio: "blkio", pids: "pids", freezer: "freezer" } as const;
export type V1Controller = keyof typeof V1_DIR;

/** The files sense reads on cgroup v2. */
export const CGROUP_V2 = {
  controllers: CG.controllers,
  stat: CG.stat,
  subtreeControl: CG.subtreeControl,
  procs: CG.procs,
  memoryCurrent: CG.memoryCurrent,
  memoryMax: CG.memoryMax,
  memoryHigh: CG.memoryHigh,
  cpuStat: CG.cpuStat,
  ioStat: CG.ioStat,
  pidsCurrent: CG.pidsCurrent,
} as const;

/** The controller directories and files sense reads on cgroup v1 (the cgroup2 mount of a hybrid host is `unified`). */
export const CGROUP_V1 = {
  memoryDir: V1_DIR.memory,
  cpuDir: V1_DIR.cpu,
  cpuacctDir: V1_DIR.cpuacct,
  blkioDir: V1_DIR.blkio,
  pidsDir: V1_DIR.pids,
  freezerDir: V1_DIR.freezer,
  unifiedDir: "unified",
  procs: CG.procs,
  memoryUsage: CG.memoryUsage,
  memoryLimit: CG.memoryLimit,
  cpuacctUsage: CG.cpuacctUsage,
  blkioServiceBytesRecursive: CG.blkioServiceBytesRecursive,
  blkioServiceBytes: CG.blkioServiceBytes,
  pidsCurrent: CG.pidsCurrent,
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
  memoryStat: CG.memoryStat,
  pidsCurrent: CG.pidsCurrent,
  pidsMax: CG.pidsMax,
  /** "max N": forks refused at this cgroup's pids limit. */
  pidsEvents: CG.pidsEvents,
  // v1
  memoryFailcnt: CG.memoryFailcnt,
  memoryOomControl: CG.oomControl,
  // v2
  memoryEvents: CG.memoryEvents,
  // CPU harm: cgroup2 pressure (pure v2, or the hybrid unified tree), the quota files hosa may hold
  cpuPressure: "cpu.pressure",
  ioPressure: "io.pressure",
  cfsQuotaUs: CG.cfsQuotaUs,
  cpuMax: CG.cpuMax,
  // a latency-sensitive cgroup's threads (v1 tasks, v2 cgroup.threads), each one's /proc/<tid>/schedstat
  tasks: CG.tasks,
  threads: CG.threads,
  schedstat: "schedstat",
} as const;
