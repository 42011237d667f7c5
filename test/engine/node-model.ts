// The synthetic 8-dimensional node shared by the engine's scenario tests and
// bench/engine-step.bench.ts: CPU, faults and traffic follow one slowly
// varying load; memory and I/O move on their own; a leak can be switched on.
import type { DimensionSpec, Sample } from "../../src/engine/types.ts";
import { gaussian, prng } from "../prng.ts";

export const NODE_DIMS: DimensionSpec[] = [
  { name: "cpu_busy_ratio", unit: "ratio", loadSign: 1 },
  { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 },
  { name: "psi_mem_some_ratio", unit: "ratio", loadSign: 1 },
  { name: "psi_cpu_some_ratio", unit: "ratio", loadSign: 1 },
  { name: "page_faults_per_s", unit: "1/s", loadSign: 1 },
  { name: "io_bytes_per_s", unit: "bytes/s", loadSign: 1 },
  { name: "net_rx_packets_per_s", unit: "1/s", loadSign: 1 },
  { name: "forks_per_s", unit: "1/s", loadSign: 1, propagation: true },
];

export /** A node whose CPU, faults and traffic follow one slowly varying load; memory and I/O move on their own. */
class Node {
  private readonly r: () => number;
  private load = 0;
  private lastT = 0;
  /** Extra memory ratio from a leak, and its rate per second. */
  leaked = 0;
  leakRatePerS = 0;
  constructor(seed: number) {
    this.r = prng(seed);
  }
  sample(t: number): Sample {
    const dt = t - this.lastT;
    this.lastT = t;
    const g = () => gaussian(this.r);
    // Ornstein–Uhlenbeck load with a 0.2 s memory, unit variance.
    const keep = Math.exp(-dt / 0.2);
    this.load = this.load * keep + Math.sqrt(1 - keep * keep) * g();
    this.leaked += this.leakRatePerS * dt;
    const L = this.load;
    const pressure = Math.max(0, this.leaked - 0.02) * 3;
    return {
      t,
      x: Float64Array.from([
        0.3 + 0.04 * L + 0.01 * g(),
        0.61 + this.leaked + 0.003 * g(),
        0.01 + pressure + 0.003 * g(),
        0.02 + 0.01 * L + 0.004 * g(),
        2000 + 300 * L + 100 * g() + this.leakRatePerS * 1e5,
        1e6 + 2e5 * g(),
        5000 + 800 * L + 150 * g(),
        20 + 4 * g(),
      ]),
    };
  }
}
