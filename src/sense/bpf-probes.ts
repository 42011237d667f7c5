// The eBPF half of sensing: bpf/probes.bpf.c loaded through libhosa, read as
// cumulative counters (global and per cgroup) and a stream of discrete
// events. Reads reuse their buffers: at 10 ms ticks this runs 100 times a
// second. Any failure to load is a HosaError whose message the sense layer
// prints once as the reason it fell back to /proc.
import { type CgroupLayout, detectCgroupLayout } from "../kernel/cgroups.ts";
import { hasBtf, readKernelRelease, readSelfCapabilities } from "../kernel/proprioception.ts";
import { EXIT, HosaError } from "../errors.ts";
import * as ffi from "../ffi/libhosa.ts";

/** Which hierarchy a cgroup id names: the unified one, or the v1 memory controller's (hybrid and v1 hosts). */

/** Cumulative counters since load; the same set globally and per cgroup. */
export interface ProbeTotals {
  wakeups: number;
  runqLatencyNs: number;
  runqSwitches: number;
  forks: number;
  pageFaults: number;
  brkCalls: number;
  mmapCalls: number;
  blkIssued: number;
  blkCompleted: number;
  blkBytes: number;
  blkLatencyNs: number;
  tcpStateChanges: number;
  tcpActiveOpens: number;
  tcpPassiveOpens: number;
  tcpRetransmits: number;
  oomKills: number;
  /** Events the ring buffer had no room for (counted, not delivered). */
  eventsDropped: number;
}

/** The order of enum hosa_counter in bpf/probes.h. */
export const PROBE_COUNTERS: readonly (keyof ProbeTotals)[] = [
  "wakeups",
  "runqLatencyNs",
  "runqSwitches",
  "forks",
  "pageFaults",
  "brkCalls",
  "mmapCalls",
  "blkIssued",
  "blkCompleted",
  "blkBytes",
  "blkLatencyNs",
  "tcpStateChanges",
  "tcpActiveOpens",
  "tcpPassiveOpens",
  "tcpRetransmits",
  "oomKills",
  "eventsDropped",
];
const WORDS = PROBE_COUNTERS.length;
/** HOSA_MAX_CGROUPS in bpf/probes.h. */
const MAX_CGROUPS = 4096;
const EVENT_BYTES = 48;
const EVENT_TYPES: Record<number, ProbeEvent["kind"]> = { 1: "oom-kill", 2: "fork-burst" };

export interface ProbeEvent {
  kind: "oom-kill" | "fork-burst";
  /** CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns). */
  tNs: number;
  /** Cgroup id of the victim (oom-kill) or of the forking task; the inode of its directory. */
  cgroupId: number;
  pid: number;
  tgid: number;
  /** Forks on one CPU within the burst window (fork-burst); 1 for oom-kill. */
  count: number;
  comm: string;
}

/** Programs by what they watch, so a costly group can be left out (bench/probe-overhead.ts measures each). */
export const PROBE_GROUPS = {
  sched: ["sched_wakeup", "sched_wakeup_new", "sched_switch", "sched_process_exit"],
  forks: ["sched_process_fork"],
  faults: ["page_fault_user", "page_fault_kernel"],
  alloc: ["mmap_lock_acquire_returned", "sys_enter"],
  block: ["block_rq_issue", "block_rq_complete"],
  tcp: ["inet_sock_set_state", "tcp_retransmit_skb"],
  oom: ["mark_victim"],
} as const;
export type ProbeGroup = keyof typeof PROBE_GROUPS;

/**
 * How much the probes watch ([sense] probes; docs/footprint.md). "lean":
 * nothing runs on a context switch or a page fault: wake-ups are counted per
 * CPU only, run-queue latency comes from the scheduler's own per-task
 * accounting (an iterator run once per tick), page faults from /proc/vmstat;
 * forks, allocation, block, TCP and OOM are counted per cgroup as in "full".
 * "full": every event timed and charged to its cgroup (wake-ups, run-queue
 * latency and page faults per cgroup too), at a cost on every switch and fault.
 */
export type ProbeMode = "lean" | "full";
export const PROBE_MODES: readonly ProbeMode[] = ["lean", "full"];

