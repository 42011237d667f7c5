// Engine throughput and allocation: steps per second at 8, 16 and 32
// dimensions, and heap growth over 1e6 steps. Samples are generated ahead of
// time from a fixed seed (same numbers every run), so runs compare.
//   bun bench/engine-step.bench.ts [--steps N] [--dims 8,16,32] [--json]
import { heapStats } from "bun:jsc";
import { calibrate } from "../src/engine/calibrate.ts";
import { createEngine, defaultEngineConfig, step, type EngineState } from "../src/engine/engine.ts";
import type { DimensionSpec, Sample } from "../src/engine/types.ts";

const args = process.argv.slice(2);
const stepsArg = args.indexOf("--steps");
const STEPS = stepsArg >= 0 ? Number(args[stepsArg + 1]) : 1_000_000;
const JSON_OUT = args.includes("--json");
const dimsArg = args.indexOf("--dims");
const SIZES = dimsArg >= 0 ? args[dimsArg + 1].split(",").map(Number) : [8, 16, 32];

/** xorshift32: a small seeded generator, so the workload is the same on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

function dimsOf(n: number): DimensionSpec[] {
  return Array.from({ length: n }, (_, j) => ({
    name: `dim_${j}`,
    unit: "1",
    loadSign: (j % 3 === 2 ? -1 : 1) as 1 | -1,
    ...(j === 0 ? { capacity: 1 } : {}),
    ...(j === 1 ? { propagation: true } : {}),
  }));
}

/** A ring of pre-generated homeostatic samples (correlated pairs), reused so the loop allocates nothing itself. */
function ring(n: number, size: number, r: () => number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < size; i++) {
    const x = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const g = gaussian(r);
      x[j] = j === 0 ? 0.5 + 0.01 * g : j % 2 === 1 ? x[j - 1] * 2 + g * 0.3 : 10 + g;
    }
    out.push(x);
  }
  return out;
}

interface Result {
  dims: number;
  /** "homeostasis": every step learns (the costlier path); "anomaly": D_M far off, nothing learned. */
  mode: string;
  steps: number;
  /** Wall clock: what an idle machine gives. */
  stepsPerS: number;
  nsPerStep: number;
  /** CPU time of this process: less disturbed when the machine is shared. */
  stepsPerCpuS: number;
  /** The fastest of the 50 000-step chunks: the engine's own speed when the scheduler leaves it alone. */
  bestChunkStepsPerS: number;
  heapGrowthBytes: number;
  heapGrowthBytesPerStep: number;
  objectsBefore: number;
  objectsAfter: number;
  learningShare: number;
}

/** Calibration in its own frame, so its garbage is unreachable (not merely dead) while the loop is measured. */
function setup(n: number, anomaly: boolean): { state: EngineState; xs: Float64Array[] } {
  const r = prng(0x5eed + n);
  const cfg = defaultEngineConfig();
  const cal: Sample[] = ring(n, 3000, r).map((x, i) => ({ t: i * 0.1, x }));
  const baseline = calibrate(cal, dimsOf(n), cfg);
  const xs = ring(n, 4096, r);
  if (anomaly) for (const x of xs) x[2] += 1000;
  return { state: createEngine(baseline, cfg), xs };
}

function run(n: number, steps: number, anomaly: boolean): Result {
  const { state, xs } = setup(n, anomaly);
  const sample: Sample = { t: 0, x: xs[0] };
  let t = 300;
  let learned = 0;
  const loop = (count: number) => {
    for (let i = 0; i < count; i++) {
      t += 0.01;
      sample.t = t;
      sample.x = xs[i & 4095];
      if (step(state, sample).learning) learned++;
    }
  };
  loop(200_000); // warm up the JIT
  learned = 0;
  // Twice: the first full collection can leave garbage of the previous run to a later sweep.
  Bun.gc(true);
  Bun.gc(true);
  const heapBefore = process.memoryUsage().heapUsed;
  const objectsBefore = heapStats().objectCount;
  const cpu0 = process.cpuUsage();
  const t0 = Bun.nanoseconds();
  const CHUNK = 50_000;
  let bestChunkNs = Infinity;
  for (let done = 0; done < steps; done += CHUNK) {
    const c0 = Bun.nanoseconds();
    loop(Math.min(CHUNK, steps - done));
    const cn = Bun.nanoseconds() - c0;
    if (cn < bestChunkNs) bestChunkNs = cn;
  }
  const ns = Bun.nanoseconds() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  Bun.gc(true);
  Bun.gc(true);
  const heapAfter = process.memoryUsage().heapUsed;
  const objectsAfter = heapStats().objectCount;
  return {
    dims: n,
    mode: anomaly ? "anomaly" : "homeostasis",
    steps,
    stepsPerS: Math.round(steps / (ns / 1e9)),
    nsPerStep: Math.round((ns / steps) * 10) / 10,
    stepsPerCpuS: Math.round(steps / cpuS),
    bestChunkStepsPerS: Math.round(Math.min(CHUNK, steps) / (bestChunkNs / 1e9)),
    heapGrowthBytes: heapAfter - heapBefore,
    heapGrowthBytesPerStep: (heapAfter - heapBefore) / steps,
    objectsBefore,
    objectsAfter,
    learningShare: learned / steps,
  };
}

// One discarded pass over every configuration first: JSC compiles the step
// code in tiers, and the first configuration measured would pay for it.
for (const n of SIZES) for (const anomaly of [false, true]) run(n, 300_000, anomaly);
const results = SIZES.flatMap((n) => [run(n, STEPS, false), run(n, STEPS, true)]);
if (JSON_OUT) {
  console.log(JSON.stringify({ bun: Bun.version, results }, null, 1));
} else {
  console.log(`bun ${Bun.version}, ${STEPS} steps per size`);
  for (const r of results) {
    console.log(
      `${String(r.dims).padStart(2)} dims ${r.mode.padEnd(11)}: ${(r.stepsPerS / 1e6).toFixed(2)} M steps/s (${r.nsPerStep} ns/step; ${(r.stepsPerCpuS / 1e6).toFixed(2)} M/s of CPU time; best chunk ${(r.bestChunkStepsPerS / 1e6).toFixed(2)} M/s), ` +
        `heap growth ${r.heapGrowthBytes} B over ${r.steps} steps (${r.heapGrowthBytesPerStep.toFixed(4)} B/step), ` +
        `objects ${r.objectsBefore} -> ${r.objectsAfter}, learning ${(r.learningShare * 100).toFixed(1)}% of steps`,
    );
  }
}
