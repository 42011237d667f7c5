import type { DimensionSpec, Sample } from "../engine/types.ts";

/** One cgroup's consumption at one tick, for attribution (which group grew most). */
export interface CgroupUsage {
  /** Path relative to the hierarchy root, starting with "/": "/system.slice/foo.service". */
  path: string;
  /** Bytes charged (memory.current, or memory.usage_in_bytes on v1). */
  memoryBytes: number;
  /** Cumulative CPU time in microseconds. */
  cpuUsageUs: number;
  /** Cumulative block I/O bytes read + written. */
  ioBytes: number;
  /** Number of processes. */
  pids: number;
  /** kernfs id of the cgroup (the inode of its directory): the key of the eBPF per-cgroup counters. */
  id?: number;
  /**
   * Cumulative eBPF counters charged to tasks while they were directly in
   * this cgroup (descendants not included), by ProbeTotals name (forks,
   * pageFaults, wakeups, ...); absent when the probes are not loaded.
   */
  probeCounters?: Record<string, number>;
}

/** Where one dimension's numbers come from, for `hosa doctor` and the once-only fallback line. */
export interface DimensionSource {
  dim: string;
  source: "ebpf" | "proc" | "psi" | "cgroup" | "unavailable";
  detail: string;
}

/** The live node as a stream of samples. */
export interface SampleSource {
  readonly dims: DimensionSpec[];
  readonly sources: DimensionSource[];
  /** Read one tick. `tMonoS` is the monotonic time in seconds of this read (rates use the real elapsed time). */
  read(tMonoS: number): Sample;
  /** Per-cgroup usage at the last read (empty if attribution is unavailable). */
  cgroups(): CgroupUsage[];
  /** Detach probes and free everything; idempotent. */
  close(): void;
}
