// Engine throughput and allocation: steps per second at 8, 16 and 32
// dimensions, and heap growth over 1e6 steps. Samples are generated ahead of
// time from a fixed seed (same numbers every run), so runs compare.
//   bun bench/engine-step.bench.ts [--steps N] [--dims 8,16,32] [--json]
// With --alarms: false escalations per hour of pure noise and detection
// delays of synthetic leaks instead (bench/engine-results.md); --engine DIR
// measures the engine of another checkout (DIR/src/engine), for before/after.
//   bun bench/engine-step.bench.ts --alarms [--engine DIR] [--json]
import { heapStats } from "bun:jsc";
import { calibrate } from "../src/engine/calibrate.ts";
import { createEngine, defaultEngineConfig, step, type EngineState } from "../src/engine/engine.ts";
import type { Sample } from "../src/engine/types.ts";
import { xorshift32 } from "../test/prng.ts";
import { homeostaticRing, syntheticDims } from "./lib/engine-dims.ts";

const args = process.argv.slice(2);
const stepsArg = args.indexOf("--steps");
const STEPS = stepsArg >= 0 ? Number(args[stepsArg + 1]) : 1_000_000;
const JSON_OUT = args.includes("--json");
const dimsArg = args.indexOf("--dims");
const SIZES = dimsArg >= 0 ? args[dimsArg + 1].split(",").map(Number) : [8, 16, 32];

/** xorshift32 (test/prng.ts): the same samples every run. */
const prng = xorshift32;

/** A ring of pre-generated homeostatic samples (correlated pairs), reused so the loop allocates nothing itself. */
const ring = homeostaticRing;

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
  const baseline = calibrate(cal, syntheticDims(n), cfg);
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