/** The groups "lean" leaves out: their events are as frequent as the work itself. */
const LEAN_WITHOUT: readonly ProbeGroup[] = ["faults"];
/** The iterator that reads run-queue totals in "lean" mode (bpf/probes.bpf.c). */
const RUNQ_ITER = "runq_totals";
/** The iterator that reads every cgroup's memory usage for the danger watch's scan (bpf/probes.bpf.c). */
const CGROUP_USAGE_ITER = "cgroup_usage";
export interface ProbeOptions {
  cgroupHierarchy: CgroupLayout["memoryHierarchy"];
  /** Default "lean". */
  mode?: ProbeMode;
  /** "lean": how often the run-queue totals are re-read (an iterator over every task), in ms; default 1000. Between reads they stay put. */
  runqRefreshMs?: number;
  /** Groups to leave out (not loaded, their counters stay 0); default none. */
  without?: ProbeGroup[];
  /** Count per cgroup as well as globally (default true). */
  perCgroup?: boolean;
  /** Forks on one CPU within `forkBurstWindowMs` that make a fork-burst event (default 64 in 100 ms). */
  forkBurstThreshold?: number;
  forkBurstWindowMs?: number;
  /**
   * The memory hierarchy's root directory (v1: the memory controller's; v2:
   * the unified root): the cgroup_usage iterator is attached to it, and
   * cgroupMemoryUsage() reads every cgroup's usage in one call. Absent: not
   * attached.
   */
  memoryRoot?: string;
}

export interface BpfProbes {
  readonly cgroupHierarchy: CgroupLayout["memoryHierarchy"];
  readonly mode: ProbeMode;
  /** Names of the attached programs (a program whose tracepoint this kernel lacks is left out). */
  readonly programs: string[];
  /** Global cumulative counters; fills and returns `into` when given (no allocation). */
  totals(into?: ProbeTotals): ProbeTotals;
  /** Cumulative counters per cgroup id; reuses `into` and its entries when given. */
  perCgroup(into?: Map<number, ProbeTotals>): Map<number, ProbeTotals>;
  /** Stop counting for cgroups that are gone (their ids are never reused while the kernel runs). */
  forgetCgroups(ids: Iterable<number>): void;
  /** Events since the last call, oldest first; never blocks. */
  drainEvents(): ProbeEvent[];
  /**
   * Per-program cumulative run time and runs (zero unless BPF run statistics
   * are on: ffi.enableRunStats), and runs the kernel skipped because the same
   * program was already running on that CPU (always counted).
   */
  programStats(): { name: string; runTimeNs: number; runCount: number; recursionMisses: number }[];
  /**
   * Every cgroup of the memory hierarchy (memoryRoot and under) in one pass
   * of the cgroup_usage iterator, parents first: its id (the inode of its
   * directory) into `ids`, the bytes charged to it into `bytes` (what
   * memory.usage_in_bytes or memory.current reads, for any cgroup but the
   * root); returns how many cgroups there are (when more than the arrays
   * hold, only what fits is written: call again with larger ones), or -1
   * when the iterator is not attached (an older kernel, no memoryRoot).
   */
  cgroupMemoryUsage(ids: Float64Array, bytes: Float64Array): number;
  /** Whether cgroupMemoryUsage() works here. */
  readonly cgroupUsageIter: boolean;
  /**
   * Whether libhosa's sampler takes cgroupMemoryUsage()'s pass in its
   * snapshots (src/sense/sampler.ts), with a tripwire when a cgroup grows
   * faster than `bytesPerS`, at most every `everyS` (0: every snapshot; the
   * danger watch's scan interval: the pass is read no more often than the
   * scan uses it). The global counters are always sampled.
   */
  sampleCgroupMemoryUsage(on: boolean, bytesPerS: number, everyS?: number, ids?: readonly number[]): void;
  /** Detach and free everything; idempotent. */
  close(): void;
}

export function emptyTotals(): ProbeTotals {
  const t = {} as ProbeTotals;
  for (const k of PROBE_COUNTERS) t[k] = 0;
  return t;
}

/** Why probes cannot load here, checked before asking the kernel so the message names the cause. */
function preflight(): void {
  const action = "load eBPF probes";
  if (process.platform !== "linux") throw new HosaError(`${action}: not Linux`, EXIT.UNSUPPORTED);
  const caps = readSelfCapabilities();
  if (!caps.sysAdmin && !(caps.bpf && caps.perfmon)) {
    throw new HosaError(`${action}: needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process has neither`, EXIT.PERMISSION);
  }
  if (!hasBtf()) {
    throw new HosaError(`${action}: no /sys/kernel/btf/vmlinux: the kernel was built without CONFIG_DEBUG_INFO_BTF`, EXIT.UNSUPPORTED);
  }
  // tp_btf programs using task storage need 5.11.
  const m = /^(\d+)\.(\d+)/.exec(readKernelRelease());
  if (m && (Number(m[1]) < 5 || (Number(m[1]) === 5 && Number(m[2]) < 11))) {
    throw new HosaError(`${action}: kernel ${m[0]} is older than 5.11`, EXIT.UNSUPPORTED);
  }
}

