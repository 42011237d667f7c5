// The live node as one Sample per tick. Counters are read from /proc (and
// from the eBPF probes where they load), differenced against the previous
// read, and divided by the real elapsed time the caller passes in, so a late
// tick yields the true rate rather than a spike.
import type { DimensionSpec, Sample } from "../engine/types.ts";
import type { HosaConfig } from "../config.ts";
import type { CgroupUsage, DimensionSource, SampleSource } from "./types.ts";
import { CGROUP_V1, CGROUP_V2, PROC } from "../kernel/files.ts";
import { createProcFs, type ProcFs } from "../kernel/procfs.ts";
import {
  newDiskStats,
  newMemInfo,
  newNetDev,
  newPressure,
  newStatCounters,
  newTcpSnmp,
  newVmStat,
  parseDiskstatsBytes,
  parseMeminfoBytes,
  parseNetDevBytes,
  parsePressureBytes,
  parseSnmpBytes,
  parseStatBytes,
  parseVmstatBytes,
} from "../kernel/proc-parsers.ts";
import { createFileSet, NUMBER_FILE_CAP, type FileSet } from "../kernel/file-set.ts";
import { selectDimensions } from "./dimensions.ts";
import { cgroupId, countLines, detectCgroupLayout, dirLinkCount, listCgroups, parseBlkioServiceBytes, parseCpuStatUsageUs, parseIoStatBytes, type CgroupLayout, type CgroupScanOptions } from "../kernel/cgroups.ts";
import { openProbes as openBpfProbes } from "./bpf-probes.ts";
import { createCgroupCounter } from "./cgroup-count.ts";

/** Cumulative eBPF counters, as src/sense/bpf-probes.ts reports them (numbers or bigints). */
export interface ProbeCounters {
  wakeups: number | bigint;
  runqLatencyNs: number | bigint;
  runqSwitches: number | bigint;
  forks: number | bigint;
  pageFaults: number | bigint;
  brkCalls: number | bigint;
  mmapCalls: number | bigint;
  blkCompleted: number | bigint;
  blkLatencyNs: number | bigint;
  tcpActiveOpens: number | bigint;
  tcpRetransmits: number | bigint;
}

/** The part of src/sense/bpf-probes.ts's BpfProbes the live source uses. */
export interface ProbeHandle {
  /** Cumulative global counters; fills `into` when the implementation supports it. */
  totals(into?: never): ProbeCounters;
  /** Cumulative counters per cgroup id (the inode of the cgroup's directory). */
  perCgroup?(): Map<number, ProbeCounters>;
  /** "lean" (default when absent) or "full": which dimensions the probes feed ([sense] probes). */
  readonly mode?: "lean" | "full";
  /** Names of the attached programs; absent means all of them. */
  readonly programs?: readonly string[];
  /** Every cgroup's memory usage in one pass (src/sense/bpf-probes.ts); -1 when not available. */
  cgroupMemoryUsage?(ids: Float64Array, bytes: Float64Array): number;
  readonly cgroupUsageIter?: boolean;
  sampleCgroupMemoryUsage?(on: boolean, bytesPerS: number, everyS?: number, ids?: readonly number[]): void;
  close(): void;
}

export type OpenProbes = (opts: { cgroupHierarchy: "v2" | "memory-v1"; mode: "lean" | "full"; memoryRoot?: string }) => ProbeHandle;

/** eBPF dimensions that "lean" probes leave to /proc (no program on every page fault). */
const LEAN_FROM_PROC: ReadonlySet<string> = new Set(["page_faults_per_s"]);

export interface LiveSourceOptions {
  /** Count the loopback interface in the network rates (default: no, loopback traffic never leaves the node). */
  includeLoopback?: boolean;
  /** How to open the eBPF probes; default src/sense/bpf-probes.ts. Throwing means "fall back to /proc" with the message as the reason. */
  openProbes?: OpenProbes;
  /** Bounds of the cgroup walk for attribution. */
  cgroupScan?: CgroupScanOptions;
  /**
   * Seconds between checks whether the cgroup directories changed (the number
   * of cgroups the kernel reports); they are re-listed when it did, and every
   * 30 s regardless. Usage is re-read at every `cgroups()` call. Default 1.
   */
  cgroupRelistS?: number;
}

export interface LiveSource extends SampleSource {
  /** One line saying what fell back from eBPF to /proc and why; "" when nothing did. The agent prints it once. */
  readonly fallbackNotice: string;
  /** True when the eBPF probes are loaded and feed their dimensions. */
  readonly ebpf: boolean;
  readonly layout: CgroupLayout;
  /**
   * Every cgroup's memory usage in one pass of the probes' cgroup iterator
   * (ids: the inodes of their directories; bytes), for the danger watch's
   * scan; absent when the probes or the iterator are not loaded. Returns how
   * many cgroups there are (see src/sense/bpf-probes.ts).
   */
  readonly cgroupMemoryUsage?: (ids: Float64Array, bytes: Float64Array) => number;
  /**
   * MemAvailable (bytes) from /proc/meminfo as read by read(t) at exactly this
   * t; NaN when the last read was at another time or did not read it. The
   * danger watch's facts take it instead of reading the file again.
   */
  memAvailableAt(t: number): number;
  /**
   * The memory ceilings hosa holds, with the values they replaced (the
   * responder's heldCeilings): cgroup_mem_limit_ratio divides by the limit a
   * cgroup had before hosa, never by hosa's own ceiling (docs/response.md
   * § Danger). Without it, the ratio reads the limits in force.
   */
  setHeldCeilings(held: ReadonlyMap<string, Readonly<Record<string, number>>>): void;
  /**
   * Whether libhosa's sampler takes this source's reads (its tick's files are
   * a sampled read set: kernel files, libhosa loaded); false under a fixture
   * root, where the tick loop must read inline.
   */
  readonly sampled: boolean;
  /**
   * Whether libhosa's sampler takes cgroupMemoryUsage's pass, with a tripwire at bytesPerS for the cgroups
   * `ids` (all when absent), at most every everyS (the danger watch's sampleMemoryUsage).
   */
  sampleCgroupMemoryUsage(on: boolean, bytesPerS: number, everyS?: number, ids?: readonly number[]): void;
  /**
   * At calm, libhosa's sampler takes what the danger watch's scan reads (sampled at most every scanS) at
   * most every stretchS, sooner when MemAvailable in this source's /proc/meminfo fell by fallBytesPerS
   * per second of scanS since (docs/footprint.md § The sampler). False when it cannot: no sampler, or
   * /proc/meminfo not read at the tick.
   */
  stretchScan(scanS: number, stretchS: number, fallBytesPerS: number): boolean;
}