if (args.includes("--alarms")) {
  const engineArg = args.indexOf("--engine");
  const out = await measureAlarms(engineArg >= 0 ? args[engineArg + 1] : `${import.meta.dir}/..`);
  console.log(JSON_OUT ? JSON.stringify(out, null, 1) : out.text);
  process.exit(0);
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

// False alarms and detection delays. Dimensions, seeds and counting are those
// of the engine's tests (src/engine/calibrate.test.ts, test/engine/
// scenarios.test.ts, test/recordings/synthetic.ts), so a figure here is a
// test's figure. An escalation into level k is a sample with
// previousLevel < k ≤ level.
async function measureAlarms(root: string): Promise<{ text: string; [k: string]: unknown }> {
  const cal = await import(`${root}/src/engine/calibrate.ts`);
  const eng = await import(`${root}/src/engine/engine.ts`);
  const { gaussian, prng: mulberry } = await import("../test/prng.ts");
  const { leakRecording, synthDims } = await import("../test/recordings/synthetic.ts");
  const cfg = eng.defaultEngineConfig();
  const iidDims = Array.from({ length: 8 }, (_, j) => ({ name: `d${j}`, unit: "1", loadSign: 1 as const }));

  function countHour(e: EngineState, tickS: number, gen: (t: number) => Float64Array, t0: number) {
    const into = [0, 0, 0, 0, 0];
    const timeAt = [0, 0, 0, 0, 0, 0];
    const steps = Math.round(3600 / tickS);
    for (let i = 1; i <= steps; i++) {
      const t = t0 + i * tickS;
      const d = eng.step(e, { t, x: gen(t) });
      for (let k = d.previousLevel + 1; k <= d.level; k++) into[k - 1]++;
      timeAt[d.level]++;
    }
    return { into, shareAtLevel1: timeAt[1] / steps };
  }

  // 8 independent N(0,1) dimensions: calibrated on 3000 samples at 100 ms (seed 6), judged for 1 h (seed 60).
  function iid(tickS: number) {
    const r = mulberry(6);
    const b = cal.calibrate(
      Array.from({ length: 3000 }, (_, i) => ({ t: i * 0.1, x: Float64Array.from({ length: 8 }, () => gaussian(r)) })),
      iidDims,
      cfg,
    );
    const r2 = mulberry(60);
    return countHour(eng.createEngine(b, cfg), tickS, () => Float64Array.from({ length: 8 }, () => gaussian(r2)), 1000);
  }

  // The correlated node of test/engine/scenarios.test.ts (a 0.2 s load memory).
  const { Node, NODE_DIMS: nodeDims } = await import("../test/engine/node-model.ts");
  const calibratedNode = (seed: number) => {
    const node = new Node(seed);
    const b = cal.calibrate(
      Array.from({ length: 3000 }, (_, i) => node.sample(i * 0.1)),
      nodeDims,
      cfg,
    );
    return { node, e: eng.createEngine(b, cfg) as EngineState };
  };
  function nodeHour(tickS: number) {
    const { node, e } = calibratedNode(7);
    return countHour(e, tickS, (t) => node.sample(t).x, 300);
  }
  // The leak episode: 10 min of homeostasis, then mem_used_ratio leaking (3 %/s = 10 σ/s, or 0.3 %/s = 1 σ/s);
  // ticks of 100 ms, 10 ms from Level 1 up. Delays from the leak's start to Levels 1..4.
  function nodeLeak(seed: number, ratePerS: number) {
    const { node, e } = calibratedNode(seed);
    const leakAt = 900;
    const first = [NaN, NaN, NaN, NaN];
    let t = 300;
    let level = 0;
    let maxBefore = 0;
    while (t < leakAt + 10) {
      t = Math.round((t + (level >= 1 ? 0.01 : 0.1)) * 1000) / 1000;
      if (t >= leakAt) node.leakRatePerS = ratePerS;
      level = eng.step(e, node.sample(t)).level;
      if (t < leakAt) maxBefore = Math.max(maxBefore, level);
      else for (let k = 1; k <= Math.min(level, 4); k++) if (Number.isNaN(first[k - 1])) first[k - 1] = Math.round((t - leakAt) * 1000) / 1000;
    }
    return { seed, maxBefore, delaysS: first };
  }
  // The replay test's story (50 MB/s on 24 GiB, 100 ms ticks, 90 s calibration, leak at t=1120 s).
  function story(seed: number) {
    const all = [...leakRecording({ seed, calmS: 120, leakS: 30, afterS: 480, tickS: 0.1, leakMBps: 50 })];
    const calN = all.findIndex((s) => s.t >= all[0].t + 90);
    const b = cal.calibrate(all.slice(0, calN), synthDims(), cfg);
    const e = eng.createEngine(b, cfg);
    const leakAt = 1120;
    let firstAlarmT = NaN;
    const first = [NaN, NaN, NaN, NaN];
    let last = 0;
    for (const s of all.slice(calN)) {
      const d = eng.step(e, s);
      if (d.level >= 1 && Number.isNaN(firstAlarmT)) firstAlarmT = s.t;
      if (s.t >= leakAt - 0.2) for (let k = 1; k <= Math.min(d.level, 4); k++) if (Number.isNaN(first[k - 1])) first[k - 1] = Math.round((s.t - leakAt) * 1000) / 1000;
      last = d.level;
    }
    return { seed, firstAlarmBeforeLeak: firstAlarmT < leakAt - 0.2, delaysS: first, lastLevel: last };
  }

  const noise = { iid100ms: iid(0.1), iid10ms: iid(0.01), node100ms: nodeHour(0.1), node10ms: nodeHour(0.01) };
  const leaks = [2026, 1, 2, 3].map((s) => nodeLeak(s, 0.03));
  const slowLeaks = [2026, 1, 2, 3].map((s) => nodeLeak(s, 0.003));
  const stories = [7, 42, 1, 2].map(story);
  const lines = [`engine ${root}`, "false escalations in 1 h of noise, into L1 L2 L3 L4 L5 (share of time at L1):"];
  for (const [k, v] of Object.entries(noise)) lines.push(`  ${k.padEnd(10)} ${v.into.join(" ")} (${(v.shareAtLevel1 * 100).toFixed(2)} %)`);
  lines.push("leak 3 %/s, delay to L1..L4 (s), highest level before:");
  for (const l of leaks) lines.push(`  seed ${l.seed}: ${l.delaysS.join(" ")} (before: ${l.maxBefore})`);
  lines.push("leak 0.3 %/s, delay to L1..L4 (s), highest level before:");
  for (const l of slowLeaks) lines.push(`  seed ${l.seed}: ${l.delaysS.join(" ")} (before: ${l.maxBefore})`);
  lines.push("replay story 50 MB/s, delay to L1..L4 (s), false alarm before the leak, level at the end:");
  for (const s of stories) lines.push(`  seed ${s.seed}: ${s.delaysS.join(" ")} (${s.firstAlarmBeforeLeak}, ${s.lastLevel})`);
  return { text: lines.join("\n"), noise, leaks, slowLeaks, stories };
}