function u32(v: number): Uint8Array {
  return new Uint8Array(new Uint32Array([v]).buffer);
}

function u64(v: bigint): Uint8Array {
  return new Uint8Array(new BigUint64Array([v]).buffer);
}

/**
 * Counters from u64 words seen as pairs of 32-bit halves (little-endian): no
 * BigInt allocated per counter per tick. Signed halves, so that the JIT never
 * meets a load that does not fit an int32 (an unsigned one above 2^31 would
 * make the compiled code bail out, again and again).
 */
function fill(target: ProbeTotals, halves: Int32Array, offset: number): ProbeTotals {
  for (let i = 0, j = offset * 2; i < WORDS; i++, j += 2) {
    const lo = halves[j]!;
    const hi = halves[j + 1]!;
    target[PROBE_COUNTERS[i] as keyof ProbeTotals] = (hi < 0 ? hi + 4294967296 : hi) * 4294967296 + (lo < 0 ? lo + 4294967296 : lo);
  }
  return target;
}

/** Load and attach the probes. Throws a HosaError saying why not (permission, BTF, kernel, verifier). */
export function openProbes(opts: ProbeOptions): BpfProbes {
  preflight();
  // Cgroup iterators came with Linux 6.1; where the kernel has none, the danger watch reads cgroupfs.
  const kv = /^(\d+)\.(\d+)/.exec(readKernelRelease());
  const cgroupIter = opts.memoryRoot !== undefined && opts.memoryRoot !== "" && (!kv || Number(kv[1]) > 6 || (Number(kv[1]) === 6 && Number(kv[2]) >= 1));
  if (!cgroupIter) return loadProbes(opts, false);
  try {
    return loadProbes(opts, true);
  } catch {
    // A verifier that refuses the iterator must not cost the probes: without it, the watch reads cgroupfs.
    return loadProbes(opts, false);
  }
}