/** Dimensions the eBPF probes measure best, and what /proc offers instead (undefined: nothing). */
const EBPF_DIMS: Record<string, string | undefined> = {
  sched_wakeups_per_s: "context switches per second from /proc/stat ctxt (a proxy for wake-ups)",
  runq_latency_us: undefined,
  page_faults_per_s: "/proc/vmstat pgfault",
  alloc_syscalls_per_s: undefined,
  blk_latency_us: "/proc/diskstats: milliseconds per completed I/O",
  tcp_retrans_per_s: "/proc/net/snmp Tcp RetransSegs",
  tcp_active_opens_per_s: "/proc/net/snmp Tcp ActiveOpens",
  forks_per_s: "/proc/stat processes",
};

/**
 * eBPF dimensions fed by tracepoints that some architectures lack: x86's
 * exception tracepoints page_fault_user/kernel exist nowhere else (arm64 has
 * none), so there the loader leaves them out and the dimension comes from its
 * /proc source although the other probes loaded (docs/edge.md).
 */
const DIM_PROGRAMS: Record<string, readonly string[]> = {
  page_faults_per_s: ["page_fault_user", "page_fault_kernel"],
};

/** eBPF dimensions none of whose programs attached. */
function dimsWithoutPrograms(programs: readonly string[] | undefined): Set<string> {
  const out = new Set<string>();
  if (programs === undefined) return out;
  for (const [dim, progs] of Object.entries(DIM_PROGRAMS)) if (!progs.some((p) => programs.includes(p))) out.add(dim);
  return out;
}

const PSI_FILE: Record<string, string> = {
  psi_cpu_some_ratio: PROC.pressureCpu,
  psi_mem_some_ratio: PROC.pressureMemory,
  psi_io_some_ratio: PROC.pressureIo,
  psi_cpu_full_ratio: PROC.pressureCpu,
  psi_mem_full_ratio: PROC.pressureMemory,
  psi_io_full_ratio: PROC.pressureIo,
};

const defaultOpenProbes: OpenProbes = (o) => openBpfProbes(o) as unknown as ProbeHandle;

const num = (v: number | bigint | undefined): number => (v === undefined ? NaN : typeof v === "bigint" ? Number(v) : v);

/**
 * How much of /proc/vmstat to read: past the end of the later of its
 * pgfault and pgmajfault lines, with room for the counters before them to
 * grow longer (512 bytes); undefined (the whole file) when either is absent.
 */
export function vmstatPrefix(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let last = 0;
  for (const key of ["pgfault ", "pgmajfault "]) {
    const i = text.startsWith(key) ? 0 : text.indexOf(`\n${key}`);
    if (i < 0) return undefined;
    const e = text.indexOf("\n", i + 1);
    last = Math.max(last, e < 0 ? text.length : e + 1);
  }
  const at = last + 512;
  return at >= text.length ? undefined : at;
}

/** Difference of a cumulative counter; a reset or wrap (negative) or an absent value yields 0. */
function delta(now: number, before: number): number {
  const d = now - before;
  return d > 0 && Number.isFinite(d) ? d : 0;
}

interface SourcePlan {
  sources: DimensionSource[];
  fallbackNotice: string;
  /** file -> "" when readable, else the reason. */
  readable: Map<string, string>;
  need: { stat: boolean; mem: boolean; vm: boolean; disk: boolean; net: boolean; snmp: boolean };
  psiFiles: string[];
}

