import type { DimensionSpec, Sample } from "../engine/types.ts";

/** One cgroup's consumption at one tick: defined beside the kernel readers that fill it. */
export type { CgroupUsage } from "../kernel/cgroups.ts";
import type { CgroupUsage } from "../kernel/cgroups.ts";

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