function loadProbes(opts: ProbeOptions, cgroupIter: boolean): BpfProbes {
  const mode = opts.mode ?? "lean";
  let obj = -1;
  try {
    obj = ffi.objOpenMem(ffi.bpfObjectImage("probes"), "probes");
    ffi.objSetRodata(obj, "cgroup_mode", u32(opts.cgroupHierarchy === "memory-v1" ? 1 : 0));
    ffi.objSetRodata(obj, "per_cgroup", new Uint8Array([opts.perCgroup === false ? 0 : 1]));
    ffi.objSetRodata(obj, "fork_burst_threshold", u32(opts.forkBurstThreshold ?? 64));
    ffi.objSetRodata(obj, "fork_burst_window_ns", u64(BigInt(Math.round((opts.forkBurstWindowMs ?? 100) * 1e6))));
    // Tracepoints whose signature changed: pick what the running kernel has (see bpf/probes.bpf.c).
    ffi.objSetRodata(obj, "lean", new Uint8Array([mode === "lean" ? 1 : 0]));
    ffi.objSetAutoload(obj, "sched_switch", mode === "full");
    ffi.objSetAutoload(obj, "sched_process_exit", mode === "lean");
    ffi.objSetAutoload(obj, RUNQ_ITER, mode === "lean" && !(opts.without ?? []).includes("sched"));
    ffi.objSetRodata(obj, "mark_victim_has_task", new Uint8Array([ffi.tracepointArgs("mark_victim") === 1 ? 0 : 1]));
    const alloc = ffi.tracepointArgs("mmap_lock_acquire_returned") === 3 ? "mmap_lock_acquire_returned" : "sys_enter";
    ffi.objSetAutoload(obj, "mmap_lock_acquire_returned", alloc === "mmap_lock_acquire_returned");
    ffi.objSetAutoload(obj, "sys_enter", alloc === "sys_enter");
    const without = new Set<ProbeGroup>([...(opts.without ?? []), ...(mode === "lean" ? LEAN_WITHOUT : [])]);
    for (const group of without) for (const prog of PROBE_GROUPS[group]) ffi.objSetAutoload(obj, prog, false);
    // Each program is named after its tracepoint; one the kernel lacks would fail the whole load.
    for (const prog of Object.values(PROBE_GROUPS).flat()) {
      if (ffi.tracepointArgs(prog) === undefined) ffi.objSetAutoload(obj, prog, false);
    }
    ffi.objSetAutoload(obj, CGROUP_USAGE_ITER, cgroupIter);
    ffi.objLoad(obj);
    ffi.objAttachAll(obj);
    if (cgroupIter) {
      try {
        ffi.objAttachIterCgroup(obj, CGROUP_USAGE_ITER, opts.memoryRoot!);
      } catch {
        // A kernel whose cgroup iterator refuses this hierarchy (v1 before 6.2): cgroupfs serves.
      }
    }
  } catch (e) {
    if (obj >= 0) ffi.objClose(obj);
    const message = (e as Error).message;
    throw new HosaError(`load eBPF probes: ${message}`, e instanceof HosaError ? e.exitCode : EXIT.FAILURE);
  }
  const programs = ffi.objPrograms(obj).filter((p) => p.attached).map((p) => p.name);
  const usageIter = programs.includes(CGROUP_USAGE_ITER) ? ffi.cString(CGROUP_USAGE_ITER) : undefined;
  // 16 bytes per cgroup (id, pages); grown when a pass fills it.
  let usageBytes = new Uint8Array(usageIter ? 16 * 1024 : 0);
  let usageHalves = new Int32Array(usageBytes.buffer);
  const page = usageIter ? ffi.pageSize() : 4096;
  const runqIter = programs.includes(RUNQ_ITER) ? ffi.cString(RUNQ_ITER) : undefined;
  const runqBuf = new BigUint64Array(2);
  const runqBytes = new Uint8Array(runqBuf.buffer);
  const runqHalves = new Int32Array(runqBuf.buffer);
  const runqRefreshNs = (opts.runqRefreshMs ?? 1000) * 1e6;
  let runqReadAtNs = -Infinity;
  const countersFd = ffi.objMapFd(obj, "counters");
  const cgroupFd = ffi.objMapFd(obj, "cgroup_counters");
  const ring = ffi.ringbufOpen(obj, "events");
  const zeroKey = new Uint8Array(4);
  const totalWords = new BigUint64Array(WORDS);
  const totalHalves = new Int32Array(totalWords.buffer);
  const cgroupKeys = new Uint8Array(8 * MAX_CGROUPS);
  const cgroupKeyView = new BigUint64Array(cgroupKeys.buffer);
  const cgroupWords = new BigUint64Array(WORDS * MAX_CGROUPS);
  const cgroupHalves = new Int32Array(cgroupWords.buffer);
  const eventBuf = new Uint8Array(64 * 1024);
  const eventView = new DataView(eventBuf.buffer);
  const key64 = new BigUint64Array(1);
  const key64Bytes = new Uint8Array(key64.buffer);
  const seen = new Set<number>();
  let closed = false;
  // The global counters are in the sampler's snapshots (a registration costs nothing while it does not run).
  try {
    ffi.samplerAddPercpu(obj, countersFd, zeroKey, WORDS);
  } catch {
    // No room for it: read live at every tick, as without the sampler.
  }
  let usageReg = -1;
  let usageRate = 0;
  let usageEvery = 0;
  /**
   * The pass holds every cgroup of the hierarchy; its tripwire wakes the agent only for those the danger
   * watch watches (a cgroup growing outside an agent's scope is no reason to wake it: the scan would find
   * no candidate there).
   */
  const tripIds = (ids: readonly number[] | undefined): void => {
    try {
      ffi.samplerIterWatch(usageReg, ids);
    } catch {
      // Only wakes are at stake: the tripwire fires for any cgroup, as before.
    }
  };

  const live = (what: string) => {
    if (closed) throw new HosaError(`${what}: the eBPF probes are closed`);
  };

  return {
    cgroupHierarchy: opts.cgroupHierarchy,
    mode,
    programs,
    totals(into = emptyTotals()) {
      live("read eBPF counters");
      ffi.percpuSum(countersFd, zeroKey, totalWords);
      if (runqIter) {
        // An iterator pass costs about a microsecond per task: not every 10 ms tick.
        const now = Bun.nanoseconds();
        if (now - runqReadAtNs >= runqRefreshNs && ffi.iterRead(obj, runqIter, runqBytes) === 16) runqReadAtNs = now;
        totalHalves.set(runqHalves, 2); // words 1 and 2: run-queue latency and switches
      }
      return fill(into, totalHalves, 0);
    },
    perCgroup(into = new Map()) {
      live("read eBPF cgroup counters");
      const n = ffi.percpuHashDump(cgroupFd, cgroupKeys, cgroupWords, MAX_CGROUPS, WORDS);
      seen.clear();
      for (let i = 0; i < n; i++) {
        const id = Number(cgroupKeyView[i]);
        seen.add(id);
        let t = into.get(id);
        if (!t) into.set(id, (t = emptyTotals()));
        fill(t, cgroupHalves, i * WORDS);
      }
      if (into.size !== n) for (const id of into.keys()) if (!seen.has(id)) into.delete(id);
      return into;
    },
    forgetCgroups(ids) {
      live("forget eBPF cgroup counters");
      for (const id of ids) {
        key64[0] = BigInt(id);
        ffi.mapDelete(cgroupFd, key64Bytes);
      }
    },
    drainEvents() {
      live("drain eBPF events");
      const out: ProbeEvent[] = [];
      for (;;) {
        const n = ffi.ringbufDrain(ring, eventBuf);
        for (let off = 0; off + 8 <= n; ) {
          const len = eventView.getUint32(off, true);
          const at = off + 8;
          off = at + ((len + 7) & ~7);
          if (len < EVENT_BYTES) continue;
          const kind = EVENT_TYPES[eventView.getUint32(at + 16, true)];
          if (!kind) continue;
          const comm = eventBuf.subarray(at + 32, at + 48);
          const end = comm.indexOf(0);
          out.push({
            kind,
            tNs: Number(eventView.getBigUint64(at, true)),
            cgroupId: Number(eventView.getBigUint64(at + 8, true)),
            pid: eventView.getUint32(at + 20, true),
            tgid: eventView.getUint32(at + 24, true),
            count: eventView.getUint32(at + 28, true),
            comm: Buffer.from(comm.subarray(0, end < 0 ? 16 : end)).toString("utf8"),
          });
        }
        if (n < eventBuf.length - 64) break;
      }
      return out;
    },
    programStats() {
      live("read eBPF program statistics");
      return ffi.objProgramStats(obj).filter((p) => programs.includes(p.name));
    },
    cgroupUsageIter: usageIter !== undefined,
    sampleCgroupMemoryUsage(on, bytesPerS, everyS = 0, ids) {
      if (closed || !usageIter) return;
      // The same registration with other cgroups watched: only its tripwire's ids change (its last values stay).
      if (on && usageReg >= 0 && usageRate === bytesPerS && usageEvery === everyS) {
        tripIds(ids);
        return;
      }
      if (usageReg >= 0) ffi.samplerRemove(usageReg);
      usageReg = -1;
      if (!on) return;
      try {
        usageReg = ffi.samplerAddIter(obj, usageIter, usageBytes.byteLength, bytesPerS / page, everyS * 1e6);
        usageRate = bytesPerS;
        usageEvery = everyS;
        tripIds(ids);
      } catch {
        // Read live, as without the sampler.
      }
    },
    cgroupMemoryUsage(ids, bytes) {
      live("read the cgroups' memory usage");
      if (!usageIter) return -1;
      let n = ffi.iterRead(obj, usageIter, usageBytes);
      // A full buffer may have cut the pass short: again with twice the room.
      while (n >= usageBytes.byteLength) {
        usageBytes = new Uint8Array(usageBytes.byteLength * 2);
        usageHalves = new Int32Array(usageBytes.buffer);
        n = ffi.iterRead(obj, usageIter, usageBytes);
      }
      const count = n >> 4;
      const h = usageHalves;
      for (let i = 0, j = 0, m = Math.min(count, ids.length, bytes.length); i < m; i++, j += 4) {
        // Signed halves (see fill()): no int32 overflow in the compiled code.
        const idLo = h[j]!;
        const idHi = h[j + 1]!;
        const pLo = h[j + 2]!;
        const pHi = h[j + 3]!;
        ids[i] = (idHi < 0 ? idHi + 4294967296 : idHi) * 4294967296 + (idLo < 0 ? idLo + 4294967296 : idLo);
        bytes[i] = ((pHi < 0 ? pHi + 4294967296 : pHi) * 4294967296 + (pLo < 0 ? pLo + 4294967296 : pLo)) * page;
      }
      return count;
    },
    close() {
      if (closed) return;
      closed = true;
      ffi.objClose(obj);
    },
  };
}

/** Load, attach and close the probes once, for `hosa doctor`: whether they work here and which programs. */
export function checkProbes(opts?: Partial<ProbeOptions>): { loaded: boolean; programs: string[]; cgroupHierarchy: CgroupLayout["memoryHierarchy"]; error?: string } {
  const cgroupHierarchy = opts?.cgroupHierarchy ?? detectCgroupLayout().memoryHierarchy;
  try {
    const probes = openProbes({ ...opts, cgroupHierarchy });
    const programs = probes.programs;
    probes.close();
    return { loaded: true, programs, cgroupHierarchy };
  } catch (e) {
    return { loaded: false, programs: [], cgroupHierarchy, error: (e as Error).message };
  }
}