/** Where each dimension will come from, given whether the eBPF probes loaded (and why not), checking which /proc files can be read. */
function planSources(
  cfg: HosaConfig["sense"],
  names: string[],
  ebpf: boolean,
  fallbackReason: string,
  includeLoopback: boolean,
  proc: ProcFs,
  cgroupMemoryReadable = detectCgroupLayout(cfg.cgroupRoot).attributionRoot !== "",
  leanFromProc: ReadonlySet<string> = ebpf && cfg.probes !== "full" ? LEAN_FROM_PROC : new Set(),
  withoutPrograms: ReadonlySet<string> = new Set(),
): SourcePlan {
  const want = new Set(names);
  // Loaded probes that leave this dimension to /proc ([sense] probes = "lean") are not a fallback.
  const lean = (n: string) => ebpf && (leanFromProc.has(n) || withoutPrograms.has(n));
  const sources: DimensionSource[] = [];
  // Which files this dimension set needs, and whether each can be read here.
  const needStat = want.has("cpu_busy_ratio") || want.has("procs_running") || want.has("procs_blocked") || want.has("ctx_switches_per_s") || (!ebpf && (want.has("forks_per_s") || want.has("sched_wakeups_per_s")));
  const needMem = want.has("mem_used_ratio") || want.has("mem_available_bytes") || want.has("cgroup_mem_limit_ratio");
  const needVm = want.has("major_faults_per_s") || ((!ebpf || lean("page_faults_per_s")) && want.has("page_faults_per_s"));
  const needDisk = want.has("blk_ios_per_s") || want.has("blk_bytes_per_s") || (!ebpf && want.has("blk_latency_us"));
  const needNet = want.has("net_rx_bytes_per_s") || want.has("net_tx_bytes_per_s") || want.has("net_rx_packets_per_s") || want.has("net_tx_packets_per_s");
  const needSnmp = want.has("tcp_passive_opens_per_s") || want.has("tcp_established") || (!ebpf && (want.has("tcp_retrans_per_s") || want.has("tcp_active_opens_per_s")));
  const psiFiles = [...new Set(names.filter((n) => n in PSI_FILE).map((n) => PSI_FILE[n]))];

  const readable = new Map<string, string>(); // file -> "" when readable, else the reason
  const probe = (file: string) => {
    if (readable.has(file)) return;
    readable.set(file, proc.read(file) === undefined ? proc.lastError : "");
  };
  if (needStat) probe(PROC.stat);
  if (needMem) probe(PROC.meminfo);
  if (needVm) probe(PROC.vmstat);
  if (needDisk) probe(PROC.diskstats);
  if (needNet) probe(PROC.netDev);
  if (needSnmp) probe(PROC.netSnmp);
  for (const f of psiFiles) probe(f);

  const procSource = (dim: string, file: string, detail: string, kind: DimensionSource["source"] = "proc"): void => {
    const why = readable.get(file);
    if (why === "") sources.push({ dim, source: kind, detail });
    else sources.push({ dim, source: "unavailable", detail: `${cfg.procRoot}/${file}: ${why ?? "not read"}` });
  };
  const fellBack: string[] = [];
  for (const n of names) {
    if (n in EBPF_DIMS) {
      if (lean(n)) {
        procSource(n, PROC.vmstat, withoutPrograms.has(n) ? `${EBPF_DIMS[n]} (this kernel has no ${DIM_PROGRAMS[n].join(" or ")} tracepoint)` : `${EBPF_DIMS[n]} ([sense] probes = "lean")`);
        continue;
      }
      if (ebpf) {
        sources.push({ dim: n, source: "ebpf", detail: "eBPF tracepoint counters" });
        continue;
      }
      const alt = EBPF_DIMS[n];
      fellBack.push(n);
      if (alt === undefined) {
        sources.push({ dim: n, source: "unavailable", detail: `needs eBPF (${fallbackReason}); reads as 0` });
        continue;
      }
      const file = n === "forks_per_s" || n === "sched_wakeups_per_s" ? PROC.stat : n === "page_faults_per_s" ? PROC.vmstat : n === "blk_latency_us" ? PROC.diskstats : PROC.netSnmp;
      procSource(n, file, alt);
      continue;
    }
    if (n in PSI_FILE) procSource(n, PSI_FILE[n], `${cfg.procRoot}/${PSI_FILE[n]} total= stall time over the tick`, "psi");
    else if (n === "cpu_busy_ratio" || n === "procs_running" || n === "procs_blocked" || n === "ctx_switches_per_s") procSource(n, PROC.stat, `${cfg.procRoot}/${PROC.stat}`);
    else if (n.startsWith("mem_")) procSource(n, PROC.meminfo, `${cfg.procRoot}/${PROC.meminfo}`);
    else if (n === "major_faults_per_s") procSource(n, PROC.vmstat, `${cfg.procRoot}/${PROC.vmstat} pgmajfault`);
    else if (n.startsWith("blk_")) procSource(n, PROC.diskstats, `${cfg.procRoot}/${PROC.diskstats} (whole disks)`);
    else if (n.startsWith("net_")) procSource(n, PROC.netDev, `${cfg.procRoot}/${PROC.netDev}${includeLoopback ? "" : " without lo"}`);
    else if (n.startsWith("tcp_")) procSource(n, PROC.netSnmp, `${cfg.procRoot}/${PROC.netSnmp} Tcp`);
    else if (n === "cgroup_mem_limit_ratio") {
      sources.push(
        cgroupMemoryReadable
          ? { dim: n, source: "cgroup", detail: "highest memory usage / limit over the cgroups that have a limit" }
          : { dim: n, source: "unavailable", detail: "no memory controller to read; reads as 0" },
      );
    }
  }
  const readAsZero = sources.filter((s) => fellBack.includes(s.dim) && s.source === "unavailable").map((s) => s.dim);
  const fromProc = fellBack.filter((d) => !readAsZero.includes(d));
  const fallbackNotice =
    fellBack.length > 0
      ? `hosa: eBPF unavailable (${fallbackReason}): ${[fromProc.length ? `${fromProc.join(", ")} come from /proc` : "", readAsZero.length ? `${readAsZero.join(", ")} read as 0` : ""].filter(Boolean).join("; ")}`
      : "";

  return {
    sources,
    fallbackNotice,
    readable,
    need: { stat: needStat, mem: needMem, vm: needVm, disk: needDisk, net: needNet, snmp: needSnmp },
    psiFiles,
  };
}

/**
 * Where each configured dimension would come from on this node, without
 * opening the probes again: `hosa doctor` passes the result of checkProbes().
 */
export function describeSources(cfg: HosaConfig["sense"], ebpf: { loaded: boolean; programs?: string[]; error?: string }, opts: { includeLoopback?: boolean } = {}): { sources: DimensionSource[]; fallbackNotice: string } {
  const names = selectDimensions(cfg.dimensions).map((d) => d.name);
  const reason = cfg.ebpf === "off" ? OFF_REASON : (ebpf.error ?? "").replace(/^hosa: /, "");
  const proc = createProcFs(cfg.procRoot);
  const loaded = cfg.ebpf !== "off" && ebpf.loaded;
  const plan = planSources(cfg, names, loaded, reason, opts.includeLoopback ?? false, proc, undefined, dimsWithoutPrograms(loaded ? ebpf.programs : undefined));
  proc.close();
  return { sources: plan.sources, fallbackNotice: plan.fallbackNotice };
}

const OFF_REASON = 'off in the configuration ([sense] ebpf = "off")';

