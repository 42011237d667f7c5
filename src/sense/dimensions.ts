// The dimensions hosa can sample, and the default set. Names carry their
// unit; `[sense] dimensions` in hosa.toml selects a subset by name, in the
// order given.
import type { DimensionSpec } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";

/**
 * The smallest spread that means something, by unit (DimensionSpec.noiseFloor):
 * a percentage point of a ratio, 32 MiB of memory, a few events per second
 * (at a 10 ms tick one event already reads as 100/s), 5 % of a rate's mean.
 */
const FLOOR: Record<string, Pick<DimensionSpec, "noiseFloor" | "noiseFloorRel">> = {
  ratio: { noiseFloor: 0.01 },
  bytes: { noiseFloor: 32 * 2 ** 20, noiseFloorRel: 0.005 },
  "1/s": { noiseFloor: 20, noiseFloorRel: 0.05 },
  us: { noiseFloor: 20, noiseFloorRel: 0.05 },
  "bytes/s": { noiseFloor: 64 * 1024, noiseFloorRel: 0.05 },
  count: { noiseFloor: 1, noiseFloorRel: 0.05 },
};

/** Every dimension the live source knows how to compute. */
export const ALL_DIMENSIONS: readonly DimensionSpec[] = ([
  { name: "cpu_busy_ratio", unit: "ratio", loadSign: 1 },
  { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 },
  { name: "mem_available_bytes", unit: "bytes", loadSign: -1 },
  { name: "psi_cpu_some_ratio", unit: "ratio", loadSign: 1 },
  { name: "psi_mem_some_ratio", unit: "ratio", loadSign: 1 },
  { name: "psi_io_some_ratio", unit: "ratio", loadSign: 1 },
  { name: "sched_wakeups_per_s", unit: "1/s", loadSign: 1 },
  { name: "runq_latency_us", unit: "us", loadSign: 1 },
  { name: "page_faults_per_s", unit: "1/s", loadSign: 1 },
  { name: "alloc_syscalls_per_s", unit: "1/s", loadSign: 1 },
  { name: "blk_ios_per_s", unit: "1/s", loadSign: 1 },
  { name: "blk_latency_us", unit: "us", loadSign: 1 },
  { name: "net_rx_bytes_per_s", unit: "bytes/s", loadSign: 1 },
  { name: "net_tx_bytes_per_s", unit: "bytes/s", loadSign: 1 },
  { name: "tcp_retrans_per_s", unit: "1/s", loadSign: 1 },
  { name: "tcp_active_opens_per_s", unit: "1/s", loadSign: 1, propagation: true },
  { name: "forks_per_s", unit: "1/s", loadSign: 1, propagation: true },
  // The cgroup closest to its own memory limit: a leak inside a 2 GiB limit
  // is a rounding error of a 24 GiB node's memory, but it exhausts its cgroup.
  { name: "cgroup_mem_limit_ratio", unit: "ratio", loadSign: 1, capacity: 1 },
  // Not in the default set; selectable by name.
  { name: "psi_cpu_full_ratio", unit: "ratio", loadSign: 1 },
  { name: "psi_mem_full_ratio", unit: "ratio", loadSign: 1 },
  { name: "psi_io_full_ratio", unit: "ratio", loadSign: 1 },
  { name: "ctx_switches_per_s", unit: "1/s", loadSign: 1 },
  { name: "major_faults_per_s", unit: "1/s", loadSign: 1 },
  { name: "blk_bytes_per_s", unit: "bytes/s", loadSign: 1 },
  { name: "net_rx_packets_per_s", unit: "1/s", loadSign: 1 },
  { name: "net_tx_packets_per_s", unit: "1/s", loadSign: 1 },
  { name: "tcp_passive_opens_per_s", unit: "1/s", loadSign: 1 },
  { name: "tcp_established", unit: "count", loadSign: 1 },
  { name: "procs_running", unit: "count", loadSign: 1 },
  { name: "procs_blocked", unit: "count", loadSign: 1 },
] as DimensionSpec[]).map((d) => ({ ...FLOOR[d.unit], ...d }));

/** The default state vector (issue 4): CPU, memory, PSI, scheduler, faults, allocation, block I/O, network, TCP, forks. */
export const DEFAULT_DIMENSION_NAMES: readonly string[] = [
  "cpu_busy_ratio",
  "mem_used_ratio",
  "mem_available_bytes",
  "psi_cpu_some_ratio",
  "psi_mem_some_ratio",
  "psi_io_some_ratio",
  "sched_wakeups_per_s",
  "runq_latency_us",
  "page_faults_per_s",
  "alloc_syscalls_per_s",
  "blk_ios_per_s",
  "blk_latency_us",
  "net_rx_bytes_per_s",
  "net_tx_bytes_per_s",
  "tcp_retrans_per_s",
  "tcp_active_opens_per_s",
  "forks_per_s",
  "cgroup_mem_limit_ratio",
];

const BY_NAME = new Map(ALL_DIMENSIONS.map((d) => [d.name, d]));

/** Copies, so callers may keep them without aliasing the catalogue. */
export const DEFAULT_DIMENSIONS: readonly DimensionSpec[] = DEFAULT_DIMENSION_NAMES.map((n) => ({ ...BY_NAME.get(n)! }));

/** The dimensions named in `[sense] dimensions` (empty: the default set), in that order. */
export function selectDimensions(names: readonly string[]): DimensionSpec[] {
  if (names.length === 0) return DEFAULT_DIMENSIONS.map((d) => ({ ...d }));
  const seen = new Set<string>();
  return names.map((n) => {
    const spec = BY_NAME.get(n);
    if (!spec) throw new HosaError(`cannot select dimensions: unknown dimension "${n}" (known: ${ALL_DIMENSIONS.map((d) => d.name).join(", ")})`, EXIT.CONFIG);
    if (seen.has(n)) throw new HosaError(`cannot select dimensions: "${n}" is listed twice`, EXIT.CONFIG);
    seen.add(n);
    return { ...spec };
  });
}