export function createLiveSource(cfg: HosaConfig["sense"], opts: LiveSourceOptions = {}): LiveSource {
  const dims: DimensionSpec[] = selectDimensions(cfg.dimensions);
  const names = dims.map((d) => d.name);
  const want = new Set(names);
  const proc: ProcFs = createProcFs(cfg.procRoot);
  const layout = detectCgroupLayout(cfg.cgroupRoot);

  // eBPF, when a selected dimension wants it and the configuration allows it.
  const ebpfWanted = names.filter((n) => n in EBPF_DIMS);
  let probes: ProbeHandle | undefined;
  let fallbackReason = "";
  if (ebpfWanted.length > 0) {
    if (cfg.ebpf === "off") {
      fallbackReason = OFF_REASON;
    } else {
      const open = opts.openProbes ?? defaultOpenProbes;
      try {
        // On v1 and hybrid hosts the memory hierarchy is the one attribution walks, so ids come from it.
        probes = open({ cgroupHierarchy: layout.version === "v2" ? "v2" : "memory-v1", mode: cfg.probes, memoryRoot: layout.attributionRoot });
      } catch (e) {
        fallbackReason = String((e as Error)?.message ?? e).split("\n")[0].replace(/^hosa: /, "");
      }
    }
  }
  const ebpf = probes !== undefined;

  const withoutPrograms = dimsWithoutPrograms(probes?.programs);
  const probeMode = probes?.mode ?? cfg.probes;
  const leanFromProc = ebpf && probeMode === "lean" ? LEAN_FROM_PROC : new Set<string>();
  const plan = planSources(cfg, names, ebpf, fallbackReason, opts.includeLoopback ?? false, proc, layout.attributionRoot !== "", leanFromProc, withoutPrograms);
  const { sources, fallbackNotice, readable, psiFiles } = plan;
  const { stat: needStat, mem: needMem, vm: needVm, disk: needDisk, net: needNet, snmp: needSnmp } = plan.need;
  const ok = (file: string) => readable.get(file) === "";

  // Current and previous readings; reused every tick.
  const stat = newStatCounters();
  const statPrev = newStatCounters();
  const mem = newMemInfo();
  const vm = newVmStat();
  const vmPrev = newVmStat();
  const disk = newDiskStats();
  const diskPrev = newDiskStats();
  const net = newNetDev();
  const netPrev = newNetDev();
  const tcp = newTcpSnmp();
  const tcpPrev = newTcpSnmp();
  const psi = psiFiles.map(() => newPressure());
  const psiPrev = psiFiles.map(() => newPressure());
  const probeNow: Record<string, number> = {};
  const probePrev: Record<string, number> = {};
  // bpf-probes.ts fills this object in place when passed (no allocation per tick).
  const probeScratch: Record<string, number> = {};
  const PROBE_KEYS = ["wakeups", "runqLatencyNs", "runqSwitches", "forks", "pageFaults", "brkCalls", "mmapCalls", "blkCompleted", "blkLatencyNs", "tcpActiveOpens", "tcpRetransmits"] as const;
  // Per cgroup, issued block I/O too: in lean mode completions are counted node-wide only (bpf/probes.bpf.c).
  const CGROUP_PROBE_KEYS = [...PROBE_KEYS, "blkIssued"] as const;
  for (const k of PROBE_KEYS) {
    probeNow[k] = NaN;
    probePrev[k] = NaN;
  }
  // cpu_busy_ratio: at USER_HZ=100 a 10 ms tick sees one or two jiffies per
  // CPU, too coarse for a ratio; the reference reading advances only once the
  // window holds about 100 ms of CPU time, so the ratio is over 100-200 ms.
  let cpuRefTotal = NaN;
  let cpuRefIdle = NaN;
  let cpuBusy = 0;

  let prevT = NaN;
  let cgroupPaths: string[] = [];
  let cgroupIdsByPath: number[] = [];
  let cgroupUsages: CgroupUsage[] = [];
  let cgroupUsageT = NaN;
  let lastT = NaN;
  let closed = false;
  const relistS = opts.cgroupRelistS ?? 1;

  // Walking cgroupfs (a readdir per group) costs milliseconds, and opening a
  // kernfs file costs more than reading it: the walk is redone only when the
  // number of cgroups changes (or every FULL_RELIST_S), and the files of the
  // listed groups stay open, re-read with pread (ProcFs).
  const FULL_RELIST_S = 30;
  const cgfs: ProcFs = createProcFs(layout.root);
  let listedT = NaN;
  let listedCount = NaN;
  let checkedT = NaN;
  /** How many cgroups the attribution hierarchy has (dying ones included), NaN when unknown: read in place (src/sense/cgroup-count.ts). */
  const counter = createCgroupCounter(layout.version === "v2", cfg.procRoot, layout.root);
  const cgroupCount = (): number => counter.count();
  /**
   * Link count (2 + subdirectories on cgroupfs) of the walk's root ("") and of
   * every listed group at the last walk: when the kernel's count of cgroups
   * moved somewhere else on the node (another hierarchy's groups, one dying),
   * a stat of each says whether this listing changed, for a fraction of a
   * walk's cost (a readdir of every group).
   */
  const listedLinks = new Map<string, number>();
  const linkCountOf = (path: string): number => dirLinkCount(layout.attributionRoot + path);
  const listingChanged = (): boolean => {
    if (listedLinks.size === 0 || cgroupPaths.length >= (opts.cgroupScan?.maxCount ?? 2048)) return true;
    for (const [path, n] of listedLinks) if (linkCountOf(path) !== n) return true;
    return false;
  };
  /** Re-list the cgroups if they may have changed; true when it did. */
  function relist(t: number): boolean {
    const first = Number.isNaN(listedT) || t < listedT;
    if (!first && t - checkedT < relistS) return false;
    checkedT = t;
    const count = cgroupCount();
    if (!first && t - listedT < FULL_RELIST_S && !Number.isNaN(count) && count === listedCount) return false;
    if (!first && t - listedT < FULL_RELIST_S && !Number.isNaN(count) && !listingChanged()) {
      listedCount = count;
      return false;
    }
    cgroupPaths = listCgroups(layout, opts.cgroupScan);
    listedLinks.clear();
    if (layout.attributionRoot) {
      listedLinks.set("", linkCountOf(""));
      for (const p of cgroupPaths) listedLinks.set(p, linkCountOf(p));
    }
    // The ids (a stat each) only serve cgroups(), asked at level changes: found then.
    cgroupIdsByPath = [];
    // Descriptors of groups that are gone would pin them: close those, keep the others.
    const live = new Set(cgroupPaths.map((p) => dirOf(p, "")));
    cgfs.prune((file) => {
      const slash = file.lastIndexOf("/");
      if (slash < 0) return true; // the root's own files
      const dir = file.slice(0, slash);
      if (layout.version === "v2") return live.has(dir);
      return live.has(dir.slice(dir.indexOf("/")));
    });
    listedT = t;
    listedCount = count;
    return true;
  }
  const dirOf = (path: string, v1Controller: string): string => (layout.version === "v2" ? path.slice(1) : `${v1Controller}${path}`);
  function cgNumber(file: string): number {
    const t = cgfs.read(file);
    if (t === undefined) return NaN;
    const v = Number.parseInt(t, 10);
    return Number.isFinite(v) ? v : NaN;
  }
  function memoryUsageOf(path: string): number {
    return layout.version === "v2" ? cgNumber(`${dirOf(path, "")}/${CGROUP_V2.memoryCurrent}`) : cgNumber(`${dirOf(path, CGROUP_V1.memoryDir)}/${CGROUP_V1.memoryUsage}`);
  }
  /**
   * v1 memory.limit_in_bytes (a huge page-rounded number means none); v2 the
   * lower of memory.max and memory.high. With `held` (hosa's ceilings), a
   * file hosa wrote counts with the value it replaced.
   */
  function memoryLimitOf(path: string, held?: Readonly<Record<string, number>>): number {
    if (layout.version === "v2") {
      let limit = Infinity;
      for (const f of [CGROUP_V2.memoryMax, CGROUP_V2.memoryHigh]) {
        let v: number;
        if (held && f in held) v = held[f]!;
        else {
          const t = cgfs.read(`${dirOf(path, "")}/${f}`)?.trim();
          v = t === undefined || t === "max" ? Infinity : Number.parseInt(t, 10);
        }
        if (Number.isFinite(v) && v < limit) limit = v;
      }
      return limit;
    }
    const v = held && CGROUP_V1.memoryLimit in held ? held[CGROUP_V1.memoryLimit]! : cgNumber(`${dirOf(path, CGROUP_V1.memoryDir)}/${CGROUP_V1.memoryLimit}`);
    return Number.isFinite(v) && v < 2 ** 60 ? v : Infinity;
  }
  /** As readCgroupUsage() in cgroups.ts, through the kept-open descriptors. */
  function usageOf(path: string): CgroupUsage {
    const z = (v: number) => (Number.isFinite(v) ? v : 0);
    if (layout.version === "v2") {
      const dir = dirOf(path, "");
      const cpu = cgfs.read(`${dir}/${CGROUP_V2.cpuStat}`);
      const io = cgfs.read(`${dir}/${CGROUP_V2.ioStat}`);
      let pids = cgNumber(`${dir}/${CGROUP_V2.pidsCurrent}`);
      if (!Number.isFinite(pids)) pids = countLines(cgfs.read(`${dir}/${CGROUP_V2.procs}`));
      return {
        path,
        memoryBytes: z(cgNumber(`${dir}/${CGROUP_V2.memoryCurrent}`)),
        cpuUsageUs: z(cpu === undefined ? NaN : parseCpuStatUsageUs(cpu)),
        ioBytes: z(io === undefined ? NaN : parseIoStatBytes(io)),
        pids,
      };
    }
    const blk =
      cgfs.read(`${CGROUP_V1.blkioDir}${path}/${CGROUP_V1.blkioServiceBytesRecursive}`) ?? cgfs.read(`${CGROUP_V1.blkioDir}${path}/${CGROUP_V1.blkioServiceBytes}`);
    let pids = cgNumber(`${CGROUP_V1.pidsDir}${path}/${CGROUP_V1.pidsCurrent}`);
    // Opened for this read: a v1 cgroup.procs re-read on a kept descriptor within a second serves its first list.
    if (!Number.isFinite(pids)) pids = countLines(cgfs.readOnce(`${CGROUP_V1.memoryDir}${path}/${CGROUP_V1.procs}`));
    return {
      path,
      memoryBytes: z(memoryUsageOf(path)),
      // cpuacct.usage is in nanoseconds.
      cpuUsageUs: z(Math.floor(cgNumber(`${CGROUP_V1.cpuacctDir}${path}/${CGROUP_V1.cpuacctUsage}`) / 1000)),
      ioBytes: z(blk === undefined ? NaN : parseBlkioServiceBytes(blk)),
      pids,
    };
  }

  // cgroup_mem_limit_ratio: every limited cgroup's usage is ranked when the
  // cgroup list changes and every LIMITS_S; between, only the few closest to
  // their limit are read at each tick (a kernfs read each), so a tick stays
  // cheap. A group far below its limit cannot overtake them within a second.
  // A new cgroup joins within WALK_MIN_S (the walk that finds it waits that
  // long after the previous one).
  const wantLimitRatio = want.has("cgroup_mem_limit_ratio") && layout.attributionRoot !== "";
  const LIMITED_MAX = 16;
  const LIMITS_S = 5;
  const WALK_MIN_S = 2;
  let limited: { path: string; limit: number }[] = [];
  let limitedT = NaN;
  // The usage files of the groups closest to their limit, read together at each tick (one native call).
  let limitedFiles: FileSet | null = null;
  const usageFile = (path: string): string => (layout.version === "v2" ? `${dirOf(path, "")}/${CGROUP_V2.memoryCurrent}` : `${dirOf(path, CGROUP_V1.memoryDir)}/${CGROUP_V1.memoryUsage}`);
  // Ceilings hosa holds, with the values they replaced (setHeldCeilings).
  let heldCeilings: ReadonlyMap<string, Readonly<Record<string, number>>> = new Map();
  /**
   * The limit a cgroup had before hosa lowered it: hosa's own ceiling pressed
   * is containment working, not a cgroup at its limit; counted as the limit,
   * it would raise D_M (and the level) because hosa acted.
   */
  const originalLimitOf = (path: string): number => memoryLimitOf(path, heldCeilings.get(path));
  function refreshLimited(t: number): void {
    const found: { path: string; limit: number; ratio: number }[] = [];
    for (const path of cgroupPaths) {
      const limit = originalLimitOf(path);
      // A limit above the node's memory is no limit.
      if (!Number.isFinite(limit) || limit <= 0 || (mem.memTotalBytes > 0 && limit >= mem.memTotalBytes)) continue;
      const usage = memoryUsageOf(path);
      if (Number.isFinite(usage)) found.push({ path, limit, ratio: usage / limit });
    }
    found.sort((a, b) => b.ratio - a.ratio);
    const chosen = found.slice(0, LIMITED_MAX);
    limitedT = t;
    // The same groups as before, in whatever order: their usage files stay open
    // (opening a kernfs file costs more than reading it), their limits are renewed.
    if (limitedFiles !== null && chosen.length === limited.length) {
      const limitOf = new Map(chosen.map((c) => [c.path, c.limit]));
      if (limited.every((c) => limitOf.has(c.path))) {
        for (const c of limited) c.limit = limitOf.get(c.path)!;
        return;
      }
    }
    limited = chosen.map(({ path, limit }) => ({ path, limit }));
    limitedFiles?.close();
    limitedFiles = limited.length > 0 ? createFileSet(layout.root, limited.map((c) => usageFile(c.path)), NUMBER_FILE_CAP, [], {}) : null;
  }
  function limitRatio(): number {
    const set = limitedFiles;
    if (set === null) return 0;
    set.read();
    const b = set.bytes;
    let max = 0;
    for (let k = 0; k < limited.length; k++) {
      const n = set.length(k);
      if (n <= 0) continue;
      // A decimal number of bytes.
      let usage = 0;
      let digits = 0;
      for (let i = set.start(k), e = i + n; i < e; i++) {
        const c = b[i]!;
        if (c < 48 || c > 57) break;
        usage = usage * 10 + (c - 48);
        digits++;
      }
      if (digits === 0) continue;
      const r = usage / limited[k]!.limit;
      if (r > max) max = r;
    }
    return max > 1 ? 1 : max;
  }

  const x = new Float64Array(dims.length);
  const compute: Array<(dt: number) => number> = names.map((n) => computeFor(n));

  function rate(now: number, before: number, dt: number): number {
    return dt > 0 ? delta(now, before) / dt : 0;
  }
  function psiRatio(file: string, full: boolean, dt: number): number {
    const k = psiFiles.indexOf(file);
    if (k < 0 || dt <= 0) return 0;
    const now = full ? psi[k].fullTotalUs : psi[k].someTotalUs;
    const before = full ? psiPrev[k].fullTotalUs : psiPrev[k].someTotalUs;
    const r = delta(now, before) / (dt * 1e6);
    return r > 1 ? 1 : r;
  }
  function probeRate(key: string, dt: number): number {
    return rate(probeNow[key], probePrev[key], dt);
  }
  function computeFor(n: string): (dt: number) => number {
    switch (n) {
      case "cpu_busy_ratio":
        return () => cpuBusy;
      case "mem_used_ratio":
        return () => (mem.memTotalBytes > 0 ? Math.min(1, Math.max(0, 1 - mem.memAvailableBytes / mem.memTotalBytes)) : 0);
      case "mem_available_bytes":
        return () => (Number.isFinite(mem.memAvailableBytes) ? mem.memAvailableBytes : 0);
      case "psi_cpu_some_ratio":
      case "psi_mem_some_ratio":
      case "psi_io_some_ratio":
      case "psi_cpu_full_ratio":
      case "psi_mem_full_ratio":
      case "psi_io_full_ratio": {
        const file = PSI_FILE[n];
        const full = n.endsWith("_full_ratio");
        return (dt) => psiRatio(file, full, dt);
      }
      case "sched_wakeups_per_s":
        return ebpf ? (dt) => probeRate("wakeups", dt) : (dt) => rate(stat.ctxt, statPrev.ctxt, dt);
      case "runq_latency_us": {
        if (!ebpf) return () => 0;
        // "lean" probes refresh the run-queue totals about once a second: in between, the last mean holds.
        const hold = probeMode === "lean";
        let last = 0;
        return () => {
          const switches = delta(probeNow.runqSwitches, probePrev.runqSwitches);
          if (switches > 0) last = delta(probeNow.runqLatencyNs, probePrev.runqLatencyNs) / switches / 1000;
          else if (!hold) last = 0;
          return last;
        };
      }
      case "page_faults_per_s":
        return ebpf && !leanFromProc.has(n) && !withoutPrograms.has(n) ? (dt) => probeRate("pageFaults", dt) : () => rate(vm.pgfault, vmPrev.pgfault, slowDt);
      case "alloc_syscalls_per_s":
        return ebpf ? (dt) => probeRate("brkCalls", dt) + probeRate("mmapCalls", dt) : () => 0;
      case "blk_ios_per_s":
        return () => rate(disk.ios, diskPrev.ios, slowDt);
      case "blk_bytes_per_s":
        return () => rate(disk.sectors, diskPrev.sectors, slowDt) * 512;
      case "blk_latency_us":
        if (ebpf) {
          return () => {
            const done = delta(probeNow.blkCompleted, probePrev.blkCompleted);
            return done > 0 ? delta(probeNow.blkLatencyNs, probePrev.blkLatencyNs) / done / 1000 : 0;
          };
        }
        return () => {
          const ios = delta(disk.ios, diskPrev.ios);
          return ios > 0 ? (delta(disk.ioTimeMs, diskPrev.ioTimeMs) / ios) * 1000 : 0;
        };
      case "net_rx_bytes_per_s":
        return () => rate(net.rxBytes, netPrev.rxBytes, slowDt);
      case "net_tx_bytes_per_s":
        return () => rate(net.txBytes, netPrev.txBytes, slowDt);
      case "net_rx_packets_per_s":
        return () => rate(net.rxPackets, netPrev.rxPackets, slowDt);
      case "net_tx_packets_per_s":
        return () => rate(net.txPackets, netPrev.txPackets, slowDt);
      case "tcp_retrans_per_s":
        return ebpf ? (dt) => probeRate("tcpRetransmits", dt) : () => rate(tcp.retransSegs, tcpPrev.retransSegs, slowDt);
      case "tcp_active_opens_per_s":
        return ebpf ? (dt) => probeRate("tcpActiveOpens", dt) : () => rate(tcp.activeOpens, tcpPrev.activeOpens, slowDt);
      case "tcp_passive_opens_per_s":
        return () => rate(tcp.passiveOpens, tcpPrev.passiveOpens, slowDt);
      case "tcp_established":
        return () => (Number.isFinite(tcp.currEstab) ? tcp.currEstab : 0);
      case "forks_per_s":
        return ebpf ? (dt) => probeRate("forks", dt) : (dt) => rate(stat.processes, statPrev.processes, dt);
      case "ctx_switches_per_s":
        return (dt) => rate(stat.ctxt, statPrev.ctxt, dt);
      case "major_faults_per_s":
        return () => rate(vm.pgmajfault, vmPrev.pgmajfault, slowDt);
      case "procs_running":
        return () => (Number.isFinite(stat.procsRunning) ? stat.procsRunning : 0);
      case "procs_blocked":
        return () => (Number.isFinite(stat.procsBlocked) ? stat.procsBlocked : 0);
      case "cgroup_mem_limit_ratio":
        return () => (wantLimitRatio ? limitRatio() : 0);
      default:
        return () => 0;
    }
  }

  // Every file the tick reads, in one set: one native call per tick (src/sense/file-set.ts).
  const tickFiles: string[] = [];
  const slotOf = (want: boolean, file: string): number => {
    if (!want || !ok(file)) return -1;
    tickFiles.push(file);
    return tickFiles.length - 1;
  };
  const statSlot = slotOf(needStat, PROC.stat);
  const memSlot = slotOf(needMem, PROC.meminfo);
  // /proc/vmstat is the costliest file to generate (some 190 counters, each
  // summed over CPUs), and disks and network counters change slowly against
  // a 10 ms tick: they have a set of their own, read at most every SLOW_MIN_S;
  // their rates are over the time between its reads and hold in between (at
  // the 100 ms tick they are read every tick). What detection needs at every
  // 10 ms tick (CPU, memory, pressure, the eBPF counters) is in the tick's set.
  const SLOW_MIN_S = 0.045;
  const slowFiles: string[] = [];
  const slowSlotOf = (want: boolean, file: string): number => {
    if (!want || !ok(file)) return -1;
    slowFiles.push(file);
    return slowFiles.length - 1;
  };
  const vmSlot = slowSlotOf(needVm, PROC.vmstat);
  const diskSlot = slowSlotOf(needDisk, PROC.diskstats);
  const netSlot = slowSlotOf(needNet, PROC.netDev);
  const snmpSlot = slowSlotOf(needSnmp, PROC.netSnmp);
  // Of /proc/vmstat only pgfault and pgmajfault are read, about halfway down
  // its 4 KB: the set reads it up to a little past them (the kernel then
  // stops printing; a third less of the slow set's cost), and a read that
  // misses either (counters before them grew longer) reads it whole again
  // and moves the end (vmstatPrefix).
  let vmPrefix = vmSlot >= 0 ? vmstatPrefix(proc.read(PROC.vmstat)) : undefined;
  // Sampled by libhosa's thread no more often than it is read here (src/sense/sampler.ts).
  const slowSet = (): FileSet => createFileSet(cfg.procRoot, slowFiles, undefined, slowFiles.map((f) => (f === PROC.vmstat ? vmPrefix : undefined)), { minIntervalS: SLOW_MIN_S });
  let slow: FileSet | undefined = slowFiles.length > 0 ? slowSet() : undefined;
  let slowReadT = NaN;
  /** When /proc/meminfo was last read (memAvailableAt). */
  let memReadT = NaN;
  let slowDt = 0;
  const psiSlots = psiFiles.map((f) => slotOf(true, f));
  const files: FileSet = createFileSet(cfg.procRoot, tickFiles, undefined, [], {});
  const at = (set: FileSet, slot: number): number => set.start(slot);
  const end = (set: FileSet, slot: number): number => set.start(slot) + set.length(slot);
  const got = (set: FileSet, slot: number): boolean => slot >= 0 && set.length(slot) >= 0;

  function readAll(t: number): void {
    files.read();
    const b = files.bytes;
    if (got(files, statSlot)) {
      Object.assign(statPrev, stat);
      parseStatBytes(b, at(files, statSlot), end(files, statSlot), stat);
      if (Number.isNaN(cpuRefTotal)) {
        cpuRefTotal = stat.cpuTotalTicks;
        cpuRefIdle = stat.cpuIdleTicks;
      } else {
        const dTotal = stat.cpuTotalTicks - cpuRefTotal;
        if (dTotal > 0) {
          const busy = 1 - (stat.cpuIdleTicks - cpuRefIdle) / dTotal;
          cpuBusy = busy < 0 ? 0 : busy > 1 ? 1 : busy;
          if (dTotal >= 10 * Math.max(1, stat.cpuCount)) {
            cpuRefTotal = stat.cpuTotalTicks;
            cpuRefIdle = stat.cpuIdleTicks;
          }
        }
      }
    }
    if (got(files, memSlot)) {
      parseMeminfoBytes(b, at(files, memSlot), end(files, memSlot), mem);
      memReadT = t;
    } else memReadT = Number.NaN;
    // A snapshot of the sampler's holds the slow set when the thread found it due: read it then (not
    // live, at another instant), so both clocks of "due" stay in step.
    if (slow && (Number.isNaN(slowReadT) || t - slowReadT >= SLOW_MIN_S || t < slowReadT) && slow.inSnapshot() !== false) {
      slow.read();
      const sb = slow.bytes;
      let rebuild = false;
      if (got(slow, vmSlot)) {
        Object.assign(vmPrev, vm);
        parseVmstatBytes(sb, at(slow, vmSlot), end(slow, vmSlot), vm);
        if (vmPrefix !== undefined && (Number.isNaN(vm.pgfault) || Number.isNaN(vm.pgmajfault))) {
          // Past the prefix now: this once the whole file, and a new prefix for the next reads.
          const text = proc.read(PROC.vmstat);
          if (text !== undefined) {
            const whole = Buffer.from(text, "latin1");
            parseVmstatBytes(whole, 0, whole.length, vm);
          }
          vmPrefix = vmstatPrefix(text);
          rebuild = true;
        }
      }
      if (got(slow, diskSlot)) {
        Object.assign(diskPrev, disk);
        parseDiskstatsBytes(sb, at(slow, diskSlot), end(slow, diskSlot), disk);
      }
      if (got(slow, netSlot)) {
        Object.assign(netPrev, net);
        parseNetDevBytes(sb, at(slow, netSlot), end(slow, netSlot), net, opts.includeLoopback ?? false);
      }
      if (got(slow, snmpSlot)) {
        Object.assign(tcpPrev, tcp);
        parseSnmpBytes(sb, at(slow, snmpSlot), end(slow, snmpSlot), tcp);
      }
      slowDt = Number.isNaN(slowReadT) ? 0 : t - slowReadT;
      slowReadT = t;
      if (rebuild) {
        slow.close();
        slow = slowSet();
      }
    }
    for (let k = 0; k < psiFiles.length; k++) {
      const slot = psiSlots[k]!;
      if (!got(files, slot)) continue;
      Object.assign(psiPrev[k], psi[k]);
      parsePressureBytes(b, at(files, slot), end(files, slot), psi[k]);
    }
    if (probes) {
      const totals = probes.totals(probeScratch as never) as unknown as Record<string, number | bigint>;
      for (const k of PROBE_KEYS) {
        probePrev[k] = probeNow[k];
        probeNow[k] = num(totals[k]);
      }
    }
  }

  const usageProbes = probes?.cgroupUsageIter && probes.cgroupMemoryUsage ? probes : undefined;
  const source: LiveSource = {
    dims,
    sources,
    fallbackNotice,
    ebpf,
    layout,
    cgroupMemoryUsage: usageProbes ? (ids, bytes) => (closed || !probes ? -1 : usageProbes.cgroupMemoryUsage!(ids, bytes)) : undefined,
    get sampled() {
      return files.sampled;
    },
    sampleCgroupMemoryUsage(on, bytesPerS, everyS, ids) {
      if (!closed) probes?.sampleCgroupMemoryUsage?.(on, bytesPerS, everyS, ids);
    },
    stretchScan(scanS, stretchS, fallBytesPerS) {
      return !closed && memSlot >= 0 && files.stretchScan(memSlot, scanS, stretchS, fallBytesPerS);
    },
    read(tMonoS: number): Sample {
      if (closed) throw new Error("live source is closed");
      readAll(tMonoS);
      // A walk when the count of cgroups moved, at most every WALK_MIN_S on
      // the tick's path: on a node whose cgroups come and go all the time it
      // was due every second (a readdir per group, then every limit read).
      if (wantLimitRatio) {
        const relisted = (Number.isNaN(listedT) || tMonoS - listedT >= WALK_MIN_S || tMonoS < listedT) && relist(tMonoS);
        if (relisted || Number.isNaN(limitedT) || tMonoS - limitedT >= LIMITS_S || tMonoS < limitedT) refreshLimited(tMonoS);
      }
      // The first read has no previous one: rates are 0 until the second.
      const dt = Number.isNaN(prevT) ? 0 : tMonoS - prevT;
      for (let i = 0; i < compute.length; i++) {
        const v = compute[i](dt);
        x[i] = Number.isFinite(v) ? v : 0;
      }
      prevT = tMonoS;
      lastT = tMonoS;
      return { t: tMonoS, x: x.slice() };
    },
    memAvailableAt(t: number): number {
      return t === memReadT ? mem.memAvailableBytes : Number.NaN;
    },
    setHeldCeilings(held): void {
      heldCeilings = held;
    },
    cgroups(): CgroupUsage[] {
      if (!layout.attributionRoot) return [];
      if (cgroupUsageT === lastT && !Number.isNaN(lastT)) return cgroupUsages;
      relist(Number.isNaN(lastT) ? 0 : lastT);
      const perCgroup = probes?.perCgroup?.();
      cgroupUsages = cgroupPaths.map((p, i) => {
        const u = usageOf(p);
        const id = (cgroupIdsByPath[i] ??= cgroupId(layout, p));
        if (id) u.id = id;
        const c = perCgroup?.get(id);
        if (c) {
          const counters: Record<string, number> = {};
          for (const k of CGROUP_PROBE_KEYS) counters[k] = num(c[k as keyof ProbeCounters]);
          u.probeCounters = counters;
        }
        return u;
      });
      cgroupUsageT = lastT;
      return cgroupUsages;
    },
    close(): void {
      if (closed) return;
      closed = true;
      proc.close();
      cgfs.close();
      counter.close();
      files.close();
      slow?.close();
      limitedFiles?.close();
      try {
        probes?.close();
      } finally {
        probes = undefined;
      }
    },
  };
  return source;
}
